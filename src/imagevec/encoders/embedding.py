"""What every encoder offers its users, torch-free: embed images and texts through the one
batching loop, identity, and the hooks the loop calls.

Two kinds of object implement it: the torch :class:`~imagevec.encoders.base.Encoder` (the one
definition of each model, used for export, training and the torch fallback) and the
:class:`~imagevec.engine.runtime.RuntimeEncoder` (an exported graph on ONNX Runtime, no torch).
Both provide :meth:`Embedder.run_images` and :meth:`Embedder.run_texts` on numpy batches;
everything else here is written once on top of :mod:`imagevec.batching`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from imagevec.errors import ConfigError, UnsupportedModalityError
from imagevec.preprocess import Preprocess
from imagevec.types import EncodedBatch, EncodeReport

OnError = Literal["raise", "skip", "warn"]
IMAGE, TEXT = "image", "text"


class Embedder(ABC):
    """Turns images (and, for some models, texts) into L2-normalised float32 vectors.

    Example:
        >>> enc = imagevec.create_encoder("default")                # doctest: +SKIP
        >>> enc.embed_images(["cat.jpg", pil_image]).shape          # doctest: +SKIP
        (2, 1664)
    """

    name: str
    dim: int
    modalities: frozenset[str] = frozenset({IMAGE})
    pooling: str | None = None
    space: str = "cosine"
    preprocess: Preprocess

    # ------------------------------------------------------------------ engine hooks
    @abstractmethod
    def run_images(self, pixels: np.ndarray) -> np.ndarray:
        """``uint8 (B, H, W, 3)`` prepared pixels -> ``float32 (B, dim)`` unit rows."""

    def run_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> ``float32 (B, dim)`` unit rows in the image space."""
        raise UnsupportedModalityError(f"encoder {self.name!r} embeds images only")

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Hash of the weights and of the options that change what a vector means."""

    @property
    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Serialisable config: ``create_encoder(**enc.config)`` rebuilds it in any process."""

    def evaluating(self) -> contextlib.AbstractContextManager[Any]:
        """A block in which the model runs in eval mode (the torch module switches its
        dropout/batch-norm layers and restores them after; an exported graph always is)."""
        return contextlib.nullcontext()

    @property
    def engine(self) -> str:
        """What runs inference: ``"onnxruntime (CPUExecutionProvider)"``, ``"torch (cpu)"``..."""
        return "unknown"

    @property
    def identity(self) -> dict[str, Any]:
        """What a collection stamps: name, fingerprint, dim, pooling, space, modalities."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "pooling": self.pooling or "",
            "space": self.space,
            "modalities": ",".join(sorted(self.modalities)),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        from imagevec.encoders.factory import create_encoder_from_config

        return (create_encoder_from_config, (self.config,))

    # ------------------------------------------------------------------ user API
    def embed_images(
        self,
        sources: Iterable[Any],
        *,
        batch_size: int = 32,
        on_error: OnError = "raise",
        progress: bool = False,
        **load_options: Any,
    ) -> np.ndarray:
        """Embed images: one L2-normalised float32 row per input, in order.

        With ``on_error="skip"`` or ``"warn"`` the rows of bad inputs are left out; use
        :meth:`encode_images` to learn which inputs they were.

        Args:
            sources: paths, URLs (with ``policy=SourcePolicy(allow_urls=True)``), bytes, file
                objects, base64 / data URIs, PIL images or numpy arrays.
            batch_size: images per forward pass.
            on_error: ``raise`` the first :class:`~imagevec.ImageLoadError`, ``skip`` bad
                inputs, or ``warn`` and skip.
            progress: show a progress bar.
            **load_options: passed to the loader (``policy``, ``num_workers``).
        """
        return self.encode_images(
            sources, batch_size=batch_size, on_error=on_error, progress=progress, **load_options
        ).vectors

    def encode_images(self, sources: Iterable[Any], **options: Any) -> EncodeReport:
        """Like :meth:`embed_images` but returns an :class:`~imagevec.batching.EncodeReport`
        with the vectors, the input index of each row and the failures."""
        from imagevec.batching import collect

        return collect(self.iter_batches(sources, **options), self.dim)

    def iter_batches(self, sources: Iterable[Any], **options: Any) -> Iterator[EncodedBatch]:
        """Stream :class:`~imagevec.batching.EncodedBatch` objects; memory stays flat."""
        from imagevec.batching import iter_encoded_batches

        return iter_encoded_batches(self, sources, **options)

    def embed_image(self, source: Any, **load_options: Any) -> np.ndarray:
        """Embed one image; returns a 1-D vector."""
        return self.embed_images([source], **load_options)[0]

    def embed_texts(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed texts into the image space; one L2-normalised row per text, in order."""
        if TEXT not in self.modalities:
            raise UnsupportedModalityError(
                f"encoder {self.name!r} embeds images only; use a CLIP model or 'default' for text"
            )
        from imagevec.batching import encode_texts

        return encode_texts(self, list(texts), batch_size=batch_size, progress=progress)

    def embed_text(self, text: str) -> np.ndarray:
        """Embed one text; returns a 1-D vector."""
        return self.embed_texts([text])[0]

    def query_reach(self, kind: str) -> float:
        """The largest cosine a unit query of ``kind`` (``"text"`` or ``"image"``) can reach
        against a stored image vector; combined queries divide each part's score by it.

        1.0 when texts and images share the whole space (CLIP); an encoder that keeps texts in
        a part of the vector returns that part's share (the default: ``sqrt(semantic_weight)``).
        """
        if kind not in (IMAGE, TEXT):
            raise ConfigError(f"query kind must be {IMAGE!r} or {TEXT!r}, got {kind!r}")
        return 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, engine={self.engine!r})"


def unit_rows(features: np.ndarray) -> np.ndarray:
    """L2-normalise rows in float32 (zero rows stay zero)."""
    out = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


Encoder = Embedder
"""The public name (``imagevec.Encoder``): the interface every encoder implements, whichever
engine runs it; the torch definition of a family derives from
:class:`imagevec.encoders.base.Encoder`."""
