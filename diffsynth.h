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
/* Element types. One traits row per dtype is the only dispatch point: block geometry, a row
   dequantizer and a row quantizer. The ggml block types keep GGUF's byte layout bit for bit
   (facts: ggml-common.h / gguf-py quants.py); their f16 fields are raw bytes so a block may sit at
   any address (GGUF aligns to 32, a safetensors U8 tensor to nothing).

   Exactness: the dequantizers and the Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 quantizers reproduce gguf-py (numpy,
   which rounds every product before the following add) bit for bit, so a product that feeds an add
   goes through ds__mulr: a compiler contracting a*b+c into one FMA would change the last bit. The
   K-quant and IQ4 quantizers are searches of our own (least squares over trial scales, then the
   super-block scales rounded and every sub-block scale re-chosen among its neighbours). */
typedef struct ds__dtype_traits {
    const char *name;
    int64_t     block;        /* elements per block            */
    size_t      bytes;        /* bytes per block               */
    int         is_quant;
    /* dequantize n elements (n multiple of block) from src into dst */
    void      (*to_f32)(float *DS__RESTRICT dst, const void *DS__RESTRICT src, int64_t n);
    /* quantize n elements (n multiple of block); NULL for the integer types */
    void      (*from_f32)(void *DS__RESTRICT dst, const float *DS__RESTRICT src, int64_t n);
} ds__dtype_traits;

#define DS__QK   32     /* elements per legacy block      */
#define DS__QK_K 256    /* elements per K-quant super-block */

typedef struct ds__block_q4_0 { uint8_t d[2]; uint8_t qs[16]; } ds__block_q4_0;   /* x = d (q - 8)       */
typedef struct ds__block_q4_1 { uint8_t d[2], m[2]; uint8_t qs[16]; } ds__block_q4_1; /* x = d q + m     */
typedef struct ds__block_q5_0 { uint8_t d[2]; uint8_t qh[4]; uint8_t qs[16]; } ds__block_q5_0;  /* d (q - 16) */
typedef struct ds__block_q5_1 { uint8_t d[2], m[2]; uint8_t qh[4]; uint8_t qs[16]; } ds__block_q5_1;
typedef struct ds__block_q8_0 { uint8_t d[2]; int8_t qs[32]; } ds__block_q8_0;
typedef struct ds__block_q8_1 { uint8_t d[2], s[2]; int8_t qs[32]; } ds__block_q8_1;   /* s = d sum(q) */
typedef struct ds__block_q2_k { uint8_t scales[16]; uint8_t qs[64]; uint8_t d[2], dmin[2]; } ds__block_q2_k;
typedef struct ds__block_q3_k { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint8_t d[2]; } ds__block_q3_k;
typedef struct ds__block_q4_k { uint8_t d[2], dmin[2]; uint8_t scales[12]; uint8_t qs[128]; } ds__block_q4_k;
typedef struct ds__block_q5_k { uint8_t d[2], dmin[2]; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } ds__block_q5_k;
typedef struct ds__block_q6_k { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint8_t d[2]; } ds__block_q6_k;
typedef struct ds__block_q8_k { float d; int8_t qs[256]; int16_t bsums[16]; } ds__block_q8_k;  /* activations */
typedef struct ds__block_iq4_nl { uint8_t d[2]; uint8_t qs[16]; } ds__block_iq4_nl;
typedef struct ds__block_iq4_xs { uint8_t d[2]; uint8_t scales_h[2]; uint8_t scales_l[4]; uint8_t qs[128]; } ds__block_iq4_xs;

#define DS__STATIC_ASSERT(name, cond) typedef char ds__static_assert_##name[(cond) ? 1 : -1]
DS__STATIC_ASSERT(q4_0, sizeof(ds__block_q4_0) == 18);
DS__STATIC_ASSERT(q4_1, sizeof(ds__block_q4_1) == 20);
DS__STATIC_ASSERT(q5_0, sizeof(ds__block_q5_0) == 22);
DS__STATIC_ASSERT(q5_1, sizeof(ds__block_q5_1) == 24);
DS__STATIC_ASSERT(q8_0, sizeof(ds__block_q8_0) == 34);
DS__STATIC_ASSERT(q8_1, sizeof(ds__block_q8_1) == 36);
DS__STATIC_ASSERT(q2_k, sizeof(ds__block_q2_k) == 84);
DS__STATIC_ASSERT(q3_k, sizeof(ds__block_q3_k) == 110);
DS__STATIC_ASSERT(q4_k, sizeof(ds__block_q4_k) == 144);
DS__STATIC_ASSERT(q5_k, sizeof(ds__block_q5_k) == 176);
DS__STATIC_ASSERT(q6_k, sizeof(ds__block_q6_k) == 210);
DS__STATIC_ASSERT(q8_k, sizeof(ds__block_q8_k) == 292);
DS__STATIC_ASSERT(iq4_nl, sizeof(ds__block_iq4_nl) == 18);
DS__STATIC_ASSERT(iq4_xs, sizeof(ds__block_iq4_xs) == 136);

/* The IQ4 code book: a non-linear 4-bit grid, denser near zero. */
static const int8_t ds__iq4_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

static DS__INLINE float ds__half(const uint8_t *p) { return ds__f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
static DS__INLINE void ds__put_half(uint8_t *p, float f) { uint16_t h = ds__f32_to_f16(f); p[0] = (uint8_t)h; p[1] = (uint8_t)(h >> 8); }
/* a*b rounded to float on its own (see the note at the top of this section). */
static DS__INLINE float ds__mulr(float a, float b) { volatile float p = a * b; return p; }
/* Round to nearest, ties to even, for |f| < 2^22 (ggml's nearest_int). */
static DS__INLINE int ds__nearest_int(float f) {
    float v = f + 12582912.0f; int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}
static DS__INLINE int ds__clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* --- plain types --------------------------------------------------------------------- */
static void ds__f32_row(float *d, const void *s, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void ds__f16_row(float *d, const void *s, int64_t n) {
    const uint8_t *p = (const uint8_t *)s; int64_t i = 0;
#if defined(DS__HAS_F16C) && defined(DS__HAS_AVX2)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
#endif
    for (; i < n; i++) d[i] = ds__half(p + 2 * i);
}
static void ds__bf16_row(float *d, const void *s, int64_t n) {
    const uint8_t *p = (const uint8_t *)s; int64_t i = 0;
#if defined(DS__HAS_AVX2)
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
        _mm256_storeu_ps(d + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
#endif
    for (; i < n; i++) d[i] = ds__bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}
static void ds__f64_row(float *d, const void *s, int64_t n) { const double *p = (const double *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i64_row(float *d, const void *s, int64_t n) { const int64_t *p = (const int64_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i32_row(float *d, const void *s, int64_t n) { const int32_t *p = (const int32_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i16_row(float *d, const void *s, int64_t n) { const int16_t *p = (const int16_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__i8_row(float *d, const void *s, int64_t n) { const int8_t *p = (const int8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }
static void ds__u8_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = (float)p[i]; }

/* fp8 decode tables, built by the preprocessor: e4m3fn = (8+m) 2^e / 2^10 (e > 0), m 2^-9 (e = 0),
   S.1111.111 NaN; e5m2 = (4+m) 2^e / 2^17 (e > 0), m 2^-16 (e = 0), e = 31 inf/NaN. */
#define DS__E4M3(c) (((c) & 0x7F) == 0x7F ? NAN : ((c) & 0x80 ? -1.0f : 1.0f) * \
    (((c) >> 3 & 15) ? (float)(8 + ((c) & 7)) * (float)(1 << ((c) >> 3 & 15)) / 1024.0f : (float)((c) & 7) / 512.0f))
#define DS__E5M2(c) (((c) & 0x7C) == 0x7C ? (((c) & 3) ? NAN : ((c) & 0x80 ? -INFINITY : INFINITY)) : ((c) & 0x80 ? -1.0f : 1.0f) * \
    (((c) >> 2 & 31) ? (float)(4 + ((c) & 3)) * (float)(1LL << ((c) >> 2 & 31)) / 131072.0f : (float)((c) & 3) / 65536.0f))
#define DS__X4(F, c)   F(c), F((c) + 1), F((c) + 2), F((c) + 3)
#define DS__X16(F, c)  DS__X4(F, c), DS__X4(F, (c) + 4), DS__X4(F, (c) + 8), DS__X4(F, (c) + 12)
#define DS__X64(F, c)  DS__X16(F, c), DS__X16(F, (c) + 16), DS__X16(F, (c) + 32), DS__X16(F, (c) + 48)
#define DS__X256(F)    DS__X64(F, 0), DS__X64(F, 64), DS__X64(F, 128), DS__X64(F, 192)
static const float ds__e4m3_table[256] = { DS__X256(DS__E4M3) };
static const float ds__e5m2_table[256] = { DS__X256(DS__E5M2) };
static void ds__e4m3_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = ds__e4m3_table[p[i]]; }
static void ds__e5m2_row(float *d, const void *s, int64_t n) { const uint8_t *p = (const uint8_t *)s; int64_t i; for (i = 0; i < n; i++) d[i] = ds__e5m2_table[p[i]]; }

static void ds__f32_from(void *d, const float *s, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void ds__f16_from(void *d, const float *s, int64_t n) {
    uint8_t *p = (uint8_t *)d; int64_t i;
    for (i = 0; i < n; i++) ds__put_half(p + 2 * i, s[i]);
}
static void ds__bf16_from(void *d, const float *s, int64_t n) {
    uint8_t *p = (uint8_t *)d; int64_t i;
    for (i = 0; i < n; i++) { uint16_t h = ds__f32_to_bf16(s[i]); p[2 * i] = (uint8_t)h; p[2 * i + 1] = (uint8_t)(h >> 8); }
}
static void ds__f64_from(void *d, const float *s, int64_t n) { double *p = (double *)d; int64_t i; for (i = 0; i < n; i++) p[i] = s[i]; }
/* f32 -> narrow float with `mb` mantissa bits and exponent bias `bias`, round to nearest even.
   Returns the magnitude code; the caller handles sign, NaN and overflow. */
static DS__INLINE uint32_t ds__f32_to_small(float a, int mb, int bias) {
    uint32_t u;
    if (a < ldexpf(1.0f, 1 - bias)) {               /* subnormal in the target: a multiple of 2^(1-bias-mb) */
        float q = a * ldexpf(1.0f, bias - 1 + mb);  /* exact (power of two), q < 2^mb */
        return (uint32_t)ds__nearest_int(q);        /* 2^mb rounds up into the smallest normal: same code */
    }
    memcpy(&u, &a, 4);
    u += (1u << (22 - mb)) - 1 + ((u >> (23 - mb)) & 1);   /* round the dropped bits to nearest even */
    return ((((u >> 23) - 127 + (uint32_t)bias)) << mb) | ((u >> (23 - mb)) & ((1u << mb) - 1));
}
/* e4m3fn: saturates to +-448 (no infinities), NaN -> 0x7F. */
static void ds__e4m3_from(void *d, const float *s, int64_t n) {
    uint8_t *p = (uint8_t *)d; int64_t i;
    for (i = 0; i < n; i++) {
        float f = s[i], a = fabsf(f); uint8_t sign = (uint8_t)(signbit(f) ? 0x80 : 0);
        if (f != f) { p[i] = 0x7F; continue; }
        p[i] = (uint8_t)(sign | (a >= 448.0f ? 0x7E : ds__f32_to_small(a, 3, 7)));
    }
}
/* e5m2: IEEE-like, overflow -> inf, NaN -> 0x7E. */
static void ds__e5m2_from(void *d, const float *s, int64_t n) {
    uint8_t *p = (uint8_t *)d; int64_t i;
    for (i = 0; i < n; i++) {
        float f = s[i], a = fabsf(f); uint8_t sign = (uint8_t)(signbit(f) ? 0x80 : 0); uint32_t c;
        if (f != f) { p[i] = 0x7E; continue; }
        c = a >= 61440.0f ? 0x7C : ds__f32_to_small(a, 2, 15);   /* 61440: halfway from 57344 to 2^16 */
        p[i] = (uint8_t)(sign | c);
    }
}

/* --- legacy 32-element blocks: dequantize ------------------------------------------------ */
static void ds__q4_0_row(float *y, const void *src, int64_t n) {
    const ds__block_q4_0 *b = (const ds__block_q4_0 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) {
        float d = ds__half(b->d);
        for (j = 0; j < 16; j++) { y[j] = d * (float)((b->qs[j] & 15) - 8); y[j + 16] = d * (float)((b->qs[j] >> 4) - 8); }
    }
}
static void ds__q4_1_row(float *y, const void *src, int64_t n) {
    const ds__block_q4_1 *b = (const ds__block_q4_1 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) {
        float d = ds__half(b->d), m = ds__half(b->m);
        for (j = 0; j < 16; j++) { y[j] = ds__mulr(d, (float)(b->qs[j] & 15)) + m; y[j + 16] = ds__mulr(d, (float)(b->qs[j] >> 4)) + m; }
    }
}
static DS__INLINE uint32_t ds__le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void ds__q5_0_row(float *y, const void *src, int64_t n) {
    const ds__block_q5_0 *b = (const ds__block_q5_0 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) {
        float d = ds__half(b->d); uint32_t qh = ds__le32(b->qh);
        for (j = 0; j < 16; j++) {
            y[j]      = d * (float)((int)((b->qs[j] & 15) | ((qh >> j) & 1) << 4) - 16);
            y[j + 16] = d * (float)((int)((b->qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16);
        }
    }
}
static void ds__q5_1_row(float *y, const void *src, int64_t n) {
    const ds__block_q5_1 *b = (const ds__block_q5_1 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) {
        float d = ds__half(b->d), m = ds__half(b->m); uint32_t qh = ds__le32(b->qh);
        for (j = 0; j < 16; j++) {
            y[j]      = ds__mulr(d, (float)((b->qs[j] & 15) | ((qh >> j) & 1) << 4)) + m;
            y[j + 16] = ds__mulr(d, (float)((b->qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4)) + m;
        }
    }
}
static void ds__q8_0_row(float *y, const void *src, int64_t n) {
    const ds__block_q8_0 *b = (const ds__block_q8_0 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) { float d = ds__half(b->d); for (j = 0; j < 32; j++) y[j] = d * (float)b->qs[j]; }
}
static void ds__q8_1_row(float *y, const void *src, int64_t n) {
    const ds__block_q8_1 *b = (const ds__block_q8_1 *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) { float d = ds__half(b->d); for (j = 0; j < 32; j++) y[j] = d * (float)b->qs[j]; }
}
static void ds__iq4_nl_row(float *y, const void *src, int64_t n) {
    const ds__block_iq4_nl *b = (const ds__block_iq4_nl *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, y += DS__QK) {
        float d = ds__half(b->d);
        for (j = 0; j < 16; j++) { y[j] = d * (float)ds__iq4_values[b->qs[j] & 15]; y[j + 16] = d * (float)ds__iq4_values[b->qs[j] >> 4]; }
    }
}

/* --- K-quants: dequantize ------------------------------------------------------------------
   Q2_K/Q3_K index element e = 128h + 32j + 16s + l: the code is bits 2j of qs[32h + 16s + l], the
   scale that of sub-block 8h + 2j + s; Q3_K's third bit is bit 4h + j of hmask[16s + l] (clear:
   subtract 4). Q4_K/Q5_K: chunk c of 64 uses qs[32c + l], low nibble for 64c + l, high for
   64c + 32 + l; Q5_K's fifth bit is bit 2c (resp. 2c + 1) of qh[l]. */
static void ds__q2_k_row(float *y, const void *src, int64_t n) {
    const ds__block_q2_k *b = (const ds__block_q2_k *)src; int64_t i; int e;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d), dmin = ds__half(b->dmin);
        for (e = 0; e < 256; e++) {
            int h = e >> 7, j = (e >> 5) & 3, s = (e >> 4) & 1, l = e & 15, sc = b->scales[8 * h + 2 * j + s];
            int q = (b->qs[32 * h + 16 * s + l] >> (2 * j)) & 3;
            float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
            y[e] = ds__mulr(dl, (float)q) - ml;
        }
    }
}
/* 16 six-bit values from 12 bytes: low nibbles in b[0..7] (two per byte), high pairs in b[8..11]. */
static DS__INLINE int ds__q3_k_scale(const uint8_t *b, int i) {
    int lo = i < 8 ? b[i] & 15 : b[i - 8] >> 4, hi = (b[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (lo | hi << 4) - 32;
}
static void ds__q3_k_row(float *y, const void *src, int64_t n) {
    const ds__block_q3_k *b = (const ds__block_q3_k *)src; int64_t i; int e;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d);
        for (e = 0; e < 256; e++) {
            int h = e >> 7, j = (e >> 5) & 3, s = (e >> 4) & 1, l = e & 15;
            int q = ((b->qs[32 * h + 16 * s + l] >> (2 * j)) & 3) - (((b->hmask[16 * s + l] >> (4 * h + j)) & 1) ? 0 : 4);
            float dl = d * (float)ds__q3_k_scale(b->scales, 8 * h + 2 * j + s);
            y[e] = dl * (float)q;
        }
    }
}
/* Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from 12 bytes. */
static DS__INLINE void ds__k_scale_min(const uint8_t *b, int j, int *sc, int *m) {
    if (j < 4) { *sc = b[j] & 63; *m = b[j + 4] & 63; }
    else { *sc = (b[j + 4] & 15) | ((b[j - 4] >> 6) << 4); *m = (b[j + 4] >> 4) | ((b[j] >> 6) << 4); }
}
static void ds__q4_k_row(float *y, const void *src, int64_t n) {
    const ds__block_q4_k *b = (const ds__block_q4_k *)src; int64_t i; int c, l;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d), dmin = ds__half(b->dmin);
        for (c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1; float d0, m0f, d1, m1f;
            ds__k_scale_min(b->scales, 2 * c, &sc0, &m0); ds__k_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
            d0 = d * (float)sc0; m0f = dmin * (float)m0; d1 = d * (float)sc1; m1f = dmin * (float)m1;
            for (l = 0; l < 32; l++) {
                y[64 * c + l]      = ds__mulr(d0, (float)(b->qs[32 * c + l] & 15)) - m0f;
                y[64 * c + 32 + l] = ds__mulr(d1, (float)(b->qs[32 * c + l] >> 4)) - m1f;
            }
        }
    }
}
static void ds__q5_k_row(float *y, const void *src, int64_t n) {
    const ds__block_q5_k *b = (const ds__block_q5_k *)src; int64_t i; int c, l;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d), dmin = ds__half(b->dmin);
        for (c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1; float d0, m0f, d1, m1f;
            ds__k_scale_min(b->scales, 2 * c, &sc0, &m0); ds__k_scale_min(b->scales, 2 * c + 1, &sc1, &m1);
            d0 = d * (float)sc0; m0f = dmin * (float)m0; d1 = d * (float)sc1; m1f = dmin * (float)m1;
            for (l = 0; l < 32; l++) {
                int q0 = (b->qs[32 * c + l] & 15) | ((b->qh[l] >> (2 * c)) & 1) << 4;
                int q1 = (b->qs[32 * c + l] >> 4) | ((b->qh[l] >> (2 * c + 1)) & 1) << 4;
                y[64 * c + l]      = ds__mulr(d0, (float)q0) - m0f;
                y[64 * c + 32 + l] = ds__mulr(d1, (float)q1) - m1f;
            }
        }
    }
}
/* Q6_K: element e = 128h + 32k + l takes the nibble (k >> 1) of ql[64h + 32(k & 1) + l] and bits
   2k of qh[32h + l]; code - 32, scale of sub-block e / 16. */
static void ds__q6_k_row(float *y, const void *src, int64_t n) {
    const ds__block_q6_k *b = (const ds__block_q6_k *)src; int64_t i; int e;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d);
        for (e = 0; e < 256; e++) {
            int h = e >> 7, k = (e >> 5) & 3, l = e & 31;
            int q = ((b->ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 15) | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
            float dl = d * (float)b->scales[e >> 4];
            y[e] = dl * (float)(q - 32);
        }
    }
}
static void ds__q8_k_row(float *y, const void *src, int64_t n) {
    const uint8_t *p = (const uint8_t *)src; int64_t i; int j;
    for (i = 0; i < n / DS__QK_K; i++, p += sizeof(ds__block_q8_k), y += DS__QK_K) {
        float d; memcpy(&d, p, 4);                 /* the block may be unaligned: read d by bytes */
        for (j = 0; j < 256; j++) y[j] = d * (float)(int8_t)p[4 + j];
    }
}
static void ds__iq4_xs_row(float *y, const void *src, int64_t n) {
    const ds__block_iq4_xs *b = (const ds__block_iq4_xs *)src; int64_t i; int ib, j;
    for (i = 0; i < n / DS__QK_K; i++, b++, y += DS__QK_K) {
        float d = ds__half(b->d); int sh = b->scales_h[0] | b->scales_h[1] << 8;
        for (ib = 0; ib < 8; ib++) {
            int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((sh >> (2 * ib)) & 3) << 4;
            float dl = d * (float)(ls - 32);
            for (j = 0; j < 16; j++) {
                y[32 * ib + j]      = dl * (float)ds__iq4_values[b->qs[16 * ib + j] & 15];
                y[32 * ib + 16 + j] = dl * (float)ds__iq4_values[b->qs[16 * ib + j] >> 4];
            }
        }
    }
}

/* --- legacy 32-element blocks: quantize (ggml's reference rounding, bit for bit) ------------- */
static float ds__absmax_signed(const float *x, int n) {   /* the value of largest magnitude, first wins */
    float amax = 0, max = 0; int j;
    for (j = 0; j < n; j++) if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}
static void ds__q4_0_from(void *dst, const float *x, int64_t n) {
    ds__block_q4_0 *b = (ds__block_q4_0 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float d = ds__absmax_signed(x, 32) / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        ds__put_half(b->d, d);
        for (j = 0; j < 16; j++) {
            int q0 = DS__MIN(15, (int)(ds__mulr(x[j], id) + 8.5f)), q1 = DS__MIN(15, (int)(ds__mulr(x[j + 16], id) + 8.5f));
            b->qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}
static void ds__q4_1_from(void *dst, const float *x, int64_t n) {
    ds__block_q4_1 *b = (ds__block_q4_1 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float mn = x[0], mx = x[0], d, id;
        for (j = 1; j < 32; j++) { mn = DS__MIN(mn, x[j]); mx = DS__MAX(mx, x[j]); }
        d = (mx - mn) / 15.0f; id = d != 0 ? 1.0f / d : 0.0f;
        ds__put_half(b->d, d); ds__put_half(b->m, mn);
        for (j = 0; j < 16; j++) {
            int q0 = DS__MIN(15, (int)(ds__mulr(x[j] - mn, id) + 0.5f)), q1 = DS__MIN(15, (int)(ds__mulr(x[j + 16] - mn, id) + 0.5f));
            b->qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}
static void ds__q5_0_from(void *dst, const float *x, int64_t n) {
    ds__block_q5_0 *b = (ds__block_q5_0 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float d = ds__absmax_signed(x, 32) / -16.0f, id = d != 0 ? 1.0f / d : 0.0f; uint32_t qh = 0;
        ds__put_half(b->d, d);
        for (j = 0; j < 16; j++) {
            int q0 = DS__MIN(31, (int)(ds__mulr(x[j], id) + 16.5f)), q1 = DS__MIN(31, (int)(ds__mulr(x[j + 16], id) + 16.5f));
            b->qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (j = 0; j < 4; j++) b->qh[j] = (uint8_t)(qh >> (8 * j));
    }
}
static void ds__q5_1_from(void *dst, const float *x, int64_t n) {
    ds__block_q5_1 *b = (ds__block_q5_1 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float mn = x[0], mx = x[0], d, id; uint32_t qh = 0;
        for (j = 1; j < 32; j++) { mn = DS__MIN(mn, x[j]); mx = DS__MAX(mx, x[j]); }
        d = (mx - mn) / 31.0f; id = d != 0 ? 1.0f / d : 0.0f;
        ds__put_half(b->d, d); ds__put_half(b->m, mn);
        for (j = 0; j < 16; j++) {
            int q0 = DS__MIN(31, (int)(ds__mulr(x[j] - mn, id) + 0.5f)), q1 = DS__MIN(31, (int)(ds__mulr(x[j + 16] - mn, id) + 0.5f));
            b->qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        for (j = 0; j < 4; j++) b->qh[j] = (uint8_t)(qh >> (8 * j));
    }
}
static void ds__q8_0_from(void *dst, const float *x, int64_t n) {
    ds__block_q8_0 *b = (ds__block_q8_0 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float amax = 0, d, id;
        for (j = 0; j < 32; j++) amax = DS__MAX(amax, fabsf(x[j]));
        d = amax / 127.0f; id = d != 0 ? 1.0f / d : 0.0f;
        ds__put_half(b->d, d);
        for (j = 0; j < 32; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
    }
}
static void ds__q8_1_from(void *dst, const float *x, int64_t n) {
    ds__block_q8_1 *b = (ds__block_q8_1 *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        float amax = 0, d, id; int sum = 0;
        for (j = 0; j < 32; j++) amax = DS__MAX(amax, fabsf(x[j]));
        d = amax / 127.0f; id = d != 0 ? 1.0f / d : 0.0f;
        for (j = 0; j < 32; j++) { b->qs[j] = (int8_t)roundf(x[j] * id); sum += b->qs[j]; }
        ds__put_half(b->d, d); ds__put_half(b->s, (float)sum * d);
    }
}
/* Q8_K: the activation partner of the K-quants. d = max / -127 with max the signed extreme. */
static void ds__q8_k_from(void *dst, const float *x, int64_t n) {
    uint8_t *p = (uint8_t *)dst; int64_t i; int j;
    for (i = 0; i < n / DS__QK_K; i++, p += sizeof(ds__block_q8_k), x += DS__QK_K) {
        ds__block_q8_k b; float max = ds__absmax_signed(x, 256), iscale;
        memset(&b, 0, sizeof b);
        if (max != 0) {
            iscale = -127.0f / max;
            for (j = 0; j < 256; j++) { b.qs[j] = (int8_t)DS__MIN(127, ds__nearest_int(ds__mulr(iscale, x[j]))); b.bsums[j / 16] = (int16_t)(b.bsums[j / 16] + b.qs[j]); }
            b.d = 1.0f / iscale;
        }
        memcpy(p, &b, sizeof b);
    }
}

/* --- fitting helpers for the K-quant and IQ4 quantizers ------------------------------------- */
/* Symmetric: the scale s minimizing sum (x - s l)^2 over integers l in [-nmax, nmax - 1]. A fan of
   trial inverse scales around the one that maps the extreme value to -nmax, then alternating
   refits (codes at the fitted scale, least-squares scale for the codes) until the codes settle. */
static float ds__fit_sym(const float *x, int n, int nmax, int8_t *l) {
    float max = ds__absmax_signed(x, n), best = 0, scale = 0; int i, is, it; int8_t t[32];
    memset(l, 0, (size_t)n);
    if (fabsf(max) < 1e-30f) return 0;
    for (is = -9; is <= 9; is++) {
        float iscale = -((float)nmax + 0.1f * (float)is) / max, sumlx = 0, suml2 = 0;
        for (i = 0; i < n; i++) {
            int q = ds__clampi(ds__nearest_int(iscale * x[i]), -nmax, nmax - 1);
            t[i] = (int8_t)q; sumlx += x[i] * (float)q; suml2 += (float)(q * q);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) { best = sumlx * sumlx / suml2; scale = sumlx / suml2; memcpy(l, t, (size_t)n); }
    }
    for (it = 0; it < 8 && scale != 0; it++) {
        float is_ = 1.0f / scale, sumlx = 0, suml2 = 0; int changed = 0;
        for (i = 0; i < n; i++) {
            int q = ds__clampi(ds__nearest_int(x[i] * is_), -nmax, nmax - 1);
            changed |= q != l[i]; l[i] = (int8_t)q; sumlx += x[i] * (float)q; suml2 += (float)(q * q);
        }
        if (!changed || suml2 == 0) break;
        scale = sumlx / suml2;
    }
    return scale;
}
/* Affine with codes 0..nmax: x ~ s l - m with s >= 0 and m >= 0 (the formats store the min as a
   non-negative multiple subtracted). Least squares for (s, m) at each of 21 trial inverse scales,
   then alternating refits. Returns s, sets *m. */
static float ds__fit_affine(const float *x, int n, int nmax, uint8_t *l, float *m_out) {
    float mn = x[0], mx = x[0], best_err = INFINITY, s_best = 0, m_best = 0; int i, is; uint8_t t[32];
    for (i = 1; i < n; i++) { mn = DS__MIN(mn, x[i]); mx = DS__MAX(mx, x[i]); }
    if (mn > 0) mn = 0;
    memset(l, 0, (size_t)n);
    if (mx <= mn) { *m_out = -mn; return 0; }
    for (is = 0; is <= 20 + 8; is++) {     /* 21 trial scales, then up to 8 refits of the best */
        float s, b, err = 0, sl = 0, sll = 0, sx = 0, slx = 0, D;
        if (is <= 20) {
            float iscale = ((float)nmax - 1.0f + 0.1f * (float)is) / (mx - mn);
            for (i = 0; i < n; i++) t[i] = (uint8_t)ds__clampi(ds__nearest_int(iscale * (x[i] - mn)), 0, nmax);
        } else {
            int changed = 0;
            if (s_best <= 0) break;
            for (i = 0; i < n; i++) { t[i] = (uint8_t)ds__clampi(ds__nearest_int((x[i] + m_best) / s_best), 0, nmax); changed |= t[i] != l[i]; }
            if (!changed) break;
        }
        for (i = 0; i < n; i++) { float q = (float)t[i]; sl += q; sll += q * q; sx += x[i]; slx += q * x[i]; }
        D = (float)n * sll - sl * sl;
        if (D <= 0) continue;
        s = ((float)n * slx - sl * sx) / D; b = (sll * sx - sl * slx) / D;
        if (b > 0) { b = 0; s = slx / sll; }
        if (s < 0) continue;
        for (i = 0; i < n; i++) { float e = s * (float)t[i] + b - x[i]; err += e * e; }
        if (err < best_err) { best_err = err; s_best = s; m_best = -b; memcpy(l, t, (size_t)n); }
        else if (is > 20) break;
    }
    *m_out = m_best;
    return s_best;
}
/* Squared error of x against s*q - m (q in 0..nmax, nearest), the way the dequantizer computes. */
static float ds__affine_err(const float *x, int n, int nmax, float s, float m, uint8_t *l) {
    float err = 0, is = s > 0 ? 1.0f / s : 0.0f; int i;
    for (i = 0; i < n; i++) {
        int q = s > 0 ? ds__clampi(ds__nearest_int((x[i] + m) * is), 0, nmax) : 0;
        float e = ds__mulr(s, (float)q) - m - x[i];
        if (l) l[i] = (uint8_t)q;
        err += e * e;
    }
    return err;
}
static float ds__sym_err(const float *x, int n, int nmax, float s, int8_t *l) {
    float err = 0, is = s != 0 ? 1.0f / s : 0.0f; int i;
    for (i = 0; i < n; i++) {
        int q = s != 0 ? ds__clampi(ds__nearest_int(x[i] * is), -nmax, nmax - 1) : 0;
        float e = s * (float)q - x[i];
        if (l) l[i] = (int8_t)q;
        err += e * e;
    }
    return err;
}
/* Sub-block scales and mins -> integers on the grids d*k and dmin*k (k in 0..kmax), the codes
   re-chosen for each. Every sub-block tries the 3x3 integer neighbours of its rounded pair. */
static void ds__affine_grid(const float *x, int nsub, int sub, int nmax, int kmax, const float *s, const float *m,
                            float d, float dmin, uint8_t *ls, uint8_t *lm, uint8_t *codes) {
    int j, a, c;
    for (j = 0; j < nsub; j++) {
        int ks = d > 0 ? ds__clampi(ds__nearest_int(s[j] / d), 0, kmax) : 0;
        int km = dmin > 0 ? ds__clampi(ds__nearest_int(m[j] / dmin), 0, kmax) : 0;
        float best = INFINITY; int bs = ks, bm = km;
        for (a = -1; a <= 1; a++)
            for (c = -1; c <= 1; c++) {
                int ts = ks + a, tm = km + c; float e;
                if (ts < 0 || ts > kmax || tm < 0 || tm > kmax) continue;
                e = ds__affine_err(x + j * sub, sub, nmax, d * (float)ts, dmin * (float)tm, NULL);
                if (e < best) { best = e; bs = ts; bm = tm; }
            }
        ls[j] = (uint8_t)bs; lm[j] = (uint8_t)bm;
        ds__affine_err(x + j * sub, sub, nmax, d * (float)bs, dmin * (float)bm, codes + j * sub);
    }
}
/* Signed sub-block scales -> integers d*k, k in [kmin, kmax], codes re-chosen (Q3_K, Q6_K). */
static void ds__sym_grid(const float *x, int nsub, int sub, int nmax, int kmin, int kmax, const float *s, float d,
                         int8_t *ls, int8_t *codes) {
    int j, a;
    for (j = 0; j < nsub; j++) {
        int k = d != 0 ? ds__clampi(ds__nearest_int(s[j] / d), kmin, kmax) : 0, bk = k;
        float best = INFINITY;
        for (a = -1; a <= 1; a++) {
            float e;
            if (k + a < kmin || k + a > kmax) continue;
            e = ds__sym_err(x + j * sub, sub, nmax, d * (float)(k + a), NULL);
            if (e < best) { best = e; bk = k + a; }
        }
        ls[j] = (int8_t)bk;
        ds__sym_err(x + j * sub, sub, nmax, d * (float)bk, codes + j * sub);
    }
}

/* --- K-quants: quantize ------------------------------------------------------------------- */
static void ds__q2_k_from(void *dst, const float *x, int64_t n) {
    ds__block_q2_k *b = (ds__block_q2_k *)dst; int64_t i; int j, e;
    for (i = 0; i < n / DS__QK_K; i++, b++, x += DS__QK_K) {
        float s[16], m[16], ms = 0, mm = 0, d, dmin; uint8_t l[256], ls[16], lm[16];
        for (j = 0; j < 16; j++) { s[j] = ds__fit_affine(x + 16 * j, 16, 3, l + 16 * j, &m[j]); ms = DS__MAX(ms, s[j]); mm = DS__MAX(mm, m[j]); }
        ds__put_half(b->d, ms / 15.0f); ds__put_half(b->dmin, mm / 15.0f);
        d = ds__half(b->d); dmin = ds__half(b->dmin);
        ds__affine_grid(x, 16, 16, 3, 15, s, m, d, dmin, ls, lm, l);
        for (j = 0; j < 16; j++) b->scales[j] = (uint8_t)(ls[j] | lm[j] << 4);
        memset(b->qs, 0, sizeof b->qs);
        for (e = 0; e < 256; e++) {
            int h = e >> 7, jj = (e >> 5) & 3, ss = (e >> 4) & 1, ll = e & 15;
            b->qs[32 * h + 16 * ss + ll] |= (uint8_t)(l[e] << (2 * jj));
        }
    }
}
static void ds__q3_k_from(void *dst, const float *x, int64_t n) {
    ds__block_q3_k *b = (ds__block_q3_k *)dst; int64_t i; int j, e;
    for (i = 0; i < n / DS__QK_K; i++, b++, x += DS__QK_K) {
        float s[16], max = 0, d; int8_t l[256], ls[16];
        for (j = 0; j < 16; j++) { s[j] = ds__fit_sym(x + 16 * j, 16, 4, l + 16 * j); if (fabsf(s[j]) > fabsf(max)) max = s[j]; }
        ds__put_half(b->d, max != 0 ? max / -32.0f : 0.0f);   /* the largest scale maps to -32 */
        d = ds__half(b->d);
        ds__sym_grid(x, 16, 16, 4, -32, 31, s, d, ls, l);
        memset(b->scales, 0, sizeof b->scales); memset(b->hmask, 0, sizeof b->hmask); memset(b->qs, 0, sizeof b->qs);
        for (j = 0; j < 16; j++) {
            int v = ls[j] + 32;
            b->scales[j & 7] |= (uint8_t)((v & 15) << (j < 8 ? 0 : 4));
            b->scales[8 + (j & 3)] |= (uint8_t)((v >> 4) << (2 * (j >> 2)));
        }
        for (e = 0; e < 256; e++) {
            int h = e >> 7, jj = (e >> 5) & 3, ss = (e >> 4) & 1, ll = e & 15, c = l[e] + 4;
            b->qs[32 * h + 16 * ss + ll] |= (uint8_t)((c & 3) << (2 * jj));
            b->hmask[16 * ss + ll] |= (uint8_t)((c >> 2) << (4 * h + jj));
        }
    }
}
/* Q4_K / Q5_K share everything but the code width. */
static void ds__q45_k_from(void *dst, const float *x, int64_t n, int five) {
    int64_t i; int j, c, t, nmax = five ? 31 : 15;
    size_t bytes = five ? sizeof(ds__block_q5_k) : sizeof(ds__block_q4_k);
    for (i = 0; i < n / DS__QK_K; i++, x += DS__QK_K) {
        uint8_t *blk = (uint8_t *)dst + (size_t)i * bytes, *sc = blk + 4, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
        float s[8], m[8], ms = 0, mm = 0, d, dmin; uint8_t l[256], ls[8], lm[8];
        for (j = 0; j < 8; j++) { s[j] = ds__fit_affine(x + 32 * j, 32, nmax, l + 32 * j, &m[j]); ms = DS__MAX(ms, s[j]); mm = DS__MAX(mm, m[j]); }
        ds__put_half(blk, ms / 63.0f); ds__put_half(blk + 2, mm / 63.0f);
        d = ds__half(blk); dmin = ds__half(blk + 2);
        ds__affine_grid(x, 8, 32, nmax, 63, s, m, d, dmin, ls, lm, l);
        for (j = 0; j < 4; j++) {
            sc[j]     = (uint8_t)(ls[j] | (ls[j + 4] >> 4) << 6);
            sc[j + 4] = (uint8_t)(lm[j] | (lm[j + 4] >> 4) << 6);
            sc[j + 8] = (uint8_t)((ls[j + 4] & 15) | (lm[j + 4] & 15) << 4);
        }
        if (five) memset(qh, 0, 32);
        for (c = 0; c < 4; c++)
            for (t = 0; t < 32; t++) {
                int q0 = l[64 * c + t], q1 = l[64 * c + 32 + t];
                qs[32 * c + t] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
                if (five) qh[t] |= (uint8_t)((q0 >> 4) << (2 * c) | (q1 >> 4) << (2 * c + 1));
            }
    }
}
static void ds__q4_k_from(void *dst, const float *x, int64_t n) { ds__q45_k_from(dst, x, n, 0); }
static void ds__q5_k_from(void *dst, const float *x, int64_t n) { ds__q45_k_from(dst, x, n, 1); }
static void ds__q6_k_from(void *dst, const float *x, int64_t n) {
    ds__block_q6_k *b = (ds__block_q6_k *)dst; int64_t i; int j, e;
    for (i = 0; i < n / DS__QK_K; i++, b++, x += DS__QK_K) {
        float s[16], max = 0, d; int8_t l[256], ls[16];
        for (j = 0; j < 16; j++) { s[j] = ds__fit_sym(x + 16 * j, 16, 32, l + 16 * j); if (fabsf(s[j]) > fabsf(max)) max = s[j]; }
        ds__put_half(b->d, max != 0 ? max / -128.0f : 0.0f);
        d = ds__half(b->d);
        ds__sym_grid(x, 16, 16, 32, -128, 127, s, d, ls, l);
        memcpy(b->scales, ls, 16); memset(b->qh, 0, sizeof b->qh);
        for (e = 0; e < 256; e++) {
            int h = e >> 7, k = (e >> 5) & 3, ll = e & 31, c = l[e] + 32;
            uint8_t *q = &b->ql[64 * h + 32 * (k & 1) + ll];
            *q = (uint8_t)((k >> 1) ? (*q & 15) | (c & 15) << 4 : (c & 15));
            b->qh[32 * h + ll] |= (uint8_t)((c >> 4) << (2 * k));
        }
    }
}

/* --- IQ4: codes index the non-linear table --------------------------------------------------- */
static DS__INLINE int ds__iq4_nearest(float v) {       /* index of the table value nearest v */
    int lo = 0, hi = 15;
    if (v <= ds__iq4_values[0]) return 0;
    if (v >= ds__iq4_values[15]) return 15;
    while (hi - lo > 1) { int mid = (lo + hi) >> 1; if (v < ds__iq4_values[mid]) hi = mid; else lo = mid; }
    return v - ds__iq4_values[lo] <= ds__iq4_values[hi] - v ? lo : hi;
}
static float ds__iq4_err(const float *x, int n, float d, uint8_t *l) {
    float err = 0, id = d != 0 ? 1.0f / d : 0.0f; int i;
    for (i = 0; i < n; i++) {
        int q = ds__iq4_nearest(x[i] * id); float e = d * (float)ds__iq4_values[q] - x[i];
        if (l) l[i] = (uint8_t)q;
        err += e * e;
    }
    return err;
}
/* Best d for x ~ d * values[l]: trial inverse scales mapping the extreme to -127 + t, refits. */
static float ds__fit_iq4(const float *x, int n) {
    float max = ds__absmax_signed(x, n), best = 0, d = 0; int i, t, it; uint8_t l[32];
    if (fabsf(max) < 1e-30f) return 0;
    for (t = -7; t <= 7; t++) {
        float id = ((float)ds__iq4_values[0] + (float)t) / max, sqx = 0, sq2 = 0;
        for (i = 0; i < n; i++) { float v = ds__iq4_values[ds__iq4_nearest(id * x[i])]; sqx += v * x[i]; sq2 += v * v; }
        if (sq2 > 0 && sqx * sqx > best * sq2) { best = sqx * sqx / sq2; d = sqx / sq2; }
    }
    for (it = 0; it < 8 && d != 0; it++) {
        float sqx = 0, sq2 = 0, nd;
        ds__iq4_err(x, n, d, l);
        for (i = 0; i < n; i++) { float v = ds__iq4_values[l[i]]; sqx += v * x[i]; sq2 += v * v; }
        nd = sq2 > 0 ? sqx / sq2 : 0;
        if (nd == d) break;
        d = nd;
    }
    return d;
}
static void ds__iq4_nl_from(void *dst, const float *x, int64_t n) {
    ds__block_iq4_nl *b = (ds__block_iq4_nl *)dst; int64_t i; int j; uint8_t l[32];
    for (i = 0; i < n / DS__QK; i++, b++, x += DS__QK) {
        ds__put_half(b->d, ds__fit_iq4(x, 32));
        ds__iq4_err(x, 32, ds__half(b->d), l);
        for (j = 0; j < 16; j++) b->qs[j] = (uint8_t)(l[j] | l[j + 16] << 4);
    }
}
static void ds__iq4_xs_from(void *dst, const float *x, int64_t n) {
    ds__block_iq4_xs *b = (ds__block_iq4_xs *)dst; int64_t i; int j, ib, a; uint8_t l[32];
    for (i = 0; i < n / DS__QK_K; i++, b++, x += DS__QK_K) {
        float s[8], max = 0, d; int sh = 0;
        for (ib = 0; ib < 8; ib++) { s[ib] = ds__fit_iq4(x + 32 * ib, 32); if (fabsf(s[ib]) > fabsf(max)) max = s[ib]; }
        ds__put_half(b->d, max != 0 ? max / -32.0f : 0.0f);
        d = ds__half(b->d);
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (ib = 0; ib < 8; ib++) {
            int k = d != 0 ? ds__clampi(ds__nearest_int(s[ib] / d), -32, 31) : 0, bk = k; float best = INFINITY;
            for (a = -1; a <= 1; a++) {
                float e;
                if (k + a < -32 || k + a > 31) continue;
                e = ds__iq4_err(x + 32 * ib, 32, d * (float)(k + a), NULL);
                if (e < best) { best = e; bk = k + a; }
            }
            ds__iq4_err(x + 32 * ib, 32, d * (float)bk, l);
            b->scales_l[ib / 2] |= (uint8_t)(((bk + 32) & 15) << (4 * (ib % 2)));
            sh |= ((bk + 32) >> 4) << (2 * ib);
            for (j = 0; j < 16; j++) b->qs[16 * ib + j] = (uint8_t)(l[j] | l[j + 16] << 4);
        }
        b->scales_h[0] = (uint8_t)sh; b->scales_h[1] = (uint8_t)(sh >> 8);
    }
}

/* The one dispatch point per dtype. */
static const ds__dtype_traits ds__traits[DS_DTYPE_COUNT] = {
    /* DS_F32      */ { "F32",     1,   4,  0, ds__f32_row,    ds__f32_from },
    /* DS_F16      */ { "F16",     1,   2,  0, ds__f16_row,    ds__f16_from },
    /* DS_BF16     */ { "BF16",    1,   2,  0, ds__bf16_row,   ds__bf16_from },
    /* DS_F64      */ { "F64",     1,   8,  0, ds__f64_row,    ds__f64_from },
    /* DS_F8_E4M3  */ { "F8_E4M3", 1,   1,  0, ds__e4m3_row,   ds__e4m3_from },
    /* DS_F8_E5M2  */ { "F8_E5M2", 1,   1,  0, ds__e5m2_row,   ds__e5m2_from },
    /* DS_I64      */ { "I64",     1,   8,  0, ds__i64_row,    NULL },
    /* DS_I32      */ { "I32",     1,   4,  0, ds__i32_row,    NULL },
    /* DS_I16      */ { "I16",     1,   2,  0, ds__i16_row,    NULL },
    /* DS_I8       */ { "I8",      1,   1,  0, ds__i8_row,     NULL },
    /* DS_U8       */ { "U8",      1,   1,  0, ds__u8_row,     NULL },
    /* DS_BOOL     */ { "BOOL",    1,   1,  0, ds__u8_row,     NULL },
    /* DS_Q4_0     */ { "Q4_0",   32,  18,  1, ds__q4_0_row,   ds__q4_0_from },
    /* DS_Q4_1     */ { "Q4_1",   32,  20,  1, ds__q4_1_row,   ds__q4_1_from },
    /* DS_Q5_0     */ { "Q5_0",   32,  22,  1, ds__q5_0_row,   ds__q5_0_from },
    /* DS_Q5_1     */ { "Q5_1",   32,  24,  1, ds__q5_1_row,   ds__q5_1_from },
    /* DS_Q8_0     */ { "Q8_0",   32,  34,  1, ds__q8_0_row,   ds__q8_0_from },
    /* DS_Q8_1     */ { "Q8_1",   32,  36,  1, ds__q8_1_row,   ds__q8_1_from },
    /* DS_Q2_K     */ { "Q2_K",  256,  84,  1, ds__q2_k_row,   ds__q2_k_from },
    /* DS_Q3_K     */ { "Q3_K",  256, 110,  1, ds__q3_k_row,   ds__q3_k_from },
    /* DS_Q4_K     */ { "Q4_K",  256, 144,  1, ds__q4_k_row,   ds__q4_k_from },
    /* DS_Q5_K     */ { "Q5_K",  256, 176,  1, ds__q5_k_row,   ds__q5_k_from },
    /* DS_Q6_K     */ { "Q6_K",  256, 210,  1, ds__q6_k_row,   ds__q6_k_from },
    /* DS_Q8_K     */ { "Q8_K",  256, 292,  1, ds__q8_k_row,   ds__q8_k_from },
    /* DS_IQ4_NL   */ { "IQ4_NL", 32,  18,  1, ds__iq4_nl_row, ds__iq4_nl_from },
    /* DS_IQ4_XS   */ { "IQ4_XS",256, 136,  1, ds__iq4_xs_row, ds__iq4_xs_from },
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

/* Quantize (or convert) n f32 values into dst of type t: ds__dtype_nbytes(t, n) bytes. */
static ds_result ds__quantize_row(ds_dtype t, void *dst, const float *src, int64_t n) {
    if ((unsigned)t >= DS_DTYPE_COUNT || !ds__traits[t].from_f32) return DS_ERR_UNSUPPORTED;
    if (n < 0 || n % ds__traits[t].block) return DS_ERR_SHAPE;
    ds__traits[t].from_f32(dst, src, n);
    return DS_SUCCESS;
}

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
   W may be any dtype; it is never converted whole. For a conv weight [O, C, kh, kw] N = O and
   K = C*kh*kw. Three paths, chosen in ds__linear:
   - ggml block weights with a SIMD integer kernel (Q4_0..Q8_0, Q2_K..Q6_K): the activations are
     quantized once per call, W is decoded a panel of rows at a time into unsigned codes and integer
     scales, and tiles of rows meet in integer dot products (AVX-512 VNNI, AVX2), scaled in f32
     once per block: ggml's scheme, see "quantized weights" below.
   - M < DS__GEMV_M: each W row converted to f32 in a small buffer, dot products (memory bound).
   - everything else (f32, f16, bf16, fp8, IQ4, and block types without an integer kernel): a
     packed, cache-blocked f32 GEMM in BLIS's loop order (see ds__gemm_part): x packed into
     MR-row slivers that stay in L1, W converted to f32 while it is packed into NR-row slivers
     (a block of them in L2), and an MR x NR register-blocked FMA microkernel. Each W element is
     converted once per DS__GEMM_MX rows of x, whatever its dtype.
   Threads split N (or M when N is small). Scalar references: ds__gemm_ref, ds__qdot_ref. */
#if defined(__GNUC__) || defined(__clang__)
#  define DS__PREFETCH(p)    __builtin_prefetch((const void *)(p), 0, 3)   /* into L1 */
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#  include <xmmintrin.h>
#  define DS__PREFETCH(p)    _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#  define DS__PREFETCH(p)    ((void)(p))
#endif
#define DS__GEMV_M 4      /* fewer x rows than this: dot-product path     */
#define DS__GEMM_KC 256   /* K per packed block (a multiple of every block size) */

/* Scalar reference of the whole product, W already f32 [N, K]: double accumulation. */
static void ds__gemm_ref(float *y, const float *x, const float *w, const float *bias, int64_t M, int64_t N, int64_t K) {
    int64_t m, n, k;
    for (m = 0; m < M; m++)
        for (n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (k = 0; k < K; k++) s += (double)x[m * K + k] * w[n * K + k];
            y[m * N + n] = (float)s;
        }
}

#if defined(DS__HAS_AVX2) || defined(DS__HAS_AVX512)
static DS__INLINE float ds__hsum256(__m256 t) {
    __m128 l = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    l = _mm_add_ps(l, _mm_movehl_ps(l, l)); l = _mm_add_ss(l, _mm_shuffle_ps(l, l, 1));
    return _mm_cvtss_f32(l);
}
#endif
#if defined(DS__HAS_AVX512)
/* through memory: the 512 -> 256 extracts (and _mm512_reduce_add_ps) make g++ 12 warn in C++ */
static DS__INLINE float ds__hsum512(__m512 v) {
    float t[16];
    _mm512_storeu_ps(t, v);
    return ds__hsum256(_mm256_add_ps(_mm256_loadu_ps(t), _mm256_loadu_ps(t + 8)));
}
#endif

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
    s = ds__hsum512(_mm512_add_ps(acc0, acc1));
#elif defined(DS__HAS_AVX2)
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    s = ds__hsum256(_mm256_add_ps(acc0, acc1));
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

/* --- f32 GEMM microkernels ---------------------------------------------------------------
   c[MR x NR] (row stride ldc) = a^T b, a: packed x sliver [kc][MR], b: packed W sliver [kc][NR].
   acc != 0: c += result; else c = result + bias (bias: NR values or NULL). */
typedef void (*ds__ukr_fn)(int64_t kc, const float *DS__RESTRICT a, const float *DS__RESTRICT b, float *DS__RESTRICT c,
                           int64_t ldc, const float *bias, int acc);
typedef struct ds__gemm_kernel { const char *name; int mr, nr; ds__ukr_fn ukr; } ds__gemm_kernel;

static void ds__ukr_scalar(int64_t kc, const float *DS__RESTRICT a, const float *DS__RESTRICT b, float *DS__RESTRICT c,
                           int64_t ldc, const float *bias, int acc) {
    float t[4][8]; int64_t k; int i, j;
    memset(t, 0, sizeof t);
    for (k = 0; k < kc; k++, a += 4, b += 8)
        for (i = 0; i < 4; i++)
            for (j = 0; j < 8; j++) t[i][j] += a[i] * b[j];
    for (i = 0; i < 4; i++)
        for (j = 0; j < 8; j++) c[i * ldc + j] = t[i][j] + (acc ? c[i * ldc + j] : bias ? bias[j] : 0.0f);
}

#if defined(DS__HAS_AVX2)
static DS__INLINE void ds__ukr_store8(float *c, __m256 v, const float *bias, int acc) {
    if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(c)); else if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
    _mm256_storeu_ps(c, v);
}
/* 6 x 16: 12 ymm accumulators, two W vectors, one broadcast. */
static void ds__ukr_avx2(int64_t kc, const float *DS__RESTRICT a, const float *DS__RESTRICT b, float *DS__RESTRICT c,
                         int64_t ldc, const float *bias, int acc) {
    __m256 c0a = _mm256_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a;
    __m256 c3a = c0a, c3b = c0a, c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a;
    int64_t k;
    for (k = 0; k < kc; k++, a += 6, b += 16) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), av;
#define DS__F(i) av = _mm256_broadcast_ss(a + i); c##i##a = _mm256_fmadd_ps(av, b0, c##i##a); c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);
        DS__F(0) DS__F(1) DS__F(2) DS__F(3) DS__F(4) DS__F(5)
#undef DS__F
    }
#define DS__S(i) ds__ukr_store8(c + i * ldc, c##i##a, bias, acc); ds__ukr_store8(c + i * ldc + 8, c##i##b, bias ? bias + 8 : NULL, acc);
    DS__S(0) DS__S(1) DS__S(2) DS__S(3) DS__S(4) DS__S(5)
#undef DS__S
}
#endif

#if defined(DS__HAS_AVX512)
static DS__INLINE void ds__ukr_store16(float *c, __m512 v, const float *bias, int acc) {
    if (acc) v = _mm512_add_ps(v, _mm512_loadu_ps(c)); else if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias));
    _mm512_storeu_ps(c, v);
}
/* 12 x 32: 24 zmm accumulators, two W vectors, one broadcast: 24 FMAs per 14 loads. The C tile
   is prefetched first so its lines arrive while the k loop runs. */
static void ds__ukr_avx512(int64_t kc, const float *DS__RESTRICT a, const float *DS__RESTRICT b, float *DS__RESTRICT c,
                           int64_t ldc, const float *bias, int acc) {
    __m512 c0a = _mm512_setzero_ps(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a, c3a = c0a, c3b = c0a;
    __m512 c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a, c6a = c0a, c6b = c0a, c7a = c0a, c7b = c0a;
    __m512 c8a = c0a, c8b = c0a, c9a = c0a, c9b = c0a, c10a = c0a, c10b = c0a, c11a = c0a, c11b = c0a;
    int64_t k; int i;
    for (i = 0; i < 12; i++) { DS__PREFETCH(c + i * ldc); DS__PREFETCH(c + i * ldc + 31); }
    for (k = 0; k < kc; k++, a += 12, b += 32) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), av;
#define DS__F(i) av = _mm512_set1_ps(a[i]); c##i##a = _mm512_fmadd_ps(av, b0, c##i##a); c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);
        DS__F(0) DS__F(1) DS__F(2) DS__F(3) DS__F(4) DS__F(5) DS__F(6) DS__F(7) DS__F(8) DS__F(9) DS__F(10) DS__F(11)
#undef DS__F
    }
#define DS__S(i) ds__ukr_store16(c + i * ldc, c##i##a, bias, acc); ds__ukr_store16(c + i * ldc + 16, c##i##b, bias ? bias + 16 : NULL, acc);
    DS__S(0) DS__S(1) DS__S(2) DS__S(3) DS__S(4) DS__S(5) DS__S(6) DS__S(7) DS__S(8) DS__S(9) DS__S(10) DS__S(11)
#undef DS__S
}
#endif

#if defined(DS__HAS_NEON) && defined(__aarch64__)
static DS__INLINE void ds__ukr_store4(float *c, float32x4_t v, const float *bias, int acc) {
    if (acc) v = vaddq_f32(v, vld1q_f32(c)); else if (bias) v = vaddq_f32(v, vld1q_f32(bias));
    vst1q_f32(c, v);
}
/* 8 x 12: 24 q-register accumulators, x rows taken by lane from two loaded vectors. */
static void ds__ukr_neon(int64_t kc, const float *DS__RESTRICT a, const float *DS__RESTRICT b, float *DS__RESTRICT c,
                         int64_t ldc, const float *bias, int acc) {
    float32x4_t z = vdupq_n_f32(0);
    float32x4_t c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z, c30 = z, c31 = z, c32 = z;
    float32x4_t c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z, c60 = z, c61 = z, c62 = z, c70 = z, c71 = z, c72 = z;
    int64_t k;
    for (k = 0; k < kc; k++, a += 8, b += 12) {
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4), b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
#define DS__F(i, av, l) c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, l); c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, l); c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, l);
        DS__F(0, a0, 0) DS__F(1, a0, 1) DS__F(2, a0, 2) DS__F(3, a0, 3) DS__F(4, a1, 0) DS__F(5, a1, 1) DS__F(6, a1, 2) DS__F(7, a1, 3)
#undef DS__F
    }
#define DS__S(i) ds__ukr_store4(c + i * ldc, c##i##0, bias, acc); ds__ukr_store4(c + i * ldc + 4, c##i##1, bias ? bias + 4 : NULL, acc); \
                 ds__ukr_store4(c + i * ldc + 8, c##i##2, bias ? bias + 8 : NULL, acc);
    DS__S(0) DS__S(1) DS__S(2) DS__S(3) DS__S(4) DS__S(5) DS__S(6) DS__S(7)
#undef DS__S
}
#endif

/* Every kernel this build has, the preferred one last. Tests walk the table; ds__gemm_pick (an
   index, -1 = last) is a test hook to force one. */
static const ds__gemm_kernel ds__gemm_kernels[] = {
    { "scalar", 4, 8, ds__ukr_scalar },
#if defined(DS__HAS_AVX2)
    { "avx2", 6, 16, ds__ukr_avx2 },
#endif
#if defined(DS__HAS_AVX512)
    { "avx512", 12, 32, ds__ukr_avx512 },
#endif
#if defined(DS__HAS_NEON) && defined(__aarch64__)
    { "neon", 8, 12, ds__ukr_neon },
#endif
};
static int ds__gemm_pick = -1;
static const ds__gemm_kernel *ds__gemm_kernel_get(void) {
    int n = DS__ARRLEN(ds__gemm_kernels);
    return &ds__gemm_kernels[ds__gemm_pick >= 0 && ds__gemm_pick < n ? ds__gemm_pick : n - 1];
}

/* --- packing ------------------------------------------------------------------------------
   dst[k * width + i] = row i at column k, for i < nrows (rows[] point at the first column);
   rows nrows..width-1 are zero. Rows are f32, or f16/bf16 converted on the way in (dt), 8 x 8
   blocks through registers; the dtype is fixed per loop so the loads stay branch-free. */
static DS__INLINE float ds__ld1(const void *p, int64_t k, ds_dtype dt) {
    return dt == DS_F32 ? ((const float *)p)[k] : dt == DS_F16 ? ds__f16_to_f32(((const uint16_t *)p)[k]) : ds__bf16_to_f32(((const uint16_t *)p)[k]);
}
#if defined(DS__HAS_AVX2)
#define DS__TR8(r0, r1, r2, r3, r4, r5, r6, r7) do { \
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3); \
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7); \
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE), s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE); \
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE), s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE); \
    r0 = _mm256_permute2f128_ps(s0, s4, 0x20); r1 = _mm256_permute2f128_ps(s1, s5, 0x20); r2 = _mm256_permute2f128_ps(s2, s6, 0x20); r3 = _mm256_permute2f128_ps(s3, s7, 0x20); \
    r4 = _mm256_permute2f128_ps(s0, s4, 0x31); r5 = _mm256_permute2f128_ps(s1, s5, 0x31); r6 = _mm256_permute2f128_ps(s2, s6, 0x31); r7 = _mm256_permute2f128_ps(s3, s7, 0x31); \
} while (0)
#define DS__LD_F32(p, k)  _mm256_loadu_ps((const float *)(p) + (k))
#define DS__LD_BF16(p, k) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (k)))), 16))
#if defined(DS__HAS_F16C)
#  define DS__LD_F16(p, k) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(p) + (k))))
#else
#  define DS__LD_F16(p, k) DS__LD_BF16(p, k)   /* never used: pack_w converts f16 first without F16C */
#endif
#define DS__PACK8(LD) \
    for (k = 0; k + 8 <= kc; k += 8) { \
        int q_; \
        for (q_ = 0; q_ < 4 && pf < pf_end; q_++, pf++) DS__PREFETCH((const char *)rows[i + 8 + (pf & 7)] + (pf >> 3) * 64); \
        __m256 r0 = LD(p0, k), r1 = LD(p1, k), r2 = LD(p2, k), r3 = LD(p3, k), r4 = LD(p4, k), r5 = LD(p5, k), r6 = LD(p6, k), r7 = LD(p7, k); \
        float *d = dst + k * width + i; \
        DS__TR8(r0, r1, r2, r3, r4, r5, r6, r7); \
        _mm256_storeu_ps(d, r0); _mm256_storeu_ps(d + width, r1); _mm256_storeu_ps(d + 2 * width, r2); _mm256_storeu_ps(d + 3 * width, r3); \
        _mm256_storeu_ps(d + 4 * width, r4); _mm256_storeu_ps(d + 5 * width, r5); _mm256_storeu_ps(d + 6 * width, r6); _mm256_storeu_ps(d + 7 * width, r7); \
    }
#endif
static void ds__pack_t(float *DS__RESTRICT dst, int width, const void *const *rows, ds_dtype dt, int nrows, int64_t kc) {
    int i = 0; int64_t k;
#if defined(DS__HAS_AVX2)
    for (; i + 8 <= nrows; i += 8) {
        const void *p0 = rows[i], *p1 = rows[i + 1], *p2 = rows[i + 2], *p3 = rows[i + 3], *p4 = rows[i + 4], *p5 = rows[i + 5], *p6 = rows[i + 6], *p7 = rows[i + 7];
        /* while these 8 rows are transposed, the next 8 are prefetched (rows come from far apart:
           the hardware prefetchers see each row segment as a new, short stream) */
        int pf = 0, pf_end = i + 16 <= nrows ? 8 * (int)((kc * (dt == DS_F32 ? 4 : 2) + 63) / 64) : 0;
        if (dt == DS_F32) { DS__PACK8(DS__LD_F32) } else if (dt == DS_F16) { DS__PACK8(DS__LD_F16) } else { DS__PACK8(DS__LD_BF16) }
        for (; k < kc; k++) { int t; for (t = 0; t < 8; t++) dst[k * width + i + t] = ds__ld1(rows[i + t], k, dt); }
    }
#endif
    for (; i < width; i++) {
        if (i < nrows) for (k = 0; k < kc; k++) dst[k * width + i] = ds__ld1(rows[i], k, dt);
        else for (k = 0; k < kc; k++) dst[k * width + i] = 0.0f;
    }
}
/* W rows n0..n0+nb-1, columns pc..pc+kc-1 -> packed sliver [kc][nr]. f32 (and with AVX2 f16/bf16)
   rows are read in place; other dtypes are converted row by row into tmp (nr * kc floats) first. */
static void ds__pack_w(float *bp, int nr, const ds_tensor *w, int64_t K, int64_t n0, int nb, int64_t pc, int64_t kc, float *tmp) {
    const void *rows[64]; int r; ds_dtype dt = w->dtype;
    int direct = dt == DS_F32;
#if defined(DS__HAS_AVX2)
    direct |= dt == DS_BF16;
#  if defined(DS__HAS_F16C)
    direct |= dt == DS_F16;
#  endif
#endif
    for (r = 0; r < nb; r++) {
        if (direct) rows[r] = (const uint8_t *)w->data + ((n0 + r) * K + pc) * (int64_t)ds__traits[dt].bytes;
        else { ds__tensor_to_f32(tmp + r * kc, w, (n0 + r) * K + pc, kc); rows[r] = tmp + r * kc; }
    }
    ds__pack_t(bp, nr, rows, direct ? dt : DS_F32, nb, kc);
}

typedef struct ds__gemm_job {
    float *y; const float *x; const ds_tensor *w; const float *bias;
    int64_t M, N, K;
    const ds__gemm_kernel *kern;
    int split_m;              /* threads split M (in MR units) instead of N (in NR units) */
    float *scratch; int64_t per_thread;
} ds__gemm_job;

/* Loop order (BLIS, with x in the role of BLIS's B): for each KC slice of K, the thread's x rows are
   packed into MR-row slivers (an MR x KC sliver stays in L1 while it is used), then W is taken
   DS__GEMM_NB rows at a time, converted and packed into NR-row slivers (the block stays in L2), and
   every (x sliver, W sliver) pair meets in the microkernel. */
#define DS__GEMM_NB 512    /* W rows per packed block: NB x KC floats in L2 */
#define DS__GEMM_MX 2048   /* x rows per packed block                        */
static void ds__gemm_part(void *arg, int64_t u0, int64_t u1, int tid) {
    const ds__gemm_job *j = (const ds__gemm_job *)arg;
    const int mr = j->kern->mr, nr = j->kern->nr;
    const int64_t m_lo = j->split_m ? u0 * mr : 0, m_hi = j->split_m ? DS__MIN(j->M, u1 * mr) : j->M;
    const int64_t n_lo = j->split_m ? 0 : u0 * nr, n_hi = j->split_m ? j->N : DS__MIN(j->N, u1 * nr);
    float *xp = j->scratch + tid * j->per_thread, *wp = xp + (DS__GEMM_MX + 16) * DS__GEMM_KC;
    float *tmp = wp + (DS__GEMM_NB + 32) * DS__GEMM_KC, *ct = tmp + nr * DS__GEMM_KC;
    int64_t mc, pc, nc, ir, jr;
    for (mc = m_lo; mc < m_hi; mc += DS__GEMM_MX) {
        int64_t mb = DS__MIN((int64_t)DS__GEMM_MX, m_hi - mc);
        for (pc = 0; pc < j->K; pc += DS__GEMM_KC) {
            int64_t kc = DS__MIN((int64_t)DS__GEMM_KC, j->K - pc);
            for (ir = 0; ir < mb; ir += mr) {                      /* x block -> MR-row slivers */
                const void *rows[16]; int i, nrow = (int)DS__MIN((int64_t)mr, mb - ir);
                for (i = 0; i < nrow; i++) rows[i] = j->x + (mc + ir + i) * j->K + pc;
                ds__pack_t(xp + ir * kc, mr, rows, DS_F32, nrow, kc);
            }
            for (nc = n_lo; nc < n_hi; nc += DS__GEMM_NB) {
                int64_t nb = DS__MIN((int64_t)DS__GEMM_NB, n_hi - nc);
                for (jr = 0; jr < nb; jr += nr)
                    ds__pack_w(wp + jr * kc, nr, j->w, j->K, nc + jr, (int)DS__MIN((int64_t)nr, nb - jr), pc, kc, tmp);
                for (ir = 0; ir < mb; ir += mr) {
                    int rows = (int)DS__MIN((int64_t)mr, mb - ir);
                    for (jr = 0; jr < nb; jr += nr) {
                        int cols = (int)DS__MIN((int64_t)nr, nb - jr), r, c;
                        float *yt = j->y + (mc + ir) * j->N + nc + jr;
                        const float *bias = j->bias && pc == 0 ? j->bias + nc + jr : NULL;
                        if (rows == mr && cols == nr) { j->kern->ukr(kc, xp + ir * kc, wp + jr * kc, yt, j->N, bias, pc > 0); continue; }
                        j->kern->ukr(kc, xp + ir * kc, wp + jr * kc, ct, nr, NULL, 0);
                        for (r = 0; r < rows; r++)
                            for (c = 0; c < cols; c++) yt[r * j->N + c] = ct[r * nr + c] + (pc > 0 ? yt[r * j->N + c] : bias ? bias[c] : 0.0f);
                    }
                }
            }
        }
    }
}

static ds_result ds__gemm_f32(ds_ctx *ctx, float *y, const float *x, int64_t M, int64_t N, int64_t K, const ds_tensor *w, const float *bias) {
    ds__gemm_job j;
    int64_t units;
    memset(&j, 0, sizeof j);
    j.y = y; j.x = x; j.w = w; j.bias = bias; j.M = M; j.N = N; j.K = K;
    j.kern = ds__gemm_kernel_get();
    /* split N unless it leaves threads with fewer than 4 slivers each and M has more to give */
    j.split_m = N < (int64_t)ctx->n_threads * 4 * j.kern->nr && M > N;
    units = j.split_m ? (M + j.kern->mr - 1) / j.kern->mr : (N + j.kern->nr - 1) / j.kern->nr;
    j.per_thread = (int64_t)(DS__GEMM_MX + 16 + DS__GEMM_NB + 32 + j.kern->nr) * DS__GEMM_KC + j.kern->mr * j.kern->nr + 16;
    j.scratch = ds__falloc(ctx, j.per_thread * ctx->n_threads);
    if (!j.scratch) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "linear %s: gemm scratch", w->name);
    ds__parallel_for(ctx, units, ds__gemm_part, &j);
    ds__free(ctx, j.scratch);
    return DS_SUCCESS;
}

/* --- few rows: dot products over converted W rows ------------------------------------------ */
typedef struct ds__lin_job {
    float *y; const float *x; int64_t M, N, K;
    const ds_tensor *w; const float *bias;
    float *scratch;   /* per thread: K floats */
} ds__lin_job;

static void ds__linear_part(void *arg, int64_t n0, int64_t n1, int tid) {
    const ds__lin_job *j = (const ds__lin_job *)arg;
    float *wbuf = j->scratch + tid * j->K;
    int64_t n, m;
    for (n = n0; n < n1; n++) {
        const float *wr = wbuf;
        if (j->w->dtype == DS_F32) wr = (const float *)j->w->data + n * j->K;
        else ds__tensor_to_f32(wbuf, j->w, n * j->K, j->K);
        for (m = 0; m < j->M; m++) j->y[m * j->N + n] = ds__dot_f32(j->x + m * j->K, wr, j->K) + (j->bias ? j->bias[n] : 0.0f);
    }
}

static ds_result ds__gemv(ds_ctx *ctx, float *y, const float *x, int64_t M, int64_t N, int64_t K, const ds_tensor *w, const float *bias) {
    ds__lin_job j;
    j.y = y; j.x = x; j.M = M; j.N = N; j.K = K; j.w = w; j.bias = bias;
    j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * K);
    if (!j.scratch) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "linear %s: row buffer", w->name);
    ds__parallel_for(ctx, N, ds__linear_part, &j);
    ds__free(ctx, j.scratch);
    return DS_SUCCESS;
}

/* --- quantized weights: integer dot products ------------------------------------------------
   ggml's scheme: x is quantized to 8 bits once per call, W stays in integer codes, and blocks
   meet in integer dot products that are scaled in f32 once per block. Two families:
     Q32  (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0): x in blocks of 32 with an f32 scale; a W block is
          value = d * code + o with code 0..255 (the signed types carry their offset in o: Q4_0
          o = -8d, Q8_0 code = q + 128, o = -128d; Q4_1/Q5_1 o = m). Per block:
          d_w d_x sum(code * q_x) + o * (d_x sum q_x).
     Q256 (Q2_K Q3_K Q4_K Q5_K Q6_K): x in blocks of 256 (ggml's Q8_K) with an f32 scale and
          sums per 16; W value = d * sc_g * code - mn_g with codes 0..63 (Q3_K/Q6_K's offsets
          4/32 become mn_g = offset * d * sc_g). Per super-block the integer sum
          sum_g sc_g sum(code * q_x) is formed first (maddubs + dpwssd), then scaled once.
   W rows are decoded a panel (DS__QNP rows) at a time into that unsigned-code form, with per-lane
   scale vectors laid out for the kernels, and every x row tile meets the panel while it is in L2.
   IQ4_NL / IQ4_XS (and Q8_1 / Q8_K weights) take the f32 GEMM, dequantized while packing. */
#define DS__QNP 32        /* W rows decoded per panel */

enum { DS__QF_NONE = 0, DS__QF_32, DS__QF_256 };
static int ds__qfamily(ds_dtype t) {
    switch (t) {
    case DS_Q4_0: case DS_Q4_1: case DS_Q5_0: case DS_Q5_1: case DS_Q8_0: return DS__QF_32;
    case DS_Q2_K: case DS_Q3_K: case DS_Q4_K: case DS_Q5_K: case DS_Q6_K: return DS__QF_256;
    default: return DS__QF_NONE;
    }
}

/* Quantized activations, row m at q + m*kq (kq: K rounded up to 64; the padding is zero).
   Q32:  the two blocks of each chunk of 64 are interleaved by 4 bytes (ds__q32_pos), so the 16
         int32 lanes of a dpbusd alternate between them and the pair of block scales is one 64-bit
         broadcast; d + m*kq/32: scale per block; s + m*ns: d * sum(q) per block (ns: blocks
         rounded up to 16, zero padded).
   Q256: natural order; d + m*K/256: scale per block; s + m*ns: d * sum(q) per 16 (ns = K/16). */
typedef struct ds__qx {
    int fam, w8;           /* w8: W codes use all 8 bits (Q8_0), for kernels without u8 x s8 sums */
    int64_t K, kq, ns; int8_t *q; float *d, *s;
} ds__qx;

/* position of element t (0..31) of block b (0, 1) inside its chunk of 64 */
static DS__INLINE int ds__q32_pos(int b, int t) { return 8 * (t >> 2) + 4 * b + (t & 3); }

static void ds__qx_row(const ds__qx *a, int64_t m, const float *x) {
    int8_t *q = a->q + m * a->kq; int64_t b, j, nb;
    if (a->fam == DS__QF_32) {
        float *dd = a->d + m * (a->kq / 32), *s = a->s + m * a->ns;
        nb = a->K / 32;
        for (b = 0; b < a->kq / 32; b++) {
            float amax = 0, d = 0, id = 0; int sum = 0; int8_t *qc = q + 64 * (b / 2), qb[32];
            memset(qb, 0, sizeof qb);
            if (b < nb) {
                for (j = 0; j < 32; j++) amax = DS__MAX(amax, fabsf(x[32 * b + j]));
                d = amax / 127.0f; id = d > 0 ? 1.0f / d : 0.0f;
                for (j = 0; j < 32; j++) { int v = ds__nearest_int(x[32 * b + j] * id); qb[j] = (int8_t)v; sum += v; }
            }
            for (j = 0; j < 8; j++) memcpy(qc + 8 * j + 4 * (b & 1), qb + 4 * j, 4);   /* = ds__q32_pos */
            dd[b] = d;
            s[b] = d * (float)sum;
        }
        for (; b < a->ns; b++) s[b] = 0;
    } else {
        float *dd = a->d + m * (a->K / 256), *s = a->s + m * a->ns;
        for (b = 0; b < a->K / 256; b++) {
            float amax = 0, d, id; int g;
            for (j = 0; j < 256; j++) amax = DS__MAX(amax, fabsf(x[256 * b + j]));
            d = amax / 127.0f; id = d > 0 ? 1.0f / d : 0.0f;
            for (g = 0; g < 16; g++) {
                int sum = 0;
                for (j = 16 * g; j < 16 * g + 16; j++) { int v = ds__nearest_int(x[256 * b + j] * id); q[256 * b + j] = (int8_t)v; sum += v; }
                s[16 * b + g] = d * (float)sum;
            }
            dd[b] = d;
        }
    }
}

/* Decoded W row. Q32:  u8 c[kq] (interleaved as in ds__qx) | f32 d[kq/32] | f32 o[ns]
                  Q256: u8 c[K] | i16 sc[K/16] (scale per 16) | f32 d[K/256] | f32 mn[K/16] (negated) */
static int64_t ds__qrow_bytes(int fam, int64_t K, int64_t kq, int64_t ns) {
    return fam == DS__QF_32 ? kq + kq / 8 + 4 * ns : K + K / 8 + K / 64 + ns * 4;
}
/* 8 codes at a time in a uint64 (SWAR): compilers at -O2 leave byte loops with shifts scalar. */
#define DS__B1 0x0101010101010101ull
static DS__INLINE uint64_t ds__ld8(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static DS__INLINE void ds__st8(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void ds__qdecode_row(uint8_t *out, ds_dtype t, const uint8_t *src, int64_t K, int64_t kq, int64_t ns) {
    int64_t b, j;
    if (ds__qfamily(t) == DS__QF_32) {
        uint8_t *c = out, cb[32]; float *dv = (float *)(void *)(out + kq), *o = dv + kq / 32;
        int64_t nb = K / 32;
        for (b = 0; b < kq / 32; b++) {
            float d = 0, off = 0; uint8_t *cc = c + 64 * (b / 2);
            memset(cb, 0, sizeof cb);
            if (b < nb) {
                const uint8_t *p = src + b * (int64_t)ds__traits[t].bytes;
                switch (t) {
                case DS_Q4_0: case DS_Q4_1: {
                    const uint8_t *qs = p + (t == DS_Q4_0 ? 2 : 4);
                    for (j = 0; j < 16; j += 8) { uint64_t v = ds__ld8(qs + j); ds__st8(cb + j, v & 15 * DS__B1); ds__st8(cb + 16 + j, (v >> 4) & 15 * DS__B1); }
                    d = ds__half(p); off = t == DS_Q4_0 ? -8.0f * d : ds__half(p + 2);
                    break;
                }
                case DS_Q5_0: case DS_Q5_1: {
                    const uint8_t *qh = p + (t == DS_Q5_0 ? 2 : 4), *qs = qh + 4; uint32_t h = ds__le32(qh);
                    for (j = 0; j < 16; j++) { cb[j] = (uint8_t)((qs[j] & 15) | ((h >> j) & 1) << 4); cb[j + 16] = (uint8_t)((qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4); }
                    d = ds__half(p); off = t == DS_Q5_0 ? -16.0f * d : ds__half(p + 2);
                    break;
                }
                default:   /* Q8_0 */
                    for (j = 0; j < 32; j += 8) ds__st8(cb + j, ds__ld8(p + 2 + j) ^ 0x80 * DS__B1);   /* q + 128 */
                    d = ds__half(p); off = -128.0f * d;
                    break;
                }
            }
            for (j = 0; j < 8; j++) memcpy(cc + 8 * j + 4 * (b & 1), cb + 4 * j, 4);   /* = ds__q32_pos */
            dv[b] = d;
            o[b] = off;
        }
        for (; b < ns; b++) o[b] = 0;
    } else {
        uint8_t *c = out; int16_t *sv = (int16_t *)(void *)(out + K); float *dd = (float *)(void *)(out + K + K / 8), *mn = dd + K / 256;
        for (b = 0; b < K / 256; b++) {
            const uint8_t *p = src + b * (int64_t)ds__traits[t].bytes; uint8_t *cb = c + 256 * b;
            int sc[16], m[16], g, h, k; float d, dmin;
            switch (t) {
            case DS_Q2_K: {   /* element 128h + 32k + e: bits 2k of qs[32h + e] */
                const ds__block_q2_k *q = (const ds__block_q2_k *)p;
                for (h = 0; h < 2; h++) for (k = 0; k < 4; k++) for (j = 0; j < 32; j += 8)
                    ds__st8(cb + 128 * h + 32 * k + j, (ds__ld8(q->qs + 32 * h + j) >> (2 * k)) & 3 * DS__B1);
                for (g = 0; g < 16; g++) { sc[g] = q->scales[g] & 15; m[g] = q->scales[g] >> 4; }
                d = ds__half(q->d); dmin = ds__half(q->dmin);
                break;
            }
            case DS_Q3_K: {   /* ... plus bit 4h + k of hmask[e] as bit 2 */
                const ds__block_q3_k *q = (const ds__block_q3_k *)p;
                for (h = 0; h < 2; h++) for (k = 0; k < 4; k++) for (j = 0; j < 32; j += 8)
                    ds__st8(cb + 128 * h + 32 * k + j, ((ds__ld8(q->qs + 32 * h + j) >> (2 * k)) & 3 * DS__B1) | ((ds__ld8(q->hmask + j) >> (4 * h + k)) & DS__B1) << 2);
                d = dmin = ds__half(q->d);
                for (g = 0; g < 16; g++) { sc[g] = ds__q3_k_scale(q->scales, g); m[g] = 4 * sc[g]; }
                break;
            }
            case DS_Q4_K: case DS_Q5_K: {   /* chunk c: low nibbles of qs[32c + e] then high ones; Q5_K bit c' of qh[e] */
                const uint8_t *scales = p + 4, *qh = p + 16, *qs = p + (t == DS_Q5_K ? 48 : 16);
                for (k = 0; k < 4; k++) for (j = 0; j < 32; j += 8) {
                    uint64_t v = ds__ld8(qs + 32 * k + j);
                    ds__st8(cb + 64 * k + j, v & 15 * DS__B1); ds__st8(cb + 64 * k + 32 + j, (v >> 4) & 15 * DS__B1);
                }
                if (t == DS_Q5_K)
                    for (k = 0; k < 8; k++) for (j = 0; j < 32; j += 8)
                        ds__st8(cb + 32 * k + j, ds__ld8(cb + 32 * k + j) | ((ds__ld8(qh + j) >> k) & DS__B1) << 4);
                for (g = 0; g < 8; g++) { ds__k_scale_min(scales, g, &sc[2 * g], &m[2 * g]); sc[2 * g + 1] = sc[2 * g]; m[2 * g + 1] = m[2 * g]; }
                d = ds__half(p); dmin = ds__half(p + 2);
                break;
            }
            default: {   /* Q6_K: element 128h + 32k + e: nibble k/2 of ql[64h + 32(k&1) + e], bits 2k of qh[32h + e] */
                const ds__block_q6_k *q = (const ds__block_q6_k *)p;
                for (h = 0; h < 2; h++) for (k = 0; k < 4; k++) for (j = 0; j < 32; j += 8)
                    ds__st8(cb + 128 * h + 32 * k + j, ((ds__ld8(q->ql + 64 * h + 32 * (k & 1) + j) >> (4 * (k >> 1))) & 15 * DS__B1) |
                                                       ((ds__ld8(q->qh + 32 * h + j) >> (2 * k)) & 3 * DS__B1) << 4);
                d = dmin = ds__half(q->d);
                for (g = 0; g < 16; g++) { sc[g] = q->scales[g]; m[g] = 32 * sc[g]; }
                break;
            }
            }
            for (g = 0; g < 16; g++) { sv[16 * b + g] = (int16_t)sc[g]; mn[16 * b + g] = -dmin * (float)m[g]; }
            dd[b] = d;
        }
    }
}

/* Scalar reference: one W row (original blocks) against one quantized x row, through the
   dequantizer (bit-exact with gguf) and the activation codes, in double. */
static double ds__qdot_ref(ds_dtype t, const void *wrow, const ds__qx *a, int64_t m, float *wbuf) {
    const int8_t *q = a->q + m * a->kq; double s = 0; int64_t k;
    ds__traits[t].to_f32(wbuf, wrow, a->K);
    for (k = 0; k < a->K; k++) {
        float dx = a->fam == DS__QF_32 ? a->d[m * (a->kq / 32) + k / 32] : a->d[m * (a->K / 256) + k / 256];
        int64_t p = a->fam == DS__QF_32 ? 64 * (k / 64) + ds__q32_pos((int)((k / 32) & 1), (int)(k % 32)) : k;
        s += (double)wbuf[k] * dx * q[p];
    }
    return s;
}

/* Kernels: y[m * ldy + r] = dot(x row m0 + m, decoded W row r), m < nm <= MR, r < nw <= NR.
   ds__qk_c is the portable one; the SIMD ones run a full MR x NR tile and, on an edge, point
   the missing rows at the last real one and store only the real results. */
typedef void (*ds__qk_fn)(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy);
typedef struct ds__qkernel { const char *name; int mr32, nr32, mr256, nr256; ds__qk_fn k32, k256; } ds__qkernel;

static void ds__qk_c(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy) {
    int mi, r; int64_t b, j;
    for (mi = 0; mi < nm; mi++)
        for (r = 0; r < nw; r++) {
            const int8_t *q = a->q + (m0 + mi) * a->kq; const uint8_t *c = w + r * ws; double acc = 0;
            if (a->fam == DS__QF_32) {
                const float *dx = a->d + (m0 + mi) * (a->kq / 32), *sx = a->s + (m0 + mi) * a->ns;
                const float *dw = (const float *)(const void *)(c + a->kq), *o = dw + a->kq / 32;
                for (b = 0; b < a->kq / 32; b++) {
                    int32_t is = 0; int t;
                    for (t = 0; t < 32; t++) { int64_t p = 64 * (b / 2) + ds__q32_pos((int)(b & 1), t); is += (int32_t)c[p] * q[p]; }
                    acc += (double)((float)is * (dw[b] * dx[b])) + (double)(o[b] * sx[b]);
                }
            } else {
                const int16_t *sv = (const int16_t *)(const void *)(c + a->K);
                const float *dw = (const float *)(const void *)(c + a->K + a->K / 8), *mn = dw + a->K / 256;
                const float *dx = a->d + (m0 + mi) * (a->K / 256), *sx = a->s + (m0 + mi) * a->ns;
                for (b = 0; b < a->K / 256; b++) {
                    int32_t is = 0; int g;
                    for (g = 0; g < 16; g++) {
                        int32_t gs = 0;
                        for (j = 256 * b + 16 * g; j < 256 * b + 16 * g + 16; j++) gs += (int32_t)c[j] * q[j];
                        is += gs * sv[16 * b + g];
                        acc += (double)(mn[16 * b + g] * sx[16 * b + g]);
                    }
                    acc += (double)((float)is * (dw[b] * dx[b]));
                }
            }
            y[mi * ldy + r] = (float)acc;
        }
}

#if defined(DS__HAS_AVX2)
static DS__INLINE __m256 ds__bcast2_256(const float *p) { double v; memcpy(&v, p, 8); return _mm256_castpd_ps(_mm256_set1_pd(v)); }
/* int16 pairs x int16 scales, summed into int32 lanes: AVX-VNNI where the build has it */
#if defined(__AVXVNNI__)
#  define DS__DPWSSD256(acc, a, b) _mm256_dpwssd_avx_epi32(acc, a, b)
#else
#  define DS__DPWSSD256(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#endif
/* Q32, 2 x 2 on 256-bit vectors: codes <= 31 go through maddubs (pair sums cannot saturate);
   Q8_0's full-byte codes use the sign trick on q = code - 128, whose sum is exactly what the
   offset term would correct, so that term is left out. */
static void ds__qk32_avx2(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy) {
    const int64_t kq = a->kq, nc = kq / 64, ldd = kq / 32, r1 = m0 + DS__MIN(1, nm - 1);
    const int8_t *x0 = a->q + m0 * kq, *x1 = a->q + r1 * kq;
    const float *d0 = a->d + m0 * ldd, *d1 = a->d + r1 * ldd;
    const uint8_t *w0 = w, *w1 = w + DS__MIN(1, nw - 1) * ws;
    const float *e0 = (const float *)(const void *)(w0 + kq), *e1 = (const float *)(const void *)(w1 + kq);
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256 f00 = _mm256_setzero_ps(), f01 = f00, f10 = f00, f11 = f00;
    float t[4]; int64_t c, b; int i, k;
    for (c = 0; c < nc; c++) {
        __m256i q0a = _mm256_loadu_si256((const __m256i *)(const void *)(w0 + 64 * c)), q0b = _mm256_loadu_si256((const __m256i *)(const void *)(w0 + 64 * c + 32));
        __m256i q1a = _mm256_loadu_si256((const __m256i *)(const void *)(w1 + 64 * c)), q1b = _mm256_loadu_si256((const __m256i *)(const void *)(w1 + 64 * c + 32));
        __m256 s0 = ds__bcast2_256(e0 + 2 * c), s1 = ds__bcast2_256(e1 + 2 * c);
        if (!a->w8) {
#define DS__ROW(m) { const __m256i xa = _mm256_loadu_si256((const __m256i *)(const void *)(x##m + 64 * c)), xb = _mm256_loadu_si256((const __m256i *)(const void *)(x##m + 64 * c + 32)); \
            const __m256 xd = ds__bcast2_256(d##m + 2 * c); \
            __m256i i0 = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(q0a, xa), _mm256_maddubs_epi16(q0b, xb)), ones); \
            __m256i i1 = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(q1a, xa), _mm256_maddubs_epi16(q1b, xb)), ones); \
            f##m##0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_mul_ps(s0, xd), f##m##0); \
            f##m##1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_mul_ps(s1, xd), f##m##1); }
            DS__ROW(0) DS__ROW(1)
#undef DS__ROW
        } else {
            q0a = _mm256_xor_si256(q0a, flip); q0b = _mm256_xor_si256(q0b, flip); q1a = _mm256_xor_si256(q1a, flip); q1b = _mm256_xor_si256(q1b, flip);
#define DS__SDOT(q, x) _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q)), ones)
#define DS__ROW(m) { const __m256i xa = _mm256_loadu_si256((const __m256i *)(const void *)(x##m + 64 * c)), xb = _mm256_loadu_si256((const __m256i *)(const void *)(x##m + 64 * c + 32)); \
            const __m256 xd = ds__bcast2_256(d##m + 2 * c); \
            f##m##0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(DS__SDOT(q0a, xa), DS__SDOT(q0b, xb))), _mm256_mul_ps(s0, xd), f##m##0); \
            f##m##1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(DS__SDOT(q1a, xa), DS__SDOT(q1b, xb))), _mm256_mul_ps(s1, xd), f##m##1); }
            DS__ROW(0) DS__ROW(1)
#undef DS__ROW
#undef DS__SDOT
        }
    }
    if (!a->w8) {
        const float *o0 = e0 + ldd, *o1 = e1 + ldd, *sx0 = a->s + m0 * a->ns, *sx1 = a->s + r1 * a->ns;
        for (b = 0; b < a->ns; b += 8) {
            __m256 u0 = _mm256_loadu_ps(o0 + b), u1 = _mm256_loadu_ps(o1 + b), v0 = _mm256_loadu_ps(sx0 + b), v1 = _mm256_loadu_ps(sx1 + b);
            f00 = _mm256_fmadd_ps(u0, v0, f00); f01 = _mm256_fmadd_ps(u1, v0, f01);
            f10 = _mm256_fmadd_ps(u0, v1, f10); f11 = _mm256_fmadd_ps(u1, v1, f11);
        }
    }
    t[0] = ds__hsum256(f00); t[1] = ds__hsum256(f01); t[2] = ds__hsum256(f10); t[3] = ds__hsum256(f11);
    for (i = 0; i < nm; i++) for (k = 0; k < nw; k++) y[i * ldy + k] = t[2 * i + k];
}

/* Q256, 2 x 2 on 256-bit vectors: per chunk of 32, maddubs then the two group scales of the
   chunk (one per 128-bit half, spread by a byte shuffle) through madd / AVX-VNNI. */
static void ds__qk256_avx2(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy) {
    const int64_t K = a->K, nsb = K / 256, r1 = m0 + DS__MIN(1, nm - 1);
    const int8_t *x0 = a->q + m0 * K, *x1 = a->q + r1 * K;
    const float *dx0 = a->d + m0 * nsb, *dx1 = a->d + r1 * nsb, *sx0 = a->s + m0 * a->ns, *sx1 = a->s + r1 * a->ns;
    const uint8_t *w0 = w, *w1 = w + DS__MIN(1, nw - 1) * ws;
    const int16_t *v0 = (const int16_t *)(const void *)(w0 + K), *v1 = (const int16_t *)(const void *)(w1 + K);
    const float *dw0 = (const float *)(const void *)(w0 + K + K / 8), *dw1 = (const float *)(const void *)(w1 + K + K / 8);
    const float *mn0 = dw0 + nsb, *mn1 = dw1 + nsb;
    const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256 f00 = _mm256_setzero_ps(), f01 = f00, f10 = f00, f11 = f00;
    float t[4]; int64_t sb; int c, i, k;
    for (sb = 0; sb < nsb; sb++) {
        __m256i i00 = _mm256_setzero_si256(), i01 = i00, i10 = i00, i11 = i00;
        for (c = 0; c < 8; c++) {
            const int64_t o = 256 * sb + 32 * c;
            int32_t g0, g1; __m256i q0, q1, s0, s1;
            memcpy(&g0, v0 + 16 * sb + 2 * c, 4); memcpy(&g1, v1 + 16 * sb + 2 * c, 4);
            q0 = _mm256_loadu_si256((const __m256i *)(const void *)(w0 + o)); q1 = _mm256_loadu_si256((const __m256i *)(const void *)(w1 + o));
            s0 = _mm256_shuffle_epi8(_mm256_set1_epi32(g0), spread); s1 = _mm256_shuffle_epi8(_mm256_set1_epi32(g1), spread);
#define DS__ROW(m) { const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x##m + o)); \
            i##m##0 = DS__DPWSSD256(i##m##0, _mm256_maddubs_epi16(q0, xv), s0); i##m##1 = DS__DPWSSD256(i##m##1, _mm256_maddubs_epi16(q1, xv), s1); }
            DS__ROW(0) DS__ROW(1)
#undef DS__ROW
        }
        {
            const __m256 n0a = _mm256_loadu_ps(mn0 + 16 * sb), n0b = _mm256_loadu_ps(mn0 + 16 * sb + 8);
            const __m256 n1a = _mm256_loadu_ps(mn1 + 16 * sb), n1b = _mm256_loadu_ps(mn1 + 16 * sb + 8);
#define DS__ROW(m) { const __m256 xa = _mm256_loadu_ps(sx##m + 16 * sb), xb = _mm256_loadu_ps(sx##m + 16 * sb + 8); \
            f##m##0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i##m##0), _mm256_set1_ps(dw0[sb] * dx##m[sb]), _mm256_fmadd_ps(n0a, xa, _mm256_fmadd_ps(n0b, xb, f##m##0))); \
            f##m##1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i##m##1), _mm256_set1_ps(dw1[sb] * dx##m[sb]), _mm256_fmadd_ps(n1a, xa, _mm256_fmadd_ps(n1b, xb, f##m##1))); }
            DS__ROW(0) DS__ROW(1)
#undef DS__ROW
        }
    }
    t[0] = ds__hsum256(f00); t[1] = ds__hsum256(f01); t[2] = ds__hsum256(f10); t[3] = ds__hsum256(f11);
    for (i = 0; i < nm; i++) for (k = 0; k < nw; k++) y[i * ldy + k] = t[2 * i + k];
}
#endif

#if defined(DS__HAS_AVX512) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define DS__HAS_AVX512VNNI 1
#if defined(__GNUC__) && !defined(__clang__) && defined(__cplusplus)
#  pragma GCC diagnostic push   /* g++ 12 flags the _mm512_undefined_* inside its own intrinsics */
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#  pragma GCC diagnostic ignored "-Wuninitialized"
#endif
/* Q32, 4 x rows x 4 W rows: per chunk of 64, one dpbusd per pair leaves 16 lane sums that
   alternate between the chunk's two blocks, converted and scaled by (W block scale pair * x block
   scale pair), each pair one 64-bit broadcast; the offsets join as a plain f32 dot over blocks at
   the end. 16 accumulators + 4 W code vectors + 4 W scale vectors. */
static DS__INLINE __m512 ds__bcast2(const float *p) { double v; memcpy(&v, p, 8); return _mm512_castpd_ps(_mm512_set1_pd(v)); }
static void ds__qk32_avx512(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy) {
    const int64_t kq = a->kq, nc = kq / 64, ldd = kq / 32;
    const int64_t r1 = m0 + DS__MIN(1, nm - 1), r2 = m0 + DS__MIN(2, nm - 1), r3 = m0 + DS__MIN(3, nm - 1);
    const int8_t *x0 = a->q + m0 * kq, *x1 = a->q + r1 * kq, *x2 = a->q + r2 * kq, *x3 = a->q + r3 * kq;
    const float *d0 = a->d + m0 * ldd, *d1 = a->d + r1 * ldd, *d2 = a->d + r2 * ldd, *d3 = a->d + r3 * ldd;
    const uint8_t *w0 = w, *w1 = w + DS__MIN(1, nw - 1) * ws, *w2 = w + DS__MIN(2, nw - 1) * ws, *w3 = w + DS__MIN(3, nw - 1) * ws;
    float t[16];
    const float *e0 = (const float *)(const void *)(w0 + kq), *e1 = (const float *)(const void *)(w1 + kq);
    const float *e2 = (const float *)(const void *)(w2 + kq), *e3 = (const float *)(const void *)(w3 + kq);
    const __m512i z = _mm512_setzero_si512();
    __m512 f00 = _mm512_setzero_ps(), f01 = f00, f02 = f00, f03 = f00, f10 = f00, f11 = f00, f12 = f00, f13 = f00;
    __m512 f20 = f00, f21 = f00, f22 = f00, f23 = f00, f30 = f00, f31 = f00, f32 = f00, f33 = f00;
    int64_t c, b; int i, k;
    for (c = 0; c < nc; c++) {
        __m512i q0 = _mm512_loadu_si512(w0 + 64 * c), q1 = _mm512_loadu_si512(w1 + 64 * c);
        __m512i q2 = _mm512_loadu_si512(w2 + 64 * c), q3 = _mm512_loadu_si512(w3 + 64 * c);
        __m512 s0 = ds__bcast2(e0 + 2 * c), s1 = ds__bcast2(e1 + 2 * c), s2 = ds__bcast2(e2 + 2 * c), s3 = ds__bcast2(e3 + 2 * c);
#define DS__ROW(m) { \
        __m512i xv = _mm512_loadu_si512(x##m + 64 * c); __m512 xd = ds__bcast2(d##m + 2 * c); \
        f##m##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, q0, xv)), _mm512_mul_ps(s0, xd), f##m##0); \
        f##m##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, q1, xv)), _mm512_mul_ps(s1, xd), f##m##1); \
        f##m##2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, q2, xv)), _mm512_mul_ps(s2, xd), f##m##2); \
        f##m##3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, q3, xv)), _mm512_mul_ps(s3, xd), f##m##3); }
        DS__ROW(0) DS__ROW(1) DS__ROW(2) DS__ROW(3)
#undef DS__ROW
    }
    {
        const float *o0 = e0 + ldd, *o1 = e1 + ldd, *o2 = e2 + ldd, *o3 = e3 + ldd;
        const float *sx0 = a->s + m0 * a->ns, *sx1 = a->s + r1 * a->ns, *sx2 = a->s + r2 * a->ns, *sx3 = a->s + r3 * a->ns;
        for (b = 0; b < a->ns; b += 16) {
            __m512 u0 = _mm512_loadu_ps(o0 + b), u1 = _mm512_loadu_ps(o1 + b), u2 = _mm512_loadu_ps(o2 + b), u3 = _mm512_loadu_ps(o3 + b);
#define DS__ROW(m) { __m512 sv = _mm512_loadu_ps(sx##m + b); \
            f##m##0 = _mm512_fmadd_ps(u0, sv, f##m##0); f##m##1 = _mm512_fmadd_ps(u1, sv, f##m##1); \
            f##m##2 = _mm512_fmadd_ps(u2, sv, f##m##2); f##m##3 = _mm512_fmadd_ps(u3, sv, f##m##3); }
            DS__ROW(0) DS__ROW(1) DS__ROW(2) DS__ROW(3)
#undef DS__ROW
        }
    }
#define DS__ST(m) t[4 * m + 0] = ds__hsum512(f##m##0); t[4 * m + 1] = ds__hsum512(f##m##1); t[4 * m + 2] = ds__hsum512(f##m##2); t[4 * m + 3] = ds__hsum512(f##m##3);
    DS__ST(0) DS__ST(1) DS__ST(2) DS__ST(3)
#undef DS__ST
    for (i = 0; i < nm; i++) for (k = 0; k < nw; k++) y[i * ldy + k] = t[4 * i + k];
}

/* Q256, 4 x rows x 2 W rows: per super-block, per chunk of 64, maddubs (u8 codes x s8 x -> 32
   int16 pair sums) then dpwssd with the lane scales (vpermw of the 16 group scales) accumulates
   sum_g sc_g sum(code q) in int32; once per super-block it is converted and scaled by d_w d_x,
   and the mins join as an f32 dot over the 16 group sums. */
static void ds__qk256_avx512(const ds__qx *a, int64_t m0, int nm, const uint8_t *w, int64_t ws, int nw, float *y, int64_t ldy) {
    const int64_t K = a->K, nsb = K / 256, ldd = K / 256;
    const int64_t r1 = m0 + DS__MIN(1, nm - 1), r2 = m0 + DS__MIN(2, nm - 1), r3 = m0 + DS__MIN(3, nm - 1);
    const int8_t *x0 = a->q + m0 * K, *x1 = a->q + r1 * K, *x2 = a->q + r2 * K, *x3 = a->q + r3 * K;
    const float *dx0 = a->d + m0 * ldd, *dx1 = a->d + r1 * ldd, *dx2 = a->d + r2 * ldd, *dx3 = a->d + r3 * ldd;
    const float *sx0 = a->s + m0 * a->ns, *sx1 = a->s + r1 * a->ns, *sx2 = a->s + r2 * a->ns, *sx3 = a->s + r3 * a->ns;
    const uint8_t *w0 = w, *w1 = w + DS__MIN(1, nw - 1) * ws;
    float t[8]; int i, k;
    const int16_t *v0 = (const int16_t *)(const void *)(w0 + K), *v1 = (const int16_t *)(const void *)(w1 + K);
    const float *dw0 = (const float *)(const void *)(w0 + K + K / 8), *dw1 = (const float *)(const void *)(w1 + K + K / 8);
    /* lane i of chunk c takes the scale of group 4c + i/8 */
    const __m512i p0 = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i p1 = _mm512_add_epi16(p0, _mm512_set1_epi16(4)), p2 = _mm512_add_epi16(p1, _mm512_set1_epi16(4)), p3 = _mm512_add_epi16(p2, _mm512_set1_epi16(4));
    const float *mn0 = dw0 + nsb, *mn1 = dw1 + nsb;
    __m512 f00 = _mm512_setzero_ps(), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00;
    int64_t sb;
    for (sb = 0; sb < nsb; sb++) {
        __m512i i00 = _mm512_setzero_si512(), i01 = i00, i10 = i00, i11 = i00, i20 = i00, i21 = i00, i30 = i00, i31 = i00;
        __m512i g0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(v0 + 16 * sb)));
        __m512i g1 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(v1 + 16 * sb)));
        /* the 4 chunks written out: a rolled loop makes compilers shuffle the accumulators */
#define DS__ROW(m) { __m512i xv = _mm512_loadu_si512(x##m + o); \
            i##m##0 = _mm512_dpwssd_epi32(i##m##0, _mm512_maddubs_epi16(q0, xv), s0); \
            i##m##1 = _mm512_dpwssd_epi32(i##m##1, _mm512_maddubs_epi16(q1, xv), s1); }
#define DS__CHUNK(c) { const int64_t o = 256 * sb + 64 * c; \
            __m512i q0 = _mm512_loadu_si512(w0 + o), q1 = _mm512_loadu_si512(w1 + o); \
            __m512i s0 = _mm512_permutexvar_epi16(p##c, g0), s1 = _mm512_permutexvar_epi16(p##c, g1); \
            DS__ROW(0) DS__ROW(1) DS__ROW(2) DS__ROW(3) }
        DS__CHUNK(0) DS__CHUNK(1) DS__CHUNK(2) DS__CHUNK(3)
#undef DS__CHUNK
#undef DS__ROW
        {
            __m512 a0 = _mm512_set1_ps(dw0[sb]), a1 = _mm512_set1_ps(dw1[sb]);
            __m512 n0 = _mm512_loadu_ps(mn0 + 16 * sb), n1 = _mm512_loadu_ps(mn1 + 16 * sb);
#define DS__ROW(m) { __m512 xd = _mm512_set1_ps(dx##m[sb]), xs = _mm512_loadu_ps(sx##m + 16 * sb); \
            f##m##0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##m##0), _mm512_mul_ps(a0, xd), _mm512_fmadd_ps(n0, xs, f##m##0)); \
            f##m##1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i##m##1), _mm512_mul_ps(a1, xd), _mm512_fmadd_ps(n1, xs, f##m##1)); }
            DS__ROW(0) DS__ROW(1) DS__ROW(2) DS__ROW(3)
#undef DS__ROW
        }
    }
#define DS__ST(m) t[2 * m] = ds__hsum512(f##m##0); t[2 * m + 1] = ds__hsum512(f##m##1);
    DS__ST(0) DS__ST(1) DS__ST(2) DS__ST(3)
#undef DS__ST
    for (i = 0; i < nm; i++) for (k = 0; k < nw; k++) y[i * ldy + k] = t[2 * i + k];
}
#if defined(__GNUC__) && !defined(__clang__) && defined(__cplusplus)
#  pragma GCC diagnostic pop
#endif
#endif

/* Every integer kernel this build has, preferred last. ds__qpick is a test hook: -1 = the last,
   -2 = none (quantized weights take the f32 GEMM). */
static const ds__qkernel ds__qkernels[] = {
    { "c", 1, 1, 1, 1, ds__qk_c, ds__qk_c },
#if defined(DS__HAS_AVX2)
    { "avx2", 2, 2, 2, 2, ds__qk32_avx2, ds__qk256_avx2 },
#endif
#if defined(DS__HAS_AVX512VNNI)
    { "avx512vnni", 4, 4, 4, 2, ds__qk32_avx512, ds__qk256_avx512 },
#endif
};
static int ds__qpick = -1;
static const ds__qkernel *ds__qkernel_get(void) {
    int n = DS__ARRLEN(ds__qkernels);
    if (ds__qpick >= 0 && ds__qpick < n) return &ds__qkernels[ds__qpick];
    /* without a SIMD integer kernel the f32 GEMM (dequantizing while packing) is the faster way */
    return ds__qpick == -2 || n == 1 ? NULL : &ds__qkernels[n - 1];
}

typedef struct ds__qjob {
    float *y; const float *x; ds__qx a; const ds_tensor *w; const float *bias;
    int64_t M, N, K, rb;           /* rb: bytes per decoded W row */
    const ds__qkernel *kern;
    int64_t nmb, mb;                /* work unit = (panel, block of mb x rows); nmb blocks per panel */
    uint8_t *panels;                /* per thread: DS__QNP decoded rows */
} ds__qjob;

static void ds__qx_part(void *arg, int64_t m0, int64_t m1, int tid) {
    const ds__qjob *j = (const ds__qjob *)arg; int64_t m;
    DS__UNUSED(tid);
    for (m = m0; m < m1; m++) ds__qx_row(&j->a, m, j->x + m * j->K);
}

static void ds__qlin_part(void *arg, int64_t u0, int64_t u1, int tid) {
    const ds__qjob *j = (const ds__qjob *)arg;
    const int fam = j->a.fam, mr = fam == DS__QF_32 ? j->kern->mr32 : j->kern->mr256, nr = fam == DS__QF_32 ? j->kern->nr32 : j->kern->nr256;
    const ds__qk_fn kf = fam == DS__QF_32 ? j->kern->k32 : j->kern->k256;
    const uint64_t wrow = ds__dtype_nbytes(j->w->dtype, j->K);
    uint8_t *panel = j->panels + (size_t)tid * (size_t)(DS__QNP * j->rb);
    int64_t u, m0, r, have = -1;
    for (u = u0; u < u1; u++) {
        int64_t p = u / j->nmb, n0 = p * DS__QNP, np = DS__MIN((int64_t)DS__QNP, j->N - n0);
        int64_t m_lo = (u % j->nmb) * j->mb, m_hi = DS__MIN(j->M, m_lo + j->mb);
        if (p != have)   /* consecutive units of a thread share the panel */
            for (r = 0, have = p; r < np; r++)
                ds__qdecode_row(panel + r * j->rb, j->w->dtype, (const uint8_t *)j->w->data + (uint64_t)(n0 + r) * wrow, j->K, j->a.kq, j->a.ns);
        for (m0 = m_lo; m0 < m_hi; m0 += mr) {
            int nm = (int)DS__MIN((int64_t)mr, m_hi - m0);
            float *yt = j->y + m0 * j->N + n0;
            for (r = 0; r < np; r += nr) {
                int nw = (int)DS__MIN((int64_t)nr, np - r);
                kf(&j->a, m0, nm, panel + r * j->rb, j->rb, nw, yt + r, j->N);
            }
            if (j->bias) { int mi; for (mi = 0; mi < nm; mi++) for (r = 0; r < np; r++) yt[mi * j->N + r] += j->bias[n0 + r]; }
        }
    }
}

static ds_result ds__linear_q(ds_ctx *ctx, float *y, const float *x, int64_t M, int64_t N, int64_t K, const ds_tensor *w, const float *bias) {
    ds__qjob j; ds__qx *a = &j.a;
    memset(&j, 0, sizeof j);
    j.y = y; j.x = x; j.w = w; j.bias = bias; j.M = M; j.N = N; j.K = K; j.kern = ds__qkernel_get();
    a->fam = ds__qfamily(w->dtype); a->w8 = w->dtype == DS_Q8_0; a->K = K;
    a->kq = a->fam == DS__QF_32 ? (K + 63) / 64 * 64 : K;
    a->ns = a->fam == DS__QF_32 ? (a->kq / 32 + 15) / 16 * 16 : K / 16;
    j.rb = (ds__qrow_bytes(a->fam, K, a->kq, a->ns) + 63) / 64 * 64;
    a->q = (int8_t *)ds__malloc(ctx, (size_t)(M * a->kq));
    a->d = ds__falloc(ctx, M * (a->fam == DS__QF_32 ? a->kq / 32 : K / 256));
    a->s = ds__falloc(ctx, M * a->ns);
    j.panels = (uint8_t *)ds__malloc(ctx, (size_t)ctx->n_threads * (size_t)(DS__QNP * j.rb));
    if (!a->q || !a->d || !a->s || !j.panels) {
        ds__free(ctx, a->q); ds__free(ctx, a->d); ds__free(ctx, a->s); ds__free(ctx, j.panels);
        return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "linear %s: quantized activations (%lld x %lld)", w->name, (long long)M, (long long)K);
    }
    {   /* few panels (small N): also split M, in blocks that keep whole kernel tiles */
        int64_t panels = (N + DS__QNP - 1) / DS__QNP, nt = ctx->n_threads;
        j.nmb = panels >= 2 * nt ? 1 : DS__MIN((M + 63) / 64, 2 * nt);
        j.mb = ((M + j.nmb - 1) / j.nmb + 3) / 4 * 4;
        j.nmb = (M + j.mb - 1) / j.mb;
        ds__parallel_for(ctx, M, ds__qx_part, &j);
        ds__parallel_for(ctx, panels * j.nmb, ds__qlin_part, &j);
    }
    ds__free(ctx, a->q); ds__free(ctx, a->d); ds__free(ctx, a->s); ds__free(ctx, j.panels);
    return DS_SUCCESS;
}


static const float *ds__f32(ds_ctx *ctx, const ds_tensor *t);   /* cached f32 copy (weights section) */

/* y[M,N] = x[M,K] W^T + b. W: [N, ...] with K = numel/N. b may be NULL. */
static ds_result ds__linear(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds_tensor *w, const ds_tensor *b) {
    int64_t N, K;
    const float *bias = NULL;
    if (!w || w->ndim < 1 || (unsigned)w->dtype >= DS_DTYPE_COUNT) return ds__err(ctx, DS_ERR_INVALID_ARGS, "linear: no weight");
    N = w->shape[0]; K = N ? ds_tensor_numel(w) / N : 0;
    if (K % ds__traits[w->dtype].block) return ds__err(ctx, DS_ERR_SHAPE, "%s: row length %lld is not a multiple of the %s block", w->name, (long long)K, ds_dtype_name(w->dtype));
    if (b && ds_tensor_numel(b) != N) return ds__err(ctx, DS_ERR_SHAPE, "%s: bias has %lld values, expected %lld", b->name, (long long)ds_tensor_numel(b), (long long)N);
    if (M <= 0 || N <= 0) return DS_SUCCESS;
    if (b && !(bias = ds__f32(ctx, b))) return DS_ERR_OUT_OF_MEMORY;
    if (K == 0) { int64_t m, n; for (m = 0; m < M; m++) for (n = 0; n < N; n++) y[m * N + n] = bias ? bias[n] : 0.0f; return DS_SUCCESS; }
    if (ds__qfamily(w->dtype) != DS__QF_NONE && ds__qkernel_get()) return ds__linear_q(ctx, y, x, M, N, K, w, bias);
    if (M < DS__GEMV_M) return ds__gemv(ctx, y, x, M, N, K, w, bias);
    return ds__gemm_f32(ctx, y, x, M, N, K, w, bias);
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
