#!/usr/bin/env python3
"""Rename a Wan2.1 DiT checkpoint from the original Wan-Video names (also ComfyUI's
"model.diffusion_model." repackage) to diffusers' WanTransformer3DModel names. Tensors are copied
unchanged (same dtype, same shape): only the names differ between the two layouts.

    python3 tools/wan_to_diffusers.py IN.safetensors OUT.safetensors [--check IO.safetensors]

--check loads OUT into diffusers' own WanTransformer3DModel (config derived from the shapes),
runs it on the inputs of a reference io file (x, t, context[, y, clip_fea]) and prints the rel L2
against its expected "out". That verifies the renaming against diffusers, independently of our C code.

Facts used (from diffusers' Wan single-file conversion): time_embedding.{0,2} -> condition_embedder.
time_embedder.linear_{1,2}; text_embedding.{0,2} -> condition_embedder.text_embedder.linear_{1,2};
time_projection.1 -> condition_embedder.time_proj; self_attn/cross_attn -> attn1/attn2 with q,k,v,o
-> to_q,to_k,to_v,to_out.0 and k_img,v_img,norm_k_img -> add_k_proj,add_v_proj,norm_added_k;
ffn.0/ffn.2 -> ffn.net.0.proj/ffn.net.2; modulation -> scale_shift_table; head.head -> proj_out;
img_emb.proj.{0,1,3,4} -> condition_embedder.image_embedder.{norm1,ff.net.0.proj,ff.net.2,norm2};
img_emb.emb_pos -> condition_embedder.image_embedder.pos_embed; and Wan's norm3 (the affine
cross-attention norm) is diffusers' norm2 (Wan's parameter-free norm2 is diffusers' norm3).
"""
import argparse
import re
import sys

import torch
from safetensors.torch import load_file, save_file

# whole-name prefixes outside the blocks
TOP = [
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
    ("head.head.", "proj_out."),
    ("img_emb.proj.0.", "condition_embedder.image_embedder.norm1."),
    ("img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."),
    ("img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."),
    ("img_emb.proj.4.", "condition_embedder.image_embedder.norm2."),
]
TOP_EXACT = {
    "head.modulation": "scale_shift_table",
    "img_emb.emb_pos": "condition_embedder.image_embedder.pos_embed",
}
# the part of a block key after "blocks.N."
ATTN_MODULE = {"self_attn": "attn1", "cross_attn": "attn2"}
ATTN_PART = {"q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0", "norm_q": "norm_q", "norm_k": "norm_k",
             "k_img": "add_k_proj", "v_img": "add_v_proj", "norm_k_img": "norm_added_k"}
BLOCK_PART = {"modulation": "scale_shift_table", "norm3.weight": "norm2.weight", "norm3.bias": "norm2.bias",
              "ffn.0.weight": "ffn.net.0.proj.weight", "ffn.0.bias": "ffn.net.0.proj.bias",
              "ffn.2.weight": "ffn.net.2.weight", "ffn.2.bias": "ffn.net.2.bias"}


def diffusers_name(name):
    if name.startswith("model.diffusion_model."):
        name = name[len("model.diffusion_model."):]
    m = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
    if m:
        n, rest = m.groups()
        a = re.fullmatch(r"(self_attn|cross_attn)\.([a-z_]+)\.(weight|bias)", rest)
        if a:
            mod, part, kind = a.groups()
            return f"blocks.{n}.{ATTN_MODULE[mod]}.{ATTN_PART[part]}.{kind}"
        if rest in BLOCK_PART:
            return f"blocks.{n}.{BLOCK_PART[rest]}"
        raise KeyError(f"no diffusers name for {name}")
    if name in TOP_EXACT:
        return TOP_EXACT[name]
    for old, new in TOP:
        if name.startswith(old):
            return new + name[len(old):]
    if name.startswith("patch_embedding."):
        return name
    raise KeyError(f"no diffusers name for {name}")


def check(sd, io_path):
    from diffusers import WanTransformer3DModel
    io = load_file(io_path)
    dim = sd["patch_embedding.weight"].shape[0]
    img = "condition_embedder.image_embedder.norm1.weight" in sd
    cfg = dict(patch_size=(1, 2, 2), num_attention_heads=dim // 128, attention_head_dim=128,
               in_channels=sd["patch_embedding.weight"].shape[1], out_channels=sd["proj_out.weight"].shape[0] // 4,
               text_dim=sd["condition_embedder.text_embedder.linear_1.weight"].shape[1],
               freq_dim=sd["condition_embedder.time_embedder.linear_1.weight"].shape[1],
               ffn_dim=sd["blocks.0.ffn.net.0.proj.weight"].shape[0],
               num_layers=len({k.split(".")[1] for k in sd if k.startswith("blocks.")}),
               cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
               image_dim=1280 if img else None, added_kv_proj_dim=dim if img else None)
    model = WanTransformer3DModel(**cfg).float().eval()
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    x = io["x"][None]
    if "y" in io and cfg["in_channels"] > x.shape[1]:
        x = torch.cat([x, io["y"][None]], dim=1)
    ctx = io["context"]
    ctx = torch.cat([ctx, ctx.new_zeros(512 - ctx.shape[0], ctx.shape[1])])[None]   # WanModel pads to 512
    with torch.no_grad():
        out = model(hidden_states=x, timestep=io["t"], encoder_hidden_states=ctx,
                    encoder_hidden_states_image=io["clip_fea"] if img else None, return_dict=False)[0][0]
    ref = io["out"]
    err = ((out - ref).norm() / ref.norm()).item()
    print(f"diffusers WanTransformer3DModel vs {io_path}: rel L2 {err:.3g}")
    return err


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--check", metavar="IO", help="run diffusers' model on this io file and compare with its 'out'")
    args = ap.parse_args()
    sd = load_file(args.src)
    out = {diffusers_name(k): v.contiguous() for k, v in sd.items()}
    assert len(out) == len(sd), "two tensors map to one diffusers name"
    save_file(dict(sorted(out.items())), args.dst, metadata={"format": "pt", "source": "tools/wan_to_diffusers.py"})
    print(f"{args.dst}: {len(out)} tensors")
    if args.check and check(out, args.check) > 1e-3:
        sys.exit(1)


if __name__ == "__main__":
    main()
