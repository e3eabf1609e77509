"""Live parity of pair truncation on long texts (issue #20), through the real `ember tokenize`.

Ember truncates a sentence pair without building the overflowing windows (the library pairs
every window of one text with every window of the other; the server never reads them), so its
cost is linear in the input. The kept encoding must still be the library's: for long pairs
(thousands of words each), long/short and short/long pairs, every strategy the library has
(longest_first, only_first, only_second), both directions and a stride, on WordPiece,
byte-level BPE (RobertaProcessing; Split + Sequence post-processor) and Unigram, ids, type ids,
special tokens mask and code-point offsets equal the library's `encode(a, b)`. Where the library
refuses (the side to cut is too short), `ember tokenize` exits 2 with invalid_input.
Run through ctest (`tokenizer_parity`), which sets EMBER_BIN.
"""
import json
import random
import subprocess

import pytest
from tokenizers import Tokenizer

from test_corpus_parity import FIXTURES, _env

WORDS = ("the river carried 42 boats , déjà vu naïve Straße 東京 の 川 — it's a well-known "
         "fact that tokenizers split words into pieces ; ünïcödé ½ x²").split()


def text(n, seed):
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


PAIRS = [
    (text(1500, 1), text(1200, 2)),  # both long: every window pairs with every window
    (text(1000, 3), text(5, 4)),
    (text(6, 5), text(1100, 6)),
    (text(300, 7), text(280, 8)),
    (text(90, 9), text(70, 10)),
    ("short", "pair"),
]
CONFIGS = [
    {"max_length": m, "stride": s, "strategy": st, "direction": d}
    for m in (512, 128)
    for st in ("LongestFirst", "OnlyFirst", "OnlySecond")
    for d in ("Right", "Left")
    for s in (0, 10)
]
NAMES = ["bert-base-uncased", "bpe-byte-level", "bpe-split-regex", "unigram-xlmr"]


def with_truncation(name, config):
    j = json.loads((FIXTURES / f"{name}.json").read_text())
    j["truncation"] = config
    j["padding"] = None
    return j


def library(j, pairs):
    tok = Tokenizer.from_str(json.dumps(j))
    out = []
    for a, b in pairs:
        try:
            e = tok.encode(a, b)
        except Exception as err:  # the library refuses: side to cut too short
            out.append(err)
            continue
        out.append({"ids": e.ids, "type_ids": e.type_ids, "special_tokens_mask": e.special_tokens_mask,
                    "offsets": [list(o) for o in e.offsets]})
    return out


def ember_tokenize(path, pairs):
    lines = "".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in pairs)
    return subprocess.run([_env("EMBER_BIN"), "tokenize", "--tokenizer", str(path), "--offsets", "chars"],
                          input=lines.encode(), capture_output=True)


@pytest.mark.parametrize("name", NAMES)
def test_long_pair_truncation_equals_library(name, tmp_path):
    compared = refused = 0
    for config in CONFIGS:
        j = with_truncation(name, config)
        path = tmp_path / "tokenizer.json"
        path.write_text(json.dumps(j))
        want = library(j, PAIRS)
        ok = [p for p, w in zip(PAIRS, want) if not isinstance(w, Exception)]
        run = ember_tokenize(path, ok)
        assert run.returncode == 0, f"{name} {config}: {run.stderr.decode()}"
        got = json.loads(run.stdout)["results"]
        assert len(got) == len(ok)
        for (a, b), g, w in zip(ok, got, [w for w in want if not isinstance(w, Exception)]):
            for field, value in w.items():
                assert g[field] == value, (f"{name} {config} pair of {len(a)}/{len(b)} chars: {field} "
                                           f"differs (lengths {len(g[field])}/{len(value)})")
            compared += 1
        for (a, b), w in zip(PAIRS, want):
            if isinstance(w, Exception) and config["max_length"] == 128 and config["stride"] == 0:
                run = ember_tokenize(path, [(a, b)])
                assert run.returncode == 2, f"{name} {config}: library refused ({w}), Ember did not"
                assert json.loads(run.stderr)["error_type"] == "invalid_input"
                refused += 1
    assert compared >= len(CONFIGS) * len(PAIRS) // 2  # most combinations are valid
    assert refused >= 1
