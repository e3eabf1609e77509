"""References for `ember prune`'s exact structure: a model sliced in PyTorch by the same keep
spec (tests/fixtures/prune/<name>.keep.json) that the test gives `ember prune --keep
--no-refit`, as transformers 4.x's prune_heads / prune_linear_layer did (5.x has none): rows of
Q, K, V and the FFN input, columns of the attention and FFN output projections, layers dropped
from the encoder's ModuleList. The last hidden states of the reference texts come from the
sliced transformers model.

tiny-bert-st6-pruned        tiny-bert-st6 with uneven heads and FFN units per layer
tiny-bert-st6-drop-pruned   tiny-bert-st6 with its first layer dropped
all-MiniLM-L6-v2-pruned     the real all-MiniLM-L6-v2 (its PyPI package), uneven heads and FFN units
                            per layer and its fifth layer dropped
all-mpnet-base-v2-pruned    the real all-mpnet-base-v2 (Ember's model cache): the same 8 of 12 heads
                            in every layer (its layers share one relative-position table, sliced to
                            them), uneven FFN units and its seventh layer dropped; hidden states of
                            the first MPNET_TEXTS texts and the long one cut at the limit"""

from __future__ import annotations

import json

import numpy as np
import torch
from transformers import AutoTokenizer, BertModel, MPNetModel

import make_reference as mr
import reference_texts
from reference_models.mpnet import cache_dir as mpnet_cache_dir

KEEP_DIR = mr.FIXTURES / "prune"


@torch.no_grad()
def sliced_linear(linear: torch.nn.Linear, index: torch.Tensor, dim: int) -> torch.nn.Linear:
    """The rows (dim 0, bias alike) or columns (dim 1, bias kept) `index` of a Linear."""
    w = linear.weight.index_select(dim, index).clone()
    b = linear.bias.clone() if dim == 1 else linear.bias[index].clone()
    new = torch.nn.Linear(w.shape[1], w.shape[0])
    new.weight.copy_(w)
    new.bias.copy_(b)
    return new


@torch.no_grad()
def apply_keep(model: BertModel, keep: dict) -> None:
    sliced = sliced_linear
    layers = model.encoder.layer
    assert len(keep["layers"]) == len(layers), (len(keep["layers"]), len(layers))
    kept = []
    for layer, spec in zip(layers, keep["layers"]):
        if spec.get("drop"):
            continue
        att = layer.attention.self
        hd = att.attention_head_size
        heads = spec.get("heads", list(range(att.num_attention_heads)))
        index = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in heads])
        att.query = sliced(att.query, index, 0)
        att.key = sliced(att.key, index, 0)
        att.value = sliced(att.value, index, 0)
        layer.attention.output.dense = sliced(layer.attention.output.dense, index, 1)
        att.num_attention_heads = len(heads)
        att.all_head_size = len(heads) * hd
        units = torch.tensor(spec.get("ffn", list(range(layer.intermediate.dense.out_features))))
        layer.intermediate.dense = sliced(layer.intermediate.dense, units, 0)
        layer.output.dense = sliced(layer.output.dense, units, 1)
        kept.append(layer)
    model.encoder.layer = torch.nn.ModuleList(kept)
    model.config.num_hidden_layers = len(kept)


MPNET_TEXTS = 8


@torch.no_grad()
def slice_mpnet_layer(layer: torch.nn.Module, heads: list[int], spec: dict) -> None:
    """One MPNetLayer keeps `heads` (Q, K, V rows and O columns) and the FFN units of `spec`."""
    att = layer.attention.attn
    hd = att.attention_head_size
    index = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in heads])
    att.q = sliced_linear(att.q, index, 0)
    att.k = sliced_linear(att.k, index, 0)
    att.v = sliced_linear(att.v, index, 0)
    att.o = sliced_linear(att.o, index, 1)
    att.num_attention_heads = len(heads)
    att.all_head_size = len(heads) * hd
    units = torch.tensor(spec.get("ffn", list(range(layer.intermediate.dense.out_features))))
    layer.intermediate.dense = sliced_linear(layer.intermediate.dense, units, 0)
    layer.output.dense = sliced_linear(layer.output.dense, units, 1)


@torch.no_grad()
def apply_keep_mpnet(model: MPNetModel, keep: dict) -> None:
    """MPNet's layers (encoder.layer[i].attention.attn.q/k/v/o) keep the same heads, and its
    encoder's relative-position table ([buckets, heads], shared by all layers) keeps their
    columns."""
    specs = [s for s in keep["layers"] if not s.get("drop")]
    heads = specs[0].get("heads", list(range(model.config.num_attention_heads)))
    assert all(s.get("heads", heads) == heads for s in specs), "MPNet layers keep the same heads"
    kept = []
    for layer, spec in zip(model.encoder.layer, keep["layers"]):
        if spec.get("drop"):
            continue
        slice_mpnet_layer(layer, heads, spec)
        kept.append(layer)
    table = model.encoder.relative_attention_bias
    new = torch.nn.Embedding(table.num_embeddings, len(heads))
    new.weight.copy_(table.weight[:, heads])
    model.encoder.relative_attention_bias = new
    model.encoder.n_heads = len(heads)
    model.encoder.layer = torch.nn.ModuleList(kept)
    model.config.num_hidden_layers = len(kept)


def make(name: str, source: str, keep_name: str) -> dict:
    local = mr.MODELS_DIR / source
    mpnet = source == "all-mpnet-base-v2"
    mdir = (mpnet_cache_dir() if mpnet else
            local if local.is_dir() else mr.minilm_dir())  # the PyPI package's copy
    keep_path = KEEP_DIR / f"{keep_name}.keep.json"
    keep = json.loads(keep_path.read_text())
    if mpnet:
        model = MPNetModel.from_pretrained(str(mdir), add_pooling_layer=False).eval()
        apply_keep_mpnet(model, keep)
    else:
        model = BertModel.from_pretrained(str(mdir), add_pooling_layer=False).eval()
        apply_keep(model, keep)
    max_length = mr.ember_max_length(mdir)
    texts = reference_texts.texts_for(max_length)
    if mpnet:  # 768-wide states: a few texts, and the long one cut at the limit
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
    mr.sanity_hidden(name, hidden, 0.02 if mpnet else 0.1)  # trained states spread less
    model_dir = str(local.relative_to(mr.REPO)) if local.is_dir() and not mpnet else source
    meta = {"model": name, "model_dir": model_dir, "max_length": max_length,
            "keep": str(keep_path.relative_to(mr.REPO)), "texts": texts, "labels": []}
    mr.write_reference(name, meta, tensors)
    return {"max_length": max_length, "texts": len(texts), "layers": len(model.encoder.layer)}


FIXTURES = {
    "tiny-bert-st6-pruned": lambda vocab, build: make("tiny-bert-st6-pruned", "tiny-bert-st6",
                                                      "tiny-bert-st6"),
    "tiny-bert-st6-drop-pruned": lambda vocab, build: make("tiny-bert-st6-drop-pruned",
                                                           "tiny-bert-st6", "tiny-bert-st6-drop"),
    "all-MiniLM-L6-v2-pruned": lambda vocab, build: make("all-MiniLM-L6-v2-pruned",
                                                         "all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    "all-mpnet-base-v2-pruned": lambda vocab, build: make("all-mpnet-base-v2-pruned",
                                                          "all-mpnet-base-v2",
                                                          "all-mpnet-base-v2"),
}


def load_pruned(out_dir) -> BertModel:
    """An `ember prune` output directory in transformers: a BertModel of the source's shape
    (config.json keeps num_attention_heads and intermediate_size; prune.json's keep spec lists
    every source layer), sliced by the keep spec, then the pruned weights loaded strictly."""
    from pathlib import Path
    from safetensors.torch import load_file
    from transformers import BertConfig
    out_dir = Path(out_dir)
    keep = json.loads((out_dir / "prune.json").read_text())["keep"]
    cfg = json.loads((out_dir / "config.json").read_text())
    cfg.pop("pruned_heads", None)
    cfg["num_hidden_layers"] = len(keep["layers"])
    model = BertModel(BertConfig(**cfg), add_pooling_layer=False).eval()
    apply_keep(model, keep)
    state = load_file(str(out_dir / "model.safetensors"))
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing, missing
    assert all("position_ids" in k or k.startswith("pooler.") for k in unexpected), unexpected
    return model


def check_against_ember(out_dir: str, ember: str) -> float:
    """max |ember embed --hidden - transformers| over the reference texts, on the directory
    `ember prune` wrote (re-fitted weights included)."""
    import subprocess
    model = load_pruned(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    worst = 0.0
    for text in reference_texts.TEXTS[:8]:
        r = subprocess.run([ember, "embed", "--model", out_dir, "--hidden", text],
                           capture_output=True, text=True, check=True)
        got = np.asarray(json.loads(r.stdout)["hidden_states"][0], dtype=np.float32)
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=256)
        with torch.no_grad():
            want = model(**enc).last_hidden_state[0].numpy()
        assert got.shape == want.shape, (got.shape, want.shape)
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


if __name__ == "__main__":
    # PYTHONPATH=scripts python scripts/reference_models/prune.py OUT_DIR EMBER_BIN
    # (in the reference venv, from the repository root)
    import sys
    print(json.dumps({"max_abs_diff": check_against_ember(sys.argv[1], sys.argv[2])}))
