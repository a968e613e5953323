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

/* Tokenizers: CLIP BPE and SentencePiece Unigram, ids equal to Hugging Face `tokenizers` for
   tokenizer.json / vocab.json + merges.txt / bpe_simple_vocab_16e6.txt.gz and to `sentencepiece`
   for .model files. The kind is read from the content (gzip is inflated first); a folder is
   searched for the usual file names; a .safetensors gives the .model in its `spiece_model`
   tensor (ComfyUI's umT5). */
typedef struct ds_tokenizer ds_tokenizer;
typedef struct ds_tokenizer_info {
    const char *kind;      /* "bpe" or "unigram"                                                 */
    const char *source;    /* "tokenizer.json", "vocab.json+merges.txt", "bpe_simple_vocab", "sentencepiece" */
    int32_t vocab_size, bos_id, eos_id, pad_id, unk_id;   /* -1: none                              */
    int max_length;        /* the length the pipelines frame to: 77 (CLIP), 512 (T5, umT5)        */
} ds_tokenizer_info;
enum { DS_TOKENIZE_RAW = 1,       /* the tokens only: no bos/eos, no padding                       */
       DS_TOKENIZE_NO_PAD = 2 };  /* bos/eos framing, no padding                                   */
DS_API ds_result ds_tokenizer_load(ds_ctx *ctx, const char *path, ds_tokenizer **out);
DS_API ds_result ds_tokenizer_load_memory(ds_ctx *ctx, const void *data, size_t size, ds_tokenizer **out);
/* Default framing: CLIP [49406, tokens, 49407], T5/umT5 [tokens, 1]; the tokens are truncated so
   the specials fit in max_ids, then padding (CLIP: 49407, T5/umT5: 0) fills ids to max_ids.
   *n_out: the ids before the padding (the attention mask length). With ids == NULL, *n_out is the
   framed length without truncation. The tokenizer is read-only here: threads may share it. */
DS_API ds_result ds_tokenizer_encode(const ds_tokenizer *tok, const char *utf8, int32_t *ids, int max_ids, int *n_out, unsigned flags);
DS_API void      ds_tokenizer_get_info(const ds_tokenizer *tok, ds_tokenizer_info *info);
DS_API void      ds_tokenizer_free(ds_tokenizer *tok);

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
/* Tokenizers whose ids equal the reference implementations for every input:
     * CLIP BPE (FLUX's CLIP-L): Hugging Face `tokenizers` running tokenizer.json, vocab.json +
       merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz (built the way transformers builds it).
     * SentencePiece Unigram (T5-XXL, umT5-XXL): `tokenizers` for tokenizer.json, `sentencepiece`
       itself for .model files. The two differ (ties, normalization), so each file kind follows
       its own reference.
   Hard-won facts, each mirrored below where it matters:
     * tokenizers' Precompiled normalizer walks extended grapheme clusters: a cluster shorter than
       6 bytes is replaced whole by the SHORTEST charsmap rule matching its start (the rest of the
       cluster is dropped); other clusters go char by char. sentencepiece instead takes the
       LONGEST rule at each byte position. Both read the same Darts double-array trie.
     * tokenizers' Unigram searches every vocab entry (control and byte pieces included) with f64
       scores as serde_json parses them (not always the nearest double: see ds__tj_num), unk =
       min(all scores) - 10, consecutive unknowns fused into one piece. sentencepiece searches
       NORMAL/USER_DEFINED/UNUSED pieces only, min over NORMAL pieces, sums path scores in float
       (checked against sentencepiece 0.2.x: ties then break by float rounding); user-defined
       pieces score len * max(FLT_MIN, max normal score) - 0.1.
     * BPE merges the lowest-ranked adjacent pair first, leftmost on ties (tokenizers' heap).
     * CLIP's normalizer is NFC, \s+ -> " ", lowercase per char (no final-sigma rule); its
       pre-tokenizer regex keeps 's|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ and
       drops the rest; each piece is byte-mapped (GPT-2 byte alphabet) and ends in "</w>".
   Framing (ds_tokenizer_encode without DS_TOKENIZE_RAW): the post-processor's specials around
   the tokens (CLIP: 49406 ... 49407; T5/umT5: ... 1), the tokens truncated so the specials stay,
   then padding to max_ids (CLIP pads with its eos 49407 as FLUX does, T5/umT5 with pad 0).
   Invalid UTF-8 input bytes are read as U+FFFD, one per byte, as sentencepiece does.
   Verified (tools/gen_tokenizer_tests.py, tests/test_tokenizer.c) on OpenAI's CLIP vocabulary and
   on trained Unigram models; also, outside the tests, on FLUX's own CLIP vocab.json/merges.txt and
   T5 spiece.model/tokenizer.json. Known approximations, none reached by the CLIP/T5/umT5 files:
   Metaspace's "first" scheme prepends only to the text before the first added token; an added
   token's single_word reads \w as letters, digits, marks and '_'. Pipelines that clean prompts
   first (Wan: ftfy + whitespace collapse) do that before calling ds_tokenizer_encode.
   Unicode: L/N/space classes and lowercase as tokenizers 0.23 has them, NFC data restricted to
   what its normalization crate knows, grapheme properties of Unicode 16/17. */

/* ---- growable buffers --------------------------------------------------------------------- */
typedef struct ds__tbuf { char *p; size_t n, cap; int oom; } ds__tbuf;
typedef struct ds__ivec { int32_t *p; size_t n, cap; int oom; } ds__ivec;

static int ds__tbuf_reserve(ds__tbuf *b, size_t extra) {
    size_t need, cap;
    if (b->oom) return 0;
    if (extra > SIZE_MAX / 2 - b->n) { b->oom = 1; return 0; }
    need = b->n + extra + 1;
    if (need <= b->cap) return 1;
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    {
        char *p = (char *)DS_REALLOC(b->p, cap);
        if (!p) { b->oom = 1; return 0; }
        b->p = p; b->cap = cap;
    }
    return 1;
}
static void ds__tbuf_put(ds__tbuf *b, const void *s, size_t n) {
    if (!ds__tbuf_reserve(b, n)) return;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n; b->p[b->n] = 0;
}
static void ds__tbuf_free(ds__tbuf *b) { DS_FREE(b->p); memset(b, 0, sizeof *b); }
static void ds__ivec_push(ds__ivec *v, int32_t x) {
    if (v->oom) return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = cap > SIZE_MAX / sizeof(int32_t) ? NULL : (int32_t *)DS_REALLOC(v->p, cap * sizeof(int32_t));
        if (!p) { v->oom = 1; return; }
        v->p = p; v->cap = cap;
    }
    v->p[v->n++] = x;
}
static void ds__ivec_free(ds__ivec *v) { DS_FREE(v->p); memset(v, 0, sizeof *v); }

/* ---- UTF-8 -------------------------------------------------------------------------------- */
/* Decodes one code point; returns its byte length, or 0 for a malformed sequence (overlong,
   surrogate, > U+10FFFF, truncated), judged as sentencepiece's DecodeUTF8 does. */
static int ds__utf8_dec(const uint8_t *s, size_t n, uint32_t *cp) {
    uint32_t c;
    if (!n) return 0;
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0 && n >= 2 && (s[1] & 0xC0) == 0x80) {
        c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        if (c >= 0x80) { *cp = c; return 2; }
    } else if ((s[0] & 0xF0) == 0xE0 && n >= 3 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF)) { *cp = c; return 3; }
    } else if ((s[0] & 0xF8) == 0xF0 && n >= 4 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
        c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (c >= 0x10000 && c <= 0x10FFFF) { *cp = c; return 4; }
    }
    return 0;
}
/* Decoder for text already known to be valid. */
static DS__INLINE int ds__utf8_get(const char *s, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    if (u[0] < 0xE0) { *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); return 2; }
    if (u[0] < 0xF0) { *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F); return 3; }
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return 4;
}
static int ds__utf8_len(uint8_t lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }
static int ds__utf8_put(char *o, uint32_t c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 63)); return 2; }
    if (c < 0x10000) { o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 63)); o[2] = (char)(0x80 | (c & 63)); return 3; }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 63)); o[2] = (char)(0x80 | ((c >> 6) & 63)); o[3] = (char)(0x80 | (c & 63));
    return 4;
}
static void ds__tbuf_cp(ds__tbuf *b, uint32_t c) { char t[4]; ds__tbuf_put(b, t, (size_t)ds__utf8_put(t, c)); }
/* Copies s with every malformed byte replaced by U+FFFD. */
static void ds__utf8_sanitize(ds__tbuf *b, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp; int l = ds__utf8_dec((const uint8_t *)s + i, n - i, &cp);
        if (l) { ds__tbuf_put(b, s + i, (size_t)l); i += (size_t)l; }
        else { ds__tbuf_put(b, "\xEF\xBF\xBD", 3); i++; }
    }
}

/* ---- gzip (RFC 1952) / DEFLATE (RFC 1951) decoder --------------------------------------- */
typedef struct ds__huff { int16_t count[16]; int16_t sym[320]; } ds__huff;
typedef struct ds__inflate {
    const uint8_t *in; size_t n, pos;
    uint32_t bits; int nbits;
    ds__tbuf *out;
} ds__inflate;

static int ds__inf_need(ds__inflate *s, int k) {     /* k <= 16 more bits, or 0 at end of input */
    while (s->nbits < k) {
        if (s->pos >= s->n) return 0;
        s->bits |= (uint32_t)s->in[s->pos++] << s->nbits; s->nbits += 8;
    }
    return 1;
}
static int ds__inf_bits(ds__inflate *s, int k) {     /* -1 at end of input */
    int v;
    if (k == 0) return 0;
    if (!ds__inf_need(s, k)) return -1;
    v = (int)(s->bits & ((1u << k) - 1)); s->bits >>= k; s->nbits -= k;
    return v;
}
/* Canonical Huffman code from code lengths; 0 if over-subscribed. Incomplete codes are allowed
   (a one-symbol distance code is legal); decoding an unused code then fails. */
static int ds__huff_build(ds__huff *h, const uint8_t *len, int n) {
    int16_t offs[16]; int i, left = 1;
    memset(h->count, 0, sizeof h->count);
    for (i = 0; i < n; i++) h->count[len[i]]++;
    for (i = 1; i < 16; i++) { left = left * 2 - h->count[i]; if (left < 0) return 0; }
    offs[1] = 0;
    for (i = 1; i < 15; i++) offs[i + 1] = (int16_t)(offs[i] + h->count[i]);
    for (i = 0; i < n; i++) if (len[i]) h->sym[offs[len[i]]++] = (int16_t)i;
    return 1;
}
/* Reads one symbol: codes of each length are consecutive integers, shortest lengths first. */
static int ds__huff_decode(ds__inflate *s, const ds__huff *h) {
    int code = 0, first = 0, index = 0, l;
    for (l = 1; l < 16; l++) {
        int b = ds__inf_bits(s, 1);
        if (b < 0) return -1;
        code |= b;
        if (code - first < h->count[l]) return h->sym[index + code - first];
        index += h->count[l]; first += h->count[l];
        first <<= 1; code <<= 1;
    }
    return -1;
}
static const uint16_t ds__inf_lbase[29] = { 3,4,5,6,7,8,9,10,11,13,15,17,19,23,27,31,35,43,51,59,67,83,99,115,131,163,195,227,258 };
static const uint8_t  ds__inf_lext[29]  = { 0,0,0,0,0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3,4,4,4,4,5,5,5,5,0 };
static const uint16_t ds__inf_dbase[30] = { 1,2,3,4,5,7,9,13,17,25,33,49,65,97,129,193,257,385,513,769,1025,1537,2049,3073,4097,6145,8193,12289,16385,24577 };
static const uint8_t  ds__inf_dext[30]  = { 0,0,0,0,1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9,10,10,11,11,12,12,13,13 };

static int ds__inf_codes(ds__inflate *s, const ds__huff *lit, const ds__huff *dist) {
    for (;;) {
        int sym = ds__huff_decode(s, lit);
        if (sym < 0) return 0;
        if (sym < 256) { char c = (char)sym; ds__tbuf_put(s->out, &c, 1); if (s->out->oom) return 0; }
        else if (sym == 256) return 1;
        else {
            int len, d, e; size_t from, k;
            sym -= 257;
            if (sym >= 29 || (e = ds__inf_bits(s, ds__inf_lext[sym])) < 0) return 0;
            len = ds__inf_lbase[sym] + e;
            if ((d = ds__huff_decode(s, dist)) < 0 || d >= 30 || (e = ds__inf_bits(s, ds__inf_dext[d])) < 0) return 0;
            d = ds__inf_dbase[d] + e;
            if ((size_t)d > s->out->n || !ds__tbuf_reserve(s->out, (size_t)len)) return 0;
            from = s->out->n - (size_t)d;
            for (k = 0; k < (size_t)len; k++) s->out->p[s->out->n + k] = s->out->p[from + k];   /* may overlap */
            s->out->n += (size_t)len; s->out->p[s->out->n] = 0;
        }
    }
}
static int ds__inf_block_dynamic(ds__inflate *s) {
    static const uint8_t order[19] = { 16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1,15 };
    uint8_t len[320]; ds__huff lit, dist; int nlen, ndist, ncode, i;
    if ((nlen = ds__inf_bits(s, 5)) < 0 || (ndist = ds__inf_bits(s, 5)) < 0 || (ncode = ds__inf_bits(s, 4)) < 0) return 0;
    nlen += 257; ndist += 1; ncode += 4;
    if (nlen > 286 || ndist > 30) return 0;
    memset(len, 0, sizeof len);
    for (i = 0; i < ncode; i++) { int v = ds__inf_bits(s, 3); if (v < 0) return 0; len[order[i]] = (uint8_t)v; }
    if (!ds__huff_build(&lit, len, 19)) return 0;
    for (i = 0; i < nlen + ndist;) {
        int sym = ds__huff_decode(s, &lit), rep, v = 0;
        if (sym < 0) return 0;
        if (sym < 16) { len[i++] = (uint8_t)sym; continue; }
        if (sym == 16) { if (i == 0 || (rep = ds__inf_bits(s, 2)) < 0) return 0; v = len[i - 1]; rep += 3; }
        else if (sym == 17) { if ((rep = ds__inf_bits(s, 3)) < 0) return 0; rep += 3; }
        else { if ((rep = ds__inf_bits(s, 7)) < 0) return 0; rep += 11; }
        if (i + rep > nlen + ndist) return 0;
        while (rep--) len[i++] = (uint8_t)v;
    }
    if (len[256] == 0) return 0;   /* no end-of-block code */
    if (!ds__huff_build(&lit, len, nlen) || !ds__huff_build(&dist, len + nlen, ndist)) return 0;
    return ds__inf_codes(s, &lit, &dist);
}
static int ds__inf_block_fixed(ds__inflate *s) {
    uint8_t len[320]; ds__huff lit, dist; int i;
    for (i = 0; i < 144; i++) len[i] = 8;
    for (; i < 256; i++) len[i] = 9;
    for (; i < 280; i++) len[i] = 7;
    for (; i < 288; i++) len[i] = 8;
    ds__huff_build(&lit, len, 288);
    for (i = 0; i < 30; i++) len[i] = 5;
    ds__huff_build(&dist, len, 30);
    return ds__inf_codes(s, &lit, &dist);
}
/* Raw DEFLATE stream at in[*pos..n) appended to out; *pos ends after the last block. */
static int ds__inflate_raw(const uint8_t *in, size_t n, size_t *pos, ds__tbuf *out) {
    ds__inflate s; int last = 0;
    memset(&s, 0, sizeof s);
    s.in = in; s.n = n; s.pos = *pos; s.out = out;
    while (!last) {
        int type;
        if ((last = ds__inf_bits(&s, 1)) < 0 || (type = ds__inf_bits(&s, 2)) < 0) return 0;
        if (type == 0) {                             /* stored: byte aligned LEN, NLEN, bytes */
            unsigned len, nlen;
            s.bits = 0; s.nbits = 0;
            if (s.n - s.pos < 4) return 0;
            len = s.in[s.pos] | (unsigned)s.in[s.pos + 1] << 8; nlen = s.in[s.pos + 2] | (unsigned)s.in[s.pos + 3] << 8;
            s.pos += 4;
            if ((len ^ 0xFFFFu) != nlen || s.n - s.pos < len) return 0;
            ds__tbuf_put(out, s.in + s.pos, len); s.pos += len;
            if (out->oom) return 0;
        } else if (type == 1) { if (!ds__inf_block_fixed(&s)) return 0; }
        else if (type == 2) { if (!ds__inf_block_dynamic(&s)) return 0; }
        else return 0;
    }
    *pos = s.pos - (size_t)(s.nbits / 8);            /* give back whole unread bytes */
    return 1;
}
static uint32_t ds__crc32(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    while (n--) { int k; crc ^= *p++; for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1))); }
    return ~crc;
}
static int ds__is_gzip(const uint8_t *p, size_t n) { return n >= 18 && p[0] == 0x1F && p[1] == 0x8B && p[2] == 8; }
/* Whole gzip file (one or more members) into out. */
static ds_result ds__gunzip(ds_ctx *ctx, const uint8_t *in, size_t n, ds__tbuf *out) {
    size_t pos = 0;
    while (pos < n) {
        size_t start_out = out->n; uint8_t flg; uint32_t crc, isize;
        if (!ds__is_gzip(in + pos, n - pos)) {
            if (pos) break;                          /* trailing padding after a member */
            return ds__err(ctx, DS_ERR_BAD_FORMAT, "gzip: bad header");
        }
        flg = in[pos + 3]; pos += 10;
        if (flg & 4) { size_t xl; if (n - pos < 2) goto bad; xl = in[pos] | (size_t)in[pos + 1] << 8; pos += 2; if (n - pos < xl) goto bad; pos += xl; }
        if (flg & 8) { while (pos < n && in[pos]) pos++; pos++; }
        if (flg & 16) { while (pos < n && in[pos]) pos++; pos++; }
        if (flg & 2) pos += 2;
        if (pos >= n) goto bad;
        if (!ds__inflate_raw(in, n, &pos, out)) {
            if (out->oom) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "gzip: out of memory");
            goto bad;
        }
        if (n - pos < 8) goto bad;
        crc = in[pos] | (uint32_t)in[pos + 1] << 8 | (uint32_t)in[pos + 2] << 16 | (uint32_t)in[pos + 3] << 24;
        isize = in[pos + 4] | (uint32_t)in[pos + 5] << 8 | (uint32_t)in[pos + 6] << 16 | (uint32_t)in[pos + 7] << 24;
        pos += 8;
        if (ds__crc32(0, (const uint8_t *)out->p + start_out, out->n - start_out) != crc || (uint32_t)(out->n - start_out) != isize)
            return ds__err(ctx, DS_ERR_BAD_FORMAT, "gzip: checksum mismatch");
    }
    if (!ds__tbuf_reserve(out, 0)) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "gzip: out of memory");
    return DS_SUCCESS;
bad:
    return ds__err(ctx, DS_ERR_BAD_FORMAT, "gzip: corrupt or truncated deflate data");
}

/* ---- Unicode: character classes, grapheme clusters, NFC, lowercase ---------------------- */
/* BEGIN unicode tables: generated by tools/gen_unicode_tables.py, do not edit.
   Unicode data: regex module 2026.5.9 for grapheme properties; tokenizers 0.23.3 for L/N/space,
   lowercase and the set of decompositions; unicodedata 14.0.0 for combining classes. */
static const uint16_t ds__uni_palette[21] = { 0x0, 0x1, 0x2, 0x4, 0xc, 0x14, 0x18, 0x1c, 0x20, 0x30, 0x38, 0x39, 0x40, 0x41, 0x80, 0x81, 0x120, 0x201, 0x320, 0x321, 0x328 };
/* 2599 runs: (length of previous run, palette index) */
static const char *const ds__unit_props[] = {
    "AGJHBFBHCEBGSDBAPCKAHBaAGBaAEGGHBGaDBAIOBBBACGBOBADCCABBBADCBBBABCDABBXABBfABBqOAEBMAOBFAHBBABBBARSwDBFABBCACBEABBBA",
    "GBBABBDABBBABBUABBzCABBrEABSHBmFABBmBACBBAGBpBAIStBABSBABSCABSCABSBAIBbAEBEANKGAKSLABGBADBrBSVCKAEBCSBBjDABBBSHKBABS",
    "GBCSCABSEBCCKBDACBBAPKBBBSBBeSbACB5CSLBBAOCKBhBSJBCAEBBACSBACBWSEBBSJBBSDBBSFASBZSDAEBLAFBYABBGABKCAFSJBqBSYKBSgBMBB",
    "RRlBSBMBSBBBMDSIMEQBMCBBSHRIBCSCACCKABBHRIBBSBMCABBIACBCACBCRUABRHABRBADREACSBBBSBMCSEACMCACMCQBBBAISBAERCABRBBCSCAC",
    "CKRCACCGACBBABSBACSCMBABBGAEBCACBWABBHABBCABBCABBCACSBABMDSCAESCACSDADSBAHBEABBBAHCKSCBDSBALSCMBABBJABBDABBCRUABRHAB",
    "RCABRFACSBBBMDSFABSCMBABMCQBACBBAPBCSCACCKAJRBSGABSBMCABBIACBCACBCRUABRHABRCABRFACSBBBSCMBSEACMCACMCQBAHSDAERCABRBBC",
    "SCACCKABRBCGAKSBBBABBGADBDABBEADBCABBBABBCADBCADBDADBMAESBMBSBMCADMDABMDSBACBBAGSBAOCNANSBMDSBBIABBDABBDRUABRQACSBBB",
    "SDMEABSDABSDQBAHSCABRDACBBACBCSCACCKAICHABBBSBMCABBIABBDABBXABBKABBFACSBBBMBSCMBSBMCABSDABSEAHSCAGBCABBCSCACCKABBCMB",
    "AMSCMCBJABBDABBDRmBSCBBSBMCSEABMDABMDQBLBAFBDSBCHBDSCACCTABBGABSBMCABBSADBYABBJABBBACBHADSBAESBMCSDABSBABMHSBAGCKACM",
    "CANBwBSBBBNBSHAFBHSIABCKAnBBCABBBABBFABBYABBBABBKSBBBNBSJBBACBFABBBABSHABCKACBEAgBBBAXSCAGCUABSBABSBABSBAEMCBIABBkBA",
    "ESOMBSFABSCBFSLABSkBAJSBA5BRrBACSEMBSGABQBSBMCSCRBCKAGRGMCSCRESDRBADRCAHRDSERNSBABMBSCAGSBRBABCKADSBACBmBABBBAFBBACB",
    "rBABBtKABBEACBHABBBABBEACBpBABBEACBhBABBEACBHABBBABBEACBPABB5BABBEACBjCACSDAJCUADBQAQB2CACBGADBsTACBRDBBaAFBrCADCDBI",
    "AHBSSEAJBTSDALBSSCAMBNABBDABSCAMR0BSCMBSHMISBMCSJQBSBADBBAEBBSBACCKAGCKARSDGBSBCKAGB5CAHBFSCBiBSBBBAFBmCAKBfABSDMESC",
    "MDAEMCSBMGSDAKCKBeACBFALBsBAEBaAGCLAlBBXSCMCSBAER1BMBSBMBSHABQBABSBACSIMGSKACSBCKAGCKANBBAISuBACSMAUSEMBBGRCBGRhBSKM",
    "ESCQBRIADCKARSJAMSCMBReMBSEMCSDQBSCRCCKBBRDBoBSBMBSCMDSBMBSFAMBkBMISIMCSCAICKADBDCKBkBACBLAFBrBACBDAQSDABSNMBSHBESBB",
    "GSBBCMBSCBBAFBgGSgCB2IACBGACBmBACBGACBIABBBABBBABBBABBfACB1BABBHABBBADBDABBHADBEACBGAEBNAFBDABBHADDLGBIBUBGCAYHCGFDB",
    "AMOBAMOBAVDBGQCBBBACCGAFBBCKAGBNAzBShBARBBAEBBACBKABBBADBFAEOBABBBABBBABBBABBEABBKPBACBEAFBFAEBBABCzBBCCFAKOGAPOCAvL",
    "OCAMOBAmFOBAZOLAEODAlDC8BAmBOBAnBCWAqFOCAKOBAJOBA6BOEABOFAJOBACOBACOCACOBAEOBACOBABOCACOBADOBADOCAIODAFOBABOBAFOMALO",
    "CACOBABOCABOBASOBACOCASOGABOBABOCADOCAFOBACOCAEOCALOCAFOCACOBAFOCABOBABOCAUOCAFOGABOEACOBAEOBACOBACOGABOBACOBABOBABO",
    "BAGOBADOBAGOBAKOCAPOBACOBAEOBABOBAEODABOBALOCARCeABODAJOBAOOBAOOBA0LOCAvOODATOCAzBOBAEOBAqFBlHAGBESDBCAJCBACBmBABBBA",
    "FBBACB4BAHBBAPSBBXAJBHABBHABBHABBHABBHABBHABBHABBHABSgBAvBBBAwODBAEBCCBAZCJSGOBBFACCDBCOBADB2CACSCACBDABB6CABBEAFBrB",
    "ABB+CADCEAKBgBAwBBQAgBCKAeCIABCPAgBCKANOBABOBAXCPAgKBguGAgCBt0VAjCBuBACBtIADBQCKBCAUBvBSEABSKABBfSCBmCCKSCAlBBJACBnD",
    "ACBjCACBCABBBABBIAVBQSBBDSBBESBBXMCSCMBAESBADCGAKB0BAMMCByBMQSCAKCKAGSSBGADBBABBCSBCKBcSIACBXSLMBSBAMBdADSDMBBFRDBDR",
    "kBSBMCSEMCSCMCQBAOBBCKAGRFSBBBRJCKRFABBpBSGMCSCMCSCAJBDSBBISBMBACCKAGRQBBRDBDADRBABSBABRCBwBSBBBSDBCSCBFSCBBSBBBAYBD",
    "ACRLMBSCMCACBDMBQBAKBGACBGACBGAJBHABBHABBrBABBOAGBwCRbBIMCSBMCSBMCABMBSBACCKAGBk9KAMBXAEBxBAkoIBuLACBqDAmBBHAMBFAFBB",
    "SBBKABBNABBFABBBABBCABBCABBsDAhBBrLASBgCACB2BAoBBMAESQAQSQAgCBFABBnEACGBAQCKAHBaAGBaALB4BTCBfADBGACBGACBGACBDATGMAEB",
    "MABBaABBTABBCABBPACBOAiBB7DAMCtBAMC5BARCCAxDSBAiEBdADBxBAPSBCbAEBgBCEAJBUCBBICBAFBmBSFAFBeACBkBAEBIABCFAqBB+EACCKAGB",
    "kBAEBkBAEBoBAIB0BAMBLABBPABBHABBCABBLABBPABBHABBCADB0BAMB3JAJBWAKBIAYBGABBqBABBJAlCBGACBBABBsBABBCADBBACBXACCIBXACCH",
    "BfAICJAwBBTABBCAFCFBWCGAEBaAmCB4BAECCBCCQACCuBRBSDABSCAFSEREABRDABRdACSDAEQBCJAXBdCCABBdCDAgBBIABBcSCAECFAQB2BAKBWAC",
    "CIBTAFCIBSAXCHAwCBpCA3BBzBANBzBAHCGBkBSEAICKAGCKBcADSFABBXA6GCfABBqBABSCADBCAQBDA1BSGBdCKBBAIBWSLCEAbBSSEAqBBVCHAUBX",
    "AJMBSBMBB1BSPALCeSBBCSCBBAJSDMBBtBMDSEMCSCACKBAESBAKKBACBZAHCKAGSDRkBSFMBSGQBSBABCKAERBMCRBAIBjBSBACBBAJSCMBBwBMDSJM",
    "BSBBBLCBBAESEABMBSBCKBBABBBAECUALBSABBZMDSDMCSEAGSBBCSBA+BBHABBBABBEABBPABBKAHBvBSBMDSIAFCKAGSCMCABBIACBCACBWABBHABB",
    "CABBFABSCBBSBMBSBMEACMCACMCSBACBBAGSBAFBFMCACSHADSFALRKABRBACRBABRmBABBBSBMCSGABSBACSBABSDMBABMCSCQBLBSBBBANSCAdB1BM",
    "DSIMCSDMBSBBEAFCKAESBBDAeBwBSBMCSGMBSBMCSBMBSCMBSCBCABBBAICKAmFBvBSBMCSEACMESCMBSCAXBESCAiBBwBMDSIMCSBMBSCADBBALCKAm",
    "BBrBSBMBSBMCSIBBAHCKAGCUAcBbACSBMBSBACSEMBSFAECMAEBHA5FBsBMDSJMBSCAlDBgCCTAMBBRHACRBACRIABRCABRYSBMFABMCACSDQBLBMBLB",
    "MBSBAMCKAmCBIACBnBMDSEACSCMESBBBABBBMBAbRBSKRoBSGMBBBSEAIQBAIRBSGMCSDRoBLGSNMBSBQBADBBASBpCAnDSBMBSDMBSBMBA4CBhBAPCK",
    "AGBJABBlBMBSHABSGMBSBBBAPCdAFBeACSWABMBSHMBSCMBSCApCBHABBCABBmBSGADSBABSCABSHLBSBAICKAGBGABBCABBgBMFABSCABMCSBMBSBBB",
    "AHCKA2JBTSCMCAJSCLBMBRNABRiBMCSFADMCSCQBANCKSBA1CBBAPCVArBB6cAmDCvDARBkGAsyCBhDAPBwhBGQSBBGSPAKB78DAFBnSA51GBeSMMDSD",
    "CKAm2BB5RAHBfABCKAGBvCABCKAGBeACSFALBwBSHAJBEAMCKABCHABBVAFBTAwNBtBADCKAmGBgCCXApDBrCAESBBBM3BAHSEBNAgCBCABBBSBALSCA",
    "OB4/FAIB2mBApBBKAn3IBEABBHABBCABBjJAPBBAdBDACBBAOBEAIBsMAkoCBrDAFBNADBJAHBKADSCABGEAsiECKAmQSuBACSXA+QSFADSGGISIACSH",
    "AeSEA0ESDA7DCUAMCUAsDCZAnEB1CABBnCABBCACBBACBCACBEABBMABBBABBHABBhCABBEACBIABBHABBcABBEABBFABBBADBHABB0KACBZABBZABBf",
    "ABBZABBfABBZABBfABBZABBfABBZABBIACCyBAgQS3BAESyBAISBAOSBAWSFABSPAwiBBfAGBGA1GSHABSRACSHABSCABSFAFB+BAhBSBAwDBtBADSHB",
    "HACCKAEBBAhKBeSBARBsBSECKA2OBcSECKA2GBeSCBBCKAoHSBACSBAHSCAFSBAqHBHABBEABBCABBPABBlGACCJSHApBBkCSHBBAECKA3YC7BABCDAB",
    "CEAsCCtBABCPAiGBEABBbABBCABBBACBBABBKABBEABBBABBBAGBBAEBBABBBABBBABBDABBCABBBACBBABBBABBBABBBABBBABBCABBBACBEABBHABB",
    "EABBEABBBABBKABBRAFBDABBFABBRAoKOBAnBOEAkDOMAPOCAPOBAOOCAlBOKCNAjDOCAMOCAOOBACOKATO4BJaABOPAKOBAUOBACOJABOEAJOXAGO8F",
    "ACOwDACOCABODACOzCACODABOESFO+HABO/BALOGABOYAHOCACOIAMOBACOEACOBAEOCANOCACOBAIOCAJOBAFODAMODAIODACOBABOBAEOBAGOBADOB",
    "AGO2CAwBOmCAFOIACORADOBABOGACONA6GOmBAMOEA4BOIAKOGAoBOIAeOCAMOEACOOAJOnBAMOvBABOKABO5FA4COIAOOyEAwHCKAGO+fACBg3pBAgB",
    "B6hEAGB+GACBi0FAOBxpHAPBuTAitCB+QAivBBr6EAFBgjEAwi3VGgBSgDGgESwHGwwDA",
    0
};
/* canonical combining class runs: (length of previous run, class) */
static const char *const ds__unit_ccc[] = {
    "AAgYmHVoHB8GEoHB4GB8GFqGC8GEqGC8GLBF8GEmHIwHBmHB8GDmHD8GCABmHD8GEmHBoHB8GCmHBpHBqHCpHBqHCpHBmHNAzImHFApI8GBmHE8GBmHD",
    "+GB8GBmHG8GGmHC8GBmHC+GBkHBmHBKBLBMBNBOBPBQBRBSBTCUBVBWBABXBABYBZBABmHB8GBABSBAoCmHIeBfBgBBAwBbBcBdBeBfBgBBhBBiBBmHC",
    "8GCmHF8GBmHC8GBAQjBBAlDmHHACmHE8GBmHBACmHCAB8GBmHC8GBAjBkBBAemHB8GBmHC8GBmHC8GDmHB8GCmHB8GBmHD8GBmHB8GBmHB8GBmHB8GBm",
    "HCAgFmHH8GBmHBAiBmHEABmHJABmHDABmHFArB8GDA4DmHOAB8GBmHC8GBmHC8GBmHD8GDbBcBdBmHD8GBmHC8GCmHFA8BHBAQJBADmHB8GBmHCAnDHB",
    "AQJBAuDHBAQJBAuDHBAQJBAuDHBAQJBA/DJBA/DJBAH0CB7CBAlDHBAQJBA/DJBA8DJBAtDnDCJBANrDEAsD2DCAO6DEAsC8GCAb8GBAB8GBAB4GBA3B",
    "hEBiEBABkEBAFiEEACiEBABmHCJBABmHCA+B8GBAwDHBABJCAyC8GBAvWmHDA0dJBAfJBA9EJBAKmHBArGkHBAvE+GBmHB8GBA7GmHB8GBAnCJBAUmHI",
    "AC8GBAwBmHF8GGmHC8GBA2DHBAPJBAmBmHB8GBmHHA2BJCA6BHBALJCAjCHBA4EmHDABBB8GFmHC8GEmHBABBHAE8GBAGmHBADmHCAmGmHC8GBmHH8GB",
    "mHCqHB2GB8GBqGBmHlBAFmHBpHB8GBmHB8GBAwWmHCBCmHEBDmHCAEmHBADBCmHB8GBmHBBC8GEmHBA+/CmHDAtEJBAgDmHgBAqR6GBkHBoHB+GBgHCA",
    "pDICA0udmHBAEmHKAgBmHCAwCmHCA0IJBA9FJBAbmHSA5B8GDAlBJBA/CHBAMJBAvHmHBABmHC8GBACmHCAFmHCABmHBA0BJBA2HJBAw5TaBAhYmHH8G",
    "HmHCAte8GBAiH8GBA1EmHFAy0B8GBABmHBAoBmHBBB8GBAEJBAlFmHB8GBA/qBJBA4BJBA5BJBHBAlCmHDAwBJCA+BHBAsCJBAJHBAqDJBHBAyFHBJBA",
    "xCHBAQJBAYmHHADmHFAtGJBADHBA7DJBHBA7HJBHBA+DJBA2DJBHBAzDJBAzoBJBAw1TBFA7BmHHAnrUBBAmmF4GCBDADiHB4GFAI8GIACmHF8GCAemH",
    "EA0EmHDA7tDmHHABmHRACmHHABmHCABmHFAllC8GHAtDmHGHBA",
    0
};
/* 2060 canonical decompositions: (cp delta, zigzag(first - cp), second*2 + excluded) */
static const char *const ds__unit_decomp[] = {
    "gG9HgwBB/HiwBBhIkwBBjImwBBlIwwBBnI0wBCnIuyBBlIgwBBnIiwBBpIkwBBrIwwBBlIgwBBnIiwBBpIkwBBrIwwBClImwBBlIgwBBnIiwBBpIkwBB",
    "rImwBBtIwwBDnIgwBBpIiwBBrIkwBBtIwwBBnIiwBD9HgwBB/HiwBBhIkwBBjImwBBlIwwBBnI0wBCnIuyBBlIgwBBnIiwBBpIkwBBrIwwBBlIgwBBnI",
    "iwBBpIkwBBrIwwBClImwBBlIgwBBnIiwBBpIkwBBrImwBBtIwwBDnIgwBBpIiwBBrIkwBBtIwwBBnIiwBCrIwwBB9LowBB/JowBBhMswBBjKswBBlMwy",
    "BBnKwyBBlMiwBBnKiwBBpMkwBBrKkwBBtMuwBBvKuwBBxM4wBBzK4wBBzM4wBB1K4wBD5MowBB7KowBB9MswBB/KswBBhNuwBBjLuwBBlNwyBBnLwyBB",
    "pN4wBBrL4wBBpNkwBBrLkwBBtNswBBvLswBBxNuwBBzLuwBB1NuyBB3LuyBB3NkwBB5LkwBD9NmwBB/LmwBBhOowBBjMowBBlOswBBnMswBBpOwyBBrM",
    "wyBBtOuwBEzOkwBB1MkwBB1OuyBB3MuyBC5OiwBB7MiwBB9OuyBB/MuyBBhP4wBBjN4wBFpPiwBBrNiwBBtPuyBBvNuyBBxP4wBBzN4wBE5PowBB7Now",
    "BB9PswBB/NswBBhQ2wBBjO2wBDjQiwBBlOiwBBnQuyBBpOuyBBrQ4wBBtO4wBBtQiwBBvOiwBBxQkwBBzOkwBB1QuyBB3OuyBB5Q4wBB7O4wBB7QuyBB",
    "9OuyBB/Q4wBBhP4wBDlRmwBBnPmwBBpRowBBrPowBBtRswBBvPswBBxR0wBBzP0wBB1R2wBB3P2wBB5RwyBB7PwyBB5RkwBB7PkwBB5RkwBB7PkwBB9R",
    "wwBB9RiwBB/PiwBBhSuwBBjQuwBBlS4wBBnQ4wBiBhV2xBBjT2xBOzV2xBB1T2xBd3Y4wBB5W4wBBrY4wBBtW4wBBjY4wBBlW4wBB7X4wBB9V4wBBxPo",
    "wBBzNowBB1PiwBB3NiwBB5P4wBB7N4wBB9PgwBB/NgwBCzRowBB1PowBBsEowBBsEowBB3RowBB5PowBD9Z4wBB/X4wBB5Z4wBB7X4wBB1ZwyBB3XwyB",
    "BDowBBDowBBtD4wBBmK4wBBrY4wBE5aiwBB7YiwBDzagwBB1YgwBBpTiwBBrRiwBBrTiwBBtRiwBBrSiwBBtQiwBB9b+wBB/Z+wBBhcixBBjaixBB9b+",
    "wBB/Z+wBBhcixBBjaixBB9b+wBB/Z+wBBhcixBBjaixBB5b+wBB7Z+wBB9bixBB/ZixBB7b+wBB9Z+wBB/bixBBhaixBB9b+wBB/Z+wBBhcixBBjaixB",
    "BpcsyBBrasyBBrcsyBBtasyBDrd4wBBtb4wBHpeuwBBrcuwBBleuyBBncuyBBnVowBBpTowBBtVowBBvTowBB9duwBB/buwBBDowBBDowBBxdowBBzbo",
    "wBtI/DBB/DBC/CBB3DjwBwB1LBKl0BBH5tBiwBBWiwBB/sBBBaiwBBciwBBeiwBCmBiwBCuBiwBB0BiwBB0DiwBahBwwBBLwwBBKiwBBQiwBBSiwBBUi",
    "wBB2BiwBahBwwBBLwwBBZiwBBPiwBBJiwBFBiwBBDwwBsBqBgwBBoBwwBCgBiwBEBwwBFciwBBWgwBBqBswBLBswBgBBswBX1BgwBB3BwwBC/BiwBEBw",
    "wBFjCiwBBpCgwBB1BswBYD+wBBD+wBqC1KswBB3IswBO/LswBBhKswBBjMwwBBlKwwBDhMswBBjKswBDDwwBBDwwBBrMwwBBtKwwBBtMwwBBvKwwBDzM",
    "owBB1KowBB3MwwBB5KwwBBvMwwBBxKwwBDDwwBBDwwBB9LwwBB/JwwBB1MowBB3KowBB5MwwBB7KwwBB9M2wBB/K2wBB5MwwBB7KwwBD5MwwBB7KwwBp",
    "JKmlDBIolDBoColDBEqlDBoColD6EqBolDCBolDRBolD2SB4zEIB4zEDB4zEkBlE5zEBlE5zEBlE5zEB9D5zEB1D5zEB1D5zEBlD5zEB/C5zEsDH87EB",
    "Ju9EQ1D57EB1D57EC/C57E0CB5jFDE5jFjBlE5jFBlE5jFB9D5jFDlD5jFqHBs1FDH8zFBJu1FQ1D5zFB1D5zF3BDu9F2BH87FBH87FBLu9F8DDslG4D",
    "BqtGHBqtGBDstGCHksGBBqtG/DH8zGBH8zGBLu1GuEB08GCF+8GBB08GBJ+9GlLBv7HKBv7HFBv7HFBv7HFBv7HNxCr7HKDl3HCHp3HB4Dh4HC2Dh4HJ",
    "fh4HSBv7HKBv7HFBv7HFBv7HFBv7HNxCr7HtDB8iIg3CBqzNCBqzNCBqzNCBqzNCBqzNEBqzNpBBqzNCBqzNDDqzNBDqzNCBqzN9V97OqyBB/5OqyBB/",
    "7OuwBBh6OuwBBj8OmyBBl6OmyBBn8OizBBp6OizBBh0OiwBBjyOiwBBr8OuwBBt6OuwBBv8OmyBBx6OmyBBz8OizBB16OizBB38OuyBB56OuyBB78O6y",
    "BB96O6yBBjwOgwBBjwOgwBBnwOiwBBnwOiwBBl9O6yBBn7O6yBBp9OgzBBr7OgzBBn/NswBBn/NswBBv9OuwBBx7OuwBBx9OowBBz7OowBBz9OuwBB17",
    "OuwBB39OmyBB57OmyBB79OwwBB97OwwBB/9OuyBBh8OuyBBj+O8yBBl8O8yBBl+OgzBBn8OgzBB91OiwBB/zOiwBBp+OiwBBr8OiwBBt+OmyBBv8OmyB",
    "Bx+OizBBz8OizBBz+OmyBB18OmyBBDowBBDowBB7+OizBB98OizBB/+O6yBBh9O6yBBh/OiwBBj9OiwBBl/OuwBBn9OuwBBp/OmyBBr9OmyBBr/OuwBB",
    "t9OuwBBv/OmyBBx9OmyBBz/OizBB19OizBB3/O6yBB59O6yBBt3OiwBBv1OiwBBx3OwwBBz1OwwBBnwOgwBBnwOgwBBrwOiwBBrwOiwBBngPiwBBp+Oi",
    "wBBrgPuwBBt+OuwBBrgPuwBBt+OuwBBvgPmyBBx+OmyBBDowBBDowBB3gPizBB5+OizBB5gPuwBB7+OuwBB9gPmyBB/+OmyBBzwOuwBBzwOuwBBrwOuw",
    "BBrwOuwBBLuwBBLuwBBrhPuwBBt/OuwBBvhPmyBBx/OmyBBzhPizBB1/OizBB3hP6yBB5/O6yBB5hPoyBB7/OoyBB9hPgzBB//OgzBBhiP6yBBjgP6yB",
    "B/wOiwBB/wOiwBB/wOwwBB/wOwwBBriPmwBBtgPmwBBviPmyBBxgPmyBBxiPgwBBzgPgwBB1iPiwBB3gPiwBB5iPwwBB7gPwwBB9iPuwBB/gPuwBBhjP",
    "myBBjhPmyBBjjPuwBBlhPuwBBnjPwwBBphPwwBBpjPuwBBrhPuwBBrjPkwBBthPkwBBvjPmyBBxhPmyBBzjPizBB1hPizBB7iPizBBliPwwBBhiP0wBB",
    "/hP0wBC3xOuwBF9lPmyBB/jPmyBBhmPywBBjkPywBBj+OiwBBl8OiwBBn+OgwBBp8OgwBBr+OywBBt8OywBBv+OmwBBx8OmwBBXkwBBXkwBB36OiwBB3",
    "6OiwBB76OgwBB76OgwBB/6OywBB/6OywBBj7OmwBBj7OmwBBrBswBBrBswBBlnPmyBBnlPmyBBpnPywBBrlPywBBtnPmwBBvlPmwBBn/OiwBBp9OiwBB",
    "r/OgwBBt9OgwBBv/OywBBx9OywBBz/OmwBB19OmwBBbkwBBbkwBB9nPywBB/lPywBBhoPmyBBjmPmyBB5nPmyBB7lPmyBB9nPywBB/lPywBB3/OiwBB5",
    "9OiwBB7/OgwBB99OgwBB//OywBBh+OywBBjgPmwBBl+OmwBBXkwBBXkwBBzzOiwBBzzOiwBB3zOgwBB3zOgwBB7zOywBB7zOywBB/zOmwBB/zOmwBBj0",
    "OmyBBj0OmyBB9oPmyBB/mPmyBBhpPywBBjnPywBBxzOiwBBxzOiwBB1zOgwBB1zOgwBB5zOywBB5zOywBB9zOmwBB9zOmwBBh0OmyBBh0OmyBBxpPgwB",
    "BznPgwBB1pPmyBB3nPmyBB5pPywBB7nPywBB9pPmwBB/nPmwBH90NmxBB/0NoxBBDgwBBDgwBBHiwBBHiwBBLk0BBLk0BBt3NmxBBv3NoxBBDgwBBDgw",
    "BBHiwBBHiwBBLk0BBLk0BB11NmxBB31NoxBBDgwBBDgwBBHiwBBHiwBDl4NmxBBn4NoxBBDgwBBDgwBBHiwBBHiwBDx2NmxBBz2NoxBBDgwBBDgwBBHi",
    "wBBHiwBBLk0BBLk0BBh5NmxBBj5NoxBBDgwBBDgwBBHiwBBHiwBBLk0BBLk0BBt3NmxBBv3NoxBBDgwBBDgwBBHiwBBHiwBBLk0BBLk0BB95NmxBB/5N",
    "oxBBDgwBBDgwBBHiwBBHiwBBLk0BBLk0BBh4NmxBBj4NoxBBDgwBBDgwBBHiwBBHiwBDx6NmxBBz6NoxBBDgwBBDgwBBHiwBBHiwBD14NmxBB34NoxBB",
    "DgwBBDgwBBHiwBBHiwBBLk0BBLk0BCn7NoxBCDgwBCHiwBCLk0BBt5NmxBBv5NoxBBDgwBBDgwBBHiwBBHiwBBLk0BBLk0BB97NmxBB/7NoxBBDgwBBD",
    "gwBBHiwBBHiwBBLk0BBLk0BB97NgwBBp8NBB57NgwBBr8NBB57NgwBBt8NBB57NgwBBv8NBBx7NgwBB56NBBp7NgwBB76NBBl7NgwBB96NBD/Hq0BB/H",
    "q0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Hq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0",
    "BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Gq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB",
    "/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB/Dq0BB9/NswBB//NowBBjEq0BBjgOq0BBvgOq0BCpgOk0BBBq0BBtiOswBBviOowBBxiOgwBBp",
    "jOBB1iOq0BCpgOBDxxPk0BB7Eq0BB3gOq0BBrhOq0BC9gOk0BBBq0BBljOgwBBhkOBBljOgwBBjkOBBpjOq0BBbgwBBdiwBBfk0BBthOswBBvhOowBBv",
    "gOgwBBlkOBD5hOk0BB5gOk0BB9jOswBB/jOowBBhkOgwBBhlOBCiCgwBBgCiwBB+Bk0BB1hOswBB3hOowBBthOgwBBljOBBliOmxBBniOoxBBhiOk0BB",
    "3hOk0BBlkOswBBnkOowBBpkOgwBB5lOBB1kOoxBBp0PgwBBxmOBB94PBDrHq0BBziOq0BBriOq0BC5iOk0BBBq0BBxlOgwBB5mOBBhlOgwBB3mOBBllO",
    "q0BBx0PBDEBBEBlJ53OBE9tQBBrmQBvDTwzBBRwzBTzBwzBfGwzBBMwzBBGwzB1BBwzBFBwzBDBwzBYBwzBCBwzBbJwzBDBwzBDDwzBCBwzBXliRwzBC",
    "BwzBL/BwzBBjjRwzBBhjRwzBBXwzBBXwzBDDwzBBDwzBDDwzBBDwzBHLwzBBLwzBDDwzBBDwzBDDwzBBDwzBjBTwzBBJwzBBJwzBBHwzBxBnGwzBBnGw",
    "zBBhFwzBBhFwzBHvDwzBBvDwzBBvDwzBBvDwzB8B+tGBB+tGBy9BCxzBwrBBypYCBypYCBypYCBypYCBypYCBypYCBypYCBypYCBypYCBypYCBypYCBy",
    "pYDBypYCBypYCBypYHBypYBD0pYCBypYBD0pYCBypYBD0pYCBypYBD0pYCBypYBD0pYX7EypYKBypYOBypYCBypYCBypYCBypYCBypYCBypYCBypYCBy",
    "pYCBypYCBypYCBypYCBypYDBypYCBypYCBypYHBypYBD0pYCBypYBD0pYCBypYBD0pYCBypYBD0pYCBypYBD0pYX7EypYDPypYBPypYBPypYBPypYEBy",
    "pYigyBvr2BBB5gpCBBvj1BBB1j2BBBljlCBBlt1CBBhyyCBB12sBBB32sBBBv7vCBBxzzBBBn4xCBBn8vCBBtxrCBBpqhCBBz48BBBht5BBBt14BBBzh",
    "4BBBno0BBBjxnCBBz/lCBB5jkCBBxziCBB1t6BBB96zBBBxyvBBBxp1CBBt6yCBBxhnCBBlwjCBBjv5BBBjwtBBBh9tCBBtzkCBBr15BBB/73BBB3lrC",
    "BB707BBBvw4BBB7ltCBBjhpCBB/7lCBB9ijCBB7l0BBBt60CBBt3zCBBhlzCBB3mqCBB7lnCBBjyjCBB3khCBBlz8BBB9y5BBBzt5BBBv01BBBrgxBBB",
    "z8uBBB/ztBBB9qgCBB57/BBB559BBBp36BBB1jzBBBhstBBB1m3BBBlmwCBB9jtCBBnu+BBBts8BBBnujCBB5ngCBBro2BBBjlxBBBjnwCBBxuuCBBxz",
    "nCBBl3lCBB9jlCBB/h+BBBxx9BBBrwxBBB/nzCBBvs8BBBv3zCBBx4zCBBzz/BBBx59BBBt26BBBnuxBBBz92BBB3orCBBz1nCBB9l3BBBpy1CBBv3uC",
    "BB70sCBBz9iCBBj/hCBB3kzCBBxmgCBBr60CBB57sCBBz11CBB3pmCBBh/pCBBvk+BBBv6yCBB7wwCBB3mhCBBpy6BBBps3BBBr7mCBBh80BBBzumCBB",
    "pnrCBB9o7BBBp9qCBBhhiCBBxs1CBB9g0CBB/6zCBBxvoCBBnp+BBB5w7BBB1q3BBB96zBBBzozCBB7zyCBB7gwCBBrptCBB77pCBBr4kCBB1lgCBBx9",
    "xBBB5xvBBBhvtBBB1rtBBB9uzCBBpspCBBphnCBB1i1BBBzxtCBB9/rCBB/4rCBBtvqCBB9mlCBBzkkCBB1wiCBB18/BBBj69BBBvy8BBBjn1BBB1q6B",
    "BBt30BBBhlzBBBp4zCBBzvzCBBhuyCBBttkCBB7t4BBBtv3BBBxttCBB76sCBBxirCBBt/mCBBv2+BBBjjjCBBns1CBB/qxCBBl8uCBBh/tCBB/4sCBB",
    "1/iCBBp0iCBBph9BBBz28BBB53zBBB3rxBBB1mxBBB35wBBBzi1CBBvggCBBlg0BBB/vxBBBvtsCBBnz1CBBhu0CBB78uCBB73uCBBpiqCBB57nCBBj/",
    "jCBB93hCBBrs6BBBt00BBBtjtBBB5zpCBBv5xBBB7zzCBB5kpCBBr9oCBBxomCBB9ylCBBl8iCBBnniCBBl2gCBB9r+BBBj3wBBBnm0CBBn6rCBB11xB",
    "BBx60CBB3ruCBB3+lCBB5q1BBB5ktCBBppsCBBl8oCBBnljCBBr1xBBBn7zCBB98yCBBz3uCBB58pCBBlppCBBzzoCBB7vmCBB79iCBBlgiCBB5m9BBB",
    "vx4BBBtw4BBB5h0BBBvwxBBB3qzCBBjzlCBB/8yCBB7hkCBBt1iCBBr/5BBB70xBBB15uBBBn1tBBB5lpCBBzimCBB7g8BBB3y/BBBvt/BBBt2+BBBzz",
    "jCBBj2kCBBnq3BBB5z1CBBvs7BBBp8zCBBx/zCBB11tCBB9yrCBB5y+BBB9nvCBBtumCBBj1pCBB3s1BBB374BBB37xBBB9n4BBBvztCBB3s0CBB5kyC",
    "BDr7wCBC75pCBDtj0CBB3ujCBB50hCBB3tgCBB1rgCBBprgCBB3ogCBBrsxBBB91+BBBhm9BBC7g6BBCzy3BBD5+0BBBxy0BBE1zwBBB9ywBBBnwwBBB",
    "xnuBBB/00BBBv3xBBBjo1CBBz00CBBpu0CBBz2zCBB/0zCBBnuzCBBxpyCBBhjyCBB/8xCBBx/wCBBj5wCBBt9uCBB78uCBBx6sCBBrtsCBBhrsCBB7k",
    "sCBBjvqCBB/lqCBBj7pCBB97oCBB7smCBB3imCBBpylCBBztkCBB7hkCBBvijCBBz7gCBB7wgCBBnwgCBBrwgCBB9vgCBBzvgCBBnvgCBBpsgCBBpsgC",
    "BBnhgCBBn9/BBBrp/BBBlm+BBB9k+BBBvh+BBBvu9BBBrl9BBB9m8BBBn+7BBBp+7BBBvg7BBB/04BBB1s4BBBh23BBBzy3BBBh52BBB512BBB/q1BBB",
    "9i1BBBp4xBBBzmxBBB9ixBBBr/sCBBkokFBBpl8BBDzk2CBB3r0CBBzw0CBBlv1CBB9y0CBBpv0CBB96zCBB53zCBB1tyCBBnyyCBBhuyCBBxpyCBBji",
    "xCBBz8wCBBzzwCBB1ywCBB7hwCBBx1vCBB/6tCBBz6tCBB1xtCBBvttCBB76sCBBxzsCBB/3sCBB1vsCBBzysCBBxpsCBBvlsCBBxsrCBBjnrCBB5jrC",
    "BBzzqCBB5hqCBB13pCBBv3pCBB7zpCBB3xnCBB3tnCBBr1mCBB57lCBB78lCBBv3lCBB5nlCBB7ykCBBrvhCBBxmkCBB/+jCBBr3jCBB/ijCBB35iCBB",
    "v2iCBBtoiCBBroiCBB39hCBB38hCBBn7hCBB91hCBBz2hCBB99gCBB1//BBB5u/BBBlj/BBBn1+BBB3r+BBBl39BBB5q9BBBh27BBBps7BBB3z5BBBp3",
    "4BBBhz4BBBjy4BBBz/3BBBj83BBB/+3BBB173BBB973BBBh93BBBr43BBBrz3BBBx72BBBz41BBBhl1BBB1y0BBB9k0BBBzkyBBBn+xBBBj3xBBB7uxB",
    "BB1sxBBB/rxBBBhpxBBB17vBBBjztBBB232EBBo32EBBow8EBBpz/CBB1r9CBB1p9CBBo3rFBB0/wFBB4/hGBBp5tBBB10tBBkCn06Dp7CC5y6Dv7CLh",
    "06Dj8CBj06Dl8CB6Bj8CB4Bl8CB716Dv7CB916Dx7CB/16D57CB/16D57CB/16D57CB/16D57CB/16D57CB/16D57CB/16D57CC/16D57CB/16D57CB/",
    "16D57CB/16D57CB/16D57CC/16D57CC/16D57CB/16D57CC/16D57CB/16D57CC/16D57CB/16D57CB/16D57CB/16D57CB/16D57CBr36Dz7CB136D/",
    "7CBj36D/7CBz26D/7CsqFB0roECB0roEPL0roEjEGuyoEBGuyoE8QH8zpEBJu1pEvLD0rqEBFgrqECJ6rqE8HD+6qEBD+6qEj9uBNr2oHBNr2oHBB92o",
    "HBD/2oHBFh3oHBHj3oHBJl3oH3CDr2oHBDr2oHBD92oHBD92oHBH/2oHBH/2oHgypCl80KBBx80KBBh80KBBhu7DBBnq0KBBtl0KBB1k0KBBpg0KBB74",
    "zKBB/2zKBBlyzKBB3zzKBB72hLBBl94DBBhszKBB1rzKBB3qzKBBzpzKBBrv5DBBz1hLBB5qzKBBvozKBB1s5DBB/nzKBBnnzKBB500KBB7mzKBBrmzK",
    "BB5jzBBBvizKBB1hzKBB/zhLBBp+yKBB19yKBB/6yKBB36yKBB9whLBB71yKBB51yKBBl0yKBB7yyKBBnyyKBBnyyKBBnxyKBBluyKBB3tyKBBntyKBB",
    "3ryKBBlryKBBjryKBBlryKBBnryKBBvg3DBBp8jKBB3myKBBvlyKBBpt2DBB7kyKBBxkyKBBpjyKBB75xKBBpgyKBBr/xKBBt9xKBB75xKBB10xKBBjz",
    "xKBB/uxKBBhuxKBBhsxKBBjsxKBB7qxKBB5pxKBBrpxKBBvoxKBBpzwKBBrkxKBBrzwKBB5/wKBB19wKBBxkzKBBl2vKBBnowKBB9lwKBBtkwKBBzswK",
    "BBniwKBBriwKBB36vKBBp3xDBBv2vKBBn2vKBBr1vKBBl0vKBB3zvKBB5vvKBBv7wDBBt3wDBBrnvKBBvkvKBB5jvKBB5ovKBB//uKBBx3gLBB32gLBB",
    "h2uKBB3yuKBB5yuKBBnqvDBBzquKBBrpuKBBvouKBB5nuKBBx1uDBBlnuKBB5muKBBhysKBBlluKBBpvgLBBthuKBBzguKBBx7tKBB5+tKBBtptDBBxz",
    "tKBBtptDBB/wtKBBnxtKBBnwtKBB/ptKBB/ptKBBnlgLBBtotKBB5ltKBBxktKBB7htKBBrigLBBrwrDBB7ggLBB19sKBBx9sKBBt9sKBBn8sKBB5vqB",
    "BBj5sKBB/1qDBBh2qDBBjp7JBBj3sKBBl3sKBB98/KBB99iDBB7rrCBBtzsKBB9ysKBBv7/KBBjwsKBB/ssKBBtssKBBrqsKBB9hsKBBt2/KBBr4/KBB",
    "9gsKBB/8oDBB79rKBB71rKBB11rKBBz1rKBB51rKBB/yrKBB5xrKBBzvrKBBxwrKBB9vrKBBhtrKBB7rrKBB1rrKBBjqrKBBvprKBBtlrKBBngrKBBj+",
    "qKBBt2qKBB36mDBB33qKBB77qKBBl1qKBBxzqKBBxtqKBB5smDBB5pqKBB1vqKBBvxqKBBnp/KBBzlqKBBrkqKBBviqKBB9kqKBB1l/KBBx3pKBB51pK",
    "BB/rkDBBvupKBBn9oKBBnopKBBp7+KBB7jpKBBv8+KBB5++KBB/zzKBB7zzKBBn9oKBBxjpKBBxi8JBB7v6KBBh8oKBB77oKBBx7oKBB53oKBBx4oKBB",
    "zxiDBBp5+KBBpuoKBB11oKBB9ooKBB5loKBBrniDBBrloKBBrsoKBBj9nKBBz0+KBBr6nKBBr0nKBB/vnKBBlknKBBxkhDBBjhnKBBrt+KBB78mKBBxk",
    "gDBB55mKBBnq+KBBh4mKBBp1mKBB1zmKBB1zmKBBzm/CBB5+tDBB9/+CBB3qmKBB9j+CBB5jmKBB/imKBBtpmKBBx+lKBBj8lKBBz4lKBBh8lKBBz5lK",
    "BB34lKBB/3lKBBv+9CBBl9lKBBxtlKBB1plKBBt99KBB/jlKBBpklKBB3j9CBBpxlKBBh6kKBBj78CBBl48CBB30kKBBztkKBBrvkKBBzvkKBB/39KBB",
    "5skKBB1pkKBBjqkKBB5mkKBBr/5DBBt9jKBBzr7CBBj4jKBBn36CBBvvjKBB3ujKBBjtjKBB1x5CBBnqjKBB/ojKBBh/4CBBlx4CBB76iKBB75iKBB7n",
    "9KBBr4iKBBnn9KBBpn9KBBtuiKBBltiKBB9riKBB3qiKBBvmiKBBvh9KBB/giKBB9v2CBBv/hKBBpq2CBBv8hKBBz5rDBBzyhKBBz50CBBn40CBBxv0C",
    "BBj08KBBtz8KBB3khKBB7k0CBB/k0CBBzi0CBBhh0CBBtihKBBtihKBBvihKBB7/gKBB/w8KBB97gKBBpw8KBBrr8KBB/yyCBB/vgKBBlsgKBBnogKBB",
    "7m8KBB3yxCBB5//JBBzrxCBB/oxCBBt8/JBB32/JBBxi8KBBxx/JBB/w/JBB3w/JBB/9vCBBrrvCBBtrvCBBhn/JBB717KBBr7uCBB35+JBBz5+JBB5z",
    "7KBBpuuCBBnp+JBBts7KBB/n+JBBro+JBBzm+JBBp+sCBBxg+JBB3m7KBBt69JBB529JBB1y9JBB5j7KBBz0rCBB3yrCBB1h7KBB3prCBB3/8JBBxjrC",
    "BBl+8JBB938JBBp38JBBhqqCBBxlqCBB5x8JBBr9pCBB9w8JBBhijDBB366KBB/s8JBB/n8JBBx36KBBtk8JBBhtvKBB/9oCBBl9oCBBr/iDBB7+iDBB",
    "z47JBBv47JBB9+0JBBly6KBB7v7JBBpw7JBBnv7JBB9tzKBBju7JBBhu7JBBvt7JBB/q7JBB1lnCBBlr7JBB3n7JBBtj7JBB7+6JBBxn7JBB/96JBBt7",
    "6JBBv06JBB5k7JBBt96JBBr96JBBt86JBB72mCBBzjmCBBhtmCBB3n6KBBtr6JBBrr6JBBnp6JBBh+iCBBvk6JBBholCBBhl6KBB7k6KBB9/kCBB9tkC",
    "BBtk6KBBl25JBBv15JBB705JBB505JBB7w5JBB/y5JBB1q5JBBvt5JBBjk5JBBnp5JBBjl5JBBvj5JBBv+5KBB994JBB/74JBBx85KBBl24JBBh24JBB",
    "71hCBB9u4JBBxu4JBBl55KBB9s4JBB9wiLBB5xgCBBrmgCBB9w5KBBtw5KBB9y3JBBlu3JBBtk3JBB532JBB1y+BBBxy2JBBnx2JBB1r2JBB/l2JBBxq",
    "9BBBp94DBB9g2JBB9h2JBB3+1JBB9v4DBBzw1JBBtq1JBB7g6BBBn/5BBB700JBBjv0JBBlt0JBBtr5BBB1s0JBB96zJBBhxzJBBhxzJBB72zJBBj/yJ",
    "BBt9yJBBl/2BBBlmyJBBzl4KBBxjyJBBzn2BBB3g4KBB/yxJBBjkuKBBjtxJBBhr0BBB59zBBBz43KBBl43KBBzhxJBBh/yBBBz03KBBt2yBBBl/wJBB",
    "n/wJBBt9wJBB1kyBBB/xwJBB/s3KBB1twJBB7lwJBBnkwJBBxgwJBBzj3KBBxtvBBBvvvJBB18uJBB9wuJBB9z2KBBhy2KBBvquJBBj0sBBBxx2KBB5w",
    "sBBBpgsBBBl4rBBBz1tJBB/r2KBB7xtJBBzxtJBBnxtJBB1wtJBBpwtJBBhutJBB5hqBB",
    0
};
/* 185 lowercase groups: (start delta, count, stride, zigzag(delta)) */
static const char *const ds__unit_lower[] = {
    "hCaBgC/DXBgCYHBgCoBYCCyBDCCHICCRXCCuBBBxHBDCCIBBkNBCCCEBB8MBBBCCCB6MCBBCDBB+EBBB0MBBB2MBBBCCBB6MBBB+MCBBmNBBBiNBBBCE",
    "BBmNBBBqNCBBsNBDCCGBB0NBBBCCBB0NDBBCCBB0NBBBCCCByNCCCCEBB2NBBBCEBBCIBBEBBBCCBBEBBBCCBBEBJCCTJCCTBBEBCCCEBBhGBBBvDBUC",
    "CoBBBjICJCCYBB2iVBBBCCBBlKBBBwiVDBBCCBBlMBBBqEBBBuEBFCCqJCCCGBBCJBBoHHBBsCCDBqCEBBgECCB+DDRBgCSJBgCsBBBQJMCCcBB3DDBB",
    "CCBBNBBBCDDBjIDQBgFQgBBgCwCRCCqBbCC2BBBeBHCCPwBCChDmBBgDv7CmBBgmOnBBBgmOGBBgmOzWwCBg9rCwCGBQ5kCBBCHrBB/7FtBDB/7FjKrC",
    "CC+EBB97OCwBCCoDIBPQGBPQIBPQIBPQGBPRECPPIBPgBIBPQIBPQIBPQCBPCCBzECBBRMEBrFEBBRMCBPCCBnGOCBPCCB/GCBBNMCB/HCCB7HCBBRqJ",
    "BB51OEBB9rQBBBrkQHBB4BuBQBgBjBBBCzZaB0Bq6BwBBgDgDBBCCBBt/UBBBruHBBBt+UDDCCGBB3hVBBB5/UBBB9hVBBB7hVCBBCDBBCJCB9jVCyBC",
    "CrDCCCHBBCuqeXCCgCOCCiFHCCQfCCnCCCCEBBnglCBFCCNBBCCBBvyyCDCCCGKCCUBBn0yCBBB90yCBBB10yCBBBh0yCBBBn0yCCBBjxyCBBBzyyCBB",
    "BpxyCBBBg6BBICCQBB/CBBBl0yCBBBvjlCBCCCEBBt2yCBICCQBBhkzCZBBCs5VaBgC/mBoBBwCwFkBBwCgGLBuCMPBuCQHBuCICBuCs3BzBBgEwGWBg",
    "Cw6CgBBgCgtVgBBgCgDZB2BgzeiBBkC",
    0
};
/* END unicode tables */

enum { DS__U_L = 1, DS__U_N = 2, DS__U_WS = 4, DS__U_EP = 128 };   /* props bits, see generator */
enum { DS__G_OTHER, DS__G_CR, DS__G_LF, DS__G_CONTROL, DS__G_EXTEND, DS__G_ZWJ, DS__G_RI, DS__G_PREPEND,
       DS__G_SPACINGMARK, DS__G_L, DS__G_V, DS__G_T, DS__G_LV, DS__G_LVT };
enum { DS__INCB_NONE, DS__INCB_LINKER, DS__INCB_CONSONANT, DS__INCB_EXTEND };

typedef struct ds__uni {
    uint32_t *prop_start; uint16_t *prop_val; int n_prop;
    uint32_t *ccc_start;  uint8_t  *ccc_val;  int n_ccc;
    uint32_t *dec_cp, *dec_a, *dec_b; int n_dec;         /* dec_b 0: singleton */
    uint64_t *comp_key; uint32_t *comp_val; uint32_t comp_mask;   /* (a << 21 | b) -> composite */
    uint32_t *low_start, *low_count, *low_stride; int32_t *low_delta; int n_low;
    uint16_t ascii[128];
} ds__uni;

typedef struct ds__uni_rd { const char *const *piece; const char *s; } ds__uni_rd;
static int64_t ds__uni_next(ds__uni_rd *r) {             /* next varint, -1 at the end */
    uint32_t v = 0; int shift = 0;
    for (;;) {
        int c, d;
        while (!*r->s) { if (!*++r->piece) return -1; r->s = *r->piece; }
        c = (unsigned char)*r->s++;
        d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : 63;
        v |= (uint32_t)(d & 31) << shift; shift += 5;
        if (!(d & 32)) return v;
    }
}
static int ds__uni_count(const char *const *t, int per) {
    ds__uni_rd r; int n = 0;
    r.piece = t; r.s = t[0];
    while (ds__uni_next(&r) >= 0) n++;
    return n / per;
}
static int32_t ds__unzigzag(uint32_t v) { return (v & 1) ? -(int32_t)(v >> 1) - 1 : (int32_t)(v >> 1); }
static void ds__uni_free(ds__uni *u) {
    if (!u) return;
    DS_FREE(u->prop_start); DS_FREE(u->prop_val); DS_FREE(u->ccc_start); DS_FREE(u->ccc_val);
    DS_FREE(u->dec_cp); DS_FREE(u->dec_a); DS_FREE(u->dec_b); DS_FREE(u->comp_key); DS_FREE(u->comp_val);
    DS_FREE(u->low_start); DS_FREE(u->low_count); DS_FREE(u->low_stride); DS_FREE(u->low_delta);
    DS_FREE(u);
}
static uint32_t ds__uni_prop(const ds__uni *u, uint32_t cp) {
    int lo = 0, hi = u->n_prop - 1;
    if (cp < 128) return u->ascii[cp];
    while (lo < hi) { int mid = (lo + hi + 1) / 2; if (u->prop_start[mid] <= cp) lo = mid; else hi = mid - 1; }
    return u->prop_val[lo];
}
static ds__uni *ds__uni_load(void) {
    ds__uni *u = (ds__uni *)DS_MALLOC(sizeof(ds__uni));
    ds__uni_rd r; int i; uint32_t at;
    if (!u) return NULL;
    memset(u, 0, sizeof *u);
    u->n_prop = ds__uni_count(ds__unit_props, 2); u->n_ccc = ds__uni_count(ds__unit_ccc, 2);
    u->n_dec = ds__uni_count(ds__unit_decomp, 3); u->n_low = ds__uni_count(ds__unit_lower, 4);
    u->prop_start = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_prop); u->prop_val = (uint16_t *)DS_MALLOC(sizeof(uint16_t) * (size_t)u->n_prop);
    u->ccc_start = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_ccc); u->ccc_val = (uint8_t *)DS_MALLOC((size_t)u->n_ccc);
    u->dec_cp = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_dec); u->dec_a = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_dec);
    u->dec_b = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_dec);
    for (u->comp_mask = 1; u->comp_mask < (uint32_t)u->n_dec * 2; u->comp_mask *= 2) {}
    u->comp_key = (uint64_t *)DS_MALLOC(sizeof(uint64_t) * u->comp_mask); u->comp_val = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * u->comp_mask);
    u->comp_mask--;
    u->low_start = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_low); u->low_count = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_low);
    u->low_stride = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (size_t)u->n_low); u->low_delta = (int32_t *)DS_MALLOC(sizeof(int32_t) * (size_t)u->n_low);
    if (!u->prop_start || !u->prop_val || !u->ccc_start || !u->ccc_val || !u->dec_cp || !u->dec_a || !u->dec_b ||
        !u->comp_key || !u->comp_val || !u->low_start || !u->low_count || !u->low_stride || !u->low_delta) { ds__uni_free(u); return NULL; }
    r.piece = ds__unit_props; r.s = r.piece[0]; at = 0;
    for (i = 0; i < u->n_prop; i++) { at += (uint32_t)ds__uni_next(&r); u->prop_start[i] = at; u->prop_val[i] = ds__uni_palette[ds__uni_next(&r)]; }
    r.piece = ds__unit_ccc; r.s = r.piece[0]; at = 0;
    for (i = 0; i < u->n_ccc; i++) { at += (uint32_t)ds__uni_next(&r); u->ccc_start[i] = at; u->ccc_val[i] = (uint8_t)ds__uni_next(&r); }
    memset(u->comp_key, 0, sizeof(uint64_t) * (u->comp_mask + 1));
    r.piece = ds__unit_decomp; r.s = r.piece[0]; at = 0;
    for (i = 0; i < u->n_dec; i++) {
        uint32_t v;
        at += (uint32_t)ds__uni_next(&r);
        u->dec_cp[i] = at; u->dec_a[i] = (uint32_t)((int32_t)at + ds__unzigzag((uint32_t)ds__uni_next(&r)));
        v = (uint32_t)ds__uni_next(&r); u->dec_b[i] = v >> 1;
        if (!(v & 1)) {                                  /* primary composite: (a, b) -> cp */
            uint64_t key = (uint64_t)u->dec_a[i] << 21 | u->dec_b[i];
            uint32_t h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & u->comp_mask;
            while (u->comp_key[h]) h = (h + 1) & u->comp_mask;
            u->comp_key[h] = key; u->comp_val[h] = at;
        }
    }
    r.piece = ds__unit_lower; r.s = r.piece[0]; at = 0;
    for (i = 0; i < u->n_low; i++) {
        at += (uint32_t)ds__uni_next(&r); u->low_start[i] = at;
        u->low_count[i] = (uint32_t)ds__uni_next(&r); u->low_stride[i] = (uint32_t)ds__uni_next(&r);
        u->low_delta[i] = ds__unzigzag((uint32_t)ds__uni_next(&r));
    }
    for (i = 0; i < 128; i++) {
        int lo = 0, hi = u->n_prop - 1;
        while (lo < hi) { int mid = (lo + hi + 1) / 2; if (u->prop_start[mid] <= (uint32_t)i) lo = mid; else hi = mid - 1; }
        u->ascii[i] = u->prop_val[lo];
    }
    return u;
}
static int ds__uni_ccc(const ds__uni *u, uint32_t cp) {
    int lo = 0, hi = u->n_ccc - 1;
    if (cp < 0x300) return 0;
    while (lo < hi) { int mid = (lo + hi + 1) / 2; if (u->ccc_start[mid] <= cp) lo = mid; else hi = mid - 1; }
    return u->ccc_val[lo];
}
/* Grapheme_Cluster_Break, Hangul syllable types computed (UAX #29 table 2). */
static int ds__uni_gcb(uint32_t cp, uint32_t prop) {
    if (cp >= 0x1100 && cp <= 0xD7FB) {
        if (cp <= 0x115F || (cp >= 0xA960 && cp <= 0xA97C)) return DS__G_L;
        if ((cp >= 0x1160 && cp <= 0x11A7) || (cp >= 0xD7B0 && cp <= 0xD7C6)) return DS__G_V;
        if ((cp >= 0x11A8 && cp <= 0x11FF) || cp >= 0xD7CB) return DS__G_T;
        if (cp >= 0xAC00 && cp <= 0xD7A3) return (cp - 0xAC00) % 28 ? DS__G_LVT : DS__G_LV;
    }
    return (int)(prop >> 3) & 15;
}
/* Extended grapheme clusters (UAX #29, GB3..GB999 with GB9c) as unicode-segmentation finds
   them: calls back with each cluster's byte range. */
typedef struct ds__gstate { int prev, ri, ep, incb; } ds__gstate;
static int ds__grapheme_break(const ds__gstate *st, int g, uint32_t prop) {
    int p = st->prev, incb = (int)(prop >> 8) & 3;
    if (p < 0) return 1;
    if (p == DS__G_CR && g == DS__G_LF) return 0;                                     /* GB3  */
    if (p == DS__G_CONTROL || p == DS__G_CR || p == DS__G_LF) return 1;               /* GB4  */
    if (g == DS__G_CONTROL || g == DS__G_CR || g == DS__G_LF) return 1;               /* GB5  */
    if (p == DS__G_L && (g == DS__G_L || g == DS__G_V || g == DS__G_LV || g == DS__G_LVT)) return 0;
    if ((p == DS__G_LV || p == DS__G_V) && (g == DS__G_V || g == DS__G_T)) return 0;  /* GB7  */
    if ((p == DS__G_LVT || p == DS__G_T) && g == DS__G_T) return 0;                   /* GB8  */
    if (g == DS__G_EXTEND || g == DS__G_ZWJ || g == DS__G_SPACINGMARK) return 0;      /* GB9, GB9a */
    if (p == DS__G_PREPEND) return 0;                                                 /* GB9b */
    if (incb == DS__INCB_CONSONANT && st->incb == 2) return 0;                        /* GB9c */
    if (p == DS__G_ZWJ && st->ep == 2 && (prop & DS__U_EP)) return 0;                 /* GB11 */
    if (p == DS__G_RI && g == DS__G_RI && (st->ri & 1)) return 0;                     /* GB12, GB13 */
    return 1;
}
static void ds__grapheme_step(ds__gstate *st, int g, uint32_t prop) {
    int incb = (int)(prop >> 8) & 3;
    st->ri = g == DS__G_RI ? st->ri + 1 : 0;
    if (prop & DS__U_EP) st->ep = 1;
    else if (st->ep == 1 && g == DS__G_EXTEND) st->ep = 1;
    else if (st->ep == 1 && g == DS__G_ZWJ) st->ep = 2;
    else st->ep = 0;
    if (incb == DS__INCB_CONSONANT) st->incb = 1;
    else if (st->incb && incb == DS__INCB_LINKER) st->incb = 2;
    else if (!(st->incb && incb == DS__INCB_EXTEND)) st->incb = 0;
    st->prev = g;
}

/* Lowercase as Rust's char::to_lowercase (what tokenizers' Lowercase applies per char). */
static void ds__uni_lower_cp(const ds__uni *u, uint32_t cp, ds__tbuf *out) {
    int lo = 0, hi = u->n_low - 1;
    if (cp < 128) { char c = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp); ds__tbuf_put(out, &c, 1); return; }
    if (cp == 0x130) { ds__tbuf_put(out, "i\xCC\x87", 3); return; }   /* the one multi-char mapping */
    while (lo < hi) { int mid = (lo + hi + 1) / 2; if (u->low_start[mid] <= cp) lo = mid; else hi = mid - 1; }
    if (u->n_low && cp >= u->low_start[lo]) {
        uint32_t k = cp - u->low_start[lo];
        if (k % u->low_stride[lo] == 0 && k / u->low_stride[lo] < u->low_count[lo]) cp = (uint32_t)((int32_t)cp + u->low_delta[lo]);
    }
    ds__tbuf_cp(out, cp);
}

/* NFC: full canonical decomposition, canonical ordering, canonical composition (UAX #15). */
static int ds__uni_find_dec(const ds__uni *u, uint32_t cp) {
    int lo = 0, hi = u->n_dec - 1;
    while (lo <= hi) { int mid = (lo + hi) / 2; if (u->dec_cp[mid] == cp) return mid; if (u->dec_cp[mid] < cp) lo = mid + 1; else hi = mid - 1; }
    return -1;
}
static void ds__uni_decompose(const ds__uni *u, uint32_t cp, ds__ivec *out, int depth) {
    int k;
    if (cp >= 0xAC00 && cp <= 0xD7A3) {                  /* Hangul syllable: L V (T) */
        uint32_t s = cp - 0xAC00;
        ds__ivec_push(out, (int32_t)(0x1100 + s / 588)); ds__ivec_push(out, (int32_t)(0x1161 + (s % 588) / 28));
        if (s % 28) ds__ivec_push(out, (int32_t)(0x11A7 + s % 28));
        return;
    }
    if (cp >= 0xC0 && depth < 8 && (k = ds__uni_find_dec(u, cp)) >= 0) {
        ds__uni_decompose(u, u->dec_a[k], out, depth + 1);
        if (u->dec_b[k]) ds__uni_decompose(u, u->dec_b[k], out, depth + 1);
        return;
    }
    ds__ivec_push(out, (int32_t)cp);
}
static int ds__uni_compose(const ds__uni *u, uint32_t a, uint32_t b, uint32_t *out) {
    uint64_t key; uint32_t h;
    if (a >= 0x1100 && a <= 0x1112 && b >= 0x1161 && b <= 0x1175) { *out = 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28; return 1; }
    if (a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b >= 0x11A8 && b <= 0x11C2) { *out = a + (b - 0x11A7); return 1; }
    key = (uint64_t)a << 21 | b;
    h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & u->comp_mask;
    while (u->comp_key[h]) { if (u->comp_key[h] == key) { *out = u->comp_val[h]; return 1; } h = (h + 1) & u->comp_mask; }
    return 0;
}
static void ds__uni_nfc(const ds__uni *u, const char *s, size_t n, ds__tbuf *out, ds__ivec *tmp) {
    size_t i, j, m; int starter = -1, last_cc = 0;
    for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++) {}
    if (i == n) { ds__tbuf_put(out, s, n); return; }     /* ASCII is already NFC */
    tmp->n = 0;
    for (i = 0; i < n;) { uint32_t cp; i += (size_t)ds__utf8_get(s + i, &cp); ds__uni_decompose(u, cp, tmp, 0); }
    if (tmp->oom) { out->oom = 1; return; }
    for (i = 1; i < tmp->n; i++) {                       /* stable insertion sort of each mark run */
        int c = ds__uni_ccc(u, (uint32_t)tmp->p[i]);
        if (!c) continue;
        for (j = i; j > 0; j--) {
            int pc = ds__uni_ccc(u, (uint32_t)tmp->p[j - 1]);
            if (pc <= c) break;
            { int32_t t = tmp->p[j]; tmp->p[j] = tmp->p[j - 1]; tmp->p[j - 1] = t; }
        }
    }
    for (i = 0, m = 0; i < tmp->n; i++) {                /* compose in place: tmp[0..m) is the result */
        uint32_t c = (uint32_t)tmp->p[i], comp; int cc = ds__uni_ccc(u, c);
        if (starter >= 0 && ((int)m - 1 == starter || (last_cc != 0 && last_cc < cc)) &&
            ds__uni_compose(u, (uint32_t)tmp->p[starter], c, &comp)) { tmp->p[starter] = (int32_t)comp; continue; }
        if (cc == 0) starter = (int)m;
        last_cc = cc;
        tmp->p[m++] = (int32_t)c;
    }
    for (i = 0; i < m; i++) ds__tbuf_cp(out, (uint32_t)tmp->p[i]);
}

/* ---- a tiny regex for the patterns tokenizer.json files use ------------------------------
   Alternation of branches; a branch is a sequence of atoms (literal, \s \S \p{L} \p{N} \P{..},
   [...] classes of those and literal ranges, optionally negated), each with ? * + {n} {n,}
   {n,m}. Leftmost-first over branches like Oniguruma; each atom matches greedily without giving
   back, which is exact for CLIP's split pattern, \s+ and " {2,}". Anything else is refused at
   load time rather than guessed. */
typedef struct ds__re_atom { uint32_t lo[6], hi[6]; uint8_t nlit, cls, neg; int min, max; } ds__re_atom;
typedef struct ds__regex { ds__re_atom *atom; int *first; int n_branch, n_atom; } ds__regex;

static void ds__re_free(ds__regex *re) { if (re) { DS_FREE(re->atom); DS_FREE(re->first); } }
/* One escape after '\': class bits into *cls or a literal into *lit; returns bytes used or 0. */
static int ds__re_escape(const char *p, const char *end, uint8_t *cls, int *neg, uint32_t *lit) {
    if (p >= end) return 0;
    *cls = 0; *neg = 0;
    switch (*p) {
    case 's': *cls = DS__U_WS; return 1;
    case 'S': *cls = DS__U_WS; *neg = 1; return 1;
    case 'n': *lit = '\n'; return 1;
    case 't': *lit = '\t'; return 1;
    case 'r': *lit = '\r'; return 1;
    case 'f': *lit = '\f'; return 1;
    case 'v': *lit = '\v'; return 1;
    case 'p': case 'P':
        *neg = *p == 'P';
        if (end - p >= 4 && p[1] == '{' && p[3] == '}' && (p[2] == 'L' || p[2] == 'N')) { *cls = p[2] == 'L' ? DS__U_L : DS__U_N; return 4; }
        if (end - p >= 2 && (p[1] == 'L' || p[1] == 'N')) { *cls = p[1] == 'L' ? DS__U_L : DS__U_N; return 2; }
        return 0;
    default:
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) return 0;   /* \d \w \b ...: not supported */
        return ds__utf8_get(p, lit);
    }
}
static ds_result ds__re_compile(ds_ctx *ctx, const char *pat, ds__regex *re) {
    const char *p = pat, *end = pat + strlen(pat);
    size_t cap = strlen(pat) + 1;
    memset(re, 0, sizeof *re);
    re->atom = (ds__re_atom *)DS_MALLOC(sizeof(ds__re_atom) * cap);
    re->first = (int *)DS_MALLOC(sizeof(int) * (cap + 1));
    if (!re->atom || !re->first) { ds__re_free(re); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: regex"); }
    re->first[re->n_branch++] = 0;
    while (p < end) {
        ds__re_atom *a;
        if (*p == '|') { re->first[re->n_branch++] = re->n_atom; p++; continue; }
        a = &re->atom[re->n_atom++];
        memset(a, 0, sizeof *a); a->min = a->max = 1;
        if (*p == '\\') {
            int neg, k; uint32_t lit = 0;
            if (!(k = ds__re_escape(p + 1, end, &a->cls, &neg, &lit))) goto unsupported;
            a->neg = (uint8_t)neg;
            if (!a->cls) { a->lo[0] = a->hi[0] = lit; a->nlit = 1; }
            p += 1 + k;
        } else if (*p == '[') {
            p++;
            if (p < end && *p == '^') { a->neg = 1; p++; }
            while (p < end && *p != ']') {
                uint32_t lo, hi; uint8_t c; int neg, k;
                if (*p == '\\') {
                    lo = 0;
                    if (!(k = ds__re_escape(p + 1, end, &c, &neg, &lo)) || neg) goto unsupported;
                    p += 1 + k;
                    if (c) { a->cls |= c; continue; }
                } else if (*p == '[') goto unsupported;
                else p += ds__utf8_get(p, &lo);
                hi = lo;
                if (p + 1 < end && *p == '-' && p[1] != ']') { p++; if (*p == '\\') goto unsupported; p += ds__utf8_get(p, &hi); }
                if (a->nlit >= 6 || hi < lo) goto unsupported;
                a->lo[a->nlit] = lo; a->hi[a->nlit++] = hi;
            }
            if (p >= end) goto unsupported;
            p++;
        } else if (strchr("()^$.*+?{}", *p)) goto unsupported;
        else { uint32_t c; p += ds__utf8_get(p, &c); a->lo[0] = a->hi[0] = c; a->nlit = 1; }
        if (p < end && (*p == '?' || *p == '*' || *p == '+')) {
            a->min = *p == '+'; a->max = *p == '?' ? 1 : INT_MAX; p++;
        } else if (p < end && *p == '{') {
            char *e; long lo = strtol(p + 1, &e, 10), hi = lo;
            if (e == p + 1) goto unsupported;
            if (*e == ',') { if (e[1] == '}') { hi = INT_MAX; e++; } else { char *e2; hi = strtol(e + 1, &e2, 10); if (e2 == e + 1) goto unsupported; e = e2; } }
            if (*e != '}' || lo < 0 || hi < lo || lo > 1000) goto unsupported;
            a->min = (int)lo; a->max = (int)DS__MIN(hi, (long)INT_MAX); p = e + 1;
        }
        if (p < end && strchr("?+*{", *p)) goto unsupported;          /* lazy / possessive / nested */
    }
    re->first[re->n_branch] = re->n_atom;
    return DS_SUCCESS;
unsupported:
    ds__re_free(re);
    return ds__err(ctx, DS_ERR_UNSUPPORTED, "tokenizer: regex /%s/ uses syntax this reader does not support", pat);
}
static int ds__re_atom_ok(const ds__re_atom *a, const ds__uni *u, uint32_t cp) {
    int hit = 0, i;
    if (a->cls) {
        uint32_t pr = ds__uni_prop(u, cp);
        hit = ((a->cls & DS__U_L) && (pr & 3) == 1) || ((a->cls & DS__U_N) && (pr & 3) == 2) || ((a->cls & DS__U_WS) && (pr & DS__U_WS));
    }
    for (i = 0; !hit && i < a->nlit; i++) hit = cp >= a->lo[i] && cp <= a->hi[i];
    return hit ^ a->neg;
}
/* Length of the match starting exactly at s[0], or -1. Empty matches count as no match. */
static int64_t ds__re_match_at(const ds__regex *re, const ds__uni *u, const char *s, size_t n) {
    int b;
    for (b = 0; b < re->n_branch; b++) {
        size_t pos = 0; int k, ok = 1;
        for (k = re->first[b]; ok && k < re->first[b + 1]; k++) {
            const ds__re_atom *a = &re->atom[k]; int cnt = 0;
            while (cnt < a->max && pos < n) {
                uint32_t cp; int l = ds__utf8_get(s + pos, &cp);
                if (!ds__re_atom_ok(a, u, cp)) break;
                pos += (size_t)l; cnt++;
            }
            ok = cnt >= a->min;
        }
        if (ok && pos > 0) return (int64_t)pos;
    }
    return -1;
}
/* Next match at or after `from`: start in *ms, length returned (-1: none). */
static int64_t ds__re_find(const ds__regex *re, const ds__uni *u, const char *s, size_t n, size_t from, size_t *ms) {
    size_t i;
    for (i = from; i < n; i += (size_t)ds__utf8_len((uint8_t)s[i])) {
        int64_t l = ds__re_match_at(re, u, s + i, n - i);
        if (l > 0) { *ms = i; return l; }
    }
    return -1;
}

/* ---- SentencePiece precompiled charsmap: <u32 trie bytes><Darts double array><rules\0...> -- */
typedef struct ds__charsmap { uint32_t *unit; uint32_t n_unit; char *norm; uint32_t n_norm; } ds__charsmap;

static ds_result ds__charsmap_init(ds_ctx *ctx, ds__charsmap *cm, const uint8_t *blob, size_t n, int need_utf8) {
    uint32_t tsize, i;
    memset(cm, 0, sizeof *cm);
    if (n == 0) return DS_SUCCESS;
    if (n <= 4) return ds__err(ctx, DS_ERR_BAD_FORMAT, "tokenizer: precompiled_charsmap of %u bytes", (unsigned)n);
    tsize = blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (tsize >= n - 4 || tsize % 4) return ds__err(ctx, DS_ERR_BAD_FORMAT, "tokenizer: precompiled_charsmap trie size %u of %u bytes", tsize, (unsigned)n);
    cm->n_unit = tsize / 4; cm->n_norm = (uint32_t)(n - 4 - tsize);
    cm->unit = (uint32_t *)DS_MALLOC(sizeof(uint32_t) * (cm->n_unit ? cm->n_unit : 1));
    cm->norm = (char *)DS_MALLOC(cm->n_norm + 1);
    if (!cm->unit || !cm->norm) { DS_FREE(cm->unit); DS_FREE(cm->norm); memset(cm, 0, sizeof *cm); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: charsmap"); }
    for (i = 0; i < cm->n_unit; i++) { const uint8_t *q = blob + 4 + 4 * i; cm->unit[i] = q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24; }
    memcpy(cm->norm, blob + 4 + tsize, cm->n_norm); cm->norm[cm->n_norm] = 0;
    if (need_utf8) {                                     /* tokenizers insists on valid UTF-8 rules */
        uint32_t k = 0;
        while (k < cm->n_norm) {
            uint32_t cp; int l = cm->norm[k] ? ds__utf8_dec((const uint8_t *)cm->norm + k, cm->n_norm - k, &cp) : 1;
            if (!l) return ds__err(ctx, DS_ERR_BAD_FORMAT, "tokenizer: precompiled_charsmap rules are not UTF-8");
            k += (uint32_t)l;
        }
    }
    return DS_SUCCESS;
}
/* Darts-clone commonPrefixSearch: the rules whose key is a prefix of key[0..n), shortest first.
   Returns the number found; the first `max` are stored as (key length, rule offset). */
static int ds__charsmap_search(const ds__charsmap *cm, const char *key, size_t n, uint32_t *len, uint32_t *val, int max) {
    uint32_t pos = 0, unit; size_t i; int found = 0;
    if (!cm->n_unit) return 0;
    unit = cm->unit[0];
    pos ^= (unit >> 10) << ((unit & (1u << 9)) >> 6);
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)key[i];
        if (!c) break;
        pos ^= c;
        if (pos >= cm->n_unit) break;
        unit = cm->unit[pos];
        if ((unit & (0x80000000u | 0xFFu)) != c) break;
        pos ^= (unit >> 10) << ((unit & (1u << 9)) >> 6);
        if ((unit >> 8) & 1) {
            if (pos >= cm->n_unit) break;
            if (found < max) { len[found] = (uint32_t)(i + 1); val[found] = cm->unit[pos] & 0x7FFFFFFFu; }
            found++;
        }
    }
    return found;
}
/* Rule text at offset v (up to its NUL), or NULL if out of range. */
static const char *ds__charsmap_rule(const ds__charsmap *cm, uint32_t v, size_t *n) {
    if (v >= cm->n_norm) return NULL;
    *n = strlen(cm->norm + v);
    return cm->norm + v;
}

/* ---- the tokenizer ------------------------------------------------------------------------ */
enum { DS__TOK_BPE = 1, DS__TOK_UNIGRAM = 2 };
enum { DS__SRC_JSON = 1, DS__SRC_VOCAB_MERGES, DS__SRC_OPENAI_GZ, DS__SRC_SPM };
enum { DS__NORM_NFC = 1, DS__NORM_LOWER, DS__NORM_PRECOMPILED, DS__NORM_REPLACE, DS__NORM_STRIP };
enum { DS__PRE_SPLIT = 1, DS__PRE_BYTELEVEL, DS__PRE_METASPACE, DS__PRE_WSPLIT };
enum { DS__SPLIT_REMOVED = 1, DS__SPLIT_ISOLATED };
enum { DS__PIECE_NORMAL = 1, DS__PIECE_UNKNOWN = 2, DS__PIECE_CONTROL = 3, DS__PIECE_USER = 4, DS__PIECE_UNUSED = 5, DS__PIECE_BYTE = 6 };
#define DS__TOK_MAX_STEPS 16
#define DS__TOK_MAX_SPECIAL 4

typedef struct ds__tok_step {
    int kind, a, b;          /* Replace: -, Strip: left, right; Split: behavior, invert;
                                ByteLevel: add_prefix_space, use_regex; Metaspace: prepend (0 never,
                                1 first, 2 always), split */
    ds__regex re;            /* Replace, Split */
    char content[8];         /* Replace: replacement (if short); Metaspace: replacement char */
    char *long_content;      /* Replace: replacement longer than 7 bytes */
} ds__tok_step;

typedef struct ds__tok_added { uint32_t off, len, norm_off, norm_len; int32_t id; uint8_t normalized, lstrip, rstrip, single_word; } ds__tok_added;

struct ds_tokenizer {
    ds_ctx *ctx;
    int kind, source;
    /* vocabulary: every string lives in `str` (NUL-terminated); by id */
    ds__tbuf str;
    int32_t n_vocab, cap_vocab;
    uint32_t *off, *len;     /* len UINT32_MAX: id not present */
    double *score;           /* Unigram */
    float *score_f;          /* Unigram, sentencepiece's float view */
    uint8_t *type;           /* sentencepiece piece types */
    int32_t *hash; uint32_t hash_mask;   /* string -> id, the last id wins like tokenizers' map */
    int32_t *sorted; int32_t n_sorted;   /* Unigram: ids searchable by prefix, sorted by bytes */
    /* BPE */
    uint64_t *mkey; int32_t *mrank, *mnew; uint32_t mmask;   /* (left id, right id) -> rank, merged id */
    char *bpe_prefix, *bpe_suffix;       /* continuing_subword_prefix, end_of_word_suffix */
    int bpe_fuse_unk, bpe_ignore_merges;
    int32_t unk_id, byte_id[256];
    int byte_fallback;
    uint32_t byte_char[256];             /* GPT-2 byte -> code point map */
    /* sentencepiece */
    ds__charsmap cm;
    int spm_add_dummy_prefix, spm_remove_ws, spm_escape_ws, spm_ws_suffix;
    float spm_min, spm_max;
    int32_t *user_ids; int n_user;
    double min_score;
    /* tokenizer.json pipeline */
    ds__tok_step norm[DS__TOK_MAX_STEPS]; int n_norm;
    ds__tok_step pre[DS__TOK_MAX_STEPS]; int n_pre;
    ds__tok_added *added; int n_added; int added_norm, added_raw;
    uint8_t added_first[256];            /* bit 0: a raw added token starts with this byte, bit 1: normalized */
    ds__uni *uni;
    /* framing */
    int32_t prefix[DS__TOK_MAX_SPECIAL], suffix[DS__TOK_MAX_SPECIAL]; int n_prefix, n_suffix;
    int32_t pad_id; int max_length;
};

static uint64_t ds__fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; size_t i;
    for (i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 1099511628211ull; }
    return h;
}
static int32_t ds__tok_lookup(const ds_tokenizer *t, const char *s, size_t n) {
    uint32_t h;
    if (!t->hash) return -1;
    h = (uint32_t)ds__fnv(s, n) & t->hash_mask;
    for (;; h = (h + 1) & t->hash_mask) {
        int32_t id = t->hash[h];
        if (id < 0) return -1;
        if (t->len[id] == n && memcmp(t->str.p + t->off[id], s, n) == 0) return id;
    }
}
/* Grows the per-id arrays to hold ids < n (geometrically: vocabularies arrive one id at a time). */
static int ds__tok_grow(ds_tokenizer *t, int32_t n) {
    int32_t i, old = t->n_vocab;
    if (n <= old) return 1;
    if (n > t->cap_vocab) {
        int32_t cap = DS__MAX(n, t->cap_vocab < INT32_MAX / 2 ? t->cap_vocab * 2 : INT32_MAX);
        uint32_t *off = (uint32_t *)DS_REALLOC(t->off, sizeof(uint32_t) * (size_t)cap), *len;
        if (!off) return 0;
        t->off = off;
        if (!(len = (uint32_t *)DS_REALLOC(t->len, sizeof(uint32_t) * (size_t)cap))) return 0;
        t->len = len; t->cap_vocab = cap;
    }
    for (i = old; i < n; i++) { t->off[i] = 0; t->len[i] = UINT32_MAX; }
    t->n_vocab = n;
    return 1;
}
static int ds__tok_set(ds_tokenizer *t, int32_t id, const char *s, size_t n) {
    if (id < 0 || n >= UINT32_MAX || !ds__tok_grow(t, id + 1)) return 0;
    t->off[id] = (uint32_t)t->str.n; t->len[id] = (uint32_t)n;
    ds__tbuf_put(&t->str, s, n); ds__tbuf_put(&t->str, "", 1);
    return !t->str.oom && t->str.n < UINT32_MAX;
}
static ds_result ds__tok_build_hash(ds_tokenizer *t) {
    int32_t id; uint32_t cap = 16;
    while (cap < (uint32_t)t->n_vocab * 2 + 16) cap *= 2;
    DS_FREE(t->hash);
    t->hash = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap);
    if (!t->hash) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: vocab hash");
    memset(t->hash, 0xFF, sizeof(int32_t) * cap);
    t->hash_mask = cap - 1;
    for (id = 0; id < t->n_vocab; id++) {
        uint32_t h;
        if (t->len[id] == UINT32_MAX) continue;
        h = (uint32_t)ds__fnv(t->str.p + t->off[id], t->len[id]) & t->hash_mask;
        for (;; h = (h + 1) & t->hash_mask) {
            int32_t o = t->hash[h];
            if (o < 0 || (t->len[o] == t->len[id] && memcmp(t->str.p + t->off[o], t->str.p + t->off[id], t->len[id]) == 0)) { t->hash[h] = id; break; }
        }
    }
    for (id = 0; id < 256; id++) { char b[8]; snprintf(b, sizeof b, "<0x%02X>", id); t->byte_id[id] = ds__tok_lookup(t, b, 6); }
    return DS_SUCCESS;
}
static int ds__tok_cmp(const ds_tokenizer *t, int32_t a, int32_t b) {
    uint32_t la = t->len[a], lb = t->len[b];
    int c = memcmp(t->str.p + t->off[a], t->str.p + t->off[b], DS__MIN(la, lb));
    return c ? c : (la < lb ? -1 : la > lb);
}
/* Sorted id list for prefix search (merge sort: qsort has no context argument in C99). */
static ds_result ds__tok_build_sorted(ds_tokenizer *t, int (*keep)(const ds_tokenizer *, int32_t)) {
    int32_t i, n = 0, w, *tmp;
    DS_FREE(t->sorted);
    t->sorted = (int32_t *)DS_MALLOC(sizeof(int32_t) * (size_t)(t->n_vocab + 1));
    tmp = (int32_t *)DS_MALLOC(sizeof(int32_t) * (size_t)(t->n_vocab + 1));
    if (!t->sorted || !tmp) { DS_FREE(tmp); return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: vocab index"); }
    for (i = 0; i < t->n_vocab; i++) if (t->len[i] && t->len[i] != UINT32_MAX && keep(t, i)) t->sorted[n++] = i;
    for (w = 1; w < n; w *= 2) {
        int32_t lo;
        for (lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = DS__MIN(lo + w, n), hi = DS__MIN(lo + 2 * w, n), a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = ds__tok_cmp(t, t->sorted[b], t->sorted[a]) < 0 ? t->sorted[b++] : t->sorted[a++];
            while (a < mid) tmp[k++] = t->sorted[a++];
            while (b < hi) tmp[k++] = t->sorted[b++];
        }
        memcpy(t->sorted, tmp, sizeof(int32_t) * (size_t)n);
    }
    DS_FREE(tmp);
    t->n_sorted = n;
    return DS_SUCCESS;
}
/* Every vocab entry that is a prefix of s[0..n), shortest first: calls fn(len, id). Narrows the
   sorted range one byte at a time; entries equal to the prefix so far sort first in the range. */
typedef struct ds__prefix_it { int32_t lo, hi; size_t k; } ds__prefix_it;
static int32_t ds__tok_prefix_next(const ds_tokenizer *t, ds__prefix_it *it, const char *s, size_t n, size_t *mlen) {
    while (it->lo < it->hi && it->k < n) {
        uint8_t c = (uint8_t)s[it->k]; int32_t a, b, lo = it->lo, hi = it->hi;
        while (lo < hi && t->len[t->sorted[lo]] == it->k) lo++;      /* shorter: matched already */
        a = lo; b = hi;                                               /* first with byte >= c */
        while (a < b) { int32_t m = (a + b) / 2; if ((uint8_t)t->str.p[t->off[t->sorted[m]] + it->k] < c) a = m + 1; else b = m; }
        lo = a; b = hi;                                               /* first with byte > c */
        while (a < b) { int32_t m = (a + b) / 2; if ((uint8_t)t->str.p[t->off[t->sorted[m]] + it->k] <= c) a = m + 1; else b = m; }
        it->lo = lo; it->hi = a; it->k++;
        if (it->lo < it->hi && t->len[t->sorted[it->lo]] == it->k) { *mlen = it->k; return t->sorted[it->lo]; }
    }
    it->lo = it->hi;
    return -1;
}

/* ---- tokenizer.json ----------------------------------------------------------------------- */
/* Finds the members `keys` of the object at j; vals[i].p is NULL for a missing key. */
static int ds__tj_object(ds__json j, const char *const *keys, int nk, ds__json *vals) {
    int i;
    for (i = 0; i < nk; i++) vals[i].p = NULL, vals[i].end = j.end;
    if (!ds__json_lit(&j, '{')) return 0;
    if (ds__json_lit(&j, '}')) return 1;
    for (;;) {
        char key[48]; ds__json save = j;
        if (!ds__json_str(&j, key, sizeof key, NULL)) { j = save; if (!ds__json_skip(&j, 0)) return 0; key[0] = 0; }
        if (!ds__json_lit(&j, ':')) return 0;
        ds__json_ws(&j);
        for (i = 0; i < nk; i++) if (!strcmp(key, keys[i])) vals[i] = j;
        if (!ds__json_skip(&j, 0)) return 0;
        if (ds__json_lit(&j, ',')) continue;
        return ds__json_lit(&j, '}');
    }
}
static int ds__tj_present(ds__json v) {       /* member exists and is not null */
    return v.p && !(v.end - v.p >= 4 && !memcmp(v.p, "null", 4));
}
static int ds__tj_bool(ds__json v, int dflt) {
    if (!ds__tj_present(v)) return dflt;
    return v.end - v.p >= 4 && !memcmp(v.p, "true", 4);
}
/* A JSON number read the way tokenizers reads it: serde_json's default parser keeps the decimal
   digits as a u64, converts that to double, then multiplies or divides once by 10^|exp|. That is
   not always the nearest double (long significands round twice): about one Unigram score in six
   comes out an ulp away from strtod's, and Viterbi ties then break differently. */
static double ds__pow10(int e) { char b[16]; snprintf(b, sizeof b, "1e%d", e); return strtod(b, NULL); }
static int ds__tj_num(ds__json *j, double *out) {
    uint64_t sig = 0; int exp10 = 0, neg = 0, full = 0, digits = 0; double f;
    ds__json_ws(j);
    if (j->p < j->end && *j->p == '-') { neg = 1; j->p++; }
    for (; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++, digits++) {
        unsigned d = (unsigned)(*j->p - '0');
        if (!full && (sig > UINT64_MAX / 10 || (sig == UINT64_MAX / 10 && d > UINT64_MAX % 10))) full = 1;
        if (full) exp10++; else sig = sig * 10 + d;           /* digits past u64 only scale */
    }
    if (!digits) return 0;
    if (j->p < j->end && *j->p == '.') {
        for (j->p++; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++) {
            unsigned d = (unsigned)(*j->p - '0');
            if (!full && (sig > UINT64_MAX / 10 || (sig == UINT64_MAX / 10 && d > UINT64_MAX % 10))) full = 1;
            if (!full) { sig = sig * 10 + d; exp10--; }        /* digits past u64 are dropped */
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        int eneg = 0, e = 0;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) eneg = *j->p++ == '-';
        for (; j->p < j->end && *j->p >= '0' && *j->p <= '9'; j->p++) if (e < 100000) e = e * 10 + (*j->p - '0');
        exp10 += eneg ? -e : e;
    }
    f = (double)sig;
    if (exp10 >= 0) { if (exp10 > 308) return 0; f *= ds__pow10(exp10); }
    else {
        while (exp10 < -308 && f != 0.0) { f /= 1e308; exp10 += 308; }
        if (exp10 >= -308) f /= ds__pow10(-exp10);
    }
    *out = neg ? -f : f;
    return 1;
}
/* Decodes the JSON string at j into scratch (reused), returns its start or NULL. */
static const char *ds__tj_str(ds__json *j, ds__tbuf *scratch, size_t *len) {
    ds__json probe = *j; size_t n = SIZE_MAX;
    ds__json_str(&probe, NULL, 0, &n);
    if (n == SIZE_MAX) return NULL;
    scratch->n = 0;
    if (!ds__tbuf_reserve(scratch, n + 1)) return NULL;
    if (!ds__json_str(j, scratch->p, n + 1, &n)) return NULL;
    *len = n;
    return scratch->p;
}
static int ds__b64_decode(const char *s, size_t n, ds__tbuf *out) {
    uint32_t acc = 0; int bits = 0; size_t i;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i], d;
        if (c == '=') break;
        d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (d < 0) return 0;
        acc = acc << 6 | (uint32_t)d; bits += 6;
        if (bits >= 8) { char b = (char)(acc >> (bits - 8)); bits -= 8; ds__tbuf_put(out, &b, 1); }
    }
    return !out->oom;
}

static ds_result ds__re_literal(ds_ctx *ctx, const char *s, size_t n, ds__regex *re) {
    size_t i = 0;
    memset(re, 0, sizeof *re);
    re->atom = (ds__re_atom *)DS_MALLOC(sizeof(ds__re_atom) * (n + 1));
    re->first = (int *)DS_MALLOC(sizeof(int) * 2);
    if (!re->atom || !re->first) { ds__re_free(re); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: pattern"); }
    while (i < n) {
        ds__re_atom *a = &re->atom[re->n_atom++]; uint32_t c;
        memset(a, 0, sizeof *a);
        i += (size_t)ds__utf8_get(s + i, &c);
        a->lo[0] = a->hi[0] = c; a->nlit = 1; a->min = a->max = 1;
    }
    re->first[0] = 0; re->first[1] = re->n_atom; re->n_branch = 1;
    return DS_SUCCESS;
}
/* {"Regex": "..."} or {"String": "..."} */
static ds_result ds__tj_pattern(ds_tokenizer *t, ds__json v, ds__regex *re) {
    static const char *const k[] = { "Regex", "String" };
    ds__json m[2]; ds__tbuf s; size_t n; const char *p; ds_result r;
    memset(&s, 0, sizeof s);
    if (!ds__tj_object(v, k, 2, m) || (!m[0].p && !m[1].p)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad pattern");
    p = ds__tj_str(m[0].p ? &m[0] : &m[1], &s, &n);
    if (!p) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad pattern string"); }
    r = m[0].p ? ds__re_compile(t->ctx, p, re) : ds__re_literal(t->ctx, p, n, re);
    ds__tbuf_free(&s);
    return r;
}
static ds_result ds__tj_normalizer(ds_tokenizer *t, ds__json v, int depth) {
    static const char *const k[] = { "type", "normalizers", "precompiled_charsmap", "pattern", "content", "strip_left", "strip_right" };
    ds__json m[7]; char type[32]; ds__tok_step *st;
    if (!ds__tj_present(v)) return DS_SUCCESS;
    if (depth > 8 || !ds__tj_object(v, k, 7, m) || !m[0].p || !ds__json_str(&m[0], type, sizeof type, NULL))
        return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad normalizer");
    if (!strcmp(type, "Sequence")) {
        ds__json a = m[1];
        if (!a.p || !ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad normalizer sequence");
        if (ds__json_lit(&a, ']')) return DS_SUCCESS;
        for (;;) {
            ds__json_ws(&a);
            DS__TRY(ds__tj_normalizer(t, a, depth + 1));
            if (!ds__json_skip(&a, 0)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad normalizer sequence");
            if (ds__json_lit(&a, ',')) continue;
            return DS_SUCCESS;
        }
    }
    if (t->n_norm >= DS__TOK_MAX_STEPS) return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: too many normalizers");
    st = &t->norm[t->n_norm];
    memset(st, 0, sizeof *st);
    if (!strcmp(type, "NFC")) st->kind = DS__NORM_NFC;
    else if (!strcmp(type, "Lowercase")) st->kind = DS__NORM_LOWER;
    else if (!strcmp(type, "Strip")) { st->kind = DS__NORM_STRIP; st->a = ds__tj_bool(m[5], 1); st->b = ds__tj_bool(m[6], 1); }
    else if (!strcmp(type, "Precompiled")) {
        ds__tbuf s, bin; size_t n; const char *p; ds_result r;
        if (!ds__tj_present(m[2])) return DS_SUCCESS;
        if (t->cm.n_unit) return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: two Precompiled normalizers");
        memset(&s, 0, sizeof s); memset(&bin, 0, sizeof bin);
        if (!(p = ds__tj_str(&m[2], &s, &n)) || !ds__b64_decode(p, n, &bin)) { ds__tbuf_free(&s); ds__tbuf_free(&bin); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad precompiled_charsmap"); }
        r = ds__charsmap_init(t->ctx, &t->cm, (const uint8_t *)bin.p, bin.n, 1);
        ds__tbuf_free(&s); ds__tbuf_free(&bin);
        if (r != DS_SUCCESS) return r;
        if (!t->cm.n_unit) return DS_SUCCESS;
        st->kind = DS__NORM_PRECOMPILED;
    } else if (!strcmp(type, "Replace")) {
        ds__tbuf s; size_t n; const char *p;
        memset(&s, 0, sizeof s);
        if (!m[3].p || !m[4].p || !(p = ds__tj_str(&m[4], &s, &n))) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad Replace"); }
        if (n < sizeof st->content) memcpy(st->content, p, n + 1);
        else if (!(st->long_content = ds__strdup(NULL, p, n))) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: Replace"); }
        ds__tbuf_free(&s);
        { ds_result r = ds__tj_pattern(t, m[3], &st->re); if (r != DS_SUCCESS) { DS_FREE(st->long_content); st->long_content = NULL; return r; } }
        st->kind = DS__NORM_REPLACE;
    } else return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: normalizer %s is not supported", type);
    t->n_norm++;
    return DS_SUCCESS;
}
static ds_result ds__tj_pretok(ds_tokenizer *t, ds__json v, int depth) {
    static const char *const k[] = { "type", "pretokenizers", "pattern", "behavior", "invert", "add_prefix_space", "use_regex", "replacement", "prepend_scheme", "split" };
    ds__json m[10]; char type[32]; ds__tok_step *st;
    if (!ds__tj_present(v)) return DS_SUCCESS;
    if (depth > 8 || !ds__tj_object(v, k, 10, m) || !m[0].p || !ds__json_str(&m[0], type, sizeof type, NULL))
        return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad pre_tokenizer");
    if (!strcmp(type, "Sequence")) {
        ds__json a = m[1];
        if (!a.p || !ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad pre_tokenizer sequence");
        if (ds__json_lit(&a, ']')) return DS_SUCCESS;
        for (;;) {
            ds__json_ws(&a);
            DS__TRY(ds__tj_pretok(t, a, depth + 1));
            if (!ds__json_skip(&a, 0)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad pre_tokenizer sequence");
            if (ds__json_lit(&a, ',')) continue;
            return DS_SUCCESS;
        }
    }
    if (t->n_pre >= DS__TOK_MAX_STEPS) return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: too many pre_tokenizers");
    st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    if (!strcmp(type, "WhitespaceSplit")) st->kind = DS__PRE_WSPLIT;
    else if (!strcmp(type, "ByteLevel")) { st->kind = DS__PRE_BYTELEVEL; st->a = ds__tj_bool(m[5], 1); st->b = ds__tj_bool(m[6], 1); }
    else if (!strcmp(type, "Metaspace")) {
        char rep[16] = "\xE2\x96\x81"; char scheme[16] = "always";
        if (m[7].p && (!ds__json_str(&m[7], rep, sizeof rep, NULL) || !rep[0] || ds__utf8_len((uint8_t)rep[0]) != (int)strlen(rep)))
            return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: Metaspace replacement must be one character");
        if (ds__tj_present(m[8]) && !ds__json_str(&m[8], scheme, sizeof scheme, NULL)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad prepend_scheme");
        st->kind = DS__PRE_METASPACE;
        st->a = !strcmp(scheme, "first") ? 1 : !strcmp(scheme, "never") ? 0 : 2;
        if (ds__tj_present(m[5]) && !ds__tj_bool(m[5], 1)) st->a = 0;   /* add_prefix_space: false */
        st->b = ds__tj_bool(m[9], 1);
        memcpy(st->content, rep, strlen(rep) + 1);
    } else if (!strcmp(type, "Split")) {
        char beh[32];
        if (!m[2].p || !m[3].p || !ds__json_str(&m[3], beh, sizeof beh, NULL)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad Split");
        if (!strcmp(beh, "Removed")) st->a = DS__SPLIT_REMOVED;
        else if (!strcmp(beh, "Isolated")) st->a = DS__SPLIT_ISOLATED;
        else return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: Split behavior %s is not supported", beh);
        st->b = ds__tj_bool(m[4], 0);
        DS__TRY(ds__tj_pattern(t, m[2], &st->re));
        st->kind = DS__PRE_SPLIT;
    } else return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer %s is not supported", type);
    t->n_pre++;
    return DS_SUCCESS;
}
/* Ids of a named special token of a TemplateProcessing. */
static int ds__tj_special_ids(ds__json specials, const char *name, int32_t *ids, int *n, int cap) {
    static const char *const k1[] = { "ids" };
    ds__json m[1], s = specials; char key[128];
    if (!ds__json_lit(&s, '{')) return 0;
    if (ds__json_lit(&s, '}')) return 0;
    for (;;) {
        if (!ds__json_str(&s, key, sizeof key, NULL) || !ds__json_lit(&s, ':')) return 0;
        ds__json_ws(&s);
        if (!strcmp(key, name)) {
            if (!ds__tj_object(s, k1, 1, m) || !m[0].p || !ds__json_lit(&m[0], '[')) return 0;
            if (ds__json_lit(&m[0], ']')) return 1;
            for (;;) {
                int64_t v;
                if (!ds__json_int(&m[0], &v) || *n >= cap) return 0;
                ids[(*n)++] = (int32_t)v;
                if (ds__json_lit(&m[0], ',')) continue;
                return ds__json_lit(&m[0], ']');
            }
        }
        if (!ds__json_skip(&s, 0)) return 0;
        if (!ds__json_lit(&s, ',')) return 0;
    }
}
static ds_result ds__tj_post(ds_tokenizer *t, ds__json v, int depth) {
    static const char *const k[] = { "type", "single", "special_tokens", "cls", "sep", "processors" };
    ds__json m[6]; char type[32];
    if (!ds__tj_present(v)) return DS_SUCCESS;
    if (depth > 8 || !ds__tj_object(v, k, 6, m) || !m[0].p || !ds__json_str(&m[0], type, sizeof type, NULL))
        return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad post_processor");
    if (!strcmp(type, "Sequence")) {
        ds__json a = m[5];
        if (!a.p || !ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad post_processor sequence");
        if (ds__json_lit(&a, ']')) return DS_SUCCESS;
        for (;;) {
            ds__json_ws(&a);
            DS__TRY(ds__tj_post(t, a, depth + 1));
            if (!ds__json_skip(&a, 0)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad post_processor sequence");
            if (ds__json_lit(&a, ',')) continue;
            return DS_SUCCESS;
        }
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int64_t cls, sep; char tmp[128];
        ds__json a = m[3], b = m[4];
        if (!a.p || !b.p || !ds__json_lit(&a, '[') || !ds__json_str(&a, tmp, sizeof tmp, NULL) || !ds__json_lit(&a, ',') || !ds__json_int(&a, &cls) ||
            !ds__json_lit(&b, '[') || !ds__json_str(&b, tmp, sizeof tmp, NULL) || !ds__json_lit(&b, ',') || !ds__json_int(&b, &sep))
            return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad %s", type);
        t->n_prefix = t->n_suffix = 1; t->prefix[0] = (int32_t)cls; t->suffix[0] = (int32_t)sep;
        return DS_SUCCESS;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        ds__json a = m[1]; int seen_a = 0;
        t->n_prefix = t->n_suffix = 0;
        if (!a.p || !m[2].p || !ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad TemplateProcessing");
        if (ds__json_lit(&a, ']')) return DS_SUCCESS;
        for (;;) {
            static const char *const ki[] = { "SpecialToken", "Sequence" };
            static const char *const kid[] = { "id" };
            ds__json it[2], idv[1]; char name[128];
            ds__json_ws(&a);
            if (!ds__tj_object(a, ki, 2, it)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad template item");
            if (it[1].p) seen_a = 1;
            else if (it[0].p) {
                int ok = ds__tj_object(it[0], kid, 1, idv) && idv[0].p && ds__json_str(&idv[0], name, sizeof name, NULL);
                ok = ok && (seen_a ? ds__tj_special_ids(m[2], name, t->suffix, &t->n_suffix, DS__TOK_MAX_SPECIAL)
                                   : ds__tj_special_ids(m[2], name, t->prefix, &t->n_prefix, DS__TOK_MAX_SPECIAL));
                if (!ok) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: template special token without ids");
            }
            if (!ds__json_skip(&a, 0)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad template");
            if (ds__json_lit(&a, ',')) continue;
            return DS_SUCCESS;
        }
    }
    if (!strcmp(type, "ByteLevel")) return DS_SUCCESS;   /* offsets only */
    return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: post_processor %s is not supported", type);
}

static ds_result ds__tok_add_merge(ds_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & t->mmask;
    for (;; h = (h + 1) & t->mmask) {
        if (t->mrank[h] < 0 || t->mkey[h] == key) { t->mkey[h] = key; t->mrank[h] = rank; t->mnew[h] = merged; return DS_SUCCESS; }
    }
}
static int ds__tok_merge_find(const ds_tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h;
    if (!t->mrank) return 0;
    h = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & t->mmask;
    for (;; h = (h + 1) & t->mmask) {
        if (t->mrank[h] < 0) return 0;
        if (t->mkey[h] == key) { *rank = t->mrank[h]; *merged = t->mnew[h]; return 1; }
    }
}
static ds_result ds__tok_alloc_merges(ds_tokenizer *t, size_t n) {
    uint32_t cap = 16;
    while (cap < n * 2 + 16) cap *= 2;
    t->mkey = (uint64_t *)DS_MALLOC(sizeof(uint64_t) * cap);
    t->mrank = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap);
    t->mnew = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap);
    if (!t->mkey || !t->mrank || !t->mnew) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: %u merges", (unsigned)n);
    memset(t->mrank, 0xFF, sizeof(int32_t) * cap);
    t->mmask = cap - 1;
    return DS_SUCCESS;
}
/* One merge "a b": both parts and their concatenation must be in the vocabulary. */
static ds_result ds__tok_merge_pair(ds_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int32_t rank, ds__tbuf *cat) {
    int32_t ia = ds__tok_lookup(t, a, na), ib = ds__tok_lookup(t, b, nb), im;
    cat->n = 0; ds__tbuf_put(cat, a, na); ds__tbuf_put(cat, b, nb);
    if (cat->oom) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: merges");
    im = ds__tok_lookup(t, cat->p, cat->n);
    if (ia < 0 || ib < 0 || im < 0) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer: merge %d \"%.*s %.*s\" uses tokens missing from the vocabulary", rank, (int)na, a, (int)nb, b);
    return ds__tok_add_merge(t, ia, ib, rank, im);
}
/* Lines of a merges file ("a b" per line; '#' header lines skipped), at most max_merges. */
static ds_result ds__tok_merges_text(ds_tokenizer *t, const char *p, size_t n, size_t max_merges) {
    size_t i = 0, count = 0, lines = 0; int32_t rank = 0; ds__tbuf cat; ds_result r = DS_SUCCESS;
    for (i = 0; i < n; i++) lines += p[i] == '\n';
    DS__TRY(ds__tok_alloc_merges(t, lines + 1));
    memset(&cat, 0, sizeof cat);
    for (i = 0; i < n && count < max_merges;) {
        size_t e = i, sp;
        while (e < n && p[e] != '\n') e++;
        if (e > i && p[e - 1] == '\r') e--;   /* tolerate CRLF */
        if (e > i && !(e - i >= 8 && !memcmp(p + i, "#version", 8))) {
            for (sp = i; sp < e && p[sp] != ' '; sp++) {}
            if (sp == e) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer: merges line %d has no space", rank); break; }
            if ((r = ds__tok_merge_pair(t, p + i, sp - i, p + sp + 1, e - sp - 1, rank, &cat)) != DS_SUCCESS) break;
            rank++; count++;
        }
        i = e;
        while (i < n && (p[i] == '\r' || p[i] == '\n')) i++;
    }
    ds__tbuf_free(&cat);
    return r;
}

static int ds__tok_keep_all(const ds_tokenizer *t, int32_t id) { return ds__tok_lookup(t, t->str.p + t->off[id], t->len[id]) == id; }
static int ds__tok_keep_spm(const ds_tokenizer *t, int32_t id) {
    int ty = t->type[id];
    return ty == DS__PIECE_NORMAL || ty == DS__PIECE_USER || ty == DS__PIECE_UNUSED;
}

static ds_result ds__tj_model(ds_tokenizer *t, ds__json v) {
    static const char *const k[] = { "type", "vocab", "merges", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                                     "fuse_unk", "byte_fallback", "unk_id", "ignore_merges", "dropout" };
    ds__json m[11], a; char type[32]; ds__tbuf s; size_t n; const char *p; int64_t count = 0;
    ds_result r = DS_SUCCESS;
    memset(&s, 0, sizeof s);
    if (!ds__tj_object(v, k, 11, m) || !m[0].p || !ds__json_str(&m[0], type, sizeof type, NULL) || !m[1].p)
        return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad model");
    t->byte_fallback = ds__tj_bool(m[7], 0);
    t->unk_id = -1;
    if (!strcmp(type, "BPE")) {
        t->kind = DS__TOK_BPE;
        t->bpe_fuse_unk = ds__tj_bool(m[6], 0);
        t->bpe_ignore_merges = ds__tj_bool(m[9], 0);
        a = m[1];
        if (!ds__json_lit(&a, '{')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: BPE vocab is not an object");
        if (!ds__json_lit(&a, '}')) for (;;) {
            int64_t id;
            if (!(p = ds__tj_str(&a, &s, &n)) || !ds__json_lit(&a, ':') || !ds__json_int(&a, &id) || id < 0 || id > INT32_MAX - 1) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad vocab entry %lld", (long long)count); goto done; }
            if (!ds__tok_set(t, (int32_t)id, p, n)) { r = ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: vocab"); goto done; }
            count++;
            if (ds__json_lit(&a, ',')) continue;
            if (!ds__json_lit(&a, '}')) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad vocab"); goto done; }
            break;
        }
        if ((r = ds__tok_build_hash(t)) != DS_SUCCESS) goto done;
        if (ds__tj_present(m[3])) {
            if (!(p = ds__tj_str(&m[3], &s, &n))) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad unk_token"); goto done; }
            t->unk_id = ds__tok_lookup(t, p, n);
        }
        if (ds__tj_present(m[4])) { if (!(p = ds__tj_str(&m[4], &s, &n)) || !(t->bpe_prefix = ds__strdup(NULL, p, n))) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad prefix"); goto done; } }
        if (ds__tj_present(m[5])) { if (!(p = ds__tj_str(&m[5], &s, &n)) || !(t->bpe_suffix = ds__strdup(NULL, p, n))) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad suffix"); goto done; } }
        a = m[2];                                          /* merges: ["a b", ...] or [["a", "b"], ...] */
        if (a.p && ds__json_lit(&a, '[')) {
            ds__json c = a; int64_t nm = 0; ds__tbuf s2, cat; int32_t rank = 0;
            if (!ds__json_lit(&c, ']')) for (;;) { if (!ds__json_skip(&c, 0)) break; nm++; if (!ds__json_lit(&c, ',')) break; }
            if ((r = ds__tok_alloc_merges(t, (size_t)nm)) != DS_SUCCESS) goto done;
            memset(&s2, 0, sizeof s2); memset(&cat, 0, sizeof cat);
            if (!ds__json_lit(&a, ']')) for (;; rank++) {
                ds__json_ws(&a);
                if (a.p < a.end && *a.p == '[') {
                    size_t n2; const char *q;
                    a.p++;
                    if (!(p = ds__tj_str(&a, &s, &n)) || !ds__json_lit(&a, ',') || !(q = ds__tj_str(&a, &s2, &n2)) || !ds__json_lit(&a, ']')) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad merge %d", rank); break; }
                    r = ds__tok_merge_pair(t, p, n, q, n2, rank, &cat);
                } else {
                    const char *sp;
                    if (!(p = ds__tj_str(&a, &s, &n)) || !(sp = (const char *)memchr(p, ' ', n)) || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p))) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad merge %d", rank); break; }
                    r = ds__tok_merge_pair(t, p, (size_t)(sp - p), sp + 1, n - (size_t)(sp + 1 - p), rank, &cat);
                }
                if (r != DS_SUCCESS) break;
                if (ds__json_lit(&a, ',')) continue;
                if (!ds__json_lit(&a, ']')) r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad merges");
                break;
            }
            ds__tbuf_free(&s2); ds__tbuf_free(&cat);
        } else if (a.p) r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad merges");
        else r = ds__tok_alloc_merges(t, 0);
    } else if (!strcmp(type, "Unigram")) {
        int32_t id = 0;
        t->kind = DS__TOK_UNIGRAM;
        a = m[1];
        if (!ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: Unigram vocab is not a list");
        { ds__json c = a; if (!ds__json_lit(&c, ']')) for (;;) { if (!ds__json_skip(&c, 0)) break; count++; if (!ds__json_lit(&c, ',')) break; } }
        if (count >= INT32_MAX || !ds__tok_grow(t, (int32_t)count) ||
            !(t->score = (double *)DS_MALLOC(sizeof(double) * (size_t)(count + 1)))) { r = ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: %lld pieces", (long long)count); goto done; }
        if (!ds__json_lit(&a, ']')) for (;; id++) {
            double sc;
            if (id >= count || !ds__json_lit(&a, '[') || !(p = ds__tj_str(&a, &s, &n)) || !ds__json_lit(&a, ',') || !ds__tj_num(&a, &sc) || !ds__json_lit(&a, ']')) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad piece %d", id); goto done; }
            if (!ds__tok_set(t, id, p, n)) { r = ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: vocab"); goto done; }
            t->score[id] = sc;
            if (ds__json_lit(&a, ',')) continue;
            if (!ds__json_lit(&a, ']')) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad vocab"); goto done; }
            break;
        }
        if (count == 0) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: empty Unigram vocab"); goto done; }
        t->min_score = t->score[0];
        for (id = 1; id < (int32_t)count; id++) if (t->score[id] < t->min_score) t->min_score = t->score[id];
        if (ds__tj_present(m[8])) {
            int64_t u; ds__json c = m[8];
            if (!ds__json_int(&c, &u) || u < 0 || u >= count) { r = ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: unk_id out of range"); goto done; }
            t->unk_id = (int32_t)u;
        }
        if ((r = ds__tok_build_hash(t)) == DS_SUCCESS) r = ds__tok_build_sorted(t, ds__tok_keep_all);
    } else r = ds__err(t->ctx, DS_ERR_UNSUPPORTED, "tokenizer.json: model %s is not supported", type);
done:
    ds__tbuf_free(&s);
    return r;
}
static ds_result ds__tj_added(ds_tokenizer *t, ds__json v) {
    static const char *const k[] = { "id", "content", "single_word", "lstrip", "rstrip", "normalized" };
    ds__json a = v, m[6]; ds__tbuf s; size_t n, cap = 0; const char *p;
    if (!ds__tj_present(v)) return DS_SUCCESS;
    memset(&s, 0, sizeof s);
    { ds__json c = a; if (ds__json_lit(&c, '[') && !ds__json_lit(&c, ']')) for (;;) { if (!ds__json_skip(&c, 0)) break; cap++; if (!ds__json_lit(&c, ',')) break; } }
    t->added = (ds__tok_added *)DS_MALLOC(sizeof(ds__tok_added) * (cap + 1));
    if (!t->added) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: added tokens");
    if (!ds__json_lit(&a, '[')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad added_tokens");
    if (ds__json_lit(&a, ']')) return DS_SUCCESS;
    for (;;) {
        ds__tok_added *e; int64_t id;
        ds__json_ws(&a);
        if ((size_t)t->n_added >= cap || !ds__tj_object(a, k, 6, m) || !m[0].p || !ds__json_int(&m[0], &id) || id < 0 || id > INT32_MAX || !m[1].p || !(p = ds__tj_str(&m[1], &s, &n))) {
            ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: bad added token %d", t->n_added);
        }
        if (n) {                                           /* empty content is ignored, as tokenizers does */
            e = &t->added[t->n_added++];
            memset(e, 0, sizeof *e);
            e->id = (int32_t)id; e->off = (uint32_t)t->str.n; e->len = (uint32_t)n;
            ds__tbuf_put(&t->str, p, n); ds__tbuf_put(&t->str, "", 1);
            e->single_word = (uint8_t)ds__tj_bool(m[2], 0); e->lstrip = (uint8_t)ds__tj_bool(m[3], 0);
            e->rstrip = (uint8_t)ds__tj_bool(m[4], 0); e->normalized = (uint8_t)ds__tj_bool(m[5], 1);
        }
        if (!ds__json_skip(&a, 0)) break;
        if (ds__json_lit(&a, ',')) continue;
        break;
    }
    ds__tbuf_free(&s);
    return t->str.oom ? ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer.json: added tokens") : DS_SUCCESS;
}
static ds_result ds__tok_finish(ds_tokenizer *t);
static ds_result ds__tok_load_json(ds_tokenizer *t, const char *p, size_t n) {
    static const char *const k[] = { "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "model", "padding" };
    static const char *const kp[] = { "pad_id" };
    ds__json j, m[6], pm[1];
    j.p = p; j.end = p + n;
    if (!ds__tj_object(j, k, 6, m) || !m[4].p) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer.json: not a tokenizers file (no model)");
    t->source = DS__SRC_JSON; t->pad_id = -1;
    DS__TRY(ds__tj_model(t, m[4]));
    DS__TRY(ds__tj_normalizer(t, m[1], 0));
    DS__TRY(ds__tj_pretok(t, m[2], 0));
    DS__TRY(ds__tj_post(t, m[3], 0));
    DS__TRY(ds__tj_added(t, m[0]));
    if (ds__tj_present(m[5]) && ds__tj_object(m[5], kp, 1, pm) && pm[0].p) { int64_t v; if (ds__json_int(&pm[0], &v)) t->pad_id = (int32_t)v; }
    return ds__tok_finish(t);
}

/* ---- CLIP from vocab.json + merges.txt or OpenAI's merges list ---------------------------- */
/* The pipeline transformers builds for CLIP (and the hub's tokenizer.json holds). */
static ds_result ds__tok_clip_pipeline(ds_tokenizer *t) {
    static const char *const special[2] = { "<|startoftext|>", "<|endoftext|>" };
    int i;
    t->kind = DS__TOK_BPE;
    t->norm[0].kind = DS__NORM_NFC;
    t->norm[1].kind = DS__NORM_REPLACE; memcpy(t->norm[1].content, " ", 2);
    DS__TRY(ds__re_compile(t->ctx, "\\s+", &t->norm[1].re));
    t->norm[2].kind = DS__NORM_LOWER;
    t->n_norm = 3;
    t->pre[0].kind = DS__PRE_SPLIT; t->pre[0].a = DS__SPLIT_REMOVED; t->pre[0].b = 1;
    t->n_pre = 1;
    DS__TRY(ds__re_compile(t->ctx, "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+", &t->pre[0].re));
    t->pre[1].kind = DS__PRE_BYTELEVEL; t->pre[1].a = 0; t->pre[1].b = 1;
    t->n_pre = 2;
    if (!(t->bpe_prefix = ds__strdup(NULL, "", 0)) || !(t->bpe_suffix = ds__strdup(NULL, "</w>", 4))) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
    t->added = (ds__tok_added *)DS_MALLOC(sizeof(ds__tok_added) * 2);
    if (!t->added) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
    for (i = 0; i < 2; i++) {
        int32_t id = ds__tok_lookup(t, special[i], strlen(special[i]));
        if (id < 0) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer: CLIP vocabulary has no %s", special[i]);
        memset(&t->added[i], 0, sizeof t->added[i]);
        t->added[i].id = id; t->added[i].off = t->off[id]; t->added[i].len = t->len[id]; t->added[i].normalized = 1;
        if (i == 0) { t->prefix[0] = id; t->n_prefix = 1; } else { t->suffix[0] = id; t->n_suffix = 1; t->unk_id = id; }
    }
    t->n_added = 2;
    return ds__tok_finish(t);
}
/* GPT-2's byte <-> printable code point table: printable Latin-1 bytes map to themselves, the
   others to 256, 257, ... in byte order. Also the order of OpenAI's base vocabulary. */
static void ds__tok_byte_chars(uint32_t *map, uint8_t *order) {
    int b, n = 0, k = 0;
    for (b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (printable) { map[b] = (uint32_t)b; if (order) order[k++] = (uint8_t)b; }
    }
    for (b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        if (!printable) { map[b] = (uint32_t)(256 + n++); if (order) order[k++] = (uint8_t)b; }
    }
}
/* OpenAI's simple_tokenizer: vocab = 256 byte chars, the same with "</w>", one token per merge
   (first 49152 - 256 - 2 lines after the header), then <|startoftext|> and <|endoftext|>. */
static ds_result ds__tok_load_openai(ds_tokenizer *t, const char *p, size_t n) {
    uint8_t order[256]; uint32_t map[256]; int i, w; size_t pos = 0, nm = 0; int32_t id = 0;
    const size_t max_merges = 49152 - 256 - 2;
    char c[8]; ds__tbuf tmp;
    t->source = DS__SRC_OPENAI_GZ;
    ds__tok_byte_chars(map, order);
    for (w = 0; w < 2; w++)
        for (i = 0; i < 256; i++) {
            int l = ds__utf8_put(c, map[order[i]]);
            if (w) { memcpy(c + l, "</w>", 4); l += 4; }
            if (!ds__tok_set(t, id++, c, (size_t)l)) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
        }
    while (pos < n && p[pos] != '\n') pos++;           /* header line */
    memset(&tmp, 0, sizeof tmp);
    while (++pos < n && nm < max_merges) {
        size_t e = pos, sp;
        while (e < n && p[e] != '\n') e++;
        for (sp = pos; sp < e && p[sp] != ' '; sp++) {}
        if (sp < e) {
            tmp.n = 0; ds__tbuf_put(&tmp, p + pos, sp - pos); ds__tbuf_put(&tmp, p + sp + 1, e - sp - 1);
            if (tmp.oom || !ds__tok_set(t, id++, tmp.p, tmp.n)) { ds__tbuf_free(&tmp); return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer"); }
            nm++;
        }
        pos = e;
    }
    ds__tbuf_free(&tmp);
    if (!ds__tok_set(t, id++, "<|startoftext|>", 15) || !ds__tok_set(t, id++, "<|endoftext|>", 13)) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
    DS__TRY(ds__tok_build_hash(t));
    pos = 0;
    while (pos < n && p[pos] != '\n') pos++;
    DS__TRY(ds__tok_merges_text(t, p + pos, n - pos, nm));
    return ds__tok_clip_pipeline(t);
}
static ds_result ds__tok_load_vocab_merges(ds_tokenizer *t, const char *vj, size_t nv, const char *mt, size_t nmt) {
    ds__json a; ds__tbuf s; size_t n; const char *p; int64_t count = 0;
    t->source = DS__SRC_VOCAB_MERGES;
    a.p = vj; a.end = vj + nv;
    memset(&s, 0, sizeof s);
    if (!ds__json_lit(&a, '{')) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "vocab.json: not an object");
    if (!ds__json_lit(&a, '}')) for (;;) {
        int64_t id;
        if (!(p = ds__tj_str(&a, &s, &n)) || !ds__json_lit(&a, ':') || !ds__json_int(&a, &id) || id < 0 || id > INT32_MAX - 1) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "vocab.json: bad entry %lld", (long long)count); }
        if (!ds__tok_set(t, (int32_t)id, p, n)) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "vocab.json"); }
        count++;
        if (ds__json_lit(&a, ',')) continue;
        if (!ds__json_lit(&a, '}')) { ds__tbuf_free(&s); return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "vocab.json: bad object"); }
        break;
    }
    ds__tbuf_free(&s);
    DS__TRY(ds__tok_build_hash(t));
    DS__TRY(ds__tok_merges_text(t, mt, nmt, SIZE_MAX));
    return ds__tok_clip_pipeline(t);
}

/* ---- SentencePiece ModelProto (protobuf wire format, only the fields used) ------------------ */
typedef struct ds__pb { const uint8_t *p, *end; } ds__pb;
static int ds__pb_varint(ds__pb *b, uint64_t *v) {
    int shift = 0; *v = 0;
    while (b->p < b->end && shift < 64) {
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift; shift += 7;
        if (!(c & 0x80)) return 1;
    }
    return 0;
}
/* Next field: number, wire type, and for LEN fields the payload; varints in *v. */
static int ds__pb_field(ds__pb *b, int *field, int *wt, uint64_t *v, ds__pb *sub) {
    uint64_t key;
    if (!ds__pb_varint(b, &key)) return 0;
    *field = (int)(key >> 3); *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return ds__pb_varint(b, v);
    case 1: if (b->end - b->p < 8) return 0; b->p += 8; return 1;
    case 5: if (b->end - b->p < 4) return 0; *v = b->p[0] | (uint32_t)b->p[1] << 8 | (uint32_t)b->p[2] << 16 | (uint32_t)b->p[3] << 24; b->p += 4; return 1;
    case 2: if (!ds__pb_varint(b, v) || *v > (uint64_t)(b->end - b->p)) return 0; sub->p = b->p; sub->end = b->p + *v; b->p += *v; return 1;
    default: return 0;
    }
}
static int ds__spm_looks_like(const uint8_t *p, size_t n) {
    ds__pb b; int f, wt; uint64_t v; ds__pb sub;
    b.p = p; b.end = p + n;
    /* the first field is a piece (1, LEN) whose own first field is its text (1, LEN) */
    return n > 4 && p[0] == 0x0A && ds__pb_field(&b, &f, &wt, &v, &sub) && f == 1 && wt == 2 && sub.end > sub.p && sub.p[0] == 0x0A;
}
static ds_result ds__tok_load_spm(ds_tokenizer *t, const uint8_t *data, size_t n) {
    ds__pb b, sub, ts = { NULL, NULL }, ns = { NULL, NULL }; int f, wt; uint64_t v; int32_t count = 0, id = 0;
    int64_t eos = 2, pad = -1, model_type = 1;
    const uint8_t *cm = NULL; size_t cm_n = 0;
    t->source = DS__SRC_SPM; t->kind = DS__TOK_UNIGRAM;
    t->spm_add_dummy_prefix = t->spm_remove_ws = t->spm_escape_ws = 1;
    b.p = data; b.end = data + n;
    while (b.p < b.end) {
        if (!ds__pb_field(&b, &f, &wt, &v, &sub)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: corrupt protobuf");
        if (f == 1 && wt == 2) count++;
        else if (f == 2 && wt == 2) ts = sub;
        else if (f == 3 && wt == 2) ns = sub;
    }
    if (!count) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: no pieces");
    if (!ds__tok_grow(t, count) || !(t->score = (double *)DS_MALLOC(sizeof(double) * (size_t)count)) ||
        !(t->score_f = (float *)DS_MALLOC(sizeof(float) * (size_t)count)) || !(t->type = (uint8_t *)DS_MALLOC((size_t)count)) ||
        !(t->user_ids = (int32_t *)DS_MALLOC(sizeof(int32_t) * (size_t)count)))
        return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "sentencepiece model: %d pieces", count);
    b.p = data;
    while (b.p < b.end) {
        ds__pb_field(&b, &f, &wt, &v, &sub);
        if (f == 1 && wt == 2) {                           /* SentencePiece { piece, score, type } */
            ds__pb e = sub; const uint8_t *ps = NULL; size_t pn = 0; float sc = 0; int ty = DS__PIECE_NORMAL; ds__pb s2;
            while (e.p < e.end) {
                if (!ds__pb_field(&e, &f, &wt, &v, &s2)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: corrupt piece %d", id);
                if (f == 1 && wt == 2) { ps = s2.p; pn = (size_t)v; }
                else if (f == 2 && wt == 5) { uint32_t u = (uint32_t)v; memcpy(&sc, &u, 4); }
                else if (f == 3 && wt == 0) ty = (int)v;
            }
            if (!ps || !pn) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: piece %d is empty", id);
            if (ty < DS__PIECE_NORMAL || ty > DS__PIECE_BYTE) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: piece %d has type %d", id, ty);
            if (!ds__tok_set(t, id, (const char *)ps, pn)) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "sentencepiece model");
            t->score_f[id] = sc; t->score[id] = sc; t->type[id] = (uint8_t)ty;
            if (ty == DS__PIECE_USER) t->user_ids[t->n_user++] = id;
            id++;
        }
    }
    b = ts;                                                /* TrainerSpec */
    while (b.p && b.p < b.end) {
        if (!ds__pb_field(&b, &f, &wt, &v, &sub)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: corrupt trainer_spec");
        if (wt != 0) continue;
        if (f == 3) model_type = (int64_t)v;
        else if (f == 24) t->spm_ws_suffix = v != 0;
        else if (f == 35) t->byte_fallback = v != 0;
        else if (f == 42) eos = (int32_t)(uint32_t)v;
        else if (f == 43) pad = (int32_t)(uint32_t)v;
    }
    if (model_type != 1) return ds__err(t->ctx, DS_ERR_UNSUPPORTED, "sentencepiece model: type %d (only Unigram is supported)", (int)model_type);
    b = ns;                                                /* NormalizerSpec */
    while (b.p && b.p < b.end) {
        if (!ds__pb_field(&b, &f, &wt, &v, &sub)) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: corrupt normalizer_spec");
        if (f == 2 && wt == 2) { cm = sub.p; cm_n = (size_t)v; }
        else if (f == 3 && wt == 0) t->spm_add_dummy_prefix = v != 0;
        else if (f == 4 && wt == 0) t->spm_remove_ws = v != 0;
        else if (f == 5 && wt == 0) t->spm_escape_ws = v != 0;
    }
    DS__TRY(ds__charsmap_init(t->ctx, &t->cm, cm, cm_n, 0));
    /* unk: the UNKNOWN piece (sentencepiece requires exactly one) */
    t->unk_id = -1;
    for (id = 0; id < count; id++) if (t->type[id] == DS__PIECE_UNKNOWN) { if (t->unk_id >= 0) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: two unknown pieces"); t->unk_id = id; }
    if (t->unk_id < 0) return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: no unknown piece");
    t->spm_min = FLT_MAX; t->spm_max = FLT_MIN;           /* as sentencepiece: FLT_MIN, not -FLT_MAX */
    for (id = 0; id < count; id++) if (t->type[id] == DS__PIECE_NORMAL) { t->spm_min = DS__MIN(t->spm_min, t->score_f[id]); t->spm_max = DS__MAX(t->spm_max, t->score_f[id]); }
    DS__TRY(ds__tok_build_hash(t));
    if (t->byte_fallback) for (id = 0; id < 256; id++) if (t->byte_id[id] < 0 || t->type[t->byte_id[id]] != DS__PIECE_BYTE)
        return ds__err(t->ctx, DS_ERR_BAD_FORMAT, "sentencepiece model: byte_fallback without piece <0x%02X>", id);
    DS__TRY(ds__tok_build_sorted(t, ds__tok_keep_spm));
    /* framing as T5 / umT5 use it: tokens, then eos; pad with the pad piece */
    if (eos >= 0 && eos < count) { t->suffix[0] = (int32_t)eos; t->n_suffix = 1; }
    t->pad_id = pad >= 0 && pad < count ? (int32_t)pad : -1;
    return ds__tok_finish(t);
}

/* ---- encoding ----------------------------------------------------------------------------- */
typedef struct ds__tok_piece { size_t off, len; int first; } ds__tok_piece;
typedef struct ds__pvec { ds__tok_piece *p; size_t n, cap; int oom; } ds__pvec;
static void ds__pvec_push(ds__pvec *v, size_t off, size_t len, int first) {
    if (v->oom) return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        ds__tok_piece *p = (ds__tok_piece *)DS_REALLOC(v->p, cap * sizeof(ds__tok_piece));
        if (!p) { v->oom = 1; return; }
        v->p = p; v->cap = cap;
    }
    v->p[v->n].off = off; v->p[v->n].len = len; v->p[v->n].first = first; v->n++;
}
/* Scratch of one encode call: nothing is allocated per token. */
typedef struct ds__tok_work {
    ds__tbuf a, b, arena, tmp; ds__ivec itmp, out;
    ds__pvec pa, pb;
    int32_t *sym; int32_t *slen, *sprev, *snext; int64_t *heap; size_t sym_cap;   /* BPE  */
    double *best; float *best_f; int32_t *from, *bid; size_t vit_cap;               /* Viterbi */
    int oom;
} ds__tok_work;
static void ds__tok_work_free(ds__tok_work *w) {
    ds__tbuf_free(&w->a); ds__tbuf_free(&w->b); ds__tbuf_free(&w->arena); ds__tbuf_free(&w->tmp);
    ds__ivec_free(&w->itmp); ds__ivec_free(&w->out); DS_FREE(w->pa.p); DS_FREE(w->pb.p);
    DS_FREE(w->sym); DS_FREE(w->slen); DS_FREE(w->sprev); DS_FREE(w->snext); DS_FREE(w->heap);
    DS_FREE(w->best); DS_FREE(w->best_f); DS_FREE(w->from); DS_FREE(w->bid);
}
static int ds__tok_work_vit(ds__tok_work *w, size_t n) {
    if (n + 1 <= w->vit_cap) return 1;
    DS_FREE(w->best); DS_FREE(w->best_f); DS_FREE(w->from); DS_FREE(w->bid);
    w->vit_cap = n + 1 > 256 ? n + 1 : 256;
    w->best = (double *)DS_MALLOC(sizeof(double) * w->vit_cap); w->best_f = (float *)DS_MALLOC(sizeof(float) * w->vit_cap);
    w->from = (int32_t *)DS_MALLOC(sizeof(int32_t) * w->vit_cap); w->bid = (int32_t *)DS_MALLOC(sizeof(int32_t) * w->vit_cap);
    if (!w->best || !w->best_f || !w->from || !w->bid || w->vit_cap > INT32_MAX) { w->vit_cap = 0; w->oom = 1; return 0; }
    return 1;
}
static int ds__tok_is_ws(const ds_tokenizer *t, uint32_t cp) { return (ds__uni_prop(t->uni, cp) & DS__U_WS) != 0; }

/* tokenizers' Precompiled: grapheme clusters under 6 bytes are looked up whole (shortest rule
   wins and replaces the whole cluster), everything else char by char. */
static void ds__tok_precompiled_hf(const ds_tokenizer *t, const char *s, size_t n, ds__tbuf *out) {
    ds__gstate st; size_t i = 0; uint32_t rl, rv; size_t k;
    st.prev = -1; st.ri = st.ep = st.incb = 0;
    while (i < n) {
        size_t e = i; uint32_t cp, pr; int l = ds__utf8_get(s + e, &cp), g;
        pr = ds__uni_prop(t->uni, cp); g = ds__uni_gcb(cp, pr);
        ds__grapheme_step(&st, g, pr); e += (size_t)l;
        while (e < n) {
            l = ds__utf8_get(s + e, &cp); pr = ds__uni_prop(t->uni, cp); g = ds__uni_gcb(cp, pr);
            if (ds__grapheme_break(&st, g, pr)) break;
            ds__grapheme_step(&st, g, pr); e += (size_t)l;
        }
        if (e - i < 6 && ds__charsmap_search(&t->cm, s + i, e - i, &rl, &rv, 1)) {
            size_t rn; const char *r = ds__charsmap_rule(&t->cm, rv, &rn);
            if (r) { ds__tbuf_put(out, r, rn); i = e; continue; }
        }
        for (k = i; k < e; k += (size_t)l) {
            l = ds__utf8_len((uint8_t)s[k]);
            if (ds__charsmap_search(&t->cm, s + k, (size_t)l, &rl, &rv, 1)) {
                size_t rn; const char *r = ds__charsmap_rule(&t->cm, rv, &rn);
                if (r) { ds__tbuf_put(out, r, rn); continue; }
            }
            ds__tbuf_put(out, s + k, (size_t)l);
        }
        i = e;
    }
}
/* The tokenizer.json normalizer chain: w->a holds the input and receives the result. */
static void ds__tok_normalize(const ds_tokenizer *t, ds__tok_work *w) {
    int k;
    for (k = 0; k < t->n_norm; k++) {
        const ds__tok_step *st = &t->norm[k]; const char *s = w->a.p; size_t n = w->a.n, i;
        ds__tbuf tb;
        w->b.n = 0; ds__tbuf_reserve(&w->b, n);
        switch (st->kind) {
        case DS__NORM_NFC: ds__uni_nfc(t->uni, s, n, &w->b, &w->itmp); if (w->itmp.oom) w->oom = 1; break;
        case DS__NORM_LOWER:
            for (i = 0; i < n;) { uint32_t cp; i += (size_t)ds__utf8_get(s + i, &cp); ds__uni_lower_cp(t->uni, cp, &w->b); }
            break;
        case DS__NORM_PRECOMPILED: ds__tok_precompiled_hf(t, s, n, &w->b); break;
        case DS__NORM_REPLACE: {
            const char *c = st->long_content ? st->long_content : st->content; size_t cn = strlen(c), ms = 0; int64_t ml;
            i = 0;
            while ((ml = ds__re_find(&st->re, t->uni, s, n, i, &ms)) > 0) {
                ds__tbuf_put(&w->b, s + i, ms - i); ds__tbuf_put(&w->b, c, cn); i = ms + (size_t)ml;
            }
            ds__tbuf_put(&w->b, s + i, n - i);
            break;
        }
        case DS__NORM_STRIP: {
            size_t a = 0, e = n;
            if (st->a) while (a < e) { uint32_t cp; int l = ds__utf8_get(s + a, &cp); if (!ds__tok_is_ws(t, cp)) break; a += (size_t)l; }
            if (st->b) while (e > a) { uint32_t cp; size_t q = e - 1; while (q > a && ((uint8_t)s[q] & 0xC0) == 0x80) q--; ds__utf8_get(s + q, &cp); if (!ds__tok_is_ws(t, cp)) break; e = q; }
            ds__tbuf_put(&w->b, s + a, e - a);
            break;
        }
        default: break;
        }
        if (w->b.oom) w->oom = 1;
        tb = w->a; w->a = w->b; w->b = tb;
    }
}
/* Leftmost-longest added token (of the raw or the normalized set) at or after `from`: its
   index, or -1. */
static int ds__tok_added_find(const ds_tokenizer *t, const char *s, size_t n, size_t from, int normalized, size_t *ms, size_t *me) {
    size_t i; int bit = normalized ? 2 : 1;
    for (i = from; i < n; i++) {
        int k, found = -1; size_t best = 0;
        if (!(t->added_first[(uint8_t)s[i]] & bit)) continue;
        for (k = 0; k < t->n_added; k++) {
            const ds__tok_added *a = &t->added[k];
            const char *c = t->str.p + (normalized ? a->norm_off : a->off); size_t cn = normalized ? a->norm_len : a->len;
            if (a->normalized != normalized || !cn || cn > n - i || cn <= best || memcmp(s + i, c, cn)) continue;
            best = cn; found = k;
        }
        if (found >= 0) { *ms = i; *me = i + best; return found; }
    }
    return -1;
}
static int ds__tok_wordch(const ds_tokenizer *t, uint32_t cp) {     /* approximates Rust regex \w */
    uint32_t p = ds__uni_prop(t->uni, cp); int g = (int)(p >> 3) & 15;
    return (p & 3) || cp == '_' || g == DS__G_EXTEND || g == DS__G_SPACINGMARK || g == DS__G_ZWJ;
}
/* Splits s[0..n) around added tokens: text ranges go to `text(w, off, len, first)`, tokens to out. */
static void ds__tok_split_added(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n, int normalized, int first,
                                void (*text)(const ds_tokenizer *, ds__tok_work *, const char *, size_t, int)) {
    size_t pos = 0, start_off = 0, ms = 0, me = 0; int k;
    if (!t->n_added || !(normalized ? t->added_norm : t->added_raw)) { if (n) text(t, w, s, n, first); return; }
    while ((k = ds__tok_added_find(t, s, n, pos, normalized, &ms, &me)) >= 0) {
        const ds__tok_added *a = &t->added[k]; size_t start = ms, stop = me;
        pos = me;
        if (a->single_word) {
            uint32_t cp; int before = 0, after = 0;
            if (ms > 0) { size_t q = ms - 1; while (q > 0 && ((uint8_t)s[q] & 0xC0) == 0x80) q--; ds__utf8_get(s + q, &cp); before = ds__tok_wordch(t, cp); }
            if (me < n) { ds__utf8_get(s + me, &cp); after = ds__tok_wordch(t, cp); }
            if (before || after) continue;
        }
        if (a->lstrip) {
            while (start > start_off) { size_t q = start - 1; uint32_t cp; while (q > start_off && ((uint8_t)s[q] & 0xC0) == 0x80) q--; ds__utf8_get(s + q, &cp); if (!ds__tok_is_ws(t, cp)) break; start = q; }
        }
        if (a->rstrip) while (stop < n) { uint32_t cp; int l = ds__utf8_get(s + stop, &cp); if (!ds__tok_is_ws(t, cp)) break; stop += (size_t)l; }
        if (start_off < start) text(t, w, s + start_off, start - start_off, first && start_off == 0);
        ds__ivec_push(&w->out, a->id);
        start_off = stop; pos = DS__MAX(pos, stop);
    }
    if (start_off < n) text(t, w, s + start_off, n - start_off, first && start_off == 0);
}

/* GPT-2's split (ByteLevel use_regex):
   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t ds__tok_gpt2_match(const ds_tokenizer *t, const char *s, size_t n) {
    static const char *const contr[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
    size_t i, j; int c; uint32_t cp;
    if (s[0] == '\'') for (c = 0; c < 7; c++) { size_t l = strlen(contr[c]); if (l <= n && !memcmp(s, contr[c], l)) return l; }
    for (c = 1; c <= 3; c++) {                        /* 1: letters, 2: numbers, 3: other */
        i = s[0] == ' ' ? 1 : 0; j = i;
        while (j < n) {
            uint32_t p; int l = ds__utf8_get(s + j, &cp); p = ds__uni_prop(t->uni, cp);
            if (c < 3 ? (int)(p & 3) != c : ((p & 3) || (p & DS__U_WS))) break;
            j += (size_t)l;
        }
        if (j > i) return j;
    }
    for (j = 0; j < n;) { int l = ds__utf8_get(s + j, &cp); if (!ds__tok_is_ws(t, cp)) break; j += (size_t)l; }
    if (j == n || j == 0) return j ? j : (size_t)ds__utf8_len((uint8_t)s[0]);
    { size_t q = j - 1; while (q > 0 && ((uint8_t)s[q] & 0xC0) == 0x80) q--; return q > 0 ? q : j; }
}
static void ds__tok_pretokenize(const ds_tokenizer *t, ds__tok_work *w) {
    int k; size_t i;
    for (k = 0; k < t->n_pre; k++) {
        const ds__tok_step *st = &t->pre[k]; ds__pvec tv;
        w->pb.n = 0;
        for (i = 0; i < w->pa.n; i++) {
            ds__tok_piece pc = w->pa.p[i]; size_t ms, pos = 0; int64_t ml;
            if (st->kind == DS__PRE_SPLIT) {
                const char *s = w->arena.p + pc.off;
                while (pos < pc.len) {
                    ml = ds__re_find(&st->re, t->uni, s, pc.len, pos, &ms);
                    if (ml < 0) ms = pc.len;
                    if (ms > pos && (st->a == DS__SPLIT_ISOLATED || st->b == 0)) ds__pvec_push(&w->pb, pc.off + pos, ms - pos, pc.first && pos == 0);
                    if (ml < 0) break;
                    if (st->a == DS__SPLIT_ISOLATED || st->b == 1) ds__pvec_push(&w->pb, pc.off + ms, (size_t)ml, pc.first && ms == 0);
                    pos = ms + (size_t)ml;
                }
            } else if (st->kind == DS__PRE_WSPLIT) {
                const char *s = w->arena.p + pc.off;
                while (pos < pc.len) {
                    size_t a; uint32_t cp;
                    while (pos < pc.len) { int l = ds__utf8_get(s + pos, &cp); if (!ds__tok_is_ws(t, cp)) break; pos += (size_t)l; }
                    a = pos;
                    while (pos < pc.len) { int l = ds__utf8_get(s + pos, &cp); if (ds__tok_is_ws(t, cp)) break; pos += (size_t)l; }
                    if (pos > a) ds__pvec_push(&w->pb, pc.off + a, pos - a, pc.first && a == 0);
                }
            } else if (st->kind == DS__PRE_METASPACE) {
                size_t rl = strlen(st->content), start, j; const char *s;
                if (!pc.len || !ds__tbuf_reserve(&w->arena, pc.len * rl + rl)) continue;
                s = w->arena.p + pc.off; start = w->arena.n;
                if ((st->a == 2 || (st->a == 1 && pc.first)) && !(pc.len >= rl && !memcmp(s, st->content, rl)) && s[0] != ' ')
                    ds__tbuf_put(&w->arena, st->content, rl);
                for (j = 0; j < pc.len; j++) { if (s[j] == ' ') ds__tbuf_put(&w->arena, st->content, rl); else ds__tbuf_put(&w->arena, s + j, 1); }
                if (!st->b) { ds__pvec_push(&w->pb, start, w->arena.n - start, pc.first); continue; }
                for (j = start, pos = start; j <= w->arena.n; j++) {   /* split, each replacement opens a piece */
                    if (j == w->arena.n || (j > pos && w->arena.n - j >= rl && !memcmp(w->arena.p + j, st->content, rl))) {
                        if (j > pos) ds__pvec_push(&w->pb, pos, j - pos, pc.first && pos == start);
                        pos = j;
                    }
                }
            } else if (st->kind == DS__PRE_BYTELEVEL) {
                size_t base; const char *s;
                if (!ds__tbuf_reserve(&w->arena, 2 * pc.len + 4)) continue;
                base = w->arena.n;
                if (st->a && !(pc.len && w->arena.p[pc.off] == ' ')) ds__tbuf_put(&w->arena, " ", 1);
                ds__tbuf_put(&w->arena, w->arena.p + pc.off, pc.len);  /* fits: reserved above */
                s = w->arena.p + base;
                {
                    size_t n = w->arena.n - base, sub, j;
                    if (!ds__tbuf_reserve(&w->arena, 2 * n)) continue;
                    s = w->arena.p + base;
                    for (pos = 0; pos < n; pos += sub) {
                        size_t o = w->arena.n;
                        sub = st->b ? ds__tok_gpt2_match(t, s + pos, n - pos) : n - pos;
                        for (j = pos; j < pos + sub; j++) ds__tbuf_cp(&w->arena, t->byte_char[(uint8_t)s[j]]);
                        ds__pvec_push(&w->pb, o, w->arena.n - o, pc.first && pos == 0);
                    }
                }
            }
        }
        if (w->arena.oom || w->pb.oom) w->oom = 1;
        tv = w->pa; w->pa = w->pb; w->pb = tv;
    }
}

/* BPE on one pre-token (tokenizers' BPE::merge_word + Word::merge_all). */
static int ds__tok_heap_less(int64_t a, int64_t b) { return a < b; }   /* (rank << 32 | pos) */
static void ds__tok_bpe(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n) {
    size_t i, nsym = 0, nh = 0; int32_t pend_unk = -1, pend_len = 0; int32_t id;
    if (t->bpe_ignore_merges && (id = ds__tok_lookup(t, s, n)) >= 0) { ds__ivec_push(&w->out, id); return; }
    {
        size_t cap = n * (1 + (t->bpe_prefix ? strlen(t->bpe_prefix) : 0)) + (t->bpe_suffix ? strlen(t->bpe_suffix) : 0) + 64;
        if (cap > w->sym_cap) {
        DS_FREE(w->sym); DS_FREE(w->slen); DS_FREE(w->sprev); DS_FREE(w->snext); DS_FREE(w->heap);
        w->sym = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap); w->slen = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap);
        w->sprev = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap); w->snext = (int32_t *)DS_MALLOC(sizeof(int32_t) * cap);
        w->heap = (int64_t *)DS_MALLOC(sizeof(int64_t) * cap * 3);
        w->sym_cap = cap;
        if (!w->sym || !w->slen || !w->sprev || !w->snext || !w->heap || cap > INT32_MAX / 3) { w->sym_cap = 0; w->oom = 1; return; }
        }
    }
#define DS__BPE_ADD(ID, LEN) do { w->sym[nsym] = (ID); w->slen[nsym] = (LEN); nsym++; } while (0)
    for (i = 0; i < n;) {
        int l = ds__utf8_len((uint8_t)s[i]); int first = i == 0, last = i + (size_t)l >= n;
        w->tmp.n = 0;
        if (!first && t->bpe_prefix) ds__tbuf_put(&w->tmp, t->bpe_prefix, strlen(t->bpe_prefix));
        ds__tbuf_put(&w->tmp, s + i, (size_t)l);
        if (last && t->bpe_suffix) ds__tbuf_put(&w->tmp, t->bpe_suffix, strlen(t->bpe_suffix));
        if (w->tmp.oom) { w->oom = 1; return; }
        i += (size_t)l;
        if ((id = ds__tok_lookup(t, w->tmp.p, w->tmp.n)) >= 0) {
            if (pend_unk >= 0) { DS__BPE_ADD(pend_unk, pend_len); pend_unk = -1; }
            DS__BPE_ADD(id, l);
            continue;
        }
        if (t->byte_fallback) {
            size_t b; int ok = 1;
            for (b = 0; b < w->tmp.n; b++) ok &= t->byte_id[(uint8_t)w->tmp.p[b]] >= 0;
            if (ok) {                                     /* may outgrow n: one symbol per byte */
                if (nsym + w->tmp.n + 2 > w->sym_cap) { w->oom = 1; return; }
                for (b = 0; b < w->tmp.n; b++) DS__BPE_ADD(t->byte_id[(uint8_t)w->tmp.p[b]], 1);
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (pend_unk >= 0 && t->bpe_fuse_unk) pend_len += l;
            else { if (pend_unk >= 0) DS__BPE_ADD(pend_unk, pend_len); pend_unk = t->unk_id; pend_len = l; }
        }
    }
    if (pend_unk >= 0) DS__BPE_ADD(pend_unk, pend_len);
#undef DS__BPE_ADD
    for (i = 0; i < nsym; i++) { w->sprev[i] = (int32_t)i - 1; w->snext[i] = i + 1 < nsym ? (int32_t)i + 1 : -1; }
    /* min-heap of (rank, position), stale entries skipped when popped */
#define DS__HEAP_PUSH(V) do { size_t c_ = nh++; w->heap[c_] = (V); \
        while (c_ > 0 && ds__tok_heap_less(w->heap[c_], w->heap[(c_ - 1) / 2])) { int64_t x_ = w->heap[c_]; w->heap[c_] = w->heap[(c_ - 1) / 2]; w->heap[(c_ - 1) / 2] = x_; c_ = (c_ - 1) / 2; } } while (0)
    for (i = 0; i + 1 < nsym; i++) { int32_t r, m; if (ds__tok_merge_find(t, w->sym[i], w->sym[i + 1], &r, &m)) DS__HEAP_PUSH((int64_t)r << 32 | (int64_t)i); }
    while (nh) {
        int64_t top = w->heap[0]; int32_t pos = (int32_t)(top & 0xFFFFFFFF), rank = (int32_t)(top >> 32), nx, r, m;
        size_t c = 0;
        w->heap[0] = w->heap[--nh];
        for (;;) {                                       /* sift down */
            size_t a = 2 * c + 1, b = a + 1, s2 = c;
            if (a < nh && ds__tok_heap_less(w->heap[a], w->heap[s2])) s2 = a;
            if (b < nh && ds__tok_heap_less(w->heap[b], w->heap[s2])) s2 = b;
            if (s2 == c) break;
            { int64_t x = w->heap[c]; w->heap[c] = w->heap[s2]; w->heap[s2] = x; } c = s2;
        }
        if (w->slen[pos] == 0 || (nx = w->snext[pos]) < 0) continue;
        if (!ds__tok_merge_find(t, w->sym[pos], w->sym[nx], &r, &m) || r != rank) continue;   /* stale */
        w->sym[pos] = m; w->slen[pos] += w->slen[nx]; w->slen[nx] = 0;
        w->snext[pos] = w->snext[nx];
        if (w->snext[nx] >= 0) w->sprev[w->snext[nx]] = pos;
        if (nh + 2 > w->sym_cap * 3) { w->oom = 1; return; }
        if (w->sprev[pos] >= 0 && ds__tok_merge_find(t, w->sym[w->sprev[pos]], w->sym[pos], &r, &m)) DS__HEAP_PUSH((int64_t)r << 32 | (int64_t)w->sprev[pos]);
        if (w->snext[pos] >= 0 && ds__tok_merge_find(t, w->sym[pos], w->sym[w->snext[pos]], &r, &m)) DS__HEAP_PUSH((int64_t)r << 32 | (int64_t)pos);
    }
#undef DS__HEAP_PUSH
    for (i = 0; i < nsym; i++) if (w->slen[i]) ds__ivec_push(&w->out, w->sym[i]);
}

/* tokenizers' Unigram::encode_optimized + tokenize on one pre-token (f64, all pieces). */
static void ds__tok_unigram_hf(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n) {
    size_t i, start; double unk_score = t->min_score - 10.0;
    if (!n || !ds__tok_work_vit(w, n)) return;
    for (i = 0; i <= n; i++) { w->best[i] = 0; w->from[i] = -1; w->bid[i] = -1; }
    for (start = 0; start < n;) {
        double base = w->best[start]; int mb = ds__utf8_len((uint8_t)s[start]), single = 0;
        ds__prefix_it it; size_t ml; int32_t id;
        it.lo = 0; it.hi = t->n_sorted; it.k = 0;
        while ((id = ds__tok_prefix_next(t, &it, s + start, n - start, &ml)) >= 0) {
            size_t e = start + ml; double c = t->score[id] + base;
            if (w->from[e] < 0 || c > w->best[e]) { w->best[e] = c; w->from[e] = (int32_t)start; w->bid[e] = id; }
            if (ml == (size_t)mb) single = 1;
        }
        if (!single) {
            size_t e = start + (size_t)mb; double c = unk_score + base;
            if (t->unk_id < 0) { w->oom = 2; return; }
            if (w->from[e] < 0 || c > w->best[e]) { w->best[e] = c; w->from[e] = (int32_t)start; w->bid[e] = t->unk_id; }
        }
        start += (size_t)mb;
    }
    /* walk the path forwards: collect the node ends, then emit with unknowns fused */
    w->itmp.n = 0;
    for (i = n; i > 0; i = (size_t)w->from[i]) ds__ivec_push(&w->itmp, (int32_t)i);
    if (w->itmp.oom) { w->oom = 1; return; }
    for (start = 0, i = w->itmp.n; i > 0;) {
        size_t e = (size_t)w->itmp.p[--i]; int32_t id = w->bid[e];
        if (id == t->unk_id) while (i > 0 && w->bid[w->itmp.p[i - 1]] == t->unk_id) e = (size_t)w->itmp.p[--i];
        if (id == t->unk_id) {
            int32_t found = ds__tok_lookup(t, s + start, e - start);
            if (found >= 0) ds__ivec_push(&w->out, found);
            else {
                size_t b; int ok = t->byte_fallback;
                for (b = start; ok && b < e; b++) ok = t->byte_id[(uint8_t)s[b]] >= 0;
                if (ok) for (b = start; b < e; b++) ds__ivec_push(&w->out, t->byte_id[(uint8_t)s[b]]);
                else ds__ivec_push(&w->out, t->unk_id);
            }
        } else ds__ivec_push(&w->out, id);
        start = e;
    }
}

static void ds__tok_text_hf(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n, int first);
static void ds__tok_norm_text_hf(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n, int first) {
    size_t i;
    w->arena.n = 0; w->pa.n = 0;
    ds__tbuf_put(&w->arena, s, n);
    ds__pvec_push(&w->pa, 0, n, first);
    ds__tok_pretokenize(t, w);
    for (i = 0; i < w->pa.n && !w->oom; i++) {
        const char *p = w->arena.p + w->pa.p[i].off; size_t l = w->pa.p[i].len;
        if (t->kind == DS__TOK_BPE) ds__tok_bpe(t, w, p, l); else ds__tok_unigram_hf(t, w, p, l);
    }
}
/* A piece of raw text between raw added tokens: normalize, split on normalized added tokens. */
static void ds__tok_text_hf(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n, int first) {
    ds__tbuf norm;
    w->a.n = 0; ds__tbuf_put(&w->a, s, n);
    ds__tok_normalize(t, w);
    norm = w->a; memset(&w->a, 0, sizeof w->a);           /* keep it while the pieces are processed */
    if (norm.oom) w->oom = 1;
    else if (norm.n) ds__tok_split_added(t, w, norm.p, norm.n, 1, first, ds__tok_norm_text_hf);
    ds__tbuf_free(&w->a); w->a = norm;
}

/* sentencepiece: Normalizer::Normalize then Model::EncodeOptimized then the unknown handling
   of SentencePieceProcessor (runs of unknowns merged; with byte_fallback, UTF-8 byte pieces). */
/* Normalizer::NormalizePrefix: the longest user-defined symbol at s[0] (copied as is), else the
   longest charsmap rule, else the character itself. Returns the input bytes used. */
static size_t ds__tok_spm_prefix(const ds_tokenizer *t, const char *s, size_t n, const char **rule, size_t *rn) {
    uint32_t ml[32], mv[32]; size_t best = 0, used = DS__MIN((size_t)ds__utf8_len((uint8_t)s[0]), n); int u, k;
    for (u = 0; u < t->n_user; u++) {
        uint32_t l = t->len[t->user_ids[u]];
        if (l <= n && l > best && !memcmp(s, t->str.p + t->off[t->user_ids[u]], l)) best = l;
    }
    *rule = s; *rn = used;
    if (best) { *rn = best; return best; }
    k = DS__MIN(ds__charsmap_search(&t->cm, s, n, ml, mv, 32), 32);   /* shortest first: take the last */
    if (k > 0) {
        size_t l; const char *r = ds__charsmap_rule(&t->cm, mv[k - 1], &l);
        if (r) { *rule = r; *rn = l; return ml[k - 1]; }
    }
    return used;
}
static void ds__tok_spm_normalize(const ds_tokenizer *t, const char *s, size_t n, ds__tbuf *out) {
    static const char sp_sym[] = "\xE2\x96\x81";
    const char *space = t->spm_escape_ws ? sp_sym : " "; size_t space_n = t->spm_escape_ws ? 3 : 1;
    size_t pos = 0, rn, used; const char *rule; int prev_space = t->spm_remove_ws;
    if (t->spm_remove_ws)                                /* leading whitespace */
        while (pos < n && (used = ds__tok_spm_prefix(t, s + pos, n - pos, &rule, &rn)) && rn == 1 && rule[0] == ' ') pos += used;
    if (pos >= n) return;
    if (!t->spm_ws_suffix && t->spm_add_dummy_prefix) ds__tbuf_put(out, space, space_n);
    while (pos < n) {
        size_t j = 0;
        used = ds__tok_spm_prefix(t, s + pos, n - pos, &rule, &rn);
        if (prev_space) while (j < rn && rule[j] == ' ') j++;   /* no space after a space */
        if (j < rn) {
            for (; j < rn; j++) {
                if (rule[j] == ' ' && t->spm_escape_ws) ds__tbuf_put(out, sp_sym, 3);
                else ds__tbuf_put(out, rule + j, 1);
            }
            prev_space = rule[rn - 1] == ' ';
        }
        pos += used;
        if (!t->spm_remove_ws) prev_space = 0;
    }
    if (t->spm_remove_ws) {                              /* trailing whitespace (also a literal U+2581) */
        while (out->n >= space_n && !memcmp(out->p + out->n - space_n, space, space_n)) out->n -= space_n;
        if (out->p) out->p[out->n] = 0;
    }
    if (t->spm_ws_suffix && t->spm_add_dummy_prefix) ds__tbuf_put(out, space, space_n);
}
static void ds__tok_spm_encode(const ds_tokenizer *t, ds__tok_work *w, const char *s, size_t n) {
    size_t i, start; float unk_score = t->spm_min - 10.0f; int prev_unk = 0;
    if (!n || !ds__tok_work_vit(w, n)) return;
    for (i = 0; i <= n; i++) { w->best_f[i] = 0; w->from[i] = -1; w->bid[i] = -1; }
    for (start = 0; start < n;) {
        float base = w->best_f[start]; int mb = (int)DS__MIN((size_t)ds__utf8_len((uint8_t)s[start]), n - start), single = 0;
        ds__prefix_it it; size_t ml; int32_t id;
        it.lo = 0; it.hi = t->n_sorted; it.k = 0;
        while ((id = ds__tok_prefix_next(t, &it, s + start, n - start, &ml)) >= 0) {
            size_t e = start + ml; float sc, c;
            if (t->type[id] == DS__PIECE_UNUSED) continue;
            sc = t->type[id] == DS__PIECE_USER ? (float)((double)((float)ml * t->spm_max) - 0.1) : t->score_f[id];
            c = sc + base;
            if (w->from[e] < 0 || c > w->best_f[e]) { w->best_f[e] = c; w->from[e] = (int32_t)start; w->bid[e] = id; }
            if (ml == (size_t)mb) single = 1;
        }
        if (!single) {
            size_t e = start + (size_t)mb; float c = unk_score + base;
            if (w->from[e] < 0 || c > w->best_f[e]) { w->best_f[e] = c; w->from[e] = (int32_t)start; w->bid[e] = t->unk_id; }
        }
        start += (size_t)mb;
    }
    w->itmp.n = 0;
    for (i = n; i > 0; i = (size_t)w->from[i]) ds__ivec_push(&w->itmp, (int32_t)i);
    if (w->itmp.oom) { w->oom = 1; return; }
    for (start = 0, i = w->itmp.n; i > 0;) {
        size_t e = (size_t)w->itmp.p[--i], b; int32_t id = w->bid[e]; int unk = id == t->unk_id;
        if (unk && t->byte_fallback) for (b = start; b < e; b++) ds__ivec_push(&w->out, t->byte_id[(uint8_t)s[b]]);
        else if (!(unk && prev_unk)) ds__ivec_push(&w->out, id);
        prev_unk = unk; start = e;
    }
}

static ds_result ds__tok_finish(ds_tokenizer *t) {
    int i, need_uni = t->n_norm > 0;
    for (i = 0; i < t->n_pre; i++) need_uni |= t->pre[i].kind != DS__PRE_METASPACE;
    for (i = 0; i < t->n_added; i++) need_uni |= t->added[i].lstrip || t->added[i].rstrip || t->added[i].single_word;
    if (need_uni && t->source != DS__SRC_SPM && !(t->uni = ds__uni_load())) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: unicode tables");
    ds__tok_byte_chars(t->byte_char, NULL);
    for (i = 0; i < t->n_added; i++) {                   /* normalized added tokens match their normalized form */
        ds__tok_added *a = &t->added[i];
        if (a->normalized && t->n_norm) {
            ds__tok_work w; memset(&w, 0, sizeof w);
            ds__tbuf_put(&w.a, t->str.p + a->off, a->len);
            ds__tok_normalize(t, &w);
            a->norm_off = (uint32_t)t->str.n; a->norm_len = (uint32_t)w.a.n;
            ds__tbuf_put(&t->str, w.a.p ? w.a.p : "", w.a.n); ds__tbuf_put(&t->str, "", 1);
            if (w.oom || w.a.oom) { ds__tok_work_free(&w); return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer"); }
            ds__tok_work_free(&w);
        } else { a->norm_off = a->off; a->norm_len = a->len; }
        if (a->normalized) { t->added_norm = 1; if (a->norm_len) t->added_first[(uint8_t)t->str.p[a->norm_off]] |= 2; }
        else { t->added_raw = 1; t->added_first[(uint8_t)t->str.p[a->off]] |= 1; }
    }
    if (t->str.oom) return ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
    if (t->pad_id < 0) t->pad_id = ds__tok_lookup(t, "<pad>", 5);
    if (t->pad_id < 0) t->pad_id = t->n_suffix ? t->suffix[t->n_suffix - 1] : 0;
    t->max_length = t->kind == DS__TOK_BPE ? 77 : 512;
    return DS_SUCCESS;
}

/* ---- public API --------------------------------------------------------------------------- */
DS__DEF void ds_tokenizer_free(ds_tokenizer *t) {
    int i;
    if (!t) return;
    ds__tbuf_free(&t->str);
    DS_FREE(t->off); DS_FREE(t->len); DS_FREE(t->score); DS_FREE(t->score_f); DS_FREE(t->type);
    DS_FREE(t->hash); DS_FREE(t->sorted); DS_FREE(t->mkey); DS_FREE(t->mrank); DS_FREE(t->mnew);
    DS_FREE(t->bpe_prefix); DS_FREE(t->bpe_suffix); DS_FREE(t->user_ids); DS_FREE(t->added);
    DS_FREE(t->cm.unit); DS_FREE(t->cm.norm);
    for (i = 0; i < DS__TOK_MAX_STEPS; i++) {
        ds__re_free(&t->norm[i].re); DS_FREE(t->norm[i].long_content); ds__re_free(&t->pre[i].re);
    }
    ds__uni_free(t->uni);
    DS_FREE(t);
}
static ds_result ds__tok_new(ds_ctx *ctx, ds_tokenizer **out) {
    ds_tokenizer *t = (ds_tokenizer *)DS_MALLOC(sizeof(ds_tokenizer));
    if (!t) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer");
    memset(t, 0, sizeof *t);
    t->ctx = ctx; t->unk_id = -1; t->pad_id = -1;
    *out = t;
    return DS_SUCCESS;
}
/* Reads a whole file, inflating it when it is gzip. */
static ds_result ds__tok_read(ds_ctx *ctx, const char *path, ds__tbuf *out) {
    ds__map m; ds_result r = DS_SUCCESS;
    DS__TRY(ds__map_file(ctx, path, &m));
    if (ds__is_gzip(m.data, (size_t)m.size)) r = ds__gunzip(ctx, m.data, (size_t)m.size, out);
    else { ds__tbuf_put(out, m.data, (size_t)m.size); if (out->oom) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s", path); }
    ds__unmap(ctx, &m);
    if (r == DS_SUCCESS && !out->p && !ds__tbuf_reserve(out, 0)) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s", path);
    return r;
}
static int ds__tok_json_has_model(const char *p, size_t n) {
    static const char *const k[] = { "model" };
    ds__json j, m[1]; j.p = p; j.end = p + n;
    return ds__tj_object(j, k, 1, m) && m[0].p && *m[0].p == '{';   /* "model" is a word in vocab.json too */
}
static ds_result ds__tok_load_buf(ds_ctx *ctx, const char *p, size_t n, const char *path, ds_tokenizer **out) {
    ds_tokenizer *t = NULL; ds_result r; size_t i = 0;
    DS__TRY(ds__tok_new(ctx, &t));
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) i++;
    if (ds__spm_looks_like((const uint8_t *)p, n)) r = ds__tok_load_spm(t, (const uint8_t *)p, n);
    else if (i < n && p[i] == '{') {
        if (ds__tok_json_has_model(p, n)) r = ds__tok_load_json(t, p, n);
        else {                                          /* vocab.json: merges.txt sits next to it */
            ds__tbuf mp, mt; memset(&mp, 0, sizeof mp); memset(&mt, 0, sizeof mt);
            if (!path) r = ds__err(ctx, DS_ERR_INVALID_ARGS, "tokenizer: a vocab.json needs its merges.txt (load the file or its folder)");
            else {
                const char *slash = strrchr(path, '/');
                ds__tbuf_put(&mp, path, slash ? (size_t)(slash - path + 1) : 0); ds__tbuf_put(&mp, "merges.txt", 10);
                r = mp.oom ? ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer") : ds__tok_read(ctx, mp.p, &mt);
                if (r == DS_SUCCESS) r = ds__tok_load_vocab_merges(t, p, n, mt.p, mt.n);
            }
            ds__tbuf_free(&mp); ds__tbuf_free(&mt);
        }
    } else if (n > 8 && memchr(p, '\n', DS__MIN(n, (size_t)4096)) && memchr(p, ' ', DS__MIN(n, (size_t)4096))) {
        /* a merges list: merges.txt with vocab.json beside it, else OpenAI's layout */
        ds__tbuf vp, vj; memset(&vp, 0, sizeof vp); memset(&vj, 0, sizeof vj);
        r = DS_ERR_IO;
        if (path) {
            const char *slash = strrchr(path, '/');
            ds__tbuf_put(&vp, path, slash ? (size_t)(slash - path + 1) : 0); ds__tbuf_put(&vp, "vocab.json", 10);
            if (!ds__ends_with(path, ".gz")) r = vp.oom ? DS_ERR_OUT_OF_MEMORY : ds__tok_read(ctx, vp.p, &vj);
        }
        if (r == DS_SUCCESS) r = ds__tok_load_vocab_merges(t, vj.p, vj.n, p, n);
        else r = ds__tok_load_openai(t, p, n);
        ds__tbuf_free(&vp); ds__tbuf_free(&vj);
    } else r = ds__err(ctx, DS_ERR_BAD_FORMAT, "tokenizer: unknown file kind (expected tokenizer.json, a SentencePiece .model, vocab.json/merges.txt or bpe_simple_vocab_16e6.txt.gz)");
    if (r != DS_SUCCESS) { ds_tokenizer_free(t); return r; }
    *out = t;
    return DS_SUCCESS;
}

DS__DEF ds_result ds_tokenizer_load_memory(ds_ctx *ctx, const void *data, size_t size, ds_tokenizer **out) {
    ds__tbuf b; ds_result r;
    if (!out || (!data && size)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "ds_tokenizer_load_memory: NULL argument");
    *out = NULL;
    if (!ds__is_gzip((const uint8_t *)data, size)) return ds__tok_load_buf(ctx, (const char *)data, size, NULL, out);
    memset(&b, 0, sizeof b);
    r = ds__gunzip(ctx, (const uint8_t *)data, size, &b);
    if (r == DS_SUCCESS) r = ds__tok_load_buf(ctx, b.p, b.n, NULL, out);
    ds__tbuf_free(&b);
    return r;
}

DS__DEF ds_result ds_tokenizer_load(ds_ctx *ctx, const char *path, ds_tokenizer **out) {
    static const char *const in_dir[] = { "tokenizer.json", "spiece.model", "tokenizer.model", "vocab.json", "bpe_simple_vocab_16e6.txt.gz" };
    ds__tbuf b; ds_result r; size_t k;
    if (!out || !path) return ds__err(ctx, DS_ERR_INVALID_ARGS, "ds_tokenizer_load: NULL argument");
    *out = NULL;
    if (ds__ends_with(path, ".safetensors")) {           /* ComfyUI's umT5: the .model in `spiece_model` */
        ds_weights *w; const ds_tensor *tt = NULL; int64_t i;
        DS__TRY(ds_weights_open(ctx, path, &w));
        for (i = 0; i < ds_weights_count(w) && !tt; i++) if (ds__ends_with(ds_weights_at(w, i)->name, "spiece_model")) tt = ds_weights_at(w, i);
        if (!tt || (tt->dtype != DS_U8 && tt->dtype != DS_I8)) r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "%s: no U8 tensor spiece_model", path);
        else r = ds_tokenizer_load_memory(ctx, tt->data, (size_t)tt->nbytes, out);
        ds_weights_close(w);
        return r;
    }
    memset(&b, 0, sizeof b);
    r = ds__tok_read(ctx, path, &b);
    if (r == DS_ERR_IO) {                                /* a folder: the usual file names */
        for (k = 0; k < sizeof in_dir / sizeof in_dir[0] && r != DS_SUCCESS; k++) {
            ds__tbuf p2; memset(&p2, 0, sizeof p2);
            ds__tbuf_put(&p2, path, strlen(path)); ds__tbuf_put(&p2, "/", 1); ds__tbuf_put(&p2, in_dir[k], strlen(in_dir[k]));
            b.n = 0;
            r = p2.oom ? DS_ERR_OUT_OF_MEMORY : ds__tok_read(ctx, p2.p, &b);
            if (r == DS_SUCCESS) r = ds__tok_load_buf(ctx, b.p, b.n, p2.p, out);
            ds__tbuf_free(&p2);
            if (r != DS_SUCCESS && r != DS_ERR_IO) break;
        }
        if (r == DS_ERR_IO) r = ds__err(ctx, DS_ERR_IO, "%s: no tokenizer file (tokenizer.json, spiece.model, vocab.json + merges.txt, bpe_simple_vocab_16e6.txt.gz)", path);
        ds__tbuf_free(&b);
        return r;
    }
    if (r == DS_SUCCESS) r = ds__tok_load_buf(ctx, b.p, b.n, path, out);
    ds__tbuf_free(&b);
    return r;
}

DS__DEF void ds_tokenizer_get_info(const ds_tokenizer *t, ds_tokenizer_info *info) {
    static const char *const src[] = { "", "tokenizer.json", "vocab.json+merges.txt", "bpe_simple_vocab", "sentencepiece" };
    if (!info) return;
    memset(info, 0, sizeof *info);
    if (!t) return;
    info->kind = t->kind == DS__TOK_BPE ? "bpe" : "unigram";
    info->source = src[t->source];
    info->vocab_size = t->n_vocab;
    { int i; for (i = 0; i < t->n_added; i++) if (t->added[i].id >= info->vocab_size) info->vocab_size = t->added[i].id + 1; }
    info->bos_id = t->n_prefix ? t->prefix[0] : -1;
    info->eos_id = t->n_suffix ? t->suffix[t->n_suffix - 1] : -1;
    info->pad_id = t->pad_id; info->unk_id = t->unk_id;
    info->max_length = t->max_length;
}

DS__DEF ds_result ds_tokenizer_encode(const ds_tokenizer *t, const char *utf8, int32_t *ids, int max_ids, int *n_out, unsigned flags) {
    ds__tok_work w; ds__tbuf san; ds_result r = DS_SUCCESS;
    int raw = (flags & DS_TOKENIZE_RAW) != 0, pad = !raw && !(flags & DS_TOKENIZE_NO_PAD);
    int n_spec = raw ? 0 : t ? t->n_prefix + t->n_suffix : 0;
    if (n_out) *n_out = 0;
    if (!t || !utf8 || !n_out || (ids && max_ids < n_spec) || max_ids < 0)
        return ds__err(t ? t->ctx : NULL, DS_ERR_INVALID_ARGS, "ds_tokenizer_encode: bad arguments (max_ids %d, %d special tokens)", max_ids, n_spec);
    memset(&w, 0, sizeof w); memset(&san, 0, sizeof san);
    ds__utf8_sanitize(&san, utf8, strlen(utf8));
    if (san.oom) w.oom = 1;
    else if (t->source == DS__SRC_SPM) {
        ds__tok_spm_normalize(t, san.p ? san.p : "", san.n, &w.a);
        if (!w.a.oom) ds__tok_spm_encode(t, &w, w.a.p, w.a.n); else w.oom = 1;
    } else ds__tok_split_added(t, &w, san.p ? san.p : "", san.n, 0, 1, ds__tok_text_hf);
    if (w.oom || w.out.oom || w.a.oom || w.b.oom)
        r = w.oom == 2 ? ds__err(t->ctx, DS_ERR_BAD_FORMAT, "tokenizer: unknown character and no unk token")
                       : ds__err(t->ctx, DS_ERR_OUT_OF_MEMORY, "tokenizer: out of memory encoding %u bytes", (unsigned)strlen(utf8));
    else {
        size_t body = w.out.n, k; int n = 0;
        if (!ids) n = (int)DS__MIN(body + (size_t)n_spec, (size_t)INT_MAX);  /* just the length */
        else {
            body = DS__MIN(body, (size_t)(max_ids - n_spec));
            if (!raw) for (k = 0; k < (size_t)t->n_prefix; k++) ids[n++] = t->prefix[k];
            for (k = 0; k < body; k++) ids[n++] = w.out.p[k];
            if (!raw) for (k = 0; k < (size_t)t->n_suffix; k++) ids[n++] = t->suffix[k];
            *n_out = n;
            if (pad) while (n < max_ids) ids[n++] = t->pad_id;
            n = *n_out;
        }
        *n_out = n;
    }
    ds__tok_work_free(&w); ds__tbuf_free(&san);
    return r;
}

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
