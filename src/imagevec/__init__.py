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

from imagevec.process import prefer_passive_threads

prefer_passive_threads()  # before torch loads OpenMP; see imagevec.process

from imagevec.errors import (  # noqa: E402
    CollectionNotFoundError,
    ConfigError,
    EncoderMismatchError,
    ImageLoadError,
    ImageTooLargeError,
    ImagevecError,
    ModelLoadError,
    NoServerError,
    NotFoundError,
    NotIndexedError,
    StoreLockedError,
    StoreNotFoundError,
    UnsafeSourceError,
    UnsupportedModalityError,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "create_encoder": "imagevec.encoders.factory",
    "Encoder": "imagevec.encoders.embedding",
    "EncodeReport": "imagevec.types",
    "Failure": "imagevec.types",
    "SkippedImageWarning": "imagevec.types",
    "AllInputsFailedWarning": "imagevec.types",
    "distance_to_score": "imagevec.store.chroma",
    "is_image_file": "imagevec.io.files",
    "load_image": "imagevec.io.decode",
    "SourcePolicy": "imagevec.io.policy",
    "ImageIndex": "imagevec.index",
    "Hit": "imagevec.types",
    "hits_to_json": "imagevec.types",
    "TOOL_MAX_K": "imagevec.types",
    "collection_space": "imagevec.store.chroma",
    "Query": "imagevec.search.query",
    "AddReport": "imagevec.types",
    "VectorRecord": "imagevec.types",
    "file_record": "imagevec.store.records",
    "encoder_stamp": "imagevec.store.stamp",
    "SearchIndex": "imagevec.types",
    "SearchRequest": "imagevec.types",
    "PhotoFilter": "imagevec.types",
    "AddOptions": "imagevec.types",
    "RemoteIndex": "imagevec.serve.client",
    "connect": "imagevec.serve.client",
}

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Encoder
    from imagevec.encoders.factory import create_encoder
    from imagevec.index import ImageIndex
    from imagevec.io.decode import load_image
    from imagevec.io.files import is_image_file
    from imagevec.io.policy import SourcePolicy
    from imagevec.search.query import Query
    from imagevec.serve.client import RemoteIndex, connect
    from imagevec.store.chroma import collection_space, distance_to_score
    from imagevec.store.records import file_record
    from imagevec.store.stamp import encoder_stamp
    from imagevec.types import (
        TOOL_MAX_K,
        AddOptions,
        AddReport,
        AllInputsFailedWarning,
        EncodeReport,
        Failure,
        Hit,
        PhotoFilter,
        SearchIndex,
        SearchRequest,
        SkippedImageWarning,
        VectorRecord,
        hits_to_json,
    )


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
    "TOOL_MAX_K",
    "AddOptions",
    "AddReport",
    "AllInputsFailedWarning",
    "CollectionNotFoundError",
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
    "NoServerError",
    "NotFoundError",
    "NotIndexedError",
    "PhotoFilter",
    "Query",
    "RemoteIndex",
    "SearchIndex",
    "SearchRequest",
    "SkippedImageWarning",
    "SourcePolicy",
    "StoreLockedError",
    "StoreNotFoundError",
    "UnsafeSourceError",
    "UnsupportedModalityError",
    "VectorRecord",
    "__version__",
    "collection_space",
    "connect",
    "create_encoder",
    "distance_to_score",
    "encoder_stamp",
    "file_record",
    "hits_to_json",
    "is_image_file",
    "load_image",
]
