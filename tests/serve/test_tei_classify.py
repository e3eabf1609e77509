"""TEI's /predict, /rerank, /embed_all and /decode against the Hugging Face reference:
tiny-bert-seqcls (three labels, sentence pairs), a one-label cross-encoder cut from it, and
all-MiniLM-L6-v2's last hidden states."""
import numpy as np
import requests

from conftest import read_safetensors, REFERENCE_DIR


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def by_label(predictions, labels):
    """A TEI prediction list (sorted by score) -> scores in label order."""
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    d = {p["label"]: p["score"] for p in predictions}
    return np.array([d[label] for label in labels])


def test_predict_single_texts_match_reference(seqcls_server, seqcls_reference):
    inputs, ref = seqcls_reference
    labels = inputs["labels"]
    for i in [0, 2, 3, 4, 5]:
        r = requests.post(seqcls_server.url + "/predict", json={"inputs": inputs["texts"][i]})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(by_label(r.json(), labels), softmax(ref["logits"][i]), atol=1e-4)
        raw = requests.post(
            seqcls_server.url + "/predict", json={"inputs": inputs["texts"][i], "raw_scores": True}
        ).json()
        np.testing.assert_allclose(by_label(raw, labels), ref["logits"][i], atol=1e-4)


def test_predict_batch_and_pairs_match_reference(seqcls_server, seqcls_reference):
    inputs, ref = seqcls_reference
    labels = inputs["labels"]
    pairs = inputs["pairs"][:5]
    r = requests.post(seqcls_server.url + "/predict", json={"inputs": pairs, "raw_scores": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out) == len(pairs)
    for j, preds in enumerate(out):
        np.testing.assert_allclose(by_label(preds, labels), ref["pair_logits"][j], atol=1e-4)
    # One pair alone is a single input: a flat list of predictions.
    single = requests.post(seqcls_server.url + "/predict", json={"inputs": pairs[0]}).json()
    np.testing.assert_allclose(by_label(single, labels), softmax(ref["pair_logits"][0]), atol=1e-4)
    # A mixed batch of texts and pairs: TEI's batch items are [text] or [text, text].
    mixed = requests.post(
        seqcls_server.url + "/predict", json={"inputs": [[inputs["texts"][2]], pairs[1]], "raw_scores": True}
    ).json()
    np.testing.assert_allclose(by_label(mixed[0], labels), ref["logits"][2], atol=1e-4)
    np.testing.assert_allclose(by_label(mixed[1], labels), ref["pair_logits"][1], atol=1e-4)


def test_predict_long_pair_truncates_longest_first(seqcls_server, seqcls_reference):
    inputs, ref = seqcls_reference
    pair = inputs["pairs"][5]
    r = requests.post(seqcls_server.url + "/predict", json={"inputs": pair})
    assert r.status_code == 422 and r.json()["error_type"] == "Validation"
    r = requests.post(
        seqcls_server.url + "/predict", json={"inputs": pair, "truncate": True, "raw_scores": True}
    )
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(by_label(r.json(), inputs["labels"]), ref["pair_logits"][5], atol=1e-4)


def test_rerank_orders_like_the_reference(reranker_server, seqcls_reference):
    inputs, ref = seqcls_reference
    # Pairs 0-2 of the reference with their own query each: rank every (query, text) against
    # each query, expected from single /predict calls and (same query) from the reference.
    query, text0 = inputs["pairs"][0]
    texts = [text0, inputs["pairs"][1][1], inputs["pairs"][2][1], "A guitar is being played."]
    expected_raw = []
    for t in texts:
        p = requests.post(reranker_server.url + "/predict", json={"inputs": [query, t], "raw_scores": True})
        assert p.status_code == 200, p.text
        expected_raw.append(p.json()[0]["score"])
    assert abs(expected_raw[0] - ref["pair_logits"][0][0]) < 1e-4  # the cut model is label 0
    r = requests.post(reranker_server.url + "/rerank", json={"query": query, "texts": texts, "return_text": True})
    assert r.status_code == 200, r.text
    ranks = r.json()
    assert [x["index"] for x in ranks] == list(np.argsort(-np.array(expected_raw), kind="stable"))
    for x in ranks:
        assert x["text"] == texts[x["index"]]
        assert abs(x["score"] - 1 / (1 + np.exp(-expected_raw[x["index"]]))) < 1e-4
    raw = requests.post(reranker_server.url + "/rerank", json={"query": query, "texts": texts, "raw_scores": True}).json()
    for x in raw:
        assert "text" not in x
        assert abs(x["score"] - expected_raw[x["index"]]) < 1e-4


def test_rerank_pairs_follow_reference_label0_order(reranker_server, seqcls_reference):
    inputs, ref = seqcls_reference
    # The reference pairs as one rerank each; their label-0 logits order them.
    scores = []
    for j in range(5):
        q, t = inputs["pairs"][j]
        r = requests.post(reranker_server.url + "/rerank", json={"query": q, "texts": [t], "raw_scores": True})
        assert r.status_code == 200, r.text
        scores.append(r.json()[0]["score"])
    np.testing.assert_allclose(scores, ref["pair_logits"][:5, 0], atol=1e-4)


def test_classification_routes_refuse_other_models(server, seqcls_server):
    r = requests.post(server.url + "/predict", json={"inputs": "hello"})
    assert r.status_code == 424 and r.json()["error_type"] == "Backend"
    r = requests.post(server.url + "/rerank", json={"query": "q", "texts": ["t"]})
    assert r.status_code == 424
    # Three labels: a classifier, not a re-ranker (TEI ranks only one-label models).
    r = requests.post(seqcls_server.url + "/rerank", json={"query": "q", "texts": ["t"]})
    assert r.status_code == 424 and "re-ranker" in r.json()["error"]


def test_embed_all_matches_reference_hidden_states(server, reference):
    texts, _ = reference
    ref = read_safetensors(REFERENCE_DIR / "reference.safetensors")
    picks = [0, 2, 3, 5]
    r = requests.post(server.url + "/embed_all", json={"inputs": [texts[i] for i in picks]})
    assert r.status_code == 200, r.text
    out = r.json()
    for k, i in enumerate(picks):
        got = np.asarray(out[k], dtype=np.float32)
        assert got.shape == ref[f"hidden.{i}"].shape
        assert np.abs(got - ref[f"hidden.{i}"]).max() <= 1e-4, texts[i]


def test_decode_round_trips(server):
    toks = requests.post(server.url + "/tokenize", json={"inputs": ["hello world", "the cat sat"]}).json()
    ids = [[t["id"] for t in seq] for seq in toks]
    r = requests.post(server.url + "/decode", json={"ids": ids})
    assert r.status_code == 200, r.text
    assert r.json() == ["hello world", "the cat sat"]
    kept = requests.post(server.url + "/decode", json={"ids": ids[0], "skip_special_tokens": False}).json()
    assert kept[0].startswith("[CLS]") and "hello world" in kept[0]
    # An id outside the vocabulary is dropped, as TEI's decoder (the tokenizers library) does.
    r = requests.post(server.url + "/decode", json={"ids": [10**9]})
    assert r.status_code == 200 and r.json() == [""]
