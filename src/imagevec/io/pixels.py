"""Pixel conversions behind :func:`imagevec.io.decode.load_image`: any mode or array -> 8-bit RGB.

The rules (white background, 16-bit scaling, float ranges) are documented in
:mod:`imagevec.io.decode`; this module only implements them.
"""

from __future__ import annotations

import codecs

import numpy as np
from PIL import Image

from imagevec.errors import ImageLoadError, ImageTooLargeError

BACKGROUND = (255, 255, 255)
"""The fixed colour transparent pixels are composited over (white)."""

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
_FLOAT_TOLERANCE = 1e-3


def image_to_rgb(img: Image.Image, source: object) -> Image.Image:
    """Convert a loaded image of any mode to RGB (returns ``img`` itself when already RGB)."""
    mode = img.mode
    has_transparency = "transparency" in img.info and mode in ("P", "L", "RGB", "1")
    if mode == "RGB" and not has_transparency:
        return img
    if mode in _ALPHA_MODES or has_transparency:
        return _over_background(img if mode == "RGBA" else img.convert("RGBA"))
    if mode.startswith("I;16") or mode == "I":
        return _grey8_to_rgb(_int_to_uint8(np.asarray(img)))
    if mode == "F":
        return _grey8_to_rgb(_float_image_to_uint8(np.asarray(img, dtype=np.float32)))
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageLoadError(source, f"unsupported image mode {mode!r} ({exc})") from exc


def _over_background(rgba: Image.Image) -> Image.Image:
    out = Image.new("RGB", rgba.size, BACKGROUND)
    out.paste(rgba, (0, 0), rgba)
    return out


def _grey8_to_rgb(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(grey)).convert("RGB")


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit with rounding: round(v / 257), so 65535 -> 255 and 32768 -> 128."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _int_to_uint8(values: np.ndarray) -> np.ndarray:
    """Mode ``I``/``I;16*`` pixels: 16-bit data, or scaled by the maximum above 65535."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        return _scale16(values)
    values = np.clip(values, 0, None)
    peak = int(values.max()) if values.size else 0
    if peak <= 65535:
        return _scale16(values)
    return np.rint(values.astype(np.float64) * (255.0 / peak)).astype(np.uint8)


def _float_image_to_uint8(values: np.ndarray) -> np.ndarray:
    """Mode ``F``: [0, 1] when the maximum is <= 1, otherwise scaled by the maximum."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(values.max()) if values.size else 0.0
    scale = 255.0 if peak <= 1.0 else 255.0 / peak
    return np.rint(np.clip(values * scale, 0.0, 255.0)).astype(np.uint8)


def array_to_rgb(array: np.ndarray, source: object, max_pixels: int) -> Image.Image:
    """Convert an HxW / HxWx{1,3,4} array to an RGB image (see :mod:`imagevec.io.decode`)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        hint = ""
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):
            hint = "; for channels-first data use array.transpose(1, 2, 0)"
        raise ImageLoadError(
            source, f"unsupported array shape {array.shape}, expected HxW or HxWxC with C in "
            f"1, 3, 4{hint}"
        )  # fmt: skip
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageLoadError(source, f"empty array of shape {array.shape}")
    if height * width > max_pixels:
        raise ImageTooLargeError(
            source, f"{width}x{height} pixels exceeds the limit of {max_pixels} (max_pixels)"
        )
    img = Image.fromarray(np.ascontiguousarray(_array_to_uint8(array, source)))
    if img.mode == "RGBA":
        return _over_background(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def _array_to_uint8(array: np.ndarray, source: object) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype == np.uint16:
        return _scale16(array)
    if kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ImageLoadError(
                source,
                f"{array.dtype} array has values in [{low}, {high}]; integer arrays must be in "
                "[0, 255] (use uint16 for 16-bit data)",
            )
        return array.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(array).all():
            raise ImageLoadError(source, "float array contains NaN or infinity")
        low, high = float(array.min()), float(array.max())  # type: ignore[assignment]
        if low < -_FLOAT_TOLERANCE or high > 1.0 + _FLOAT_TOLERANCE:
            raise ImageLoadError(
                source,
                f"float array has values in [{low:g}, {high:g}]; float images must be in "
                "[0, 1] (divide 0-255 data by 255)",
            )
        return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageLoadError(source, f"unsupported array dtype {array.dtype}")


def not_an_image_reason(data: bytes) -> str:
    """A human explanation of why ``data`` is not a decodable image."""
    head = data[:512]
    lowered = head.lstrip().lower()
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    if head.startswith(b"%PDF"):
        return "this is a PDF document, not an image"
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "this is an HTML page, not an image (a URL to a web page rather than a file?)"
    if b"<svg" in lowered:
        return "SVG (vector) images are not supported; rasterise it to PNG first"
    if head.startswith(b"PK\x03\x04"):
        return "this is a ZIP archive (or an office document), not an image"
    if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "HEIC/HEIF images are not supported by this Pillow build; convert to JPEG first"
    if brand in (b"avif", b"avis"):
        return "AVIF is not supported by this Pillow build (Pillow >= 11.3 with AVIF support)"
    try:  # incremental: a multi-byte character cut at byte 512 is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\r\n\t\f" for ch in text):
        return "this is a text file, not an image"
    return "not a recognised image format"
