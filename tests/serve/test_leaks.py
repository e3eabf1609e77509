"""What a client must not learn: the model's filesystem path (clients see its name), which
routes and model names exist when it has no API key (401 before any lookup), whether anyone
sent the same text before (x-cache is opt-in), and the API key from `ps` (--api-key-file and
$EMBER_API_KEY keep it off the command line)."""
import os
import subprocess

import openai
import pytest
import requests
import tritonclient.http as httpclient

from conftest import MODEL, SEQCLS_DIR, Server, ember_bin


def answers(url, headers=None):
    """Bodies and headers of every route that names the model."""
    h = headers or {}
    out = [
        requests.get(url + "/info", headers=h),
        requests.get(url + "/v1/models", headers=h),
        requests.post(url + "/v1/embeddings", json={"input": "a", "model": "x"}, headers=h),
        requests.get(url + "/v2/models/no-such-model", headers=h),  # the 404's message
        requests.post(url + "/embed", json={"inputs": 5}, headers=h),  # an error's message
    ]
    return [(r.status_code, r.text, str(r.headers)) for r in out]


def test_the_model_path_never_reaches_clients():
    """Served by its path: clients see the directory's name only, in every answer."""
    path = str(SEQCLS_DIR)
    s = Server("--http-threads", "2", model=SEQCLS_DIR)
    try:
        assert requests.get(s.url + "/info").json()["model_id"] == "tiny-bert-seqcls"
        assert requests.get(s.url + "/v1/models").json()["data"][0]["id"] == "tiny-bert-seqcls"
        client = openai.OpenAI(base_url=s.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as e:  # a classifier: TEI's 424
            client.embeddings.create(model="tiny-bert-seqcls", input="a")
        assert e.value.status_code == 424 and path not in str(e.value.body)
        c = httpclient.InferenceServerClient(s.url.removeprefix("http://"))
        assert c.get_model_metadata("tiny-bert-seqcls")["name"] == "tiny-bert-seqcls"
        text = httpclient.InferInput("text", [1], "BYTES")
        import numpy as np

        text.set_data_from_numpy(np.array([b"a"], dtype=object), binary_data=False)
        assert c.infer("tiny-bert-seqcls", [text]).get_response()["model_name"] == "tiny-bert-seqcls"
        for status, body, headers in answers(s.url):
            assert status < 500
            assert path not in body and str(SEQCLS_DIR.parent) not in body, body
            assert str(SEQCLS_DIR.parent) not in headers, headers
    finally:
        assert s.terminate() == 0


def test_served_model_name():
    s = Server("--served-model-name", "prod-embedder")
    try:
        assert requests.get(s.url + "/info").json()["model_id"] == "prod-embedder"
        assert requests.get(s.url + "/v1/models").json()["data"][0]["id"] == "prod-embedder"
        client = openai.OpenAI(base_url=s.url + "/v1", api_key="unused", max_retries=0)
        assert client.embeddings.create(model="prod-embedder", input="a").model == "prod-embedder"
        assert requests.get(s.url + "/v2/models/prod-embedder/ready").status_code == 200
        assert requests.get(f"{s.url}/v2/models/{MODEL}/ready").status_code == 404
    finally:
        assert s.terminate() == 0


def test_unauthenticated_requests_learn_nothing_of_routes_or_models():
    """With an API key, every guarded or unknown route answers a request without the key with
    the same 401: an existing model's routes cannot be told from a missing model's."""
    s = Server("--api-key", "s3cret")
    try:
        probes = [
            ("POST", f"/v2/models/{MODEL}/infer"),
            ("POST", "/v2/models/no-such-model/infer"),
            ("GET", f"/v2/models/{MODEL}"),
            ("GET", "/v2/models/no-such-model"),
            ("GET", f"/v2/models/{MODEL}/versions/1/ready"),
            ("GET", f"/v2/models/{MODEL}/versions/2/ready"),
            ("GET", "/no/such/route"),
            ("PUT", "/embed"),  # a method the route does not have: 405 only with the key
            ("POST", "/v1/embeddings"),
        ]
        bodies = set()
        for method, path in probes:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                r = requests.request(method, s.url + path, headers=headers, json={})
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                if not path.startswith("/v1/"):  # OpenAI's error shape differs, not its content
                    bodies.add(r.text)
        assert len(bodies) == 1, bodies
        good = {"Authorization": "Bearer s3cret"}
        assert requests.get(f"{s.url}/v2/models/{MODEL}", headers=good).status_code == 200
        assert requests.get(s.url + "/v2/models/no-such-model", headers=good).status_code == 404
        assert requests.put(s.url + "/embed", headers=good).status_code == 405
        for path in ("/health", "/v2/health/live", "/v2/health/ready"):  # public: no key needed
            assert requests.get(s.url + path).status_code == 200
        assert requests.post(s.url + "/health").status_code == 401  # only GET /health is public
    finally:
        assert s.terminate() == 0


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def check_key(s, key):
    assert key not in cmdline(s.proc.pid)
    assert requests.post(s.url + "/embed", json={"inputs": "a"}).status_code == 401
    ok = requests.post(s.url + "/embed", json={"inputs": "a"}, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200


def test_api_key_from_a_file_stays_off_the_command_line(tmp_path):
    key = "file-key-7f3a9"
    path = tmp_path / "key"
    path.write_text(key + "\n")  # as `echo` writes it: the newline is not part of the key
    s = Server("--api-key-file", str(path))
    try:
        check_key(s, key)
    finally:
        assert s.terminate() == 0


def test_api_key_from_the_environment_stays_off_the_command_line():
    key = "env-key-51c2e"
    s = Server(env={**os.environ, "EMBER_API_KEY": key})
    try:
        check_key(s, key)
    finally:
        assert s.terminate() == 0


@pytest.mark.parametrize(
    "args,env,code,message",
    [
        (["--api-key", "a", "--api-key-file", "/dev/null"], {}, 108, "excludes"),  # CLI11's own
        (["--api-key-file", "/nonexistent/key"], {}, 3, "cannot be read"),
        (["--api-key-file", "/dev/null"], {}, 2, "is empty"),
        ([], {"EMBER_API_KEY": " "}, 2, "EMBER_API_KEY is set but empty"),
    ],
)
def test_bad_key_sources_are_refused_before_serving(args, env, code, message):
    r = subprocess.run(
        [ember_bin(), "serve", "--port", "0", "--grpc-port", "0", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == code, r.stderr
    assert message in r.stderr
    assert '"listening"' not in r.stdout


def test_x_cache_is_off_by_default(server):
    body = {"inputs": "x-cache default sentence"}
    for _ in range(2):
        r = requests.post(server.url + "/embed", json=body)
        assert r.status_code == 200 and "x-cache" not in r.headers
