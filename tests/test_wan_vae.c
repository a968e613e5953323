/* Wan2.1 VAE: the wan_vae fixture (WanVAE_ in f32 PyTorch on bf16 weights) through the model API, latent
   normalisation, spatial tiling against the untiled decode, and clean failures on bad weights and inputs. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define WEIGHTS "tests/fixtures/wan_vae.weights.safetensors"
#define IO      "tests/fixtures/wan_vae.io.safetensors"

static float *ref_of(ds_ctx *ctx, const ds_weights *io, const char *name, int64_t shape[5]) {
    int nd; float *d = NULL; int64_t sh[DS_MAX_DIMS]; int i;
    if (ds__input_f32(ctx, io, name, &nd, sh, &d) != DS_SUCCESS || nd != 5) { free(d); return NULL; }
    for (i = 0; i < 5; i++) shape[i] = sh[i];
    return d;
}

/* The fixture through ds__wan_vae_load / decode / encode (ds_forward is covered by test_models too). */
static void test_fixture(ds_ctx *ctx, const ds_weights *w, const ds_weights *io, const ds__wan_vae *m) {
    int64_t zs[5], vs[5], ds[5], ms[5];
    float *z = ref_of(ctx, io, "z", zs), *v = ref_of(ctx, io, "video", vs);
    float *dref = ref_of(ctx, io, "decoded", ds), *mref = ref_of(ctx, io, "mu", ms);
    float *dec = NULL, *mu = NULL;
    ds_outputs out;
    DS__UNUSED(w);
    CHECK(z && v && dref && mref, "fixture tensors present");
    if (!z || !v || !dref || !mref) goto done;
    CHECK(m->dim == 16 && m->z_dim == 16 && m->has_encoder && m->dec.n_blocks == 18 && m->enc.n_blocks == 14,
          "config from shapes: dim %d z %d, %d decoder / %d encoder blocks", m->dim, m->z_dim, m->dec.n_blocks, m->enc.n_blocks);
    CHECK(ds[2] == 1 + 4 * (zs[2] - 1) && ds[3] == 8 * zs[3] && ms[2] == 1 + (vs[2] - 1) / 4 && ms[4] == vs[4] / 8, "fixture shapes");
    dec = (float *)malloc((size_t)(3 * ds[2] * ds[3] * ds[4]) * sizeof(float));
    mu = (float *)malloc((size_t)(16 * ms[2] * ms[3] * ms[4]) * sizeof(float));
    CHECK(ds__wan_vae_decode(ctx, m, z, zs[2], zs[3], zs[4], dec) == DS_SUCCESS, "decode: %s", ds_ctx_last_error(ctx));
    CHECK(ds__wan_vae_encode(ctx, m, v, vs[2], vs[3], vs[4], mu) == DS_SUCCESS, "encode: %s", ds_ctx_last_error(ctx));
    {
        double ed = ds_test_rel_l2(dec, dref, 3 * ds[2] * ds[3] * ds[4]), em = ds_test_rel_l2(mu, mref, 16 * ms[2] * ms[3] * ms[4]);
        CHECK(ed < 1e-4, "decoded rel L2 %.3g", ed);
        CHECK(em < 1e-4, "mu rel L2 %.3g", em);
        printf("  wan_vae fixture (bf16 weights): decoded rel L2 %.3g, mu rel L2 %.3g\n", ed, em);
    }
    /* Extra frames past the last full chunk of 4 are ignored, as in Wan: F = 9 + 2 gives the same mu. */
    {
        int64_t F = vs[2] + 2, hw = vs[3] * vs[4], c;
        float *v2 = (float *)calloc((size_t)(3 * F * hw), sizeof(float)), *mu2 = (float *)malloc((size_t)(16 * ms[2] * ms[3] * ms[4]) * sizeof(float));
        for (c = 0; c < 3; c++) memcpy(v2 + c * F * hw, v + c * vs[2] * hw, (size_t)(vs[2] * hw) * sizeof(float));
        CHECK(ds__wan_vae_encode(ctx, m, v2, F, vs[3], vs[4], mu2) == DS_SUCCESS && ds_test_rel_l2(mu2, mu, 16 * ms[2] * ms[3] * ms[4]) == 0,
              "trailing frames ignored");
        free(v2); free(mu2);
    }
    /* ds_forward with both inputs gives both outputs. */
    memset(&out, 0, sizeof out);
    CHECK(ds_forward(ctx, w, io, &out) == DS_SUCCESS && out.n == 2 && !strcmp(out.items[0].name, "decoded") && !strcmp(out.items[1].name, "mu")
          && out.items[0].shape[2] == ds[2] && out.items[1].shape[3] == ms[3], "ds_forward outputs: %s", ds_ctx_last_error(ctx));
    ds_outputs_free(ctx, &out);
done:
    free(z); free(v); free(dref); free(mref); free(dec); free(mu);
}

static void test_normalize(void) {
    float x[16 * 3]; int c, s, bad = 0;
    for (c = 0; c < 16; c++) for (s = 0; s < 3; s++) x[c * 3 + s] = ds__wan_vae_latent_mean[c] + (float)s * ds__wan_vae_latent_std[c];
    ds__wan_vae_normalize(x, 3);
    for (c = 0; c < 16; c++) for (s = 0; s < 3; s++) if (fabsf(x[c * 3 + s] - (float)s) > 1e-6f) bad++;
    CHECK(bad == 0, "normalise: (mean + s*std) -> s");
    ds__wan_vae_denormalize(x, 3);
    for (c = 0, bad = 0; c < 16; c++) for (s = 0; s < 3; s++)
        if (fabsf(x[c * 3 + s] - (ds__wan_vae_latent_mean[c] + (float)s * ds__wan_vae_latent_std[c])) > 1e-5f) bad++;
    CHECK(bad == 0, "denormalise inverts normalise");
    CHECK(ds__wan_vae_latent_mean[0] == -0.7571f && ds__wan_vae_latent_std[15] == 1.9160f, "Wan2.1 latent tables");
}

/* Spatially tiled decode and encode (tests/fixtures/wan_vae_tiled.io.safetensors, tools/wan_vae_tiled_ref.py:
   Wan's WanVAE_ on tiles of 6x8 latents every 4x4, blended the DiffSynth way) and their error vs untiled.
   Tiling is an approximation (attention and receptive fields cross tile borders; random weights and tiny
   tiles make it large here); a tile covering the whole latent is exact. */
static void test_tiling(ds_ctx *ctx, const ds__wan_vae *m) {
    ds_weights *io = NULL; int64_t zs[5], rs[5], n, i;
    float *z = NULL, *ref = NULL, *full = NULL, *tiled = NULL;
    if (ds_weights_open(ctx, "tests/fixtures/wan_vae_tiled.io.safetensors", &io) != DS_SUCCESS) { CHECK(0, "open tiled fixture: %s", ds_ctx_last_error(ctx)); return; }
    z = ref_of(ctx, io, "z", zs); ref = ref_of(ctx, io, "decoded_tiled", rs);
    CHECK(z && ref && rs[2] == 1 + 4 * (zs[2] - 1) && rs[3] == 8 * zs[3], "tiled fixture tensors");
    if (!z || !ref) goto done;
    n = 3 * rs[2] * rs[3] * rs[4];
    full = (float *)malloc((size_t)n * sizeof(float)); tiled = (float *)malloc((size_t)n * sizeof(float));
    CHECK(ds__wan_vae_decode_tiled(ctx, m, z, zs[2], zs[3], zs[4], 6, 8, 4, 4, tiled) == DS_SUCCESS, "tiled decode: %s", ds_ctx_last_error(ctx));
    CHECK(ds__wan_vae_decode(ctx, m, z, zs[2], zs[3], zs[4], full) == DS_SUCCESS, "untiled decode");
    {
        double e = ds_test_rel_l2(tiled, ref, n), eu = ds_test_rel_l2(tiled, full, n);
        CHECK(e < 1e-4, "tiled decode vs reference: rel L2 %.3g", e);
        printf("  tiled decode (latent %lldx%lld, tile 6x8, stride 4x4): rel L2 %.3g vs reference, %.3g vs untiled\n",
               (long long)zs[3], (long long)zs[4], e, eu);
    }
    for (i = 0; i < n && tiled[i] == tiled[i]; i++) {}
    CHECK(i == n, "tiled output finite");
    CHECK(ds__wan_vae_decode_tiled(ctx, m, z, zs[2], zs[3], zs[4], 34, 34, 18, 16, tiled) == DS_SUCCESS
          && memcmp(tiled, full, (size_t)n * sizeof(float)) == 0, "one tile covering the latent == untiled");
    CHECK(ds__wan_vae_decode_tiled(ctx, m, z, zs[2], zs[3], zs[4], 6, 8, 6, 4, tiled) == DS_ERR_INVALID_ARGS, "stride >= tile rejected");
    {   /* tiled encode */
        int64_t vs[5], ms[5], nm;
        float *v = ref_of(ctx, io, "video", vs), *mref = ref_of(ctx, io, "mu_tiled", ms), *mu = NULL, *mu_full = NULL;
        CHECK(v && mref && ms[2] == 1 + (vs[2] - 1) / 4 && ms[3] == vs[3] / 8, "tiled encode fixture tensors");
        if (v && mref) {
            nm = 16 * ms[2] * ms[3] * ms[4];
            mu = (float *)malloc((size_t)nm * sizeof(float)); mu_full = (float *)malloc((size_t)nm * sizeof(float));
            CHECK(ds__wan_vae_encode_tiled(ctx, m, v, vs[2], vs[3], vs[4], 6, 8, 4, 4, mu) == DS_SUCCESS, "tiled encode: %s", ds_ctx_last_error(ctx));
            CHECK(ds__wan_vae_encode(ctx, m, v, vs[2], vs[3], vs[4], mu_full) == DS_SUCCESS, "untiled encode");
            {
                double e = ds_test_rel_l2(mu, mref, nm), eu = ds_test_rel_l2(mu, mu_full, nm);
                CHECK(e < 1e-4, "tiled encode vs reference: rel L2 %.3g", e);
                printf("  tiled encode (video %lldx%lld, tile 6x8, stride 4x4 latents): rel L2 %.3g vs reference, %.3g vs untiled\n",
                       (long long)vs[3], (long long)vs[4], e, eu);
            }
        }
        free(v); free(mref); free(mu); free(mu_full);
    }
done:
    free(z); free(ref); free(full); free(tiled);
    ds_weights_close(io);
}

/* Weights with one tensor missing or misshapen, a decoder-only file, bad inputs: clean errors. */
static void test_bad(ds_ctx *ctx, const ds_weights *w) {
    int64_t n = ds_weights_count(w), i, k = 0;
    ds_write_tensor *t = (ds_write_tensor *)calloc((size_t)n, sizeof *t);
    ds_weights *bw = NULL; ds__wan_vae m; ds_arch_info ai; ds_result r;
    int mode;
    for (mode = 0; mode < 3; mode++) {
        const char *path = "build/t_wan_vae_bad.safetensors";
        for (i = 0, k = 0; i < n; i++) {
            const ds_tensor *x = ds_weights_at(w, i);
            if (mode == 0 && !strcmp(x->name, "decoder.upsamples.7.time_conv.bias")) continue;      /* missing  */
            if (mode == 2 && !strncmp(x->name, "encoder.", 8)) continue;                            /* dec only */
            t[k].name = x->name; t[k].dtype = x->dtype; t[k].ndim = x->ndim; t[k].data = x->data;
            memcpy(t[k].shape, x->shape, sizeof x->shape);
            if (mode == 1 && !strcmp(x->name, "encoder.downsamples.3.shortcut.weight")) { t[k].ndim = 2; t[k].shape[1] = 16; } /* [32,16] */
            k++;
        }
        if (ds_safetensors_write(ctx, path, t, (int)k, NULL) != DS_SUCCESS || ds_weights_open(ctx, path, &bw) != DS_SUCCESS) {
            CHECK(0, "write test weights: %s", ds_ctx_last_error(ctx)); break;
        }
        r = ds_detect_arch(bw, &ai);
        if (r == DS_SUCCESS) r = ds__wan_vae_load(ctx, bw, &ai, &m);
        if (mode == 0) CHECK(r == DS_ERR_MISSING_TENSOR && strstr(ds_ctx_last_error(ctx), "upsamples.7.time_conv.bias"), "missing tensor: %s", ds_ctx_last_error(ctx));
        if (mode == 1) CHECK(r == DS_ERR_SHAPE && strstr(ds_ctx_last_error(ctx), "downsamples.3.shortcut"), "bad shape: %s", ds_ctx_last_error(ctx));
        if (mode == 2) {
            float z[16 * 2 * 2], v[3 * 8 * 8], out[3 * 16 * 16], mu[16];
            memset(z, 0, sizeof z); memset(v, 0, sizeof v);
            CHECK(r == DS_SUCCESS && !m.has_encoder, "decoder-only weights load");
            CHECK(ds__wan_vae_decode(ctx, &m, z, 1, 2, 2, out) == DS_SUCCESS, "decoder-only decode");
            CHECK(ds__wan_vae_encode(ctx, &m, v, 1, 8, 8, mu) == DS_ERR_MISSING_TENSOR, "decoder-only encode refused");
        }
        ds_weights_close(bw); bw = NULL;
    }
    free(t);
    /* bad inputs through ds_forward */
    {
        float z[1 * 8 * 1 * 2 * 2]; ds_write_tensor in; ds_weights *io = NULL; ds_outputs out;
        memset(z, 0, sizeof z); memset(&in, 0, sizeof in); memset(&out, 0, sizeof out);
        in.name = "z"; in.dtype = DS_F32; in.ndim = 5; in.shape[0] = 1; in.shape[1] = 8; in.shape[2] = 1; in.shape[3] = 2; in.shape[4] = 2; in.data = z;
        if (ds_safetensors_write(ctx, "build/t_wan_vae_io.safetensors", &in, 1, NULL) == DS_SUCCESS && ds_weights_open(ctx, "build/t_wan_vae_io.safetensors", &io) == DS_SUCCESS) {
            CHECK(ds_forward(ctx, w, io, &out) == DS_ERR_SHAPE && out.n == 0, "z with 8 channels rejected: %s", ds_ctx_last_error(ctx));
            ds_weights_close(io);
        } else CHECK(0, "write io");
        in.name = "video"; in.shape[1] = 3; in.shape[3] = 12; in.shape[4] = 16;
        {
            float *v = (float *)calloc(3 * 12 * 16, sizeof(float)); in.data = v;
            if (ds_safetensors_write(ctx, "build/t_wan_vae_io.safetensors", &in, 1, NULL) == DS_SUCCESS && ds_weights_open(ctx, "build/t_wan_vae_io.safetensors", &io) == DS_SUCCESS) {
                CHECK(ds_forward(ctx, w, io, &out) == DS_ERR_SHAPE && out.n == 0, "video 12x16 rejected: %s", ds_ctx_last_error(ctx));
                ds_weights_close(io);
            } else CHECK(0, "write io");
            free(v);
        }
    }
}

static int abort_now(void *u) { return *(int *)u; }

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d; ds_weights *w = NULL, *io = NULL; ds_arch_info ai; ds__wan_vae m; int stop = 0;
    memset(&d, 0, sizeof d);
    d.abort_cb = abort_now; d.abort_user = &stop;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (ds_weights_open(ctx, WEIGHTS, &w) != DS_SUCCESS || ds_weights_open(ctx, IO, &io) != DS_SUCCESS) {
        CHECK(0, "open fixture: %s", ds_ctx_last_error(ctx));
    } else {
        CHECK(ds_detect_arch(w, &ai) == DS_SUCCESS && ai.arch == DS_ARCH_WAN_VAE, "detected as wan-vae");
        CHECK(ds__wan_vae_load(ctx, w, &ai, &m) == DS_SUCCESS, "load: %s", ds_ctx_last_error(ctx));
        test_fixture(ctx, w, io, &m);
        test_normalize();
        test_tiling(ctx, &m);
        test_bad(ctx, w);
        {   /* the abort callback stops a decode between frames */
            float z[16 * 2 * 2 * 2], out[3 * 5 * 16 * 16];
            memset(z, 0, sizeof z);
            stop = 1;
            CHECK(ds__wan_vae_decode(ctx, &m, z, 2, 2, 2, out) == DS_ABORTED, "abort");
            stop = 0;
        }
    }
    ds_weights_close(io); ds_weights_close(w);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_wan_vae");
}
