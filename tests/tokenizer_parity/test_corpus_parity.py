"""Live parity with the Hugging Face `tokenizers` library over a >=100,000-line corpus (issue #3).

For each fixture tokenizer, the real library (pinned in scripts/requirements-test.txt) and
Ember (`bench_tokenize_corpus --dump`) encode every corpus line with special tokens and the
tokenizer.json's truncation; ids, type ids, special-tokens mask and code-point offsets must be
identical on every line. Run through ctest (`tokenizer_parity`), which sets
EMBER_TOKENIZE_CORPUS (the binary) and EMBER_CORPUS_DIR (where the corpus is generated, once
per corpus generator VERSION, by scripts/make_tokenizer_corpus.py).
"""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

SOURCE_DIR = pathlib.Path(os.environ.get("EMBER_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
FIXTURES = SOURCE_DIR / "tests/fixtures/tokenizers"
GENERATOR = SOURCE_DIR / "scripts/make_tokenizer_corpus.py"

# name -> known mismatch (None: must be exact). A known mismatch becomes xfail(strict=True)
# so that a fix turns the test red until the entry is removed.
FIXTURE_TOKENIZERS = {
    "bert-base-uncased": None,
    "wordpiece-cased": None,
    "bpe-byte-level": None,
    "bpe-split-regex": None,
    "unigram-xlmr": None,
    "unigram-llama": None,
    "bpe-split-regex-nfc": None,
    "bpe-split-regex-nfkc": None,
    "bpe-byte-level-nfkd": None,
}
# Fixtures with another normalizer: name -> (fixture, normalizer). Byte-level, so the alignment
# of every normalized character (reordered marks, compatibility decompositions) shows in some
# token's offsets. NFC is what Qwen2/3 and GPT-NeoX tokenizers use.
VARIANTS = {
    "bpe-split-regex-nfc": ("bpe-split-regex", {"type": "NFC"}),
    "bpe-split-regex-nfkc": ("bpe-split-regex", {"type": "NFKC"}),
    "bpe-byte-level-nfkd": ("bpe-byte-level", {"type": "NFKD"}),
}
SPECIAL_LITERALS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ctest")
    return value


def _generator_version():
    spec = importlib.util.spec_from_file_location("make_tokenizer_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VERSION


@pytest.fixture(scope="session")
def corpus():
    out_dir = pathlib.Path(_env("EMBER_CORPUS_DIR"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"tokenizer-corpus-v{_generator_version()}.txt"
    if not path.exists():
        subprocess.run([sys.executable, str(GENERATOR), str(path)], check=True, capture_output=True)
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) >= 100000
    return path, lines


def fixture_json(name):
    if name not in VARIANTS:
        return (FIXTURES / f"{name}.json").read_text()
    base, normalizer = VARIANTS[name]
    j = json.loads((FIXTURES / f"{base}.json").read_text())
    j["normalizer"] = normalizer
    return json.dumps(j)


def ember_dump(name, corpus_path, tmp_path, decode=False):
    out = tmp_path / f"{name}.jsonl"
    fixture = FIXTURES / f"{name}.json"
    if name in VARIANTS:
        fixture = tmp_path / f"{name}.json"
        fixture.write_text(fixture_json(name))
    args = [_env("EMBER_TOKENIZE_CORPUS"), "--dump", str(fixture), str(corpus_path), str(out)]
    subprocess.run(args + (["--decode"] if decode else []), check=True)
    rows = [json.loads(r) for r in out.read_bytes().decode("utf-8", errors="replace").split("\n")[:-1]]
    return rows


def library_tokenizer(name):
    tok = Tokenizer.from_str(fixture_json(name))
    tok.no_padding()  # Ember does not pad (bert-base-uncased.json pads to 128); truncation stays
    return tok


def library_encodings(name, lines):
    return library_tokenizer(name).encode_batch(lines)


def _param(name):
    known = FIXTURE_TOKENIZERS[name]
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_param(n) for n in FIXTURE_TOKENIZERS])
def test_corpus_parity(name, corpus, tmp_path):
    corpus_path, lines = corpus
    ours = ember_dump(name, corpus_path, tmp_path)
    assert len(ours) == len(lines)
    theirs = library_encodings(name, lines)
    mismatches = []
    for i, (line, e, o) in enumerate(zip(lines, theirs, ours)):
        if "error" in o:
            mismatches.append((i, line, f"Ember threw: {o['error']}"))
            continue
        want = {
            "ids": e.ids,
            "type_ids": e.type_ids,
            "special_tokens_mask": e.special_tokens_mask,
            "offsets": [list(p) for p in e.offsets],
        }
        for field, value in want.items():
            if o[field] != value:
                at = next((k for k, (a, b) in enumerate(zip(o[field], value)) if a != b),
                          min(len(o[field]), len(value)))
                mismatches.append((i, line, f"{field} differs at token {at}: ember {o[field][at:at + 4]} "
                                            f"library {value[at:at + 4]} (lengths {len(o[field])}/{len(value)})"))
                break
        # Property: every offset lies inside the input (code points).
        for a, b in o["offsets"]:
            assert 0 <= a <= b <= len(line), f"line {i} {line!r}: offset ({a}, {b}) outside the input"
    report = "\n".join(f"  line {i} {line[:80]!r}: {why}" for i, line, why in mismatches[:8])
    assert not mismatches, f"{name}: {len(mismatches)} of {len(lines)} lines differ; first ones:\n{report}"


def test_byte_level_bpe_round_trip(corpus, tmp_path):
    """decode(encode(x)) == x for the byte-level BPE (lossless), and equals the library's decode."""
    corpus_path, lines = corpus
    ours = ember_dump("bpe-byte-level", corpus_path, tmp_path, decode=True)
    tok = library_tokenizer("bpe-byte-level")
    theirs = tok.decode_batch([o["ids"] for o in ours], skip_special_tokens=True)
    not_lossless = []
    differs = []
    for i, (line, o, t) in enumerate(zip(lines, ours, theirs)):
        if o["decoded"] != t:
            differs.append(i)
        # Special-token literals in the text are special tokens, dropped by skip_special_tokens.
        if o["decoded"] != line and not any(s in line for s in SPECIAL_LITERALS):
            not_lossless.append(i)
    assert not differs, f"{len(differs)} decodes differ from the library's, e.g. line {differs[0]} {lines[differs[0]]!r}"
    assert not not_lossless, (f"{len(not_lossless)} lines do not round-trip, e.g. line {not_lossless[0]} "
                              f"{lines[not_lossless[0]]!r} -> {ours[not_lossless[0]]['decoded']!r}")


def test_gpt2_scanner_equals_regex(corpus):
    """The hand-written GPT-2 pattern matcher gives the regex engine's matches on every line."""
    corpus_path, lines = corpus
    out = subprocess.run([_env("EMBER_TOKENIZE_CORPUS"), "--check-gpt2", str(corpus_path)],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert result["lines"] == len(lines)
    assert result["mismatches"] == 0, f"{result['mismatches']} texts differ:\n{out.stderr}"
