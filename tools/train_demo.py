"""Train the tiny demo models shipped in models/ (`make demo` runs them through build/diffsynth).

Real FLUX.1 / Wan2.1 architectures at toy width, trained with flow matching on procedurally drawn shapes
(tools/demo_data.py), on the CPU in minutes. The text encoders are random and frozen: the DiT learns to read
them. Everything is saved in the original checkpoint layouts (BFL DiT, LDM VAE, transformers CLIP/T5) in bf16.

    python3 tools/train_demo.py flux-tok      CLIP BPE subset + T5 SentencePiece + random CLIP/T5 -> models/
    python3 tools/train_demo.py flux-vae      FLUX VAE (16 latent channels, 64x64 -> 8x8) as an autoencoder
    python3 tools/train_demo.py flux-vae-dec  then its decoder alone (encoder frozen), alongside:
    python3 tools/train_demo.py flux-dit      FLUX DiT (schnell-style: no guidance embedder, 4 steps)
    python3 tools/train_demo.py flux-sample   python reference samples -> build/demo/flux_samples.png
    python3 tools/train_demo.py wan-text      random frozen umT5 (Wan's T5Encoder) -> models/wan_umt5.safetensors
    python3 tools/train_demo.py wan-vae       Wan VAE (WanVAE_, dim 16) on 5-frame moving-shape clips
    python3 tools/train_demo.py wan-dit       Wan DiT (WanModel t2v, 128 wide, 2 layers)
    python3 tools/train_demo.py wan-sample    python reference clips -> build/demo/wan_samples.png
    python3 tools/train_demo.py plot          models/loss_*.csv -> models/loss_*.png

Flow matching as BFL trains FLUX: x_t = (1 - t) x0 + t noise, the DiT predicts v = noise - x0 at timestep t;
latents are x0 = (VAE mean - 0.1159) * 0.3611 packed 2x2 into 16 tokens of 64.
"""
import csv, gzip, json, math, os, random, sys, tempfile, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_data as D
from demo_convert import flux_dit_to_bfl, flux_vae_to_ldm

torch.set_num_threads(int(os.environ.get("THREADS", 2)))   # 2 cores shared: DiT + decoder jobs run with 1 each
M = "models"
WORK = "build/demo"          # resumable training state (not shipped)
os.makedirs(M, exist_ok=True)
os.makedirs(WORK, exist_ok=True)
T5_LEN, CLIP_LEN = 12, 77     # `diffsynth flux --text-len 12`
SCALE, SHIFT = 0.3611, 0.1159


# --- tokenizers and frozen text encoders ------------------------------------------------------------
def bpe_words(merges, word):
    """OpenAI CLIP BPE on one word; returns the merges it used."""
    ranks = {m: i for i, m in enumerate(merges)}
    parts, used = list(word[:-1]) + [word[-1] + "</w>"], set()
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), k) for k, (a, b) in enumerate(zip(parts, parts[1:]))]
        r, k = min(pairs)
        if r == 1 << 30:
            break
        used.add(r)
        a, b = parts[k], parts[k + 1]
        out, i = [], 0
        while i < len(parts):   # merge every occurrence of the pair
            if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                out.append(a + b); i += 2
            else:
                out.append(parts[i]); i += 1
        parts = out
    return used


def find_bpe():
    for p in sys.argv[2:] + ["tests/fixtures/tokenizers/bpe_simple_vocab_16e6.txt.gz",
                             "/work/shared/fixtures/tokenizers/bpe_simple_vocab_16e6.txt.gz"]:
        if os.path.exists(p):
            return p
    sys.exit("bpe_simple_vocab_16e6.txt.gz not found: pass its path")


def make_tokenizers():
    """models/clip_bpe.txt.gz: CLIP's merges file cut to the first 256 merges plus every merge our words need
    (kept in CLIP's order, so the BPE is CLIP's on them); models/t5_spiece.model: Unigram on the captions, 48
    pieces, every caption word one piece (the lone words weigh them in)."""
    import sentencepiece as spm
    lines = gzip.open(find_bpe(), "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    keep = set(range(256))
    for w in D.all_words():
        keep |= bpe_words(merges, w)
    kept = [merges[i] for i in sorted(keep)]
    with gzip.GzipFile(os.path.join(M, "clip_bpe.txt.gz"), "wb", mtime=0) as f:
        f.write((lines[0] + "\n" + "\n".join(" ".join(m) for m in kept) + "\n").encode("utf-8"))
    tmp = tempfile.mkdtemp()
    sp_prefix = os.path.join(tmp, "sp")
    spm.SentencePieceTrainer.train(sentence_iterator=iter(D.corpus() * 4 + D.all_words() * 200), model_prefix=sp_prefix, vocab_size=48,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   character_coverage=1.0, num_threads=1, minloglevel=2,
                                   normalization_rule_name="identity")
    open(os.path.join(M, "t5_spiece.model"), "wb").write(open(sp_prefix + ".model", "rb").read())


def load_tokenizers():
    import sentencepiece as spm
    from transformers import CLIPTokenizer
    lines = gzip.open(os.path.join(M, "clip_bpe.txt.gz"), "rt", encoding="utf-8").read().strip().split("\n")
    merges = [tuple(m.split()) for m in lines[1:]]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [v + "</w>" for v in byte_chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    tmp = tempfile.mkdtemp()
    json.dump({v: i for i, v in enumerate(vocab)}, open(os.path.join(tmp, "vocab.json"), "w"))
    open(os.path.join(tmp, "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    clip_tok = CLIPTokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"), pad_token="<|endoftext|>")
    sp = spm.SentencePieceProcessor(model_file=os.path.join(M, "t5_spiece.model"))
    return clip_tok, len(vocab), sp


class TextEncoders:
    """Frozen random CLIP-L-shaped and T5-shaped encoders, as the FLUX pipeline runs them."""
    def __init__(self, create=False):
        from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel
        from safetensors.torch import load_file, save_file
        self.clip_tok, nclip, self.sp = load_tokenizers()
        cc = CLIPTextConfig(vocab_size=nclip, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=1, max_position_embeddings=CLIP_LEN, hidden_act="quick_gelu",
                            bos_token_id=nclip - 2, eos_token_id=nclip - 1, pad_token_id=nclip - 1)
        tc = T5Config(vocab_size=self.sp.get_piece_size(), d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2,
                      relative_attention_num_buckets=32, relative_attention_max_distance=128,
                      feed_forward_proj="gated-gelu", dropout_rate=0.0)
        torch.manual_seed(1234)
        self.clip, self.t5 = CLIPTextModel(cc).eval(), T5EncoderModel(tc).eval()
        paths = (os.path.join(M, "flux_clip_l.safetensors"), os.path.join(M, "flux_t5xxl.safetensors"))
        for m, p in zip((self.clip, self.t5), paths):
            if create:   # stored in bf16: run on exactly the stored values
                sd = {k: v.to(torch.bfloat16).contiguous() for k, v in m.state_dict().items()}
                save_file(sd, p, metadata={"format": "pt"})
            m.load_state_dict({k: v.float() for k, v in load_file(p).items()}, strict=False)
            m.requires_grad_(False)
        self.cache = {}

    def t5_ids(self, text):
        ids = self.sp.encode(text)[:T5_LEN - 1] + [1]
        return ids + [0] * (T5_LEN - len(ids))

    @torch.no_grad()
    def __call__(self, caps):
        todo = [c for c in dict.fromkeys(caps) if c not in self.cache]
        for i in range(0, len(todo), 256):
            chunk = todo[i:i + 256]
            t5 = self.t5(torch.tensor([self.t5_ids(c) for c in chunk]))[0]
            ci = self.clip_tok(chunk, padding="max_length", max_length=CLIP_LEN, truncation=True, return_tensors="pt")
            vec = self.clip(ci["input_ids"]).pooler_output
            for k, c in enumerate(chunk):
                self.cache[c] = (t5[k], vec[k])
        return torch.stack([self.cache[c][0] for c in caps]), torch.stack([self.cache[c][1] for c in caps])


def stop_requested():
    """`touch build/demo/STOP` ends a training run early (the state is saved)."""
    if os.path.exists(os.path.join(WORK, "STOP")):
        os.remove(os.path.join(WORK, "STOP"))
        return True
    return False


# --- logging --------------------------------------------------------------------------------------------
class Log:
    def __init__(self, name, fields, resume):
        self.path = os.path.join(M, f"loss_{name}.csv")
        new = not (resume and os.path.exists(self.path))
        self.f = open(self.path, "w" if new else "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(fields)

    def row(self, *v):
        self.w.writerow([f"{x:.6g}" if isinstance(x, float) else x for x in v])
        self.f.flush()


def images(rng, n, two=0.45):
    caps, ims = zip(*(D.sample_image(rng, two) for _ in range(n)))
    x = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return list(caps), x


# --- FLUX VAE ---------------------------------------------------------------------------------------------
def flux_vae_model():
    from diffusers import AutoencoderKL
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(32, 32, 64, 64),
                         layers_per_block=1, latent_channels=16, norm_num_groups=32, scaling_factor=SCALE,
                         shift_factor=SHIFT, use_quant_conv=False, use_post_quant_conv=False)


def train_flux_vae(steps=int(os.environ.get("STEPS", 210)), bs=8, crop_steps=150):
    """Autoencoder: L1 + L2 reconstruction, the latent mean pulled to FLUX's latent statistics (per-channel mean
    0.1159, std 1/0.3611, so the scaled latents the DiT sees are ~N(0, 1)), noise on the latent so the decoder
    forgives an imprecise DiT."""
    vae, peak = flux_vae_model(), float(os.environ.get("LR", 2e-3))
    opt = torch.optim.AdamW(vae.parameters(), lr=peak, weight_decay=0.0)
    state, start = os.path.join(WORK, "flux_vae.pt"), 0
    if os.path.exists(state):
        ck = torch.load(state)
        vae.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    log = Log("flux_vae", ["step", "loss", "l1", "stat", "seconds"], start > 0)
    rng, t0, acc = random.Random(start), time.time(), []
    for step in range(start, steps):
        lr = peak * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        if step < crop_steps:   # first 32x32 crops on the latent grid (4x cheaper), then whole pictures
            _, x = images(rng, bs)
            i, j = rng.randrange(0, 33, 8), rng.randrange(0, 33, 8)
            x = x[:, :, i:i + 32, j:j + 32]
        else:
            _, x = images(rng, bs // 2)
        wt = 1 + 9 * (x.sum(1, keepdim=True) < 2.8).float()   # the shapes count 10x the white background
        mu = vae.encode(x).latent_dist.mean
        m, s = mu.mean((0, 2, 3)), mu.std((0, 2, 3))
        stat = ((m - SHIFT) ** 2).mean() + ((torch.log(s) - math.log(1 / SCALE)) ** 2).mean()
        z = mu + 0.1 / SCALE * torch.randn_like(mu)
        y = vae.decode(z).sample
        l1 = (y - x).abs().mean()
        m = (wt > 1).float()   # mean colour of the shapes, a direct handle on hue (GroupNorm at 1 channel per
        mc = lambda a: (a * m).sum((2, 3)) / m.sum((2, 3)).clamp(min=1)   # group hides magnitudes from the decoder)
        hue = ((mc(y) - mc(x)) ** 2).mean() if step >= 640 else torch.zeros(())
        loss = (wt * ((y - x).abs() + (y - x) ** 2)).mean() + 0.1 * stat + 5 * hue
        opt.zero_grad(); loss.backward(); opt.step()
        acc.append((loss.item(), l1.item(), stat.item()))
        if (step + 1) % 10 == 0:
            a = np.mean(acc, 0); acc = []
            log.row(step + 1, float(a[0]), float(a[1]), float(a[2]), float(time.time() - t0))
            print(f"vae {step + 1} loss {a[0]:.4f} l1 {a[1]:.4f} stat {a[2]:.4f} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % 10 == 0 or step + 1 == steps:
            torch.save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step + 1}, state)
        if stop_requested():
            break
    export_flux_vae(vae)
    return vae


def train_flux_vae_decoder(steps=int(os.environ.get("DEC_STEPS", 300)), bs=4):
    """Decoder-only fine-tuning with the encoder frozen: the latents (and so a DiT trained on them) stay valid.
    Runs alongside the DiT training; its own state in build/demo/flux_vae_dec.pt."""
    vae = flux_vae_model()
    vae.load_state_dict(torch.load(os.path.join(WORK, "flux_vae.pt"))["model"])
    vae.encoder.requires_grad_(False)
    opt = torch.optim.AdamW(vae.decoder.parameters(), lr=5e-4, weight_decay=0.0)
    state, start = os.path.join(WORK, "flux_vae_dec.pt"), 0
    if os.path.exists(state):
        ck = torch.load(state)
        vae.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    log = Log("flux_vae_dec", ["step", "loss", "l1", "seconds"], start > 0)
    rng, t0, acc = random.Random(50_000 + start), time.time(), []
    for step in range(start, steps):
        _, x = images(rng, bs)
        with torch.no_grad():
            mu = vae.encode(x).latent_dist.mean
        y = vae.decode(mu + 0.1 / SCALE * torch.randn_like(mu)).sample
        wt = 1 + 9 * (x.sum(1, keepdim=True) < 2.8).float()
        l1 = (y - x).abs().mean()
        loss = (wt * ((y - x).abs() + (y - x) ** 2)).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        acc.append((loss.item(), l1.item()))
        if (step + 1) % 10 == 0:
            a = np.mean(acc, 0); acc = []
            log.row(step + 1, float(a[0]), float(a[1]), float(time.time() - t0))
            print(f"dec {step + 1} loss {a[0]:.4f} l1 {a[1]:.4f} {time.time() - t0:.0f}s", flush=True)
            torch.save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step + 1}, state)
            export_flux_vae(vae)
        if os.path.exists(os.path.join(WORK, "STOP_DEC")):
            os.remove(os.path.join(WORK, "STOP_DEC"))
            break


def export_flux_vae(vae):
    from safetensors.torch import save_file
    sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in flux_vae_to_ldm(vae.state_dict(), 4).items()}
    save_file(sd, os.path.join(M, "flux_vae.safetensors"), metadata={"format": "pt"})


def load_flux_vae(encoder_only=False):
    """The shipped VAE: the decoder-tuned one when there is one (same encoder)."""
    vae, dec = flux_vae_model(), os.path.join(WORK, "flux_vae_dec.pt")
    vae.load_state_dict(torch.load(dec if os.path.exists(dec) and not encoder_only else os.path.join(WORK, "flux_vae.pt"))["model"])
    with torch.no_grad():   # run on the stored bf16 values
        for p in vae.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return vae.eval().requires_grad_(False)


# --- FLUX DiT ---------------------------------------------------------------------------------------------
def flux_dit_model():
    from diffusers import FluxTransformer2DModel
    return FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                  attention_head_dim=128, num_attention_heads=1, joint_attention_dim=64,
                                  pooled_projection_dim=64, guidance_embeds=False, axes_dims_rope=(16, 56, 56))


def pack(z):      # [B, 16, 8, 8] -> [B, 16, 64]: feature c*4 + p*2 + q of token (i, j) is z[c, 2i + p, 2j + q]
    B, C, H, W = z.shape
    return z.view(B, C, H // 2, 2, W // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, (H // 2) * (W // 2), C * 4)


def unpack(x, H, W):
    B, N, CC = x.shape
    return x.view(B, H // 2, W // 2, CC // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(B, CC // 4, H, W)


def ids(h, w, L):
    img = torch.zeros(h, w, 3)
    img[..., 1] += torch.arange(h)[:, None]
    img[..., 2] += torch.arange(w)[None, :]
    return img.reshape(h * w, 3), torch.zeros(L, 3)


def dit_v(dit, x, t, txt, vec):
    img_ids, txt_ids = ids(4, 4, txt.shape[1])
    return dit(hidden_states=x, timestep=t, encoder_hidden_states=txt, pooled_projections=vec, img_ids=img_ids,
               txt_ids=txt_ids, guidance=None, return_dict=False)[0]


def flux_latents(n, te, seed=0):
    """n (caption, scaled latent) pairs, cached in build/demo."""
    path = os.path.join(WORK, f"flux_latents_{n}.pt")
    if os.path.exists(path):
        return torch.load(path)
    vae, rng, caps, zs = load_flux_vae(encoder_only=True), random.Random(10_000 + seed), [], []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, n, 200):
            c, x = images(rng, min(200, n - i), two=0.0)
            caps += c
            zs.append((vae.encode(x).latent_dist.mean - SHIFT) * SCALE)
            print(f"encoded {i + len(c)} / {n} {time.time() - t0:.0f}s", flush=True)
    z = torch.cat(zs)
    print("latent mean %.3f std %.3f" % (z.mean(), z.std()))
    torch.save((caps, z), path)
    return caps, z


def train_flux_dit(steps=int(os.environ.get("STEPS", 600)), bs=32, n_data=int(os.environ.get("NDATA", 600))):
    te = TextEncoders()
    caps, z = flux_latents(n_data, te)
    te(list(dict.fromkeys(caps)))
    dit = flux_dit_model()
    ema = flux_dit_model().requires_grad_(False)
    ema.load_state_dict(dit.state_dict())
    print("dit params %.2fM" % (sum(p.numel() for p in dit.parameters()) / 1e6))
    peak = float(os.environ.get("LR", 1e-3))
    opt = torch.optim.AdamW(dit.parameters(), lr=peak, weight_decay=0.0)
    state, start = os.path.join(WORK, "flux_dit.pt"), 0
    if os.path.exists(state):
        ck = torch.load(state)
        dit.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    elif os.path.exists(os.path.join(WORK, "flux_dit_init.pt")):   # warm start (a DiT trained on an earlier VAE)
        ck = torch.load(os.path.join(WORK, "flux_dit_init.pt"))
        dit.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"])
    log = Log("flux", ["step", "loss", "seconds"], start > 0)
    g, t0, acc = torch.Generator().manual_seed(start), time.time(), []
    x0_all = pack(z)
    for step in range(start, steps):
        lr = peak * min(1.0, (step + 1) / 30) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for gr in opt.param_groups:
            gr["lr"] = lr
        idx = torch.randint(0, len(caps), (bs,), generator=g)
        x0 = x0_all[idx]
        txt, vec = te([caps[i] for i in idx.tolist()])
        # t: half logit-normal, half uniform (the 4-step schnell schedule visits 1, 0.75, 0.5, 0.25)
        t = torch.where(torch.rand(bs, generator=g) < 0.5, torch.sigmoid(torch.randn(bs, generator=g)),
                        torch.rand(bs, generator=g))
        noise = torch.randn(x0.shape, generator=g)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
        loss = F.mse_loss(dit_v(dit, xt, t, txt, vec), noise - x0)
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.99, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), dit.parameters()):
                pe.lerp_(p, 1 - d)
        acc.append(loss.item())
        if (step + 1) % 25 == 0:
            log.row(step + 1, float(np.mean(acc)), float(time.time() - t0)); acc = []
            print(f"dit {step + 1} loss {log_last(log):.4f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % 50 == 0 or step + 1 == steps or stop_requested():
            torch.save({"model": dit.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step + 1}, state)
            export_flux_dit(ema)
        if stop_requested():
            break


def log_last(log):
    return float(open(log.path).read().strip().split("\n")[-1].split(",")[1])


def export_flux_dit(dit):
    from safetensors.torch import save_file
    sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in flux_dit_to_bfl(dit.state_dict()).items()}
    save_file(sd, os.path.join(M, "flux_dit.safetensors"), metadata={"format": "pt"})


def load_flux_dit():
    dit = flux_dit_model()
    dit.load_state_dict(torch.load(os.path.join(WORK, "flux_dit.pt"))["ema"])
    with torch.no_grad():
        for p in dit.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return dit.eval().requires_grad_(False)


@torch.no_grad()
def flux_sample(prompts, seed=42, steps=4):
    """The FLUX schnell pipeline in miniature: CPU randn noise [16, 8, 8] per prompt, unshifted linspace(1, 0)
    sigmas, Euler, unpack, z / 0.3611 + 0.1159, VAE decode."""
    te, vae, dit = TextEncoders(), load_flux_vae(), load_flux_dit()
    out = []
    for p in prompts:
        x = pack(torch.randn((1, 16, 8, 8), generator=torch.Generator().manual_seed(seed)))
        txt, vec = te([p])
        sig = torch.linspace(1, 0, steps + 1)
        for i in range(steps):
            x = x + (sig[i + 1] - sig[i]) * dit_v(dit, x, sig[i:i + 1], txt, vec)
        img = vae.decode(unpack(x, 8, 8) / SCALE + SHIFT).sample[0]
        out.append(((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
    return out


DEMO_PROMPTS = [f"a {c} {s} {p}" for c, s, p in zip(
    ["red", "green", "blue", "yellow", "purple"] * 4, ["circle", "square", "triangle", "square"] * 5,
    ["on the left", "on the right", "at the top", "at the bottom", "in the center", "at the top", "on the left",
     "in the center", "on the right", "at the bottom"] * 2)]


def check(prompts, imgs):
    """Prompt following: colour named and centroid on the named side (single-shape prompts)."""
    ok = 0
    for p, im in zip(prompts, imgs):
        col, (cx, cy) = D.classify(im)
        want = [c for c in D.COLORS if c in p][0]
        pos = {"on the left": cx < 0.42, "on the right": cx > 0.58, "at the top": cy < 0.42, "at the bottom": cy > 0.58,
               "in the center": abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1}
        good = col == want and all(v for k, v in pos.items() if k in p)
        ok += good
    return ok / len(prompts)


def grid(imgs, cols):
    from PIL import Image
    rows = [np.concatenate(imgs[i:i + cols], 1) for i in range(0, len(imgs), cols)]
    return Image.fromarray(np.concatenate(rows, 0))

# --- Wan2.1 (Wan's own modules, read from a Wan-Video/Wan2.1 checkout: WAN_REPO, default build/wanrepo) ------
WAN_FRAMES = 5                                   # 4k + 1 -> 2 latent frames of 8x8
WAN_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,   # WanVAE's latent statistics
            0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]   # (wan/modules/vae.py): the
WAN_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,          # pipeline normalises with them
           3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
_wan = None


def wan():
    global _wan
    if _wan is None:
        import gen_wan_e2e as G
        G.stand_ins()
        _wan = G.import_wan(os.environ.get("WAN_REPO", "build/wanrepo"))
    return _wan


def wan_scale():
    m = torch.tensor(WAN_MEAN)
    return [m, 1.0 / torch.tensor(WAN_STD)]


def wan_vae_model():
    return wan()["modules.vae"].WanVAE_(dim=16, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                        temperal_downsample=[False, True, True], dropout=0.0)


def clips(rng, n):
    caps, vids = zip(*(D.sample_clip(rng, WAN_FRAMES) for _ in range(n)))
    x = torch.from_numpy(np.stack(vids)).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0   # [B, 3, F, 64, 64]
    return list(caps), x


def train_wan_vae(steps=int(os.environ.get("STEPS", 400)), bs=2):
    """WanVAE_ (dim 16) on the moving-shape clips: as the FLUX VAE, colour-weighted L1 + L2, the normalised latent
    ((mu - mean) / std, Wan's constants) pulled to mean 0 / std 1 per channel, latent noise for the decoder."""
    vae, sc = wan_vae_model(), wan_scale()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    state, start = os.path.join(WORK, "wan_vae.pt"), 0
    if os.path.exists(state):
        ck = torch.load(state)
        vae.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    log = Log("wan_vae", ["step", "loss", "l1", "stat", "seconds"], start > 0)
    rng, t0, acc = random.Random(7 + start), time.time(), []
    for step in range(start, steps):
        lr = 1e-3 * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        _, x = clips(rng, bs)
        mu = vae.encode(x, sc)
        stat = (mu.mean((0, 2, 3, 4)) ** 2).mean() + (torch.log(mu.std((0, 2, 3, 4))) ** 2).mean()
        y = vae.decode(mu + 0.1 * torch.randn_like(mu), sc)
        wt = 1 + 9 * (x.sum(1, keepdim=True) < 2.8).float()
        l1 = (y - x).abs().mean()
        m = (wt > 1).float()   # mean colour of the shapes, a direct handle on hue (GroupNorm at 1 channel per
        mc = lambda a: (a * m).sum((2, 3)) / m.sum((2, 3)).clamp(min=1)   # group hides magnitudes from the decoder)
        hue = ((mc(y) - mc(x)) ** 2).mean() if step >= 640 else torch.zeros(())
        loss = (wt * ((y - x).abs() + (y - x) ** 2)).mean() + 0.1 * stat + 5 * hue
        opt.zero_grad(); loss.backward(); opt.step()
        acc.append((loss.item(), l1.item(), stat.item()))
        if (step + 1) % 10 == 0:
            a = np.mean(acc, 0); acc = []
            log.row(step + 1, float(a[0]), float(a[1]), float(a[2]), float(time.time() - t0))
            print(f"wan vae {step + 1} loss {a[0]:.4f} l1 {a[1]:.4f} stat {a[2]:.4f} {time.time() - t0:.0f}s", flush=True)
            torch.save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step + 1}, state)
        if stop_requested():
            break
    save_bf16(vae.state_dict(), os.path.join(M, "wan_vae.safetensors"))


def save_bf16(sd, path):
    from safetensors.torch import save_file
    save_file({k: v.detach().to(torch.bfloat16).contiguous() for k, v in sd.items()}, path, metadata={"format": "pt"})


def load_bf16(model, path_pt, key="model"):
    model.load_state_dict(torch.load(path_pt)[key])
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return model.eval().requires_grad_(False)


class WanText:
    """Wan's T5Encoder (umT5 layout), 64 wide, random and frozen, over the caption tokens + eos (no padding:
    Wan cuts the output to the real length)."""
    def __init__(self, create=False):
        from safetensors.torch import load_file
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(M, "t5_spiece.model"))
        torch.manual_seed(4321)
        self.t5 = wan()["modules.t5"].T5Encoder(vocab=self.sp.get_piece_size(), dim=64, dim_attn=64, dim_ffn=128,
                                                num_heads=2, num_layers=2, num_buckets=32, shared_pos=False,
                                                dropout=0.0).eval()
        path = os.path.join(M, "wan_umt5.safetensors")
        if create:
            save_bf16(self.t5.state_dict(), path)
        self.t5.load_state_dict({k: v.float() for k, v in load_file(path).items()})
        self.t5.requires_grad_(False)
        self.cache = {}

    @torch.no_grad()
    def __call__(self, cap):
        if cap not in self.cache:
            ids = torch.tensor([self.sp.encode(cap) + [1]])
            self.cache[cap] = self.t5(ids, torch.ones_like(ids))[0]
        return self.cache[cap]


def wan_dit_model():
    return wan()["modules.model"].WanModel(model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=128,
                                           ffn_dim=256, freq_dim=256, text_dim=64, out_dim=16, num_heads=1,
                                           num_layers=2, window_size=(-1, -1), qk_norm=True, cross_attn_norm=True,
                                           eps=1e-6)


def wan_latents(n):
    path = os.path.join(WORK, f"wan_latents_{n}.pt")
    if os.path.exists(path):
        return torch.load(path)
    vae, sc, rng, caps, zs = load_bf16(wan_vae_model(), os.path.join(WORK, "wan_vae.pt")), wan_scale(), random.Random(20_000), [], []
    with torch.no_grad():
        for i in range(0, n, 20):
            c, x = clips(rng, 20)
            caps += c
            zs.append(vae.encode(x, sc))
            print(f"encoded {i + 20} / {n}", flush=True)
    z = torch.cat(zs)
    print("latent mean %.3f std %.3f" % (z.mean(), z.std()))
    torch.save((caps, z), path)
    return caps, z


def wan_v(dit, x, t, ctx):   # t: Wan timesteps, 0..1000
    return torch.stack(dit(list(x), t, ctx, seq_len=x.shape[2] * x.shape[3] * x.shape[4] // 4))


def train_wan_dit(steps=int(os.environ.get("STEPS", 1500)), bs=32, n_data=int(os.environ.get("NDATA", 600))):
    te = WanText()
    caps, z = wan_latents(n_data)
    dit = wan_dit_model()
    ema = wan_dit_model().requires_grad_(False)
    ema.load_state_dict(dit.state_dict())
    print("wan dit params %.2fM" % (sum(p.numel() for p in dit.parameters()) / 1e6))
    peak = float(os.environ.get("LR", 1e-3))
    opt = torch.optim.AdamW(dit.parameters(), lr=peak, weight_decay=0.0)
    state, start = os.path.join(WORK, "wan_dit.pt"), 0
    if os.path.exists(state):
        ck = torch.load(state)
        dit.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(ck["opt"]); start = ck["step"]
    log = Log("wan", ["step", "loss", "seconds"], start > 0)
    g, t0, acc = torch.Generator().manual_seed(start), time.time(), []
    for step in range(start, steps):
        lr = peak * min(1.0, (step + 1) / 30) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for gr in opt.param_groups:
            gr["lr"] = lr
        idx = torch.randint(0, len(caps), (bs,), generator=g)
        x0 = z[idx]
        ctx = [te(caps[i]) for i in idx.tolist()]
        t = torch.where(torch.rand(bs, generator=g) < 0.5, torch.sigmoid(torch.randn(bs, generator=g)),
                        torch.rand(bs, generator=g))
        noise = torch.randn(x0.shape, generator=g)
        tt = t.view(-1, 1, 1, 1, 1)
        loss = F.mse_loss(wan_v(dit, (1 - tt) * x0 + tt * noise, t * 1000, ctx), noise - x0)
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.99, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), dit.parameters()):
                pe.lerp_(p, 1 - d)
        acc.append(loss.item())
        if (step + 1) % 25 == 0:
            log.row(step + 1, float(np.mean(acc)), float(time.time() - t0)); acc = []
            print(f"wan dit {step + 1} loss {log_last(log):.4f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
        if (step + 1) % 50 == 0 or step + 1 == steps or stop_requested():
            torch.save({"model": dit.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step + 1}, state)
            save_bf16(ema.state_dict(), os.path.join(M, "wan_dit.safetensors"))
        if stop_requested():
            break


@torch.no_grad()
def wan_sample(prompts, seed=42, steps=8):
    """Wan's T2V in miniature with the Euler sampler, shift 1 and no CFG: noise [16, 2, 8, 8] from the CPU
    generator, sigmas linspace(0.999, 0, N + 1)[:-1] then 0, the DiT at t = int(1000 sigma)."""
    te, sc = WanText(), wan_scale()
    vae = load_bf16(wan_vae_model(), os.path.join(WORK, "wan_vae.pt"))
    dit = load_bf16(wan_dit_model(), os.path.join(WORK, "wan_dit.pt"), "ema")
    out = []
    sig = list(np.linspace(0.999, 0, steps + 1)[:-1]) + [0.0]
    for p in prompts:
        x = torch.randn((1, 16, (WAN_FRAMES - 1) // 4 + 1, 8, 8), generator=torch.Generator().manual_seed(seed))
        for i in range(steps):
            t = torch.tensor([float(int(sig[i] * 1000))])
            x = x + (sig[i + 1] - sig[i]) * wan_v(dit, x, t, [te(p)])
        v = vae.decode(x, sc)[0].clamp(-1, 1)
        out.append(((v + 1) / 2 * 255).byte().permute(1, 2, 3, 0).numpy())   # [F, H, W, 3], truncated as Wan
    return out


WAN_PROMPTS = [f"a {c} {s} moving {m}" for c, s, m in zip(["red", "green", "blue", "yellow", "purple"] * 4,
               ["circle", "square", "triangle", "square"] * 5, ["left", "right", "up", "down"] * 5)]


def wan_check(prompts, vids):
    """Colour right and the centroid moving the named way by at least 8 pixels from the first to the last frame."""
    ok = 0
    for p, v in zip(prompts, vids):
        (c0, (x0, y0)), (c1, (x1, y1)) = D.classify(v[0]), D.classify(v[-1])
        want = [c for c in D.COLORS if c in p][0]
        dx, dy = (x1 - x0) * 64, (y1 - y0) * 64
        mv = {"left": dx < -8, "right": dx > 8, "up": dy < -8, "down": dy > 8}[p.split()[-1]]
        ok += c0 == want and c1 == want and mv
    return ok / len(prompts)


# --- loss plots (PIL: matplotlib is not installed) --------------------------------------------------------
def plot(csv_path, png_path, title):
    from PIL import Image, ImageDraw
    rows = list(csv.reader(open(csv_path)))[1:]
    xs = np.array([float(r[0]) for r in rows]); ys = np.array([float(r[1]) for r in rows])
    W, H, L, R, T, B = 640, 360, 60, 20, 30, 40
    im = Image.new("RGB", (W, H), "white"); d = ImageDraw.Draw(im)
    ly = np.log10(ys); y0, y1 = math.floor(ly.min() * 4) / 4, math.ceil(ly.max() * 4) / 4
    X = lambda v: L + (v - xs.min()) / max(1e-9, xs.max() - xs.min()) * (W - L - R)
    Y = lambda v: T + (y1 - v) / max(1e-9, y1 - y0) * (H - T - B)
    d.rectangle([L, T, W - R, H - B], outline="black")
    for e in np.arange(y0, y1 + 1e-9, 0.25):
        d.line([L, Y(e), W - R, Y(e)], fill=(220, 220, 220)); d.text((5, Y(e) - 6), f"{10 ** e:.3g}", fill="black")
    for k in range(6):
        v = xs.min() + k * (xs.max() - xs.min()) / 5
        d.text((X(v) - 10, H - B + 5), f"{int(v)}", fill="black")
    d.line([(X(a), Y(b)) for a, b in zip(xs, ly)], fill=(30, 60, 220), width=2)
    d.text((L, 8), f"{title} (log scale) vs step", fill="black")
    im.save(png_path)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "flux-tok":
        make_tokenizers()
        te = TextEncoders(create=True)
        print("t5 ids", [te.t5_ids(c) for c in ["a blue square above a green triangle", "a red circle on the left"]])
        print("clip ids", te.clip_tok("a blue square above a green triangle")["input_ids"])
        print("max t5 tokens", max(len(te.sp.encode(c)) + 1 for c in D.corpus()))
    elif cmd == "flux-vae":
        train_flux_vae()
        vae, rng = load_flux_vae(), random.Random(99)
        caps, x = images(rng, 8)
        with torch.no_grad():
            y = vae.decode(vae.encode(x).latent_dist.mean).sample
        u8 = lambda t: ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        grid(list(u8(x)) + list(u8(y)), 8).save(os.path.join(WORK, "flux_vae_recon.png"))
    elif cmd == "flux-vae-dec":
        train_flux_vae_decoder()
    elif cmd == "flux-dit":
        train_flux_dit()
    elif cmd == "flux-sample":
        imgs = flux_sample(DEMO_PROMPTS)
        grid(imgs, 5).save(os.path.join(WORK, "flux_samples.png"))
        print("prompt following", check(DEMO_PROMPTS, imgs))
    elif cmd == "wan-text":
        WanText(create=True)
    elif cmd == "wan-vae":
        train_wan_vae()
        vae, rng = load_bf16(wan_vae_model(), os.path.join(WORK, "wan_vae.pt")), random.Random(99)
        caps, x = clips(rng, 4)
        with torch.no_grad():
            y = vae.decode(vae.encode(x, wan_scale()), wan_scale())
        u8 = lambda t: ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
        xs, ys = u8(x), u8(y)
        grid([f for k in range(4) for f in list(xs[k]) + list(ys[k])], 2 * WAN_FRAMES).save(os.path.join(WORK, "wan_vae_recon.png"))
    elif cmd == "wan-dit":
        train_wan_dit()
    elif cmd == "wan-sample":
        vids = wan_sample(WAN_PROMPTS)
        grid([f for v in vids for f in v], WAN_FRAMES).save(os.path.join(WORK, "wan_samples.png"))
        print("prompt following", wan_check(WAN_PROMPTS, vids))
    elif cmd == "plot":
        for name, title in (("flux", "FLUX DiT flow-matching loss"), ("flux_vae", "FLUX VAE loss"),
                            ("wan", "Wan DiT flow-matching loss"), ("wan_vae", "Wan VAE loss")):
            if os.path.exists(os.path.join(M, f"loss_{name}.csv")):
                plot(os.path.join(M, f"loss_{name}.csv"), os.path.join(M, f"loss_{name}.png"), title)
    else:
        sys.exit(__doc__)
