"""A structural check of Chroma's on-disk HNSW files, made before Chroma reads them.

Chroma's native code trusts these files: random bytes in ``data_level0.bin`` crash the whole
process (a segfault, no exception). :func:`check_hnsw_folder` reads them with numpy and checks
what the native loader relies on: the header's sizes agree with each other and with the files,
every neighbour id names an element, every neighbour count fits its list, every vector is
finite, the header's format version is the one Chroma writes (1).

Layout (hnswlib's, behind Chroma's 4-byte ``persist_version``): ``header.bin``;
``data_level0.bin`` = per element ``[count:u32][maxM0 ids:u32][vector:f32*dim][label:u64]``;
``length.bin`` = per element its vector norm (f32); ``link_lists.bin`` = per element
``[size:u32]`` then ``size`` bytes of upper-level lists, ``[count:u32][maxM ids:u32]`` each.

Example:
    >>> check_hnsw_folder(Path("imagevec-db/0b6d...-segment"))  # doctest: +SKIP
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["HNSW_FILES", "check_hnsw_folder"]

HNSW_FILES = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
_HEADER = struct.Struct("<i6QiI3QdQ")  # version, offsetLevel0, max_elements, count, size,
# label_offset, offsetData, maxlevel, enterpoint, maxM, maxM0, M, mult, ef_construction


def check_hnsw_folder(folder: Path) -> str | None:
    """Why the HNSW files in ``folder`` cannot be trusted, or ``None`` when they look sound."""
    missing = [name for name in HNSW_FILES if not (folder / name).is_file()]
    if missing:
        return f"vector index {folder.name}: missing {', '.join(missing)}"
    head = (folder / "header.bin").read_bytes()
    if len(head) < _HEADER.size:
        return f"vector index {folder.name}: header.bin is {len(head)} bytes"
    (version, off0, max_elements, count, size, label_at, data_at, max_level, entry, max_m,
     max_m0, _m, _mult, _ef) = _HEADER.unpack_from(head)  # fmt: skip
    where = f"vector index {folder.name}"
    if version != 1:  # the only one Chroma writes; random bytes here fail its loader
        return f"{where}: header.bin has an unknown format version ({version})"
    if not (
        off0 == 0
        and count <= max_elements
        and 0 < max_m0 < 4096
        and 0 < max_m < 4096
        and data_at == 4 + 4 * max_m0
        and label_at > data_at
        and (label_at - data_at) % 4 == 0
        and size == label_at + 8
        and -1 <= max_level < 64
        and (count == 0 or entry < count)
    ):
        return f"{where}: header.bin is inconsistent (not written by this Chroma, or damaged)"
    level0 = folder / "data_level0.bin"
    stored = level0.stat().st_size
    if stored % size or not count * size <= stored <= max_elements * size:
        return f"{where}: data_level0.bin has {stored} bytes for {count} elements of {size}"
    rows = np.fromfile(level0, dtype=np.uint8, count=count * size).reshape(count, size)
    links = rows[:, :data_at].copy().view(np.uint32)
    bad = _bad_lists(links, max_m0, count)
    if bad:
        return f"{where}: data_level0.bin has {bad} broken neighbour lists"
    vectors = rows[:, data_at:label_at].copy().view(np.float32)
    if not np.isfinite(vectors).all():
        return f"{where}: data_level0.bin holds vectors that are not finite numbers"
    return _check_upper_levels(folder, where, count, max_m, max_level)


def _bad_lists(lists: np.ndarray, capacity: int, count: int) -> int:
    """Lists (rows ``[count, ids...]``) whose count exceeds ``capacity`` or name no element."""
    sizes = lists[:, 0] & 0xFFFF  # the third byte is hnswlib's "deleted" mark
    over = sizes > capacity
    used = np.arange(capacity)[None, :] < np.minimum(sizes, capacity)[:, None]
    out_of_range = ((lists[:, 1:] >= count) & used).any(axis=1)
    return int((over | out_of_range).sum())


def _check_upper_levels(
    folder: Path, where: str, count: int, max_m: int, max_level: int
) -> str | None:
    norms = np.fromfile(folder / "length.bin", dtype=np.float32)
    if norms.size < count or not np.isfinite(norms[:count]).all():
        return f"{where}: length.bin does not hold a finite norm per element"
    data = (folder / "link_lists.bin").read_bytes()
    block = 4 + 4 * max_m
    starts: list[int] = []
    position = 0
    for _ in range(count):
        if position + 4 > len(data):
            return f"{where}: link_lists.bin ends early"
        (size,) = struct.unpack_from("<I", data, position)
        if size % block or size // block > max(max_level, 0):
            return f"{where}: link_lists.bin is inconsistent"
        starts.extend(range(position + 4, position + 4 + size, block))
        position += 4 + size
    if position > len(data):
        return f"{where}: link_lists.bin ends early"
    if not starts:
        return None
    words = np.frombuffer(data, dtype=np.uint32, count=position // 4)
    lists = words[np.asarray(starts)[:, None] // 4 + np.arange(max_m + 1)[None, :]]
    bad = _bad_lists(lists, max_m, count)
    return f"{where}: link_lists.bin has {bad} broken neighbour lists" if bad else None
