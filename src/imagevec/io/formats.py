"""Phone and camera formats beyond Pillow's own: HEIC/HEIF (iPhones) and camera RAW.

* HEIC/HEIF: ``pillow-heif`` (a default dependency) registers a Pillow opener. It is
  registered on the first decode (:func:`ensure_plugins`), never at ``import imagevec``.
* RAW (``.dng .cr2 .cr3 .nef .arw .orf .rw2 .raf ...``): ``rawpy`` (the ``raw`` extra,
  ``pip install "imagevec[raw]"``). The camera's embedded JPEG preview is used when it is
  large enough (fast, and it is what the camera showed); otherwise a half-size demosaic.

Example:
    >>> ensure_plugins()                      # idempotent, cheap after the first call
"""

from __future__ import annotations

import io
import logging
import os
import threading
from typing import Any

from PIL import Image

from imagevec.errors import ImageLoadError
from imagevec.io.files import RAW_EXTENSIONS

__all__ = ["MIN_PREVIEW_SIDE", "ensure_plugins", "is_raw_source", "open_raw"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_registered = False

MIN_PREVIEW_SIDE = 640
"""An embedded RAW preview smaller than this (short side) is not used; the RAW is demosaiced."""


def ensure_plugins() -> None:
    """Register the HEIF opener with Pillow once (a no-op if pillow-heif is missing)."""
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - a default dependency
            _log.warning("pillow-heif is not installed: HEIC/HEIF photos cannot be read")
        else:
            register_heif_opener()
        _registered = True


def is_raw_source(source: Any) -> bool:
    """Whether ``source`` is a path (str or PathLike) with a camera RAW extension."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    return os.path.splitext(os.fspath(source))[1].lower() in RAW_EXTENSIONS


def open_raw(data: bytes, source: object) -> Image.Image:
    """A RAW file's picture: its embedded JPEG preview, else a fast half-size demosaic.

    Raises:
        ImageLoadError: rawpy is missing (names the extra to install) or the file is bad.
    """
    try:
        import rawpy
    except ImportError as exc:
        raise ImageLoadError(source, 'camera RAW needs rawpy: pip install "imagevec[raw]"') from exc
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            preview = _preview(raw, rawpy)
            if preview is not None:
                return preview
            pixels = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise ImageLoadError(
            source, f"cannot read camera RAW ({type(exc).__name__}: {exc})"
        ) from exc
    return Image.fromarray(pixels)


def _preview(raw: Any, rawpy: Any) -> Image.Image | None:
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None
    image: Image.Image
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = Image.open(io.BytesIO(thumb.data))
    else:
        image = Image.fromarray(thumb.data)
    if min(image.size) < MIN_PREVIEW_SIDE:
        return None
    return image
