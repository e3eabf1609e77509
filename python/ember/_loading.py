"""Loading a model for the Python classes: threads, max_length and dtype ("fp32", "bf16", "int8").

``dtype="fp32"`` computes in fp32 (a bf16 or fp16 checkpoint is widened, as
sentence-transformers loads it); ``dtype="bf16"`` runs the Linears and attention in bf16 where the CPU has
``avx512_bf16`` and in fp32 elsewhere, with ``info["dtype_note"]`` saying so and a
``RuntimeWarning`` (docs/bf16.md).

``dtype="int8"`` of a float model uses its int8 copy (``ember quantize``), written once into
the model cache beside the float model as ``<name>-int8`` (``<dir name>-int8-<hash>`` for a
model given as a directory) and loaded from there afterwards. A model that is int8 already
is loaded as it is. Delete the ``-int8`` directory to have it written again.
"""

import hashlib
import os
import warnings
from pathlib import Path

from . import _ember
from .errors import InvalidInputError

DTYPES = ("fp32", "bf16", "int8")


def model_cache_dir() -> Path:
    """The directory Ember's model names resolve in (io/model_dir.h's rule)."""
    if os.environ.get("EMBER_MODEL_CACHE"):
        return Path(os.environ["EMBER_MODEL_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "ember" / "models"
    return Path.home() / ".cache" / "ember" / "models"


def int8_name(model: str) -> str:
    """The cache name of the int8 copy of ``model``."""
    if os.path.isdir(model):
        real = os.path.realpath(model)
        digest = hashlib.sha1(real.encode("utf-8")).hexdigest()[:10]
        return f"{os.path.basename(real)}-int8-{digest}"
    return f"{model.rstrip('/').rsplit('/', 1)[-1]}-int8"


def load_model(model, threads=None, dtype="fp32", max_length=None):
    """An ``_ember.Model``; ``threads`` None means all cores."""
    model = os.fspath(model)
    if dtype not in DTYPES:
        raise InvalidInputError(f"dtype '{dtype}' is not one of {', '.join(DTYPES)}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InvalidInputError(f"threads must be a positive integer or None, not {threads!r}")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise InvalidInputError(f"max_length must be a positive integer or None, not "
                                f"{max_length!r}")

    def load(name, engine_dtype="auto"):
        return _ember.Model.load(name, threads=threads or 0, max_length=max_length,
                                 dtype=engine_dtype)

    if dtype in ("fp32", "bf16"):
        m = load(model, dtype)
        if m.info["dtype_note"]:
            warnings.warn(m.info["dtype_note"], RuntimeWarning, stacklevel=3)
        return m
    out = model_cache_dir() / int8_name(model)
    if not out.is_dir():
        source = load(model)
        if source.info["quantization"]:
            return source
        del source
        try:
            _ember.quantize(model, str(out))
        except InvalidInputError:
            if not out.is_dir():  # not a copy written meanwhile by another process
                raise
    return load(str(out))
