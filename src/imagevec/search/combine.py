"""Turn a :class:`~imagevec.search.query.Query` into one query vector, per the encoder's space.

Every part becomes a unit vector ``u_i`` (texts through the text tower, images through the
image path, indexed items from their stored vector). The query vector is
``q = sum(w_i * u_i / r_i)``, normalised. Since stored vectors are unit vectors, ranking by
``cos(q, x)`` ranks by ``sum(w_i * cos(u_i, x) / r_i)``: the weighted sum of each part's own
score, each divided by ``r_i``, the largest cosine a part of that kind can reach against a
stored image (:meth:`~imagevec.Encoder.query_reach`).

* Shared-space encoders (CLIP): ``r = 1`` for texts and images — plain weighted sum, as rclip.
* The bundled default stores ``[0.894 * CNN, 0.447 * ConSE]`` and embeds texts as
  ``[0, MiniLM]``: a text can only match the semantic part, so its cosine never exceeds 0.447.
  Its reach ``r_text = 0.447`` rescales it, so that ``1:text + 1:image`` weighs the text's
  match to what a photo shows as much as the picture's look. The parts stay where they live:
  texts move only the semantic part, images both, and ``-text`` lowers the semantic part.

Example:
    >>> vector, item_ids = query_vector(Query.text("beach") + Query.like("a.jpg"),
    ...                                 encoder=enc, store=store)     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.errors import ConfigError
from imagevec.search.items import lookup
from imagevec.search.query import Query
from imagevec.store.chroma import Store

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Embedder as Encoder

__all__ = ["query_vector"]


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def query_vector(
    query: Query,
    *,
    encoder: Callable[[], Encoder],
    store: Store,
    **load_options: Any,
) -> tuple[np.ndarray, list[str]]:
    """The normalised query vector of ``query`` and the ids of the indexed items it names.

    Args:
        query: the combined query.
        encoder: returns the collection's encoder (called only if a text or image needs it).
        store: the collection (for ``like`` parts).
        **load_options: for image parts (``policy``...).

    Raises:
        NotIndexedError: a ``like`` part names no indexed item.
        ConfigError: the parts cancel out (a zero vector).
    """
    rows: list[np.ndarray | None] = [None] * len(query.parts)
    item_ids: list[str] = []
    texts = [(i, p) for i, p in enumerate(query.parts) if p.kind == "text"]
    images = [(i, p) for i, p in enumerate(query.parts) if p.kind == "image"]
    if texts:
        enc = encoder()
        reach = enc.query_reach("text")
        embedded = _unit(enc.embed_texts([p.value for _, p in texts])) / reach
        for (i, _), row in zip(texts, embedded, strict=True):
            rows[i] = row
    if images:
        enc = encoder()
        reach = enc.query_reach("image")
        vectors = enc.embed_images([p.value for _, p in images], on_error="raise", **load_options)
        for (i, _), row in zip(images, _unit(vectors) / reach, strict=True):
            rows[i] = row
    for i, part in enumerate(query.parts):
        if part.kind == "like":
            item = lookup(store, part.value)
            rows[i] = _unit(item.vector[None])[0]
            item_ids.append(item.id)
    total = sum(part.weight * row for part, row in zip(query.parts, rows, strict=True))  # type: ignore[misc, operator]
    norm = float(np.linalg.norm(total))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ConfigError(f"the query {query.describe()!r} cancels out (its parts sum to zero)")
    return (total / norm).astype(np.float32), item_ids  # type: ignore[attr-defined]
