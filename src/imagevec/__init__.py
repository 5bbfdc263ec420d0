"""imagevec: images -> vectors with local encoders, searchable by image or text.

Example:
    >>> import imagevec
    >>> enc = imagevec.create_encoder("default")                     # doctest: +SKIP
    >>> index = imagevec.ImageIndex("imagevec-db", encoder=enc)       # doctest: +SKIP
    >>> index.add(["photos/"]); index.search(text="a cat", k=5)       # doctest: +SKIP

Importing this package is cheap: torch, transformers and chromadb load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagevec.errors import (
    ConfigError,
    EncoderMismatchError,
    ImageLoadError,
    ImageTooLargeError,
    ImagevecError,
    ModelLoadError,
    StoreLockedError,
    UnsafeSourceError,
    UnsupportedModalityError,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "create_encoder": "imagevec.encoders.registry",
    "Encoder": "imagevec.encoders.base",
    "EncodeReport": "imagevec.results",
    "Failure": "imagevec.results",
    "SkippedImageWarning": "imagevec.results",
    "distance_to_score": "imagevec.store",
    "is_image_file": "imagevec.images",
    "load_image": "imagevec.images",
    "SourcePolicy": "imagevec.sources",
    "ImageIndex": "imagevec.index",
    "Hit": "imagevec.store",
    "AddReport": "imagevec.index",
}

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder
    from imagevec.encoders.registry import create_encoder
    from imagevec.images import is_image_file, load_image
    from imagevec.index import AddReport, ImageIndex
    from imagevec.results import EncodeReport, Failure, SkippedImageWarning
    from imagevec.sources import SourcePolicy
    from imagevec.store import Hit, distance_to_score


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagevec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AddReport",
    "ConfigError",
    "EncodeReport",
    "Encoder",
    "EncoderMismatchError",
    "Failure",
    "Hit",
    "ImageIndex",
    "ImageLoadError",
    "ImageTooLargeError",
    "ImagevecError",
    "ModelLoadError",
    "SkippedImageWarning",
    "SourcePolicy",
    "StoreLockedError",
    "UnsafeSourceError",
    "UnsupportedModalityError",
    "__version__",
    "create_encoder",
    "distance_to_score",
    "is_image_file",
    "load_image",
]
