#!/usr/bin/env python3
"""Write a random-weight FLUX.1-dev DiT of the real shapes (12B parameters) as GGUF, streaming to disk,
plus a tiny input file, for memory measurements of full-size runs (weights mean nothing).

    python3 tools/gen_flux_gguf.py /tmp/flux_q4k.gguf [--type q4_K|q8_0] [--depth 19 --depth-single 38]
                                   [--io /tmp/flux_io.safetensors --tokens 16 --text 8]

Tensors follow `diffsynth quantize --type TYPE` on a BFL checkpoint: the 2-D weights in the block type,
1-D tensors and the in/out embedders (img_in, txt_in, time_in, vector_in, guidance_in, final_layer) in F32.
Blocks are random bytes with fixed small scales (finite values of about 1e-2). Q4_K is ~6.8 GB and
Q8_0 ~12.7 GB: keep it out of the repository (/tmp), and check the free disk first.
"""
import argparse
import os
import shutil
import struct
import sys

import numpy as np

H, F, CTX, VEC, TEMB, HEAD = 3072, 12288, 4096, 768, 256, 128
TYPES = {"q4_K": (12, 256, 144), "q8_0": (8, 32, 34)}   # ggml id, block, bytes
FTYPE = {"q4_K": 14, "q8_0": 7}


def tensors(depth, depth_single):
    """(name, PyTorch shape, quantize?) in file order: top, blocks in order, final layer."""
    def lin(name, o, i, q=True):
        return [(name + ".weight", (o, i), q), (name + ".bias", (o,), False)]
    t = lin("img_in", H, 64, False) + lin("txt_in", H, CTX, False)
    t += lin("time_in.in_layer", H, TEMB, False) + lin("time_in.out_layer", H, H, False)
    t += lin("vector_in.in_layer", H, VEC, False) + lin("vector_in.out_layer", H, H, False)
    t += lin("guidance_in.in_layer", H, TEMB, False) + lin("guidance_in.out_layer", H, H, False)
    for b in range(depth):
        for s in ("img", "txt"):
            p = f"double_blocks.{b}.{s}_"
            t += lin(p + "mod.lin", 6 * H, H) + lin(p + "attn.qkv", 3 * H, H)
            t += [(p + "attn.norm.query_norm.scale", (HEAD,), False), (p + "attn.norm.key_norm.scale", (HEAD,), False)]
            t += lin(p + "attn.proj", H, H) + lin(p + "mlp.0", F, H) + lin(p + "mlp.2", H, F)
    for b in range(depth_single):
        p = f"single_blocks.{b}."
        t += lin(p + "linear1", 3 * H + F, H) + lin(p + "linear2", H, H + F)
        t += [(p + "norm.query_norm.scale", (HEAD,), False), (p + "norm.key_norm.scale", (HEAD,), False)]
        t += lin(p + "modulation.lin", 3 * H, H)
    t += lin("final_layer.adaLN_modulation.1", 2 * H, H, False) + lin("final_layer.linear", 64, H, False)
    return t


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--type", default="q4_K", choices=sorted(TYPES))
    ap.add_argument("--depth", type=int, default=19)
    ap.add_argument("--depth-single", type=int, default=38)
    ap.add_argument("--io", help="also write inputs for `diffsynth forward` here")
    ap.add_argument("--tokens", type=int, default=16, help="image tokens (16 = a 64x64 image)")
    ap.add_argument("--text", type=int, default=8, help="text tokens")
    a = ap.parse_args()
    gid, blk, bb = TYPES[a.type]
    rng = np.random.default_rng(0)
    ts = tensors(a.depth, a.depth_single)
    infos, sizes, off = [], [], 0
    for name, shape, q in ts:
        n = int(np.prod(shape))
        nbytes = n // blk * bb if q else 4 * n
        infos.append(gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
                     + struct.pack("<IQ", gid if q else 0, off))
        sizes.append(nbytes)
        off += (nbytes + 31) // 32 * 32
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(a.out))).free
    if off > free - (2 << 30):
        sys.exit(f"{a.out}: {off / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
    kv = [gstr("general.architecture") + struct.pack("<I", 8) + gstr("flux"),
          gstr("general.quantization_version") + struct.pack("<II", 4, 2),
          gstr("general.file_type") + struct.pack("<II", 4, FTYPE[a.type])]
    with open(a.out + ".tmp", "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(ts), len(kv)) + b"".join(kv) + b"".join(infos))
        f.write(b"\0" * (-f.tell() % 32))
        d16 = np.array([0.00004], dtype=np.float16).view(np.uint8)
        for (name, shape, q), nbytes in zip(ts, sizes):
            left = nbytes
            while left:   # 64 MB pieces
                n = min(left, (64 << 20) // bb * bb if q else 64 << 20)
                if q:
                    x = rng.integers(0, 256, size=n, dtype=np.uint8).reshape(-1, bb)
                    x[:, 0:2] = d16                     # d (both types); Q4_K: dmin next
                    if a.type == "q4_K":
                        x[:, 2:4] = d16
                    f.write(x.tobytes())
                else:
                    f.write((rng.standard_normal(n // 4, dtype=np.float32) * 0.02).tobytes())
                left -= n
            f.write(b"\0" * (-nbytes % 32))
    os.replace(a.out + ".tmp", a.out)
    print(f"{a.out}: {len(ts)} tensors, {off / 1e9:.2f} GB of data")
    if a.io:
        from safetensors.numpy import save_file
        side = int(round(a.tokens ** 0.5))
        ids = np.zeros((1, a.tokens, 3), np.float32)
        ids[0, :, 1] = np.arange(a.tokens) // side
        ids[0, :, 2] = np.arange(a.tokens) % side
        save_file({"img": rng.standard_normal((1, a.tokens, 64), dtype=np.float32),
                   "img_ids": ids,
                   "txt": rng.standard_normal((1, a.text, CTX), dtype=np.float32),
                   "txt_ids": np.zeros((1, a.text, 3), np.float32),
                   "y": rng.standard_normal((1, VEC), dtype=np.float32),
                   "timesteps": np.array([0.5], np.float32), "guidance": np.array([3.5], np.float32)}, a.io)
        print(f"{a.io}: {a.tokens} image + {a.text} text tokens")


if __name__ == "__main__":
    main()
