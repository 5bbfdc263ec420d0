"""Retrieval quality of an encoder on labelled images: recall@k, mAP and MRR.

Protocol (leave-one-out): every image queries all the *other* images, ranked by cosine
similarity; an image is relevant to a query when it has the same label. A query whose label
has no other image has nothing to find and is left out (counted in ``"skipped"``).

* ``recall@k`` — share of queries with at least one relevant image in the top ``k``;
* ``map`` — mean over queries of the average precision (precision at each relevant rank,
  averaged over all relevant images);
* ``mrr`` — mean over queries of ``1 / rank`` of the first relevant image.

Example:
    >>> import numpy as np
    >>> vecs = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> retrieval_metrics(vecs, ["a", "a", "b", "b"], ks=(1,))["recall@1"]
    1.0
    >>> evaluate_folder("products/", "default")          # doctest: +SKIP
    {'recall@1': 0.91, 'recall@5': 0.98, ..., 'map': 0.83, 'mrr': 0.94, 'queries': 300, ...}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.errors import ConfigError
from imagevec.io.files import scan_labelled_folder

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Embedder as Encoder

__all__ = ["evaluate_folder", "evaluate_images", "format_metrics", "retrieval_metrics"]

_CHUNK = 1024  # query rows scored at once: memory is _CHUNK x N floats


def retrieval_metrics(
    vectors: np.ndarray, labels: Sequence[Hashable], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Leave-one-out retrieval metrics of labelled vectors under cosine similarity.

    Args:
        vectors: ``(N, D)`` array (normalised here, so raw features are fine).
        labels: ``N`` labels; images sharing a label are relevant to each other.
        ks: the cut-offs for ``recall@k``.

    Returns:
        ``{"recall@k": ..., "map": ..., "mrr": ..., "queries": n, "skipped": m}``; the
        metrics are in ``[0, 1]`` (0.0 when no query has a relevant image).

    Raises:
        ConfigError: shapes disagree or a ``k`` is not positive.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ConfigError(f"need (N, D) vectors and N labels, got {x.shape} and {len(labels)}")
    if any(int(k) < 1 for k in ks):
        raise ConfigError(f"every k must be >= 1, got {tuple(ks)}")
    _, codes = np.unique(np.asarray([str(label) for label in labels]), return_inverse=True)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    hits = {int(k): 0.0 for k in ks}
    ap_sum = rr_sum = 0.0
    queries = 0
    for start in range(0, len(x), _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, len(x)))
        sims = x[rows] @ x.T
        sims[np.arange(len(rows)), rows] = -np.inf  # never retrieve yourself
        order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]  # self is ranked last
        relevant = codes[order] == codes[rows][:, None]  # (rows, N-1), in rank order
        n_rel = relevant.sum(axis=1)
        keep = n_rel > 0
        relevant, n_rel = relevant[keep], n_rel[keep]
        queries += int(keep.sum())
        if not len(relevant):
            continue
        ranks = np.arange(1, relevant.shape[1] + 1)
        for k in hits:
            hits[k] += float(relevant[:, :k].any(axis=1).sum())
        precision = np.cumsum(relevant, axis=1) / ranks
        ap_sum += float(((precision * relevant).sum(axis=1) / n_rel).sum())
        rr_sum += float((1.0 / (relevant.argmax(axis=1) + 1)).sum())
    denom = max(queries, 1)
    metrics: dict[str, float] = {f"recall@{k}": v / denom for k, v in hits.items()}
    metrics.update(map=ap_sum / denom, mrr=rr_sum / denom)
    metrics.update(queries=queries, skipped=len(x) - queries)
    return metrics


def evaluate_images(
    images: Sequence[Any],
    labels: Sequence[Hashable],
    encoder: Encoder | str,
    *,
    ks: Sequence[int] = (1, 5, 10),
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, float]:
    """Embed labelled images (paths, PIL images, arrays...) and score them.

    Args:
        images: any inputs :meth:`Encoder.embed_images` accepts.
        labels: one label per image.
        encoder: an :class:`~imagevec.Encoder` or a model name for ``create_encoder``.
        ks: cut-offs for ``recall@k``.
        batch_size: images per forward pass.
        progress: show a progress bar while embedding.
    """
    enc = _as_encoder(encoder)
    with enc.evaluating():
        vectors = enc.embed_images(list(images), batch_size=batch_size, progress=progress)
    return retrieval_metrics(vectors, labels, ks)


def evaluate_folder(
    path: str | Path,
    encoder: Encoder | str,
    *,
    ks: Sequence[int] = (1, 5, 10),
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, float]:
    """Score an encoder on a folder of sub-folders, one per label (leave-one-out).

    Args:
        path: ``path/<label>/<image>``; images directly in ``path`` are ignored.
        encoder: an :class:`~imagevec.Encoder` or a model name.
        ks: cut-offs for ``recall@k``.
        batch_size: images per forward pass.
        progress: show a progress bar while embedding.

    Returns:
        The :func:`retrieval_metrics` dict, plus ``"images"`` and ``"labels"`` counts.

    Example:
        >>> m = evaluate_folder("products/", "default")         # doctest: +SKIP
        >>> print(format_metrics(m))                               # doctest: +SKIP
    """
    paths, labels = scan_labelled_folder(path)
    metrics = evaluate_images(
        paths, labels, encoder, ks=ks, batch_size=batch_size, progress=progress
    )
    metrics.update(images=len(paths), labels=len(set(labels)))
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """One line such as ``recall@1 0.812  recall@5 0.950  map 0.701  mrr 0.866``."""
    parts = [f"{key} {value:.3f}" for key, value in metrics.items() if _is_score(key)]
    return "  ".join(parts)


def _is_score(key: str) -> bool:
    return key.startswith("recall@") or key in ("map", "mrr")


def _as_encoder(encoder: Encoder | str) -> Encoder:
    if isinstance(encoder, (str, Path)):
        from imagevec.encoders.factory import create_encoder

        return create_encoder(str(encoder))
    return encoder
