#!/usr/bin/env python3
"""Check that a GGUF file is what the gguf python package and ggml's own reader accept.

    python3 tools/gguf_check.py FILE.gguf [--arch flux] [--dump OUT.safetensors] [--no-data]

Reads FILE with gguf.GGUFReader (the reference reader of the gguf package), then checks what stock
ggml (gguf.cpp) would also insist on: version 3, unique non-empty keys and names, names shorter than
64 bytes (GGML_MAX_NAME; sd.cpp builds with more), at most 4 dims (a 5-D tensor, city96's Wan patch
embedding, only warns: sd.cpp and ComfyUI-GGUF take it), data offsets packed in record order at the
alignment, general.quantization_version 2 and general.file_type present. Every tensor is dequantized
with gguf.quants.dequantize (--no-data: not, for files larger than memory); --dump writes them as f32 in PyTorch shape order (reversed ne) so a
caller can compare them with its own dequantization. Exit status 0 = all good, 1 = a problem.
"""
import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--arch", help="expected general.architecture")
    ap.add_argument("--dump", metavar="OUT", help="write the dequantized tensors (f32) as safetensors")
    ap.add_argument("--no-data", action="store_true", help="check the layout only, do not dequantize")
    a = ap.parse_args()
    import gguf
    from gguf.quants import dequantize

    r = gguf.GGUFReader(a.path)
    errors, warnings = [], []

    def field(key):
        f = r.fields.get(key)
        if f is None:
            return None
        if f.types and f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        return f.parts[f.data[0]].tolist()[0]

    version = r.fields["GGUF.version"].parts[-1].tolist()[0]
    if version != 3:
        errors.append(f"version {version}")
    arch = field("general.architecture")
    if arch is None:
        errors.append("no general.architecture")
    elif a.arch and arch != a.arch:
        errors.append(f"general.architecture is {arch!r}, expected {a.arch!r}")
    if field("general.quantization_version") != 2:
        errors.append("general.quantization_version is not 2")
    if field("general.file_type") is None:
        errors.append("no general.file_type")
    align = field("general.alignment") or 32

    names, offset, dump = set(), 0, {}
    for t in r.tensors:
        if not t.name or t.name in names:
            errors.append(f"tensor name {t.name!r} empty or repeated")
        names.add(t.name)
        if len(t.name.encode()) >= 64:
            warnings.append(f"{t.name}: name of {len(t.name.encode())} bytes (stock ggml: < 64)")
        if len(t.shape) > 4:
            warnings.append(f"{t.name}: {len(t.shape)} dims (stock ggml: 4)")
        rel = t.data_offset - r.data_offset
        if rel != offset:
            errors.append(f"{t.name}: data at +{rel}, packed layout puts it at +{offset}")
        offset = rel + (t.n_bytes + align - 1) // align * align
        if a.no_data:
            continue
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        x = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if not np.all(np.isfinite(x)):
            errors.append(f"{t.name}: non-finite values")
        dump[t.name] = np.ascontiguousarray(x)

    types = {}
    for t in r.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    print(f"{a.path}: GGUF v{version}, {len(r.tensors)} tensors {types}, arch {arch}, "
          f"file_type {field('general.file_type')}")
    for w in warnings:
        print(f"  warning: {w}")
    for e in errors:
        print(f"  ERROR: {e}")
    if a.dump:
        from safetensors.numpy import save_file
        save_file(dump, a.dump)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
