"""KServe v2 / Triton HTTP/REST against a real server with the real tritonclient[http], curl
and raw requests: metadata, readiness, JSON and binary tensor data (inputs and outputs), the
embeddings equal to the Hugging Face reference and to /embed's, and errors with the right
status while the server keeps serving."""
import json
import struct
import subprocess

import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import MODEL, cosine

DIM = 384


def client(server):
    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))


def text_input(texts, binary):
    inp = httpclient.InferInput("text", [len(texts)], "BYTES")
    inp.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
    return inp


def embed(server, texts):
    r = requests.post(server.url + "/embed", json={"inputs": texts, "truncate": True})
    assert r.status_code == 200, r.text
    return np.asarray(r.json(), dtype=np.float32)


def bytes_tensor(texts):
    return b"".join(struct.pack("<I", len(t)) + t for t in (t.encode() for t in texts))


def test_server_and_model_metadata(kserve_server):
    c = client(kserve_server)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready(MODEL) and c.is_model_ready(MODEL, "1")
    assert not c.is_model_ready("no-such-model") and not c.is_model_ready(MODEL, "2")
    meta = c.get_server_metadata()
    assert meta["name"] == "ember" and "binary_tensor_data" in meta["extensions"]
    m = c.get_model_metadata(MODEL)
    assert m["name"] == MODEL and m["versions"] == ["1"]
    assert m["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert m["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, DIM]}]
    assert c.get_model_metadata(MODEL, "1") == m
    # Health needs no body; curl sees the plain statuses.
    for path, code in [("/v2/health/live", 200), ("/v2/health/ready", 200), ("/v2/models/x/ready", 404)]:
        assert requests.get(kserve_server.url + path).status_code == code


@pytest.mark.parametrize("binary", [False, True])
def test_infer_matches_reference_and_embed(kserve_server, reference, binary):
    texts, pooled = reference
    c = client(kserve_server)
    out = httpclient.InferRequestedOutput("embedding", binary_data=binary)
    res = c.infer(MODEL, [text_input(texts, binary)], outputs=[out], request_id="req-7",
                  parameters={"truncate": True})
    body = res.get_response()
    assert body["id"] == "req-7" and body["model_name"] == MODEL and body["model_version"] == "1"
    (o,) = body["outputs"]
    assert o["name"] == "embedding" and o["datatype"] == "FP32" and o["shape"] == [len(texts), DIM]
    assert ("binary_data_size" in o.get("parameters", {})) == binary
    got = res.as_numpy("embedding")
    assert got.dtype == np.float32 and got.shape == (len(texts), DIM)
    for i in range(len(texts)):
        assert cosine(got[i], pooled[i]) >= 0.99999, texts[i]
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # /embed refuses the empty text (TEI's 400); KServe embeds it (its special tokens alone).
    keep = [i for i, t in enumerate(texts) if t]
    np.testing.assert_array_equal(got[keep], embed(kserve_server, [texts[i] for i in keep]))


def test_infer_without_outputs_is_all_binary_and_parameters_apply(kserve_server, reference):
    texts, pooled = reference
    texts = [texts[0], texts[2], texts[3]]  # not the empty one: /embed refuses it (TEI's 400)
    c = client(kserve_server)
    res = c.infer(MODEL, [text_input(texts, True)], parameters={"normalize": False, "dimensions": 64})
    assert res.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 3 * 64 * 4
    got = res.as_numpy("embedding")
    assert got.shape == (3, 64)
    assert abs(np.linalg.norm(got[0]) - 1.0) > 1e-3  # not normalized, as asked
    raw = requests.post(kserve_server.url + "/embed",
                        json={"inputs": texts, "normalize": False, "dimensions": 64}).json()
    np.testing.assert_array_equal(got, np.asarray(raw, dtype=np.float32))


def test_versioned_infer_and_nested_shape(kserve_server, reference):
    texts, pooled = reference
    body = {"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [[texts[3]], [texts[4]]]}]}
    r = requests.post(f"{kserve_server.url}/v2/models/{MODEL}/versions/1/infer", json=body)
    assert r.status_code == 200, r.text
    data = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(2, DIM)
    assert cosine(data[0], pooled[3]) >= 0.99999 and cosine(data[1], pooled[4]) >= 0.99999


def test_curl_raw_binary_request(kserve_server, reference, tmp_path):
    texts, pooled = reference
    raw = bytes_tensor(texts[:2])
    header = json.dumps({
        "id": "curl-1",
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": "embedding", "parameters": {"binary_data": True}}],
    }).encode()
    (tmp_path / "body").write_bytes(header + raw)
    out = subprocess.run(
        ["curl", "-sS", "-i", f"{kserve_server.url}/v2/models/{MODEL}/infer",
         "-H", "Content-Type: application/octet-stream",
         "-H", f"Inference-Header-Content-Length: {len(header)}",
         "--data-binary", f"@{tmp_path / 'body'}"],
        check=True, capture_output=True,
    ).stdout
    head, body = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in head.decode().splitlines()[1:])}
    n = int(headers["inference-header-content-length"])
    meta = json.loads(body[:n])
    assert meta["id"] == "curl-1"
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 2 * DIM * 4 == len(body) - n
    got = np.frombuffer(body[n:], dtype="<f4").reshape(2, DIM)
    assert cosine(got[0], pooled[0]) >= 0.99999 and cosine(got[1], pooled[1]) >= 0.99999


def post_infer(server, body, headers=None, model=MODEL):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.url}/v2/models/{model}/infer", data=data, headers=headers or {})


def ok_body(texts=("hello",)):
    return {"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": list(texts)}]}


def test_errors_have_the_right_status_and_the_server_keeps_serving(kserve_server):
    s = kserve_server
    c = client(s)
    with pytest.raises(InferenceServerException) as e:
        c.infer("no-such-model", [text_input(["a"], False)])
    assert e.value.status() == "404"
    with pytest.raises(InferenceServerException):
        c.get_model_metadata("no-such-model")
    fp32 = httpclient.InferInput("text", [2], "FP32")
    fp32.set_data_from_numpy(np.ones(2, dtype=np.float32), binary_data=False)
    with pytest.raises(InferenceServerException) as e:
        c.infer(MODEL, [fp32])
    assert e.value.status() == "400" and "BYTES" in e.value.message()

    two_inputs = ok_body()
    two_inputs["inputs"].append(dict(two_inputs["inputs"][0], name="text2"))
    cases = [
        (ok_body(), {}, "no-such-model", 404),
        ('{"inputs": [', {}, MODEL, 400),  # malformed JSON
        ({"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["a", "b"]}]}, {}, MODEL, 400),
        ({"inputs": [{"name": "text", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]}, {}, MODEL, 400),
        ({"inputs": [{"name": "sentence", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, {}, MODEL, 400),
        (two_inputs, {}, MODEL, 400),
        (dict(ok_body(), outputs=[{"name": "logits"}]), {}, MODEL, 400),
        (ok_body(["x"] * 513), {}, MODEL, 413),  # over --max-inputs-per-request (512)
        (dict(ok_body(), parameters={"dimensions": 9999}), {}, MODEL, 422),
    ]
    raw = bytes_tensor(["hello", "world"])
    header = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}]})
    cases += [
        (header.encode() + raw, {"Inference-Header-Content-Length": str(len(header) + len(raw) + 1)}, MODEL, 400),
        (header.encode() + raw, {"Inference-Header-Content-Length": "12x"}, MODEL, 400),
        (header.encode() + raw[:-1], {"Inference-Header-Content-Length": str(len(header))}, MODEL, 400),
        (header.encode() + raw + b"!", {"Inference-Header-Content-Length": str(len(header))}, MODEL, 400),
        (header.encode() + struct.pack("<I", 999) + raw[4:], {"Inference-Header-Content-Length": str(len(header))},
         MODEL, 400),
        (header.encode() + raw, {}, MODEL, 400),  # binary bytes but no header length: bad JSON
    ]
    for body, headers, model, status in cases:
        r = post_infer(s, body, headers, model)
        assert r.status_code == status, (body if len(str(body)) < 300 else "...", r.text)
        assert isinstance(r.json()["error"], str) and r.json()["error"]
    # Still serving, and the binary request itself is fine with the right length.
    r = post_infer(s, header.encode() + raw, {"Inference-Header-Content-Length": str(len(header))})
    assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [2, DIM]
    assert c.is_server_ready()


def test_metrics_count_kserve_routes(kserve_server):
    post_infer(kserve_server, ok_body())
    text = kserve_server.metrics()
    assert f'ember_http_requests_total{{route="/v2/models/{MODEL}/infer",status="200"}}' in text


def test_classifier_logits_and_probabilities(seqcls_server, seqcls_reference):
    """A sequence classifier served by path: its KServe name is the directory's name, and its
    outputs are the reference logits and their softmax."""
    inputs, ref = seqcls_reference
    idx = [0, 2, 3, 4, 5]
    texts = [inputs["texts"][i] for i in idx]
    name = "tiny-bert-seqcls"
    c = client(seqcls_server)
    m = c.get_model_metadata(name)
    assert m["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 3]},
                            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    res = c.infer(name, [text_input(texts, True)])
    logits, probs = res.as_numpy("logits"), res.as_numpy("probabilities")
    np.testing.assert_allclose(logits, ref["logits"][idx], atol=1e-4)
    for i in range(len(idx)):
        e = np.exp(ref["logits"][idx[i]] - ref["logits"][idx[i]].max())
        np.testing.assert_allclose(probs[i], e / e.sum(), atol=1e-5)
    only = c.infer(name, [text_input(texts, False)],
                   outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=False)])
    assert [o["name"] for o in only.get_response()["outputs"]] == ["probabilities"]
    np.testing.assert_array_equal(only.as_numpy("probabilities"), probs)
    assert post_infer(seqcls_server, dict(ok_body(), outputs=[{"name": "embedding"}]), model=name).status_code == 400
