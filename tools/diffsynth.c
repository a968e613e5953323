/* diffsynth: command-line front end of diffsynth.h.
     diffsynth info [--estimate -W 1024 -H 1024] FILE...
     diffsynth forward --weights F [--weights F...] --inputs IO.safetensors --output OUT.safetensors [--threads N] [--sequential]
                       [--lora FILE[:SCALE]...] [--lora-mode auto|merge|runtime]
     diffsynth quantize IN... -o OUT.gguf --type q4_K [--keep f32]
     diffsynth randn --seed S --shape A,B,... [--generator cpu|cuda] --output F.safetensors
   Run `diffsynth help` for every command. */
#define DIFFSYNTH_IMPLEMENTATION
#include "../diffsynth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* --- LoRA options (forward, flux, wan) -------------------------------------------------- */
/* "--lora FILE[:scale]": the scale is what follows the last ':' when it reads as a number. */
static ds_result cli_lora_apply(ds_ctx *ctx, ds_weights *w, const char *spec, ds_lora_mode mode) {
    char path[4096]; const char *colon = strrchr(spec, ':'); char *end = NULL;
    ds_lora_desc d; ds_lora_report rep; ds_result r;
    memset(&d, 0, sizeof d);
    d.scale = 1.0f; d.mode = mode; d.path = spec;
    if (colon && colon[1] && (d.scale = strtof(colon + 1, &end), end && !*end) && (size_t)(colon - spec) < sizeof path) {
        memcpy(path, spec, (size_t)(colon - spec)); path[colon - spec] = 0; d.path = path;
    } else d.scale = 1.0f;
    if ((r = ds_lora_apply_desc(w, &d, &rep)) != DS_SUCCESS) { cli_fail(ctx, r, "--lora"); return r; }
    fprintf(stderr, "lora %s (scale %g): %d of %d keys applied, %d for other components; %d merged, %d at run time\n",
            d.path, d.scale, rep.used, rep.keys, rep.other, rep.merged, rep.runtime);
    return DS_SUCCESS;
}
static int cli_lora_mode(const char *s, ds_lora_mode *m) {
    if (!strcmp(s, "auto")) *m = DS_LORA_AUTO; else if (!strcmp(s, "merge")) *m = DS_LORA_MERGE;
    else if (!strcmp(s, "runtime")) *m = DS_LORA_RUNTIME; else { fprintf(stderr, "--lora-mode: auto, merge or runtime\n"); return 0; }
    return 1;
}

/* --- forward --------------------------------------------------------------------------- */
static int cmd_forward(int argc, char **argv) {
    const char *weights[16], *loras[16]; int n_w = 0, n_l = 0, threads = 0, sequential = 0, i, rc = 1;
    ds_lora_mode lora_mode = DS_LORA_AUTO;
    const char *inputs = NULL, *output = NULL;
    ds_ctx *ctx = NULL; ds_weights *w = NULL, *io = NULL; ds_outputs out; ds_result r;
    ds_write_tensor wt[DS_MAX_OUTPUTS];
    memset(&out, 0, sizeof out);
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc) { if (n_w < 16) weights[n_w++] = argv[++i]; else { fprintf(stderr, "too many --weights\n"); return 2; } }
        else if (!strcmp(argv[i], "--inputs") && i + 1 < argc) inputs = argv[++i];
        else if (!strcmp(argv[i], "--output") && i + 1 < argc) output = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lora") && i + 1 < argc) { if (n_l < 16) loras[n_l++] = argv[++i]; else { fprintf(stderr, "too many --lora\n"); return 2; } }
        else if (!strcmp(argv[i], "--lora-mode") && i + 1 < argc) { if (!cli_lora_mode(argv[++i], &lora_mode)) return 2; }
        else if (!strcmp(argv[i], "--sequential")) sequential = 1;
        else { fprintf(stderr, "diffsynth forward: unknown argument '%s'\n", argv[i]); return 2; }
    }
    if (!n_w || !inputs || !output) {
        fprintf(stderr, "usage: diffsynth forward --weights FILE [--weights FILE...] --inputs IO.safetensors --output OUT.safetensors [--threads N]\n"
                        "                         [--lora FILE[:SCALE]...] [--lora-mode auto|merge|runtime] [--sequential]\n"
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
    for (i = 0; i < n_l; i++) if (cli_lora_apply(ctx, w, loras[i], lora_mode) != DS_SUCCESS) goto done;
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

/* --- flux ------------------------------------------------------------------------------------ */

/* stderr: [#######-------] 12/28  1.84 s/it  ETA 0:29 */
static void cli_flux_progress(int step, int total, float seconds, void *user) {
    char bar[31]; int i, fill = total > 0 ? step * 30 / total : 30;
    double per = step > 0 ? seconds / step : 0, eta = per * (total - step);
    (void)user;
    for (i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %d/%d  %.2f s/it  ETA %d:%02d ", bar, step, total, per, (int)eta / 60, (int)eta % 60);
    if (step == total) fprintf(stderr, "\n");
    fflush(stderr);
}

static int cmd_flux(int argc, char **argv) {
    static const char *const usage =
        "usage: diffsynth flux --diffusion-model F [--vae F --clip-l F --t5xxl F] --clip-vocab F --t5-tokenizer F\n"
        "                      -p PROMPT [-n NEGATIVE] [-W 1024] [-H 1024] [--steps 28|4] [--guidance 3.5] [--cfg 1]\n"
        "                      [--seed S] [--sampler euler|unipc] [--schedule bfl|diffsynth] [--rng cpu|cuda] [--noise-bf16]\n"
        "                      [-i init.png --strength 0.75] [--vae-tiling [--vae-tile 64]] [--text-len 512]\n"
        "                      [--threads N] -o out.png\n"
        "  --diffusion-model may be an all-in-one checkpoint (ComfyUI, DiffSynth) holding the VAE and encoders.\n";
    ds_flux_desc d; ds_flux_params p; ds_flux_info info;
    ds_ctx_desc cd; ds_ctx *ctx = NULL; ds_flux *pipe = NULL;
    ds_image img, init;
    const char *out_path = NULL, *init_path = NULL;
    char num[8][32], params_text[2048];
    int i, threads = 0, have_seed = 0, rc = 1;
    double t0;
    ds_result r;
    memset(&d, 0, sizeof d); memset(&p, 0, sizeof p); memset(&img, 0, sizeof img); memset(&init, 0, sizeof init);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define CLI_IS(s) (!strcmp(a, s) && v && ++i)
        if (CLI_IS("--diffusion-model") || CLI_IS("--model") || CLI_IS("-m")) d.diffusion_model = v;
        else if (CLI_IS("--vae")) d.vae = v;
        else if (CLI_IS("--clip-l") || CLI_IS("--clip_l")) d.clip_l = v;
        else if (CLI_IS("--t5xxl") || CLI_IS("--t5")) d.t5xxl = v;
        else if (CLI_IS("--clip-vocab")) d.clip_vocab = v;
        else if (CLI_IS("--t5-tokenizer")) d.t5_tokenizer = v;
        else if (CLI_IS("-p") || CLI_IS("--prompt")) p.prompt = v;
        else if (CLI_IS("-n") || CLI_IS("--negative-prompt")) p.negative_prompt = v;
        else if (CLI_IS("-W") || CLI_IS("--width")) p.width = atoi(v);
        else if (CLI_IS("-H") || CLI_IS("--height")) p.height = atoi(v);
        else if (CLI_IS("--steps")) p.steps = atoi(v);
        else if (CLI_IS("--guidance")) p.guidance = (float)atof(v);
        else if (CLI_IS("--cfg")) p.cfg = (float)atof(v);
        else if (CLI_IS("--seed")) { p.seed = strtoull(v, NULL, 0); have_seed = 1; }
        else if (CLI_IS("--text-len")) p.text_len = atoi(v);
        else if (CLI_IS("-i") || CLI_IS("--init-image")) init_path = v;
        else if (CLI_IS("--strength")) p.strength = (float)atof(v);
        else if (CLI_IS("--vae-tile")) { p.vae_tile = atoi(v); p.vae_tiling = 1; }
        else if (CLI_IS("--threads") || CLI_IS("-t")) threads = atoi(v);
        else if (CLI_IS("-o") || CLI_IS("--output")) out_path = v;
        else if (CLI_IS("--sampler")) {
            if (!strcmp(v, "euler")) p.sampler = DS_SAMPLER_EULER; else if (!strcmp(v, "unipc")) p.sampler = DS_SAMPLER_UNIPC;
            else { fprintf(stderr, "diffsynth flux: --sampler must be euler or unipc\n"); return 2; }
        } else if (CLI_IS("--schedule")) {
            if (!strcmp(v, "bfl")) p.schedule = DS_FLUX_SCHEDULE_BFL; else if (!strcmp(v, "diffsynth")) p.schedule = DS_FLUX_SCHEDULE_DIFFSYNTH;
            else { fprintf(stderr, "diffsynth flux: --schedule must be bfl or diffsynth\n"); return 2; }
        } else if (CLI_IS("--rng")) {
            if (!strcmp(v, "cpu")) p.rng = DS_RNG_CPU; else if (!strcmp(v, "cuda")) p.rng = DS_RNG_CUDA;
            else { fprintf(stderr, "diffsynth flux: --rng must be cpu or cuda\n"); return 2; }
        } else if (!strcmp(a, "--vae-tiling")) p.vae_tiling = 1;
        else if (!strcmp(a, "--noise-bf16")) p.noise_bf16 = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        else { fprintf(stderr, "diffsynth flux: unknown or incomplete argument '%s'\n%s", a, usage); return 2; }
#undef CLI_IS
    }
    if (!d.diffusion_model || !out_path || !p.prompt) {
        fprintf(stderr, "diffsynth flux: %s\n%s", !d.diffusion_model ? "--diffusion-model is required" : !p.prompt ? "-p PROMPT is required" : "-o OUT.png is required", usage);
        return 2;
    }
    if (!d.clip_vocab || !d.t5_tokenizer) {
        fprintf(stderr, "diffsynth flux: the prompt needs --clip-vocab (bpe_simple_vocab_16e6.txt.gz, tokenizer.json or vocab.json) "
                        "and --t5-tokenizer (spiece.model or tokenizer.json)\n");
        return 2;
    }
    if (!have_seed) p.seed = (uint64_t)time(NULL);
    memset(&cd, 0, sizeof cd);
    cd.n_threads = threads; cd.progress_cb = cli_flux_progress;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) { fprintf(stderr, "diffsynth: cannot create a context\n"); return 1; }
    if (init_path && (r = ds_image_load(ctx, init_path, &init)) != DS_SUCCESS) { cli_fail(ctx, r, init_path); goto done; }
    if (init_path) p.init_image = &init;
    t0 = ds__now();
    if ((r = ds_flux_create(ctx, &d, &pipe)) != DS_SUCCESS) { cli_fail(ctx, r, "loading the model"); goto done; }
    ds_flux_get_info(pipe, &info);
    fprintf(stderr, "flux %s loaded in %.1f s; seed %llu, %d threads\n", info.variant, ds__now() - t0, (unsigned long long)p.seed, ds_ctx_threads(ctx));
    t0 = ds__now();
    if ((r = ds_flux_generate(pipe, &p, &img)) != DS_SUCCESS) { cli_fail(ctx, r, "generate"); goto done; }
    {
        /* the parameters as tEXt chunks: one key each, and an A1111-style summary under "parameters" */
        int steps = p.steps ? p.steps : (strcmp(info.variant, "dev") ? 4 : 28);
        const char *sampler = p.sampler == DS_SAMPLER_UNIPC ? "unipc" : "euler";
        const char *schedule = p.schedule == DS_FLUX_SCHEDULE_DIFFSYNTH ? "diffsynth" : "bfl";
        const char *rng = p.rng == DS_RNG_CUDA ? (p.noise_bf16 ? "cuda bf16" : "cuda") : (p.noise_bf16 ? "cpu bf16" : "cpu");
        const char *kv[40]; int k = 0;
        snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)p.seed);
        snprintf(num[1], sizeof num[1], "%d", steps);
        snprintf(num[2], sizeof num[2], "%g", p.guidance ? p.guidance : 3.5);
        snprintf(num[3], sizeof num[3], "%g", p.cfg > 1 ? p.cfg : 1.0);
        snprintf(num[4], sizeof num[4], "%dx%d", img.width, img.height);
        snprintf(num[5], sizeof num[5], "%g", p.strength ? p.strength : 0.75);
        snprintf(params_text, sizeof params_text, "%s\n%s%s%sSteps: %s, Sampler: %s, Schedule: %s, Guidance: %s, CFG scale: %s, Seed: %s, "
                 "Size: %s, RNG: %s, Model: %s (flux-%s)%s%s",
                 p.prompt, p.negative_prompt ? "Negative prompt: " : "", p.negative_prompt ? p.negative_prompt : "", p.negative_prompt ? "\n" : "",
                 num[1], sampler, schedule, num[2], num[3], num[0], num[4], rng,
                 d.diffusion_model, info.variant, init_path ? ", Denoising strength: " : "", init_path ? num[5] : "");
        kv[k++] = "parameters"; kv[k++] = params_text;
        kv[k++] = "prompt"; kv[k++] = p.prompt;
        if (p.negative_prompt) { kv[k++] = "negative_prompt"; kv[k++] = p.negative_prompt; }
        kv[k++] = "seed"; kv[k++] = num[0];       kv[k++] = "steps"; kv[k++] = num[1];
        kv[k++] = "guidance"; kv[k++] = num[2];   kv[k++] = "cfg"; kv[k++] = num[3];
        kv[k++] = "sampler"; kv[k++] = sampler;   kv[k++] = "schedule"; kv[k++] = schedule;
        kv[k++] = "rng"; kv[k++] = rng;
        kv[k++] = "model"; kv[k++] = d.diffusion_model;
        if (init_path) { kv[k++] = "init_image"; kv[k++] = init_path; kv[k++] = "strength"; kv[k++] = num[5]; }
        kv[k++] = "Software"; kv[k++] = "diffsynth.h " DS_VERSION_STRING;
        kv[k] = NULL;
        if ((r = ds_png_write(ctx, out_path, img.rgb, img.width, img.height, kv)) != DS_SUCCESS) { cli_fail(ctx, r, out_path); goto done; }
    }
    fprintf(stderr, "%s: %dx%d in %.1f s\n", out_path, img.width, img.height, ds__now() - t0);
    rc = 0;
done:
    ds_image_free(ctx, &img); ds_image_free(ctx, &init);
    ds_flux_destroy(pipe); ds_ctx_destroy(ctx);
    return rc;
}

/* --- tokenize ---------------------------------------------------------------------------- */
static int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL; char *in = NULL; int max = 0, i, n = 0, rc = 1; unsigned flags = 0;
    ds_ctx *ctx; ds_tokenizer *tok = NULL; ds_tokenizer_info info; int32_t *ids = NULL; ds_result r;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--max") && i + 1 < argc) max = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--raw")) flags |= DS_TOKENIZE_RAW;
        else if (!strcmp(argv[i], "--no-pad")) flags |= DS_TOKENIZE_NO_PAD;
        else if (!text && (argv[i][0] != '-' || !argv[i][1])) text = argv[i];
        else { fprintf(stderr, "diffsynth tokenize: unknown argument '%s'\n", argv[i]); return 2; }
    }
    if (!path || !text) {
        fprintf(stderr, "usage: diffsynth tokenize --tokenizer FILE|DIR [--max N] [--raw] [--no-pad] TEXT\n"
                        "  FILE: tokenizer.json, spiece.model, vocab.json (+ merges.txt), bpe_simple_vocab_16e6.txt.gz,\n"
                        "        a .safetensors with a spiece_model tensor; gzip is read too. TEXT '-': standard input.\n"
                        "  Default framing pads to N (CLIP 77, T5/umT5 512); --raw: the tokens alone.\n");
        return 2;
    }
    ctx = cli_ctx(1);
    if (!ctx) return 1;
    if ((r = ds_tokenizer_load(ctx, path, &tok)) != DS_SUCCESS) { cli_fail(ctx, r, path); goto done; }
    ds_tokenizer_get_info(tok, &info);
    if (!strcmp(text, "-")) {                        /* the whole of stdin, newlines included */
        size_t cap = 4096, len = 0, got; char *buf = (char *)malloc(cap);
        while (buf && (got = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
            len += got;
            if (cap - len < 2) { char *nb = (char *)realloc(buf, cap * 2); if (!nb) { free(buf); buf = NULL; break; } buf = nb; cap *= 2; }
        }
        if (!buf) { fprintf(stderr, "out of memory\n"); goto done; }
        buf[len] = 0; text = in = buf;
    }
    if (!max) {
        if ((r = ds_tokenizer_encode(tok, text, NULL, 0, &n, flags)) != DS_SUCCESS) { cli_fail(ctx, r, "tokenize"); goto done; }
        max = (flags & (DS_TOKENIZE_RAW | DS_TOKENIZE_NO_PAD)) || n > info.max_length ? n : info.max_length;
    }
    ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)(max > 0 ? max : 1));
    if (!ids) { fprintf(stderr, "out of memory\n"); goto done; }
    if ((r = ds_tokenizer_encode(tok, text, ids, max, &n, flags)) != DS_SUCCESS) { cli_fail(ctx, r, "tokenize"); goto done; }
    if (!(flags & (DS_TOKENIZE_RAW | DS_TOKENIZE_NO_PAD))) n = max;
    for (i = 0; i < n; i++) printf("%s%d", i ? " " : "", (int)ids[i]);
    printf("\n");
    rc = 0;
done:
    free(in); free(ids); ds_tokenizer_free(tok); ds_ctx_destroy(ctx);
    return rc;
}

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

/* --- wan --------------------------------------------------------------------------------------- */
static void cli_wan_progress(int step, int total, float seconds, void *user) {
    char bar[31]; int i, fill = total > 0 ? step * 30 / total : 30;
    double per = step > 0 ? seconds / step : 0, eta = per * (total - step);
    (void)user;
    for (i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] step %d/%d  %.2f s/it  ETA %d:%02d ", bar, step, total, per, (int)eta / 60, (int)eta % 60);
    if (step == total) fprintf(stderr, "\ndecoding the video...\n");
    fflush(stderr);
}

#if defined(_WIN32)
#  include <direct.h>
#  define cli_popen _popen
#  define cli_pclose _pclose
#  define cli_mkdir(p) _mkdir(p)
#  define CLI_NULL "NUL"
#else
#  define cli_popen popen
#  define cli_pclose pclose
#  define cli_mkdir(p) mkdir(p, 0777)
#  define CLI_NULL "/dev/null"
#endif

static int cli_have_ffmpeg(void) { return system("ffmpeg -version > " CLI_NULL " 2>&1") == 0; }

/* frames -> out.mp4 through ffmpeg (libx264, yuv420p) reading raw RGB on its stdin. */
static int cli_wan_mp4(const ds_video *v, const char *path) {
    char cmd[4600], q[4200]; size_t k = 0; const char *s; FILE *f; int rc;
    for (s = path; *s && k + 5 < sizeof q; s++) {   /* the path in single quotes, ' as '\'' */
        if (*s == '\'') { memcpy(q + k, "'\\''", 4); k += 4; } else q[k++] = *s;
    }
    q[k] = 0;
    snprintf(cmd, sizeof cmd, "ffmpeg -y -loglevel error -f rawvideo -pix_fmt rgb24 -s %dx%d -r %d -i - "
             "-c:v libx264 -pix_fmt yuv420p -crf 18 '%s'", v->width, v->height, v->fps, q);
    if (!(f = cli_popen(cmd, "w"))) { fprintf(stderr, "diffsynth wan: cannot run ffmpeg\n"); return 1; }
    rc = fwrite(v->rgb, (size_t)v->width * v->height * 3, (size_t)v->frames, f) != (size_t)v->frames;
    rc |= cli_pclose(f) != 0;
    if (rc) fprintf(stderr, "diffsynth wan: ffmpeg failed writing %s\n", path);
    return rc;
}

static int cmd_wan(int argc, char **argv) {
    static const char *const usage =
        "usage: diffsynth wan --diffusion-model F --vae F --t5 F [--t5-tokenizer F] [--clip-vision F -i first.png]\n"
        "                     -p PROMPT [-n NEGATIVE] [-W 832] [-H 480] [--frames 81] [--steps 50] [--cfg 5] [--shift 5]\n"
        "                     [--seed S] [--sampler unipc|euler] [--rng cpu|cuda] [--vae-tiling [--vae-tile 34]]\n"
        "                     [--fps 16] [--quality 90] [--threads N] -o out.avi|out.mp4|frames_dir/\n"
        "  -n: Wan's default (Chinese) negative prompt when not given; -n \"\" for none.\n"
        "  -i: image-to-video with an I2V model; without -W/-H the size follows the image at 832x480 pixels.\n"
        "  -o: .avi = MJPEG, .mp4 = H.264 through ffmpeg, a directory (or a path ending in /) = PNG frames.\n";
    ds_wan_desc d; ds_wan_params p; ds_wan_info info;
    ds_ctx_desc cd; ds_ctx *ctx = NULL; ds_wan *pipe = NULL;
    ds_video v; ds_image first;
    const char *out_path = NULL, *image_path = NULL;
    char seed_text[32], params_text[4096];
    int i, threads = 0, have_seed = 0, rc = 1, fps = 0, quality = 90, is_dir;
    size_t ol;
    struct stat st;
    double t0;
    ds_result r;
    memset(&d, 0, sizeof d); memset(&p, 0, sizeof p); memset(&v, 0, sizeof v); memset(&first, 0, sizeof first);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define CLI_IS(s) (!strcmp(a, s) && val && ++i)
        if (CLI_IS("--diffusion-model") || CLI_IS("--model") || CLI_IS("-m")) d.diffusion_model = val;
        else if (CLI_IS("--vae")) d.vae = val;
        else if (CLI_IS("--t5") || CLI_IS("--umt5")) d.t5 = val;
        else if (CLI_IS("--t5-tokenizer")) d.t5_tokenizer = val;
        else if (CLI_IS("--clip-vision")) d.clip_vision = val;
        else if (CLI_IS("-i") || CLI_IS("--image")) image_path = val;
        else if (CLI_IS("-p") || CLI_IS("--prompt")) p.prompt = val;
        else if (CLI_IS("-n") || CLI_IS("--negative-prompt")) p.negative_prompt = val;
        else if (CLI_IS("-W") || CLI_IS("--width")) p.width = atoi(val);
        else if (CLI_IS("-H") || CLI_IS("--height")) p.height = atoi(val);
        else if (CLI_IS("--frames")) p.frames = atoi(val);
        else if (CLI_IS("--steps")) p.steps = atoi(val);
        else if (CLI_IS("--cfg")) p.cfg = (float)atof(val);
        else if (CLI_IS("--shift")) p.shift = (float)atof(val);
        else if (CLI_IS("--seed")) { p.seed = strtoull(val, NULL, 0); have_seed = 1; }
        else if (CLI_IS("--vae-tile")) { p.vae_tile = atoi(val); p.vae_tiling = 1; }
        else if (CLI_IS("--fps")) fps = atoi(val);
        else if (CLI_IS("--quality")) quality = atoi(val);
        else if (CLI_IS("--threads") || CLI_IS("-t")) threads = atoi(val);
        else if (CLI_IS("-o") || CLI_IS("--output")) out_path = val;
        else if (CLI_IS("--sampler")) {
            if (!strcmp(val, "unipc")) p.sampler = DS_WAN_UNIPC; else if (!strcmp(val, "euler")) p.sampler = DS_WAN_EULER;
            else { fprintf(stderr, "diffsynth wan: --sampler must be unipc or euler\n"); return 2; }
        } else if (CLI_IS("--rng")) {
            if (!strcmp(val, "cpu")) p.rng = DS_RNG_CPU; else if (!strcmp(val, "cuda")) p.rng = DS_RNG_CUDA;
            else { fprintf(stderr, "diffsynth wan: --rng must be cpu or cuda\n"); return 2; }
        } else if (!strcmp(a, "--vae-tiling")) p.vae_tiling = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        else { fprintf(stderr, "diffsynth wan: unknown or incomplete argument '%s'\n%s", a, usage); return 2; }
#undef CLI_IS
    }
    if (!d.diffusion_model || !out_path || !p.prompt) {
        fprintf(stderr, "diffsynth wan: %s\n%s", !d.diffusion_model ? "--diffusion-model is required" : !p.prompt ? "-p PROMPT is required" : "-o OUT is required", usage);
        return 2;
    }
    ol = strlen(out_path);
    is_dir = (ol && out_path[ol - 1] == '/') || (stat(out_path, &st) == 0 && S_ISDIR(st.st_mode));
    if (!is_dir && !(ol > 4 && (!strcmp(out_path + ol - 4, ".avi") || !strcmp(out_path + ol - 4, ".mp4")))) {
        fprintf(stderr, "diffsynth wan: -o must end in .avi or .mp4, or name a directory for PNG frames\n");
        return 2;
    }
    if (quality < 1 || quality > 100 || fps < 0) { fprintf(stderr, "diffsynth wan: --quality 1..100, --fps > 0\n"); return 2; }
    if (!is_dir && !strcmp(out_path + ol - 4, ".mp4") && !cli_have_ffmpeg()) {   /* before minutes of work */
        fprintf(stderr, "diffsynth wan: .mp4 needs ffmpeg on the PATH (not found); write .avi (MJPEG) or a frames directory (dir/) instead\n");
        return 1;
    }
    if (!have_seed) p.seed = (uint64_t)time(NULL);
    memset(&cd, 0, sizeof cd);
    cd.n_threads = threads; cd.progress_cb = cli_wan_progress;
    if (ds_ctx_create(&cd, &ctx) != DS_SUCCESS) { fprintf(stderr, "diffsynth: cannot create a context\n"); return 1; }
    if (image_path && (r = ds_image_load(ctx, image_path, &first)) != DS_SUCCESS) { cli_fail(ctx, r, image_path); goto done; }
    if (image_path) p.image = &first;
    t0 = ds__now();
    if ((r = ds_wan_create(ctx, &d, &pipe)) != DS_SUCCESS) { cli_fail(ctx, r, "loading the model"); goto done; }
    ds_wan_get_info(pipe, &info);
    fprintf(stderr, "wan %s (dim %d, %d layers) loaded in %.1f s; seed %llu, %d threads\n", info.variant, info.dim, info.layers,
            ds__now() - t0, (unsigned long long)p.seed, ds_ctx_threads(ctx));
    t0 = ds__now();
    if ((r = ds_wan_generate(pipe, &p, &v)) != DS_SUCCESS) { cli_fail(ctx, r, "generate"); goto done; }
    if (fps) v.fps = fps;
    fprintf(stderr, "%d frames of %dx%d in %.1f s\n", v.frames, v.width, v.height, ds__now() - t0);
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)p.seed);
    if (is_dir) {   /* PNG frames: dir/frame_0000.png ..., the parameters in tEXt chunks */
        const char *kv[9];
        char path[4200];
        snprintf(params_text, sizeof params_text, "%s\nNegative prompt: %s\nSeed: %s, Steps: %d, CFG scale: %g, Shift: %g, Sampler: %s, Model: %s",
                 p.prompt, p.negative_prompt ? p.negative_prompt : "(Wan default)", seed_text, p.steps ? p.steps : 50,
                 p.cfg ? p.cfg : 5.0, p.shift ? p.shift : 5.0, p.sampler == DS_WAN_EULER ? "euler" : "unipc", d.diffusion_model);
        kv[0] = "parameters"; kv[1] = params_text; kv[2] = "prompt"; kv[3] = p.prompt; kv[4] = "seed"; kv[5] = seed_text;
        kv[6] = "Software"; kv[7] = "diffsynth.h " DS_VERSION_STRING; kv[8] = NULL;
        if (cli_mkdir(out_path) != 0 && !(stat(out_path, &st) == 0 && S_ISDIR(st.st_mode))) { fprintf(stderr, "diffsynth wan: cannot create %s\n", out_path); goto done; }
        for (i = 0; i < v.frames; i++) {
            snprintf(path, sizeof path, "%s%sframe_%04d.png", out_path, out_path[ol - 1] == '/' ? "" : "/", i);
            if ((r = ds_png_write(ctx, path, v.rgb + (size_t)i * v.width * v.height * 3, v.width, v.height, kv)) != DS_SUCCESS) { cli_fail(ctx, r, path); goto done; }
        }
        fprintf(stderr, "%s: %d PNG frames\n", out_path, v.frames);
    } else if (!strcmp(out_path + ol - 4, ".mp4")) {
        if (cli_wan_mp4(&v, out_path)) goto done;
        fprintf(stderr, "%s: %d frames at %d fps (H.264)\n", out_path, v.frames, v.fps);
    } else {
        if ((r = ds_avi_write(ctx, out_path, v.rgb, v.frames, v.width, v.height, v.fps, quality)) != DS_SUCCESS) { cli_fail(ctx, r, out_path); goto done; }
        fprintf(stderr, "%s: %d frames at %d fps (MJPEG)\n", out_path, v.frames, v.fps);
    }
    rc = 0;
done:
    ds_video_free(ctx, &v); ds_image_free(ctx, &first);
    ds_wan_destroy(pipe); ds_ctx_destroy(ctx);
    return rc;
}

static int cmd_help(int argc, char **argv);
static const cli_cmd cli_cmds[] = {
    { "info",     cmd_info,     "info [--estimate -W 1024 -H 1024 [--frames 81]] FILE...   format, architecture, parameters, dtypes, memory" },
    { "forward",  cmd_forward,  "forward --weights F --inputs IO --output OUT [--lora F[:S]] [--sequential]   run one component on named inputs" },
    { "randn",    cmd_randn,    "randn --seed S --shape A,B --generator cpu|cuda [--cuda-blocks B] --output F   torch.randn noise" },
    { "tokenize", cmd_tokenize, "tokenize --tokenizer FILE [--max N] [--raw] TEXT   print token ids" },
    { "flux",     cmd_flux,     "flux --diffusion-model F --vae F --clip-l F --t5xxl F -p PROMPT -o out.png" },
    { "wan",      cmd_wan,      "wan --diffusion-model F --vae F --t5 F [--t5-tokenizer F] -p PROMPT -o out.avi|out.mp4|dir/" },
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
