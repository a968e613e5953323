/* ggml block formats against the gguf package (tools/gen_quant_ref.py writes the fixture):
   dequantize and quantize bit for bit, f16/bf16/fp8 conversions bit for bit, and the accuracy of
   the quantizers gguf cannot run (K-quants, IQ4) next to ggml's reference quantizers. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static const ds_dtype qtypes[] = { DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q8_0, DS_Q8_1, DS_Q2_K, DS_Q3_K,
                                   DS_Q4_K, DS_Q5_K, DS_Q6_K, DS_Q8_K, DS_IQ4_NL, DS_IQ4_XS };

static const ds_tensor *get(ds_weights *w, const char *fmt, const char *a) {
    char name[64]; const ds_tensor *t;
    snprintf(name, sizeof name, fmt, a);
    t = ds_weights_find(w, name);
    CHECK(t != NULL, "fixture tensor %s", name);
    return t;
}

/* Raw blocks are copied to an odd address: the formats must not care about alignment. */
static void test_dequantize(ds_weights *w) {
    int k;
    for (k = 0; k < DS__ARRLEN(qtypes); k++) {
        ds_dtype dt = qtypes[k]; const char *nm = ds_dtype_name(dt);
        const ds_tensor *b = get(w, "%s.deq.blocks", nm), *v = get(w, "%s.deq.values", nm);
        int64_t n, i, bad = 0; uint8_t *buf; float *y;
        if (!b || !v) continue;
        n = ds_tensor_numel(v);
        CHECK(ds__dtype_nbytes(dt, n) == b->nbytes, "%s: %llu bytes for %lld values", nm, (unsigned long long)b->nbytes, (long long)n);
        buf = (uint8_t *)malloc(b->nbytes + 1); y = (float *)malloc((size_t)n * 4);
        memcpy(buf + 1, b->data, b->nbytes);
        ds__traits[dt].to_f32(y, buf + 1, n);
        for (i = 0; i < n; i++) if (memcmp(&y[i], (const float *)v->data + i, 4)) bad++;
        CHECK(bad == 0, "dequantize %-6s bit-exact vs gguf: %lld of %lld values differ", nm, (long long)bad, (long long)n);
        free(buf); free(y);
    }
}

static void test_quantize(ds_weights *w) {
    static const ds_dtype exact[] = { DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q8_0, DS_Q8_1, DS_Q8_K };
    const ds_tensor *src = get(w, "%sq.src", "");
    int k;
    if (!src) return;
    for (k = 0; k < DS__ARRLEN(exact); k++) {
        ds_dtype dt = exact[k]; const char *nm = ds_dtype_name(dt);
        const ds_tensor *ref = get(w, "%s.q.blocks", nm);
        int64_t n = ds_tensor_numel(src), nb = n / ds_dtype_block_size(dt), i, bad = 0;
        size_t bb = ds_dtype_block_bytes(dt);
        uint8_t *q = (uint8_t *)malloc((size_t)nb * bb + 1);
        if (!ref) { free(q); continue; }
        CHECK(ds__quantize_row(dt, q + 1, (const float *)src->data, n) == DS_SUCCESS, "quantize %s", nm);
        for (i = 0; i < nb; i++) if (memcmp(q + 1 + i * bb, (const uint8_t *)ref->data + i * bb, bb)) bad++;
        CHECK(bad == 0 && ref->nbytes == (uint64_t)nb * bb, "quantize   %-6s bit-exact vs %s: %lld of %lld blocks differ", nm,
              dt == DS_Q8_1 || dt == DS_Q8_K ? "ggml formula" : "gguf", (long long)bad, (long long)nb);
        free(q);
    }
    CHECK(ds__quantize_row(DS_I32, NULL, NULL, 4) == DS_ERR_UNSUPPORTED && ds__quantize_row(DS_Q4_K, NULL, NULL, 100) == DS_ERR_SHAPE,
          "quantize_row rejects integer types and partial blocks");
}

static void test_floats(ds_weights *w) {
    static const struct { ds_dtype dt; const char *src, *bits; } cv[] = {
        { DS_F16, "f16.src", "f16.bits" }, { DS_BF16, "f16.src", "bf16.bits" },
        { DS_F8_E4M3, "fp8.src", "e4m3.bits" }, { DS_F8_E5M2, "fp8.src", "e5m2.bits" } };
    /* half an ulp (relative) and half the smallest subnormal (absolute) */
    static const float rel[] = { 1.0f / 2048, 1.0f / 256, 1.0f / 16, 1.0f / 8 }, tiny[] = { 3e-8f, 1e-38f, 0.0009766f, 7.7e-6f };
    int k;
    for (k = 0; k < DS__ARRLEN(cv); k++) {
        const ds_tensor *s = get(w, "%s", cv[k].src), *b = get(w, "%s", cv[k].bits);
        int64_t n, i, bad = 0, badr = 0; size_t es = ds_dtype_block_bytes(cv[k].dt); uint8_t *q; float *y;
        if (!s || !b) continue;
        n = ds_tensor_numel(s);
        q = (uint8_t *)malloc((size_t)n * es); y = (float *)malloc((size_t)n * 4);
        ds__quantize_row(cv[k].dt, q, (const float *)s->data, n);
        ds__traits[cv[k].dt].to_f32(y, q, n);
        for (i = 0; i < n; i++) {
            float x = ((const float *)s->data)[i];
            if (cv[k].dt == DS_F8_E4M3 && fabsf(x) > 448) continue;   /* torch makes these NaN, we saturate */
            if (memcmp(q + i * es, (const uint8_t *)b->data + i * es, es)) bad++;
            if (y[i] == y[i] && fabsf(x) < 57344 && fabsf(y[i] - x) > fabsf(x) * rel[k] + tiny[k]) badr++;
        }
        CHECK(bad == 0, "from_f32   %-7s bit-exact vs %s: %lld of %lld differ", ds_dtype_name(cv[k].dt),
              cv[k].dt == DS_F16 ? "numpy" : cv[k].dt == DS_BF16 ? "gguf" : "torch", (long long)bad, (long long)n);
        CHECK(badr == 0, "to_f32(from_f32) %s within half an ulp: %lld far", ds_dtype_name(cv[k].dt), (long long)badr);
        free(q); free(y);
    }
}

/* RMSE of quantize -> dequantize on N(0,1) data. The ggml column is quantize_<type>() of ggml's
   ggml-quants.c (no importance matrix) on this same fixture, measured once outside the repo. */
static void test_rmse(ds_weights *w) {
    static const struct { ds_dtype dt; double ggml; } tab[] = {
        { DS_Q4_0, 0 }, { DS_Q4_1, 0 }, { DS_Q5_0, 0 }, { DS_Q5_1, 0 }, { DS_Q8_0, 0 }, { DS_Q8_1, 0 }, { DS_Q8_K, 0 },
        { DS_Q2_K, 0.296771 }, { DS_Q3_K, 0.149552 }, { DS_Q4_K, 0.071348 }, { DS_Q5_K, 0.035952 }, { DS_Q6_K, 0.017749 },
        { DS_IQ4_NL, 0.076359 }, { DS_IQ4_XS, 0.076919 },
        { DS_F16, 0 }, { DS_BF16, 0 }, { DS_F8_E4M3, 0 }, { DS_F8_E5M2, 0 } };
    const ds_tensor *s = get(w, "%srmse.src", "");
    int k;
    if (!s) return;
    printf("quantizer accuracy on N(0,1), %lld values:\n  type     bits/w   rmse      ggml ref  ours/ggml\n", (long long)ds_tensor_numel(s));
    for (k = 0; k < DS__ARRLEN(tab); k++) {
        ds_dtype dt = tab[k].dt; int64_t n = ds_tensor_numel(s), i;
        const float *x = (const float *)s->data; double e = 0, rmse;
        uint8_t *q = (uint8_t *)malloc(ds__dtype_nbytes(dt, n)); float *y = (float *)malloc((size_t)n * 4);
        ds__quantize_row(dt, q, x, n);
        ds__traits[dt].to_f32(y, q, n);
        for (i = 0; i < n; i++) e += (double)(y[i] - x[i]) * (y[i] - x[i]);
        rmse = sqrt(e / (double)n);
        if (tab[k].ggml > 0) {
            printf("  %-7s  %6.3f  %.6f  %.6f  %.3f\n", ds_dtype_name(dt), 8.0 * ds_dtype_block_bytes(dt) / ds_dtype_block_size(dt), rmse, tab[k].ggml, rmse / tab[k].ggml);
            CHECK(rmse <= tab[k].ggml, "%s rmse %.6f <= ggml's %.6f", ds_dtype_name(dt), rmse, tab[k].ggml);
        } else
            printf("  %-7s  %6.3f  %.6f  %s\n", ds_dtype_name(dt), 8.0 * ds_dtype_block_bytes(dt) / ds_dtype_block_size(dt), rmse,
                   ds_dtype_is_quant(dt) ? "(bit-exact with gguf / ggml's formula)" : "(bit-exact conversion)");
        free(q); free(y);
    }
}

int main(int argc, char **argv) {
    ds_ctx *ctx; ds_ctx_desc cd; ds_weights *w = NULL;
    ds_test_verbose = argc > 1 && !strcmp(argv[1], "-v");
    memset(&cd, 0, sizeof cd); cd.n_threads = 1;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;
    CHECK(ds_weights_open(ctx, "tests/fixtures/quant_ref.safetensors", &w) == DS_SUCCESS, "open fixture: %s", ds_ctx_last_error(ctx));
    if (w) {
        test_dequantize(w);
        test_quantize(w);
        test_floats(w);
        test_rmse(w);
        ds_weights_close(w);
    }
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_quant");
}
