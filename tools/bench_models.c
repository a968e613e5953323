/* bench_models: time full-width models with random weights, through the normal loaders.

       build/bench_models [-t threads] [-r reps] [-k] [-d dir] MODEL [options]

   MODEL and its options (defaults in brackets):
     t5      [-w bf16] [-l 2] [-n 512]          T5-XXL encoder (4096 wide, 64 heads, ffn 10240, vocab 32128),
                                                -l of its 24 layers, -n tokens; per layer = total / l
     flux    [-w q4_k] [-s 1024] [-L 512]       FLUX.1-dev DiT (3072 wide, 24 heads): ONE double and ONE single
                                                block at -s x -s pixels (-s/16 squared image tokens) and -L text
                                                tokens; a step = embedders + 19 double + 38 single
     wan     [-w q4_k] [-f 81] [-H 480] [-W 832] [-q 4096]
                                                Wan2.1 1.3B DiT (1536 wide, 12 heads, ffn 8960): ONE block on the
                                                latent of an -f frame -W x -H video; a step = 2 x (embedders + 30
                                                blocks) (CFG); attention timed alone on -q query rows
     wanvae  [-w bf16] [-T 3] [-f 81] [-H 480] [-W 832]
                                                Wan2.1 VAE decoder (dim 96): -T latent frames of ONE 34 x 34 tile,
                                                extrapolated to the tiled decode (34 x 34 tiles every 18 x 16)
     fluxvae [-w f32] [-s 1024] [-tile N] [-one]
                                                FLUX VAE decoder (ch 128, mult 1 2 4 4, 2 res blocks): whole
                                                image; -tile N: tiled (N latents, overlap N/4, shared GroupNorm
                                                statistics); -one: decode one N x N tile and extrapolate
   -w: weight type of the 2-D weights (bf16, f16, f32, q8_0, q4_k, ...). Weights a block type cannot hold
   (a row length that is not a multiple of its block, e.g. FLUX img_in with 64 inputs) stay f32, as in
   city96's GGUFs; norms, biases and modulation tables are f32.

   The weights are written to a GGUF file in -d (default /tmp), streamed tensor by tensor (a few random
   rows quantized with ds__quantize_row and repeated: values do not change the speed), then opened with
   ds_weights_open (mmap), found with ds_detect_arch and bound by the model's own loader, exactly as a
   real checkpoint. The file is deleted at the end unless -k (kept files are reused).

   Times: wall clock and CPU seconds of the process (all threads). With other jobs on the machine the
   wall clock grows with the load; CPU seconds / threads is what the same work takes with the cores to
   itself (the thread pool sleeps, it does not spin). Per block times come from the abort callback,
   which the models poll before every block (FLUX, Wan), every latent frame (Wan VAE) and every res
   block (FLUX VAE). Peak RSS: getrusage; the file is generated in a child process so it does not count.
   Heap: the library's own allocations (a counting allocator in the context). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* --- clocks, load, memory ----------------------------------------------------------------- */
static double cpu_now(void) {
    struct timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static void loadavg(char *buf, size_t n) {
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = 0;
    if (f) { if (!fgets(buf, (int)n, f)) buf[0] = 0; fclose(f); }
    if (buf[0] && buf[strlen(buf) - 1] == '\n') buf[strlen(buf) - 1] = 0;
}
static double peak_rss_mb(void) { struct rusage ru; getrusage(RUSAGE_SELF, &ru); return (double)ru.ru_maxrss / 1024.0; }

/* The library's heap: a counting allocator (16-byte header keeps malloc's alignment). */
typedef struct heap_stat { pthread_mutex_t mu; size_t cur, peak; } heap_stat;
static void *heap_alloc(size_t n, void *user) {
    heap_stat *h = (heap_stat *)user; size_t *p = (size_t *)malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    pthread_mutex_lock(&h->mu); h->cur += n; if (h->cur > h->peak) h->peak = h->cur; pthread_mutex_unlock(&h->mu);
    return (char *)p + 16;
}
static void heap_free(void *q, void *user) {
    heap_stat *h = (heap_stat *)user; size_t *p = (size_t *)(void *)((char *)q - 16);
    pthread_mutex_lock(&h->mu); h->cur -= p[0]; pthread_mutex_unlock(&h->mu);
    free(p);
}

/* Time stamps taken by the abort callback, which the models call before each block. */
typedef struct marks { int n; double wall[4096], cpu[4096]; } marks;
static int mark_cb(void *user) {
    marks *m = (marks *)user;
    if (m->n < 4096) { m->wall[m->n] = ds__now(); m->cpu[m->n] = cpu_now(); m->n++; }
    return 0;
}
typedef struct span { double wall, cpu; } span;
static span span_of(double w0, double c0, double w1, double c1) { span s; s.wall = w1 - w0; s.cpu = c1 - c0; return s; }

/* --- options ------------------------------------------------------------------------------- */
typedef struct opts {
    int threads, reps, keep, layers, tokens, size, text, frames, height, width, qrows, lat_frames, tile, one;
    ds_dtype wdt;
    const char *dir, *model;
} opts;
static opts O;
static heap_stat HEAP;
static marks MK;
static ds_ctx *CTX;

static void die(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt); fprintf(stderr, "bench_models: "); vfprintf(stderr, fmt, ap); fprintf(stderr, "\n"); va_end(ap);
    exit(1);
}
static void check(ds_result r, const char *what) { if (r != DS_SUCCESS) die("%s: %s (%s)", what, ds_result_string(r), ds_ctx_last_error(CTX)); }
static void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) die("out of memory (%zu bytes)", n); return p; }

static uint64_t rng_state = 88172645463325252ull;
static float randf(void) {   /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 4503599627370496.0 - 1.0);
}
static float *rand_buf(int64_t n, float scale) {
    float *p = (float *)xmalloc((size_t)n * sizeof(float)); int64_t i;
    for (i = 0; i < n; i++) p[i] = scale * randf();
    return p;
}

/* --- the random checkpoint: a list of tensors, written as GGUF ----------------------------- */
enum { K_W, K_NORM, K_BIAS, K_SMALL, K_EMB };   /* weight (fan-in scaled), norm scale ~1, bias, small table, embedding */
typedef struct gen_tensor { char name[96]; ds_dtype dt; int ndim, kind; int64_t shape[DS_MAX_DIMS]; } gen_tensor;
typedef struct gen_list { gen_tensor *t; int n, cap; uint64_t bytes; } gen_list;

static uint64_t tensor_bytes(const gen_tensor *t) {
    int64_t n = 1; int d;
    for (d = 0; d < t->ndim; d++) n *= t->shape[d];
    return ds__dtype_nbytes(t->dt, n);
}
/* Add a tensor; dims end at the first 0. K_W and K_EMB tensors take the weight type when their rows fit its block. */
static void gen_add(gen_list *L, int kind, ds_dtype wdt, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4, const char *fmt, ...) {
    gen_tensor *t; va_list ap; int64_t dims[5], row; int i;
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 256;
        L->t = (gen_tensor *)realloc(L->t, (size_t)L->cap * sizeof *L->t);
        if (!L->t) die("out of memory");
    }
    t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    va_start(ap, fmt); vsnprintf(t->name, sizeof t->name, fmt, ap); va_end(ap);
    dims[0] = d0; dims[1] = d1; dims[2] = d2; dims[3] = d3; dims[4] = d4;
    for (i = 0; i < 5 && dims[i] > 0; i++) t->shape[t->ndim++] = dims[i];
    t->kind = kind;
    row = t->shape[t->ndim - 1];
    t->dt = DS_F32;
    if ((kind == K_W || kind == K_EMB) && t->ndim >= 2) {
        t->dt = wdt;
        if (ds_dtype_block_size(wdt) > 1) {   /* a block type needs whole blocks per row (GGUF rows are the last dim) */
            int64_t k = 1; for (i = 1; i < t->ndim; i++) k *= t->shape[i];
            if (row % ds_dtype_block_size(wdt) || k % ds_dtype_block_size(wdt)) t->dt = DS_F32;
        }
    }
    L->bytes += tensor_bytes(t);
}

/* Values of one row of a tensor of this kind; K = fan-in. */
static void gen_row(float *dst, int64_t n, int kind, int64_t K) {
    int64_t i; float a = (float)sqrt(3.0 / (double)(K > 0 ? K : 1));
    for (i = 0; i < n; i++) {
        float u = randf();
        dst[i] = kind == K_W ? a * u : kind == K_NORM ? 1.0f + 0.1f * u : kind == K_BIAS ? 0.02f * u : kind == K_SMALL ? 0.1f * u : u;
    }
}

/* Write the list to path (streamed: one tensor in memory at a time; 64 random rows repeated). */
static void gen_write(const gen_list *L, const char *path, const char *arch) {
    ds_write_tensor *wt = (ds_write_tensor *)xmalloc((size_t)L->n * sizeof *wt);
    ds__gguf_kv kv[1]; ds__gguf_writer g; int i;
    memset(kv, 0, sizeof kv);
    kv[0].key = "general.architecture"; kv[0].type = DS__GGUF_STR; kv[0].str = arch;
    for (i = 0; i < L->n; i++) {
        memset(&wt[i], 0, sizeof wt[i]);
        wt[i].name = L->t[i].name; wt[i].dtype = L->t[i].dt; wt[i].ndim = L->t[i].ndim;
        memcpy(wt[i].shape, L->t[i].shape, sizeof wt[i].shape);
    }
    check(ds__gguf_write_begin(CTX, &g, path, kv, 1, wt, L->n), "gguf write");
    for (i = 0; i < L->n; i++) {
        const gen_tensor *t = &L->t[i];
        int64_t K = 1, rows, pool, r; int d; uint64_t rb; uint8_t *buf; float *src;
        for (d = 1; d < t->ndim; d++) K *= t->shape[d];
        rows = t->ndim > 1 ? t->shape[0] : 1;
        if (t->ndim == 1) K = t->shape[0];
        rb = ds__dtype_nbytes(t->dt, K);
        pool = DS__MIN(rows, (int64_t)64);
        buf = (uint8_t *)xmalloc((size_t)(rb * (uint64_t)rows));
        src = (float *)xmalloc((size_t)K * sizeof(float));
        for (r = 0; r < pool; r++) {
            gen_row(src, K, t->kind, t->kind == K_W ? K : 0);
            check(ds__quantize_row(t->dt, buf + (uint64_t)r * rb, src, K), t->name);
        }
        for (r = pool; r < rows; r++) memcpy(buf + (uint64_t)r * rb, buf + (uint64_t)(r % pool) * rb, (size_t)rb);
        check(ds__gguf_write_tensor(&g, buf), t->name);
        free(buf); free(src);
    }
    check(ds__gguf_write_end(&g), "gguf write end");
    free(wt);
}

/* Generate (in a child process, so its buffers stay out of this process's peak RSS) unless kept. */
static void gen_file(const gen_list *L, const char *path, const char *arch) {
    FILE *f = fopen(path, "rb");
    pid_t pid; int st;
    double t0 = ds__now();
    if (f) { fclose(f); if (O.keep) { printf("weights: %s (kept from an earlier run)\n", path); return; } }
    fflush(stdout);
    pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) { gen_write(L, path, arch); fflush(stdout); _exit(0); }
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("generating %s failed", path);
    printf("weights: %s, %d tensors, %.2f GB, generated in %.1f s\n", path, L->n, (double)L->bytes / 1e9, ds__now() - t0);
}

/* Open through the normal path: ds_weights_open (mmap), ds_detect_arch; fault every page in so the
   first forward does not pay for reading the file. */
static ds_weights *open_weights(const char *path, ds_arch_info *ai, const char *want) {
    ds_weights *w; int64_t i; volatile uint8_t sink = 0; double t0 = ds__now();
    check(ds_weights_open(CTX, path, &w), path);
    if (ds_detect_arch(w, ai) != DS_SUCCESS) { memset(ai, 0, sizeof *ai); ai->name = "none"; ai->layout = ""; }
    if (want && strcmp(ai->name, want) != 0) die("%s: detected as %s, expected %s", path, ai->name, want);
    for (i = 0; i < ds_weights_count(w); i++) {
        const ds_tensor *t = ds_weights_at(w, i); uint64_t o;
        for (o = 0; o < t->nbytes; o += 4096) sink ^= ((const uint8_t *)t->data)[o];
    }
    (void)sink;
    printf("loaded: %s as %s (%s layout), pages touched in %.1f s\n", path, ai->name, ai->layout, ds__now() - t0);
    return w;
}
static void finish_file(ds_weights *w, const char *path) {
    ds_weights_close(w);
    if (!O.keep) remove(path);
}

/* --- reporting ------------------------------------------------------------------------------ */
static char LOAD0[128];
static void header(const char *what) {
    char t[64]; time_t now = time(NULL);
    strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", localtime(&now));
    loadavg(LOAD0, sizeof LOAD0);
    printf("== bench_models %s | %s | %d threads | f32 kernel %s, integer kernel %s | load average %s\n", what, t, O.threads,
           ds__gemm_kernel_get(CTX)->name, ds__qkernel_get(CTX) ? ds__qkernel_get(CTX)->name : "off", LOAD0);
}
/* One row: what, GFLOP, wall s, CPU s, CPU s / threads, GFLOP/s on the CPU time, on the wall clock. */
static void row(const char *what, double gflop, span s) {
    double idle = s.cpu / O.threads;
    printf("  %-44s %10.1f GFLOP %9.2f s wall %9.2f s cpu %9.2f s cpu/thr", what, gflop, s.wall, s.cpu, idle);
    if (gflop > 0) printf("  %6.1f GFLOP/s (cpu)  %6.1f (wall)", gflop / idle, gflop / s.wall);
    printf("\n");
}
static void footer(double file_bytes, double full_bytes) {
    char la[128];
    double rss = peak_rss_mb();
    loadavg(la, sizeof la);
    printf("  memory: peak RSS %.0f MB (weights file %.0f MB, mmapped); library heap peak %.0f MB\n", rss, file_bytes / 1048576.0,
           (double)HEAP.peak / 1048576.0);
    if (full_bytes > file_bytes)
        printf("  full model: weights %.0f MB -> peak RSS about %.0f MB (measured RSS - this file + full weights)\n",
               full_bytes / 1048576.0, rss - file_bytes / 1048576.0 + full_bytes / 1048576.0);
    printf("  load average: before %s | after %s\n", LOAD0, la);
}
static int finite_all(const float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) if (!(x[i] == x[i]) || x[i] > 3e38f || x[i] < -3e38f) return 0; return 1; }

static void path_for(char *p, size_t n, const char *model, const char *tag) {
    snprintf(p, n, "%s/ds_bench_%s_%s.gguf", O.dir, model, tag);
}
static const char *dt_tag(ds_dtype t) {
    static char b[16]; int i;
    snprintf(b, sizeof b, "%s", ds_dtype_name(t));
    for (i = 0; b[i]; i++) if (b[i] >= 'A' && b[i] <= 'Z') b[i] = (char)(b[i] + 32);
    return b;
}

/* --- T5-XXL encoder --------------------------------------------------------------------------- */
#define T5_D 4096
#define T5_F 10240
#define T5_H 64
static void t5_list(gen_list *L, int layers) {
    int i; ds_dtype w = O.wdt;
    gen_add(L, K_EMB, w, 32128, T5_D, 0, 0, 0, "token_embd.weight");
    gen_add(L, K_NORM, w, T5_D, 0, 0, 0, 0, "enc.output_norm.weight");
    for (i = 0; i < layers; i++) {
        gen_add(L, K_NORM, w, T5_D, 0, 0, 0, 0, "enc.blk.%d.attn_norm.weight", i);
        gen_add(L, K_W, w, T5_D, T5_D, 0, 0, 0, "enc.blk.%d.attn_q.weight", i);
        gen_add(L, K_W, w, T5_D, T5_D, 0, 0, 0, "enc.blk.%d.attn_k.weight", i);
        gen_add(L, K_W, w, T5_D, T5_D, 0, 0, 0, "enc.blk.%d.attn_v.weight", i);
        gen_add(L, K_W, w, T5_D, T5_D, 0, 0, 0, "enc.blk.%d.attn_o.weight", i);
        if (i == 0) gen_add(L, K_SMALL, w, 32, T5_H, 0, 0, 0, "enc.blk.%d.attn_rel_b.weight", i);
        gen_add(L, K_NORM, w, T5_D, 0, 0, 0, 0, "enc.blk.%d.ffn_norm.weight", i);
        gen_add(L, K_W, w, T5_F, T5_D, 0, 0, 0, "enc.blk.%d.ffn_gate.weight", i);
        gen_add(L, K_W, w, T5_F, T5_D, 0, 0, 0, "enc.blk.%d.ffn_up.weight", i);
        gen_add(L, K_W, w, T5_D, T5_F, 0, 0, 0, "enc.blk.%d.ffn_down.weight", i);
    }
}
static void bench_t5(void) {
    gen_list L, full; char path[512], title[128]; ds_weights *w; ds_arch_info ai; ds__t5 m;
    int64_t n = O.tokens, i; int *ids; float *out; double t0, c0, lin, att, gf; span s; int rep;
    memset(&L, 0, sizeof L); memset(&full, 0, sizeof full);
    t5_list(&L, O.layers); t5_list(&full, 24);
    snprintf(title, sizeof title, "t5-xxl encoder, %s weights, %lld tokens, %d of 24 layers", ds_dtype_name(O.wdt), (long long)n, O.layers);
    header(title);
    path_for(path, sizeof path, "t5", dt_tag(O.wdt));
    gen_file(&L, path, "t5encoder");
    w = open_weights(path, &ai, "t5");
    check(ds__t5_load(CTX, &m, w, ai.prefix), "t5 load");
    ids = (int *)xmalloc((size_t)n * sizeof(int));
    for (i = 0; i < n; i++) ids[i] = (int)((i * 7919 + 13) % 32000);
    out = (float *)xmalloc((size_t)(n * T5_D) * sizeof(float));
    lin = 2.0 * n * (4.0 * T5_D * T5_D + 3.0 * T5_D * T5_F);   /* q k v o, gate up down */
    att = 4.0 * n * n * T5_D;                                    /* QK^T and PV           */
    for (rep = 0; rep < O.reps; rep++) {
        t0 = ds__now(); c0 = cpu_now();
        check(ds__t5_forward(CTX, &m, ids, n, NULL, out), "t5 forward");
        s = span_of(t0, c0, ds__now(), cpu_now());
        gf = O.layers * (lin + att) * 1e-9;
        printf("run %d (output %s):\n", rep + 1, finite_all(out, n * T5_D) ? "finite" : "NOT FINITE");
        row("measured forward", gf, s);
        s.wall /= O.layers; s.cpu /= O.layers;
        row("per layer", gf / O.layers, s);
        s.wall *= 24; s.cpu *= 24;
        row("24 layers (EXTRAPOLATED: per layer x 24)", 24 * (lin + att) * 1e-9, s);
    }
    footer((double)L.bytes, (double)full.bytes);
    free(ids); free(out); free(L.t); free(full.t);
    finish_file(w, path);
}

/* --- FLUX.1-dev DiT -------------------------------------------------------------------------- */
#define FX_H 3072
#define FX_F 12288
static void flux_lin(gen_list *L, int64_t out, int64_t in, const char *fmt, int blk) {
    char name[96];
    snprintf(name, sizeof name, fmt, blk);
    gen_add(L, K_W, O.wdt, out, in, 0, 0, 0, "%s.weight", name);
    gen_add(L, K_BIAS, O.wdt, out, 0, 0, 0, 0, "%s.bias", name);
}
static void flux_list(gen_list *L, int nd, int ns) {
    int i, s; const int64_t H = FX_H, F = FX_F;
    flux_lin(L, H, 64, "img_in", 0);
    flux_lin(L, H, 4096, "txt_in", 0);
    flux_lin(L, H, 256, "time_in.in_layer", 0);    flux_lin(L, H, H, "time_in.out_layer", 0);
    flux_lin(L, H, 768, "vector_in.in_layer", 0);  flux_lin(L, H, H, "vector_in.out_layer", 0);
    flux_lin(L, H, 256, "guidance_in.in_layer", 0); flux_lin(L, H, H, "guidance_in.out_layer", 0);
    flux_lin(L, 2 * H, H, "final_layer.adaLN_modulation.1", 0);
    flux_lin(L, 64, H, "final_layer.linear", 0);
    for (i = 0; i < nd; i++)
        for (s = 0; s < 2; s++) {
            const char *st = s ? "txt" : "img"; char f[64];
            snprintf(f, sizeof f, "double_blocks.%%d.%s_mod.lin", st);  flux_lin(L, 6 * H, H, f, i);
            snprintf(f, sizeof f, "double_blocks.%%d.%s_attn.qkv", st); flux_lin(L, 3 * H, H, f, i);
            gen_add(L, K_NORM, O.wdt, 128, 0, 0, 0, 0, "double_blocks.%d.%s_attn.norm.query_norm.scale", i, st);
            gen_add(L, K_NORM, O.wdt, 128, 0, 0, 0, 0, "double_blocks.%d.%s_attn.norm.key_norm.scale", i, st);
            snprintf(f, sizeof f, "double_blocks.%%d.%s_attn.proj", st); flux_lin(L, H, H, f, i);
            snprintf(f, sizeof f, "double_blocks.%%d.%s_mlp.0", st);     flux_lin(L, F, H, f, i);
            snprintf(f, sizeof f, "double_blocks.%%d.%s_mlp.2", st);     flux_lin(L, H, F, f, i);
        }
    for (i = 0; i < ns; i++) {
        flux_lin(L, 3 * H, H, "single_blocks.%d.modulation.lin", i);
        flux_lin(L, 3 * H + F, H, "single_blocks.%d.linear1", i);
        gen_add(L, K_NORM, O.wdt, 128, 0, 0, 0, 0, "single_blocks.%d.norm.query_norm.scale", i);
        gen_add(L, K_NORM, O.wdt, 128, 0, 0, 0, 0, "single_blocks.%d.norm.key_norm.scale", i);
        flux_lin(L, H, H + F, "single_blocks.%d.linear2", i);
    }
}
static void bench_flux(void) {
    gen_list L, full; char path[512], title[160]; ds_weights *w; ds_arch_info ai; ds__flux_dit m;
    const int64_t H = FX_H, F = FX_F, side = O.size / 16, N = side * side, T = O.text, S = N + T;
    float *img, *img_ids, *txt, *txt_ids, *y, *out, *q; double t0, c0, t1, c1;
    double g_emb, g_dbl, g_sgl, g_att, g_fin; span emb, dbl, sgl, st; int64_t i; int rep;
    memset(&L, 0, sizeof L); memset(&full, 0, sizeof full);
    flux_list(&L, 1, 1); flux_list(&full, 19, 38);
    snprintf(title, sizeof title, "flux.1-dev dit, %s weights, %dx%d (%lld image + %lld text tokens), 1 double + 1 single block",
             ds_dtype_name(O.wdt), O.size, O.size, (long long)N, (long long)T);
    header(title);
    path_for(path, sizeof path, "flux", dt_tag(O.wdt));
    gen_file(&L, path, "flux");
    w = open_weights(path, &ai, "flux-dit");
    check(ds__flux_dit_load(CTX, w, &ai, &m), "flux load");
    img = rand_buf(N * 64, 1.7f); txt = rand_buf(T * 4096, 0.5f); y = rand_buf(768, 1.0f);
    img_ids = (float *)xmalloc((size_t)N * 3 * sizeof(float)); txt_ids = (float *)calloc((size_t)T * 3 + 1, sizeof(float));
    for (i = 0; i < N; i++) { img_ids[3 * i] = 0; img_ids[3 * i + 1] = (float)(i / side); img_ids[3 * i + 2] = (float)(i % side); }
    out = (float *)xmalloc((size_t)(N * 64) * sizeof(float));
    /* FLOPs (2 per multiply-add): attention 4 S^2 H (QK^T, PV); linears as listed */
    g_att = 4.0 * S * S * H * 1e-9;
    g_dbl = (2.0 * S * H * (3 * H + H + 2 * F) + 2 * 2.0 * 6 * H * H) * 1e-9 + g_att;
    g_sgl = (2.0 * S * H * (3 * H + F) + 2.0 * S * (H + F) * H + 2.0 * 3 * H * H) * 1e-9 + g_att;
    g_fin = (2.0 * N * H * 64 + 2.0 * 2 * H * H) * 1e-9;
    g_emb = (2.0 * T * 4096 * H + 2.0 * N * 64 * H + 2.0 * (256 + 256 + 768 + 3 * H) * H) * 1e-9;
    for (rep = 0; rep < O.reps; rep++) {
        MK.n = 0;
        t0 = ds__now(); c0 = cpu_now();
        check(ds__flux_dit_forward(CTX, &m, img, img_ids, N, txt, txt_ids, T, y, 1.0f, 3.5f, out), "flux forward");
        t1 = ds__now(); c1 = cpu_now();
        if (MK.n != 2) die("expected 2 block marks, got %d", MK.n);
        emb = span_of(t0, c0, MK.wall[0], MK.cpu[0]);
        dbl = span_of(MK.wall[0], MK.cpu[0], MK.wall[1], MK.cpu[1]);
        sgl = span_of(MK.wall[1], MK.cpu[1], t1, c1);
        printf("run %d (output %s):\n", rep + 1, finite_all(out, N * 64) ? "finite" : "NOT FINITE");
        row("embedders (txt_in, img_in, time/vector/guidance)", g_emb, emb);
        row("one double block", g_dbl, dbl);
        row("one single block + final layer", g_sgl + g_fin, sgl);
        row("measured forward (1 + 1 blocks)", g_emb + g_dbl + g_sgl + g_fin, span_of(t0, c0, t1, c1));
        st.wall = emb.wall + 19 * dbl.wall + 38 * sgl.wall; st.cpu = emb.cpu + 19 * dbl.cpu + 38 * sgl.cpu;
        row("STEP (EXTRAPOLATED: emb + 19 dbl + 38 sgl)", g_emb + 19 * g_dbl + 38 * g_sgl + g_fin, st);
    }
    /* attention alone, at the model's shape (S tokens, 24 heads x 128) */
    q = rand_buf(S * 3 * H, 1.0f);
    {
        float *ao = (float *)xmalloc((size_t)(S * H) * sizeof(float));
        t0 = ds__now(); c0 = cpu_now();
        check(ds__attention(CTX, ao, q, q + H, q + 2 * H, S, S, (int)(H / 128), 128, 3 * H, 3 * H, NULL, NULL, 0.0883883f), "attention");
        row("attention alone (one block's)", g_att, span_of(t0, c0, ds__now(), cpu_now()));
        free(ao);
    }
    footer((double)L.bytes, (double)full.bytes);
    free(q); free(img); free(img_ids); free(txt); free(txt_ids); free(y); free(out); free(L.t); free(full.t);
    ds__flux_dit_free(CTX, &m);
    finish_file(w, path);
}

/* --- Wan2.1 1.3B DiT ------------------------------------------------------------------------ */
#define WN_D 1536
#define WN_F 8960
static void wan_lin(gen_list *L, int64_t out, int64_t in, const char *fmt, int blk) {
    char name[96];
    snprintf(name, sizeof name, fmt, blk);
    gen_add(L, K_W, O.wdt, out, in, 0, 0, 0, "%s.weight", name);
    gen_add(L, K_BIAS, O.wdt, out, 0, 0, 0, 0, "%s.bias", name);
}
static void wan_list(gen_list *L, int layers) {
    int i, a; const int64_t D = WN_D;
    gen_add(L, K_W, O.wdt, D, 16, 1, 2, 2, "patch_embedding.weight");
    gen_add(L, K_BIAS, O.wdt, D, 0, 0, 0, 0, "patch_embedding.bias");
    wan_lin(L, D, 4096, "text_embedding.0", 0); wan_lin(L, D, D, "text_embedding.2", 0);
    wan_lin(L, D, 256, "time_embedding.0", 0);  wan_lin(L, D, D, "time_embedding.2", 0);
    wan_lin(L, 6 * D, D, "time_projection.1", 0);
    wan_lin(L, 64, D, "head.head", 0);
    gen_add(L, K_SMALL, O.wdt, 1, 2, D, 0, 0, "head.modulation");
    for (i = 0; i < layers; i++) {
        gen_add(L, K_SMALL, O.wdt, 1, 6, D, 0, 0, "blocks.%d.modulation", i);
        for (a = 0; a < 2; a++) {
            const char *at = a ? "cross_attn" : "self_attn"; char f[64];
            snprintf(f, sizeof f, "blocks.%%d.%s.q", at); wan_lin(L, D, D, f, i);
            snprintf(f, sizeof f, "blocks.%%d.%s.k", at); wan_lin(L, D, D, f, i);
            snprintf(f, sizeof f, "blocks.%%d.%s.v", at); wan_lin(L, D, D, f, i);
            snprintf(f, sizeof f, "blocks.%%d.%s.o", at); wan_lin(L, D, D, f, i);
            gen_add(L, K_NORM, O.wdt, D, 0, 0, 0, 0, "blocks.%d.%s.norm_q.weight", i, at);
            gen_add(L, K_NORM, O.wdt, D, 0, 0, 0, 0, "blocks.%d.%s.norm_k.weight", i, at);
        }
        gen_add(L, K_NORM, O.wdt, D, 0, 0, 0, 0, "blocks.%d.norm3.weight", i);
        gen_add(L, K_BIAS, O.wdt, D, 0, 0, 0, 0, "blocks.%d.norm3.bias", i);
        wan_lin(L, WN_F, D, "blocks.%d.ffn.0", i);
        wan_lin(L, D, WN_F, "blocks.%d.ffn.2", i);
    }
}
static void bench_wan(void) {
    gen_list L, full; char path[512], title[200]; ds_weights *w; ds_arch_info ai; ds__wan_dit m;
    const int64_t D = WN_D, F = WN_F, NT = 512;
    const int lf = 1 + (O.frames - 1) / 4, lh = O.height / 8, lw = O.width / 8;
    const int64_t N = (int64_t)lf * (lh / 2) * (lw / 2), QR = DS__MIN((int64_t)O.qrows, N);
    float *x, *context, *out; double t0, c0, t1, c1, g_emb, g_blk, g_sa, g_ca, g_head, g_lin;
    span emb, blk, st, sa, ca; int rep;
    memset(&L, 0, sizeof L); memset(&full, 0, sizeof full);
    wan_list(&L, 1); wan_list(&full, 30);
    snprintf(title, sizeof title, "wan2.1 1.3B dit, %s weights, %dx%dx%d video (latent 16x%dx%dx%d, %lld tokens), 1 of 30 blocks",
             ds_dtype_name(O.wdt), O.width, O.height, O.frames, lf, lh, lw, (long long)N);
    header(title);
    path_for(path, sizeof path, "wan", dt_tag(O.wdt));
    gen_file(&L, path, "wan");
    w = open_weights(path, &ai, "wan-dit");
    check(ds__wan_dit_load(CTX, w, &ai, &m), "wan load");
    x = rand_buf((int64_t)16 * lf * lh * lw, 1.7f); context = rand_buf(NT * 4096, 0.5f);
    out = (float *)xmalloc((size_t)16 * lf * lh * lw * sizeof(float));
    g_sa = 4.0 * N * N * D * 1e-9;                          /* self-attention QK^T + PV   */
    g_ca = 4.0 * N * NT * D * 1e-9;                         /* cross-attention (512 keys) */
    g_lin = (2.0 * N * D * D * 6 + 2.0 * NT * D * D * 2 + 2.0 * 2 * N * D * F) * 1e-9;   /* q k v o, cross q o, cross k v, ffn */
    g_blk = g_lin + g_sa + g_ca;
    g_emb = (2.0 * N * 64 * D + 2.0 * NT * 4096 * D + 2.0 * NT * D * D + 2.0 * (256 + D + 6 * D) * D) * 1e-9;
    g_head = 2.0 * N * D * 64 * 1e-9;
    for (rep = 0; rep < O.reps; rep++) {
        MK.n = 0;
        t0 = ds__now(); c0 = cpu_now();
        check(ds__wan_dit_forward(CTX, &m, x, lf, lh, lw, context, (int)NT, 999.0f, NULL, NULL, out), "wan forward");
        t1 = ds__now(); c1 = cpu_now();
        if (MK.n != 1) die("expected 1 block mark, got %d", MK.n);
        emb = span_of(t0, c0, MK.wall[0], MK.cpu[0]);
        blk = span_of(MK.wall[0], MK.cpu[0], t1, c1);
        printf("run %d (output %s):\n", rep + 1, finite_all(out, (int64_t)16 * lf * lh * lw) ? "finite" : "NOT FINITE");
        row("embedders (patch, text, time)", g_emb, emb);
        row("one block + head", g_blk + g_head, blk);
        row("measured forward (1 block)", g_emb + g_blk + g_head, span_of(t0, c0, t1, c1));
        st.wall = 2 * (emb.wall + 30 * blk.wall); st.cpu = 2 * (emb.cpu + 30 * blk.cpu);
        row("STEP (EXTRAPOLATED: 2 x (emb + 30 blk), CFG)", 2 * (g_emb + 30 * g_blk + g_head), st);
    }
    /* attention alone on QR query rows (the work per query row does not depend on the others) */
    {
        float *qkv = rand_buf(DS__MAX(N, NT) * 3 * D, 1.0f), *ao = (float *)xmalloc((size_t)(QR * D) * sizeof(float));
        double gq = 4.0 * QR * N * D * 1e-9, gc = 4.0 * QR * NT * D * 1e-9;
        t0 = ds__now(); c0 = cpu_now();
        check(ds__attention(CTX, ao, qkv, qkv + D, qkv + 2 * D, QR, N, (int)(D / 128), 128, 3 * D, 3 * D, NULL, NULL, 0.0883883f), "attention");
        sa = span_of(t0, c0, ds__now(), cpu_now());
        t0 = ds__now(); c0 = cpu_now();
        check(ds__attention(CTX, ao, qkv, qkv + D, qkv + 2 * D, QR, NT, (int)(D / 128), 128, 3 * D, 3 * D, NULL, NULL, 0.0883883f), "attention");
        ca = span_of(t0, c0, ds__now(), cpu_now());
        printf("attention alone, %lld of %lld query rows:\n", (long long)QR, (long long)N);
        row("self-attention (measured rows)", gq, sa);
        sa.wall *= (double)N / QR; sa.cpu *= (double)N / QR;
        row("self-attention, all rows (EXTRAPOLATED)", g_sa, sa);
        row("cross-attention, 512 keys (measured rows)", gc, ca);
        printf("  -> per block: self-attention %.0f%% of the block's CPU time (%.1f of %.1f GFLOP)\n",
               100.0 * sa.cpu / blk.cpu, g_sa, g_blk);
        free(qkv); free(ao);
    }
    footer((double)L.bytes, (double)full.bytes);
    free(x); free(context); free(out); free(L.t); free(full.t);
    ds__wan_dit_free(CTX, &m);
    finish_file(w, path);
}

/* --- Wan2.1 VAE decoder ------------------------------------------------------------------- */
static void wanvae_conv(gen_list *L, int64_t o, int64_t i, int kt, int kh, int kw, const char *fmt, ...) {
    char name[96]; va_list ap;
    va_start(ap, fmt); vsnprintf(name, sizeof name, fmt, ap); va_end(ap);
    if (kt) gen_add(L, K_W, O.wdt, o, i, kt, kh, kw, "%s.weight", name);
    else gen_add(L, K_W, O.wdt, o, i, kh, kw, 0, "%s.weight", name);
    gen_add(L, K_BIAS, O.wdt, o, 0, 0, 0, 0, "%s.bias", name);
}
static void wanvae_res(gen_list *L, const char *base, int k, int64_t cin, int64_t cout) {
    char b[64];
    snprintf(b, sizeof b, base, k);
    gen_add(L, K_NORM, O.wdt, cin, 1, 1, 1, 0, "%sresidual.0.gamma", b);
    wanvae_conv(L, cout, cin, 3, 3, 3, "%sresidual.2", b);
    gen_add(L, K_NORM, O.wdt, cout, 1, 1, 1, 0, "%sresidual.3.gamma", b);
    wanvae_conv(L, cout, cout, 3, 3, 3, "%sresidual.6", b);
    if (cin != cout) wanvae_conv(L, cout, cin, 1, 1, 1, "%sshortcut", b);
}
/* Wan-Video/Wan2.1 Decoder3d(dim 96, z 16, dim_mult 1 2 4 4, 2 res blocks, temporal upsample T T F). */
static void wanvae_list(gen_list *L) {
    const int64_t d = 96, z = 16, dims[5] = { 4 * 96, 4 * 96, 4 * 96, 2 * 96, 96 };
    int i, r, seq = 0; int64_t cin, cout;
    wanvae_conv(L, 2 * z, 2 * z, 1, 1, 1, "conv1");   /* the encoder's (mu, logvar) conv: marks the file as a Wan VAE */
    wanvae_conv(L, z, z, 1, 1, 1, "conv2");
    wanvae_conv(L, dims[0], z, 3, 3, 3, "decoder.conv1");
    wanvae_res(L, "decoder.middle.%d.", 0, dims[0], dims[0]);
    gen_add(L, K_NORM, O.wdt, dims[0], 1, 1, 0, 0, "decoder.middle.1.norm.gamma");
    wanvae_conv(L, 3 * dims[0], dims[0], 0, 1, 1, "decoder.middle.1.to_qkv");
    wanvae_conv(L, dims[0], dims[0], 0, 1, 1, "decoder.middle.1.proj");
    wanvae_res(L, "decoder.middle.%d.", 2, dims[0], dims[0]);
    for (i = 0; i < 4; i++) {
        cin = i == 0 ? dims[0] : dims[i] / 2; cout = dims[i + 1];
        for (r = 0; r < 3; r++, cin = cout) wanvae_res(L, "decoder.upsamples.%d.", seq++, cin, cout);
        if (i != 3) {
            wanvae_conv(L, cout / 2, cout, 0, 3, 3, "decoder.upsamples.%d.resample.1", seq);
            if (i < 2) wanvae_conv(L, 2 * cout, cout, 3, 1, 1, "decoder.upsamples.%d.time_conv", seq);
            seq++;
        }
    }
    gen_add(L, K_NORM, O.wdt, d, 1, 1, 1, 0, "decoder.head.0.gamma");
    wanvae_conv(L, 3, d, 3, 3, 3, "decoder.head.2");
}
static double conv_flops(double px, double cin, double cout, double k) { return 2.0 * px * cin * cout * k; }
static double res3d_flops(double n, double cin, double cout) { return conv_flops(n, cin, cout, 27) + conv_flops(n, cout, cout, 27) + (cin != cout ? conv_flops(n, cin, cout, 1) : 0); }
/* FLOPs of one latent frame through the decoder (the first frame makes 1 video frame, later ones 4). */
static double wanvae_chunk_flops(double h, double w, int first) {
    const double dims[5] = { 384, 384, 384, 192, 96 };
    double px = h * w, T = 1, f = conv_flops(px, 16, 16, 1) + conv_flops(px, 16, dims[0], 27), cin, cout; int i;
    f += 2 * res3d_flops(px, dims[0], dims[0]) + conv_flops(px, dims[0], 4 * dims[0], 1) + 4.0 * px * px * dims[0];
    for (i = 0; i < 4; i++) {
        cin = i == 0 ? dims[0] : dims[i] / 2; cout = dims[i + 1];
        f += res3d_flops(T * px, cin, cout) + 2 * res3d_flops(T * px, cout, cout);
        if (i != 3) {
            if (i < 2 && !first) { f += conv_flops(T * px, cout, 2 * cout, 3); T *= 2; }
            px *= 4;
            f += conv_flops(T * px, cout, cout / 2, 9);
        }
    }
    return f + conv_flops(T * px, dims[4], 3, 27);
}
static void bench_wanvae(void) {
    gen_list L; char path[512], title[200]; ds_weights *w; ds_arch_info ai; ds__wan_vae m;
    const int64_t tile = 34, sh = 18, sw = 16, lf = 1 + (O.frames - 1) / 4, lh = O.height / 8, lw = O.width / 8, T = O.lat_frames;
    float *z, *out; double t0, c0, t1, c1, f0, fn, area = 0, tiles = 0, full_cpu, full_wall, gfull = 0; int64_t y0, x0; int k;
    span s0, sn;
    memset(&L, 0, sizeof L);
    wanvae_list(&L);
    snprintf(title, sizeof title, "wan2.1 vae decoder, %s weights, %d latent frames of one %lldx%lld tile (-> %lldx%lld px)",
             ds_dtype_name(O.wdt), (int)T, (long long)tile, (long long)tile, (long long)(8 * tile), (long long)(8 * tile));
    header(title);
    path_for(path, sizeof path, "wanvae", dt_tag(O.wdt));
    gen_file(&L, path, "wanvae");
    w = open_weights(path, &ai, "wan-vae");
    check(ds__wan_vae_load(CTX, w, &ai, &m), "wan vae load");
    z = rand_buf(16 * T * tile * tile, 1.7f);
    out = (float *)xmalloc((size_t)(3 * (1 + 4 * (T - 1)) * 64 * tile * tile) * sizeof(float));
    MK.n = 0;
    t0 = ds__now(); c0 = cpu_now();
    check(ds__wan_vae_decode(CTX, &m, z, T, tile, tile, out), "wan vae decode");
    t1 = ds__now(); c1 = cpu_now();
    if (MK.n != T) die("expected %d frame marks, got %d", (int)T, MK.n);
    f0 = wanvae_chunk_flops((double)tile, (double)tile, 1) * 1e-9; fn = wanvae_chunk_flops((double)tile, (double)tile, 0) * 1e-9;
    printf("run (output %s):\n", finite_all(out, 3 * (1 + 4 * (T - 1)) * 64 * tile * tile) ? "finite" : "NOT FINITE");
    s0 = span_of(MK.wall[0], MK.cpu[0], MK.wall[1], MK.cpu[1]);
    row("latent frame 0 (-> 1 video frame)", f0, s0);
    for (k = 1; k < T; k++) {
        span s = span_of(MK.wall[k], MK.cpu[k], k + 1 < T ? MK.wall[k + 1] : t1, k + 1 < T ? MK.cpu[k + 1] : c1);
        char what[64]; snprintf(what, sizeof what, "latent frame %d (-> 4 video frames)", k);
        row(what, fn, s);
    }
    sn = span_of(MK.wall[1], MK.cpu[1], t1, c1);
    sn.wall /= (double)(T - 1); sn.cpu /= (double)(T - 1);
    row("measured decode", f0 + (T - 1) * fn, span_of(t0, c0, t1, c1));
    /* the tiles ds__wan_vae_tiled visits on the lh x lw latent, weighted by area */
    for (y0 = 0; y0 < lh; y0 += sh) {
        if (ds__wan_vae_tile_skip(y0, sh, tile, lh)) continue;
        for (x0 = 0; x0 < lw; x0 += sw) {
            int64_t th = DS__MIN(y0 + tile, lh) - y0, tw = DS__MIN(x0 + tile, lw) - x0;
            if (ds__wan_vae_tile_skip(x0, sw, tile, lw)) continue;
            tiles++; area += (double)(th * tw) / (double)(tile * tile);
            gfull += (wanvae_chunk_flops((double)th, (double)tw, 1) + (lf - 1) * wanvae_chunk_flops((double)th, (double)tw, 0)) * 1e-9;
        }
    }
    full_cpu = area * (s0.cpu + (lf - 1) * sn.cpu); full_wall = area * (s0.wall + (lf - 1) * sn.wall);
    {
        span s; char what[128];
        s.wall = full_wall; s.cpu = full_cpu;
        snprintf(what, sizeof what, "%dx%dx%d tiled (EXTRAPOLATED: %.0f tiles)", O.width, O.height, O.frames, tiles);
        row(what, gfull, s);
        printf("  (tiles: %.0f, %.2f full-tile areas; per tile frame 0 + %lld later frames; time scaled by tile area)\n", tiles, area, (long long)(lf - 1));
    }
    footer((double)L.bytes, 0);
    printf("  tiled decode adds the output video and blend buffers: %.0f MB\n",
           (double)(3 * (1 + 4 * (lf - 1)) * (8 * lh) * (8 * lw) + (8 * lh) * (8 * lw) + 3 * (1 + 4 * (lf - 1)) * 64 * tile * tile + 16 * lf * tile * tile) * 4 / 1048576.0);
    free(z); free(out); free(L.t);
    finish_file(w, path);
}

/* --- FLUX VAE decoder --------------------------------------------------------------------- */
static void fvae_conv(gen_list *L, int64_t o, int64_t i, int k, const char *name) {
    gen_add(L, K_W, O.wdt, o, i, k, k, 0, "%s.weight", name);
    gen_add(L, K_BIAS, O.wdt, o, 0, 0, 0, 0, "%s.bias", name);
}
static void fvae_norm(gen_list *L, int64_t c, const char *name) {
    gen_add(L, K_NORM, O.wdt, c, 0, 0, 0, 0, "%s.weight", name);
    gen_add(L, K_BIAS, O.wdt, c, 0, 0, 0, 0, "%s.bias", name);
}
static void fvae_res(gen_list *L, const char *b, int64_t cin, int64_t cout) {
    char n[96];
    snprintf(n, sizeof n, "%s.norm1", b); fvae_norm(L, cin, n);
    snprintf(n, sizeof n, "%s.conv1", b); fvae_conv(L, cout, cin, 3, n);
    snprintf(n, sizeof n, "%s.norm2", b); fvae_norm(L, cout, n);
    snprintf(n, sizeof n, "%s.conv2", b); fvae_conv(L, cout, cout, 3, n);
    if (cin != cout) { snprintf(n, sizeof n, "%s.nin_shortcut", b); fvae_conv(L, cout, cin, 1, n); }
}
static const int fvae_mult[4] = { 1, 2, 4, 4 };
/* BFL ae.safetensors decoder (LDM keys): ch 128, ch_mult 1 2 4 4, 2 res blocks (3 per decoder level), z 16. */
static void fvae_list(gen_list *L) {
    int i, j; char b[96]; int64_t top = 512, cin, cout;
    fvae_conv(L, top, 16, 3, "decoder.conv_in");
    fvae_res(L, "decoder.mid.block_1", top, top);
    fvae_norm(L, top, "decoder.mid.attn_1.norm");
    fvae_conv(L, top, top, 1, "decoder.mid.attn_1.q"); fvae_conv(L, top, top, 1, "decoder.mid.attn_1.k");
    fvae_conv(L, top, top, 1, "decoder.mid.attn_1.v"); fvae_conv(L, top, top, 1, "decoder.mid.attn_1.proj_out");
    fvae_res(L, "decoder.mid.block_2", top, top);
    for (i = 3; i >= 0; i--) {
        cout = 128 * fvae_mult[i]; cin = i == 3 ? top : 128 * fvae_mult[i + 1];
        for (j = 0; j < 3; j++, cin = cout) { snprintf(b, sizeof b, "decoder.up.%d.block.%d", i, j); fvae_res(L, b, cin, cout); }
        if (i) { snprintf(b, sizeof b, "decoder.up.%d.upsample.conv", i); fvae_conv(L, cout, cout, 3, b); }
    }
    fvae_norm(L, 128, "decoder.norm_out");
    fvae_conv(L, 3, 128, 3, "decoder.conv_out");
}
static double fvae_res_flops(double px, double cin, double cout) { return conv_flops(px, cin, cout, 9) + conv_flops(px, cout, cout, 9) + (cin != cout ? conv_flops(px, cin, cout, 1) : 0); }
static double fvae_flops(double h, double w) {
    double px = h * w, f = conv_flops(px, 16, 512, 9), cin, cout; int i;
    f += 2 * fvae_res_flops(px, 512, 512) + 4 * conv_flops(px, 512, 512, 1) + 4.0 * px * px * 512;
    for (i = 3; i >= 0; i--) {
        cout = 128 * fvae_mult[i]; cin = i == 3 ? 512 : 128 * fvae_mult[i + 1];
        f += fvae_res_flops(px, cin, cout) + 2 * fvae_res_flops(px, cout, cout);
        if (i) { px *= 4; f += conv_flops(px, cout, cout, 9); }
    }
    return f + conv_flops(px, 128, 3, 9);
}
static void bench_fluxvae(void) {
    gen_list L; char path[512], title[200], what[128]; ds_weights *w; ds_arch_info ai; ds__flux_vae m;
    const int64_t lat = O.size / 8, tile = O.tile ? DS__MIN((int64_t)O.tile, lat) : lat;
    float *z, *out; double t0, c0, g; span s;
    memset(&L, 0, sizeof L);
    fvae_list(&L);
    if (!O.tile) snprintf(title, sizeof title, "flux vae decoder, %s weights, %dx%d, whole image", ds_dtype_name(O.wdt), O.size, O.size);
    else snprintf(title, sizeof title, "flux vae decoder, %s weights, %dx%d, %s of %lld-latent tiles (overlap %lld)", ds_dtype_name(O.wdt),
                  O.size, O.size, O.one ? "ONE" : "all", (long long)tile, (long long)(tile / 4));
    header(title);
    path_for(path, sizeof path, "fluxvae", dt_tag(O.wdt));
    gen_file(&L, path, "fluxvae");
    w = open_weights(path, &ai, "flux-vae");
    check(ds__flux_vae_load(CTX, w, &ai, &m), "flux vae load");
    z = rand_buf(16 * lat * lat, 1.7f);
    out = (float *)xmalloc((size_t)(3 * O.size * O.size) * sizeof(float));
    t0 = ds__now(); c0 = cpu_now();
    if (!O.tile) {
        check(ds__flux_vae_decode(CTX, &m, z, lat, lat, out), "flux vae decode");
        s = span_of(t0, c0, ds__now(), cpu_now());
        printf("run (output %s):\n", finite_all(out, 3 * O.size * O.size) ? "finite" : "NOT FINITE");
        row("decode", fvae_flops((double)lat, (double)lat) * 1e-9, s);
    } else if (O.one) {
        int64_t starts[256], n = ds__flux_vae_tiles(lat, tile, tile / 4, starts);
        check(ds__flux_vae_decode(CTX, &m, z, tile, tile, out), "flux vae decode");
        s = span_of(t0, c0, ds__now(), cpu_now());
        g = fvae_flops((double)tile, (double)tile) * 1e-9;
        printf("run (output %s):\n", finite_all(out, 3 * 64 * tile * tile) ? "finite" : "NOT FINITE");
        row("one tile, one pass", g, s);
        s.wall *= 2.0 * n * n; s.cpu *= 2.0 * n * n;
        snprintf(what, sizeof what, "tiled (EXTRAPOLATED: %lld tiles x 2 passes)", (long long)(n * n));
        row(what, 2.0 * n * n * g, s);
    } else {
        int64_t starts[256], n = ds__flux_vae_tiles(lat, tile, tile / 4, starts);
        check(ds__flux_vae_decode_tiled(CTX, &m, z, lat, lat, tile, tile / 4, out), "flux vae tiled decode");
        s = span_of(t0, c0, ds__now(), cpu_now());
        g = fvae_flops((double)tile, (double)tile) * 1e-9;
        printf("run (output %s):\n", finite_all(out, 3 * O.size * O.size) ? "finite" : "NOT FINITE");
        snprintf(what, sizeof what, "tiled decode (%lld tiles x 2 passes)", (long long)(n * n));
        row(what, 2.0 * n * n * g, s);
    }
    footer((double)L.bytes, 0);
    free(z); free(out); free(L.t);
    finish_file(w, path);
}

/* --- main ----------------------------------------------------------------------------------- */
static ds_dtype parse_dtype(const char *s) {
    int k, c;
    for (k = 0; k < DS_DTYPE_COUNT; k++) {
        const char *b = ds_dtype_name((ds_dtype)k);
        for (c = 0; s[c] && b[c] && (s[c] == b[c] || s[c] - 32 == b[c]); c++) {}
        if (!s[c] && !b[c]) return (ds_dtype)k;
    }
    die("unknown weight type %s", s);
    return DS_F32;
}
static void usage(void) {
    fprintf(stderr, "usage: bench_models [-t threads] [-r reps] [-k] [-d dir] t5|flux|wan|wanvae|fluxvae [-w type] [model options]\n"
                    "       (see the comment at the top of tools/bench_models.c)\n");
    exit(2);
}

int main(int argc, char **argv) {
    ds_ctx_desc cd; int i; const char *w = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&O, 0, sizeof O);
    O.threads = 2; O.reps = 1; O.dir = "/tmp"; O.layers = 2; O.tokens = 512; O.size = -1; O.text = 512;
    O.frames = 81; O.height = 480; O.width = 832; O.qrows = 4096; O.lat_frames = 3;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(s) (!strcmp(a, s) && v && (i++, 1))
        if (OPT("-t")) O.threads = atoi(v);
        else if (OPT("-r")) O.reps = atoi(v);
        else if (!strcmp(a, "-k")) O.keep = 1;
        else if (OPT("-d")) O.dir = v;
        else if (OPT("-w")) w = v;
        else if (OPT("-l")) O.layers = atoi(v);
        else if (OPT("-n")) O.tokens = atoi(v);
        else if (OPT("-s")) O.size = atoi(v);
        else if (OPT("-L")) O.text = atoi(v);
        else if (OPT("-f")) O.frames = atoi(v);
        else if (OPT("-H")) O.height = atoi(v);
        else if (OPT("-W")) O.width = atoi(v);
        else if (OPT("-q")) O.qrows = atoi(v);
        else if (OPT("-T")) O.lat_frames = atoi(v);
        else if (OPT("-tile")) O.tile = atoi(v);
        else if (!strcmp(a, "-one")) O.one = 1;
        else if (a[0] != '-' && !O.model) O.model = a;
        else usage();
#undef OPT
    }
    if (!O.model || O.threads < 1 || O.reps < 1 || O.layers < 1 || O.tokens < 1 || O.lat_frames < 2) usage();
    if (O.size < 0) O.size = 1024;
    if (O.size % 16 || O.frames % 4 != 1 || O.height % 16 || O.width % 16 || O.tile < 0 || (O.one && !O.tile)) usage();
    O.wdt = parse_dtype(w ? w : !strcmp(O.model, "t5") || !strcmp(O.model, "wanvae") ? "bf16" : !strcmp(O.model, "fluxvae") ? "f32" : "q4_k");
    pthread_mutex_init(&HEAP.mu, NULL);
    memset(&cd, 0, sizeof cd);
    cd.n_threads = O.threads;
    cd.allocator.alloc = heap_alloc; cd.allocator.free = heap_free; cd.allocator.user = &HEAP;
    cd.abort_cb = mark_cb; cd.abort_user = &MK;
    if (ds_ctx_create(&cd, &CTX) != DS_SUCCESS) die("no context");
    if (!strcmp(O.model, "t5")) bench_t5();
    else if (!strcmp(O.model, "flux")) bench_flux();
    else if (!strcmp(O.model, "wan")) bench_wan();
    else if (!strcmp(O.model, "wanvae")) bench_wanvae();
    else if (!strcmp(O.model, "fluxvae")) bench_fluxvae();
    else usage();
    ds_ctx_destroy(CTX);
    return 0;
}
