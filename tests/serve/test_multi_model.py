"""Several models in one `ember serve`: an embedder (all-MiniLM-L6-v2), a three-label classifier
(tiny-bert-seqcls) and a one-label cross-encoder (tiny-bert-reranker) at once, reached through
every API by name with real clients (openai, tritonclient HTTP and gRPC, requests), each answer
equal to the same model's answer from its own single-model server. Then a memory budget that
holds two of three models (evictions, every answer right, only 503 with Retry-After), a pinned
model never unloaded, unknown models refused per API, and repository control off by default."""
import re
import time

import numpy as np
import openai
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import MODEL, SOURCE_DIR, Server, free_port

FIXTURES = SOURCE_DIR / "tests/fixtures/models"
SEQCLS = FIXTURES / "tiny-bert-seqcls"
RERANKER = FIXTURES / "tiny-bert-reranker"
TEXTS = ["A man is playing a guitar.", "The weather is lovely today.", "Multi-model serving works."]
PAIRS = [["How old are you?", "I am 30 years old."], ["Where is Paris?", "Paris is in France."]]


def start(*args, model=MODEL):
    """A server with gRPC on a free port (retried if taken meanwhile), no result cache."""
    for attempt in range(5):
        try:
            s = Server("--http-threads", "2", "--cache-entries", "0", "--grpc-port", str(free_port()),
                       *args, model=model)
            s.grpc_url = f"{s.listening['address']}:{s.listening['grpc_port']}"
            return s
        except RuntimeError:
            if attempt == 4:
                raise


@pytest.fixture(scope="module")
def singles():
    servers = {"embed": start(), "cls": start(model=SEQCLS), "rerank": start(model=RERANKER)}
    yield servers
    for s in servers.values():
        assert s.terminate() == 0


@pytest.fixture(scope="module")
def multi():
    s = start("--model", f"cls={SEQCLS}", "--model", f"rerank={RERANKER}")
    yield s
    assert s.terminate() == 0


def post(server, path, body, **kw):
    return requests.post(server.url + path, json=body, timeout=60, **kw)


def metric(text, name, model):
    m = re.search(rf'^{name}{{model="{re.escape(model)}"}} (\S+)$', text, re.M)
    assert m, f"no {name} for {model}"
    return float(m.group(1))


def test_listening_line_and_models_list(multi):
    assert multi.listening["models"] == [MODEL, "cls", "rerank"]
    data = requests.get(multi.url + "/v1/models").json()["data"]
    assert [d["id"] for d in data] == [MODEL, "cls", "rerank"]
    states = {d["id"]: d["state"] for d in data}
    assert states[MODEL] == "loaded"  # the first model is loaded at start
    index = requests.post(multi.url + "/v2/repository/index").json()
    assert [m["name"] for m in index] == [MODEL, "cls", "rerank"]
    triton = httpclient.InferenceServerClient(url=multi.url[len("http://"):])
    assert [m["name"] for m in triton.get_model_repository_index()] == [MODEL, "cls", "rerank"]
    assert "model_repository" in triton.get_server_metadata()["extensions"]
    assert all(m["state"] in ("READY", "UNAVAILABLE") for m in index)
    assert {m["name"]: m["state"] for m in index}[MODEL] == "READY"


def test_openai_sdk_routes_by_model(multi, singles):
    many = openai.OpenAI(base_url=multi.url + "/v1", api_key="unused")
    one = openai.OpenAI(base_url=singles["embed"].url + "/v1", api_key="unused")
    got = many.embeddings.create(model=MODEL, input=TEXTS)
    want = one.embeddings.create(model=MODEL, input=TEXTS)
    assert got.model == MODEL
    np.testing.assert_array_equal([d.embedding for d in got.data], [d.embedding for d in want.data])
    with pytest.raises(openai.NotFoundError) as e:
        many.embeddings.create(model="no-such-model", input=TEXTS)
    assert e.value.body["code"] == "model_not_found"
    # The raw envelope, as OpenAI nests it.
    r = post(multi, "/v1/embeddings", {"model": "no-such-model", "input": "x"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_tei_routes_by_body_field_and_header(multi, singles):
    # Default model: no name at all.
    got = post(multi, "/embed", {"inputs": TEXTS})
    assert got.status_code == 200, got.text
    assert got.json() == post(singles["embed"], "/embed", {"inputs": TEXTS}).json()
    # The body's "model" field.
    got = post(multi, "/predict", {"model": "cls", "inputs": PAIRS, "raw_scores": True})
    assert got.status_code == 200, got.text
    assert got.json() == post(singles["cls"], "/predict", {"inputs": PAIRS, "raw_scores": True}).json()
    # The X-Ember-Model header.
    body = {"query": "What is Ember?", "texts": TEXTS}
    got = post(multi, "/rerank", body, headers={"X-Ember-Model": "rerank"})
    assert got.status_code == 200, got.text
    assert got.json() == post(singles["rerank"], "/rerank", body).json()
    # POST / is the named model's own task.
    got = post(multi, "/", {"inputs": PAIRS[0]}, headers={"X-Ember-Model": "cls"})
    assert got.json() == post(singles["cls"], "/", {"inputs": PAIRS[0]}).json()
    # /info describes the default model, or the one named.
    assert requests.get(multi.url + "/info").json()["model_id"] == MODEL
    info = requests.get(multi.url + "/info?model=cls").json()
    assert info["model_id"] == "cls" and "classifier" in info["model_type"]
    assert requests.get(multi.url + "/info", headers={"X-Ember-Model": "rerank"}).json()["model_id"] == "rerank"
    # Unknown names: 404 in TEI's shape.
    r = post(multi, "/embed", {"inputs": "x"}, headers={"X-Ember-Model": "nope"})
    assert r.status_code == 404 and r.json()["error_type"] == "model_not_found"
    assert requests.get(multi.url + "/info?model=nope").status_code == 404


def triton_inputs(module, texts):
    inp = module.InferInput("text", [len(texts)], "BYTES")
    inp.set_data_from_numpy(np.array(texts, dtype=object))
    return [inp]


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
def test_kserve_routes_by_model_name(multi, singles, module):
    def client(server):
        url = server.grpc_url if module is grpcclient else server.url[len("http://"):]
        return module.InferenceServerClient(url=url)

    c = client(multi)
    for name, single, output in [(MODEL, "embed", "embedding"), ("cls", "cls", "logits"),
                                 ("rerank", "rerank", "logits")]:
        single_name = MODEL if single == "embed" else (SEQCLS.name if single == "cls" else RERANKER.name)
        got = c.infer(name, triton_inputs(module, TEXTS)).as_numpy(output)
        want = client(singles[single]).infer(single_name, triton_inputs(module, TEXTS)).as_numpy(output)
        np.testing.assert_array_equal(got, want)
        assert c.is_model_ready(name)
    with pytest.raises(InferenceServerException) as e:
        c.infer("no-such-model", triton_inputs(module, TEXTS))
    assert ("404" in str(e.value.status())) or ("NOT_FOUND" in str(e.value.status()))
    assert not c.is_model_ready("no-such-model")


def test_per_model_metrics(multi):
    post(multi, "/predict", {"model": "cls", "inputs": "hello"})
    text = requests.get(multi.url + "/metrics").text
    for name in (MODEL, "cls", "rerank"):
        assert metric(text, "ember_model_loaded", name) == 1  # every model was used above
        assert metric(text, "ember_model_loads_total", name) == 1
        assert metric(text, "ember_model_unloads_total", name) == 0
        assert metric(text, "ember_model_resident_bytes", name) > 0
        assert metric(text, "ember_model_load_seconds", name) > 0
    assert re.search(r'^ember_http_requests_total\{route="/predict",status="200",model="cls"\} \d+$', text, re.M)
    # The histograms too, by the model that answered.
    for family in ("ember_request_duration_seconds", "ember_queue_duration_seconds", "ember_batch_size"):
        assert metric(text, family + "_count", "cls") >= 1
        assert re.search(rf'^{family}_bucket{{model="cls",le="\+Inf"}} \d+$', text, re.M)
    assert re.search(r"^te_queue_size \d+$", text, re.M)


def test_repository_control_is_off_by_default(multi):
    r = requests.post(multi.url + "/v2/repository/models/cls/unload")
    assert r.status_code == 403
    assert requests.post(multi.url + "/v2/repository/models/nope/load").status_code == 404


def costs(server):
    text = requests.get(server.url + "/metrics").text
    return {n: metric(text, "ember_model_resident_bytes", n) for n in (MODEL, "cls", "rerank")}


def answer(server, name, singles_answers, retries):
    """One request for `name`; 503 with Retry-After is retried (and counted), anything else must
    be the model's own answer."""
    for _ in range(100):
        if name == MODEL:
            r = post(server, "/embed", {"inputs": TEXTS})
        elif name == "cls":
            r = post(server, "/predict", {"model": "cls", "inputs": PAIRS, "raw_scores": True})
        else:
            r = post(server, "/rerank", {"model": "rerank", "query": "What is Ember?", "texts": TEXTS})
        if r.status_code == 503:
            assert "Retry-After" in r.headers, r.text
            retries.append(name)
            time.sleep(0.05)
            continue
        assert r.status_code == 200, r.text
        assert r.json() == singles_answers[name], name
        return
    pytest.fail(f"{name} never answered")


def test_budget_evicts_least_recently_used_and_keeps_the_pinned_one(multi, singles):
    singles_answers = {
        MODEL: post(singles["embed"], "/embed", {"inputs": TEXTS}).json(),
        "cls": post(singles["cls"], "/predict", {"inputs": PAIRS, "raw_scores": True}).json(),
        "rerank": post(singles["rerank"], "/rerank", {"query": "What is Ember?", "texts": TEXTS}).json(),
    }
    c = costs(multi)  # every model is loaded by now (test_per_model_metrics)
    # Room for the embedder and one tiny model, not for all three: the two tiny ones take turns.
    small = min(c["cls"], c["rerank"])
    budget = int(c[MODEL] + max(c["cls"], c["rerank"]) + small / 2)
    s = Server("--http-threads", "2", "--cache-entries", "0", "--memory-budget", str(budget),
               "--pin", MODEL, "--model", f"cls={SEQCLS}", "--model", f"rerank={RERANKER}")
    try:
        retries = []
        for _ in range(4):
            for name in (MODEL, "cls", "rerank"):
                answer(s, name, singles_answers, retries)
        text = requests.get(s.url + "/metrics").text
        assert metric(text, "ember_model_unloads_total", MODEL) == 0  # pinned
        assert metric(text, "ember_model_loaded", MODEL) == 1
        assert metric(text, "ember_model_unloads_total", "cls") + metric(text, "ember_model_unloads_total", "rerank") >= 6
        loaded = sum(metric(text, "ember_model_resident_bytes", n) for n in (MODEL, "cls", "rerank"))
        assert loaded <= budget
        assert not re.search(r'^ember_http_requests_total\{[^}]*status="5(?!03)\d\d"', text, re.M)
    finally:
        assert s.terminate() == 0


def test_model_that_cannot_fit_gets_507(multi):
    c = costs(multi)
    # The classifier's budget: the embedder can never fit (507 on every API, no Retry-After).
    s = start("--memory-budget", str(int(c["cls"] * 4)), "--model", MODEL, model=SEQCLS)
    try:
        r = post(s, "/embed", {"inputs": "x"}, headers={"X-Ember-Model": MODEL})
        assert r.status_code == 507 and "Retry-After" not in r.headers, r.text
        assert "budget" in r.json()["error"]
        r = post(s, "/v1/embeddings", {"model": MODEL, "input": "x"})
        assert r.status_code == 507 and r.json()["error"]["message"]
        with pytest.raises(InferenceServerException) as e:
            grpcclient.InferenceServerClient(url=s.grpc_url).infer(MODEL, triton_inputs(grpcclient, TEXTS))
        assert "RESOURCE_EXHAUSTED" in str(e.value.status())
        # The classifier, loaded, still answers.
        assert post(s, "/predict", {"inputs": "x"}).status_code == 200
    finally:
        assert s.terminate() == 0
    # Room for either model alone, but the embedder is pinned: the classifier cannot fit.
    s = start("--memory-budget", str(int(c[MODEL] * 1.05)), "--pin", MODEL, "--model", f"cls={SEQCLS}")
    try:
        r = post(s, "/predict", {"model": "cls", "inputs": "hello"})
        assert r.status_code == 507, r.text
    finally:
        assert s.terminate() == 0


def test_repository_control_with_the_flag(singles):
    s = Server("--http-threads", "2", "--allow-model-control", "--api-key", "k",
               "--model", f"cls={SEQCLS}")
    auth = {"Authorization": "Bearer k"}
    try:
        assert requests.post(s.url + "/v2/repository/models/cls/load").status_code == 401
        assert requests.post(s.url + "/v2/repository/models/cls/load", headers=auth).status_code == 200
        index = {m["name"]: m["state"] for m in requests.post(s.url + "/v2/repository/index", headers=auth).json()}
        assert index["cls"] == "READY"
        # A reload (tritonclient's load_model) swaps a new copy in; answers stay the model's.
        httpclient.InferenceServerClient(url=s.url[len("http://"):]).load_model("cls", headers=auth)
        want = post(singles["cls"], "/predict", {"inputs": PAIRS, "raw_scores": True}).json()
        got = post(s, "/predict", {"model": "cls", "inputs": PAIRS, "raw_scores": True}, headers=auth)
        assert got.json() == want
        assert requests.post(s.url + "/v2/repository/models/cls/unload", headers=auth).status_code == 200
        index = {m["name"]: m["state"] for m in requests.post(s.url + "/v2/repository/index", headers=auth).json()}
        assert index["cls"] == "UNAVAILABLE"
        text = requests.get(s.url + "/metrics", headers=auth).text
        assert metric(text, "ember_model_loads_total", "cls") == 2
        assert metric(text, "ember_model_unloads_total", "cls") == 2  # the reload's old copy, the unload
    finally:
        assert s.terminate() == 0


def test_start_errors_name_the_flag():
    import subprocess

    from conftest import ember_bin

    def run(*args):
        p = subprocess.run([ember_bin(), "serve", "--port", "0", "--grpc-port", "0", *args],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode != 0
        return p.stderr

    assert "--pin" in run("--model", str(SEQCLS), "--pin", "nope")
    assert "two models are named" in run("--model", f"a={SEQCLS}", "--model", f"a={RERANKER}")
    assert "--model-repository" in run("--model-repository", "/no/such/dir")
    assert "--model" in run("--model", str(SEQCLS), "--model", "x=/no/such/dir")


def test_variants_side_by_side(tmp_path):
    """One model as fp32, int8 (ember quantize) and pruned (ember prune) under three names in one
    server, for A/B tests: each name answers exactly as its own single-model server, fp32 as the
    Hugging Face reference (tests/fixtures/reference/tiny-bert-st6), and the variants are
    different models (not one answering for another)."""
    import json
    import subprocess

    from conftest import SOURCE_DIR, cosine, ember_bin, read_safetensors

    base = FIXTURES / "tiny-bert-st6"
    int8, pruned = tmp_path / "st6-int8", tmp_path / "st6-pruned"
    subprocess.run([ember_bin(), "quantize", "--model", str(base), "--out", str(int8)], check=True,
                   capture_output=True)
    calibration = tmp_path / "cal.txt"
    calibration.write_text("\n".join(f"sentence number {i} about {w}" for i, w in
                                     enumerate(["films", "music", "travel", "food"] * 16)) + "\n")
    subprocess.run([ember_bin(), "prune", "--model", str(base), "--out", str(pruned), "--calibration",
                    str(calibration), "--keep-ratio", "0.5", "--threads", "1"], check=True,
                   capture_output=True)
    reference = SOURCE_DIR / "tests/fixtures/reference/tiny-bert-st6"
    all_texts = json.loads((reference / "inputs.json").read_text())["texts"][:8]
    rows = [i for i, t in enumerate(all_texts) if t]  # "" is refused (400), as in TEI
    texts = [all_texts[i] for i in rows]
    expected = read_safetensors(reference / "reference.safetensors")["pooled"]

    variants = {"st6": base, "st6-int8": int8, "st6-pruned": pruned}
    answers = {}
    s = Server("--http-threads", "2", "--cache-entries", "0", "--grpc-port", "0",
               "--model", f"st6-int8={int8}", "--model", f"st6-pruned={pruned}",
               model=f"st6={base}")
    try:
        for name in variants:
            r = post(s, "/v1/embeddings", {"model": name, "input": texts})
            assert r.status_code == 200, r.text
            assert r.json()["model"] == name
            answers[name] = np.array([d["embedding"] for d in r.json()["data"]])
    finally:
        assert s.terminate() == 0
    for name, path in variants.items():
        single = Server("--http-threads", "2", "--cache-entries", "0", model=path)
        try:
            r = post(single, "/v1/embeddings", {"model": name, "input": texts})
            assert r.status_code == 200, r.text
            assert np.array_equal(np.array([d["embedding"] for d in r.json()["data"]]), answers[name])
        finally:
            assert single.terminate() == 0
    for got, i in zip(answers["st6"], rows):
        assert cosine(got, expected[i]) > 0.9999
    for a, b in [("st6", "st6-int8"), ("st6", "st6-pruned"), ("st6-int8", "st6-pruned")]:
        assert not np.array_equal(answers[a], answers[b]), (a, b)


def test_compute_threads_share_the_cores_by_default():
    """With several models and no --threads, each model's pool is cores / --compute-slots (at
    least 1), so that the slots' batches do not oversubscribe the cores; one model keeps every
    core; an explicit --threads wins. Seen in the listening line, /v1/models, /info and metrics."""
    import os

    cores = os.sysconf("SC_NPROCESSORS_ONLN")

    def threads(server):
        by_list = {d["id"]: d["compute_threads"] for d in requests.get(server.url + "/v1/models").json()["data"]}
        text = requests.get(server.url + "/metrics").text
        for name, n in by_list.items():
            if len(by_list) > 1:
                assert metric(text, "ember_model_compute_threads", name) == n
            assert requests.get(server.url + "/info", params={"model": name}).json()["compute_threads"] == n
        assert server.listening["compute_threads"] == by_list[server.listening["models"][0]]
        return by_list

    cases = [
        ((), {"cls": cores}),  # one model: all cores
        (("--model", f"rerank={RERANKER}"), {"cls": max(1, cores // 2), "rerank": max(1, cores // 2)}),
        (("--model", f"rerank={RERANKER}", "--compute-slots", "1"), {"cls": cores, "rerank": cores}),
        (("--model", f"rerank={RERANKER}", "--compute-slots", "3", "--threads", "3"), {"cls": 3, "rerank": 3}),
    ]
    for args, want in cases:
        s = Server("--http-threads", "2", "--preload", *args, model=f"cls={SEQCLS}")
        try:
            assert threads(s) == want, args
        finally:
            assert s.terminate() == 0


def test_a_model_repository_shares_the_cores_even_with_one_model_in_it(tmp_path):
    """--model-repository can serve more models than it holds at start: its models share the
    cores as several models do."""
    import json
    import os
    import signal
    import subprocess

    from conftest import ember_bin

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "cls").symlink_to(SEQCLS)
    p = subprocess.Popen([ember_bin(), "serve", "--port", "0", "--grpc-port", "0", "--model-repository",
                          str(tmp_path / "repo")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        listening = json.loads(p.stdout.readline())
        assert listening["models"] == ["cls"]
        assert listening["compute_threads"] == max(1, os.sysconf("SC_NPROCESSORS_ONLN") // 2)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=120) == 0


def blocking_copy(tmp_path, name):
    """A copy of the classifier whose load blocks until release() is called: its
    sentence_bert_config.json is a named pipe, which the loader's read waits on until the test
    writes the file's content into it. The order of events then depends on the test alone."""
    import os
    import shutil
    import threading

    copy = tmp_path / name
    shutil.copytree(SEQCLS, copy)
    pipe = copy / "sentence_bert_config.json"
    content = pipe.read_bytes()
    pipe.unlink()
    os.mkfifo(pipe)
    done = []

    def release():
        if done:
            return
        done.append(True)

        def write():  # blocks until the loader opens the pipe, then gives it the file
            with open(pipe, "wb") as f:
                f.write(content)

        threading.Thread(target=write, daemon=True).start()

    return copy, release


def model_state(server, name):
    return {d["id"]: d["state"] for d in requests.get(server.url + "/v1/models").json()["data"]}[name]


def wait_for(predicate, what):
    deadline = time.monotonic() + 120
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_requests_for_a_loading_model_are_parked_not_holding_io_threads(tmp_path, singles):
    """More requests than I/O threads wait for a model whose load cannot finish until the test
    releases it; meanwhile /health, /metrics, /v1/models and another model's requests are
    answered (they could not be, were the waiting requests holding both I/O threads). Once the
    load ends, every parked request gets the model's own answer."""
    import threading

    slow, release = blocking_copy(tmp_path, "slow")
    s = Server("--http-threads", "2", "--cache-entries", "0", "--model-load-wait-ms", "600000",
               "--model", f"slow={slow}", model=f"rerank={RERANKER}")
    try:
        parked = 5  # more than the 2 I/O threads; the last one KServe's, which keeps its raw body
        body = {"model": "slow", "inputs": PAIRS, "raw_scores": True}
        tensors = {"inputs": [{"name": "text", "shape": [len(TEXTS)], "datatype": "BYTES", "data": TEXTS}]}
        answers = [None] * parked

        def ask(i):
            if i == parked - 1:
                answers[i] = requests.post(s.url + "/v2/models/slow/infer", json=tensors, timeout=300)
            else:
                answers[i] = requests.post(s.url + "/predict", json=body, timeout=300)

        askers = [threading.Thread(target=ask, args=(i,)) for i in range(parked)]
        for t in askers:
            t.start()
        waiting = lambda: metric(requests.get(s.url + "/metrics").text, "ember_model_requests_waiting", "slow")
        wait_for(lambda: waiting() == parked, "the requests never all parked")
        # The load is still blocked: everything answered here was answered while all of them waited.
        assert requests.get(s.url + "/health").status_code == 200
        query = {"query": "What is Ember?", "texts": TEXTS}
        other = post(s, "/rerank", {"model": "rerank", **query})
        assert other.status_code == 200, other.text
        assert other.json() == post(singles["rerank"], "/rerank", query).json()
        assert model_state(s, "slow") == "loading"
        assert waiting() == parked and answers == [None] * parked
        release()
        for t in askers:
            t.join(timeout=300)
        want = post(singles["cls"], "/predict", {"inputs": PAIRS, "raw_scores": True}).json()
        for r in answers:
            assert r is not None and r.status_code == 200, r and r.text
        for r in answers[:-1]:
            assert r.json() == want
        want = post(singles["cls"], f"/v2/models/{SEQCLS.name}/infer", tensors).json()["outputs"]
        assert answers[-1].json()["outputs"] == want
        assert waiting() == 0
        text = requests.get(s.url + "/metrics").text
        assert re.search(r'^ember_http_requests_total\{route="/predict",status="200",model="slow"\} 4$', text, re.M)
        # The parked copies gave their memory back with their answers.
        from conftest import metric_value
        wait_for(lambda: metric_value(s.metrics(), "ember_memory_reserved_bytes") == 0,
                 "memory reserved after every request was answered")
    finally:
        release()
        assert s.terminate() == 0


def test_parked_requests_get_503_when_their_wait_passes(tmp_path):
    """With a short --model-load-wait-ms, requests parked for a load that cannot end yet are
    answered 503 with Retry-After while it still loads; the model answers once it is released."""
    import threading

    slow, release = blocking_copy(tmp_path, "slow")
    s = Server("--http-threads", "2", "--cache-entries", "0", "--model-load-wait-ms", "200",
               "--model", f"slow={slow}", model=f"rerank={RERANKER}")
    try:
        answers = [None] * 4
        body = {"model": "slow", "inputs": PAIRS}

        def ask(i):
            answers[i] = requests.post(s.url + "/predict", json=body, timeout=300)

        askers = [threading.Thread(target=ask, args=(i,)) for i in range(len(answers))]
        for t in askers:
            t.start()
        for t in askers:
            t.join(timeout=300)
        for r in answers:
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert "loading" in r.json()["error"]
        assert model_state(s, "slow") == "loading"  # answered before the load could end
        text = requests.get(s.url + "/metrics").text
        assert metric(text, "ember_model_requests_waiting", "slow") == 0
        release()
        wait_for(lambda: model_state(s, "slow") == "loaded", "the released load never ended")
        assert post(s, "/predict", body).status_code == 200
    finally:
        release()
        assert s.terminate() == 0


def grpc_code(call):
    with pytest.raises(InferenceServerException) as e:
        call()
    return str(e.value.status())


def test_grpc_repository_extension(singles):
    """Triton's RepositoryIndex, RepositoryModelLoad and RepositoryModelUnload over gRPC, with
    tritonclient.grpc, under HTTP's rules: control off without --allow-model-control
    (PERMISSION_DENIED), the API key first (UNAUTHENTICATED), unknown models NOT_FOUND, Triton's
    config overrides refused (INVALID_ARGUMENT); a load of a loaded model is a reload."""
    off = start("--model", f"rerank={RERANKER}", model=f"cls={SEQCLS}")
    try:
        c = grpcclient.InferenceServerClient(url=off.grpc_url)
        index = c.get_model_repository_index()
        assert [(m.name, m.version, m.state) for m in index.models] == [
            ("cls", "1", "READY"), ("rerank", "1", "UNAVAILABLE")]
        assert index.models[1].reason == "unloaded"
        assert "PERMISSION_DENIED" in grpc_code(lambda: c.load_model("rerank"))
        assert "PERMISSION_DENIED" in grpc_code(lambda: c.unload_model("cls"))
        assert "NOT_FOUND" in grpc_code(lambda: c.load_model("nope"))
        assert model_state(off, "rerank") == "unloaded"  # nothing was loaded
    finally:
        assert off.terminate() == 0

    s = start("--allow-model-control", "--api-key", "k", "--model", f"rerank={RERANKER}",
              model=f"cls={SEQCLS}")
    auth = {"authorization": "Bearer k"}
    try:
        c = grpcclient.InferenceServerClient(url=s.grpc_url)
        assert "UNAUTHENTICATED" in grpc_code(lambda: c.get_model_repository_index())
        assert "UNAUTHENTICATED" in grpc_code(lambda: c.load_model("rerank"))
        assert "NOT_FOUND" in grpc_code(lambda: c.load_model("nope", headers=auth))
        assert "INVALID_ARGUMENT" in grpc_code(lambda: c.load_model("rerank", headers=auth, config="{}"))
        c.load_model("rerank", headers=auth)
        ready = c.get_model_repository_index(headers=auth)
        assert {m.name: m.state for m in ready.models} == {"cls": "READY", "rerank": "READY"}
        query = {"query": "What is Ember?", "texts": TEXTS}
        got = post(s, "/rerank", {"model": "rerank", **query}, headers={"Authorization": "Bearer k"})
        assert got.json() == post(singles["rerank"], "/rerank", query).json()
        c.load_model("rerank", headers=auth)  # loaded: a reload swaps a new copy in
        c.unload_model("rerank", headers=auth)  # tritonclient sends unload_dependents
        index = c.get_model_repository_index(headers=auth)
        assert {m.name: m.state for m in index.models} == {"cls": "READY", "rerank": "UNAVAILABLE"}
        text = requests.get(s.url + "/metrics", headers={"Authorization": "Bearer k"}).text
        assert metric(text, "ember_model_loads_total", "rerank") == 2
        assert metric(text, "ember_model_unloads_total", "rerank") == 2  # the reload's old copy, the unload
        # The same index over HTTP.
        http = requests.post(s.url + "/v2/repository/index", headers={"Authorization": "Bearer k"}).json()
        assert [(m["name"], m["state"]) for m in http] == [(m.name, m.state) for m in index.models]
        # {"ready": true} lists the READY ones only.
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc
        with grpc.insecure_channel(s.grpc_url) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            only_ready = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True),
                                              metadata=tuple(auth.items()))
        assert [m.name for m in only_ready.models] == ["cls"]
    finally:
        assert s.terminate() == 0
