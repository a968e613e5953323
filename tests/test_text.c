/* Text encoders: CLIP-L (transformers CLIPTextModel), T5 (T5EncoderModel), umT5 (UMT5EncoderModel and
   Wan's T5Encoder), run through their model-level API on the reference fixtures, plus the naming
   prefixes, the relative-position buckets, the mask semantics and bad input. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static ds_ctx *ctx;

/* ids (and an optional mask) from an io file; returns the count, 0 on failure. */
static int64_t load_ids(const ds_weights *io, const char *name, int **out) {
    const ds_tensor *t = ds_weights_find(io, name);
    int64_t n, i;
    *out = NULL;
    if (!t || t->dtype != DS_F32) return 0;
    n = ds_tensor_numel(t);
    *out = (int *)malloc((size_t)n * sizeof(int));
    for (i = 0; i < n; i++) (*out)[i] = (int)((const float *)t->data)[i];
    return n;
}

static double rel_l2_ref(const ds_weights *io, const char *name, const float *got, int64_t n) {
    const ds_tensor *t = ds_weights_find(io, name);
    if (!t || t->dtype != DS_F32 || ds_tensor_numel(t) < n) return 1e30;
    return ds_test_rel_l2(got, (const float *)t->data, n);
}

static void test_clip(const char *weights_path, const char *what) {
    ds_weights *w = NULL, *io = NULL; ds__clip_text m; ds_arch_info ai; int *ids = NULL; int64_t n;
    float *last = NULL, *pen = NULL, *pool = NULL;
    if (ds_weights_open(ctx, weights_path, &w) != DS_SUCCESS || ds_weights_open(ctx, "tests/fixtures/clip_l.io.safetensors", &io) != DS_SUCCESS) {
        CHECK(0, "%s: open: %s", what, ds_ctx_last_error(ctx)); goto out;
    }
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && ai.arch == DS_ARCH_CLIP_TEXT, "%s: detected as %s", what, ai.name);
    if (ds__clip_text_load(ctx, &m, w, ai.prefix) != DS_SUCCESS) { CHECK(0, "%s: load: %s", what, ds_ctx_last_error(ctx)); goto out; }
    CHECK(m.dim == 128 && m.heads == 2 && m.n_layers == 3 && m.n_ctx == 77 && m.ffn == 512 && m.vocab == 1000,
          "%s: config %d %d %d %d %d %d", what, m.dim, m.heads, m.n_layers, m.n_ctx, m.ffn, m.vocab);
    n = load_ids(io, "input_ids", &ids);
    last = (float *)malloc(77 * 128 * sizeof(float)); pen = (float *)malloc(77 * 128 * sizeof(float)); pool = (float *)malloc(128 * sizeof(float));
    if (n != 77 || ds__clip_text_forward(ctx, &m, ids, last, pen, pool) != DS_SUCCESS) { CHECK(0, "%s: forward: %s", what, ds_ctx_last_error(ctx)); goto out; }
    {
        double e1 = rel_l2_ref(io, "last_hidden_state", last, 77 * 128), e2 = rel_l2_ref(io, "penultimate", pen, 77 * 128), e3 = rel_l2_ref(io, "pooled", pool, 128);
        CHECK(e1 < 1e-4 && e2 < 1e-4 && e3 < 1e-4, "%s: rel L2 last %.3g penultimate %.3g pooled %.3g", what, e1, e2, e3);
        printf("  %-34s last %.3g  penultimate %.3g  pooled %.3g\n", what, e1, e2, e3);
    }
    /* only the pooled vector: the other outputs may be NULL */
    {
        float pool2[128];
        CHECK(ds__clip_text_forward(ctx, &m, ids, NULL, NULL, pool2) == DS_SUCCESS && !memcmp(pool, pool2, sizeof pool2), "%s: NULL outputs", what);
        ids[5] = 1000;
        CHECK(ds__clip_text_forward(ctx, &m, ids, NULL, NULL, pool2) == DS_ERR_INVALID_ARGS, "%s: id out of range rejected", what);
    }
out:
    free(ids); free(last); free(pen); free(pool);
    ds_weights_close(io); ds_weights_close(w);
}

/* rows: compare only the first `rows` positions (the unmasked ones) */
static void test_t5(const char *weights_path, const char *io_path, const char *what, const char *layout, int rows, int layers_with_bias) {
    ds_weights *w = NULL, *io = NULL; ds__t5 m; ds_arch_info ai; int *ids = NULL, *mask = NULL; int64_t n, nm, i;
    float *o = NULL, *o2 = NULL; int l, nb = 0;
    if (ds_weights_open(ctx, weights_path, &w) != DS_SUCCESS || ds_weights_open(ctx, io_path, &io) != DS_SUCCESS) {
        CHECK(0, "%s: open: %s", what, ds_ctx_last_error(ctx)); goto out;
    }
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && (ai.arch == DS_ARCH_T5 || ai.arch == DS_ARCH_UMT5), "%s: detected as %s", what, ai.name);
    if (ds__t5_load(ctx, &m, w, ai.prefix) != DS_SUCCESS) { CHECK(0, "%s: load: %s", what, ds_ctx_last_error(ctx)); goto out; }
    for (l = 0; l < m.n_layers; l++) nb += m.layers[l].rel_bias != NULL;
    CHECK(!strcmp(m.layout, layout) && m.dim == 64 && m.heads == 2 && m.head_dim == 32 && m.buckets == 32 && nb == layers_with_bias,
          "%s: config %s d %d h %d hd %d buckets %d, %d bias tables", what, m.layout, m.dim, m.heads, m.head_dim, m.buckets, nb);
    n = load_ids(io, "input_ids", &ids);
    nm = load_ids(io, "attention_mask", &mask);
    o = (float *)malloc((size_t)n * 64 * sizeof(float)); o2 = (float *)malloc((size_t)n * 64 * sizeof(float));
    if (!n || (mask && nm != n) || ds__t5_forward(ctx, &m, ids, n, mask, o) != DS_SUCCESS) { CHECK(0, "%s: forward: %s", what, ds_ctx_last_error(ctx)); goto out; }
    {
        double e = rel_l2_ref(io, "last_hidden_state", o, (rows ? rows : n) * 64), ea = rel_l2_ref(io, "last_hidden_state", o, n * 64);
        CHECK(e < 1e-4, "%s: rel L2 %.3g", what, e);
        printf("  %-34s last_hidden_state %.3g (first %d rows; all rows %.3g)\n", what, e, (int)(rows ? rows : n), ea);
    }
    if (mask) {
        /* padded tokens are invisible to the real ones: changing them leaves those rows bit-identical */
        for (i = rows; i < n; i++) ids[i] = (int)(i * 7 % 1000);
        CHECK(ds__t5_forward(ctx, &m, ids, n, mask, o2) == DS_SUCCESS && !memcmp(o, o2, (size_t)rows * 64 * sizeof(float)), "%s: padding is masked", what);
        for (i = 0; i < n; i++) mask[i] = 0;
        CHECK(ds__t5_forward(ctx, &m, ids, n, mask, o2) == DS_ERR_INVALID_ARGS, "%s: all-masked input rejected", what);
    } else {
        /* an all-ones mask is no mask */
        mask = (int *)malloc((size_t)n * sizeof(int));
        for (i = 0; i < n; i++) mask[i] = 1;
        CHECK(ds__t5_forward(ctx, &m, ids, n, mask, o2) == DS_SUCCESS && !memcmp(o, o2, (size_t)n * 64 * sizeof(float)), "%s: all-ones mask", what);
    }
    ids[0] = -1;
    CHECK(ds__t5_forward(ctx, &m, ids, n, NULL, o2) == DS_ERR_INVALID_ARGS, "%s: negative id rejected", what);
out:
    free(ids); free(mask); free(o); free(o2);
    ds_weights_close(io); ds_weights_close(w);
}

/* Copy a checkpoint under a new key prefix (what ComfyUI / SD bundles look like). */
static int write_prefixed(const char *src, const char *dst, const char *prefix) {
    ds_weights *w = NULL; ds_write_tensor *t; char **names; int64_t n, i; int ok;
    if (ds_weights_open(ctx, src, &w) != DS_SUCCESS) return 0;
    n = ds_weights_count(w);
    t = (ds_write_tensor *)calloc((size_t)n, sizeof *t); names = (char **)calloc((size_t)n, sizeof *names);
    for (i = 0; i < n; i++) {
        const ds_tensor *s = ds_weights_at(w, i);
        names[i] = (char *)malloc(strlen(prefix) + strlen(s->name) + 1);
        strcpy(names[i], prefix); strcat(names[i], s->name);
        t[i].name = names[i]; t[i].dtype = s->dtype; t[i].ndim = s->ndim; t[i].data = s->data;
        memcpy(t[i].shape, s->shape, sizeof t[i].shape);
    }
    ok = ds_safetensors_write(ctx, dst, t, (int)n, NULL) == DS_SUCCESS;
    for (i = 0; i < n; i++) free(names[i]);
    free(names); free(t); ds_weights_close(w);
    return ok;
}

/* Buckets: the double-precision formula (equal to torch's for |d| <= 5000, checked offline) and a few
   values printed by transformers' T5Attention._relative_position_bucket(32 buckets, max distance 128). */
static void test_buckets(void) {
    static const int known[][2] = { {0, 0}, {1, 17}, {-1, 1}, {7, 23}, {8, 24}, {11, 24}, {12, 25}, {16, 26},
                                    {22, 26}, {23, 27}, {32, 28}, {-16, 10}, {-200, 15}, {500, 31} };
    int i, bad = 0; int64_t d;
    for (i = 0; i < DS__ARRLEN(known); i++) bad += ds__t5_bucket(known[i][0], 32, 128) != known[i][1];
    for (d = -5000; d <= 5000; d++) {
        int64_t a = d < 0 ? -d : d; int want = d > 0 ? 16 : 0;
        if (a < 8) want += (int)a;
        else { int lg = 8 + (int)(log((double)a / 8) / log(128.0 / 8) * 8); want += lg < 15 ? lg : 15; }
        bad += ds__t5_bucket(d, 32, 128) != want;
    }
    CHECK(bad == 0, "relative position buckets: %d wrong", bad);
}

int main(void) {
    ds_ctx_desc d;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    test_buckets();
    test_clip("tests/fixtures/clip_l.weights.safetensors", "clip_l");
    if (write_prefixed("tests/fixtures/clip_l.weights.safetensors", "build/t_text_clip.safetensors", "text_encoders.clip_l.transformer.text_model."))
        test_clip("build/t_text_clip.safetensors", "clip_l (ComfyUI prefix)");
    else CHECK(0, "write prefixed clip: %s", ds_ctx_last_error(ctx));
    if (write_prefixed("tests/fixtures/clip_l.weights.safetensors", "build/t_text_clip.safetensors", "text_model."))
        test_clip("build/t_text_clip.safetensors", "clip_l (text_model. prefix)");
    test_t5("tests/fixtures/t5xxl.weights.safetensors", "tests/fixtures/t5xxl.io.safetensors", "t5xxl", "hf", 0, 1);
    if (write_prefixed("tests/fixtures/t5xxl.weights.safetensors", "build/t_text_t5.safetensors", "text_encoders.t5xxl.transformer."))
        test_t5("build/t_text_t5.safetensors", "tests/fixtures/t5xxl.io.safetensors", "t5xxl (ComfyUI prefix)", "hf", 0, 1);
    test_t5("tests/fixtures/umt5_hf.weights.safetensors", "tests/fixtures/umt5_hf.io.safetensors", "umt5_hf", "hf", 14, 2);
    /* Wan's .pth converted by tools/pth_to_safetensors.py (same names and bf16 values) */
    test_t5("tests/fixtures/umt5_wan.weights.safetensors", "tests/fixtures/umt5_wan.io.safetensors", "umt5_wan", "wan", 11, 2);
    remove("build/t_text_clip.safetensors"); remove("build/t_text_t5.safetensors");
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_text");
}
