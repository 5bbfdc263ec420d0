"""Open an encoder on the right engine: the cached graph (torch-free), an export, or torch.

:func:`open_encoder` is what :func:`imagevec.create_encoder` calls:

1. ``bf16`` runs the torch module in bfloat16 where the hardware does it natively (see
   :mod:`imagevec.engine.precision`); ``engine="torch"``, a float16 dtype, an Apple GPU, or an
   NVIDIA GPU with an onnxruntime that has no CUDA provider also stay on torch.
2. Otherwise the model's source and options name a record in the cache
   (:func:`~imagevec.engine.cache.source_key`, computed without torch or weights) that gives
   the fingerprint, whose folder holds the graphs: a :class:`RuntimeEncoder`, no torch import.
3. On a miss, the torch module is loaded, exported, verified and cached
   (:func:`imagevec.engine.build.build_graphs`); a graph that fails verification keeps the
   torch path (one warning).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagevec.engine.cache import (
    MANIFEST,
    atomic_write_json,
    export_lock,
    graph_dir,
    read_json,
    source_key,
    source_path,
    temp_path,
    valid_manifest,
)
from imagevec.engine.precision import (
    MIN_COSINE,
    check_precision,
    cpu_bf16_native,
    int8_method,
    mean_cosine,
    quantize_int8,
    real_photos,
)
from imagevec.engine.runtime import RuntimeEncoder
from imagevec.engine.sessions import (
    IMAGE_INPUT,
    OUTPUT,
    gpu_present,
    has_cuda_provider,
    open_session,
)
from imagevec.errors import ConfigError, ModelLoadError, PrecisionError

if TYPE_CHECKING:
    import numpy as np

    from imagevec.encoders.embedding import Embedder
    from imagevec.encoders.registry import ModelRef

ENGINES = ("auto", "onnx", "torch")
_warned: set[str] = set()


def open_encoder(
    ref: ModelRef,
    *,
    device: str = "auto",
    dtype: str = "float32",
    precision: str = "fp32",
    engine: str = "auto",
    calibration: np.ndarray | None = None,
    **options: Any,
) -> Embedder:
    """The encoder of ``ref`` with ``options`` on the engine the arguments and hardware pick.

    Args:
        device: ``auto``, ``cpu``, ``cuda[:N]``, ``mps``.
        dtype: the torch dtype (``bfloat16`` means ``precision="bf16"``; ``float16`` runs torch).
        precision: ``fp32``, ``bf16`` or ``int8``.
        engine: ``auto`` (ONNX Runtime where it can), ``onnx`` (or an error), ``torch``.
        calibration: ``uint8 (N, H, W, 3)`` prepared photos for static int8 (default: the
            sample photos).
        **options: the family's options (``pooling``, ``projection_dim``...).
    """
    precision = check_precision(precision)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if dtype in ("bfloat16", "bf16"):
        precision = "bf16"
    elif dtype not in ("float32", "fp32"):
        engine = "torch"
    if precision == "bf16":
        return _bf16(ref, device, options)
    where = ort_device(device) if engine != "torch" else None
    if where is None:
        if engine == "onnx":
            raise ConfigError(f"ONNX Runtime cannot run on device {device!r} here")
        if precision == "int8":
            raise PrecisionError("int8 runs on ONNX Runtime only", precision="int8")
        return _torch(ref, device, dtype, options)
    found = cached_runtime(ref, options, where, precision, calibration)
    if found is not None:
        return found
    return _export(ref, options, where, precision, engine, calibration)


def ort_device(device: str) -> str | None:
    """Where ONNX Runtime runs for ``device`` (``cpu``/``cuda[:N]``), or None for torch.

    ``auto`` is CUDA when onnxruntime has the CUDA provider and a GPU is attached; with a GPU
    but no CUDA provider, torch on the GPU (faster there than ONNX Runtime on the CPU);
    otherwise the CPU. torch is imported only when a GPU device node exists.
    """
    if device == "cpu":
        return "cpu"
    if device == "auto":
        if not gpu_present():
            return "cpu"
        if has_cuda_provider():
            return "cuda"
        import torch

        return None if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        return str(device) if has_cuda_provider() else None
    return None


def _key_options(ref: ModelRef, options: dict[str, Any]) -> dict[str, Any]:
    """The options that name a model's graphs (None values dropped; device/precision out)."""
    from imagevec.encoders.registry import FAMILIES

    skip = ("model", "revision", "device", "dtype", "precision", "engine")
    clean = {k: v for k, v in options.items() if v is not None and k not in skip}
    target = FAMILIES.get(ref.family)  # a re-registered family is another model
    loader = target if isinstance(target, str) or target is None else target.__qualname__
    if callable(target):
        loader = f"{target.__module__}.{loader}"
    return {"model": ref.model, "revision": ref.revision, "loader": loader, **clean}


def cached_runtime(
    ref: ModelRef,
    options: dict[str, Any],
    device: str,
    precision: str,
    calibration: np.ndarray | None = None,
) -> RuntimeEncoder | None:
    """The runtime encoder from the cache, torch-free; None on a miss (or a rejected graph)."""
    key = source_key(ref.family, ref.location, _key_options(ref, options), revision=ref.revision)
    record = read_json(source_path(key)) if key else None
    if record is None or not isinstance(record.get("fingerprint"), str):
        return None
    folder = graph_dir(record["fingerprint"])
    manifest = valid_manifest(folder)
    if manifest is None or "rejected" in manifest:
        return None
    if precision == "int8":
        manifest = ensure_int8(folder, manifest, calibration)
    return RuntimeEncoder(manifest, folder, device=device, precision=precision, repair=_repair)


def _remember(
    ref: ModelRef, options: dict[str, Any], fingerprint: str, config: dict[str, Any]
) -> None:
    """Write the source records of the options asked for and of the encoder's own config."""
    from imagevec.encoders.registry import resolve

    pairs = [(ref, _key_options(ref, options))]
    try:
        own = resolve(str(config["model"]), revision=config.get("revision"))
        pairs.append((own, _key_options(own, {k: v for k, v in config.items() if k != "model"})))
    except ModelLoadError:
        pass
    for where, opts in pairs:
        key = source_key(where.family, where.location, opts, revision=where.revision)
        if key:
            atomic_write_json(source_path(key), {"fingerprint": fingerprint, "model": where.model})


def _export(
    ref: ModelRef,
    options: dict[str, Any],
    device: str,
    precision: str,
    engine: str,
    calibration: np.ndarray | None,
) -> Embedder:
    from imagevec.engine.build import build_graphs

    encoder = _torch(ref, "cpu", "float32", options)
    try:
        manifest = build_graphs(encoder, ref.family)
        _remember(ref, options, encoder.fingerprint, encoder.model_config())
    except OSError as exc:  # a read-only or full cache folder: run the torch module
        manifest = {"rejected": f"the graph cache is not writable ({exc})"}
    if "rejected" in manifest:
        if engine == "onnx":
            raise ModelLoadError(f"{ref.model}: {manifest['rejected']}")
        if encoder.fingerprint not in _warned:
            _warned.add(encoder.fingerprint)
            warnings.warn(
                f"{ref.model}: the exported graph was not used ({manifest['rejected']}); "
                "running the torch module",
                stacklevel=4,
            )
        if precision == "int8":
            raise PrecisionError(
                f"int8 needs an exported graph, and {ref.model}'s was rejected",
                precision="int8",
                family=ref.family,
            )
        return encoder if device == "cpu" else _torch(ref, device, "float32", options)
    folder = graph_dir(encoder.fingerprint)
    if precision == "int8":
        manifest = ensure_int8(folder, manifest, calibration)
    return RuntimeEncoder(manifest, folder, device=device, precision=precision, repair=_repair)


def _repair(runtime: RuntimeEncoder, damaged: Path) -> None:
    """Export a runtime encoder's graphs again (a graph file failed to load; needs torch)."""
    from imagevec.engine.build import repair

    repair(runtime, damaged)


def _torch(ref: ModelRef, device: str, dtype: str, options: dict[str, Any]) -> Any:
    from imagevec.encoders.registry import load_torch

    return load_torch(ref, device=device, dtype=dtype, **options)


def _bf16(ref: ModelRef, device: str, options: dict[str, Any]) -> Any:
    """The torch module in bfloat16 where the hardware runs it natively, else an error."""
    import torch

    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if on_gpu:
        if not torch.cuda.is_bf16_supported():
            raise PrecisionError("this GPU has no native bfloat16", precision="bf16")
    elif device in ("cpu", "auto") and not cpu_bf16_native():
        raise PrecisionError(
            "this CPU has no native bfloat16 (AVX512-BF16 or AMX); use precision='fp32'",
            precision="bf16",
        )
    return _torch(ref, device, "bfloat16", options)


def ensure_int8(
    folder: Path, manifest: dict[str, Any], calibration: np.ndarray | None = None
) -> dict[str, Any]:
    """The manifest with an int8 image graph, made (torch-free) if missing.

    The int8 graph is kept only if its mean cosine to the fp32 graph over real photos is at
    least :data:`~imagevec.engine.precision.MIN_COSINE`; otherwise the refusal is recorded
    and :class:`~imagevec.PrecisionError` raised (now and on every later request).
    """
    family = str(manifest["family"])
    method = int8_method(family)
    entry = manifest["image"].get("int8")
    if entry is None:
        with export_lock(str(manifest["fingerprint"])):
            manifest = valid_manifest(folder) or manifest
            entry = manifest["image"].get("int8")
            if entry is None:
                entry = _make_int8(folder, manifest, method, calibration)
                manifest = {**manifest, "image": {**manifest["image"], "int8": entry}}
                atomic_write_json(folder / MANIFEST, manifest)
    if "file" not in entry:
        raise PrecisionError(
            f"int8 is not offered for this {family!r} model: its {method} int8 graph's mean "
            f"cosine to fp32 on real photos is {entry['cosine']:.4f} < {MIN_COSINE}; use "
            "precision='fp32'",
            precision="int8",
            family=family,
        )
    return manifest


def _make_int8(
    folder: Path, manifest: dict[str, Any], method: str, calibration: np.ndarray | None
) -> dict[str, Any]:
    from imagevec.preprocess import Preprocess

    preprocess = Preprocess.from_dict(manifest["preprocess"])
    photos = real_photos(preprocess.output_size, preprocess.to_array)
    if photos is None and calibration is None:
        raise PrecisionError(
            "int8 needs photos to measure its fidelity: install imagevec[samples] or pass "
            "calibration photos",
            precision="int8",
        )
    check = photos if photos is not None else calibration
    assert check is not None  # one of them is set (checked above)
    source = folder / manifest["image"]["fp32"]["file"]
    target = folder / "image.int8.onnx"
    try:
        with temp_path(target) as tmp:
            quantize_int8(source, tmp, method, calibration if calibration is not None else check)
            fp32 = open_session(source).run([OUTPUT], {IMAGE_INPUT: check})[0]
            int8 = open_session(tmp).run([OUTPUT], {IMAGE_INPUT: check})[0]
            cosine = mean_cosine(fp32, int8)
            if cosine < MIN_COSINE:
                raise _RefusedError(cosine)
    except _RefusedError as refused:
        return {"method": method, "cosine": refused.cosine, "photos": len(check)}
    return {
        "file": target.name,
        "size": target.stat().st_size,
        "method": method,
        "cosine": cosine,
        "photos": len(check),
    }


class _RefusedError(Exception):
    def __init__(self, cosine: float) -> None:
        super().__init__(cosine)
        self.cosine = cosine
