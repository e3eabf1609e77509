#!/usr/bin/env python3
"""Goldens for single tokenizer components, made by the real `tokenizers` library (issue #3).

    .venv/bin/python scripts/make_tokenizer_component_golden.py

Writes tests/fixtures/tokenizers/golden-components.json: for each decoder configuration, token
lists and the library's decode of them (tests/tokenizer/component_golden_test.cc replays them
through Ember's make_decoder); for normalizers (Nmt, and others encoder models combine with
it) texts and the library's normalize_str; for the Unicode forms, the original characters
each normalized character is aligned to (what token offsets are made of); for pre-tokenizers (CharDelimiterSplit) texts and
the library's pre_tokenize_str pieces with their code-point offsets.
"""
import json
from pathlib import Path

import tokenizers
from tokenizers import decoders, normalizers, pre_tokenizers

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/tokenizers/golden-components.json"

DECODER_TOKENS = [
    [],
    ["hello</w>"],
    ["hel", "lo</w>", "wor", "ld</w>"],
    ["a</w>", "b", "</w>c</w>", "d</w>"],
    ["x</w>y</w>", "z"],
    ["end_", "of_", "word_"],
    ["<pad>", "h", "h", "e", "<pad>", "l", "l", "<pad>", "l", "o", "|", "|", "w", "o", "r", "l", "d"],
    ["|", "i", " ", ".", "|", "don", "'", "t", "<pad>", "<pad>", "a", "b", "b"],
    ["do", " do not", " .", "<pad>", "x<pad>y", "||", "|"],
]


def decoder_cases():
    configs = [
        decoders.BPEDecoder(),
        decoders.BPEDecoder(suffix="_"),
        decoders.BPEDecoder(suffix=""),
        decoders.CTC(),
        decoders.CTC(pad_token="<pad>", word_delimiter_token="|", cleanup=False),
        decoders.CTC(pad_token="[PAD]", word_delimiter_token="_", cleanup=True),
        decoders.Sequence([decoders.CTC(), decoders.BPEDecoder(suffix="o")]),
    ]
    out = []
    for d in configs:
        spec = json.loads(d.__getstate__())
        out.append({"decoder": spec, "cases": [{"tokens": t, "text": d.decode(t)} for t in DECODER_TOKENS]})
    return out


TEXTS = [
    "", "Hello World", "a\tb\nc\rd\x0ce\x0bf", "\x01\x02x\x7f\x8fy\x9fz\x00",
    "zero\u200bwidth\u200d joiner\ufeffbom\ufffd", "line\u2028sep\u2029para\u1680ogham",
    "\u2581meta\u2581space", "Ünïcödé ÀÉÎ", "x,y;;z,,", "日本,語", "  spaced , out  ", ",",
]


def normalizer_cases():
    configs = [
        normalizers.Nmt(),
        normalizers.Sequence([normalizers.Nmt(), normalizers.NFKC()]),
        normalizers.Sequence([normalizers.Nmt(), normalizers.Lowercase(), normalizers.Strip()]),
    ]
    return [{"normalizer": json.loads(n.__getstate__()),
             "cases": [{"text": t, "normalized": n.normalize_str(t)} for t in TEXTS]} for n in configs]


# Texts for the Unicode forms' alignments: every character of U+00A0..U+00BF (compatibility
# decompositions below U+00C0), marks out of canonical order (Myanmar, Hebrew, Arabic,
# Vietnamese, Tibetan, stacks of Latin marks, marks at the start and end), decompositions into
# several marks, Hangul syllables and jamo, singletons, composition exclusions (U+0958,
# U+1D15E: decomposed and never recomposed), and the marks and characters of
# src/tokenizer/unicode_quirks.cc that the library's older tables treat differently.
ALIGNMENT_TEXTS = [
    "".join(chr(c) for c in range(0xA0, 0xC0)), "a\u00a0b\u00bc\u00bd\u00be c\u00b2\u00b3\u00b9",
    "\u00aa\u00ba\u00b5 \u00a8\u00af\u00b4\u00b8 x\u00a8\u0301 \u00b4\u0316",
    "\u1004\u103a\u1037", "\u1019\u103c\u1014\u103a\u1019\u102c\u1037\u103a\u1010\u102d\u102f\u1037",
    "a\u0301\u0316", "a\u0316\u0301", "e\u0344\u0316", "\u0316\u0301x", "x\u0301\u0323\u0302\u0316",
    "o\u0302\u0323 e\u0323\u0302 \u1ec7\u0316", "\u05e9\u05c2\u05bc\u05b8 \u05d1\u05bc\u05b0",
    "\u0628\u064e\u0651 \u0628\u0651\u064e \u0644\u0650\u0651\u0670",
    "\u0f40\u0f74\u0f71 \u0f40\u0f72\u0f81\u0f7a \u0f73\u0f39",
    "\uac00\uac01 \u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8", "\ufb01\u0301 \u00bd\u0316 \u2126 \uf900",
    "\u0958\u093c \u0915\u093c\u0951\u094d", "\u1e9b\u0323 \u212b\u0327", "A\u030a\u0327 \u00c5\u0327",
    "\u0301", "x\u0345\u0334\u0301", "\u3099\u309a\u304b\u3099 \uff76\uff9e",
    "a\u0345\u0898\u0334 a\u0345\u1715\u0334 a\u0345\U0001e08f\u0334 \u1ac0\u0301\u0316",
    "\u32ff \ua7f2\u0301 \U00010781 \U0001e030\u0316 \U0001fbf5 \U00011935\U00011930",
    "\U0001d15e \U0001d157\U0001d165 \U0001d160 \u0958 \u0915\u093c \u2adc \u0f43 \ufb1d",
]


def alignment_cases():
    """Per character of the normalized text: the original characters it aligns to, as the
    library's NormalizedString reports them (each normalized character sliced out of a
    PreTokenizedString, offsets in original code points)."""
    from tokenizers import PreTokenizedString

    def align(n, text):
        p = PreTokenizedString(text)
        p.normalize(lambda s: n.normalize(s))
        p.split(lambda i, s: [s[k:k + 1] for k in range(len(s.normalized))])
        return [[c, list(o)] for c, o, _ in p.get_splits(offset_referential="original", offset_type="char")]

    configs = [normalizers.NFC(), normalizers.NFD(), normalizers.NFKC(), normalizers.NFKD(),
               normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents()])]
    return [{"normalizer": json.loads(n.__getstate__()),
             "cases": [{"text": t, "chars": align(n, t)} for t in ALIGNMENT_TEXTS]} for n in configs]


def pre_tokenizer_cases():
    configs = [
        pre_tokenizers.CharDelimiterSplit(","),
        pre_tokenizers.CharDelimiterSplit(" "),
        pre_tokenizers.CharDelimiterSplit("語"),
        pre_tokenizers.Sequence([pre_tokenizers.CharDelimiterSplit(","), pre_tokenizers.WhitespaceSplit()]),
    ]
    return [{"pre_tokenizer": json.loads(p.__getstate__()),
             "cases": [{"text": t, "pieces": [[w, list(o)] for w, o in p.pre_tokenize_str(t)]} for t in TEXTS]}
            for p in configs]


def main():
    g = {"tokenizers_version": tokenizers.__version__, "decoders": decoder_cases(),
         "normalizers": normalizer_cases(), "alignments": alignment_cases(),
         "pre_tokenizers": pre_tokenizer_cases()}
    OUT.write_text(json.dumps(g, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(OUT, sum(len(d["cases"]) for d in g["decoders"]), "decoder cases")


if __name__ == "__main__":
    main()
