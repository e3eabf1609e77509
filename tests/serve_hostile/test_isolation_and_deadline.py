"""Attacks that need a server of their own: a tokenizer that emits an id outside the model's
vocabulary (one request that failed inside a batch failed all 56 others packed with it), the
queue deadline (five large requests ahead made a small one wait 50 s), and a cut drain while a
large request is being tokenized."""
import concurrent.futures
import json
import pathlib
import shutil
import signal
import threading
import time

import numpy as np
import pytest
import requests

from conftest import AUTH, MAX_MEMORY, SOURCE_DIR, Server

REFERENCE_DIR = SOURCE_DIR / "tests/fixtures/reference/all-MiniLM-L6-v2"
MODEL_DIR = pathlib.Path.home() / ".cache/ember/models/all-MiniLM-L6-v2"


def load_reference():
    """inputs.json texts and the 'pooled' tensor of reference.safetensors (Hugging Face's)."""
    texts = json.loads((REFERENCE_DIR / "inputs.json").read_text())["texts"]
    raw = (REFERENCE_DIR / "reference.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8 : 8 + n])["pooled"]
    begin, end = meta["data_offsets"]
    return texts, np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype="<f4").reshape(meta["shape"])


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def out_of_vocabulary_model(tmp_path_factory):
    """all-MiniLM-L6-v2 whose tokenizer has one more added token, "[EVIL]", with the id just
    past the model's vocabulary (the weights are linked, not copied)."""
    d = tmp_path_factory.mktemp("oov-minilm")
    for f in MODEL_DIR.rglob("*"):
        target = d / f.relative_to(MODEL_DIR)
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif f.name.endswith((".safetensors", ".onnx", ".bin")):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(f.resolve())
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    vocab = json.loads((d / "config.json").read_text())["vocab_size"]
    tok = json.loads((d / "tokenizer.json").read_text())
    tok["added_tokens"].append({"id": vocab, "content": "[EVIL]", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": False})
    (d / "tokenizer.json").write_text(json.dumps(tok))
    return d, vocab


def test_a_request_that_fails_in_a_batch_fails_alone(out_of_vocabulary_model, report):
    """57 requests packed together behind a long one, one of them with the out-of-vocabulary
    token: it fails alone (4xx), the 56 others get Hugging Face's embeddings. (A server that
    checks the tokenizer against the vocabulary at load refuses the model instead, with a
    typed error naming it: then nothing reaches a batch.)"""
    model, vocab = out_of_vocabulary_model
    try:
        s = Server("--max-memory", str(MAX_MEMORY), "--max-batch-tokens", "16384", "--cache-entries", "0",
                   model=model)
    except RuntimeError as e:
        assert str(vocab) in str(e) and "vocab" in str(e).lower(), e
        report.attacks["out-of-vocabulary token in a batch"] = {"peak_rss_mib": 0, "refused_at_load": str(e)[-200:]}
        return
    try:
        texts, pooled = load_reference()
        innocent = [(texts[i % len(texts)], i % len(texts)) for i in range(56)]
        # 48 x 256 tokens in one batch: holds the batcher while the others queue behind it.
        blocker = {"inputs": [" ".join(texts)[:4000]] * 48, "truncate": True}

        def send(body):
            return requests.post(s.url + "/embed", json=body, headers=AUTH, timeout=300)

        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            first = pool.submit(send, blocker)
            while s.metric("ember_batcher_pending_requests") < 1:
                assert not first.done(), first.result().text
            evil = pool.submit(send, {"inputs": "this one carries [EVIL] inside"})
            others = [pool.submit(send, {"inputs": t}) for t, _ in innocent]
            assert first.result().status_code == 200
            bad = evil.result()
            results = [f.result() for f in others]
        assert 400 <= bad.status_code < 500, bad.text
        assert str(vocab) in bad.json()["error"]
        for (text, ref), r in zip(innocent, results):
            assert r.status_code == 200, r.text
            assert cosine(r.json()[0], pooled[ref]) > 0.999
        reruns = s.metric("ember_batch_isolation_reruns_total")
        assert reruns >= 1, "the failing request was never in a batch with others"
        report.attacks["out-of-vocabulary token in a batch"] = {
            "peak_rss_mib": round(s.status("VmHWM") / (1 << 20), 1), "innocent_ok": len(results),
            "failing_status": bad.status_code, "isolation_reruns": int(reruns)}
    finally:
        assert s.stop() == 0


def test_requests_waiting_past_the_queue_deadline_get_429(report):
    """With --request-timeout-ms 1000, requests that cannot start within a second are answered
    429 naming the option, and never computed; the others are answered; none is a 5xx."""
    s = Server("--max-memory", str(MAX_MEMORY), "--max-batch-tokens", "2048", "--cache-entries", "0",
               "--request-timeout-ms", "1000")
    try:
        ids = lambda i: [[101] + [2000 + (i * 8 + j) * 37 % 20000 + k for k in range(254)] + [102] for j in range(8)]
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda i: requests.post(s.url + "/embed", json={"inputs": ids(i)}, timeout=300),
                                    range(20)))
        codes = [r.status_code for r in results]
        assert set(codes) <= {200, 429}, codes
        assert 200 in codes and 429 in codes, codes
        late = [r for r in results if r.status_code == 429]
        assert all("--request-timeout-ms" in r.json()["error"] for r in late)
        report.attacks["queue deadline 1 s, 20 x 2048 tokens"] = {
            "peak_rss_mib": round(s.status("VmHWM") / (1 << 20), 1), "answered": codes.count(200),
            "refused_429": codes.count(429)}
    finally:
        assert s.stop() == 0


def test_a_cut_drain_with_a_large_request_in_progress_ends(report):
    """SIGTERM while a large request is being tokenized on the large-request thread, with a 1 s
    drain bound: the drain is cut (exit 6, the request answered 503 or dropped) and the process
    ends, its large-request thread stopped before the connections it serves are torn down."""
    s = Server("--max-memory", str(4 << 30), "--drain-timeout", "1")
    result = {}

    def send():
        try:
            r = requests.post(s.url + "/embed", json={"inputs": "!" * 1_900_000, "truncate": True}, timeout=120)
            result["status"] = r.status_code
        except requests.RequestException as e:
            result["error"] = repr(e)

    t = threading.Thread(target=send)
    t.start()
    end = time.monotonic() + 60
    while s.metric("ember_memory_reserved_bytes") < 100 * (1 << 20):  # tokenizing: reserved
        assert time.monotonic() < end and t.is_alive(), result
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGTERM)
    code = s.proc.wait(timeout=120)
    t.join(timeout=120)
    assert code == 6, "".join(s.stderr)
    assert result.get("status") in (None, 503), result


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": "<f4", "I32": "<i4", "I64": "<i8"}
    out = {}
    for name, meta in header.items():
        if name != "__metadata__":
            begin, end = meta["data_offsets"]
            out[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=dtypes[meta["dtype"]]).reshape(
                meta["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    pathlib.Path(path).write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def test_a_request_whose_input_fails_the_engine_fails_alone(tmp_path, report):
    """tiny-bert-seqcls with one token type only: a sentence pair (type id 1 for its second
    text) fails in the engine, inside whatever batch it is packed into. It alone gets 422; the
    single texts sent at the same moment get Hugging Face's logits."""
    src = SOURCE_DIR / "tests/fixtures/models/tiny-bert-seqcls"
    model = tmp_path / "one-token-type"
    shutil.copytree(src, model)
    config = json.loads((model / "config.json").read_text())
    config["type_vocab_size"] = 1
    (model / "config.json").write_text(json.dumps(config))
    tensors = read_safetensors(src / "model.safetensors")
    name = "bert.embeddings.token_type_embeddings.weight"
    tensors[name] = tensors[name][:1]
    write_safetensors(model / "model.safetensors", tensors)

    ref_dir = SOURCE_DIR / "tests/fixtures/reference/tiny-bert-seqcls"
    inputs = json.loads((ref_dir / "inputs.json").read_text())
    logits = read_safetensors(ref_dir / "reference.safetensors")["logits"]
    labels = inputs["labels"]
    singles = [i for i, t in enumerate(inputs["texts"]) if t][:6]
    s = Server("--max-memory", str(MAX_MEMORY), "--cache-entries", "0", "--no-inline-idle-batch", model=model)
    try:
        rounds = 0
        while s.metric("ember_batch_isolation_reruns_total") < 1 and rounds < 10:
            rounds += 1
            start = threading.Barrier(41)

            def send(k):
                body = ({"inputs": inputs["pairs"][0]} if k == 0 else
                        {"inputs": inputs["texts"][singles[k % len(singles)]], "raw_scores": True})
                start.wait()
                return requests.post(s.url + "/predict", json=body, timeout=120)

            with concurrent.futures.ThreadPoolExecutor(41) as pool:
                results = list(pool.map(send, range(41)))
            bad, good = results[0], results[1:]
            assert bad.status_code == 422 and "token type id 1" in bad.json()["error"], bad.text
            for k, r in enumerate(good, start=1):
                assert r.status_code == 200, r.text
                got = {p["label"]: p["score"] for p in r.json()}
                np.testing.assert_allclose([got[l] for l in labels], logits[singles[k % len(singles)]], atol=1e-4)
        reruns = s.metric("ember_batch_isolation_reruns_total")
        assert reruns >= 1, "the failing request never shared a batch"
        report.attacks["failing request packed with 40 others"] = {
            "peak_rss_mib": round(s.status("VmHWM") / (1 << 20), 1), "rounds": rounds, "isolation_reruns": int(reruns)}
    finally:
        assert s.stop() == 0
