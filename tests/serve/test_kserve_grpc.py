"""KServe v2 gRPC (inference.GRPCInferenceService) against a real server with the real
tritonclient[grpc], plus raw ModelInferRequest messages built with tritonclient's own
generated protobuf classes (the published grpc_service.proto: wire compatibility), for the
bytes_contents path and malformed requests. Errors map to gRPC codes and the server keeps
serving."""
import struct
import subprocess

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from conftest import MODEL, cosine

DIM = 384


def client(server):
    return grpcclient.InferenceServerClient(url=server.grpc_url)


def stub(server):
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_url))


def text_input(texts, datatype="BYTES"):
    inp = grpcclient.InferInput("text", [len(texts)], datatype)
    inp.set_data_from_numpy(np.array(texts, dtype=object) if datatype == "BYTES" else np.ones(len(texts), np.float32))
    return inp


def test_health_and_metadata(kserve_server):
    c = client(kserve_server)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready(MODEL) and c.is_model_ready(MODEL, "1")
    assert not c.is_model_ready("no-such-model")
    meta = c.get_server_metadata()
    assert meta.name == "ember" and "binary_tensor_data" in meta.extensions
    m = c.get_model_metadata(MODEL)
    assert m.name == MODEL and list(m.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in m.inputs] == [("text", "BYTES", [-1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in m.outputs] == [("embedding", "FP32", [-1, DIM])]
    with pytest.raises(InferenceServerException) as e:
        c.get_model_metadata("no-such-model")
    assert e.value.status() == "StatusCode.NOT_FOUND"


def test_infer_matches_reference_and_http(kserve_server, reference):
    texts, pooled = reference
    c = client(kserve_server)
    res = c.infer(MODEL, [text_input(texts)], outputs=[grpcclient.InferRequestedOutput("embedding")],
                  request_id="g-1", parameters={"truncate": True})
    assert res.get_response().id == "g-1" and res.get_response().model_name == MODEL
    got = res.as_numpy("embedding")
    assert got.dtype == np.float32 and got.shape == (len(texts), DIM)
    for i in range(len(texts)):
        assert cosine(got[i], pooled[i]) >= 0.99999, texts[i]
    # /embed refuses the empty text (TEI's 400); KServe embeds it (its special tokens alone).
    keep = [i for i, t in enumerate(texts) if t]
    http = requests.post(kserve_server.url + "/embed",
                         json={"inputs": [texts[i] for i in keep], "truncate": True}).json()
    np.testing.assert_array_equal(got[keep], np.asarray(http, dtype=np.float32))


def test_bytes_contents_and_int_parameters(kserve_server, reference):
    texts, pooled = reference
    req = service_pb2.ModelInferRequest(model_name=MODEL, id="bc")
    t = req.inputs.add(name="text", datatype="BYTES", shape=[2, 1])
    t.contents.bytes_contents.extend([texts[3].encode(), texts[4].encode()])
    req.parameters["dimensions"].int64_param = 128
    res = stub(kserve_server).ModelInfer(req)
    assert res.id == "bc" and len(res.raw_output_contents) == 1
    assert list(res.outputs[0].shape) == [2, 128]
    got = np.frombuffer(res.raw_output_contents[0], dtype="<f4").reshape(2, 128)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cosine(got[0], pooled[3][:128]) >= 0.99999


def raw_request(texts_bytes, shape, **kw):
    req = service_pb2.ModelInferRequest(model_name=kw.pop("model", MODEL))
    req.inputs.add(name=kw.pop("name", "text"), datatype=kw.pop("datatype", "BYTES"), shape=shape)
    req.raw_input_contents.append(texts_bytes)
    return req


def packed(*items):
    return b"".join(struct.pack("<I", len(t)) + t for t in items)


def test_errors_map_to_grpc_codes_and_the_server_keeps_serving(kserve_server):
    c = client(kserve_server)
    with pytest.raises(InferenceServerException) as e:
        c.infer("no-such-model", [text_input(["a"])])
    assert e.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as e:
        c.infer(MODEL, [text_input(["a", "b"], "FP32")])
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT" and "BYTES" in e.value.message()
    with pytest.raises(InferenceServerException) as e:
        c.infer(MODEL, [text_input(["x"] * 513)])  # over --max-inputs-per-request
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"

    s = stub(kserve_server)
    two = raw_request(packed(b"a"), [1])
    two.inputs.add(name="text2", datatype="BYTES", shape=[1])
    two.raw_input_contents.append(packed(b"b"))
    cases = [
        (raw_request(packed(b"a", b"b"), [3]), grpc.StatusCode.INVALID_ARGUMENT),  # shape mismatch
        (raw_request(packed(b"a") + b"\x01", [1]), grpc.StatusCode.INVALID_ARGUMENT),  # cut length
        (raw_request(struct.pack("<I", 99) + b"abc", [1]), grpc.StatusCode.INVALID_ARGUMENT),
        (raw_request(packed(b"a"), [1], name="sentence"), grpc.StatusCode.INVALID_ARGUMENT),
        (raw_request(packed(b"a"), [-1]), grpc.StatusCode.INVALID_ARGUMENT),
        (raw_request(packed(b"a"), [1], model="nope"), grpc.StatusCode.NOT_FOUND),
        (two, grpc.StatusCode.INVALID_ARGUMENT),
    ]
    no_raw = service_pb2.ModelInferRequest(model_name=MODEL)
    no_raw.inputs.add(name="text", datatype="BYTES", shape=[1])
    no_raw.raw_input_contents.extend([packed(b"a"), packed(b"b")])  # two contents, one input
    cases.append((no_raw, grpc.StatusCode.INVALID_ARGUMENT))
    for req, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            s.ModelInfer(req)
        assert e.value.code() == code, (req, e.value.details())
        assert e.value.details()
    ok = s.ModelInfer(raw_request(packed(b"hello", b"world"), [2]))
    assert list(ok.outputs[0].shape) == [2, DIM]
    assert c.is_server_live()


def test_metrics_count_grpc_methods(kserve_server):
    c = client(kserve_server)
    c.infer(MODEL, [text_input(["metrics"])])
    with pytest.raises(InferenceServerException):
        c.infer("no-such-model", [text_input(["metrics"])])
    text = kserve_server.metrics()
    assert 'ember_http_requests_total{route="/inference.GRPCInferenceService/ModelInfer",status="200"}' in text
    assert 'route="/inference.GRPCInferenceService/ModelInfer",status="404"' in text


def test_api_key_on_grpc():
    from conftest import Server, free_port

    s = Server("--api-key", "sekrit", "--grpc-port", str(free_port()))
    try:
        url = f"{s.listening['address']}:{s.listening['grpc_port']}"
        c = grpcclient.InferenceServerClient(url=url)
        assert c.is_server_live() and c.is_server_ready()  # health needs no key
        with pytest.raises(InferenceServerException) as e:
            c.get_model_metadata(MODEL)
        assert e.value.status() == "StatusCode.UNAUTHENTICATED"
        with pytest.raises(InferenceServerException) as e:
            c.infer(MODEL, [text_input(["a"])], headers={"authorization": "Bearer wrong"})
        assert e.value.status() == "StatusCode.UNAUTHENTICATED"
        res = c.infer(MODEL, [text_input(["a"])], headers={"authorization": "Bearer sekrit"})
        assert res.as_numpy("embedding").shape == (1, DIM)
    finally:
        assert s.terminate() == 0


def test_drain_answers_unavailable_while_http_finishes(reference):
    """SIGTERM while an HTTP request computes: gRPC answers UNAVAILABLE (ServerReady false)
    during the drain, the HTTP request still gets its 200, and the process exits 0."""
    import signal
    import threading

    from conftest import Server, free_port, metric_value

    texts, _ = reference
    long_text = " ".join(texts) * 4  # cut to 256 tokens: 16 of them keep one thread busy
    s = Server("--threads", "1", "--cache-entries", "0", "--grpc-port", str(free_port()))
    url = f"{s.listening['address']}:{s.listening['grpc_port']}"
    c = grpcclient.InferenceServerClient(url=url)
    assert c.is_server_ready()
    result = {}

    def slow():
        result["r"] = requests.post(s.url + "/embed", json={"inputs": [long_text] * 16, "truncate": True})

    t = threading.Thread(target=slow)
    t.start()
    while metric_value(s.metrics(), "ember_batcher_pending_requests") < 1:
        pass
    s.proc.send_signal(signal.SIGTERM)
    # The HTTP drain waits for the request above; meanwhile gRPC refuses new work.
    while True:
        try:
            ready = c.is_server_ready()
        except InferenceServerException as e:  # gRPC already shut down: the drain is over
            assert e.status() == "StatusCode.UNAVAILABLE"
            break
        if not ready:
            with pytest.raises(InferenceServerException) as e:
                c.infer(MODEL, [text_input(["late"])])
            assert e.value.status() == "StatusCode.UNAVAILABLE"
            break
    t.join()
    assert result["r"].status_code == 200 and len(result["r"].json()) == 16
    assert s.proc.wait(timeout=120) == 0


def test_proto_matches_the_published_grpc_service(tmp_path):
    """Ember's proto/grpc_service.proto (written for Ember) against the published one that
    tritonclient ships compiled: every message, field name, number, type and label Ember
    declares is the same, and so are the service's methods."""
    from google.protobuf import descriptor_pb2

    from conftest import SOURCE_DIR

    out = tmp_path / "set.pb"
    subprocess.run(["protoc", f"--proto_path={SOURCE_DIR / 'src/serve/proto'}",
                    f"--descriptor_set_out={out}", "grpc_service.proto"], check=True)
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (ours,) = fds.file
    theirs = descriptor_pb2.FileDescriptorProto()
    service_pb2.DESCRIPTOR.CopyToProto(theirs)
    assert ours.package == theirs.package == "inference"

    def fields(msg):
        return {f.name: (f.number, f.type, f.label, f.type_name.split(".")[-1]) for f in msg.field}

    def compare(mine, published, path):
        pub = {m.name: m for m in published}
        for m in mine:
            assert m.name in pub, path + m.name
            assert fields(m) == fields(pub[m.name]), path + m.name
            compare(m.nested_type, pub[m.name].nested_type, path + m.name + ".")

    compare(ours.message_type, theirs.message_type, "")
    assert len(ours.message_type) >= 14
    (svc,) = ours.service
    pub_svc = {s.name: s for s in theirs.service}["GRPCInferenceService"]
    pub_methods = {m.name: (m.input_type, m.output_type) for m in pub_svc.method}
    assert {m.name for m in svc.method} == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
                                            "ModelMetadata", "ModelInfer", "RepositoryIndex",
                                            "RepositoryModelLoad", "RepositoryModelUnload"}
    for m in svc.method:
        assert (m.input_type, m.output_type) == pub_methods[m.name]


def test_full_queue_is_resource_exhausted_on_grpc_and_429_on_http(reference):
    """--max-queue 1: while one request computes and one waits, a gRPC ModelInfer gets
    RESOURCE_EXHAUSTED (an HTTP /embed 429 at the same moment), counted as status 429 under the
    gRPC route; once the queue drains the same RPC succeeds."""
    import threading

    from conftest import Server, free_port, metric_value

    texts, _ = reference
    long_text = " ".join(texts) * 4  # cut to 256 tokens: 16 of them keep one thread busy
    s = Server("--threads", "1", "--cache-entries", "0", "--max-queue", "1", "--grpc-port", str(free_port()))
    try:
        c = grpcclient.InferenceServerClient(url=f"{s.listening['address']}:{s.listening['grpc_port']}")
        results = []

        def slow(i):
            r = requests.post(s.url + "/embed", json={"inputs": [f"{i} {long_text}"] * 16, "truncate": True})
            results.append(r.status_code)

        exhausted = None
        for attempt in range(3):  # the slow requests finishing first would leave room: retry
            busy = threading.Thread(target=slow, args=(2 * attempt,))
            busy.start()
            while metric_value(s.metrics(), "ember_batcher_pending_requests") < 1:
                pass  # computing
            waiting = threading.Thread(target=slow, args=(2 * attempt + 1,))
            waiting.start()
            while metric_value(s.metrics(), "ember_queue_depth") < 1:
                pass  # queued behind it: the queue is full
            try:
                c.infer(MODEL, [text_input(["one more"])])
            except InferenceServerException as e:
                exhausted = e
                http = requests.post(s.url + "/embed", json={"inputs": "one more"})
            busy.join()
            waiting.join()
            if exhausted:
                break
        assert exhausted is not None, "the queue never refused a request"
        assert exhausted.status() == "StatusCode.RESOURCE_EXHAUSTED"
        assert "queue is full" in exhausted.message()
        assert http.status_code == 429 and http.json()["error_type"] == "Overloaded"
        assert all(code == 200 for code in results), results
        text = s.metrics()
        route = 'ember_http_requests_total{route="/inference.GRPCInferenceService/ModelInfer",status="429"}'
        assert metric_value(text, route) == 1
        res = c.infer(MODEL, [text_input(["one more"])])  # room again
        assert res.as_numpy("embedding").shape == (1, DIM)
    finally:
        assert s.terminate() == 0
