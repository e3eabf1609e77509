"""tiny-bert-splade: a SPLADE sparse encoder as sentence-transformers 6.x saves one (a masked-LM
transformer and SpladePooling: max over the tokens of log(1 + relu(logit))), on a tiny random
BertForMaskedLM built by transformers from bert-base-uncased's config. The reference holds its
hidden states and SparseEncoder.encode's vectors, dense [texts, vocab]."""

from __future__ import annotations

import shutil

import numpy as np
import torch
from sentence_transformers import SparseEncoder
from sentence_transformers.sentence_transformer.modules import Transformer
from sentence_transformers.sparse_encoder.modules import SpladePooling
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

import make_reference as mr
import reference_texts

SPEC = dict(family="bert", config_cls=BertConfig, model_cls=BertForMaskedLM,
            overrides=dict(mr.SHRINK), labels=None, pooling="mean", normalize=False, seed=1401)


@torch.no_grad()
def make_splade(vocab_tokens, build: bool) -> dict:
    name = "tiny-bert-splade"
    out = mr.MODELS_DIR / name
    if build:
        staging = mr.MODELS_DIR / f".{name}-mlm"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        tok = mr.build_tokenizer(vocab_tokens, roberta=False)
        cfg = dict(mr.REAL_CONFIGS["bert"])
        cfg.update(SPEC["overrides"])
        cfg["vocab_size"] = tok.get_vocab_size()
        torch.manual_seed(SPEC["seed"])
        model = BertForMaskedLM(BertConfig(**cfg)).eval()
        mr.spread_init(model, SPEC["seed"])
        # Logits of a spread-out random head are mostly positive: push most below zero so that
        # the vectors are sparse, as a trained SPLADE model's are.
        model.cls.predictions.bias.fill_(-2.0)
        model.save_pretrained(staging, safe_serialization=True)
        tok.save(str(staging / "tokenizer.json"))
        mr.write_json(staging / "tokenizer_config.json", mr.tokenizer_config("bert"))
        mlm = Transformer(str(staging), transformer_task="fill-mask",
                          max_seq_length=mr.TINY_MAX_SEQ_LENGTH)
        se = SparseEncoder(modules=[mlm, SpladePooling(pooling_strategy="max")], device="cpu")
        if out.exists():
            shutil.rmtree(out)
        se.save(str(out))
        shutil.rmtree(staging)
        (out / "README.md").unlink(missing_ok=True)
    max_length = mr.ember_max_length(out)
    texts = reference_texts.texts_for(max_length)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    tensors, hidden = mr.hidden_references(out, ids, type_ids)
    mr.sanity_hidden(name, hidden, 0.1)
    se = SparseEncoder(str(out), device="cpu")
    assert se.max_seq_length == max_length, se.max_seq_length
    sparse = se.encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=False, batch_size=16)
    sparse = np.asarray(sparse.cpu().numpy(), dtype=np.float32)
    nonzero = float((sparse > 0).mean())
    assert 0.005 < nonzero < 0.5, f"{name}: {nonzero:.3f} of the vector entries are nonzero"
    tensors["sparse"] = sparse
    tensors["pooled"] = np.stack([mr.numpy_pool(h, "mean") for h in hidden]).astype(np.float32)
    meta = {"model": name, "model_dir": str(out.relative_to(mr.REPO)), "max_length": max_length,
            "pooling": "splade", "normalize": False, "texts": texts, "labels": [],
            "nonzero_fraction": round(nonzero, 4)}
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "nonzero": round(nonzero, 4)}


FIXTURES = {"tiny-bert-splade": make_splade}
