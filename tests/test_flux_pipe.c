/* FLUX pipeline end to end against diffusers' FluxPipeline on a tiny random-weight model
   (tools/gen_flux_e2e.py, tests/fixtures/flux_e2e): text encoding, txt2img, true CFG, img2img, the seed's
   noise, tokenized prompts, an all-in-one checkpoint, PNG output, callbacks and bad input. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define DIR "tests/fixtures/flux_e2e/"
#define LAT (16 * 32 * 32)   /* 64x64 image, VAE factor 2: latent [16, 32, 32] */

static ds_ctx *ctx;
static ds_weights *io;
static int progress_calls, abort_after = -1;

static const float *ref(const char *name, int64_t n) {
    const ds_tensor *t = ds_weights_find(io, name);
    return (t && t->dtype == DS_F32 && ds_tensor_numel(t) == n) ? (const float *)t->data : NULL;
}
static double rel(const char *name, const float *got, int64_t n) {
    const float *r = ref(name, n);
    return r ? ds_test_rel_l2(got, r, n) : 1e30;
}
static int *ids_of(const char *name, int n) {
    const float *r = ref(name, n);
    int *ids = (int *)malloc((size_t)n * sizeof(int)), i;
    for (i = 0; i < n; i++) ids[i] = r ? (int)r[i] : 0;
    return ids;
}
/* 0..255 difference between two 8-bit images: the largest */
static int max_px_diff(const uint8_t *a, const uint8_t *b, int n) {
    int i, m = 0;
    for (i = 0; i < n; i++) { int d = abs((int)a[i] - (int)b[i]); if (d > m) m = d; }
    return m;
}

static void on_progress(int step, int total, float seconds, void *user) {
    (void)step; (void)total; (void)seconds; (void)user;
    progress_calls++;
}
static int on_abort(void *user) { (void)user; return abort_after >= 0 && progress_calls >= abort_after; }

static void base_params(ds_flux_params *p) {
    memset(p, 0, sizeof *p);
    p->width = 64; p->height = 64; p->steps = 4; p->guidance = 3.5f; p->seed = 42;
    p->schedule = DS_FLUX_SCHEDULE_DIFFSYNTH;   /* diffusers' linspace(1, 1/N, N) */
}

static void run_case(ds_flux *pipe, const char *what, const ds_flux_params *p, const char *ref_latents, float *lat, ds_image *img) {
    ds_result r;
    memset(img, 0, sizeof *img);
    r = ds_flux_generate(pipe, p, img);
    CHECK(r == DS_SUCCESS, "%s: generate: %s", what, ds_ctx_last_error(ctx));
    if (r == DS_SUCCESS) {
        double e = rel(ref_latents, lat, LAT);
        CHECK(e < 1e-3, "%s: final latents rel L2 %.3g", what, e);
        printf("  %-28s latents rel L2 %.3g\n", what, e);
        CHECK(img->width == 64 && img->height == 64 && img->rgb, "%s: %dx%d image", what, img->width, img->height);
    }
}

int main(void) {
    ds_ctx_desc cd; ds_flux_desc d; ds_flux_params p; ds_flux *pipe = NULL;
    ds_flux_cond pos, neg; ds_image img, img2, init;
    float *lat = (float *)malloc(LAT * sizeof(float)), *lat2 = (float *)malloc(LAT * sizeof(float));
    int *t5_ids = NULL, *clip_ids = NULL, *neg_t5 = NULL, *neg_clip = NULL;
    ds_result r;
    memset(&cd, 0, sizeof cd); memset(&pos, 0, sizeof pos); memset(&neg, 0, sizeof neg); memset(&init, 0, sizeof init);
    memset(&img, 0, sizeof img); memset(&img2, 0, sizeof img2);
    cd.n_threads = 2; cd.progress_cb = on_progress; cd.abort_cb = on_abort;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS || ds_weights_open(ctx, DIR "io.safetensors", &io) != DS_SUCCESS) {
        CHECK(0, "setup: %s", ctx ? ds_ctx_last_error(ctx) : "no context");
        DS_TEST_END("test_flux_pipe");
    }
    t5_ids = ids_of("t5_ids", 512); clip_ids = ids_of("clip_ids", 77);
    neg_t5 = ids_of("neg_t5_ids", 512); neg_clip = ids_of("neg_clip_ids", 77);

    /* --- separate files: BFL DiT (fp8), LDM VAE, HF CLIP and T5 ------------------------------------ */
    memset(&d, 0, sizeof d);
    d.diffusion_model = DIR "dit.safetensors"; d.vae = DIR "vae.safetensors";
    d.clip_l = DIR "clip_l.safetensors"; d.t5xxl = DIR "t5xxl.safetensors";
    r = ds_flux_create(ctx, &d, &pipe);
    CHECK(r == DS_SUCCESS, "create: %s", ds_ctx_last_error(ctx));
    if (r != DS_SUCCESS) goto out;
    {
        ds_flux_info info;
        ds_flux_get_info(pipe, &info);
        CHECK(!strcmp(info.variant, "dev") && info.latent_scale == 2 && info.text_dim == 64 && info.vec_dim == 64,
              "info: %s, x%d, %d, %d", info.variant, info.latent_scale, info.text_dim, info.vec_dim);
    }

    /* text encoders on the reference token ids */
    CHECK(ds__flux_encode_ids(pipe, t5_ids, 512, clip_ids, &pos) == DS_SUCCESS &&
          ds__flux_encode_ids(pipe, neg_t5, 512, neg_clip, &neg) == DS_SUCCESS, "encode ids: %s", ds_ctx_last_error(ctx));
    if (!pos.txt || !neg.txt) goto out;
    {
        double et = rel("t5_embeds", pos.txt, 32 * 64), ep = rel("pooled", pos.vec, 64), en = rel("neg_pooled", neg.vec, 64);
        CHECK(et < 1e-4 && ep < 1e-4 && en < 1e-4, "embeddings: t5 %.3g pooled %.3g neg pooled %.3g", et, ep, en);
        printf("  text: t5 rows 0..31 %.3g  pooled %.3g  negative pooled %.3g\n", et, ep, en);
    }

    /* txt2img, true CFG, img2img: conditioning and noise from the reference */
    base_params(&p);
    p.cond = &pos; p.noise = ref("noise", LAT); p.latent_out = lat;
    progress_calls = 0;
    run_case(pipe, "txt2img", &p, "latents_t2i", lat, &img);
    CHECK(progress_calls == 4, "progress callback: %d calls", progress_calls);
    if (img.rgb) {
        const ds_tensor *t = ds_weights_find(io, "image_t2i");
        int m = (t && t->nbytes == 64 * 64 * 3) ? max_px_diff(img.rgb, (const uint8_t *)t->data, 64 * 64 * 3) : 999;
        CHECK(m <= 1, "txt2img: 8-bit image differs by up to %d", m);
        printf("  txt2img image: max 8-bit difference %d\n", m);
        /* PNG with the parameters in tEXt; read back */
        {
            const char *kv[] = { "prompt", ds_weights_meta(io, "prompt"), "seed", "42", NULL };
            CHECK(ds_png_write(ctx, "build/test_flux_pipe.png", img.rgb, 64, 64, kv) == DS_SUCCESS &&
                  ds_image_load(ctx, "build/test_flux_pipe.png", &img2) == DS_SUCCESS &&
                  img2.width == 64 && img2.height == 64 && !memcmp(img.rgb, img2.rgb, 64 * 64 * 3), "png round trip: %s", ds_ctx_last_error(ctx));
            ds_image_free(ctx, &img2);
        }
    }
    ds_image_free(ctx, &img);

    p.cfg = 2.5f; p.neg_cond = &neg;
    run_case(pipe, "true cfg 2.5", &p, "latents_cfg", lat, &img);
    ds_image_free(ctx, &img);

    base_params(&p);
    p.cond = &pos; p.noise = ref("noise", LAT); p.latent_out = lat; p.strength = 0.5f;
    if (ds_image_load(ctx, DIR "init.png", &init) == DS_SUCCESS) {
        p.init_image = &init;
        progress_calls = 0;
        run_case(pipe, "img2img strength 0.5", &p, "latents_i2i", lat, &img);
        CHECK(progress_calls == 3, "img2img runs steps 1..3: %d", progress_calls);
        ds_image_free(ctx, &img);
        /* tiled VAE with a tile covering the whole latent is the plain VAE */
        p.vae_tiling = 1; p.vae_tile = 64;
        run_case(pipe, "img2img, one VAE tile", &p, "latents_i2i", lat, &img);
        ds_image_free(ctx, &img);
    } else CHECK(0, "init.png: %s", ds_ctx_last_error(ctx));

    /* the seed's noise: torch.randn on a CPU generator */
    base_params(&p);
    p.cond = &pos; p.latent_out = lat;
    r = ds_flux_generate(pipe, &p, &img);
    if (r == DS_ERR_UNSUPPORTED) CHECK(0, "seed 42: ds_randn is not in this build (>>rng missing): %s", ds_ctx_last_error(ctx));
    else {
        double e = rel("latents_t2i", lat, LAT);
        CHECK(r == DS_SUCCESS && e < 1e-3, "txt2img from seed 42: rel L2 %.3g (%s)", e, ds_ctx_last_error(ctx));
        printf("  %-28s latents rel L2 %.3g\n", "txt2img from seed 42", e);
    }
    ds_image_free(ctx, &img);
    {   /* noise_bf16: torch.randn(dtype=bfloat16) is the f32 draw rounded (4 of the 16 channels stored) */
        const ds_tensor *t = ds_weights_find(io, "noise_bf16");
        float *nz = (float *)malloc(LAT * sizeof(float));
        int i, same = t && t->dtype == DS_BF16 && ds_tensor_numel(t) == LAT / 4 && ds_randn(DS_RNG_CPU, 42, nz, LAT) == DS_SUCCESS;
        for (i = 0; same && i < LAT / 4; i++) same = ds__f32_to_bf16(nz[i]) == ((const uint16_t *)t->data)[i];
        CHECK(same, "bf16 noise of seed 42 = rounded f32 noise");
        free(nz);
    }

    /* abort after the first step; bad sizes */
    base_params(&p);
    p.cond = &pos; p.noise = ref("noise", LAT);
    progress_calls = 0; abort_after = 1;
    CHECK(ds_flux_generate(pipe, &p, &img) == DS_ABORTED && progress_calls == 1 && !img.rgb, "abort: %d steps ran", progress_calls);
    abort_after = -1;
    p.width = 62;
    CHECK(ds_flux_generate(pipe, &p, &img) == DS_ERR_INVALID_ARGS, "width 62 rejected");
    p.width = 64; p.init_image = &init; p.height = 128;
    CHECK(ds_flux_generate(pipe, &p, &img) == DS_ERR_INVALID_ARGS, "init image size mismatch rejected");
    p.height = 64; p.cond = NULL; p.prompt = "a fox";
    CHECK(ds_flux_generate(pipe, &p, &img) == DS_ERR_INVALID_ARGS && strstr(ds_ctx_last_error(ctx), "tokenizer"),
          "prompt without tokenizer: %s", ds_ctx_last_error(ctx));
    ds_flux_destroy(pipe); pipe = NULL;

    /* --- tokenizers: the prompt text end to end ------------------------------------------------ */
    d.clip_vocab = DIR "clip_bpe.txt.gz"; d.t5_tokenizer = DIR "t5_spiece.model";
    r = ds_flux_create(ctx, &d, &pipe);
    if (r != DS_SUCCESS) CHECK(0, "tokenizers: create with clip_bpe.txt.gz / t5_spiece.model: %s", ds_ctx_last_error(ctx));
    else {
        ds_flux_cond c1, c2, c3;
        r = ds_flux_encode_prompt(pipe, ds_weights_meta(io, "prompt"), 0, &c1);
        CHECK(r == DS_SUCCESS, "encode prompt: %s", ds_ctx_last_error(ctx));
        if (r == DS_SUCCESS) {
            double et = rel("t5_embeds", c1.txt, 32 * 64), ep = rel("pooled", c1.vec, 64), en = 1e30;
            if (ds_flux_encode_prompt(pipe, ds_weights_meta(io, "negative_prompt"), 0, &c3) == DS_SUCCESS) en = rel("neg_pooled", c3.vec, 64);
            CHECK(et < 1e-4 && ep < 1e-4 && en < 1e-4, "prompt text -> t5 %.3g pooled %.3g, negative pooled %.3g", et, ep, en);
            CHECK(ds_flux_encode_prompt(pipe, ds_weights_meta(io, "prompt"), 0, &c2) == DS_SUCCESS &&
                  !memcmp(c1.txt, c2.txt, 512 * 64 * sizeof(float)), "cached encode");
            ds_flux_cond_free(pipe, &c1); ds_flux_cond_free(pipe, &c2); ds_flux_cond_free(pipe, &c3);
        }
        base_params(&p);
        p.prompt = ds_weights_meta(io, "prompt");
        p.noise = ref("noise", LAT); p.latent_out = lat;
        run_case(pipe, "prompt text", &p, "latents_t2i", lat, &img);
        ds_image_free(ctx, &img);
        ds_flux_destroy(pipe); pipe = NULL;
    }

    /* --- one all-in-one checkpoint with ComfyUI's prefixes -------------------------------------- */
    {
        static const char *const files[4] = { DIR "dit.safetensors", DIR "vae.safetensors", DIR "clip_l.safetensors", DIR "t5xxl.safetensors" };
        static const char *const pre[4] = { "model.diffusion_model.", "vae.", "text_encoders.clip_l.transformer.", "text_encoders.t5xxl.transformer." };
        ds_weights *w[4] = { 0 }; ds_write_tensor *wt = NULL; char *names = NULL; int n = 0, i, k, ok = 1;
        for (i = 0; i < 4 && ok; i++) ok = ds_weights_open(ctx, files[i], &w[i]) == DS_SUCCESS;
        for (i = 0; i < 4 && ok; i++) n += (int)ds_weights_count(w[i]);
        wt = (ds_write_tensor *)calloc((size_t)n + 1, sizeof *wt); names = (char *)calloc((size_t)n + 1, 128);
        for (i = 0, n = 0; i < 4 && ok; i++)
            for (k = 0; k < ds_weights_count(w[i]); k++, n++) {
                const ds_tensor *t = ds_weights_at(w[i], k);
                snprintf(names + n * 128, 128, "%s%s", pre[i], t->name);
                wt[n].name = names + n * 128; wt[n].dtype = t->dtype; wt[n].ndim = t->ndim; wt[n].data = t->data;
                memcpy(wt[n].shape, t->shape, sizeof t->shape);
            }
        ok = ok && ds_safetensors_write(ctx, "build/test_flux_pipe_aio.safetensors", wt, n, NULL) == DS_SUCCESS;
        CHECK(ok, "all-in-one: write: %s", ds_ctx_last_error(ctx));
        for (i = 0; i < 4; i++) ds_weights_close(w[i]);
        free(wt); free(names);
        memset(&d, 0, sizeof d);
        d.diffusion_model = "build/test_flux_pipe_aio.safetensors";
        if (ok && ds_flux_create(ctx, &d, &pipe) == DS_SUCCESS) {
            base_params(&p);
            p.cond = &pos; p.noise = ref("noise", LAT); p.latent_out = lat2;
            run_case(pipe, "all-in-one checkpoint", &p, "latents_t2i", lat2, &img);
            ds_image_free(ctx, &img);
            ds_flux_destroy(pipe); pipe = NULL;
        } else CHECK(0, "all-in-one: create: %s", ds_ctx_last_error(ctx));
        remove("build/test_flux_pipe_aio.safetensors");
    }

    /* --- weights the caller opened (borrowed) ------------------------------------------------- */
    {
        ds_weights *w[4] = { 0 };
        int ok = ds_weights_open(ctx, DIR "dit.safetensors", &w[0]) == DS_SUCCESS && ds_weights_open(ctx, DIR "vae.safetensors", &w[1]) == DS_SUCCESS &&
                 ds_weights_open(ctx, DIR "clip_l.safetensors", &w[2]) == DS_SUCCESS && ds_weights_open(ctx, DIR "t5xxl.safetensors", &w[3]) == DS_SUCCESS;
        memset(&d, 0, sizeof d);
        d.dit_weights = w[0]; d.vae_weights = w[1]; d.clip_weights = w[2]; d.t5_weights = w[3];
        CHECK(ok && ds_flux_create(ctx, &d, &pipe) == DS_SUCCESS, "open weights: %s", ds_ctx_last_error(ctx));
        ds_flux_destroy(pipe); pipe = NULL;
        for (ok = 0; ok < 4; ok++) ds_weights_close(w[ok]);
    }

    /* --- bad setups ------------------------------------------------------------------------------ */
    memset(&d, 0, sizeof d);
    d.diffusion_model = DIR "dit.safetensors";
    CHECK(ds_flux_create(ctx, &d, &pipe) == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "VAE"), "no VAE: %s", ds_ctx_last_error(ctx));
    d.vae = DIR "nope.safetensors";
    CHECK(ds_flux_create(ctx, &d, &pipe) == DS_ERR_IO, "missing file: %s", ds_ctx_last_error(ctx));
    d.vae = DIR "clip_l.safetensors";
    CHECK(ds_flux_create(ctx, &d, &pipe) == DS_ERR_UNSUPPORTED && strstr(ds_ctx_last_error(ctx), "holds no FLUX VAE"), "wrong file: %s", ds_ctx_last_error(ctx));
    d.vae = DIR "init.png";
    CHECK(ds_flux_create(ctx, &d, &pipe) == DS_ERR_BAD_FORMAT, "not a checkpoint: %s", ds_ctx_last_error(ctx));
    d.vae = DIR "vae.safetensors"; d.clip_l = DIR "clip_l.safetensors"; d.t5xxl = DIR "t5xxl.safetensors";
    d.clip_vocab = DIR "t5_spiece.model"; d.t5_tokenizer = DIR "clip_bpe.txt.gz";
    CHECK(ds_flux_create(ctx, &d, &pipe) == DS_ERR_UNSUPPORTED && strstr(ds_ctx_last_error(ctx), "CLIP needs BPE"), "swapped tokenizers: %s", ds_ctx_last_error(ctx));
    CHECK(pipe == NULL, "no pipeline on failure");

out:
    ds_flux_destroy(pipe);
    ds__flux_cond_release(ctx, &pos); ds__flux_cond_release(ctx, &neg);
    ds_image_free(ctx, &init);
    free(t5_ids); free(clip_ids); free(neg_t5); free(neg_clip); free(lat); free(lat2);
    ds_weights_close(io); ds_ctx_destroy(ctx);
    DS_TEST_END("test_flux_pipe");
}
