/* GGUF: a file written by the gguf package (every metadata type, nested arrays, alignment 64, plain
   and quantized tensors, a 5-D tensor) against its expected list; hostile files; the GGUF writer
   read back. tools/gen_gguf_fixtures.py makes the fixtures. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

static uint64_t fnv1a64(const void *p, uint64_t n) {
    const unsigned char *b = (const unsigned char *)p; uint64_t h = 0xCBF29CE484222325ull, i;
    for (i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001B3ull; }
    return h;
}

static void test_basic(ds_ctx *ctx) {
    static const char *const meta[][2] = {
        {"general.architecture", "wan"}, {"general.alignment", "64"}, {"t.u8", "200"}, {"t.i8", "-5"}, {"t.u16", "65000"},
        {"t.i16", "-30000"}, {"t.u32", "4000000000"}, {"t.i32", "-123456"}, {"t.f32", "0.25"}, {"t.u64", "18000000000000000000"},
        {"t.i64", "-9000000000000000000"}, {"t.f64", "-1.5"}, {"t.bool", "true"}, {"t.str", "h\xc3\xa9llo w\xc3\xb6rld"},
        {"t.arr_i", "[1,2,3]"}, {"t.arr_s", "[2 x string]"}, {"t.arr_big", "[100 x i32]"}, {"t.arr_nested", "[2 x array]"}, {"t.arr_f", "[0.5,-2]"},
    };
    ds_weights *w = NULL; FILE *f; char name[256], dt[16]; int nd, k, n = 0, bad = 0;
    CHECK(ds_weights_open(ctx, "tests/fixtures/gguf/basic.gguf", &w) == DS_SUCCESS, "basic.gguf: %s", ds_ctx_last_error(ctx));
    if (!w) return;
    CHECK(ds_weights_format(w) == DS_FORMAT_GGUF, "format");
    for (k = 0; k < DS__ARRLEN(meta); k++) {
        const char *v = ds_weights_meta(w, meta[k][0]);
        CHECK(v && !strcmp(v, meta[k][1]), "meta %s = '%s' (want '%s')", meta[k][0], v ? v : "(none)", meta[k][1]);
    }
    f = fopen("tests/fixtures/gguf/basic.expected", "r");
    CHECK(f != NULL, "basic.expected");
    while (f && fscanf(f, "%255s %15s %d", name, dt, &nd) == 3) {
        const ds_tensor *t = ds_weights_find(w, name); long long s[DS_MAX_DIMS]; unsigned long long h = 0; int ok = 1;
        for (k = 0; k < nd && k < DS_MAX_DIMS; k++) if (fscanf(f, "%lld", &s[k]) != 1) ok = 0;
        if (fscanf(f, "%llx", &h) != 1) break;
        n++;
        if (!t || strcmp(ds_dtype_name(t->dtype), dt) || t->ndim != nd) ok = 0;
        for (k = 0; ok && k < nd; k++) if (t->shape[k] != s[k]) ok = 0;
        if (ok && fnv1a64(t->data, t->nbytes) != h) ok = 0;
        if (!ok) { printf("FAIL tensor %s: dtype/shape/bytes differ from gguf-py\n", name); bad++; }
    }
    if (f) fclose(f);
    CHECK(bad == 0 && n == 12 && ds_weights_count(w) == 12, "%d tensors equal gguf-py's, %d differ", n - bad, bad);
    {   /* values through the dtype converters (plain types; quant blocks belong to test_quant) */
        const ds_tensor *t = ds_weights_find(w, "i32");
        CHECK(t && ds__f32(ctx, t)[0] == -3.0f && ds__f32(ctx, t)[5] == 2.0f, "i32 values");
        t = ds_weights_find(w, "patch_embedding.weight");
        CHECK(t && t->ndim == 5 && t->shape[0] == 8 && t->shape[1] == 4 && t->shape[2] == 1 && t->shape[4] == 2, "5-D conv weight kept 5-D");
        t = ds_weights_find(w, "f32");
        CHECK(t && ((uintptr_t)t->data % 64) == 0, "alignment 64 honoured");
    }
    ds_weights_close(w);
}

static void test_hostile(ds_ctx *ctx) {
    static const struct { const char *file; ds_result r; const char *msg; } cases[] = {
        {"v1", DS_ERR_UNSUPPORTED, "version 1"}, {"byteswapped", DS_ERR_UNSUPPORTED, "byte order"},
        {"huge_counts", DS_ERR_BAD_FORMAT, "cannot fit"}, {"huge_kv", DS_ERR_BAD_FORMAT, "cannot fit"},
        {"trunc_string", DS_ERR_BAD_FORMAT, "truncated"}, {"trunc_array", DS_ERR_BAD_FORMAT, "does not fit"},
        {"bad_vtype", DS_ERR_BAD_FORMAT, "value type 77"}, {"deep_array", DS_ERR_BAD_FORMAT, "nested too deeply"},
        {"bad_align", DS_ERR_BAD_FORMAT, "power of two"}, {"zero_align", DS_ERR_BAD_FORMAT, "power of two"},
        {"neg_dim", DS_ERR_BAD_FORMAT, "negative"}, {"overflow_dims", DS_ERR_BAD_FORMAT, "overflows"},
        {"too_many_dims", DS_ERR_BAD_FORMAT, "9 dims"}, {"past_end", DS_ERR_BAD_FORMAT, "outside the file"},
        {"huge_offset", DS_ERR_BAD_FORMAT, "overflows"}, {"misaligned", DS_ERR_BAD_FORMAT, "not aligned"},
        {"unknown_type", DS_ERR_UNSUPPORTED, "unknown ggml type 99"}, {"iq2_type", DS_ERR_UNSUPPORTED, "IQ2_XXS"},
        {"partial_block", DS_ERR_BAD_FORMAT, "multiple of the Q8_0 block"}, {"dup_name", DS_ERR_BAD_FORMAT, "twice"},
        {"empty_name", DS_ERR_BAD_FORMAT, "name of 0 bytes"}, {"unaligned_f32", DS_ERR_UNSUPPORTED, "not aligned"}, {"truncated", DS_ERR_BAD_FORMAT, "truncated"},
    };
    int i; ds_weights *w = NULL;
    for (i = 0; i < DS__ARRLEN(cases); i++) {
        char path[256]; ds_result r;
        snprintf(path, sizeof path, "tests/fixtures/gguf/%s.gguf", cases[i].file);
        w = NULL; r = ds_weights_open(ctx, path, &w);
        CHECK(r == cases[i].r && !w && strstr(ds_ctx_last_error(ctx), cases[i].msg), "%s refused: %s (%s)", cases[i].file, ds_ctx_last_error(ctx), ds_result_string(r));
        ds_weights_close(w);
    }
    w = NULL;
    CHECK(ds_weights_open(ctx, "tests/fixtures/gguf/ok_small.gguf", &w) == DS_SUCCESS && w && ds_weights_find(w, "w") &&
          ds_weights_find(w, "w")->shape[0] == 2 && ((const float *)ds_weights_find(w, "w")->data)[7] == 7.0f, "the unmangled hand-made file loads");
    ds_weights_close(w);
}

static void test_writer(ds_ctx *ctx) {
    float a[6] = {1, 2, 3, 4, 5, 6}; uint16_t b[4] = {0x3C00, 0xC000, 0, 0x7BFF}; uint8_t q[2 * 34]; int i;
    ds_write_tensor t[3]; ds_weights *w = NULL; const ds_tensor *x;
    ds__gguf_kv kv[4];
    memset(t, 0, sizeof t); memset(kv, 0, sizeof kv);
    for (i = 0; i < (int)sizeof q; i++) q[i] = (uint8_t)(i * 7);
    t[0].name = "a.weight"; t[0].dtype = DS_F32; t[0].ndim = 2; t[0].shape[0] = 2; t[0].shape[1] = 3; t[0].data = a;
    t[1].name = "b"; t[1].dtype = DS_F16; t[1].ndim = 1; t[1].shape[0] = 4; t[1].data = b;
    t[2].name = "q"; t[2].dtype = DS_Q8_0; t[2].ndim = 3; t[2].shape[0] = 1; t[2].shape[1] = 2; t[2].shape[2] = 32; t[2].data = q;
    kv[0].key = "general.architecture"; kv[0].type = DS__GGUF_STR; kv[0].str = "flux";
    kv[1].key = "general.quantization_version"; kv[1].type = DS__GGUF_U32; kv[1].i = 2;
    kv[2].key = "x.f32"; kv[2].type = DS__GGUF_F32; kv[2].f = 0.5;
    kv[3].key = "x.i64"; kv[3].type = DS__GGUF_I64; kv[3].i = -7;
    CHECK(ds__gguf_write(ctx, "build/t_gguf_written.gguf", kv, 4, t, 3) == DS_SUCCESS, "gguf write: %s", ds_ctx_last_error(ctx));
    CHECK(ds_weights_open(ctx, "build/t_gguf_written.gguf", &w) == DS_SUCCESS, "read back: %s", ds_ctx_last_error(ctx));
    if (w) {
        x = ds_weights_find(w, "a.weight");
        CHECK(x && x->dtype == DS_F32 && x->shape[0] == 2 && x->shape[1] == 3 && !memcmp(x->data, a, sizeof a), "f32 round trip");
        x = ds_weights_find(w, "b");
        CHECK(x && x->dtype == DS_F16 && !memcmp(x->data, b, sizeof b), "f16 round trip");
        x = ds_weights_find(w, "q");
        CHECK(x && x->dtype == DS_Q8_0 && x->ndim == 3 && x->shape[1] == 2 && x->shape[2] == 32 && !memcmp(x->data, q, sizeof q) && ((uintptr_t)x->data % 32) == 0, "q8_0 round trip");
        CHECK(ds_weights_meta(w, "general.architecture") && !strcmp(ds_weights_meta(w, "general.architecture"), "flux") &&
              !strcmp(ds_weights_meta(w, "general.quantization_version"), "2") && !strcmp(ds_weights_meta(w, "x.f32"), "0.5") &&
              !strcmp(ds_weights_meta(w, "x.i64"), "-7"), "metadata round trip");
        ds_weights_close(w);
    }
    {   /* streaming: a missing tensor leaves no file behind */
        ds__gguf_writer g; FILE *f;
        remove("build/t_gguf_partial.gguf");
        CHECK(ds__gguf_write_begin(ctx, &g, "build/t_gguf_partial.gguf", kv, 1, t, 3) == DS_SUCCESS, "begin");
        ds__gguf_write_tensor(&g, a);
        CHECK(ds__gguf_write_end(&g) == DS_ERR_INVALID_ARGS, "end with 1 of 3 tensors fails");
        f = fopen("build/t_gguf_partial.gguf", "rb");
        CHECK(f == NULL, "no partial file");
        if (f) fclose(f);
        t[0].dtype = DS_F8_E4M3;
        CHECK(ds__gguf_write(ctx, "build/t_gguf_partial.gguf", kv, 1, t, 1) == DS_ERR_UNSUPPORTED, "fp8 has no GGUF type");
    }
}

/* Single-byte corruptions of basic.gguf and every truncation of ok_small.gguf fail cleanly (ASan run). */
static void test_mutations(ds_ctx *ctx) {
    const char *src[2] = {"tests/fixtures/gguf/basic.gguf", "tests/fixtures/gguf/ok_small.gguf"};
    int s, loaded = 0, tried = 0;
    for (s = 0; s < 2; s++) {
        FILE *f = fopen(src[s], "rb"); unsigned char *buf; long n, i;
        if (!f) { CHECK(0, "%s", src[s]); return; }
        fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
        buf = (unsigned char *)malloc((size_t)n);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); CHECK(0, "read"); return; }
        fclose(f);
        for (i = 0; i < (s ? n : 1200); i++) {   /* basic: the header part; ok_small: all prefixes */
            ds_weights *w = NULL; FILE *o = fopen("build/t_gguf_mut.gguf", "wb"); unsigned char saved = buf[i];
            if (!o) break;
            if (s == 0) { buf[i] ^= (unsigned char)(0xA5 + i); fwrite(buf, 1, (size_t)n, o); buf[i] = saved; }
            else fwrite(buf, 1, (size_t)i, o);
            fclose(o); tried++;
            if (ds_weights_open(ctx, "build/t_gguf_mut.gguf", &w) == DS_SUCCESS) { loaded++; ds_weights_close(w); }
        }
        free(buf);
    }
    remove("build/t_gguf_mut.gguf");
    CHECK(tried > 1000, "%d corrupted copies handled (%d still loaded)", tried, loaded);
}

int main(void) {
    ds_ctx *ctx; ds_ctx_desc d;
    memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    test_basic(ctx);
    test_hostile(ctx);
    test_writer(ctx);
    test_mutations(ctx);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_gguf");
}
