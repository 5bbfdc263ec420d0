"""The closed set of errors imagevec raises.

Every error derives from :class:`ImagevecError`, so ``except imagevec.ImagevecError`` catches
anything the library raises on purpose. Errors about one input name that input in a short,
printable form (never megabytes of bytes or base64).
"""

from __future__ import annotations

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


class NotIndexedError(ConfigError, KeyError):
    """A search refers to an item (by id or path) that is not in the collection.

    Attributes:
        ref: the id or path as given.
    """

    def __init__(self, ref: object, collection: str) -> None:
        self.ref = str(ref)
        self.collection = collection
        super().__init__(f"{self.ref!r} is not indexed in collection {collection!r}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ref, self.collection))


class EncoderMismatchError(ImagevecError):
    """A collection was written by another encoder than the one used to open it."""


class StoreLockedError(ImagevecError):
    """Another process is writing to the same embedded store."""


__all__ = [
    "ConfigError",
    "EncoderMismatchError",
    "ImageLoadError",
    "ImageTooLargeError",
    "ImagevecError",
    "ModelLoadError",
    "NotIndexedError",
    "StoreLockedError",
    "UnsafeSourceError",
    "UnsupportedModalityError",
    "describe_source",
]
