"""Procedural captioned shapes for the demo models (tools/train_demo.py) and their prompt-following check.

Images are 64x64 RGB, white background, one or two filled shapes drawn 4x supersampled:
    "a red circle on the left"            one shape: left / right / top / bottom / center
    "a blue square above a green triangle" two shapes: above / below / left of / right of
Clips (Wan) are F frames of one shape moving: "a green triangle moving left".
"""
import random
import numpy as np
from PIL import Image, ImageDraw

COLORS = {"red": (220, 30, 30), "green": (30, 170, 50), "blue": (30, 60, 220), "yellow": (240, 200, 20),
          "purple": (140, 40, 170)}
SHAPES = ("circle", "square", "triangle")
PLACES = {"on the left": (17, 32), "on the right": (47, 32), "at the top": (32, 17), "at the bottom": (32, 47),
          "in the center": (32, 32)}
RELATIONS = {"above": ((32, 18), (32, 46)), "below": ((32, 46), (32, 18)),
             "left of": ((18, 32), (46, 32)), "right of": ((46, 32), (18, 32))}
MOVES = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
S = 64
SS = 4  # supersampling


def _draw(d, shape, color, cx, cy, r):
    cx, cy, r = cx * SS, cy * SS, r * SS
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "square":
        r = r * 0.88
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    else:
        d.polygon([(cx, cy - r * 1.1), (cx - r * 1.1, cy + r * 0.85), (cx + r * 1.1, cy + r * 0.85)], fill=color)


def render(items):
    """items: [(shape, color name, cx, cy, radius)] -> uint8 [64, 64, 3]."""
    im = Image.new("RGB", (S * SS, S * SS), (255, 255, 255))
    d = ImageDraw.Draw(im)
    for shape, color, cx, cy, r in items:
        _draw(d, shape, COLORS[color], cx, cy, r)
    return np.asarray(im.resize((S, S), Image.LANCZOS))


def sample_image(rng, two=0.45):
    """-> (caption, uint8 image): one shape, or two with probability `two`."""
    j = lambda: rng.uniform(-3, 3)
    if rng.random() >= two:
        c, s, (pl, (x, y)) = rng.choice(list(COLORS)), rng.choice(SHAPES), rng.choice(list(PLACES.items()))
        return f"a {c} {s} {pl}", render([(s, c, x + j(), y + j(), rng.uniform(10, 13))])
    c1, c2 = rng.sample(list(COLORS), 2)
    s1, s2 = rng.choice(SHAPES), rng.choice(SHAPES)
    rel, (p1, p2) = rng.choice(list(RELATIONS.items()))
    r = rng.uniform(8, 10)
    return f"a {c1} {s1} {rel} a {c2} {s2}", render([(s1, c1, p1[0] + j(), p1[1] + j(), r), (s2, c2, p2[0] + j(), p2[1] + j(), r)])


def sample_clip(rng, frames):
    """-> (caption, uint8 [F, 64, 64, 3]): one shape crossing the frame."""
    c, s, (mv, (dx, dy)) = rng.choice(list(COLORS)), rng.choice(SHAPES), rng.choice(list(MOVES.items()))
    r, span = rng.uniform(9, 11), rng.uniform(26, 34)
    ox, oy = 32 + rng.uniform(-4, 4), 32 + rng.uniform(-4, 4)
    out = []
    for f in range(frames):
        a = f / (frames - 1) - 0.5   # -0.5 .. 0.5
        out.append(render([(s, c, ox + dx * span * a, oy + dy * span * a, r)]))
    return f"a {c} {s} moving {mv}", np.stack(out)


def all_words():
    w = set("a on the at in of moving".split()) | set(COLORS) | set(SHAPES) | set(MOVES)
    for k in list(PLACES) + list(RELATIONS):
        w |= set(k.split())
    return sorted(w)


def corpus():
    """Every caption the data set can produce (for the tokenizers)."""
    out = [f"a {c} {s} {p}" for c in COLORS for s in SHAPES for p in PLACES]
    out += [f"a {c1} {s1} {r} a {c2} {s2}" for c1 in COLORS for c2 in COLORS if c1 != c2
            for s1 in SHAPES for s2 in SHAPES for r in RELATIONS]
    out += [f"a {c} {s} moving {m}" for c in COLORS for s in SHAPES for m in MOVES]
    return out


# --- the classifier the tests use (tests/test_demo.c does the same in C) ----------------------------
def classify(img):
    """uint8 [H, W, 3] -> (colour name or None, (cx, cy) of the non-white pixels, 0..1)."""
    x = img.astype(np.float32)
    mask = (255 * 3 - x.sum(-1)) > 120
    if mask.sum() < 10:
        return None, (0.5, 0.5)
    mean = x[mask].mean(0)
    col = min(COLORS, key=lambda k: ((np.array(COLORS[k]) - mean) ** 2).sum())
    ys, xs = np.nonzero(mask)
    return col, (xs.mean() / img.shape[1], ys.mean() / img.shape[0])


if __name__ == "__main__":
    rng = random.Random(0)
    tiles = []
    for i in range(16):
        cap, im = sample_image(rng)
        print(cap, classify(im))
        tiles.append(im)
    Image.fromarray(np.concatenate([np.concatenate(tiles[i * 4:i * 4 + 4], 1) for i in range(4)], 0)).save("/tmp/demo_data.png")
    cap, clip = sample_clip(rng, 9)
    print(cap)
    Image.fromarray(np.concatenate(list(clip), 1)).save("/tmp/demo_clip.png")
    print(len(corpus()), "captions", all_words())
