"""Shared helpers of the package tests: the Hugging Face reference fixtures
(tests/fixtures/reference/<name>/: inputs.json + reference.safetensors, written by
scripts/make_reference.py with sentence-transformers) and the models they name."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

SOURCE = Path(os.environ.get("EMBER_SOURCE_DIR", Path(__file__).resolve().parents[2]))
REFERENCE = SOURCE / "tests" / "fixtures" / "reference"


class Reference:
    def __init__(self, name: str) -> None:
        d = REFERENCE / name
        self.name = name
        self.inputs = json.loads((d / "inputs.json").read_text())
        self.tensors = load_file(str(d / "reference.safetensors"))
        self.texts = self.inputs["texts"]
        self.pairs = [tuple(p) for p in self.inputs.get("pairs", [])]
        local = SOURCE / self.inputs["model_dir"]
        # A fixture model under tests/fixtures/models, or a name in Ember's model cache.
        self.model = str(local) if local.is_dir() else self.inputs["model_dir"]

    def __getitem__(self, tensor: str) -> np.ndarray:
        return self.tensors[tensor]


def reference_names():
    return sorted(p.parent.name for p in REFERENCE.glob("*/inputs.json"))


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                       1e-30)


@pytest.fixture(scope="session")
def minilm_ref():
    return Reference("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def minilm(minilm_ref):
    import ember
    return ember.Encoder(minilm_ref.model, threads=2)
