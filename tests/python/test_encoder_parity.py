"""Encoder.encode against sentence-transformers' encode, on every reference fixture."""

import numpy as np
import pytest

import ember
from conftest import Reference, reference_names, row_cosines

# Every fixture with sentence-transformers' pooled embeddings; the pruning fixtures hold the
# hidden states of a sliced model only (tests/prune checks those).
NAMES = [n for n in reference_names() if "pooled" in Reference(n).tensors]


def test_every_fixture_is_checked():
    # The parity list is the fixture directory: a new architecture's fixture joins by itself.
    assert len(NAMES) >= 20 and "all-MiniLM-L6-v2" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_encode_matches_sentence_transformers(name):
    ref = Reference(name)
    enc = ember.Encoder(ref.model, threads=2)
    got = enc.encode(ref.texts, batch_size=16)
    want = ref["pooled"]
    assert got.shape == want.shape and got.dtype == np.float32
    cos = row_cosines(got, want)
    assert cos.min() >= 0.99999, (name, int(cos.argmin()), float(cos.min()))
    # One text at a time: the same vectors, 1-D.
    for i in (0, len(ref.texts) // 2, len(ref.texts) - 1):
        one = enc.encode(ref.texts[i])
        assert one.shape == (want.shape[1],)
        assert row_cosines(one[None], want[i:i + 1])[0] >= 0.99999, (name, i)


def test_batches_keep_the_order(minilm, minilm_ref):
    texts = minilm_ref.texts
    whole = minilm.encode(texts, batch_size=len(texts))
    # Several batches, formed by length: the rows come back in the order given.
    for bs in (1, 7, 32):
        got = minilm.encode(texts, batch_size=bs)
        np.testing.assert_allclose(got, whole, atol=2e-5)
    assert row_cosines(whole, minilm_ref["pooled"]).min() >= 0.99999
    shuffled = list(reversed(texts))
    np.testing.assert_allclose(minilm.encode(shuffled, batch_size=5), whole[::-1], atol=2e-5)


def test_shapes_and_options(minilm, minilm_ref):
    dim = minilm.get_sentence_embedding_dimension()
    assert dim == 384 and minilm.max_seq_length == 256
    assert minilm.encode("one text").shape == (dim,)
    assert minilm.encode(["one text"]).shape == (1, dim)
    assert minilm.encode(("a", "b")).shape == (2, dim)
    assert minilm.encode([]).shape == (0, dim)
    as_list = minilm.encode(["a", "bb"], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 2 and as_list[0].shape == (dim,)
    # normalize_embeddings on a model that does not normalize itself.
    para = ember.Encoder("paraphrase-MiniLM-L3-v2", threads=2)
    raw = para.encode(minilm_ref.texts[:10])
    assert abs(float(np.linalg.norm(raw[3])) - 1.0) > 1e-2
    unit = para.encode(minilm_ref.texts[:10], normalize_embeddings=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_prompt_is_prepended(minilm):
    texts = ["what is a packed batch?", "how are embeddings pooled?"]
    got = minilm.encode(texts, prompt="query: ")
    want = minilm.encode(["query: " + t for t in texts])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert row_cosines(got, minilm.encode(texts)).max() < 0.9999


def test_progress_bar_when_asked(minilm, capsys):
    minilm.encode(["a", "b", "c"], batch_size=1, show_progress_bar=True)
    assert "3/3" in capsys.readouterr().err
    minilm.encode(["a", "b", "c"], batch_size=1, show_progress_bar=False)
    assert capsys.readouterr().err == ""


def test_tokenize_matches_the_reference_ids(minilm, minilm_ref):
    tok = minilm.tokenize(minilm_ref.texts)
    assert len(tok["input_ids"]) == len(minilm_ref.texts)
    for i, ids in enumerate(tok["input_ids"]):
        np.testing.assert_array_equal(ids, minilm_ref[f"ids.{i}"], err_msg=str(i))
        np.testing.assert_array_equal(tok["token_type_ids"][i], minilm_ref[f"type_ids.{i}"])
    one = minilm.tokenize("Hello world")
    assert one["tokens"][0] == ["[CLS]", "hello", "world", "[SEP]"]


def test_sparse_matches_sparse_encoder():
    ref = Reference("tiny-bert-splade")
    enc = ember.Encoder(ref.model, threads=2)
    got = enc.embed_sparse(ref.texts[:12], batch_size=5)
    want = ref["sparse"]
    for i, v in enumerate(got):
        assert v.indices.dtype == np.int32 and np.all(np.diff(v.indices) > 0)
        dense = np.zeros(want.shape[1], dtype=np.float32)
        dense[v.indices] = v.values
        np.testing.assert_allclose(dense, want[i], atol=1e-4, err_msg=str(i))
    single = enc.embed_sparse(ref.texts[3])
    np.testing.assert_array_equal(single.indices, got[3].indices)


def test_one_batch_is_the_engines_array(minilm):
    # The engine's output vector is handed to numpy (a capsule owns it): no copy was made,
    # so the array is not the owner of its memory and no numpy array is behind it.
    two = minilm.encode(["first text", "second text"])
    assert not two.flags.owndata and not isinstance(two.base, np.ndarray)
    one = minilm.encode("one text")  # a row of the engine's [1, dim] array
    assert not one.flags.owndata and one.base is not None
    # Several batches are gathered into one array (a copy per batch, as sentence-transformers).
    many = minilm.encode(["a", "bb", "ccc"], batch_size=1)
    assert many.flags.owndata


def test_max_length_truncates(minilm, minilm_ref):
    short = ember.Encoder(minilm_ref.model, threads=2, max_length=16)
    assert short.max_seq_length == 16
    long_text = minilm_ref.texts[-1]
    ids = short.tokenize(long_text)["input_ids"][0]
    assert len(ids) == 16 and len(minilm.tokenize(long_text)["input_ids"][0]) == 256
    # A long text is cut to 16 tokens, so its vector is not the full model's.
    assert row_cosines(short.encode([long_text]), minilm.encode([long_text]))[0] < 0.999
