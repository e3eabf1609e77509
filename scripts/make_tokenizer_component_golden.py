#!/usr/bin/env python3
"""Goldens for single tokenizer components, made by the real `tokenizers` library (issue #3).

    .venv/bin/python scripts/make_tokenizer_component_golden.py

Writes tests/fixtures/tokenizers/golden-components.json: for each decoder configuration, token
lists and the library's decode of them (tests/tokenizer/component_golden_test.cc replays them
through Ember's make_decoder); for normalizers (Nmt, and others encoder models combine with
it) texts and the library's normalize_str; for pre-tokenizers (CharDelimiterSplit) texts and
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
         "normalizers": normalizer_cases(), "pre_tokenizers": pre_tokenizer_cases()}
    OUT.write_text(json.dumps(g, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(OUT, sum(len(d["cases"]) for d in g["decoders"]), "decoder cases")


if __name__ == "__main__":
    main()
