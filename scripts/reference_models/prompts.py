"""Fixtures with sentence-transformers prompts (config_sentence_transformers.json's "prompts" and
"default_prompt_name", Pooling's include_prompt), saved by sentence-transformers itself on the
BertModel body of tiny-bert-seqcls:

tiny-bert-prompts         mean pooling, prompts {"query": "query: ", "passage": "passage: "},
                          default_prompt_name "query".
tiny-bert-prompts-noinc   the same prompts, no default, and Pooling's include_prompt false (the
                          prompt's tokens are left out of the mean).

References are SentenceTransformer.encode's embeddings with no prompt_name (the default prompt),
prompt_name "query" and "passage", and prompt "" (no prompt); and SentenceTransformer.similarity
of a source sentence to sentences with prompt_name "passage"."""

from __future__ import annotations

import shutil

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers import models as st_models

import make_reference as mr

PROMPTS = {"query": "query: ", "passage": "passage: "}
TEXTS = ["What is the capital of France?", "Paris is the capital of France.",
         "a b c", "The quick brown fox jumps over the lazy dog."]
SOURCE = "What is Deep Learning?"
SENTENCES = ["Deep learning is a kind of machine learning.", "I like pineapples.",
             "What is Machine Learning?"]


def make(name: str, include_prompt: bool, default: str | None, build: bool) -> dict:
    out = mr.MODELS_DIR / name
    src = mr.MODELS_DIR / "tiny-bert-seqcls"  # its BertModel body (the head is dropped)
    if build:
        transformer = st_models.Transformer(str(src), max_seq_length=mr.TINY_MAX_SEQ_LENGTH)
        pooling = st_models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean",
                                    include_prompt=include_prompt)
        st = SentenceTransformer(modules=[transformer, pooling], device="cpu", prompts=PROMPTS,
                                 default_prompt_name=default)
        if out.exists():
            shutil.rmtree(out)
        st.save(str(out))
        (out / "README.md").unlink(missing_ok=True)
    st = SentenceTransformer(str(out), device="cpu")
    assert st.prompts.get("query") == PROMPTS["query"], st.prompts
    assert st.default_prompt_name == default, st.default_prompt_name
    tensors = {
        "default": st.encode(TEXTS, convert_to_numpy=True),
        "query": st.encode(TEXTS, prompt_name="query", convert_to_numpy=True),
        "passage": st.encode(TEXTS, prompt_name="passage", convert_to_numpy=True),
        "none": st.encode(TEXTS, prompt="", convert_to_numpy=True),
    }
    source = st.encode([SOURCE], prompt_name="passage", convert_to_tensor=True)
    sentences = st.encode(SENTENCES, prompt_name="passage", convert_to_tensor=True)
    tensors["similarity_passage"] = st.similarity(source, sentences)[0].cpu().numpy()
    tensors = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
    # The prompts must change the embeddings, or the tests could not tell them apart.
    assert not np.allclose(tensors["query"], tensors["none"], atol=1e-3)
    assert not np.allclose(tensors["query"], tensors["passage"], atol=1e-3)
    meta = {"model": name, "model_dir": str(out.relative_to(mr.REPO)), "texts": TEXTS,
            "prompts": PROMPTS, "default_prompt_name": default, "include_prompt": include_prompt,
            "similarity": {"source_sentence": SOURCE, "sentences": SENTENCES,
                           "prompt_name": "passage"}}
    mr.write_reference(name, meta, tensors)
    return {"texts": len(TEXTS)}


FIXTURES = {
    "tiny-bert-prompts": lambda vocab, build: make("tiny-bert-prompts", True, "query", build),
    "tiny-bert-prompts-noinc": lambda vocab, build: make("tiny-bert-prompts-noinc", False, None,
                                                         build),
}
