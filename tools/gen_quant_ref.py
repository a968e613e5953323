#!/usr/bin/env python3
"""Reference data for tests/test_quant.c: ggml block formats computed by the `gguf` package
(gguf.quants, the GGUF project's own numpy implementation), plus torch for fp8 and numpy for f16.

    python3 tools/gen_quant_ref.py [tests/fixtures/quant_ref.safetensors]

Tensors (raw blocks are U8):
  <T>.deq.blocks / <T>.deq.values   random block bytes (scales kept finite) and gguf.quants.dequantize
  <T>.q.blocks                      gguf.quants.quantize(q.src) for every type gguf can quantize;
                                    Q8_1 and Q8_K (which gguf cannot do) follow ggml's reference
                                    quantizer formulas, written out below
  q.src                             f32 rows that stress rounding (grids, ties, zeros, outliers)
  rmse.src                          N(0,1) rows for the accuracy table of the other quantizers
  f16.src / f16.bits, bf16.bits     numpy float16 / gguf BF16 of f16.src
  fp8.src / e4m3.bits / e5m2.bits   torch float8_e4m3fn / float8_e5m2 of fp8.src
"""
import sys
import numpy as np
import torch
from gguf import GGMLQuantizationType as T, quants
from gguf.constants import GGML_QUANT_SIZES
from safetensors.numpy import save_file

rng = np.random.default_rng(1234)
out = {}

TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
         "IQ4_NL", "IQ4_XS"]
# byte offsets of the f16 scale fields in each block (the rest is random bits)
HALF_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q8_1": [0, 2],
               "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
               "IQ4_NL": [0], "IQ4_XS": [0]}


def rand_halves(n):
    # finite halves of mixed sign and magnitude, some subnormal, some zero
    v = rng.standard_normal(n).astype(np.float32) * np.float32(2.0) ** rng.integers(-16, 4, n).astype(np.float32)
    v[rng.random(n) < 0.03] = 0
    return v.astype(np.float16).view(np.uint8).reshape(n, 2)


def q8_1_quantize(x):  # ggml quantize_row_q8_1_ref, formula for formula
    b = x.reshape(-1, 32).astype(np.float32)
    d = (np.abs(b).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = quants.np_roundf((b * idv).astype(np.float32)).astype(np.int8)
    s = (q.astype(np.int32).sum(axis=1, keepdims=True).astype(np.float32) * d).astype(np.float32)
    return np.concatenate([d.astype(np.float16).view(np.uint8), s.astype(np.float16).view(np.uint8),
                           q.view(np.uint8)], axis=1).reshape(-1)


def q8_k_quantize(x):  # ggml quantize_row_q8_K_ref: d = max / -127 (max = signed extreme), ties to even
    b = x.reshape(-1, 256).astype(np.float32)
    out = []
    for blk in b:
        i = np.argmax(np.abs(blk))
        mx = blk[i]
        if mx == 0:
            d = np.float32(0); q = np.zeros(256, np.int8)
        else:
            iscale = np.float32(-127) / mx
            q = np.minimum(127, np.rint((iscale * blk).astype(np.float32))).astype(np.int8)
            d = np.float32(1) / iscale
        bsums = q.astype(np.int16).reshape(16, 16).sum(axis=1).astype(np.int16)
        out.append(np.concatenate([np.array([d], np.float32).view(np.uint8), q.view(np.uint8), bsums.view(np.uint8)]))
    return np.concatenate(out)


def q8_k_dequantize(blocks):
    b = blocks.reshape(-1, 292)
    d = b[:, :4].copy().view(np.float32)
    return (d * b[:, 4:260].copy().view(np.int8).astype(np.float32)).reshape(-1)


def q8_1_dequantize(blocks):
    b = blocks.reshape(-1, 36)
    return (b[:, :2].copy().view(np.float16).astype(np.float32) * b[:, 4:].copy().view(np.int8).astype(np.float32)).reshape(-1)


# --- dequantize: random blocks ---------------------------------------------------------------
for name in TYPES:
    bs, ts = GGML_QUANT_SIZES[T[name]]
    if name == "Q8_1":
        ts = 36  # ggml's block_q8_1 is {half d, half s, int8 qs[32]}; gguf-py's table still says 40
    nb = 4096 // bs if bs == 32 else 24
    blocks = rng.integers(0, 256, (nb, ts), dtype=np.uint8)
    if name == "Q8_K":
        blocks[:, :4] = (rng.standard_normal(nb).astype(np.float32) * np.float32(0.01)).view(np.uint8).reshape(nb, 4)
        vals = q8_k_dequantize(blocks)
    else:
        for off in HALF_FIELDS[name]:
            blocks[:, off:off + 2] = rand_halves(nb)
        vals = q8_1_dequantize(blocks) if name == "Q8_1" else quants.dequantize(blocks, T[name]).reshape(-1)
    out[f"{name}.deq.blocks"] = blocks.reshape(-1)
    out[f"{name}.deq.values"] = vals.astype(np.float32)

# --- quantize: rows that stress the rounding --------------------------------------------------
rows = []
rows.append(rng.standard_normal(4096).astype(np.float32))                                   # plain
rows.append((rng.standard_normal(4096) * 10.0 ** rng.integers(-4, 3, 4096)).astype(np.float32))  # mixed scales
z = rng.standard_normal(4096).astype(np.float32); z[:256] = 0; z[256:512] = 0.375; z[512:768] = -2.5
rows.append(z)                                                                                # zero / constant blocks
g = rng.integers(-8, 8, 4096).astype(np.float32) * np.float32(0.125) + np.float32(0.0625) * rng.integers(0, 2, 4096)
rows.append(g.astype(np.float32))                                                             # grid values, exact ties
o = rng.uniform(-1, 1, 4096).astype(np.float32); o[::97] *= 50
rows.append(o)                                                                                # outliers
src = np.concatenate(rows).astype(np.float32)
out["q.src"] = src
for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]:
    out[f"{name}.q.blocks"] = quants.quantize(src, T[name]).reshape(-1)
out["Q8_1.q.blocks"] = q8_1_quantize(src)
out["Q8_K.q.blocks"] = q8_k_quantize(src)

# --- accuracy table input ----------------------------------------------------------------------
out["rmse.src"] = rng.standard_normal(256 * 64).astype(np.float32)

# --- float conversions -------------------------------------------------------------------------
f = np.concatenate([rng.standard_normal(2048) * 10.0 ** rng.integers(-9, 5, 2048),
                    rng.uniform(-70000, 70000, 64), [0.0, -0.0, 65504, 65520, -65519, 6e-8, 3e-8, 2.98e-8]]).astype(np.float32)
out["f16.src"] = f
out["f16.bits"] = f.astype(np.float16).view(np.uint8).reshape(-1)
out["bf16.bits"] = quants.quantize(f, T.BF16).reshape(-1)
e = np.concatenate([rng.standard_normal(2048) * 2.0 ** rng.integers(-12, 9, 2048),
                    [0.0, -0.0, 448.0, -440.0, 0.001953125, 0.0009765625, 0.00097, 57344.0]]).astype(np.float32)
e[:2048] = np.clip(e[:2048], -440, 440)
out["fp8.src"] = e
t = torch.from_numpy(e)
out["e4m3.bits"] = np.where(np.abs(e) <= 448, t.to(torch.float8_e4m3fn).view(torch.uint8).numpy(), 0).astype(np.uint8)
out["e5m2.bits"] = t.to(torch.float8_e5m2).view(torch.uint8).numpy().astype(np.uint8)

path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/quant_ref.safetensors"
save_file({k: np.ascontiguousarray(v) for k, v in out.items()}, path)
print(f"wrote {path}: {len(out)} tensors, {sum(v.nbytes for v in out.values())} bytes")
