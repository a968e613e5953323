"""Generate the small GGUF fixtures of tests/test_gguf.c (run from the repository root).

    python3 tools/gen_gguf_fixtures.py            # writes tests/fixtures/gguf/
    python3 tools/gen_gguf_fixtures.py --check F  # reads F (e.g. a file ds__gguf_write made) with gguf-py

basic.gguf is written by the `gguf` package (GGUFWriter): metadata of every value type incl. nested
arrays, and tensors of several ggml types (quantized ones through gguf.quants); basic.expected lists
name, dtype, shape (PyTorch order) and the FNV-1a 64 hash of the raw bytes, and the metadata as text.
The hostile files are hand-packed with struct.
"""
import os, struct, sys
import numpy as np
import gguf

OUT = "tests/fixtures/gguf"
Q = gguf.GGMLQuantizationType


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def basic():
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(OUT + "/basic.gguf", arch="wan")
    w.add_custom_alignment(64)
    w.add_uint8("t.u8", 200); w.add_int8("t.i8", -5); w.add_uint16("t.u16", 65000); w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -123456); w.add_float32("t.f32", 0.25)
    w.add_uint64("t.u64", 18000000000000000000); w.add_int64("t.i64", -9000000000000000000); w.add_float64("t.f64", -1.5)
    w.add_bool("t.bool", True); w.add_string("t.str", "héllo wörld")
    w.add_array("t.arr_i", [1, 2, 3]); w.add_array("t.arr_s", ["a", "bc"]); w.add_array("t.arr_big", list(range(100)))
    w.add_array("t.arr_nested", [[1, 2], [3]])
    w.add_array("t.arr_f", [0.5, -2.0])
    tensors = {}
    tensors["f32"] = (rng.standard_normal((3, 5)).astype(np.float32), None)
    tensors["f16"] = (rng.standard_normal((2, 4)).astype(np.float16), None)
    bf = (rng.standard_normal((4, 8)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    tensors["bf16"] = (bf.view(np.uint8).reshape(4, 16), Q.BF16)
    tensors["i32"] = (np.arange(-3, 3, dtype=np.int32), None)
    tensors["f64"] = (np.array([1.0, -2.0]), None)
    tensors["i8"] = (np.array([[1, -2], [3, -4]], dtype=np.int8), None)
    tensors["patch_embedding.weight"] = (rng.standard_normal((8, 4, 1, 2, 2)).astype(np.float32), None)   # city96's 5-D conv
    for name, qt in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q5_1", Q.Q5_1)):
        x = rng.standard_normal((2, 256)).astype(np.float32)
        tensors[name] = (gguf.quants.quantize(x, qt), qt)
    for name, qt in (("q4_k", Q.Q4_K), ("q6_k", Q.Q6_K)):   # gguf-py cannot quantize these: raw blocks (the reader only maps them)
        tensors[name] = (rng.integers(0, 256, (2, gguf.GGML_QUANT_SIZES[qt][1]), dtype=np.uint8), qt)
    for name, (arr, qt) in tensors.items():
        w.add_tensor(name, arr, raw_dtype=qt)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    r = gguf.GGUFReader(OUT + "/basic.gguf")
    with open(OUT + "/basic.expected", "w") as f:
        for t in r.tensors:
            shape = [int(s) for s in reversed(t.shape.tolist())]   # gguf-py gives ne order
            f.write("%s %s %d %s %016x\n" % (t.name, t.tensor_type.name, len(shape), " ".join(map(str, shape)), fnv1a64(t.data.tobytes())))


# --- hand-packed files ------------------------------------------------------------------------
def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def kv_u32(k, v):
    return s(k) + struct.pack("<II", 4, v)


def tinfo(name, ne, typ, off):
    return s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d & 0xFFFFFFFFFFFFFFFF) for d in ne) + struct.pack("<IQ", typ, off)


def gguf_file(kvs, tis, data, version=3, n_t=None, n_kv=None, align=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(tis) if n_t is None else n_t, len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(tis)
    head += b"\0" * ((-len(head)) % align)
    return head + data


def hostile():
    ok = gguf_file([kv_u32("general.alignment", 32)], [tinfo("w", [4, 2], 0, 0)], struct.pack("<8f", *range(8)))
    cases = {
        "ok_small": ok,
        "v1": gguf_file([], [], b"", version=1),
        "byteswapped": gguf_file([], [], b"", version=0x03000000),
        "huge_counts": gguf_file([], [], b"", n_t=1 << 62, n_kv=1 << 62),
        "huge_kv": gguf_file([], [], b"", n_kv=1000),
        "trunc_string": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"key" * 20,
        "trunc_array": b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("a") + struct.pack("<IIQ", 9, 8, 1 << 50) + s("x"),
        "bad_vtype": gguf_file([s("k") + struct.pack("<I", 77)], [], b""),
        "deep_array": gguf_file([s("k") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1)
                                 + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 1) + b"\1\0\0\0"], [], b""),
        "bad_align": gguf_file([kv_u32("general.alignment", 3)], [], b""),
        "zero_align": gguf_file([kv_u32("general.alignment", 0)], [], b""),
        "neg_dim": gguf_file([], [tinfo("w", [-1, 2], 0, 0)], b"\0" * 32),
        "overflow_dims": gguf_file([], [tinfo("w", [1 << 40, 1 << 40], 0, 0)], b"\0" * 32),
        "too_many_dims": gguf_file([], [tinfo("w", [1] * 9, 0, 0)], b"\0" * 32),
        "past_end": gguf_file([], [tinfo("w", [4, 2], 0, 0)], b"\0" * 16),
        "huge_offset": gguf_file([], [tinfo("w", [4, 2], 0, 0xFFFFFFFFFFFFFFE0)], b"\0" * 32),
        "misaligned": gguf_file([], [tinfo("w", [2], 0, 4)], b"\0" * 32),
        "unaligned_f32": gguf_file([kv_u32("general.alignment", 1)], [tinfo("w", [2], 0, 1)], b"\0" * 32, align=1),
        "unknown_type": gguf_file([], [tinfo("w", [2], 99, 0)], b"\0" * 32),
        "iq2_type": gguf_file([], [tinfo("w", [256], 16, 0)], b"\0" * 96),
        "partial_block": gguf_file([], [tinfo("w", [16, 2], 8, 0)], b"\0" * 64),
        "dup_name": gguf_file([], [tinfo("w", [2], 0, 0), tinfo("w", [2], 0, 32)], b"\0" * 64),
        "empty_name": gguf_file([], [tinfo("", [2], 0, 0)], b"\0" * 32),
        "truncated": ok[:70],   # inside the tensor record
    }
    for name, b in cases.items():
        open(OUT + "/" + name + ".gguf", "wb").write(b)


def check(path):
    r = gguf.GGUFReader(path)
    for k, f in r.fields.items():
        print("kv", k, gguf.GGUFValueType(f.types[0]).name if f.types else "?", f.contents() if hasattr(f, "contents") else "")
    for t in r.tensors:
        print("tensor", t.name, t.tensor_type.name, list(reversed(t.shape.tolist())), "offset", t.data_offset, "hash %016x" % fnv1a64(t.data.tobytes()))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        os.makedirs(OUT, exist_ok=True)
        basic(); hostile()
