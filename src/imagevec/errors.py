"""The closed set of errors imagevec raises.

Every error derives from :class:`ImagevecError`, so ``except imagevec.ImagevecError`` catches
anything the library raises on purpose. Errors about one input name that input in a short,
printable form (never megabytes of bytes or base64).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_MAX_DESC = 120


class ImagevecError(Exception):
    """Base class of every error imagevec raises on purpose."""


def describe_source(source: object) -> str:
    """A short printable description of an image input, safe to put in an error or a log.

    Example:
        >>> describe_source(b"\\x89PNG...")
        '<bytes len=7>'
    """
    if isinstance(source, Path):
        return str(source)
    if isinstance(source, str):
        if not source.strip():
            return f"<empty str {source!r}>" if source else "<empty str>"
        if source.startswith("data:"):
            head = source[: source.find(",")] if "," in source else source[:40]
            return f"<data URI {head[5:45]} len={len(source)}>"
        if len(source) > _MAX_DESC:
            return f"<str {source[:40]!r}... len={len(source)}>"
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{type(source).__name__} len={len(source)}>"
    size = getattr(source, "size", None)
    mode = getattr(source, "mode", None)
    if mode is not None and isinstance(size, tuple):
        return f"<PIL.Image {mode} {size[0]}x{size[1]}>"
    shape = getattr(source, "shape", None)
    dtype = getattr(source, "dtype", None)
    if shape is not None and dtype is not None:
        return f"<ndarray {dtype} {tuple(shape)}>"
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return f"<file {name}>"
    text = repr(source)
    return text if len(text) <= _MAX_DESC else text[:_MAX_DESC] + "..."


class ImageLoadError(ImagevecError, ValueError):
    """An input could not be turned into an image (missing, corrupt, not an image...).

    Attributes:
        source: a short printable description of the input.
        reason: what went wrong, in words.
    """

    def __init__(self, source: object, reason: str) -> None:
        self.source = describe_source(source)
        self.reason = reason
        super().__init__(f"cannot load image {self.source}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.reason))


class UnsafeSourceError(ImageLoadError):
    """The input is refused by policy: URLs off, private address, bad scheme..."""


class ImageTooLargeError(ImageLoadError):
    """The input exceeds a size limit (decompression bomb, byte cap)."""


class ModelLoadError(ImagevecError, OSError):
    """A model could not be found or loaded; the message says what was tried and how to fix it."""


class UnsupportedModalityError(ImagevecError, TypeError):
    """The encoder cannot embed this kind of input (e.g. text on an image-only encoder)."""


class ConfigError(ImagevecError, ValueError):
    """An option has an invalid value (unknown pooling, dtype, device...)."""


class NotFoundError(ImagevecError, LookupError):
    """Something asked for does not exist: a store, a collection, an indexed item."""

    def __str__(self) -> str:  # KeyError (a LookupError) would repr() the message
        return str(self.args[0]) if self.args else ""


class StoreNotFoundError(NotFoundError):
    """There is no imagevec store (index) at this folder.

    Attributes:
        path: the folder.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(path))
        super().__init__(
            f"no index at {self.path}: create one with ImageIndex({self.path!r}).add(paths), "
            "or open another folder (ImageIndex(path), or set IMAGEVEC_DB)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path,))


class CollectionNotFoundError(NotFoundError):
    """The store has no collection of this name.

    Attributes:
        collection: the name asked for.
        location: the store's folder or URL.
        available: the collections there are.
    """

    def __init__(self, collection: str, location: str, available: Sequence[str] = ()) -> None:
        self.collection, self.location = collection, location
        self.available = tuple(available)
        known = ", ".join(self.available) or "none"
        super().__init__(
            f"no collection {collection!r} in {location} (collections: {known}); add images "
            "to it first, or open one of those with collection=NAME"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.collection, self.location, self.available))


class NotIndexedError(NotFoundError, KeyError):
    """A search refers to an item (by id or path) that is not in the collection.

    Attributes:
        ref: the id or path as given.
        collection: the collection searched.
    """

    def __init__(self, ref: object, collection: str) -> None:
        self.ref = str(ref)
        self.collection = collection
        super().__init__(f"{self.ref!r} is not indexed in collection {collection!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ref, self.collection))


class NoServerError(ImagevecError, ConnectionError):
    """No server answers at the URL (a Chroma server, or an ``imagevec serve``).

    Attributes:
        server: which kind of server was expected (``Chroma``, ``imagevec``).
        url: the server URL.
        reason: what the connection attempt said.
    """

    def __init__(self, url: str, reason: str, server: str = "Chroma") -> None:
        self.url, self.reason, self.server = url, reason, server
        super().__init__(f"no {server} server answers at {url}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.url, self.reason, self.server))


#: Identity fields compared between a collection's stamp and an encoder.
IDENTITY_FIELDS = ("model", "name", "fingerprint", "dim", "pooling", "space")


class EncoderMismatchError(ImagevecError):
    """A collection was written by another encoder than the one used to open it.

    Attributes:
        collection: the collection name.
        location: the store's folder or URL.
        expected: the identity stamped in the collection (``model``, ``name``,
            ``fingerprint``, ``dim``, ``pooling``, ``space``), or None if imagevec did not
            write it.
        found: the identity of the encoder that tried to open it (possibly only ``model``).
        differs: the identity fields that differ.
    """

    def __init__(
        self,
        collection: str,
        location: str,
        expected: Mapping[str, Any] | None,
        found: Mapping[str, Any],
    ) -> None:
        self.collection, self.location = collection, location
        self.expected = dict(expected) if expected is not None else None
        self.found = dict(found)
        where = f"collection {collection!r} in {location}"
        if self.expected is None:
            self.differs: tuple[str, ...] = ()
            message = (
                f"{where} has no imagevec encoder stamp (imagevec did not write it); "
                "use another collection"
            )
        else:
            self.differs = tuple(
                k
                for k in IDENTITY_FIELDS
                if k in self.found and str(self.expected.get(k)) != str(self.found[k])
            )
            message = (
                f"{where} was written by encoder {self.expected.get('model')!r} and cannot be "
                f"searched with this one ({self.diff}). Open it without choosing an encoder (it "
                f"loads {self.expected.get('model')!r} itself) or with encoder="
                f"{self.expected.get('model')!r}, or write to another collection"
            )
            if "fingerprint" in self.differs and "model" not in self.differs:
                message += (
                    " (same model name, other weights or options: revision, pooling, "
                    "projection or fine-tuned weights)"
                )
        super().__init__(message)

    @property
    def diff(self) -> str:
        """The differing fields in words: ``fingerprint: stamped 'a', this encoder 'b'``."""
        expected = self.expected or {}
        return "; ".join(
            f"{k}: stamped {expected.get(k)!r}, this encoder {self.found[k]!r}"
            for k in self.differs
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.collection, self.location, self.expected, self.found))


class StoreLockedError(ImagevecError):
    """Another process is writing to the same embedded store.

    Attributes:
        path: the store's folder.
        holder: who holds it, in words (``process 123 is writing to it``).
    """

    def __init__(self, path: str | os.PathLike[str], holder: str, write: bool = False) -> None:
        self.path, self.holder, self.write = os.fspath(path), holder, write
        what = "cannot write the index at" if write else "the index at"
        extra = " (an embedded store has one writer and no concurrent readers)" if write else ""
        super().__init__(
            f"{what} {self.path}: {holder}{extra}. Wait for it to finish, or "
            "serve the folder with a Chroma server and open it with ImageIndex(url=...) for "
            "concurrent access"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.holder, self.write))


class StoreDamagedError(ImagevecError):
    """The store's files are damaged: the database or a vector index cannot be trusted.

    Raised before Chroma is allowed to read a damaged file (a damaged vector index can crash
    the process) or when the vectors no longer answer for the records (a missing index).

    Attributes:
        location: the store's folder (or URL).
        reason: what is wrong, in words.
        collection: the collection concerned, if one.
    """

    def __init__(self, location: str, reason: str, collection: str | None = None) -> None:
        self.location, self.reason, self.collection = location, reason, collection
        where = f"collection {collection!r} in " if collection else ""
        super().__init__(
            f"the index {where}{location} is damaged: {reason}. "
            "imagevec.store.check.check_store(path, repair=True, "
            "encoder_for=imagevec.create_encoder) rebuilds the vectors from the image files "
            "(records keep path and hash)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.location, self.reason, self.collection))


__all__ = [
    "CollectionNotFoundError",
    "ConfigError",
    "EncoderMismatchError",
    "ImageLoadError",
    "ImageTooLargeError",
    "ImagevecError",
    "ModelLoadError",
    "NoServerError",
    "NotFoundError",
    "NotIndexedError",
    "StoreDamagedError",
    "StoreLockedError",
    "StoreNotFoundError",
    "UnsafeSourceError",
    "UnsupportedModalityError",
    "describe_source",
]


class PrecisionError(ConfigError):
    """A precision that is unknown, or not offered for this model family on this hardware.

    Attributes:
        precision: the precision asked for.
        family: the encoder family it was refused for (``""`` when not about a family).
    """

    def __init__(self, message: str, *, precision: str = "", family: str = "") -> None:
        super().__init__(message)
        self.precision, self.family = precision, family

    def __reduce__(self) -> tuple[Any, ...]:
        return (_precision_error, (str(self), self.precision, self.family))


def _precision_error(message: str, precision: str, family: str) -> PrecisionError:
    return PrecisionError(message, precision=precision, family=family)
