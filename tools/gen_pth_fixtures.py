"""Generate the small PyTorch-zip fixtures of tests/test_pth.c (run from the repository root).

    python3 tools/gen_pth_fixtures.py

Writes tests/fixtures/pth/*.pth: well-formed checkpoints made by torch.save, hostile ones made with
a hand-written pickle and zip writer (a pickle calling os.system, truncated zips, tensors outside
their storage, non-contiguous strides, a deflated storage, zip64 records), and
tests/fixtures/umt5_wan.pth.expected: name, dtype, shape and FNV-1a 64 hash of the raw bytes of
every tensor of umt5_wan.weights.pth as torch.load sees it.
"""
import collections, io, os, pickle, struct, zlib
import torch

OUT = "tests/fixtures/pth"


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


# --- a minimal zip writer (stored or deflated entries, optional zip64 everywhere) -------------
def write_zip(path, entries, deflate=(), zip64=False, pad64=True):
    out = bytearray(); central = bytearray()
    for name, data in entries:
        nb = name.encode()
        method = 8 if name in deflate else 0
        payload = zlib.compress(data)[2:-4] if method else data
        crc = zlib.crc32(data)
        off = len(out)
        extra = b""
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(payload))
        if pad64:   # torch aligns storage data to 64 bytes with a padding extra field
            need = (-(off + 30 + len(nb) + len(extra) + 4)) % 64
            extra += struct.pack("<HH", 0x4246, need) + b"Z" * need
        sz32 = 0xFFFFFFFF if zip64 else len(payload); usz32 = 0xFFFFFFFF if zip64 else len(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, method, 0, 0x21, crc, sz32, usz32, len(nb), len(extra)) + nb + extra + payload
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(payload), off) if zip64 else b""
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, 0, method, 0, 0x21, crc, sz32, usz32,
                               len(nb), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF if zip64 else off) + nb + cextra
    cd_off = len(out); out += central
    n = len(entries)
    if zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_off, 0)
    with open(path, "wb") as f:
        f.write(out)


# --- hand-made pickles: full control over rebuild arguments ------------------------------
class Storage:
    def __init__(self, key, cls, numel):
        self.key, self.cls, self.numel = key, cls, numel


class T:  # pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


class EvilEval:
    def __reduce__(self):
        return (eval, ("1+1",))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(torch, obj.cls), obj.key, "cpu", obj.numel)
        return None


def write_pth(path, obj, storages, archive="archive", **kw):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    entries = [(archive + "/data.pkl", buf.getvalue()), (archive + "/byteorder", b"little")]
    entries += [(archive + "/data/" + k, v) for k, v in storages.items()]
    entries.append((archive + "/version", b"3\n"))
    write_zip(path, entries, **kw)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    # 1. torch.save: nested training checkpoint; the loader picks "state_dict"
    full = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict()
    sd["a.weight"] = torch.tensor([[1.5, -2.0, 3.25], [0.5, 0.0, -1.0]], dtype=torch.float16)
    sd["b.bias"] = torch.tensor([1.0, 2.0, -3.0, 4.5], dtype=torch.bfloat16)
    sd["full"] = full
    sd["row1"] = full[1]                                  # a view: storage offset 4
    sd["col"] = full[:, :1].clone()                       # [3,1]
    sd["ids"] = torch.tensor([7, -8, 9], dtype=torch.int64)
    sd["mask"] = torch.tensor([True, False], dtype=torch.bool)
    sd["scalar"] = torch.tensor(2.5, dtype=torch.float64)
    sd["param"] = torch.nn.Parameter(torch.tensor([0.25, 0.75]))
    sd["f8"] = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float8_e4m3fn)
    sd["f8b"] = torch.tensor([1.0, 4.0], dtype=torch.float8_e5m2)
    torch.save({"epoch": 3, "lr": 1e-4, "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}},
               OUT + "/nested.pth")
    # 2. torch.save: dicts inside dicts flatten to dotted names
    torch.save({"enc": {"w": torch.ones(2)}, "dec": {"w": torch.zeros(3), "sub": {"b": torch.full((1,), 7.0)}}, "x": torch.ones(1, 1)},
               OUT + "/flatten.pth")
    # 3. non-contiguous (a transposed view saved as is)
    torch.save({"t": torch.arange(6.0).reshape(2, 3).t()}, OUT + "/noncontig.pth")
    # 4. hostile pickles: os.system / eval
    torch.save({"x": Evil()}, OUT + "/evil_system.pth")
    torch.save({"x": EvilEval()}, OUT + "/evil_eval.pth")
    # 5. hand-made: zip64 records, plain layout (must load)
    st = {"0": struct.pack("<6f", 1, 2, 3, 4, 5, 6)}
    s0 = Storage("0", "FloatStorage", 6)
    write_pth(OUT + "/zip64.pth", {"w": T(s0, 0, (2, 3), (3, 1)), "tail": T(s0, 4, (2,), (1,))}, st, zip64=True)
    # 6. tensor past the end of its storage; negative offset; deflated storage; missing storage
    write_pth(OUT + "/bad_offset.pth", {"w": T(s0, 2, (2, 3), (3, 1))}, st)
    write_pth(OUT + "/neg_offset.pth", {"w": T(s0, -1, (2,), (1,))}, st)
    write_pth(OUT + "/deflated.pth", {"w": T(s0, 0, (2, 3), (3, 1))}, st, deflate=("archive/data/0",))
    write_pth(OUT + "/no_storage.pth", {"w": T(Storage("9", "FloatStorage", 6), 0, (6,), (1,))}, st)
    write_pth(OUT + "/bad_stride.pth", {"w": T(s0, 0, (2, 3), (1, 2))}, st)
    for arch in ("a", "ab", "abc", "abcd"):   # f32 data at an odd offset: a zip packed without torch's padding
        write_pth(OUT + "/unaligned.pth", {"w": T(s0, 0, (6,), (1,))}, st, archive=arch, pad64=False)
        import zipfile
        zi = zipfile.ZipFile(OUT + "/unaligned.pth").getinfo(arch + "/data/0")
        if (zi.header_offset + 30 + len(zi.filename)) % 4:
            break
    # 7. a pickle cut short inside an intact zip
    buf = io.BytesIO(); _Pickler(buf, protocol=2).dump({"w": T(s0, 0, (6,), (1,))})
    write_zip(OUT + "/trunc_pickle.pth", [("archive/data.pkl", buf.getvalue()[:-9]), ("archive/data/0", st["0"])])
    # 8. truncated: a valid file cut in half, and one without its last byte
    data = open(OUT + "/flatten.pth", "rb").read()
    open(OUT + "/truncated.pth", "wb").write(data[: len(data) // 2])
    open(OUT + "/truncated1.pth", "wb").write(data[:-1])

    # expected values for umt5_wan.weights.pth, from torch.load itself
    ref = torch.load("tests/fixtures/umt5_wan.weights.pth", map_location="cpu", weights_only=True)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    with open("tests/fixtures/umt5_wan.pth.expected", "w") as f:
        for k, t in ref.items():
            f.write("%s %s %d %s %016x\n" % (k, names[t.dtype], t.dim(), " ".join(str(s) for s in t.shape) or "-", fnv1a64(raw_bytes(t))))


if __name__ == "__main__":
    main()
