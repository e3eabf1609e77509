"""A LangChain ``Embeddings`` over :class:`ember.Encoder` (needs ``langchain-core``)."""

from typing import List, Optional

from langchain_core.embeddings import Embeddings

from ..encoder import Encoder


class EmberEmbeddings(Embeddings):
    """``EmberEmbeddings("all-MiniLM-L6-v2")``: documents and queries embedded by Ember.

    ``query_prompt`` / ``document_prompt`` are prepended to queries / documents (E5-style
    "query: " prefixes); ``normalize`` L2-normalizes the vectors.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", threads: Optional[int] = None,
                 dtype: str = "fp32", batch_size: int = 32, normalize: bool = False,
                 query_prompt: Optional[str] = None,
                 document_prompt: Optional[str] = None) -> None:
        self.encoder = Encoder(model, threads=threads, dtype=dtype)
        self.batch_size = batch_size
        self.normalize = normalize
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt

    def embed_documents(self, texts: List[str]) -> List[List[float]]:
        return self.encoder.encode(list(texts), batch_size=self.batch_size,
                                   normalize_embeddings=self.normalize,
                                   prompt=self.document_prompt).tolist()

    def embed_query(self, text: str) -> List[float]:
        return self.encoder.encode(text, normalize_embeddings=self.normalize,
                                   prompt=self.query_prompt).tolist()
