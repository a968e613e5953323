"""safetensors -> GGUF with the 2-D weights in a ggml block type (city96-style: the checkpoint's own key names),
for the quantized copies of the demo DiTs. Norm scales, biases, modulation vectors and tensors whose rows are not
a multiple of the block stay F32.

    python3 tools/demo_gguf.py models/flux_dit.safetensors models/flux_dit.q8_0.gguf [q8_0|q4_k] [flux|wan]
"""
import sys
import numpy as np
import gguf
from safetensors.numpy import load_file
import torch
from safetensors.torch import load_file as load_torch

src, dst = sys.argv[1], sys.argv[2]
qt = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_k": gguf.GGMLQuantizationType.Q4_K}[sys.argv[3] if len(sys.argv) > 3 else "q8_0"]
arch = sys.argv[4] if len(sys.argv) > 4 else "flux"
block = gguf.GGML_QUANT_SIZES[qt][0]
w = gguf.GGUFWriter(dst, arch=arch)
nq = 0
for name, t in load_torch(src).items():
    x = t.float().numpy()
    if x.ndim >= 2 and x.shape[-1] % block == 0 and x.size >= 1024:
        w.add_tensor(name, gguf.quants.quantize(x.reshape(-1, x.shape[-1]).reshape(x.shape), qt), raw_dtype=qt)
        nq += 1
    else:
        w.add_tensor(name, x)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(f"{dst}: {nq} tensors in {qt.name}")
