"""``ember.Encoder``: sentence embeddings with sentence-transformers' ``encode`` semantics."""

import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _progress
from ._loading import load_model
from .errors import InvalidInputError, UnsupportedError


class SparseEmbedding(NamedTuple):
    """The non-zero entries of a SPLADE vector over the vocabulary, by increasing index."""

    indices: np.ndarray  # int32
    values: np.ndarray  # float32


def _as_list(sentences, what: str):
    """(list of texts, whether one string was given)."""
    if isinstance(sentences, str):
        return [sentences], True
    if isinstance(sentences, (bytes, bytearray)):
        raise InvalidInputError(f"{what}: give str, not bytes")
    try:
        texts = list(sentences)
    except TypeError:
        raise InvalidInputError(f"{what}: give a string or a list of strings, not "
                                f"{type(sentences).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InvalidInputError(f"{what}: input {i} is a {type(t).__name__}, not a str")
    return texts, False


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, not {batch_size!r}")


class Encoder:
    """A sentence-embedding model (a directory, or a name in Ember's model cache).

    ``threads``: compute threads (None: all cores). ``dtype``: "fp32", "bf16" (Linears and
    attention in bf16 on CPUs with avx512_bf16, fp32 elsewhere with a warning), or "int8" (the model's int8
    copy, written once into the model cache). ``max_length``: tokens per input, never above
    the model's own limit; longer inputs are truncated, as sentence-transformers does.
    """

    def __init__(self, model, threads: Optional[int] = None, dtype: str = "fp32",
                 max_length: Optional[int] = None) -> None:
        self._model = load_model(model, threads=threads, dtype=dtype, max_length=max_length)
        self.info = self._model.info
        self.dtype = dtype
        # sentence-transformers' prompts (config_sentence_transformers.json): name -> text, and
        # the one encode() applies when given neither prompt_name nor prompt (None: none).
        self.prompts: Dict[str, str] = dict(self.info["prompts"])
        self.default_prompt_name: Optional[str] = self.info["default_prompt_name"]

    @property
    def max_seq_length(self) -> int:
        return self.info["max_length"]

    def get_sentence_embedding_dimension(self) -> int:
        return self.info["hidden_size"]

    def _prompt(self, prompt_name: Optional[str], prompt: Optional[str]) -> str:
        """The text prepended to every input, by sentence-transformers' rule: ``prompt`` if
        given ("" for none), else the prompt named ``prompt_name``, else the default prompt."""
        if prompt is not None and prompt_name is not None:
            warnings.warn("Encode with either a `prompt`, a `prompt_name`, or neither, but not "
                          "both. Ignoring the `prompt_name` in favor of `prompt`.", stacklevel=3)
            prompt_name = None
        if prompt is not None and not isinstance(prompt, str):
            raise InvalidInputError(f"prompt must be a str, not {type(prompt).__name__}")
        if prompt_name is not None and not isinstance(prompt_name, str):
            raise InvalidInputError(f"prompt_name must be a str, not "
                                    f"{type(prompt_name).__name__}")
        # The engine's lookup (an unknown name is an InvalidInputError naming the prompts).
        return self._model.prompt_text(prompt_name=prompt_name, prompt=prompt)

    def encode(self, sentences: Union[str, Sequence[str]], batch_size: int = 32,
               normalize_embeddings: bool = False, convert_to_numpy: bool = True,
               show_progress_bar: Optional[bool] = None, prompt_name: Optional[str] = None,
               prompt: Optional[str] = None):
        """Embeddings of ``sentences``: a 1-D float32 array for one string, [n, dim] for a list
        (a list of 1-D arrays with ``convert_to_numpy=False``), in the order given.

        Prompts as sentence-transformers applies them: ``prompt`` (a text; "" for none) is
        prepended to every input, else the prompt named ``prompt_name`` (a key of
        :attr:`prompts`), else the model's :attr:`default_prompt_name` one. Where the model's
        Pooling has ``include_prompt`` false, the prompt's tokens are left out of the pooling.
        An unknown ``prompt_name`` is an ``InvalidInputError``. Inputs are run
        ``batch_size`` at a time; over several batches they are grouped by length (longest
        first, as sentence-transformers does) and put back in order. The GIL is released while
        the engine computes.
        """
        texts, single = _as_list(sentences, "encode")
        _check_batch_size(batch_size)
        prompt = self._prompt(prompt_name, prompt)
        dim = self.info["hidden_size"]
        if not texts:
            out = np.empty((0, dim), dtype=np.float32)
        elif len(texts) <= batch_size:
            # One batch: the engine's array is the result, no copy.
            out = self._model.embed(texts, prompt)
            _progress.Progress(1, "Batches", bool(show_progress_bar)).advance(1)
        else:
            out = np.empty((len(texts), dim), dtype=np.float32)
            # The prompt is the same on every input, so the texts alone give the order.
            order = np.argsort([-len(t) for t in texts], kind="stable")
            starts = range(0, len(texts), batch_size)
            bar = _progress.Progress(len(starts), "Batches",
                                     _progress.wanted(show_progress_bar, len(texts)))
            for s in starts:
                idx = order[s:s + batch_size]
                out[idx] = self._model.embed([texts[i] for i in idx], prompt)
                bar.advance(1)
        if normalize_embeddings and len(out):
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = out / np.maximum(norms, 1e-12)
        if single:
            return out[0]
        return out if convert_to_numpy else list(out)

    def embed_sparse(self, sentences: Union[str, Sequence[str]], batch_size: int = 32,
                     show_progress_bar: Optional[bool] = None,
                     prompt_name: Optional[str] = None, prompt: Optional[str] = None):
        """SPLADE vectors (models with a sparse head; else ``UnsupportedError``): a
        :class:`SparseEmbedding` per text, or one for one string. Prompts as in
        :meth:`encode`."""
        texts, single = _as_list(sentences, "embed_sparse")
        _check_batch_size(batch_size)
        prompt = self._prompt(prompt_name, prompt)
        if prompt:
            texts = [prompt + t for t in texts]
        out: List[SparseEmbedding] = []
        starts = range(0, len(texts), batch_size)
        bar = _progress.Progress(len(starts), "Batches",
                                 _progress.wanted(show_progress_bar, len(texts)))
        for s in starts:
            out.extend(SparseEmbedding(i, v) for i, v in
                       self._model.sparse(texts[s:s + batch_size]))
            bar.advance(1)
        if not texts and self.info["kind"] != "sparse":
            raise UnsupportedError(f"model '{self.info['name']}' has no sparse (SPLADE) head")
        return out[0] if single else out

    def tokenize(self, texts: Union[str, Sequence[str]]) -> dict:
        """What the model's tokenizer makes of each text, with the model's length rule:
        ``input_ids``, ``token_type_ids`` (int32 arrays, one per text: Ember packs batches
        without padding, so there is no attention mask) and ``tokens``."""
        items, _ = _as_list(texts, "tokenize")
        enc = self._model.tokenize(items)
        return {"input_ids": [e[0] for e in enc], "token_type_ids": [e[1] for e in enc],
                "tokens": [e[2] for e in enc]}

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarities [len(a), len(b)] of two sets of embeddings."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float32))
        b = np.atleast_2d(np.asarray(b, dtype=np.float32))
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return a @ b.T

    def __repr__(self) -> str:
        return (f"Encoder({self.info['name']!r}, dim={self.info['hidden_size']}, "
                f"dtype={self.dtype!r}, threads={self.info['threads']})")
