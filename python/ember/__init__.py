"""Ember: transformer encoders on CPU, from Python.

    import ember
    model = ember.Encoder("all-MiniLM-L6-v2")
    vectors = model.encode(["first text", "second text"])  # numpy float32 [2, 384]

The classes follow sentence-transformers' semantics (``Encoder.encode``, ``CrossEncoder.predict``
and ``.rank``); the engine is Ember's C++ library (include/ember/ember.h), which computes with
the GIL released. Errors are :mod:`ember.errors` classes, one per Ember error kind.
"""

from . import errors
from .cross_encoder import Classifier, CrossEncoder
from .encoder import Encoder, SparseEmbedding
from .errors import (EmberError, InternalError, InvalidInputError, NotFoundError,
                     OverloadedError, UnavailableError, UnsupportedError)

__version__ = "0.1.0"

__all__ = ["Encoder", "CrossEncoder", "Classifier", "SparseEmbedding", "errors", "EmberError",
           "InvalidInputError", "NotFoundError", "UnsupportedError", "OverloadedError",
           "UnavailableError", "InternalError", "__version__"]
