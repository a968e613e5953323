/* diffsynth.h - FLUX.1 and Wan2.1 diffusion inference in one C header.   v0.1.0
   No dependencies beyond libc and pthreads (OpenMP optional). MIT or public domain, see end of file.

   Do this:
       #define DIFFSYNTH_IMPLEMENTATION
       #include "diffsynth.h"
   in exactly one C or C++ file. Every other file includes the header without the define.

   QUICK START (run one model component on named inputs, the way `diffsynth forward` does)

       #define DIFFSYNTH_IMPLEMENTATION
       #include "diffsynth.h"
       #include <stdio.h>
       int main(void) {
           ds_ctx *ctx; ds_weights *w, *io; ds_outputs out = {0};
           ds_ctx_desc cd = {0};                          // zero = defaults (all cores)
           if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;
           if (ds_weights_open(ctx, "flux_vae.safetensors", &w) != DS_SUCCESS ||
               ds_weights_open(ctx, "inputs.safetensors", &io) != DS_SUCCESS ||
               ds_forward(ctx, w, io, &out) != DS_SUCCESS) {
               fprintf(stderr, "%s\n", ds_ctx_last_error(ctx)); return 1;
           }
           printf("%s: %lld values\n", out.items[0].name, (long long)ds_output_numel(&out.items[0]));
           ds_outputs_free(ctx, &out); ds_weights_close(io); ds_weights_close(w); ds_ctx_destroy(ctx);
           return 0;
       }

   TABLE OF CONTENTS (`grep -n '// >>' diffsynth.h` prints it with line numbers)
       >>api         public declarations
       >>config      build options, allocator, platform macros
       >>platform    files, mmap, threads, timer
       >>util        errors, logging, small helpers, JSON
       >>numeric     fp16 / bf16 / fp8 conversions
       >>quant       ggml block formats: layouts, dequantize, quantize
       >>threadpool  parallel_for
       >>ops         linear (gemm), norms, activations, attention, convolution
       >>rng         torch-compatible randn (CPU mt19937, CUDA Philox)
       >>safetensors safetensors reader and writer
       >>gguf        GGUF v2/v3 reader
       >>pth         PyTorch zip checkpoints through a restricted unpickler
       >>weights     tensor sets over many files, architecture detection
       >>tokenizer   CLIP BPE and SentencePiece Unigram
       >>clip        CLIP-L text encoder
       >>t5          T5 / umT5 encoders
       >>flux        FLUX.1 DiT
       >>flux_vae    FLUX VAE
       >>wan         Wan2.1 DiT
       >>wan_vae     Wan2.1 causal 3D VAE
       >>sched       flow-matching schedules and samplers
       >>forward     ds_forward: one component on named inputs
       >>license

   BUILD OPTIONS (define before including the implementation)
       | macro                      | default          | meaning                                              |
       |----------------------------|------------------|------------------------------------------------------|
       | DIFFSYNTH_IMPLEMENTATION   | off              | emit the implementation (DS_IMPLEMENTATION: alias)   |
       | DS_STATIC                  | off              | make every public function static                    |
       | DS_MALLOC/DS_REALLOC/DS_FREE| malloc/realloc/free | default allocator (define all three or none)     |
       | DS_ASSERT(x)               | assert(x)        | programmer errors only; bad input never asserts      |
       | DS_NO_THREADS              | off              | run everything on the calling thread                 |
       | DS_USE_OPENMP              | off              | parallel_for through OpenMP instead of the pool      |
       | DS_NO_SIMD                 | off              | scalar kernels only (the reference path)             |
       | DS_NO_MMAP                 | off              | read checkpoint files into memory instead of mmap    |
       | DS_NO_FLUX / DS_NO_WAN     | off              | leave out a model family                             |
       | DS_MAX_DIMS                | 8                | most tensor dimensions a file may declare            |
       | DS_MAX_HEADER_BYTES        | 256 MiB          | largest safetensors JSON header accepted             |

   CONVENTIONS
       Shapes are written as PyTorch writes them, outermost first: [B, C, T, H, W], row-major, last
       axis fastest. GGUF's reversed `ne` order is turned around at load time. Activations are f32;
       weights stay in the dtype of the file (f32, f16, bf16, fp8, ggml blocks) and are converted a
       tile at a time inside the kernels. Every function that can fail returns a ds_result; the
       detail (tensor name, offset, shape) is in ds_ctx_last_error().
*/
// >>api
#ifndef DIFFSYNTH_H
#define DIFFSYNTH_H
/* POSIX clock_gettime under -std=c99; takes effect when this header is the first include. */
#if (defined(DIFFSYNTH_IMPLEMENTATION) || defined(DS_IMPLEMENTATION)) && !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && !defined(__APPLE__)
#  define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>

#define DS_VERSION_MAJOR 0
#define DS_VERSION_MINOR 1
#define DS_VERSION_PATCH 0
#define DS_VERSION_STRING "0.1.0"

#ifndef DS_API
#  ifdef DS_STATIC
#    define DS_API static
#  else
#    define DS_API extern
#  endif
#endif

#ifndef DS_MAX_DIMS
#define DS_MAX_DIMS 8
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ds_result {
    DS_SUCCESS               =  0,
    DS_ABORTED               =  1,   /* the abort callback asked to stop: not an error */
    DS_ERR_INVALID_ARGS      = -1,
    DS_ERR_OUT_OF_MEMORY     = -2,
    DS_ERR_IO                = -3,
    DS_ERR_BAD_FORMAT        = -4,
    DS_ERR_UNSUPPORTED       = -5,
    DS_ERR_SHAPE             = -6,
    DS_ERR_MISSING_TENSOR    = -7,
    DS_ERR_BACKEND           = -8
} ds_result;

DS_API const char *ds_result_string(ds_result r);
DS_API const char *ds_version(void);

/* Element types. The ggml block types keep GGUF's byte layout so GGUF tensors are used in place. */
typedef enum ds_dtype {
    DS_F32 = 0, DS_F16, DS_BF16, DS_F64, DS_F8_E4M3, DS_F8_E5M2,
    DS_I64, DS_I32, DS_I16, DS_I8, DS_U8, DS_BOOL,
    DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q8_0, DS_Q8_1,
    DS_Q2_K, DS_Q3_K, DS_Q4_K, DS_Q5_K, DS_Q6_K, DS_Q8_K,
    DS_IQ4_NL, DS_IQ4_XS,
    DS_DTYPE_COUNT
} ds_dtype;

DS_API const char *ds_dtype_name(ds_dtype t);
DS_API int64_t     ds_dtype_block_size(ds_dtype t);   /* elements per block (1 for plain types)  */
DS_API size_t      ds_dtype_block_bytes(ds_dtype t);  /* bytes per block                          */
DS_API int         ds_dtype_is_quant(ds_dtype t);     /* ggml block type                          */

/* A read-only view of one tensor of a checkpoint. Valid until its ds_weights is closed. */
typedef struct ds_tensor {
    const char *name;
    ds_dtype    dtype;
    int         ndim;
    int64_t     shape[DS_MAX_DIMS];   /* PyTorch order, outermost first */
    const void *data;
    uint64_t    nbytes;
} ds_tensor;

DS_API int64_t ds_tensor_numel(const ds_tensor *t);

typedef struct ds_allocator {
    void *(*alloc)(size_t size, void *user);   /* NULL: DS_MALLOC */
    void  (*free)(void *ptr, void *user);
    void  *user;
} ds_allocator;

typedef enum ds_log_level { DS_LOG_ERROR = 0, DS_LOG_WARN, DS_LOG_INFO, DS_LOG_DEBUG } ds_log_level;

/* Context: thread pool, allocator, logger, callbacks, last error. Zero = defaults. */
typedef struct ds_ctx_desc {
    int          n_threads;                                  /* 0: number of online CPUs        */
    ds_allocator allocator;
    void       (*log)(ds_log_level level, const char *msg, void *user);   /* NULL: silent      */
    void        *log_user;
    int        (*abort_cb)(void *user);                      /* non-zero: stop at next block    */
    void        *abort_user;
    void       (*progress_cb)(int step, int total, float seconds, void *user);
    void        *progress_user;
} ds_ctx_desc;

typedef struct ds_ctx ds_ctx;
DS_API ds_result   ds_ctx_create(const ds_ctx_desc *desc, ds_ctx **out);
DS_API void        ds_ctx_destroy(ds_ctx *ctx);
DS_API const char *ds_ctx_last_error(const ds_ctx *ctx);
DS_API int         ds_ctx_threads(const ds_ctx *ctx);

/* Weights: a set of tensors from one or more files (safetensors, GGUF, .pth), memory-mapped. */
typedef enum ds_format { DS_FORMAT_UNKNOWN = 0, DS_FORMAT_SAFETENSORS, DS_FORMAT_GGUF, DS_FORMAT_PTH } ds_format;

typedef struct ds_weights ds_weights;
DS_API ds_result        ds_weights_open(ds_ctx *ctx, const char *path, ds_weights **out);
DS_API ds_result        ds_weights_add(ds_weights *w, const char *path);  /* more files, one name space;
                                                                             a *.index.json adds its shards */
DS_API void             ds_weights_close(ds_weights *w);
DS_API int64_t          ds_weights_count(const ds_weights *w);
DS_API const ds_tensor *ds_weights_at(const ds_weights *w, int64_t i);
DS_API const ds_tensor *ds_weights_find(const ds_weights *w, const char *name);
DS_API const char      *ds_weights_meta(const ds_weights *w, const char *key); /* __metadata__ / GGUF string */
DS_API ds_format        ds_weights_format(const ds_weights *w);               /* of the first file       */
DS_API const char      *ds_format_name(ds_format f);

/* What a set of weights is, detected from key names and shapes. */
typedef enum ds_arch {
    DS_ARCH_UNKNOWN = 0,
    DS_ARCH_FLUX_DIT, DS_ARCH_FLUX_VAE, DS_ARCH_CLIP_TEXT, DS_ARCH_T5, DS_ARCH_UMT5,
    DS_ARCH_WAN_DIT, DS_ARCH_WAN_VAE, DS_ARCH_CLIP_VISION,
    DS_ARCH_COUNT
} ds_arch;

typedef struct ds_arch_info {
    ds_arch     arch;
    const char *name;      /* "flux-dit", "wan-vae", ...                                   */
    const char *variant;   /* "dev", "schnell", "t2v", "i2v", ...                          */
    const char *layout;    /* "bfl", "diffusers", "comfyui", "hf", "wan", "city96", ...   */
    char        prefix[64];/* key prefix in front of the canonical names ("" if none)      */
} ds_arch_info;

DS_API ds_result   ds_detect_arch(const ds_weights *w, ds_arch_info *out);
DS_API const char *ds_arch_name(ds_arch a);

/* Named f32 output tensors, owned by the caller (free with ds_outputs_free). */
#define DS_MAX_OUTPUTS 8
typedef struct ds_output {
    char    name[64];
    int     ndim;
    int64_t shape[DS_MAX_DIMS];
    float  *data;
} ds_output;
typedef struct ds_outputs { int n; ds_output items[DS_MAX_OUTPUTS]; } ds_outputs;

DS_API int64_t   ds_output_numel(const ds_output *o);
DS_API void      ds_outputs_free(ds_ctx *ctx, ds_outputs *o);

/* Run the component in `weights` (detected) on the named tensors of `inputs`; see the CLI's
   `forward` for the names. Outputs come back as f32. */
DS_API ds_result ds_forward(ds_ctx *ctx, const ds_weights *weights, const ds_weights *inputs, ds_outputs *out);

/* Write tensors (any dtype) as one safetensors file. The file appears whole or not at all. */
typedef struct ds_write_tensor { const char *name; ds_dtype dtype; int ndim; int64_t shape[DS_MAX_DIMS]; const void *data; } ds_write_tensor;
DS_API ds_result ds_safetensors_write(ds_ctx *ctx, const char *path, const ds_write_tensor *t, int n,
                                      const char *const *meta_kv /* key,value,...,NULL or NULL */);

/* torch.randn(shape, generator=torch.Generator(dev).manual_seed(seed)) bit for bit.
   generator: 0 = CPU (mt19937), 1 = CUDA (Philox4x32-10). */
typedef enum ds_rng_kind { DS_RNG_CPU = 0, DS_RNG_CUDA = 1 } ds_rng_kind;
DS_API ds_result ds_randn(ds_rng_kind kind, uint64_t seed, float *out, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* DIFFSYNTH_H */

/* ======================================================================================== */
/*                                   IMPLEMENTATION                                          */
/* ======================================================================================== */
#if defined(DIFFSYNTH_IMPLEMENTATION) || defined(DS_IMPLEMENTATION)
#ifndef DS__IMPLEMENTED
#define DS__IMPLEMENTED
#if defined(__GNUC__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wunused-function"   /* a build may leave model sections unused */
#endif

// >>config
#if defined(DS_MALLOC) || defined(DS_REALLOC) || defined(DS_FREE)
#  if !defined(DS_MALLOC) || !defined(DS_REALLOC) || !defined(DS_FREE)
#    error "define DS_MALLOC, DS_REALLOC and DS_FREE together, or none of them"
#  endif
#else
#  include <stdlib.h>
#  define DS_MALLOC(sz)       malloc(sz)
#  define DS_REALLOC(p, sz)   realloc(p, sz)
#  define DS_FREE(p)          free(p)
#endif
#ifndef DS_ASSERT
#  include <assert.h>
#  define DS_ASSERT(x) assert(x)
#endif
#ifndef DS_MAX_HEADER_BYTES
#define DS_MAX_HEADER_BYTES ((uint64_t)256 << 20)
#endif

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdarg.h>
#include <math.h>
#include <limits.h>
#include <float.h>

#if !defined(DS_NO_SIMD)
#  if defined(__AVX512F__) && !defined(DS_NO_AVX512)
#    define DS__HAS_AVX512 1
#  endif
#  if defined(__AVX2__) && defined(__FMA__) && !defined(DS_NO_AVX2)
#    define DS__HAS_AVX2 1
#  endif
#  if defined(__F16C__)
#    define DS__HAS_F16C 1
#  endif
#  if (defined(__ARM_NEON) || defined(__ARM_NEON__)) && !defined(DS_NO_NEON)
#    define DS__HAS_NEON 1
#  endif
#endif
#if defined(DS__HAS_AVX2) || defined(DS__HAS_AVX512) || defined(DS__HAS_F16C)
#  include <immintrin.h>
#endif
#if defined(DS__HAS_NEON)
#  include <arm_neon.h>
#endif

#if defined(_MSC_VER)
#  define DS__INLINE __forceinline
#  define DS__RESTRICT __restrict
#else
#  define DS__INLINE inline __attribute__((always_inline))
#  define DS__RESTRICT __restrict__
#endif
#define DS__UNUSED(x) ((void)(x))
#define DS__MIN(a, b) ((a) < (b) ? (a) : (b))
#define DS__MAX(a, b) ((a) > (b) ? (a) : (b))
#define DS__ARRLEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

#ifdef DS_STATIC
#  define DS__DEF static
#else
#  define DS__DEF
#endif

// >>platform
#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <unistd.h>
#  include <fcntl.h>
#  include <sys/stat.h>
#  include <sys/types.h>
#  if !defined(DS_NO_MMAP)
#    include <sys/mman.h>
#  endif
#  include <time.h>
#endif
#if !defined(DS_NO_THREADS) && !defined(DS_USE_OPENMP) && !defined(_WIN32)
#  include <pthread.h>
#endif
#if defined(DS_USE_OPENMP)
#  include <omp.h>
#endif

/* A read-only mapping of a whole file. */
typedef struct ds__map {
    const uint8_t *data;
    uint64_t       size;
    int            mapped;   /* 1: munmap/UnmapViewOfFile, 0: DS_FREE */
#if defined(_WIN32)
    HANDLE file, mapping;
#endif
} ds__map;

static double ds__now(void) {
#if defined(_WIN32)
    LARGE_INTEGER f, c; QueryPerformanceFrequency(&f); QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
#  if defined(CLOCK_MONOTONIC)
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#  else
    return (double)clock() / CLOCKS_PER_SEC;
#  endif
#endif
}

static int ds__cpu_count(void) {
#if defined(_WIN32)
    SYSTEM_INFO si; GetSystemInfo(&si); return (int)si.dwNumberOfProcessors;
#elif defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN); return n > 0 ? (int)n : 1;
#else
    return 1;
#endif
}

// >>util
struct ds_ctx {
    ds_ctx_desc desc;
    int         n_threads;
    char        err[1024];
    struct ds__pool *pool;
};

static void *ds__malloc(const ds_ctx *ctx, size_t n) {
    if (n == 0) n = 1;
    if (ctx && ctx->desc.allocator.alloc) return ctx->desc.allocator.alloc(n, ctx->desc.allocator.user);
    return DS_MALLOC(n);
}
static void ds__free(const ds_ctx *ctx, void *p) {
    if (!p) return;
    if (ctx && ctx->desc.allocator.free) { ctx->desc.allocator.free(p, ctx->desc.allocator.user); return; }
    DS_FREE(p);
}
static void *ds__calloc(const ds_ctx *ctx, size_t n) {
    void *p = ds__malloc(ctx, n);
    if (p) memset(p, 0, n);
    return p;
}
/* f32 buffer of n elements; NULL on overflow or OOM. */
static float *ds__falloc(const ds_ctx *ctx, int64_t n) {
    if (n < 0 || (uint64_t)n > (uint64_t)SIZE_MAX / sizeof(float)) return NULL;
    return (float *)ds__malloc(ctx, (size_t)n * sizeof(float));
}

static void ds__log(const ds_ctx *ctx, ds_log_level lv, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    if (!ctx || !ctx->desc.log) return;
    va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
    ctx->desc.log(lv, buf, ctx->desc.log_user);
}

/* Record the detail of an error and return its code: `return ds__err(ctx, DS_ERR_X, "...", ...)`. */
static ds_result ds__err(ds_ctx *ctx, ds_result r, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt); vsnprintf(ctx->err, sizeof ctx->err, fmt, ap); va_end(ap);
        ds__log(ctx, DS_LOG_ERROR, "%s", ctx->err);
    }
    return r;
}
#define DS__TRY(expr) do { ds_result ds__r_ = (expr); if (ds__r_ != DS_SUCCESS) return ds__r_; } while (0)

/* Overflow-checked size arithmetic for anything derived from a file. */
static int ds__mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b; return 1;
}
static int ds__add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b; return 1;
}

static char *ds__strdup(const ds_ctx *ctx, const char *s, size_t n) {
    char *p = (char *)ds__malloc(ctx, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n); p[n] = 0; return p;
}
static int ds__ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

DS__DEF const char *ds_result_string(ds_result r) {
    switch (r) {
    case DS_SUCCESS: return "success";
    case DS_ABORTED: return "aborted";
    case DS_ERR_INVALID_ARGS: return "invalid arguments";
    case DS_ERR_OUT_OF_MEMORY: return "out of memory";
    case DS_ERR_IO: return "i/o error";
    case DS_ERR_BAD_FORMAT: return "bad file format";
    case DS_ERR_UNSUPPORTED: return "unsupported";
    case DS_ERR_SHAPE: return "shape mismatch";
    case DS_ERR_MISSING_TENSOR: return "missing tensor";
    case DS_ERR_BACKEND: return "backend error";
    }
    return "unknown result";
}
DS__DEF const char *ds_version(void) { return DS_VERSION_STRING; }

static ds_result ds__map_file(ds_ctx *ctx, const char *path, ds__map *m) {
    memset(m, 0, sizeof *m);
#if defined(_WIN32)
    {
        LARGE_INTEGER sz;
        m->file = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (m->file == INVALID_HANDLE_VALUE) return ds__err(ctx, DS_ERR_IO, "%s: cannot open", path);
        if (!GetFileSizeEx(m->file, &sz)) { CloseHandle(m->file); return ds__err(ctx, DS_ERR_IO, "%s: cannot stat", path); }
        m->size = (uint64_t)sz.QuadPart;
        if (m->size == 0) { CloseHandle(m->file); m->data = (const uint8_t *)""; return DS_SUCCESS; }
        m->mapping = CreateFileMappingA(m->file, NULL, PAGE_READONLY, 0, 0, NULL);
        if (!m->mapping) { CloseHandle(m->file); return ds__err(ctx, DS_ERR_IO, "%s: cannot map", path); }
        m->data = (const uint8_t *)MapViewOfFile(m->mapping, FILE_MAP_READ, 0, 0, 0);
        if (!m->data) { CloseHandle(m->mapping); CloseHandle(m->file); return ds__err(ctx, DS_ERR_IO, "%s: cannot map", path); }
        m->mapped = 1;
        return DS_SUCCESS;
    }
#else
    {
        struct stat st;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return ds__err(ctx, DS_ERR_IO, "%s: cannot open", path);
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return ds__err(ctx, DS_ERR_IO, "%s: not a regular file", path); }
        m->size = (uint64_t)st.st_size;
        if (m->size == 0) { close(fd); m->data = (const uint8_t *)""; return DS_SUCCESS; }
#  if !defined(DS_NO_MMAP)
        {
            void *p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) { close(fd); m->data = (const uint8_t *)p; m->mapped = 1; return DS_SUCCESS; }
        }
#  endif
        {
            uint8_t *buf = (uint8_t *)ds__malloc(ctx, (size_t)m->size);
            uint64_t got = 0;
            if (!buf) { close(fd); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: %llu bytes", path, (unsigned long long)m->size); }
            while (got < m->size) {
                ssize_t r = read(fd, buf + got, (size_t)DS__MIN(m->size - got, (uint64_t)1 << 30));
                if (r <= 0) { ds__free(ctx, buf); close(fd); return ds__err(ctx, DS_ERR_IO, "%s: read failed at %llu", path, (unsigned long long)got); }
                got += (uint64_t)r;
            }
            close(fd);
            m->data = buf; m->mapped = 0;
            return DS_SUCCESS;
        }
    }
#endif
}

static void ds__unmap(const ds_ctx *ctx, ds__map *m) {
    if (!m->data || m->size == 0) { memset(m, 0, sizeof *m); return; }
#if defined(_WIN32)
    if (m->mapped) { UnmapViewOfFile((LPCVOID)m->data); CloseHandle(m->mapping); CloseHandle(m->file); }
    else ds__free(ctx, (void *)m->data);
#else
#  if !defined(DS_NO_MMAP)
    if (m->mapped) munmap((void *)m->data, (size_t)m->size); else
#  endif
    ds__free(ctx, (void *)m->data);
#endif
    memset(m, 0, sizeof *m);
}

/* --- a minimal JSON reader: enough for safetensors headers and index files ------------- */
/* Values are found by scanning, never by building a tree: the header is trusted for nothing. */
typedef struct ds__json { const char *p, *end; } ds__json;

static void ds__json_ws(ds__json *j) { while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++; }
static int ds__json_lit(ds__json *j, char c) { ds__json_ws(j); if (j->p < j->end && *j->p == c) { j->p++; return 1; } return 0; }
/* Parse a string; writes the decoded text (escapes resolved, \uXXXX as UTF-8) into out[cap]. */
static int ds__json_str(ds__json *j, char *out, size_t cap, size_t *len) {
    size_t n = 0;
    ds__json_ws(j);
    if (j->p >= j->end || *j->p != '"') return 0;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned c = (unsigned char)*j->p++;
        if (c == '\\') {
            if (j->p >= j->end) return 0;
            c = (unsigned char)*j->p++;
            switch (c) {
            case 'n': c = '\n'; break; case 't': c = '\t'; break; case 'r': c = '\r'; break;
            case 'b': c = '\b'; break; case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0; int k;
                if (j->end - j->p < 4) return 0;
                for (k = 0; k < 4; k++) {
                    char h = *j->p++;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return 0;
                }
                if (v >= 0xD800 && v < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                    unsigned lo = 0;
                    for (k = 2; k < 6; k++) {
                        char h = j->p[k]; lo <<= 4;
                        if (h >= '0' && h <= '9') lo |= (unsigned)(h - '0');
                        else if (h >= 'a' && h <= 'f') lo |= (unsigned)(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') lo |= (unsigned)(h - 'A' + 10);
                    }
                    if (lo >= 0xDC00 && lo < 0xE000) { v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00); j->p += 6; }
                }
                /* UTF-8 encode */
                if (v < 0x80) { if (n + 1 < cap) out[n] = (char)v; n++; }
                else if (v < 0x800) { if (n + 2 < cap) { out[n] = (char)(0xC0 | (v >> 6)); out[n + 1] = (char)(0x80 | (v & 63)); } n += 2; }
                else if (v < 0x10000) { if (n + 3 < cap) { out[n] = (char)(0xE0 | (v >> 12)); out[n + 1] = (char)(0x80 | ((v >> 6) & 63)); out[n + 2] = (char)(0x80 | (v & 63)); } n += 3; }
                else { if (n + 4 < cap) { out[n] = (char)(0xF0 | (v >> 18)); out[n + 1] = (char)(0x80 | ((v >> 12) & 63)); out[n + 2] = (char)(0x80 | ((v >> 6) & 63)); out[n + 3] = (char)(0x80 | (v & 63)); } n += 4; }
                continue;
            }
            default: break;   /* \" \\ \/ */
            }
        }
        if (n + 1 < cap) out[n] = (char)c;
        n++;
    }
    if (j->p >= j->end) return 0;
    j->p++;
    if (cap) out[n < cap ? n : cap - 1] = 0;
    if (len) *len = n;
    return n < cap;
}
static int ds__json_skip(ds__json *j, int depth);
static int ds__json_skip(ds__json *j, int depth) {
    ds__json_ws(j);
    if (depth > 64 || j->p >= j->end) return 0;
    if (*j->p == '"') { char tmp[8]; size_t n; ds__json s = *j; if (!ds__json_str(&s, tmp, sizeof tmp, &n)) { /* long string: skip manually */
            j->p++;
            while (j->p < j->end && *j->p != '"') { if (*j->p == '\\') j->p++; j->p++; }
            if (j->p >= j->end) return 0;
            j->p++; return 1; }
        *j = s; return 1; }
    if (*j->p == '{' || *j->p == '[') {
        char close = *j->p == '{' ? '}' : ']';
        int obj = *j->p == '{';
        j->p++;
        if (ds__json_lit(j, close)) return 1;
        for (;;) {
            if (obj) { if (!ds__json_skip(j, depth + 1) || !ds__json_lit(j, ':')) return 0; }
            if (!ds__json_skip(j, depth + 1)) return 0;
            if (ds__json_lit(j, ',')) continue;
            return ds__json_lit(j, close);
        }
    }
    /* number, true, false, null */
    {
        const char *s = j->p;
        while (j->p < j->end && (strchr("+-.eE0123456789", *j->p) || (*j->p >= 'a' && *j->p <= 'z'))) j->p++;
        return j->p > s;
    }
}
static int ds__json_int(ds__json *j, int64_t *v) {
    int neg = 0; uint64_t x = 0; int digits = 0;
    ds__json_ws(j);
    if (j->p < j->end && *j->p == '-') { neg = 1; j->p++; }
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (UINT64_MAX - 9) / 10) return 0;
        x = x * 10 + (uint64_t)(*j->p++ - '0'); digits++;
    }
    if (!digits || x > (uint64_t)INT64_MAX) return 0;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return 1;
}

// >>numeric
/* IEEE half <-> float, exact (round to nearest even). */
static DS__INLINE float ds__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, u;
    float f;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: value = man * 2^-24 */
            f = (float)man * 5.9604644775390625e-8f;
            memcpy(&u, &f, 4); u |= sign;
        }
    } else if (exp == 31) u = sign | 0x7F800000u | (man << 13);
    else u = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &u, 4);
    return f;
}
static DS__INLINE uint16_t ds__f32_to_f16(float f) {
    uint32_t x; uint32_t sign, e; int32_t exp; uint32_t man;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000; e = (x >> 23) & 0xFF; man = x & 0x7FFFFF;
    if (e == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    exp = (int32_t)e - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7C00);
    if (exp <= 0) {
        uint32_t m, r, half; int shift;
        if (exp < -10) return (uint16_t)sign;
        m = man | 0x800000; shift = 14 - exp;
        r = m >> shift; half = 1u << (shift - 1);
        if ((m & ((half << 1) - 1)) > half || ((m & ((half << 1) - 1)) == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    {
        uint32_t r = ((uint32_t)exp << 10) | (man >> 13);
        uint32_t rem = man & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
}
static DS__INLINE float ds__bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static DS__INLINE uint16_t ds__f32_to_bf16(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((u >> 16) | 64);   /* quiet NaN */
    return (uint16_t)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
}
/* float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
static DS__INLINE float ds__e4m3_to_f32(uint8_t v) {
    uint32_t s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    float f;
    if (e == 15 && m == 7) return NAN;
    if (e == 0) f = (float)m * 0.001953125f;            /* m * 2^-9 */
    else f = ldexpf(1.0f + (float)m / 8.0f, (int)e - 7);
    return s ? -f : f;
}
/* float8 e5m2: bias 15, IEEE-like (the top byte of an f16). */
static DS__INLINE float ds__e5m2_to_f32(uint8_t v) { return ds__f16_to_f32((uint16_t)(v << 8)); }
static uint8_t ds__f32_to_e4m3(float f) {   /* round to nearest even, saturate to 448 */
    uint8_t best = 0; int i; float bd = INFINITY;
    uint8_t sign = f < 0 ? 0x80 : 0; float a = fabsf(f);
    if (f != f) return 0x7F;
    if (a >= 448.0f) return (uint8_t)(sign | 0x7E);
    for (i = 0; i < 127; i++) {   /* 126 finite magnitudes: a table walk is plenty for a converter */
        float v = ds__e4m3_to_f32((uint8_t)i), d = fabsf(v - a);
        if (d < bd || (d == bd && !(i & 1))) { bd = d; best = (uint8_t)i; }
    }
    return (uint8_t)(sign | best);
}

// >>quant
/* Block layouts, byte-compatible with ggml/GGUF. Filled in by the quant section. */
typedef struct ds__dtype_traits {
    const char *name;
    int64_t     block;        /* elements per block            */
    size_t      bytes;        /* bytes per block               */
    int         is_quant;
    /* dequantize n elements (n multiple of block) from src into dst */
    void      (*to_f32)(float *DS__RESTRICT dst, const void *DS__RESTRICT src, int64_t n);
} ds__dtype_traits;

static void ds__f32_row(float *d, const void *s, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void ds__f16_row(float *d, const void *s, int64_t n) {
    const uint16_t *p = (const uint16_t *)s; int64_t i = 0;
#if defined(DS__HAS_F16C) && defined(DS__HAS_AVX2)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
#endif
    for (; i < n; i++) d[i] = ds__f16_to_f32(p[i]);
}
static void ds__bf16_row(float *d, const void *s, int64_t n) {
    const uint16_t *p = (const uint16_t *)s; int64_t i = 0;
#if defined(DS__HAS_AVX2)
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i)));
        _mm256_storeu_ps(d + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    for (; i < n; i++) d[i] = ds__bf16_to_f32(p[i]);
}
static void ds__f64_row(float *d, const void *s, int64_t n) { const double *p = (const double *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__e4m3_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = ds__e4m3_to_f32(p[i]); }
static void ds__e5m2_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = ds__e5m2_to_f32(p[i]); }
static void ds__i64_row(float *d, const void *s, int64_t n) { const int64_t *p = (const int64_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i32_row(float *d, const void *s, int64_t n) { const int32_t *p = (const int32_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i16_row(float *d, const void *s, int64_t n) { const int16_t *p = (const int16_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i8_row(float *d, const void *s, int64_t n) { const int8_t *p = (const int8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__u8_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }

/* ggml block dequantizers: defined in the quant section below this table's users. */
static void ds__q4_0_row(float *d, const void *s, int64_t n);
static void ds__q4_1_row(float *d, const void *s, int64_t n);
static void ds__q5_0_row(float *d, const void *s, int64_t n);
static void ds__q5_1_row(float *d, const void *s, int64_t n);
static void ds__q8_0_row(float *d, const void *s, int64_t n);
static void ds__q8_1_row(float *d, const void *s, int64_t n);
static void ds__q2_k_row(float *d, const void *s, int64_t n);
static void ds__q3_k_row(float *d, const void *s, int64_t n);
static void ds__q4_k_row(float *d, const void *s, int64_t n);
static void ds__q5_k_row(float *d, const void *s, int64_t n);
static void ds__q6_k_row(float *d, const void *s, int64_t n);
static void ds__q8_k_row(float *d, const void *s, int64_t n);
static void ds__iq4_nl_row(float *d, const void *s, int64_t n);
static void ds__iq4_xs_row(float *d, const void *s, int64_t n);

/* The one dispatch point per dtype. */
static const ds__dtype_traits ds__traits[DS_DTYPE_COUNT] = {
    /* DS_F32      */ { "F32",     1,   4,  0, ds__f32_row },
    /* DS_F16      */ { "F16",     1,   2,  0, ds__f16_row },
    /* DS_BF16     */ { "BF16",    1,   2,  0, ds__bf16_row },
    /* DS_F64      */ { "F64",     1,   8,  0, ds__f64_row },
    /* DS_F8_E4M3  */ { "F8_E4M3", 1,   1,  0, ds__e4m3_row },
    /* DS_F8_E5M2  */ { "F8_E5M2", 1,   1,  0, ds__e5m2_row },
    /* DS_I64      */ { "I64",     1,   8,  0, ds__i64_row },
    /* DS_I32      */ { "I32",     1,   4,  0, ds__i32_row },
    /* DS_I16      */ { "I16",     1,   2,  0, ds__i16_row },
    /* DS_I8       */ { "I8",      1,   1,  0, ds__i8_row },
    /* DS_U8       */ { "U8",      1,   1,  0, ds__u8_row },
    /* DS_BOOL     */ { "BOOL",    1,   1,  0, ds__u8_row },
    /* DS_Q4_0     */ { "Q4_0",   32,  18,  1, ds__q4_0_row },
    /* DS_Q4_1     */ { "Q4_1",   32,  20,  1, ds__q4_1_row },
    /* DS_Q5_0     */ { "Q5_0",   32,  22,  1, ds__q5_0_row },
    /* DS_Q5_1     */ { "Q5_1",   32,  24,  1, ds__q5_1_row },
    /* DS_Q8_0     */ { "Q8_0",   32,  34,  1, ds__q8_0_row },
    /* DS_Q8_1     */ { "Q8_1",   32,  36,  1, ds__q8_1_row },
    /* DS_Q2_K     */ { "Q2_K",  256,  84,  1, ds__q2_k_row },
    /* DS_Q3_K     */ { "Q3_K",  256, 110,  1, ds__q3_k_row },
    /* DS_Q4_K     */ { "Q4_K",  256, 144,  1, ds__q4_k_row },
    /* DS_Q5_K     */ { "Q5_K",  256, 176,  1, ds__q5_k_row },
    /* DS_Q6_K     */ { "Q6_K",  256, 210,  1, ds__q6_k_row },
    /* DS_Q8_K     */ { "Q8_K",  256, 292,  1, ds__q8_k_row },
    /* DS_IQ4_NL   */ { "IQ4_NL", 32,  18,  1, ds__iq4_nl_row },
    /* DS_IQ4_XS   */ { "IQ4_XS",256, 136,  1, ds__iq4_xs_row },
};

DS__DEF const char *ds_dtype_name(ds_dtype t) { return (unsigned)t < DS_DTYPE_COUNT ? ds__traits[t].name : "?"; }
DS__DEF int64_t ds_dtype_block_size(ds_dtype t) { return (unsigned)t < DS_DTYPE_COUNT ? ds__traits[t].block : 0; }
DS__DEF size_t ds_dtype_block_bytes(ds_dtype t) { return (unsigned)t < DS_DTYPE_COUNT ? ds__traits[t].bytes : 0; }
DS__DEF int ds_dtype_is_quant(ds_dtype t) { return (unsigned)t < DS_DTYPE_COUNT ? ds__traits[t].is_quant : 0; }

/* bytes of n elements of type t; 0 if n is not a whole number of blocks or overflows */
static uint64_t ds__dtype_nbytes(ds_dtype t, int64_t n) {
    uint64_t r;
    if ((unsigned)t >= DS_DTYPE_COUNT || n < 0 || n % ds__traits[t].block) return 0;
    if (!ds__mul_ok((uint64_t)(n / ds__traits[t].block), ds__traits[t].bytes, &r)) return 0;
    return r;
}

/* Convert n elements starting at element index `start` of tensor t to f32 (start and n multiples
   of the block size for quantized types). */
static void ds__tensor_to_f32(float *dst, const ds_tensor *t, int64_t start, int64_t n) {
    const ds__dtype_traits *tr = &ds__traits[t->dtype];
    const uint8_t *src = (const uint8_t *)t->data + (uint64_t)(start / tr->block) * tr->bytes;
    tr->to_f32(dst, src, n);
}

/* @@QUANT: block formats (dequantize + quantize) go here. */
static void ds__q_unimpl(float *d, int64_t n) { int64_t i; for (i = 0; i < n; i++) d[i] = NAN; }
static void ds__q4_0_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q4_1_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q5_0_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q5_1_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q8_0_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q8_1_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q2_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q3_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q4_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q5_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q6_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__q8_k_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__iq4_nl_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }
static void ds__iq4_xs_row(float *d, const void *s, int64_t n) { DS__UNUSED(s); ds__q_unimpl(d, n); }

// >>threadpool
/* parallel_for(ctx, n, fn, arg): fn(arg, i0, i1, tid) over a split of [0, n). The calling thread
   takes part. Workers sleep on a condition variable between jobs; no threads in the hot loop. */
typedef void (*ds__range_fn)(void *arg, int64_t i0, int64_t i1, int tid);

#if !defined(DS_NO_THREADS) && !defined(DS_USE_OPENMP)
#  if defined(_WIN32)
typedef CRITICAL_SECTION   ds__mutex;
typedef CONDITION_VARIABLE ds__cond;
typedef HANDLE             ds__thread;
#    define ds__mutex_init(m)   InitializeCriticalSection(m)
#    define ds__mutex_free(m)   DeleteCriticalSection(m)
#    define ds__lock(m)         EnterCriticalSection(m)
#    define ds__unlock(m)       LeaveCriticalSection(m)
#    define ds__cond_init(c)    InitializeConditionVariable(c)
#    define ds__cond_free(c)    ((void)0)
#    define ds__cond_wait(c, m) SleepConditionVariableCS(c, m, INFINITE)
#    define ds__cond_all(c)     WakeAllConditionVariable(c)
#  else
typedef pthread_mutex_t ds__mutex;
typedef pthread_cond_t  ds__cond;
typedef pthread_t       ds__thread;
#    define ds__mutex_init(m)   pthread_mutex_init(m, NULL)
#    define ds__mutex_free(m)   pthread_mutex_destroy(m)
#    define ds__lock(m)         pthread_mutex_lock(m)
#    define ds__unlock(m)       pthread_mutex_unlock(m)
#    define ds__cond_init(c)    pthread_cond_init(c, NULL)
#    define ds__cond_free(c)    pthread_cond_destroy(c)
#    define ds__cond_wait(c, m) pthread_cond_wait(c, m)
#    define ds__cond_all(c)     pthread_cond_broadcast(c)
#  endif

typedef struct ds__pool {
    int          n;            /* worker threads (the caller is thread 0, workers 1..n) */
    ds__thread  *threads;
    ds__mutex    mu;
    ds__cond     wake, done;
    uint64_t     gen;          /* job generation                                      */
    int          pending;      /* workers still busy on this generation                */
    int          quit;
    ds__range_fn fn;
    void        *arg;
    int64_t      total;
    int          parts;
} ds__pool;

typedef struct ds__worker_arg { ds__pool *pool; int id; } ds__worker_arg;

static void ds__pool_run_part(ds__pool *p, int id) {
    int64_t i0 = p->total * id / p->parts, i1 = p->total * (id + 1) / p->parts;
    if (i1 > i0) p->fn(p->arg, i0, i1, id);
}

#  if defined(_WIN32)
static DWORD WINAPI ds__worker(LPVOID a_)
#  else
static void *ds__worker(void *a_)
#  endif
{
    ds__pool *p = ((ds__worker_arg *)a_)->pool;
    int id = ((ds__worker_arg *)a_)->id;
    uint64_t seen = 0;
    for (;;) {
        ds__lock(&p->mu);
        while (p->gen == seen && !p->quit) ds__cond_wait(&p->wake, &p->mu);
        if (p->quit) { ds__unlock(&p->mu); break; }
        seen = p->gen;
        ds__unlock(&p->mu);
        if (id < p->parts) ds__pool_run_part(p, id);
        ds__lock(&p->mu);
        if (--p->pending == 0) ds__cond_all(&p->done);
        ds__unlock(&p->mu);
    }
    DS_FREE(a_);
    return 0;
}

static void ds__pool_destroy(ds__pool *p) {
    int i;
    if (!p) return;
    ds__lock(&p->mu); p->quit = 1; ds__cond_all(&p->wake); ds__unlock(&p->mu);
    for (i = 0; i < p->n; i++) {
#  if defined(_WIN32)
        WaitForSingleObject(p->threads[i], INFINITE); CloseHandle(p->threads[i]);
#  else
        pthread_join(p->threads[i], NULL);
#  endif
    }
    ds__mutex_free(&p->mu); ds__cond_free(&p->wake); ds__cond_free(&p->done);
    DS_FREE(p->threads); DS_FREE(p);
}

static ds__pool *ds__pool_create(int n_workers) {
    int i;
    ds__pool *p = (ds__pool *)DS_MALLOC(sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->threads = (ds__thread *)DS_MALLOC(sizeof(ds__thread) * (size_t)(n_workers > 0 ? n_workers : 1));
    if (!p->threads) { DS_FREE(p); return NULL; }
    ds__mutex_init(&p->mu); ds__cond_init(&p->wake); ds__cond_init(&p->done);
    for (i = 0; i < n_workers; i++) {
        ds__worker_arg *a = (ds__worker_arg *)DS_MALLOC(sizeof *a);
        int ok;
        if (!a) break;
        a->pool = p; a->id = i + 1;
#  if defined(_WIN32)
        p->threads[i] = CreateThread(NULL, 0, ds__worker, a, 0, NULL); ok = p->threads[i] != NULL;
#  else
        ok = pthread_create(&p->threads[i], NULL, ds__worker, a) == 0;
#  endif
        if (!ok) { DS_FREE(a); break; }
        p->n++;
    }
    return p;
}
#endif

static void ds__parallel_for(ds_ctx *ctx, int64_t n, ds__range_fn fn, void *arg) {
    int nt = ctx ? ctx->n_threads : 1;
    if (n <= 0) return;
    if (nt > n) nt = (int)n;
#if defined(DS_USE_OPENMP)
    if (nt > 1) {
        int t;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (t = 0; t < nt; t++) fn(arg, n * t / nt, n * (t + 1) / nt, t);
        return;
    }
#elif !defined(DS_NO_THREADS)
    if (nt > 1 && ctx->pool && ctx->pool->n > 0) {
        ds__pool *p = ctx->pool;
        if (nt > p->n + 1) nt = p->n + 1;
        ds__lock(&p->mu);
        p->fn = fn; p->arg = arg; p->total = n; p->parts = nt;
        p->pending = p->n; p->gen++;
        ds__cond_all(&p->wake);
        ds__unlock(&p->mu);
        ds__pool_run_part(p, 0);
        ds__lock(&p->mu);
        while (p->pending > 0) ds__cond_wait(&p->done, &p->mu);
        ds__unlock(&p->mu);
        return;
    }
#endif
    fn(arg, 0, n, 0);
}

DS__DEF ds_result ds_ctx_create(const ds_ctx_desc *desc, ds_ctx **out) {
    ds_ctx *ctx;
    ds_ctx_desc d;
    if (!out) return DS_ERR_INVALID_ARGS;
    *out = NULL;
    if (desc) d = *desc; else memset(&d, 0, sizeof d);
    if ((d.allocator.alloc == NULL) != (d.allocator.free == NULL)) return DS_ERR_INVALID_ARGS;
    ctx = (ds_ctx *)(d.allocator.alloc ? d.allocator.alloc(sizeof *ctx, d.allocator.user) : DS_MALLOC(sizeof *ctx));
    if (!ctx) return DS_ERR_OUT_OF_MEMORY;
    memset(ctx, 0, sizeof *ctx);
    ctx->desc = d;
    ctx->n_threads = d.n_threads > 0 ? d.n_threads : ds__cpu_count();
#if defined(DS_NO_THREADS)
    ctx->n_threads = 1;
#elif !defined(DS_USE_OPENMP)
    if (ctx->n_threads > 1) {
        ctx->pool = ds__pool_create(ctx->n_threads - 1);
        if (!ctx->pool) ctx->n_threads = 1;
        else ctx->n_threads = ctx->pool->n + 1;
    }
#endif
    *out = ctx;
    return DS_SUCCESS;
}

DS__DEF void ds_ctx_destroy(ds_ctx *ctx) {
    if (!ctx) return;
#if !defined(DS_NO_THREADS) && !defined(DS_USE_OPENMP)
    ds__pool_destroy(ctx->pool);
#endif
    ds__free(ctx, ctx);
}
DS__DEF const char *ds_ctx_last_error(const ds_ctx *ctx) { return ctx ? ctx->err : "no context"; }
DS__DEF int ds_ctx_threads(const ds_ctx *ctx) { return ctx ? ctx->n_threads : 1; }

/* The abort callback, polled between blocks. */
static int ds__aborted(ds_ctx *ctx) { return ctx && ctx->desc.abort_cb && ctx->desc.abort_cb(ctx->desc.abort_user); }

// >>ops
/* All activations are f32 and contiguous; shapes are given explicitly (llm.c style).
   Kernels take outputs first, then inputs, then dimensions. */

/* --- linear: y[M,N] = x[M,K] @ W[N,K]^T (+ b[N]) ---------------------------------------
   W may be any dtype: rows are converted to f32 a panel at a time (never the whole matrix).
   For a conv weight [O, C, kh, kw] N = O and K = C*kh*kw. */
#define DS__LIN_NB 32     /* W rows per panel */
#define DS__LIN_MB 64     /* x rows per tile  */

/* Scalar reference: dot product. */
static float ds__dot_f32_ref(const float *a, const float *b, int64_t n) {
    double s = 0; int64_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}
static DS__INLINE float ds__dot_f32(const float *DS__RESTRICT a, const float *DS__RESTRICT b, int64_t n) {
    int64_t i = 0; float s = 0;
#if defined(DS__HAS_AVX512)
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#elif defined(DS__HAS_AVX2)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    {
        __m256 t = _mm256_add_ps(acc0, acc1);
        __m128 l = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
        l = _mm_add_ps(l, _mm_movehl_ps(l, l)); l = _mm_add_ss(l, _mm_shuffle_ps(l, l, 1));
        s = _mm_cvtss_f32(l);
    }
#elif defined(DS__HAS_NEON) && defined(__aarch64__)
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    s = vaddvq_f32(vaddq_f32(acc0, acc1));
#endif
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct ds__lin_job {
    float *y; const float *x; int64_t M, N, K;
    const ds_tensor *w; const float *bias;
    float *scratch;   /* per thread: DS__LIN_NB * K floats */
    int64_t K_pad;
} ds__lin_job;

static void ds__linear_part(void *arg, int64_t p0, int64_t p1, int tid) {
    ds__lin_job *j = (ds__lin_job *)arg;
    float *wbuf = j->scratch + (size_t)tid * DS__LIN_NB * j->K_pad;
    int64_t p, m0;
    for (p = p0; p < p1; p++) {            /* panels of W rows */
        int64_t n0 = p * DS__LIN_NB, nb = DS__MIN(DS__LIN_NB, j->N - n0), r;
        for (r = 0; r < nb; r++) ds__tensor_to_f32(wbuf + r * j->K_pad, j->w, (n0 + r) * j->K, j->K);
        for (m0 = 0; m0 < j->M; m0 += DS__LIN_MB) {
            int64_t mb = DS__MIN(DS__LIN_MB, j->M - m0), m;
            for (m = m0; m < m0 + mb; m++) {
                const float *xr = j->x + m * j->K;
                float *yr = j->y + m * j->N + n0;
                for (r = 0; r < nb; r++) yr[r] = ds__dot_f32(xr, wbuf + r * j->K_pad, j->K) + (j->bias ? j->bias[n0 + r] : 0.0f);
            }
        }
    }
}

static const float *ds__f32(ds_ctx *ctx, const ds_tensor *t);   /* cached f32 copy (weights section) */

/* y[M,N] = x[M,K] W^T + b. W: [N, ...] with K = numel/N. b may be NULL. */
static ds_result ds__linear(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds_tensor *w, const ds_tensor *b) {
    ds__lin_job j;
    int64_t N, K, panels;
    if (!w || w->ndim < 1) return ds__err(ctx, DS_ERR_INVALID_ARGS, "linear: no weight");
    N = w->shape[0]; K = N ? ds_tensor_numel(w) / N : 0;
    if (K % ds__traits[w->dtype].block) return ds__err(ctx, DS_ERR_SHAPE, "%s: row length %lld is not a multiple of the %s block", w->name, (long long)K, ds_dtype_name(w->dtype));
    if (b && ds_tensor_numel(b) != N) return ds__err(ctx, DS_ERR_SHAPE, "%s: bias has %lld values, expected %lld", b->name, (long long)ds_tensor_numel(b), (long long)N);
    memset(&j, 0, sizeof j);
    j.y = y; j.x = x; j.M = M; j.N = N; j.K = K; j.w = w; j.K_pad = (K + 15) & ~(int64_t)15;
    j.bias = b ? ds__f32(ctx, b) : NULL;
    if (b && !j.bias) return DS_ERR_OUT_OF_MEMORY;
    j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * DS__LIN_NB * j.K_pad);
    if (!j.scratch) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "linear %s: scratch", w->name);
    panels = (N + DS__LIN_NB - 1) / DS__LIN_NB;
    ds__parallel_for(ctx, panels, ds__linear_part, &j);
    ds__free(ctx, j.scratch);
    return DS_SUCCESS;
}

/* --- element-wise ------------------------------------------------------------------- */
static void ds__silu(float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i])); }
static void ds__gelu_tanh(float *x, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) { float v = x[i]; x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }
}
static void ds__gelu_erf(float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f)); }
static void ds__quick_gelu(float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i])); }
static void ds__add(float *y, const float *x, int64_t n) { int64_t i; for (i = 0; i < n; i++) y[i] += x[i]; }

/* --- norms (per row of C values) --------------------------------------------------- */
/* y = (x - mean) / sqrt(var + eps) * g + b; g, b may be NULL (no affine). y may alias x. */
static void ds__layernorm(float *y, const float *x, int64_t M, int64_t C, const float *g, const float *b, float eps) {
    int64_t m, c;
    for (m = 0; m < M; m++) {
        const float *xr = x + m * C; float *yr = y + m * C;
        double mean = 0, var = 0; float inv;
        for (c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        for (c = 0; c < C; c++) { double d = xr[c] - mean; var += d * d; }
        var /= (double)C;
        inv = (float)(1.0 / sqrt(var + eps));
        for (c = 0; c < C; c++) {
            float v = (float)(xr[c] - mean) * inv;
            yr[c] = v * (g ? g[c] : 1.0f) + (b ? b[c] : 0.0f);
        }
    }
}
/* y = x / sqrt(mean(x^2) + eps) * g. y may alias x. */
static void ds__rmsnorm(float *y, const float *x, int64_t M, int64_t C, const float *g, float eps) {
    int64_t m, c;
    for (m = 0; m < M; m++) {
        const float *xr = x + m * C; float *yr = y + m * C;
        double ss = 0; float inv;
        for (c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
        inv = (float)(1.0 / sqrt(ss / (double)C + eps));
        for (c = 0; c < C; c++) yr[c] = xr[c] * inv * (g ? g[c] : 1.0f);
    }
}
/* Group norm over channel-first x[C, S] (S = spatial size), G groups, affine g/b per channel. */
static void ds__groupnorm(float *y, const float *x, int64_t C, int64_t S, int G, const float *g, const float *b, float eps) {
    int64_t cg = C / G, gi, c, s;
    for (gi = 0; gi < G; gi++) {
        double mean = 0, var = 0; float inv;
        const float *xg = x + gi * cg * S;
        int64_t n = cg * S;
        for (s = 0; s < n; s++) mean += xg[s];
        mean /= (double)n;
        for (s = 0; s < n; s++) { double d = xg[s] - mean; var += d * d; }
        var /= (double)n;
        inv = (float)(1.0 / sqrt(var + eps));
        for (c = gi * cg; c < (gi + 1) * cg; c++) {
            float gg = g ? g[c] : 1.0f, bb = b ? b[c] : 0.0f;
            const float *xr = x + c * S; float *yr = y + c * S;
            for (s = 0; s < S; s++) yr[s] = (float)(xr[s] - mean) * inv * gg + bb;
        }
    }
}
static void ds__softmax(float *x, int64_t n) {
    float mx = -INFINITY; double s = 0; int64_t i;
    for (i = 0; i < n; i++) if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) { for (i = 0; i < n; i++) x[i] = 0; return; }
    for (i = 0; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
    for (i = 0; i < n; i++) x[i] = (float)(x[i] / s);
}

/* --- transpose [R, C] -> [C, R] ----------------------------------------------------- */
static void ds__transpose(float *DS__RESTRICT y, const float *DS__RESTRICT x, int64_t R, int64_t C) {
    int64_t r0, c0, r, c;
    for (r0 = 0; r0 < R; r0 += 32)
        for (c0 = 0; c0 < C; c0 += 32)
            for (r = r0; r < DS__MIN(r0 + 32, R); r++)
                for (c = c0; c < DS__MIN(c0 + 32, C); c++) y[c * R + r] = x[r * C + c];
}

/* --- attention ------------------------------------------------------------------------
   out[Lq, H*D] = softmax(scale * q k^T + bias + kmask) v, per head h.
   q: [Lq, q_stride] with head h at columns h*D..; k, v: [Lk, kv_stride] likewise; out: [Lq, H*D].
   bias: optional [H, Lq, Lk] added to the scores (T5 relative position bias).
   kmask: optional [Lk] additive key mask (0 or -inf).
   Streams keys in blocks with an online softmax: memory is O(Lk) per thread, never Lq x Lk. */
typedef struct ds__attn_job {
    float *out; const float *q, *k, *v; int64_t Lq, Lk; int H, D;
    int64_t q_stride, kv_stride; const float *bias, *kmask; float scale;
    float *scratch;  /* per thread: Lk floats */
} ds__attn_job;

static void ds__attn_part(void *arg, int64_t i0, int64_t i1, int tid) {
    ds__attn_job *j = (ds__attn_job *)arg;
    float *s = j->scratch + (size_t)tid * (size_t)(j->Lk + j->D);
    float *acc = s + j->Lk;
    int64_t idx, t, d;
    for (idx = i0; idx < i1; idx++) {
        int64_t h = idx / j->Lq, qi = idx % j->Lq;
        const float *qr = j->q + qi * j->q_stride + h * j->D;
        const float *br = j->bias ? j->bias + (h * j->Lq + qi) * j->Lk : NULL;
        float mx = -INFINITY; double sum = 0; float inv;
        for (t = 0; t < j->Lk; t++) {
            float v = ds__dot_f32(qr, j->k + t * j->kv_stride + h * j->D, j->D) * j->scale;
            if (br) v += br[t];
            if (j->kmask) v += j->kmask[t];
            s[t] = v; if (v > mx) mx = v;
        }
        for (d = 0; d < j->D; d++) acc[d] = 0;
        if (mx > -INFINITY)
            for (t = 0; t < j->Lk; t++) {
                float p = expf(s[t] - mx);
                const float *vr = j->v + t * j->kv_stride + h * j->D;
                sum += p;
                for (d = 0; d < j->D; d++) acc[d] += p * vr[d];
            }
        inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (d = 0; d < j->D; d++) j->out[qi * (int64_t)j->H * j->D + h * j->D + d] = acc[d] * inv;
    }
}

static ds_result ds__attention(ds_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                               int64_t Lq, int64_t Lk, int H, int D, int64_t q_stride, int64_t kv_stride,
                               const float *bias, const float *kmask, float scale) {
    ds__attn_job j;
    j.out = out; j.q = q; j.k = k; j.v = v; j.Lq = Lq; j.Lk = Lk; j.H = H; j.D = D;
    j.q_stride = q_stride; j.kv_stride = kv_stride; j.bias = bias; j.kmask = kmask; j.scale = scale;
    j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * (Lk + D));
    if (!j.scratch) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "attention scratch (%lld keys)", (long long)Lk);
    ds__parallel_for(ctx, (int64_t)H * Lq, ds__attn_part, &j);
    ds__free(ctx, j.scratch);
    return DS_SUCCESS;
}

/* --- convolution (2-D and 3-D) via im2col tiles + linear ------------------------------
   x: [C, T, H, W] (channel-first, one batch), w: [O, C, kt, kh, kw] (or [O, C, kh, kw]: kt = 1),
   y: [O, To, Ho, Wo]. Padding is zero padding given per side: pad[6] = {t0, t1, h0, h1, w0, w1}.
   Output rows are processed in chunks so the column buffer stays small. */
static ds_result ds__conv3d(ds_ctx *ctx, float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                            const ds_tensor *w, const ds_tensor *b, const int stride[3], const int pad[6]) {
    int64_t O, kt, kh, kw, To, Ho, Wo, K, P, chunk, p0;
    float *cols, *tmp;
    ds_result r = DS_SUCCESS;
    if (w->ndim == 5) { kt = w->shape[2]; kh = w->shape[3]; kw = w->shape[4]; }
    else if (w->ndim == 4) { kt = 1; kh = w->shape[2]; kw = w->shape[3]; }
    else return ds__err(ctx, DS_ERR_SHAPE, "%s: conv weight must be 4-D or 5-D", w->name);
    O = w->shape[0];
    if (w->shape[1] != C) return ds__err(ctx, DS_ERR_SHAPE, "%s: expects %lld input channels, got %lld", w->name, (long long)w->shape[1], (long long)C);
    To = (T + pad[0] + pad[1] - kt) / stride[0] + 1;
    Ho = (H + pad[2] + pad[3] - kh) / stride[1] + 1;
    Wo = (W + pad[4] + pad[5] - kw) / stride[2] + 1;
    if (To <= 0 || Ho <= 0 || Wo <= 0) return ds__err(ctx, DS_ERR_SHAPE, "%s: input too small", w->name);
    K = C * kt * kh * kw; P = To * Ho * Wo;
    chunk = DS__MAX((int64_t)1, ((int64_t)8 << 20) / DS__MAX(K, O));   /* ~32 MB of columns */
    if (chunk > P) chunk = P;
    cols = ds__falloc(ctx, chunk * K);
    tmp = ds__falloc(ctx, chunk * O);
    if (!cols || !tmp) { ds__free(ctx, cols); ds__free(ctx, tmp); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: im2col", w->name); }
    for (p0 = 0; p0 < P && r == DS_SUCCESS; p0 += chunk) {
        int64_t pn = DS__MIN(chunk, P - p0), pi, o;
        for (pi = 0; pi < pn; pi++) {
            int64_t p = p0 + pi, to = p / (Ho * Wo), ho = (p / Wo) % Ho, wo = p % Wo;
            float *col = cols + pi * K;
            int64_t c, a, bb, cc;
            for (c = 0; c < C; c++)
                for (a = 0; a < kt; a++) {
                    int64_t ti = to * stride[0] - pad[0] + a;
                    for (bb = 0; bb < kh; bb++) {
                        int64_t hi = ho * stride[1] - pad[2] + bb;
                        const float *xr = (ti >= 0 && ti < T && hi >= 0 && hi < H) ? x + ((c * T + ti) * H + hi) * W : NULL;
                        for (cc = 0; cc < kw; cc++) {
                            int64_t wi = wo * stride[2] - pad[4] + cc;
                            *col++ = (xr && wi >= 0 && wi < W) ? xr[wi] : 0.0f;
                        }
                    }
                }
        }
        r = ds__linear(ctx, tmp, cols, pn, w, b);
        if (r == DS_SUCCESS)
            for (o = 0; o < O; o++)
                for (pi = 0; pi < pn; pi++) y[o * P + p0 + pi] = tmp[pi * O + o];
    }
    ds__free(ctx, cols); ds__free(ctx, tmp);
    return r;
}
static ds_result ds__conv2d(ds_ctx *ctx, float *y, const float *x, int64_t C, int64_t H, int64_t W,
                            const ds_tensor *w, const ds_tensor *b, int stride, int pad_t, int pad_b, int pad_l, int pad_r) {
    int s3[3]; int p6[6];
    s3[0] = 1; s3[1] = stride; s3[2] = stride;
    p6[0] = 0; p6[1] = 0; p6[2] = pad_t; p6[3] = pad_b; p6[4] = pad_l; p6[5] = pad_r;
    if (w->ndim != 4) return ds__err(ctx, DS_ERR_SHAPE, "%s: conv2d weight must be 4-D", w->name);
    return ds__conv3d(ctx, y, x, C, 1, H, W, w, b, s3, p6);
}
/* Nearest-neighbour 2x upsampling of x[C, H, W] -> y[C, 2H, 2W]. */
static void ds__upsample2x(float *y, const float *x, int64_t C, int64_t H, int64_t W) {
    int64_t c, h, w;
    for (c = 0; c < C; c++)
        for (h = 0; h < 2 * H; h++)
            for (w = 0; w < 2 * W; w++) y[(c * 2 * H + h) * 2 * W + w] = x[(c * H + h / 2) * W + w / 2];
}

// >>rng
/* @@RNG: torch-compatible generators go here. */
DS__DEF ds_result ds_randn(ds_rng_kind kind, uint64_t seed, float *out, int64_t n) {
    DS__UNUSED(kind); DS__UNUSED(seed); DS__UNUSED(out); DS__UNUSED(n);
    return DS_ERR_UNSUPPORTED;
}

// >>safetensors
/* Tensor entries of a ds_weights. The public ds_tensor is the first member so a const ds_tensor*
   handed out can be turned back into its entry (for the lazily made f32 copy of small tensors). */
typedef struct ds__entry {
    ds_tensor t;
    float    *f32;      /* lazily converted copy (ds__f32), owned */
    int       file;     /* index into ds_weights.files */
} ds__entry;

typedef struct ds__file {
    char     *path;
    ds__map   map;
    ds_format format;
} ds__file;

struct ds_weights {
    ds_ctx    *ctx;
    ds__file  *files; int n_files, cap_files;
    ds__entry *ents;  int64_t n, cap;
    char      *names; size_t names_len, names_cap;   /* not used for lookup: names are separate allocations */
    char     **meta;  int n_meta, cap_meta;           /* key, value, key, value ...                          */
    int64_t   *hash;  int64_t hash_cap;               /* open addressing: entry index + 1, 0 = empty         */
};

static uint64_t ds__hash_str(const char *s) { uint64_t h = 1469598103934665603ull; while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; } return h; }

static ds_result ds__weights_rehash(ds_weights *w) {
    int64_t cap = 64, i;
    while (cap < w->n * 2) cap *= 2;
    ds__free(w->ctx, w->hash);
    w->hash = (int64_t *)ds__calloc(w->ctx, (size_t)cap * sizeof(int64_t));
    if (!w->hash) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "tensor index");
    w->hash_cap = cap;
    for (i = 0; i < w->n; i++) {
        uint64_t h = ds__hash_str(w->ents[i].t.name) & (uint64_t)(cap - 1);
        while (w->hash[h]) h = (h + 1) & (uint64_t)(cap - 1);
        w->hash[h] = i + 1;
    }
    return DS_SUCCESS;
}

/* Add one tensor (name copied). Validates that [data, data+nbytes) lies inside the file. */
static ds_result ds__weights_push(ds_weights *w, int file, const char *name, size_t name_len, ds_dtype dt,
                                  int ndim, const int64_t *shape, uint64_t off, uint64_t nbytes) {
    ds__entry *e; int i; int64_t numel = 1; uint64_t need, end;
    const ds__file *f = &w->files[file];
    if (ndim < 0 || ndim > DS_MAX_DIMS) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' has %d dims (max %d)", f->path, (int)name_len, name, ndim, DS_MAX_DIMS);
    for (i = 0; i < ndim; i++) {
        uint64_t t;
        if (shape[i] < 0 || !ds__mul_ok((uint64_t)numel, (uint64_t)shape[i], &t) || t > (uint64_t)INT64_MAX)
            return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' has a bad shape", f->path, (int)name_len, name);
        numel = (int64_t)t;
    }
    need = ds__dtype_nbytes(dt, numel);
    if (numel && !need) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s': %lld elements do not fit %s blocks", f->path, (int)name_len, name, (long long)numel, ds_dtype_name(dt));
    if (need != nbytes) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' has %llu bytes, shape and %s need %llu", f->path, (int)name_len, name, (unsigned long long)nbytes, ds_dtype_name(dt), (unsigned long long)need);
    if (!ds__add_ok(off, nbytes, &end) || end > f->map.size)
        return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' [%llu, +%llu) lies outside the file (%llu bytes)", f->path, (int)name_len, name, (unsigned long long)off, (unsigned long long)nbytes, (unsigned long long)f->map.size);
    if (w->n == w->cap) {
        int64_t nc = w->cap ? w->cap * 2 : 256;
        ds__entry *ne = (ds__entry *)ds__malloc(w->ctx, (size_t)nc * sizeof *ne);
        if (!ne) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "tensor table");
        if (w->n) memcpy(ne, w->ents, (size_t)w->n * sizeof *ne);
        ds__free(w->ctx, w->ents); w->ents = ne; w->cap = nc;
    }
    e = &w->ents[w->n];
    memset(e, 0, sizeof *e);
    e->t.name = ds__strdup(w->ctx, name, name_len);
    if (!e->t.name) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "tensor name");
    e->t.dtype = dt; e->t.ndim = ndim;
    for (i = 0; i < ndim; i++) e->t.shape[i] = shape[i];
    e->t.data = f->map.data + off; e->t.nbytes = nbytes; e->file = file;
    w->n++;
    return DS_SUCCESS;
}

static ds_result ds__weights_meta_push(ds_weights *w, const char *k, size_t kn, const char *v, size_t vn) {
    if (w->n_meta + 2 > w->cap_meta) {
        int nc = w->cap_meta ? w->cap_meta * 2 : 32;
        char **nm = (char **)ds__malloc(w->ctx, (size_t)nc * sizeof(char *));
        if (!nm) return DS_ERR_OUT_OF_MEMORY;
        if (w->n_meta) memcpy(nm, w->meta, (size_t)w->n_meta * sizeof(char *));
        ds__free(w->ctx, w->meta); w->meta = nm; w->cap_meta = nc;
    }
    w->meta[w->n_meta] = ds__strdup(w->ctx, k, kn);
    w->meta[w->n_meta + 1] = ds__strdup(w->ctx, v, vn);
    if (!w->meta[w->n_meta] || !w->meta[w->n_meta + 1]) return DS_ERR_OUT_OF_MEMORY;
    w->n_meta += 2;
    return DS_SUCCESS;
}

static const struct { const char *name; ds_dtype dt; } ds__st_dtypes[] = {
    {"F32", DS_F32}, {"F16", DS_F16}, {"BF16", DS_BF16}, {"F64", DS_F64},
    {"F8_E4M3", DS_F8_E4M3}, {"F8_E5M2", DS_F8_E5M2}, {"I64", DS_I64}, {"I32", DS_I32},
    {"I16", DS_I16}, {"I8", DS_I8}, {"U8", DS_U8}, {"BOOL", DS_BOOL},
};

/* safetensors: u64 header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__}, data. */
static ds_result ds__safetensors_load(ds_weights *w, int file) {
    const ds__file *f = &w->files[file];
    const uint8_t *d = f->map.data;
    uint64_t hlen = 0, base;
    ds__json j;
    char key[1024], sval[256];
    int i;
    if (f->map.size < 8) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: too short for safetensors (%llu bytes)", f->path, (unsigned long long)f->map.size);
    for (i = 7; i >= 0; i--) hlen = (hlen << 8) | d[i];
    if (hlen < 2 || hlen > DS_MAX_HEADER_BYTES || hlen > f->map.size - 8)
        return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: safetensors header length %llu is invalid for a %llu-byte file", f->path, (unsigned long long)hlen, (unsigned long long)f->map.size);
    base = 8 + hlen;
    j.p = (const char *)d + 8; j.end = j.p + hlen;
    if (!ds__json_lit(&j, '{')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: header is not a JSON object", f->path);
    if (ds__json_lit(&j, '}')) return DS_SUCCESS;
    for (;;) {
        size_t klen;
        if (!ds__json_str(&j, key, sizeof key, &klen) || !ds__json_lit(&j, ':'))
            return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad JSON key at header byte %lld", f->path, (long long)(j.p - (const char *)d - 8));
        if (strcmp(key, "__metadata__") == 0) {
            if (!ds__json_lit(&j, '{')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: __metadata__ is not an object", f->path);
            if (!ds__json_lit(&j, '}')) for (;;) {
                char mk[256]; size_t mkn, mvn; char *mv; ds__json s0;
                if (!ds__json_str(&j, mk, sizeof mk, &mkn) || !ds__json_lit(&j, ':')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad __metadata__", f->path);
                s0 = j;
                if (!ds__json_skip(&j, 0)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad __metadata__ value", f->path);
                mvn = (size_t)(j.p - s0.p) + 1;
                mv = (char *)ds__malloc(w->ctx, mvn + 1);
                if (!mv) return DS_ERR_OUT_OF_MEMORY;
                { ds__json s1 = s0; size_t got; ds__json_ws(&s1);
                  if (s1.p < s1.end && *s1.p == '"' && ds__json_str(&s1, mv, mvn + 1, &got)) { /* decoded string */ }
                  else { ds__json_ws(&s0); memcpy(mv, s0.p, (size_t)(j.p - s0.p)); mv[j.p - s0.p] = 0; got = (size_t)(j.p - s0.p); }
                  if (ds__weights_meta_push(w, mk, mkn, mv, strlen(mv)) != DS_SUCCESS) { ds__free(w->ctx, mv); return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "metadata"); }
                  DS__UNUSED(got);
                }
                ds__free(w->ctx, mv);
                if (ds__json_lit(&j, ',')) continue;
                if (!ds__json_lit(&j, '}')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad __metadata__", f->path);
                break;
            }
        } else {
            int has_dt = 0, has_shape = 0, has_off = 0, ndim = 0;
            int64_t shape[DS_MAX_DIMS], off0 = 0, off1 = 0;
            ds_dtype dt = DS_F32;
            if (klen >= sizeof key) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor name longer than %d bytes", f->path, (int)sizeof key - 1);
            if (!ds__json_lit(&j, '{')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' is not an object", f->path, key);
            if (!ds__json_lit(&j, '}')) for (;;) {
                char fk[32];
                if (!ds__json_str(&j, fk, sizeof fk, NULL) || !ds__json_lit(&j, ':')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad field", f->path, key);
                if (strcmp(fk, "dtype") == 0) {
                    int k, found = 0;
                    if (!ds__json_str(&j, sval, sizeof sval, NULL)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad dtype", f->path, key);
                    for (k = 0; k < DS__ARRLEN(ds__st_dtypes); k++) if (strcmp(sval, ds__st_dtypes[k].name) == 0) { dt = ds__st_dtypes[k].dt; found = 1; }
                    if (!found) return ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported dtype %s", f->path, key, sval);
                    has_dt = 1;
                } else if (strcmp(fk, "shape") == 0) {
                    if (!ds__json_lit(&j, '[')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad shape", f->path, key);
                    if (!ds__json_lit(&j, ']')) for (;;) {
                        if (ndim >= DS_MAX_DIMS) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' has more than %d dims", f->path, key, DS_MAX_DIMS);
                        if (!ds__json_int(&j, &shape[ndim]) || shape[ndim] < 0) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad shape value", f->path, key);
                        ndim++;
                        if (ds__json_lit(&j, ',')) continue;
                        if (!ds__json_lit(&j, ']')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad shape", f->path, key);
                        break;
                    }
                    has_shape = 1;
                } else if (strcmp(fk, "data_offsets") == 0) {
                    if (!ds__json_lit(&j, '[') || !ds__json_int(&j, &off0) || !ds__json_lit(&j, ',') || !ds__json_int(&j, &off1) || !ds__json_lit(&j, ']'))
                        return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad data_offsets", f->path, key);
                    has_off = 1;
                } else if (!ds__json_skip(&j, 0)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad JSON", f->path, key);
                if (ds__json_lit(&j, ',')) continue;
                if (!ds__json_lit(&j, '}')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': bad JSON", f->path, key);
                break;
            }
            if (!has_dt || !has_shape || !has_off) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", f->path, key);
            if (off0 < 0 || off1 < off0) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' has bad data_offsets [%lld, %lld]", f->path, key, (long long)off0, (long long)off1);
            {
                uint64_t abs0;
                if (!ds__add_ok(base, (uint64_t)off0, &abs0)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s': offset overflow", f->path, key);
                DS__TRY(ds__weights_push(w, file, key, klen, dt, ndim, shape, abs0, (uint64_t)(off1 - off0)));
            }
        }
        if (ds__json_lit(&j, ',')) continue;
        if (!ds__json_lit(&j, '}')) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: header JSON is malformed near byte %lld", f->path, (long long)(j.p - (const char *)d - 8));
        break;
    }
    return DS_SUCCESS;
}

/* Write tensors as safetensors: header JSON padded with spaces to 8 bytes, then raw data.
   Goes to "<path>.tmp" first and is renamed over <path> only when complete. */
DS__DEF ds_result ds_safetensors_write(ds_ctx *ctx, const char *path, const ds_write_tensor *t, int n, const char *const *meta_kv) {
    char *hdr = NULL; size_t hcap = 4096, hlen = 0; uint64_t off = 0; int i;
    FILE *fp = NULL; char tmp[4096]; ds_result r = DS_SUCCESS;
#define DS__HCAT(...) do { int need_ = snprintf(NULL, 0, __VA_ARGS__); \
        while (hlen + (size_t)need_ + 16 > hcap) { char *nh_ = (char *)ds__malloc(ctx, hcap * 2); if (!nh_) { r = DS_ERR_OUT_OF_MEMORY; goto done; } memcpy(nh_, hdr, hlen); ds__free(ctx, hdr); hdr = nh_; hcap *= 2; } \
        hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, __VA_ARGS__); } while (0)
    if (!path || (n > 0 && !t)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "safetensors_write: bad arguments");
    if (strlen(path) + 8 > sizeof tmp) return ds__err(ctx, DS_ERR_INVALID_ARGS, "path too long");
    hdr = (char *)ds__malloc(ctx, hcap);
    if (!hdr) return DS_ERR_OUT_OF_MEMORY;
    DS__HCAT("{");
    if (meta_kv && meta_kv[0]) {
        DS__HCAT("\"__metadata__\":{");
        for (i = 0; meta_kv[i] && meta_kv[i + 1]; i += 2) DS__HCAT("%s\"%s\":\"%s\"", i ? "," : "", meta_kv[i], meta_kv[i + 1]);
        DS__HCAT("}");
    }
    for (i = 0; i < n; i++) {
        int64_t numel = 1; int d; uint64_t nb;
        const char *dn = NULL; int k;
        for (d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        for (k = 0; k < DS__ARRLEN(ds__st_dtypes); k++) if (ds__st_dtypes[k].dt == t[i].dtype) dn = ds__st_dtypes[k].name;
        if (!dn) { r = ds__err(ctx, DS_ERR_UNSUPPORTED, "safetensors cannot hold %s (%s)", ds_dtype_name(t[i].dtype), t[i].name); goto done; }
        nb = ds__dtype_nbytes(t[i].dtype, numel);
        DS__HCAT("%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", (i || (meta_kv && meta_kv[0])) ? "," : "", t[i].name, dn);
        for (d = 0; d < t[i].ndim; d++) DS__HCAT("%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        DS__HCAT("],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    DS__HCAT("}");
    while (hlen % 8) hdr[hlen++] = ' ';
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fp = fopen(tmp, "wb");
    if (!fp) { r = ds__err(ctx, DS_ERR_IO, "%s: cannot create", tmp); goto done; }
    {
        uint8_t lb[8]; uint64_t hl = hlen;
        for (i = 0; i < 8; i++) lb[i] = (uint8_t)(hl >> (8 * i));
        if (fwrite(lb, 1, 8, fp) != 8 || fwrite(hdr, 1, hlen, fp) != hlen) { r = ds__err(ctx, DS_ERR_IO, "%s: write failed", tmp); goto done; }
    }
    for (i = 0; i < n; i++) {
        int64_t numel = 1; int d; uint64_t nb;
        for (d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        nb = ds__dtype_nbytes(t[i].dtype, numel);
        if (nb && fwrite(t[i].data, 1, (size_t)nb, fp) != nb) { r = ds__err(ctx, DS_ERR_IO, "%s: write failed", tmp); goto done; }
    }
    if (fclose(fp) != 0) { fp = NULL; r = ds__err(ctx, DS_ERR_IO, "%s: write failed", tmp); goto done; }
    fp = NULL;
#if defined(_WIN32)
    remove(path);
#endif
    if (rename(tmp, path) != 0) r = ds__err(ctx, DS_ERR_IO, "%s: cannot rename into place", path);
done:
    if (fp) fclose(fp);
    if (r != DS_SUCCESS) remove(tmp);
    ds__free(ctx, hdr);
#undef DS__HCAT
    return r;
}

// >>gguf
/* @@GGUF: the GGUF reader goes here. */
static ds_result ds__gguf_load(ds_weights *w, int file) {
    return ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: GGUF is not supported yet", w->files[file].path);
}

// >>pth
/* @@PTH: the PyTorch zip reader and restricted unpickler go here. */
static ds_result ds__pth_load(ds_weights *w, int file) {
    return ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: PyTorch .pth is not supported yet", w->files[file].path);
}

// >>weights
static ds_format ds__sniff(const ds__map *m) {
    if (m->size >= 4 && memcmp(m->data, "GGUF", 4) == 0) return DS_FORMAT_GGUF;
    if (m->size >= 4 && memcmp(m->data, "PK\x03\x04", 4) == 0) return DS_FORMAT_PTH;
    if (m->size >= 9 && m->data[8] == '{') return DS_FORMAT_SAFETENSORS;
    return DS_FORMAT_UNKNOWN;
}

DS__DEF const char *ds_format_name(ds_format f) {
    switch (f) {
    case DS_FORMAT_SAFETENSORS: return "safetensors";
    case DS_FORMAT_GGUF: return "gguf";
    case DS_FORMAT_PTH: return "pytorch-zip";
    default: return "unknown";
    }
}

static ds_result ds__weights_add_index(ds_weights *w, const char *path);

DS__DEF ds_result ds_weights_add(ds_weights *w, const char *path) {
    ds__file *f; ds_result r; int64_t n_before, i;
    if (!w || !path) return DS_ERR_INVALID_ARGS;
    if (ds__ends_with(path, ".index.json")) return ds__weights_add_index(w, path);
    if (w->n_files == w->cap_files) {
        int nc = w->cap_files ? w->cap_files * 2 : 4;
        ds__file *nf = (ds__file *)ds__malloc(w->ctx, (size_t)nc * sizeof *nf);
        if (!nf) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "file table");
        if (w->n_files) memcpy(nf, w->files, (size_t)w->n_files * sizeof *nf);
        ds__free(w->ctx, w->files); w->files = nf; w->cap_files = nc;
    }
    f = &w->files[w->n_files];
    memset(f, 0, sizeof *f);
    f->path = ds__strdup(w->ctx, path, strlen(path));
    if (!f->path) return DS_ERR_OUT_OF_MEMORY;
    r = ds__map_file(w->ctx, path, &f->map);
    if (r != DS_SUCCESS) { ds__free(w->ctx, f->path); return r; }
    w->n_files++;
    f->format = ds__sniff(&f->map);
    n_before = w->n;
    switch (f->format) {
    case DS_FORMAT_SAFETENSORS: r = ds__safetensors_load(w, w->n_files - 1); break;
    case DS_FORMAT_GGUF: r = ds__gguf_load(w, w->n_files - 1); break;
    case DS_FORMAT_PTH: r = ds__pth_load(w, w->n_files - 1); break;
    default: r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: not a safetensors, GGUF or PyTorch zip file", path);
    }
    if (r != DS_SUCCESS) {
rollback:   /* drop this file's tensors */
        for (i = n_before; i < w->n; i++) ds__free(w->ctx, (void *)w->ents[i].t.name);
        w->n = n_before;
        w->n_files--;
        ds__unmap(w->ctx, &w->files[w->n_files].map);
        ds__free(w->ctx, w->files[w->n_files].path);
        ds__weights_rehash(w);
        return r;
    }
    for (i = n_before; i < w->n && r == DS_SUCCESS; i++) {   /* names must be unique across files */
        int64_t k;
        for (k = 0; k < n_before; k++)
            if (strcmp(w->ents[k].t.name, w->ents[i].t.name) == 0) {
                r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' is also in %s", path, w->ents[i].t.name, w->files[w->ents[k].file].path);
                break;
            }
    }
    if (r != DS_SUCCESS) goto rollback;
    return ds__weights_rehash(w);
}

/* *.safetensors.index.json: {"weight_map": {"name": "shard file", ...}}; every named shard is added once. */
static ds_result ds__weights_add_index(ds_weights *w, const char *path) {
    ds__map m; ds__json j; ds_result r = DS_SUCCESS;
    char dir[4096]; size_t dl; const char *slash = strrchr(path, '/');
    char **done = NULL; int n_done = 0, i;
    DS__TRY(ds__map_file(w->ctx, path, &m));
    dl = slash ? (size_t)(slash - path + 1) : 0;
    if (dl >= sizeof dir - 1) { ds__unmap(w->ctx, &m); return ds__err(w->ctx, DS_ERR_INVALID_ARGS, "path too long"); }
    memcpy(dir, path, dl); dir[dl] = 0;
    j.p = (const char *)m.data; j.end = j.p + m.size;
    if (!ds__json_lit(&j, '{')) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: not a JSON object", path); goto out; }
    done = (char **)ds__calloc(w->ctx, sizeof(char *) * 4096);
    if (!done) { r = DS_ERR_OUT_OF_MEMORY; goto out; }
    if (!ds__json_lit(&j, '}')) for (;;) {
        char key[256];
        if (!ds__json_str(&j, key, sizeof key, NULL) || !ds__json_lit(&j, ':')) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad JSON", path); goto out; }
        if (strcmp(key, "weight_map") == 0) {
            if (!ds__json_lit(&j, '{')) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: weight_map is not an object", path); goto out; }
            if (!ds__json_lit(&j, '}')) for (;;) {
                char tn[1024], shard[1024], full[4096 + 1024];
                int seen = 0;
                if (!ds__json_str(&j, tn, sizeof tn, NULL) || !ds__json_lit(&j, ':') || !ds__json_str(&j, shard, sizeof shard, NULL)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad weight_map entry", path); goto out; }
                if (strstr(shard, "..") || shard[0] == '/') { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: shard path '%s' leaves the folder", path, shard); goto out; }
                for (i = 0; i < n_done; i++) if (strcmp(done[i], shard) == 0) seen = 1;
                if (!seen) {
                    if (n_done >= 4096) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: too many shards", path); goto out; }
                    done[n_done] = ds__strdup(w->ctx, shard, strlen(shard));
                    if (!done[n_done]) { r = DS_ERR_OUT_OF_MEMORY; goto out; }
                    n_done++;
                    snprintf(full, sizeof full, "%s%s", dir, shard);
                    r = ds_weights_add(w, full);
                    if (r != DS_SUCCESS) goto out;
                }
                if (ds__json_lit(&j, ',')) continue;
                if (!ds__json_lit(&j, '}')) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad weight_map", path); goto out; }
                break;
            }
        } else if (!ds__json_skip(&j, 0)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad JSON", path); goto out; }
        if (ds__json_lit(&j, ',')) continue;
        if (!ds__json_lit(&j, '}')) r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: bad JSON", path);
        break;
    }
out:
    if (done) { for (i = 0; i < n_done; i++) ds__free(w->ctx, done[i]); ds__free(w->ctx, done); }
    ds__unmap(w->ctx, &m);
    return r;
}

DS__DEF ds_result ds_weights_open(ds_ctx *ctx, const char *path, ds_weights **out) {
    ds_weights *w; ds_result r;
    if (!ctx || !path || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "weights_open: NULL argument");
    *out = NULL;
    w = (ds_weights *)ds__calloc(ctx, sizeof *w);
    if (!w) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "weights");
    w->ctx = ctx;
    r = ds_weights_add(w, path);
    if (r != DS_SUCCESS) { ds_weights_close(w); return r; }
    *out = w;
    return DS_SUCCESS;
}

DS__DEF void ds_weights_close(ds_weights *w) {
    int64_t i;
    if (!w) return;
    for (i = 0; i < w->n; i++) { ds__free(w->ctx, (void *)w->ents[i].t.name); ds__free(w->ctx, w->ents[i].f32); }
    for (i = 0; i < w->n_files; i++) { ds__unmap(w->ctx, &w->files[i].map); ds__free(w->ctx, w->files[i].path); }
    for (i = 0; i < w->n_meta; i++) ds__free(w->ctx, w->meta[i]);
    ds__free(w->ctx, w->meta); ds__free(w->ctx, w->ents); ds__free(w->ctx, w->files); ds__free(w->ctx, w->hash);
    ds__free(w->ctx, w);
}

DS__DEF int64_t ds_weights_count(const ds_weights *w) { return w ? w->n : 0; }
DS__DEF const ds_tensor *ds_weights_at(const ds_weights *w, int64_t i) { return (w && i >= 0 && i < w->n) ? &w->ents[i].t : NULL; }
DS__DEF const ds_tensor *ds_weights_find(const ds_weights *w, const char *name) {
    uint64_t h;
    if (!w || !name || !w->hash_cap) return NULL;
    h = ds__hash_str(name) & (uint64_t)(w->hash_cap - 1);
    while (w->hash[h]) {
        const ds__entry *e = &w->ents[w->hash[h] - 1];
        if (strcmp(e->t.name, name) == 0) return &e->t;
        h = (h + 1) & (uint64_t)(w->hash_cap - 1);
    }
    return NULL;
}
DS__DEF const char *ds_weights_meta(const ds_weights *w, const char *key) {
    int i;
    if (!w || !key) return NULL;
    for (i = 0; i + 1 < w->n_meta; i += 2) if (strcmp(w->meta[i], key) == 0) return w->meta[i + 1];
    return NULL;
}
DS__DEF ds_format ds_weights_format(const ds_weights *w) { return (w && w->n_files) ? w->files[0].format : DS_FORMAT_UNKNOWN; }

DS__DEF int64_t ds_tensor_numel(const ds_tensor *t) {
    int64_t n = 1; int i;
    if (!t) return 0;
    for (i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Cached f32 copy of a (small) tensor of a ds_weights: for norms, biases, modulation vectors.
   Lives until the weights are closed. NULL only on OOM. Not for use from worker threads. */
static const float *ds__f32(ds_ctx *ctx, const ds_tensor *t) {
    ds__entry *e = (ds__entry *)(void *)t;    /* ds_tensor is the first member of ds__entry */
    if (!e->f32) {
        int64_t n = ds_tensor_numel(t);
        e->f32 = ds__falloc(ctx, n);
        if (!e->f32) { ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: f32 copy of %lld values", t->name, (long long)n); return NULL; }
        ds__tensor_to_f32(e->f32, t, 0, n);
    }
    return e->f32;
}

/* Find "<prefix><name>" (printf-style name); sets a MISSING_TENSOR error naming it if absent. */
static const ds_tensor *ds__wget(ds_ctx *ctx, const ds_weights *w, const char *prefix, const char *fmt, ...) {
    char name[512]; int n; va_list ap; const ds_tensor *t;
    n = snprintf(name, sizeof name, "%s", prefix ? prefix : "");
    va_start(ap, fmt); vsnprintf(name + n, sizeof name - (size_t)n, fmt, ap); va_end(ap);
    t = ds_weights_find(w, name);
    if (!t) ds__err(ctx, DS_ERR_MISSING_TENSOR, "missing tensor '%s'", name);
    return t;
}
/* Same, but absence is not an error (optional tensors such as biases). */
static const ds_tensor *ds__wopt(const ds_weights *w, const char *prefix, const char *fmt, ...) {
    char name[512]; int n; va_list ap;
    n = snprintf(name, sizeof name, "%s", prefix ? prefix : "");
    va_start(ap, fmt); vsnprintf(name + n, sizeof name - (size_t)n, fmt, ap); va_end(ap);
    return ds_weights_find(w, name);
}
/* Check a tensor's shape: ds__check_shape(ctx, t, ndim, d0, d1, ...) with int sizes; -1 matches any. */
static ds_result ds__check_shape(ds_ctx *ctx, const ds_tensor *t, int ndim, ...) {
    va_list ap; int i; int ok = t && t->ndim == ndim;
    va_start(ap, ndim);
    for (i = 0; i < ndim; i++) { int d = va_arg(ap, int); if (ok && d >= 0 && t->shape[i] != d) ok = 0; }
    va_end(ap);
    if (!t) return DS_ERR_MISSING_TENSOR;
    if (!ok) {
        char s[128]; int n = 0;
        for (i = 0; i < t->ndim && n < 100; i++) n += snprintf(s + n, sizeof s - (size_t)n, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        if (!t->ndim) s[0] = 0;
        return ds__err(ctx, DS_ERR_SHAPE, "%s: unexpected shape [%s]", t->name, s);
    }
    return DS_SUCCESS;
}

/* --- architecture detection: a table of marker keys; a naming variant is one more row. ---- */
typedef struct ds__arch_rule {
    ds_arch     arch;
    const char *name, *variant, *layout;
    const char *marker;    /* key that must exist (after a prefix)         */
    const char *marker2;   /* second key that must exist, or NULL          */
    const char *absent;    /* key that must NOT exist, or NULL             */
} ds__arch_rule;

static const ds__arch_rule ds__arch_rules[] = {
    /* FLUX DiT */
    { DS_ARCH_FLUX_DIT, "flux-dit", "dev",     "bfl",       "double_blocks.0.img_attn.qkv.weight", "guidance_in.in_layer.weight", NULL },
    { DS_ARCH_FLUX_DIT, "flux-dit", "schnell", "bfl",       "double_blocks.0.img_attn.qkv.weight", NULL, "guidance_in.in_layer.weight" },
    { DS_ARCH_FLUX_DIT, "flux-dit", "dev",     "diffusers", "transformer_blocks.0.attn.to_q.weight", "time_text_embed.guidance_embedder.linear_1.weight", NULL },
    { DS_ARCH_FLUX_DIT, "flux-dit", "schnell", "diffusers", "transformer_blocks.0.attn.to_q.weight", "single_transformer_blocks.0.proj_out.weight", "time_text_embed.guidance_embedder.linear_1.weight" },
    /* Wan DiT */
    { DS_ARCH_WAN_DIT,  "wan-dit",  "i2v",     "wan",       "blocks.0.self_attn.q.weight", "img_emb.proj.1.weight", NULL },
    { DS_ARCH_WAN_DIT,  "wan-dit",  "t2v",     "wan",       "blocks.0.self_attn.q.weight", "patch_embedding.weight", NULL },
    { DS_ARCH_WAN_DIT,  "wan-dit",  "i2v",     "diffusers", "blocks.0.attn1.to_q.weight", "condition_embedder.image_embedder.ff.net.0.proj.weight", NULL },
    { DS_ARCH_WAN_DIT,  "wan-dit",  "t2v",     "diffusers", "blocks.0.attn1.to_q.weight", "condition_embedder.time_proj.weight", NULL },
    /* VAEs */
    { DS_ARCH_WAN_VAE,  "wan-vae",  "2.1",     "wan",       "decoder.middle.0.residual.0.gamma", "conv1.weight", NULL },
    { DS_ARCH_FLUX_VAE, "flux-vae", "ae",      "ldm",       "decoder.mid.attn_1.q.weight", "decoder.conv_in.weight", NULL },
    { DS_ARCH_FLUX_VAE, "flux-vae", "ae",      "ldm",       "encoder.mid.attn_1.q.weight", "encoder.conv_in.weight", NULL },
    { DS_ARCH_FLUX_VAE, "flux-vae", "ae",      "diffusers", "decoder.mid_block.attentions.0.to_q.weight", NULL, NULL },
    /* text encoders */
    { DS_ARCH_CLIP_TEXT,"clip-text","L",       "hf",        "embeddings.token_embedding.weight", "encoder.layers.0.self_attn.q_proj.weight", NULL },
    { DS_ARCH_CLIP_TEXT,"clip-text","L",       "hf",        "text_model.embeddings.token_embedding.weight", NULL, NULL },
    { DS_ARCH_UMT5,     "umt5",     "xxl",     "hf",        "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", NULL, NULL },
    { DS_ARCH_T5,       "t5",       "xxl",     "hf",        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", NULL, NULL },
    { DS_ARCH_UMT5,     "umt5",     "xxl",     "wan",       "blocks.0.pos_embedding.embedding.weight", "token_embedding.weight", NULL },
};
/* Prefixes checkpoints put in front of the canonical names (ComfyUI, diffusers bundles, ...). */
static const char *const ds__arch_prefixes[] = {
    "", "model.diffusion_model.", "diffusion_model.", "transformer.", "model.", "first_stage_model.", "vae.",
    "cond_stage_model.transformer.", "text_encoders.clip_l.transformer.", "text_encoders.t5xxl.transformer.",
    "te.", "text_encoder.", "module.",
};

DS__DEF const char *ds_arch_name(ds_arch a) {
    switch (a) {
    case DS_ARCH_FLUX_DIT: return "flux-dit"; case DS_ARCH_FLUX_VAE: return "flux-vae";
    case DS_ARCH_CLIP_TEXT: return "clip-text"; case DS_ARCH_T5: return "t5"; case DS_ARCH_UMT5: return "umt5";
    case DS_ARCH_WAN_DIT: return "wan-dit"; case DS_ARCH_WAN_VAE: return "wan-vae"; case DS_ARCH_CLIP_VISION: return "clip-vision";
    default: return "unknown";
    }
}

DS__DEF ds_result ds_detect_arch(const ds_weights *w, ds_arch_info *out) {
    int p, r;
    if (!w || !out) return DS_ERR_INVALID_ARGS;
    memset(out, 0, sizeof *out);
    out->name = "unknown"; out->variant = ""; out->layout = "";
    for (r = 0; r < DS__ARRLEN(ds__arch_rules); r++) {
        const ds__arch_rule *ru = &ds__arch_rules[r];
        for (p = 0; p < DS__ARRLEN(ds__arch_prefixes); p++) {
            const char *pre = ds__arch_prefixes[p];
            if (!ds__wopt(w, pre, "%s", ru->marker)) continue;
            if (ru->marker2 && !ds__wopt(w, pre, "%s", ru->marker2)) continue;
            if (ru->absent && ds__wopt(w, pre, "%s", ru->absent)) continue;
            out->arch = ru->arch; out->name = ru->name; out->variant = ru->variant; out->layout = ru->layout;
            if (ds_weights_format(w) == DS_FORMAT_GGUF && strcmp(ru->layout, "bfl") == 0) out->layout = "city96";
            snprintf(out->prefix, sizeof out->prefix, "%s", pre);
            return DS_SUCCESS;
        }
    }
    return DS_ERR_UNSUPPORTED;
}

/* --- inputs and outputs of ds_forward ------------------------------------------------- */
/* A named input as f32 (any stored dtype); *data is allocated, caller frees. */
static ds_result ds__input_f32(ds_ctx *ctx, const ds_weights *io, const char *name, int *ndim, int64_t shape[DS_MAX_DIMS], float **data) {
    const ds_tensor *t = ds_weights_find(io, name);
    int i; int64_t n;
    *data = NULL;
    if (!t) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "input '%s' is missing", name);
    if (ds__traits[t->dtype].is_quant) return ds__err(ctx, DS_ERR_UNSUPPORTED, "input '%s' is quantized", name);
    n = ds_tensor_numel(t);
    *data = ds__falloc(ctx, n);
    if (!*data) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "input '%s'", name);
    ds__tensor_to_f32(*data, t, 0, n);
    if (ndim) *ndim = t->ndim;
    if (shape) for (i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return DS_SUCCESS;
}
/* Append an output that takes ownership of data. */
static ds_result ds__output_add(ds_ctx *ctx, ds_outputs *out, const char *name, float *data, int ndim, const int64_t *shape) {
    ds_output *o; int i;
    if (out->n >= DS_MAX_OUTPUTS) { ds__free(ctx, data); return ds__err(ctx, DS_ERR_INVALID_ARGS, "too many outputs"); }
    o = &out->items[out->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim; o->data = data;
    for (i = 0; i < ndim; i++) o->shape[i] = shape[i];
    return DS_SUCCESS;
}
DS__DEF int64_t ds_output_numel(const ds_output *o) { int64_t n = 1; int i; for (i = 0; i < o->ndim; i++) n *= o->shape[i]; return n; }
DS__DEF void ds_outputs_free(ds_ctx *ctx, ds_outputs *o) {
    int i;
    if (!o) return;
    for (i = 0; i < o->n; i++) ds__free(ctx, o->items[i].data);
    memset(o, 0, sizeof *o);
}

// >>tokenizer
/* @@TOKENIZER */

// >>clip
/* @@CLIP */
static ds_result ds__clip_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component clip-text is not supported yet");
}

// >>t5
/* @@T5 */
static ds_result ds__t5_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component t5/umt5 is not supported yet");
}

// >>flux
/* @@FLUX */
static ds_result ds__flux_dit_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component flux-dit is not supported yet");
}

// >>flux_vae
/* FLUX VAE: the KL autoencoder of black-forest-labs/flux `AutoEncoder` (flux/modules/autoencoder.py),
   i.e. the LDM `Encoder`/`Decoder` with 16 latent channels and no quant_conv. One batch, channel-first
   f32 activations [C, H, W].

   Decoder(z):  conv_in -> mid (res, attn, res) -> for level L-1..0: (num_res_blocks + 1) res blocks,
                Upsample unless level 0 -> GroupNorm, swish, conv_out (3 channels, raw, about [-1, 1]).
   Encoder(x):  conv_in -> for level 0..L-1: num_res_blocks res blocks, Downsample unless the last
                level -> mid -> GroupNorm, swish, conv_out (2*z channels: mean then logvar).
   Facts that matter:
   - Every GroupNorm has 32 groups and eps 1e-6; swish = x * sigmoid(x).
   - ResnetBlock: h = conv1(swish(norm1(x))); h = conv2(swish(norm2(h))); x + h, where x goes
     through a 1x1 `nin_shortcut` when the channel count changes. (No dropout at inference.)
   - AttnBlock: one head over all H*W positions, D = C, scale 1/sqrt(C); q/k/v/proj_out are 1x1
     convs [C,C,1,1] (diffusers: Linear [C,C]); its input is GroupNorm'd, its output is added to x.
   - Downsample pads (0,1,0,1) - right and bottom only - then a 3x3 stride-2 conv with no padding.
     Upsample is nearest 2x then a 3x3 conv (padding 1).
   - BFL's checkpoint has no quant_conv / post_quant_conv; other LDM checkpoints do: applied if present.
   - Latent scaling is NOT part of encode/decode: see ds__flux_vae_scale_in/out. */
#define DS__FLUX_VAE_MAX_LEVELS 8
#define DS__FLUX_VAE_MAX_RES    8      /* res blocks per level (the decoder has num_res_blocks + 1) */
#define DS__FLUX_VAE_GROUPS     32
#define DS__FLUX_VAE_EPS        1e-6f
#define DS__FLUX_VAE_SCALE      0.3611f   /* AutoEncoder scale_factor */
#define DS__FLUX_VAE_SHIFT      0.1159f   /* AutoEncoder shift_factor */

/* Encoder mean (first z_channels of the moments) -> the DiT's latent space: (z - shift) * scale. */
static void ds__flux_vae_scale_in(float *z, int64_t n) {
    int64_t i; for (i = 0; i < n; i++) z[i] = (z[i] - DS__FLUX_VAE_SHIFT) * DS__FLUX_VAE_SCALE;
}
/* The DiT's latent -> decoder input: z / scale + shift. */
static void ds__flux_vae_scale_out(float *z, int64_t n) {
    int64_t i; for (i = 0; i < n; i++) z[i] = z[i] / DS__FLUX_VAE_SCALE + DS__FLUX_VAE_SHIFT;
}

/* Key layouts as data. "%s" is "encoder"/"decoder"; "%d" a level, then a block index. Resnet leaves
   (norm1, conv1, norm2, conv2) are the same in every layout. The diffusers decoder numbers its
   up_blocks from the lowest resolution: up_blocks.i is LDM up.(L-1-i). */
typedef struct ds__flux_vae_names {
    const char *down_block, *downsample;   /* encoder level i, block j                  */
    const char *up_block, *upsample;       /* decoder level i (after reversal), block j */
    int         up_reversed;
    const char *mid_block;                 /* "%s", block index mid_base + j (j = 0, 1) */
    int         mid_base;
    const char *mid_attn;                  /* "%s"                                      */
    const char *attn_norm, *attn_q, *attn_k, *attn_v, *attn_out;
    const char *shortcut;                  /* 1x1 conv when a res block changes width   */
    const char *norm_out;                  /* "%s"                                      */
} ds__flux_vae_names;

static const ds__flux_vae_names ds__flux_vae_layouts[] = {
    { /* LDM / BFL ae.safetensors */
      "encoder.down.%d.block.%d", "encoder.down.%d.downsample.conv",
      "decoder.up.%d.block.%d",   "decoder.up.%d.upsample.conv", 0,
      "%s.mid.block_%d", 1, "%s.mid.attn_1", "norm", "q", "k", "v", "proj_out",
      "nin_shortcut", "%s.norm_out" },
    { /* diffusers AutoencoderKL */
      "encoder.down_blocks.%d.resnets.%d", "encoder.down_blocks.%d.downsamplers.0.conv",
      "decoder.up_blocks.%d.resnets.%d",   "decoder.up_blocks.%d.upsamplers.0.conv", 1,
      "%s.mid_block.resnets.%d", 0, "%s.mid_block.attentions.0", "group_norm", "to_q", "to_k", "to_v", "to_out.0",
      "conv_shortcut", "%s.conv_norm_out" },
};

typedef struct ds__flux_vae_config {
    int ch;                                  /* base width (128 in ae.safetensors)        */
    int n_levels;                            /* len(ch_mult)                              */
    int ch_mult[DS__FLUX_VAE_MAX_LEVELS];    /* (1, 2, 4, 4)                              */
    int num_res_blocks;                      /* 2 (the decoder has 3 per level)           */
    int z_channels;                          /* 16                                        */
    int img_channels;                        /* 3                                         */
    int factor;                              /* 2^(n_levels-1): pixels per latent (8)     */
} ds__flux_vae_config;

typedef struct ds__flux_vae_res {            /* ResnetBlock(cin -> cout)                  */
    int cin, cout;
    const ds_tensor *norm1_w, *norm1_b;      /* [cin]                                     */
    const ds_tensor *conv1_w, *conv1_b;      /* [cout, cin, 3, 3], [cout]                 */
    const ds_tensor *norm2_w, *norm2_b;      /* [cout]                                    */
    const ds_tensor *conv2_w, *conv2_b;      /* [cout, cout, 3, 3], [cout]                */
    const ds_tensor *skip_w, *skip_b;        /* [cout, cin, 1, 1] if cin != cout, else NULL */
} ds__flux_vae_res;

typedef struct ds__flux_vae_attn {           /* AttnBlock(c)                              */
    int c;
    const ds_tensor *norm_w, *norm_b;        /* [c]                                       */
    const ds_tensor *q_w, *q_b, *k_w, *k_b;  /* [c, c, 1, 1] or [c, c]; [c]               */
    const ds_tensor *v_w, *v_b, *out_w, *out_b;
} ds__flux_vae_attn;

typedef struct ds__flux_vae_coder {          /* Encoder or Decoder; levels in LDM order   */
    int present;
    const ds_tensor *conv_in_w, *conv_in_b;  /* enc [ch, img, 3, 3]; dec [ch*mult[L-1], z, 3, 3] */
    ds__flux_vae_res level[DS__FLUX_VAE_MAX_LEVELS][DS__FLUX_VAE_MAX_RES];
    const ds_tensor *resample_w[DS__FLUX_VAE_MAX_LEVELS];  /* [c, c, 3, 3]: enc down (not last), dec up (not 0) */
    const ds_tensor *resample_b[DS__FLUX_VAE_MAX_LEVELS];
    ds__flux_vae_res  mid1, mid2;
    ds__flux_vae_attn mid_attn;
    const ds_tensor *norm_out_w, *norm_out_b; /* [c]                                      */
    const ds_tensor *conv_out_w, *conv_out_b; /* enc [2z, c, 3, 3]; dec [img, ch, 3, 3]   */
} ds__flux_vae_coder;

typedef struct ds__flux_vae {
    ds__flux_vae_config cfg;
    ds__flux_vae_coder  enc, dec;            /* either may be absent (a decoder-only file) */
    const ds_tensor *quant_w, *quant_b;           /* [2z, 2z, 1, 1] or NULL               */
    const ds_tensor *post_quant_w, *post_quant_b; /* [z, z, 1, 1] or NULL                 */
} ds__flux_vae;

/* --- loading ----------------------------------------------------------------------------- */
typedef struct ds__flux_vae_loader {
    ds_ctx *ctx; const ds_weights *w; const char *prefix; const ds__flux_vae_names *nm;
    ds_result r;                             /* first error; later lookups are skipped    */
} ds__flux_vae_loader;

/* "<prefix><base>.<leaf>" of shape [d0] (d1 < 0), a conv [d0, d1, k, k] (k > 0) or, for k == 0, a 1x1
   conv [d0, d1, 1, 1] or a Linear [d0, d1] (attention projections). Records the first failure in L->r. */
static const ds_tensor *ds__flux_vae_get(ds__flux_vae_loader *L, const char *base, const char *leaf, int d0, int d1, int k) {
    const ds_tensor *t; ds_result r;
    if (L->r != DS_SUCCESS) return NULL;
    t = ds__wget(L->ctx, L->w, L->prefix, "%s.%s", base, leaf);
    if (!t) { L->r = DS_ERR_MISSING_TENSOR; return NULL; }
    if (d1 < 0) r = ds__check_shape(L->ctx, t, 1, d0);
    else if (k == 0 && t->ndim == 2) r = ds__check_shape(L->ctx, t, 2, d0, d1);
    else r = ds__check_shape(L->ctx, t, 4, d0, d1, k ? k : 1, k ? k : 1);
    if (r != DS_SUCCESS) { L->r = r; return NULL; }
    return t;
}
/* Size of dimension d of an existing tensor, or -1. */
static int64_t ds__flux_vae_dim(const ds__flux_vae_loader *L, int d, const char *fmt, ...) {
    char name[256]; va_list ap; const ds_tensor *t;
    va_start(ap, fmt); vsnprintf(name, sizeof name, fmt, ap); va_end(ap);
    t = ds__wopt(L->w, L->prefix, "%s", name);
    return (t && t->ndim > d) ? t->shape[d] : -1;
}

static void ds__flux_vae_load_res(ds__flux_vae_loader *L, ds__flux_vae_res *rb, const char *base, int cin, int cout) {
    rb->cin = cin; rb->cout = cout;
    rb->norm1_w = ds__flux_vae_get(L, base, "norm1.weight", cin, -1, 0);
    rb->norm1_b = ds__flux_vae_get(L, base, "norm1.bias", cin, -1, 0);
    rb->conv1_w = ds__flux_vae_get(L, base, "conv1.weight", cout, cin, 3);
    rb->conv1_b = ds__flux_vae_get(L, base, "conv1.bias", cout, -1, 0);
    rb->norm2_w = ds__flux_vae_get(L, base, "norm2.weight", cout, -1, 0);
    rb->norm2_b = ds__flux_vae_get(L, base, "norm2.bias", cout, -1, 0);
    rb->conv2_w = ds__flux_vae_get(L, base, "conv2.weight", cout, cout, 3);
    rb->conv2_b = ds__flux_vae_get(L, base, "conv2.bias", cout, -1, 0);
    rb->skip_w = rb->skip_b = NULL;
    if (cin != cout) {
        char leaf[64];
        snprintf(leaf, sizeof leaf, "%s.weight", L->nm->shortcut); rb->skip_w = ds__flux_vae_get(L, base, leaf, cout, cin, 1);
        snprintf(leaf, sizeof leaf, "%s.bias", L->nm->shortcut);   rb->skip_b = ds__flux_vae_get(L, base, leaf, cout, -1, 0);
    }
}

static void ds__flux_vae_load_mid(ds__flux_vae_loader *L, ds__flux_vae_coder *cd, const char *which, int c) {
    const ds__flux_vae_names *nm = L->nm; char base[128], leaf[64]; ds__flux_vae_attn *a = &cd->mid_attn;
    snprintf(base, sizeof base, nm->mid_block, which, nm->mid_base);     ds__flux_vae_load_res(L, &cd->mid1, base, c, c);
    snprintf(base, sizeof base, nm->mid_block, which, nm->mid_base + 1); ds__flux_vae_load_res(L, &cd->mid2, base, c, c);
    snprintf(base, sizeof base, nm->mid_attn, which);
    a->c = c;
#define DS__FLUX_VAE_ATTN_GET(field, name, wb, d1, k) \
    snprintf(leaf, sizeof leaf, "%s." wb, name); a->field = ds__flux_vae_get(L, base, leaf, c, d1, k)
    DS__FLUX_VAE_ATTN_GET(norm_w, nm->attn_norm, "weight", -1, 0); DS__FLUX_VAE_ATTN_GET(norm_b, nm->attn_norm, "bias", -1, 0);
    DS__FLUX_VAE_ATTN_GET(q_w, nm->attn_q, "weight", c, 0);        DS__FLUX_VAE_ATTN_GET(q_b, nm->attn_q, "bias", -1, 0);
    DS__FLUX_VAE_ATTN_GET(k_w, nm->attn_k, "weight", c, 0);        DS__FLUX_VAE_ATTN_GET(k_b, nm->attn_k, "bias", -1, 0);
    DS__FLUX_VAE_ATTN_GET(v_w, nm->attn_v, "weight", c, 0);        DS__FLUX_VAE_ATTN_GET(v_b, nm->attn_v, "bias", -1, 0);
    DS__FLUX_VAE_ATTN_GET(out_w, nm->attn_out, "weight", c, 0);    DS__FLUX_VAE_ATTN_GET(out_b, nm->attn_out, "bias", -1, 0);
#undef DS__FLUX_VAE_ATTN_GET
}

/* Config of one coder from its shapes: 0 = absent, 1 = found, -1 = inconsistent (error set). */
static int ds__flux_vae_probe(ds__flux_vae_loader *L, int enc, ds__flux_vae_config *c) {
    const ds__flux_vae_names *nm = L->nm; char base[128]; int i, n, j;
    memset(c, 0, sizeof *c);
    if (enc) {
        int64_t ch = ds__flux_vae_dim(L, 0, "encoder.conv_in.weight"), zz = ds__flux_vae_dim(L, 0, "encoder.conv_out.weight");
        if (ch <= 0) return 0;
        c->ch = (int)ch; c->img_channels = (int)ds__flux_vae_dim(L, 1, "encoder.conv_in.weight"); c->z_channels = (int)(zz / 2);
        for (n = 0; n < DS__FLUX_VAE_MAX_LEVELS + 1; n++) { snprintf(base, sizeof base, nm->down_block, n, 0); if (ds__flux_vae_dim(L, 0, "%s.conv1.weight", base) < 0) break; }
        for (j = 0; j < DS__FLUX_VAE_MAX_RES + 1; j++) { snprintf(base, sizeof base, nm->down_block, 0, j); if (ds__flux_vae_dim(L, 0, "%s.conv1.weight", base) < 0) break; }
        c->num_res_blocks = j;
        if (zz <= 0 || zz % 2) { ds__err(L->ctx, DS_ERR_SHAPE, "%sencoder.conv_out.weight: %lld output channels, expected 2*z", L->prefix, (long long)zz); return -1; }
    } else {
        int64_t ch = ds__flux_vae_dim(L, 1, "decoder.conv_out.weight");
        if (ch <= 0) return 0;
        c->ch = (int)ch; c->img_channels = (int)ds__flux_vae_dim(L, 0, "decoder.conv_out.weight"); c->z_channels = (int)ds__flux_vae_dim(L, 1, "decoder.conv_in.weight");
        for (n = 0; n < DS__FLUX_VAE_MAX_LEVELS + 1; n++) { snprintf(base, sizeof base, nm->up_block, n, 0); if (ds__flux_vae_dim(L, 0, "%s.conv1.weight", base) < 0) break; }
        for (j = 0; j < DS__FLUX_VAE_MAX_RES + 1; j++) { snprintf(base, sizeof base, nm->up_block, 0, j); if (ds__flux_vae_dim(L, 0, "%s.conv1.weight", base) < 0) break; }
        c->num_res_blocks = j - 1;
    }
    c->n_levels = n;
    if (n < 1 || n > DS__FLUX_VAE_MAX_LEVELS || c->num_res_blocks < 1 || c->num_res_blocks + 1 > DS__FLUX_VAE_MAX_RES || c->z_channels <= 0 || c->img_channels <= 0) {
        ds__err(L->ctx, DS_ERR_UNSUPPORTED, "flux-vae %s: unsupported structure (%d levels, %d res blocks, z %d)", enc ? "encoder" : "decoder", n, c->num_res_blocks, c->z_channels);
        return -1;
    }
    for (i = 0; i < n; i++) {
        int li = (!enc && nm->up_reversed) ? n - 1 - i : i;   /* LDM level i is stored under index li */
        int64_t out;
        snprintf(base, sizeof base, enc ? nm->down_block : nm->up_block, li, 0);
        out = ds__flux_vae_dim(L, 0, "%s.conv1.weight", base);
        if (out <= 0 || out % c->ch) { ds__err(L->ctx, DS_ERR_SHAPE, "%s%s.conv1.weight: %lld channels is not a multiple of ch %d", L->prefix, base, (long long)out, c->ch); return -1; }
        c->ch_mult[i] = (int)(out / c->ch);
    }
    c->factor = 1 << (n - 1);
    return 1;
}

/* Bind the weights of one coder to the config; every shape is checked. */
static void ds__flux_vae_load_coder(ds__flux_vae_loader *L, ds__flux_vae_coder *cd, int enc, const ds__flux_vae_config *c) {
    const ds__flux_vae_names *nm = L->nm; const char *which = enc ? "encoder" : "decoder";
    char base[128]; int i, j, L1 = c->n_levels - 1, top = c->ch * c->ch_mult[L1];
    int nb = enc ? c->num_res_blocks : c->num_res_blocks + 1;
    cd->present = 1;
    snprintf(base, sizeof base, "%s.conv_in", which);
    cd->conv_in_w = ds__flux_vae_get(L, base, "weight", enc ? c->ch : top, enc ? c->img_channels : c->z_channels, 3);
    cd->conv_in_b = ds__flux_vae_get(L, base, "bias", enc ? c->ch : top, -1, 0);
    for (i = 0; i < c->n_levels; i++) {
        /* encoder level i: ch*in_mult[i] -> ch*mult[i] (in_mult = (1,) + mult); decoder: from the level above */
        int cout = c->ch * c->ch_mult[i];
        int cin = enc ? c->ch * (i ? c->ch_mult[i - 1] : 1) : (i == L1 ? top : c->ch * c->ch_mult[i + 1]);
        int li = (!enc && nm->up_reversed) ? L1 - i : i;
        for (j = 0; j < nb; j++) {
            snprintf(base, sizeof base, enc ? nm->down_block : nm->up_block, li, j);
            ds__flux_vae_load_res(L, &cd->level[i][j], base, j ? cout : cin, cout);
        }
        cd->resample_w[i] = cd->resample_b[i] = NULL;
        if (enc ? i != L1 : i != 0) {
            snprintf(base, sizeof base, enc ? nm->downsample : nm->upsample, li);
            cd->resample_w[i] = ds__flux_vae_get(L, base, "weight", cout, cout, 3);
            cd->resample_b[i] = ds__flux_vae_get(L, base, "bias", cout, -1, 0);
        }
    }
    {
        int c_end = enc ? top : c->ch * c->ch_mult[0];   /* width at norm_out */
        ds__flux_vae_load_mid(L, cd, which, top);
        snprintf(base, sizeof base, nm->norm_out, which);
        cd->norm_out_w = ds__flux_vae_get(L, base, "weight", c_end, -1, 0);
        cd->norm_out_b = ds__flux_vae_get(L, base, "bias", c_end, -1, 0);
        snprintf(base, sizeof base, "%s.conv_out", which);
        cd->conv_out_w = ds__flux_vae_get(L, base, "weight", enc ? 2 * c->z_channels : c->img_channels, c_end, 3);
        cd->conv_out_b = ds__flux_vae_get(L, base, "bias", enc ? 2 * c->z_channels : c->img_channels, -1, 0);
    }
}

/* Fill *m from the weights; ai->prefix is put in front of every key ("first_stage_model.", "vae.").
   The config comes from shapes: ch from the conv_in (encoder) / conv_out (decoder) width, the level
   count and res blocks from which keys exist, ch_mult from each level's first conv1 width. */
static ds_result ds__flux_vae_load(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, ds__flux_vae *m) {
    ds__flux_vae_loader L; ds__flux_vae_config ce, cdc; int l, fe = 0, fd = 0, i;
    memset(m, 0, sizeof *m);
    L.ctx = ctx; L.w = w; L.prefix = ai ? ai->prefix : ""; L.nm = NULL; L.r = DS_SUCCESS;
    for (l = 0; l < DS__ARRLEN(ds__flux_vae_layouts) && !L.nm; l++) {   /* the layout whose mid attention exists */
        const ds__flux_vae_names *nm = &ds__flux_vae_layouts[l]; char base[128];
        for (i = 0; i < 2 && !L.nm; i++) {
            snprintf(base, sizeof base, nm->mid_attn, i ? "encoder" : "decoder");
            if (ds__wopt(w, L.prefix, "%s.%s.weight", base, nm->attn_q)) L.nm = nm;
        }
    }
    if (!L.nm) return ds__err(ctx, DS_ERR_UNSUPPORTED, "flux-vae: no mid-block attention under prefix '%s' in a known layout", L.prefix);
    if ((fe = ds__flux_vae_probe(&L, 1, &ce)) < 0 || (fd = ds__flux_vae_probe(&L, 0, &cdc)) < 0) return DS_ERR_SHAPE;
    if (!fe && !fd) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: neither %sencoder.conv_in.weight nor %sdecoder.conv_out.weight", L.prefix, L.prefix);
    if (fe && fd && (ce.n_levels != cdc.n_levels || ce.z_channels != cdc.z_channels || ce.img_channels != cdc.img_channels ||
                     ce.num_res_blocks != cdc.num_res_blocks || memcmp(ce.ch_mult, cdc.ch_mult, sizeof ce.ch_mult) != 0 || ce.ch != cdc.ch))
        return ds__err(ctx, DS_ERR_SHAPE, "flux-vae: encoder (ch %d, %d levels, z %d) and decoder (ch %d, %d levels, z %d) disagree",
                       ce.ch, ce.n_levels, ce.z_channels, cdc.ch, cdc.n_levels, cdc.z_channels);
    m->cfg = fe ? ce : cdc;
    for (i = -1; i < m->cfg.n_levels; i++) {   /* every GroupNorm width splits into 32 groups */
        int c = i < 0 ? m->cfg.ch : m->cfg.ch * m->cfg.ch_mult[i];
        if (c % DS__FLUX_VAE_GROUPS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "flux-vae: width %d is not a multiple of %d groups", c, DS__FLUX_VAE_GROUPS);
    }
    if (fe) ds__flux_vae_load_coder(&L, &m->enc, 1, &m->cfg);
    if (fd) ds__flux_vae_load_coder(&L, &m->dec, 0, &m->cfg);
    if (ds__wopt(w, L.prefix, "quant_conv.weight")) {
        m->quant_w = ds__flux_vae_get(&L, "quant_conv", "weight", 2 * m->cfg.z_channels, 2 * m->cfg.z_channels, 1);
        m->quant_b = ds__flux_vae_get(&L, "quant_conv", "bias", 2 * m->cfg.z_channels, -1, 0);
    }
    if (ds__wopt(w, L.prefix, "post_quant_conv.weight")) {
        m->post_quant_w = ds__flux_vae_get(&L, "post_quant_conv", "weight", m->cfg.z_channels, m->cfg.z_channels, 1);
        m->post_quant_b = ds__flux_vae_get(&L, "post_quant_conv", "bias", m->cfg.z_channels, -1, 0);
    }
    return L.r;
}

/* --- forward ----------------------------------------------------------------------------- */
/* GroupNorm statistics shared between passes. Tiles normalised with their own statistics drift
   apart (each tile is pushed to mean 0 / variance 1 on its own), so tiled passes first record the
   statistics of every GroupNorm call, in call order, and then normalise every tile with them. */
typedef struct ds__flux_vae_gn {
    int     mode;        /* 0: per-call statistics, 1: also accumulate them, 2: use the stored ones */
    int     k, n;        /* next call, calls stored                                             */
    int     cap;
    double *acc;         /* [cap][G][3]: sum, sum of squares, count (mode 1)                     */
    float  *mean, *rstd; /* [cap][G] (mode 2, after ds__flux_vae_gn_finish)                      */
} ds__flux_vae_gn;

static ds_result ds__flux_vae_gn_init(ds_ctx *ctx, ds__flux_vae_gn *gn, const ds__flux_vae_config *c) {
    memset(gn, 0, sizeof *gn);
    gn->cap = 2 * (c->n_levels * (c->num_res_blocks + 1) + 4);   /* two per res block, mid attn, norm_out */
    gn->acc = (double *)ds__calloc(ctx, (size_t)gn->cap * DS__FLUX_VAE_GROUPS * 3 * sizeof(double));
    gn->mean = ds__falloc(ctx, (int64_t)gn->cap * DS__FLUX_VAE_GROUPS * 2);
    gn->rstd = gn->mean ? gn->mean + gn->cap * DS__FLUX_VAE_GROUPS : NULL;
    if (!gn->acc || !gn->mean) { ds__free(ctx, gn->acc); ds__free(ctx, gn->mean); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux-vae norm statistics"); }
    gn->mode = 1;
    return DS_SUCCESS;
}
static void ds__flux_vae_gn_finish(ds__flux_vae_gn *gn) {   /* accumulated sums -> mean, 1/std */
    int i;
    for (i = 0; i < gn->n * DS__FLUX_VAE_GROUPS; i++) {
        const double *a = gn->acc + 3 * i;
        double mean = a[2] > 0 ? a[0] / a[2] : 0, var = a[2] > 0 ? a[1] / a[2] - mean * mean : 1;
        gn->mean[i] = (float)mean;
        gn->rstd[i] = (float)(1.0 / sqrt(DS__MAX(var, 0.0) + DS__FLUX_VAE_EPS));
    }
    gn->mode = 2;
}
static void ds__flux_vae_gn_free(ds_ctx *ctx, ds__flux_vae_gn *gn) { ds__free(ctx, gn->acc); ds__free(ctx, gn->mean); memset(gn, 0, sizeof *gn); }

/* y = GroupNorm(32, eps 1e-6)(x) [then swish], x [C, S]; parallel over groups. y may alias x. */
typedef struct ds__flux_vae_gn_job {
    float *y; const float *x; int64_t cg, S; const float *g, *b; int swish;
    const float *mean, *rstd;   /* given statistics or NULL   */
    double *stats;              /* out: [G][3] when not given */
} ds__flux_vae_gn_job;
static void ds__flux_vae_gn_part(void *arg, int64_t g0, int64_t g1, int tid) {
    ds__flux_vae_gn_job *j = (ds__flux_vae_gn_job *)arg; int64_t gi, c, s, n = j->cg * j->S;
    DS__UNUSED(tid);
    for (gi = g0; gi < g1; gi++) {
        const float *xg = j->x + gi * n; float *yg = j->y + gi * n; float mean, rstd;
        if (j->mean) { mean = j->mean[gi]; rstd = j->rstd[gi]; }
        else {   /* two passes for the variance, as torch does */
            double sum = 0, m, var = 0;
            for (s = 0; s < n; s++) sum += xg[s];
            m = sum / (double)n;
            for (s = 0; s < n; s++) { double d = xg[s] - m; var += d * d; }
            j->stats[3 * gi] = sum; j->stats[3 * gi + 1] = var + (double)n * m * m; j->stats[3 * gi + 2] = (double)n;
            mean = (float)m; rstd = (float)(1.0 / sqrt(var / (double)n + DS__FLUX_VAE_EPS));
        }
        for (c = 0; c < j->cg; c++) {
            float a = rstd * j->g[gi * j->cg + c], b = j->b[gi * j->cg + c] - mean * a;
            const float *xr = xg + c * j->S; float *yr = yg + c * j->S;
            for (s = 0; s < j->S; s++) yr[s] = xr[s] * a + b;
        }
        if (j->swish) ds__silu(yg, n);
    }
}
static ds_result ds__flux_vae_norm(ds_ctx *ctx, ds__flux_vae_gn *gn, float *y, const float *x, int64_t C, int64_t S,
                                   const ds_tensor *g, const ds_tensor *b, int swish) {
    ds__flux_vae_gn_job j; double stats[DS__FLUX_VAE_GROUPS * 3]; int k = gn ? gn->k++ : 0, i;
    j.y = y; j.x = x; j.cg = C / DS__FLUX_VAE_GROUPS; j.S = S; j.swish = swish; j.stats = stats; j.mean = j.rstd = NULL;
    j.g = ds__f32(ctx, g); j.b = ds__f32(ctx, b);
    if (!j.g || !j.b) return DS_ERR_OUT_OF_MEMORY;
    if (gn && gn->mode && k >= gn->cap) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux-vae: more norm layers than recorded");
    if (gn && gn->mode == 2) {
        if (k >= gn->n) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux-vae: norm %d has no recorded statistics", k);
        j.mean = gn->mean + k * DS__FLUX_VAE_GROUPS; j.rstd = gn->rstd + k * DS__FLUX_VAE_GROUPS;
    }
    ds__parallel_for(ctx, DS__FLUX_VAE_GROUPS, ds__flux_vae_gn_part, &j);
    if (gn && gn->mode == 1) {
        for (i = 0; i < DS__FLUX_VAE_GROUPS * 3; i++) gn->acc[k * DS__FLUX_VAE_GROUPS * 3 + i] += stats[i];
        if (k >= gn->n) gn->n = k + 1;
    }
    return DS_SUCCESS;
}
/* A new [O, Ho, Wo] buffer = conv(x); 3x3 convs pad 1, 1x1 convs pad 0. NULL on failure (error set). */
static float *ds__flux_vae_conv(ds_ctx *ctx, const float *x, int64_t C, int64_t H, int64_t W, const ds_tensor *w, const ds_tensor *b) {
    int p = w->ndim == 4 && w->shape[2] == 3 ? 1 : 0;
    float *y = ds__falloc(ctx, w->shape[0] * H * W);
    if (!y) { ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: %lldx%lldx%lld output", w->name, (long long)w->shape[0], (long long)H, (long long)W); return NULL; }
    if (ds__conv2d(ctx, y, x, C, H, W, w, b, 1, p, p, p, p) != DS_SUCCESS) { ds__free(ctx, y); return NULL; }
    return y;
}

/* ResnetBlock: *px [cin, H, W] is consumed and replaced by [cout, H, W]. */
static ds_result ds__flux_vae_resnet(ds_ctx *ctx, ds__flux_vae_gn *gn, const ds__flux_vae_res *rb, float **px, int64_t H, int64_t W) {
    int64_t S = H * W; float *x = *px, *t, *h;
    t = ds__falloc(ctx, rb->cin * S);
    if (!t) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: activations", rb->norm1_w->name);
    if (ds__flux_vae_norm(ctx, gn, t, x, rb->cin, S, rb->norm1_w, rb->norm1_b, 1) != DS_SUCCESS) { ds__free(ctx, t); return DS_ERR_OUT_OF_MEMORY; }
    h = ds__flux_vae_conv(ctx, t, rb->cin, H, W, rb->conv1_w, rb->conv1_b);          /* [cout, S] */
    ds__free(ctx, t);
    if (!h) return DS_ERR_OUT_OF_MEMORY;
    if (ds__flux_vae_norm(ctx, gn, h, h, rb->cout, S, rb->norm2_w, rb->norm2_b, 1) != DS_SUCCESS) { ds__free(ctx, h); return DS_ERR_OUT_OF_MEMORY; }
    t = ds__flux_vae_conv(ctx, h, rb->cout, H, W, rb->conv2_w, rb->conv2_b);         /* [cout, S] */
    ds__free(ctx, h);
    if (!t) return DS_ERR_OUT_OF_MEMORY;
    if (rb->skip_w) {                                                                /* nin_shortcut */
        h = ds__flux_vae_conv(ctx, x, rb->cin, H, W, rb->skip_w, rb->skip_b);
        if (!h) { ds__free(ctx, t); return DS_ERR_OUT_OF_MEMORY; }
        ds__add(t, h, rb->cout * S);
        ds__free(ctx, h);
    } else ds__add(t, x, rb->cout * S);
    ds__free(ctx, x);
    *px = t;
    return DS_SUCCESS;
}

/* AttnBlock: x [C, S] += proj_out(attention(q, k, v)) over S positions, one head of width C. */
static ds_result ds__flux_vae_attention(ds_ctx *ctx, ds__flux_vae_gn *gn, const ds__flux_vae_attn *a, float *x, int64_t S) {
    int64_t C = a->c; ds_result r = DS_ERR_OUT_OF_MEMORY;
    float *t = ds__falloc(ctx, C * S), *xt = ds__falloc(ctx, S * C), *q = NULL, *k = NULL, *v = NULL;
    if (!t || !xt) goto out;
    if ((r = ds__flux_vae_norm(ctx, gn, t, x, C, S, a->norm_w, a->norm_b, 0)) != DS_SUCCESS) goto out;
    ds__transpose(xt, t, C, S);                                                      /* [S, C] tokens */
    q = ds__falloc(ctx, S * C); k = ds__falloc(ctx, S * C); v = ds__falloc(ctx, S * C);
    r = DS_ERR_OUT_OF_MEMORY;
    if (!q || !k || !v) goto out;
    if ((r = ds__linear(ctx, q, xt, S, a->q_w, a->q_b)) != DS_SUCCESS ||
        (r = ds__linear(ctx, k, xt, S, a->k_w, a->k_b)) != DS_SUCCESS ||
        (r = ds__linear(ctx, v, xt, S, a->v_w, a->v_b)) != DS_SUCCESS) goto out;
    if ((r = ds__attention(ctx, xt, q, k, v, S, S, 1, (int)C, C, C, NULL, NULL, 1.0f / sqrtf((float)C))) != DS_SUCCESS) goto out;
    if ((r = ds__linear(ctx, q, xt, S, a->out_w, a->out_b)) != DS_SUCCESS) goto out;   /* proj_out -> q */
    ds__transpose(t, q, S, C);                                                       /* back to [C, S] */
    ds__add(x, t, C * S);
out:
    if (r == DS_ERR_OUT_OF_MEMORY) ds__err(ctx, r, "%s: attention over %lld positions", a->q_w->name, (long long)S);
    ds__free(ctx, t); ds__free(ctx, xt); ds__free(ctx, q); ds__free(ctx, k); ds__free(ctx, v);
    return r;
}

static ds_result ds__flux_vae_mid(ds_ctx *ctx, ds__flux_vae_gn *gn, const ds__flux_vae_coder *cd, float **px, int64_t H, int64_t W) {
    DS__TRY(ds__flux_vae_resnet(ctx, gn, &cd->mid1, px, H, W));
    DS__TRY(ds__flux_vae_attention(ctx, gn, &cd->mid_attn, *px, H * W));
    return ds__flux_vae_resnet(ctx, gn, &cd->mid2, px, H, W);
}

/* Encoder on img [img_channels, H, W] -> moments [2z, h, w] (caller's buffer; h, w from
   ds__flux_vae_latent_size). Raw: mean = the first z channels, then logvar. */
static int64_t ds__flux_vae_latent_size(const ds__flux_vae *m, int64_t n) {
    int i; for (i = 1; i < m->cfg.n_levels; i++) n = n >= 2 ? (n - 2) / 2 + 1 : 0;   /* pad 1 right, 3x3 stride 2 */
    return n;
}
static ds_result ds__flux_vae_encode_gn(ds_ctx *ctx, const ds__flux_vae *m, ds__flux_vae_gn *gn, const float *img, int64_t H, int64_t W, float *moments) {
    const ds__flux_vae_coder *e = &m->enc; const ds__flux_vae_config *c = &m->cfg;
    int i, j; int64_t C; float *x, *y; ds_result r = DS_SUCCESS;
    if (!e->present) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: these weights have no encoder");
    if (gn) gn->k = 0;
    if (ds__flux_vae_latent_size(m, H) < 1 || ds__flux_vae_latent_size(m, W) < 1) return ds__err(ctx, DS_ERR_SHAPE, "flux-vae encode: image %lldx%lld is too small", (long long)H, (long long)W);
    x = ds__flux_vae_conv(ctx, img, c->img_channels, H, W, e->conv_in_w, e->conv_in_b);   /* [ch, H, W] */
    if (!x) return DS_ERR_OUT_OF_MEMORY;
    for (i = 0; i < c->n_levels && r == DS_SUCCESS; i++) {
        for (j = 0; j < c->num_res_blocks && r == DS_SUCCESS; j++) {
            r = ds__aborted(ctx) ? DS_ABORTED : ds__flux_vae_resnet(ctx, gn, &e->level[i][j], &x, H, W);
        }
        if (r == DS_SUCCESS && e->resample_w[i]) {                                   /* Downsample */
            int64_t Ho = (H - 2) / 2 + 1, Wo = (W - 2) / 2 + 1;
            C = c->ch * c->ch_mult[i];
            y = ds__falloc(ctx, C * Ho * Wo);
            if (!y) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux-vae encode: level %d", i);
            else r = ds__conv2d(ctx, y, x, C, H, W, e->resample_w[i], e->resample_b[i], 2, 0, 1, 0, 1);
            ds__free(ctx, x); x = y; H = Ho; W = Wo;
        }
    }
    C = c->ch * c->ch_mult[c->n_levels - 1];
    if (r == DS_SUCCESS) r = ds__flux_vae_mid(ctx, gn, e, &x, H, W);
    if (r == DS_SUCCESS) r = ds__flux_vae_norm(ctx, gn, x, x, C, H * W, e->norm_out_w, e->norm_out_b, 1);
    if (r == DS_SUCCESS) r = ds__conv2d(ctx, moments, x, C, H, W, e->conv_out_w, e->conv_out_b, 1, 1, 1, 1, 1);
    if (r == DS_SUCCESS && m->quant_w) {
        C = 2 * c->z_channels;
        ds__free(ctx, x);
        x = ds__flux_vae_conv(ctx, moments, C, H, W, m->quant_w, m->quant_b);
        if (!x) return DS_ERR_OUT_OF_MEMORY;
        memcpy(moments, x, (size_t)(C * H * W) * sizeof(float));
    }
    ds__free(ctx, x);
    return r;
}

/* Decoder on z [z_channels, h, w] (already unscaled: see ds__flux_vae_scale_out) -> out
   [img_channels, h*factor, w*factor] (caller's buffer), raw (about [-1, 1], not clamped). */
static ds_result ds__flux_vae_decode_gn(ds_ctx *ctx, const ds__flux_vae *m, ds__flux_vae_gn *gn, const float *z, int64_t H, int64_t W, float *out) {
    const ds__flux_vae_coder *d = &m->dec; const ds__flux_vae_config *c = &m->cfg;
    int i, j; int64_t C; float *x, *pq = NULL, *y; ds_result r = DS_SUCCESS;
    if (!d->present) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: these weights have no decoder");
    if (H < 1 || W < 1) return ds__err(ctx, DS_ERR_SHAPE, "flux-vae decode: empty latent %lldx%lld", (long long)H, (long long)W);
    if (gn) gn->k = 0;
    if (m->post_quant_w) {
        pq = ds__flux_vae_conv(ctx, z, c->z_channels, H, W, m->post_quant_w, m->post_quant_b);
        if (!pq) return DS_ERR_OUT_OF_MEMORY;
        z = pq;
    }
    x = ds__flux_vae_conv(ctx, z, c->z_channels, H, W, d->conv_in_w, d->conv_in_b);   /* [ch*mult[L-1], h, w] */
    ds__free(ctx, pq);
    if (!x) return DS_ERR_OUT_OF_MEMORY;
    r = ds__flux_vae_mid(ctx, gn, d, &x, H, W);
    for (i = c->n_levels - 1; i >= 0 && r == DS_SUCCESS; i--) {
        for (j = 0; j < c->num_res_blocks + 1 && r == DS_SUCCESS; j++)
            r = ds__aborted(ctx) ? DS_ABORTED : ds__flux_vae_resnet(ctx, gn, &d->level[i][j], &x, H, W);
        if (r == DS_SUCCESS && d->resample_w[i]) {                                   /* Upsample */
            C = c->ch * c->ch_mult[i];
            y = ds__falloc(ctx, C * 4 * H * W);
            if (!y) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux-vae decode: level %d upsample", i); break; }
            ds__upsample2x(y, x, C, H, W);
            ds__free(ctx, x); H *= 2; W *= 2;
            x = ds__flux_vae_conv(ctx, y, C, H, W, d->resample_w[i], d->resample_b[i]);
            ds__free(ctx, y);
            if (!x) return DS_ERR_OUT_OF_MEMORY;
        }
    }
    C = c->ch * c->ch_mult[0];
    if (r == DS_SUCCESS) r = ds__flux_vae_norm(ctx, gn, x, x, C, H * W, d->norm_out_w, d->norm_out_b, 1);
    if (r == DS_SUCCESS) r = ds__conv2d(ctx, out, x, C, H, W, d->conv_out_w, d->conv_out_b, 1, 1, 1, 1, 1);
    ds__free(ctx, x);
    return r;
}

static ds_result ds__flux_vae_encode(ds_ctx *ctx, const ds__flux_vae *m, const float *img, int64_t H, int64_t W, float *moments) {
    return ds__flux_vae_encode_gn(ctx, m, NULL, img, H, W, moments);
}
static ds_result ds__flux_vae_decode(ds_ctx *ctx, const ds__flux_vae *m, const float *z, int64_t H, int64_t W, float *out) {
    return ds__flux_vae_decode_gn(ctx, m, NULL, z, H, W, out);
}

/* --- tiling ------------------------------------------------------------------------------
   Large images go through in overlapping tiles so memory is bounded by the tile size. Tiles are
   laid out on the latent grid (`tile` cells, consecutive tiles `tile - overlap` apart, the last one
   flush with the end) and the tile outputs are blended with linear ramps across each overlap,
   normalised by the summed weight. Not identical to a whole-image pass: a tile edge sees zero
   padding where the whole image has neighbours (the decoder's receptive field is ~14 latent cells
   in the test model, more in ae.safetensors), the mid-block attention sees one tile, and GroupNorm
   statistics differ per tile. The last is fixed by DS__FLUX_VAE_NORM_SHARED: a first pass over all
   tiles measures every GroupNorm's statistics (pooled over whole tiles, overlaps counted per tile),
   the second pass normalises every tile with them (twice the compute, small next to the DiT steps).
   Tiles of 64 latent cells with 16 of overlap are a sensible choice for a real model. */
enum { DS__FLUX_VAE_NORM_TILE = 0, DS__FLUX_VAE_NORM_SHARED = 1 };

static int64_t ds__flux_vae_tiles(int64_t n, int64_t tile, int64_t overlap, int64_t *start) {
    int64_t stride = tile - overlap, cnt, k;
    if (n <= tile) { start[0] = 0; return 1; }
    cnt = (n - tile + stride - 1) / stride + 1;
    for (k = 0; k < cnt; k++) start[k] = k < cnt - 1 ? k * stride : n - tile;
    return cnt;
}
/* Blend weight of output position p (0 .. size*f-1) of tile k: ramps up across the overlap with
   tile k-1 and down across the overlap with tile k+1; two neighbours' ramps sum to 1. */
static float ds__flux_vae_ramp(const int64_t *start, int64_t cnt, int64_t k, int64_t size, int64_t f, int64_t p) {
    float w = 1.0f;
    if (k > 0) {
        int64_t ov = (start[k - 1] + size - start[k]) * f;
        if (p < ov) w *= ((float)p + 0.5f) / (float)ov;
    }
    if (k < cnt - 1) {
        int64_t ov = (start[k] + size - start[k + 1]) * f, q = size * f - 1 - p;
        if (q < ov) w *= ((float)q + 0.5f) / (float)ov;
    }
    return w;
}

typedef ds_result (*ds__flux_vae_fn)(ds_ctx *, const ds__flux_vae *, ds__flux_vae_gn *, const float *, int64_t, int64_t, float *);

/* fn over tiles of in [cin, lh*fi, lw*fi], blended into out [cout, lh*fo, lw*fo]; lh, lw: the latent
   grid; norm: DS__FLUX_VAE_NORM_*. */
static ds_result ds__flux_vae_tiled(ds_ctx *ctx, const ds__flux_vae *m, ds__flux_vae_fn fn,
                                    const float *in, int64_t cin, int64_t fi, float *out, int64_t cout, int64_t fo,
                                    int64_t lh, int64_t lw, int64_t tile, int64_t overlap, int norm) {
    int64_t *sy, *sx, ny, nx, th = DS__MIN(tile, lh), tw = DS__MIN(tile, lw), ty, tx, c, y, x;
    int64_t Hi = lh * fi, Wi = lw * fi, Ho = lh * fo, Wo = lw * fo, hi = th * fi, wi = tw * fi, ho = th * fo, wo = tw * fo;
    float *crop, *tout, *wsum, *wy, *wx; ds_result r = DS_SUCCESS; ds__flux_vae_gn gn; int pass;
    if (tile < 1 || overlap < 0 || overlap >= tile) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux-vae tiles: tile %lld, overlap %lld (need 0 <= overlap < tile)", (long long)tile, (long long)overlap);
    memset(&gn, 0, sizeof gn);
    if (norm == DS__FLUX_VAE_NORM_SHARED && (th < lh || tw < lw)) DS__TRY(ds__flux_vae_gn_init(ctx, &gn, &m->cfg));
    sy = (int64_t *)ds__malloc(ctx, (size_t)(lh + lw) * sizeof(int64_t)); sx = sy ? sy + lh : NULL;
    crop = ds__falloc(ctx, cin * hi * wi); tout = ds__falloc(ctx, cout * ho * wo);
    wsum = ds__falloc(ctx, Ho * Wo); wy = ds__falloc(ctx, ho + wo); wx = wy ? wy + ho : NULL;
    if (!sy || !crop || !tout || !wsum || !wy) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux-vae tiles of %lldx%lld", (long long)th, (long long)tw); goto out; }
    ny = ds__flux_vae_tiles(lh, th, overlap, sy); nx = ds__flux_vae_tiles(lw, tw, overlap, sx);
    memset(out, 0, (size_t)(cout * Ho * Wo) * sizeof(float));
    memset(wsum, 0, (size_t)(Ho * Wo) * sizeof(float));
    for (pass = gn.mode ? 0 : 1; pass < 2 && r == DS_SUCCESS; pass++) {   /* pass 0 only measures */
        for (ty = 0; ty < ny && r == DS_SUCCESS; ty++)
            for (tx = 0; tx < nx && r == DS_SUCCESS; tx++) {
                int64_t y0 = sy[ty] * fi, x0 = sx[tx] * fi, oy = sy[ty] * fo, ox = sx[tx] * fo;
                for (c = 0; c < cin; c++)
                    for (y = 0; y < hi; y++) memcpy(crop + (c * hi + y) * wi, in + (c * Hi + y0 + y) * Wi + x0, (size_t)wi * sizeof(float));
                if ((r = fn(ctx, m, gn.mode ? &gn : NULL, crop, hi, wi, tout)) != DS_SUCCESS || pass == 0) continue;
                for (y = 0; y < ho; y++) wy[y] = ds__flux_vae_ramp(sy, ny, ty, th, fo, y);
                for (x = 0; x < wo; x++) wx[x] = ds__flux_vae_ramp(sx, nx, tx, tw, fo, x);
                for (y = 0; y < ho; y++)
                    for (x = 0; x < wo; x++) wsum[(oy + y) * Wo + ox + x] += wy[y] * wx[x];
                for (c = 0; c < cout; c++)
                    for (y = 0; y < ho; y++) {
                        float *o = out + (c * Ho + oy + y) * Wo + ox; const float *t = tout + (c * ho + y) * wo;
                        for (x = 0; x < wo; x++) o[x] += wy[y] * wx[x] * t[x];
                    }
            }
        if (pass == 0) ds__flux_vae_gn_finish(&gn);
    }
    if (r == DS_SUCCESS)
        for (c = 0; c < cout; c++)
            for (y = 0; y < Ho * Wo; y++) out[c * Ho * Wo + y] /= wsum[y];
out:
    ds__free(ctx, sy); ds__free(ctx, crop); ds__free(ctx, tout); ds__free(ctx, wsum); ds__free(ctx, wy);
    ds__flux_vae_gn_free(ctx, &gn);
    return r;
}

/* Tiled decode: z [z, h, w] -> out [img, h*factor, w*factor]; tile and overlap in latent cells
   (64 and 16: 512-pixel tiles); shared GroupNorm statistics. A tile >= h and w is one plain decode. */
static ds_result ds__flux_vae_decode_tiled_ex(ds_ctx *ctx, const ds__flux_vae *m, const float *z, int64_t h, int64_t w,
                                              int64_t tile, int64_t overlap, int norm, float *out) {
    if (!m->dec.present) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: these weights have no decoder");
    return ds__flux_vae_tiled(ctx, m, ds__flux_vae_decode_gn, z, m->cfg.z_channels, 1, out, m->cfg.img_channels, m->cfg.factor, h, w, tile, overlap, norm);
}
static ds_result ds__flux_vae_decode_tiled(ds_ctx *ctx, const ds__flux_vae *m, const float *z, int64_t h, int64_t w,
                                           int64_t tile, int64_t overlap, float *out) {
    return ds__flux_vae_decode_tiled_ex(ctx, m, z, h, w, tile, overlap, DS__FLUX_VAE_NORM_SHARED, out);
}
/* Tiled encode: img [img, H, W] (H, W multiples of the factor) -> moments [2z, H/factor, W/factor];
   tile and overlap in latent cells. */
static ds_result ds__flux_vae_encode_tiled_ex(ds_ctx *ctx, const ds__flux_vae *m, const float *img, int64_t H, int64_t W,
                                              int64_t tile, int64_t overlap, int norm, float *moments) {
    int64_t f = m->cfg.factor;
    if (!m->enc.present) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: these weights have no encoder");
    if (H % f || W % f || H < f || W < f) return ds__err(ctx, DS_ERR_SHAPE, "flux-vae tiled encode: image %lldx%lld is not a multiple of %lld", (long long)H, (long long)W, (long long)f);
    return ds__flux_vae_tiled(ctx, m, ds__flux_vae_encode_gn, img, m->cfg.img_channels, f, moments, 2 * m->cfg.z_channels, 1, H / f, W / f, tile, overlap, norm);
}
static ds_result ds__flux_vae_encode_tiled(ds_ctx *ctx, const ds__flux_vae *m, const float *img, int64_t H, int64_t W,
                                           int64_t tile, int64_t overlap, float *moments) {
    return ds__flux_vae_encode_tiled_ex(ctx, m, img, H, W, tile, overlap, DS__FLUX_VAE_NORM_SHARED, moments);
}

/* ds_forward: z [1, z, h, w] -> "decoded" [1, img, h*8, w*8]; image [1, img, H, W] -> "moments"
   [1, 2z, H/8, W/8]; either or both. Optional scalar inputs `tile` (latent cells, > 0: tiled) and
   `tile_overlap` (default tile/4). */
static ds_result ds__flux_vae_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__flux_vae m; int k, ndim, done = 0; int64_t shape[DS_MAX_DIMS], tile = 0, overlap = -1;
    static const char *const in_names[2] = { "z", "image" };
    DS__TRY(ds__flux_vae_load(ctx, w, ai, &m));
    for (k = 0; k < 2; k++) {   /* optional tiling scalars */
        const char *nm = k ? "tile_overlap" : "tile"; float *v;
        if (!ds_weights_find(io, nm)) continue;
        DS__TRY(ds__input_f32(ctx, io, nm, NULL, NULL, &v));
        if (!(v[0] >= 0.0f && v[0] <= 65536.0f)) { ds__free(ctx, v); return ds__err(ctx, DS_ERR_INVALID_ARGS, "input '%s' must be a count of latent cells", nm); }
        if (k) overlap = (int64_t)v[0]; else tile = (int64_t)v[0];
        ds__free(ctx, v);
    }
    if (overlap < 0) overlap = tile / 4;
    for (k = 0; k < 2; k++) {
        const int dec = k == 0; float *x = NULL, *y; int64_t C, H, W, Ho, Wo, oshape[4]; ds_result r;
        if (!ds_weights_find(io, in_names[k])) continue;
        DS__TRY(ds__input_f32(ctx, io, in_names[k], &ndim, shape, &x));
        C = dec ? m.cfg.z_channels : m.cfg.img_channels;
        if (ndim != 4 || shape[0] != 1 || shape[1] != C || shape[2] < 1 || shape[3] < 1 || shape[2] > 65536 || shape[3] > 65536) {
            ds__free(ctx, x);
            return ds__err(ctx, DS_ERR_SHAPE, "input '%s': expected [1, %lld, H, W] (H, W <= 65536)", in_names[k], (long long)C);
        }
        H = shape[2]; W = shape[3];
        Ho = dec ? H * m.cfg.factor : ds__flux_vae_latent_size(&m, H);
        Wo = dec ? W * m.cfg.factor : ds__flux_vae_latent_size(&m, W);
        oshape[0] = 1; oshape[1] = dec ? m.cfg.img_channels : 2 * m.cfg.z_channels; oshape[2] = Ho; oshape[3] = Wo;
        y = ds__falloc(ctx, oshape[1] * DS__MAX(Ho, (int64_t)1) * DS__MAX(Wo, (int64_t)1));
        if (!y) { ds__free(ctx, x); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux-vae output"); }
        if (tile > 0) r = dec ? ds__flux_vae_decode_tiled(ctx, &m, x, H, W, tile, overlap, y) : ds__flux_vae_encode_tiled(ctx, &m, x, H, W, tile, overlap, y);
        else r = dec ? ds__flux_vae_decode(ctx, &m, x, H, W, y) : ds__flux_vae_encode(ctx, &m, x, H, W, y);
        ds__free(ctx, x);
        if (r != DS_SUCCESS) { ds__free(ctx, y); return r; }
        DS__TRY(ds__output_add(ctx, out, dec ? "decoded" : "moments", y, 4, oshape));
        done = 1;
    }
    if (!done) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux-vae: give input 'z' [1, %d, h, w] and/or 'image' [1, %d, H, W]", m.cfg.z_channels, m.cfg.img_channels);
    return DS_SUCCESS;
}

// >>wan
/* @@WAN */
static ds_result ds__wan_dit_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component wan-dit is not supported yet");
}

// >>wan_vae
/* @@WAN_VAE */
static ds_result ds__wan_vae_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component wan-vae is not supported yet");
}

// >>sched
/* @@SCHED */

// >>forward
typedef ds_result (*ds__forward_fn)(ds_ctx *, const ds_weights *, const ds_arch_info *, const ds_weights *, ds_outputs *);
static const struct { ds_arch arch; ds__forward_fn fn; } ds__forward_table[] = {
    { DS_ARCH_FLUX_DIT,  ds__flux_dit_forward_io },
    { DS_ARCH_FLUX_VAE,  ds__flux_vae_forward_io },
    { DS_ARCH_CLIP_TEXT, ds__clip_forward_io },
    { DS_ARCH_T5,        ds__t5_forward_io },
    { DS_ARCH_UMT5,      ds__t5_forward_io },
    { DS_ARCH_WAN_DIT,   ds__wan_dit_forward_io },
    { DS_ARCH_WAN_VAE,   ds__wan_vae_forward_io },
};

DS__DEF ds_result ds_forward(ds_ctx *ctx, const ds_weights *weights, const ds_weights *inputs, ds_outputs *out) {
    ds_arch_info ai; int i;
    if (!ctx || !weights || !inputs || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "forward: NULL argument");
    memset(out, 0, sizeof *out);
    if (ds_detect_arch(weights, &ai) != DS_SUCCESS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "forward: could not tell which model these weights are");
    for (i = 0; i < DS__ARRLEN(ds__forward_table); i++)
        if (ds__forward_table[i].arch == ai.arch) {
            ds_result r = ds__forward_table[i].fn(ctx, weights, &ai, inputs, out);
            if (r != DS_SUCCESS) ds_outputs_free(ctx, out);
            return r;
        }
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component %s is not supported yet", ai.name);
}

#if defined(__GNUC__)
#  pragma GCC diagnostic pop
#endif
#endif /* DS__IMPLEMENTED */
#endif /* DIFFSYNTH_IMPLEMENTATION */

/*
// >>license
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the diffsynth.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
------------------------------------------------------------------------------
*/
