"""The rotary-position families through a real `ember serve`: ModernBERT (local and global
attention, mean-pooled classification head) on TEI's /predict, and Qwen3 as
Qwen3-Embedding uses it (causal, last-token pooling of <|endoftext|>) on /embed, against the
Hugging Face reference of their tiny fixtures."""
import json

import numpy as np
import pytest
import requests

from conftest import SOURCE_DIR, Server, cosine, read_safetensors


def fixture(name):
    ref_dir = SOURCE_DIR / "tests/fixtures/reference" / name
    inputs = json.loads((ref_dir / "inputs.json").read_text())
    return inputs, read_safetensors(ref_dir / "reference.safetensors")


def serve(name):
    s = Server("--http-threads", "2", model=SOURCE_DIR / "tests/fixtures/models" / name)
    yield s, *fixture(name)
    assert s.terminate() == 0


@pytest.fixture(scope="module")
def modernbert():
    yield from serve("tiny-modernbert-seqcls")


@pytest.fixture(scope="module")
def qwen3():
    yield from serve("tiny-qwen3-embedding")


# Short texts and the last one (the model's full length, far beyond ModernBERT's local window).
def picks(inputs):
    return [0, 2, 3, 8, 12, len(inputs["texts"]) - 1]


def check_embed(server, inputs, ref):
    idx = picks(inputs)
    r = requests.post(server.url + "/embed", json={"inputs": [inputs["texts"][i] for i in idx]})
    assert r.status_code == 200, r.text
    got = np.asarray(r.json())
    assert got.shape == (len(idx), ref["pooled"].shape[1])
    assert inputs["normalize"]  # /embed normalises by default, as these models do
    for k, i in enumerate(idx):
        np.testing.assert_allclose(got[k], ref["pooled"][i], atol=1e-4, err_msg=f"text {i}")
        assert cosine(got[k], ref["pooled"][i]) >= 0.99999


def test_modernbert_embed_is_424_as_tei(modernbert):
    # A sequence classifier: TEI answers its embedding routes 424 ("Model is not an embedding
    # model"); the body's embeddings are checked by the C++ model tests.
    server, inputs, _ = modernbert
    r = requests.post(server.url + "/embed", json={"inputs": inputs["texts"][0]})
    assert r.status_code == 424 and r.json()["error_type"] == "Backend", r.text


def test_modernbert_predict_matches_reference_logits(modernbert):
    server, inputs, ref = modernbert
    idx = picks(inputs)
    r = requests.post(
        server.url + "/predict",
        json={"inputs": [[inputs["texts"][i]] for i in idx], "raw_scores": True},  # TEI's batch
    )
    assert r.status_code == 200, r.text
    for k, i in enumerate(idx):
        scores = {p["label"]: p["score"] for p in r.json()[k]}
        got = np.array([scores[label] for label in inputs["labels"]])
        np.testing.assert_allclose(got, ref["logits"][i], atol=1e-4, err_msg=f"text {i}")


def test_qwen3_embed_matches_reference(qwen3):
    check_embed(*qwen3)
