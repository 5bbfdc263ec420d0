"""LangChain integration of imagevec: embeddings, a text-or-image retriever, agent tools, RAG.

Example:
    >>> from langchain_imagevec import ImagevecEmbeddings
    >>> emb = ImagevecEmbeddings(model="default")
"""

from langchain_imagevec.embeddings import ImagevecEmbeddings

__all__ = ["ImagevecEmbeddings"]
