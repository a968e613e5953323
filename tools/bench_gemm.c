/* bench_gemm: GFLOP/s of ds__linear per weight dtype, next to the machine's measured FMA peak.

       build/bench_gemm [-t threads] [-r reps] [-s MxNxK] [-f32] [type ...]

   -f32 sends quantized weights through the f32 GEMM (dequantized while packing) instead of the
   integer kernels. Defaults: 2 threads, the FLUX-sized shapes below, every dtype of the table. A shape is
   M x N x K: M activation rows, W [N, K]. ggml column: ggml's CPU backend (2 threads, AVX2) on
   this machine kind at 512 x 4096 x 4096, as given in the task brief. Other processes on the
   machine show up as noise: the load average is printed with the table. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU seconds of the whole process (all threads): with other jobs on the machine, flops per CPU
   second times the thread count is what the same threads would do with the cores to themselves. */
static double cpu_now(void) {
#if defined(CLOCK_PROCESS_CPUTIME_ID)
    struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

static const struct { ds_dtype dt; double ggml; } types[] = {
    { DS_F32, 47 }, { DS_F16, 76 }, { DS_BF16, 44 }, { DS_F8_E4M3, 0 }, { DS_Q8_0, 81 }, { DS_Q4_0, 66 }, { DS_Q4_1, 0 },
    { DS_Q5_0, 0 }, { DS_Q5_1, 0 }, { DS_Q2_K, 115 }, { DS_Q3_K, 77 }, { DS_Q4_K, 90 }, { DS_Q5_K, 65 }, { DS_Q6_K, 82 },
    { DS_IQ4_NL, 0 }, { DS_IQ4_XS, 0 },
};

/* --- FMA peak: independent FMA chains, no memory traffic ------------------------------------ */
typedef struct { double flops; } peak_arg;
static void peak_part(void *arg, int64_t i0, int64_t i1, int tid) {
    volatile float sink; int64_t it, n = 20000000;
    DS__UNUSED(arg); DS__UNUSED(i0); DS__UNUSED(i1); DS__UNUSED(tid);
#if defined(DS__HAS_AVX512)
    {
        /* distinct starting values: identical chains would be merged into one by the compiler */
        __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5);
        __m512 a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
        __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
        for (it = 0; it < n; it++) {
            a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c); a2 = _mm512_fmadd_ps(a2, b, c); a3 = _mm512_fmadd_ps(a3, b, c);
            a4 = _mm512_fmadd_ps(a4, b, c); a5 = _mm512_fmadd_ps(a5, b, c); a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c);
            a8 = _mm512_fmadd_ps(a8, b, c); a9 = _mm512_fmadd_ps(a9, b, c); a10 = _mm512_fmadd_ps(a10, b, c); a11 = _mm512_fmadd_ps(a11, b, c);
        }
        sink = ds__hsum512(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5),
               _mm512_add_ps(_mm512_add_ps(a6, a7), _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))))));
    }
#elif defined(DS__HAS_AVX2)
    {
        __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5);
        __m256 a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
        __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
        float t[8];
        for (it = 0; it < n; it++) {
            a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c); a2 = _mm256_fmadd_ps(a2, b, c); a3 = _mm256_fmadd_ps(a3, b, c);
            a4 = _mm256_fmadd_ps(a4, b, c); a5 = _mm256_fmadd_ps(a5, b, c); a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c);
            a8 = _mm256_fmadd_ps(a8, b, c); a9 = _mm256_fmadd_ps(a9, b, c); a10 = _mm256_fmadd_ps(a10, b, c); a11 = _mm256_fmadd_ps(a11, b, c);
        }
        _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5),
               _mm256_add_ps(_mm256_add_ps(a6, a7), _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11))))));
        sink = t[0];
    }
#else
    { float a[12]; int k; for (k = 0; k < 12; k++) a[k] = (float)k; for (it = 0; it < n; it++) for (k = 0; k < 12; k++) a[k] = a[k] * 0.9999f + 1e-4f; sink = a[0]; }
#endif
    DS__UNUSED(sink);
}
static double peak_gflops(ds_ctx *ctx, int threads, double *cpu_rate) {
    int lanes = 1; double t0, t, c0, c;
#if defined(DS__HAS_AVX512)
    lanes = 16;
#elif defined(DS__HAS_AVX2)
    lanes = 8;
#endif
    t0 = ds__now(); c0 = cpu_now();
    ds__parallel_for(ctx, threads, peak_part, NULL);
    t = ds__now() - t0; c = cpu_now() - c0;
    *cpu_rate = threads * threads * 20000000.0 * 12 * lanes * 2 / c * 1e-9;
    return threads * 20000000.0 * 12 * lanes * 2 / t * 1e-9;
}

static uint64_t rng_state = 88172645463325252ull;
static float randf(void) {   /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 4503599627370496.0 - 1.0);
}

/* W [N, K] of dtype dt: 64 random rows quantized, then repeated (values do not change the speed). */
static void *make_weight(ds_dtype dt, int64_t N, int64_t K, ds_tensor *t) {
    int64_t rows = DS__MIN(N, (int64_t)64), r; uint64_t rb = ds__dtype_nbytes(dt, K);
    float *src = (float *)malloc((size_t)(rows * K) * 4); uint8_t *w = (uint8_t *)malloc((size_t)(rb * (uint64_t)N));
    for (r = 0; r < rows * K; r++) src[r] = randf();
    ds__quantize_row(dt, w, src, rows * K);
    for (r = rows; r < N; r++) memcpy(w + r * rb, w + (r % rows) * rb, (size_t)rb);
    free(src);
    memset(t, 0, sizeof *t);
    t->name = "bench.weight"; t->dtype = dt; t->ndim = 2; t->shape[0] = N; t->shape[1] = K; t->data = w; t->nbytes = rb * (uint64_t)N;
    return w;
}

static void loadavg(char *buf, size_t n) {
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) { if (!fgets(buf, (int)n, f)) buf[0] = 0; fclose(f); }
    if (buf[0] && buf[strlen(buf) - 1] == '\n') buf[strlen(buf) - 1] = 0;
}

int main(int argc, char **argv) {
    int64_t shapes[8][3] = { { 512, 4096, 4096 }, { 1024, 3072, 3072 }, { 1024, 12288, 3072 } };
    int nshapes = 3, threads = 2, reps = 3, custom_shapes = 0, ntypes = 0, f32_only = 0, i, s, k;
    ds_dtype sel[DS_DTYPE_COUNT];
    ds_ctx *ctx; ds_ctx_desc cd; char la[128]; double peak1, peakn, cpeak1, cpeakn;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-f32")) f32_only = 1;   /* quantized weights through the f32 GEMM */
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            long long m, n, kk;
            if (!custom_shapes) nshapes = 0;
            custom_shapes = 1;
            if (nshapes < 8 && sscanf(argv[++i], "%lldx%lldx%lld", &m, &n, &kk) == 3) { shapes[nshapes][0] = m; shapes[nshapes][1] = n; shapes[nshapes][2] = kk; nshapes++; }
        } else {
            for (k = 0; k < DS_DTYPE_COUNT; k++) if (!strcmp(argv[i], ds_dtype_name((ds_dtype)k)) || (strlen(argv[i]) == strlen(ds_dtype_name((ds_dtype)k)) && !strncmp(argv[i], ds_dtype_name((ds_dtype)k), 99))) break;
            if (k == DS_DTYPE_COUNT) { int c; for (k = 0; k < DS_DTYPE_COUNT; k++) { const char *a = argv[i], *b = ds_dtype_name((ds_dtype)k); for (c = 0; a[c] && b[c] && (a[c] == b[c] || a[c] - 32 == b[c]); c++) {} if (!a[c] && !b[c]) break; } }
            if (k == DS_DTYPE_COUNT) { fprintf(stderr, "unknown type %s\n", argv[i]); return 1; }
            sel[ntypes++] = (ds_dtype)k;
        }
    }
    if (!ntypes) for (i = 0; i < DS__ARRLEN(types); i++) sel[ntypes++] = types[i].dt;
    memset(&cd, 0, sizeof cd); cd.n_threads = threads;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;
    if (f32_only) ctx->q_pick = -2;
    loadavg(la, sizeof la);
    peak1 = peak_gflops(ctx, 1, &cpeak1); peakn = peak_gflops(ctx, threads, &cpeakn);
    printf("bench_gemm: %d threads, f32 kernel %s, integer kernel %s, load average %s\n", threads, ds__gemm_kernel_get(ctx)->name,
           ds__qkernel_get(ctx) ? ds__qkernel_get(ctx)->name : "off", la);
    printf("FMA peak (measured): %.1f GFLOP/s with 1 thread, %.1f with %d (wall clock)\n", peak1, peakn, threads);
    printf("                     %.1f GFLOP/s with 1 thread, %.1f with %d (per CPU second x threads)\n", cpeak1, cpeakn, threads);
    printf("cells: GFLOP/s per CPU second x threads (wall-clock GFLOP/s in parentheses), best of %d\n\n", reps);
    printf("%-8s", "type");
    for (s = 0; s < nshapes; s++) { char h[48]; snprintf(h, sizeof h, "%lldx%lldx%lld", (long long)shapes[s][0], (long long)shapes[s][1], (long long)shapes[s][2]); printf(" %20s", h); }
    printf("  %% peak   ggml  vs ggml\n");
    for (i = 0; i < ntypes; i++) {
        double first = 0, ggml = 0;
        for (k = 0; k < DS__ARRLEN(types); k++) if (types[k].dt == sel[i]) ggml = types[k].ggml;
        printf("%-8s", ds_dtype_name(sel[i])); fflush(stdout);
        for (s = 0; s < nshapes; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], e; ds_tensor w; void *wd; double best = 1e30, cbest = 1e30, t0, c0; int r;
            float *x = (float *)malloc((size_t)(M * K) * 4), *y = (float *)malloc((size_t)(M * N) * 4);
            if (K % ds_dtype_block_size(sel[i])) { printf(" %20s", "-"); free(x); free(y); continue; }
            for (e = 0; e < M * K; e++) x[e] = randf();
            wd = make_weight(sel[i], N, K, &w);
            if (ds__linear(ctx, y, x, M, &w, NULL) != DS_SUCCESS) { printf("error: %s\n", ds_ctx_last_error(ctx)); return 1; }
            for (r = 0; r < reps; r++) {
                t0 = ds__now(); c0 = cpu_now();
                ds__linear(ctx, y, x, M, &w, NULL);
                best = DS__MIN(best, ds__now() - t0); cbest = DS__MIN(cbest, (cpu_now() - c0) / threads);
            }
            if (s == 0) first = 2.0 * M * N * K / cbest * 1e-9;
            printf(" %7.1f (wall %6.1f)", 2.0 * M * N * K / cbest * 1e-9, 2.0 * M * N * K / best * 1e-9); fflush(stdout);
            free(wd); free(x); free(y);
        }
        printf("  %5.1f%%", 100.0 * first / cpeakn);
        if (ggml > 0) printf("  %5.0f  %5.2fx", ggml, first / ggml);
        printf("\n");
    }
    loadavg(la, sizeof la);
    printf("\nload average after: %s\n", la);
    ds_ctx_destroy(ctx);
    return 0;
}
