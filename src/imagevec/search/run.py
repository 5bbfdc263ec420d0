"""Run one search on a collection: what was asked -> a :class:`Query` -> hits.

:meth:`imagevec.ImageIndex.search` is the facade (arguments, the store, the encoder); this
module holds the steps: exactly one kind of query (:func:`as_query`), a single text by the
collection's light text path when it has one (:func:`light_text_vector`: the default's numpy
MiniLM, no torch, no image tower), every other query through
:func:`~imagevec.search.combine.query_vector`, and the items named by ``like`` left out of
their own results unless asked.

Example:
    >>> query = as_query(text=None, image=None, vector=None, like="cat.jpg", query=None)
    >>> query.parts[0].kind
    'like'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.errors import ConfigError
from imagevec.search.combine import query_vector
from imagevec.search.query import Query, parse_query
from imagevec.store.chroma import Store
from imagevec.types import Hit

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Embedder as Encoder

__all__ = ["as_query", "light_image_vector", "light_text_vector", "run_query"]


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
    light_text: Callable[[str], np.ndarray | None],
    k: int,
    light_image: Callable[..., np.ndarray | None] = lambda image, **options: None,
    where: dict[str, Any] | None,
    include_self: bool = False,
    **load_options: Any,
) -> list[Hit]:
    """The ``k`` best hits of ``store`` for ``query`` (from :func:`as_query`).

    Args:
        encoder: returns the collection's encoder (called only if a text or image needs it).
        light_text: a one-text query's vector by a light path, or None to use the encoder.
        light_image: the same for a one-image query (given the load options).
        include_self: keep the items named by ``like`` parts in the results.
        **load_options: for image parts (``policy``...).
    """
    if isinstance(query, np.ndarray):
        return store.query(query, k=k, where=where)
    only = query.parts[0] if len(query.parts) == 1 else None
    if only is not None and only.kind == "text" and only.weight > 0:
        light = light_text(str(only.value))
        if light is not None:
            return store.query(light, k=k, where=where)
    if only is not None and only.kind == "image" and only.weight > 0:
        light = light_image(only.value, **load_options)
        if light is not None:
            return store.query(light, k=k, where=where)
    vec, items = query_vector(query, encoder=encoder, store=store, **load_options)
    skip = set() if include_self else set(items)
    hits = store.query(vec, k=k + len(skip), where=where)
    return [hit for hit in hits if hit.id not in skip][:k]


def light_text_vector(
    stamp: Mapping[str, Any] | None, text: str, *, named: bool
) -> np.ndarray | None:
    """``text``'s query vector by the light text path of the encoder ``stamp`` names, or None
    when there is none (or it cannot load, or its size differs from the stamp's).

    Args:
        named: the user named the model; otherwise it loads from local files only (a model
            only a stored stamp names is never downloaded).
    """
    if stamp is None or not isinstance(text, str):
        return None
    from imagevec.encoders.factory import text_query_embedder
    from imagevec.encoders.hub import local_only
    from imagevec.errors import ModelLoadError

    guard = contextlib.nullcontext() if named else local_only()
    try:
        with guard:
            embed = text_query_embedder(dict(stamp.get("config") or {}))
    except ModelLoadError:
        return None
    if embed is None or str(getattr(embed, "dim", "")) != str(stamp.get("dim")):
        return None
    return embed([text])[0]


_LIGHT_IMAGE_OPTIONS = frozenset({"policy", "max_pixels"})


def light_image_vector(
    stamp: Mapping[str, Any] | None, image: Any, **load_options: Any
) -> np.ndarray | None:
    """``image``'s query vector by the light image path of the encoder ``stamp`` names (the
    default's numpy tower), or None when there is none or the fingerprints differ.

    Raises:
        ImageLoadError: the image cannot be read (as the encoder's path would).
    """
    if stamp is None or set(load_options) - _LIGHT_IMAGE_OPTIONS:
        return None
    from imagevec.encoders.factory import image_query_embedder
    from imagevec.errors import ModelLoadError

    try:
        embed = image_query_embedder(dict(stamp.get("config") or {}), str(stamp.get("fingerprint")))
    except (ModelLoadError, OSError, ValueError):
        return None
    if embed is None or str(getattr(embed, "dim", "")) != str(stamp.get("dim")):
        return None
    return embed([image], **load_options)[0]
