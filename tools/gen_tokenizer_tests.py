#!/usr/bin/env python3
"""Reference data for tests/test_tokenizer.c (run from the repository root):

    python3 tools/gen_tokenizer_tests.py

Writes tests/fixtures/tokenizers/:
  bpe_simple_vocab_16e6.txt.gz   OpenAI's CLIP merges (copied from open_clip): FLUX's CLIP-L vocabulary
  clip_small/                    the same BPE cut to its first 3000 merges, as vocab.json + merges.txt
  clip_small.tokenizer.json.gz   ... as the tokenizer.json transformers 4 wrote for CLIP (and the hub has)
  clip_small_v5.tokenizer.json.gz... as transformers 5 writes it (specials in the split regex)
  uni_nfkc.model / .tokenizer.json.gz   Unigram 4000, nmt_nfkc, no byte fallback (T5-style ids)
  uni_bytes.model / .tokenizer.json.gz  Unigram 3000, nmt_nfkc, byte fallback; its tokenizer.json
                                        rewritten to the umT5 layout (Precompiled + Replace, Metaspace)
                                        with byte_fallback kept (the T5 conversion drops it)
  uni_ident.model / .tokenizer.json.gz  Unigram 2000, identity normalizer, no dummy prefix, no
                                        whitespace cleanup, user-defined symbols
  strings.txt.gz                 the test strings, one JSON string per line
  NAME.ids.gz                    reference ids per string (space separated, one line per string)
  framed.txt                     framed + padded references: NAME MAX INDEX ids...
The Unigram models are trained here with `sentencepiece` on generated multilingual text; the
tokenizer.json files are transformers' conversion of them (needs `protobuf` for that).
References: Hugging Face `tokenizers` for tokenizer.json / vocab+merges / the .gz (built the way
transformers builds CLIP), `sentencepiece` for .model files.
"""
import gzip, json, os, random, shutil, sys, glob, tempfile, unicodedata

import sentencepiece as spm
from tokenizers import Tokenizer, Regex, AddedToken, normalizers, pre_tokenizers, processors, decoders
from tokenizers.models import BPE

OUT = "tests/fixtures/tokenizers"
R = random.Random(1234)

# ---------------------------------------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))

def clip_vocab(merges):
    v = list(bytes_to_unicode().values())
    v = v + [x + "</w>" for x in v] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(v)}

def clip_tokenizer(vocab, merges):
    """CLIP as transformers 4 converted it (the layout of the hub's tokenizer.json)."""
    tok = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                        end_of_word_suffix="</w>", fuse_unk=False, unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("<|endoftext|>", vocab["<|endoftext|>"]), ("<|startoftext|>", vocab["<|startoftext|>"]),
                                                      trim_offsets=False, add_prefix_space=False)
    tok.add_special_tokens([AddedToken("<|startoftext|>", normalized=True, special=True), AddedToken("<|endoftext|>", normalized=True, special=True)])
    return tok

# ---------------------------------------------------------------------------------------------
def script_words(chars, n, lo=2, hi=7):
    return ["".join(R.choice(chars) for _ in range(R.randint(lo, hi))) for _ in range(n)]

def rng_chars(a, b): return [chr(c) for c in range(a, b + 1) if unicodedata.category(chr(c))[0] in "LMN"]

SCRIPTS = {
    "latin": list("abcdefghijklmnopqrstuvwxyzéèêëàâäôöûüùçñßøåæœ") ,
    "viet": list("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệóòỏõọốồổỗộớờởỡợúùủũụứừửữự"),
    "cyrillic": rng_chars(0x430, 0x44F) + list("ёії"),
    "greek": rng_chars(0x3B1, 0x3C9) + list("άέήίόύώς"),
    "arabic": rng_chars(0x628, 0x64A),
    "hebrew": rng_chars(0x5D0, 0x5EA),
    "devanagari": rng_chars(0x915, 0x939) + list("ािीुूेैोौं्"),
    "thai": rng_chars(0xE01, 0xE2E) + list("ะาิีึืุู่้"),
    "hangul": [chr(0xAC00 + R.randrange(11172)) for _ in range(400)],
    "hiragana": rng_chars(0x3041, 0x3093),
    "katakana": rng_chars(0x30A1, 0x30F6) + ["ー"],
    "cjk": [chr(c) for c in range(0x4E00, 0x4E00 + 1500)] + list("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自"),
}
LEX = {k: script_words(v, 400) for k, v in SCRIPTS.items()}
CJK_PUNCT = list("，。！？、：；「」『』（）《》")

def zipf_pick(words):
    i = int(len(words) * (R.random() ** 3))
    return words[min(i, len(words) - 1)]

def english_lines():
    lines = []
    for f in sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py"))):
        for line in open(f, encoding="utf-8", errors="ignore"):
            line = line.strip()
            if line.startswith("#") and len(line) > 24: lines.append(line.lstrip("# "))
            elif line and line[0].isalpha() and " " in line and len(line) > 30 and not line.endswith(":"): lines.append(line)
    return lines

def sentence(script):
    n = R.randint(3, 14)
    if script in ("cjk", "hiragana", "katakana", "thai"):
        parts = []
        for _ in range(n):
            sc = script if script in ("cjk", "thai") else R.choice(["cjk", "hiragana", "katakana"])
            parts.append(zipf_pick(LEX[sc]))
            if R.random() < 0.2: parts.append(R.choice(CJK_PUNCT))
        return "".join(parts)
    s = " ".join(zipf_pick(LEX[script]) for _ in range(n))
    if R.random() < 0.3: s = s[0].upper() + s[1:]
    return s + R.choice([".", "!", "?", ",", ""])

PROMPTS = [
    "A photo of a cat sitting on a windowsill, golden hour, 35mm, bokeh",
    "a tiny astronaut hatching from an egg on the moon, cinematic lighting, 8k, highly detailed",
    "Cyberpunk street at night, neon signs in Japanese (\u6771\u4eac), rain reflections, ultra-wide",
    "An oil painting of a lighthouse in a storm, in the style of J.M.W. Turner",
    "portrait of an old man with a white beard, studio lighting, 85mm f/1.4, Kodak Portra 400",
    "A bowl of ramen with chashu, soft-boiled egg & nori \u2014 food photography, top-down view",
    "Logo design: the word \"FLUX\" in bold sans-serif, minimal, vector, #1a1a1a on white",
    "一只可爱的橘猫坐在窗台上，阳光洒在它的身上，高清，细节丰富",
    "两只拟人化的猫咪穿着舒适的拳击装备，戴着鲜艳的手套，在聚光灯照射的舞台上激烈对战。",
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走",
    "Summer beach vacation style, a white cat wearing sunglasses sits on a surfboard. The fluffy-furred feline gazes directly at the camera with a relaxed expression.",
    "夏日海滩度假风格，一只戴着墨镜的白色猫咪坐在冲浪板上。猫咪毛发蓬松，表情悠闲，直视镜头。",
    "A woman walking through a field of sunflowers, slow motion, 4K, shallow depth of field --ar 16:9",
    "桜の木の下で読書をする少女、水彩画風、やわらかい光",
    "Un chat noir qui dort sur un canapé rouge, style Renoir, très détaillé",
]

def odd_ws(): return R.choice([" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\u2009", "\u2002", "\u202f", "\u2028", "\u0085", "\u1680", "\ufeff", "\x0b", "\x0c", "\u180e", "\u200d", "\u200c", "   \t "])
PIECES = [
    lambda: zipf_pick(LEX["latin"]), lambda: R.choice(LEX[R.choice(list(LEX))]),
    lambda: R.choice(["!!!", "???", "...", "---", "''", "'''", "\"", "(", ")", "[[", "]]", "{}", "@#$%", "&&", "**", "~~", "…", "——", "¡¿", "«»", "\u2018\u2019", "\u201c\u201d"]),
    lambda: R.choice(["'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d", "'x", "don't", "it's", "YOU'LL", "'"]),
    lambda: str(R.randint(0, 10 ** R.randint(1, 12))), lambda: "%.3f" % (R.random() * 1000), lambda: "1,000,000",
    lambda: R.choice(["²", "³", "½", "¼", "Ⅻ", "①", "⑳", "㊿", "٣", "४", "๕", "¹²³", "𝟙𝟚", "x²+y²"]),
    odd_ws, odd_ws,
    lambda: R.choice(["e\u0301", "a\u0301\u0302", "a\u0302\u0301", "o\u0323\u0302", "o\u0302\u0323", "\u0301", "\u0301\u0301", "A\u030a", "\uff21\u0301",
                      "n\u0303", "\u1e9b\u0323", "i\u0307", "\u0130", "Σ", "ΣΑΣ", "ß", "ﬁ", "ǅ", "Ⓐ", "\u0958\u0301", "\u0915\u094d\u0958\u0301",
                      "\u0915\u093c", "\u0d4e\u0d15", "\u0600\u0661", "a\u0903", "\u0e01\u0e33", "\u1100\u1161\u11a8", "\u1100\u1161", "\u1161\u11a8", "가\u11a8",
                      "\u3131\u314f", "ｶﾞ", "ﾊﾟ", "ｱｲｳ", "ﾞ", "\uff76\uff9e", "\u212b", "\u2126", "\uf900", "\U0002f800", "\u0344", "\u0f73", "\u1e0a\u0323",
                      "q\u0307\u0323", "\u00c5\u0332", "\u0041\u0328\u0301"]),
    lambda: R.choice(["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "🇫🇷🇩🇪", "🇫", "1\ufe0f\u20e3", "❤\ufe0f", "☺\ufe0f", "©", "®", "™", "🏳\ufe0f\u200d🌈", "\u200d", "🤖🤖🤖"]),
    lambda: R.choice(["<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>", "</s>", "<pad>", "<unk>", "<s>", "<extra_id_0>", "<extra_id_99>",
                      "<0x41>", "<0xE4>", "▁", "▁▁", "<sep>", "[MASK]", "★★", "＜pad＞", "</ s>"]),
    lambda: R.choice(["ＡＢＣ", "ｈｅｌｌｏ", "１２３", "！？", "（テスト）", "㍿", "㌔", "℃", "№", "㎏", "…", "ｰ"]),
    lambda: R.choice(["\x01", "\x07", "\x1b", "\x7f", "\x80", "\x9f", "\u00ad", "\ue000", "\U000f0000", "\ufffd", "\uffff", "\U0010fffd"]),
    lambda: sentence(R.choice(list(SCRIPTS))),
]

def fuzz():
    parts = [R.choice(PIECES)() for _ in range(R.randint(1, 25))]
    sep = R.choice(["", " ", None])
    if sep is None: return "".join(p + (odd_ws() if R.random() < 0.3 else " ") for p in parts)
    return sep.join(parts)

ASSIGNED = [c for c in range(1, 0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
BMP = [c for c in ASSIGNED if c < 0x10000]

def random_unicode():
    pool = BMP if R.random() < 0.8 else ASSIGNED
    return "".join(chr(R.choice(pool)) for _ in range(R.randint(1, 24)))

def sweep(i, n_sweeps):
    """Consecutive assigned code points: block i of the assigned list (covers a lot of them)."""
    step = len(ASSIGNED) // n_sweeps
    a = ASSIGNED[i * step: i * step + 40]
    s = "".join(chr(c) for c in a)
    return s if R.random() < 0.5 else " ".join(chr(c) for c in a)

def make_strings(eng):
    S = ["", " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u200b", " a", "a ", " a b  c ", "a", "A", "'s", "''", "'s's", "hello world",
         "Hello World!", "HELLO", "don't stop", "‘quotes’ and “quotes”", "\u2581", "\u2581\u2581a", "a\u2581b", "▁hello", " \u3000 \t x"]
    S += PROMPTS
    S += R.sample(eng, 320)
    S += [s.upper() for s in R.sample(eng, 40)] + [s.title() for s in R.sample(eng, 40)]
    for sc in SCRIPTS:
        S += [sentence(sc) for _ in range(22)]
    S += [fuzz() for _ in range(700)]
    S += [random_unicode() for _ in range(300)]
    S += [sweep(i, 500) for i in range(500)]
    S += ["".join(R.choice(PIECES[2:4])() for _ in range(R.randint(2, 12))) for _ in range(40)]   # punctuation runs
    S += ["!" * 200, "." * 300, "-" * 77, "a" * 500, "ab" * 300, "ー" * 100, "😀" * 50]
    # very long
    S += [" ".join(R.choice(eng) for _ in range(300)), "".join(sentence("cjk") for _ in range(150)), "x" * 6000,
          " ".join(fuzz() for _ in range(120)), "!" * 3000, "ha" * 2500]
    S = [s.replace("\0", "") for s in S]
    return S

# ---------------------------------------------------------------------------------------------
def train_unigram(prefix, corpus, **kw):
    args = dict(input=corpus, model_prefix=prefix, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                character_coverage=0.9995, num_threads=2, input_sentence_size=0, minloglevel=2)
    args.update(kw)
    spm.SentencePieceTrainer.train(**args)

def to_tokenizer_json(model_path):
    from transformers import T5TokenizerFast
    d = tempfile.mkdtemp()
    shutil.copy(model_path, os.path.join(d, "spiece.model"))
    t = T5TokenizerFast.from_pretrained(d)
    t.save_pretrained(d)
    j = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    shutil.rmtree(d)
    return j

def write_gz_text(path, text):
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as f: f.write(text.encode("utf-8"))

def main():
    os.makedirs(OUT, exist_ok=True)
    import open_clip
    gz = os.path.join(OUT, "bpe_simple_vocab_16e6.txt.gz")
    if not os.path.exists(gz): shutil.copy(os.path.join(os.path.dirname(open_clip.__file__), "bpe_simple_vocab_16e6.txt.gz"), gz)
    lines = gzip.open(gz).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    clip_full = clip_tokenizer(clip_vocab(merges), merges)

    small_m = merges[:3000]
    small_v = clip_vocab(small_m)
    clip_small = clip_tokenizer(small_v, small_m)
    os.makedirs(os.path.join(OUT, "clip_small"), exist_ok=True)
    json.dump(small_v, open(os.path.join(OUT, "clip_small", "vocab.json"), "w", encoding="utf-8"), ensure_ascii=False)
    open(os.path.join(OUT, "clip_small", "merges.txt"), "w", encoding="utf-8").write("#version: 0.2\n" + "\n".join(" ".join(m) for m in small_m) + "\n")
    write_gz_text(os.path.join(OUT, "clip_small.tokenizer.json.gz"), clip_small.to_str())
    from transformers import CLIPTokenizer
    v5 = CLIPTokenizer(vocab=small_v, merges=list(small_m))
    clip_v5 = v5.backend_tokenizer
    write_gz_text(os.path.join(OUT, "clip_small_v5.tokenizer.json.gz"), clip_v5.to_str())

    eng = english_lines()
    R.shuffle(eng)
    work = tempfile.mkdtemp()
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for line in eng[:20000]: f.write(line + "\n")
        for sc in SCRIPTS:
            for _ in range(2500): f.write(sentence(sc) + "\n")
        for _ in range(3000): f.write(fuzz().replace("\n", " ").replace("\r", " ") + "\n")
    train_unigram(os.path.join(OUT, "uni_nfkc"), corpus, vocab_size=4000)
    train_unigram(os.path.join(OUT, "uni_bytes"), corpus, vocab_size=3000, byte_fallback=True, character_coverage=0.98)
    train_unigram(os.path.join(OUT, "uni_ident"), corpus, vocab_size=2000, normalization_rule_name="identity", add_dummy_prefix=False,
                  remove_extra_whitespaces=False, user_defined_symbols=["<sep>", "[MASK]", "★★"], character_coverage=0.98)
    shutil.rmtree(work)
    for f in glob.glob(os.path.join(OUT, "uni_*.vocab")): os.remove(f)

    uni_json = {}
    for name in ("uni_nfkc", "uni_bytes", "uni_ident"):
        j = to_tokenizer_json(os.path.join(OUT, name + ".model"))
        if name == "uni_bytes":   # the umT5 tokenizer.json layout: Precompiled + Replace(" {2,}"), Metaspace
            pre = j["normalizer"]
            j["normalizer"] = {"type": "Sequence", "normalizers": [pre, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
            j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "prepend_scheme": "always", "split": True}
            j["model"]["byte_fallback"] = True   # transformers' T5 conversion drops it; exercise the path
        text = json.dumps(j, ensure_ascii=False)
        write_gz_text(os.path.join(OUT, name + ".tokenizer.json.gz"), text)
        uni_json[name] = Tokenizer.from_str(text)

    S = make_strings(eng)
    write_gz_text(os.path.join(OUT, "strings.txt.gz"), "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in S))
    refs = {
        "clip_gz": lambda s: clip_full.encode(s, add_special_tokens=False).ids,
        "clip_small": lambda s: clip_small.encode(s, add_special_tokens=False).ids,
        "clip_small_v5": lambda s: clip_v5.encode(s, add_special_tokens=False).ids,
    }
    for name in ("uni_nfkc", "uni_bytes", "uni_ident"):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, name + ".model"))
        refs[name + "_spm"] = (lambda sp: lambda s: sp.encode(s))(sp)
        refs[name + "_hf"] = (lambda tk: lambda s: tk.encode(s, add_special_tokens=False).ids)(uni_json[name])
    for name, fn in refs.items():
        ids = [fn(s) for s in S]
        write_gz_text(os.path.join(OUT, name + ".ids.gz"), "".join(" ".join(map(str, x)) + "\n" for x in ids))
        print("%-16s %6d strings %8d ids" % (name, len(S), sum(map(len, ids))))

    # framing: what the pipelines feed the text encoders (CLIP 77 padded with eos; T5 with pad 0)
    framed = []
    picks = list(range(0, len(S), max(1, len(S) // 40))) + [len(S) - 6, len(S) - 1]
    full = Tokenizer.from_str(clip_full.to_str())
    full.enable_truncation(77); full.enable_padding(length=77, pad_id=49407, pad_token="<|endoftext|>")
    for i in picks: framed.append("clip_gz 77 %d %s" % (i, " ".join(map(str, full.encode(S[i]).ids))))
    for name in ("uni_nfkc", "uni_bytes"):
        tk = Tokenizer.from_str(uni_json[name].to_str())
        tk.enable_truncation(24); tk.enable_padding(length=24, pad_id=0, pad_token="<pad>")
        for i in picks: framed.append("%s_hf 24 %d %s" % (name, i, " ".join(map(str, tk.encode(S[i]).ids))))
    open(os.path.join(OUT, "framed.txt"), "w").write("\n".join(framed) + "\n")
    print("strings: %d, framed: %d" % (len(S), len(framed)))

if __name__ == "__main__":
    main()
