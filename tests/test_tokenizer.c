/* Tokenizers against reference ids (tools/gen_tokenizer_tests.py): Hugging Face `tokenizers` for
   tokenizer.json / vocab.json + merges.txt / OpenAI's .gz, `sentencepiece` for .model files.
   Every string of tests/fixtures/tokenizers/strings.txt.gz must give exactly the reference ids.
   Run from the repository root: build/test_tokenizer [-v] */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"
#include "ds_test.h"
#include <stdlib.h>

#define FIX "tests/fixtures/tokenizers/"

typedef struct lines { ds__tbuf buf; char **line; int n; } lines;

/* A gzip text file split into lines (in place). */
static int read_lines(ds_ctx *ctx, const char *path, lines *l) {
    size_t i, k = 0;
    memset(l, 0, sizeof *l);
    if (ds__tok_read(ctx, path, &l->buf) != DS_SUCCESS) { printf("FAIL cannot read %s: %s\n", path, ds_ctx_last_error(ctx)); return 0; }
    for (i = 0; i < l->buf.n; i++) l->n += l->buf.p[i] == '\n';
    l->line = (char **)malloc(sizeof(char *) * (size_t)(l->n + 1));
    if (!l->line) return 0;
    l->line[k++] = l->buf.p;
    for (i = 0; i < l->buf.n; i++) if (l->buf.p[i] == '\n') { l->buf.p[i] = 0; if ((int)k <= l->n) l->line[k++] = l->buf.p + i + 1; }
    return 1;
}
static void free_lines(lines *l) { ds__tbuf_free(&l->buf); free(l->line); }

static char **g_str; static int g_n;

static int load_strings(ds_ctx *ctx) {
    lines l; int i;
    if (!read_lines(ctx, FIX "strings.txt.gz", &l)) return 0;
    g_n = l.n;
    g_str = (char **)calloc((size_t)g_n, sizeof(char *));
    for (i = 0; i < g_n; i++) {
        ds__json j; size_t n = SIZE_MAX;
        j.p = l.line[i]; j.end = l.line[i] + strlen(l.line[i]);
        { ds__json probe = j; ds__json_str(&probe, NULL, 0, &n); }
        g_str[i] = (char *)malloc(n + 1);
        if (n == SIZE_MAX || !g_str[i] || !ds__json_str(&j, g_str[i], n + 1, NULL)) { printf("FAIL bad string line %d\n", i); free_lines(&l); return 0; }
    }
    free_lines(&l);
    return 1;
}

static int parse_ids(const char *s, int32_t *out, int cap) {
    int n = 0;
    while (*s) {
        char *e; long v = strtol(s, &e, 10);
        if (e == s) break;
        if (n < cap) out[n] = (int32_t)v;
        n++; s = e;
    }
    return n;
}
static void print_ids(const char *what, const int32_t *ids, int n) {
    int i;
    printf("    %s (%d):", what, n);
    for (i = 0; i < n && i < 40; i++) printf(" %d", (int)ids[i]);
    printf(n > 40 ? " ...\n" : "\n");
}

/* Encodes every test string (no framing) and compares with the reference; returns mismatches. */
static int run_case(ds_ctx *ctx, const char *name, ds_tokenizer *tok, const char *ids_path, int limit) {
    lines ref; int i, bad = 0, shown = 0, n_str = limit && limit < g_n ? limit : g_n;
    int32_t *got = NULL, *want = NULL; size_t cap = 0;
    if (!read_lines(ctx, ids_path, &ref)) return -1;
    if (ref.n != g_n) { printf("FAIL %s: %d reference lines for %d strings\n", ids_path, ref.n, g_n); free_lines(&ref); return -1; }
    for (i = 0; i < n_str; i++) {
        int n = 0, nw; ds_result r;
        size_t need = strlen(ref.line[i]) + 2 * strlen(g_str[i]) + 64;   /* more than any tokenizer here makes */
        if (need > cap) { cap = need * 2; free(got); free(want); got = (int32_t *)malloc(cap * 4); want = (int32_t *)malloc(cap * 4); }
        r = ds_tokenizer_encode(tok, g_str[i], got, (int)cap, &n, DS_TOKENIZE_RAW);
        nw = parse_ids(ref.line[i], want, (int)cap);
        if (r != DS_SUCCESS || n != nw || memcmp(got, want, sizeof(int32_t) * (size_t)n)) {
            bad++;
            if (shown++ < 3) {
                printf("  %s: string %d differs (%s) \"%.60s\"\n", name, i, r == DS_SUCCESS ? "ids" : ds_ctx_last_error(ctx), g_str[i]);
                print_ids("got ", got, r == DS_SUCCESS ? n : 0); print_ids("want", want, nw);
            }
        }
    }
    printf("%-34s %5d strings, %d mismatches\n", name, n_str, bad);
    free(got); free(want); free_lines(&ref);
    return bad;
}

static ds_tokenizer *load(ds_ctx *ctx, const char *path) {
    ds_tokenizer *t = NULL; ds_result r = ds_tokenizer_load(ctx, path, &t);
    CHECK(r == DS_SUCCESS, "load %s: %s", path, ds_ctx_last_error(ctx));
    return r == DS_SUCCESS ? t : NULL;
}

static void test_references(ds_ctx *ctx) {
    static const struct { const char *name, *path, *ids; } cases[] = {
        { "clip bpe_simple_vocab_16e6.txt.gz", FIX "bpe_simple_vocab_16e6.txt.gz",    FIX "clip_gz.ids.gz" },
        { "clip_small tokenizer.json",         FIX "clip_small.tokenizer.json.gz",    FIX "clip_small.ids.gz" },
        { "clip_small vocab.json+merges.txt",  FIX "clip_small/vocab.json",           FIX "clip_small.ids.gz" },
        { "clip_small merges.txt+vocab.json",  FIX "clip_small/merges.txt",           FIX "clip_small.ids.gz" },
        { "clip_small folder",                 FIX "clip_small",                      FIX "clip_small.ids.gz" },
        { "clip_small_v5 tokenizer.json",      FIX "clip_small_v5.tokenizer.json.gz", FIX "clip_small_v5.ids.gz" },
        { "uni_nfkc .model (sentencepiece)",   FIX "uni_nfkc.model",                  FIX "uni_nfkc_spm.ids.gz" },
        { "uni_nfkc tokenizer.json",           FIX "uni_nfkc.tokenizer.json.gz",      FIX "uni_nfkc_hf.ids.gz" },
        { "uni_bytes .model (sentencepiece)",  FIX "uni_bytes.model",                 FIX "uni_bytes_spm.ids.gz" },
        { "uni_bytes tokenizer.json",          FIX "uni_bytes.tokenizer.json.gz",     FIX "uni_bytes_hf.ids.gz" },
        { "uni_ident .model (sentencepiece)",  FIX "uni_ident.model",                 FIX "uni_ident_spm.ids.gz" },
        { "uni_ident tokenizer.json",          FIX "uni_ident.tokenizer.json.gz",     FIX "uni_ident_hf.ids.gz" },
    };
    int c;
    CHECK(g_n >= 2000, "at least 2000 test strings (%d)", g_n);
    for (c = 0; c < DS__ARRLEN(cases); c++) {
        ds_tokenizer *t = load(ctx, cases[c].path);
        if (!t) continue;
        { int bad = run_case(ctx, cases[c].name, t, cases[c].ids, 0); CHECK(bad == 0, "%s: %d mismatches", cases[c].name, bad); }
        ds_tokenizer_free(t);
    }
}

/* The .model bytes from memory, and inside a safetensors file as ComfyUI's umT5 carries them. */
static void test_memory(ds_ctx *ctx) {
    ds__map m; ds_tokenizer *t = NULL; ds_write_tensor wt; const char *st = "build/test_tokenizer_spiece.safetensors";
    if (ds__map_file(ctx, FIX "uni_bytes.model", &m) != DS_SUCCESS) { CHECK(0, "map uni_bytes.model"); return; }
    CHECK(ds_tokenizer_load_memory(ctx, m.data, (size_t)m.size, &t) == DS_SUCCESS, "load_memory: %s", ds_ctx_last_error(ctx));
    if (t) { CHECK(run_case(ctx, "uni_bytes .model from memory", t, FIX "uni_bytes_spm.ids.gz", 400) == 0, "memory .model"); ds_tokenizer_free(t); t = NULL; }
    memset(&wt, 0, sizeof wt);
    wt.name = "spiece_model"; wt.dtype = DS_U8; wt.ndim = 1; wt.shape[0] = (int64_t)m.size; wt.data = m.data;
    if (ds_safetensors_write(ctx, st, &wt, 1, NULL) == DS_SUCCESS) {
        t = load(ctx, st);
        if (t) { CHECK(run_case(ctx, "uni_bytes from safetensors", t, FIX "uni_bytes_spm.ids.gz", 400) == 0, "safetensors spiece_model"); ds_tokenizer_free(t); }
        remove(st);
    } else CHECK(0, "write %s: %s", st, ds_ctx_last_error(ctx));
    ds__unmap(ctx, &m);
}

/* Framing and padding as the pipelines use it, against tokenizers with truncation + padding. */
static void test_framing(ds_ctx *ctx) {
    lines l; int i, bad = 0, checked = 0;
    ds_tokenizer *clip = load(ctx, FIX "bpe_simple_vocab_16e6.txt.gz");
    ds_tokenizer *nfkc = load(ctx, FIX "uni_nfkc.tokenizer.json.gz");
    ds_tokenizer *bytes = load(ctx, FIX "uni_bytes.tokenizer.json.gz");
    ds_tokenizer *spm = load(ctx, FIX "uni_nfkc.model");
    ds_tokenizer_info info;
    if (!clip || !nfkc || !bytes || !spm || !read_lines(ctx, FIX "framed.txt", &l)) goto done;
    for (i = 0; i < l.n; i++) {
        char name[32]; int max, idx, nw, n = -1, k; int32_t want[600], got[600]; ds_tokenizer *t; const char *p = l.line[i];
        if (sscanf(p, "%31s %d %d%n", name, &max, &idx, &k) != 3 || max > 600 || idx < 0 || idx >= g_n) { bad++; continue; }
        t = !strcmp(name, "clip_gz") ? clip : !strcmp(name, "uni_nfkc_hf") ? nfkc : bytes;
        nw = parse_ids(p + k, want, 600);
        if (ds_tokenizer_encode(t, g_str[idx], got, max, &n, 0) != DS_SUCCESS || nw != max || memcmp(got, want, sizeof(int32_t) * (size_t)max)) {
            if (bad++ < 3) { printf("  framing %s string %d differs\n", name, idx); print_ids("got ", got, max); print_ids("want", want, nw); }
        } else {
            /* n_out: everything before the padding, ending with the eos */
            int eos = t == clip ? 49407 : 1;
            if (n < 1 || n > max || got[n - 1] != eos || (t != clip && n < max && got[n] != 0)) { if (bad++ < 3) printf("  framing %s string %d: n_out %d\n", name, idx, n); }
        }
        checked++;
    }
    CHECK(checked > 100 && bad == 0, "framing: %d of %d framed references differ", bad, checked);
    /* sentencepiece .model: tokens truncated to make room for eos 1, then pad 0 */
    {
        int32_t raw[64], fr[16]; int nr = 0, nf = 0, j;
        const char *s = "A photo of a cat, sitting on a windowsill in the warm golden hour light";
        CHECK(ds_tokenizer_encode(spm, s, raw, 64, &nr, DS_TOKENIZE_RAW) == DS_SUCCESS && nr > 15, "spm raw");
        CHECK(ds_tokenizer_encode(spm, s, fr, 16, &nf, 0) == DS_SUCCESS && nf == 16 && fr[15] == 1 && !memcmp(fr, raw, 15 * 4), "spm framing truncates keeping eos");
        CHECK(ds_tokenizer_encode(spm, "cat", fr, 16, &nf, 0) == DS_SUCCESS && fr[nf - 1] == 1, "spm short framing");
        for (j = nf; j < 16; j++) if (fr[j] != 0) break;
        CHECK(j == 16, "spm pads with 0");
        CHECK(ds_tokenizer_encode(spm, "cat", fr, 16, &nf, DS_TOKENIZE_NO_PAD) == DS_SUCCESS && fr[nf - 1] == 1, "no-pad framing");
    }
    ds_tokenizer_get_info(clip, &info);
    CHECK(info.bos_id == 49406 && info.eos_id == 49407 && info.pad_id == 49407 && info.max_length == 77 && info.vocab_size == 49408, "clip info");
    ds_tokenizer_get_info(spm, &info);
    CHECK(info.eos_id == 1 && info.pad_id == 0 && info.bos_id == -1 && info.max_length == 512 && info.unk_id == 2, "spm info");
    free_lines(&l);
done:
    ds_tokenizer_free(clip); ds_tokenizer_free(nfkc); ds_tokenizer_free(bytes); ds_tokenizer_free(spm);
}

static void test_errors(ds_ctx *ctx) {
    static const uint8_t fixed_gz[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x90, 0x3a,
        0x0a, 0x25, 0xf9, 0xd9, 0xa9, 0x79, 0x99, 0x55, 0xa9, 0x45, 0x8a, 0x00, 0x3b, 0x8a, 0x3a, 0x44, 0x1d, 0x00, 0x00, 0x00 };
    static const uint8_t stored_gz[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0x01, 0x27, 0x00, 0xd8, 0xff, 0x73, 0x74, 0x6f, 0x72, 0x65,
        0x64, 0x20, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x20, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x64, 0x20, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x20, 0x73, 0x74, 0x6f, 0x72,
        0x65, 0x64, 0x20, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x20, 0xbb, 0xbe, 0xd9, 0xd0, 0x27, 0x00, 0x00, 0x00 };
    static const char bad_norm[] = "{\"normalizer\":{\"type\":\"BertNormalizer\"},\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0.0],[\"a\",-1.0]]}}";
    static const char tiny[] = "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0.0],[\"\\u2581a\",-1.0],[\"a\",-2.0]]},"
                               "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true}}";
    ds__tbuf b; ds_tokenizer *t = NULL; int32_t ids[8]; int n = 0; ds__map m;
    memset(&b, 0, sizeof b);
    CHECK(ds__gunzip(ctx, fixed_gz, sizeof fixed_gz, &b) == DS_SUCCESS && b.n == 29 && !memcmp(b.p, "hello hello hello, tokenizer!", 29), "inflate fixed Huffman");
    b.n = 0;
    CHECK(ds__gunzip(ctx, stored_gz, sizeof stored_gz, &b) == DS_SUCCESS && b.n == 39 && !memcmp(b.p, "stored block stored block stored block ", 39), "inflate stored block");
    b.n = 0;
    CHECK(ds__gunzip(ctx, fixed_gz, sizeof fixed_gz - 5, &b) == DS_ERR_BAD_FORMAT, "truncated gzip is refused");
    ds__tbuf_free(&b);
    if (ds__map_file(ctx, FIX "bpe_simple_vocab_16e6.txt.gz", &m) == DS_SUCCESS) {
        CHECK(ds_tokenizer_load_memory(ctx, m.data, (size_t)m.size / 2, &t) == DS_ERR_BAD_FORMAT && !t, "half a .gz is refused");
        ds__unmap(ctx, &m);
    }
    if (ds__map_file(ctx, FIX "uni_ident.model", &m) == DS_SUCCESS) {
        CHECK(ds_tokenizer_load_memory(ctx, m.data, (size_t)m.size - 7, &t) != DS_SUCCESS && !t, "truncated .model is refused");
        ds__unmap(ctx, &m);
    }
    CHECK(ds_tokenizer_load(ctx, FIX "no_such_file.json", &t) == DS_ERR_IO && !t, "missing file");
    CHECK(ds_tokenizer_load_memory(ctx, "hello", 5, &t) == DS_ERR_BAD_FORMAT && !t, "unknown content");
    CHECK(ds_tokenizer_load_memory(ctx, bad_norm, sizeof bad_norm - 1, &t) == DS_ERR_UNSUPPORTED && !t, "unsupported normalizer: %s", ds_ctx_last_error(ctx));
    CHECK(ds_tokenizer_load_memory(ctx, tiny, sizeof tiny - 1, &t) == DS_SUCCESS && t, "tiny tokenizer.json: %s", ds_ctx_last_error(ctx));
    if (t) {
        CHECK(ds_tokenizer_encode(t, "a a", ids, 8, &n, DS_TOKENIZE_RAW) == DS_SUCCESS && n == 2 && ids[0] == 1 && ids[1] == 1, "tiny encode");
        CHECK(ds_tokenizer_encode(t, "a\xff" "a", ids, 8, &n, DS_TOKENIZE_RAW) == DS_SUCCESS && n == 3 && ids[1] == 0, "invalid UTF-8 is an unknown char");
        CHECK(ds_tokenizer_encode(t, NULL, ids, 8, &n, 0) == DS_ERR_INVALID_ARGS, "NULL text");
        CHECK(ds_tokenizer_encode(t, "a", ids, -1, &n, 0) == DS_ERR_INVALID_ARGS, "negative max_ids");
        CHECK(ds_tokenizer_encode(t, "", ids, 8, &n, DS_TOKENIZE_RAW) == DS_SUCCESS && n == 0, "empty text");
        ds_tokenizer_free(t); t = NULL;
    }
    t = load(ctx, FIX "bpe_simple_vocab_16e6.txt.gz");
    if (t) {
        CHECK(ds_tokenizer_encode(t, "a cat", ids, 1, &n, 0) == DS_ERR_INVALID_ARGS, "max_ids smaller than bos + eos");
        CHECK(ds_tokenizer_encode(t, "a cat", ids, 2, &n, 0) == DS_SUCCESS && n == 2 && ids[0] == 49406 && ids[1] == 49407, "all tokens truncated");
        CHECK(ds_tokenizer_encode(t, "a cat", NULL, 0, &n, 0) == DS_SUCCESS && n == 4, "length query");
        ds_tokenizer_free(t);
    }
    {   /* "model" is a word in vocab.json: it must not pass for a tokenizer.json */
        FILE *f; int ok = 1;
        if ((f = fopen("build/test_tokenizer_vocab.json", "w"))) { fputs("{\"a\": 0, \"b</w>\": 1, \"ab</w>\": 2, \"model\": 3, \"<|startoftext|>\": 4, \"<|endoftext|>\": 5}", f); fclose(f); } else ok = 0;
        if ((f = fopen("build/merges.txt", "w"))) { fputs("#version: 0.2\na b</w>\n", f); fclose(f); } else ok = 0;
        t = ok ? load(ctx, "build/test_tokenizer_vocab.json") : NULL;
        CHECK(t && ds_tokenizer_encode(t, "AB", ids, 8, &n, 0) == DS_SUCCESS && n == 3 && ids[0] == 4 && ids[1] == 2 && ids[2] == 5, "vocab.json with a \"model\" entry");
        ds_tokenizer_free(t);
        remove("build/test_tokenizer_vocab.json"); remove("build/merges.txt");
    }
    ds_tokenizer_free(NULL);
}

int main(int argc, char **argv) {
    ds_ctx *ctx; ds_ctx_desc d; int i;
    for (i = 1; i < argc; i++) if (!strcmp(argv[i], "-v")) ds_test_verbose = 1;
    memset(&d, 0, sizeof d); d.n_threads = 1;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) return 1;
    if (load_strings(ctx)) {
        test_references(ctx);
        test_memory(ctx);
        test_framing(ctx);
    } else CHECK(0, "test strings");
    test_errors(ctx);
    for (i = 0; i < g_n; i++) free(g_str[i]);
    free(g_str);
    ds_ctx_destroy(ctx);
    DS_TEST_END("test_tokenizer");
}
