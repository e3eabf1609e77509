"""Every architecture through every route: a real `ember serve` per fixture model, driven by
real clients (requests for TEI, the openai library, tritonclient for KServe v2), each answer
checked against the Hugging Face reference of that model (pooled embeddings: cosine >= 0.99999;
classifier scores: softmax of the logits for several labels, the CrossEncoder's sigmoid for
one)."""
import json

import numpy as np
import openai
import pytest
import requests
import tritonclient.http as httpclient

from conftest import SOURCE_DIR, Server, cosine, read_safetensors

FIXTURES = SOURCE_DIR / "tests/fixtures"
# Embedding models: (fixture, model argument). The real checkpoints come from the model cache.
# The sequence classifiers among them answer the embedding routes 424, as TEI does.
EMBEDDERS = [
    ("all-mpnet-base-v2", "all-mpnet-base-v2"),
    ("tiny-mpnet-seqcls", None),
    ("tiny-bert-st6", None),
    ("tiny-bert-pruned", None),
    ("tiny-distilbert", None),
    ("tiny-roberta", None),
    ("tiny-xlm-roberta", None),
    ("tiny-electra", None),
    ("tiny-deberta-v3", None),
]
# Sequence classifiers, with the pairs of their reference.
CLASSIFIERS = ["tiny-mpnet-seqcls", "tiny-bert-reranker", "tiny-distilbert", "tiny-roberta",
               "tiny-deberta-v3-nli", "tiny-deberta-v3-reranker"]
TEXTS = 6  # reference texts sent per model


def reference(fixture):
    d = FIXTURES / "reference" / fixture
    return json.loads((d / "inputs.json").read_text()), read_safetensors(d / "reference.safetensors")


def model_arg(fixture, cache_name):
    return cache_name or FIXTURES / "models" / fixture


@pytest.fixture(scope="module", params=EMBEDDERS, ids=[f for f, _ in EMBEDDERS])
def embedder(request):
    fixture, cache_name = request.param
    s = Server("--http-threads", "2", "--cache-entries", "0", model=model_arg(fixture, cache_name))
    s.name = requests.get(s.url + "/v1/models").json()["data"][0]["id"]
    s.ref = reference(fixture)
    yield s
    assert s.terminate() == 0


def sent(texts):
    """The first TEXTS reference texts but the empty one (TEI answers an empty text 400)."""
    return [i for i, t in enumerate(texts) if t][:TEXTS]


def expected(server, normalize):
    inputs, ref = server.ref
    keep = sent(inputs["texts"])
    pooled = ref["pooled"][keep].astype(np.float64)
    if normalize:
        pooled = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return [inputs["texts"][i] for i in keep], pooled


def is_classifier(server):
    return "embedding" not in requests.get(server.url + "/info").json()["model_type"]


def test_tei_embed(embedder):
    texts, want = expected(embedder, normalize=True)
    r = requests.post(embedder.url + "/embed", json={"inputs": texts, "truncate": True})
    if is_classifier(embedder):  # TEI: "Model is not an embedding model"
        assert r.status_code == 424 and r.json()["error_type"] == "Backend", r.text
        return
    assert r.status_code == 200, r.text
    got = np.asarray(r.json())
    assert got.shape == want.shape
    for i in range(len(texts)):
        assert cosine(got[i], want[i]) >= 0.99999, (embedder.name, i)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_openai_embeddings(embedder):
    texts, want = expected(embedder, normalize=True)
    client = openai.OpenAI(base_url=embedder.url + "/v1", api_key="unused")
    if is_classifier(embedder):
        with pytest.raises(openai.APIStatusError) as e:
            client.embeddings.create(model=embedder.name, input=texts)
        assert e.value.status_code == 424
        return
    res = client.embeddings.create(model=embedder.name, input=texts)
    assert [d.index for d in res.data] == list(range(len(texts)))
    for i, d in enumerate(res.data):
        assert cosine(d.embedding, want[i]) >= 0.99999, (embedder.name, i)


def test_kserve_infer(embedder):
    """KServe v2 answers embeddings for an embedding model, and the head's probabilities for a
    classifier (as its model metadata says)."""
    texts, want = expected(embedder, normalize=True)
    host = embedder.url.removeprefix("http://")
    c = httpclient.InferenceServerClient(url=host)
    outputs = [o["name"] for o in c.get_model_metadata(embedder.name)["outputs"]]
    inp = httpclient.InferInput("text", [len(texts)], "BYTES")
    inp.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=object))
    res = c.infer(embedder.name, [inp], parameters={"truncate": True})
    if outputs == ["embedding"]:
        got = res.as_numpy("embedding")
        assert got.shape == want.shape
        for i in range(len(texts)):
            assert cosine(got[i], want[i]) >= 0.99999, (embedder.name, i)
        return
    assert "probabilities" in outputs, outputs
    got = res.as_numpy("probabilities")
    logits = embedder.ref[1]["logits"][sent(embedder.ref[0]["texts"])]
    for i in range(len(texts)):
        np.testing.assert_allclose(got[i], scores_of(logits[i]), atol=2e-5)


@pytest.fixture(scope="module", params=CLASSIFIERS)
def classifier(request):
    s = Server("--http-threads", "2", "--cache-entries", "0",
               model=FIXTURES / "models" / request.param)
    s.ref = reference(request.param)
    yield s
    assert s.terminate() == 0


def scores_of(logits):
    logits = np.asarray(logits, dtype=np.float64)
    if logits.size == 1:
        return 1.0 / (1.0 + np.exp(-logits))
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_tei_predict_pairs(classifier):
    inputs, ref = classifier.ref
    labels = inputs["labels"]
    pairs = inputs["pairs"][:5]
    r = requests.post(classifier.url + "/predict", json={"inputs": pairs})
    assert r.status_code == 200, r.text
    for j, preds in enumerate(r.json()):
        got = {p["label"]: p["score"] for p in preds}
        want = scores_of(ref["pair_logits"][j])
        np.testing.assert_allclose([got[label] for label in labels], want, atol=2e-5)


def test_tei_rerank_one_label(classifier):
    inputs, ref = classifier.ref
    if len(inputs["labels"]) != 1:
        r = requests.post(classifier.url + "/rerank", json={"query": "q", "texts": ["a"]})
        assert r.status_code == 424  # TEI: /rerank needs a one-label model
        return
    # The CrossEncoder's own scores of the reference pairs that share no query: one call each.
    for j, (query, text) in enumerate(inputs["pairs"][:5]):
        r = requests.post(classifier.url + "/rerank", json={"query": query, "texts": [text]})
        assert r.status_code == 200, r.text
        (hit,) = r.json()
        assert abs(hit["score"] - float(ref["pair_scores"][j])) < 2e-5, j


@pytest.fixture(scope="module")
def splade():
    s = Server("--http-threads", "2", "--cache-entries", "0",
               model=FIXTURES / "models" / "tiny-bert-splade")
    s.ref = reference("tiny-bert-splade")
    yield s
    assert s.terminate() == 0


def test_tei_embed_sparse_matches_sparse_encoder(splade):
    """TEI's /embed_sparse: per input the non-zero entries as {"index", "value"}, against
    sentence-transformers' SparseEncoder; a repeated request (the result cache) gives the same."""
    inputs, ref = splade.ref
    keep = sent(inputs["texts"])
    texts = [inputs["texts"][i] for i in keep]
    vocab = ref["sparse"].shape[1]
    for _ in range(2):
        r = requests.post(splade.url + "/embed_sparse", json={"inputs": texts})
        assert r.status_code == 200, r.text
        out = r.json()
        assert len(out) == len(texts)
        for i, entries in enumerate(out):
            dense = np.zeros(vocab)
            indices = [e["index"] for e in entries]
            assert indices == sorted(indices) and len(set(indices)) == len(indices)
            for e in entries:
                assert e["value"] > 0
                dense[e["index"]] = e["value"]
            np.testing.assert_allclose(dense, ref["sparse"][keep[i]], atol=1e-4)
    one = requests.post(splade.url + "/embed_sparse", json={"inputs": texts[0]})
    assert one.status_code == 200 and len(one.json()) == 1


def test_tei_embed_sparse_on_a_dense_model_is_424(embedder):
    r = requests.post(embedder.url + "/embed_sparse", json={"inputs": "a"})
    assert r.status_code == 424, r.text
    assert r.json()["error_type"] == "Backend"
