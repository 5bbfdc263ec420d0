"""A short digest of each record's vector, kept in its metadata, to check what the index holds.

Chroma hands back a vector that went through its index (normalised for cosine space, scaled
back by the stored norm), so the bytes differ in the last bits from what was written: the
digest is not a hash of the bytes but ``DIMS`` projections of the unit vector on fixed
pseudo-random directions (seeded by the dimension), scaled to unit variance and written with
4 decimals. Two records' vectors swapped, a vector from another record or garbage differ by
~1 per projection; a correct vector read back differs by < 1e-4. The chance that an unrelated
vector passes all ``DIMS`` projections at :data:`TOLERANCE` is about 1e-18.

Example:
    >>> meta[DIGEST] = vector_digest(vector)
    >>> digest_matches(meta[DIGEST], vector_read_back)
    True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from imagevec.store.record import VECTOR_DIGEST

__all__ = ["DIGEST", "TOLERANCE", "digest_matches", "vector_digest"]

DIGEST = VECTOR_DIGEST
"""The metadata field (see :mod:`imagevec.store.record`)."""
DIMS = 8
TOLERANCE = 0.01


@lru_cache(maxsize=8)
def _directions(dim: int) -> np.ndarray:
    rng = np.random.default_rng(20_260_000 + dim)
    directions = rng.standard_normal((dim, DIMS))
    return (directions / np.linalg.norm(directions, axis=0) * np.sqrt(dim)).astype(np.float64)


def _project(vector: np.ndarray) -> np.ndarray:
    flat = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(flat)
    if not np.isfinite(norm) or norm == 0:
        return np.zeros(DIMS)
    return (flat / norm) @ _directions(flat.size)


def vector_digest(vector: np.ndarray) -> str:
    """``"p1 p2 ... p8"``: the vector's projections, 4 decimals each."""
    return " ".join(f"{value:.4f}" for value in _project(vector))


def digest_matches(digest: object, vector: np.ndarray) -> bool:
    """Whether ``vector`` is the one whose digest was kept (within :data:`TOLERANCE`)."""
    try:
        kept = np.array([float(part) for part in str(digest).split()])
    except ValueError:
        return False
    return kept.shape == (DIMS,) and bool(np.all(np.abs(kept - _project(vector)) <= TOLERANCE))
