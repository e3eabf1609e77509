"""Real clients against a real server: the openai and huggingface_hub libraries and curl get
the embeddings the Hugging Face stack computes (committed reference)."""
import base64
import json
import subprocess

import numpy as np
import pytest
import openai
import requests
from huggingface_hub import InferenceClient

from conftest import MODEL, cosine


def non_empty(reference):
    """The reference texts and vectors without the empty text, which TEI (and OpenAI) refuse."""
    texts, pooled = reference
    keep = [i for i, t in enumerate(texts) if t]
    return [texts[i] for i in keep], pooled[keep]


def test_openai_client_matches_reference(server, reference):
    texts, pooled = non_empty(reference)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MODEL, input=["a", ""])
    resp = client.embeddings.create(
        model=MODEL, input=texts, encoding_format="float", extra_body={"truncate": True}
    )
    assert resp.object == "list" and resp.model == MODEL
    assert [d.index for d in resp.data] == list(range(len(texts)))
    for i, d in enumerate(resp.data):
        assert len(d.embedding) == pooled.shape[1]
        assert cosine(d.embedding, pooled[i]) >= 0.99999, texts[i]
        assert abs(np.linalg.norm(d.embedding) - 1.0) < 1e-4
    assert resp.usage.prompt_tokens == resp.usage.total_tokens > len(texts)


def test_openai_base64_decodes_to_the_same_floats(server, reference):
    texts, _ = non_empty(reference)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    floats = client.embeddings.create(model=MODEL, input=texts[:8], encoding_format="float")
    # The raw body, so the check does not depend on the client's own decoding.
    raw = requests.post(
        server.url + "/v1/embeddings",
        json={"model": MODEL, "input": texts[:8], "encoding_format": "base64"},
    ).json()
    for d, f in zip(raw["data"], floats.data):
        decoded = np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, np.asarray(f.embedding, dtype=np.float32))
    # And the client's default path (it asks for base64 and decodes it) agrees as well.
    default = client.embeddings.create(model=MODEL, input=texts[:8])
    for d, f in zip(default.data, floats.data):
        np.testing.assert_array_equal(
            np.asarray(d.embedding, np.float32), np.asarray(f.embedding, np.float32)
        )


def test_openai_dimensions_and_models(server, reference):
    texts, pooled = reference
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    resp = client.embeddings.create(model=MODEL, input=texts[3], dimensions=64, encoding_format="float")
    v = np.asarray(resp.data[0].embedding)
    assert v.shape == (64,)
    assert abs(np.linalg.norm(v) - 1.0) < 1e-5  # cut, then renormalized (Matryoshka)
    assert cosine(v, pooled[3][:64]) >= 0.99999
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_token_id_input(server, reference):
    texts, pooled = reference
    toks = requests.post(server.url + "/tokenize", json={"inputs": texts[3]}).json()[0]
    ids = [t["id"] for t in toks]
    r = requests.post(server.url + "/v1/embeddings", json={"input": [ids], "encoding_format": "float"})
    assert r.status_code == 200, r.text
    assert cosine(r.json()["data"][0]["embedding"], pooled[3]) >= 0.99999


def test_huggingface_hub_inference_client(server, reference):
    texts, pooled = reference
    client = InferenceClient(model=server.url)
    for i in (0, 3, 12):
        v = np.asarray(client.feature_extraction(texts[i]))
        assert cosine(v, pooled[i]) >= 0.99999, texts[i]


def test_curl_embed_and_health(server, reference):
    texts, pooled = reference
    out = subprocess.run(
        ["curl", "-sS", "-i", server.url + "/embed", "-H", "Content-Type: application/json",
         "-d", json.dumps({"inputs": [texts[3], texts[4]], "normalize": True})],
        check=True, capture_output=True,
    ).stdout.decode()  # bytes: text mode would turn the CRLFs into LFs
    head, body = out.split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 200")
    headers = {l.split(":", 1)[0].lower() for l in head.splitlines()[1:]}
    assert {"x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time"} <= headers
    got = json.loads(body)
    assert len(got) == 2
    assert cosine(got[0], pooled[3]) >= 0.99999 and cosine(got[1], pooled[4]) >= 0.99999
    health = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", server.url + "/health"],
                            check=True, capture_output=True, text=True).stdout
    assert health == "200"


def test_tei_embed_options(server, reference):
    texts, pooled = reference
    raw = requests.post(server.url + "/embed", json={"inputs": texts[3], "normalize": False}).json()[0]
    assert abs(np.linalg.norm(raw) - 1.0) > 1e-3  # mean pooling alone is not unit length
    assert cosine(raw, pooled[3]) >= 0.99999
    cut = requests.post(server.url + "/embed", json={"inputs": texts[3], "dimensions": 32}).json()[0]
    assert len(cut) == 32 and abs(np.linalg.norm(cut) - 1.0) < 1e-5
    info = requests.get(server.url + "/info").json()
    assert info["model_id"] == MODEL and info["max_input_length"] == 256
    toks = requests.post(server.url + "/tokenize", json={"inputs": "Hello, world!"}).json()
    assert toks[0][0]["special"] and toks[0][0]["text"] == "[CLS]"
    assert toks[0][1]["text"] == "Hello" and toks[0][1]["start"] == 0 and toks[0][1]["stop"] == 5
