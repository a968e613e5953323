/* ds_convert (`diffsynth quantize`) and the memory section.
   1. Round trips: every reference fixture model quantized to every type, run through ds_forward and
      compared with the PyTorch reference outputs (a rel L2 table, with bounds per type).
   2. The files: tools/gguf_check.py (the gguf python package's reader plus ggml's stricter rules)
      reads every GGUF of the FLUX model and one per other model, and its dequantization must equal
      ours bit for bit. Skipped with a message where python3 or the gguf module is missing.
   3. Layouts: diffusers FLUX DiT / Wan DiT / FLUX VAE converted to the original layout must give the
      original tensors byte for byte; T5 into GGUF takes llama.cpp's names.
   4. fp8: the plain cast runs; scaled fp8 stores scale_weight = max|w| / 448 and the marker.
   5. Sequential weight residency gives the same outputs; ds_estimate_memory is sane. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

/* sens: the model's sensitivity, a factor on the bounds. The random T5 fixtures are ~10x more sensitive
   than the others (attention without 1/sqrt(d) turns small weight errors into different attention):
   quantizing only their embedding table to Q8_0 with the gguf package's own quantizer already moves the
   output by 4%. */
typedef struct qcase { const char *name, *weights, *output; int rows; double sens; } qcase;
static const qcase models[] = {   /* output compared; rows > 0: only the first rows of dim 1 (padding) */
    { "flux_dev_dit", "flux_dev_dit.weights.safetensors", "out", 0, 1 },
    { "wan_t2v_dit",  "wan_t2v_dit.weights.safetensors",  "out", 0, 1 },
    { "wan_i2v_dit",  "wan_i2v_dit.weights.safetensors",  "out", 0, 1 },
    { "t5xxl",        "t5xxl.weights.safetensors",        "last_hidden_state", 0, 10 },
    { "umt5_hf",      "umt5_hf.weights.safetensors",      "last_hidden_state", 14, 10 },
    { "umt5_wan",     "umt5_wan.weights.pth",             "last_hidden_state", 11, 10 },   /* Wan's .pth, its names */
    { "clip_l",       "clip_l.weights.safetensors",       "last_hidden_state", 0, 1 },
};
typedef struct qtype { const char *name; ds_dtype dt; const char *ext; double bound; } qtype;
static const qtype types[] = {   /* bounds: rel L2 of the model output against the reference */
    { "f32",  DS_F32,  "gguf", 1e-3 },  { "f16",  DS_F16,  "gguf", 1e-3 },  { "bf16", DS_BF16, "gguf", 1e-3 },
    { "q8_0", DS_Q8_0, "gguf", 2e-2 },  { "q6_K", DS_Q6_K, "gguf", 4e-2 },  { "q5_1", DS_Q5_1, "gguf", 8e-2 },
    { "q5_0", DS_Q5_0, "gguf", 8e-2 },  { "q5_K", DS_Q5_K, "gguf", 8e-2 },  { "q4_1", DS_Q4_1, "gguf", 1.5e-1 },
    { "q4_0", DS_Q4_0, "gguf", 1.5e-1 },{ "q4_K", DS_Q4_K, "gguf", 1.5e-1 },{ "q3_K", DS_Q3_K, "gguf", 2.5e-1 },
    { "q2_K", DS_Q2_K, "gguf", 4e-1 },  { "fp8",  DS_F8_E4M3, "safetensors", 6e-2 },
};
#define NT ((int)(sizeof types / sizeof types[0]))
#define NM ((int)(sizeof models / sizeof models[0]))

static int have_gguf_py = -1;
static int gguf_py(void) {
    if (have_gguf_py < 0) {
        have_gguf_py = system("python3 -c 'import gguf, safetensors, numpy' >/dev/null 2>&1") == 0;
        if (!have_gguf_py) printf("SKIP gguf python checks: python3 with the gguf package is not available (pip install gguf)\n");
    }
    return have_gguf_py;
}

/* The model's output on its fixture inputs against the reference: rel L2, or -1 on failure. */
static double run_model(ds_ctx *ctx, const char *weights, const qcase *c) {
    char iop[256]; ds_weights *w = NULL, *io = NULL; ds_outputs out; double e = -1; int o;
    memset(&out, 0, sizeof out);
    snprintf(iop, sizeof iop, "tests/fixtures/%s.io.safetensors", c->name);
    if (ds_weights_open(ctx, weights, &w) == DS_SUCCESS && ds_weights_open(ctx, iop, &io) == DS_SUCCESS &&
        ds_forward(ctx, w, io, &out) == DS_SUCCESS) {
        const ds_tensor *ref = ds_weights_find(io, c->output);
        for (o = 0; o < out.n && ref; o++) {
            int64_t n = ds_tensor_numel(ref), i; float *rv;
            if (strcmp(out.items[o].name, c->output) || ds_output_numel(&out.items[o]) != n) continue;
            if (c->rows) n = (int64_t)c->rows * (n / (ref->shape[0] * ref->shape[1])) * ref->shape[0];
            rv = (float *)malloc((size_t)n * sizeof(float));
            for (i = 0; i < n; i++) rv[i] = ((const float *)ref->data)[i];
            e = ds_test_rel_l2(out.items[o].data, rv, n);
            free(rv);
        }
    } else printf("  %s: %s\n", weights, ds_ctx_last_error(ctx));
    ds_outputs_free(ctx, &out);
    ds_weights_close(io); ds_weights_close(w);
    return e;
}

/* tools/gguf_check.py on path; its dequantized tensors must equal ours exactly. */
static void check_gguf(ds_ctx *ctx, const char *path, const char *arch) {
    char cmd[1024]; ds_weights *g = NULL, *d = NULL; int64_t i, bad = 0; int rc;
    if (!gguf_py()) return;
    snprintf(cmd, sizeof cmd, "python3 tools/gguf_check.py %s --arch %s --dump build/t_quant_dump.safetensors > build/t_quant_check.log 2>&1", path, arch);
    rc = system(cmd);
    CHECK(rc == 0, "gguf_check.py %s (see build/t_quant_check.log)", path);
    if (rc != 0 || ds_weights_open(ctx, path, &g) != DS_SUCCESS || ds_weights_open(ctx, "build/t_quant_dump.safetensors", &d) != DS_SUCCESS) {
        ds_weights_close(g); return;
    }
    CHECK(ds_weights_count(g) == ds_weights_count(d), "%s: %lld tensors, gguf-py %lld", path, (long long)ds_weights_count(g), (long long)ds_weights_count(d));
    for (i = 0; i < ds_weights_count(g); i++) {
        const ds_tensor *t = ds_weights_at(g, i), *r = ds_weights_find(d, t->name);
        int64_t n = ds_tensor_numel(t), k; float *x; int same = r && r->ndim == t->ndim && ds_tensor_numel(r) == n;
        for (k = 0; same && k < t->ndim; k++) same = r->shape[k] == t->shape[k];
        if (!same) { bad++; printf("  %s: shape or name differs from gguf-py\n", t->name); continue; }
        x = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
        ds__tensor_to_f32(x, t, 0, n);
        if (n && memcmp(x, r->data, (size_t)n * sizeof(float))) { bad++; printf("  %s: values differ from gguf-py\n", t->name); }
        free(x);
    }
    CHECK(bad == 0, "%s: %lld tensors read differently by gguf-py", path, (long long)bad);
    ds_weights_close(d); ds_weights_close(g);
}

/* Every tensor of a equals the tensor of the same name in b (dtype, shape, bytes), and the sets match. */
static int same_tensors(ds_ctx *ctx, const char *pa, const char *pb) {
    ds_weights *a = NULL, *b = NULL; int64_t i; int ok = 1, k;
    if (ds_weights_open(ctx, pa, &a) != DS_SUCCESS || ds_weights_open(ctx, pb, &b) != DS_SUCCESS) { ds_weights_close(a); return 0; }
    ok = ds_weights_count(a) == ds_weights_count(b);
    for (i = 0; ok && i < ds_weights_count(a); i++) {
        const ds_tensor *x = ds_weights_at(a, i), *y = ds_weights_find(b, x->name);
        ok = y && x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes && !memcmp(x->data, y->data, (size_t)x->nbytes);
        for (k = 0; ok && k < x->ndim; k++) ok = x->shape[k] == y->shape[k];
        if (!ok) printf("  %s: %s differs\n", pa, x->name);
    }
    ds_weights_close(a); ds_weights_close(b);
    return ok;
}

static ds_result convert(ds_ctx *ctx, const char *in, const char *out, ds_dtype t, int same, int scaled) {
    ds_weights *w; ds_convert_desc d; ds_result r;
    memset(&d, 0, sizeof d);
    d.type = t; d.same = same; d.fp8_scaled = scaled;
    if ((r = ds_weights_open(ctx, in, &w)) != DS_SUCCESS) return r;
    r = ds_convert(ctx, w, out, &d);
    ds_weights_close(w);
    return r;
}

static void test_round_trips(ds_ctx *ctx) {
    int m, t;
    printf("  rel L2 of the output vs the PyTorch reference, weights quantized to each type\n  %-14s", "model");
    for (t = 0; t < NT; t++) printf(" %8s", types[t].name);
    printf("\n");
    for (m = 0; m < NM; m++) {
        char in[256], out[256];
        snprintf(in, sizeof in, "tests/fixtures/%s", models[m].weights);
        printf("  %-14s", models[m].name);
        for (t = 0; t < NT; t++) {
            double e = -1;
            snprintf(out, sizeof out, "build/t_quant_%s_%s.%s", models[m].name, types[t].name, types[t].ext);
            if (convert(ctx, in, out, types[t].dt, 0, 0) == DS_SUCCESS) e = run_model(ctx, out, &models[m]);
            else printf("\n  %s: %s\n", out, ds_ctx_last_error(ctx));
            printf(" %8.2g", e);
            fflush(stdout);
            if (!(e >= 0 && e < types[t].bound * models[m].sens)) printf("\n");
            CHECK(e >= 0 && e < types[t].bound * models[m].sens, "%s %s: rel L2 %.3g (bound %.2g)", models[m].name, types[t].name, e, types[t].bound * models[m].sens);
            if (types[t].ext[0] == 'g' && (m == 0 || types[t].dt == DS_Q4_K))
                check_gguf(ctx, out, m == 0 ? "flux" : m <= 2 ? "wan" : m <= 5 ? "t5encoder" : "clip-text");
            if (m || t) remove(out);
        }
        printf("\n");
    }
}

static void test_layouts(ds_ctx *ctx) {
    ds_weights *w = NULL; ds_arch_info ai; int rc;
    /* Wan and FLUX VAE: the committed diffusers fixtures */
    CHECK(convert(ctx, "tests/fixtures/wan_t2v_dit_diffusers.weights.safetensors", "build/t_quant_wan.safetensors", DS_F32, 1, 0) == DS_SUCCESS, "wan diffusers: %s", ds_ctx_last_error(ctx));
    CHECK(same_tensors(ctx, "build/t_quant_wan.safetensors", "tests/fixtures/wan_t2v_dit.weights.safetensors"), "wan diffusers -> wan: the original tensors");
    CHECK(convert(ctx, "tests/fixtures/flux_vae_diffusers.weights.safetensors", "build/t_quant_vae.safetensors", DS_F32, 1, 0) == DS_SUCCESS, "vae diffusers: %s", ds_ctx_last_error(ctx));
    CHECK(same_tensors(ctx, "build/t_quant_vae.safetensors", "tests/fixtures/flux_vae.weights.safetensors"), "flux-vae diffusers -> ldm: the original tensors");
    /* FLUX: a diffusers copy made by tools/flux_to_diffusers.py (needs torch) */
    rc = system("python3 tools/flux_to_diffusers.py tests/fixtures/flux_dev_dit.weights.safetensors build/t_quant_flux_dif.safetensors >/dev/null 2>&1");
    if (rc != 0) printf("SKIP flux diffusers -> bfl: tools/flux_to_diffusers.py did not run (python3 with torch and safetensors)\n");
    else {
        CHECK(convert(ctx, "build/t_quant_flux_dif.safetensors", "build/t_quant_flux_bfl.gguf", DS_F32, 1, 0) == DS_SUCCESS, "flux diffusers: %s", ds_ctx_last_error(ctx));
        CHECK(same_tensors(ctx, "build/t_quant_flux_bfl.gguf", "tests/fixtures/flux_dev_dit.weights.safetensors"), "flux diffusers -> bfl: the original tensors (qkv concatenated, norm_out halves swapped back)");
        CHECK(convert(ctx, "build/t_quant_flux_dif.safetensors", "build/t_quant_flux_bfl.gguf", DS_Q8_0, 0, 0) == DS_SUCCESS, "flux diffusers q8_0");
        if (ds_weights_open(ctx, "build/t_quant_flux_bfl.gguf", &w) == DS_SUCCESS) {
            CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && !strcmp(ai.layout, "city96"), "diffusers -> q8_0 GGUF reads as city96 (%s)", ai.layout);
            ds_weights_close(w); w = NULL;
        }
        remove("build/t_quant_flux_dif.safetensors"); remove("build/t_quant_flux_bfl.gguf");
    }
    /* T5 in GGUF: llama.cpp names, read back by the T5 loader's "gguf" naming */
    CHECK(convert(ctx, "tests/fixtures/t5xxl.weights.safetensors", "build/t_quant_t5.gguf", DS_Q8_0, 0, 0) == DS_SUCCESS, "t5 gguf");
    if (ds_weights_open(ctx, "build/t_quant_t5.gguf", &w) == DS_SUCCESS) {
        CHECK(ds_weights_find(w, "token_embd.weight") && ds_weights_find(w, "enc.blk.0.attn_rel_b.weight") && ds_weights_find(w, "enc.output_norm.weight"),
              "t5 gguf: llama.cpp names");
        CHECK(ds_weights_find(w, "token_embd.weight") && ds_weights_find(w, "token_embd.weight")->dtype == DS_Q8_0, "t5 gguf: the embedding table stays gatherable (Q8_0)");
        CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && !strcmp(ai.layout, "gguf"), "t5 gguf: detected as %s", ai.layout);
        CHECK(!strcmp(ds_weights_meta(w, "general.architecture") ? ds_weights_meta(w, "general.architecture") : "", "t5encoder"), "t5 gguf: arch t5encoder");
        ds_weights_close(w); w = NULL;
    }
    remove("build/t_quant_t5.gguf"); remove("build/t_quant_wan.safetensors"); remove("build/t_quant_vae.safetensors");
}

static void test_rules(ds_ctx *ctx) {
    ds_weights *w = NULL; const ds_tensor *t;
    /* the first file of the round trips: FLUX at q8_0 */
    if (convert(ctx, "tests/fixtures/flux_dev_dit.weights.safetensors", "build/t_quant_rules.gguf", DS_Q4_K, 0, 0) != DS_SUCCESS ||
        ds_weights_open(ctx, "build/t_quant_rules.gguf", &w) != DS_SUCCESS) { CHECK(0, "rules: %s", ds_ctx_last_error(ctx)); return; }
    CHECK((t = ds_weights_find(w, "img_in.weight")) && t->dtype == DS_F32, "img_in stays F32");
    CHECK((t = ds_weights_find(w, "final_layer.linear.weight")) && t->dtype == DS_F32, "final_layer stays F32");
    CHECK((t = ds_weights_find(w, "double_blocks.0.img_attn.qkv.bias")) && t->dtype == DS_F32, "biases stay F32");
    CHECK((t = ds_weights_find(w, "double_blocks.0.img_attn.qkv.weight")) && t->dtype == DS_Q4_K, "qkv is Q4_K");
    CHECK(!strcmp(ds_weights_meta(w, "general.file_type") ? ds_weights_meta(w, "general.file_type") : "", "14"), "file_type 14 (Q4_K_S)");
    CHECK(!strcmp(ds_weights_meta(w, "general.quantization_version") ? ds_weights_meta(w, "general.quantization_version") : "", "2"), "quantization_version 2");
    ds_weights_close(w); w = NULL;
    /* Wan: modulation F32, 5-D patch embedding F32, text_embedding rows of 80 fall back to F16 */
    if (convert(ctx, "tests/fixtures/wan_t2v_dit.weights.safetensors", "build/t_quant_rules.gguf", DS_Q4_K, 0, 0) == DS_SUCCESS &&
        ds_weights_open(ctx, "build/t_quant_rules.gguf", &w) == DS_SUCCESS) {
        CHECK((t = ds_weights_find(w, "blocks.0.modulation")) && t->dtype == DS_F32 && t->ndim == 3, "wan modulation F32 [1, 6, dim]");
        CHECK((t = ds_weights_find(w, "patch_embedding.weight")) && t->dtype == DS_F32 && t->ndim == 5, "wan patch embedding F32, 5-D");
        CHECK((t = ds_weights_find(w, "text_embedding.0.weight")) && t->dtype == DS_F16, "rows of 80: F16 fallback");
        CHECK((t = ds_weights_find(w, "blocks.0.ffn.0.weight")) && t->dtype == DS_Q4_K, "wan ffn Q4_K");
        ds_weights_close(w); w = NULL;
    } else CHECK(0, "rules wan: %s", ds_ctx_last_error(ctx));
    /* T5 at Q4_K: rows of 64 take llama.cpp's fallback Q5_0 */
    if (convert(ctx, "tests/fixtures/t5xxl.weights.safetensors", "build/t_quant_rules.gguf", DS_Q4_K, 0, 0) == DS_SUCCESS &&
        ds_weights_open(ctx, "build/t_quant_rules.gguf", &w) == DS_SUCCESS) {
        CHECK((t = ds_weights_find(w, "enc.blk.0.attn_q.weight")) && t->dtype == DS_Q5_0, "q4_K rows of 64 -> Q5_0");
        ds_weights_close(w); w = NULL;
    }
    remove("build/t_quant_rules.gguf");
    /* refused combinations leave no file */
    CHECK(convert(ctx, "tests/fixtures/t5xxl.weights.safetensors", "build/t_quant_bad.safetensors", DS_Q4_K, 0, 0) == DS_ERR_UNSUPPORTED, "block types need GGUF");
    CHECK(convert(ctx, "tests/fixtures/t5xxl.weights.safetensors", "build/t_quant_bad.gguf", DS_F8_E4M3, 0, 0) == DS_ERR_UNSUPPORTED, "GGUF has no fp8");
    CHECK(convert(ctx, "tests/fixtures/t5xxl.weights.safetensors", "build/t_quant_bad.gguf", DS_Q8_K, 0, 0) == DS_ERR_UNSUPPORTED, "Q8_K is not a weight type");
    {
        FILE *f = fopen("build/t_quant_bad.gguf", "rb");
        CHECK(!f, "no file after a refusal");
        if (f) fclose(f);
    }
}

static void test_fp8_scaled(ds_ctx *ctx) {
    ds_weights *w = NULL, *src = NULL; const ds_tensor *t, *s, *o; int64_t n, i; double num = 0, den = 0, mx = 0;
    CHECK(convert(ctx, "tests/fixtures/flux_dev_dit.weights.safetensors", "build/t_quant_fp8s.safetensors", DS_F8_E4M3, 0, 1) == DS_SUCCESS, "fp8 scaled: %s", ds_ctx_last_error(ctx));
    if (ds_weights_open(ctx, "build/t_quant_fp8s.safetensors", &w) != DS_SUCCESS || ds_weights_open(ctx, "tests/fixtures/flux_dev_dit.weights.safetensors", &src) != DS_SUCCESS) {
        CHECK(0, "fp8 scaled: open"); ds_weights_close(w); return;
    }
    t = ds_weights_find(w, "double_blocks.0.img_mlp.0.weight"); s = ds_weights_find(w, "double_blocks.0.img_mlp.0.scale_weight");
    o = ds_weights_find(src, "double_blocks.0.img_mlp.0.weight");
    CHECK(ds_weights_find(w, "scaled_fp8") && ds_weights_find(w, "scaled_fp8")->dtype == DS_F8_E4M3, "scaled_fp8 marker");
    CHECK(t && t->dtype == DS_F8_E4M3 && s && s->dtype == DS_F32 && s->ndim == 0 && o, "weight F8_E4M3, scale_weight 0-dim F32");
    CHECK((t = ds_weights_find(w, "img_in.weight")) && t->dtype == DS_F32 && !ds_weights_find(w, "img_in.scale_weight"), "img_in stays F32, unscaled");
    t = ds_weights_find(w, "double_blocks.0.img_mlp.0.weight");
    if (t && s && o) {
        float *a, *b, sc = *(const float *)s->data;
        n = ds_tensor_numel(o);
        a = (float *)malloc((size_t)n * sizeof(float)); b = (float *)malloc((size_t)n * sizeof(float));
        ds__tensor_to_f32(a, t, 0, n); ds__tensor_to_f32(b, o, 0, n);
        for (i = 0; i < n; i++) { double d = (double)a[i] * sc - b[i]; num += d * d; den += (double)b[i] * b[i]; if (fabs(b[i]) > mx) mx = fabs(b[i]); }
        CHECK(fabs(sc - mx / 448.0) < 1e-6 * mx, "scale_weight %.6g = max|w| / 448 = %.6g", sc, mx / 448.0);
        CHECK(sqrt(num / den) < 0.05, "fp8 * scale_weight rel L2 %.3g", sqrt(num / den));
        free(a); free(b);
    }
    ds_weights_close(w); ds_weights_close(src);
    remove("build/t_quant_fp8s.safetensors");
}

static void test_memory(void) {
    static const char *const cases[] = { "flux_dev_dit", "wan_t2v_dit" };
    int c;
    for (c = 0; c < 2; c++) {
        ds_ctx *ctx[2] = { NULL, NULL }; ds_ctx_desc d; ds_weights *w[2] = { NULL, NULL }, *io = NULL; ds_outputs out[2];
        char wp[256], iop[256]; int k;
        memset(out, 0, sizeof out);
        snprintf(iop, sizeof iop, "tests/fixtures/%s.io.safetensors", cases[c]);
        snprintf(wp, sizeof wp, "tests/fixtures/%s.weights.safetensors", cases[c]);
        for (k = 0; k < 2; k++) {
            memset(&d, 0, sizeof d); d.sequential_weights = k;
            if (ds_ctx_create(&d, &ctx[k]) != DS_SUCCESS || ds_weights_open(ctx[k], wp, &w[k]) != DS_SUCCESS) continue;
            if (!io && ds_weights_open(ctx[k], iop, &io) != DS_SUCCESS) continue;
            CHECK(ds_forward(ctx[k], w[k], io, &out[k]) == DS_SUCCESS, "%s forward (sequential %d): %s", cases[c], k, ds_ctx_last_error(ctx[k]));
        }
        CHECK(out[0].n == 1 && out[1].n == 1 && ds_output_numel(&out[0].items[0]) == ds_output_numel(&out[1].items[0]) &&
              !memcmp(out[0].items[0].data, out[1].items[0].data, (size_t)ds_output_numel(&out[0].items[0]) * sizeof(float)),
              "%s: sequential residency gives the same output", cases[c]);
        if (w[0]) {
            ds_memory_desc md; ds_memory_estimate e0, e1;
            memset(&md, 0, sizeof md);
            CHECK(ds_estimate_memory(ctx[0], w[0], &md, &e0) == DS_SUCCESS, "estimate: %s", ds_ctx_last_error(ctx[0]));
            md.sequential = 1;
            CHECK(ds_estimate_memory(ctx[0], w[0], &md, &e1) == DS_SUCCESS, "estimate sequential");
            CHECK(e0.weights_resident == e0.weights_file && e1.weights_resident <= e0.weights_resident && e0.activations > 0 &&
                  e0.peak == e0.weights_resident + e0.activations + e0.scratch && e0.tokens > 0,
                  "%s estimate: weights %llu, sequential %llu, activations %llu, %lld tokens", cases[c],
                  (unsigned long long)e0.weights_file, (unsigned long long)e1.weights_resident, (unsigned long long)e0.activations, (long long)e0.tokens);
        }
        for (k = 0; k < 2; k++) { ds_outputs_free(ctx[k], &out[k]); ds_weights_close(w[k]); }
        ds_weights_close(io);
        for (k = 0; k < 2; k++) ds_ctx_destroy(ctx[k]);
    }
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    test_round_trips(ctx);
    remove("build/t_quant_flux_dev_dit_f32.gguf");
    test_layouts(ctx);
    test_rules(ctx);
    test_fp8_scaled(ctx);
    test_memory();
    remove("build/t_quant_dump.safetensors"); remove("build/t_quant_check.log");
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_quantize");
}
