/* Core: numeric conversions, safetensors round trip and hostile headers, thread pool, linear,
   attention and convolution against straightforward scalar references. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static void test_numeric(void) {
    int i, bad = 0;
    for (i = 0; i < 65536; i++) {          /* f16 -> f32 -> f16 is the identity (NaNs aside) */
        uint16_t h = (uint16_t)i; float f = ds__f16_to_f32(h);
        if (f == f && ds__f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0, "f16 round trip: %d mismatches", bad);
    CHECK(ds__f16_to_f32(0x3C00) == 1.0f && ds__f16_to_f32(0xC000) == -2.0f && ds__f16_to_f32(0x0001) == 5.9604644775390625e-8f, "f16 values");
    CHECK(ds__bf16_to_f32(0x3F80) == 1.0f && ds__f32_to_bf16(1.00390625f) == 0x3F80 && ds__f32_to_bf16(1.01171875f) == 0x3F82, "bf16 rounding (ties to even)");
    CHECK(ds__e4m3_to_f32(0x7E) == 448.0f && ds__e4m3_to_f32(0x01) == 0.001953125f && ds__e4m3_to_f32(0x38) == 1.0f, "e4m3 values");
    CHECK(ds__e5m2_to_f32(0x3C) == 1.0f && ds__e5m2_to_f32(0x7B) == 57344.0f, "e5m2 values");
    for (i = 0, bad = 0; i < 256; i++) { float f = ds__e4m3_to_f32((uint8_t)i); if (f == f && ds__f32_to_e4m3(f) != (uint8_t)i && !(f == 0 && i == 0x80)) bad++; }
    CHECK(bad == 0, "e4m3 round trip: %d mismatches", bad);
}

static ds_ctx *mkctx(int threads) { ds_ctx_desc d; ds_ctx *c; memset(&d, 0, sizeof d); d.n_threads = threads; return ds_ctx_create(&d, &c) == DS_SUCCESS ? c : NULL; }

static void test_safetensors(ds_ctx *ctx) {
    float a[6] = {1, 2, 3, 4, 5, 6}; uint16_t b[3] = {0x3F80, 0x4000, 0xC040};
    ds_write_tensor t[2]; ds_weights *w; const ds_tensor *x; const char *meta[] = {"component", "test", NULL};
    memset(t, 0, sizeof t);
    t[0].name = "a.weight"; t[0].dtype = DS_F32; t[0].ndim = 2; t[0].shape[0] = 2; t[0].shape[1] = 3; t[0].data = a;
    t[1].name = "b"; t[1].dtype = DS_BF16; t[1].ndim = 1; t[1].shape[0] = 3; t[1].data = b;
    CHECK(ds_safetensors_write(ctx, "build/t_core.safetensors", t, 2, meta) == DS_SUCCESS, "write");
    CHECK(ds_weights_open(ctx, "build/t_core.safetensors", &w) == DS_SUCCESS, "open: %s", ds_ctx_last_error(ctx));
    if (!w) return;
    x = ds_weights_find(w, "a.weight");
    CHECK(x && x->dtype == DS_F32 && x->ndim == 2 && x->shape[1] == 3 && ((const float *)x->data)[5] == 6.0f, "tensor a");
    x = ds_weights_find(w, "b");
    CHECK(x && ds__f32(ctx, x)[2] == -3.0f, "bf16 tensor b");
    CHECK(ds_weights_meta(w, "component") && !strcmp(ds_weights_meta(w, "component"), "test"), "metadata");
    CHECK(ds_weights_find(w, "nope") == NULL && ds_weights_count(w) == 2, "lookup");
    ds_weights_close(w);
}

/* Hostile headers: each must fail with a clean error, never crash. */
static void test_hostile(ds_ctx *ctx) {
    static const char *const hdrs[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}",          /* past the end      */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",            /* size mismatch     */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}",           /* negative dim      */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", /* overflow */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",            /* reversed offsets  */
        "{\"a\":{\"dtype\":\"X99\",\"shape\":[2],\"data_offsets\":[0,8]}}",            /* unknown dtype     */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}",             /* truncated JSON    */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", /* too many dims */
        "[1,2,3]",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", /* overlap */
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", /* dup */
    };
    int i;
    for (i = 0; i < (int)(sizeof hdrs / sizeof hdrs[0]); i++) {
        FILE *f = fopen("build/t_hostile.safetensors", "wb"); unsigned char lb[8]; size_t n = strlen(hdrs[i]); int k;
        ds_weights *w = NULL; ds_result r; char pad[16] = {0};
        for (k = 0; k < 8; k++) lb[k] = (unsigned char)((unsigned long long)n >> (8 * k));
        fwrite(lb, 1, 8, f); fwrite(hdrs[i], 1, n, f); fwrite(pad, 1, 8, f); fclose(f);
        r = ds_weights_open(ctx, "build/t_hostile.safetensors", &w);
        if (i == 10) { /* duplicate keys in one header: later entry is rejected or shadows; must not crash */
            CHECK(1, "duplicate key handled (%s)", ds_result_string(r));
        } else CHECK(r < 0 && w == NULL && ds_ctx_last_error(ctx)[0], "hostile header %d rejected: %s", i, ds_ctx_last_error(ctx));
        ds_weights_close(w);
    }
    {   /* truncated file, empty file, missing file */
        ds_weights *w = NULL; FILE *f = fopen("build/t_hostile.safetensors", "wb"); fwrite("\x10\x00", 1, 2, f); fclose(f);
        CHECK(ds_weights_open(ctx, "build/t_hostile.safetensors", &w) < 0, "truncated file");
        f = fopen("build/t_hostile.safetensors", "wb"); fclose(f);
        CHECK(ds_weights_open(ctx, "build/t_hostile.safetensors", &w) < 0, "empty file");
        CHECK(ds_weights_open(ctx, "build/does-not-exist", &w) == DS_ERR_IO, "missing file");
    }
}

typedef struct { long long *sum; } pf_arg;
static void pf_fn(void *a, int64_t i0, int64_t i1, int tid) { long long *s = ((pf_arg *)a)->sum + tid * 16; int64_t i; for (i = i0; i < i1; i++) *s += i; }
static void test_pool(ds_ctx *ctx) {
    long long sums[64 * 16]; pf_arg a; int rep, t; long long tot = 0;
    memset(sums, 0, sizeof sums); a.sum = sums;
    for (rep = 0; rep < 200; rep++) ds__parallel_for(ctx, 1000, pf_fn, &a);
    for (t = 0; t < 64; t++) tot += sums[t * 16];
    CHECK(tot == 200LL * 999 * 1000 / 2, "parallel_for covers every index once (%lld)", tot);
}

static void test_linear(ds_ctx *ctx) {
    int M = 37, N = 70, K = 96, i, j, k; double e;
    float *x = (float *)malloc(sizeof(float) * M * K), *wf = (float *)malloc(sizeof(float) * N * K), *bf = (float *)malloc(sizeof(float) * N);
    float *y = (float *)malloc(sizeof(float) * M * N), *ref = (float *)malloc(sizeof(float) * M * N);
    uint16_t *wb = (uint16_t *)malloc(2 * N * K), *wh = (uint16_t *)malloc(2 * N * K);
    ds_tensor tw; memset(&tw, 0, sizeof tw);
    for (i = 0; i < M * K; i++) x[i] = ds_test_randf();
    for (i = 0; i < N * K; i++) { wb[i] = ds__f32_to_bf16(ds_test_randf()); wf[i] = ds__bf16_to_f32(wb[i]); wh[i] = ds__f32_to_f16(wf[i]); }
    for (i = 0; i < N; i++) bf[i] = ds_test_randf();
    for (i = 0; i < M; i++) for (j = 0; j < N; j++) { double s = bf[j]; for (k = 0; k < K; k++) s += (double)x[i * K + k] * wf[j * K + k]; ref[i * N + j] = (float)s; }
    tw.name = "w"; tw.ndim = 2; tw.shape[0] = N; tw.shape[1] = K;
    {
        ds_dtype dts[3] = {DS_F32, DS_BF16, DS_F16}; const void *ds_[3] = {wf, wb, wh}; int d;
        for (d = 0; d < 3; d++) {
            ds__entry be; memset(&be, 0, sizeof be); be.t.name = "b"; be.t.dtype = DS_F32; be.t.ndim = 1; be.t.shape[0] = N; be.t.data = bf;
            tw.dtype = dts[d]; tw.data = ds_[d];
            CHECK(ds__linear(ctx, y, x, M, &tw, &be.t) == DS_SUCCESS, "linear %s", ds_dtype_name(dts[d]));
            e = ds_test_rel_l2(y, ref, (long long)M * N);
            CHECK(e < 1e-6, "linear %s vs scalar reference: rel L2 %.3g", ds_dtype_name(dts[d]), e);
            ds__free(ctx, be.f32);
        }
    }
    free(x); free(wf); free(bf); free(y); free(ref); free(wb); free(wh);
}

static void attn_case(ds_ctx *ctx, int Lq, int Lk, int H, int D, int use_bias, int use_mask) {
    long long nq = (long long)Lq * H * D, nk = (long long)Lk * H * D, i; double e;
    float *q = (float *)malloc(sizeof(float) * nq), *k = (float *)malloc(sizeof(float) * nk), *v = (float *)malloc(sizeof(float) * nk);
    float *o = (float *)malloc(sizeof(float) * nq), *ref = (float *)malloc(sizeof(float) * nq), *srow = (float *)malloc(sizeof(float) * Lk);
    float *bias = use_bias ? (float *)malloc(sizeof(float) * H * Lq * Lk) : NULL, *mask = use_mask ? (float *)malloc(sizeof(float) * Lk) : NULL;
    for (i = 0; i < nq; i++) q[i] = 2 * ds_test_randf();
    for (i = 0; i < nk; i++) { k[i] = 2 * ds_test_randf(); v[i] = ds_test_randf(); }
    if (bias) for (i = 0; i < (long long)H * Lq * Lk; i++) bias[i] = ds_test_randf();
    if (mask) for (i = 0; i < Lk; i++) mask[i] = (i % 3 == 2) ? -INFINITY : 0.0f;
    CHECK(ds__attention(ctx, o, q, k, v, Lq, Lk, H, D, H * D, H * D, bias, mask, 1.0f / sqrtf((float)D)) == DS_SUCCESS, "attention runs");
    ds__attention_ref(ref, q, k, v, Lq, Lk, H, D, H * D, H * D, bias, mask, 1.0f / sqrtf((float)D), srow);
    e = ds_test_rel_l2(o, ref, nq);
    CHECK(e < 2e-6, "attention Lq %d Lk %d H %d D %d%s%s vs scalar reference: rel L2 %.3g", Lq, Lk, H, D, use_bias ? " +bias" : "", use_mask ? " +mask" : "", e);
    free(q); free(k); free(v); free(o); free(ref); free(srow); free(bias); free(mask);
}

static void test_attention(ds_ctx *ctx) {
    int i, bad = 0; float x, worst = 0;
    for (i = 0; i <= 100000; i++) {    /* exp approximation vs libm over the softmax range */
        double r; x = -87.0f * (float)i / 100000.0f; r = exp((double)x);
        if (fabs(ds__exp_neg(x) - r) > 3e-7 * r) bad++;
        if (fabs(ds__exp_neg(x) - r) / r > worst) worst = (float)(fabs(ds__exp_neg(x) - r) / r);
    }
    CHECK(bad == 0, "exp approximation: max rel error %.3g", worst);
    {   /* SIMD exp-sum equals the scalar one */
        float a[37], b[37], sa, sb = 0; int k;
        for (k = 0; k < 37; k++) a[k] = b[k] = -10.0f * (ds_test_randf() + 1.0f);
        sa = ds__exp_sub_sum(a, 37, 0.5f);
        for (k = 0; k < 37; k++) { b[k] = ds__exp_neg(b[k] - 0.5f); sb += b[k]; }
        CHECK(ds_test_rel_l2(a, b, 37) < 1e-7 && fabsf(sa - sb) < 1e-5f * sb, "SIMD exp vs scalar");
    }
    attn_case(ctx, 19, 23, 3, 16, 0, 0);
    attn_case(ctx, 77, 77, 2, 64, 0, 0);
    attn_case(ctx, 40, 130, 2, 128, 1, 0);
    attn_case(ctx, 35, 512, 2, 128, 0, 1);
    attn_case(ctx, 33, 65, 1, 80, 1, 1);
    attn_case(ctx, 100, 100, 1, 512, 0, 0);
}

static void test_conv(ds_ctx *ctx) {
    int C = 3, H = 8, W = 6, O = 4, kh = 3, kw = 3, o, c, y, x, a, b; double e;
    float xin[3 * 8 * 6], wt[4 * 3 * 3 * 3], bias[4], out[4 * 4 * 3], ref[4 * 4 * 3];
    ds_tensor tw, tb; int stride = 2;
    for (a = 0; a < C * H * W; a++) xin[a] = ds_test_randf();
    for (a = 0; a < O * C * kh * kw; a++) wt[a] = ds_test_randf();
    for (a = 0; a < O; a++) bias[a] = ds_test_randf();
    /* stride 2, pad (0,1,0,1) as the FLUX VAE downsampler: out 4 x 3 */
    for (o = 0; o < O; o++) for (y = 0; y < 4; y++) for (x = 0; x < 3; x++) {
        double s = bias[o];
        for (c = 0; c < C; c++) for (a = 0; a < kh; a++) for (b = 0; b < kw; b++) {
            int yi = y * stride + a, xi = x * stride + b;
            if (yi < H && xi < W) s += (double)xin[(c * H + yi) * W + xi] * wt[((o * C + c) * kh + a) * kw + b];
        }
        ref[(o * 4 + y) * 3 + x] = (float)s;
    }
    memset(&tw, 0, sizeof tw); memset(&tb, 0, sizeof tb);
    tw.name = "w"; tw.dtype = DS_F32; tw.ndim = 4; tw.shape[0] = O; tw.shape[1] = C; tw.shape[2] = kh; tw.shape[3] = kw; tw.data = wt;
    {
        ds__entry be; memset(&be, 0, sizeof be); be.t.name = "b"; be.t.dtype = DS_F32; be.t.ndim = 1; be.t.shape[0] = O; be.t.data = bias;
        CHECK(ds__conv2d(ctx, out, xin, C, H, W, &tw, &be.t, 2, 0, 1, 0, 1) == DS_SUCCESS, "conv2d runs");
        ds__free(ctx, be.f32);
    }
    e = ds_test_rel_l2(out, ref, 4 * 4 * 3);
    CHECK(e < 1e-6, "conv2d stride 2 asymmetric pad vs reference: rel L2 %.3g", e);
    (void)tb;
}

int main(void) {
    ds_ctx *c1 = mkctx(1), *c4 = mkctx(4);
    test_numeric();
    test_safetensors(c1);
    test_hostile(c1);
    test_pool(c4);
    test_linear(c1); test_linear(c4);
    test_attention(c4);
    test_conv(c4);
    ds_ctx_destroy(c1); ds_ctx_destroy(c4);
    DS_TEST_END("test_core");
}
