"""MPNet fixtures: the real all-mpnet-base-v2 (from Ember's model cache, where
scripts/fetch_models.sh puts it from its PyPI packages) and a tiny random MPNetForSequenceClassification
built by transformers from microsoft/mpnet-base's config.

all-mpnet-base-v2's hidden states are 768 wide: the reference keeps them for HIDDEN_TEXTS texts
(short and long, one cut at the limit) and the pooled embeddings of every text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer, MPNetConfig, MPNetForSequenceClassification

import make_reference as mr
import reference_texts

# microsoft/mpnet-base's published config (the base of all-mpnet-base-v2).
mr.REAL_CONFIGS["mpnet"] = dict(
    attention_probs_dropout_prob=0.1, bos_token_id=0, eos_token_id=2, hidden_act="gelu",
    hidden_dropout_prob=0.1, hidden_size=768, initializer_range=0.02, intermediate_size=3072,
    layer_norm_eps=1e-05, max_position_embeddings=514, num_attention_heads=12,
    num_hidden_layers=12, pad_token_id=1, relative_attention_num_buckets=32, vocab_size=30527)

TINY_MPNET = dict(
    family="mpnet", config_cls=MPNetConfig, model_cls=MPNetForSequenceClassification,
    overrides=dict(mr.SHRINK), labels=["contradiction", "entailment", "neutral"], pooling="mean",
    normalize=True, seed=1101)

HIDDEN_TEXTS = 24


def cache_dir() -> Path:
    root = os.environ.get("EMBER_MODEL_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ember" / "models"
    d = Path(root) / "all-mpnet-base-v2"
    if not (d / "model.safetensors").exists():
        raise SystemExit(f"{d} missing: run scripts/fetch_models.sh")
    return d


def reference_all_mpnet(vocab_tokens, build: bool) -> dict:
    name = "all-mpnet-base-v2"
    mdir = cache_dir()
    max_length = mr.ember_max_length(mdir)
    assert max_length == 384, max_length
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    mr.check_raw_tokenizer(mdir / "tokenizer.json", texts, ids, type_ids, max_length)
    mr.check_limits(name, ids, max_length)
    tensors, hidden = mr.hidden_references(mdir, ids, type_ids)
    mr.sanity_hidden(name, hidden, 0.02)  # a trained model: states spread less than random ones
    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length
    mr.check_st_ids(st, texts, ids)
    pooled = st.encode(texts, convert_to_numpy=True, batch_size=16)
    tensors["pooled"] = pooled.astype(np.float32)
    mr.check_pooled(name, pooled, hidden, "mean", True)
    # Hidden states of the first texts and of the long one cut at the limit only.
    keep = set(range(HIDDEN_TEXTS)) | {len(reference_texts.TEXTS) - 1}
    for i in range(len(texts)):
        if i not in keep:
            del tensors[f"hidden.{i}"]
    meta = {"model": name, "model_dir": name, "max_length": max_length, "pooling": "mean",
            "normalize": True, "texts": texts, "labels": [],
            "hidden_texts": sorted(keep)}
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "hidden": len(keep)}


def reference_tiny_mpnet(vocab_tokens, build: bool) -> dict:
    if build:
        mr.build_tiny("tiny-mpnet-seqcls", TINY_MPNET, vocab_tokens)
    cfg = json.loads((mr.MODELS_DIR / "tiny-mpnet-seqcls" / "config.json").read_text())
    assert cfg["model_type"] == "mpnet" and cfg["pad_token_id"] == 1, cfg
    return mr.reference_tiny("tiny-mpnet-seqcls", TINY_MPNET)


FIXTURES = {"all-mpnet-base-v2": reference_all_mpnet, "tiny-mpnet-seqcls": reference_tiny_mpnet}
