"""BERT fixtures for what the classic ones do not cover:

tiny-bert-st6       a SentenceTransformer saved by sentence-transformers 6.x itself (its current
                    metadata layout: module types under sentence_transformers.base, 1_Pooling
                    with "pooling_mode": "cls", max_seq_length kept in tokenizer_config.json).
tiny-bert-reranker  a one-label BertForSequenceClassification scored as a CrossEncoder (sigmoid of
                    the logit), with its pairs.
tiny-bert-pruned    heads pruned unevenly per layer and FFN widths sliced per layer, made by slicing
                    the PyTorch layers as transformers 4.x's prune_heads did (5.x has none), with
                    pruned_heads in its config.json; references from the sliced PyTorch model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers import models as st_models
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

import make_reference as mr
import reference_texts

# The heads each layer loses and the FFN units each layer keeps (of 4 heads, 64 units).
PRUNED_HEADS = {0: [1], 1: [0, 2, 3]}
KEPT_FFN = {0: 48, 1: 24}

RERANKER = dict(family="bert", config_cls=BertConfig, model_cls=BertForSequenceClassification,
                overrides=dict(mr.SHRINK, hidden_act="gelu"), labels=["LABEL_0"], pooling="cls",
                normalize=False, seed=1201)


def make_st6(vocab_tokens, build: bool) -> dict:
    name = "tiny-bert-st6"
    out = mr.MODELS_DIR / name
    src = mr.MODELS_DIR / "tiny-bert-seqcls"  # its BertModel body (the head is dropped)
    if build:
        transformer = st_models.Transformer(str(src), max_seq_length=mr.TINY_MAX_SEQ_LENGTH)
        pooling = st_models.Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
        st = SentenceTransformer(modules=[transformer, pooling, st_models.Normalize()],
                                 device="cpu")
        if out.exists():
            shutil.rmtree(out)
        st.save(str(out))
        (out / "README.md").unlink(missing_ok=True)  # a generated model card, not needed
        pool_cfg = json.loads((out / "1_Pooling" / "config.json").read_text())
        assert pool_cfg.get("pooling_mode") == "cls", pool_cfg
        modules = json.loads((out / "modules.json").read_text())
        assert modules[0]["type"].startswith("sentence_transformers.base."), modules
    mdir = out
    max_length = mr.ember_max_length(mdir)
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    tensors, hidden = mr.hidden_references(mdir, ids, type_ids)
    st = SentenceTransformer(str(mdir), device="cpu")
    assert st.max_seq_length == max_length, (st.max_seq_length, max_length)
    mr.check_st_ids(st, texts, ids)
    pooled = st.encode(texts, convert_to_numpy=True, batch_size=16)
    tensors["pooled"] = pooled.astype(np.float32)
    mr.check_pooled(name, pooled, hidden, "cls", True)
    meta = {"model": name, "model_dir": str(mdir.relative_to(mr.REPO)), "max_length": max_length,
            "pooling": "cls", "normalize": True, "texts": texts, "labels": []}
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts)}


def make_reranker(vocab_tokens, build: bool) -> dict:
    name = "tiny-bert-reranker"
    if build:
        mr.build_tiny(name, RERANKER, vocab_tokens)
    info = mr.reference_tiny(name, RERANKER)
    # CrossEncoder's scores: the sigmoid of the single logit, on the reference pairs.
    mdir = mr.MODELS_DIR / name
    ce = CrossEncoder(str(mdir), device="cpu", max_length=mr.TINY_MAX_SEQ_LENGTH)
    scores = ce.predict([list(p) for p in reference_texts.PAIRS], convert_to_numpy=True)
    path = mr.REF_DIR / name / "reference.safetensors"
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(path))
    want = 1.0 / (1.0 + np.exp(-tensors["pair_logits"][:, 0].astype(np.float64)))
    assert np.allclose(scores, want, atol=1e-6), (scores, want)
    tensors["pair_scores"] = np.asarray(scores, dtype=np.float32)
    save_file(tensors, str(path))
    return info


@torch.no_grad()
def prune(model: BertModel) -> None:
    """Removes PRUNED_HEADS and keeps KEPT_FFN units per layer, slicing the Linear layers as
    transformers 4.x's prune_heads / prune_linear_layer did."""
    def sliced(linear: torch.nn.Linear, index: torch.Tensor, dim: int) -> torch.nn.Linear:
        w = linear.weight.index_select(dim, index).clone()
        b = linear.bias.clone() if dim == 1 else linear.bias[index].clone()
        new = torch.nn.Linear(w.shape[1], w.shape[0])
        new.weight.copy_(w)
        new.bias.copy_(b)
        return new

    for i, layer in enumerate(model.encoder.layer):
        att = layer.attention.self
        hd = att.attention_head_size
        keep_heads = [h for h in range(att.num_attention_heads) if h not in PRUNED_HEADS[i]]
        index = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in keep_heads])
        att.query = sliced(att.query, index, 0)
        att.key = sliced(att.key, index, 0)
        att.value = sliced(att.value, index, 0)
        layer.attention.output.dense = sliced(layer.attention.output.dense, index, 1)
        att.num_attention_heads = len(keep_heads)
        att.all_head_size = len(keep_heads) * hd
        # The FFN units kept: every other one when that leaves enough, else the first ones.
        inter, kept = layer.intermediate.dense.out_features, KEPT_FFN[i]
        units = torch.arange(0, 2 * kept, 2) if 2 * kept <= inter else torch.arange(kept)
        layer.intermediate.dense = sliced(layer.intermediate.dense, units, 0)
        layer.output.dense = sliced(layer.output.dense, units, 1)


def make_pruned(vocab_tokens, build: bool) -> dict:
    name = "tiny-bert-pruned"
    out = mr.MODELS_DIR / name
    spec = dict(family="bert", config_cls=BertConfig, model_cls=BertModel,
                overrides=dict(mr.SHRINK), labels=None, pooling="mean", normalize=False,
                seed=1301)
    tok = mr.build_tokenizer(vocab_tokens, roberta=False)
    cfg = dict(mr.REAL_CONFIGS["bert"])
    cfg.update(spec["overrides"])
    cfg["vocab_size"] = tok.get_vocab_size()
    config = BertConfig(**cfg)
    torch.manual_seed(spec["seed"])
    model = BertModel(config, add_pooling_layer=False).eval()
    mr.spread_init(model, spec["seed"])
    prune(model)
    if build:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        model.save_pretrained(out, safe_serialization=True)
        saved = json.loads((out / "config.json").read_text())
        saved["pruned_heads"] = {str(k): v for k, v in PRUNED_HEADS.items()}
        mr.write_json(out / "config.json", saved)
        tok.save(str(out / "tokenizer.json"))
        mr.write_json(out / "tokenizer_config.json", mr.tokenizer_config("bert"))
        mr.write_st_metadata(out, spec, config.hidden_size)
    max_length = mr.ember_max_length(out)
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    tensors, hidden = {}, []
    with torch.no_grad():
        for i, (x, tt) in enumerate(zip(ids, type_ids)):
            h = model(**mr.model_inputs(model, x, tt)).last_hidden_state[0].numpy()
            hidden.append(h)
            tensors[f"ids.{i}"] = x
            tensors[f"type_ids.{i}"] = tt
            tensors[f"hidden.{i}"] = h.astype(np.float32)
    mr.sanity_hidden(name, hidden, 0.1)
    # sentence-transformers would refuse these shapes; its mean pooling, in numpy.
    tensors["pooled"] = np.stack([mr.numpy_pool(h, "mean") for h in hidden]).astype(np.float32)
    meta = {"model": name, "model_dir": str(out.relative_to(mr.REPO)), "max_length": max_length,
            "pooling": "mean", "normalize": False, "texts": texts, "labels": [],
            "pruned_heads": {str(k): v for k, v in PRUNED_HEADS.items()},
            "ffn_widths": [KEPT_FFN[i] for i in sorted(KEPT_FFN)]}
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts)}


FIXTURES = {"tiny-bert-st6": make_st6, "tiny-bert-reranker": make_reranker,
            "tiny-bert-pruned": make_pruned}
