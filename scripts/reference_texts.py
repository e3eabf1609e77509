"""Input texts shared by every reference fixture (see scripts/make_reference.py).

The same list is used for every model, so a text's index <i> means the same input in every
tests/fixtures/reference/<model>/reference.safetensors (`ids.<i>`, `hidden.<i>`, ...).

Most texts are short (the hidden states of the 384-wide real models dominate the fixture size);
one is a long prose text (> 600 words) that every model truncates. After the shared list, each
model gets three texts built to land exactly on its own limit (max_length - 2, max_length - 1
and max_length tokens after the two special tokens): `texts_for(max_length)`. They use only
words that are a single WordPiece token in both the tiny fixtures' tokenizer and the
bert-base-uncased vocabulary (all-MiniLM / paraphrase-MiniLM), so "n words" is exactly
"n tokens + 2 specials"; make_reference.py asserts this.
"""

# Single-token words in both vocabularies (checked by make_reference.py).
LIMIT_WORDS = [
    "the", "of", "and", "to", "in", "is", "it", "for", "on", "with", "as", "at", "be", "or",
    "by", "not", "can", "an", "do", "so", "go", "no", "over", "me", "man", "help", "form",
    "end", "men", "read", "us", "start", "car", "far", "let", "list", "file", "name", "type",
    "data", "value", "key", "text", "path", "error", "print",
]

def limit_text(n_words: int, salt: int) -> str:
    """n_words single-token words, deterministic and varied."""
    k = len(LIMIT_WORDS)
    return " ".join(LIMIT_WORDS[(i * 7 + salt * 13 + (i // k) * 3) % k] for i in range(n_words))


_PARAGRAPHS = [
    "The harbour town woke slowly on the first cold morning of the season. Fishing boats "
    "knocked against the wooden piers, gulls argued over the remains of yesterday's catch, and "
    "the baker on the corner opened his shutters to let the smell of fresh bread drift down the "
    "narrow street. Nobody hurried; the ferry would not leave before nine, and the tide was "
    "still turning beyond the breakwater.",
    "In the library above the post office, an old map of the coastline hung behind glass. It "
    "showed islands that no longer existed, channels that had silted up a century ago, and a "
    "lighthouse that had been moved twice after storms. Visitors often asked whether the map was "
    "wrong or whether the sea had changed, and the librarian always answered that both were true.",
    "Engineers who measure such things say that the shore retreats by a few centimetres every "
    "year, faster during winters with strong westerly winds. They install sensors on the cliffs, "
    "record the data every hour, and compare it with photographs taken from aircraft. The numbers "
    "are small, but over a lifetime they add up to a whole street, a church, or a field of barley.",
    "By noon the market square was full. Farmers sold apples, cheese and honey from the backs of "
    "their vans, children chased each other between the stalls, and a man with an accordion played "
    "the same three songs he had played every Saturday for twenty years. The mayor walked through "
    "the crowd shaking hands, promising once again that the new sea wall would be finished soon.",
    "Evening brought rain from the west. The ferry returned late, its deck crowded with tourists "
    "wrapped in plastic ponchos, and the lights of the hotel along the promenade came on one by "
    "one. In the kitchen of a small restaurant, a cook tasted the soup, added a pinch of salt, "
    "and decided that tomorrow she would finally write down the recipe her grandmother never shared.",
]


def long_prose() -> str:
    """A few paragraphs, > 600 words, separated by blank lines."""
    parts = []
    for rep in range(3):
        for j, p in enumerate(_PARAGRAPHS):
            parts.append(f"Part {rep * len(_PARAGRAPHS) + j + 1}. {p}")
    return "\n\n".join(parts)


SHORT_TEXTS = [
    "a",
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "This movie was absolutely wonderful, I loved every minute of it.",
    "The service was slow and the food arrived cold.",
    "It was fine, nothing special.",
    "Do you know the way to the train station?",
    "The capital of France is [MASK].",
    "Wait... what?!? No way!!! (Seriously??)",
    "--- *** ### @@@ $$$ %%% ^^^ &&& ;;; ::: ,,, ...",
    "\"Quoted\" 'single' `back` «guillemets» „German“ ‘curly’ — em-dash – en-dash",
    "café naïve résumé coöperate façade",
    "Ærøskøbing, Øresund, Åland, Straße, Ångström",
    "Crème brûlée à la française, s'il vous plaît.",
    "中文",
    "日本語のテキストです。",
    "한국어 문장입니다.",
    "我爱自然语言处理，你呢？",
    "東京タワーは333メートルです",
    "Emoji: 😀 👍 🎉",
    "Family: 👨‍👩‍👧‍👦 and flags 🇫🇷 🇯🇵 and skin tone 👋🏽",
    "I ❤️ Unicode ✨ (heart with variation selector)",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "Привет, мир! Как дела?",
    "Ελληνικά: καλημέρα κόσμε",
    "עברית: שלום עולם",
    "हिन्दी में एक वाक्य",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "MiXeD CaSe TeXt WiTh UPPER and lower",
    "ALL CAPS SENTENCE SHOUTING LOUDLY",
    "Numbers: 0 1 2 3 42 3.14159 -17 1,000,000 1e-9 0x1F",
    "Call me at +1 (555) 123-4567 or on 2024-02-29 at 23:59:59.",
    "Visit https://www.example.com/path/to/page?query=1&lang=en#section now.",
    "Email someone@example.org or see http://localhost:8080/index.html",
    "tabs\tbetween\twords",
    "line one\nline two\nline three",
    "  leading and trailing spaces  ",
    "multiple     spaces      between    words",
    "\t\n  \r\n",
    "mixed\r\nwindows\rline\u2028separators",
    "zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM",
    "non\u00a0breaking\u00a0spaces and soft\u00adhyphen",
    "control\u0007chars\u0000and\u001fothers",
    "ﬁ ligature, full-width ＡＢＣ１２３, superscript x²",
    "Combining: e\u0301 a\u0308 n\u0303 (decomposed accents)",
    "unbelievably antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "supercalifragilisticexpialidocious" * 4,
    "C++ std::vector<int> v{1, 2, 3}; for (auto& x : v) x *= 2;",
    "def f(x): return x ** 2  # Python",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "Dr. Smith's U.S.A. trip cost $1,234.56 (approx. €1.100).",
    "rock'n'roll isn't dead, y'all",
    "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El veloz murciélago hindú comía feliz cardillo y kiwi.",
    "Le cœur a ses raisons que la raison ne connaît point.",
    "Pójdźże, kiń tę chmurność w głąb flaszy!",
    "Türkçe: Pijamalı hasta yağız şoföre çabucak güvendi.",
    "Tiếng Việt có dấu: Xin chào thế giới",
    "ok",
    "?",
    "the the the the the the the the",
]

# The shared list: index i is the same text for every model.
TEXTS = SHORT_TEXTS + [long_prose()]

# Per-model tail: three texts whose token totals after [CLS]/[SEP] are max_length - 2,
# max_length - 1 and max_length (none truncated), built from LIMIT_WORDS.
NEAR_LIMIT_TOTALS = (-2, -1, 0)


def near_limit_texts(max_length: int) -> list[str]:
    return [limit_text(max_length + d - 2, salt=k) for k, d in enumerate(NEAR_LIMIT_TOTALS)]


def texts_for(max_length: int) -> list[str]:
    """The texts of a model with this max_length: TEXTS, then its near-limit tail."""
    return TEXTS + near_limit_texts(max_length)


# Sentence pairs (A, B) for the sequence-classification models.
PAIRS = [
    ("A man is playing a guitar.", "Someone is making music."),
    ("The cat sits on the mat.", "Quantum computers use qubits."),
    ("Is this the right way?", "Yes, keep going straight."),
    ("café", "中文 😀"),
    ("", "Only the second segment has text."),
    (long_prose(), "A short second segment after a long first one."),
]
