/* ds__linear against the scalar reference ds__gemm_ref: every f32 microkernel this build has
   (scalar, AVX2, AVX-512, NEON), every weight dtype, odd shapes (edges of every blocking), 1 and 2
   threads, with and without bias. Quantized weights: the integer kernels against their scalar
   reference (same activation quantization, exact integer sums) and against dequantize + f32 GEMM. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static ds_ctx *mkctx(int threads) { ds_ctx_desc d; ds_ctx *c; memset(&d, 0, sizeof d); d.n_threads = threads; return ds_ctx_create(&d, &c) == DS_SUCCESS ? c : NULL; }

/* A weight tensor of dtype dt holding src [N, K] quantized; wf gets its exact f32 values. */
static uint8_t *make_w(ds_tensor *t, ds_dtype dt, const float *src, int64_t N, int64_t K, float *wf) {
    uint8_t *buf = (uint8_t *)malloc(ds__dtype_nbytes(dt, N * K) + 1);
    if (dt == DS_I8) { int64_t i; for (i = 0; i < N * K; i++) buf[i] = (uint8_t)(int8_t)(src[i] * 100); }
    else ds__quantize_row(dt, buf, src, N * K);
    memset(t, 0, sizeof *t);
    t->name = "w"; t->dtype = dt; t->ndim = 2; t->shape[0] = N; t->shape[1] = K; t->data = buf; t->nbytes = ds__dtype_nbytes(dt, N * K);
    ds__traits[dt].to_f32(wf, buf, N * K);
    return buf;
}

static double run_case(ds_ctx *ctx, ds_dtype dt, int64_t M, int64_t N, int64_t K, int with_bias) {
    float *x = (float *)malloc((size_t)(M * K) * 4), *src = (float *)malloc((size_t)(N * K) * 4), *wf = (float *)malloc((size_t)(N * K) * 4);
    float *y = (float *)malloc((size_t)(M * N) * 4), *r = (float *)malloc((size_t)(M * N) * 4), *bias = (float *)malloc((size_t)N * 4);
    ds_tensor w; ds__entry b; uint8_t *wb; int64_t i; double err = -1;
    for (i = 0; i < M * K; i++) x[i] = ds_test_randf();
    for (i = 0; i < N * K; i++) src[i] = ds_test_randf();
    for (i = 0; i < N; i++) bias[i] = ds_test_randf();
    for (i = 0; i < M * N; i++) y[i] = NAN;   /* every output must be written */
    wb = make_w(&w, dt, src, N, K, wf);
    /* a bias must be a weights entry (ds__f32 caches its f32 copy there): pre-filled here */
    memset(&b, 0, sizeof b); b.t.name = "b"; b.t.dtype = DS_F32; b.t.ndim = 1; b.t.shape[0] = N; b.t.data = bias; b.t.nbytes = (uint64_t)N * 4; b.f32 = bias;
    if (ds__linear(ctx, y, x, M, &w, with_bias ? &b.t : NULL) == DS_SUCCESS) {
        ds__gemm_ref(r, x, wf, with_bias ? bias : NULL, M, N, K);
        err = ds_test_rel_l2(y, r, M * N);
        if (err != err) err = 1e9;
    }
    free(x); free(src); free(wf); free(y); free(r); free(bias); free(wb);
    return err;
}

static void test_f32_kernels(void) {
    static const int64_t shapes[][3] = {
        { 1, 1, 1 }, { 3, 5, 7 }, { 4, 33, 300 }, { 13, 31, 257 }, { 12, 32, 256 }, { 25, 70, 513 }, { 64, 96, 128 },
        { 100, 65, 1000 }, { 37, 600, 96 }, { 2100, 40, 24 }, { 8, 3000, 40 } };
    static const ds_dtype dts[] = { DS_F32, DS_F16, DS_BF16, DS_F8_E4M3, DS_F8_E5M2, DS_F64, DS_I8 };
    ds_ctx *c1 = mkctx(1), *c2 = mkctx(2);
    int kk, s, d;
    for (kk = 0; kk < DS__ARRLEN(ds__gemm_kernels); kk++) {
        double worst = 0; char where[96] = "";
        c1->gemm_pick = c2->gemm_pick = kk;
        for (s = 0; s < DS__ARRLEN(shapes); s++)
            for (d = 0; d < DS__ARRLEN(dts); d++) {
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                double e;
                if (M * N * K > 4000000 && kk == 0 && d > 0) continue;   /* the scalar kernel is slow: f32 only for big shapes */
                e = run_case((s + d) & 1 ? c2 : c1, dts[d], M, N, K, (s + d) % 3 != 0);
                if (e < 0 || e > worst) { worst = e < 0 ? 1e9 : e; snprintf(where, sizeof where, "%s %lldx%lldx%lld", ds_dtype_name(dts[d]), (long long)M, (long long)N, (long long)K); }
            }
        CHECK(worst < 1e-5, "f32 gemm kernel %-6s (MR %2d x NR %2d) vs ds__gemm_ref: worst rel L2 %.2e (%s)", ds__gemm_kernels[kk].name,
              ds__gemm_kernels[kk].mr, ds__gemm_kernels[kk].nr, worst, where);
    }
    c1->gemm_pick = c2->gemm_pick = -1;
    ds_ctx_destroy(c1); ds_ctx_destroy(c2);
}

/* Integer path: against ds__qdot_ref on the same quantized activations (exact up to f32 sums),
   and against dequantize + f32 (off by the 8-bit activation rounding only). The f32 path for
   quantized weights (dequantized while packing) against ds__gemm_ref. */
static void test_quant_kernels(void) {
    static const int64_t shapes[][3] = { { 1, 1, 256 }, { 5, 7, 96 }, { 4, 4, 512 }, { 9, 35, 768 }, { 33, 70, 256 }, { 8, 64, 2048 }, { 3, 3, 32 }, { 301, 16, 512 } };
    static const ds_dtype qts[] = { DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q8_0, DS_Q2_K, DS_Q3_K, DS_Q4_K, DS_Q5_K, DS_Q6_K, DS_IQ4_NL, DS_IQ4_XS };
    ds_ctx *c1 = mkctx(1), *c2 = mkctx(2);
    int kk, s, d;
    for (d = 0; d < DS__ARRLEN(qts); d++) {
        ds_dtype dt = qts[d];
        double worst_ref[8] = {0}, worst_f32 = 0, worst_path = 0;
        for (s = 0; s < DS__ARRLEN(shapes); s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], i, m, n;
            float *x, *src, *wf, *y, *r, *bias; ds_tensor w; ds__entry be; uint8_t *wb;
            if (K % ds_dtype_block_size(dt)) continue;
            x = (float *)malloc((size_t)(M * K) * 4); src = (float *)malloc((size_t)(N * K) * 4); wf = (float *)malloc((size_t)(N * K) * 4);
            y = (float *)malloc((size_t)(M * N) * 4); r = (float *)malloc((size_t)(M * N) * 4); bias = (float *)malloc((size_t)N * 4);
            for (i = 0; i < M * K; i++) x[i] = ds_test_randf() * (i % 7 == 0 ? 3.0f : 1.0f);
            for (i = 0; i < N * K; i++) src[i] = ds_test_randf() + 0.2f * (float)((i / 32) % 3);
            for (i = 0; i < N; i++) bias[i] = ds_test_randf();
            wb = make_w(&w, dt, src, N, K, wf);
            memset(&be, 0, sizeof be); be.t.name = "b"; be.t.dtype = DS_F32; be.t.ndim = 1; be.t.shape[0] = N; be.t.data = bias; be.f32 = bias;
            ds__gemm_ref(r, x, wf, bias, M, N, K);
            if (ds__qfamily(dt) != DS__QF_NONE) {
                /* the reference on the activations as the integer path quantizes them */
                ds__qx a; float *ref = (float *)malloc((size_t)(M * N) * 4), *wbuf = (float *)malloc((size_t)K * 4);
                a.fam = ds__qfamily(dt); a.w8 = dt == DS_Q8_0; a.K = K; a.kq = a.fam == DS__QF_32 ? (K + 63) / 64 * 64 : K;
                a.ns = a.fam == DS__QF_32 ? (a.kq / 32 + 15) / 16 * 16 : K / 16;
                a.q = (int8_t *)malloc((size_t)(M * a.kq)); a.d = (float *)malloc((size_t)(M * a.kq) * 4); a.s = (float *)malloc((size_t)(M * a.ns) * 4);
                for (m = 0; m < M; m++) ds__qx_row(&a, m, x + m * K);
                for (m = 0; m < M; m++)
                    for (n = 0; n < N; n++) ref[m * N + n] = (float)(ds__qdot_ref(dt, wb + n * ds__dtype_nbytes(dt, K), &a, m, wbuf) + bias[n]);
                for (kk = 0; kk < DS__ARRLEN(ds__qkernels); kk++) {
                    double e;
                    c1->q_pick = c2->q_pick = kk;
                    for (i = 0; i < M * N; i++) y[i] = NAN;
                    if (ds__linear(s & 1 ? c2 : c1, y, x, M, &w, &be.t) != DS_SUCCESS) e = 1e9;
                    else { e = ds_test_rel_l2(y, ref, M * N); if (e != e) e = 1e9; }
                    worst_ref[kk] = DS__MAX(worst_ref[kk], e);
                    if (kk == DS__ARRLEN(ds__qkernels) - 1 && K >= 512) worst_f32 = DS__MAX(worst_f32, ds_test_rel_l2(y, r, M * N));
                }
                free(ref); free(wbuf); free(a.q); free(a.d); free(a.s);
            }
            c1->q_pick = c2->q_pick = -2;
            for (i = 0; i < M * N; i++) y[i] = NAN;
            if (ds__linear(s & 1 ? c2 : c1, y, x, M, &w, &be.t) != DS_SUCCESS) worst_path = 1e9;
            else { double e = ds_test_rel_l2(y, r, M * N); worst_path = DS__MAX(worst_path, e == e ? e : 1e9); }
            c1->q_pick = c2->q_pick = -1;
            free(x); free(src); free(wf); free(y); free(r); free(bias); free(wb);
        }
        if (ds__qfamily(dt) != DS__QF_NONE) {
            for (kk = 0; kk < DS__ARRLEN(ds__qkernels); kk++)
                CHECK(worst_ref[kk] < 1e-5, "%-6s integer kernel %-10s vs ds__qdot_ref: worst rel L2 %.2e", ds_dtype_name(dt), ds__qkernels[kk].name, worst_ref[kk]);
            CHECK(worst_f32 < 1.5e-2, "%-6s integer path vs dequantize + f32 (K >= 512): worst rel L2 %.2e (8-bit activations)", ds_dtype_name(dt), worst_f32);
        }
        CHECK(worst_path < 1e-5, "%-6s f32 path (dequantized while packing) vs ds__gemm_ref: worst rel L2 %.2e", ds_dtype_name(dt), worst_path);
    }
    ds_ctx_destroy(c1); ds_ctx_destroy(c2);
}

static void test_errors(void) {
    ds_ctx *c = mkctx(1); ds_tensor w; float x[64], y[64]; uint8_t q[64];
    memset(&w, 0, sizeof w); memset(q, 0, sizeof q);
    w.name = "w"; w.dtype = DS_Q4_0; w.ndim = 2; w.shape[0] = 2; w.shape[1] = 16; w.data = q;
    CHECK(ds__linear(c, y, x, 1, &w, NULL) == DS_ERR_SHAPE, "Q4_0 row of 16 is rejected: %s", ds_ctx_last_error(c));
    CHECK(ds__linear(c, y, x, 1, NULL, NULL) == DS_ERR_INVALID_ARGS, "no weight");
    ds_ctx_destroy(c);
}

int main(int argc, char **argv) {
    ds_test_verbose = argc > 1 && !strcmp(argv[1], "-v");
    test_f32_kernels();
    test_quant_kernels();
    test_errors();
    DS_TEST_END("test_gemm");
}
