"""A synthetic photo library for the browse benchmark and tests: real metadata shapes
(dates taken or file times, cameras, lenses, formats, nested folders, portrait and landscape
sizes), random unit vectors, optionally tiny real JPEG files so thumbnails work.

Example:
    >>> write_library(index, "/tmp/lib", 10_000, files=True)          # doctest: +SKIP
    10000
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.store.record import (
    BYTES,
    CAMERA,
    FILENAME,
    FORMAT,
    HEIGHT,
    LENS,
    MTIME_NS,
    SHA256,
    TAKEN,
    TAKEN_TS,
    URI,
    WIDTH,
)
from imagevec.types import VectorRecord

__all__ = ["CAMERAS", "LENSES", "synthetic_metadata", "write_library"]

CAMERAS = ("Apple iPhone 13", "FUJIFILM X100V", "Canon EOS R5", "SONY ILCE-7M3")
LENSES = ("iPhone 13 back camera 5.1mm f/1.6", "RF24-105mm F4 L IS USM", "FE 35mm F1.8")
FORMATS = ("JPEG", "JPEG", "JPEG", "HEIF", "PNG")
START = 1_420_070_400  # 2015-01-01


def synthetic_metadata(root: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records' metadata under ``root`` (85 % with an EXIF date, 2015 onwards)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = START + rng.randrange(10 * 365 * 86_400)
        year = 2015 + (ts - START) // (365 * 86_400)
        folder = os.path.join(root, str(year), f"event-{rng.randrange(12):02d}")
        fmt = rng.choice(FORMATS)
        name = f"IMG_{i:06d}.{'heic' if fmt == 'HEIF' else fmt.lower().replace('jpeg', 'jpg')}"
        portrait = rng.random() < 0.3
        meta: dict[str, Any] = {
            URI: os.path.join(folder, name),
            FILENAME: name,
            SHA256: f"{i:064x}",
            BYTES: 100_000 + rng.randrange(4_000_000),
            MTIME_NS: (ts + 86_400) * 1_000_000_000,
            WIDTH: 4000 if not portrait else 3000,
            HEIGHT: 3000 if not portrait else 4000,
            FORMAT: fmt,
        }
        if rng.random() < 0.85:
            import datetime as dt

            meta[TAKEN_TS] = ts
            meta[TAKEN] = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
            camera = rng.choice(CAMERAS)
            meta[CAMERA] = camera
            if "iPhone" in camera:
                meta[LENS] = LENSES[0]
            elif rng.random() < 0.8:
                meta[LENS] = rng.choice(LENSES[1:])
        out.append(meta)
    return out


def write_library(
    index: Any,
    root: str | os.PathLike[str],
    n: int,
    *,
    stamp: dict[str, Any] | None = None,
    files: bool = False,
    seed: int = 0,
) -> int:
    """Write ``n`` synthetic records (random vectors of the index's dim) into ``index``;
    with ``files``, also a tiny JPEG per record (a thumbnail can be made; its sha256 in the
    metadata stays synthetic, which only names the thumbnail cache file)."""
    metas = synthetic_metadata(os.path.abspath(root), n, seed)
    dim = int((stamp or {}).get("dim") or index.encoder.dim)
    rng = np.random.default_rng(seed)
    if files:
        _write_files(metas)
    written = 0
    for start in range(0, n, 2000):
        chunk = metas[start : start + 2000]
        vectors = rng.standard_normal((len(chunk), dim)).astype(np.float32)
        records = [VectorRecord(m[URI], v, m) for m, v in zip(chunk, vectors, strict=True)]
        written += index.upsert_vectors(records, stamp=stamp)
    return written


def _write_files(metas: list[dict[str, Any]]) -> None:
    from PIL import Image

    colours = [(200, 80, 60), (60, 140, 200), (90, 170, 90), (220, 200, 80), (120, 90, 160)]
    for i, meta in enumerate(metas):
        path = Path(meta[URI])
        path.parent.mkdir(parents=True, exist_ok=True)
        size = (48, 36) if meta[WIDTH] > meta[HEIGHT] else (36, 48)
        Image.new("RGB", size, colours[i % len(colours)]).save(path, format="JPEG")
