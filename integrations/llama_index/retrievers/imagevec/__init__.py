"""LlamaIndex retriever over an imagevec index: ``ImagevecRetriever`` (text or image queries).

Example:
    >>> from llama_index.retrievers.imagevec import ImagevecRetriever
    >>> ImagevecRetriever(index, k=4).retrieve("a cat")                      # doctest: +SKIP
"""

from llama_index.retrievers.imagevec.base import ImagevecRetriever

__all__ = ["ImagevecRetriever"]
