"""What people filter photos by, read from EXIF at index time — robust to hostile data.

Fields (only those present are returned; every value is a short clean string, int, float or
bool, so it can be stored and filtered on):

* ``taken`` (``"2024-06-01T14:03:22"``, camera local time) and ``taken_ts`` (the same as
  seconds since 1970, read as UTC: for ``since``/``until`` filters);
* ``camera_make``, ``camera_model``, ``camera`` (make and model joined, make not repeated);
* ``lens``; ``orientation`` (1-8); ``has_gps`` (True when the photo carries a position);
* ``exposure_time`` (``"1/250"`` or ``"2"`` seconds), ``f_number`` (2.8), ``iso`` (200),
  ``focal_length`` (35.0 mm): what the viewer shows as the exposure;
* ``gps_lat``, ``gps_lon`` (decimal degrees) only with ``gps=True``: coordinates are personal.

A broken, truncated or malicious EXIF block never raises: the bad field is left out and the
image is indexed as usual.

Example:
    >>> with Image.open("IMG_0001.JPG") as img:                       # doctest: +SKIP
    ...     photo_fields(img)
    {'taken': '2024-06-01T14:03:22', 'taken_ts': 1717250602, 'camera': 'Apple iPhone 13', ...}
"""

from __future__ import annotations

import calendar
import logging
import math
import re
import unicodedata
from typing import Any

from PIL import Image

from imagevec.store.record import (
    CAMERA,
    CAMERA_MAKE,
    CAMERA_MODEL,
    EXIF_FIELDS,
    EXPOSURE_TIME,
    F_NUMBER,
    FOCAL_LENGTH,
    GPS_LAT,
    GPS_LON,
    HAS_GPS,
    ISO,
    LENS,
    ORIENTATION,
    TAKEN,
    TAKEN_TS,
)

__all__ = ["EXIF_FIELDS", "parse_exif_datetime", "photo_fields"]

_log = logging.getLogger(__name__)


_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_ORIGINAL, _DIGITIZED, _LENS_MAKE, _LENS_MODEL = 0x9003, 0x9004, 0xA433, 0xA434
_DATE = re.compile(r"\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_MAX_TEXT = 100
_EXPOSURE, _F_NUMBER, _ISO, _FOCAL = 0x829A, 0x829D, 0x8827, 0x920A


def _text(value: Any) -> str | None:
    """A clean, short, printable string from an EXIF value, or None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.split("\x00", 1)[0]
    cleaned = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").strip()
    cleaned = " ".join(cleaned.split())[:_MAX_TEXT]
    return cleaned or None


def parse_exif_datetime(value: Any) -> tuple[str, int] | None:
    """``("YYYY-MM-DDTHH:MM:SS", seconds)`` from an EXIF date (``2024:06:01 14:03:22``), or
    None if it is missing, malformed or not a real date between 1900 and 2100.

    Example:
        >>> parse_exif_datetime("2024:06:01 14:03:22")
        ('2024-06-01T14:03:22', 1717250602)
        >>> parse_exif_datetime("0000:00:00 00:00:00") is None
        True
    """
    text = _text(value)
    match = _DATE.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and hour < 24 and minute < 60):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1] or second > 60:
        return None
    second = min(second, 59)
    stamp = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}", stamp


def _degrees(value: Any, ref: Any, limit: float) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60.0 + s / 3600.0
    if not math.isfinite(degrees) or not 0 <= degrees <= limit:
        return None
    if (_text(ref) or "").upper() in ("S", "W"):
        degrees = -degrees
    return round(degrees, 6)


def _camera(make: str | None, model: str | None) -> str | None:
    if make and model and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part) or None


def photo_fields(img: Image.Image, *, gps: bool = False) -> dict[str, Any]:
    """The EXIF fields of an opened image (header only is enough); ``{}`` when none.

    Args:
        img: a PIL image (JPEG, HEIC, TIFF, WebP, PNG with eXIf...).
        gps: also return ``gps_lat`` / ``gps_lon`` (off by default: privacy).
    """
    try:
        exif = img.getexif()
    except Exception:  # hostile data: no EXIF rather than no image
        _log.debug("unreadable EXIF block", exc_info=True)
        return {}
    fields: dict[str, Any] = {}
    for name, read in (
        ("ifd0", lambda: _base(exif)),
        ("exif", lambda: _exif_ifd(exif)),
        ("gps", lambda: _gps(exif, gps)),
    ):
        try:
            fields.update(read())
        except Exception:  # one bad IFD loses its own fields only
            _log.debug("unreadable EXIF %s", name, exc_info=True)
    if CAMERA not in fields:
        camera = _camera(fields.get(CAMERA_MAKE), fields.get(CAMERA_MODEL))
        if camera:
            fields[CAMERA] = camera
    return fields


def _base(exif: Image.Exif) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, tag in ((CAMERA_MAKE, _MAKE), (CAMERA_MODEL, _MODEL)):
        text = _text(exif.get(tag))
        if text:
            out[key] = text
    orientation = exif.get(_ORIENTATION)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        out[ORIENTATION] = orientation
    taken = parse_exif_datetime(exif.get(_DATETIME))
    if taken:
        out[TAKEN], out[TAKEN_TS] = taken
    return out


def _exif_ifd(exif: Image.Exif) -> dict[str, Any]:
    ifd = exif.get_ifd(_EXIF_IFD)
    out: dict[str, Any] = {}
    for tag in (_ORIGINAL, _DIGITIZED):
        taken = parse_exif_datetime(ifd.get(tag))
        if taken:
            out[TAKEN], out[TAKEN_TS] = taken
            break
    out.update(_exposure(ifd))
    lens = _text(ifd.get(_LENS_MODEL))
    make = _text(ifd.get(_LENS_MAKE))
    if lens:
        out[LENS] = lens if not make or lens.lower().startswith(make.lower()) else f"{make} {lens}"
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _exposure(ifd: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seconds = _number(ifd.get(_EXPOSURE))
    if seconds is not None and seconds < 3600:
        out[EXPOSURE_TIME] = f"1/{round(1 / seconds)}" if seconds < 0.5 else f"{seconds:g}"
    f_number = _number(ifd.get(_F_NUMBER))
    if f_number is not None and f_number < 100:
        out[F_NUMBER] = round(f_number, 1)
    iso = _number(ifd.get(_ISO))
    if iso is not None and iso < 10_000_000:
        out[ISO] = int(iso)
    focal = _number(ifd.get(_FOCAL))
    if focal is not None and focal < 10_000:
        out[FOCAL_LENGTH] = round(focal, 1)
    return out


def _gps(exif: Image.Exif, coordinates: bool) -> dict[str, Any]:
    ifd = exif.get_ifd(_GPS_IFD)
    lat = _degrees(ifd.get(2), ifd.get(1), 90.0)
    lon = _degrees(ifd.get(4), ifd.get(3), 180.0)
    if lat is None or lon is None:
        return {HAS_GPS: False} if ifd else {}
    out: dict[str, Any] = {HAS_GPS: True}
    if coordinates:
        out.update({GPS_LAT: lat, GPS_LON: lon})
    return out
