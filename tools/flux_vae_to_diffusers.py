#!/usr/bin/env python3
"""Rename a FLUX VAE checkpoint from the LDM / BFL `ae.safetensors` layout to diffusers AutoencoderKL.

    python3 tools/flux_vae_to_diffusers.py IN.safetensors OUT.safetensors [--prefix vae.] [--check IO.safetensors]

Values are copied bit for bit (same dtype); only names change, plus the mid-block attention's 1x1 conv
weights [C, C, 1, 1] become Linear weights [C, C] as diffusers stores them. With --check the converted
weights are loaded into diffusers' own AutoencoderKL and its encoder/decoder outputs are compared with
the expected outputs of a fixture io file (z -> decoded, image -> moments).

Used to make tests/fixtures/flux_vae_diffusers.weights.safetensors from tests/fixtures/flux_vae.weights.safetensors.
"""
import argparse
import re
import sys

from safetensors.torch import load_file, save_file

ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def rename(key, n_up):
    """LDM key -> diffusers key; n_up = number of decoder levels (diffusers numbers up_blocks in reverse)."""
    k = key.replace("nin_shortcut", "conv_shortcut")
    k = re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out.", k)
    k = re.sub(r"^(encoder|decoder)\.mid\.block_(\d+)\.", lambda m: f"{m[1]}.mid_block.resnets.{int(m[2]) - 1}.", k)
    k = re.sub(r"^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.",
               lambda m: f"{m[1]}.mid_block.attentions.0.{ATTN[m[2]]}.", k)
    k = re.sub(r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2.", k)
    k = re.sub(r"^encoder\.down\.(\d+)\.downsample\.conv\.", r"encoder.down_blocks.\1.downsamplers.0.conv.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.block\.(\d+)\.",
               lambda m: f"decoder.up_blocks.{n_up - 1 - int(m[1])}.resnets.{m[2]}.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.upsample\.conv\.",
               lambda m: f"decoder.up_blocks.{n_up - 1 - int(m[1])}.upsamplers.0.conv.", k)
    return k


def convert(sd):
    n_up = 1 + max(int(m[1]) for m in (re.match(r"decoder\.up\.(\d+)\.", k) for k in sd) if m)
    out = {}
    for key, t in sd.items():
        nk = rename(key, n_up)
        if ".mid_block.attentions.0.to_" in nk and nk.endswith(".weight") and t.ndim == 4:
            t = t.reshape(t.shape[0], t.shape[1])
        out[nk] = t.contiguous()
    return out


def check(sd, io_path):
    import torch
    from diffusers import AutoencoderKL
    io = load_file(io_path)
    n_lv = 1 + max(int(m[1]) for m in (re.match(r"encoder\.down_blocks\.(\d+)\.", k) for k in sd) if m)
    widths = [sd[f"encoder.down_blocks.{i}.resnets.0.conv1.weight"].shape[0] for i in range(n_lv)]
    nrb = 1 + max(int(m[1]) for m in (re.match(r"encoder\.down_blocks\.0\.resnets\.(\d+)\.", k) for k in sd) if m)
    z = sd["decoder.conv_in.weight"].shape[1]
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=z, block_out_channels=tuple(widths),
                        down_block_types=("DownEncoderBlock2D",) * n_lv, up_block_types=("UpDecoderBlock2D",) * n_lv,
                        layers_per_block=nrb, norm_num_groups=32, use_quant_conv=False, use_post_quant_conv=False)
    vae.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)   # raises on any name/shape mismatch
    vae.eval()
    with torch.no_grad():
        dec = vae.decoder(io["z"].float())
        mom = vae.encoder(io["image"].float())
    ok = True
    for name, got in (("decoded", dec), ("moments", mom)):
        ref = io[name].float()
        err = ((got - ref).norm() / ref.norm()).item()
        print(f"diffusers AutoencoderKL {name}: rel L2 {err:.3g}")
        ok &= err < 1e-3
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--prefix", default="", help="key prefix to add, e.g. vae.")
    ap.add_argument("--check", metavar="IO", help="fixture io file: run diffusers AutoencoderKL on the result")
    a = ap.parse_args()
    sd = convert(load_file(a.src))
    if a.check and not check(sd, a.check):
        sys.exit("converted weights do not reproduce the fixture outputs")
    save_file({a.prefix + k: v for k, v in sorted(sd.items())}, a.dst,
              metadata={"component": "flux-vae", "layout": "diffusers AutoencoderKL", "source": "tools/flux_vae_to_diffusers.py"})
    print(f"{a.dst}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
