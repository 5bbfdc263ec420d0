"""The browse side of the query service: the library view, facets, score calibration, dupes.

:class:`Browsing` sits beside a :class:`~imagevec.service.QueryService` and keeps what it
derives from the collection (the sorted :class:`~imagevec.service.browse.Library`, the
calibration, the duplicate groups) until the collection's record count changes.

**Calibration** (which hits are "good matches"): a score means something different for
each encoder (a CLIP text-to-image cosine of 0.3 is strong, a default-encoder image-to-image
cosine of 0.3 is noise) and for each query (a vague text scores everything alike), so the
split is measured on the encoder's own scores, per query, over this collection. A fixed
sample of up to :data:`SAMPLE` stored photos (spread over time) is read once per collection
version. For a text or "more like this" query, its vector is scored against the sample:
that is what this query scores against a typical photo of this library. A hit is a good
match when its score is at least :data:`Z` standard deviations above that mean (z-score).
An uploaded image is not embedded twice: its basis is the sample's random pairs (every
pair of sampled photos), the same rule on the image-to-image scale.

On the 20 sample photos with the default encoder, every right answer to the test queries
("a cat", "a horse", "coffee", "a rocket"...) sat at z >= 2.6 and every other photo in
their top 5 at z <= 1.8 (see docs/page.md).
Example:
    >>> browsing = Browsing(service)                                     # doctest: +SKIP
    >>> browsing.calibration(text="a cat")["threshold"]                  # doctest: +SKIP
    0.24
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.errors import ConfigError, ImageLoadError, NotIndexedError, UnsafeSourceError
from imagevec.service.browse import Library, PhotoQuery
from imagevec.store.record import BYTES, FILENAME, HEIGHT, WIDTH

if TYPE_CHECKING:
    from imagevec.service.core import QueryService

__all__ = ["SAMPLE", "Browsing", "Z"]

SAMPLE = 1000
Z = 2.5


class Browsing:
    """Library pages, facets, calibration and duplicate groups of a service's collection.

    Args:
        service: the query service (its index, roots and encoder lock are used).
        trash_dir: where :meth:`trash` may move photos (None: never; the default). It must
            lie outside the served roots, and the service must have roots.

    Raises:
        ConfigError: ``trash_dir`` without roots, or inside them.
    """

    def __init__(self, service: QueryService, trash_dir: str | os.PathLike[str] | None = None):
        self.service = service
        self.trash_dir = _check_trash(service, trash_dir)
        self._lock = threading.Lock()
        self._library: tuple[int, Library | None] = (-1, None)
        self._sampled: tuple[int, np.ndarray] = (-1, np.zeros((0, 1), dtype=np.float32))
        self._dupes: dict[tuple[int, float | None], list[dict[str, Any]]] = {}

    def prepare(self) -> threading.Thread:
        """Build the library, its unfiltered facets and the calibration sample in a
        background thread (a server calls this at start, so the first page does not wait for
        the whole metadata read)."""

        def build() -> None:
            try:
                self.library().facets(PhotoQuery())
                self._sample()  # the calibration sample, read once
                self.service.folders()  # /api/info's folder list: another full read
            except Exception:  # the first request builds it again and reports the error
                return

        thread = threading.Thread(target=build, name="imagevec-library", daemon=True)
        thread.start()
        return thread

    def library(self) -> Library:
        """The sorted library, rebuilt when the collection's record count changed."""
        count = self.service.index.count()
        with self._lock:
            cached_count, library = self._library
            if library is None or cached_count != count:
                records = self.service.index.iter_metadata() if count else iter(())
                library = Library.build(records, self.service.roots)
                self._library = (count, library)
            return library

    def page(
        self, query: PhotoQuery, cursor: str | None = None, limit: int = 60, group: str = "day"
    ) -> dict[str, Any]:
        """See :meth:`Library.page`; adds ``total`` (photos in the collection)."""
        library = self.library()
        return {**library.page(query, cursor, limit, group), "total": len(library)}

    def facets(self, query: PhotoQuery) -> dict[str, Any]:
        """See :meth:`Library.facets`."""
        return self.library().facets(query)

    def resolve_folder(self, name: str | None) -> str | None:
        """The absolute folder for a relative folder name (None stays None)."""
        return self.library().resolve_folder(name) if name else None

    # ------------------------------------------------------------------ calibration
    def calibration(self, text: str | None = None, like: str | None = None) -> dict[str, Any]:
        """The good-match threshold for a query: ``{threshold, mean, std, z, basis, sample}``
        (``basis``: ``"query"`` for a ``text`` or ``like`` query, ``"pairs"`` without one);
        ``threshold`` is None when the collection has fewer than 2 photos.

        Raises:
            NotIndexedError: ``like`` names no record.
        """
        sample = self._sample()
        out: dict[str, Any] = {"z": Z, "sample": len(sample), "basis": "query"}
        if text is not None and text.strip():
            encoder = self.service.index.encoder
            with self.service._encode_lock:
                query = np.asarray(encoder.embed_texts([text[:1000]]), dtype=np.float32)[0]
            scores = sample @ _unit(query) if len(sample) else np.zeros(0)
        elif like is not None:
            found = self.service.index._open(write=False).get_vectors([like])
            if like not in found:
                raise NotIndexedError(like[:80], self.service.index.collection)
            scores = sample @ _unit(np.asarray(found[like][0], dtype=np.float32))
            scores = scores[scores < 0.9999] if len(sample) else scores  # not itself
        else:
            out["basis"] = "pairs"
            scores = (sample @ sample.T)[np.triu_indices(len(sample), k=1)]
        if scores.size < 2:
            return {**out, "threshold": None, "mean": None, "std": None}
        mean, std = float(scores.mean()), float(scores.std())
        return {**out, "threshold": round(mean + Z * std, 4), "mean": round(mean, 4),
                "std": round(std, 4)}  # fmt: skip

    def _sample(self) -> np.ndarray:
        count = self.service.index.count()
        if self._sampled[0] != count:
            ids = self.library().sample_ids(SAMPLE)
            found = self.service.index._open(write=False).get_vectors(ids) if ids else {}
            rows = [np.asarray(found[i][0], dtype=np.float32) for i in ids if i in found]
            matrix = np.stack(rows) if rows else np.zeros((0, 1), dtype=np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            self._sampled = (count, matrix)
        return self._sampled[1]

    # ------------------------------------------------------------------ originals
    def original(self, id_: str) -> tuple[bytes, str, str]:
        """``(bytes, mime, filename)`` of an indexed photo's file as it is on disk (EXIF and
        all: a download of the original), read under the service's roots, up to 1 GiB.

        Raises:
            NotIndexedError: no such record; ImageLoadError: gone or outside the roots.
        """
        import dataclasses
        import mimetypes

        from imagevec.io.sources import read_source

        record = self.service.record(id_)
        policy = dataclasses.replace(self.service._file_policy, max_bytes=2**30)
        data = read_source(record["uri"], policy)
        name = str(record["metadata"].get(FILENAME) or "photo")
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return bytes(data), mime, name  # type: ignore[arg-type]  # a path reads as bytes

    # ------------------------------------------------------------------ trash
    def trash(self, id_: str) -> dict[str, Any]:
        """Move an indexed photo's file into the trash folder (keeping its folder path under
        the root's name; never overwriting) and remove its record. Nothing is deleted.

        Raises:
            ConfigError: no trash folder was given; NotIndexedError: no such record;
            UnsafeSourceError: the file is outside the served roots; ImageLoadError: gone.
        """
        if self.trash_dir is None:
            raise ConfigError("moving to a trash folder is off (imagevec serve --trash DIR)")
        record = self.service.record(id_)
        source = Path(record["uri"])
        real = source.resolve()
        root = next((r for r in self.service.roots or () if real.is_relative_to(r)), None)
        if root is None:
            raise UnsafeSourceError(str(source), "outside the served roots")
        if not real.is_file():
            raise ImageLoadError(str(source), "the file is gone")
        relative = Path(root.name) / real.relative_to(root)
        target = self.trash_dir / relative
        number = 1
        while target.exists():
            number += 1
            target = target.with_name(f"{real.stem} ({number}){real.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(real), str(target))
        self.service.index.delete(ids=[id_])
        return {"id": id_, "moved_to": str(target.relative_to(self.trash_dir))}

    # ------------------------------------------------------------------ duplicates
    def dupes(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """``imagevec dupes`` groups as JSON (keeper first, with ``reason`` when the rule
        gives one), folders relative; cached until the collection changes."""
        count = self.service.index.count()
        key = (count, threshold)
        if key not in self._dupes:
            library = self.library()
            groups = self.service.index.duplicates(threshold=threshold) if count else []
            out = []
            for group in groups:
                data = group.to_dict()
                for member in data["members"]:
                    member["folder"] = library.relative(_dirname(member["uri"]))
                    member.pop("uri", None)
                data.pop("keeper", None)
                data.setdefault("reason", _reason(data["members"]))
                out.append(data)
            self._dupes = {key: out}
        return self._dupes[key]


def _check_trash(service: QueryService, folder: str | os.PathLike[str] | None) -> Path | None:
    if folder is None:
        return None
    trash = Path(folder).expanduser().resolve()
    if not service.roots:
        raise ConfigError("a trash folder needs served roots (--roots or --watch)")
    if any(trash.is_relative_to(r) or r.is_relative_to(trash) for r in service.roots):
        raise ConfigError(f"the trash folder {trash} must lie outside the served roots")
    return trash


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _dirname(uri: str) -> str:
    return os.path.dirname(uri)


def _reason(members: list[dict[str, Any]]) -> str:
    """Why the first member is the keeper, under the rule ``find_duplicates`` applied when
    it gives no reason itself (most pixels, then most bytes)."""
    keeper = members[0].get("metadata", {})
    pixels = int(keeper.get(WIDTH) or 0) * int(keeper.get(HEIGHT) or 0)
    others = [m.get("metadata", {}) for m in members[1:]]
    if all(int(o.get(WIDTH) or 0) * int(o.get(HEIGHT) or 0) < pixels for o in others):
        return f"most pixels ({keeper.get(WIDTH)}×{keeper.get(HEIGHT)})"
    return f"largest file ({keeper.get(BYTES)} bytes) of the same size"
