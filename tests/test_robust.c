/* Out-of-memory at every allocation: each fixture model is run with an allocator that fails at the k-th
   request, for every k up to the number a successful run makes. Each run must return
   DS_ERR_OUT_OF_MEMORY (or succeed, when the failed buffer was optional), never crash, and free what it
   took (the live-allocation count returns to its starting value). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

typedef struct { long calls, fail_at, live; } oom_state;
static void *oom_alloc(size_t n, void *u) {
    oom_state *s = (oom_state *)u;
    if (++s->calls == s->fail_at) return NULL;
    s->live++;
    return malloc(n);
}
static void oom_free(void *p, void *u) { ((oom_state *)u)->live--; free(p); }

static const char *const cases[][2] = {
    { "flux_dev_dit", "flux_dev_dit.weights.safetensors" },
    { "flux_vae", "flux_vae.weights.safetensors" },
    { "clip_l", "clip_l.weights.safetensors" },
    { "umt5_wan", "umt5_wan.weights.pth" },
    { "wan_i2v_dit", "wan_i2v_dit.weights.safetensors" },
    { "wan_vae", "wan_vae.weights.safetensors" },
};

/* one run with a fresh context; returns the result, counts in *s */
static ds_result run(const char *name, const char *weights, oom_state *s) {
    ds_ctx_desc d; ds_ctx *ctx = NULL; ds_weights *w = NULL, *io = NULL; ds_outputs out; char wp[256], iop[256]; ds_result r;
    memset(&d, 0, sizeof d); memset(&out, 0, sizeof out);
    d.n_threads = 1; d.allocator.alloc = oom_alloc; d.allocator.free = oom_free; d.allocator.user = s;
    snprintf(wp, sizeof wp, "tests/fixtures/%s", weights);
    snprintf(iop, sizeof iop, "tests/fixtures/%s.io.safetensors", name);
    r = ds_ctx_create(&d, &ctx);
    if (r == DS_SUCCESS) r = ds_weights_open(ctx, wp, &w);
    if (r == DS_SUCCESS) r = ds_weights_open(ctx, iop, &io);
    if (r == DS_SUCCESS) r = ds_forward(ctx, w, io, &out);
    ds_outputs_free(ctx, &out); ds_weights_close(io); ds_weights_close(w); ds_ctx_destroy(ctx);
    return r;
}

/* Every fixture checkpoint cut short at 24 points (header, tensor table, data) must be refused cleanly. */
static void truncated_files(void) {
    int c, k;
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        char wp[256]; FILE *f; long n; unsigned char *buf; int refused = 0, tries = 0;
        snprintf(wp, sizeof wp, "tests/fixtures/%s", cases[c][1]);
        f = fopen(wp, "rb"); if (!f) { CHECK(0, "%s missing", wp); continue; }
        fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
        buf = (unsigned char *)malloc((size_t)n); if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0; fclose(f);
        for (k = 0; k < 24; k++) {
            long cut = k < 12 ? (long)k * 97 + 3 : (long)((double)n * (k - 11) / 13.0);
            ds_ctx *ctx; ds_ctx_desc d; ds_weights *w = NULL; FILE *o;
            if (cut >= n) continue;
            o = fopen("build/t_trunc.bin", "wb"); fwrite(buf, 1, (size_t)cut, o); fclose(o);
            memset(&d, 0, sizeof d); d.n_threads = 1; ds_ctx_create(&d, &ctx);
            tries++;
            if (ds_weights_open(ctx, "build/t_trunc.bin", &w) < 0 && w == NULL && ds_ctx_last_error(ctx)[0]) refused++;
            ds_weights_close(w); ds_ctx_destroy(ctx);
        }
        CHECK(refused == tries, "%s cut short: %d of %d truncations refused with an error", cases[c][1], refused, tries);
        free(buf);
    }
}

int main(void) {
    int c;
    truncated_files();
    for (c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        oom_state s; long total, k, bad_rc = 0, leaks = 0, step; ds_result r;
        memset(&s, 0, sizeof s);
        r = run(cases[c][0], cases[c][1], &s);
        CHECK(r == DS_SUCCESS && s.live == 0, "%s: clean run (%ld allocations, %ld live after)", cases[c][0], s.calls, s.live);
        total = s.calls;
        step = total > 150 ? total / 150 : 1;       /* at most ~150 failure points per model */
        for (k = 1; k <= total; k += step) {
            memset(&s, 0, sizeof s); s.fail_at = k;
            r = run(cases[c][0], cases[c][1], &s);
            if (r != DS_SUCCESS && r != DS_ERR_OUT_OF_MEMORY) bad_rc++;
            if (s.live != 0) { leaks++; if (getenv("DS_SHOW_LEAKS")) printf("  %s: leak when allocation %ld fails (rc %d)\n", cases[c][0], k, (int)r); }
        }
        CHECK(bad_rc == 0 && leaks == 0, "%s: allocation failure at each of %ld points: %ld wrong result codes, %ld leaks",
              cases[c][0], (total + step - 1) / step, bad_rc, leaks);
    }
    DS_TEST_END("test_robust");
}
