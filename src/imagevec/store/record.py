"""THE metadata record: every field imagevec writes into a Chroma record, in one place.

Each field's key is spelled here and nowhere else; code reads ``meta[record.SHA256]``, never
``meta["sha256"]``. A record's metadata is a flat dict of scalars (Chroma's rule):

=============  =======  =========================================================
key            type     what
=============  =======  =========================================================
``uri``        str      the file's absolute path, printable (see ``path_b64``)
``path_b64``   str      the exact bytes of a path that is not valid UTF-8 (base64)
``filename``   str      the file's name (printable)
``sha256``     str      hash of the file's bytes: change detection, vector reuse
``bytes``      int      file size, for change detection without reading the file
``mtime_ns``   int      modification time, for change detection
``width``      int      pixels, after EXIF rotation (as displayed)
``height``     int      pixels, after EXIF rotation
``format``     str      the decoder's format name (``JPEG``, ``PNG``, ``HEIF``...)
``warning``    str      why a picture was indexed despite a problem (truncated JPEG)
``taken``      str      EXIF date taken, camera local time (``2024-06-01T14:03:22``)
``taken_ts``   int      the same as seconds since 1970 read as UTC (date filters)
``camera``     str      make and model joined (``Apple iPhone 13``)
``camera_make``  str    EXIF make
``camera_model`` str    EXIF model
``lens``       str      lens make and model
``orientation`` int     EXIF orientation tag (1-8)
``has_gps``    bool     the photo carries a position
``gps_lat``    float    latitude, only when asked (``exif_gps``: privacy)
``gps_lon``    float    longitude, only when asked
``exposure_time`` str   shutter time in seconds (``1/250``, ``2``)
``f_number``   float    aperture (2.8)
``iso``        int      ISO speed
``focal_length`` float  focal length in mm
``vector_digest`` str   8 projections of the record's vector: ``check`` compares the
                        vector read back with it (:mod:`imagevec.store.digest`)
=============  =======  =========================================================

Every other key is the user's own (``metadatas=`` / ``--meta``); these are reserved.
This module imports nothing of imagevec: any layer may read the schema (``io.exif`` names
the EXIF fields it extracts with these constants).

Example:
    >>> from imagevec.store import record
    >>> record.read(record.WIDTH, {"width": 640})
    640
    >>> record.user_fields({"uri": "/p/a.jpg", "album": "2024"})
    {'album': '2024'}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOOKKEEPING",
    "EXIF_FIELDS",
    "FIELDS",
    "RESERVED",
    "Field",
    "read",
    "user_fields",
]

URI = "uri"
PATH_B64 = "path_b64"
FILENAME = "filename"
SHA256 = "sha256"
BYTES = "bytes"
MTIME_NS = "mtime_ns"
WIDTH = "width"
HEIGHT = "height"
FORMAT = "format"
WARNING = "warning"
TAKEN = "taken"
TAKEN_TS = "taken_ts"
CAMERA = "camera"
CAMERA_MAKE = "camera_make"
CAMERA_MODEL = "camera_model"
LENS = "lens"
ORIENTATION = "orientation"
HAS_GPS = "has_gps"
GPS_LAT = "gps_lat"
GPS_LON = "gps_lon"
EXPOSURE_TIME = "exposure_time"
F_NUMBER = "f_number"
ISO = "iso"
FOCAL_LENGTH = "focal_length"
VECTOR_DIGEST = "vector_digest"


@dataclass(frozen=True)
class Field:
    """One stored field: its key, the Python type Chroma gives back, and what it holds."""

    key: str
    kind: type
    doc: str


FIELDS: dict[str, Field] = {
    f.key: f
    for f in (
        Field(URI, str, "the file's absolute path (printable form)"),
        Field(PATH_B64, str, "exact bytes of a path that is not UTF-8 (base64)"),
        Field(FILENAME, str, "the file's name"),
        Field(SHA256, str, "sha256 of the file's bytes"),
        Field(BYTES, int, "file size"),
        Field(MTIME_NS, int, "modification time (ns)"),
        Field(WIDTH, int, "width in pixels, as displayed"),
        Field(HEIGHT, int, "height in pixels, as displayed"),
        Field(FORMAT, str, "image format"),
        Field(WARNING, str, "why it was indexed despite a problem"),
        Field(TAKEN, str, "EXIF date taken (camera local time)"),
        Field(TAKEN_TS, int, "date taken as seconds since 1970 (UTC reading)"),
        Field(CAMERA, str, "camera make and model"),
        Field(CAMERA_MAKE, str, "EXIF camera make"),
        Field(CAMERA_MODEL, str, "EXIF camera model"),
        Field(LENS, str, "lens make and model"),
        Field(ORIENTATION, int, "EXIF orientation tag (1-8)"),
        Field(HAS_GPS, bool, "the photo carries a GPS position"),
        Field(GPS_LAT, float, "latitude (only with exif_gps)"),
        Field(GPS_LON, float, "longitude (only with exif_gps)"),
        Field(EXPOSURE_TIME, str, "shutter time in seconds (1/250)"),
        Field(F_NUMBER, float, "aperture f-number"),
        Field(ISO, int, "ISO speed"),
        Field(FOCAL_LENGTH, float, "focal length (mm)"),
        Field(VECTOR_DIGEST, str, "projections of the vector, written by the store"),
    )
}
"""Every field imagevec writes, by key."""

RESERVED = frozenset(FIELDS)
"""Keys a user field cannot use."""

EXIF_FIELDS = frozenset(
    {TAKEN, TAKEN_TS, CAMERA, CAMERA_MAKE, CAMERA_MODEL, LENS, ORIENTATION, HAS_GPS}
    | {GPS_LAT, GPS_LON, EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH}
)
"""The fields read from EXIF at index time (:mod:`imagevec.io.exif`)."""

BOOKKEEPING = frozenset({URI, SHA256, BYTES, MTIME_NS, PATH_B64, VECTOR_DIGEST})
"""Fields that only serve bookkeeping (change detection, exact paths); a hit's ``uri``
already says where the file is. Left out of brief results (agent tools)."""

STAT_FIELDS = (BYTES, MTIME_NS)
"""What change detection compares before reading a file (with the user's fields)."""


def read(key: str, meta: Mapping[str, Any]) -> Any:
    """The value of a reserved field, or None when absent or of the wrong type (a record
    written by hand, or by an older version).

    Raises:
        KeyError: ``key`` is not a field imagevec writes.
    """
    value = meta.get(key)
    kind = FIELDS[key].kind
    if kind is int and isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value if isinstance(value, kind) else None


def user_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The user's own fields of a record (everything not reserved)."""
    return {k: v for k, v in meta.items() if k not in RESERVED}
