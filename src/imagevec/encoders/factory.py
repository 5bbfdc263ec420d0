"""``create_encoder``: a model name, hub id or folder -> a ready encoder on the right engine.

The name is resolved by :mod:`imagevec.encoders.registry`; :func:`imagevec.engine.open_encoder`
opens the cached ONNX graph (no torch), exports it from the torch module on first use, or
keeps the torch module where that is the faster or the only path. A cached encoder is light
(no torch, sessions opened on first use), so queries need no separate light path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from imagevec.encoders.registry import resolve

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder
    from imagevec.encoders.embedding import Embedder

__all__ = [
    "create_encoder",
    "create_encoder_from_config",
]


@overload
def create_encoder(
    model: str | Path = ...,
    *,
    device: str = ...,
    dtype: str = ...,
    pooling: str | None = ...,
    projection_dim: int | None = ...,
    revision: str | None = ...,
    precision: str = ...,
    engine: Literal["torch"],
    **options: Any,
) -> Encoder: ...


@overload
def create_encoder(
    model: str | Path = ...,
    *,
    device: str = ...,
    dtype: str = ...,
    pooling: str | None = ...,
    projection_dim: int | None = ...,
    revision: str | None = ...,
    precision: str = ...,
    engine: str = ...,
    **options: Any,
) -> Embedder: ...


def create_encoder(
    model: str | Path = "default",
    *,
    device: str = "auto",
    dtype: str = "float32",
    pooling: str | None = None,
    projection_dim: int | None = None,
    revision: str | None = None,
    precision: str = "fp32",
    engine: str = "auto",
    **options: Any,
) -> Embedder:
    """Load an encoder; inference runs on ONNX Runtime over a graph exported from the model.

    The first call for a model exports its graph (needs torch; seconds) into the user cache
    (:func:`imagevec.engine.cache_dir`); later calls, in any process, open the cached graph
    without importing torch.

    Args:
        model: ``"default"``, a short name, ``"hf:<hub id>"`` or a local folder.
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        dtype: the torch dtype for the torch engine (``float32``, ``bfloat16``, ``float16``).
        pooling: the family's pooling option (ResNet: avg/max/gem/attention; ViT: cls/mean).
        projection_dim: add a (randomly initialised) projection head of this size.
        revision: a hub revision (branch, tag or commit).
        precision: ``fp32`` (default), ``bf16`` (where the hardware runs it natively) or
            ``int8`` (where it keeps answers; :class:`~imagevec.errors.PrecisionError` names
            the family where not). Vectors of every precision are comparable.
        engine: ``auto`` (ONNX Runtime where it can run), ``onnx``, or ``torch`` (the torch
            module itself: what training and the torch-only tools need).
        **options: family-specific options.

    Example:
        >>> enc = create_encoder("default")                          # doctest: +SKIP
        >>> vit = create_encoder("vit-b16", precision="int8")          # doctest: +SKIP
        >>> torch_model = create_encoder("default", engine="torch")  # doctest: +SKIP
    """
    from imagevec.engine.load import open_encoder

    ref = resolve(str(model), revision=revision)
    return open_encoder(
        ref,
        device=device,
        dtype=dtype,
        precision=precision,
        engine=engine,
        pooling=pooling,
        projection_dim=projection_dim,
        **options,
    )


def create_encoder_from_config(config: dict[str, Any]) -> Encoder:
    """Rebuild an encoder from its ``config`` (e.g. in a worker process)."""
    return create_encoder(**config)
