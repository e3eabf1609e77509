"""Reference for an MPNet whose layers keep different heads: the real all-mpnet-base-v2 (Ember's
model cache) sliced in PyTorch by tests/fixtures/prune/all-mpnet-base-v2-perlayer.keep.json
(different head counts and head subsets per layer, uneven FFN units, one layer dropped), the
spec the test gives `ember prune --keep --no-refit`.

transformers computes MPNet's relative-position bias once per forward from one table shared by
every layer ([buckets, heads]) and hands it to each layer; neither its prune_heads nor its
MPNetEncoder slices that table per layer. Here each kept layer is wrapped so that it receives
the bias of its own kept heads only (position_bias[:, heads]), which is what one table per
layer, holding the shared table's columns of the layer's heads, computes. Q, K, V and O are
sliced to the kept heads and the FFN to its kept units as scripts/reference_models/prune.py
does; the last hidden states of a few short texts and the long one (cut at the limit) are kept.

all-mpnet-base-v2-perlayer-pruned   the fixture"""

from __future__ import annotations

import json

import numpy as np
import torch
from transformers import AutoTokenizer, MPNetModel

import make_reference as mr
import reference_texts
from reference_models.mpnet import cache_dir as mpnet_cache_dir
from reference_models.prune import KEEP_DIR, MPNET_TEXTS, slice_mpnet_layer

NAME = "all-mpnet-base-v2-perlayer-pruned"
KEEP = "all-mpnet-base-v2-perlayer"


class LayerWithOwnHeads(torch.nn.Module):
    """An MPNetLayer that keeps `heads` of the model's heads: it takes the encoder's bias for
    every head and passes on the columns of its own."""

    def __init__(self, layer: torch.nn.Module, heads: list[int]):
        super().__init__()
        self.layer = layer
        self.register_buffer("heads", torch.tensor(heads, dtype=torch.long), persistent=False)

    def forward(self, hidden_states, attention_mask=None, position_bias=None, **kwargs):
        return self.layer(hidden_states, attention_mask, position_bias[:, self.heads], **kwargs)


@torch.no_grad()
def apply_keep_per_layer(model: MPNetModel, keep: dict) -> None:
    n_heads = model.config.num_attention_heads
    assert len(keep["layers"]) == len(model.encoder.layer)
    kept = []
    for layer, spec in zip(model.encoder.layer, keep["layers"]):
        if spec.get("drop"):
            continue
        heads = spec.get("heads", list(range(n_heads)))
        slice_mpnet_layer(layer, heads, spec)
        kept.append(LayerWithOwnHeads(layer, heads))
    model.encoder.layer = torch.nn.ModuleList(kept)
    model.config.num_hidden_layers = len(kept)


def make() -> dict:
    mdir = mpnet_cache_dir()
    keep_path = KEEP_DIR / f"{KEEP}.keep.json"
    keep = json.loads(keep_path.read_text())
    counts = {len(s["heads"]) for s in keep["layers"] if not s.get("drop")}
    assert len(counts) > 1, "the fixture's layers keep different head counts"
    model = MPNetModel.from_pretrained(str(mdir), add_pooling_layer=False).eval()
    apply_keep_per_layer(model, keep)
    max_length = mr.ember_max_length(mdir)
    texts = reference_texts.texts_for(max_length)
    texts = texts[:MPNET_TEXTS] + [texts[len(reference_texts.TEXTS) - 1]]
    tokenizer = AutoTokenizer.from_pretrained(str(mdir))
    ids, type_ids = mr.tokenize(tokenizer, texts, max_length)
    tensors, hidden = {}, []
    with torch.no_grad():
        for i, (x, tt) in enumerate(zip(ids, type_ids)):
            h = model(**mr.model_inputs(model, x, tt)).last_hidden_state[0].numpy()
            hidden.append(h)
            tensors[f"ids.{i}"] = x
            tensors[f"type_ids.{i}"] = tt
            tensors[f"hidden.{i}"] = h.astype(np.float32)
    mr.sanity_hidden(NAME, hidden, 0.02)
    meta = {"model": NAME, "model_dir": "all-mpnet-base-v2", "max_length": max_length,
            "keep": str(keep_path.relative_to(mr.REPO)), "texts": texts, "labels": []}
    mr.write_reference(NAME, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "layers": len(model.encoder.layer)}


FIXTURES = {NAME: lambda vocab, build: make()}
