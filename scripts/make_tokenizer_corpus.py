#!/usr/bin/env python3
"""A multilingual, adversarial text corpus for tokenizer parity and throughput (issue #3).

    python3 scripts/make_tokenizer_corpus.py OUT.txt [--lines N] [--seed S]

One input per line, UTF-8, lines separated by "\\n" only (a line may hold \\r, \\x0b, \\x85,
U+2028 and other characters that Python's str.splitlines() would split on: readers must split
on "\\n"). Deterministic: catalogue files are read in sorted order and sampled with a fixed
seed, so the same machine (same installed Debian packages) gives the same file.

Sources, in order:
  1. Debian gettext catalogues, /usr/share/locale/*/LC_MESSAGES/*.mo (every package that ships
     translations; gettext's `msgunfmt` prints the same messages). The .mo files are read here
     directly (the GNU MO format is a table of offsets) instead of running msgunfmt thousands
     of times; msgids and msgstrs, plural forms included, one corpus line per message line.
  2. /usr/share/unicode/NormalizationTest.txt(.bz2) (Debian `unicode-data`), if present: a
     seeded sample of the distinct strings of its five columns.
  3. Handwritten adversarial lines: emoji and ZWJ sequences, stacks of combining marks, control
     characters, very long words, empty lines and lines of spaces, RTL scripts, Thai,
     Devanagari, CJK, mixed scripts, special-token literals ([CLS], <s>, <mask>, ...).
The script asserts that the result holds the scripts named in REQUIRED_SCRIPTS.
"""
import argparse
import bz2
import glob
import os
import random
import struct
import sys
from pathlib import Path

VERSION = 2  # bump when the output for the same inputs changes (the parity test caches by it)
LOCALE_GLOB = "/usr/share/locale/*/LC_MESSAGES/*.mo"
NORMALIZATION_TEST = "/usr/share/unicode/NormalizationTest.txt"  # Debian ships it as .txt.bz2
FILES_PER_LOCALE = 6  # bounds the time to read catalogues (~3700 files on a full system)
MAX_NORMALIZATION_LINES = 15000  # of ~90,000 distinct strings; the rest is gettext text

# Script name -> a code point range that identifies it; each must occur in the corpus.
REQUIRED_SCRIPTS = {
    "Latin with accents": (0x00C0, 0x024F),
    "Cyrillic": (0x0400, 0x04FF),
    "Greek": (0x0370, 0x03FF),
    "Arabic": (0x0600, 0x06FF),
    "Hebrew": (0x0590, 0x05FF),
    "CJK": (0x4E00, 0x9FFF),
    "Thai": (0x0E00, 0x0E7F),
    "Devanagari": (0x0900, 0x097F),
}


def mo_messages(path):
    """The msgid and msgstr strings of one GNU .mo file (plural forms split), as bytes."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">" if magic == 0xDE120495 else None
    if order is None:
        return []
    _, count, orig, trans = struct.unpack(order + "4I", data[4:20])
    out = []
    for table in (orig, trans):
        for i in range(count):
            at = table + 8 * i
            if at + 8 > len(data):
                return out
            length, offset = struct.unpack(order + "2I", data[at : at + 8])
            out.extend(data[offset : offset + length].split(b"\0"))
    return out


def gettext_lines():
    by_locale = {}
    for mo in sorted(glob.glob(LOCALE_GLOB)):
        by_locale.setdefault(mo.split("/")[4], []).append(mo)
    seen = set()
    lines = []
    for locale in sorted(by_locale):
        for mo in by_locale[locale][:FILES_PER_LOCALE]:
            for message in mo_messages(mo):
                for raw in message.split(b"\n"):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        continue  # a catalogue in a legacy charset
                    if line and line not in seen:
                        seen.add(line)
                        lines.append(line)
    return lines


def normalization_test_lines():
    if os.path.exists(NORMALIZATION_TEST):
        text = Path(NORMALIZATION_TEST).read_text(encoding="utf-8")
    elif os.path.exists(NORMALIZATION_TEST + ".bz2"):
        text = bz2.decompress(Path(NORMALIZATION_TEST + ".bz2").read_bytes()).decode("utf-8")
    else:
        return []
    lines = []
    for row in text.split("\n"):
        row = row.split("#", 1)[0]
        if not row.strip() or row.startswith("@"):
            continue
        for column in row.split(";")[:5]:
            lines.append("".join(chr(int(cp, 16)) for cp in column.split()))
    return list(dict.fromkeys(lines))


ZWJ = "\u200d"
HANDWRITTEN = [
    "", " ", "    ", " " * 37, "\t", "\t \t", "\r", "trailing cr\r", "a\x0bb\x0cc\x1cd\x1de\x1ef",
    # emoji, ZWJ sequences, skin tones, flags, keycaps, variation selectors
    "👨" + ZWJ + "👩" + ZWJ + "👧" + ZWJ + "👦 family", "🏳️" + ZWJ + "🌈 🏴" + ZWJ + "☠️",
    "👩🏽" + ZWJ + "💻 👍🏿👍🏻 🧑" + ZWJ + "🤝" + ZWJ + "🧑", "🇯🇵🇺🇸🇫🇷🇧🇷 flags", "1️⃣ #️⃣ *️⃣ ©️ ®️",
    "😀😃😄😁😆😅🤣😂🙂🙃🫠😉😊😇🥰😍🤩😘", "❤️‍🔥 ❤️‍🩹 🫶🏼 🪿 🫎", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence",
    # combining marks
    "a\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309\u030a\u030b\u030c",
    "Z\u0351\u0352\u0353\u0354\u0355\u0356\u0357a\u0358\u0359\u035al\u035b\u035cg\u035d\u035eo",
    "e\u0301 é ẹ́ ệ n\u0303 ñ Å Å Å", "\u0301 leading combining mark", "ǅ ǈ ǋ ǲ ﬁ ﬂ ß ẞ İ ı",
    # marks out of canonical order (normalizers reorder them, and the alignments move with them)
    "\u1004\u103a\u1037 \u1019\u103c\u1014\u103a\u1019\u102c\u1037\u103a \u1014\u1031\u102c\u1004\u103a\u1037",
    "a\u0301\u0316 a\u0316\u0301 e\u0344\u0316 x\u0301\u0323\u0302\u0316 o\u0302\u0323 e\u0323\u0302",
    "\u05e9\u05c2\u05bc\u05b8\u05dc\u05d5\u05b9\u05dd \u0628\u064e\u0651 \u0628\u0651\u064e \u0644\u0650\u0651\u0670",
    "\u0f40\u0f74\u0f71 \u0f40\u0f72\u0f81\u0f7a \u0f73\u0f39 \u0958\u093c \u0915\u093c\u0951\u094d",
    "\u0316\u0301x \u1ec7\u0316 \u212b\u0327 A\u030a\u0327 \u1e9b\u0323 \ufb01\u0301 \u00bd\u0316",
    # compatibility characters, U+00A0..U+00BF among them
    "".join(chr(c) for c in range(0xA0, 0xC0)),
    "10\u00b2 m\u00b3 \u00bd \u00bc \u00be 1\u00ba 2\u00aa \u00b5s \u00a8 \u00af \u00b4 \u00b8 x\u00a0y",
    # control characters and invisible formatting
    "nul\x00byte", "bell\x07 bs\x08 esc\x1b[31mred\x1b[0m del\x7f", "c1 \x80\x85\x8d\x9f end",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060wj\ufeffbom", "soft\u00adhyphen", "lrm\u200erlm\u200f",
    "bidi \u202aLRE\u202c \u202bRLE\u202c \u202dLRO\u202c \u202eRLO\u202c \u2066isolate\u2069",
    "line\u2028separator\u2029paragraph", "nbsp\u00a0thin\u2009ideo\u3000sp\u205fmath",
    "private\ue000\uf8ff\U000f0000use", "nonchar\ufffe\uffff\U0001fffe", "repl\ufffdchar",
    # very long words and lines
    "x" * 120, "é" * 200, "supercalifragilisticexpialidocious" * 8, "a" * 5000,
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "https://example.com/" + "very/long/path/" * 40 + "?q=" + "x" * 200,
    " ".join(["word"] * 600), "日本語" * 300, "ไทย" * 300,
    # RTL
    "مرحبا بالعالم! كيف حالك اليوم؟", "العَرَبِيَّة مع تشكيل كامل", "שלום עולם, מה שלומך?",
    "עִבְרִית עם ניקוד", "Arabic ١٢٣٤ ۱۲۳ numbers and English mixed مع العربية",
    # Thai, Devanagari, other Indic
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ", "สวัสดีครับ ๑๒๓", "हिन्दी एक भारतीय भाषा है।", "क्षत्रिय ज्ञान श्री",
    "संस्कृतम् ॐ", "বাংলা ভাষা", "தமிழ் மொழி", "ಕನ್ನಡ", "മലയാളം",
    # CJK
    "我爱北京天安门。", "中文，标点！测试？「引号」『書名』", "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트입니다", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３", "ｱｲｳｴｵ ｶﾞｷﾞ", "𠀀𠀁𪚲 CJK extension B",
    "㍻ ㌀ ㈱ ㊙ ⼀ ⺀",
    # mixed scripts
    "Mixed: αβγ ABC абв 123 ١٢٣ ๑๒๓ 一二三 אבג", "Ελληνικά και Русский и English",
    "Tiếng Việt có dấu", "ქართული ენა", "Հայերեն", "አማርኛ", "ᏣᎳᎩ", "ᠮᠣᠩᠭᠣᠯ", "ꦗꦮ",
    "𝐁𝐨𝐥𝐝 𝕯𝖔𝖚𝖇𝖑𝖊 𝒮𝒸𝓇𝒾𝓅𝓉", "Ⅻ ⅻ ① ⒜ Ⓐ ½ ² ™ ℌ", "CamelCaseWordsAndsnake_case_words",
    "3.14159 2,718 1e-10 $100.00 50% 0x1F", "C++ is not C#; Rust's borrow checker...",
    "don't won't shouldn't y'all I'M YOU'RE", "e-mail: john.doe@example.com",
    # special-token literals
    "[CLS] hello [SEP] world [SEP]", "[MASK]", "the [MASK] sat on the [MASK].", "[mask] lower",
    "[CLS][SEP][MASK][PAD][UNK]", "x[MASK]y", "[ MASK ]", "<s>", "</s>", "<s> a </s></s> b </s>",
    "<mask>", "the <mask> sat", "x<mask>y  <mask>  z", "<pad><unk><s></s><mask>", "< s > <s/> <<s>>",
    "▁ metaspace ▁▁ literal", "Ġ Ċ byte-level look-alikes",
]


def adversarial_lines(rng):
    lines = list(HANDWRITTEN)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789     ",
        ".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`",
        "àáâãäåçèéêëìíîïñòóôõöùúûüýÿÀÉÎÕÜßøæœ",
        "的一是不了人我在有他这为之大来以个中上们",
        "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮะาำิีึืุูเแโใไ่้๊๋",
        "ابتثجحخدذرزسشصضطظعغفقكلمنهوي،؛؟ًٌٍَُِّْ",
        "אבגדהוזחטיכלמנסעפצקרשת",
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГД",
        "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔ",
        "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह्ािीुूेैोौंः",
        "😀😂🤣😍🥰👍🏽👨\u200d👩\u200d👧❤️\ufe0f🇫🇷",
        "\u0300\u0301\u0302\u0303\u0308\u0323\u0327\u200d\u200c",
        "\x00\x01\x07\t\r\x0b\x0c\x1f\x7f\x85\u00a0\u2028\u3000\ufeff\u00ad",
        "ｱｲｳｴｵアイウエオあいうえお한국어",
    ]
    for _ in range(3000):
        chosen = rng.sample(pools, rng.randint(1, 4))
        lines.append("".join(rng.choice(rng.choice(chosen)) for _ in range(rng.randint(1, 80))))
    for _ in range(500):  # random code points from the whole range, surrogates excluded
        cps = [rng.randint(1, 0x10FFFF) for _ in range(rng.randint(1, 20))]
        lines.append("".join(chr(c) for c in cps if not 0xD800 <= c <= 0xDFFF and c != 0x0A))
    return lines


def build(n_lines, seed):
    rng = random.Random(seed)
    messages = gettext_lines()
    normalization = normalization_test_lines()
    if len(normalization) > MAX_NORMALIZATION_LINES:
        keep = sorted(rng.sample(range(len(normalization)), MAX_NORMALIZATION_LINES))
        normalization = [normalization[i] for i in keep]
    extra = normalization + adversarial_lines(rng)
    budget = max(0, n_lines - len(extra))
    if len(messages) > budget:
        keep = sorted(rng.sample(range(len(messages)), budget))
        messages = [messages[i] for i in keep]
    lines = messages + extra
    for line in lines:
        assert "\n" not in line
    text = "\n".join(lines)
    for name, (lo, hi) in REQUIRED_SCRIPTS.items():
        assert any(lo <= ord(c) <= hi for c in text), f"corpus lacks {name}"
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=120000, help="target line count (>= 100000 in CI)")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    lines = build(args.lines, args.seed)
    if len(lines) < 100000 and args.lines >= 100000:
        sys.exit(f"only {len(lines)} lines: too few gettext catalogues under /usr/share/locale")
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(lines)} lines, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
