/* diffsynth: command-line front end of diffsynth.h.
     diffsynth info [--estimate -W 1024 -H 1024] FILE...
     diffsynth forward --weights F [--weights F...] --inputs IO.safetensors --output OUT.safetensors [--threads N] [--sequential]
     diffsynth quantize IN... -o OUT.gguf --type q4_K [--keep f32]
     diffsynth randn --seed S --shape A,B,... [--generator cpu|cuda] --output F.safetensors
   Run `diffsynth help` for every command. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cli_cmd { const char *name; int (*fn)(int argc, char **argv); const char *usage; } cli_cmd;

static int cli_strcaseeq(const char *a, const char *b) {   /* 0 when equal ignoring ASCII case */
    for (; *a && *b; a++, b++) if ((*a | 32) != (*b | 32)) return 1;
    return *a || *b;
}

static int cli_fail(ds_ctx *ctx, ds_result r, const char *what) {
    fprintf(stderr, "diffsynth: %s: %s (%s)\n", what, ctx ? ds_ctx_last_error(ctx) : "", ds_result_string(r));
    return 1;
}

static ds_ctx *cli_ctx(int threads) {
    ds_ctx_desc d; ds_ctx *ctx = NULL;
    memset(&d, 0, sizeof d);
    d.n_threads = threads;
    if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) { fprintf(stderr, "diffsynth: cannot create a context\n"); return NULL; }
    return ctx;
}

/* --- info ----------------------------------------------------------------------------- */
static void cli_mb(const char *what, uint64_t bytes) { printf("    %-18s %10.1f MB\n", what, (double)bytes / 1048576.0); }

static int cmd_info(int argc, char **argv) {
    int i, rc = 0, estimate = 0, n_files = 0;
    ds_memory_desc md;
    ds_ctx *ctx;
    memset(&md, 0, sizeof md);
    for (i = 0; i < argc; i++) {   /* options first; the rest are files */
        if (!strcmp(argv[i], "--estimate")) estimate = 1;
        else if (!strcmp(argv[i], "-W") && i + 1 < argc) md.width = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-H") && i + 1 < argc) md.height = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc) md.frames = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--text-tokens") && i + 1 < argc) md.text_tokens = atoi(argv[++i]);
        else argv[n_files++] = argv[i];
    }
    argc = n_files;
    if (argc < 1) { fprintf(stderr, "usage: diffsynth info [--estimate [-W PIXELS] [-H PIXELS] [--frames N] [--text-tokens N]] FILE...\n"); return 2; }
    ctx = cli_ctx(1);
    if (!ctx) return 1;
    for (i = 0; i < argc; i++) {
        ds_weights *w; ds_arch_info ai; ds_result r;
        int64_t k, params = 0, bytes = 0, hist[DS_DTYPE_COUNT], hist_n[DS_DTYPE_COUNT];
        int d;
        r = ds_weights_open(ctx, argv[i], &w);
        if (r != DS_SUCCESS) { cli_fail(ctx, r, argv[i]); rc = 1; continue; }
        memset(hist, 0, sizeof hist); memset(hist_n, 0, sizeof hist_n);
        for (k = 0; k < ds_weights_count(w); k++) {
            const ds_tensor *t = ds_weights_at(w, k);
            params += ds_tensor_numel(t); bytes += (int64_t)t->nbytes;
            hist[t->dtype] += ds_tensor_numel(t); hist_n[t->dtype]++;
        }
        r = ds_detect_arch(w, &ai);
        printf("%s\n", argv[i]);
        printf("  format:       %s\n", ds_format_name(ds_weights_format(w)));
        if (r == DS_SUCCESS)
            printf("  architecture: %s\n  variant:      %s\n  layout:       %s%s%s%s\n", ai.name, ai.variant, ai.layout,
                   ai.prefix[0] ? " (prefix '" : "", ai.prefix, ai.prefix[0] ? "')" : "");
        else
            printf("  architecture: unknown\n");
        printf("  tensors:      %lld\n  parameters:   %lld (%.2f M)\n  bytes:        %lld\n",
               (long long)ds_weights_count(w), (long long)params, (double)params / 1e6, (long long)bytes);
        printf("  dtypes:      ");
        for (d = 0; d < DS_DTYPE_COUNT; d++)
            if (hist_n[d]) printf(" %s: %lld tensors / %lld values;", ds_dtype_name((ds_dtype)d), (long long)hist_n[d], (long long)hist[d]);
        printf("\n");
        if (estimate) {   /* memory of one forward, normal and with sequential weights */
            ds_memory_estimate e[2]; int s;
            for (s = 0; s < 2 && r == DS_SUCCESS; s++) { md.sequential = s; r = ds_estimate_memory(ctx, w, &md, &e[s]); }
            if (r != DS_SUCCESS) { cli_fail(ctx, r, "estimate"); rc = 1; }
            else {
                printf("  memory estimate (%lld tokens):\n", (long long)e[0].tokens);
                cli_mb("weights (file)", e[0].weights_file);
                cli_mb("activations", e[0].activations);
                cli_mb("scratch", e[0].scratch);
                cli_mb("peak", e[0].peak);
                cli_mb("peak, sequential", e[1].peak);
                cli_mb("  weights then", e[1].weights_resident);
            }
        }
        ds_weights_close(w);
    }
    ds_ctx_destroy(ctx);
    return rc;
}

/* --- forward --------------------------------------------------------------------------- */
static int cmd_forward(int argc, char **argv) {
    const char *weights[16]; int n_w = 0, threads = 0, sequential = 0, i, rc = 1;
    const char *inputs = NULL, *output = NULL;
    ds_ctx *ctx = NULL; ds_weights *w = NULL, *io = NULL; ds_outputs out; ds_result r;
    ds_write_tensor wt[DS_MAX_OUTPUTS];
    memset(&out, 0, sizeof out);
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc) { if (n_w < 16) weights[n_w++] = argv[++i]; else { fprintf(stderr, "too many --weights\n"); return 2; } }
        else if (!strcmp(argv[i], "--inputs") && i + 1 < argc) inputs = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sequential")) sequential = 1;
        else { fprintf(stderr, "diffsynth forward: unknown argument '%s'\n", argv[i]); return 2; }
    }
    if (!n_w || !inputs || !output) {
        fprintf(stderr, "usage: diffsynth forward --weights FILE [--weights FILE...] --inputs IO.safetensors --output OUT.safetensors [--threads N] [--sequential]\n"
                        "  --sequential: keep only the running DiT block's weights resident (models larger than RAM)\n");
        return 2;
    }
    {
        ds_ctx_desc d; memset(&d, 0, sizeof d);
        d.n_threads = threads; d.sequential_weights = sequential;
        if (ds_ctx_create(&d, &ctx) != DS_SUCCESS) { fprintf(stderr, "diffsynth: cannot create a context\n"); return 1; }
    }
    if ((r = ds_weights_open(ctx, weights[0], &w)) != DS_SUCCESS) { cli_fail(ctx, r, weights[0]); goto done; }
    for (i = 1; i < n_w; i++) if ((r = ds_weights_add(w, weights[i])) != DS_SUCCESS) { cli_fail(ctx, r, weights[i]); goto done; }
    if ((r = ds_weights_open(ctx, inputs, &io)) != DS_SUCCESS) { cli_fail(ctx, r, inputs); goto done; }
    if ((r = ds_forward(ctx, w, io, &out)) != DS_SUCCESS) { cli_fail(ctx, r, "forward"); goto done; }
    for (i = 0; i < out.n; i++) {
        wt[i].name = out.items[i].name; wt[i].dtype = DS_F32; wt[i].ndim = out.items[i].ndim;
        memcpy(wt[i].shape, out.items[i].shape, sizeof wt[i].shape);
        wt[i].data = out.items[i].data;
    }
    if ((r = ds_safetensors_write(ctx, output, wt, out.n, NULL)) != DS_SUCCESS) { cli_fail(ctx, r, output); goto done; }
    for (i = 0; i < out.n; i++) {
        int d; fprintf(stderr, "%s [", out.items[i].name);
        for (d = 0; d < out.items[i].ndim; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)out.items[i].shape[d]);
        fprintf(stderr, "]\n");
    }
    rc = 0;
done:
    ds_outputs_free(ctx, &out);
    ds_weights_close(io); ds_weights_close(w); ds_ctx_destroy(ctx);
    return rc;
}

/* --- randn ------------------------------------------------------------------------------ */
static int cmd_randn(int argc, char **argv) {
    unsigned long long seed = 0; int have_seed = 0, i, nd = 0, rc = 1;
    int64_t shape[DS_MAX_DIMS], n = 1, cuda_blocks = DS_RNG_CUDA_MAX_BLOCKS;
    const char *output = NULL, *gen = "cpu", *name = "randn";
    ds_rng_kind kind = DS_RNG_CPU; float *buf; ds_result r; ds_write_tensor wt; ds_ctx *ctx;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) { seed = strtoull(argv[++i], NULL, 0); have_seed = 1; }
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            char *s = argv[++i];
            while (*s) {
                char *e; long long v = strtoll(s, &e, 10);
                if (e == s || v < 0 || nd >= DS_MAX_DIMS) { fprintf(stderr, "bad --shape\n"); return 2; }
                shape[nd++] = v; s = e; if (*s == ',') s++;
            }
        }
        else if (!strcmp(argv[i], "--generator") && i + 1 < argc) gen = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--cuda-blocks") && i + 1 < argc) cuda_blocks = strtoll(argv[++i], NULL, 10);
        else { fprintf(stderr, "diffsynth randn: unknown argument '%s'\n", argv[i]); return 2; }
    }
    if (!have_seed || !nd || !output) {
        fprintf(stderr, "usage: diffsynth randn --seed S --shape A,B,... [--generator cpu|cuda] [--cuda-blocks B] [--name N] --output F.safetensors\n"
                        "  --cuda-blocks: the GPU to imitate for large tensors, SMs x (max threads per SM / 256):\n"
                        "  H100 SXM/H200 1056, H100 PCIe 912, A100 864, RTX 4090 768, RTX 3090 492; 0 = uncapped (default, webui/sd.cpp convention)\n");
        return 2;
    }
    if (!strcmp(gen, "cuda")) kind = DS_RNG_CUDA; else if (strcmp(gen, "cpu")) { fprintf(stderr, "--generator must be cpu or cuda\n"); return 2; }
    for (i = 0; i < nd; i++) n *= shape[i];
    ctx = cli_ctx(1);
    if (!ctx) return 1;
    buf = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!buf) { fprintf(stderr, "out of memory\n"); ds_ctx_destroy(ctx); return 1; }
    if (kind == DS_RNG_CUDA) { ds__randn_cuda((uint64_t)seed, buf, n, cuda_blocks); r = DS_SUCCESS; }   /* private: takes the GPU's block cap */
    else r = ds_randn(kind, (uint64_t)seed, buf, n);
    if (r != DS_SUCCESS) { fprintf(stderr, "diffsynth randn: %s\n", ds_result_string(r)); goto done; }
    memset(&wt, 0, sizeof wt);
    wt.name = name; wt.dtype = DS_F32; wt.ndim = nd; memcpy(wt.shape, shape, sizeof(int64_t) * (size_t)nd); wt.data = buf;
    if ((r = ds_safetensors_write(ctx, output, &wt, 1, NULL)) != DS_SUCCESS) { cli_fail(ctx, r, output); goto done; }
    rc = 0;
done:
    free(buf); ds_ctx_destroy(ctx);
    return rc;
}

/* --- commands that land with their issues -------------------------------------------------- */
static int cmd_todo(const char *what) { fprintf(stderr, "diffsynth %s: not supported yet in this build\n", what); return 1; }
static int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; return cmd_todo("tokenize"); }
static int cmd_flux(int argc, char **argv) { (void)argc; (void)argv; return cmd_todo("flux"); }
static int cmd_wan(int argc, char **argv) { (void)argc; (void)argv; return cmd_todo("wan"); }

/* --- quantize -------------------------------------------------------------------------------- */
static int cli_dtype(const char *s, ds_dtype *out) {   /* "q4_K", "Q8_0", "bf16", "fp8_e4m3" ... */
    int d;
    if (!cli_strcaseeq(s, "fp8_e4m3") || !cli_strcaseeq(s, "fp8")) { *out = DS_F8_E4M3; return 1; }
    for (d = 0; d < DS_DTYPE_COUNT; d++) if (!cli_strcaseeq(s, ds_dtype_name((ds_dtype)d))) { *out = (ds_dtype)d; return 1; }
    return 0;
}
static void cli_progress(int step, int total, float seconds, void *user) {   /* twice a second at most */
    float *last = (float *)user;
    if (step < total && seconds - *last < 0.5f) return;
    *last = seconds;
    fprintf(stderr, "\r  %d/%d tensors, %.1f s", step, total, seconds);
    if (step == total) fprintf(stderr, "\n");
}
static int cmd_quantize(int argc, char **argv) {
    const char *in[64], *output = NULL, *type = NULL, *keep = "f32"; int n_in = 0, threads = 0, i, rc = 1;
    ds_convert_desc cd; ds_ctx_desc xd; ds_ctx *ctx = NULL; ds_weights *w = NULL; ds_result r; float last = -1.0f;
    memset(&cd, 0, sizeof cd);
    for (i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) output = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) type = argv[++i];
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = argv[++i];
        else if (!strcmp(argv[i], "--fp8-scaled")) cd.fp8_scaled = 1;
        else if (!strcmp(argv[i], "--keep-names")) cd.keep_names = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "diffsynth quantize: unknown argument '%s'\n", argv[i]); return 2; }
        else if (n_in < 64) in[n_in++] = argv[i];
        else { fprintf(stderr, "diffsynth quantize: too many inputs\n"); return 2; }
    }
    if (!n_in || !output || !type) {
        fprintf(stderr, "usage: diffsynth quantize IN... -o OUT.gguf|OUT.safetensors --type TYPE [--keep f32|f16|bf16] [--fp8-scaled] [--keep-names] [--threads N]\n"
                        "  TYPE: q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K (GGUF), fp8_e4m3 (safetensors),\n"
                        "        f16 bf16 f32 (either), same (every tensor keeps its dtype: convert only)\n"
                        "  IN: safetensors (or a *.index.json of shards), .pth or GGUF; diffusers FLUX / Wan / FLUX VAE\n"
                        "      checkpoints come out in the original layout, T5 in llama.cpp's GGUF names\n"
                        "  --keep: the float type of what is not quantized (norms, biases, embedders); default f32\n"
                        "  --fp8-scaled: per-tensor scales as ComfyUI's scaled fp8 (scale_weight); default a plain cast\n");
        return 2;
    }
    if (!strcmp(type, "same")) cd.same = 1;
    else if (!cli_dtype(type, &cd.type)) { fprintf(stderr, "diffsynth quantize: unknown type '%s'\n", type); return 2; }
    if (!cli_dtype(keep, &cd.keep)) { fprintf(stderr, "diffsynth quantize: unknown --keep type '%s'\n", keep); return 2; }
    memset(&xd, 0, sizeof xd);
    xd.n_threads = threads; xd.progress_cb = cli_progress; xd.progress_user = &last;
    if (ds_ctx_create(&xd, &ctx) != DS_SUCCESS) { fprintf(stderr, "diffsynth: cannot create a context\n"); return 1; }
    if ((r = ds_weights_open(ctx, in[0], &w)) != DS_SUCCESS) { cli_fail(ctx, r, in[0]); goto done; }
    for (i = 1; i < n_in; i++) if ((r = ds_weights_add(w, in[i])) != DS_SUCCESS) { cli_fail(ctx, r, in[i]); goto done; }
    if ((r = ds_convert(ctx, w, output, &cd)) != DS_SUCCESS) { cli_fail(ctx, r, output); goto done; }
    {
        ds_weights *o = NULL; int64_t k, bytes = 0, hist[DS_DTYPE_COUNT]; int d;
        memset(hist, 0, sizeof hist);
        if ((r = ds_weights_open(ctx, output, &o)) != DS_SUCCESS) { cli_fail(ctx, r, output); goto done; }
        for (k = 0; k < ds_weights_count(o); k++) { bytes += (int64_t)ds_weights_at(o, k)->nbytes; hist[ds_weights_at(o, k)->dtype]++; }
        fprintf(stderr, "%s: %lld tensors, %.1f MB of data (", output, (long long)ds_weights_count(o), (double)bytes / 1e6);
        for (d = 0; d < DS_DTYPE_COUNT; d++) if (hist[d]) fprintf(stderr, " %s: %lld", ds_dtype_name((ds_dtype)d), (long long)hist[d]);
        fprintf(stderr, " )\n");
        ds_weights_close(o);
    }
    rc = 0;
done:
    ds_weights_close(w); ds_ctx_destroy(ctx);
    return rc;
}

static int cmd_help(int argc, char **argv);
static const cli_cmd cli_cmds[] = {
    { "info",     cmd_info,     "info [--estimate -W 1024 -H 1024 [--frames 81]] FILE...   format, architecture, parameters, dtypes, memory" },
    { "forward",  cmd_forward,  "forward --weights F --inputs IO --output OUT [--sequential]   run one component on named inputs" },
    { "randn",    cmd_randn,    "randn --seed S --shape A,B --generator cpu|cuda [--cuda-blocks B] --output F   torch.randn noise" },
    { "tokenize", cmd_tokenize, "tokenize --tokenizer FILE TEXT    print token ids" },
    { "flux",     cmd_flux,     "flux --diffusion-model F --vae F --clip-l F --t5xxl F -p PROMPT -o out.png" },
    { "wan",      cmd_wan,      "wan --diffusion-model F --vae F --t5 F -p PROMPT -o out.avi" },
    { "quantize", cmd_quantize, "quantize IN... -o OUT.gguf --type q8_0|q4_K|...|f16|same [--keep f32]   quantize / convert a checkpoint" },
    { "help",     cmd_help,     "help                              this list" },
};

static int cmd_help(int argc, char **argv) {
    size_t i; (void)argc; (void)argv;
    printf("diffsynth %s - FLUX.1 and Wan2.1 inference (diffsynth.h)\n\nusage: diffsynth COMMAND [ARGS]\n\n", ds_version());
    for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++) printf("  %s\n", cli_cmds[i].usage);
    return 0;
}

int main(int argc, char **argv) {
    size_t i;
    if (argc < 2) { cmd_help(0, NULL); return 2; }
    for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        if (!strcmp(argv[1], cli_cmds[i].name)) return cli_cmds[i].fn(argc - 2, argv + 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(0, NULL);
    fprintf(stderr, "diffsynth: unknown command '%s' (try: diffsynth help)\n", argv[1]);
    return 2;
}
