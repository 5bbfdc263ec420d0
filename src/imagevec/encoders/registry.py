"""``create_encoder``: a model name, hub id or folder -> a ready :class:`Encoder`.

Accepted names:
    * ``"default"`` — the bundled offline model;
    * a catalogued short name (``"clip-vit-b32"``, ``"resnet50"``, see ``imagevec models``);
    * ``"hf:<hub id>"`` — any CLIP / ViT / ResNet checkpoint on the Hugging Face hub;
    * a local folder — saved with ``save_pretrained`` or exported by imagevec (fine-tuning).

Families are registered explicitly below (lazy imports keep ``import imagevec`` light).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from imagevec.encoders.catalog import CATALOG, ModelSpec
from imagevec.encoders.hub import MODEL_TYPE_TO_FAMILY, infer_family, json_file
from imagevec.errors import ModelLoadError

if TYPE_CHECKING:  # importing the registry must not import torch (text queries don't need it)
    import numpy as np

    from imagevec.encoders.base import Encoder
    from imagevec.encoders.embedding import Embedder

#: Files of a folder that imagevec saved (fine-tuned or exported): its settings, and the
#: projection head's weights (when it has one).
SAVED_CONFIG = "imagevec.json"
PROJECTION_FILE = "projection.safetensors"
#: Families that load Hugging Face checkpoints: names of models, never model names themselves.
HF_FAMILIES = frozenset(MODEL_TYPE_TO_FAMILY.values())

#: family name -> "module:function" of its loader; see :func:`register_family`.
FAMILIES: dict[str, str | Callable[..., Encoder]] = {
    "default": "imagevec.encoders.default.encoder:load",
    "clip": "imagevec.encoders.clip:load",
    "vit": "imagevec.encoders.vit:load",
    "resnet": "imagevec.encoders.resnet:load",
}

#: family -> "module:function" returning a torch-free ``texts -> vectors`` for text queries
#: (``function(ref, config)``) that needs no exported graph (the default's numpy MiniLM);
#: other families answer text queries from their cached text graph.
TEXT_QUERY: dict[str, str] = {
    "default": "imagevec.encoders.default.text_query:text_embedder",
}


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from, as resolved from what the user typed.

    Attributes:
        model: the name as given (kept in the encoder's config).
        family: the family that loads it.
        location: a hub id, a local folder, or ``"bundled"``.
        revision: a hub revision, if any.
        spec: the catalogue entry, for short names.
        saved: the content of ``imagevec.json`` for folders imagevec exported.
    """

    model: str
    family: str
    location: str
    revision: str | None = None
    spec: ModelSpec | None = None
    saved: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        """True for a local folder."""
        return Path(self.location).is_dir()


def register_family(name: str, loader: str | Callable[..., Encoder]) -> None:
    """Register a family loader: ``loader(ref: ModelRef, **options) -> Encoder``."""
    FAMILIES[name] = loader


def resolve(model: str, *, revision: str | None = None) -> ModelRef:
    """Resolve a model name to a :class:`ModelRef` without loading weights."""
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise ModelLoadError(f"model must be a name, 'hf:<id>' or a folder, got {model!r}")
    name = str(model).strip()
    if name in CATALOG:
        spec = CATALOG[name]
        return ModelRef(name, spec.family, spec.source, revision, spec)
    if name in FAMILIES and name not in HF_FAMILIES:
        return ModelRef(name, name, name, revision)
    if name.startswith("hf:"):
        hub_id = name[3:]
        return ModelRef(name, infer_family(hub_id, revision=revision), hub_id, revision)
    folder = Path(name).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        saved_path = folder / SAVED_CONFIG
        if saved_path.is_file():
            saved = json_file(saved_path)
            if not isinstance(saved.get("family"), str):
                raise ModelLoadError(f"cannot read {saved_path}: it names no model family")
            return ModelRef(str(folder), saved["family"], str(folder), None, None, saved)
        return ModelRef(str(folder), infer_family(str(folder)), str(folder))
    hint = (
        f" Did you mean 'hf:{name}'?"
        if name.count("/") == 1 and not name.startswith(("/", "."))
        else ""
    )
    raise ModelLoadError(
        f"unknown model {name!r}: not a short name ({', '.join(CATALOG)}), not 'hf:<hub id>' "
        f"and not an existing folder.{hint}"
    )


def _loader(family: str) -> Callable[..., Encoder]:
    target = FAMILIES.get(family)
    if target is None:
        raise ModelLoadError(f"no encoder family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
    return target


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


def load_torch(ref: ModelRef, **options: Any) -> Encoder:
    """The torch module of ``ref`` (the family loader; ``create_encoder(engine="torch")``)."""
    return _loader(ref.family)(ref, **options)


def create_encoder_from_config(config: dict[str, Any]) -> Encoder:
    """Rebuild an encoder from its ``config`` (e.g. in a worker process)."""
    return create_encoder(**config)


def _cached(config: dict[str, Any]) -> Embedder | None:
    """The encoder of ``config`` from the graph cache (torch-free), or None on a miss."""
    from imagevec.engine.load import cached_runtime

    options = {k: v for k, v in config.items() if k not in ("device", "dtype", "precision")}
    model = options.pop("model", None) or "default"
    try:
        ref = resolve(str(model), revision=options.pop("revision", None))
    except ModelLoadError:
        return None
    if FAMILIES.get(ref.family) != _DEFAULT_LOADERS.get(ref.family):
        return None  # a re-registered family may embed differently
    return cached_runtime(ref, options, "cpu", "fp32")


def text_query_embedder(config: dict[str, Any]) -> Callable[[list[str]], np.ndarray] | None:
    """A light ``texts -> vectors`` for an encoder's config, or None when there is none.

    Used by :meth:`imagevec.ImageIndex.search` for text queries on a collection whose
    encoder is not loaded yet: the cached graph's text tower (or the default's numpy MiniLM),
    without torch. The function has a ``dim`` attribute, checked against the stamp.
    """
    runtime = _cached(config)
    if runtime is not None and "text" in runtime.modalities:

        def embed(texts: list[str]) -> np.ndarray:
            return runtime.embed_texts(list(texts))

        embed.dim = runtime.dim  # type: ignore[attr-defined]
        return embed
    options = {k: v for k, v in config.items() if k not in ("device", "dtype", "precision")}
    try:
        ref = resolve(str(options.get("model") or "default"), revision=options.get("revision"))
    except ModelLoadError:
        return None
    target = TEXT_QUERY.get(ref.family)
    if target is None or FAMILIES.get(ref.family) != _DEFAULT_LOADERS.get(ref.family):
        return None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)(ref, options)


def image_query_embedder(
    config: dict[str, Any], fingerprint: str
) -> Callable[..., np.ndarray] | None:
    """A light ``(sources, **load options) -> vectors`` for image queries on a collection
    stamped with ``config`` and ``fingerprint``: the cached graph (no torch), or None."""
    runtime = _cached(config)
    if runtime is None or runtime.fingerprint != fingerprint:
        return None

    def embed(sources: list[Any], **load_options: Any) -> np.ndarray:
        return runtime.embed_images(list(sources), **load_options)

    embed.dim = runtime.dim  # type: ignore[attr-defined]
    return embed


_DEFAULT_LOADERS = dict(FAMILIES)
