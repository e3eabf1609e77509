"""``ember.CrossEncoder`` (sentence-transformers' CrossEncoder semantics) and
``ember.Classifier``: sequence-classification heads over texts and text pairs."""

from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _progress
from ._loading import load_model
from .errors import InvalidInputError, UnsupportedError

Pair = Tuple[str, str]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _load_classifier(model, threads, dtype, max_length):
    m = load_model(model, threads=threads, dtype=dtype, max_length=max_length)
    if m.info["kind"] != "sequence_classification":
        raise UnsupportedError(f"model '{m.info['name']}' ({m.info['architecture']}) has no "
                               f"sequence-classification head")
    return m


def _as_pairs(pairs) -> Tuple[List[Pair], bool]:
    """(list of pairs, whether one pair was given)."""
    if (isinstance(pairs, (list, tuple)) and len(pairs) == 2 and isinstance(pairs[0], str)
            and isinstance(pairs[1], str)):
        return [(pairs[0], pairs[1])], True
    out = []
    for i, p in enumerate(pairs):
        if (not isinstance(p, (list, tuple)) or len(p) != 2 or not isinstance(p[0], str)
                or not isinstance(p[1], str)):
            raise InvalidInputError(f"predict: input {i} is not a pair of strings")
        out.append((p[0], p[1]))
    return out, False


class CrossEncoder:
    """A reranker or pair classifier: scores of (query, document) pairs.

    ``predict`` applies, as sentence-transformers does, ``activation_fn`` if given, else the
    sigmoid for a one-label model and nothing for several labels (``apply_softmax=True``: the
    softmax over them).
    """

    def __init__(self, model, threads: Optional[int] = None, dtype: str = "fp32",
                 max_length: Optional[int] = None) -> None:
        self._model = _load_classifier(model, threads, dtype, max_length)
        self.info = self._model.info
        self.num_labels = len(self.info["labels"])

    def predict(self, sentences: Union[Pair, Sequence[Pair]], batch_size: int = 32,
                show_progress_bar: Optional[bool] = None,
                activation_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                apply_softmax: bool = False, convert_to_numpy: bool = True):
        """Scores [n] for a one-label model, [n, labels] else; one pair gives one score (row)."""
        pairs, single = _as_pairs(sentences)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, not {batch_size!r}")
        logits = np.empty((len(pairs), self.num_labels), dtype=np.float32)
        starts = range(0, len(pairs), batch_size)
        bar = _progress.Progress(len(starts), "Batches",
                                 _progress.wanted(show_progress_bar, len(pairs)))
        for s in starts:
            logits[s:s + batch_size] = self._model.pair_logits(pairs[s:s + batch_size])
            bar.advance(1)
        if activation_fn is not None:
            scores = np.asarray(activation_fn(logits), dtype=np.float32)
        elif self.num_labels == 1:
            scores = sigmoid(logits)
        else:
            scores = logits
        if apply_softmax and scores.ndim > 1 and scores.shape[1] > 1:
            scores = softmax(scores)
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if single:
            return scores[0]
        return scores if convert_to_numpy else list(scores)

    def rank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
             return_documents: bool = False, batch_size: int = 32,
             show_progress_bar: Optional[bool] = None) -> List[dict]:
        """The documents by decreasing score against ``query``: [{"corpus_id", "score"
        (, "text")}], the first ``top_k`` of them if given."""
        if not isinstance(query, str):
            raise InvalidInputError("rank: the query must be a str")
        docs = list(documents)
        if self.num_labels != 1:
            raise UnsupportedError(f"rank needs a one-label model; '{self.info['name']}' has "
                                   f"{self.num_labels} labels")
        scores = self.predict([(query, d) for d in docs], batch_size=batch_size,
                              show_progress_bar=show_progress_bar) if docs else np.empty(0)
        order = np.argsort(-scores, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        out = []
        for i in order:
            r = {"corpus_id": int(i), "score": float(scores[i])}
            if return_documents:
                r["text"] = docs[i]
            out.append(r)
        return out


class Classifier:
    """A text classifier (a sequence-classification head): ``predict`` gives each text's label,
    ``predict_proba`` the softmax over the labels (the sigmoid for a one-label model),
    ``logits`` the raw scores."""

    def __init__(self, model, threads: Optional[int] = None, dtype: str = "fp32",
                 max_length: Optional[int] = None) -> None:
        self._model = _load_classifier(model, threads, dtype, max_length)
        self.info = self._model.info
        self.labels: List[str] = list(self.info["labels"])

    def logits(self, texts: Union[str, Sequence[str]], batch_size: int = 32) -> np.ndarray:
        items, single = self._texts(texts)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, not {batch_size!r}")
        out = np.empty((len(items), len(self.labels)), dtype=np.float32)
        for s in range(0, len(items), batch_size):
            out[s:s + batch_size] = self._model.logits(items[s:s + batch_size])
        return out[0] if single else out

    def predict_proba(self, texts: Union[str, Sequence[str]], batch_size: int = 32) -> np.ndarray:
        lg = self.logits(texts, batch_size)
        return sigmoid(lg) if len(self.labels) == 1 else softmax(lg)

    def predict(self, texts: Union[str, Sequence[str]], batch_size: int = 32):
        """The label of each text (argmax of the logits), or of the one text given."""
        lg = np.atleast_2d(self.logits(texts, batch_size))
        labels = [self.labels[i] for i in lg.argmax(axis=1)]
        return labels[0] if isinstance(texts, str) else labels

    @staticmethod
    def _texts(texts) -> Tuple[List[str], bool]:
        if isinstance(texts, str):
            return [texts], True
        items = list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise InvalidInputError(f"input {i} is a {type(t).__name__}, not a str")
        return items, False
