/* flux_txt2img: the smallest complete FLUX.1 program on diffsynth.h.

     make && build/examples/flux_txt2img flux1-dev.safetensors ae.safetensors clip_l.safetensors \
         t5xxl_fp16.safetensors bpe_simple_vocab_16e6.txt.gz spiece.model "a red fox in the snow" fox.png

   Any of the checkpoints may be safetensors, GGUF or .pth; an all-in-one checkpoint (ComfyUI's
   flux1-dev-fp8.safetensors) can stand for the first four: pass "-" for the VAE and encoders.
   The same prompt is then rendered at two seeds: the second run reuses the cached text encoding. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"

#include <stdio.h>
#include <string.h>

/* ctx progress callback: one line per step */
static void on_progress(int step, int total, float seconds, void *user) {
    (void)user;
    fprintf(stderr, "\rstep %d/%d  %.1f s", step, total, (double)seconds);
    if (step == total) fputc('\n', stderr);
}

/* log callback: the library reports what it loaded and how much memory a run plans */
static void on_log(ds_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= DS_LOG_INFO) fprintf(stderr, "[diffsynth] %s\n", msg);
}

static const char *arg(const char *s) { return strcmp(s, "-") ? s : NULL; }

int main(int argc, char **argv) {
    ds_ctx_desc cd;
    ds_ctx *ctx = NULL;
    ds_flux_desc desc;
    ds_flux *pipe = NULL;
    ds_flux_params params;
    ds_image image = { 0, 0, NULL };
    char path[1024], seed_text[32];
    int run, rc = 1;
    ds_result r;

    if (argc != 9) {
        fprintf(stderr, "usage: %s DIT VAE CLIP_L T5XXL CLIP_VOCAB T5_TOKENIZER PROMPT OUT.png\n"
                        "       (\"-\" for VAE / CLIP_L / T5XXL: take them from an all-in-one DIT file)\n", argv[0]);
        return 2;
    }

    /* 1. a context: threads (0 = all cores), callbacks */
    memset(&cd, 0, sizeof cd);
    cd.progress_cb = on_progress;
    cd.log = on_log;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;

    /* 2. the pipeline: files are memory-mapped; weights stay in their dtype (bf16, fp8, GGUF blocks) */
    memset(&desc, 0, sizeof desc);
    desc.diffusion_model = argv[1];
    desc.vae = arg(argv[2]);
    desc.clip_l = arg(argv[3]);
    desc.t5xxl = arg(argv[4]);
    desc.clip_vocab = argv[5];
    desc.t5_tokenizer = argv[6];
    if ((r = ds_flux_create(ctx, &desc, &pipe)) != DS_SUCCESS) {
        fprintf(stderr, "loading: %s (%s)\n", ds_ctx_last_error(ctx), ds_result_string(r));
        goto done;
    }

    /* 3. generate: zero = defaults (1024x1024, 28 steps for dev / 4 for schnell, guidance 3.5) */
    for (run = 0; run < 2; run++) {
        const char *kv[5];
        memset(&params, 0, sizeof params);
        params.prompt = argv[7];
        params.seed = 42 + (uint64_t)run;
        if ((r = ds_flux_generate(pipe, &params, &image)) != DS_SUCCESS) {
            fprintf(stderr, "generate: %s (%s)\n", ds_ctx_last_error(ctx), ds_result_string(r));
            goto done;
        }

        /* 4. save: the prompt and seed go into PNG tEXt chunks */
        if (run == 0) snprintf(path, sizeof path, "%s", argv[8]);
        else snprintf(path, sizeof path, "%s.seed%llu.png", argv[8], (unsigned long long)params.seed);
        snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)params.seed);
        kv[0] = "prompt"; kv[1] = params.prompt; kv[2] = "seed"; kv[3] = seed_text; kv[4] = NULL;
        if ((r = ds_png_write(ctx, path, image.rgb, image.width, image.height, kv)) != DS_SUCCESS) {
            fprintf(stderr, "%s: %s\n", path, ds_ctx_last_error(ctx));
            goto done;
        }
        printf("%s (%dx%d, seed %s)\n", path, image.width, image.height, seed_text);
        ds_image_free(ctx, &image);
    }
    rc = 0;

done:
    ds_image_free(ctx, &image);
    ds_flux_destroy(pipe);
    ds_ctx_destroy(ctx);
    return rc;
}
