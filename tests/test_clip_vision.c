/* CLIP vision tower (Wan2.1 I2V image encoder): torch's bicubic resize on its own, the tower in three
   namings (transformers / ComfyUI clip_vision_h, Wan's .pth, open_clip) against the references of
   tools/gen_clip_vision_ref.py, ds_forward, and bad input. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define IO_PATH "tests/fixtures/clip_vision.io.safetensors"
static ds_ctx *ctx;

static const float *ref(const ds_weights *io, const char *name, int64_t n) {
    const ds_tensor *t = ds_weights_find(io, name);
    return t && t->dtype == DS_F32 && ds_tensor_numel(t) == n ? (const float *)t->data : NULL;
}

static double rel(const ds_weights *io, const char *name, const float *got, int64_t n) {
    const float *r = ref(io, name, n);
    return r ? ds_test_rel_l2(got, r, n) : 1e30;
}

static void test_resize(const ds_weights *io) {
    const float *src = ref(io, "resize_src", 3 * 40 * 50);
    static const struct { const char *name; int oh, ow; } c[] = { { "resize_down", 17, 23 }, { "resize_up", 61, 89 } };
    float *dst = (float *)malloc(3 * 61 * 89 * sizeof(float));
    int i;
    for (i = 0; i < 2; i++) {
        double e;
        if (!src || ds__clip_vision_resize(ctx, dst, src, 3, 40, 50, c[i].oh, c[i].ow) != DS_SUCCESS) { CHECK(0, "%s: %s", c[i].name, ds_ctx_last_error(ctx)); continue; }
        e = rel(io, c[i].name, dst, 3 * c[i].oh * c[i].ow);
        CHECK(e < 1e-5, "%s: rel L2 %.3g vs F.interpolate(bicubic)", c[i].name, e);
        printf("  %-34s rel L2 %.3g\n", c[i].name, e);
    }
    /* same size: identity (t = 0 puts all weight on the centre tap) */
    if (src && ds__clip_vision_resize(ctx, dst, src, 3, 40, 50, 40, 50) == DS_SUCCESS)
        CHECK(ds_test_rel_l2(dst, src, 3 * 40 * 50) < 1e-7, "same-size resize is the identity");
    CHECK(ds__clip_vision_resize(ctx, dst, src, 3, 0, 50, 4, 4) == DS_ERR_INVALID_ARGS, "empty resize rejected");
    free(dst);
}

static void test_naming(const ds_weights *io, const char *path, const char *layout) {
    ds_weights *w = NULL; ds_arch_info ai; ds__clip_vision m;
    const int64_t n = 257 * 32;
    const ds_tensor *img = ds_weights_find(io, "image");
    float *pen = (float *)malloc((size_t)n * sizeof(float)), *last = (float *)malloc((size_t)n * sizeof(float));
    float *pen2 = (float *)malloc((size_t)n * sizeof(float));
    if (ds_weights_open(ctx, path, &w) != DS_SUCCESS) { CHECK(0, "%s: open: %s", layout, ds_ctx_last_error(ctx)); goto out; }
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && ai.arch == DS_ARCH_CLIP_VISION && !strcmp(ai.layout, layout),
          "%s: detected as %s/%s", layout, ai.name, ai.layout);
    if (ds__clip_vision_load(ctx, w, &ai, &m) != DS_SUCCESS) { CHECK(0, "%s: load: %s", layout, ds_ctx_last_error(ctx)); goto out; }
    CHECK(!strcmp(m.layout, layout) && m.dim == 32 && m.heads == 1 && m.ffn == 64 && m.n_layers == 3 && m.patch == 14 &&
          m.grid == 16 && m.image_size == 224 && m.n_tok == 257 && m.patch_b == NULL,
          "%s: config %s d %d h %d ffn %d layers %d patch %d grid %d size %d tokens %d", layout, m.layout, m.dim, m.heads,
          m.ffn, m.n_layers, m.patch, m.grid, m.image_size, m.n_tok);
    if (!img || img->dtype != DS_F32 || img->ndim != 4 ||
        ds__clip_vision_forward(ctx, &m, (const float *)img->data, img->shape[2], img->shape[3], pen, last) != DS_SUCCESS) {
        CHECK(0, "%s: forward: %s", layout, ds_ctx_last_error(ctx)); goto out;
    }
    {
        double e1 = rel(io, "clip_fea", pen, n), e2 = rel(io, "last_hidden_state", last, n);
        CHECK(e1 < 1e-3 && e2 < 1e-3, "%s: rel L2 clip_fea %.3g last_hidden_state %.3g", layout, e1, e2);
        printf("  %-34s clip_fea %.3g  last_hidden_state %.3g\n", layout, e1, e2);
    }
    /* last may be NULL and changes nothing */
    CHECK(ds__clip_vision_forward(ctx, &m, (const float *)img->data, img->shape[2], img->shape[3], pen2, NULL) == DS_SUCCESS &&
          !memcmp(pen, pen2, (size_t)n * sizeof(float)), "%s: forward without last", layout);
    /* two heads over the same weights: the head split of the fused / split q, k, v */
    m.heads = 2; m.head_dim = 16;
    if (ds__clip_vision_forward(ctx, &m, (const float *)img->data, img->shape[2], img->shape[3], pen2, NULL) == DS_SUCCESS) {
        double e = rel(io, "clip_fea_h2", pen2, n), d = ds_test_rel_l2(pen2, pen, n);
        CHECK(e < 1e-3 && d > 1e-2, "%s: two heads rel L2 %.3g (%.3g from one head)", layout, e, d);
        printf("  %-34s clip_fea (2 heads) %.3g\n", layout, e);
    } else CHECK(0, "%s: two-head forward: %s", layout, ds_ctx_last_error(ctx));
    CHECK(ds__clip_vision_forward(ctx, &m, NULL, 10, 10, pen2, NULL) == DS_ERR_INVALID_ARGS, "%s: NULL image rejected", layout);
out:
    free(pen); free(last); free(pen2);
    ds_weights_close(w);
}

static void test_forward_api(const ds_weights *io) {
    ds_weights *w = NULL, *bad = NULL; ds_outputs out; int i, seen = 0;
    memset(&out, 0, sizeof out);
    if (ds_weights_open(ctx, "tests/fixtures/clip_vision_hf.weights.safetensors", &w) != DS_SUCCESS) { CHECK(0, "open: %s", ds_ctx_last_error(ctx)); return; }
    if (ds_forward(ctx, w, io, &out) != DS_SUCCESS) CHECK(0, "ds_forward: %s", ds_ctx_last_error(ctx));
    for (i = 0; i < out.n; i++) {
        const ds_output *o = &out.items[i];
        int shp = o->ndim == 3 && o->shape[0] == 1 && o->shape[1] == 257 && o->shape[2] == 32;
        double e = rel(io, o->name, o->data, 257 * 32);
        if (!strcmp(o->name, "clip_fea") || !strcmp(o->name, "last_hidden_state")) {
            seen++;
            CHECK(shp && e < 1e-3, "ds_forward %s: shape ok %d, rel L2 %.3g", o->name, shp, e);
            printf("  ds_forward %-23s rel L2 %.3g\n", o->name, e);
        }
    }
    CHECK(seen == 2, "ds_forward gave clip_fea and last_hidden_state (%d of 2)", seen);
    ds_outputs_free(ctx, &out);
    /* an io set without a proper image: no "image" tensor; the weights themselves as inputs */
    CHECK(ds_forward(ctx, w, w, &out) == DS_ERR_MISSING_TENSOR && out.n == 0, "missing image rejected: %s", ds_ctx_last_error(ctx));
    /* other weights: loading them as a vision tower fails cleanly */
    if (ds_weights_open(ctx, "tests/fixtures/clip_l.weights.safetensors", &bad) == DS_SUCCESS) {
        ds__clip_vision m;
        CHECK(ds__clip_vision_load(ctx, bad, NULL, &m) == DS_ERR_MISSING_TENSOR, "text encoder is not a vision tower: %s", ds_ctx_last_error(ctx));
        ds_weights_close(bad);
    }
    ds_weights_close(w);
}

int main(void) {
    ds_ctx_desc d; ds_weights *io = NULL;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, IO_PATH, &io) != DS_SUCCESS) { CHECK(0, "open %s: %s", IO_PATH, ds_ctx_last_error(ctx)); }
    else {
        test_resize(io);
        test_naming(io, "tests/fixtures/clip_vision_hf.weights.safetensors", "hf");
        test_naming(io, "tests/fixtures/clip_vision_wan.weights.pth", "wan");
        test_naming(io, "tests/fixtures/clip_vision_openclip.weights.safetensors", "open_clip");
        test_forward_api(io);
    }
    ds_weights_close(io);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_clip_vision");
}
