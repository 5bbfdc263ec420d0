"""Run one search on a collection: what was asked -> a :class:`Query` -> hits.

:meth:`imagevec.ImageIndex.search` is the facade (arguments, the store, the encoder); this
module holds the steps: exactly one kind of query (:func:`as_query`), its vector through
:func:`~imagevec.search.combine.query_vector`, and the items named by ``like`` left out of
their own results unless asked. The encoder is loaded only when a text or an image needs it;
from the graph cache that is an ONNX Runtime session per tower, opened on first use (a text
query never opens the image graph), and never torch.

Example:
    >>> query = as_query(text=None, image=None, vector=None, like="cat.jpg", query=None)
    >>> query.parts[0].kind
    'like'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.errors import ConfigError
from imagevec.search.combine import query_vector
from imagevec.search.query import Query, parse_query
from imagevec.store.chroma import Store
from imagevec.types import Hit

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Embedder as Encoder

__all__ = ["as_query", "run_query"]


def as_query(
    *,
    text: str | None,
    image: Any,
    vector: np.ndarray | Sequence[float] | None,
    like: str | os.PathLike[str] | None,
    query: Query | str | None,
) -> Query | np.ndarray:
    """The one query asked: a :class:`Query` (a string is parsed), or a raw query vector.

    Raises:
        ConfigError: not exactly one of them, or ``query`` neither a Query nor a string.
    """
    if sum(q is not None for q in (text, image, vector, like, query)) != 1:
        raise ConfigError("search takes exactly one of text=, image=, vector=, like= or query=")
    if vector is not None:
        return np.asarray(vector, dtype=np.float32)
    if text is not None:
        return Query.text(text)
    if image is not None:
        return Query.image(image)
    if like is not None:
        return Query.like(like)
    if isinstance(query, str):
        return parse_query(query)
    if not isinstance(query, Query):
        raise ConfigError(f"query= takes a Query or a string, got {type(query).__name__}")
    return query


def run_query(
    store: Store,
    query: Query | np.ndarray,
    *,
    encoder: Callable[[], Encoder],
    k: int,
    where: dict[str, Any] | None,
    include_self: bool = False,
    **load_options: Any,
) -> list[Hit]:
    """The ``k`` best hits of ``store`` for ``query`` (from :func:`as_query`).

    Args:
        encoder: returns the collection's encoder (called only if a text or image needs it).
        include_self: keep the items named by ``like`` parts in the results.
        **load_options: for image parts (``policy``...).
    """
    if isinstance(query, np.ndarray):
        return store.query(query, k=k, where=where)
    vec, items = query_vector(query, encoder=encoder, store=store, **load_options)
    skip = set() if include_self else set(items)
    hits = store.query(vec, k=k + len(skip), where=where)
    return [hit for hit in hits if hit.id not in skip][:k]
