/* Wan2.1 DiT: the reference fixtures (WanModel in f32) in the Wan, ComfyUI and diffusers layouts,
   the plain-array API, and bad inputs that must fail cleanly. Run from the repository root. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FX "tests/fixtures/"

/* ds_forward on one weights file + io file; returns rel L2 of "out" (or 1e9 on failure). */
static double run_io(ds_ctx *ctx, const char *wpath, const char *iopath, ds_result *res) {
    ds_weights *w = NULL, *io = NULL; ds_outputs out; ds_result r; double e = 1e9;
    memset(&out, 0, sizeof out);
    r = ds_weights_open(ctx, wpath, &w);
    if (r == DS_SUCCESS) r = ds_weights_open(ctx, iopath, &io);
    if (r == DS_SUCCESS) r = ds_forward(ctx, w, io, &out);
    if (r == DS_SUCCESS) {
        const ds_tensor *ref = ds_weights_find(io, "out");
        if (ref && out.n == 1 && ds_output_numel(&out.items[0]) == ds_tensor_numel(ref) && ref->dtype == DS_F32)
            e = ds_test_rel_l2(out.items[0].data, (const float *)ref->data, ds_tensor_numel(ref));
    }
    if (res) *res = r;
    ds_outputs_free(ctx, &out); ds_weights_close(io); ds_weights_close(w);
    return e;
}

/* Copy a checkpoint with every name prefixed by `prefix`, leaving out the tensor named `drop`
   (or NULL) and, if `shrink` is set, declaring that tensor 1-D with one element fewer. */
static int rewrite(ds_ctx *ctx, const char *src, const char *dst, const char *prefix, const char *drop, const char *shrink) {
    ds_weights *w; ds_write_tensor *t; char **names; int64_t i, n; int k = 0, ok;
    if (ds_weights_open(ctx, src, &w) != DS_SUCCESS) return 0;
    n = ds_weights_count(w);
    t = (ds_write_tensor *)calloc((size_t)n, sizeof *t); names = (char **)calloc((size_t)n, sizeof *names);
    for (i = 0; t && names && i < n; i++) {
        const ds_tensor *s = ds_weights_at(w, i); int d;
        if (drop && !strcmp(s->name, drop)) continue;
        names[k] = (char *)malloc(strlen(prefix) + strlen(s->name) + 1);
        sprintf(names[k], "%s%s", prefix, s->name);
        t[k].name = names[k]; t[k].dtype = s->dtype; t[k].ndim = s->ndim; t[k].data = s->data;
        for (d = 0; d < s->ndim; d++) t[k].shape[d] = s->shape[d];
        if (shrink && !strcmp(s->name, shrink)) { t[k].ndim = 1; t[k].shape[0] = ds_tensor_numel(s) - 1; }
        k++;
    }
    ok = t && names && ds_safetensors_write(ctx, dst, t, k, NULL) == DS_SUCCESS;
    for (i = 0; names && i < k; i++) free(names[i]);
    free(names); free(t); ds_weights_close(w);
    return ok;
}

static void test_fixtures(ds_ctx *ctx) {
    static const struct { const char *weights, *io; } cases[] = {
        { FX "wan_t2v_dit.weights.safetensors",           FX "wan_t2v_dit.io.safetensors" },
        { FX "wan_i2v_dit.weights.safetensors",           FX "wan_i2v_dit.io.safetensors" },
        { FX "wan_t2v_dit_diffusers.weights.safetensors", FX "wan_t2v_dit.io.safetensors" },   /* tools/wan_to_diffusers.py */
    };
    int i; ds_result r;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        double e = run_io(ctx, cases[i].weights, cases[i].io, &r);
        CHECK(r == DS_SUCCESS && e < 1e-3, "%s: rel L2 %.3g (%s)", cases[i].weights, e, r ? ds_ctx_last_error(ctx) : "ok");
        printf("  %-44s rel L2 %.3g\n", cases[i].weights + strlen(FX), e);
    }
    /* ComfyUI repackage: the same names under "model.diffusion_model." */
    if (rewrite(ctx, FX "wan_i2v_dit.weights.safetensors", "build/test_wan_comfy.safetensors", "model.diffusion_model.", NULL, NULL)) {
        double e = run_io(ctx, "build/test_wan_comfy.safetensors", FX "wan_i2v_dit.io.safetensors", &r);
        CHECK(r == DS_SUCCESS && e < 1e-3, "comfyui prefix: rel L2 %.3g", e);
        printf("  %-44s rel L2 %.3g\n", "wan_i2v_dit with model.diffusion_model.", e);
    } else CHECK(0, "could not write build/test_wan_comfy.safetensors");
    remove("build/test_wan_comfy.safetensors");
}

/* The pipeline's entry points on plain arrays; config derived from shapes; bad arguments. */
static void test_api(ds_ctx *ctx) {
    ds_weights *w = NULL, *io = NULL; ds_arch_info ai; ds__wan_dit m; ds_result r;
    const ds_tensor *x, *cx, *t, *y, *clip, *ref; float *out;
    if (ds_weights_open(ctx, FX "wan_i2v_dit.weights.safetensors", &w) != DS_SUCCESS ||
        ds_weights_open(ctx, FX "wan_i2v_dit.io.safetensors", &io) != DS_SUCCESS) { CHECK(0, "open i2v fixture"); ds_weights_close(w); return; }
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && ai.arch == DS_ARCH_WAN_DIT && !strcmp(ai.variant, "i2v"), "detect i2v");
    r = ds__wan_dit_load(ctx, w, &ai, &m);
    CHECK(r == DS_SUCCESS, "load: %s", ds_ctx_last_error(ctx));
    if (r == DS_SUCCESS) {
        int F, H, W;
        CHECK(m.cfg.dim == 256 && m.cfg.heads == 2 && m.cfg.ffn_dim == 512 && m.cfg.layers == 2 && m.cfg.in_dim == 36 &&
              m.cfg.out_dim == 16 && m.cfg.text_dim == 80 && m.cfg.freq_dim == 256 && m.cfg.img && m.cfg.img_tokens == 257 &&
              m.cfg.clip_dim == 1280, "config from shapes");
        x = ds_weights_find(io, "x"); cx = ds_weights_find(io, "context"); t = ds_weights_find(io, "t");
        y = ds_weights_find(io, "y"); clip = ds_weights_find(io, "clip_fea"); ref = ds_weights_find(io, "out");
        F = (int)x->shape[1]; H = (int)x->shape[2]; W = (int)x->shape[3];
        out = (float *)malloc((size_t)ds_tensor_numel(ref) * sizeof(float));
        r = ds__wan_dit_forward(ctx, &m, (const float *)x->data, F, H, W, (const float *)cx->data, (int)cx->shape[0],
                                ((const float *)t->data)[0], (const float *)clip->data, (const float *)y->data, out);
        CHECK(r == DS_SUCCESS && ds_test_rel_l2(out, (const float *)ref->data, ds_tensor_numel(ref)) < 1e-3, "forward on arrays");
        /* bad inputs: an error, never a crash */
        CHECK(ds__wan_dit_forward(ctx, &m, (const float *)x->data, F, H - 1, W, (const float *)cx->data, (int)cx->shape[0],
                                  0.5f, (const float *)clip->data, (const float *)y->data, out) == DS_ERR_SHAPE, "odd height rejected");
        CHECK(ds__wan_dit_forward(ctx, &m, (const float *)x->data, F, H, W, (const float *)cx->data, 513,
                                  0.5f, (const float *)clip->data, (const float *)y->data, out) == DS_ERR_SHAPE, "context > 512 rows rejected");
        CHECK(ds__wan_dit_forward(ctx, &m, (const float *)x->data, F, H, W, (const float *)cx->data, (int)cx->shape[0],
                                  0.5f, NULL, (const float *)y->data, out) == DS_ERR_INVALID_ARGS, "i2v without clip_fea rejected");
        CHECK(ds__wan_dit_forward(ctx, &m, (const float *)x->data, F, H, W, (const float *)cx->data, (int)cx->shape[0],
                                  0.5f, (const float *)clip->data, NULL, out) == DS_ERR_INVALID_ARGS, "i2v without y rejected");
        free(out);
        ds__wan_dit_free(ctx, &m);
    }
    ds_weights_close(io); ds_weights_close(w);
}

/* Broken checkpoints: a missing tensor and a wrong shape are named in the error. */
static void test_bad_weights(ds_ctx *ctx) {
    const char *tmp = "build/test_wan_bad.safetensors"; ds_result r;
    if (rewrite(ctx, FX "wan_i2v_dit.weights.safetensors", tmp, "", "blocks.1.cross_attn.k_img.weight", NULL)) {
        run_io(ctx, tmp, FX "wan_i2v_dit.io.safetensors", &r);
        CHECK(r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "blocks.1.cross_attn.k_img.weight"), "missing tensor: %s", ds_ctx_last_error(ctx));
    }
    if (rewrite(ctx, FX "wan_t2v_dit.weights.safetensors", tmp, "", NULL, "blocks.0.norm3.weight")) {
        run_io(ctx, tmp, FX "wan_t2v_dit.io.safetensors", &r);
        CHECK(r == DS_ERR_SHAPE && strstr(ds_ctx_last_error(ctx), "blocks.0.norm3.weight"), "wrong shape: %s", ds_ctx_last_error(ctx));
    }
    if (rewrite(ctx, FX "wan_t2v_dit.weights.safetensors", tmp, "", NULL, "patch_embedding.weight")) {
        run_io(ctx, tmp, FX "wan_t2v_dit.io.safetensors", &r);
        CHECK(r == DS_ERR_SHAPE, "bad patch_embedding: %s", ds_ctx_last_error(ctx));
    }
    /* io files of the other variant: t2v ignores y and clip_fea; i2v needs them */
    run_io(ctx, FX "wan_t2v_dit.weights.safetensors", FX "wan_i2v_dit.io.safetensors", &r);
    CHECK(r == DS_SUCCESS, "t2v weights ignore the i2v extras: %s", ds_ctx_last_error(ctx));
    run_io(ctx, FX "wan_i2v_dit.weights.safetensors", FX "wan_t2v_dit.io.safetensors", &r);
    CHECK(r == DS_ERR_MISSING_TENSOR, "i2v weights without clip_fea: %s", ds_ctx_last_error(ctx));
    remove(tmp);
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    test_fixtures(ctx);
    test_api(ctx);
    test_bad_weights(ctx);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_wan");
}
