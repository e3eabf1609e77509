"""Live parity on characters newer than Debian's Oniguruma (docs/tokenizer.md, "Unicode gap").

The library's bundled Oniguruma has Unicode 16.0 tables; Debian's libonig5 6.9.8 is older.
Ember's GPT-2 scanner (the ByteLevel pre-tokenizer's regex) takes \\p{L}/\\p{N} from utf8proc
(Unicode 15.0) plus a short list of 15.1/16.0 additions, so byte-level BPE must match the
library exactly on letters such as U+1123F (Khojki), U+1E030 (Cyrillic Ext-D), U+31350 (CJK
ext. H), U+2EBF0 (CJK ext. I, 15.1), U+1C89 / U+13460 (16.0) and digits such as U+10D40 (Garay,
16.0), next to ASCII letters, digits, spaces, punctuation and contractions. With Oniguruma's
older classes these characters are "other", so e.g. "a\\U0001123F'sa" is cut "a"
"\\U0001123F'" "sa" instead of "a\\U0001123F" "'s" "a": ids differ.
The Split regex fixture goes through Debian's Oniguruma (a known, remaining gap): strict xfail.
test_scanner_classes_equal_library compares the scanner's class of every code point with the
library's. Run through ctest (`tokenizer_parity`), which sets EMBER_TOKENIZE_CORPUS.
"""
import itertools
import subprocess

import pytest
from tokenizers import pre_tokenizers

from test_corpus_parity import _env, ember_dump, library_tokenizer

NEWER = ["\U0001123F", "\U0001E030", "\U00031350", "\U0002EBF0", "\U0002EE5D", "\u1C89",
         "\U00013460", "\U00011380", "\U00010D40", "\U000116D0", "\U0001E5FA"]
CONTEXT = ["", "a", "ab", "the", "1", "12", " ", "  ", "!", ".", "'s", "'ll", "x1", "\t", "-"]
HAND = [
    "a\U0001123F'sa\U0001123F's",
    "the\U0001E030'sthe word's",
    "Hello \U00031350\U0002EBF0 world 42 \U0001123F!",
    "it\U0002EBF0's 3\U0002EBF0x, y\U0001E030'll z",
    "  \U00031350  12\U00031350ab  \U0002EBF0\U0001123F\U0001E030 ?!",
    "\U0002EBF0'd \U0001E030've\U0001123F're\U00031350'm\U0001123F't",
]

# name -> known mismatch (None: must be exact), as in test_corpus_parity.py.
FIXTURES = {
    "bpe-byte-level": None,
    "bpe-split-regex": "Split regex runs on Debian's Oniguruma (older Unicode than the library's)",
}


def lines():
    out = list(HAND)
    for c in NEWER:
        for a, b in itertools.product(CONTEXT, repeat=2):
            t = a + c + b
            out += [t, " " + t, t + t]
    return out


def _param(name):
    known = FIXTURES[name]
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_param(n) for n in FIXTURES])
def test_newer_unicode_parity(name, tmp_path):
    text = lines()
    path = tmp_path / "newer-unicode.txt"
    path.write_bytes("".join(t + "\n" for t in text).encode("utf-8"))
    ours = ember_dump(name, path, tmp_path)
    assert len(ours) == len(text)
    theirs = library_tokenizer(name).encode_batch(text)
    bad = []
    for line, e, o in zip(text, theirs, ours):
        got = (o.get("ids"), o.get("offsets"))
        want = (e.ids, [list(p) for p in e.offsets])
        if got != want:
            bad.append(f"  {line!r}: ember {o.get('ids', o.get('error'))} library {e.ids}")
    assert not bad, f"{name}: {len(bad)} of {len(text)} lines differ:\n" + "\n".join(bad[:8])


def library_class(split, c):
    """The library's GPT-2 class of code point c: 0 letter, 1 number, 2 space, 3 other."""
    ch = chr(c)
    pieces = split(ch + "a" + ch + "1")  # (byte-level text, code-point offsets)
    if pieces[0][1] == (0, 3):  # [c a c][1]
        return 0
    if len(pieces) == 3:  # [c][a][c 1]
        return 1
    # Other or space: "a c c a" is [a][c][c][a] for \s (\s+(?!\S) leaves the last one), but
    # [a][c c][a] for other (U+0020 joins the letter: [a][ ][ a]). All of \s lies in the BMP.
    if c < 0x10000 and c != 0x20 and len(split("a" + ch + ch + "a")) == 3:
        return 3
    return 2 if c < 0x10000 else 3


def test_scanner_classes_equal_library():
    """Ember's \\p{L}/\\p{N}/\\s (gpt2_class) equals the library's on every code point."""
    out = subprocess.run([_env("EMBER_TOKENIZE_CORPUS"), "--gpt2-classes"], check=True,
                         capture_output=True, text=True).stdout.strip()
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    assert len(out) == len(points)
    split = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str
    bad = [(hex(c), int(k), library_class(split, c)) for c, k in zip(points, out)]
    bad = [b for b in bad if b[1] != b[2]]
    assert library_class(split, 0x1123F) == 0 and library_class(split, 0x10D40) == 1
    assert library_class(split, 0x3000) == 2 and library_class(split, ord("!")) == 3
    assert not bad, f"{len(bad)} code points differ (code point, ember, library): {bad[:20]}"
