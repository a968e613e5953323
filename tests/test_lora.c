/* LoRA: one update of every FLUX linear (and of CLIP-L's attention and MLP) in three namings
   (tests/fixtures/lora_flux_{kohya,peft,bfl}, written by tools/gen_lora_ref.py) against the outputs PEFT
   computes with it; both apply modes; several LoRAs; scale 0; the FLUX checkpoint renamed to diffusers
   layout (fused LoRA rows split over q, k, v); fp8 weights (run-time terms); error reporting; Wan key
   namings; LoHa, LoKr and full differences against updates computed here. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FX_W   "tests/fixtures/flux_dev_dit.weights.safetensors"
#define FX_IO  "tests/fixtures/flux_dev_dit.io.safetensors"
#define CLIP_W "tests/fixtures/clip_l.weights.safetensors"
#define CLIP_IO "tests/fixtures/clip_l.io.safetensors"
#define WAN_W  "tests/fixtures/wan_t2v_dit.weights.safetensors"
#define REF    "tests/fixtures/lora_ref.safetensors"
#define KOHYA  "tests/fixtures/lora_flux_kohya.safetensors"
#define PEFT   "tests/fixtures/lora_flux_peft.safetensors"
#define BFL    "tests/fixtures/lora_flux_bfl.safetensors"
#define TMP_W  "build/test_lora.weights.safetensors"
#define TMP_L  "build/test_lora.lora.safetensors"

static ds_ctx *ctx;
static ds_weights *io, *clip_io, *ref;

typedef struct lora { const char *path; float scale; ds_lora_mode mode; } lora;
static const char *const mode_name[3] = { "auto", "merge", "runtime" };

static const float *tensor_f32(const ds_weights *w, const char *name, int64_t *n) {
    const ds_tensor *t = ds_weights_find(w, name);
    *n = t && t->dtype == DS_F32 ? ds_tensor_numel(t) : 0;
    return *n ? (const float *)t->data : NULL;
}

/* ds_forward of the weights at path with the LoRAs applied; returns output `name` (caller frees). */
static float *run(const char *path, const lora *l, int n, const ds_weights *inputs, const char *name, ds_lora_report *rep) {
    ds_weights *w = NULL; ds_outputs out; float *o = NULL; int i;
    memset(&out, 0, sizeof out);
    if (ds_weights_open(ctx, path, &w) != DS_SUCCESS) { CHECK(0, "open %s: %s", path, ds_ctx_last_error(ctx)); return NULL; }
    for (i = 0; i < n; i++) {
        ds_lora_desc d; ds_result r;
        memset(&d, 0, sizeof d);
        d.path = l[i].path; d.scale = l[i].scale; d.mode = l[i].mode;
        if ((r = ds_lora_apply_desc(w, &d, rep)) != DS_SUCCESS) { CHECK(0, "apply %s: %s", l[i].path, ds_ctx_last_error(ctx)); goto done; }
    }
    if (ds_forward(ctx, w, inputs, &out) != DS_SUCCESS) { CHECK(0, "forward: %s", ds_ctx_last_error(ctx)); goto done; }
    for (i = 0; i < out.n; i++) if (!strcmp(out.items[i].name, name)) { o = out.items[i].data; out.items[i].data = NULL; }
done:
    ds_outputs_free(ctx, &out);
    ds_weights_close(w);
    return o;
}

static double check_run(const char *what, const char *path, const lora *l, int n, const ds_weights *inputs, const char *name,
                        const char *ref_name, double tol) {
    int64_t nref; const float *want = tensor_f32(ref, ref_name, &nref);
    float *got;
    double e = 1e30;
    if (!want) want = tensor_f32(inputs, ref_name, &nref);
    got = run(path, l, n, inputs, name, NULL);
    if (got && want) e = ds_test_rel_l2(got, want, nref);
    CHECK(e < tol, "%s: rel L2 %.3g", what, e);
    printf("  %-44s rel L2 %.3g\n", what, e);
    free(got);
    return e;
}

/* --- writing test checkpoints and LoRAs --------------------------------------------------- */
typedef struct wfile { ds_write_tensor t[160]; char names[160][200]; void *owned[160]; int n; } wfile;

static void wf_add(wfile *f, const char *name, ds_dtype dt, int ndim, const int64_t *shape, const void *data, void *owned) {
    ds_write_tensor *t = &f->t[f->n];
    snprintf(f->names[f->n], sizeof f->names[0], "%s", name);
    t->name = f->names[f->n]; t->dtype = dt; t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->data = data; f->owned[f->n++] = owned;
}
static float *wf_f32(wfile *f, const char *name, int64_t d0, int64_t d1) {   /* random f32 [d0, d1] (d1 0: 1-D) */
    int64_t shape[2]; int64_t i, n = d0 * (d1 ? d1 : 1);
    float *p = (float *)malloc((size_t)n * sizeof(float));
    for (i = 0; i < n; i++) p[i] = 0.1f * ds_test_randf();
    shape[0] = d0; shape[1] = d1;
    wf_add(f, name, DS_F32, d1 ? 2 : 1, shape, p, p);
    return p;
}
static void wf_scalar(wfile *f, const char *name, float v) {
    float *p = (float *)malloc(sizeof(float)); int64_t shape[1] = { 1 };
    *p = v; wf_add(f, name, DS_F32, 0, shape, p, p);
}
static ds_result wf_write(wfile *f, const char *path) {
    ds_result r = ds_safetensors_write(ctx, path, f->t, f->n, NULL);
    int i;
    for (i = 0; i < f->n; i++) free(f->owned[i]);
    f->n = 0;
    return r;
}

/* The FLUX fixture renamed to diffusers' layout (facts of diffusers' conversion, as in test_flux). */
static void write_diffusers_flux(wfile *f, const ds_weights *w) {
    static const char *const ren[][2] = {   /* BFL stem -> diffusers stem; "%d." stands for the block */
        { "img_in", "x_embedder" }, { "txt_in", "context_embedder" },
        { "time_in.in_layer", "time_text_embed.timestep_embedder.linear_1" }, { "time_in.out_layer", "time_text_embed.timestep_embedder.linear_2" },
        { "vector_in.in_layer", "time_text_embed.text_embedder.linear_1" }, { "vector_in.out_layer", "time_text_embed.text_embedder.linear_2" },
        { "guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1" }, { "guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2" },
        { "final_layer.linear", "proj_out" },
        { "d.img_mod.lin", "norm1.linear" }, { "d.txt_mod.lin", "norm1_context.linear" }, { "d.img_attn.proj", "attn.to_out.0" },
        { "d.txt_attn.proj", "attn.to_add_out" }, { "d.img_mlp.0", "ff.net.0.proj" }, { "d.img_mlp.2", "ff.net.2" },
        { "d.txt_mlp.0", "ff_context.net.0.proj" }, { "d.txt_mlp.2", "ff_context.net.2" },
        { "d.img_attn.norm.query_norm", "attn.norm_q" }, { "d.img_attn.norm.key_norm", "attn.norm_k" },
        { "d.txt_attn.norm.query_norm", "attn.norm_added_q" }, { "d.txt_attn.norm.key_norm", "attn.norm_added_k" },
        { "s.modulation.lin", "norm.linear" }, { "s.linear2", "proj_out" }, { "s.norm.query_norm", "attn.norm_q" }, { "s.norm.key_norm", "attn.norm_k" },
    };
    int64_t i;
    for (i = 0; i < ds_weights_count(w); i++) {
        const ds_tensor *t = ds_weights_at(w, i);
        char stem[128], pre[64] = "", key[130], out[200];
        const char *suffix = strrchr(t->name, '.') + 1, *rest = t->name;
        int blk, n = 0, k, found = 0;
        int64_t row_bytes = (int64_t)(t->nbytes / (uint64_t)t->shape[0]);
        if (sscanf(t->name, "double_blocks.%d.%n", &blk, &n) == 1 && n) { snprintf(pre, sizeof pre, "transformer_blocks.%d.", blk); rest += n; snprintf(key, sizeof key, "d."); }
        else if (n = 0, sscanf(t->name, "single_blocks.%d.%n", &blk, &n) == 1 && n) { snprintf(pre, sizeof pre, "single_transformer_blocks.%d.", blk); rest += n; snprintf(key, sizeof key, "s."); }
        else key[0] = 0;
        snprintf(stem, sizeof stem, "%.*s", (int)(suffix - 1 - rest), rest);
        strncat(key, stem, sizeof key - strlen(key) - 1);
        if (!strcmp(suffix, "scale")) suffix = "weight";
        for (k = 0; k < (int)(sizeof ren / sizeof ren[0]) && !found; k++)
            if (!strcmp(key, ren[k][0])) { snprintf(out, sizeof out, "%s%s.%s", pre, ren[k][1], suffix); wf_add(f, out, t->dtype, t->ndim, t->shape, t->data, NULL); found = 1; }
        if (found) continue;
        if (!strcmp(stem, "img_attn.qkv") || !strcmp(stem, "txt_attn.qkv") || !strcmp(stem, "linear1")) {
            static const char *const parts[3][4] = { { "attn.to_q", "attn.to_k", "attn.to_v", NULL },
                { "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", NULL }, { "attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp" } };
            int which = stem[0] == 'i' ? 0 : stem[0] == 't' ? 1 : 2, p;
            for (p = 0; p < 4 && parts[which][p]; p++) {
                int64_t shape[2]; shape[0] = p < 3 ? 256 : t->shape[0] - 768; shape[1] = t->ndim > 1 ? t->shape[1] : 0;
                snprintf(out, sizeof out, "%s%s.%s", pre, parts[which][p], suffix);
                wf_add(f, out, t->dtype, t->ndim, shape, (const uint8_t *)t->data + p * 256 * row_bytes, NULL);
            }
        } else if (!strcmp(stem, "final_layer.adaLN_modulation.1")) {   /* (shift, scale) -> (scale, shift) */
            uint8_t *buf = (uint8_t *)malloc((size_t)t->nbytes); size_t half = (size_t)t->nbytes / 2;
            memcpy(buf, (const uint8_t *)t->data + half, half); memcpy(buf + half, t->data, half);
            snprintf(out, sizeof out, "norm_out.linear.%s", suffix);
            wf_add(f, out, t->dtype, t->ndim, t->shape, buf, buf);
        } else CHECK(0, "no diffusers name for %s", t->name);
    }
}

/* The FLUX fixture with every 2-D weight in fp8 e4m3 (other tensors as they are). */
static void write_fp8_flux(wfile *f, const ds_weights *w) {
    int64_t i, k;
    for (i = 0; i < ds_weights_count(w); i++) {
        const ds_tensor *t = ds_weights_at(w, i);
        if (t->ndim == 2) {
            int64_t n = ds_tensor_numel(t);
            uint8_t *q = (uint8_t *)malloc((size_t)n);
            float *v = (float *)malloc((size_t)n * sizeof(float));
            ds__tensor_to_f32(v, t, 0, n);
            for (k = 0; k < n; k++) q[k] = ds__f32_to_e4m3(v[k]);
            free(v);
            wf_add(f, t->name, DS_F8_E4M3, 2, t->shape, q, q);
        } else wf_add(f, t->name, t->dtype, t->ndim, t->shape, t->data, NULL);
    }
}

/* --- 1. the PyTorch references --------------------------------------------------------------- */
static void test_flux_namings(void) {
    static const char *const files[3] = { KOHYA, PEFT, BFL };
    static const char *const fname[3] = { "kohya", "peft", "bfl" };
    int f, m;
    check_run("flux: no LoRA", FX_W, NULL, 0, io, "out", "out", 1e-3);
    for (f = 0; f < 3; f++)
        for (m = 0; m < 3; m++) {
            lora l; char what[96];
            l.path = files[f]; l.scale = 1.0f; l.mode = (ds_lora_mode)m;
            snprintf(what, sizeof what, "flux bfl-layout + %s LoRA, %s", fname[f], mode_name[m]);
            check_run(what, FX_W, &l, 1, io, "out", "flux_out", 1e-3);
        }
    {
        lora l[2] = { { KOHYA, 0.5f, DS_LORA_MERGE }, { PEFT, 0.5f, DS_LORA_RUNTIME } };
        lora h = { KOHYA, 0.5f, DS_LORA_AUTO }, z = { KOHYA, 0.0f, DS_LORA_MERGE }, zr = { PEFT, 0.0f, DS_LORA_RUNTIME };
        check_run("flux: kohya 0.5 merged + peft 0.5 run-time", FX_W, l, 2, io, "out", "flux_out", 1e-3);
        check_run("flux: kohya at scale 0.5", FX_W, &h, 1, io, "out", "flux_out_half", 1e-3);
        check_run("flux: scale 0 merged = base", FX_W, &z, 1, io, "out", "out", 1e-3);
        check_run("flux: scale 0 run-time = base", FX_W, &zr, 1, io, "out", "out", 1e-3);
    }
    {   /* merged into bf16 copies: the rounding of every patched weight shows, but stays small */
        ds_weights *w = NULL; ds_outputs out; ds_lora_desc d; int64_t n; const float *want = tensor_f32(ref, "flux_out", &n);
        memset(&out, 0, sizeof out); memset(&d, 0, sizeof d);
        d.path = KOHYA; d.scale = 1.0f; d.mode = DS_LORA_MERGE; d.keep_dtype = 1;
        if (ds_weights_open(ctx, FX_W, &w) == DS_SUCCESS && ds_lora_apply_desc(w, &d, NULL) == DS_SUCCESS &&
            ds_weights_find(w, "img_in.weight")->dtype == DS_BF16 && ds_forward(ctx, w, io, &out) == DS_SUCCESS) {
            double e = ds_test_rel_l2(out.items[0].data, want, n);
            CHECK(e < 2e-2, "keep_dtype: rel L2 %.3g", e);
            printf("  %-44s rel L2 %.3g (bf16 rounding of the merged weights)\n", "flux + kohya, merged into bf16 copies", e);
        } else CHECK(0, "keep_dtype: %s", ds_ctx_last_error(ctx));
        ds_outputs_free(ctx, &out); ds_weights_close(w);
    }
}

/* --- 2. diffusers-layout checkpoint: fused kohya / BFL rows split over q, k, v; norm_out swapped -- */
static void test_flux_diffusers_layout(const ds_weights *w) {
    static wfile f;
    static const char *const files[3] = { KOHYA, PEFT, BFL };
    static const char *const fname[3] = { "kohya", "peft", "bfl" };
    int k, m;
    write_diffusers_flux(&f, w);
    if (wf_write(&f, TMP_W) != DS_SUCCESS) { CHECK(0, "write: %s", ds_ctx_last_error(ctx)); return; }
    for (k = 0; k < 3; k++)
        for (m = 1; m < 3; m++) {
            lora l; char what[96];
            l.path = files[k]; l.scale = 1.0f; l.mode = (ds_lora_mode)m;
            snprintf(what, sizeof what, "flux diffusers-layout + %s LoRA, %s", fname[k], mode_name[m]);
            check_run(what, TMP_W, &l, 1, io, "out", "flux_out", 1e-3);
        }
}

/* --- 3. fp8 weights: AUTO adds run-time terms; the same as forced merging into f32 copies ---- */
static void test_fp8(const ds_weights *w) {
    static wfile f;
    ds_lora_report rep;
    lora a = { KOHYA, 1.0f, DS_LORA_AUTO }, mg = { KOHYA, 1.0f, DS_LORA_MERGE };
    float *x, *y;
    int64_t n; const float *base = tensor_f32(io, "out", &n);
    write_fp8_flux(&f, w);
    if (wf_write(&f, TMP_W) != DS_SUCCESS) { CHECK(0, "write: %s", ds_ctx_last_error(ctx)); return; }
    memset(&rep, 0, sizeof rep);
    x = run(TMP_W, &a, 1, io, "out", &rep);
    CHECK(rep.runtime > 0 && rep.merged == 0, "fp8 auto: %d run-time terms, %d merged", rep.runtime, rep.merged);
    y = run(TMP_W, &mg, 1, io, "out", &rep);
    CHECK(rep.merged > 0 && rep.runtime == 0, "fp8 merge: %d merged", rep.merged);
    if (x && y) {
        double e = ds_test_rel_l2(x, y, n), e2 = ds_test_rel_l2(x, base, n);
        CHECK(e < 1e-5 && e2 > 1e-2, "fp8: run-time vs merged rel L2 %.3g (vs no LoRA %.3g)", e, e2);
        printf("  %-44s rel L2 %.3g\n", "flux fp8 + kohya: run-time vs merged", e);
    }
    free(x); free(y);
}

/* --- 4. CLIP-L: lora_te1_ / text_encoder. keys; lora_unet_ / transformer. keys are "other" --- */
static void test_clip(void) {
    static const char *const files[2] = { KOHYA, PEFT };
    int k, m;
    for (k = 0; k < 2; k++)
        for (m = 1; m < 3; m++) {
            lora l; char what[96];
            l.path = files[k]; l.scale = 1.0f; l.mode = (ds_lora_mode)m;
            snprintf(what, sizeof what, "clip + %s LoRA, %s: last_hidden_state", k ? "peft" : "kohya", mode_name[m]);
            check_run(what, CLIP_W, &l, 1, clip_io, "last_hidden_state", "clip_last_hidden_state", 1e-3);
            snprintf(what, sizeof what, "clip + %s LoRA, %s: pooled", k ? "peft" : "kohya", mode_name[m]);
            check_run(what, CLIP_W, &l, 1, clip_io, "pooled", "clip_pooled", 1e-3);
        }
    {
        ds_weights *w = NULL; ds_lora_desc d; ds_lora_report rep; ds_result r;
        memset(&d, 0, sizeof d); d.path = KOHYA; d.scale = 1.0f;
        if (ds_weights_open(ctx, CLIP_W, &w) != DS_SUCCESS) return;
        r = ds_lora_apply_desc(w, &d, &rep);
        CHECK(r == DS_SUCCESS && rep.used == 54 && rep.other == rep.keys - 54 && rep.unapplied == 0,
              "clip + kohya report: %d keys, %d used, %d other, %d unapplied", rep.keys, rep.used, rep.other, rep.unapplied);
        d.path = BFL;   /* DiT only: nothing for CLIP */
        r = ds_lora_apply_desc(w, &d, &rep);
        CHECK(r == DS_ERR_MISSING_TENSOR && rep.other == rep.keys && rep.used == 0, "clip + DiT-only LoRA: %s (%d other of %d)",
              ds_ctx_last_error(ctx), rep.other, rep.keys);
        ds_weights_close(w);
    }
}

/* --- 5. errors: nothing matches, some keys do not match, shapes, arguments ------------------- */
static void test_errors(void) {
    static wfile f;
    ds_weights *w = NULL; ds_lora_desc d; ds_lora_report rep; ds_result r;
    int64_t n; const float *base = tensor_f32(io, "out", &n);
    float *o;
    memset(&d, 0, sizeof d); d.scale = 1.0f; d.path = TMP_L;
    if (ds_weights_open(ctx, FX_W, &w) != DS_SUCCESS) return;

    wf_f32(&f, "lora_unet_no_such_layer.lora_down.weight", 4, 64); wf_f32(&f, "lora_unet_no_such_layer.lora_up.weight", 256, 4);
    wf_write(&f, TMP_L);
    r = ds_lora_apply_desc(w, &d, &rep);
    CHECK(r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "lora_unet_no_such_layer"), "nothing matches: %s", ds_ctx_last_error(ctx));
    d.lenient = 1;
    CHECK(ds_lora_apply_desc(w, &d, &rep) == DS_ERR_MISSING_TENSOR, "nothing matches is an error even when lenient");
    d.lenient = 0;

    wf_f32(&f, "lora_unet_img_in.lora_down.weight", 4, 64); wf_f32(&f, "lora_unet_img_in.lora_up.weight", 256, 4);
    wf_scalar(&f, "lora_unet_img_in.alpha", 4.0f);
    wf_f32(&f, "lora_unet_img_inn.lora_down.weight", 4, 64); wf_f32(&f, "lora_unet_img_inn.lora_up.weight", 256, 4);
    wf_f32(&f, "lora_unet_txt_in.lora_down.weight", 4, 80);   /* no up */
    wf_f32(&f, "lora_unet_txt_in.dora_scale", 1, 80);
    wf_write(&f, TMP_L);
    r = ds_lora_apply_desc(w, &d, &rep);
    CHECK(r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "lora_unet_img_inn") && rep.used == 3 && rep.unapplied == 4,
          "partial match: %s (used %d, unapplied %d)", ds_ctx_last_error(ctx), rep.used, rep.unapplied);
    CHECK(ds_weights_find(w, "img_in.weight")->dtype == DS_BF16, "a refused LoRA leaves the weights alone");
    d.lenient = 1;
    r = ds_lora_apply_desc(w, &d, &rep);
    CHECK(r == DS_SUCCESS && rep.used == 3 && rep.unapplied == 4 && rep.merged == 1 && strstr(rep.first_unapplied, "txt_in"),
          "lenient: %s (used %d, unapplied %d: %s)", ds_ctx_last_error(ctx), rep.used, rep.unapplied, rep.first_unapplied);
    d.lenient = 0;
    ds_weights_close(w); w = NULL;
    o = run(FX_W, NULL, 0, io, "out", NULL);
    CHECK(o && ds_test_rel_l2(o, base, n) < 1e-3, "base output");
    free(o);

    if (ds_weights_open(ctx, FX_W, &w) != DS_SUCCESS) return;
    wf_f32(&f, "lora_unet_img_in.lora_down.weight", 4, 65); wf_f32(&f, "lora_unet_img_in.lora_up.weight", 256, 4);
    wf_write(&f, TMP_L);
    r = ds_lora_apply_desc(w, &d, &rep);
    CHECK(r == DS_ERR_SHAPE, "row length mismatch: %s", ds_ctx_last_error(ctx));
    wf_f32(&f, "transformer.transformer_blocks.0.attn.to_k.lora_A.weight", 4, 256); wf_f32(&f, "transformer.transformer_blocks.0.attn.to_k.lora_B.weight", 300, 4);
    wf_write(&f, TMP_L);
    r = ds_lora_apply_desc(w, &d, &rep);
    CHECK(r == DS_ERR_SHAPE && strstr(ds_ctx_last_error(ctx), "to_k"), "part rows mismatch: %s", ds_ctx_last_error(ctx));
    d.path = "tests/fixtures/no_such_lora.safetensors";
    CHECK(ds_lora_apply_desc(w, &d, &rep) == DS_ERR_IO, "missing file");
    CHECK(ds_lora_apply(NULL, KOHYA, 1.0f, DS_LORA_AUTO) == DS_ERR_INVALID_ARGS, "NULL model");
    CHECK(ds_lora_apply(w, KOHYA, 1.0f, (ds_lora_mode)7) == DS_ERR_INVALID_ARGS, "bad mode");
    ds_weights_close(w);
}

/* --- 6. exact updates on single weights: Wan namings, LoHa, LoKr, diff, through merge and ds__linear -- */
/* want = W + s * D over rows [row0, row0 + rows) (D [rows, K]); checks the merged weight and, for the
   run-time mode, ds__linear's output on a random x. */
static void check_update(const char *what, const char *model, const char *lora_path, ds_lora_mode mode, float scale,
                         const char *wname, int64_t row0, const double *D, int64_t rows) {
    ds_weights *w = NULL, *w0 = NULL; ds_lora_desc d; ds_lora_report rep;
    const ds_tensor *t, *t0; int64_t N, K, i, k, m; float *want, *x, *y, *yw; double e;
    memset(&d, 0, sizeof d); d.path = lora_path; d.scale = scale; d.mode = mode;
    if (ds_weights_open(ctx, model, &w) != DS_SUCCESS || ds_weights_open(ctx, model, &w0) != DS_SUCCESS) { CHECK(0, "open"); goto out; }
    if (ds_lora_apply_desc(w, &d, &rep) != DS_SUCCESS) { CHECK(0, "%s: %s", what, ds_ctx_last_error(ctx)); goto out; }
    t = ds_weights_find(w, wname); t0 = ds_weights_find(w0, wname);
    N = t0->shape[0]; K = ds_tensor_numel(t0) / N;
    want = (float *)malloc((size_t)(N * K) * sizeof(float));
    ds__tensor_to_f32(want, t0, 0, N * K);
    for (i = 0; i < rows; i++) for (k = 0; k < K; k++) want[(row0 + i) * K + k] += (float)(scale * D[i * K + k]);
    if (mode == DS_LORA_MERGE || (mode == DS_LORA_AUTO && t->dtype == DS_F32)) {
        float *got = (float *)malloc((size_t)(N * K) * sizeof(float));
        ds__tensor_to_f32(got, t, 0, N * K);
        e = ds_test_rel_l2(got, want, N * K);
        CHECK(t->dtype == DS_F32 && e < 1e-5 && rep.merged > 0, "%s: merged weight rel L2 %.3g", what, e);
        free(got);
    } else {   /* run-time: compare ds__linear(x) with x want^T */
        const int64_t M = 3;
        x = (float *)malloc((size_t)(M * K) * sizeof(float)); y = (float *)malloc((size_t)(M * N) * sizeof(float)); yw = (float *)malloc((size_t)(M * N) * sizeof(float));
        for (i = 0; i < M * K; i++) x[i] = ds_test_randf();
        for (m = 0; m < M; m++) for (i = 0; i < N; i++) { double s = 0; for (k = 0; k < K; k++) s += (double)x[m * K + k] * want[i * K + k]; yw[m * N + i] = (float)s; }
        CHECK(ds__linear(ctx, y, x, M, t, NULL) == DS_SUCCESS, "linear");
        e = ds_test_rel_l2(y, yw, M * N);
        CHECK(t->dtype != DS_F32 && e < 1e-5 && rep.runtime > 0, "%s: run-time linear rel L2 %.3g", what, e);
        free(x); free(y); free(yw);
    }
    printf("  %-44s ok\n", what);
    free(want);
out:
    ds_weights_close(w); ds_weights_close(w0);
}

static void test_exact(void) {
    static wfile f;
    static double D[512 * 256];
    int64_t i, k, q;
    float *a, *b, *a2, *b2;
    /* Wan: diffsynth (.lora_A.default), civitai (diffusion_model., alpha) and kohya (lora_unet_) names */
    {
        static const char *const names[3][2] = {
            { "blocks.1.self_attn.q.lora_A.default.weight", "blocks.1.self_attn.q.lora_B.default.weight" },
            { "diffusion_model.blocks.1.self_attn.q.lora_A.weight", "diffusion_model.blocks.1.self_attn.q.lora_B.weight" },
            { "lora_unet_blocks_1_self_attn_q.lora_down.weight", "lora_unet_blocks_1_self_attn_q.lora_up.weight" } };
        static const char *const what[3] = { "wan diffsynth LoRA (merge)", "wan civitai LoRA, alpha 2 (run-time)", "wan kohya LoRA (merge)" };
        int v;
        for (v = 0; v < 3; v++) {
            double s = v == 1 ? 2.0 / 4 : 1.0;
            a = wf_f32(&f, names[v][0], 4, 256); b = wf_f32(&f, names[v][1], 256, 4);
            for (i = 0; i < 256; i++) for (k = 0; k < 256; k++) { double x = 0; for (q = 0; q < 4; q++) x += (double)b[i * 4 + q] * a[q * 256 + k]; D[i * 256 + k] = s * x; }
            if (v == 1) wf_scalar(&f, "diffusion_model.blocks.1.self_attn.q.alpha", 2.0f);
            wf_write(&f, TMP_L);
            check_update(what[v], WAN_W, TMP_L, v == 1 ? DS_LORA_RUNTIME : DS_LORA_MERGE, 0.75f, "blocks.1.self_attn.q.weight", 0, D, 256);
        }
    }
    /* LoCon on Wan's Conv3d patch_embedding [256, 16, 1, 2, 2]: down [4, 16, 1, 2, 2], up [256, 4, 1, 1, 1]; the
       run-time term goes through the convolution's ds__linear */
    {
        int64_t sd[5] = { 4, 16, 1, 2, 2 }, su[5] = { 256, 4, 1, 1, 1 };
        a = wf_f32(&f, "diffusion_model.patch_embedding.lora_down.weight", 4, 64); b = wf_f32(&f, "diffusion_model.patch_embedding.lora_up.weight", 256, 4);
        f.t[0].ndim = 5; memcpy(f.t[0].shape, sd, sizeof sd); f.t[1].ndim = 5; memcpy(f.t[1].shape, su, sizeof su);
        for (i = 0; i < 256; i++) for (k = 0; k < 64; k++) { double x = 0; for (q = 0; q < 4; q++) x += (double)b[i * 4 + q] * a[q * 64 + k]; D[i * 64 + k] = x; }
        wf_write(&f, TMP_L);
        check_update("wan LoCon on patch_embedding (run-time)", WAN_W, TMP_L, DS_LORA_RUNTIME, 1.0f, "patch_embedding.weight", 0, D, 256);
        check_update("wan LoCon on patch_embedding (merge)", WAN_W, TMP_L, DS_LORA_MERGE, 1.0f, "patch_embedding.weight", 0, D, 256);
    }
    /* LoHa on FLUX's txt_attn.qkv k rows, named as diffusers' add_k_proj: (w1a w1b) * (w2a w2b) * alpha / 2 */
    a = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w1_a", 256, 2); b = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w1_b", 2, 256);
    a2 = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w2_a", 256, 2); b2 = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w2_b", 2, 256);
    wf_scalar(&f, "transformer.transformer_blocks.0.attn.add_k_proj.alpha", 1.0f);
    for (i = 0; i < 256; i++) for (k = 0; k < 256; k++) {
        double x1 = 0, x2 = 0; for (q = 0; q < 2; q++) { x1 += (double)a[i * 2 + q] * b[q * 256 + k]; x2 += (double)a2[i * 2 + q] * b2[q * 256 + k]; }
        D[i * 256 + k] = x1 * x2 * 0.5;
    }
    wf_write(&f, TMP_L);
    check_update("flux LoHa on add_k_proj (merge)", FX_W, TMP_L, DS_LORA_MERGE, 1.0f, "double_blocks.0.txt_attn.qkv.weight", 256, D, 256);
    a = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w1_a", 256, 2); b = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w1_b", 2, 256);
    a2 = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w2_a", 256, 2); b2 = wf_f32(&f, "transformer.transformer_blocks.0.attn.add_k_proj.hada_w2_b", 2, 256);
    for (i = 0; i < 256; i++) for (k = 0; k < 256; k++) {
        double x1 = 0, x2 = 0; for (q = 0; q < 2; q++) { x1 += (double)a[i * 2 + q] * b[q * 256 + k]; x2 += (double)a2[i * 2 + q] * b2[q * 256 + k]; }
        D[i * 256 + k] = x1 * x2;
    }
    wf_write(&f, TMP_L);
    check_update("flux LoHa on add_k_proj, no alpha (run-time)", FX_W, TMP_L, DS_LORA_RUNTIME, 0.5f, "double_blocks.0.txt_attn.qkv.weight", 256, D, 256);
    /* LoKr on img_in [256, 64]: kron(w1 [16, 8], w2_a w2_b [16, 2][2, 8]) * alpha / 2 */
    a = wf_f32(&f, "lora_unet_img_in.lokr_w1", 16, 8);
    a2 = wf_f32(&f, "lora_unet_img_in.lokr_w2_a", 16, 2); b2 = wf_f32(&f, "lora_unet_img_in.lokr_w2_b", 2, 8);
    wf_scalar(&f, "lora_unet_img_in.alpha", 4.0f);
    for (i = 0; i < 256; i++) for (k = 0; k < 64; k++) {
        double w2 = 0; for (q = 0; q < 2; q++) w2 += (double)a2[(i % 16) * 2 + q] * b2[q * 8 + k % 8];
        D[i * 64 + k] = (double)a[(i / 16) * 8 + k / 8] * w2 * 2.0;
    }
    wf_write(&f, TMP_L);
    check_update("flux LoKr on img_in (run-time)", FX_W, TMP_L, DS_LORA_RUNTIME, 1.0f, "img_in.weight", 0, D, 256);
    /* full difference on the diffusers-named norm_out (halves swapped into BFL's final_layer) */
    a = wf_f32(&f, "diffusion_model.norm_out.linear.diff", 512, 256);
    for (i = 0; i < 512; i++) for (k = 0; k < 256; k++) D[i * 256 + k] = a[((i + 256) % 512) * 256 + k];
    wf_write(&f, TMP_L);
    check_update("flux diff on norm_out.linear (swapped; merge)", FX_W, TMP_L, DS_LORA_MERGE, 1.0f, "final_layer.adaLN_modulation.1.weight", 0, D, 512);
    /* diff_b: a bias difference, always merged */
    {
        ds_weights *w = NULL; ds_lora_desc d; ds_lora_report rep; float want[256];
        const ds_tensor *bt;
        a = wf_f32(&f, "lora_unet_img_in.diff_b", 256, 0);
        memcpy(want, a, sizeof want);
        wf_write(&f, TMP_L);
        memset(&d, 0, sizeof d); d.path = TMP_L; d.scale = 2.0f; d.mode = DS_LORA_RUNTIME;
        if (ds_weights_open(ctx, FX_W, &w) == DS_SUCCESS) {
            float orig[256], got[256];
            ds__tensor_to_f32(orig, ds_weights_find(w, "img_in.bias"), 0, 256);
            CHECK(ds_lora_apply_desc(w, &d, &rep) == DS_SUCCESS, "diff_b: %s", ds_ctx_last_error(ctx));
            bt = ds_weights_find(w, "img_in.bias");
            ds__tensor_to_f32(got, bt, 0, 256);
            for (i = 0; i < 256; i++) want[i] = orig[i] + 2.0f * want[i];
            CHECK(bt->dtype == DS_F32 && ds_test_rel_l2(got, want, 256) < 1e-6, "diff_b merged into img_in.bias");
            ds_weights_close(w);
        }
    }
}

int main(void) {
    ds_ctx_desc cd; ds_weights *w = NULL;
    memset(&cd, 0, sizeof cd);
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, FX_IO, &io) != DS_SUCCESS || ds_weights_open(ctx, CLIP_IO, &clip_io) != DS_SUCCESS ||
        ds_weights_open(ctx, REF, &ref) != DS_SUCCESS || ds_weights_open(ctx, FX_W, &w) != DS_SUCCESS) {
        CHECK(0, "fixtures: %s", ds_ctx_last_error(ctx));
        DS_TEST_END("test_lora");
    }
    test_flux_namings();
    test_flux_diffusers_layout(w);
    test_fp8(w);
    test_clip();
    test_errors();
    test_exact();
    ds_weights_close(w); ds_weights_close(ref); ds_weights_close(clip_io); ds_weights_close(io);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_lora");
}
