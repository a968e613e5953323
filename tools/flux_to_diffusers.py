#!/usr/bin/env python3
"""Convert a FLUX.1 DiT checkpoint from BFL names (also ComfyUI's "model.diffusion_model." prefix) to the
names of diffusers' FluxTransformer2DModel, keeping every tensor's dtype and values.

    python3 tools/flux_to_diffusers.py flux1-dev.safetensors flux1-dev.diffusers.safetensors

The mapping follows the facts of diffusers' own single-file conversion:
  - q, k, v are separate tensors in diffusers: BFL's fused qkv (and the single block's linear1, which
    also holds the MLP input) are split by output rows.
  - norm_out.linear holds (scale, shift) where BFL's final_layer.adaLN_modulation.1 holds (shift, scale).
Sizes come from the tensor shapes (hidden = rows of img_in), so tiny test models convert too.
"""
import argparse
import re
import sys

import torch
from safetensors.torch import load_file, save_file

PREFIXES = ("model.diffusion_model.", "diffusion_model.")

# BFL name (without .weight/.bias) -> diffusers name, for tensors that only change name.
TOP = {
    "img_in": "x_embedder",
    "txt_in": "context_embedder",
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "final_layer.linear": "proj_out",
}
DOUBLE = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
}
SINGLE = {
    "modulation.lin": "norm.linear",
    "linear2": "proj_out",
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
}
# Fused BFL tensors -> diffusers parts, stacked along the output rows (sizes in units of hidden, "mlp" = rest).
DOUBLE_SPLIT = {
    "img_attn.qkv": ["attn.to_q", "attn.to_k", "attn.to_v"],
    "txt_attn.qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"],
}
SINGLE_SPLIT = {
    "linear1": ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"],
}


def rename(name, table):
    """table maps a BFL stem to a diffusers stem; the .weight/.bias suffix (if any) carries over."""
    if name in table:                       # norm scales: full names on both sides
        return table[name]
    stem, _, suffix = name.rpartition(".")
    if suffix in ("weight", "bias") and stem in table:
        return table[stem] + "." + suffix
    return None


def split_rows(t, hidden, n_parts):
    """q, k, v of `hidden` rows each, then (for 4 parts) the MLP rows that remain."""
    sizes = [hidden] * 3 + ([t.shape[0] - 3 * hidden] if n_parts == 4 else [])
    if sum(sizes) != t.shape[0] or min(sizes) <= 0:
        raise ValueError(f"cannot split {tuple(t.shape)} into {sizes}")
    return torch.split(t, sizes, dim=0)


def convert(sd):
    for p in PREFIXES:
        if any(k.startswith(p) for k in sd):
            sd = {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}
            break
    if "img_in.weight" not in sd or "double_blocks.0.img_attn.qkv.weight" not in sd:
        raise ValueError("not a BFL-layout FLUX DiT checkpoint (img_in.weight / double_blocks.0.img_attn.qkv.weight missing)")
    hidden = sd["img_in.weight"].shape[0]
    out = {}
    for name, t in sd.items():
        m = re.match(r"(double_blocks|single_blocks)\.(\d+)\.(.*)$", name)
        if m:
            kind, idx, rest = m.groups()
            prefix = ("transformer_blocks." if kind == "double_blocks" else "single_transformer_blocks.") + idx + "."
            plain, split = (DOUBLE, DOUBLE_SPLIT) if kind == "double_blocks" else (SINGLE, SINGLE_SPLIT)
        else:
            prefix, rest, plain, split = "", name, TOP, {}
        new = rename(rest, plain)
        if new is not None:
            out[prefix + new] = t
            continue
        stem, _, suffix = rest.rpartition(".")
        if stem in split:
            for part_name, part in zip(split[stem], split_rows(t, hidden, len(split[stem]))):
                out[prefix + part_name + "." + suffix] = part.contiguous()
            continue
        if stem == "final_layer.adaLN_modulation.1":
            shift, scale = t.chunk(2, dim=0)
            out["norm_out.linear." + suffix] = torch.cat([scale, shift], dim=0)
            continue
        raise ValueError(f"no diffusers name for '{name}'")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="BFL / ComfyUI FLUX DiT .safetensors")
    ap.add_argument("dst", help="output .safetensors with diffusers names")
    a = ap.parse_args()
    sd = load_file(a.src)
    out = convert(sd)
    save_file(out, a.dst, metadata={"format": "pt"})
    print(f"{a.dst}: {len(out)} tensors (from {len(sd)})", file=sys.stderr)


if __name__ == "__main__":
    main()
