"""Ember on Ray (needs ``ray[data,serve]``; ``pip install 'ember[ray]'``).

Ray Data: :class:`EmberEmbedder` is a callable class for ``Dataset.map_batches``; each actor
loads the model once and embeds a text column into an embedding column::

    ds = ds.map_batches(EmberEmbedder, fn_constructor_kwargs={"model": "all-MiniLM-L6-v2"},
                        compute=ray.data.ActorPoolStrategy(size=4), num_cpus=1,
                        batch_size=256, batch_format="numpy")

Ray Serve: :class:`EmberDeployment` serves an :class:`ember.Encoder`, autoscaled on ongoing
requests; :func:`deployment` makes the application::

    handle = serve.run(ember.integrations.ray.deployment("all-MiniLM-L6-v2"))
    # HTTP: POST / {"inputs": ["a text", ...]} -> [[...], ...]; or through the handle:
    vectors = handle.embed.remote(["a text"]).result()

docs/python.md has the details.
"""

from typing import Any, Dict, List, Optional, Union

import numpy as np

try:
    import ray
    from ray import serve
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ember.integrations.ray needs Ray Data and Ray Serve: pip install 'ember[ray]' "
        "(or pip install 'ray[data,serve]')") from e

from ..encoder import Encoder
from ..errors import EmberError, InvalidInputError

__all__ = ["EmberEmbedder", "EmberDeployment", "deployment", "build_app",
           "DEFAULT_AUTOSCALING_CONFIG", "DEFAULT_MAX_ONGOING_REQUESTS"]


def _actor_threads() -> int:
    """Compute threads for the model in a Ray worker: the CPUs Ray gave it (at least one)."""
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    except Exception:  # not in a Ray worker (called directly): one thread, as Ray's default
        cpus = 0
    return max(1, int(cpus))


class EmberEmbedder:
    """A ``map_batches`` class: embeds ``text_column`` of each batch into
    ``embedding_column`` (float32, one row of ``dim`` values per text), keeping every other
    column. Batches may be numpy dicts, pandas DataFrames or pyarrow Tables.

    The model loads once per actor, with as many compute threads as CPUs Ray assigned to the
    actor (``num_cpus`` of ``map_batches``) unless ``threads`` is given. ``encode_batch_size``,
    ``normalize_embeddings``, ``prompt_name`` and ``prompt`` are :meth:`Encoder.encode`'s.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", text_column: str = "text",
                 embedding_column: str = "embedding", threads: Optional[int] = None,
                 dtype: str = "fp32", max_length: Optional[int] = None,
                 encode_batch_size: int = 32, normalize_embeddings: bool = False,
                 prompt_name: Optional[str] = None, prompt: Optional[str] = None) -> None:
        self.encoder = Encoder(model, threads=threads or _actor_threads(), dtype=dtype,
                               max_length=max_length)
        self.text_column = text_column
        self.embedding_column = embedding_column
        self.encode_kwargs = dict(batch_size=encode_batch_size,
                                  normalize_embeddings=normalize_embeddings,
                                  prompt_name=prompt_name, prompt=prompt)

    def _embed(self, texts: list) -> np.ndarray:
        # A missing value (None, NaN) is an InvalidInputError naming the row, not "nan" embedded.
        return self.encoder.encode(texts, show_progress_bar=False, **self.encode_kwargs)

    def __call__(self, batch):
        col = self.text_column
        if isinstance(batch, dict):  # batch_format="numpy"
            if col not in batch:
                raise InvalidInputError(f"EmberEmbedder: the batch has no column '{col}' "
                                        f"(columns: {sorted(batch)})")
            out = dict(batch)
            out[self.embedding_column] = self._embed(batch[col].tolist())
            return out
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover
            pd = None
        if pd is not None and isinstance(batch, pd.DataFrame):  # batch_format="pandas"
            if col not in batch.columns:
                raise InvalidInputError(f"EmberEmbedder: the batch has no column '{col}' "
                                        f"(columns: {list(batch.columns)})")
            out = batch.copy(deep=False)
            out[self.embedding_column] = list(self._embed(batch[col].tolist()))
            return out
        import pyarrow as pa
        if isinstance(batch, pa.Table):  # batch_format="pyarrow"
            if col not in batch.column_names:
                raise InvalidInputError(f"EmberEmbedder: the batch has no column '{col}' "
                                        f"(columns: {batch.column_names})")
            vectors = self._embed(batch.column(col).to_pylist())
            flat = pa.array(vectors.reshape(-1), type=pa.float32())
            return batch.append_column(self.embedding_column,
                                       pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
        raise InvalidInputError(f"EmberEmbedder: batches of type {type(batch).__name__} are not "
                                "supported (batch_format numpy, pandas or pyarrow)")


# Autoscaling on ongoing requests: a replica computes one batch at a time with all its
# threads, so about two requests per replica (one running, one waiting) keeps it busy without
# letting a queue grow; more replicas are added above that.
DEFAULT_AUTOSCALING_CONFIG: Dict[str, Any] = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 2,
}
# Requests a replica accepts at once; beyond that Serve queues them at the caller.
DEFAULT_MAX_ONGOING_REQUESTS = 8


def _error(status: int, message: str, error_type: str):
    from starlette.responses import JSONResponse
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status)


@serve.deployment(autoscaling_config=DEFAULT_AUTOSCALING_CONFIG,
                  max_ongoing_requests=DEFAULT_MAX_ONGOING_REQUESTS,
                  ray_actor_options={"num_cpus": 1})
class EmberDeployment:
    """A Ray Serve deployment of :class:`ember.Encoder` (constructor arguments: Encoder's).

    HTTP: ``POST`` a JSON object ``{"inputs": str | [str], "normalize": bool,
    "prompt_name": str, "prompt": str}`` (text-embeddings-inference's ``/embed`` request:
    ``normalize`` defaults to true) and get the embeddings, ``[[float, ...], ...]``, one per
    input. Bad input is a 422 ``{"error", "error_type"}`` and leaves the replica serving.
    Handle: ``handle.embed.remote(texts, ...)`` gives :meth:`Encoder.encode`'s array.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", threads: Optional[int] = None,
                 dtype: str = "fp32", max_length: Optional[int] = None,
                 batch_size: int = 32) -> None:
        self.encoder = Encoder(model, threads=threads or _actor_threads(), dtype=dtype,
                               max_length=max_length)
        self.batch_size = batch_size

    def embed(self, inputs: Union[str, List[str]], normalize_embeddings: bool = False,
              prompt_name: Optional[str] = None, prompt: Optional[str] = None) -> np.ndarray:
        """:meth:`Encoder.encode` of ``inputs`` (for DeploymentHandle callers)."""
        return self.encoder.encode(inputs, batch_size=self.batch_size,
                                   normalize_embeddings=normalize_embeddings,
                                   prompt_name=prompt_name, prompt=prompt,
                                   show_progress_bar=False)

    def info(self) -> Dict[str, Any]:
        """The model's description (``Encoder.info``)."""
        return dict(self.encoder.info)

    async def __call__(self, request) -> Any:
        try:
            body = await request.json()
        except Exception:
            return _error(400, "the request body is not JSON", "Validation")
        if not isinstance(body, dict) or "inputs" not in body:
            return _error(422, "give a JSON object with 'inputs': a string or a list of strings",
                          "Validation")
        inputs = body["inputs"]
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts:
            return _error(422, "'inputs' must be a string or a non-empty list of strings",
                          "Validation")
        normalize = body.get("normalize", True)
        if not isinstance(normalize, bool):
            return _error(422, "'normalize' must be a boolean", "Validation")
        try:
            # Sync compute off the replica's event loop (the GIL is released while it runs).
            vectors = await _run_in_thread(self.embed, texts, normalize, body.get("prompt_name"),
                                           body.get("prompt"))
        except InvalidInputError as e:
            return _error(422, str(e), "Validation")
        except EmberError as e:
            return _error(500, str(e), e.kind)
        return vectors.tolist()


async def _run_in_thread(fn, *args):
    import asyncio
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def deployment(model: str = "all-MiniLM-L6-v2", *, name: str = "EmberDeployment",
               autoscaling_config: Optional[Dict[str, Any]] = None,
               max_ongoing_requests: Optional[int] = None,
               ray_actor_options: Optional[Dict[str, Any]] = None,
               **encoder_kwargs) -> "serve.Application":
    """The Serve application of :class:`EmberDeployment` for ``model``, ready for
    ``serve.run``. ``autoscaling_config``, ``max_ongoing_requests`` and ``ray_actor_options``
    replace the defaults (:data:`DEFAULT_AUTOSCALING_CONFIG`, one CPU per replica, which is
    also its compute threads unless ``threads`` is given); ``encoder_kwargs`` go to
    :class:`ember.Encoder` (``threads``, ``dtype``, ``max_length``) or set ``batch_size``."""
    options: Dict[str, Any] = {"name": name}
    if autoscaling_config is not None:
        options["autoscaling_config"] = autoscaling_config
    if max_ongoing_requests is not None:
        options["max_ongoing_requests"] = max_ongoing_requests
    if ray_actor_options is not None:
        options["ray_actor_options"] = ray_actor_options
    return EmberDeployment.options(**options).bind(model, **encoder_kwargs)


def build_app(args: Dict[str, Any]) -> "serve.Application":
    """Application builder for ``serve run ember.integrations.ray:build_app model=NAME`` and
    Serve config files: ``args`` are :func:`deployment`'s keyword arguments."""
    return deployment(**args)
