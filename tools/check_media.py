"""Independent check of the files diffsynth.h writes: decodes PNGs and every frame of an MJPEG AVI with
Pillow (its own PNG/JPEG decoders) and prints one line per file: `ok <path> <w>x<h> frames=<n> mean=<m>`.
Usage: check_media.py FILE...   (exit 1 on the first file that does not decode)"""
import io, struct, sys
from PIL import Image

def avi_frames(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"AVI ", "not an AVI"
    frames, pos = [], 12
    def walk(pos, end):
        while pos + 8 <= end:
            tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
            if tag == b"LIST":
                walk(pos + 12, pos + 8 + size)
            elif tag[2:] == b"dc":
                frames.append(data[pos + 8:pos + 8 + size])
            pos += 8 + size + (size & 1)
    walk(12, len(data))
    return frames

for path in sys.argv[1:]:
    data = open(path, "rb").read()
    if data[:4] == b"RIFF":
        fr = [Image.open(io.BytesIO(f)).convert("RGB") for f in avi_frames(data)]
        for im in fr: im.load()
        if not fr: print("no frames in", path); sys.exit(1)
        w, h = fr[0].size
        mean = sum(sum(im.tobytes()[0::3]) for im in fr) / (len(fr) * w * h)
        print(f"ok {path} {w}x{h} frames={len(fr)} mean={mean:.1f}")
    else:
        im = Image.open(path); im.load(); text = dict(getattr(im, "text", {})); im = im.convert("RGB")
        print(f"ok {path} {im.size[0]}x{im.size[1]} frames=1 mean={sum(im.tobytes()[0::3]) / (im.size[0] * im.size[1]):.1f} text={text}")
