"""A Chroma vector store for LlamaIndex whose scores are cosine similarity.

Example:
    >>> from llama_index.vector_stores.imagevec import cosine_chroma_store
    >>> image_store = cosine_chroma_store("llamaindex-db", "images")         # doctest: +SKIP
"""

from llama_index.vector_stores.imagevec.base import CosineChromaVectorStore, cosine_chroma_store

__all__ = ["CosineChromaVectorStore", "cosine_chroma_store"]
