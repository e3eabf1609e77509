"""Adapters to other libraries, each importable on its own (its library is then required):
``ember.integrations.langchain`` and ``ember.integrations.llama_index``."""
