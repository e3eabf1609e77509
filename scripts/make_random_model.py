#!/usr/bin/env python3
"""Random-weight models in real configurations, for speed measurements only.

Timing does not depend on weight values, so bert-base-uncased and distilbert-base-uncased are
written with their published config.json values, Hugging Face base-model tensor names
(BertModel / DistilBertModel) and random float32 weights, plus the bert-base-uncased
tokenizer.json from the test fixtures. Their outputs mean nothing: never use them for accuracy.

    scripts/make_random_model.sh [--cache DIR] [--force] [bert-base-uncased distilbert-base-uncased]

Writes <cache>/<name>-random/ where <cache> follows Ember's rule:
$EMBER_MODEL_CACHE, else $XDG_CACHE_HOME/ember/models, else ~/.cache/ember/models.
Idempotent: a directory whose SOURCE matches what this script would write is kept.
Needs numpy and safetensors only (no torch).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

REPO = Path(__file__).resolve().parent.parent
TOKENIZER = REPO / "tests" / "fixtures" / "tokenizers" / "bert-base-uncased.json"

# The published config.json files (Hugging Face Hub, google-bert/bert-base-uncased and
# distilbert/distilbert-base-uncased).
CONFIGS = {
    "bert-base-uncased": {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": 768,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "transformers_version": "4.6.0.dev0",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": 30522,
    },
    "distilbert-base-uncased": {
        "activation": "gelu",
        "architectures": ["DistilBertForMaskedLM"],
        "attention_dropout": 0.1,
        "dim": 768,
        "dropout": 0.1,
        "hidden_dim": 3072,
        "initializer_range": 0.02,
        "max_position_embeddings": 512,
        "model_type": "distilbert",
        "n_heads": 12,
        "n_layers": 6,
        "pad_token_id": 0,
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": False,
        "tie_weights_": True,
        "transformers_version": "4.10.0.dev0",
        "vocab_size": 30522,
    },
}

SCRIPT_VERSION = 1
SEED = 0


def cache_dir() -> Path:
    if os.environ.get("EMBER_MODEL_CACHE"):
        return Path(os.environ["EMBER_MODEL_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ember" / "models"


def bert_shapes(c):
    h, i = c["hidden_size"], c["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (c["vocab_size"], h),
        "embeddings.position_embeddings.weight": (c["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (c["type_vocab_size"], h),
    }
    norms = ["embeddings.LayerNorm"]
    for n in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for name, out, inp in [("attention.self.query", h, h), ("attention.self.key", h, h),
                               ("attention.self.value", h, h), ("attention.output.dense", h, h),
                               ("intermediate.dense", i, h), ("output.dense", h, i)]:
            shapes[p + name + ".weight"] = (out, inp)
            shapes[p + name + ".bias"] = (out,)
        norms += [p + "attention.output.LayerNorm", p + "output.LayerNorm"]
    shapes["pooler.dense.weight"] = (h, h)
    shapes["pooler.dense.bias"] = (h,)
    return shapes, norms, h


def distilbert_shapes(c):
    h, i = c["dim"], c["hidden_dim"]
    shapes = {
        "embeddings.word_embeddings.weight": (c["vocab_size"], h),
        "embeddings.position_embeddings.weight": (c["max_position_embeddings"], h),
    }
    norms = ["embeddings.LayerNorm"]
    for n in range(c["n_layers"]):
        p = f"transformer.layer.{n}."
        for name, out, inp in [("attention.q_lin", h, h), ("attention.k_lin", h, h),
                               ("attention.v_lin", h, h), ("attention.out_lin", h, h),
                               ("ffn.lin1", i, h), ("ffn.lin2", h, i)]:
            shapes[p + name + ".weight"] = (out, inp)
            shapes[p + name + ".bias"] = (out,)
        norms += [p + "sa_layer_norm", p + "output_layer_norm"]
    return shapes, norms, h


def tensors(config):
    shapes, norms, h = (bert_shapes if config["model_type"] == "bert" else distilbert_shapes)(config)
    rng = np.random.default_rng(SEED)
    out = {}
    for name, shape in shapes.items():
        # BERT's initializer: N(0, 0.02) weights, zero biases; keeps activations in range.
        out[name] = (np.zeros(shape, np.float32) if name.endswith(".bias") else
                     (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)))
    for n in norms:
        out[n + ".weight"] = np.ones((h,), np.float32)
        out[n + ".bias"] = np.zeros((h,), np.float32)
    return out


def source_text(name, config):
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    tok = hashlib.sha256(TOKENIZER.read_bytes()).hexdigest()
    return (f"random weights for speed measurements only (scripts/make_random_model.py v"
            f"{SCRIPT_VERSION}, seed {SEED})\nconfig: {name} sha256 {digest}\n"
            f"tokenizer: tests/fixtures/tokenizers/bert-base-uncased.json sha256 {tok}\n")


def make(name, root: Path, force: bool):
    config = CONFIGS[name]
    target = root / f"{name}-random"
    source = source_text(name, config)
    files = ["config.json", "model.safetensors", "tokenizer.json", "SOURCE"]
    if (not force and all((target / f).exists() for f in files)
            and (target / "SOURCE").read_text() == source):
        print(f"{target}: up to date", file=sys.stderr)
        return
    # Built beside the target under a dot name (ignored by the cache), then renamed into place.
    work = root / f".{name}-random.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors(config), str(work / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(work / "model.safetensors", 0o644)  # safetensors writes 0600
    shutil.copyfile(TOKENIZER, work / "tokenizer.json")
    (work / "SOURCE").write_text(source)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    print(f"{target}: written", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"models to write (default: all of {list(CONFIGS)})")
    ap.add_argument("--cache", type=Path, default=None, help="model cache directory")
    ap.add_argument("--force", action="store_true", help="rewrite even when up to date")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {list(CONFIGS)}")
    root = args.cache or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(CONFIGS):
        make(name, root, args.force)


if __name__ == "__main__":
    main()
