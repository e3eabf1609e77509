"""A LlamaIndex embedding model over :class:`ember.Encoder` (needs ``llama-index-core``)."""

from typing import Any, List, Optional

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from ..encoder import Encoder


class EmberEmbedding(BaseEmbedding):
    """``EmberEmbedding(model_name="all-MiniLM-L6-v2")``: LlamaIndex's texts and queries
    embedded by Ember, ``embed_batch_size`` at a time (LlamaIndex's own batching field).

    ``query_prompt`` / ``text_prompt`` are prepended to queries / texts; ``normalize``
    L2-normalizes the vectors.
    """

    threads: Optional[int] = None
    dtype: str = "fp32"
    normalize: bool = False
    query_prompt: Optional[str] = None
    text_prompt: Optional[str] = None
    _encoder: Any = PrivateAttr()

    def __init__(self, model_name: str = "all-MiniLM-L6-v2", **kwargs: Any) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self._encoder = Encoder(model_name, threads=self.threads, dtype=self.dtype)

    @classmethod
    def class_name(cls) -> str:
        return "EmberEmbedding"

    def _encode(self, texts: List[str], prompt: Optional[str]) -> List[List[float]]:
        return self._encoder.encode(texts, batch_size=self.embed_batch_size,
                                    normalize_embeddings=self.normalize, prompt=prompt).tolist()

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._encode([query], self.query_prompt)[0]

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._encode([text], self.text_prompt)[0]

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        return self._encode(texts, self.text_prompt)

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> List[float]:
        return self._get_text_embedding(text)
