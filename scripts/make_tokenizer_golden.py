#!/usr/bin/env python3
"""Reference outputs of the Hugging Face `tokenizers` library for Ember's tokenizer tests.

    python scripts/make_tokenizer_golden.py              # writes tests/fixtures/tokenizers/golden-*.json
    python scripts/make_tokenizer_golden.py --train-cased  # re-trains wordpiece-cased.json first
    python scripts/make_tokenizer_golden.py --train-bpe    # re-trains bpe-byte-level.json, bpe-split-regex.json
    python scripts/make_tokenizer_golden.py --train-unigram  # re-trains unigram-xlmr.json, unigram-llama.json
    python scripts/make_tokenizer_golden.py --only unigram   # only the goldens whose name starts so
    python scripts/make_tokenizer_golden.py --print-quirks # Unicode tables of src/tokenizer/unicode_quirks.cc

Needs only `tokenizers` (and, for --train-cased, gettext's msgunfmt). Python's Encoding.offsets
are code point offsets; the byte offsets are derived here from the input text. To keep the
files small, "offsets" (code points) is left out where it equals "byte_offsets".
"""
import argparse
import copy
import ctypes
import functools
import glob
import json
import random
import subprocess
import unicodedata
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "tokenizers"

# Extra added tokens for the "bert-added" variant: exercises lstrip/rstrip, normalized
# matching, single_word and non-special tokens. The test appends them to the JSON the same way.
EXTRA_ADDED = [
    {"id": 0, "content": "<ent>", "single_word": False, "lstrip": True, "rstrip": True,
     "normalized": False, "special": True},
    {"id": 0, "content": "Hello World", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": True, "special": False},
    {"id": 0, "content": "cat", "single_word": True, "lstrip": False, "rstrip": False,
     "normalized": True, "special": False},
    {"id": 0, "content": "ünïcode", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": True, "special": False},
    {"id": 0, "content": "[MASK2]", "single_word": False, "lstrip": False, "rstrip": False,
     "normalized": False, "special": False},
]

HANDWRITTEN = [
    "", " ", "     ", "\t\n\r", "a", "Hello, world!", "hello world", "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!", "don't won't shouldn't y'all", "e-mail: john.doe@example.com",
    "https://example.com/path?q=1&b=2#frag", "$100.00 (approx.) 50% off!!!", "3.14159 2,718 1e-10",
    "C++ is not C#; Rust's borrow checker...", "([{<>}])", "\"quoted\" 'single' `back`", "~!@#$%^&*_+=|\\/",
    "Héllo wörld, ça va? Ñandú", "naïve café résumé coöperate", "Ærøskøbing Straße İstanbul ǅemal", "ﬁﬂ ﬃ ℌ ½ ² ™",
    "野口里佳 Noguchi Rika", "我爱北京天安门。", "日本語のテキスト、カタカナ。", "한국어 텍스트입니다", "中文，标点！测试？",
    "ภาษาไทยไม่มีช่องว่าง", "مرحبا بالعالم! كيف حالك؟", "שלום עולם", "Привет, мир! Ёжик в тумане.", "Γειά σου Κόσμε",
    "हिन्दी पाठ", "ქართული", "Tiếng Việt có dấu", "😀 😃 😄", "👨‍👩‍👧‍👦 family", "👍🏽 thumbs", "🇫🇷🇩🇪 flags", "🥰🩰🫨",
    "a\u0301e\u0301i\u0301", "e\u0301\u0323 o\u0323\u0302", "Z\u0351\u0352\u0353algo", "a\u200db\u200cc", "zero\u200bwidth",
    "soft\u00adhyphen", "bom\ufeffhere", "nul\x00char", "bell\x07\x08\x1b[0m", "del\x7fchar", "c1\x85\x9fctl",
    "line\u2028sep\u2029para", "nbsp\u00a0thin\u2009ideo\u3000sp", "tab\tsep\vvt\ffeed", "repl\ufffdchar",
    "private\ue000use", "unassigned\U000e0001tag", "[CLS] hello [SEP]", "[MASK]", "the [MASK] sat on the mat",
    "[mask] lower", "[CLS][SEP][MASK][PAD][UNK]", "x[MASK]y", "[ MASK ]", "[MASK[MASK]]",
    "supercalifragilisticexpialidocious", "a" * 101, "b" * 100, "antidisestablishmentarianism " * 3,
    "x" * 150 + " tail", "é" * 99, "é" * 101, "Hello World hello world HELLO WORLD", "<ent>x<ent> y <ent>  z",
    "a cat, concatenate cat-like cats", "ünïcode unicode ÜNÏCODE", "[MASK2] and [MASK]2",
    "Mixed: αβγ ABC абв 123 ١٢٣ ๑๒๓", "𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "Ⅻ ⅻ ① ⒜ Ⓐ",
    "end with space ", " start with space", "multi\n\nline\n\ntext", "x" * 30 + " " + "y" * 30,
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyz     ABCDEFGHIJ0123456789",
    ".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`",
    "àáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÉÎÕÜßøæœ",
    "的一是不了人我在有他这为之大来以个中上们",
    "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮะาำิีึืุูเแโใไ่้๊๋",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي،؛؟",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГД",
    "😀😂🤣😍🥰👍🏽👨\u200d👩\u200d👧❤️\ufe0f🇫🇷",
    "\u0300\u0301\u0302\u0303\u0308\u0323\u0327\u200d\u200c",
    "\x00\x01\x07\t\n\r\x0b\x0c\x1f\x7f\x85\u00a0\u2028\u3000\ufeff\u00ad",
    "ｱｲｳｴｵアイウエオあいうえお한국어",
]


def utf8proc():
    lib = ctypes.CDLL("libutf8proc.so.2")
    lib.utf8proc_category.restype = ctypes.c_int
    for form in ("NFD", "NFKD"):
        getattr(lib, f"utf8proc_{form}").restype = ctypes.c_void_p
        getattr(lib, f"utf8proc_{form}").argtypes = [ctypes.c_char_p]
    return lib


class _Property(ctypes.Structure):  # the first fields of utf8proc_property_t
    _fields_ = [("category", ctypes.c_int16), ("combining_class", ctypes.c_int16)]


@functools.lru_cache(maxsize=None)
def quirk_code_points():
    """Code points where the library's Unicode tables differ from utf8proc's, per property."""
    from tokenizers.normalizers import NFD, NFKD, BertNormalizer, StripAccents
    from tokenizers.pre_tokenizers import BertPreTokenizer

    u = utf8proc()
    u.utf8proc_get_property.restype = ctypes.POINTER(_Property)
    cat = u.utf8proc_category
    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    pre = BertPreTokenizer()
    nfd, nfkd, strip_marks = NFD(), NFKD(), StripAccents()
    out = {k: [] for k in ("PunctuationNew", "PunctuationOld", "FormatNew", "NonspacingNew",
                           "NonspacingOld", "DecompositionNew", "CompatDecompositionNew",
                           "CombiningClassNew", "CombiningMarkNew", "CombiningMarkOld")}
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch, c = chr(cp), cat(cp)
        lib_punct = len(pre.pre_tokenize_str("a" + ch + "a")) == 3
        if 12 <= c <= 18 and not lib_punct:
            out["PunctuationNew"].append(cp)
        if lib_punct and not 12 <= c <= 18:
            out["PunctuationOld"].append(cp)
        if c == 27 and clean.normalize_str("a" + ch + "b") != "ab":
            out["FormatNew"].append(cp)
        if c == 6 and strip.normalize_str(ch) == ch:
            out["NonspacingNew"].append(cp)
        if c != 6 and strip.normalize_str(ch) == "":
            out["NonspacingOld"].append(cp)
        decomposes = len(ctypes.string_at(u.utf8proc_NFD(ch.encode())).decode()) > 1
        if c != 6 and cp not in out["NonspacingNew"]:
            if decomposes and strip.normalize_str(ch) == ch:
                out["DecompositionNew"].append(cp)
        # Compatibility decompositions the library does not know (it leaves them unchanged).
        if ctypes.string_at(u.utf8proc_NFKD(ch.encode())).decode() != ch and nfkd.normalize_str(ch) == ch:
            out["CompatDecompositionNew"].append(cp)
        # Marks with a class in utf8proc that the library treats as class 0: it reorders them
        # neither after a class-240 mark nor before a class-1 mark. (Every other mark was
        # checked to have the same class in both, against one mark of each class.)
        if u.utf8proc_get_property(cp).contents.combining_class != 0 and not decomposes:
            if nfd.normalize_str("a\u0345" + ch) == "a\u0345" + ch and \
                    nfd.normalize_str("a" + ch + "\u0334") == "a" + ch + "\u0334":
                out["CombiningClassNew"].append(cp)
        # The StripAccents normalizer drops the library's combining marks (M*, older tables).
        mark = 6 <= c <= 8  # Mn, Mc, Me
        if mark and strip_marks.normalize_str(ch) == ch:
            out["CombiningMarkNew"].append(cp)
        if not mark and strip_marks.normalize_str(ch) == "":
            out["CombiningMarkOld"].append(cp)
    return out


# The quirk kinds that every golden encodes (one "a<c>b" per code point); the others only in
# the Unicode-normalizer goldens, whose characters the split-regex fixtures would cut
# differently (Debian's Oniguruma is older than the library's: docs/tokenizer.md).
BASE_QUIRKS = ("PunctuationNew", "PunctuationOld", "FormatNew", "NonspacingNew", "NonspacingOld",
               "DecompositionNew")


def print_quirks():
    for name, cps in quirk_code_points().items():
        ranges = []
        for cp in cps:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
        print(f"constexpr Range k{name}[] = {{")
        print("    " + ", ".join("{0x%X, 0x%X}" % tuple(r) for r in ranges) + ",\n};")


def gettext_lines(langs):
    lines = []
    for lang in langs:
        for mo in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"))[:8]:
            po = subprocess.run(["msgunfmt", mo], capture_output=True, text=True, errors="replace").stdout
            for line in po.splitlines():
                if line.startswith("msgstr \"") or (lang == "de" and line.startswith("msgid \"")):
                    s = line.split(" ", 1)[1][1:-1].replace("\\n", " ").replace('\\"', '"')
                    if s.strip():
                        lines.append(s)
    return lines


LANGS = ["de", "fr", "es", "ru", "ja", "zh_CN", "ko", "ar", "he", "th", "el", "pl", "cs", "vi", "tr",
         "uk", "sv", "fi", "hu", "pt_BR", "it", "nl"]


def train_cased():
    from tokenizers import models, normalizers, pre_tokenizers, processors, trainers, decoders

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=3000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(gettext_lines(LANGS), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.save(str(FIX / "wordpiece-cased.json"))


BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# The pattern of recent byte-level tokenizers (GPT-4 / Llama 3 style), for the Split fixture.
SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_bpe():
    """Two byte-level BPE fixtures trained on the gettext corpus (vocabulary ~5000).

    bpe-byte-level.json is RoBERTa's layout (ByteLevel pre-tokenizer with the GPT-2 regex,
    RobertaProcessing, ByteLevel decoder, <mask> with lstrip) with merges in the older "a b"
    string form; bpe-split-regex.json is the newer layout (Split regex + ByteLevel without regex,
    Sequence[ByteLevel, TemplateProcessing]) with merges as [a, b] lists.
    """
    from tokenizers import AddedToken, models, pre_tokenizers, processors, trainers, decoders

    corpus = gettext_lines(LANGS)

    def trained(pre):
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre
        tok.decoder = decoders.ByteLevel()
        specials = [AddedToken(t, lstrip=(t == "<mask>"), special=True) for t in BPE_SPECIALS]
        trainer = trainers.BpeTrainer(vocab_size=5000, special_tokens=specials, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(corpus, trainer)
        return tok

    tok = trained(pre_tokenizers.ByteLevel(add_prefix_space=False))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    j = json.loads(tok.to_str())
    j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
    (FIX / "bpe-byte-level.json").write_text(json.dumps(j, ensure_ascii=False, indent=1))

    tok = trained(pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers_regex(SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True, add_prefix_space=False),
        processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B:1 </s>:1",
                                      special_tokens=[("<s>", bos), ("</s>", eos)])])
    j = json.loads(tok.to_str())
    assert isinstance(j["model"]["merges"][0], list)
    (FIX / "bpe-split-regex.json").write_text(json.dumps(j, ensure_ascii=False, indent=1))

    # Not byte-level: a small alphabet leaves many characters unknown (fused <unk>), and
    # words carry the "##" continuing-subword prefix and the "</w>" end-of-word suffix.
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, continuing_subword_prefix="##",
                               end_of_word_suffix="</w>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=BPE_SPECIALS, show_progress=False,
                                  limit_alphabet=120, continuing_subword_prefix="##",
                                  end_of_word_suffix="</w>")
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    (FIX / "bpe-subword-unk.json").write_text(json.dumps(json.loads(tok.to_str()),
                                                         ensure_ascii=False, indent=1))


def tokenizers_regex(pattern):
    from tokenizers import Regex
    return Regex(pattern)


# Inputs that matter for byte-level BPE: spaces (runs, leading, trailing, before newlines),
# contractions, digits runs, the RoBERTa specials and <mask>'s lstrip.
BPE_EXTRA = [
    "<s>hello</s>", "<mask>", "the <mask> sat", "the<mask>sat", "  <mask>  x", "<unk><pad></s>",
    "it's   multiple   spaces", "  two leading", "trailing two  ", "\n\nnew\nlines \n", "a \t\n b",
    "12345 1,000,000 3.14 ١٢٣٤", "I'M SHOUTING'S ISN'T", "we'll they'd you're I've",
    "x" * 300, "hello" * 60, "ab " * 80, "ÀÉÎÕÜ àéîõü" * 5, "  nbsp", "\r\n\r\nwin",
]


def train_unigram():
    """Two SentencePiece Unigram fixtures (vocabulary 4000) trained on the gettext corpus with the
    `sentencepiece` package and converted by transformers' converters (needs sentencepiece,
    protobuf and transformers).

    unigram-xlmr.json: nmt_nfkc rules (a real precompiled_charsmap), XLMRobertaConverter
    (Precompiled + Strip + Replace normalizers, Metaspace, <s> A </s></s> B </s>, <mask> lstrip).
    unigram-llama.json: identity rules with byte_fallback, LlamaConverter non-legacy (Metaspace
    prepend_scheme first without split, Replace/ByteFallback/Fuse/Strip decoders), <s> A / <s> A <s> B.
    """
    import tempfile
    import sentencepiece as spm
    from tokenizers import AddedToken, processors
    from transformers.convert_slow_tokenizer import LlamaConverter, XLMRobertaConverter, import_protobuf

    pb2 = import_protobuf()

    class Slow:  # the little of a slow tokenizer that the converters read
        def __init__(self, path, legacy):
            self.vocab_file, self.legacy, self.add_prefix_space = path, legacy, True
            m = pb2.ModelProto()
            m.ParseFromString(Path(path).read_bytes())
            self.pieces = [p.piece for p in m.pieces]

        def convert_tokens_to_ids(self, t):
            return {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}[t]

        def convert_ids_to_tokens(self, i):
            return self.pieces[i]

    with tempfile.TemporaryDirectory() as d:
        corpus = Path(d) / "corpus.txt"
        corpus.write_text("\n".join(gettext_lines(LANGS)))
        common = dict(input=str(corpus), vocab_size=4000, model_type="unigram", character_coverage=0.9995,
                      input_sentence_size=200000, shuffle_input_sentence=True, num_threads=2)
        spm.SentencePieceTrainer.train(model_prefix=f"{d}/xlmr", normalization_rule_name="nmt_nfkc", **common)
        spm.SentencePieceTrainer.train(model_prefix=f"{d}/llama", normalization_rule_name="identity",
                                       byte_fallback=True, **common)
        x = XLMRobertaConverter(Slow(f"{d}/xlmr.model", True)).converted()
        x.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=(t == "<mask>"))
                              for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
        (FIX / "unigram-xlmr.json").write_text(x.to_str())
        lt = LlamaConverter(Slow(f"{d}/llama.model", False)).converted()
        lt.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", lt.token_to_id("<s>"))])
        (FIX / "unigram-llama.json").write_text(lt.to_str())


# Inputs for the SentencePiece path: what nmt_nfkc's charsmap rewrites (full-width forms,
# ligatures, compatibility characters, Hangul jamo and syllables, combining sequences, NBSP and
# other spaces, controls), runs of spaces, the XLM-R specials, and byte fallback.
UNIGRAM_EXTRA = [
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３！？", "ﬁﬂﬀﬃﬄ ﬅﬆ", "㍻ ㈱ ㎏ ℡ № ⅷ ⑳ ㊙", "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ ｧｨｩ",
    "한국어 ᄒᆞᆫ글 ᄀᆞᆷ", "가\u11a8 \u1100\u1161\u11a8 \u1100\u1161", "e\u0301 a\u0308 o\u0303\u0301 A\u030a",
    "ｅ\u0301 ｏ\u0308", "Z\u0351\u0352\u0353\u0354\u0355algo", "\u00a0nbsp\u00a0\u00a0x\u2007y\u202fz",
    "\u2000\u2001\u2002\u2003\u2009\u200a\u3000spaces", "ctl\x01\x02\x1f\x7f\x80\x9f end", "tab\there\nnew\rline",
    "zero\u200bwidth\u200c\u200d\ufeffbom", "soft\u00adhyphen", "  leading and trailing  ", "a    b     c",
    "   ", "x\u3000\u3000y", "<s>hi</s>", "<mask>", "the <mask> sat", "the<mask>sat", "  <mask>  x",
    "<unk> <pad> </s></s>", "``quoted'' text", "…‥ — – ‐ ‑ ‒", "™ © ® ℃ ℉ µ ß ẞ", "Ⅰ Ⅱ Ⅲ ⅰ ⅱ", "½ ¼ ¾ ⅓",
    "ǅ ǈ ǋ Ǳ", "ﾟﾞ ゛゜", "\U0001d400\U0001d41a \U0001d538", "☃☄ 🂡 \U0010fffd \ue000",
    "ᄀ\u1161\u11a8\u11a8", "\u0915\u094d\u0937 \u0ba8\u0bbf", "\u0e01\u0e33 \u0e33", "x" * 120, "é" * 60,
    "\r\n\r\nwin", "e\u0301\u0301\u0301 x\u0300\u0301", "ａ\u0301 ｂ\u0323\u0307",
]


# Inputs for the Unicode normalizers (NFC, NFKC, NFKD): compatibility characters, U+00A0..U+00BF
# among them, and combining marks out of canonical order, whose reordering moves alignments
# (Myanmar, Hebrew, Arabic, Vietnamese, Tibetan, Devanagari, stacks of Latin marks).
NORMALIZATION_EXTRA = [
    "".join(chr(c) for c in range(0xA0, 0xC0)), "nbsp\u00a0here x\u00a0\u00a0y \u00a0lead trail\u00a0",
    "\u00aa \u00ba \u00b5m 10\u00b2 10\u00b3 x\u00b9 \u00bc \u00bd \u00be 1\u00bd",
    "\u00a8 \u00af \u00b4 \u00b8 a\u00a8b e\u00b4 \u00b4\u0301 \u00a8\u0316x", "caf\u00e9\u00a0\u00bd\u00b2",
    "\u1004\u103a\u1037", "\u1019\u103c\u1014\u103a\u1019\u102c\u1037\u103a \u1014\u1031\u102c\u1004\u103a\u1037",
    "a\u0301\u0316 a\u0316\u0301 e\u0344\u0316", "\u0316\u0301x \u0301", "x\u0301\u0323\u0302\u0316 y",
    "o\u0302\u0323 e\u0323\u0302 \u1ec7\u0316 Vi\u00ea\u0323t Nam", "\u05e9\u05c2\u05bc\u05b8\u05dc\u05d5\u05b9\u05dd",
    "\u0628\u064e\u0651 \u0628\u0651\u064e \u0644\u0650\u0651\u0670 \u0645\u064f\u0651",
    "\u0f40\u0f74\u0f71 \u0f40\u0f72\u0f81\u0f7a \u0f73\u0f39", "\u0958\u093c \u0915\u093c\u0951\u094d",
    "\uac00\uac01 \u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8", "\ufb01\u0301 \u00bd\u0316 \u2126 \uf900",
    "\u1e9b\u0323 \u212b\u0327 A\u030a\u0327 \u00c5\u0327", "x\u0345\u0334\u0301 \u3099\u309a\u304b\u3099 \uff76\uff9e",
    "\u2460\u2474 \u3392 \u33c7 \u2153 \u2155 \u01c4 \u0132 \u017f\u0307 \u02b0\u02b2",
    # composition exclusions: decomposed, never recomposed
    "\U0001d15e \U0001d157\U0001d165 \U0001d160 \u0958 \u0915\u093c \u2adc \u0f43 \ufb1d \u0344",
]


def inputs(seed, quirk_kinds=BASE_QUIRKS):
    rng = random.Random(seed)
    out = list(HANDWRITTEN)
    corpus = gettext_lines(["de", "fr", "ru", "ja", "zh_CN", "ar", "th", "ko", "el", "vi"])
    rng.shuffle(corpus)
    out += [s[:200] for s in corpus[:100]]
    for _ in range(100):
        pools = rng.sample(POOLS, rng.randint(1, 3))
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(n)))
    table = quirk_code_points()
    quirks = sorted({cp for kind in quirk_kinds for cp in table[kind]})
    for i in range(0, len(quirks), 12):
        out.append(" ".join(f"a{chr(cp)}b" for cp in quirks[i:i + 12]))
    if "CombiningClassNew" in quirk_kinds:
        # Marks whose class the library does not know, where it matters: between marks of
        # class 240 and 1, which reorder around a mark of a known class.
        marks = table["CombiningClassNew"]
        for i in range(0, len(marks), 8):
            out.append(" ".join(f"a\u0345{chr(cp)}\u0334" for cp in marks[i:i + 8]))
    return out


def to_bytes(text, offsets):
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + len(ch.encode()))
    return [[starts[a], starts[b]] for a, b in offsets]


def record(enc, a, b, depth=0):
    seq = [(-1 if s is None else s) for s in enc.sequence_ids]
    byte_offsets = []
    for (s, e), q, m in zip(enc.offsets, seq, enc.special_tokens_mask):
        text = b if q == 1 else a
        byte_offsets.append(to_bytes(text, [(s, e)])[0] if q >= 0 else [s, e])
    chars = [list(o) for o in enc.offsets]
    return ({"offsets": chars} if chars != byte_offsets else {}) | {
        "ids": enc.ids, "type_ids": enc.type_ids, "tokens": enc.tokens,
        "special_tokens_mask": enc.special_tokens_mask,
        "byte_offsets": byte_offsets, "sequence_ids": seq,
        "word_ids": [(-1 if w is None else w) for w in enc.word_ids],
    } | ({"overflowing": [record(o, a, b, 1) for o in enc.overflowing]} if depth == 0 else
         {"n_overflowing": len(enc.overflowing)})


TRUNCATIONS = [
    {"max_length": 8, "stride": 0, "strategy": "longest_first", "direction": "right"},
    {"max_length": 10, "stride": 3, "strategy": "longest_first", "direction": "right"},
    {"max_length": 14, "stride": 2, "strategy": "longest_first", "direction": "left"},
    {"max_length": 12, "stride": 1, "strategy": "only_first", "direction": "right"},
    {"max_length": 12, "stride": 0, "strategy": "only_second", "direction": "left"},
]


def golden(name, json_text, cases_inputs, seed):
    rng = random.Random(seed)
    tok = Tokenizer.from_str(json_text)
    tok.no_padding()
    cases, decodes = [], []

    def add(a, b=None, special=True, trunc="file"):
        if trunc is None:
            tok.no_truncation()
        elif trunc != "file":
            tok.enable_truncation(**trunc)
        try:
            enc = tok.encode(a, b, add_special_tokens=special)
        except BaseException as e:  # errors and panics (stride too large) are recorded
            enc = None
            err = str(e)
        case = {"input": a, "add_special_tokens": special}
        if b is not None:
            case["pair"] = b
        if trunc != "file":
            case["truncation"] = trunc
        if enc is None:
            case["error"] = err
        else:
            case.update(record(enc, a, b))
        cases.append(case)
        return enc

    base = Tokenizer.from_str(json_text).truncation
    for text in cases_inputs:
        enc = add(text)
        if enc is not None and rng.random() < 0.15:
            decodes.append({"ids": enc.ids, "skip_special_tokens": True, "text": tok.decode(enc.ids, True)})
            decodes.append({"ids": enc.ids, "skip_special_tokens": False, "text": tok.decode(enc.ids, False)})
    for text in rng.sample(cases_inputs, 25):
        add(text, special=False)
    for _ in range(30):
        add(rng.choice(cases_inputs), rng.choice(cases_inputs))
    long_a = "the quick brown fox jumps over the lazy dog " * 2
    long_b = "Ein schneller Fuchs über den Hund."
    for t in TRUNCATIONS:
        # Both sides overflowing multiply (the library pairs every piece with every piece):
        # keep the longest_first pairs short.
        both = ("the lazy dog", long_b) if t["strategy"] == "longest_first" else (long_a, long_b)
        for a, b in [(long_a, None), both, (long_b, "short"), ("x y", long_a), ("", "")]:
            if t["strategy"] == "only_second" and b is None:
                continue
            add(a, b, True, t)
            add(a, b, False, t)
    add(long_a * 6, None, True, None)
    if base is not None:
        tok.enable_truncation(**{k: base[k] for k in ("max_length", "stride", "strategy", "direction")})
    return {"tokenizer": name, "file_truncation": base, "cases": cases, "decode": decodes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-cased", action="store_true")
    ap.add_argument("--print-quirks", action="store_true")
    ap.add_argument("--train-bpe", action="store_true")
    ap.add_argument("--train-unigram", action="store_true")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    if args.print_quirks:
        return print_quirks()
    if args.train_cased:
        train_cased()
    if args.train_bpe:
        train_bpe()
    if args.train_unigram:
        train_unigram()
    texts = inputs(1234)
    bert = (FIX / "bert-base-uncased.json").read_text()
    added = json.loads(bert)
    added["added_tokens"] += EXTRA_ADDED
    variants = [
        ("bert-base-uncased", bert, texts),
        ("wordpiece-cased", (FIX / "wordpiece-cased.json").read_text(), texts),
        ("bert-added", json.dumps(added), [t for t in texts if len(t) < 80][:70]),
    ]
    bpe = json.loads((FIX / "bpe-byte-level.json").read_text())
    prefix = copy.deepcopy(bpe)  # RoBERTa with add_prefix_space on both sides
    prefix["pre_tokenizer"]["add_prefix_space"] = True
    prefix["post_processor"]["add_prefix_space"] = True
    bpe_texts = texts + BPE_EXTRA
    variants += [
        ("bpe-byte-level", json.dumps(bpe), bpe_texts),
        ("bpe-split-regex", (FIX / "bpe-split-regex.json").read_text(), bpe_texts),
        ("bpe-byte-level-prefix", json.dumps(prefix), bpe_texts),
        ("bpe-subword-unk", (FIX / "bpe-subword-unk.json").read_text(), bpe_texts),
    ]
    replaced = {"bpe-byte-level-prefix": ("bpe-byte-level", {k: prefix[k] for k in
                                                             ("pre_tokenizer", "post_processor")})}
    llama = json.loads((FIX / "unigram-llama.json").read_text())
    legacy = {  # LlamaConverter's legacy layout: Prepend + Replace normalizers, no pre-tokenizer
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
    }
    llama.update(legacy)
    uni_texts = texts + UNIGRAM_EXTRA
    variants += [
        ("unigram-xlmr", (FIX / "unigram-xlmr.json").read_text(), uni_texts),
        ("unigram-llama", (FIX / "unigram-llama.json").read_text(), uni_texts),
        ("unigram-llama-legacy", json.dumps(llama), uni_texts),
    ]
    replaced["unigram-llama-legacy"] = ("unigram-llama", legacy)
    # The Unicode normalizers on top of existing fixtures (the vocabulary does not matter for
    # parity): NFC as Qwen2/3 and GPT-NeoX tokenizers use it (byte-level, so every character's
    # alignment shows in some token's offsets), NFKC and NFKD.
    all_quirks = inputs(1234, tuple(quirk_code_points()))
    for name, base, form in [("bpe-split-regex-nfc", "bpe-split-regex", "NFC"),
                             ("bpe-split-regex-nfkc", "bpe-split-regex", "NFKC"),
                             ("bpe-byte-level-nfkd", "bpe-byte-level", "NFKD"),
                             ("wordpiece-cased-nfkc", "wordpiece-cased", "NFKC")]:
        j = json.loads((FIX / f"{base}.json").read_text())
        j["normalizer"] = {"type": form}
        ins = (texts if "split-regex" in name else all_quirks) + BPE_EXTRA + NORMALIZATION_EXTRA
        variants.append((name, json.dumps(j), ins))
        replaced[name] = (base, {"normalizer": j["normalizer"]})
    for name, text, ins in variants:
        if args.only is not None and not any(name.startswith(o) for o in args.only):
            continue
        g = golden(name, text, ins, 99)
        if name == "bert-added":
            g["extra_added_tokens"] = EXTRA_ADDED
        if name in replaced:  # the test loads `fixture` and replaces these top-level keys
            g["fixture"], g["replace"] = replaced[name]
        path = FIX / f"golden-{name}.json"
        path.write_text(json.dumps(g, ensure_ascii=False, separators=(",", ":")))
        print(path, len(g["cases"]), "cases", path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
