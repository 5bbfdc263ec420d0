"""The one inference engine: ONNX Runtime over graphs exported from the torch modules.

The torch module of each family (:mod:`imagevec.encoders`) is the only definition of a model.
:func:`imagevec.create_encoder` exports its graph once per fingerprint (verified against the
torch forward), caches it per user (:func:`cache_dir`), and returns a
:class:`RuntimeEncoder` that runs it without importing torch. Precision: ``fp32`` (default),
``bf16`` where the hardware runs it natively (the torch module in bfloat16), ``int8`` where
its answers stay within a cosine of 0.99 of fp32 (:mod:`imagevec.engine.precision`).

Modules (torch-free unless marked): ``cache`` (folders, atomic writes, locks, source keys),
``sessions`` (providers, threads), ``precision`` (names, capability, quantisation),
``runtime`` (:class:`RuntimeEncoder`), ``load`` (:func:`open_encoder`: cache or export),
``build`` (export + verify; torch).

The engine contract for the batching loop (every encoder, torch or runtime)::

    encoder.run_images(uint8 (B, H, W, 3)) -> float32 (B, dim) unit rows
    encoder.run_texts(list[str])           -> float32 (B, dim) unit rows

Example:
    >>> enc = imagevec.create_encoder("clip-vit-b32", precision="int8")   # doctest: +SKIP
    >>> enc.engine                                                        # doctest: +SKIP
    'onnxruntime (CPUExecutionProvider, int8)'
"""

from __future__ import annotations

from imagevec.engine.cache import cache_dir
from imagevec.engine.load import ENGINES, open_encoder, ort_device
from imagevec.engine.precision import PRECISIONS, check_precision, cpu_bf16_native
from imagevec.engine.runtime import RuntimeEncoder
from imagevec.engine.sessions import describe_providers, has_cuda_provider, open_session

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "RuntimeEncoder",
    "cache_dir",
    "check_precision",
    "cpu_bf16_native",
    "describe_providers",
    "has_cuda_provider",
    "open_encoder",
    "open_session",
    "ort_device",
]
