"""Text queries on a default-encoder collection without torch: ``[0, MiniLM(text)]``.

A text query compares only the semantic part of the stored vectors (see
:mod:`imagevec.encoders.default.encoder`), and the MiniLM text tower is numpy. So
:meth:`ImageIndex.search` answers ``search(text=...)`` on a collection the default wrote from
the stamp's config alone: no torch import, no EfficientNet, no fingerprint of the image
tower. The vectors equal ``LiteEncoder.embed_texts`` (tested).

Example:
    >>> embed = text_embedder(resolve("default"), {"model": "default"})   # doctest: +SKIP
    >>> embed(["a cat"]).shape                                             # doctest: +SKIP
    (1, 1664)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.encoders.default.minilm import DIM as TEXT_DIM
from imagevec.encoders.default.minilm import MiniLM

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef

IMAGE_FEATURES = 1280
"""EfficientNet-Lite0's pooled feature size (``efficientnet.FEATURE_DIM``; a test pins it)."""

_models: dict[str, MiniLM] = {}


def image_part_size(ref: ModelRef, config: dict[str, Any]) -> int:
    """Size of the CNN part of the vectors: a saved projection's, the configured one, or 1280."""
    head = (ref.saved or {}).get("projection")
    if head:
        return int(head["out_dim"])
    return int(config.get("projection_dim") or IMAGE_FEATURES)


def text_embedder(ref: ModelRef, config: dict[str, Any]) -> Callable[[Sequence[str]], np.ndarray]:
    """``texts -> (N, image part + 384)`` float32 unit rows, zeros over the image part."""
    image_dim = image_part_size(ref, config)
    model = _models.setdefault("bundled", MiniLM())

    def embed(texts: Sequence[str]) -> np.ndarray:
        text = model.embed([str(t) for t in texts])
        return np.concatenate([np.zeros((len(text), image_dim), np.float32), text], axis=1)

    embed.dim = image_dim + TEXT_DIM  # type: ignore[attr-defined]
    return embed
