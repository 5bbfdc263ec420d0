"""Model names -> where they load from, and the family loaders of the torch modules.

:func:`imagevec.create_encoder` (:mod:`imagevec.encoders.factory`) resolves a name here, then
opens the engine; :func:`load_torch` builds the torch module (the one definition of a model).

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
from typing import TYPE_CHECKING, Any

from imagevec.encoders.catalog import CATALOG, ModelSpec
from imagevec.encoders.hub import MODEL_TYPE_TO_FAMILY, infer_family, json_file
from imagevec.errors import ModelLoadError

if TYPE_CHECKING:  # importing the registry must not import torch (text queries don't need it)
    from imagevec.encoders.base import Encoder

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


def load_torch(ref: ModelRef, **options: Any) -> Encoder:
    """The torch module of ``ref`` (the family loader; ``create_encoder(engine="torch")``)."""
    return _loader(ref.family)(ref, **options)
