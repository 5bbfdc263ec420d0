"""LlamaIndex image documents from folders: ``load_image_documents``, ``check_image_documents``.

Example:
    >>> from llama_index.readers.imagevec import load_image_documents
    >>> docs = load_image_documents("photos/", embed_model=emb)              # doctest: +SKIP
"""

from llama_index.readers.imagevec.base import check_image_documents, load_image_documents

__all__ = ["check_image_documents", "load_image_documents"]
