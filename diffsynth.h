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
/* torch.randn(n, generator=torch.Generator(dev).manual_seed(seed)) in f32, from a fresh generator.

   CPU (aten/src/ATen/native/cpu/DistributionTemplates.h, normal_kernel):
   - mt19937 seeded with the low 32 bits of the seed (the standard init_genrand).
   - n >= 16: all n values are first drawn as float uniforms u = (r & 0xFFFFFF) * 2^-24 (one 32-bit
     draw each); each block of 16 is then Box-Muller'd in place, pairing j with j + 8 (j < 8):
     radius = sqrt(-2 log(1 - u[j])), theta = 2 pi u[j + 8], out[j] = radius cos, out[j + 8] = radius
     sin. When n % 16 != 0 the LAST 16 slots are drawn again (16 more uniforms) and transformed as
     one more block, overwriting the tail of the previous block. (The AVX2 build uses cephes-style
     log/sincos: it differs from libm by an ulp or so.)
   - n < 16: at::normal_distribution<double>, one value at a time: u1, u2 are 53-bit doubles from a
     64-bit draw (first 32-bit output in the high half), r = sqrt(-2 log1p(-u2)), theta = 2 pi u1;
     the value is r cos(theta) and r sin(theta) is cached for the next element.
   CUDA (aten/src/ATen/native/cuda/DistributionTemplates.h, distribution_nullary_kernel with
   curand_normal4, unroll 4):
   - grid-stride launch of 256-thread blocks; grid = min(ceil(n / 256), SMs x (max threads per SM /
     256)), so values depend on the GPU once n > 256 x that cap (H100/H200: 1056 blocks, A100: 864,
     RTX 4090: 768, RTX 3090: 492). stride S = 256 x grid.
   - thread t runs curand_init(seed, subsequence t, offset 0): Philox4x32-10 with key = seed and
     counter (c, 0, t) for its c-th curand_normal4 call. That call yields 4 values from one 128-bit
     block: Box-Muller on words (x, y) and (z, w): u = x 2^-32 + 2^-33, v = y 2^-32 2pi + 2^-32 pi,
     s = sqrt(-2 log u) -> (s sin v, s cos v). Element li takes thread li % S, call li / (4 S),
     component (li / S) % 4.
   - DS_RNG_CUDA_MAX_BLOCKS sets the cap (0 = no cap: every element is component 0 of its own
     thread, the convention of webui / stable-diffusion.cpp's "cuda" RNG, equal to torch on every
     GPU as long as n <= 256 x its cap). Tensors over 2^31 elements (split launches) are not exact. */
#ifndef DS_RNG_CUDA_MAX_BLOCKS
#define DS_RNG_CUDA_MAX_BLOCKS 0
#endif

typedef struct ds__mt19937 { uint32_t s[624]; int i; } ds__mt19937;
static void ds__mt_seed(ds__mt19937 *m, uint32_t seed) {
    int i;
    m->s[0] = seed;
    for (i = 1; i < 624; i++) m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}
static uint32_t ds__mt_next(ds__mt19937 *m) {
    uint32_t y;
    if (m->i >= 624) {
        int k;
        for (k = 0; k < 624; k++) {
            y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7FFFFFFFu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) ? 0x9908B0DFu : 0);
        }
        m->i = 0;
    }
    y = m->s[m->i++];
    y ^= y >> 11; y ^= (y << 7) & 0x9D2C5680u; y ^= (y << 15) & 0xEFC60000u; y ^= y >> 18;
    return y;
}
static float ds__mt_uniform_f(ds__mt19937 *m) { return (float)(ds__mt_next(m) & 0xFFFFFFu) * (1.0f / 16777216.0f); }
static double ds__mt_uniform_d(ds__mt19937 *m) {
    uint64_t hi = ds__mt_next(m), lo = ds__mt_next(m);
    return (double)(((hi << 32) | lo) & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
static void ds__randn_block16(float *d) {
    int j;
    for (j = 0; j < 8; j++) {
        float radius = sqrtf(-2.0f * logf(1.0f - d[j])), theta = (float)(6.283185307179586 * (double)d[j + 8]);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}
static void ds__randn_cpu(uint64_t seed, float *out, int64_t n) {
    ds__mt19937 *m = (ds__mt19937 *)DS_MALLOC(sizeof *m);   /* 2.5 KB: keep it off small stacks */
    int64_t i;
    ds__mt19937 local;
    if (!m) m = &local;
    ds__mt_seed(m, (uint32_t)seed);
    if (n >= 16) {
        for (i = 0; i < n; i++) out[i] = ds__mt_uniform_f(m);
        for (i = 0; i + 16 <= n; i += 16) ds__randn_block16(out + i);
        if (n % 16) {
            for (i = n - 16; i < n; i++) out[i] = ds__mt_uniform_f(m);
            ds__randn_block16(out + n - 16);
        }
    } else {
        double cached = 0; int have = 0;
        for (i = 0; i < n; i++) {
            if (have) { out[i] = (float)cached; have = 0; continue; }
            {
                double u1 = ds__mt_uniform_d(m), u2 = ds__mt_uniform_d(m);
                double r = sqrt(-2.0 * log1p(-u2)), theta = 2.0 * 3.14159265358979323846 * u1;
                cached = r * sin(theta); have = 1;
                out[i] = (float)(r * cos(theta));
            }
        }
    }
    if (m != &local) DS_FREE(m);
}

/* Philox4x32-10 of counter c[4] under key (k0, k1). */
static void ds__philox(uint32_t c[4], uint32_t k0, uint32_t k1) {
    int r;
    for (r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[1] = (uint32_t)p1; c[3] = (uint32_t)p0; c[0] = n0; c[2] = n2;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
}
static void ds__randn_cuda(uint64_t seed, float *out, int64_t n, int64_t max_blocks) {
    int64_t blocks = (n + 255) / 256, S, t;
    if (max_blocks > 0 && blocks > max_blocks) blocks = max_blocks;
    S = blocks * 256;
    for (t = 0; t < S && t < n; t++) {
        uint64_t call;
        for (call = 0; (int64_t)call * 4 * S + t < n; call++) {
            uint32_t c[4]; int k;
            c[0] = (uint32_t)call; c[1] = (uint32_t)(call >> 32); c[2] = (uint32_t)t; c[3] = (uint32_t)((uint64_t)t >> 32);
            ds__philox(c, (uint32_t)seed, (uint32_t)(seed >> 32));
            for (k = 0; k < 2; k++) {
                const float inv32 = 2.3283064e-10f, inv32_2pi = 2.3283064e-10f * 6.2831855f;
                float u = (float)c[2 * k] * inv32 + inv32 / 2.0f, v = (float)c[2 * k + 1] * inv32_2pi + inv32_2pi / 2.0f;
                float s = sqrtf(-2.0f * logf(u));
                int64_t li = (int64_t)call * 4 * S + (2 * k) * S + t;
                if (li < n) out[li] = s * sinf(v);
                if (li + S < n) out[li + S] = s * cosf(v);
            }
        }
    }
}

DS__DEF ds_result ds_randn(ds_rng_kind kind, uint64_t seed, float *out, int64_t n) {
    if (n < 0 || (n > 0 && !out)) return DS_ERR_INVALID_ARGS;
    if (kind == DS_RNG_CPU) ds__randn_cpu(seed, out, n);
    else if (kind == DS_RNG_CUDA) ds__randn_cuda(seed, out, n, DS_RNG_CUDA_MAX_BLOCKS);
    else return DS_ERR_INVALID_ARGS;
    return DS_SUCCESS;
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
/* GGUF v2/v3 (ggml's container; city96's FLUX/Wan GGUFs, llama.cpp text encoders).
     "GGUF" u32 version, i64 n_tensors, i64 n_kv,
     n_kv x (string key, u32 type, value),                    string = u64 length + bytes
     n_tensors x (string name, u32 n_dims, i64 ne[n_dims], u32 ggml type, u64 offset),
     zero padding to `general.alignment` (default 32), data; offsets are relative to the data.
   ne[0] is the fastest axis: shapes are reversed into PyTorch order here. ggml allows 4 dims;
   city96's Wan GGUFs re-add the Conv3d `patch_embedding.weight` as an F32 tensor with 5, which is
   read as is (DS_MAX_DIMS = 8). Everything read from the file is bounds-checked before use. */
enum { DS__GGUF_U8, DS__GGUF_I8, DS__GGUF_U16, DS__GGUF_I16, DS__GGUF_U32, DS__GGUF_I32, DS__GGUF_F32, DS__GGUF_BOOL,
       DS__GGUF_STR, DS__GGUF_ARR, DS__GGUF_U64, DS__GGUF_I64, DS__GGUF_F64, DS__GGUF_NTYPES };
static const char *const ds__gguf_vt_names[DS__GGUF_NTYPES] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
static const int ds__gguf_vt_size[DS__GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};   /* least bytes of one value */

/* ggml type ids (gguf-py GGMLQuantizationType); dt -1: a ggml type this library does not compute with. */
static const struct { uint32_t id; int dt; const char *name; } ds__gguf_types[] = {
    {0, DS_F32, "F32"}, {1, DS_F16, "F16"}, {2, DS_Q4_0, "Q4_0"}, {3, DS_Q4_1, "Q4_1"}, {6, DS_Q5_0, "Q5_0"},
    {7, DS_Q5_1, "Q5_1"}, {8, DS_Q8_0, "Q8_0"}, {9, DS_Q8_1, "Q8_1"}, {10, DS_Q2_K, "Q2_K"}, {11, DS_Q3_K, "Q3_K"},
    {12, DS_Q4_K, "Q4_K"}, {13, DS_Q5_K, "Q5_K"}, {14, DS_Q6_K, "Q6_K"}, {15, DS_Q8_K, "Q8_K"}, {16, -1, "IQ2_XXS"},
    {17, -1, "IQ2_XS"}, {18, -1, "IQ3_XXS"}, {19, -1, "IQ1_S"}, {20, DS_IQ4_NL, "IQ4_NL"}, {21, -1, "IQ3_S"},
    {22, -1, "IQ2_S"}, {23, DS_IQ4_XS, "IQ4_XS"}, {24, DS_I8, "I8"}, {25, DS_I16, "I16"}, {26, DS_I32, "I32"},
    {27, DS_I64, "I64"}, {28, DS_F64, "F64"}, {29, -1, "IQ1_M"}, {30, DS_BF16, "BF16"}, {34, -1, "TQ1_0"},
    {35, -1, "TQ2_0"}, {39, -1, "MXFP4"},
};

/* Names must be unique within a file too (a duplicate would shadow the other). */
static ds_result ds__weights_check_unique(ds_weights *w, int64_t from, const char *path) {
    int64_t cap = 64, i, *tab; ds_result r = DS_SUCCESS;
    while (cap < (w->n - from) * 2) cap *= 2;
    tab = (int64_t *)ds__calloc(w->ctx, (size_t)cap * sizeof *tab);
    if (!tab) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "tensor index");
    for (i = from; i < w->n && r == DS_SUCCESS; i++) {
        uint64_t h = ds__hash_str(w->ents[i].t.name) & (uint64_t)(cap - 1);
        while (tab[h] && r == DS_SUCCESS) {
            if (strcmp(w->ents[tab[h] - 1].t.name, w->ents[i].t.name) == 0) r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%s' appears twice", path, w->ents[i].t.name);
            h = (h + 1) & (uint64_t)(cap - 1);
        }
        tab[h] = i + 1;
    }
    ds__free(w->ctx, tab);
    return r;
}

/* little-endian reads (GGUF here, zip in >>pth) */
static uint32_t ds__rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t ds__rd32(const uint8_t *p) { return ds__rd16(p) | ds__rd16(p + 2) << 16; }
static uint64_t ds__rd64(const uint8_t *p) { return (uint64_t)ds__rd32(p) | (uint64_t)ds__rd32(p + 4) << 32; }

/* The kernels read elements in place, so a tensor must start at a multiple of its element's
   alignment (ggml blocks: 2, for their f16 scales). torch.save and GGUF writers align far more. */
static uint64_t ds__dtype_align(ds_dtype dt) {
    size_t b = ds__traits[dt].bytes;
    if (ds__traits[dt].is_quant) return 2;
    return b >= 8 ? 8 : b;
}

typedef struct ds__gg { const uint8_t *p, *end; } ds__gg;
static int ds__gg_take(ds__gg *g, uint64_t n, const uint8_t **at) {
    if ((uint64_t)(g->end - g->p) < n) return 0;
    *at = g->p; g->p += n; return 1;
}
static int ds__gg_u32(ds__gg *g, uint32_t *v) { const uint8_t *a; if (!ds__gg_take(g, 4, &a)) return 0; *v = ds__rd32(a); return 1; }
static int ds__gg_u64(ds__gg *g, uint64_t *v) { const uint8_t *a; if (!ds__gg_take(g, 8, &a)) return 0; *v = ds__rd64(a); return 1; }
static int ds__gg_str(ds__gg *g, const char **s, uint64_t *n) {
    const uint8_t *a;
    if (!ds__gg_u64(g, n) || !ds__gg_take(g, *n, &a)) return 0;
    *s = (const char *)a; return 1;
}

/* Read one scalar of type t as text (and as an integer in *iv when it is one). */
static int ds__gg_scalar(ds__gg *g, uint32_t t, char *out, size_t cap, int64_t *iv, int *is_int) {
    const uint8_t *a; uint32_t u; float f; double d; int64_t i = 0;
    *is_int = 0;
    if (!ds__gg_take(g, (uint64_t)ds__gguf_vt_size[t], &a)) return 0;
    switch (t) {
    case DS__GGUF_U8: i = a[0]; *is_int = 1; break;
    case DS__GGUF_I8: i = (int8_t)a[0]; *is_int = 1; break;
    case DS__GGUF_U16: i = ds__rd16(a); *is_int = 1; break;
    case DS__GGUF_I16: i = (int16_t)ds__rd16(a); *is_int = 1; break;
    case DS__GGUF_U32: i = ds__rd32(a); *is_int = 1; break;
    case DS__GGUF_I32: i = (int32_t)ds__rd32(a); *is_int = 1; break;
    case DS__GGUF_U64: snprintf(out, cap, "%llu", (unsigned long long)ds__rd64(a)); i = (int64_t)(ds__rd64(a) & INT64_MAX); *iv = i; *is_int = ds__rd64(a) <= (uint64_t)INT64_MAX; return 1;
    case DS__GGUF_I64: { uint64_t x = ds__rd64(a); memcpy(&i, &x, 8); *is_int = 1; break; }
    case DS__GGUF_F32: u = ds__rd32(a); memcpy(&f, &u, 4); snprintf(out, cap, "%.9g", (double)f); return 1;
    case DS__GGUF_F64: { uint64_t x = ds__rd64(a); memcpy(&d, &x, 8); snprintf(out, cap, "%.17g", d); return 1; }
    case DS__GGUF_BOOL: snprintf(out, cap, "%s", a[0] ? "true" : "false"); return 1;
    default: return 0;
    }
    *iv = i;
    snprintf(out, cap, "%lld", (long long)i);
    return 1;
}

/* Parse one value of type t. Scalars and strings come back as text; an array of up to 16 scalars
   as "[a,b,...]", longer ones (tokenizer vocabularies) as "[N x type]". */
static ds_result ds__gguf_value(ds_weights *w, const char *path, ds__gg *g, uint32_t t, int depth,
                                char *out, size_t cap, const char **sp, uint64_t *sn, int64_t *iv, int *is_int) {
    *sp = NULL; *is_int = 0;
    if (t >= DS__GGUF_NTYPES) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: unknown GGUF value type %u", path, t);
    if (t == DS__GGUF_STR) {
        if (!ds__gg_str(g, sp, sn)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: truncated string value", path);
        return DS_SUCCESS;
    }
    if (t == DS__GGUF_ARR) {
        uint32_t et; uint64_t n, i; size_t len; int small;
        if (depth > 3) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: arrays nested too deeply", path);
        if (!ds__gg_u32(g, &et) || !ds__gg_u64(g, &n)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: truncated array", path);
        if (et >= DS__GGUF_NTYPES) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: unknown GGUF array element type %u", path, et);
        if (n > (uint64_t)(g->end - g->p) / (uint64_t)ds__gguf_vt_size[et])
            return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: array of %llu %s does not fit the file", path, (unsigned long long)n, ds__gguf_vt_names[et]);
        small = n <= 16 && et != DS__GGUF_ARR && et != DS__GGUF_STR;
        if (!small) snprintf(out, cap, "[%llu x %s]", (unsigned long long)n, ds__gguf_vt_names[et]);
        else snprintf(out, cap, "[");
        if (!small && et != DS__GGUF_ARR && et != DS__GGUF_STR) { g->p += n * (uint64_t)ds__gguf_vt_size[et]; return DS_SUCCESS; }
        for (i = 0; i < n; i++) {
            char item[64]; const char *s; uint64_t sl; int64_t x; int xi;
            DS__TRY(ds__gguf_value(w, path, g, et, depth + 1, item, sizeof item, &s, &sl, &x, &xi));
            len = strlen(out);
            if (small) snprintf(out + len, cap - len, "%s%s", i ? "," : "", item);
        }
        if (small) { len = strlen(out); snprintf(out + len, cap - len, "]"); }
        return DS_SUCCESS;
    }
    if (!ds__gg_scalar(g, t, out, cap, iv, is_int)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: truncated %s value", path, ds__gguf_vt_names[t]);
    return DS_SUCCESS;
}

typedef struct ds__gguf_ti { const char *name; uint64_t name_len, off; uint32_t n_dims, type; int64_t ne[DS_MAX_DIMS]; } ds__gguf_ti;

static ds_result ds__gguf_load(ds_weights *w, int file) {
    const ds__file *f = &w->files[file];
    const char *path = f->path;
    ds__gg g; uint32_t version; uint64_t n_t, n_kv, i, align = 32, base;
    ds__gguf_ti *ti = NULL; int64_t n_before = w->n; ds_result r = DS_SUCCESS;
    g.p = f->map.data; g.end = f->map.data + f->map.size;
    g.p += 4;   /* "GGUF", checked by the sniffer */
    if (!ds__gg_u32(&g, &version) || !ds__gg_u64(&g, &n_t) || !ds__gg_u64(&g, &n_kv)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: truncated GGUF header", path);
    if ((version & 0xFFFF) == 0) return ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: GGUF of the other byte order (version 0x%08x)", path, version);
    if (version < 2 || version > 3) return ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: GGUF version %u (2 and 3 are read)", path, version);
    if (n_kv > (uint64_t)(g.end - g.p) / 13 || n_t > (uint64_t)(g.end - g.p) / 24)   /* least bytes per key-value / tensor record */
        return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: %llu tensors and %llu keys cannot fit a %llu-byte file", path,
                       (unsigned long long)n_t, (unsigned long long)n_kv, (unsigned long long)f->map.size);
    for (i = 0; i < n_kv; i++) {
        const char *k, *s; uint64_t kn, sn; uint32_t t; char txt[512]; int64_t iv = 0; int is_int;
        if (!ds__gg_str(&g, &k, &kn) || !ds__gg_u32(&g, &t)) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: key %llu is truncated", path, (unsigned long long)i);
        if (kn == 0 || kn > 65535) return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: key %llu has length %llu", path, (unsigned long long)i, (unsigned long long)kn);
        txt[0] = 0;
        DS__TRY(ds__gguf_value(w, path, &g, t, 0, txt, sizeof txt, &s, &sn, &iv, &is_int));
        if (kn == 17 && !memcmp(k, "general.alignment", 17)) {
            if (!is_int || iv <= 0 || iv > (1 << 30) || (iv & (iv - 1)))
                return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: general.alignment %s is not a power of two", path, txt);
            align = (uint64_t)iv;
        }
        if (s ? ds__weights_meta_push(w, k, (size_t)kn, s, (size_t)sn) : ds__weights_meta_push(w, k, (size_t)kn, txt, strlen(txt)))
            return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "%s: metadata", path);
    }
    ti = (ds__gguf_ti *)ds__calloc(w->ctx, (size_t)(n_t ? n_t : 1) * sizeof *ti);
    if (!ti) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "%s: %llu tensor records", path, (unsigned long long)n_t);
    for (i = 0; i < n_t; i++) {
        uint32_t d;
        if (!ds__gg_str(&g, &ti[i].name, &ti[i].name_len) || !ds__gg_u32(&g, &ti[i].n_dims)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor record %llu is truncated", path, (unsigned long long)i); goto out; }
        if (ti[i].name_len == 0 || ti[i].name_len > 4096) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor %llu has a name of %llu bytes", path, (unsigned long long)i, (unsigned long long)ti[i].name_len); goto out; }
        if (ti[i].n_dims > DS_MAX_DIMS) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' has %u dims (max %d)", path, (int)ti[i].name_len, ti[i].name, ti[i].n_dims, DS_MAX_DIMS); goto out; }
        for (d = 0; d < ti[i].n_dims; d++) {
            uint64_t v;
            if (!ds__gg_u64(&g, &v)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' is truncated", path, (int)ti[i].name_len, ti[i].name); goto out; }
            if (v > (uint64_t)INT64_MAX) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' has a negative dimension", path, (int)ti[i].name_len, ti[i].name); goto out; }
            ti[i].ne[d] = (int64_t)v;
        }
        if (!ds__gg_u32(&g, &ti[i].type) || !ds__gg_u64(&g, &ti[i].off)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s' is truncated", path, (int)ti[i].name_len, ti[i].name); goto out; }
    }
    base = (uint64_t)(g.p - f->map.data);
    base = (base + align - 1) / align * align;
    for (i = 0; i < n_t; i++) {
        int k, dt = -2; int64_t shape[DS_MAX_DIMS], numel = 1; uint64_t abs0, nb; uint32_t d;
        const char *tn = ti[i].name; int tl = (int)ti[i].name_len;
        for (k = 0; k < DS__ARRLEN(ds__gguf_types); k++) if (ds__gguf_types[k].id == ti[i].type) { dt = ds__gguf_types[k].dt; break; }
        if (dt == -2) { r = ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: tensor '%.*s' has unknown ggml type %u", path, tl, tn, ti[i].type); goto out; }
        if (dt == -1) { r = ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: tensor '%.*s' is %s, a ggml type this library does not support", path, tl, tn, ds__gguf_types[k].name); goto out; }
        for (d = 0; d < ti[i].n_dims; d++) {
            uint64_t m;
            shape[ti[i].n_dims - 1 - d] = ti[i].ne[d];
            if (!ds__mul_ok((uint64_t)numel, (uint64_t)ti[i].ne[d], &m) || m > (uint64_t)INT64_MAX) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s': element count overflows", path, tl, tn); goto out; }
            numel = (int64_t)m;
        }
        if (ti[i].n_dims && ti[i].ne[0] % ds__traits[dt].block) {   /* rows are whole blocks */
            r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s': row of %lld is not a multiple of the %s block (%lld)", path, tl, tn,
                        (long long)ti[i].ne[0], ds__traits[dt].name, (long long)ds__traits[dt].block);
            goto out;
        }
        if (ti[i].off % align) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s': offset %llu is not aligned to %llu", path, tl, tn, (unsigned long long)ti[i].off, (unsigned long long)align); goto out; }
        nb = ds__dtype_nbytes((ds_dtype)dt, numel);
        if (!ds__add_ok(base, ti[i].off, &abs0)) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor '%.*s': offset overflows", path, tl, tn); goto out; }
        if (abs0 % ds__dtype_align((ds_dtype)dt)) { r = ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: tensor '%.*s' at file offset %llu is not aligned for %s", path, tl, tn, (unsigned long long)abs0, ds__traits[dt].name); goto out; }
        r = ds__weights_push(w, file, tn, (size_t)tl, (ds_dtype)dt, (int)ti[i].n_dims, shape, abs0, nb);
        if (r != DS_SUCCESS) goto out;
    }
    r = ds__weights_check_unique(w, n_before, path);
out:
    ds__free(w->ctx, ti);
    return r;
}

/* --- GGUF writer (v3, alignment 32), streaming one tensor at a time ----------------------
   begin() writes the header and every tensor record (offsets follow from the shapes), then
   tensor() appends the data of the next tensor in order, end() makes the file appear whole.
   For the quantize tool: a tensor can be produced, written and freed before the next. */
typedef struct ds__gguf_kv { const char *key; int type; const char *str; int64_t i; double f; } ds__gguf_kv;   /* type: DS__GGUF_* scalar or STR */
typedef struct ds__gguf_writer {
    ds_ctx *ctx; FILE *fp; char path[4096], tmp[4100];
    const ds_write_tensor *t; int n, next; uint64_t pos;
    ds_result r;
} ds__gguf_writer;

static void ds__gguf_put(ds__gguf_writer *g, const void *p, uint64_t n) {
    if (g->r == DS_SUCCESS && n && fwrite(p, 1, (size_t)n, g->fp) != n) g->r = ds__err(g->ctx, DS_ERR_IO, "%s: write failed", g->tmp);
    g->pos += n;
}
static void ds__gguf_put_u(ds__gguf_writer *g, uint64_t v, int bytes) {
    uint8_t b[8]; int i;
    for (i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
    ds__gguf_put(g, b, (uint64_t)bytes);
}
static void ds__gguf_put_str(ds__gguf_writer *g, const char *s) { ds__gguf_put_u(g, strlen(s), 8); ds__gguf_put(g, s, strlen(s)); }
static void ds__gguf_pad(ds__gguf_writer *g) { static const uint8_t z[32] = {0}; ds__gguf_put(g, z, (32 - g->pos % 32) % 32); }
static int ds__gguf_type_of(ds_dtype dt) {
    int k;
    for (k = 0; k < DS__ARRLEN(ds__gguf_types); k++) if (ds__gguf_types[k].dt == (int)dt) return (int)ds__gguf_types[k].id;
    return -1;
}

static ds_result ds__gguf_write_begin(ds_ctx *ctx, ds__gguf_writer *g, const char *path, const ds__gguf_kv *kv, int n_kv, const ds_write_tensor *t, int n) {
    int i, d; uint64_t off = 0;
    memset(g, 0, sizeof *g);
    g->ctx = ctx; g->t = t; g->n = n;
    if (!path || n < 0 || (n && !t) || n_kv < 0 || (n_kv && !kv) || strlen(path) >= sizeof g->path) return ds__err(ctx, DS_ERR_INVALID_ARGS, "gguf_write: bad arguments");
    for (i = 0; i < n; i++) {
        int64_t numel = 1;
        if (ds__gguf_type_of(t[i].dtype) < 0) return ds__err(ctx, DS_ERR_UNSUPPORTED, "GGUF cannot hold %s (%s)", ds_dtype_name(t[i].dtype), t[i].name);
        if (t[i].ndim < 0 || t[i].ndim > DS_MAX_DIMS) return ds__err(ctx, DS_ERR_INVALID_ARGS, "%s: %d dims", t[i].name, t[i].ndim);
        for (d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        if (t[i].ndim && t[i].shape[t[i].ndim - 1] % ds__traits[t[i].dtype].block)
            return ds__err(ctx, DS_ERR_SHAPE, "%s: row of %lld is not a multiple of the %s block", t[i].name, (long long)t[i].shape[t[i].ndim - 1], ds_dtype_name(t[i].dtype));
        DS__UNUSED(numel);
    }
    memcpy(g->path, path, strlen(path) + 1);
    snprintf(g->tmp, sizeof g->tmp, "%s.tmp", path);
    g->fp = fopen(g->tmp, "wb");
    if (!g->fp) return ds__err(ctx, DS_ERR_IO, "%s: cannot create", g->tmp);
    ds__gguf_put(g, "GGUF", 4); ds__gguf_put_u(g, 3, 4); ds__gguf_put_u(g, (uint64_t)n, 8); ds__gguf_put_u(g, (uint64_t)n_kv, 8);
    for (i = 0; i < n_kv; i++) {
        int ty = kv[i].type;
        ds__gguf_put_str(g, kv[i].key); ds__gguf_put_u(g, (uint64_t)ty, 4);
        if (ty == DS__GGUF_STR) ds__gguf_put_str(g, kv[i].str ? kv[i].str : "");
        else if (ty == DS__GGUF_F32) { float f = (float)kv[i].f; uint32_t u; memcpy(&u, &f, 4); ds__gguf_put_u(g, u, 4); }
        else if (ty == DS__GGUF_F64) { uint64_t u; memcpy(&u, &kv[i].f, 8); ds__gguf_put_u(g, u, 8); }
        else if (ty >= 0 && ty < DS__GGUF_NTYPES && ty != DS__GGUF_ARR) ds__gguf_put_u(g, (uint64_t)kv[i].i, ds__gguf_vt_size[ty]);
        else { g->r = ds__err(ctx, DS_ERR_INVALID_ARGS, "gguf_write: key %s has type %d", kv[i].key, ty); break; }
    }
    for (i = 0; i < n; i++) {
        int64_t numel = 1;
        ds__gguf_put_str(g, t[i].name); ds__gguf_put_u(g, (uint64_t)t[i].ndim, 4);
        for (d = t[i].ndim - 1; d >= 0; d--) { ds__gguf_put_u(g, (uint64_t)t[i].shape[d], 8); numel *= t[i].shape[d]; }
        ds__gguf_put_u(g, (uint64_t)ds__gguf_type_of(t[i].dtype), 4); ds__gguf_put_u(g, off, 8);
        off += (ds__dtype_nbytes(t[i].dtype, numel) + 31) / 32 * 32;
    }
    ds__gguf_pad(g);
    if (g->r != DS_SUCCESS) { fclose(g->fp); g->fp = NULL; remove(g->tmp); }
    return g->r;
}
static ds_result ds__gguf_write_tensor(ds__gguf_writer *g, const void *data) {
    int64_t numel = 1; int d;
    if (!g->fp) return ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: not open");
    if (g->next >= g->n) { g->r = ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: more tensors than declared"); return g->r; }
    for (d = 0; d < g->t[g->next].ndim; d++) numel *= g->t[g->next].shape[d];
    ds__gguf_put(g, data, ds__dtype_nbytes(g->t[g->next].dtype, numel));
    ds__gguf_pad(g);
    g->next++;
    return g->r;
}
/* Close; the file appears at its path only if everything was written. */
static ds_result ds__gguf_write_end(ds__gguf_writer *g) {
    ds_result r = g->r;
    if (!g->fp) return r != DS_SUCCESS ? r : ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: not open");
    if (r == DS_SUCCESS && g->next != g->n) r = ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: %d of %d tensors written", g->next, g->n);
    if (fclose(g->fp) != 0 && r == DS_SUCCESS) r = ds__err(g->ctx, DS_ERR_IO, "%s: write failed", g->tmp);
    g->fp = NULL;
#if defined(_WIN32)
    if (r == DS_SUCCESS) remove(g->path);
#endif
    if (r == DS_SUCCESS && rename(g->tmp, g->path) != 0) r = ds__err(g->ctx, DS_ERR_IO, "%s: cannot rename into place", g->path);
    if (r != DS_SUCCESS) remove(g->tmp);
    return r;
}
/* All at once, from t[i].data. */
static ds_result ds__gguf_write(ds_ctx *ctx, const char *path, const ds__gguf_kv *kv, int n_kv, const ds_write_tensor *t, int n) {
    ds__gguf_writer g; int i;
    DS__TRY(ds__gguf_write_begin(ctx, &g, path, kv, n_kv, t, n));
    for (i = 0; i < n; i++) ds__gguf_write_tensor(&g, t[i].data);
    return ds__gguf_write_end(&g);
}

// >>pth
/* PyTorch zip checkpoints (torch.save since 1.6; .pth/.pt/.ckpt/.bin). The zip holds
   "<archive>/data.pkl" (a pickle, protocol 2) and one STORED entry "<archive>/data/<key>" per
   storage; tensors are mapped in place. The pickle is never executed: a small stack machine
   builds plain values and knows exactly the globals a state dict uses (tensor rebuild functions,
   storage classes, dtypes, OrderedDict). Any other global (os.system, builtins.eval ...) is an
   error that names it. Since torch 2.1, float8 tensors come as _rebuild_tensor_v3 over an
   UntypedStorage (sizes in bytes) with the dtype as a separate `torch.float8_e4m3fn` global. */

/* --- zip central directory -------------------------------------------------------------- */
typedef struct ds__zip_ent {
    const char *name; uint32_t name_len;
    uint64_t    off;       /* of the entry's data in the file */
    uint64_t    size;      /* uncompressed = stored size      */
    int         method;    /* 0 stored, 8 deflate ...         */
} ds__zip_ent;

/* Parse the central directory (zip64 aware) into ents[*n] (caller frees). */
static ds_result ds__zip_list(ds_ctx *ctx, const char *path, const uint8_t *d, uint64_t size, ds__zip_ent **out, int64_t *n_out) {
    uint64_t eocd = 0, cd_off, cd_size, n_ent, pos, i, lim;
    int found = 0;
    ds__zip_ent *ents;
    *out = NULL; *n_out = 0;
    if (size < 22) return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: too short for a zip file", path);
    lim = size - 22 > 65535 ? size - 22 - 65535 : 0;     /* the EOCD is followed by a comment <= 64 KiB */
    for (pos = size - 22 + 1; pos-- > lim;)
        if (ds__rd32(d + pos) == 0x06054b50u) { eocd = pos; found = 1; break; }
    if (!found) return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: no zip end-of-central-directory record (truncated?)", path);
    n_ent = ds__rd16(d + eocd + 10); cd_size = ds__rd32(d + eocd + 12); cd_off = ds__rd32(d + eocd + 16);
    if (n_ent == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {   /* zip64 */
        uint64_t z;
        if (eocd < 20 || ds__rd32(d + eocd - 20) != 0x07064b50u) return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: zip64 locator missing", path);
        z = ds__rd64(d + eocd - 20 + 8);
        if (size < 56 || z > size - 56 || ds__rd32(d + z) != 0x06064b50u) return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: bad zip64 end record offset %llu", path, (unsigned long long)z);
        n_ent = ds__rd64(d + z + 32); cd_size = ds__rd64(d + z + 40); cd_off = ds__rd64(d + z + 48);
    }
    if (cd_off > size || cd_size > size - cd_off || n_ent > cd_size / 46)
        return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: zip central directory (%llu entries at %llu, %llu bytes) lies outside the file", path,
                       (unsigned long long)n_ent, (unsigned long long)cd_off, (unsigned long long)cd_size);
    ents = (ds__zip_ent *)ds__calloc(ctx, (size_t)(n_ent ? n_ent : 1) * sizeof *ents);
    if (!ents) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: zip directory", path);
    for (pos = cd_off, i = 0; i < n_ent; i++) {
        const uint8_t *c = d + pos;
        uint64_t csize, usize, lho, end = cd_off + cd_size, x, data;
        uint32_t nl, el, cl;
        if (end - pos < 46 || ds__rd32(c) != 0x02014b50u) goto bad;
        nl = ds__rd16(c + 28); el = ds__rd16(c + 30); cl = ds__rd16(c + 32);
        if (end - pos - 46 < (uint64_t)nl + el + cl) goto bad;
        csize = ds__rd32(c + 20); usize = ds__rd32(c + 24); lho = ds__rd32(c + 42);
        for (x = 0; x + 4 <= el;) {            /* extra fields: zip64 sizes/offset (0x0001) */
            const uint8_t *e = c + 46 + nl + x;
            uint32_t id = ds__rd16(e), len = ds__rd16(e + 2), k = 4;
            if (x + 4 + len > el) goto bad;
            if (id == 1) {
                if (usize == 0xFFFFFFFFu) { if (k + 8 > 4 + len) goto bad; usize = ds__rd64(e + k); k += 8; }
                if (csize == 0xFFFFFFFFu) { if (k + 8 > 4 + len) goto bad; csize = ds__rd64(e + k); k += 8; }
                if (lho == 0xFFFFFFFFu)   { if (k + 8 > 4 + len) goto bad; lho = ds__rd64(e + k); }
            }
            x += 4 + len;
        }
        /* the data follows the local header, whose name/extra lengths may differ from the central copy */
        if (size < 30 || lho > size - 30 || ds__rd32(d + lho) != 0x04034b50u) goto bad;
        data = lho + 30 + ds__rd16(d + lho + 26) + ds__rd16(d + lho + 28);
        if (data > size || csize > size - data) goto bad;
        ents[i].name = (const char *)c + 46; ents[i].name_len = nl;
        ents[i].off = data; ents[i].size = ds__rd16(c + 10) == 0 ? csize : usize; ents[i].method = (int)ds__rd16(c + 10);
        if (ents[i].method == 0 && usize != csize) goto bad;
        pos += 46 + (uint64_t)nl + el + cl;
    }
    *out = ents; *n_out = (int64_t)n_ent;
    return DS_SUCCESS;
bad:
    ds__free(ctx, ents);
    return ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: zip directory entry %llu is malformed or points outside the file", path, (unsigned long long)i);
}

static const ds__zip_ent *ds__zip_find(const ds__zip_ent *e, int64_t n, const char *pre, size_t pre_len, const char *name, size_t name_len) {
    int64_t i;
    for (i = 0; i < n; i++)
        if (e[i].name_len == pre_len + name_len && memcmp(e[i].name, pre, pre_len) == 0 && memcmp(e[i].name + pre_len, name, name_len) == 0) return &e[i];
    return NULL;
}

/* --- restricted unpickler --------------------------------------------------------------- */
enum { DS__PK_NONE, DS__PK_BOOL, DS__PK_INT, DS__PK_FLOAT, DS__PK_STR, DS__PK_TUPLE, DS__PK_LIST, DS__PK_DICT,
       DS__PK_GLOBAL, DS__PK_STORAGE, DS__PK_TENSOR, DS__PK_MARK };
enum { DS__PG_ODICT, DS__PG_REBUILD, DS__PG_REBUILD_V2, DS__PG_REBUILD_V3, DS__PG_PARAM, DS__PG_STORAGE, DS__PG_DTYPE };

/* The whole allowlist. Storage classes carry their element type; dtype objects are plain data. */
static const struct { const char *mod, *name; int kind; ds_dtype dt; } ds__pth_globals[] = {
    {"collections", "OrderedDict", DS__PG_ODICT, DS_F32},
    {"torch._utils", "_rebuild_tensor", DS__PG_REBUILD, DS_F32},
    {"torch._utils", "_rebuild_tensor_v2", DS__PG_REBUILD_V2, DS_F32},
    {"torch._utils", "_rebuild_tensor_v3", DS__PG_REBUILD_V3, DS_F32},
    {"torch._utils", "_rebuild_parameter", DS__PG_PARAM, DS_F32},
    {"torch", "FloatStorage", DS__PG_STORAGE, DS_F32},     {"torch", "HalfStorage", DS__PG_STORAGE, DS_F16},
    {"torch", "BFloat16Storage", DS__PG_STORAGE, DS_BF16}, {"torch", "DoubleStorage", DS__PG_STORAGE, DS_F64},
    {"torch", "LongStorage", DS__PG_STORAGE, DS_I64},      {"torch", "IntStorage", DS__PG_STORAGE, DS_I32},
    {"torch", "ShortStorage", DS__PG_STORAGE, DS_I16},     {"torch", "CharStorage", DS__PG_STORAGE, DS_I8},
    {"torch", "ByteStorage", DS__PG_STORAGE, DS_U8},       {"torch", "BoolStorage", DS__PG_STORAGE, DS_BOOL},
    {"torch", "Float8_e4m3fnStorage", DS__PG_STORAGE, DS_F8_E4M3}, {"torch", "Float8_e5m2Storage", DS__PG_STORAGE, DS_F8_E5M2},
    {"torch.storage", "UntypedStorage", DS__PG_STORAGE, DS_U8},
    {"torch", "float32", DS__PG_DTYPE, DS_F32},   {"torch", "float16", DS__PG_DTYPE, DS_F16},
    {"torch", "bfloat16", DS__PG_DTYPE, DS_BF16}, {"torch", "float64", DS__PG_DTYPE, DS_F64},
    {"torch", "int64", DS__PG_DTYPE, DS_I64},     {"torch", "int32", DS__PG_DTYPE, DS_I32},
    {"torch", "int16", DS__PG_DTYPE, DS_I16},     {"torch", "int8", DS__PG_DTYPE, DS_I8},
    {"torch", "uint8", DS__PG_DTYPE, DS_U8},      {"torch", "bool", DS__PG_DTYPE, DS_BOOL},
    {"torch", "float8_e4m3fn", DS__PG_DTYPE, DS_F8_E4M3}, {"torch", "float8_e5m2", DS__PG_DTYPE, DS_F8_E5M2},
};

/* One pickle value. Containers are chains of cells (a dict alternates key, value); a tensor keeps
   its storage in `head`, its size and stride tuples in `tail` and `n`, its element offset in `i`. */
typedef struct ds__pk_val {
    int         type, sub;     /* sub: GLOBAL kind / STORAGE and TENSOR dtype */
    int64_t     i;             /* INT, BOOL; STORAGE: zip entry; TENSOR: offset; GLOBAL: table row */
    double      f;
    const char *s;             /* STR bytes (inside the mapped file, not NUL-terminated) */
    int64_t     n;             /* STR length; container item count; TENSOR stride tuple */
    int64_t     head, tail;    /* first/last cell; -1 = none */
} ds__pk_val;
typedef struct ds__pk_cell { int64_t val, next; } ds__pk_cell;

typedef struct ds__pk {
    ds_ctx *ctx; const char *path;
    const ds__zip_ent *zents; int64_t n_zents; const char *pre; size_t pre_len;
    ds__pk_val  *v;     int64_t nv, cv;
    ds__pk_cell *cell;  int64_t nc, cc;
    int64_t     *stack; int64_t ns, cs;
    int64_t     *marks; int64_t nm, cm;
    int64_t     *memo;  int64_t cmemo, nmemo;   /* value index + 1, 0 = unset; nmemo: slots set */
} ds__pk;

static int ds__pk_grow(ds__pk *u, void **p, int64_t *cap, int64_t need, size_t elem) {
    int64_t nc; void *np;
    if (need <= *cap) return 1;
    nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    if ((uint64_t)nc > (uint64_t)SIZE_MAX / elem) return 0;
    np = ds__calloc(u->ctx, (size_t)nc * elem);
    if (!np) return 0;
    if (*cap) memcpy(np, *p, (size_t)*cap * elem);
    ds__free(u->ctx, *p); *p = np; *cap = nc;
    return 1;
}
static int64_t ds__pk_new(ds__pk *u, int type) {
    ds__pk_val *x;
    if (!ds__pk_grow(u, (void **)&u->v, &u->cv, u->nv + 1, sizeof *u->v)) return -1;
    x = &u->v[u->nv]; memset(x, 0, sizeof *x);
    x->type = type; x->head = x->tail = -1;
    return u->nv++;
}
static int ds__pk_append(ds__pk *u, int64_t cont, int64_t val) {
    ds__pk_val *c = &u->v[cont];
    if (!ds__pk_grow(u, (void **)&u->cell, &u->cc, u->nc + 1, sizeof *u->cell)) return 0;
    u->cell[u->nc].val = val; u->cell[u->nc].next = -1;
    if (c->tail >= 0) u->cell[c->tail].next = u->nc; else c->head = u->nc;
    c->tail = u->nc++; c->n++;
    return 1;
}
static int ds__pk_push(ds__pk *u, int64_t val) {
    if (val < 0 || !ds__pk_grow(u, (void **)&u->stack, &u->cs, u->ns + 1, sizeof *u->stack)) return 0;
    u->stack[u->ns++] = val; return 1;
}
/* i-th item of a tuple/list (slow walk: tuples here have at most a handful of items) */
static int64_t ds__pk_item(const ds__pk *u, int64_t cont, int64_t i) {
    int64_t c = u->v[cont].head;
    while (c >= 0 && i-- > 0) c = u->cell[c].next;
    return c >= 0 ? u->cell[c].val : -1;
}

/* Where a tensor lives: checks dtype, contiguity and that it fits its storage. */
static ds_result ds__pth_tensor(ds__pk *u, int64_t tv, ds_dtype *dt, int *ndim, int64_t *shape, uint64_t *off, uint64_t *nbytes) {
    const ds__pk_val *t = &u->v[tv], *st = &u->v[t->head], *sz = &u->v[t->tail], *sd = &u->v[t->n];
    const ds__zip_ent *ze = &u->zents[st->i];
    int64_t numel = 1, expect = 1, i; uint64_t esz = ds__traits[t->sub].bytes, first, need, have;
    *dt = (ds_dtype)t->sub;
    if (sz->n > DS_MAX_DIMS || sz->n != sd->n) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor with %lld sizes and %lld strides", u->path, (long long)sz->n, (long long)sd->n);
    *ndim = (int)sz->n;
    for (i = 0; i < sz->n; i++) {
        const ds__pk_val *a = &u->v[ds__pk_item(u, t->tail, i)];
        uint64_t m;
        if (a->type != DS__PK_INT || a->i < 0 || !ds__mul_ok((uint64_t)numel, (uint64_t)a->i, &m) || m > (uint64_t)INT64_MAX / 16)
            return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor has a bad size", u->path);
        shape[i] = a->i; numel = (int64_t)m;
    }
    for (i = sz->n - 1; i >= 0; i--) {   /* row-major; a size-1 dimension may carry any stride */
        const ds__pk_val *b = &u->v[ds__pk_item(u, t->n, i)];
        if (b->type != DS__PK_INT) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor has a bad stride", u->path);
        if (shape[i] != 1 && b->i != expect && numel != 0)
            return ds__err(u->ctx, DS_ERR_UNSUPPORTED, "%s: non-contiguous tensor (dim %lld has stride %lld, expected %lld); save tensor.contiguous()",
                           u->path, (long long)i, (long long)b->i, (long long)expect);
        expect *= shape[i];
    }
    if (t->i < 0 || !ds__mul_ok((uint64_t)t->i, esz, &first) || !ds__mul_ok((uint64_t)numel, esz, &need) || !ds__add_ok(first, need, &have) || have > ze->size)
        return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor [offset %lld, %lld elements of %s] exceeds its storage '%.*s' (%llu bytes)", u->path,
                       (long long)t->i, (long long)numel, ds_dtype_name(*dt), (int)ze->name_len, ze->name, (unsigned long long)ze->size);
    *off = ze->off + first; *nbytes = need;
    if (*off % ds__dtype_align(*dt))   /* a zip re-packed without torch's 64-byte padding */
        return ds__err(u->ctx, DS_ERR_UNSUPPORTED, "%s: tensor data at file offset %llu is not aligned for %s; re-save the checkpoint with torch.save",
                       u->path, (unsigned long long)*off, ds_dtype_name(*dt));
    return DS_SUCCESS;
}

/* fn(*args) for an allowed callable global. */
static ds_result ds__pk_call(ds__pk *u, int64_t fn, int64_t args, int64_t *res) {
    const ds__pk_val *g = &u->v[fn], *a = &u->v[args];
    int kind = g->type == DS__PK_GLOBAL ? g->sub : -1;
    if (a->type != DS__PK_TUPLE) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: REDUCE arguments are not a tuple", u->path);
    if (kind == DS__PG_ODICT) { *res = ds__pk_new(u, DS__PK_DICT); return DS_SUCCESS; }   /* items follow as SETITEMS */
    if (kind == DS__PG_PARAM) {   /* _rebuild_parameter(data, requires_grad, hooks) is its data */
        if (a->n < 1 || u->v[ds__pk_item(u, args, 0)].type != DS__PK_TENSOR) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: bad _rebuild_parameter arguments", u->path);
        *res = ds__pk_item(u, args, 0); return DS_SUCCESS;
    }
    if (kind == DS__PG_REBUILD || kind == DS__PG_REBUILD_V2 || kind == DS__PG_REBUILD_V3) {
        /* (storage, storage_offset, size, stride, [requires_grad, hooks, [dtype (v3)], metadata]) */
        int64_t st, of, sz, sd, t;
        ds_dtype dt; int nd; int64_t shape[DS_MAX_DIMS]; uint64_t o, nb;
        if (a->n < (kind == DS__PG_REBUILD_V3 ? 7 : 4)) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor rebuild with %lld arguments", u->path, (long long)a->n);
        st = ds__pk_item(u, args, 0); of = ds__pk_item(u, args, 1); sz = ds__pk_item(u, args, 2); sd = ds__pk_item(u, args, 3);
        if (u->v[st].type != DS__PK_STORAGE || u->v[of].type != DS__PK_INT ||
            u->v[sz].type != DS__PK_TUPLE || u->v[sd].type != DS__PK_TUPLE)
            return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: bad tensor rebuild arguments", u->path);
        dt = (ds_dtype)u->v[st].sub;
        if (kind == DS__PG_REBUILD_V3) {
            const ds__pk_val *d = &u->v[ds__pk_item(u, args, 6)];
            if (d->type != DS__PK_GLOBAL || d->sub != DS__PG_DTYPE) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: _rebuild_tensor_v3 without a dtype", u->path);
            dt = ds__pth_globals[d->i].dt;
        }
        if ((t = ds__pk_new(u, DS__PK_TENSOR)) < 0) return DS_ERR_OUT_OF_MEMORY;
        u->v[t].sub = (int)dt; u->v[t].head = st; u->v[t].tail = sz; u->v[t].n = sd; u->v[t].i = u->v[of].i;
        DS__TRY(ds__pth_tensor(u, t, &dt, &nd, shape, &o, &nb));   /* fail early, with the right message */
        *res = t; return DS_SUCCESS;
    }
    return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: pickle calls a value that is not a callable global", u->path);
}

/* BINPERSID: ('storage', storage class, key, location, numel) -> the zip entry "<pre>data/<key>" */
static ds_result ds__pk_persid(ds__pk *u, int64_t pid, int64_t *res) {
    const ds__pk_val *t = &u->v[pid], *tag, *cls, *key;
    const ds__zip_ent *ze; char name[64]; int64_t s; ds_dtype dt;
    if (t->type != DS__PK_TUPLE || t->n < 3) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: bad persistent id", u->path);
    tag = &u->v[ds__pk_item(u, pid, 0)]; cls = &u->v[ds__pk_item(u, pid, 1)]; key = &u->v[ds__pk_item(u, pid, 2)];
    if (tag->type != DS__PK_STR || tag->n != 7 || memcmp(tag->s, "storage", 7) != 0 || cls->type != DS__PK_GLOBAL ||
        cls->sub != DS__PG_STORAGE || key->type != DS__PK_STR || key->n > 32)
        return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: persistent id is not a ('storage', class, key, ...) tuple", u->path);
    dt = ds__pth_globals[cls->i].dt;
    snprintf(name, sizeof name, "data/%.*s", (int)key->n, key->s);
    ze = ds__zip_find(u->zents, u->n_zents, u->pre, u->pre_len, name, strlen(name));
    if (!ze) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: storage '%.*s%s' is not in the archive", u->path, (int)u->pre_len, u->pre, name);
    if (ze->method != 0)
        return ds__err(u->ctx, DS_ERR_UNSUPPORTED, "%s: storage '%.*s%s' is compressed (zip method %d); only stored entries can be mapped: re-save it with torch.save",
                       u->path, (int)u->pre_len, u->pre, name, ze->method);
    if ((s = ds__pk_new(u, DS__PK_STORAGE)) < 0) return DS_ERR_OUT_OF_MEMORY;
    u->v[s].sub = (int)dt; u->v[s].i = ze - u->zents;
    *res = s; return DS_SUCCESS;
}

/* Run the pickle to its STOP; *root is the resulting value. */
static ds_result ds__pk_run(ds__pk *u, const uint8_t *p, uint64_t len, int64_t *root) {
    const uint8_t *end = p + len, *op0;
#define DS__PK_NEED(k) do { if ((uint64_t)(end - p) < (uint64_t)(k)) goto truncated; } while (0)
#define DS__PK_BASE (u->nm ? u->marks[u->nm - 1] : 0)   /* items below the last mark are out of reach */
#define DS__PK_POP(x) do { if (u->ns <= DS__PK_BASE) goto underflow; (x) = u->stack[--u->ns]; } while (0)
#define DS__PK_OOM(x) do { if (!(x)) return ds__err(u->ctx, DS_ERR_OUT_OF_MEMORY, "%s: unpickling", u->path); } while (0)
    while (p < end) {
        int op = *p++;
        int64_t a, b, c, x;
        uint64_t n;
        op0 = p - 1;
        switch (op) {
        case 0x80: DS__PK_NEED(1); if (*p > 5) return ds__err(u->ctx, DS_ERR_UNSUPPORTED, "%s: pickle protocol %d", u->path, *p); p++; break;  /* PROTO */
        case 0x95: DS__PK_NEED(8); p += 8; break;                                                         /* FRAME */
        case '.':  DS__PK_POP(*root); return DS_SUCCESS;                                                    /* STOP */
        case '(':  DS__PK_OOM(ds__pk_grow(u, (void **)&u->marks, &u->cm, u->nm + 1, sizeof *u->marks)); u->marks[u->nm++] = u->ns; break;
        case '}': case ']': case ')': case 0x8f:    /* EMPTY_DICT / LIST / TUPLE / SET */
            x = ds__pk_new(u, op == '}' ? DS__PK_DICT : op == ')' ? DS__PK_TUPLE : DS__PK_LIST);
            DS__PK_OOM(ds__pk_push(u, x)); break;
        case 't': case 'l': case 'd': case 0x91: {  /* TUPLE / LIST / DICT / FROZENSET from the last mark */
            int64_t m, k;
            if (!u->nm) goto badstack;
            m = u->marks[--u->nm];
            if (op == 'd' && (u->ns - m) % 2) goto badstack;
            DS__PK_OOM((x = ds__pk_new(u, op == 't' ? DS__PK_TUPLE : op == 'd' ? DS__PK_DICT : DS__PK_LIST)) >= 0);
            for (k = m; k < u->ns; k++) DS__PK_OOM(ds__pk_append(u, x, u->stack[k]));
            u->ns = m; DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 0x85: case 0x86: case 0x87: {         /* TUPLE1..3 */
            int64_t k = op - 0x84, m;
            if (u->ns - DS__PK_BASE < k) goto underflow;
            DS__PK_OOM((x = ds__pk_new(u, DS__PK_TUPLE)) >= 0);
            for (m = u->ns - k; m < u->ns; m++) DS__PK_OOM(ds__pk_append(u, x, u->stack[m]));
            u->ns -= k; DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 's': case 'a':                         /* SETITEM (dict, key, value) / APPEND (list, value) */
            c = -1;
            if (op == 's') DS__PK_POP(c);
            DS__PK_POP(b);
            if (u->ns <= DS__PK_BASE) goto underflow;
            a = u->stack[u->ns - 1];
            if (u->v[a].type != (op == 's' ? DS__PK_DICT : DS__PK_LIST)) goto badstack;
            DS__PK_OOM(ds__pk_append(u, a, b));
            if (op == 's') DS__PK_OOM(ds__pk_append(u, a, c));
            break;
        case 'u': case 'e': case 0x90: {            /* SETITEMS / APPENDS / ADDITEMS */
            int64_t m, k;
            if (!u->nm) goto badstack;
            m = u->marks[--u->nm];
            if (m <= DS__PK_BASE) goto underflow;
            a = u->stack[m - 1];
            if (u->v[a].type != (op == 'u' ? DS__PK_DICT : DS__PK_LIST) || (op == 'u' && (u->ns - m) % 2)) goto badstack;
            for (k = m; k < u->ns; k++) DS__PK_OOM(ds__pk_append(u, a, u->stack[k]));
            u->ns = m; break;
        }
        case 'X': case 0x8c: case 0x8d: case 'T': case 'U': case 'B': case 'C': case 0x8e: { /* (SHORT_)BINUNICODE(8), (SHORT_)BINSTRING, (SHORT_)BINBYTES(8) */
            int w = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            DS__PK_NEED(w);
            n = w == 1 ? p[0] : w == 4 ? ds__rd32(p) : ds__rd64(p);
            if (op == 'T' && (n & 0x80000000u)) goto truncated;   /* BINSTRING's length is signed */
            p += w; DS__PK_NEED(n);
            DS__PK_OOM((x = ds__pk_new(u, DS__PK_STR)) >= 0);
            u->v[x].s = (const char *)p; u->v[x].n = (int64_t)n; p += n;
            DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 'J': case 'K': case 'M': case 0x8a: {  /* BININT / BININT1 / BININT2 / LONG1 */
            int64_t v;
            if (op == 'J') { DS__PK_NEED(4); v = (int32_t)ds__rd32(p); p += 4; }
            else if (op == 'K') { DS__PK_NEED(1); v = *p++; }
            else if (op == 'M') { DS__PK_NEED(2); v = ds__rd16(p); p += 2; }
            else {                                  /* LONG1: n little-endian two's complement bytes */
                uint64_t r = 0; int k;
                DS__PK_NEED(1); n = *p++;
                if (n > 8) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: integer of %d bytes", u->path, (int)n);
                DS__PK_NEED(n);
                for (k = (int)n - 1; k >= 0; k--) r = (r << 8) | p[k];
                if (n && n < 8 && (p[n - 1] & 0x80)) r |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
                memcpy(&v, &r, 8); p += n;
            }
            DS__PK_OOM((x = ds__pk_new(u, DS__PK_INT)) >= 0);
            u->v[x].i = v; DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 'G': {                                 /* BINFLOAT: big-endian double */
            uint64_t r = 0; int k;
            DS__PK_NEED(8);
            for (k = 0; k < 8; k++) r = (r << 8) | p[k];
            p += 8;
            DS__PK_OOM((x = ds__pk_new(u, DS__PK_FLOAT)) >= 0);
            memcpy(&u->v[x].f, &r, 8); DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 'N': case 0x88: case 0x89:             /* NONE / NEWTRUE / NEWFALSE */
            DS__PK_OOM((x = ds__pk_new(u, op == 'N' ? DS__PK_NONE : DS__PK_BOOL)) >= 0);
            u->v[x].i = op == 0x88; DS__PK_OOM(ds__pk_push(u, x)); break;
        case 'q': case 'r': case 0x94:              /* BINPUT / LONG_BINPUT / MEMOIZE */
            if (op == 'q') { DS__PK_NEED(1); n = *p++; }
            else if (op == 'r') { DS__PK_NEED(4); n = ds__rd32(p); p += 4; }
            else n = 0;
            if (u->ns <= DS__PK_BASE) goto underflow;
            if (op == 0x94) n = (uint64_t)u->nmemo;            /* memo[len(memo)] */
            if (n >= len) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: memo index %llu out of range", u->path, (unsigned long long)n);
            DS__PK_OOM(ds__pk_grow(u, (void **)&u->memo, &u->cmemo, (int64_t)n + 1, sizeof *u->memo));
            if (!u->memo[n]) u->nmemo++;
            u->memo[n] = u->stack[u->ns - 1] + 1; break;
        case 'h': case 'j':                         /* BINGET / LONG_BINGET */
            if (op == 'h') { DS__PK_NEED(1); n = *p++; } else { DS__PK_NEED(4); n = ds__rd32(p); p += 4; }
            if (n >= (uint64_t)u->cmemo || !u->memo[n]) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: memo %llu used before it was set", u->path, (unsigned long long)n);
            DS__PK_OOM(ds__pk_push(u, u->memo[n] - 1)); break;
        case '0': DS__PK_POP(x); break;             /* POP */
        case '1': if (!u->nm) goto badstack; u->ns = u->marks[--u->nm]; break;   /* POP_MARK */
        case '2': if (u->ns <= DS__PK_BASE) goto underflow; DS__PK_OOM(ds__pk_push(u, u->stack[u->ns - 1])); break;   /* DUP */
        case 'c': case 0x93: {                      /* GLOBAL "module\nname\n" / STACK_GLOBAL */
            const char *mod, *name; size_t ml, nl; int k;
            if (op == 'c') {
                const uint8_t *e1 = (const uint8_t *)memchr(p, '\n', (size_t)(end - p)), *e2;
                if (!e1) goto truncated;
                e2 = (const uint8_t *)memchr(e1 + 1, '\n', (size_t)(end - e1 - 1));
                if (!e2) goto truncated;
                mod = (const char *)p; ml = (size_t)(e1 - p); name = (const char *)e1 + 1; nl = (size_t)(e2 - e1 - 1); p = e2 + 1;
            } else {
                DS__PK_POP(b); DS__PK_POP(a);
                if (u->v[a].type != DS__PK_STR || u->v[b].type != DS__PK_STR) goto badstack;
                mod = u->v[a].s; ml = (size_t)u->v[a].n; name = u->v[b].s; nl = (size_t)u->v[b].n;
            }
            for (k = 0; k < DS__ARRLEN(ds__pth_globals); k++)
                if (strlen(ds__pth_globals[k].mod) == ml && !memcmp(ds__pth_globals[k].mod, mod, ml) &&
                    strlen(ds__pth_globals[k].name) == nl && !memcmp(ds__pth_globals[k].name, name, nl)) break;
            if (k == DS__ARRLEN(ds__pth_globals))
                return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: pickle references %.*s.%.*s, which is not a tensor, storage or OrderedDict; refusing to load it (nothing was executed)",
                               u->path, (int)DS__MIN(ml, 200), mod, (int)DS__MIN(nl, 200), name);
            DS__PK_OOM((x = ds__pk_new(u, DS__PK_GLOBAL)) >= 0);
            u->v[x].sub = ds__pth_globals[k].kind; u->v[x].i = k;
            DS__PK_OOM(ds__pk_push(u, x)); break;
        }
        case 'R': case 0x81: {                      /* REDUCE f(*args) / NEWOBJ cls(*args) */
            int64_t r = -1;
            DS__PK_POP(b); DS__PK_POP(a);
            DS__TRY(ds__pk_call(u, a, b, &r));
            DS__PK_OOM(r >= 0 && ds__pk_push(u, r)); break;
        }
        case 'b':                                   /* BUILD: the state (e.g. a state dict's _metadata) is dropped */
            DS__PK_POP(b);
            if (u->ns <= DS__PK_BASE) goto underflow;
            if (u->v[u->stack[u->ns - 1]].type != DS__PK_DICT && u->v[u->stack[u->ns - 1]].type != DS__PK_TENSOR) goto badstack;
            break;
        case 'Q': {                                 /* BINPERSID */
            int64_t r = -1;
            DS__PK_POP(a);
            DS__TRY(ds__pk_persid(u, a, &r));
            DS__PK_OOM(ds__pk_push(u, r)); break;
        }
        default:
            return ds__err(u->ctx, DS_ERR_UNSUPPORTED, "%s: pickle opcode 0x%02x at byte %lld is not supported in a checkpoint", u->path, op, (long long)(op0 - (end - len)));
        }
    }
truncated:
    return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: pickle is truncated", u->path);
underflow:
badstack:
    return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: malformed pickle (stack error at byte %lld)", u->path, (long long)(p - 1 - (end - len)));
#undef DS__PK_NEED
#undef DS__PK_POP
#undef DS__PK_BASE
#undef DS__PK_OOM
}

/* Add the tensors of dict `dv` as "<prefix><key>", descending into nested dicts ("a.b.c").
   Other values (epochs, hyper-parameters, lists of optimizer state) are skipped. */
static ds_result ds__pth_flatten(ds__pk *u, ds_weights *w, int file, int64_t dv, char *name, size_t plen, int depth) {
    int64_t c;
    if (depth > 16) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: dictionaries nested too deeply", u->path);
    if (u->v[dv].sub) return DS_SUCCESS;   /* each dict once: a pickle can make a dict hold itself */
    u->v[dv].sub = 1;
    for (c = u->v[dv].head; c >= 0 && u->cell[c].next >= 0; c = u->cell[u->cell[c].next].next) {
        const ds__pk_val *k = &u->v[u->cell[c].val];
        int64_t val = u->cell[u->cell[c].next].val;
        size_t nl;
        if (k->type != DS__PK_STR) continue;
        if (plen + (size_t)k->n + 2 > 1024) return ds__err(u->ctx, DS_ERR_BAD_FORMAT, "%s: tensor name longer than 1024 bytes", u->path);
        memcpy(name + plen, k->s, (size_t)k->n); nl = plen + (size_t)k->n; name[nl] = 0;
        if (u->v[val].type == DS__PK_TENSOR) {
            ds_dtype dt; int nd; int64_t shape[DS_MAX_DIMS]; uint64_t off, nb;
            DS__TRY(ds__pth_tensor(u, val, &dt, &nd, shape, &off, &nb));
            DS__TRY(ds__weights_push(w, file, name, nl, dt, nd, shape, off, nb));
        } else if (u->v[val].type == DS__PK_DICT) {
            name[nl] = '.';
            DS__TRY(ds__pth_flatten(u, w, file, val, name, nl + 1, depth + 1));
        }
    }
    return DS_SUCCESS;
}

/* Training checkpoints wrap the weights: {"state_dict": {...}, "optimizer": ...}. Descend into
   the first such key while the dict holds no tensor of its own. */
static int64_t ds__pth_unwrap(const ds__pk *u, int64_t dv) {
    static const char *const wrap[] = {"state_dict", "model", "module", "model_state_dict", "generator"};
    int depth;
    for (depth = 0; depth < 4; depth++) {
        int64_t c, next = -1; int k, has_tensor = 0;
        for (c = u->v[dv].head; c >= 0 && u->cell[c].next >= 0; c = u->cell[u->cell[c].next].next)
            if (u->v[u->cell[u->cell[c].next].val].type == DS__PK_TENSOR) has_tensor = 1;
        if (has_tensor) break;
        for (k = 0; k < DS__ARRLEN(wrap) && next < 0; k++)
            for (c = u->v[dv].head; c >= 0 && u->cell[c].next >= 0; c = u->cell[u->cell[c].next].next) {
                const ds__pk_val *key = &u->v[u->cell[c].val];
                int64_t val = u->cell[u->cell[c].next].val;
                if (key->type == DS__PK_STR && (size_t)key->n == strlen(wrap[k]) && !memcmp(key->s, wrap[k], (size_t)key->n) &&
                    u->v[val].type == DS__PK_DICT) { next = val; break; }
            }
        if (next < 0) break;
        dv = next;
    }
    return dv;
}

static ds_result ds__pth_load(ds_weights *w, int file) {
    const ds__file *f = &w->files[file];
    ds__pk u; ds__zip_ent *ents = NULL; int64_t n_ents = 0, i, root = -1, n_before = w->n;
    const ds__zip_ent *pkl = NULL, *bo;
    ds_result r;
    char name[1024];
    memset(&u, 0, sizeof u);
    u.ctx = w->ctx; u.path = f->path;
    DS__TRY(ds__zip_list(w->ctx, f->path, f->map.data, f->map.size, &ents, &n_ents));
    for (i = 0; i < n_ents && !pkl; i++) {     /* "<archive>/data.pkl": the archive folder names the rest */
        const char *s = ents[i].name; uint32_t nl = ents[i].name_len;
        if (nl >= 8 && !memcmp(s + nl - 8, "data.pkl", 8) && (nl == 8 || (s[nl - 9] == '/' && memchr(s, '/', nl - 9) == NULL))) pkl = &ents[i];
    }
    if (!pkl) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: zip file without data.pkl: not a PyTorch checkpoint", f->path); goto out; }
    if (pkl->method != 0) { r = ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: data.pkl is compressed (zip method %d)", f->path, pkl->method); goto out; }
    u.zents = ents; u.n_zents = n_ents; u.pre = pkl->name; u.pre_len = pkl->name_len - 8;
    bo = ds__zip_find(ents, n_ents, u.pre, u.pre_len, "byteorder", 9);
    if (bo && bo->method == 0 && bo->size == 3 && !memcmp(f->map.data + bo->off, "big", 3)) {
        r = ds__err(w->ctx, DS_ERR_UNSUPPORTED, "%s: big-endian checkpoint", f->path); goto out;
    }
    r = ds__pk_run(&u, f->map.data + pkl->off, pkl->size, &root);
    if (r != DS_SUCCESS) goto out;
    if (u.v[root].type != DS__PK_DICT) { r = ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: the checkpoint is not a dictionary of tensors", f->path); goto out; }
    r = ds__pth_flatten(&u, w, file, ds__pth_unwrap(&u, root), name, 0, 0);
    if (r == DS_SUCCESS) r = ds__weights_check_unique(w, n_before, f->path);   /* {"a.b": t, "a": {"b": t}} */
out:
    ds__free(w->ctx, u.v); ds__free(w->ctx, u.cell); ds__free(w->ctx, u.stack); ds__free(w->ctx, u.marks); ds__free(w->ctx, u.memo);
    ds__free(w->ctx, ents);
    return r;
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
/* @@FLUX_VAE */
static ds_result ds__flux_vae_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    DS__UNUSED(w); DS__UNUSED(ai); DS__UNUSED(io); DS__UNUSED(out);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "component flux-vae is not supported yet");
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
