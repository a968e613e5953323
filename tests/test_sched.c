/* Schedules (BFL get_schedule, Wan FlowUniPC sigmas from schedules.json) and sampler trajectories
   (tests/fixtures/sampler_ref.safetensors from tools/gen_sampler_ref.py: diffusers' UniPC). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb"); long n; char *b;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    b = (char *)malloc((size_t)n + 1); if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0; b[n] = 0; fclose(f);
    return b;
}
/* numbers of the first JSON array after "key" (after "sub" inside it if given) */
static int json_array(const char *js, const char *key, const char *sub, double *v, int cap) {
    const char *p = strstr(js, key); int n = 0; char *e;
    if (!p) return -1;
    if (sub && !(p = strstr(p, sub))) return -1;
    p = strchr(p, '['); if (!p) return -1; p++;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    while (*p && *p != ']' && n < cap) { v[n++] = strtod(p, &e); p = e; while (*p == ',' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++; }
    return n;
}

static void test_schedules(void) {
    char *js = slurp("tests/fixtures/schedules.json"); double ref[64]; float got[64], ts[64]; int n, i; double err;
    static const struct { const char *key; int steps; long long tokens; int shift; } fl[] = {
        {"flux_dev_28_seq256", 28, 256, 1}, {"flux_dev_28_seq1024", 28, 1024, 1}, {"flux_dev_28_seq4096", 28, 4096, 1}, {"flux_schnell_4", 4, 4096, 0} };
    CHECK(js != NULL, "schedules.json present");
    if (!js) return;
    for (i = 0; i < 4; i++) {
        int k; err = 0;
        n = json_array(js, fl[i].key, NULL, ref, 64);
        ds_flux_schedule(DS_FLUX_SCHEDULE_BFL, fl[i].steps, fl[i].tokens, fl[i].shift, got);
        for (k = 0; k < n; k++) err = fmax(err, fabs(got[k] - ref[k]));
        CHECK(n == fl[i].steps + 1 && err <= 1e-6, "%s: %d values, max err %.3g", fl[i].key, n, err);
    }
    ds_wan_schedule(50, 5.0f, got, ts);
    n = json_array(js, "wan_unipc_50_shift5", "\"sigmas\"", ref, 64); err = 0;
    for (i = 0; i < n; i++) err = fmax(err, fabs(got[i] - ref[i]));
    CHECK(n == 51 && err <= 1e-6, "wan sigmas: %d values, max err %.3g", n, err);
    n = json_array(js, "wan_unipc_50_shift5", "\"timesteps\"", ref, 64); err = 0;
    for (i = 0; i < n; i++) err = fmax(err, fabs(ts[i] - ref[i]));
    CHECK(n == 50 && err == 0, "wan timesteps: %d values, max err %.3g", n, err);
    ds_flux_schedule(DS_FLUX_SCHEDULE_DIFFSYNTH, 4, 256, 0, got);
    CHECK(fabs(got[0] - 1) < 1e-7 && fabs(got[3] - 0.25) < 1e-7 && got[4] == 0, "diffsynth variant ends at 1/N then 0");
    free(js);
}

static void traj(ds_ctx *ctx, const ds_weights *ref, const char *name, ds_sampler_kind kind, const float *sig, int steps) {
    const ds_tensor *x0 = ds_weights_find(ref, "x0"), *want = ds_weights_find(ref, name);
    float x[64], v[64]; ds_sampler *s; int i, k; double e;
    if (!x0 || !want) { CHECK(0, "%s missing", name); return; }
    memcpy(x, x0->data, sizeof x);
    if (ds_sampler_create(ctx, kind, sig, steps, 64, &s) != DS_SUCCESS) { CHECK(0, "create"); return; }
    for (i = 0; i < steps; i++) {
        for (k = 0; k < 64; k++) v[k] = 0.5f * x[k] - 0.3f * sinf(x[k]) + sig[i];
        ds_sampler_step(s, v, x);
    }
    e = ds_test_rel_l2(x, (const float *)want->data, 64);
    CHECK(e < 1e-5, "%s: rel L2 %.3g", name, e);
    CHECK(ds_sampler_step(s, v, x) == DS_ERR_INVALID_ARGS, "%s: stepping past the end is an error", name);
    ds_sampler_destroy(s);
}

static void test_samplers(ds_ctx *ctx) {
    ds_weights *ref; float wan[51], flux[29], short4[5] = {0.9f, 0.6f, 0.3f, 0.1f, 0.0f};
    if (ds_weights_open(ctx, "tests/fixtures/sampler_ref.safetensors", &ref) != DS_SUCCESS) { CHECK(0, "sampler_ref: %s", ds_ctx_last_error(ctx)); return; }
    ds_wan_schedule(50, 5.0f, wan, NULL);
    ds_flux_schedule(DS_FLUX_SCHEDULE_BFL, 28, 1024, 1, flux);
    traj(ctx, ref, "unipc_wan50", DS_SAMPLER_UNIPC, wan, 50);
    traj(ctx, ref, "euler_wan50", DS_SAMPLER_EULER, wan, 50);
    traj(ctx, ref, "unipc_flux28", DS_SAMPLER_UNIPC, flux, 28);
    traj(ctx, ref, "euler_flux28", DS_SAMPLER_EULER, flux, 28);
    traj(ctx, ref, "unipc_short4", DS_SAMPLER_UNIPC, short4, 4);
    ds_weights_close(ref);
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d; memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    test_schedules();
    test_samplers(ctx);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_sched");
}
