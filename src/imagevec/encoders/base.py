"""The :class:`Encoder` contract every model family implements.

A family provides the model-specific parts (``preprocess``, :meth:`Encoder.forward_images`,
optionally :meth:`Encoder.forward_texts`, :meth:`Encoder.save`); everything users call
(:meth:`Encoder.embed_images`, :meth:`Encoder.embed_texts`, ...) is implemented once here on top
of the single batching loop in :mod:`imagevec.batching`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from imagevec.encoders.runtime import dtype_name, resolve_device, resolve_dtype
from imagevec.errors import ConfigError, UnsupportedModalityError
from imagevec.preprocess import Preprocess
from imagevec.types import EncodedBatch, EncodeReport

OnError = Literal["raise", "skip", "warn"]
IMAGE, TEXT = "image", "text"


def weights_digest(modules: Mapping[str, nn.Module]) -> str:
    """A hash of the modules' weights, each tensor widened to float32 (exact for any
    stored precision), in a stable order."""
    digest = hashlib.blake2b(digest_size=8)
    for module_name, module in sorted(modules.items()):
        digest.update(module_name.encode())
        for key, tensor in sorted(module.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
    return digest.hexdigest()


@contextmanager
def eval_mode(encoder: Encoder) -> Iterator[Encoder]:
    """Temporarily switch every module to eval mode, restoring each one's flag afterwards."""
    flags = [
        (sub, sub.training) for module in encoder.modules().values() for sub in module.modules()
    ]
    for module in encoder.modules().values():
        module.eval()
    try:
        yield encoder
    finally:
        for sub, flag in flags:
            sub.training = flag


class Encoder(ABC):
    """Turns images (and, for some models, texts) into L2-normalised float32 vectors.

    Subclasses set ``name``, ``dim``, ``modalities``, ``preprocess`` and ``pooling`` and
    implement :meth:`forward_images` (and :meth:`forward_texts` for text).

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

    def __init__(self, *, device: str | torch.device = "auto", dtype: str = "float32") -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)

    # ------------------------------------------------------------------ family hooks
    @abstractmethod
    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Map a normalised ``(B, 3, H, W)`` batch to ``(B, dim)`` features (not normalised)."""

    def forward_texts(self, texts: list[str]) -> torch.Tensor:
        """Map texts to ``(B, dim)`` features in the image space (not normalised)."""
        raise UnsupportedModalityError(f"encoder {self.name!r} embeds images only")

    @abstractmethod
    def model_config(self) -> dict[str, Any]:
        """Options that rebuild this encoder with :func:`imagevec.create_encoder` (JSON-safe).

        Must contain ``"model"``; device and dtype are added by :attr:`config`.
        """

    def modules(self) -> dict[str, nn.Module]:
        """The torch modules holding the weights, by name (used for the fingerprint,
        training and :meth:`save`)."""
        return {}

    def external_weights(self) -> str:
        """Weights not held in :meth:`modules` (e.g. a numpy text tower), named by a digest
        that goes into the fingerprint; empty by default."""
        return ""

    def layer_groups(self) -> list[nn.Module]:
        """The trainable image-path blocks, input to output (fine-tuning freezes the lower
        ones); empty for encoders that cannot be fine-tuned."""
        return []

    def save(self, directory: str | Path) -> Path:
        """Write this encoder to a folder that :func:`imagevec.create_encoder` loads back."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    # ------------------------------------------------------------------ identity
    @property
    def config(self) -> dict[str, Any]:
        """Serialisable config: ``create_encoder(**enc.config)`` rebuilds it in any process."""
        return {**self.model_config(), "device": self.device.type, "dtype": dtype_name(self.dtype)}

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the weights and of the options that change what a vector means.

        The weights are hashed as loaded (stored values, widened to float32), never after a
        cast to the run's dtype, and neither dtype nor device takes part: an index written in
        bfloat16 on a GPU opens with the same encoder in float32 on a CPU.
        """
        digest = hashlib.blake2b(digest_size=8)
        digest.update(json.dumps(self.model_config(), sort_keys=True).encode())
        digest.update(self.external_weights().encode())
        pinned = self.__dict__.get("_weights_digest")
        digest.update((pinned or weights_digest(self.modules())).encode())
        return digest.hexdigest()

    def pin_fingerprint(self) -> None:
        """Hash the weights now, before a cast to a lower precision changes their values.

        Families call this after loading and before moving the modules to ``self.dtype``;
        it costs nothing when the run's dtype is float32 (the hash is then taken lazily).
        """
        if self.dtype != torch.float32 and "_weights_digest" not in self.__dict__:
            self.__dict__["_weights_digest"] = weights_digest(self.modules())

    def weights_changed(self) -> None:
        """Forget the fingerprint after the weights were trained (recomputed when asked)."""
        self.__dict__.pop("fingerprint", None)
        self.__dict__.pop("_weights_digest", None)

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
        from imagevec.encoders.registry import create_encoder_from_config

        return (create_encoder_from_config, (self.config,))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={self.device.type})"
        )

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
