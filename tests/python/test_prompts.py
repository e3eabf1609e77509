"""Encoder.encode's prompt_name / prompt against sentence-transformers' encode on the prompt
fixtures (scripts/reference_models/prompts.py): the default prompt, each named prompt, and no
prompt, with Pooling's include_prompt true (tiny-bert-prompts) and false (-noinc)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import ember
from conftest import Reference, row_cosines

FIXTURES = ["tiny-bert-prompts", "tiny-bert-prompts-noinc"]


def close(got, want, what):
    assert got.shape == want.shape, what
    cos = row_cosines(np.atleast_2d(got), np.atleast_2d(want))
    assert cos.min() >= 0.99999, (what, float(cos.min()))


@pytest.fixture(scope="module", params=FIXTURES)
def case(request):
    ref = Reference(request.param)
    return ref, ember.Encoder(ref.model, threads=2)


def test_prompts_and_default_as_configured(case):
    ref, enc = case
    # What SentenceTransformer(model).prompts holds: the saved config's prompts (there
    # sentence-transformers adds an empty "document" one to those the fixture gave).
    saved = json.loads((Path(ref.model) / "config_sentence_transformers.json").read_text())
    assert enc.prompts == saved["prompts"]
    assert ref.inputs["prompts"].items() <= enc.prompts.items()
    assert enc.default_prompt_name == ref.inputs["default_prompt_name"]


@pytest.mark.parametrize("name", ["query", "passage"])
def test_prompt_name_matches_sentence_transformers(case, name):
    ref, enc = case
    for bs in (32, 1):  # one packed batch, and batches formed by length
        close(enc.encode(ref.texts, prompt_name=name, batch_size=bs), ref[name], (name, bs))
    close(enc.encode(ref.texts[2], prompt_name=name), ref[name][2], (name, "one text"))
    # The same text given as prompt=: the same vectors.
    close(enc.encode(ref.texts, prompt=ref.inputs["prompts"][name]), ref[name], (name, "text"))


def test_default_prompt_and_no_prompt(case):
    ref, enc = case
    close(enc.encode(ref.texts), ref["default"], "default")
    close(enc.encode(ref.texts, prompt=""), ref["none"], "none")
    if enc.default_prompt_name is None:
        np.testing.assert_allclose(ref["default"], ref["none"], atol=1e-6)
    else:
        # The default prompt was applied: the vectors differ from the prompt-less ones.
        assert row_cosines(enc.encode(ref.texts), ref["none"]).max() < 0.9999


def test_similarity_with_prompt(case):
    ref, enc = case
    sim = ref.inputs["similarity"]
    a = enc.encode([sim["source_sentence"]], prompt_name=sim["prompt_name"])
    b = enc.encode(sim["sentences"], prompt_name=sim["prompt_name"])
    np.testing.assert_allclose(enc.similarity(a, b)[0], ref["similarity_passage"], atol=1e-5)


def test_prompt_wins_over_prompt_name(case):
    ref, enc = case
    with pytest.warns(UserWarning, match="Ignoring the `prompt_name`"):
        got = enc.encode(ref.texts, prompt_name="query", prompt="passage: ")
    close(got, ref["passage"], "both given")


def test_unknown_prompt_name_is_invalid_input(case):
    ref, enc = case
    with pytest.raises(ember.InvalidInputError, match="nope") as e:
        enc.encode(ref.texts, prompt_name="nope")
    assert isinstance(e.value, ValueError) and e.value.kind == "invalid_input"
    with pytest.raises(ember.InvalidInputError):
        enc.encode(ref.texts, prompt=3)
    # The encoder still answers after the bad calls.
    close(enc.encode(ref.texts, prompt_name="query"), ref["query"], "after errors")


def test_model_without_prompts(minilm, minilm_ref):
    assert minilm.prompts == {} and minilm.default_prompt_name is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        close(minilm.encode(minilm_ref.texts[:8]), minilm_ref["pooled"][:8], "minilm")
    with pytest.raises(ember.InvalidInputError):
        minilm.encode("text", prompt_name="query")
