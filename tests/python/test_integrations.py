"""The LangChain and LlamaIndex adapters against the real libraries (langchain-core,
llama-index-core); an import error fails these tests rather than skipping them."""

import numpy as np

from conftest import row_cosines


def test_langchain_embeddings(minilm_ref):
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import InMemoryVectorStore

    from ember.integrations.langchain import EmberEmbeddings

    emb = EmberEmbeddings(minilm_ref.model, threads=2)
    assert isinstance(emb, Embeddings)
    texts = minilm_ref.texts[:16]
    docs = emb.embed_documents(texts)
    assert isinstance(docs, list) and isinstance(docs[0], list) and isinstance(docs[0][0], float)
    assert row_cosines(np.array(docs), minilm_ref["pooled"][:16]).min() >= 0.99999
    q = emb.embed_query(texts[5])
    assert row_cosines(np.array([q]), minilm_ref["pooled"][5:6])[0] >= 0.99999
    # Through LangChain's own vector store: each text finds itself first.
    store = InMemoryVectorStore(embedding=emb)
    store.add_documents([Document(page_content=t) for t in texts if t.strip()])
    for t in [t for t in texts if len(t) > 20][:3]:
        assert store.similarity_search(t, k=1)[0].page_content == t


def test_llama_index_embedding(minilm_ref):
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from ember.integrations.llama_index import EmberEmbedding

    emb = EmberEmbedding(model_name=minilm_ref.model, threads=2, embed_batch_size=5)
    assert isinstance(emb, BaseEmbedding)
    texts = minilm_ref.texts[:16]
    got = emb.get_text_embedding_batch(texts)
    assert len(got) == 16
    assert row_cosines(np.array(got), minilm_ref["pooled"][:16]).min() >= 0.99999
    q = emb.get_query_embedding(texts[7])
    assert row_cosines(np.array([q]), minilm_ref["pooled"][7:8])[0] >= 0.99999
    prompted = EmberEmbedding(model_name=minilm_ref.model, query_prompt="query: ")
    pq = prompted.get_query_embedding(texts[7])
    want = emb.get_text_embedding("query: " + texts[7])
    assert row_cosines(np.array([pq]), np.array([want]))[0] >= 0.999999
