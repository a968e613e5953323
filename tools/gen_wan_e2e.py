#!/usr/bin/env python3
"""Reference for the Wan2.1 pipeline, end to end (tests/fixtures/wan_e2e/, read by tests/test_wan_pipe.c).

Runs Wan's OWN generation code: `WanT2V.generate` and `WanI2V.generate` (wan/text2video.py, wan/image2video.py of
Wan-Video/Wan2.1), called on a stand-in `self` that holds tiny models instead of the released ones:

  DiT      WanModel loaded from tests/fixtures/wan_t2v_dit / wan_i2v_dit (dim 256 = 2 heads, 2 layers, text dim 80)
  VAE      WanVAE_ (dim 16) loaded from tests/fixtures/wan_vae, wrapped in Wan's WanVAE (latent mean/std scaling)
  umT5     Wan's T5Encoder, d_model 80, 2 heads, 2 layers, random weights (rounded to bf16), written here as a
           Wan-layout .pth (umt5.pth); Wan's T5EncoderModel.__call__ (mask, cut to the real length) runs it
  tokenizer Wan's HuggingfaceTokenizer (clean='whitespace': ftfy + html unescape + whitespace collapse) over the
           tok branch's SentencePiece Unigram test model tests/fixtures/tokenizers/uni_nfkc.tokenizer.json.gz
  CLIP     case i2v: Wan's CLIPModel.visual (bicubic 224, normalisation) in front of a stand-in tower that
           returns fixed features clip_fea[i] = ((37 i) mod 101) / 50 - 1 over [257, 1280] (the C test rebuilds
           them); the preprocessed 224x224 input is saved (clip_pixels) to check the C preprocessing on its own.
           case i2v_clip: Wan's own VisionTransformer (dim 32, 3 blocks, exact GELU) with the weights of
           tests/fixtures/clip_vision_wan.weights.pth, and a DiT made here for its width (i2v_clip_dit.safetensors:
           dim 128 = 1 head, 1 layer, img_emb MLPProj(32, 128); Wan hard-codes 1280 there, so that one module is
           built with 32), random, rounded to bf16.

The only change to Wan's code: `flash_attention` (CUDA only) is replaced by an f32 scaled_dot_product_attention
with the same key-length semantics. Everything runs in f32 on the CPU with torch's CPU generator.

Usage: python3 tools/gen_wan_e2e.py --wan-repo /tmp/Wan2.1 [--out tests/fixtures/wan_e2e]
(Wan's code is only read from that folder; `easydict` / `einops` are stood in for when not installed.)
"""
import argparse, gzip, json, os, sys, tempfile, types

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")

# cases: name -> generate() arguments (size is Wan's (width, height))
CASES = [
    dict(name="t2v", kind="t2v", prompt="A red fox runs through the snowy forest,  cinematic light.\n",
         negative="blurry, low quality, static", size=(64, 64), frames=5, steps=4, cfg=5.0, shift=5.0, seed=42),
    # n_prompt "" -> Wan's default Chinese negative prompt (fullwidth commas, which ftfy turns into ',')
    dict(name="t2v_defneg", kind="t2v", prompt="two cats   playing chess on a wooden table",
         negative="", size=(80, 48), frames=9, steps=3, cfg=4.0, shift=3.0, seed=7),
    dict(name="i2v", kind="i2v", prompt="the scene slowly comes alive", negative="still image",
         image=(72, 40), max_area=64 * 64, frames=5, steps=4, cfg=5.0, shift=3.0, seed=1234),
    # the whole I2V path with a CLIP tower (tests/fixtures/clip_vision_wan.weights.pth, 32 wide) and a DiT made for it
    dict(name="i2v_clip", kind="i2v_clip", prompt="a lighthouse in a storm", negative="",
         image=(72, 40), max_area=96 * 96, frames=5, steps=3, cfg=4.5, shift=3.0, seed=99),
]

CLEAN_INPUTS = ["  A  red\tfox\n\n jumps  ", "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48\uff0c\uff54\uff45\uff58\uff54\uff01",
                "\u201ccurly\u201d \u2018quotes\u2019 don\u2019t", "\ufb01ne \ufb02owers", "Tom &amp; Jerry &lt;3 &amp;amp; &#65;&#x42;",
                "ideographic\u3000space\u00a0nbsp\u2003em", "control\x01\x7fchars\ufeff", "caf\u00e9 \u65e5\u672c\u8a9e"]


def stand_ins():
    """Tiny replacements for two small packages Wan imports, used only when they are missing."""
    try:
        import easydict  # noqa: F401
    except ImportError:
        m = types.ModuleType("easydict")

        class EasyDict(dict):
            __getattr__ = dict.__getitem__

            def __setattr__(self, k, v):
                self[k] = v
        m.EasyDict = EasyDict
        sys.modules["easydict"] = m
    try:
        import einops  # noqa: F401
    except ImportError:
        m = types.ModuleType("einops")

        def rearrange(x, pattern, **kw):   # the two patterns wan/modules/vae.py uses
            p = pattern.replace(" ", "")
            if p == "bcthw->(bt)chw":
                b, c, t, h, w = x.shape
                return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            if p == "(bt)chw->bcthw":
                bt, c, h, w = x.shape
                t = kw["t"]
                return x.reshape(bt // t, t, c, h, w).permute(0, 2, 1, 3, 4)
            raise NotImplementedError(pattern)
        m.rearrange = rearrange
        sys.modules["einops"] = m


def import_wan(repo):
    """Import Wan's modules without running wan/__init__.py (it pulls in every pipeline and its dependencies)."""
    for pkg in ("wan", "wan.modules", "wan.utils", "wan.distributed", "wan.configs"):
        m = types.ModuleType(pkg)
        m.__path__ = [os.path.join(repo, *pkg.split("."))]
        sys.modules[pkg] = m
    import importlib
    current_device, torch.cuda.current_device = torch.cuda.current_device, lambda: 0   # a default argument in t5.py
    mods = {n: importlib.import_module("wan." + n) for n in
            ("text2video", "image2video", "modules.model", "modules.t5", "modules.vae", "modules.clip",
             "modules.tokenizers", "configs.shared_config")}
    torch.cuda.current_device = current_device

    def sdpa_flash_attention(q, k, v, q_lens=None, k_lens=None, dropout_p=0., softmax_scale=None, q_scale=None,
                             causal=False, window_size=(-1, -1), deterministic=False, dtype=None, version=None):
        # q [B, Lq, N, D], k/v [B, Lk, N, D]; keys past k_lens[b] are not attended (flash_attn_varlen)
        assert not causal and tuple(window_size) == (-1, -1) and q_lens is None
        mask = None
        if k_lens is not None:
            mask = (torch.arange(k.shape[1])[None, :] < k_lens[:, None])[:, None, None, :]
        if q_scale is not None:
            q = q * q_scale
        x = F.scaled_dot_product_attention(q.transpose(1, 2).float(), k.transpose(1, 2).float(),
                                           v.transpose(1, 2).float(), attn_mask=mask, scale=softmax_scale)
        return x.transpose(1, 2).contiguous().type(q.dtype)
    mods["modules.model"].flash_attention = sdpa_flash_attention
    mods["modules.clip"].flash_attention = sdpa_flash_attention
    return mods


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


def tiny_umt5(wan, vocab):
    """Wan's T5Encoder (umT5 layout: a relative-position table per block), random, rounded to bf16."""
    torch.manual_seed(2024)
    m = wan["modules.t5"].T5Encoder(vocab=vocab, dim=80, dim_attn=80, dim_ffn=160, num_heads=2, num_layers=2,
                                    num_buckets=32, shared_pos=False, dropout=0.0).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "pos_embedding" in name:
                p.copy_(0.5 * torch.randn_like(p))
            p.copy_(bf16(p))
    return m


def clip_features():
    i = np.arange(257 * 1280, dtype=np.int64)
    return torch.from_numpy((((i * 37) % 101).astype(np.float32) / np.float32(50) - np.float32(1)).reshape(1, 257, 1280))


def test_image(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127.5 + 127.5 * np.sin(x / 7.0 + y / 11.0)
    g = 255.0 * x / (w - 1)
    b = np.where((x - w / 3) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2, 230.0, 40.0 + 3.0 * y)
    return Image.fromarray(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wan-repo", required=True, help="a checkout of Wan-Video/Wan2.1 (read only)")
    ap.add_argument("--out", default=os.path.join(FIX, "wan_e2e"))
    ap.add_argument("--tokenizer", default=os.path.join(FIX, "tokenizers", "uni_nfkc.tokenizer.json.gz"))
    a = ap.parse_args()
    stand_ins()
    wan = import_wan(os.path.abspath(a.wan_repo))
    os.makedirs(a.out, exist_ok=True)
    torch.set_grad_enabled(False)
    dev = torch.device("cpu")

    # tokenizer: Wan's HuggingfaceTokenizer (AutoTokenizer) over a folder holding the test tokenizer.json
    tokdir = tempfile.mkdtemp(prefix="wan_e2e_tok_")
    with gzip.open(a.tokenizer, "rb") as f, open(os.path.join(tokdir, "tokenizer.json"), "wb") as g:
        g.write(f.read())
    with open(os.path.join(tokdir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "T5Tokenizer", "extra_ids": 0, "eos_token": "</s>", "pad_token": "<pad>",
                   "unk_token": "<unk>", "model_max_length": 512}, f)
    tok = wan["modules.tokenizers"].HuggingfaceTokenizer(name=tokdir, seq_len=512, clean="whitespace")
    vocab = len(tok.tokenizer)

    # umT5: written as Wan's .pth (bf16), used in f32
    t5 = tiny_umt5(wan, vocab)
    torch.save({k: v.to(torch.bfloat16) for k, v in t5.state_dict().items()}, os.path.join(a.out, "umt5.pth"))
    te = wan["modules.t5"].T5EncoderModel.__new__(wan["modules.t5"].T5EncoderModel)
    te.text_len, te.dtype, te.device, te.model, te.tokenizer = 512, torch.float32, dev, t5, tok

    # VAE: WanVAE_ with the fixture's weights, inside Wan's WanVAE; decode() records the final latents
    VAEW = wan["modules.vae"].WanVAE
    vae_model = wan["modules.vae"].WanVAE_(dim=16, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                           temperal_downsample=[False, True, True], dropout=0.0).eval()
    vae_model.load_state_dict({k: v.float() for k, v in load_file(os.path.join(FIX, "wan_vae.weights.safetensors")).items()})

    class RecordingVAE(VAEW):
        def decode(self, zs):
            self.latents = zs[0].clone()
            return super().decode(zs)

        def encode(self, videos):
            self.encoded = super().encode(videos)
            return self.encoded
    vae = RecordingVAE.__new__(RecordingVAE)
    vae.dtype, vae.device = torch.float, dev
    vae.mean = torch.tensor([-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                             0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921])
    vae.std = torch.tensor([2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                            3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160])
    vae.scale = [vae.mean, 1.0 / vae.std]
    vae.model = vae_model

    def dit(kind):
        m = wan["modules.model"].WanModel(model_type=kind, patch_size=(1, 2, 2), text_len=512,
                                          in_dim=16 if kind == "t2v" else 36, dim=256, ffn_dim=512, freq_dim=256,
                                          text_dim=80, out_dim=16, num_heads=2, num_layers=2, window_size=(-1, -1),
                                          qk_norm=True, cross_attn_norm=True, eps=1e-6).eval()
        sd = load_file(os.path.join(FIX, "wan_%s_dit.weights.safetensors" % kind))
        m.load_state_dict({k: v.float() for k, v in sd.items()})
        return m

    # CLIP: Wan's CLIPModel.visual preprocessing in front of a tower returning clip_features()
    import torchvision.transforms as T
    rec = {}

    class Tower:
        image_size = 224

        def to(self, *a, **k):
            return self

        def visual(self, x, use_31_block=False):
            assert use_31_block
            rec["clip_pixels"] = x.clone()
            return clip_features()
    clip = wan["modules.clip"].CLIPModel.__new__(wan["modules.clip"].CLIPModel)
    clip.dtype, clip.device, clip.model = torch.float32, dev, Tower()
    clip.transforms = T.Compose([T.Normalize(mean=[0.48145466, 0.4578275, 0.40821073],
                                             std=[0.26862954, 0.26130258, 0.27577711])])

    # i2v_clip: Wan's VisionTransformer with the clip_vision fixture, and a DiT for its 32-wide features
    vit = wan["modules.clip"].VisionTransformer(image_size=224, patch_size=14, dim=32, mlp_ratio=2, out_dim=16,
                                                num_heads=1, num_layers=3, pool_type="token", pre_norm=True,
                                                post_norm=False, activation="gelu").eval()
    vsd = torch.load(os.path.join(FIX, "clip_vision_wan.weights.pth"), map_location="cpu")
    vit.load_state_dict({k[len("visual."):]: v.float() for k, v in vsd.items() if k.startswith("visual.")})

    class Holder(torch.nn.Module):
        image_size = 224

        def __init__(self):
            super().__init__()
            self.vit = vit

        def visual(self, x, use_31_block=False):
            rec["clip_fea"] = self.vit(x, use_31_block=use_31_block)
            return rec["clip_fea"]
    clip_tower = wan["modules.clip"].CLIPModel.__new__(wan["modules.clip"].CLIPModel)
    clip_tower.dtype, clip_tower.device, clip_tower.model, clip_tower.transforms = torch.float32, dev, Holder(), clip.transforms

    torch.manual_seed(77)
    dc = wan["modules.model"].WanModel(model_type="i2v", patch_size=(1, 2, 2), text_len=512, in_dim=36, dim=128,
                                       ffn_dim=256, freq_dim=256, text_dim=80, out_dim=16, num_heads=1, num_layers=1,
                                       window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6).eval()
    dc.img_emb = wan["modules.model"].MLPProj(32, 128)
    for name, prm in dc.named_parameters():
        if "norm" in name or "img_emb.proj.0" in name or "img_emb.proj.4" in name:
            prm.copy_(1 + 0.2 * torch.randn_like(prm) if name.endswith("weight") else 0.1 * torch.randn_like(prm))
        elif "modulation" in name:
            prm.copy_(0.3 * torch.randn_like(prm))
        elif name.endswith("bias"):
            prm.copy_(0.1 * torch.randn_like(prm))
        else:
            prm.copy_(torch.randn_like(prm) / prm[0].numel() ** 0.5)
        prm.copy_(bf16(prm))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in dc.state_dict().items()},
              os.path.join(a.out, "i2v_clip_dit.safetensors"))

    cfg = wan["configs.shared_config"].wan_shared_cfg
    models = {"t2v": dit("t2v"), "i2v": dit("i2v"), "i2v_clip": dc}
    out, meta = {}, {}
    for c in CASES:
        n = c["name"]
        me = types.SimpleNamespace(device=dev, config=cfg, rank=0, t5_cpu=False, num_train_timesteps=1000,
                                   param_dtype=torch.bfloat16, text_encoder=te, vae_stride=(4, 8, 8),
                                   patch_size=(1, 2, 2), vae=vae, model=models[c["kind"]], sp_size=1,
                                   sample_neg_prompt=cfg.sample_neg_prompt,
                                   clip=clip_tower if c["kind"] == "i2v_clip" else clip)
        common = dict(frame_num=c["frames"], shift=c["shift"], sample_solver="unipc", sampling_steps=c["steps"],
                      guide_scale=c["cfg"], n_prompt=c["negative"], seed=c["seed"], offload_model=False)
        if c["kind"] == "t2v":
            video = wan["text2video"].WanT2V.generate(me, c["prompt"], size=c["size"], **common)
        else:
            img = test_image(*c["image"])
            img.save(os.path.join(a.out, "i2v_image.png"))
            video = wan["image2video"].WanI2V.generate(me, c["prompt"], img, max_area=c["max_area"], **common)
            if c["kind"] == "i2v":
                out[n + ".clip_pixels"] = rec["clip_pixels"][0].to(torch.float16)
            else:
                out[n + ".clip_fea"] = rec["clip_fea"][0]
            out[n + ".y_latent"] = vae.encoded[0]          # normalised VAE latent of [image, zeros]
        lat = vae.latents
        out[n + ".latents"] = lat
        out[n + ".video"] = video                          # [3, F, H, W] in [-1, 1] (decode clamps)
        neg = c["negative"] or cfg.sample_neg_prompt
        for which, text in (("prompt", c["prompt"]), ("negative", neg)):
            ids, mask = tok([text], return_mask=True, add_special_tokens=True)
            out["%s.%s_ids" % (n, which)] = ids[0, :int(mask.sum())].to(torch.float32)
            out["%s.%s_context" % (n, which)] = te([text], dev)[0]
        if n in ("t2v_defneg", "i2v_clip"):
            del out[n + ".video"]                          # the latents suffice here
        meta[n] = dict(c, height=int(video.shape[2]), width=int(video.shape[3]))
        print("%-10s latents %s |x| %.4f  video %s range [%.3f, %.3f]" % (n, tuple(lat.shape), lat.abs().mean(),
              tuple(video.shape), video.min(), video.max()))
    # Wan's prompt cleaning (HuggingfaceTokenizer._clean, clean='whitespace') on inputs that reach its parts
    tk = wan["modules.tokenizers"]
    clean = [[t, tk.whitespace_clean(tk.basic_clean(t))] for t in CLEAN_INPUTS + [cfg.sample_neg_prompt]]
    # flat string metadata for the C test: "<case>.<key>" and "clean.<i>.in/out"
    flat = {"note": "tools/gen_wan_e2e.py: Wan's WanT2V/WanI2V.generate on tiny models, f32, CPU generator"}
    for n, m in meta.items():
        for k in ("prompt", "negative", "width", "height", "frames", "steps", "cfg", "shift", "seed"):
            flat["%s.%s" % (n, k)] = str(m[k])
    for i, (t, c) in enumerate(clean):
        flat["clean.%d.in" % i], flat["clean.%d.out" % i] = t, c
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(a.out, "ref.safetensors"), metadata=flat)
    for f in os.listdir(a.out):
        os.chmod(os.path.join(a.out, f), 0o644)


if __name__ == "__main__":
    main()
