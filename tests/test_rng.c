/* ds_randn against torch.randn(shape, generator=torch.Generator(dev).manual_seed(seed)) values in
   tests/fixtures/torch_randn.io.safetensors (cpu_seedS: mt19937; cuda_seedS: Philox on a GPU). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

int main(void) {
    static const struct { const char *name; ds_rng_kind kind; uint64_t seed; } cases[] = {
        {"cpu_seed1", DS_RNG_CPU, 1}, {"cpu_seed7", DS_RNG_CPU, 7}, {"cpu_seed2024", DS_RNG_CPU, 2024},
        {"cuda_seed1", DS_RNG_CUDA, 1}, {"cuda_seed7", DS_RNG_CUDA, 7}, {"cuda_seed2024", DS_RNG_CUDA, 2024},
    };
    ds_ctx *ctx; ds_ctx_desc d; ds_weights *io = NULL; int i;
    memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    CHECK(ds_weights_open(ctx, "tests/fixtures/torch_randn.io.safetensors", &io) == DS_SUCCESS, "fixture: %s", ds_ctx_last_error(ctx));
    for (i = 0; io && i < DS__ARRLEN(cases); i++) {
        const ds_tensor *t = ds_weights_find(io, cases[i].name);
        int64_t n = t ? ds_tensor_numel(t) : 0, k; float *got; double err = 0;
        CHECK(t && t->dtype == DS_F32, "%s in the fixture", cases[i].name);
        if (!t || t->dtype != DS_F32) continue;
        got = (float *)malloc((size_t)n * sizeof(float));
        CHECK(got && ds_randn(cases[i].kind, cases[i].seed, got, n) == DS_SUCCESS, "%s: ds_randn", cases[i].name);
        for (k = 0; got && k < n; k++) err = fmax(err, fabs((double)got[k] - ((const float *)t->data)[k]));
        CHECK(got && err < 1e-5, "%s (%lld values): max |ds - torch| = %.3g", cases[i].name, (long long)n, err);
        free(got);
    }
    {   /* the CUDA block cap only matters past 256 x cap elements */
        int64_t n = 256 * 40 + 77; float *a = (float *)malloc((size_t)n * 4), *b = (float *)malloc((size_t)n * 4), *c = (float *)malloc((size_t)n * 4);
        if (a && b && c) {
            ds__randn_cuda(5, a, n, 0); ds__randn_cuda(5, b, n, 41); ds__randn_cuda(5, c, n, 40);
            CHECK(!memcmp(a, b, (size_t)n * 4) && memcmp(a, c, (size_t)n * 4) && !memcmp(a, c, 256 * 40 * 4), "CUDA grid cap: same until the grid is capped, then a different tail");
        }
        free(a); free(b); free(c);
    }
    CHECK(ds_randn(DS_RNG_CPU, 1, NULL, 4) == DS_ERR_INVALID_ARGS && ds_randn(DS_RNG_CPU, 1, NULL, 0) == DS_SUCCESS, "arguments");
    ds_weights_close(io);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_rng");
}
