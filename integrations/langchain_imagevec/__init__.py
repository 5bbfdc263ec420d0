"""LangChain integration of imagevec: embeddings, a text-or-image retriever, agent tools, RAG.

Install with ``pip install "imagevec[langchain]"``.

Example:
    >>> import imagevec
    >>> from langchain_imagevec import ImagevecRetriever, create_image_search_tool
    >>> index = imagevec.ImageIndex("imagevec-db", collection="photos")  # doctest: +SKIP
    >>> index.add("photos/")                                              # doctest: +SKIP
    >>> ImagevecRetriever(index=index, k=3).invoke("a cat")               # doctest: +SKIP
    >>> tool = create_image_search_tool(index)                            # doctest: +SKIP
"""

from langchain_imagevec.embeddings import ImagevecEmbeddings
from langchain_imagevec.rag import (
    build_multimodal_messages,
    create_multimodal_rag_chain,
    image_to_data_uri,
    images_to_content_blocks,
)
from langchain_imagevec.relevance import unit_relevance
from langchain_imagevec.retrievers import ImagevecRetriever, guess_query_mode
from langchain_imagevec.tools import create_image_search_tool, create_similar_image_tool

__all__ = [
    "ImagevecEmbeddings",
    "ImagevecRetriever",
    "build_multimodal_messages",
    "create_image_search_tool",
    "create_multimodal_rag_chain",
    "create_similar_image_tool",
    "guess_query_mode",
    "image_to_data_uri",
    "images_to_content_blocks",
    "unit_relevance",
]
