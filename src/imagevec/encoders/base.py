"""The :class:`Encoder` contract every model family implements.

A family provides the model-specific parts (``preprocess``, :meth:`Encoder.forward_images`,
optionally :meth:`Encoder.forward_texts`, :meth:`Encoder.save`); everything users call
(:meth:`Encoder.embed_images`, :meth:`Encoder.embed_texts`, ...) is implemented once here on top
of the single batching loop in :mod:`imagevec.batching`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.encoders.embedding import IMAGE, TEXT, Embedder, OnError
from imagevec.encoders.runtime import dtype_name, resolve_device, resolve_dtype
from imagevec.errors import UnsupportedModalityError

__all__ = ["IMAGE", "TEXT", "Encoder", "OnError", "eval_mode", "weights_digest"]


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


class Encoder(Embedder):
    """Turns images (and, for some models, texts) into L2-normalised float32 vectors.

    Subclasses set ``name``, ``dim``, ``modalities``, ``preprocess`` and ``pooling`` and
    implement :meth:`forward_images` (and :meth:`forward_texts` for text).

    Example:
        >>> enc = imagevec.create_encoder("default")                # doctest: +SKIP
        >>> enc.embed_images(["cat.jpg", pil_image]).shape          # doctest: +SKIP
        (2, 1664)
    """

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

    def evaluating(self) -> contextlib.AbstractContextManager[Any]:
        """:func:`eval_mode` of this encoder."""
        return eval_mode(self)

    @property
    def engine(self) -> str:
        """What runs inference: ``"torch (cpu)"``, ``"torch (cuda, bfloat16)"``..."""
        dtype = "" if self.dtype == torch.float32 else f", {dtype_name(self.dtype)}"
        return f"torch ({self.device.type}{dtype})"

    # ------------------------------------------------------------------ engine hooks
    def run_images(self, pixels: np.ndarray) -> np.ndarray:
        """``uint8 (B, H, W, 3)`` -> unit rows, by the torch module (the fallback engine)."""
        batch = torch.from_numpy(np.ascontiguousarray(pixels))
        if self.device.type == "cuda":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        else:
            batch = batch.to(self.device)
        with torch.inference_mode():
            features = self.forward_images(self.preprocess.normalize(batch, self.dtype))
            return F.normalize(features.float(), dim=-1).cpu().numpy()

    def run_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> unit rows, by the torch module."""
        with torch.inference_mode():
            features = self.forward_texts(list(texts))
            return F.normalize(features.float(), dim=-1).cpu().numpy()

    def runtime_text(self) -> dict[str, Any]:
        """How the exported runtime embeds texts (written into the graph's manifest).

        ``{"kind": "graph", ...}``: :meth:`text_graph` is exported and a tokenizer saved
        (:meth:`save_tokenizer`); a family with a torch-free text tower names it (the
        default: ``{"kind": "minilm", ...}``); ``{"kind": "torch"}`` loads this module for
        texts; ``{"kind": "none"}`` for image-only encoders.
        """
        return {"kind": "torch"} if TEXT in self.modalities else {"kind": "none"}

    def text_graph(self) -> nn.Module | None:
        """A module ``(input_ids, attention_mask) -> (B, dim)`` features, for export."""
        return None

    def save_tokenizer(self, path: Path) -> None:
        """Write the ``tokenizers`` JSON (truncation and padding set) for the text graph."""
        raise NotImplementedError
