"""A ``ChromaVectorStore`` in cosine space whose scores are cosine similarity.

``llama-index-vector-stores-chroma`` reports ``exp(-distance)`` as the score, whatever the
collection's space. That keeps the order but is not a cosine similarity: in a cosine
collection (distance ``1 - cos``) a perfect match scores 1.0 and an orthogonal one 0.37;
in Chroma's default ``l2`` space (squared distance ``2 - 2 cos`` for unit vectors) it is
``exp(2 cos - 2)``. :class:`CosineChromaVectorStore` undoes that, in this one place, so
retrievers report the cosine similarity imagevec uses everywhere (higher is better).

Example:
    >>> import chromadb
    >>> from llama_index.vector_stores.imagevec import cosine_chroma_store
    >>> client = chromadb.PersistentClient(path="llamaindex-db")               # doctest: +SKIP
    >>> image_store = cosine_chroma_store(client, "images")                    # doctest: +SKIP
    >>> storage = StorageContext.from_defaults(image_store=image_store)        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, ImageNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryResult
from llama_index.vector_stores.chroma import ChromaVectorStore

import imagevec

#: The Chroma spaces whose distances ``imagevec.distance_to_score`` converts.
_SPACES = ("cosine", "ip", "l2")


def score_to_cosine(score: float, space: str) -> float:
    """Turn ``ChromaVectorStore``'s ``exp(-distance)`` back into cosine similarity."""
    distance = -math.log(score) if score > 0 else math.inf
    return imagevec.distance_to_score(distance, space)


class CosineChromaVectorStore(ChromaVectorStore):
    """``ChromaVectorStore`` whose ``query`` scores are cosine similarity (higher is better).

    Works on collections of any space (the conversion follows the collection's space);
    :func:`cosine_chroma_store` creates them in cosine space, as imagevec does.

    Example:
        >>> store = CosineChromaVectorStore(chroma_collection=collection)       # doctest: +SKIP
    """

    _space: str = PrivateAttr(default="l2")

    def __init__(self, **kwargs: Any) -> None:
        """Same arguments as ``ChromaVectorStore``."""
        super().__init__(**kwargs)
        self._space = imagevec.collection_space(self._collection)
        if self._space not in _SPACES:
            raise ValueError(f"unknown Chroma space {self._space!r}")

    @property
    def space(self) -> str:
        """The collection's distance space."""
        return self._space

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Add like ``ChromaVectorStore.add``, with image nodes under stable ids.

        An image node from a document (``ref_doc_id``) is stored under an id derived from
        that document's id and the node's content hash, so adding the same documents again
        (a rerun of the same script: :func:`load_image_documents` gives stable document ids)
        replaces them instead of adding copies.
        """
        for node in nodes:
            if isinstance(node, ImageNode) and node.ref_doc_id:
                stem = hashlib.sha256(f"{node.ref_doc_id}\0{node.hash}".encode()).hexdigest()
                node.id_ = f"imagevec-{stem[:32]}"
        fresh = self._new_only(list(nodes))
        if fresh:
            super().add(fresh, **kwargs)
        return [node.node_id for node in nodes]

    def _new_only(self, nodes: list[BaseNode]) -> list[BaseNode]:
        """The nodes whose ids are not stored yet (same id = same document and content)."""
        ids = [node.node_id for node in nodes]
        present = set(self._collection.get(ids=ids, include=[])["ids"]) if ids else set()
        return [node for node in nodes if node.node_id not in present]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Query like ``ChromaVectorStore.query``; ``similarities`` are cosine similarities."""
        result = super().query(query, **kwargs)
        if result.similarities:
            result.similarities = [score_to_cosine(s, self._space) for s in result.similarities]
        return result


def cosine_chroma_store(client: Any, collection_name: str) -> CosineChromaVectorStore:
    """Get or create a cosine-space Chroma collection and wrap it for LlamaIndex.

    Args:
        client: a ``chromadb`` client, or a folder path for a ``PersistentClient``.
        collection_name: the collection (3-512 characters of ``[a-zA-Z0-9._-]``).

    Example:
        >>> text_store = cosine_chroma_store("llamaindex-db", "texts")            # doctest: +SKIP
    """
    if isinstance(client, (str, Path)):
        import chromadb

        client = chromadb.PersistentClient(path=str(client))
    collection = client.get_or_create_collection(
        collection_name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
    )
    return CosineChromaVectorStore(chroma_collection=collection)
