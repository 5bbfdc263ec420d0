"""Relevance scores in [0, 1] for LangChain's Chroma over imagevec's unit vectors.

LangChain's ``similarity_search_with_relevance_scores`` warns when a score falls outside
[0, 1], and the warning prints every matched document: with ``add_images`` that is the whole
base64 of each image. Its default score functions go below 0 for unit vectors (``1 - d`` in
cosine space once the cosine is negative; ``1 - d/sqrt(2)`` of the squared L2 distance in
l2 space). :func:`unit_relevance` maps either distance to ``(1 + cosine) / 2``: the same
order, always in [0, 1], no warning.

Example:
    >>> from langchain_chroma import Chroma                              # doctest: +SKIP
    >>> store = Chroma("photos", ImagevecEmbeddings(),                   # doctest: +SKIP
    ...                collection_metadata={"hnsw:space": "cosine"},
    ...                relevance_score_fn=unit_relevance("cosine"))
"""

from __future__ import annotations

from collections.abc import Callable


def unit_relevance(space: str = "cosine") -> Callable[[float], float]:
    """A ``relevance_score_fn`` for Chroma's ``space`` (``cosine`` or ``l2``) over unit vectors:
    ``(1 + cosine) / 2``, in [0, 1], higher is better.

    Raises:
        ValueError: for another space (``ip`` scores need no mapping for unit vectors).
    """
    if space == "cosine":  # distance = 1 - cosine, in [0, 2]
        return lambda distance: min(1.0, max(0.0, 1.0 - distance / 2.0))
    if space == "l2":  # squared L2 distance = 2 - 2 cosine, in [0, 4]
        return lambda distance: min(1.0, max(0.0, 1.0 - distance / 4.0))
    raise ValueError(f"unit_relevance: space must be 'cosine' or 'l2', not {space!r}")
