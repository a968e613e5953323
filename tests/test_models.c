/* Reference fixtures: tiny random-weight models in real checkpoint layouts whose outputs were computed
   by the model authors' PyTorch code (tests/fixtures, copied from the project's shared fixtures).
   Each case runs ds_forward on the inputs and compares every expected output at rel L2 < 1e-3. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

typedef struct fx_case {
    const char *name, *weights;
    const char *outputs[4];   /* "name" or "name:R" = compare only the first R rows of dim 1 */
} fx_case;

static const fx_case cases[] = {
    { "flux_dev_dit", "flux_dev_dit.weights.safetensors", { "out" } },
    { "flux_vae",     "flux_vae.weights.safetensors",     { "decoded", "moments" } },
    { "clip_l",       "clip_l.weights.safetensors",       { "last_hidden_state", "pooled", "penultimate" } },
    { "t5xxl",        "t5xxl.weights.safetensors",        { "last_hidden_state" } },
    { "umt5_hf",      "umt5_hf.weights.safetensors",      { "last_hidden_state:14" } },
    { "umt5_wan",     "umt5_wan.weights.pth",             { "last_hidden_state:11" } },
    { "wan_t2v_dit",  "wan_t2v_dit.weights.safetensors",  { "out" } },
    { "wan_i2v_dit",  "wan_i2v_dit.weights.safetensors",  { "out" } },
    { "wan_vae",      "wan_vae.weights.safetensors",      { "decoded", "mu" } },
};

static void run_case(ds_ctx *ctx, const fx_case *c) {
    char wp[256], iop[256]; ds_weights *w = NULL, *io = NULL; ds_outputs out; ds_result r; int k;
    memset(&out, 0, sizeof out);
    snprintf(wp, sizeof wp, "tests/fixtures/%s", c->weights);
    snprintf(iop, sizeof iop, "tests/fixtures/%s.io.safetensors", c->name);
    r = ds_weights_open(ctx, wp, &w);
    if (r == DS_SUCCESS) r = ds_weights_open(ctx, iop, &io);
    if (r == DS_SUCCESS) r = ds_forward(ctx, w, io, &out);
    if (r != DS_SUCCESS) {
        CHECK(0, "%s: %s (%s)", c->name, ds_ctx_last_error(ctx), ds_result_string(r));
    } else {
        for (k = 0; k < 4 && c->outputs[k]; k++) {
            char nm[64]; const char *colon = strchr(c->outputs[k], ':'); long long rows = -1, n, i; int o, found = -1;
            const ds_tensor *ref; float *refv;
            snprintf(nm, sizeof nm, "%.*s", colon ? (int)(colon - c->outputs[k]) : 63, c->outputs[k]);
            if (colon) rows = atoll(colon + 1);
            for (o = 0; o < out.n; o++) if (!strcmp(out.items[o].name, nm)) found = o;
            ref = ds_weights_find(io, nm);
            if (found < 0 || !ref) { CHECK(0, "%s: output %s missing", c->name, nm); continue; }
            n = ds_tensor_numel(ref);
            if (ds_output_numel(&out.items[found]) != n) { CHECK(0, "%s/%s: %lld values, expected %lld", c->name, nm, (long long)ds_output_numel(&out.items[found]), n); continue; }
            refv = (float *)malloc((size_t)n * sizeof(float));
            for (i = 0; i < n; i++) refv[i] = ((const float *)ref->data)[i];
            if (rows > 0) n = rows * (n / (ref->shape[0] * ref->shape[1])) * ref->shape[0];   /* batch 1 */
            {
                double e = ds_test_rel_l2(out.items[found].data, refv, n);
                CHECK(e < 1e-3, "%s/%s rel L2 %.3g", c->name, nm, e);
                printf("  %-14s %-18s rel L2 %.3g\n", c->name, nm, e);
            }
            free(refv);
        }
    }
    ds_outputs_free(ctx, &out);
    ds_weights_close(io); ds_weights_close(w);
}

int main(int argc, char **argv) {
    ds_ctx *ctx; ds_ctx_desc d; int i;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        if (argc < 2 || !strcmp(argv[1], cases[i].name)) run_case(ctx, &cases[i]);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_models");
}
