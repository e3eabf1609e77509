"""TEI's routes, statuses and error bodies as TEI 1.9.3 answers them (router/src/http/server.rs
and core/src/tokenization.rs of huggingface/text-embeddings-inference, and its docs/openapi.json):
expected answers are written from TEI's source and the Hugging Face reference, not from Ember.

- "Empty" (an empty batch, text or id list) is 400; an over-long input without truncate 422
  ("Validation"); a too-large batch 413 (the spec's "Batch size error"; docs/serve.md).
- /decode drops ids outside the vocabulary (as the tokenizers library does) and answers 200.
- The embedding routes on a classifier answer 424 ("Backend", "Model is not an embedding model").
- 405 names the allowed methods (Allow).
- /embeddings (OpenAI without /v1), GET /ping and GET / (health), POST /invocations (SageMaker:
  the model's own task), POST /vertex ({"instances": [...]} -> {"predictions": [...]}).
- /predict's batch form [[text], [text, text], ...]; ["text"] is one input (a flat answer).
- /similarity: the cosine of the source sentence's embedding to each sentence's."""
import json
import os
import pathlib

import numpy as np
import pytest
import requests
from tokenizers import Tokenizer

from conftest import SOURCE_DIR, Server, cosine, read_safetensors

MINILM_DIR = pathlib.Path(os.path.expanduser("~/.cache/ember/models/all-MiniLM-L6-v2"))


def assert_tei_error(r, status, error_type):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "error_type"} and body["error"], body
    assert body["error_type"] == error_type, body


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / e.sum()


def by_label(predictions, labels):
    d = {p["label"]: p["score"] for p in predictions}
    return np.array([d[label] for label in labels])


@pytest.mark.parametrize(
    "path, body",
    [
        ("/embed", {"inputs": []}),
        ("/embed", {"inputs": ""}),
        ("/embed", {"inputs": ["a", ""]}),
        ("/embed", {"inputs": [[]]}),
        ("/embed_all", {"inputs": ""}),
        ("/tokenize", {"inputs": ""}),
        ("/tokenize", {"inputs": []}),
        ("/decode", {"ids": []}),
        ("/decode", {"ids": [[1037], []]}),
        ("/similarity", {"inputs": {"source_sentence": "a", "sentences": []}}),
        ("/similarity", {"inputs": {"source_sentence": "", "sentences": ["b"]}}),
    ],
)
def test_empty_is_400(server, path, body):
    assert_tei_error(requests.post(server.url + path, json=body), 400, "Empty")


def test_openai_empty_is_400_in_openai_shape(server):
    for path in ["/v1/embeddings", "/embeddings"]:
        r = requests.post(server.url + path, json={"input": ""})
        assert r.status_code == 400, r.text
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_over_long_input_is_422_and_truncate_takes_it(server):
    text = "word " * 1000
    for path in ["/embed", "/embed_all", "/v1/embeddings"]:
        key = "input" if path.startswith("/v1") else "inputs"
        r = requests.post(server.url + path, json={key: text})
        assert r.status_code == 422, (path, r.text)
        assert requests.post(server.url + path, json={key: text, "truncate": True}).status_code == 200
    r = requests.post(server.url + "/embed", json={"inputs": text})
    assert r.json()["error_type"] == "Validation"


def test_decode_drops_unknown_ids_as_the_tokenizers_library_does(server):
    hf = Tokenizer.from_file(str(MINILM_DIR / "tokenizer.json"))
    ids = [101, 7592, 10**6, 2088, 4294967295, 102]
    for skip in (True, False):
        r = requests.post(server.url + "/decode", json={"ids": ids, "skip_special_tokens": skip})
        assert r.status_code == 200, r.text
        assert r.json() == [hf.decode(ids, skip_special_tokens=skip)]
    # Not a u32: the request does not parse (422), as TEI's Json extractor answers.
    assert_tei_error(requests.post(server.url + "/decode", json={"ids": [-1]}), 422, "Validation")
    assert_tei_error(requests.post(server.url + "/decode", json={"ids": [2**32]}), 422, "Validation")


def test_embedding_routes_on_a_classifier_are_424(seqcls_server):
    url = seqcls_server.url
    for path, body in [
        ("/embed", {"inputs": "a"}),
        ("/embed_all", {"inputs": "a"}),
        ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]}}),
    ]:
        r = requests.post(url + path, json=body)
        assert_tei_error(r, 424, "Backend")
        assert r.json()["error"] == "Model is not an embedding model"
    for path in ["/v1/embeddings", "/embeddings"]:
        r = requests.post(url + path, json={"input": "a"})
        assert r.status_code == 424 and r.json()["error"]["message"] == "Model is not an embedding model"


def test_405_names_the_allowed_methods(server):
    r = requests.get(server.url + "/embed")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = requests.delete(server.url + "/")
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    r = requests.post(server.url + "/info")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_info_has_served_model_name():
    s = Server("--http-threads", "1", "--served-model-name", "my-embedder")
    try:
        info = requests.get(s.url + "/info").json()
        assert info["served_model_name"] == "my-embedder"
    finally:
        assert s.terminate() == 0


def test_health_routes(server):
    for path in ["/health", "/ping", "/"]:
        r = requests.get(server.url + path)
        assert r.status_code == 200 and r.text == "", path


def test_embeddings_without_v1_is_the_openai_route(server):
    a = requests.post(server.url + "/embeddings", json={"input": ["hello", "world"]})
    b = requests.post(server.url + "/v1/embeddings", json={"input": ["hello", "world"]})
    assert a.status_code == 200 and b.status_code == 200
    assert a.json()["object"] == "list" and a.json()["data"] == b.json()["data"]


def test_invocations_is_the_models_task(server, seqcls_server, reranker_server):
    body = {"inputs": ["hello", "world"]}
    assert requests.post(server.url + "/invocations", json=body).json() == requests.post(
        server.url + "/embed", json=body
    ).json()
    assert requests.post(server.url + "/", json=body).json() == requests.post(
        server.url + "/embed", json=body
    ).json()
    body = {"inputs": "I like you."}
    assert requests.post(seqcls_server.url + "/invocations", json=body).json() == requests.post(
        seqcls_server.url + "/predict", json=body
    ).json()
    body = {"query": "q", "texts": ["a", "b"]}
    for path in ["/invocations", "/"]:
        assert requests.post(reranker_server.url + path, json=body).json() == requests.post(
            reranker_server.url + "/rerank", json=body
        ).json()


def test_vertex(server, reranker_server, seqcls_server):
    r = requests.post(server.url + "/vertex", json={"instances": [{"inputs": "a"}, {"inputs": ["b", "c"]}]})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert preds[0] == requests.post(server.url + "/embed", json={"inputs": "a"}).json()
    assert preds[1] == requests.post(server.url + "/embed", json={"inputs": ["b", "c"]}).json()
    rerank = {"query": "q", "texts": ["a", "b"]}
    r = requests.post(reranker_server.url + "/vertex", json={"instances": [rerank]})
    assert r.json() == {"predictions": [requests.post(reranker_server.url + "/rerank", json=rerank).json()]}
    r = requests.post(seqcls_server.url + "/vertex", json={"instances": [{"inputs": "x"}]})
    assert r.json() == {"predictions": [requests.post(seqcls_server.url + "/predict", json={"inputs": "x"}).json()]}
    # A failed instance is the answer, with its own status.
    r = requests.post(server.url + "/vertex", json={"instances": [{"inputs": "a"}, {"inputs": []}]})
    assert_tei_error(r, 400, "Empty")
    assert_tei_error(requests.post(server.url + "/vertex", json={"instances": []}), 400, "Empty")


def test_predict_batch_forms(seqcls_server, seqcls_reference):
    inputs, ref = seqcls_reference
    labels = inputs["labels"]
    url = seqcls_server.url + "/predict"
    text, pair = inputs["texts"][2], inputs["pairs"][1]
    # TEI's documented batch: one-string items, pairs beside them.
    r = requests.post(url, json={"inputs": [[text], pair, [text]], "raw_scores": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out) == 3
    np.testing.assert_allclose(by_label(out[0], labels), ref["logits"][2], atol=1e-4)
    np.testing.assert_allclose(by_label(out[1], labels), ref["pair_logits"][1], atol=1e-4)
    np.testing.assert_allclose(by_label(out[2], labels), ref["logits"][2], atol=1e-4)
    # ["text"] is one input: a flat list of predictions, as for "text".
    flat = requests.post(url, json={"inputs": [text]}).json()
    assert isinstance(flat[0], dict)
    np.testing.assert_allclose(by_label(flat, labels), softmax(ref["logits"][2]), atol=1e-4)
    # What TEI's deserializer refuses: 422.
    for bad in [[], ["a", "b", "c"], [["a"], "b"], ["a", ["b"]], [["a", "b", "c"]], [[]], [1]]:
        assert_tei_error(requests.post(url, json={"inputs": bad}), 422, "Validation")
    assert_tei_error(requests.post(url, json={"inputs": [[""]]}), 400, "Empty")


def test_similarity_matches_the_reference(server, reference):
    texts, pooled = reference
    source, sentences = texts[0], texts[2:6]
    r = requests.post(server.url + "/similarity", json={"inputs": {"source_sentence": source, "sentences": sentences}})
    assert r.status_code == 200, r.text
    want = [cosine(pooled[0], pooled[i]) for i in range(2, 6)]
    np.testing.assert_allclose(r.json(), want, atol=1e-5)
    r = requests.post(
        server.url + "/similarity",
        json={"inputs": {"source_sentence": source, "sentences": sentences}, "parameters": None},
    )
    np.testing.assert_allclose(r.json(), want, atol=1e-5)
    too_long = {"inputs": {"source_sentence": "word " * 1000, "sentences": ["a"]}}
    assert_tei_error(requests.post(server.url + "/similarity", json=too_long), 422, "Validation")
    too_long["parameters"] = {"truncate": True}
    assert requests.post(server.url + "/similarity", json=too_long).status_code == 200


@pytest.fixture(scope="module")
def splade():
    s = Server("--http-threads", "2", model=SOURCE_DIR / "tests/fixtures/models/tiny-bert-splade")
    yield s
    assert s.terminate() == 0


def test_splade_embedding_routes_as_tei(splade):
    """TEI on a SPLADE model: /embed is the sparse vector over the vocabulary (SparseEncoder's),
    and only without normalization (424 with it, and on /v1/embeddings); /embed_all is 424;
    POST / and /invocations are /embed_sparse; /similarity is the cosine of the vectors."""
    ref_dir = SOURCE_DIR / "tests/fixtures/reference/tiny-bert-splade"
    texts = json.loads((ref_dir / "inputs.json").read_text())["texts"]
    sparse = read_safetensors(ref_dir / "reference.safetensors")["sparse"]
    picked = [i for i, t in enumerate(texts[:8]) if t]
    r = requests.post(splade.url + "/embed", json={"inputs": [texts[i] for i in picked], "normalize": False})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(np.asarray(r.json()), sparse[picked], atol=1e-4)
    cut = requests.post(splade.url + "/embed", json={"inputs": texts[picked[0]], "normalize": False, "dimensions": 100})
    np.testing.assert_allclose(cut.json()[0], sparse[picked[0]][:100], atol=1e-4)
    assert_tei_error(requests.post(splade.url + "/embed", json={"inputs": "a"}), 424, "Backend")
    assert_tei_error(requests.post(splade.url + "/embed_all", json={"inputs": "a"}), 424, "Backend")
    assert requests.post(splade.url + "/v1/embeddings", json={"input": "a"}).status_code == 424
    body = {"inputs": texts[picked[0]]}
    want = requests.post(splade.url + "/embed_sparse", json=body).json()
    for path in ["/", "/invocations"]:
        assert requests.post(splade.url + path, json=body).json() == want
    source, others = picked[0], picked[1:4]
    r = requests.post(splade.url + "/similarity",
                      json={"inputs": {"source_sentence": texts[source], "sentences": [texts[i] for i in others]}})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json(), [cosine(sparse[source], sparse[i]) for i in others], atol=1e-5)
