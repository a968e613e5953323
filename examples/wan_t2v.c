/* wan_t2v: the smallest complete Wan2.1 text-to-video program on diffsynth.h.

     make && build/examples/wan_t2v wan2.1_t2v_1.3B_bf16.safetensors wan_2.1_vae.safetensors \
         umt5_xxl_fp16.safetensors spiece.model "a red fox running through snow" fox.avi [FRAMES]

   The checkpoints may be safetensors, GGUF or .pth, in Wan's, ComfyUI's or diffusers' key names
   (umT5: Wan's .pth, transformers or llama.cpp GGUF). Pass "-" as the tokenizer when the umT5 file
   carries it (ComfyUI's `spiece_model` tensor). The video is 832x480 at 16 fps, written as MJPEG AVI.
   A CPU run is long: 17 frames at 25 steps is a test of patience, 81 frames at 50 steps an overnight job. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ctx progress callback: one line per denoising step */
static void on_progress(int step, int total, float seconds, void *user) {
    (void)user;
    fprintf(stderr, "\rstep %d/%d  %.1f s", step, total, (double)seconds);
    if (step == total) fputs("\ndecoding...\n", stderr);
}

/* log callback: the library reports what it loaded and how much memory a run plans */
static void on_log(ds_log_level level, const char *msg, void *user) {
    (void)user;
    if (level <= DS_LOG_INFO) fprintf(stderr, "[diffsynth] %s\n", msg);
}

int main(int argc, char **argv) {
    ds_ctx_desc cd;
    ds_ctx *ctx = NULL;
    ds_wan_desc desc;
    ds_wan *pipe = NULL;
    ds_wan_params params;
    ds_video video;
    int rc = 1;
    ds_result r;

    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s DIT VAE UMT5 TOKENIZER PROMPT OUT.avi [FRAMES]\n"
                        "       (TOKENIZER \"-\": the one inside the umT5 file)\n", argv[0]);
        return 2;
    }
    memset(&video, 0, sizeof video);

    /* 1. a context: threads (0 = all cores), callbacks */
    memset(&cd, 0, sizeof cd);
    cd.progress_cb = on_progress;
    cd.log = on_log;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;

    /* 2. the pipeline: files are memory-mapped; weights stay in their dtype (bf16, fp8, GGUF blocks) */
    memset(&desc, 0, sizeof desc);
    desc.diffusion_model = argv[1];
    desc.vae = argv[2];
    desc.t5 = argv[3];
    desc.t5_tokenizer = strcmp(argv[4], "-") ? argv[4] : NULL;
    if ((r = ds_wan_create(ctx, &desc, &pipe)) != DS_SUCCESS) {
        fprintf(stderr, "loading: %s (%s)\n", ds_ctx_last_error(ctx), ds_result_string(r));
        goto done;
    }

    /* 3. generate: zero = Wan's defaults (832x480, 81 frames, 50 UniPC steps, cfg 5, shift 5, Wan's
          negative prompt); here fewer frames and steps unless asked, and a fixed seed */
    memset(&params, 0, sizeof params);
    params.prompt = argv[5];
    params.frames = argc > 7 ? atoi(argv[7]) : 17;
    params.steps = argc > 7 ? 0 : 25;
    params.seed = 42;
    params.vae_tiling = 1;                 /* the VAE in overlapping tiles: about 1 GB instead of 5+ */
    if ((r = ds_wan_generate(pipe, &params, &video)) != DS_SUCCESS) {
        fprintf(stderr, "generate: %s (%s)\n", ds_ctx_last_error(ctx), ds_result_string(r));
        goto done;
    }

    /* 4. save: frames are RGB8, frame after frame */
    if ((r = ds_avi_write(ctx, argv[6], video.rgb, video.frames, video.width, video.height, video.fps, 90)) != DS_SUCCESS) {
        fprintf(stderr, "%s: %s\n", argv[6], ds_ctx_last_error(ctx));
        goto done;
    }
    printf("%s: %d frames of %dx%d at %d fps\n", argv[6], video.frames, video.width, video.height, video.fps);
    rc = 0;

done:
    ds_video_free(ctx, &video);
    ds_wan_destroy(pipe);
    ds_ctx_destroy(ctx);
    return rc;
}
