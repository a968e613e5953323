/* The shipped demo models (models/, trained by tools/train_demo.py) follow their prompts.

   20 single-shape prompts ("a red circle on the left") through the whole FLUX pipeline as `make demo` runs
   it (schnell-style: 4 steps, T5 over 12 tokens, 64x64), each picture judged by a tiny classifier: the
   colour nearest the mean of the non-white pixels and their centroid. At least 90% must match the prompt, with
   the bf16 DiT and with its GGUF copies (`diffsynth quantize --type q8_0 / q4_K`; rows of 128 are not a multiple
   of Q4_K's 256, so that copy is mostly Q5_0, as the tool falls back). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define M "models/"

static const char *const demo_colors[] = { "red", "green", "blue", "yellow", "purple" };
static const int demo_rgb[5][3] = { {220, 30, 30}, {30, 170, 50}, {30, 60, 220}, {240, 200, 20}, {140, 40, 170} };
static const char *const demo_shapes[] = { "circle", "square", "triangle", "square" };
static const char *const demo_places[] = { "on the left", "on the right", "at the top", "at the bottom", "in the center",
                                           "at the top", "on the left", "in the center", "on the right", "at the bottom" };

/* Colour index nearest the mean non-white pixel (-1: blank picture) and the centroid in 0..1. */
static int demo_classify(const ds_image *im, float *cx, float *cy) {
    double sum[3] = {0, 0, 0}, sx = 0, sy = 0, best = 1e30;
    long n = 0; int x, y, k, c = -1;
    for (y = 0; y < im->height; y++) for (x = 0; x < im->width; x++) {
        const uint8_t *p = im->rgb + ((size_t)y * (size_t)im->width + (size_t)x) * 3;
        if (255 * 3 - (p[0] + p[1] + p[2]) <= 120) continue;
        for (k = 0; k < 3; k++) sum[k] += p[k];
        sx += x; sy += y; n++;
    }
    *cx = *cy = 0.5f;
    if (n < 10) return -1;
    for (k = 0; k < 5; k++) {
        double d = 0; int j;
        for (j = 0; j < 3; j++) { double e = sum[j] / (double)n - demo_rgb[k][j]; d += e * e; }
        if (d < best) { best = d; c = k; }
    }
    *cx = (float)(sx / (double)n / im->width); *cy = (float)(sy / (double)n / im->height);
    return c;
}

static int demo_place_ok(const char *place, float cx, float cy) {
    if (!strcmp(place, "on the left")) return cx < 0.42f;
    if (!strcmp(place, "on the right")) return cx > 0.58f;
    if (!strcmp(place, "at the top")) return cy < 0.42f;
    if (!strcmp(place, "at the bottom")) return cy > 0.58f;
    return fabsf(cx - 0.5f) < 0.1f && fabsf(cy - 0.5f) < 0.1f;
}

/* Generates the 20 prompts with `dit` as the diffusion model; returns how many follow their prompt. */
static int demo_run(ds_ctx *ctx, const char *dit, const char *label) {
    ds_flux_desc d; ds_flux_params p; ds_flux *pipe = NULL; ds_flux_info info;
    int i, good = 0;
    memset(&d, 0, sizeof d);
    d.diffusion_model = dit; d.vae = M "flux_vae.safetensors";
    d.clip_l = M "flux_clip_l.safetensors"; d.t5xxl = M "flux_t5xxl.safetensors";
    d.clip_vocab = M "clip_bpe.txt.gz"; d.t5_tokenizer = M "t5_spiece.model";
    if (ds_flux_create(ctx, &d, &pipe) != DS_SUCCESS) { CHECK(0, "%s: create: %s", label, ds_ctx_last_error(ctx)); return 0; }
    ds_flux_get_info(pipe, &info);
    CHECK(!strcmp(info.variant, "schnell") && info.latent_scale == 8 && info.text_dim == 64 && info.vec_dim == 64,
          "%s: info %s x%d %d %d", label, info.variant, info.latent_scale, info.text_dim, info.vec_dim);
    for (i = 0; i < 20; i++) {
        char prompt[96]; ds_image im; float cx, cy; int c, want = i % 5, ok;
        snprintf(prompt, sizeof prompt, "a %s %s %s", demo_colors[want], demo_shapes[i % 4], demo_places[i % 10]);
        memset(&p, 0, sizeof p); memset(&im, 0, sizeof im);
        p.prompt = prompt; p.width = p.height = 64; p.steps = 4; p.text_len = 12; p.seed = 42 + (uint64_t)i;
        if (ds_flux_generate(pipe, &p, &im) != DS_SUCCESS) { CHECK(0, "%s: generate '%s': %s", label, prompt, ds_ctx_last_error(ctx)); continue; }
        c = demo_classify(&im, &cx, &cy);
        ok = c == want && demo_place_ok(demo_places[i % 10], cx, cy);
        if (!ok) printf("  %s: '%s' -> %s at (%.2f, %.2f)\n", label, prompt, c < 0 ? "nothing" : demo_colors[c], cx, cy);
        good += ok;
        ds_image_free(ctx, &im);
    }
    printf("  %s: %d/20 pictures follow the prompt\n", label, good);
    ds_flux_destroy(pipe);
    return good;
}

/* 20 clips "a <colour> <shape> moving <left|right|up|down>" (5 frames, 8 Euler steps, no CFG, as `make demo`):
   the colour right in the first and last frame and the centroid moved at least 8 pixels the named way. */
static int demo_run_wan(ds_ctx *ctx, const char *dit, const char *label) {
    static const char *const moves[] = { "left", "right", "up", "down" };
    ds_wan_desc d; ds_wan_params p; ds_wan *pipe = NULL;
    int i, good = 0;
    memset(&d, 0, sizeof d);
    d.diffusion_model = dit; d.vae = M "wan_vae.safetensors"; d.t5 = M "wan_umt5.safetensors";
    d.t5_tokenizer = M "t5_spiece.model";
    if (ds_wan_create(ctx, &d, &pipe) != DS_SUCCESS) { CHECK(0, "%s: create: %s", label, ds_ctx_last_error(ctx)); return 0; }
    for (i = 0; i < 20; i++) {
        char prompt[96]; ds_video v; ds_image f0, f1; float x0, y0, x1, y1, dx, dy; int c0, c1, want = i % 5, ok, m = i % 4;
        snprintf(prompt, sizeof prompt, "a %s %s moving %s", demo_colors[want], demo_shapes[i % 4], moves[m]);
        memset(&p, 0, sizeof p); memset(&v, 0, sizeof v);
        p.prompt = prompt; p.negative_prompt = ""; p.width = p.height = 64; p.frames = 5; p.steps = 8;
        p.cfg = 1.0f; p.shift = 1.0f; p.sampler = DS_WAN_EULER; p.seed = 42 + (uint64_t)i;
        if (ds_wan_generate(pipe, &p, &v) != DS_SUCCESS) { CHECK(0, "%s: generate '%s': %s", label, prompt, ds_ctx_last_error(ctx)); continue; }
        f0.width = f1.width = v.width; f0.height = f1.height = v.height;
        f0.rgb = v.rgb; f1.rgb = v.rgb + (size_t)(v.frames - 1) * (size_t)v.width * (size_t)v.height * 3;
        c0 = demo_classify(&f0, &x0, &y0); c1 = demo_classify(&f1, &x1, &y1);
        dx = (x1 - x0) * 64; dy = (y1 - y0) * 64;
        ok = c0 == want && c1 == want && (m == 0 ? dx < -8 : m == 1 ? dx > 8 : m == 2 ? dy < -8 : dy > 8);
        if (!ok) printf("  %s: '%s' -> %s/%s moved (%.1f, %.1f)\n", label, prompt, c0 < 0 ? "nothing" : demo_colors[c0],
                        c1 < 0 ? "nothing" : demo_colors[c1], dx, dy);
        good += ok;
        ds_video_free(ctx, &v);
    }
    printf("  %s: %d/20 clips follow the prompt\n", label, good);
    ds_wan_destroy(pipe);
    return good;
}

int main(void) {
    ds_ctx_desc cd; ds_ctx *ctx = NULL;
    memset(&cd, 0, sizeof cd);
    cd.n_threads = 2;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) { CHECK(0, "context"); DS_TEST_END("test_demo"); }
    CHECK(demo_run(ctx, M "flux_dit.safetensors", "flux bf16") >= 18, "flux bf16: under 90%% follow the prompt");
    CHECK(demo_run(ctx, M "flux_dit.q8_0.gguf", "flux q8_0") >= 18, "flux q8_0: under 90%% follow the prompt");
    CHECK(demo_run(ctx, M "flux_dit.q4_k.gguf", "flux q4_K") >= 18, "flux q4_K: under 90%% follow the prompt");
    {   /* the demo Wan DiT ships once tools/train_demo.py has trained it; until then say so, don't count it */
        FILE *f = fopen(M "wan_dit.safetensors", "rb");
        if (f) { fclose(f); CHECK(demo_run_wan(ctx, M "wan_dit.safetensors", "wan bf16") >= 18, "wan bf16: under 90%% follow the prompt"); }
        else printf("SKIP wan demo: models/wan_dit.safetensors is not trained yet\n");
    }
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_demo");
}
