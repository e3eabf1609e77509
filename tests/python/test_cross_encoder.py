"""CrossEncoder and Classifier against sentence-transformers' CrossEncoder and the
transformers heads (reference fixtures)."""

import numpy as np
import pytest

import ember
from conftest import Reference


@pytest.mark.parametrize("name", ["tiny-bert-reranker", "tiny-deberta-v3-reranker"])
def test_predict_matches_sentence_transformers(name):
    ref = Reference(name)
    ce = ember.CrossEncoder(ref.model, threads=2)
    want = ref["pair_scores"]  # CrossEncoder.predict: the sigmoid of the one logit
    got = ce.predict(ref.pairs, batch_size=4)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    # One pair gives one score; lists of lists are pairs too.
    assert np.ndim(ce.predict(ref.pairs[2])) == 0
    assert ce.predict(list(ref.pairs[2])) == pytest.approx(float(want[2]), abs=1e-5)
    np.testing.assert_allclose(ce.predict([list(p) for p in ref.pairs], batch_size=1), want,
                               atol=1e-5)


def test_rank_orders_by_score():
    ref = Reference("tiny-bert-reranker")
    ce = ember.CrossEncoder(ref.model, threads=2)
    query = "A man is playing a guitar."
    docs = [b for a, b in ref.pairs]
    scores = ce.predict([(query, d) for d in docs])
    ranked = ce.rank(query, docs, return_documents=True)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert [r["text"] for r in ranked] == [docs[r["corpus_id"]] for r in ranked]
    assert [r["score"] for r in ranked] == sorted(scores.tolist(), reverse=True)
    top = ce.rank(query, docs, top_k=2)
    assert top == [{"corpus_id": r["corpus_id"], "score": r["score"]} for r in ranked[:2]]


def test_several_labels_as_sentence_transformers():
    ref = Reference("tiny-deberta-v3-nli")
    ce = ember.CrossEncoder(ref.model, threads=2)
    logits = ref["pair_logits"]
    assert logits.shape[1] == 3
    # Several labels: the logits as they are (sentence-transformers' Identity), or the softmax.
    np.testing.assert_allclose(ce.predict(ref.pairs), logits, atol=1e-4)
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_allclose(ce.predict(ref.pairs, apply_softmax=True), soft, atol=1e-5)
    with pytest.raises(ember.UnsupportedError):
        ce.rank("q", ["d"])


def test_classifier_matches_the_head():
    ref = Reference("tiny-bert-seqcls")
    clf = ember.Classifier(ref.model, threads=2)
    assert clf.labels == ref.inputs["labels"] and len(clf.labels) > 1
    want = ref["logits"]
    got = clf.logits(ref.texts, batch_size=9)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert clf.predict(ref.texts) == [clf.labels[i] for i in want.argmax(1)]
    assert clf.predict(ref.texts[5]) == clf.labels[int(want[5].argmax())]
    proba = clf.predict_proba(ref.texts[:4])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)


def test_heads_are_checked_at_load(minilm_ref):
    with pytest.raises(ember.UnsupportedError):
        ember.CrossEncoder(minilm_ref.model)
    with pytest.raises(ember.UnsupportedError):
        ember.Classifier(minilm_ref.model)
