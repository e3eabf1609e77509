"""ModernBERT fixtures: tiny random models built by transformers from answerdotai/ModernBERT-base's
published config (shrunk), with their reference outputs. Registered in make_reference.py.

What the fixtures keep of the real model: pre-norm layers, LayerNorm without bias, token
embeddings + norm (no position table), rotary positions with a different theta on global and
local layers, alternating global / local attention (global every third layer, layer 0 first),
a local window far shorter than most reference texts, the fused Wqkv, the gated FFN (Wi chunked
into input and gate), no attention norm on layer 0, the final norm, and the classification head
(dense + act + norm, then classifier) with mean pooling as the base config has it.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    ModernBertForTokenClassification,
)

import make_reference as mr
import reference_texts

# config.json of answerdotai/ModernBERT-base (the keys transformers reads), in the Hub's own
# spelling: global_attn_every_n_layers and global/local_rope_theta, which transformers 5 turns
# into layer_types and rope_parameters when it saves.
REAL_CONFIG = dict(
    attention_bias=False, attention_dropout=0.0, bos_token_id=50281, classifier_activation="gelu",
    classifier_bias=False, classifier_dropout=0.0, classifier_pooling="mean", cls_token_id=50281,
    decoder_bias=True, deterministic_flash_attn=False, embedding_dropout=0.0, eos_token_id=50282,
    global_attn_every_n_layers=3, global_rope_theta=160000.0, hidden_activation="gelu",
    hidden_size=768, initializer_cutoff_factor=2.0, initializer_range=0.02,
    intermediate_size=1152, local_attention=128, local_rope_theta=10000.0,
    max_position_embeddings=8192, mlp_bias=False, mlp_dropout=0.0, norm_bias=False,
    norm_eps=1e-05, num_attention_heads=12, num_hidden_layers=22, pad_token_id=50283,
    sep_token_id=50282, tie_word_embeddings=True, vocab_size=50368)
# Four layers: global (layer 0, no attention norm), local, local, global. A window of 16 (8
# positions on either side) is exceeded by most reference texts. Head size 16.
SHRINK = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=48,
              local_attention=16)
# The tiny WordPiece tokenizer's specials (make_reference.SPECIALS_BERT).
TOKEN_IDS = dict(pad_token_id=0, bos_token_id=2, cls_token_id=2, eos_token_id=3, sep_token_id=3)

TINY = {
    "tiny-modernbert-seqcls": dict(
        model_cls=ModernBertForSequenceClassification, overrides={},
        labels=["negative", "neutral", "positive"], pooling="mean", normalize=True, seed=1101),
    "tiny-modernbert-tokcls": dict(
        model_cls=ModernBertForTokenClassification,
        overrides=dict(hidden_activation="gelu_pytorch_tanh", classifier_activation="silu"),
        labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], pooling="cls", normalize=False,
        seed=1102),
}


@torch.no_grad()
def spread_init(model: torch.nn.Module, seed: int) -> None:
    """make_reference.spread_init's spread, for norms without a bias as well."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
            if module.bias is not None:
                module.bias.normal_(0.0, 0.1)
        elif isinstance(module, torch.nn.Linear):
            module.weight.normal_(0.0, 0.2)
            if module.bias is not None:
                module.bias.normal_(0.0, 0.1)
        elif isinstance(module, torch.nn.Embedding):
            module.weight.normal_(0.0, 0.2)


def build_model_dir(name: str, spec: dict, vocab_tokens: list[str]) -> None:
    out = mr.MODELS_DIR / name
    tok = mr.build_tokenizer(vocab_tokens, roberta=False)
    cfg = dict(REAL_CONFIG, **SHRINK, **TOKEN_IDS, **spec["overrides"])
    cfg["vocab_size"] = tok.get_vocab_size()
    cfg["id2label"] = {i: lab for i, lab in enumerate(spec["labels"])}
    cfg["label2id"] = {lab: i for i, lab in enumerate(spec["labels"])}
    config = ModernBertConfig(**cfg)
    assert config.layer_types == ["full_attention", "sliding_attention", "sliding_attention",
                                  "full_attention"], config.layer_types
    assert config.sliding_window == 8
    torch.manual_seed(spec["seed"])
    model = spec["model_cls"](config).eval()
    spread_init(model, spec["seed"])

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    unexpected = sorted(set(p.name for p in out.iterdir()) - {"config.json", "model.safetensors"})
    if unexpected:
        sys.exit(f"{name}: save_pretrained wrote unexpected files {unexpected}")
    tok.save(str(out / "tokenizer.json"))
    mr.write_json(out / "tokenizer_config.json", mr.tokenizer_config("modernbert"))
    mr.write_st_metadata(out, spec, config.hidden_size)
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == [spec["model_cls"].__name__], saved["architectures"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 1_000_000, f"{name}: {size} bytes"


def head_class(spec: dict):
    return (AutoModelForSequenceClassification
            if spec["model_cls"] is ModernBertForSequenceClassification
            else AutoModelForTokenClassification)


def run_head(full, x: np.ndarray):
    kw = {"input_ids": torch.from_numpy(x.astype(np.int64))[None],
          "attention_mask": torch.ones(1, len(x), dtype=torch.int64)}
    return full(**kw).logits[0].numpy().astype(np.float32)


def reference(name: str, spec: dict) -> dict:
    mdir = mr.MODELS_DIR / name
    max_length = mr.ember_max_length(mdir)
    assert max_length == mr.TINY_MAX_SEQ_LENGTH
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    mr.check_raw_tokenizer(mdir / "tokenizer.json", texts, ids, type_ids, max_length)
    mr.check_limits(name, ids, max_length)
    window = json.loads((mdir / "config.json").read_text())["local_attention"] // 2
    longer = sum(len(x) > window + 1 for x in ids)
    assert longer >= len(ids) // 2, f"{name}: only {longer} texts exceed the local window"

    tensors, hidden = mr.hidden_references(mdir, ids, type_ids)
    mr.sanity_hidden(name, hidden, 0.1)

    full = head_class(spec).from_pretrained(str(mdir), attn_implementation="eager").eval()
    with torch.no_grad():
        for i, x in enumerate(ids):
            body = full.model(input_ids=torch.from_numpy(x.astype(np.int64))[None])
            assert np.allclose(body.last_hidden_state[0].numpy(), hidden[i], atol=1e-5), name
        if spec["model_cls"] is ModernBertForSequenceClassification:
            tensors["logits"] = np.stack([run_head(full, x) for x in ids])
            assert float(tensors["logits"].std(axis=0).mean()) > 0.05, f"{name}: flat logits"
            # The same weights with classifier_pooling "cls": Ember reads it from config.json
            # (tests/model/modernbert_test.cc rewrites the config and compares with these).
            assert full.config.classifier_pooling == "mean"
            full.config.classifier_pooling = "cls"
            tensors["logits_cls_pooling"] = np.stack([run_head(full, x) for x in ids])
            full.config.classifier_pooling = "mean"
            assert not np.allclose(tensors["logits_cls_pooling"], tensors["logits"], atol=1e-3)
            pairs = reference_texts.PAIRS
            p_ids, p_type_ids = mr.tokenize(tokenizer, pairs, max_length, pairs=True)
            for j, (x, tt) in enumerate(zip(p_ids, p_type_ids)):
                tensors[f"pair_ids.{j}"] = x
                tensors[f"pair_type_ids.{j}"] = tt
            tensors["pair_logits"] = np.stack([run_head(full, x) for x in p_ids])
        else:
            for i, x in enumerate(ids):
                tensors[f"token_logits.{i}"] = run_head(full, x)

    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length, (st.max_seq_length, max_length)
    mr.check_st_ids(st, texts, ids)
    pooled = st.encode(texts, convert_to_numpy=True, batch_size=16)
    tensors["pooled"] = pooled.astype(np.float32)
    mr.check_pooled(name, pooled, hidden, spec["pooling"], spec["normalize"])

    meta = {"model": name, "model_dir": str(mdir.relative_to(mr.REPO)), "max_length": max_length,
            "pooling": spec["pooling"], "normalize": spec["normalize"], "texts": texts,
            "labels": spec["labels"]}
    if spec["model_cls"] is ModernBertForSequenceClassification:
        meta["pairs"] = [list(p) for p in reference_texts.PAIRS]
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "beyond_local_window": longer}


def maker(name: str):
    def make(vocab_tokens: list[str], build: bool = True) -> dict:
        if build:
            build_model_dir(name, TINY[name], vocab_tokens)
        return reference(name, TINY[name])
    return make


FIXTURES = {name: maker(name) for name in TINY}
