"""Safe decoding of any image input to a fully loaded RGB ``PIL.Image``.

:func:`load_image` is the one loader the whole library uses. It reads the input with
:func:`imagevec.io.sources.read_source`, rejects decompression bombs from the header alone,
optionally lets the JPEG decoder downscale (``draft_size``), decodes the first frame, applies the
EXIF orientation and converts every mode to 8-bit RGB:

* transparency (RGBA, LA, PA, palette or grey/RGB with a transparent colour) is composited over
  a fixed white background (:data:`BACKGROUND`), so the same picture always gives the same pixels;
* 16-bit data (``I;16*`` modes, 16-bit PNGs, ``uint16`` arrays) is scaled, not clipped:
  ``round(v / 257)``, so 65535 -> 255 and 32768 -> 128;
* 32-bit float images (mode ``F``) are taken as [0, 1] when their maximum is <= 1, otherwise
  scaled by their maximum; negatives and NaN become 0. Mode ``I`` (32-bit int) is taken as
  16-bit data, or scaled by its maximum when that exceeds 65535;
* numpy arrays: HxW, HxWx1, HxWx3 or HxWx4 (channels last) of ``uint8``, ``uint16``, ``bool``,
  other integers in [0, 255], or floats in [0, 1] (out-of-range floats are an error, not a guess).

Folder walking lives in :mod:`imagevec.io.files`.

Example:
    >>> from imagevec.io.decode import load_image
    >>> img = load_image("photos/cat.jpg", draft_size=224)  # doctest: +SKIP
    >>> img.mode
    'RGB'
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from imagevec.errors import ConfigError, ImageLoadError, ImageTooLargeError
from imagevec.io.formats import ensure_plugins, is_raw_source, open_raw
from imagevec.io.pixels import BACKGROUND, array_to_rgb, image_to_rgb, not_an_image_reason
from imagevec.io.policy import SourcePolicy
from imagevec.io.probe import grey_fill_rows, ico_frame_sizes
from imagevec.io.sources import read_source

if TYPE_CHECKING:
    from imagevec.io.budget import Ticket

__all__ = [
    "BACKGROUND",
    "MAX_PIXELS",
    "WARNING",
    "load_image",
]

_log = logging.getLogger(__name__)

WARNING = "imagevec.warning"
"""Key of ``image.info`` where :func:`load_image` leaves a warning about a picture it kept
(e.g. a truncated JPEG); the index records it as the ``warning`` metadata field."""

MAX_PIXELS = 89_478_485
"""Default pixel cap (Pillow's default ``MAX_IMAGE_PIXELS``, ~ 9459 x 9459)."""

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def load_image(
    source: Any,
    *,
    policy: SourcePolicy | None = None,
    draft_size: int | None = None,
    max_pixels: int = MAX_PIXELS,
    budget: Ticket | None = None,
) -> Image.Image:
    """Load any accepted input as a fully decoded RGB image.

    Args:
        source: anything :func:`imagevec.io.sources.read_source` accepts (path, URL, bytes, file
            object, base64, data URI, PIL image, numpy array).
        policy: source limits and permissions (URLs are off by default).
        draft_size: for JPEGs, let the decoder downscale by 1/2, 1/4 or 1/8 while keeping the
            shorter side >= ``draft_size`` (much faster for large photos). Ignored for other
            formats and for PIL images passed in.
        max_pixels: refuse images with more pixels than this, checked from the header before
            any pixel is decoded. Pillow itself refuses more than ``2 * Image.MAX_IMAGE_PIXELS``
            at open time; that also surfaces as :class:`~imagevec.errors.ImageTooLargeError`.
        budget: a ticket of a :class:`~imagevec.io.budget.PixelBudget` shared by concurrent
            requests: the pixels about to be decoded are taken from it first (waiting while
            other requests hold it); the caller gives them back when done with the image.

    Returns:
        A loaded ``RGB`` image, EXIF orientation applied, first frame of animations. A picture
        kept despite a problem (a JPEG whose data ends early) carries a warning in
        ``image.info[WARNING]``. A PIL
        image passed in is treated like a file: its EXIF orientation tag, if any, is applied
        (as ``ImageOps.exif_transpose`` would; an image already transposed has no tag), and
        an RGB image that needs no change is returned as is (not copied). Its current frame
        is used.

    Raises:
        ImageTooLargeError: too many pixels or bytes.
        UnsafeSourceError: refused by ``policy``.
        ImageLoadError: missing, empty, corrupt, truncated or not an image.
    """
    if draft_size is not None and draft_size <= 0:
        raise ConfigError(f"draft_size must be a positive int or None, got {draft_size}")
    data = read_source(source, policy)
    if isinstance(data, np.ndarray):
        return array_to_rgb(data, source, max_pixels)
    if isinstance(data, Image.Image):
        return _finish(data, source, max_pixels)
    ensure_plugins()
    img = open_raw(data, source) if is_raw_source(source) else _open(data, source, max_pixels)
    _check_pixels(img.size, source, max_pixels)
    if draft_size and img.format == "JPEG":
        # JpegImageFile.draft picks the largest DCT scale s in (8, 4, 2, 1) with
        # s <= min(width // req_w, height // req_h) and decodes to ceil(side / s). Requesting
        # a square (d, d) therefore keeps *both* sides >= d, i.e. the short side >= d, with the
        # most reduction any request could give (an aspect-ratio box never allows more).
        img.draft(None, (draft_size, draft_size))
    if budget is not None:
        budget.take(img.size[0] * img.size[1], source)
    return _finish(img, source, max_pixels)


def _open(data: bytes, source: object, max_pixels: int) -> Image.Image:
    """``Image.open`` (header only), with errors a user can read."""
    for size in ico_frame_sizes(data):  # Pillow decodes an icon's largest frame at open
        _check_pixels(size, source, max_pixels)
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(source, f"decompression bomb refused by Pillow ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(source, not_an_image_reason(data)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(source, f"corrupt image header ({type(exc).__name__}: {exc})") from exc


def _check_pixels(size: tuple[int, int], source: object, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            source,
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels} "
            "(possible decompression bomb; raise max_pixels if the image is trusted)",
        )
    if width <= 0 or height <= 0:
        raise ImageLoadError(source, f"image has an empty size {width}x{height}")


def _finish(img: Image.Image, source: object, max_pixels: int) -> Image.Image:
    """Decode pixels, convert to RGB and apply the EXIF orientation."""
    _check_pixels(img.size, source, max_pixels)
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(source, f"decompression bomb refused by Pillow ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise ImageLoadError(
            source, f"corrupt or truncated image data ({type(exc).__name__}: {exc})"
        ) from exc
    # Like ImageOps.exif_transpose: a tag still present means "not applied yet". This holds
    # for derived images too (``Image.open(p).convert("RGB")`` keeps the tag and the raw pixels).
    method = _TRANSPOSE.get(exif_orientation(img))
    grey = grey_fill_rows(img)
    rgb = image_to_rgb(img, source)
    rgb = rgb.transpose(method) if method is not None else rgb
    if grey:
        rgb.info[WARNING] = (
            f"possibly truncated JPEG: the last {grey} of {img.height} rows are the decoder's "
            "grey fill (the data ends early)"
        )
    return rgb


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1-8; 1 when absent or unreadable). 5-8 swap width and
    height once applied."""
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return 1
    return value if isinstance(value, int) else 1
