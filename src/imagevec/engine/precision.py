"""Precision as a user option: ``fp32`` (default), ``bf16`` and ``int8``, each where it is earned.

* ``fp32``: the exported graph on ONNX Runtime.
* ``bf16``: only where the hardware runs bfloat16 natively (a CPU with AVX512-BF16 or AMX, a
  GPU torch calls bf16-capable). ONNX Runtime's CPU provider has no bfloat16 kernels for
  convolutions and matrix products on x86 (its MLAS bf16 fast-math is ARM64 only), so bf16 runs
  the torch module in bfloat16 (oneDNN/AMX on CPU, tensor cores on GPU).
* ``int8``: ONNX Runtime quantisation of the fp32 graph: dynamic (int8 weights, activations
  quantised per batch) for the transformer families (CLIP, ViT). Offered only where it keeps
  answers: the int8 graph's mean cosine to fp32 over real photos must be >= :data:`MIN_COSINE`,
  measured on the user's own model when its int8 graph is made. The CNN families are refused
  outright: the bundled default (measured on its real weights: dynamic int8 cosine 0.82, static
  QDQ 0.98) and ResNet (static QDQ keeps answers but runs slower than fp32). Static QDQ with
  calibration photos stays available to families that declare ``"static"``.

Identity never depends on precision: a collection written in int8 is searched with fp32
queries and the reverse.

Example:
    >>> check_precision("int8")
    'int8'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import PrecisionError

PRECISIONS = ("fp32", "bf16", "int8")
MIN_COSINE = 0.99
#: family -> int8 method ("dynamic" | "static"), or None where int8 is refused
INT8_METHOD: dict[str, str | None] = {
    "clip": "dynamic",
    "vit": "dynamic",
    "resnet": None,
    "default": None,
}
#: why a family is refused (the evidence), for the error message
INT8_REFUSED: dict[str, str] = {
    "resnet": (
        "static per-channel QDQ int8 keeps answers (mean cosine 0.9998 on real photos) but "
        "ran 1.9x slower than fp32 on ONNX Runtime's CPU provider (ResNet-50, batch 32, 2 idle "
        "cores: 17.1 vs 32.3 img/s; dynamic int8 leaves its convolutions in fp32: 31.9), as "
        "for EfficientNet; fp32 is faster"
    ),
    "default": (
        "measured on its real weights against fp32 on real photos: dynamic int8 mean cosine "
        "0.82, static per-channel QDQ 0.98 (and slower than fp32 on ONNX Runtime)"
    ),
}
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16"}


def check_precision(precision: str) -> str:
    """Return the canonical precision name, or raise :class:`~imagevec.PrecisionError`."""
    name = _ALIASES.get(str(precision), str(precision))
    if name not in PRECISIONS:
        raise PrecisionError(
            f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}",
            precision=str(precision),
        )
    return name


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_bf16_native() -> bool:
    """True when this CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def int8_method(family: str) -> str:
    """The int8 method of a family, or :class:`~imagevec.PrecisionError` where it is refused."""
    method = INT8_METHOD.get(family, "dynamic")
    if method is None:
        raise PrecisionError(
            f"int8 is not offered for the {family!r} family: {INT8_REFUSED.get(family, '')}; "
            f"use precision='fp32'",
            precision="int8",
            family=family,
        )
    return method


def quantize_int8(
    source: Path,
    target: Path,
    method: str,
    calibration: np.ndarray | None = None,
) -> None:
    """Write an int8 version of the fp32 graph ``source`` to ``target``.

    Args:
        method: ``dynamic`` (MatMul/Gemm weights int8) or ``static`` (QDQ, per-channel
            weights, activations calibrated on ``calibration``).
        calibration: ``uint8 (N, H, W, 3)`` photos for ``static``.
    """
    with _quiet():
        _quantize(source, target, method, calibration)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence onnxruntime.quantization's advice, logged on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(source: Path, target: Path, method: str, calibration: np.ndarray | None) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if method == "dynamic":
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=False,
        )
        return
    if calibration is None or not len(calibration):
        raise PrecisionError("static int8 needs calibration photos", precision="int8")
    quantize_static(
        str(source),
        str(target),
        _Reader(calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


class _Reader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over uint8 photo batches."""

    def __init__(self, photos: np.ndarray, batch: int = 8) -> None:
        self.batches = [photos[i : i + batch] for i in range(0, len(photos), batch)]
        self.position = 0

    def get_next(self) -> dict[str, Any] | None:
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return {"pixels": self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position = 0


def mean_cosine(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean row cosine between two ``(N, D)`` arrays."""
    a = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    b = other / np.maximum(np.linalg.norm(other, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(axis=1).mean())


def real_photos(size: Sequence[Any], to_array: Any, limit: int = 24) -> np.ndarray | None:
    """The sample photos (scikit-image / scikit-learn) prepared with ``to_array``:
    ``uint8 (N, H, W, 3)``; None when the ``samples`` extra is not installed."""
    try:
        from PIL import Image

        from imagevec.samples import sample_arrays

        arrays = list(sample_arrays().values())[:limit]
    except Exception:  # ImportError or the samples extra missing
        return None
    return np.stack([to_array(Image.fromarray(a).convert("RGB")) for a in arrays])
