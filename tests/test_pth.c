/* PyTorch zip checkpoints: every tensor of umt5_wan.weights.pth against torch.load (hashes in
   tests/fixtures/umt5_wan.pth.expected), small torch.save files, and hostile files that must be
   refused with a clear error (tools/gen_pth_fixtures.py makes them all).
   `build/test_pth CKPT EXPECTED` checks any checkpoint against an expected file made the same way. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static uint64_t fnv1a64(const void *p, uint64_t n) {
    const unsigned char *b = (const unsigned char *)p; uint64_t h = 0xCBF29CE484222325ull, i;
    for (i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001B3ull; }
    return h;
}

/* Lines "name dtype ndim d0 d1 ... hash" (ndim 0: a "-" in place of the sizes). */
static void check_expected(ds_ctx *ctx, const char *ckpt, const char *expected) {
    ds_weights *w = NULL; FILE *f; char name[512], dt[16], tok[64]; int nd, k, n = 0, bad = 0;
    CHECK(ds_weights_open(ctx, ckpt, &w) == DS_SUCCESS, "open %s: %s", ckpt, ds_ctx_last_error(ctx));
    f = fopen(expected, "r");
    CHECK(f != NULL, "open %s", expected);
    if (!w || !f) { if (f) fclose(f); ds_weights_close(w); return; }
    while (fscanf(f, "%511s %15s %d", name, dt, &nd) == 3) {
        const ds_tensor *t = ds_weights_find(w, name); int64_t shape[DS_MAX_DIMS]; unsigned long long h = 0; int ok = 1;
        for (k = 0; k < nd && k < DS_MAX_DIMS; k++) if (fscanf(f, "%63s", tok) == 1) shape[k] = atoll(tok);
        if (nd == 0 && fscanf(f, "%63s", tok) != 1) break;
        if (fscanf(f, "%llx", &h) != 1) break;
        n++;
        if (!t) { printf("FAIL missing %s\n", name); bad++; continue; }
        if (strcmp(ds_dtype_name(t->dtype), dt) != 0 || t->ndim != nd) ok = 0;
        for (k = 0; ok && k < nd; k++) if (t->shape[k] != shape[k]) ok = 0;
        if (ok && fnv1a64(t->data, t->nbytes) != h) ok = 0;
        if (!ok) { printf("FAIL %s: dtype/shape/bytes differ from torch.load\n", name); bad++; }
    }
    fclose(f);
    CHECK(bad == 0 && n > 0 && n == (int)ds_weights_count(w), "%s: %d tensors equal torch.load, %d differ, %lld loaded", ckpt, n - bad, bad, (long long)ds_weights_count(w));
    ds_weights_close(w);
}

static void test_good(ds_ctx *ctx) {
    ds_weights *w = NULL; const ds_tensor *t;
    CHECK(ds_weights_open(ctx, "tests/fixtures/pth/nested.pth", &w) == DS_SUCCESS, "nested.pth: %s", ds_ctx_last_error(ctx));
    if (w) {
        CHECK(ds_weights_count(w) == 11 && ds_weights_format(w) == DS_FORMAT_PTH, "nested.pth: the state_dict's 11 tensors (%lld)", (long long)ds_weights_count(w));
        t = ds_weights_find(w, "a.weight");
        CHECK(t && t->dtype == DS_F16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && ds__f32(ctx, t)[2] == 3.25f && ds__f32(ctx, t)[5] == -1.0f, "f16 a.weight");
        t = ds_weights_find(w, "b.bias");
        CHECK(t && t->dtype == DS_BF16 && ds__f32(ctx, t)[3] == 4.5f, "bf16 b.bias");
        t = ds_weights_find(w, "row1");
        CHECK(t && t->ndim == 1 && t->shape[0] == 4 && ((const float *)t->data)[0] == 4.0f && ((const float *)t->data)[3] == 7.0f, "view with storage offset 4");
        t = ds_weights_find(w, "col");
        CHECK(t && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 1 && ((const float *)t->data)[2] == 8.0f, "[3,1] column");
        t = ds_weights_find(w, "ids");
        CHECK(t && t->dtype == DS_I64 && ((const int64_t *)t->data)[1] == -8, "int64");
        t = ds_weights_find(w, "mask");
        CHECK(t && t->dtype == DS_BOOL && ((const uint8_t *)t->data)[0] == 1 && ((const uint8_t *)t->data)[1] == 0, "bool");
        t = ds_weights_find(w, "scalar");
        CHECK(t && t->dtype == DS_F64 && t->ndim == 0 && *(const double *)t->data == 2.5, "0-dim f64");
        t = ds_weights_find(w, "param");
        CHECK(t && t->dtype == DS_F32 && ((const float *)t->data)[1] == 0.75f, "nn.Parameter");
        t = ds_weights_find(w, "f8");
        CHECK(t && t->dtype == DS_F8_E4M3 && t->shape[0] == 3 && ds__f32(ctx, t)[1] == -2.0f && ds__f32(ctx, t)[2] == 0.5f, "float8_e4m3fn (_rebuild_tensor_v3)");
        t = ds_weights_find(w, "f8b");
        CHECK(t && t->dtype == DS_F8_E5M2 && ds__f32(ctx, t)[1] == 4.0f, "float8_e5m2");
        ds_weights_close(w); w = NULL;
    }
    CHECK(ds_weights_open(ctx, "tests/fixtures/pth/flatten.pth", &w) == DS_SUCCESS, "flatten.pth: %s", ds_ctx_last_error(ctx));
    if (w) {
        CHECK(ds_weights_count(w) == 4 && ds_weights_find(w, "enc.w") && ds_weights_find(w, "dec.w") && ds_weights_find(w, "x") &&
              ds_weights_find(w, "dec.sub.b") && ((const float *)ds_weights_find(w, "dec.sub.b")->data)[0] == 7.0f, "nested dicts flatten to dotted names");
        ds_weights_close(w); w = NULL;
    }
    CHECK(ds_weights_open(ctx, "tests/fixtures/pth/zip64.pth", &w) == DS_SUCCESS, "zip64.pth: %s", ds_ctx_last_error(ctx));
    if (w) {
        t = ds_weights_find(w, "tail");
        CHECK(t && t->shape[0] == 2 && ((const float *)t->data)[1] == 6.0f && ds_weights_find(w, "w") && ds_weights_find(w, "w")->shape[1] == 3, "zip64 records");
        ds_weights_close(w);
    }
}

static void test_hostile(ds_ctx *ctx) {
    static const struct { const char *file; ds_result r; const char *msg; } cases[] = {
        {"evil_system.pth", DS_ERR_BAD_FORMAT, "system"},
        {"evil_eval.pth", DS_ERR_BAD_FORMAT, "eval"},
        {"noncontig.pth", DS_ERR_UNSUPPORTED, "non-contiguous"},
        {"bad_stride.pth", DS_ERR_UNSUPPORTED, "non-contiguous"},
        {"bad_offset.pth", DS_ERR_BAD_FORMAT, "exceeds its storage"},
        {"neg_offset.pth", DS_ERR_BAD_FORMAT, "exceeds its storage"},
        {"deflated.pth", DS_ERR_UNSUPPORTED, "compressed"},
        {"no_storage.pth", DS_ERR_BAD_FORMAT, "not in the archive"},
        {"trunc_pickle.pth", DS_ERR_BAD_FORMAT, "truncated"},
        {"unaligned.pth", DS_ERR_UNSUPPORTED, "not aligned"},
        {"truncated.pth", DS_ERR_BAD_FORMAT, "end-of-central-directory"},
        {"truncated1.pth", DS_ERR_BAD_FORMAT, "end-of-central-directory"},
    };
    int i;
    for (i = 0; i < DS__ARRLEN(cases); i++) {
        char path[256]; ds_weights *w = NULL; ds_result r;
        snprintf(path, sizeof path, "tests/fixtures/pth/%s", cases[i].file);
        r = ds_weights_open(ctx, path, &w);
        CHECK(r == cases[i].r && !w && strstr(ds_ctx_last_error(ctx), cases[i].msg), "%s refused: %s (%s)", cases[i].file, ds_ctx_last_error(ctx), ds_result_string(r));
        ds_weights_close(w);
    }
}

/* Every prefix and single-byte corruption of a small checkpoint fails cleanly or loads (ASan run). */
static void test_mutations(ds_ctx *ctx) {
    FILE *f = fopen("tests/fixtures/pth/nested.pth", "rb"); unsigned char *buf; long n, i; int loaded = 0;
    if (!f) { CHECK(0, "nested.pth"); return; }
    fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); CHECK(0, "read"); return; }
    fclose(f);
    for (i = 0; i < n; i += 3) {
        ds_weights *w = NULL; FILE *o = fopen("build/t_pth_mut.pth", "wb");
        unsigned char saved = buf[i];
        buf[i] ^= (unsigned char)(0x5A + i);
        if (!o) break;
        fwrite(buf, 1, (size_t)n, o); fclose(o);
        buf[i] = saved;
        if (ds_weights_open(ctx, "build/t_pth_mut.pth", &w) == DS_SUCCESS) { loaded++; ds_weights_close(w); }
    }
    free(buf);
    remove("build/t_pth_mut.pth");
    CHECK(1, "%ld corrupted copies handled (%d still loaded)", n / 3, loaded);
}

int main(int argc, char **argv) {
    ds_ctx *ctx; ds_ctx_desc d;
    memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (argc == 3) check_expected(ctx, argv[1], argv[2]);
    else {
        check_expected(ctx, "tests/fixtures/umt5_wan.weights.pth", "tests/fixtures/umt5_wan.pth.expected");
        test_good(ctx);
        test_hostile(ctx);
        test_mutations(ctx);
    }
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_pth");
}
