"""Device and dtype resolution: one place decides where and in which precision models run."""

from __future__ import annotations

import warnings
from functools import cache

import torch

from imagevec.errors import ConfigError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Pick ``cuda`` if present, else ``mps``, else ``cpu``; or check the device asked for.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'mps'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} asked for, but MPS is not available")
    return resolved


@cache
def cpu_supports_bfloat16() -> bool:
    """True when this CPU has native bfloat16 matrix support (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Check a dtype name against the device; fall back to float32 (with a warning) where
    the device cannot run it fast: bfloat16 on a CPU without bf16 support, float16 on CPU.
    """
    if isinstance(dtype, torch.dtype):
        names = {v: k for k, v in DTYPES.items()}
        if dtype not in names:
            raise ConfigError(f"unsupported dtype {dtype}: use one of {sorted(DTYPES)}")
        dtype = names[dtype]
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}: use one of {sorted(DTYPES)}")
    if device.type == "cpu" and dtype == "bfloat16" and not cpu_supports_bfloat16():
        warnings.warn("this CPU has no native bfloat16; using float32", stacklevel=3)
        return torch.float32
    if device.type == "cpu" and dtype == "float16":
        warnings.warn("float16 is slow or unsupported on CPU; using float32", stacklevel=3)
        return torch.float32
    return DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    """The short name of a torch dtype (``torch.bfloat16`` -> ``"bfloat16"``)."""
    return str(dtype).removeprefix("torch.")
