/* FLUX.1 DiT: the dev fixture (BFL keys, reference from BFL's `Flux`) through the model API, and the same
   weights renamed into the other layouts the loader knows: ComfyUI (prefix), diffusers (separate q/k/v,
   swapped norm_out halves) and schnell (no guidance_in). The renamed checkpoints are written by this test
   into build/ (a committed diffusers copy would be another 10 MB); the diffusers renaming below is
   written from diffusers' conversion facts independently of the header's key tables, and
   tools/flux_to_diffusers.py produces the same names (checked against diffusers' FluxTransformer2DModel). */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FX_W  "tests/fixtures/flux_dev_dit.weights.safetensors"
#define FX_IO "tests/fixtures/flux_dev_dit.io.safetensors"
#define TMP   "build/test_flux.tmp.safetensors"

/* --- writing renamed copies ------------------------------------------------------------- */
typedef struct conv { ds_write_tensor t[256]; char names[256][128]; void *owned[256]; int n; } conv;

static void conv_add(conv *c, const char *name, const ds_tensor *src, int64_t row0, int64_t rows) {
    int64_t row_bytes = (int64_t)(src->nbytes / (uint64_t)src->shape[0]);
    ds_write_tensor *t = &c->t[c->n];
    snprintf(c->names[c->n], sizeof c->names[0], "%s", name);
    t->name = c->names[c->n]; t->dtype = src->dtype; t->ndim = src->ndim;
    memcpy(t->shape, src->shape, sizeof t->shape);
    t->shape[0] = rows;
    t->data = (const uint8_t *)src->data + row0 * row_bytes;
    c->owned[c->n++] = NULL;
}
/* rows [h, 2h) then [0, h): diffusers' (scale, shift) from BFL's (shift, scale) */
static void conv_add_swapped(conv *c, const char *name, const ds_tensor *src) {
    size_t half = (size_t)src->nbytes / 2;
    uint8_t *buf = (uint8_t *)malloc((size_t)src->nbytes);
    memcpy(buf, (const uint8_t *)src->data + half, half);
    memcpy(buf + half, src->data, half);
    conv_add(c, name, src, 0, src->shape[0]);
    c->t[c->n - 1].data = buf; c->owned[c->n - 1] = buf;
}
static ds_result conv_write(ds_ctx *ctx, conv *c, const char *path) {
    ds_result r = ds_safetensors_write(ctx, path, c->t, c->n, NULL);
    int i;
    for (i = 0; i < c->n; i++) free(c->owned[i]);
    c->n = 0;
    return r;
}

/* BFL -> diffusers, one tensor. hidden: rows of q, k and v. */
static void to_diffusers(conv *c, const ds_tensor *t, int64_t hidden) {
    static const char *const top[][2] = {
        { "img_in", "x_embedder" }, { "txt_in", "context_embedder" },
        { "time_in.in_layer", "time_text_embed.timestep_embedder.linear_1" }, { "time_in.out_layer", "time_text_embed.timestep_embedder.linear_2" },
        { "vector_in.in_layer", "time_text_embed.text_embedder.linear_1" }, { "vector_in.out_layer", "time_text_embed.text_embedder.linear_2" },
        { "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1" }, { "guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2" },
        { "final_layer.linear", "proj_out" },
    };
    static const char *const dbl[][2] = {
        { "img_mod.lin", "norm1.linear" }, { "txt_mod.lin", "norm1_context.linear" },
        { "img_attn.proj", "attn.to_out.0" }, { "txt_attn.proj", "attn.to_add_out" },
        { "img_attn.norm.query_norm", "attn.norm_q" }, { "img_attn.norm.key_norm", "attn.norm_k" },
        { "txt_attn.norm.query_norm", "attn.norm_added_q" }, { "txt_attn.norm.key_norm", "attn.norm_added_k" },
        { "img_mlp.0", "ff.net.0.proj" }, { "img_mlp.2", "ff.net.2" },
        { "txt_mlp.0", "ff_context.net.0.proj" }, { "txt_mlp.2", "ff_context.net.2" },
    };
    static const char *const sgl[][2] = {
        { "modulation.lin", "norm.linear" }, { "linear2", "proj_out" },
        { "norm.query_norm", "attn.norm_q" }, { "norm.key_norm", "attn.norm_k" },
    };
    static const char *const img_qkv[] = { "attn.to_q", "attn.to_k", "attn.to_v" };
    static const char *const txt_qkv[] = { "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj" };
    static const char *const lin1[] = { "attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp" };
    char stem[128], out[160], pre[64] = "";
    const char *suffix = strrchr(t->name, '.') + 1, *rest = t->name;
    int blk, n = 0, i;
    if (sscanf(t->name, "double_blocks.%d.%n", &blk, &n) == 1 && n) { snprintf(pre, sizeof pre, "transformer_blocks.%d.", blk); rest += n; }
    else if (sscanf(t->name, "single_blocks.%d.%n", &blk, &n) == 1 && n) { snprintf(pre, sizeof pre, "single_transformer_blocks.%d.", blk); rest += n; }
    snprintf(stem, sizeof stem, "%.*s", (int)(suffix - 1 - rest), rest);
    if (!strcmp(suffix, "scale")) suffix = "weight";          /* RMSNorm scale -> weight */
#define MAP(tab) for (i = 0; i < (int)(sizeof tab / sizeof tab[0]); i++) \
        if (!strcmp(stem, tab[i][0])) { snprintf(out, sizeof out, "%s%s.%s", pre, tab[i][1], suffix); conv_add(c, out, t, 0, t->shape[0]); return; }
    if (!strncmp(t->name, "double_blocks.", 14)) { MAP(dbl) }
    else if (!strncmp(t->name, "single_blocks.", 14)) { MAP(sgl) }
    else { MAP(top) }
#undef MAP
    if (!strcmp(stem, "img_attn.qkv") || !strcmp(stem, "txt_attn.qkv") || !strcmp(stem, "linear1")) {
        const char *const *parts = stem[0] == 'i' ? img_qkv : stem[0] == 't' ? txt_qkv : lin1;
        int np = stem[0] == 'l' ? 4 : 3;
        for (i = 0; i < np; i++) {
            snprintf(out, sizeof out, "%s%s.%s", pre, parts[i], suffix);
            conv_add(c, out, t, i * hidden, i < 3 ? hidden : t->shape[0] - 3 * hidden);
        }
        return;
    }
    if (!strcmp(stem, "final_layer.adaLN_modulation.1")) {
        snprintf(out, sizeof out, "norm_out.linear.%s", suffix);
        conv_add_swapped(c, out, t);
        return;
    }
    CHECK(0, "test has no diffusers name for %s", t->name);
}

/* --- running ------------------------------------------------------------------------------ */
static float *ref_out(const ds_weights *io, int64_t *n) {
    const ds_tensor *t = ds_weights_find(io, "out");
    *n = t ? ds_tensor_numel(t) : 0;
    return t ? (float *)t->data : NULL;
}

/* ds_forward on weights at path; returns the output (caller frees) and the detected arch. */
static float *forward_file(ds_ctx *ctx, const char *path, const ds_weights *io, ds_arch_info *ai, ds_result *res) {
    ds_weights *w = NULL; ds_outputs out; float *o = NULL;
    memset(&out, 0, sizeof out);
    *res = ds_weights_open(ctx, path, &w);
    if (*res == DS_SUCCESS) { ds_detect_arch(w, ai); *res = ds_forward(ctx, w, io, &out); }
    if (*res == DS_SUCCESS && out.n == 1) { o = out.items[0].data; out.items[0].data = NULL; }
    ds_outputs_free(ctx, &out);
    ds_weights_close(w);
    return o;
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d; ds_weights *w = NULL, *io = NULL;
    ds__flux_dit m; ds_arch_info ai; ds_result r;
    float *img, *img_ids, *txt, *txt_ids, *y, *t, *g, *got, *alt;
    const float *ref; int64_t nref, i, N, L;
    conv *c = (conv *)calloc(1, sizeof *c);
    memset(&d, 0, sizeof d);
    if (!c || ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, FX_W, &w) != DS_SUCCESS || ds_weights_open(ctx, FX_IO, &io) != DS_SUCCESS) {
        CHECK(0, "fixtures: %s", ds_ctx_last_error(ctx));
        DS_TEST_END("test_flux");
    }
    ref = ref_out(io, &nref);

    /* 1. BFL layout through the model API; the configuration comes from the shapes. */
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && !strcmp(ai.variant, "dev") && !strcmp(ai.layout, "bfl"), "detect dev/bfl");
    r = ds__flux_dit_load(ctx, w, &ai, &m);
    CHECK(r == DS_SUCCESS, "load: %s", ds_ctx_last_error(ctx));
    if (r != DS_SUCCESS) DS_TEST_END("test_flux");
    CHECK(m.c.hidden == 256 && m.c.heads == 2 && m.c.mlp == 1024 && m.c.depth == 1 && m.c.depth_single == 2 &&
          m.c.in_ch == 64 && m.c.out_ch == 64 && m.c.ctx_dim == 80 && m.c.vec_dim == 96 && m.c.guidance == 1,
          "config: hidden %lld heads %lld mlp %lld depth %d+%d in %lld ctx %lld vec %lld guidance %d", (long long)m.c.hidden,
          (long long)m.c.heads, (long long)m.c.mlp, m.c.depth, m.c.depth_single, (long long)m.c.in_ch,
          (long long)m.c.ctx_dim, (long long)m.c.vec_dim, m.c.guidance);
    img = (float *)ds_weights_find(io, "img")->data;       img_ids = (float *)ds_weights_find(io, "img_ids")->data;
    txt = (float *)ds_weights_find(io, "txt")->data;       txt_ids = (float *)ds_weights_find(io, "txt_ids")->data;
    y = (float *)ds_weights_find(io, "y")->data;           t = (float *)ds_weights_find(io, "timesteps")->data;
    g = (float *)ds_weights_find(io, "guidance")->data;
    N = ds_weights_find(io, "img")->shape[1]; L = ds_weights_find(io, "txt")->shape[1];
    got = (float *)malloc((size_t)nref * sizeof(float));
    r = ds__flux_dit_forward(ctx, &m, img, img_ids, N, txt, txt_ids, L, y, t[0], g[0], got);
    CHECK(r == DS_SUCCESS, "forward: %s", ds_ctx_last_error(ctx));
    {
        double e = ds_test_rel_l2(got, ref, nref);
        CHECK(e < 1e-3, "bfl rel L2 %.3g", e);
        printf("  flux_dev_dit bfl        rel L2 %.3g\n", e);
    }
    ds__flux_dit_free(ctx, &m);

    /* 2. ComfyUI: the same names behind "model.diffusion_model." */
    for (i = 0; i < ds_weights_count(w); i++) {
        char nm[160]; const ds_tensor *s = ds_weights_at(w, i);
        snprintf(nm, sizeof nm, "model.diffusion_model.%s", s->name);
        conv_add(c, nm, s, 0, s->shape[0]);
    }
    CHECK(conv_write(ctx, c, TMP) == DS_SUCCESS, "write comfyui copy: %s", ds_ctx_last_error(ctx));
    alt = forward_file(ctx, TMP, io, &ai, &r);
    CHECK(r == DS_SUCCESS && !strcmp(ai.prefix, "model.diffusion_model."), "comfyui: %s", ds_ctx_last_error(ctx));
    if (alt) { double e = ds_test_rel_l2(alt, got, nref); CHECK(e < 1e-6, "comfyui vs bfl rel L2 %.3g", e); }
    free(alt);

    /* 3. diffusers: q, k, v (and proj_mlp) as separate tensors, norm_out halves swapped */
    for (i = 0; i < ds_weights_count(w); i++) to_diffusers(c, ds_weights_at(w, i), 256);
    CHECK(c->n == 80, "diffusers copy has %d tensors, expected 80", c->n);
    CHECK(conv_write(ctx, c, TMP) == DS_SUCCESS, "write diffusers copy: %s", ds_ctx_last_error(ctx));
    alt = forward_file(ctx, TMP, io, &ai, &r);
    CHECK(r == DS_SUCCESS && !strcmp(ai.layout, "diffusers") && !strcmp(ai.variant, "dev"), "diffusers: %s (%s)", ds_ctx_last_error(ctx), ai.layout);
    if (alt) {
        double e = ds_test_rel_l2(alt, ref, nref);
        CHECK(e < 1e-3, "diffusers rel L2 %.3g", e);
        printf("  flux_dev_dit diffusers  rel L2 %.3g\n", e);
    }
    free(alt);

    /* 4. schnell layout (no guidance_in): loads, ignores the guidance input, runs */
    for (i = 0; i < ds_weights_count(w); i++)
        if (strncmp(ds_weights_at(w, i)->name, "guidance_in.", 12)) conv_add(c, ds_weights_at(w, i)->name, ds_weights_at(w, i), 0, ds_weights_at(w, i)->shape[0]);
    CHECK(conv_write(ctx, c, TMP) == DS_SUCCESS, "write schnell copy");
    alt = forward_file(ctx, TMP, io, &ai, &r);
    CHECK(r == DS_SUCCESS && !strcmp(ai.variant, "schnell"), "schnell: %s", ds_ctx_last_error(ctx));
    if (alt) {
        int finite = 1; for (i = 0; i < nref; i++) finite &= isfinite(alt[i]) ? 1 : 0;
        CHECK(finite && ds_test_rel_l2(alt, got, nref) > 1e-3, "schnell output: finite and without the guidance term");
    }
    free(alt);

    /* 5. bad checkpoints fail with a named error, never a crash */
    for (i = 0; i < ds_weights_count(w); i++) {
        const ds_tensor *s = ds_weights_at(w, i);
        if (strcmp(s->name, "single_blocks.1.linear2.bias")) conv_add(c, s->name, s, 0, s->shape[0]);
    }
    conv_write(ctx, c, TMP);
    alt = forward_file(ctx, TMP, io, &ai, &r);
    CHECK(!alt && r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "single_blocks.1.linear2.bias"), "missing bias: %s", ds_ctx_last_error(ctx));
    free(alt);
    for (i = 0; i < ds_weights_count(w); i++) {
        const ds_tensor *s = ds_weights_at(w, i);
        conv_add(c, s->name, s, 0, strcmp(s->name, "double_blocks.0.txt_mlp.0.weight") ? s->shape[0] : s->shape[0] / 2);
        if (!strcmp(s->name, "double_blocks.0.txt_mlp.0.bias")) c->t[c->n - 1].shape[0] /= 2;
    }
    conv_write(ctx, c, TMP);
    alt = forward_file(ctx, TMP, io, &ai, &r);
    CHECK(!alt && r == DS_ERR_SHAPE && strstr(ds_ctx_last_error(ctx), "txt_mlp.0"), "bad shape: %s", ds_ctx_last_error(ctx));
    free(alt);
    remove(TMP);

    /* 6. inputs that do not fit the model */
    {
        ds_write_tensor in[7]; int k;
        static const char *const names[7] = { "img", "img_ids", "txt", "txt_ids", "y", "timesteps", "guidance" };
        for (k = 0; k < 7; k++) {
            const ds_tensor *s = ds_weights_find(io, names[k]);
            in[k].name = names[k]; in[k].dtype = s->dtype; in[k].ndim = s->ndim;
            memcpy(in[k].shape, s->shape, sizeof in[k].shape); in[k].data = s->data;
        }
        in[2].shape[2] = 40; in[2].shape[1] *= 2;   /* txt [1, 2L, 40]: wrong context width */
        CHECK(ds_safetensors_write(ctx, TMP, in, 7, NULL) == DS_SUCCESS, "write io");
        {
            ds_weights *bad = NULL; ds_outputs out; memset(&out, 0, sizeof out);
            r = ds_weights_open(ctx, TMP, &bad);
            if (r == DS_SUCCESS) r = ds_forward(ctx, w, bad, &out);
            CHECK(r == DS_ERR_SHAPE && out.n == 0, "bad txt width: %s", ds_ctx_last_error(ctx));
            ds_outputs_free(ctx, &out); ds_weights_close(bad);
        }
        remove(TMP);
    }

    free(got); free(c);
    ds_weights_close(io); ds_weights_close(w);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_flux");
}
