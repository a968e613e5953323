/* Wan2.1 pipeline end to end against Wan's own WanT2V / WanI2V.generate (tools/gen_wan_e2e.py ->
   tests/fixtures/wan_e2e): tiny DiT (wan_t2v_dit / wan_i2v_dit), VAE (wan_vae) and umT5 (wan_e2e/umt5.pth).
   Checks the prompt cleaning, umT5 conditioning, the I2V preprocessing (CLIP pixels, y), the final latents of
   three runs (rel L2 < 1e-3), the 8-bit video, an MJPEG AVI decoded by Pillow, the cache and bad input. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FIX "tests/fixtures/"
#define E2E FIX "wan_e2e/"
#define TOKENIZER FIX "tokenizers/uni_nfkc.tokenizer.json.gz"

static ds_weights *ref;
static int have_tokenizer;

static const char *meta(const char *fmt, const char *a) {
    char key[128];
    snprintf(key, sizeof key, fmt, a);
    return ds_weights_meta(ref, key);
}
/* a reference tensor as f32 (allocated), NULL if absent */
static float *ref_f32(ds_ctx *ctx, const char *name, int64_t *n) {
    const ds_tensor *t = ds_weights_find(ref, name);
    float *d;
    if (!t) return NULL;
    *n = ds_tensor_numel(t);
    d = (float *)malloc((size_t)*n * sizeof(float));
    if (d) ds__tensor_to_f32(d, t, 0, *n);
    (void)ctx;
    return d;
}

static void test_clean(ds_ctx *ctx) {
    int i, n = 0;
    for (i = 0; i < 64; i++) {
        char k[32]; const char *in, *want; char *got;
        snprintf(k, sizeof k, "clean.%d.in", i);
        if (!(in = ds_weights_meta(ref, k))) break;
        snprintf(k, sizeof k, "clean.%d.out", i);
        want = ds_weights_meta(ref, k);
        got = ds__wan_clean(ctx, in);
        CHECK(got && want && strcmp(got, want) == 0, "clean %d: '%s' -> '%s' (Wan: '%s')", i, in, got ? got : "(null)", want ? want : "");
        ds__free(ctx, got); n++;
    }
    CHECK(n >= 8, "%d cleaning cases", n);
    {
        char *e = ds__wan_clean(ctx, " \t ");
        CHECK(e && !e[0], "blank prompt cleans to ''");
        ds__free(ctx, e);
    }
}

/* conditioning from the fixture's token ids (the tokenizer's part is tested by test_tokenizer) */
static ds_result cond_from_ids(ds_wan *p, const char *name, ds_wan_cond *c) {
    int64_t n, i; float *f = ref_f32(p->ctx, name, &n); int *ids; ds_result r;
    if (!f) return DS_ERR_MISSING_TENSOR;
    ids = (int *)malloc((size_t)n * sizeof(int));
    for (i = 0; i < n; i++) ids[i] = (int)f[i];
    r = ds__wan_encode_ids(p, ids, (int)n, c);
    free(ids); free(f);
    return r;
}

static void test_text(ds_wan *p, const char *cs) {
    static const char *const which[2] = { "prompt", "negative" };
    int k;
    for (k = 0; k < 2; k++) {
        char name[64]; ds_wan_cond c; int64_t n; float *want; ds_result r;
        if (have_tokenizer) {   /* cleaning + tokenizer give Wan's ids */
            const char *text = meta(k ? "%s.negative" : "%s.prompt", cs);
            char *clean = ds__wan_clean(p->ctx, text && text[0] ? text : ds__wan_default_negative);
            int32_t ids[512]; int m = 0, same; int64_t i;
            snprintf(name, sizeof name, "%s.%s_ids", cs, which[k]);
            want = ref_f32(p->ctx, name, &n);
            r = clean ? ds_tokenizer_encode(p->tok, clean, ids, 512, &m, DS_TOKENIZE_NO_PAD) : DS_ERR_OUT_OF_MEMORY;
            same = r == DS_SUCCESS && want && m == n;
            for (i = 0; same && i < n; i++) same = ids[i] == (int32_t)want[i];
            CHECK(same, "%s: %d ids, Wan's tokenizer gave %lld", name, m, (long long)n);
            ds__free(p->ctx, clean); free(want);
        }
        snprintf(name, sizeof name, "%s.%s_ids", cs, which[k]);
        r = cond_from_ids(p, name, &c);
        snprintf(name, sizeof name, "%s.%s_context", cs, which[k]);
        want = ref_f32(p->ctx, name, &n);
        CHECK(r == DS_SUCCESS && want && n == (int64_t)c.n_txt * c.text_dim, "%s: umT5 [%d, %d] (%s)", name, c.n_txt, c.text_dim, ds_ctx_last_error(p->ctx));
        if (r == DS_SUCCESS && want && n == (int64_t)c.n_txt * c.text_dim) {
            double e = ds_test_rel_l2(c.txt, want, n);
            CHECK(e < 1e-3, "%s: rel L2 %.2e", name, e);
            printf("  %-28s rel L2 %.2e\n", name, e);
        }
        free(want);
        ds__wan_cond_release(p->ctx, &c);
    }
}

static void image_f32(const ds_image *im, float *img) {
    int64_t i, c, HW = (int64_t)im->width * im->height;
    for (i = 0; i < HW; i++)
        for (c = 0; c < 3; c++) img[c * HW + i] = ((float)im->rgb[i * 3 + c] / 255.0f - 0.5f) / 0.5f;
}

/* CLIP pixels and y against Wan's, from the same PNG */
static void test_i2v_inputs(ds_wan *p, const ds_image *im) {
    ds_ctx *ctx = p->ctx;
    int64_t n, i, S;
    float *img = (float *)malloc((size_t)im->width * im->height * 3 * sizeof(float));
    float *px = (float *)malloc(3 * 224 * 224 * sizeof(float)), *want = ref_f32(ctx, "i2v.clip_pixels", &n);
    ds__wan_plan pl; ds_wan_params pr;
    static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f }, stdv[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
    image_f32(im, img);
    /* what >>clip_vision does in front of the tower, from the same [-1, 1] image the pipeline hands it */
    CHECK(want && n == 3 * 224 * 224 && ds__clip_vision_resize(ctx, px, img, 3, im->height, im->width, 224, 224) == DS_SUCCESS, "clip pixels");
    for (i = 0; i < 3 * 224 * 224; i++) px[i] = (px[i] * 0.5f + 0.5f - mean[i / (224 * 224)]) / stdv[i / (224 * 224)];
    if (want && n == 3 * 224 * 224) {
        double e = ds_test_rel_l2(px, want, n);
        CHECK(e < 1e-3, "i2v clip pixels: rel L2 %.2e (reference in f16)", e);
        printf("  %-28s rel L2 %.2e\n", "i2v.clip_pixels", e);
    }
    free(want); free(px);
    memset(&pl, 0, sizeof pl); memset(&pr, 0, sizeof pr);
    pr.image = im;
    pl.F = atoi(meta("%s.frames", "i2v")); pl.H = atoi(meta("%s.height", "i2v")); pl.W = atoi(meta("%s.width", "i2v"));
    pl.T = (pl.F - 1) / 4 + 1; pl.h = pl.H / 8; pl.w = pl.W / 8; S = pl.T * pl.h * pl.w;
    pl.y = (float *)malloc((size_t)(20 * S) * sizeof(float));
    pl.video = (float *)malloc((size_t)(3 * pl.F * pl.H * pl.W) * sizeof(float));
    pl.img = img;
    want = ref_f32(ctx, "i2v.y_latent", &n);
    CHECK(ds__wan_i2v_condition(p, &pr, 34, 34, &pl) == DS_SUCCESS && want && n == 16 * S, "i2v y (%s)", ds_ctx_last_error(ctx));
    if (want && n == 16 * S) {
        double e = ds_test_rel_l2(pl.y + 4 * S, want, n);
        int mask_ok = 1;
        for (i = 0; i < 4 * S; i++) mask_ok &= pl.y[i] == ((i % S) < pl.h * pl.w ? 1.0f : 0.0f);
        CHECK(e < 1e-3, "i2v y latent: rel L2 %.2e", e);
        CHECK(mask_ok, "i2v mask: 1 on latent frame 0 of all 4 channels, 0 after");
        printf("  %-28s rel L2 %.2e\n", "i2v.y_latent", e);
    }
    free(want); free(pl.y); free(pl.video); free(img);
}

/* One reference run: latents and video against Wan's. Returns the video (free with ds_video_free). */
static void run_case(ds_wan *p, const char *cs, const ds_image *im, const float *clip_fea, ds_video *v) {
    ds_ctx *ctx = p->ctx;
    ds_wan_params pr; ds_wan_cond c, nc; char name[64];
    const char *neg = meta("%s.negative", cs);
    int64_t n, nr, i, bad = 0; float *lat, *want, *vref; double e, mad = 0; ds_result r;
    memset(&pr, 0, sizeof pr); memset(&c, 0, sizeof c); memset(&nc, 0, sizeof nc);
    pr.prompt = meta("%s.prompt", cs);
    pr.negative_prompt = neg && neg[0] ? neg : NULL;          /* Wan swaps "" for its default; NULL is ours */
    pr.width = atoi(meta("%s.width", cs)); pr.height = atoi(meta("%s.height", cs)); pr.frames = atoi(meta("%s.frames", cs));
    pr.steps = atoi(meta("%s.steps", cs)); pr.cfg = (float)atof(meta("%s.cfg", cs)); pr.shift = (float)atof(meta("%s.shift", cs));
    pr.seed = strtoull(meta("%s.seed", cs), NULL, 10);
    pr.image = im; pr.clip_fea = clip_fea;
    if (!have_tokenizer) {   /* the same ids as Wan's tokenizer gave, through our umT5 */
        snprintf(name, sizeof name, "%s.prompt_ids", cs);
        if (cond_from_ids(p, name, &c) == DS_SUCCESS) pr.cond = &c;
        snprintf(name, sizeof name, "%s.negative_ids", cs);
        if (cond_from_ids(p, name, &nc) == DS_SUCCESS) pr.neg_cond = &nc;
    }
    snprintf(name, sizeof name, "%s.latents", cs);
    want = ref_f32(ctx, name, &n);
    lat = (float *)calloc((size_t)(want ? n : 1), sizeof(float));
    pr.latent_out = lat;
    r = ds_wan_generate(p, &pr, v);
    CHECK(r == DS_SUCCESS && want, "%s: generate (%s)", cs, ds_ctx_last_error(ctx));
    if (r == DS_SUCCESS && want) {
        e = ds_test_rel_l2(lat, want, n);
        CHECK(e < 1e-3, "%s: final latents rel L2 %.2e", cs, e);
        printf("  %-28s rel L2 %.2e  (%dx%d, %d frames, %d steps%s)\n", name, e, pr.width, pr.height, pr.frames, pr.steps, have_tokenizer ? "" : ", ids");
        CHECK(v->frames == pr.frames && v->width == pr.width && v->height == pr.height && v->fps == 16, "%s: video %dx%dx%d", cs, v->frames, v->width, v->height);
        snprintf(name, sizeof name, "%s.video", cs);
        if ((vref = ref_f32(ctx, name, &nr)) != NULL && nr == (int64_t)v->frames * v->width * v->height * 3) {
            int64_t HWF = nr / 3;
            for (i = 0; i < nr; i++) {   /* Wan's cache_video: (x + 1) / 2 * 255 truncated; ours is [F, H, W, 3] */
                float x = vref[i] < -1 ? -1 : vref[i] > 1 ? 1 : vref[i];
                int d = (int)v->rgb[(i % HWF) * 3 + i / HWF] - (int)(uint8_t)((x + 1.0f) / 2.0f * 255.0f);
                mad += abs(d); bad += abs(d) > 1;
            }
            mad /= (double)nr;
            CHECK(mad < 0.05 && bad * 1000 < nr, "%s: 8-bit video vs Wan's: mean |diff| %.4f levels, %lld values off by > 1", cs, mad, (long long)bad);
            printf("  %-28s mean |diff| %.4f levels, %lld of %lld off by > 1\n", name, mad, (long long)bad, (long long)nr);
        }
        free(vref);
    }
    ds__wan_cond_release(ctx, &c); ds__wan_cond_release(ctx, &nc);
    free(lat); free(want);
}

/* The VAE decode of Wan's own final latents against its decoded video (f32). */
static void test_decode(ds_wan *p, const char *cs) {
    char name[64]; int64_t n, nv, i; float *z, *want, *got; ds_result r;
    int64_t F = atoi(meta("%s.frames", cs)), H = atoi(meta("%s.height", cs)), W = atoi(meta("%s.width", cs));
    snprintf(name, sizeof name, "%s.latents", cs); z = ref_f32(p->ctx, name, &n);
    snprintf(name, sizeof name, "%s.video", cs); want = ref_f32(p->ctx, name, &nv);
    got = (float *)malloc((size_t)(3 * F * H * W) * sizeof(float));
    if (!z || !want || nv != 3 * F * H * W) { CHECK(0, "%s: reference latents/video", cs); free(z); free(want); free(got); return; }
    ds__wan_vae_denormalize(z, n / 16);
    r = ds__wan_vae_decode(p->ctx, &p->vae, z, (F - 1) / 4 + 1, H / 8, W / 8, got);
    for (i = 0; r == DS_SUCCESS && i < nv; i++) got[i] = got[i] < -1 ? -1 : got[i] > 1 ? 1 : got[i];
    if (r == DS_SUCCESS) {
        double e = ds_test_rel_l2(got, want, nv);
        CHECK(e < 1e-3, "%s: VAE decode of Wan's latents rel L2 %.2e", cs, e);
        printf("  %-28s rel L2 %.2e  (decode of Wan's latents)\n", name, e);
    } else CHECK(0, "%s: decode (%s)", cs, ds_ctx_last_error(p->ctx));
    free(z); free(want); free(got);
}

static int abort_after;
static int on_abort(void *user) { (void)user; return abort_after-- <= 0; }

static void test_bad_input(ds_wan *p, ds_wan *pi, const ds_image *im) {
    ds_wan_params pr; ds_video v; ds_wan_cond c; ds_result r;
    memset(&v, 0, sizeof v); memset(&c, 0, sizeof c);
    if (cond_from_ids(p, "t2v.prompt_ids", &c) != DS_SUCCESS) { CHECK(0, "ids"); return; }
    memset(&pr, 0, sizeof pr); pr.cond = &c; pr.neg_cond = &c; pr.width = 64; pr.height = 64; pr.steps = 1;
    pr.frames = 6;  CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS && !v.rgb, "6 frames refused");
    pr.frames = 5; pr.width = 72; CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS, "width 72 refused");
    pr.width = 64; pr.image = im; CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS, "T2V with an image refused");
    pr.image = NULL; pr.sampler = (ds_wan_sampler)7; CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS, "unknown sampler refused");
    pr.sampler = DS_WAN_UNIPC; pr.shift = -1; CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS, "negative shift refused");
    pr.shift = 0;
    CHECK(ds_wan_generate(pi, &pr, &v) == DS_ERR_INVALID_ARGS, "I2V without an image refused");
    pr.image = im; CHECK(ds_wan_generate(pi, &pr, &v) == DS_ERR_INVALID_ARGS, "I2V without CLIP features refused");
    pr.image = NULL; c.text_dim = 7; CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_SHAPE, "wrong conditioning width refused");
    c.text_dim = p->t5.dim;
    CHECK(ds_wan_generate(NULL, &pr, &v) == DS_ERR_INVALID_ARGS && ds_wan_generate(p, NULL, &v) == DS_ERR_INVALID_ARGS, "NULL refused");
    if (!have_tokenizer) {
        pr.cond = NULL; pr.prompt = "hello";
        r = ds_wan_generate(p, &pr, &v);
        CHECK(r != DS_SUCCESS && strstr(ds_ctx_last_error(p->ctx), "tokenizer"), "a prompt without a tokenizer: '%s'", ds_ctx_last_error(p->ctx));
        pr.cond = &c;
    }
    /* abort after the first step: DS_ABORTED, no video */
    p->ctx->desc.abort_cb = on_abort; abort_after = 1; pr.steps = 3; pr.cfg = 1.0f;
    r = ds_wan_generate(p, &pr, &v);
    CHECK(r == DS_ABORTED && !v.rgb, "abort: %s", ds_result_string(r));
    p->ctx->desc.abort_cb = NULL;
    /* cfg 1: no negative pass; Euler; VAE tiling smaller than the video is refused below 19 */
    pr.sampler = DS_WAN_EULER; pr.steps = 2; pr.vae_tiling = 1; pr.vae_tile = 8;
    CHECK(ds_wan_generate(p, &pr, &v) == DS_ERR_INVALID_ARGS, "vae_tile 8 refused");
    pr.vae_tile = 0;
    r = ds_wan_generate(p, &pr, &v);
    CHECK(r == DS_SUCCESS && v.rgb && v.frames == 5, "Euler, cfg 1, tiled VAE (one tile): %s", ds_ctx_last_error(p->ctx));
    ds_video_free(p->ctx, &v);
    ds__wan_cond_release(p->ctx, &c);
}

int main(int argc, char **argv) {
    ds_ctx_desc cd; ds_ctx *ctx = NULL;
    ds_wan_desc d; ds_wan *p = NULL, *pi = NULL, *pc = NULL;
    ds_image im; ds_video v;
    float *clip_fea = NULL; int64_t i;
    ds_result r;
    ds_test_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    memset(&cd, 0, sizeof cd); memset(&im, 0, sizeof im); memset(&v, 0, sizeof v);
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, E2E "ref.safetensors", &ref) != DS_SUCCESS) { CHECK(0, "%s", ds_ctx_last_error(ctx)); DS_TEST_END("test_wan_pipe"); }
    test_clean(ctx);

    memset(&d, 0, sizeof d);
    d.diffusion_model = FIX "wan_t2v_dit.weights.safetensors"; d.vae = FIX "wan_vae.weights.safetensors"; d.t5 = E2E "umt5.pth";
    d.t5_tokenizer = TOKENIZER;
    have_tokenizer = ds_wan_create(ctx, &d, &p) == DS_SUCCESS;
    if (!have_tokenizer) {
        printf("SKIP prompt -> ids: no tokenizer in this build (%s); the runs use Wan's ids\n", ds_ctx_last_error(ctx));
        d.t5_tokenizer = NULL;
        r = ds_wan_create(ctx, &d, &p);
        CHECK(r == DS_SUCCESS, "t2v pipeline: %s", ds_ctx_last_error(ctx));
    }
    d.diffusion_model = FIX "wan_i2v_dit.weights.safetensors";
    r = ds_wan_create(ctx, &d, &pi);
    CHECK(r == DS_SUCCESS, "i2v pipeline: %s", ds_ctx_last_error(ctx));
    CHECK(ds_image_load(ctx, E2E "i2v_image.png", &im) == DS_SUCCESS, "i2v image");
    if (!p || !pi || !im.rgb) { ds_wan_destroy(p); ds_wan_destroy(pi); DS_TEST_END("test_wan_pipe"); }
    {
        ds_wan_info info;
        ds_wan_get_info(pi, &info);
        CHECK(!strcmp(info.variant, "i2v") && info.dim == 256 && info.layers == 2 && info.text_dim == 80 && info.latent_channels == 16, "info");
    }

    test_text(p, "t2v"); test_text(p, "t2v_defneg"); test_text(p, "i2v");
    test_decode(p, "t2v");
    test_i2v_inputs(pi, &im);

    run_case(p, "t2v", NULL, NULL, &v);
    /* the MJPEG AVI of that video, decoded by Pillow */
    if (v.rgb) {
        CHECK(ds_avi_write(ctx, "build/t_wan_pipe.avi", v.rgb, v.frames, v.width, v.height, v.fps, 90) == DS_SUCCESS, "avi");
        if (system("python3 -c 'import PIL' 2>/dev/null") == 0) {
            int rc = system("python3 tools/check_media.py build/t_wan_pipe.avi > build/t_wan_pipe.txt 2>&1");
            FILE *f = fopen("build/t_wan_pipe.txt", "r"); char line[256] = "";
            if (f) { if (!fgets(line, sizeof line, f)) line[0] = 0; fclose(f); }
            CHECK(rc == 0 && strstr(line, "ok build/t_wan_pipe.avi 64x64 frames=5"), "check_media: %s", line);
            printf("  %s", line);
        } else printf("SKIP AVI decode check: python3 with Pillow not found\n");
    }
    ds_video_free(ctx, &v);
    run_case(p, "t2v_defneg", NULL, NULL, &v);
    ds_video_free(ctx, &v);
    if (have_tokenizer) {   /* the same prompts again come from the cache */
        int hits = 0, k;
        for (k = 0; k < DS__WAN_CACHE; k++) hits += p->cache[k].text != NULL;
        CHECK(hits == 4, "prompt cache holds %d", hits);
    }

    clip_fea = (float *)malloc(257 * 1280 * sizeof(float));
    for (i = 0; i < 257 * 1280; i++) clip_fea[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;   /* as gen_wan_e2e.py */
    run_case(pi, "i2v", &im, clip_fea, &v);
    ds_video_free(ctx, &v);
    test_decode(pi, "i2v");

    /* I2V with the CLIP tower (>>clip_vision's Wan-layout fixture) and a DiT made for its width */
    d.diffusion_model = E2E "i2v_clip_dit.safetensors"; d.clip_vision = FIX "clip_vision_wan.weights.pth";
    r = ds_wan_create(ctx, &d, &pc);
    CHECK(r == DS_SUCCESS && pc->has_clip, "i2v + clip pipeline: %s", ds_ctx_last_error(ctx));
    if (pc) {
        int64_t n; float *want = ref_f32(ctx, "i2v_clip.clip_fea", &n), *img = (float *)malloc((size_t)im.width * im.height * 3 * sizeof(float));
        float *got = (float *)malloc(257 * 32 * sizeof(float));
        image_f32(&im, img);
        r = ds__clip_vision_forward(ctx, &pc->clip, img, im.height, im.width, got, NULL);
        CHECK(r == DS_SUCCESS && want && n == 257 * 32, "clip_fea [257, 32]: %s", ds_ctx_last_error(ctx));
        if (r == DS_SUCCESS && want && n == 257 * 32) {
            double e = ds_test_rel_l2(got, want, n);
            CHECK(e < 1e-3, "i2v_clip clip_fea rel L2 %.2e", e);
            printf("  %-28s rel L2 %.2e\n", "i2v_clip.clip_fea", e);
        }
        free(want); free(img); free(got);
        run_case(pc, "i2v_clip", &im, NULL, &v);
        ds_video_free(ctx, &v);
    }
    /* a tower whose width does not match the DiT's img_emb is refused at create */
    d.diffusion_model = FIX "wan_i2v_dit.weights.safetensors";
    {
        ds_wan *bad = NULL;
        CHECK(ds_wan_create(ctx, &d, &bad) == DS_ERR_SHAPE && !bad, "clip width 32 vs DiT 1280 refused: %s", ds_ctx_last_error(ctx));
    }

    test_bad_input(p, pi, &im);

    free(clip_fea);
    ds_image_free(ctx, &im);
    ds_wan_destroy(p); ds_wan_destroy(pi); ds_wan_destroy(pc);
    ds_weights_close(ref);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_wan_pipe");
}
