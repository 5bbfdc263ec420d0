"""LlamaIndex embedding of imagevec: local image + text embeddings (``ImagevecEmbedding``).

The other components live in LlamaIndex's per-kind namespaces, as its own integrations do:
``llama_index.retrievers.imagevec`` (``ImagevecRetriever``), ``llama_index.tools.imagevec``
(``create_image_search_tool``), ``llama_index.readers.imagevec`` (``load_image_documents``,
``check_image_documents``) and ``llama_index.vector_stores.imagevec``
(``CosineChromaVectorStore``, ``cosine_chroma_store``).

Example:
    >>> from llama_index.embeddings.imagevec import ImagevecEmbedding
    >>> from llama_index.readers.imagevec import load_image_documents
    >>> emb = ImagevecEmbedding()                     # bundled offline model     # doctest: +SKIP
    >>> docs = load_image_documents("photos/", embed_model=emb)                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from llama_index.embeddings.imagevec.base import ImagevecEmbedding

__all__ = ["ImagevecEmbedding"]

#: Names that lived here before the per-kind namespaces; importable, with a warning.
_MOVED = {
    "ImagevecRetriever": "llama_index.retrievers.imagevec",
    "create_image_search_tool": "llama_index.tools.imagevec",
    "load_image_documents": "llama_index.readers.imagevec",
    "check_image_documents": "llama_index.readers.imagevec",
    "CosineChromaVectorStore": "llama_index.vector_stores.imagevec",
    "cosine_chroma_store": "llama_index.vector_stores.imagevec",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{name} moved to {module}; import it from there", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(module), name)
