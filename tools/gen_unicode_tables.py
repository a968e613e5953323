#!/usr/bin/env python3
"""Generates the Unicode tables of diffsynth.h's tokenizer section (between the markers
`BEGIN unicode tables` / `END unicode tables`) and rewrites them in place:

    python3 tools/gen_unicode_tables.py [diffsynth.h]

What the tokenizers need, and where each fact comes from (the goal is to agree with the
reference implementations, so where one of them has its own data we ask it):
  * \\p{L}, \\p{N}, \\s of the CLIP pre-tokenizer regex: probed from Hugging Face `tokenizers`
    (its Oniguruma tables), through a Split pre-tokenizer over every code point.
  * Lowercase: probed from `tokenizers`' Lowercase normalizer (Rust's char::to_lowercase).
  * NFC: canonical decompositions and combining classes from `unicodedata`, restricted to the
    characters that `tokenizers`' (older) normalization tables know, again found by probing.
  * Extended grapheme cluster properties (Grapheme_Cluster_Break, Extended_Pictographic,
    Indic_Conjunct_Break) from the `regex` module: `tokenizers`' Precompiled normalizer works
    on grapheme clusters (Rust unicode-segmentation).
Tables are run-length lists of small integers written as base64 varints (5 payload bits per
character, bit 5 = more follows) in short string pieces; diffsynth.h decodes them at load.
"""
import sys, unicodedata, regex
from tokenizers import normalizers, pre_tokenizers, Regex

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAXCP = 0x110000
ALL = [cp for cp in range(1, MAXCP) if not 0xD800 <= cp < 0xE000]

def varint(v, out):
    assert v >= 0
    while True:
        g = v & 31; v >>= 5
        out.append(B64[g | (32 if v else 0)])
        if not v: return

def zigzag(v): return v * 2 if v >= 0 else -v * 2 - 1

def pieces(values, width=116):
    s = []
    for v in values: varint(v, s)
    s = ''.join(s)
    return [s[i:i + width] for i in range(0, len(s), width)]

def runs(value_of):
    """(start, value) for every change of value over all code points, starting at 0."""
    out, prev = [], None
    for cp in range(MAXCP):
        v = value_of(cp)
        if v != prev: out.append((cp, v)); prev = v
    return out

def probe_class(pattern):
    """Set of code points that `tokenizers` (Oniguruma) matches with `pattern` (one char)."""
    split = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)
    hits = set()
    chunk = 4096
    for i in range(0, len(ALL), chunk):
        s = ''.join(chr(c) for c in ALL[i:i + chunk])
        for tok, _ in split.pre_tokenize_str(s):
            hits.update(ord(ch) for ch in tok)
    return hits

def probe_map(normalizer, cps):
    """normalizer applied to each code point alone (joined with NUL, which nothing maps)."""
    res = {}
    chunk = 4096
    for i in range(0, len(cps), chunk):
        part = cps[i:i + chunk]
        out = normalizer.normalize_str('\0'.join(chr(c) for c in part)).split('\0')
        assert len(out) == len(part)
        res.update(zip(part, out))
    return res

def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "diffsynth.h"
    # --- character classes and grapheme properties, merged into one run list -------------------
    letters, numbers, spaces = probe_class(r"\p{L}"), probe_class(r"\p{N}"), probe_class(r"\s")
    gcb_names = ["CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend", "SpacingMark"]
    gcb_re = [regex.compile(r"\p{Grapheme_Cluster_Break=%s}" % n) for n in gcb_names]
    incb_re = [regex.compile(r"\p{InCB=%s}" % n) for n in ["Linker", "Consonant", "Extend"]]
    ep_re = regex.compile(r"\p{Extended_Pictographic}")
    def props(cp):
        # bits 0-1 class (1 L, 2 N), bit 2 whitespace, bits 3-6 grapheme break (0 other, 1.. as
        # gcb_names; Hangul L/V/T/LV/LVT are computed, not stored), bit 7 Extended_Pictographic,
        # bits 8-9 InCB (1 Linker, 2 Consonant, 3 Extend)
        if 0xD800 <= cp < 0xE000: return 0
        ch = chr(cp)
        v = 1 if cp in letters else 2 if cp in numbers else 0
        if cp in spaces: v |= 4
        for i, r in enumerate(gcb_re):
            if r.match(ch): v |= (i + 1) << 3; break
        if ep_re.match(ch): v |= 128
        for i, r in enumerate(incb_re):
            if r.match(ch): v |= (i + 1) << 8; break
        return v
    pr = runs(props)
    palette = sorted(set(v for _, v in pr))
    pidx = {v: i for i, v in enumerate(palette)}
    vals, prev = [], 0
    for start, v in pr:
        vals += [start - prev, pidx[v]]; prev = start
    props_pieces = pieces(vals)

    # --- NFC as tokenizers' normalization tables see it --------------------------------------
    nfd_hf = probe_map(normalizers.NFD(), ALL)
    known = lambda cp: nfd_hf[cp] != chr(cp)       # has a decomposition there
    def ccc_known(cp):                            # combining class as the crate knows it
        c = unicodedata.combining(chr(cp))
        if not c: return 0
        lo = normalizers.NFD().normalize_str("a" + chr(cp) + "\u0334")  # U+0334: ccc 1
        hi = normalizers.NFD().normalize_str("a\u0345" + chr(cp))       # U+0345: ccc 240
        moved = lo != "a" + chr(cp) + "\u0334" or hi != "a\u0345" + chr(cp)
        return c if moved or c in (1, 240) else 0
    ccc = {cp: ccc_known(cp) for cp in ALL if unicodedata.combining(chr(cp))}
    vals, prev = [], 0
    for start, v in runs(lambda cp: ccc.get(cp, 0)):
        vals += [start - prev, v]; prev = start
    ccc_pieces = pieces(vals)

    vals, prev, n_dec = [], 0, 0
    for cp in ALL:
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<") or not known(cp) or 0xAC00 <= cp <= 0xD7A3: continue
        parts = [int(x, 16) for x in d.split()]
        assert len(parts) in (1, 2)
        excluded = unicodedata.normalize("NFC", chr(cp)) != chr(cp)
        d2 = parts[1] if len(parts) == 2 else 0
        vals += [cp - prev, zigzag(parts[0] - cp), d2 * 2 + int(excluded)]; prev = cp; n_dec += 1
    dec_pieces = pieces(vals)

    # --- lowercase (single code point mappings; U+0130 is the one longer one, in the code) ----
    low = probe_map(normalizers.Lowercase(), ALL)
    pairs = []
    for cp in ALL:
        l = low[cp]
        if l == chr(cp): continue
        if len(l) != 1:
            assert cp == 0x130 and l == "i\u0307", (hex(cp), l); continue
        pairs.append((cp, ord(l) - cp))
    groups = []   # (start, count, stride, delta)
    for cp, dl in pairs:
        if groups:
            s, n, st, d = groups[-1]
            if d == dl and (n == 1 and cp - s in (1, 2) or n > 1 and cp == s + n * st):
                groups[-1] = (s, n + 1, cp - s if n == 1 else st, d); continue
        groups.append((cp, 1, 1, dl))
    vals, prev = [], 0
    for s, n, st, d in groups:
        vals += [s - prev, n, st, zigzag(d)]; prev = s
    low_pieces = pieces(vals)

    def arr(name, ps, what):
        body = "\n".join('    "%s",' % p for p in ps)
        return "/* %s */\nstatic const char *const %s[] = {\n%s\n    0\n};\n" % (what, name, body)
    pal = ", ".join("0x%x" % v for v in palette)
    text = (
        "/* BEGIN unicode tables: generated by tools/gen_unicode_tables.py, do not edit.\n"
        "   Unicode data: regex module %s for grapheme properties; tokenizers %s for L/N/space,\n"
        "   lowercase and the set of decompositions; unicodedata %s for combining classes. */\n"
        % (regex.__version__, __import__("tokenizers").__version__, unicodedata.unidata_version)
        + "static const uint16_t ds__uni_palette[%d] = { %s };\n" % (len(palette), pal)
        + arr("ds__unit_props", props_pieces, "%d runs: (length of previous run, palette index)" % len(pr))
        + arr("ds__unit_ccc", ccc_pieces, "canonical combining class runs: (length of previous run, class)")
        + arr("ds__unit_decomp", dec_pieces, "%d canonical decompositions: (cp delta, zigzag(first - cp), second*2 + excluded)" % n_dec)
        + arr("ds__unit_lower", low_pieces, "%d lowercase groups: (start delta, count, stride, zigzag(delta))" % len(groups))
        + "/* END unicode tables */")
    src = open(path, encoding="utf-8").read()
    a = src.index("/* BEGIN unicode tables")
    b = src.index("/* END unicode tables */") + len("/* END unicode tables */")
    open(path, "w", encoding="utf-8").write(src[:a] + text + src[b:])
    print("%s: %d property runs (%d palette), %d ccc pieces, %d decompositions, %d lowercase groups, %d bytes"
          % (path, len(pr), len(palette), len(ccc_pieces), n_dec, len(groups), len(text)))

if __name__ == "__main__":
    main()
