"""LlamaIndex integration of imagevec: local image + text embeddings, retrievers, tools.

Example:
    >>> from llama_index.embeddings.imagevec import ImagevecEmbedding, load_image_documents
    >>> emb = ImagevecEmbedding()                     # bundled offline model     # doctest: +SKIP
    >>> docs = load_image_documents("photos/", embed_model=emb)                  # doctest: +SKIP
    >>> index = MultiModalVectorStoreIndex.from_documents(
    ...     docs, embed_model=emb, image_embed_model=emb)                         # doctest: +SKIP
"""

from llama_index.embeddings.imagevec.base import ImagevecEmbedding
from llama_index.embeddings.imagevec.readers import check_image_documents, load_image_documents
from llama_index.embeddings.imagevec.retriever import ImagevecRetriever
from llama_index.embeddings.imagevec.stores import CosineChromaVectorStore, cosine_chroma_store
from llama_index.embeddings.imagevec.tools import create_image_search_tool

__all__ = [
    "CosineChromaVectorStore",
    "ImagevecEmbedding",
    "ImagevecRetriever",
    "check_image_documents",
    "cosine_chroma_store",
    "create_image_search_tool",
    "load_image_documents",
]
