"""DeBERTa-v3 fixtures (model_type "deberta-v2"): tiny random models that transformers builds
from microsoft/deberta-v3-base's config, shrunk, with a SentencePiece-style Unigram tokenizer.

  tiny-deberta-v3           DebertaV2Model + sentence-transformers metadata (mean, normalized);
                            position_buckets 16 over max_relative_positions 512, as v3 buckets
  tiny-deberta-v3-nli       DebertaV2ForSequenceClassification, 3 NLI labels; buckets 16 over
                            max_relative_positions 64, so that long texts reach the clamp
  tiny-deberta-v3-reranker  DebertaV2ForSequenceClassification, 1 label (a CrossEncoder
                            reranker: its scores of the pairs, the sigmoid of the logit, are
                            pair_scores); distances not bucketed (clamped at 24),
                            embedding_size 16 (embed_proj)

The reference texts (up to 512 tokens) are far longer than the bucket spans, so log buckets and
their clamp are exercised. The tokenizer is like deberta-v3's tokenizer.json (Unigram;
Strip + NMT/NFKC normalisation + space squeezing; Metaspace; "[CLS] A [SEP] B [SEP]" with type
ids 1 for B; [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3, [MASK] last), trained on the English side of the
gettext corpus. The Unigram trainer is not deterministic from run to run, so the committed
tiny-deberta-v3/tokenizer.json is reused when present (delete it to retrain).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import CrossEncoder
from tokenizers import Regex, Tokenizer, decoders, models as tk_models, normalizers
from tokenizers import pre_tokenizers, processors, trainers
from transformers import DebertaV2Config, DebertaV2ForSequenceClassification, DebertaV2Model

import make_reference as mr
import reference_texts

# microsoft/deberta-v3-base's config.json.
REAL_CONFIG = dict(
    attention_probs_dropout_prob=0.1, hidden_act="gelu", hidden_dropout_prob=0.1,
    hidden_size=768, initializer_range=0.02, intermediate_size=3072, max_position_embeddings=512,
    relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
    pos_att_type="p2c|c2p", layer_norm_eps=1e-7, max_relative_positions=-1,
    position_biased_input=False, num_attention_heads=12, num_hidden_layers=12, type_vocab_size=0,
    vocab_size=128100)
SHRINK = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              position_buckets=16)

SPECS = {
    "tiny-deberta-v3": dict(
        family="deberta-v2", model_cls=DebertaV2Model, overrides={}, labels=None,
        pooling="mean", normalize=True, seed=1101),
    "tiny-deberta-v3-nli": dict(
        family="deberta-v2", model_cls=DebertaV2ForSequenceClassification,
        overrides=dict(max_relative_positions=64),
        labels=["contradiction", "entailment", "neutral"], pooling="mean", normalize=False,
        seed=1102),
    "tiny-deberta-v3-reranker": dict(
        family="deberta-v2", model_cls=DebertaV2ForSequenceClassification,
        overrides=dict(position_buckets=-1, max_relative_positions=24, embedding_size=16),
        labels=["LABEL_0"], pooling="cls", normalize=False, seed=1103),
}

SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]  # ids 0..3, as in deberta-v3; [MASK] last
VOCAB_SIZE = 2000
TOKENIZER = mr.MODELS_DIR / "tiny-deberta-v3" / "tokenizer.json"


def english_corpus() -> list[str]:
    """The English side of the gettext corpus (msgids) and the license texts."""
    msgids: set[str] = set()
    root = Path("/usr/share/locale")
    for loc in sorted(p.name for p in root.iterdir()):
        for dom in mr.CORPUS_DOMAINS:
            mo = root / loc / "LC_MESSAGES" / f"{dom}.mo"
            if mo.exists():
                for msgid, _ in mr.read_mo(mo):
                    if msgid:
                        msgids.update(msgid.split("\x04")[-1].split("\x00"))
    lines = sorted(msgids)
    for name in mr.CORPUS_ENGLISH:
        lines.extend((Path("/usr/share/common-licenses") / name).read_text("utf-8").splitlines())
    return [ln for ln in lines if ln.strip()]


def pipeline(tok: Tokenizer) -> None:
    # deberta-v3: Strip, Precompiled (SentencePiece's nmt_nfkc: here Nmt + NFKC), " {2,}" -> " ".
    tok.normalizer = normalizers.Sequence([
        normalizers.Strip(), normalizers.Nmt(), normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(tk_models.Unigram())
    pipeline(tok)
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS,
                                      unk_token="[UNK]", max_piece_length=12,
                                      show_progress=False)
    tok.train_from_iterator(english_corpus(), trainer=trainer)
    # reference_texts' limit words must each be one piece (its near-limit texts count on it):
    # those the trainer left out join the vocabulary with the best score of any piece, which
    # makes the whole word the most likely segmentation.
    state = json.loads(tok.to_str())
    vocab = state["model"]["vocab"]
    assert [p for p, _ in vocab[:4]] == SPECIALS, vocab[:4]
    have = {p for p, _ in vocab}
    best = max(s for p, s in vocab[4:])
    vocab += [["\u2581" + w, best] for w in reference_texts.LIMIT_WORDS if "\u2581" + w not in have]
    state["model"]["unk_id"] = SPECIALS.index("[UNK]")
    state["added_tokens"] = []
    tok = Tokenizer.from_str(json.dumps(state))
    pipeline(tok)
    return tok


def finish_tokenizer(tok: Tokenizer) -> Tokenizer:
    tok.add_special_tokens(SPECIALS + ["[MASK]"])
    vocab = tok.get_vocab()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    assert [vocab[s] for s in SPECIALS] == [0, 1, 2, 3]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.no_truncation()
    tok.no_padding()
    return tok


def load_or_train_tokenizer(name: str) -> Tokenizer:
    if TOKENIZER.exists():
        return Tokenizer.from_file(str(TOKENIZER))
    if name != "tiny-deberta-v3":
        sys.exit(f"{name}: build tiny-deberta-v3 first (it trains the tokenizer they share)")
    return finish_tokenizer(train_tokenizer())


def tokenizer_config() -> dict:
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": mr.TINY_MAX_SEQ_LENGTH,
            "do_lower_case": False, "cls_token": "[CLS]", "sep_token": "[SEP]",
            "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]",
            "bos_token": "[CLS]", "eos_token": "[SEP]",
            "model_input_names": ["input_ids", "token_type_ids", "attention_mask"]}


def build(name: str, spec: dict, tok: Tokenizer) -> None:
    out = mr.MODELS_DIR / name
    cfg = dict(REAL_CONFIG)
    cfg.update(SHRINK)
    cfg.update(spec["overrides"])
    cfg["vocab_size"] = tok.get_vocab_size()
    if spec["labels"] is not None:
        cfg["id2label"] = {i: lab for i, lab in enumerate(spec["labels"])}
        cfg["label2id"] = {lab: i for i, lab in enumerate(spec["labels"])}
    config = DebertaV2Config(**cfg)
    torch.manual_seed(spec["seed"])
    model = spec["model_cls"](config).eval()
    mr.spread_init(model, spec["seed"])

    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for extra in sorted(set(p.name for p in tmp.iterdir()) - {"config.json", "model.safetensors"}):
        sys.exit(f"{name}: save_pretrained wrote an unexpected file {extra}")
    tok.save(str(tmp / "tokenizer.json"))
    mr.write_json(tmp / "tokenizer_config.json", tokenizer_config())
    mr.write_st_metadata(tmp, spec, config.hidden_size)
    size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    assert size < 1_000_000, f"{name}: {size} bytes"
    saved = json.loads((tmp / "config.json").read_text())
    assert saved["architectures"] == [spec["model_cls"].__name__], saved["architectures"]
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def check_buckets_reached(name: str) -> None:
    """Some reference text is longer than the span its distances map onto exactly."""
    cfg = json.loads((mr.MODELS_DIR / name / "config.json").read_text())
    span = cfg["position_buckets"] if cfg["position_buckets"] > 0 else cfg["max_relative_positions"]
    assert mr.TINY_MAX_SEQ_LENGTH > 2 * span, (name, span)


def add_cross_encoder_scores(name: str) -> None:
    """A 1-label model is a CrossEncoder reranker: its scores (the sigmoid of the logit) on the
    reference pairs join the reference as pair_scores."""
    path = mr.REF_DIR / name / "reference.safetensors"
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(path))
    ce = CrossEncoder(str(mr.MODELS_DIR / name), device="cpu", max_length=mr.TINY_MAX_SEQ_LENGTH)
    scores = ce.predict([list(p) for p in reference_texts.PAIRS], convert_to_numpy=True)
    want = 1.0 / (1.0 + np.exp(-tensors["pair_logits"][:, 0].astype(np.float64)))
    assert np.allclose(scores, want, atol=1e-6), (name, scores, want)
    tensors["pair_scores"] = np.asarray(scores, dtype=np.float32)
    save_file(tensors, str(path))


def make(name: str, vocab_tokens, build_model: bool = True) -> dict:
    spec = SPECS[name]
    if build_model:
        build(name, spec, load_or_train_tokenizer(name))
    check_buckets_reached(name)
    result = mr.reference_tiny(name, spec)
    if spec["labels"] is not None and len(spec["labels"]) == 1:
        add_cross_encoder_scores(name)
    return result


FIXTURES = {name: (lambda vocab_tokens, build, _n=name: make(_n, vocab_tokens, build))
            for name in SPECS}
