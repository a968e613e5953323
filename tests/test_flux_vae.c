/* FLUX VAE (>>flux_vae): the fixture through the model API in both key layouts (LDM/BFL and
   diffusers, the latter made by tools/flux_vae_to_diffusers.py and checked there against diffusers'
   AutoencoderKL), a key prefix, optional quant convs, error paths, and tiled vs whole-image passes. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FX "tests/fixtures/"

static float *ref_f32(const ds_weights *io, const char *name, long long *n) {
    const ds_tensor *t = ds_weights_find(io, name); float *v;
    if (!t) { *n = 0; return NULL; }
    *n = ds_tensor_numel(t);
    v = (float *)malloc((size_t)*n * sizeof(float));
    ds__tensor_to_f32(v, t, 0, *n);
    return v;
}

/* Decode z and encode image of the fixture with weights w; rel L2 against the expected outputs. */
static void run_fixture(ds_ctx *ctx, const ds_weights *w, const ds_weights *io, const char *what, float **dec_out, float **mom_out) {
    ds_arch_info ai; ds__flux_vae m; long long nz, ni, nd, nm; ds_result r;
    float *z = ref_f32(io, "z", &nz), *img = ref_f32(io, "image", &ni), *dref = ref_f32(io, "decoded", &nd), *mref = ref_f32(io, "moments", &nm);
    float *dec = (float *)malloc((size_t)nd * sizeof(float)), *mom = (float *)malloc((size_t)nm * sizeof(float));
    const ds_tensor *zt = ds_weights_find(io, "z"), *it = ds_weights_find(io, "image");
    CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && ai.arch == DS_ARCH_FLUX_VAE, "%s: detected as flux-vae", what);
    r = ds__flux_vae_load(ctx, w, &ai, &m);
    CHECK(r == DS_SUCCESS, "%s: load: %s", what, ds_ctx_last_error(ctx));
    if (r == DS_SUCCESS) {
        const ds__flux_vae_config *c = &m.cfg;
        CHECK(c->ch == 32 && c->n_levels == 4 && c->ch_mult[0] == 1 && c->ch_mult[1] == 1 && c->ch_mult[2] == 2 && c->ch_mult[3] == 2 &&
              c->num_res_blocks == 1 && c->z_channels == 16 && c->img_channels == 3 && c->factor == 8,
              "%s: config ch %d levels %d mult (%d,%d,%d,%d) res %d z %d", what, c->ch, c->n_levels, c->ch_mult[0], c->ch_mult[1],
              c->ch_mult[2], c->ch_mult[3], c->num_res_blocks, c->z_channels);
        r = ds__flux_vae_decode(ctx, &m, z, zt->shape[2], zt->shape[3], dec);
        CHECK(r == DS_SUCCESS, "%s: decode: %s", what, ds_ctx_last_error(ctx));
        if (r == DS_SUCCESS) {
            double e = ds_test_rel_l2(dec, dref, nd);
            CHECK(e < 1e-3, "%s decoded rel L2 %.3g", what, e);
            printf("  %-10s decoded rel L2 %.3g\n", what, e);
        }
        r = ds__flux_vae_encode(ctx, &m, img, it->shape[2], it->shape[3], mom);
        CHECK(r == DS_SUCCESS, "%s: encode: %s", what, ds_ctx_last_error(ctx));
        if (r == DS_SUCCESS) {
            double e = ds_test_rel_l2(mom, mref, nm);
            CHECK(e < 1e-3, "%s moments rel L2 %.3g", what, e);
            printf("  %-10s moments rel L2 %.3g\n", what, e);
        }
    }
    free(z); free(img); free(dref); free(mref);
    if (dec_out) *dec_out = dec; else free(dec);
    if (mom_out) *mom_out = mom; else free(mom);
}

/* Copy of w under `prefix`, leaving out the tensor named `drop`, plus the extra tensors. */
static int write_variant(ds_ctx *ctx, const ds_weights *w, const char *path, const char *prefix, const char *drop,
                         const ds_write_tensor *extra, int n_extra) {
    int64_t n = ds_weights_count(w), i; int k = 0, e;
    ds_write_tensor *t = (ds_write_tensor *)calloc((size_t)(n + n_extra), sizeof *t);
    char **names = (char **)calloc((size_t)(n + n_extra), sizeof *names);
    ds_result r;
    for (i = 0; i < n; i++) {
        const ds_tensor *s = ds_weights_at(w, i);
        if (drop && !strcmp(s->name, drop)) continue;
        names[k] = (char *)malloc(strlen(prefix) + strlen(s->name) + 1);
        sprintf(names[k], "%s%s", prefix, s->name);
        t[k].name = names[k]; t[k].dtype = s->dtype; t[k].ndim = s->ndim; memcpy(t[k].shape, s->shape, sizeof s->shape); t[k].data = s->data;
        k++;
    }
    for (e = 0; e < n_extra; e++) {
        names[k] = (char *)malloc(strlen(prefix) + strlen(extra[e].name) + 1);
        sprintf(names[k], "%s%s", prefix, extra[e].name);
        t[k] = extra[e]; t[k].name = names[k];
        k++;
    }
    r = ds_safetensors_write(ctx, path, t, k, NULL);
    for (i = 0; i < k; i++) free(names[i]);
    free(names); free(t);
    return r == DS_SUCCESS;
}

/* y[c, s] = sum_k W[c, k] x[k, s] + b[c] (a 1x1 conv by hand) */
static void conv1x1(float *y, const float *x, const float *W, const float *b, int C, long long S) {
    int c, k; long long s;
    for (c = 0; c < C; c++)
        for (s = 0; s < S; s++) {
            double a = b[c];
            for (k = 0; k < C; k++) a += (double)W[c * C + k] * x[k * S + s];
            y[c * S + s] = (float)a;
        }
}

/* quant_conv / post_quant_conv (absent in BFL's file): must act as 1x1 convs after the encoder and
   before the decoder. Checked against the plain model fed by a hand-made 1x1 conv. */
static void test_quant_convs(ds_ctx *ctx, const ds_weights *w, const ds_weights *io, const float *mom0) {
    const char *path = "build/test_flux_vae_quant.safetensors";
    float qw[32 * 32], qb[32], pw[16 * 16], pb[16]; int i; ds_write_tensor ex[4]; ds_weights *wq = NULL;
    memset(ex, 0, sizeof ex);
    for (i = 0; i < 32 * 32; i++) qw[i] = 0.2f * ds_test_randf();
    for (i = 0; i < 32; i++) qb[i] = 0.1f * ds_test_randf();
    for (i = 0; i < 16 * 16; i++) pw[i] = 0.3f * ds_test_randf() + (i % 17 == 0 ? 1.0f : 0.0f);
    for (i = 0; i < 16; i++) pb[i] = 0.1f * ds_test_randf();
    ex[0].name = "quant_conv.weight"; ex[0].ndim = 4; ex[0].shape[0] = 32; ex[0].shape[1] = 32; ex[0].shape[2] = ex[0].shape[3] = 1; ex[0].data = qw;
    ex[1].name = "quant_conv.bias"; ex[1].ndim = 1; ex[1].shape[0] = 32; ex[1].data = qb;
    ex[2].name = "post_quant_conv.weight"; ex[2].ndim = 4; ex[2].shape[0] = 16; ex[2].shape[1] = 16; ex[2].shape[2] = ex[2].shape[3] = 1; ex[2].data = pw;
    ex[3].name = "post_quant_conv.bias"; ex[3].ndim = 1; ex[3].shape[0] = 16; ex[3].data = pb;
    for (i = 0; i < 4; i++) ex[i].dtype = DS_F32;
    if (!write_variant(ctx, w, path, "", NULL, ex, 4) || ds_weights_open(ctx, path, &wq) != DS_SUCCESS) { CHECK(0, "quant variant: %s", ds_ctx_last_error(ctx)); return; }
    {
        ds_arch_info ai; ds__flux_vae mq, m0; long long nz, ni, S; float *z = ref_f32(io, "z", &nz), *img = ref_f32(io, "image", &ni);
        const ds_tensor *zt = ds_weights_find(io, "z"), *it = ds_weights_find(io, "image");
        float *zq = (float *)malloc((size_t)nz * sizeof(float)), *dq = (float *)malloc((size_t)3 * nz / 16 * 64 * sizeof(float));
        float *dref = (float *)malloc((size_t)3 * nz / 16 * 64 * sizeof(float)), *mq_out = NULL, *mref = NULL;
        ds_detect_arch(wq, &ai);
        CHECK(ds__flux_vae_load(ctx, wq, &ai, &mq) == DS_SUCCESS && mq.quant_w && mq.post_quant_w, "quant variant loads with both convs: %s", ds_ctx_last_error(ctx));
        ds_detect_arch(w, &ai);
        ds__flux_vae_load(ctx, w, &ai, &m0);
        S = zt->shape[2] * zt->shape[3];
        conv1x1(zq, z, pw, pb, 16, S);
        CHECK(ds__flux_vae_decode(ctx, &mq, z, zt->shape[2], zt->shape[3], dq) == DS_SUCCESS &&
              ds__flux_vae_decode(ctx, &m0, zq, zt->shape[2], zt->shape[3], dref) == DS_SUCCESS, "quant decode runs");
        CHECK(ds_test_rel_l2(dq, dref, 3 * nz / 16 * 64) < 1e-5, "post_quant_conv before the decoder (rel %.3g)", ds_test_rel_l2(dq, dref, 3 * nz / 16 * 64));
        mq_out = (float *)malloc((size_t)32 * S * sizeof(float)); mref = (float *)malloc((size_t)32 * S * sizeof(float));
        CHECK(ds__flux_vae_encode(ctx, &mq, img, it->shape[2], it->shape[3], mq_out) == DS_SUCCESS, "quant encode runs");
        conv1x1(mref, mom0, qw, qb, 32, S);
        CHECK(ds_test_rel_l2(mq_out, mref, 32 * S) < 1e-5, "quant_conv after the encoder (rel %.3g)", ds_test_rel_l2(mq_out, mref, 32 * S));
        free(z); free(img); free(zq); free(dq); free(dref); free(mq_out); free(mref);
    }
    ds_weights_close(wq);
    remove(path);
}

/* Prefix (first_stage_model.) through ds_forward, a missing tensor, a wrong input width. */
static void test_prefix_and_errors(ds_ctx *ctx, const ds_weights *w, const ds_weights *io, const float *dec0) {
    const char *path = "build/test_flux_vae_prefixed.safetensors"; ds_weights *wp = NULL; ds_outputs out; ds_arch_info ai; ds__flux_vae m;
    memset(&out, 0, sizeof out);
    if (!write_variant(ctx, w, path, "first_stage_model.", NULL, NULL, 0) || ds_weights_open(ctx, path, &wp) != DS_SUCCESS) { CHECK(0, "prefixed copy: %s", ds_ctx_last_error(ctx)); return; }
    CHECK(ds_detect_arch(wp, &ai) == DS_SUCCESS && !strcmp(ai.prefix, "first_stage_model."), "prefix detected: '%s'", ai.prefix);
    CHECK(ds_forward(ctx, wp, io, &out) == DS_SUCCESS && out.n == 2 && !strcmp(out.items[0].name, "decoded") && !strcmp(out.items[1].name, "moments"),
          "prefixed forward gives decoded + moments: %s", ds_ctx_last_error(ctx));
    if (out.n >= 1) CHECK(ds_test_rel_l2(out.items[0].data, dec0, ds_output_numel(&out.items[0])) == 0.0, "prefixed decode identical");
    ds_outputs_free(ctx, &out);
    ds_weights_close(wp);

    if (write_variant(ctx, w, path, "vae.", "decoder.up.1.block.0.nin_shortcut.weight", NULL, 0) && ds_weights_open(ctx, path, &wp) == DS_SUCCESS) {
        ds_result r;
        ds_detect_arch(wp, &ai);
        r = ds__flux_vae_load(ctx, wp, &ai, &m);
        CHECK(r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "vae.decoder.up.1.block.0.nin_shortcut.weight"),
              "missing tensor named: %s", ds_ctx_last_error(ctx));
        ds_weights_close(wp);
    } else CHECK(0, "variant without a tensor");
    remove(path);

    ds_detect_arch(w, &ai);
    if (ds__flux_vae_load(ctx, w, &ai, &m) == DS_SUCCESS) {
        float z8[8 * 4 * 4] = {0}, o[3 * 32 * 32];
        ds__flux_vae m2 = m;
        CHECK(ds__flux_vae_decode_tiled(ctx, &m, z8, 4, 4, 4, 4, o) == DS_ERR_INVALID_ARGS, "overlap >= tile refused");
        CHECK(ds__flux_vae_encode_tiled(ctx, &m, o, 30, 32, 2, 1, z8) == DS_ERR_SHAPE, "tiled encode of a non-multiple of 8 refused");
        m2.dec.present = 0;
        CHECK(ds__flux_vae_decode(ctx, &m2, z8, 4, 4, o) == DS_ERR_MISSING_TENSOR, "decode without a decoder refused");
    }
    {   /* z with 8 channels through ds_forward */
        const char *iop = "build/test_flux_vae_badio.safetensors"; float z8[8 * 6 * 5] = {0}; ds_write_tensor t; ds_weights *bio = NULL;
        memset(&t, 0, sizeof t);
        t.name = "z"; t.dtype = DS_F32; t.ndim = 4; t.shape[0] = 1; t.shape[1] = 8; t.shape[2] = 6; t.shape[3] = 5; t.data = z8;
        if (ds_safetensors_write(ctx, iop, &t, 1, NULL) == DS_SUCCESS && ds_weights_open(ctx, iop, &bio) == DS_SUCCESS) {
            CHECK(ds_forward(ctx, w, bio, &out) == DS_ERR_SHAPE, "z with 8 channels refused: %s", ds_ctx_last_error(ctx));
            ds_weights_close(bio);
        } else CHECK(0, "bad io file");
        remove(iop);
    }
}

/* A pointwise stand-in for the decoder (each output pixel depends on one latent cell only), so
   tiling must reproduce it exactly: checks the tile layout, crops, ramps and normalisation. */
static ds_result pointwise8(ds_ctx *ctx, const ds__flux_vae *m, ds__flux_vae_gn *gn, const float *z, int64_t h, int64_t w, float *out) {
    int64_t c, y, x, k;
    (void)ctx; (void)m; (void)gn;
    for (c = 0; c < 3; c++)
        for (y = 0; y < 8 * h; y++)
            for (x = 0; x < 8 * w; x++) {
                float a = 0;
                for (k = 0; k < 16; k++) a += z[(k * h + y / 8) * w + x / 8] * (float)(c + k % 5 - 2);
                out[(c * 8 * h + y) * 8 * w + x] = tanhf(a) + 0.01f * (float)(y % 8 + x % 8);
            }
    return DS_SUCCESS;
}

/* Tiled vs whole image. Exact for a pointwise model; for the real one the tile edges (zero padding
   inside the ~14-cell receptive field), per-tile attention and GroupNorm leave an error that shrinks
   as tiles grow. Reported, and bounded loosely. */
static void test_tiling(ds_ctx *ctx, const ds_weights *w) {
    enum { h = 16, wd = 12, Z = 16, N = 3 * 64 * h * wd };
    static const int cfg[3][2] = { { 4, 2 }, { 8, 4 }, { 12, 4 } };
    ds_arch_info ai; ds__flux_vae m; int i, k, norm; double err[2][3];
    float *z = (float *)malloc(sizeof(float) * Z * h * wd), *a = (float *)malloc(sizeof(float) * N),
          *b = (float *)malloc(sizeof(float) * N), *ma = (float *)malloc(sizeof(float) * 2 * Z * h * wd),
          *mb = (float *)malloc(sizeof(float) * 2 * Z * h * wd);
    ds_detect_arch(w, &ai);
    if (ds__flux_vae_load(ctx, w, &ai, &m) != DS_SUCCESS) { CHECK(0, "load: %s", ds_ctx_last_error(ctx)); goto out; }
    for (i = 0; i < Z * h * wd; i++) z[i] = 1.7f * ds_test_randf();   /* std ~1 like a latent */

    pointwise8(ctx, &m, NULL, z, h, wd, a);
    for (k = 0; k < 3; k++) {
        CHECK(ds__flux_vae_tiled(ctx, &m, pointwise8, z, Z, 1, b, 3, 8, h, wd, cfg[k][0], cfg[k][1], DS__FLUX_VAE_NORM_TILE) == DS_SUCCESS &&
              ds_test_rel_l2(b, a, N) < 1e-6, "pointwise model: tiles %d/%d exact (rel %.3g)", cfg[k][0], cfg[k][1], ds_test_rel_l2(b, a, N));
    }
    CHECK(ds__flux_vae_tiled(ctx, &m, pointwise8, z, Z, 1, b, 3, 8, h, wd, 5, 0, DS__FLUX_VAE_NORM_TILE) == DS_SUCCESS &&
          ds_test_rel_l2(b, a, N) < 1e-6, "pointwise model: tiles 5/0 (no overlap, ragged end) exact");

    CHECK(ds__flux_vae_decode(ctx, &m, z, h, wd, a) == DS_SUCCESS, "decode %dx%d", h, wd);
    CHECK(ds__flux_vae_decode_tiled(ctx, &m, z, h, wd, 32, 8, b) == DS_SUCCESS && ds_test_rel_l2(b, a, N) == 0.0, "one tile == plain decode");
    for (norm = 0; norm < 2; norm++)
        for (k = 0; k < 3; k++) {
            err[norm][k] = 1e9;
            if (ds__flux_vae_decode_tiled_ex(ctx, &m, z, h, wd, cfg[k][0], cfg[k][1], norm, b) == DS_SUCCESS) err[norm][k] = ds_test_rel_l2(b, a, N);
            printf("  tiled decode %dx%d latent, tile %2d overlap %d, %s GroupNorm: rel L2 %.3g\n", h, wd, cfg[k][0], cfg[k][1],
                   norm ? "shared" : "per-tile", err[norm][k]);
            CHECK(err[norm][k] < 0.8, "tiled decode %d/%d norm %d rel L2 %.3g", cfg[k][0], cfg[k][1], norm, err[norm][k]);
        }
    CHECK(err[1][2] < err[1][1] && err[1][1] < err[1][0], "tiled error shrinks as tiles grow");

    /* encode the decoded image back, whole and tiled */
    CHECK(ds__flux_vae_encode(ctx, &m, a, 8 * h, 8 * wd, ma) == DS_SUCCESS, "encode %dx%d", 8 * h, 8 * wd);
    CHECK(ds__flux_vae_encode_tiled(ctx, &m, a, 8 * h, 8 * wd, 128, 8, mb) == DS_SUCCESS && ds_test_rel_l2(mb, ma, 2 * Z * h * wd) == 0.0, "one tile == plain encode");
    for (k = 0; k < 2; k++) {
        double e = 1e9;
        if (ds__flux_vae_encode_tiled(ctx, &m, a, 8 * h, 8 * wd, cfg[k][0], cfg[k][1], mb) == DS_SUCCESS) e = ds_test_rel_l2(mb, ma, 2 * Z * h * wd);
        printf("  tiled encode %dx%d image, tile %d overlap %d: rel L2 %.3g\n", 8 * h, 8 * wd, cfg[k][0], cfg[k][1], e);
        CHECK(e < 0.8, "tiled encode rel L2 %.3g", e);
    }
out:
    free(z); free(a); free(b); free(ma); free(mb);
}

int main(int argc, char **argv) {
    ds_ctx *ctx; ds_ctx_desc d; ds_weights *w = NULL, *wd = NULL, *io = NULL; float *dec0 = NULL, *mom0 = NULL, *dec1 = NULL;
    (void)argv;
    ds_test_verbose = argc > 1;
    memset(&d, 0, sizeof d);
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, FX "flux_vae.weights.safetensors", &w) != DS_SUCCESS ||
        ds_weights_open(ctx, FX "flux_vae_diffusers.weights.safetensors", &wd) != DS_SUCCESS ||
        ds_weights_open(ctx, FX "flux_vae.io.safetensors", &io) != DS_SUCCESS) {
        CHECK(0, "fixtures: %s", ds_ctx_last_error(ctx));
    } else {
        ds_arch_info ai;
        run_fixture(ctx, w, io, "ldm", &dec0, &mom0);
        CHECK(ds_detect_arch(wd, &ai) == DS_SUCCESS && !strcmp(ai.layout, "diffusers"), "diffusers layout detected (%s)", ai.layout);
        run_fixture(ctx, wd, io, "diffusers", &dec1, NULL);
        CHECK(ds_test_rel_l2(dec1, dec0, 3 * 48 * 40) < 1e-6, "diffusers == ldm decode");
        test_prefix_and_errors(ctx, w, io, dec0);
        test_quant_convs(ctx, w, io, mom0);
        test_tiling(ctx, w);
        {
            float v[4] = { -1.5f, 0.0f, 0.25f, 3.0f }, o[4]; int i; double e = 0;
            memcpy(o, v, sizeof v);
            ds__flux_vae_scale_in(o, 4);
            CHECK(fabsf(o[1] - (0.0f - 0.1159f) * 0.3611f) < 1e-7f, "scale_in = (z - 0.1159) * 0.3611");
            ds__flux_vae_scale_out(o, 4);
            for (i = 0; i < 4; i++) e += fabs(o[i] - v[i]);
            CHECK(e < 1e-5, "scale_out inverts scale_in");
        }
    }
    free(dec0); free(mom0); free(dec1);
    ds_weights_close(io); ds_weights_close(wd); ds_weights_close(w);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_flux_vae");
}
