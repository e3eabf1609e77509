#!/usr/bin/env python3
"""Random-weight long-sequence models for the long-sequence grid (long_sequence.py), made by
transformers itself from the published config and written with save_pretrained, so that every
engine reads the same checkpoint:

  modernbert-base-random        answerdotai/ModernBERT-base's config.json (22 layers, hidden 768,
                                12 heads, intermediate 1152, global attention every 3rd layer,
                                local window 128, 8192 positions), ModernBertModel
  qwen3-embedding-0.6b-random   Qwen/Qwen3-Embedding-0.6B's config.json (28 layers, hidden 1024,
                                16 query / 8 KV heads, head size 128, intermediate 3072), Qwen3Model

Weights: transformers' own initialisation under a fixed seed (torch.manual_seed), so the
directory is the same on every run. Timing does not depend on the values; the outputs mean
nothing beyond engine-to-engine agreement. The tokenizer is the bert-base-uncased
tokenizer.json of the test fixtures (the benchmark feeds token ids, never text); its ids are
below both vocabularies.

    VENV/bin/python bench/compare/make_long_model.py [--cache DIR] [--force] [NAME...]

(VENV: one with torch + transformers, e.g. .venv-compare.)

Writes <cache>/NAME/ (about 600 MB for ModernBERT, 2.4 GB for Qwen3), <cache> as Ember resolves
it: $EMBER_MODEL_CACHE, else $XDG_CACHE_HOME/ember/models, else ~/.cache/ember/models.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
TOKENIZER = REPO / "tests" / "fixtures" / "tokenizers" / "bert-base-uncased.json"
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "scripts" / "reference_models")]

SEED = 19


def modernbert():
    from transformers import ModernBertConfig, ModernBertModel
    from modernbert import REAL_CONFIG  # the published config, in the Hub's spelling
    return ModernBertModel(ModernBertConfig(**REAL_CONFIG))


# Qwen/Qwen3-Embedding-0.6B's config.json (the keys transformers reads).
QWEN3_CONFIG = dict(
    attention_bias=False, attention_dropout=0.0, bos_token_id=151643, eos_token_id=151643,
    head_dim=128, hidden_act="silu", hidden_size=1024, initializer_range=0.02,
    intermediate_size=3072, max_position_embeddings=32768, max_window_layers=28,
    num_attention_heads=16, num_hidden_layers=28, num_key_value_heads=8, rms_norm_eps=1e-06,
    rope_theta=1000000, sliding_window=None, tie_word_embeddings=True, use_cache=False,
    use_sliding_window=False, vocab_size=151669)


def qwen3():
    from transformers import Qwen3Config, Qwen3Model
    return Qwen3Model(Qwen3Config(**QWEN3_CONFIG))


MODELS = {"modernbert-base-random": modernbert, "qwen3-embedding-0.6b-random": qwen3}


def cache_dir():
    if os.environ.get("EMBER_MODEL_CACHE"):
        return Path(os.environ["EMBER_MODEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ember" / "models"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=["modernbert-base-random"],
                   help=f"which models (default modernbert-base-random; known: {list(MODELS)})")
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--force", action="store_true", help="rewrite an existing directory")
    args = p.parse_args(argv)
    import torch
    cache = args.cache or cache_dir()
    for name in args.names:
        if name not in MODELS:
            sys.exit(f"unknown model {name}; known: {list(MODELS)}")
        out = cache / name
        if (out / "DONE").exists() and not args.force:
            print(f"{out}: exists", file=sys.stderr)
            continue
        if out.exists():
            shutil.rmtree(out)
        torch.manual_seed(SEED)
        model = MODELS[name]().eval()
        model.save_pretrained(str(out), safe_serialization=True)
        shutil.copy(TOKENIZER, out / "tokenizer.json")
        # No length limit below the positions (the fixture tokenizer's own truncation is 128).
        (out / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1e30}))
        (out / "DONE").write_text(f"seed {SEED}\n")
        print(f"{out}: written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
