"""sentence-transformers prompts through every entry point, against SentenceTransformer.encode
itself (scripts/reference_models/prompts.py): tiny-bert-prompts (prompts "query: " and
"passage: ", default_prompt_name "query") and tiny-bert-prompts-noinc (the same prompts, no
default, Pooling's include_prompt false: the prompt's tokens are not pooled).

The reference holds encode()'s embeddings with no prompt_name (the default prompt), prompt_name
"query" and "passage", prompt "" (none), and similarity() of a source sentence to sentences
with prompt_name "passage"."""
import json
import subprocess

import numpy as np
import pytest
import requests

from conftest import SOURCE_DIR, Server, cosine, ember_bin, read_safetensors

FIXTURES = ["tiny-bert-prompts", "tiny-bert-prompts-noinc"]


def load(name):
    d = SOURCE_DIR / "tests/fixtures/reference" / name
    return json.loads((d / "inputs.json").read_text()), read_safetensors(d / "reference.safetensors")


@pytest.fixture(scope="module", params=FIXTURES)
def prompted(request):
    meta, ref = load(request.param)
    s = Server("--http-threads", "2", model=SOURCE_DIR / meta["model_dir"])
    yield s, meta, ref
    assert s.terminate() == 0


def assert_parity(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, what
    for i in range(len(want)):
        assert cosine(got[i], want[i]) >= 0.99999, (what, i)


def test_embed_matches_encode_per_prompt(prompted):
    s, meta, ref = prompted
    texts = meta["texts"]
    for name in ["query", "passage"]:
        r = requests.post(s.url + "/embed", json={"inputs": texts, "prompt_name": name, "normalize": False})
        assert r.status_code == 200, r.text
        assert_parity(r.json(), ref[name], name)
        np.testing.assert_allclose(r.json(), ref[name], atol=1e-4)
    # No prompt_name: the model's default prompt, as encode() applies it.
    r = requests.post(s.url + "/embed", json={"inputs": texts, "normalize": False})
    assert_parity(r.json(), ref["default"], "default")
    if meta["default_prompt_name"] is None:
        assert_parity(r.json(), ref["none"], "no default prompt")


def test_unknown_prompt_is_422(prompted):
    s, _, _ = prompted
    for path in ["/embed", "/embed_all", "/tokenize"]:
        r = requests.post(s.url + path, json={"inputs": "a", "prompt_name": "nope"})
        assert r.status_code == 422 and r.json()["error_type"] == "Validation", (path, r.text)
        assert "query" in r.json()["error"]
    r = requests.post(s.url + "/embed", json={"inputs": "a", "prompt_name": 3})
    assert r.status_code == 422


def test_openai_and_kserve_take_a_prompt(prompted):
    s, meta, ref = prompted
    texts = meta["texts"]
    r = requests.post(s.url + "/v1/embeddings", json={"input": texts, "prompt_name": "passage"})
    assert r.status_code == 200, r.text
    assert_parity([d["embedding"] for d in r.json()["data"]], ref["passage"], "openai")
    name = requests.get(s.url + "/v1/models").json()["data"][0]["id"]
    body = {
        "inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}],
        "parameters": {"prompt_name": "passage"},
    }
    r = requests.post(f"{s.url}/v2/models/{name}/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert_parity(np.asarray(out["data"]).reshape(out["shape"]), ref["passage"], "kserve")


def test_tokenize_and_embed_all_see_the_prompt(prompted):
    s, meta, _ = prompted
    text = meta["texts"][0]
    with_prompt = requests.post(s.url + "/tokenize", json={"inputs": text, "prompt_name": "query"}).json()[0]
    plain = requests.post(s.url + "/tokenize", json={"inputs": "query: " + text, "prompt_name": None}).json()[0]
    if meta["default_prompt_name"] is None:
        assert with_prompt == plain  # offsets into "query: " + text, as TEI gives them
    hidden = requests.post(s.url + "/embed_all", json={"inputs": text, "prompt_name": "query"}).json()[0]
    assert len(hidden) == len(with_prompt)


def test_similarity_matches_sentence_transformers(prompted):
    s, meta, ref = prompted
    sim = meta["similarity"]
    body = {
        "inputs": {"source_sentence": sim["source_sentence"], "sentences": sim["sentences"]},
        "parameters": {"prompt_name": sim["prompt_name"]},
    }
    r = requests.post(s.url + "/similarity", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json(), ref["similarity_passage"], atol=1e-5)


def test_grpc_takes_a_prompt():
    """KServe v2 gRPC (tritonclient): the request parameter "prompt_name"."""
    import tritonclient.grpc as grpcclient

    from conftest import free_port

    meta, ref = load("tiny-bert-prompts")
    s = Server("--http-threads", "1", "--grpc-port", str(free_port()), model=SOURCE_DIR / meta["model_dir"])
    try:
        c = grpcclient.InferenceServerClient(url=f"{s.listening['address']}:{s.listening['grpc_port']}")
        name = requests.get(s.url + "/v1/models").json()["data"][0]["id"]
        texts = meta["texts"]
        inp = grpcclient.InferInput("text", [len(texts)], "BYTES")
        inp.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=object))
        res = c.infer(name, [inp], parameters={"prompt_name": "passage"})
        assert_parity(res.as_numpy("embedding"), ref["passage"], "grpc")
    finally:
        assert s.terminate() == 0


@pytest.mark.parametrize("name", FIXTURES)
def test_cli_prompt_name_and_prompt(name):
    meta, ref = load(name)
    model = str(SOURCE_DIR / meta["model_dir"])

    def embed(*flags):
        out = subprocess.run(
            [ember_bin(), "embed", "--model", model, "--no-normalize", *flags, *meta["texts"]],
            check=True, capture_output=True, text=True,
        ).stdout
        return json.loads(out)["embeddings"]

    assert_parity(embed("--prompt-name", "passage"), ref["passage"], "cli passage")
    assert_parity(embed("--prompt", "query: "), ref["query"], "cli prompt text")
    assert_parity(embed(), ref["default"], "cli default")
    bad = subprocess.run([ember_bin(), "embed", "--model", model, "--prompt-name", "nope", "x"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "query" in bad.stderr


def test_server_default_prompt_flags():
    """TEI's --default-prompt-name / --default-prompt: the prompt of requests that name none."""
    meta, ref = load("tiny-bert-prompts")
    model = SOURCE_DIR / meta["model_dir"]
    texts = meta["texts"]
    for flags, key in [(["--default-prompt-name", "passage"], "passage"), (["--default-prompt", ""], "none")]:
        s = Server("--http-threads", "1", *flags, model=model)
        try:
            r = requests.post(s.url + "/embed", json={"inputs": texts, "normalize": False})
            assert_parity(r.json(), ref[key], flags)
            r = requests.post(s.url + "/embed", json={"inputs": texts, "prompt_name": "query", "normalize": False})
            assert_parity(r.json(), ref["query"], flags)  # a named prompt still wins
        finally:
            assert s.terminate() == 0
    with pytest.raises(RuntimeError, match="passage, query"):
        Server("--default-prompt-name", "nope", model=model)
