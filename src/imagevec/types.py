"""Torch-free records shared by every layer: Failure, EncodedBatch, EncodeReport, VectorRecord,
Hit, AddReport, and SearchIndex (the search contract of local and served indexes).

Kept free of torch so that code which only reports (the index, the CLI) imports nothing heavy.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagevec.store.record import BOOKKEEPING


class SkippedImageWarning(UserWarning):
    """An input was skipped because it could not be loaded (``on_error="warn"``)."""


class AllInputsFailedWarning(UserWarning):
    """:meth:`ImageIndex.add` indexed nothing: every input failed (see ``report.failed``)."""


@dataclass(frozen=True)
class Failure:
    """An input that could not be embedded: its position, a description and the reason."""

    index: int
    source: str
    reason: str


@dataclass
class EncodedBatch:
    """One batch out of the loop: ``vectors[i]`` belongs to input number ``indices[i]``."""

    indices: list[int]
    vectors: np.ndarray
    sources: list[Any] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    """Inputs embedded despite a problem (e.g. a truncated JPEG), with the reason."""


@dataclass
class EncodeReport:
    """All batches collected: vectors, the input index of each row, and the failures."""

    vectors: np.ndarray
    indices: list[int]
    failures: list[Failure]
    warnings: list[Failure] = field(default_factory=list)
    """Inputs embedded despite a problem (e.g. a truncated JPEG), with the reason."""

    @property
    def ok(self) -> bool:
        """True when every input was embedded."""
        return not self.failures


@dataclass(frozen=True)
class VectorRecord:
    """One image's record with a vector computed anywhere (Ray, Spark, a notebook).

    Build it with :func:`imagevec.file_record` to get exactly the metadata ``ImageIndex.add``
    writes, then write it with :meth:`imagevec.ImageIndex.upsert_vectors`.

    Attributes:
        uri: the image's absolute path; the record id is derived from it.
        vector: the embedding (any scale: it is L2-normalised on write).
        metadata: scalar fields; must hold ``uri`` equal to :attr:`uri`.
    """

    uri: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        id: the record id (derived from the file's absolute path).
        uri: the image's absolute path.
        score: cosine similarity to the query, higher is better (1.0 = same direction).
        metadata: width, height, format, bytes, mtime_ns, sha256, filename and your fields.
    """

    id: str
    uri: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, rank: int | None = None, *, brief: bool = False) -> dict[str, Any]:
        """JSON-ready ``{rank, id, uri, score, metadata}`` (rank omitted when None).

        ``brief`` (for language models): score rounded to 4 digits, the bookkeeping
        fields (:data:`BOOKKEEPING_FIELDS`) left out of ``metadata``.
        """
        score, metadata = self.score, self.metadata
        if brief:
            score = round(float(score), 4)
            metadata = {k: v for k, v in metadata.items() if k not in BOOKKEEPING_FIELDS}
        data = {"id": self.id, "uri": self.uri, "score": score, "metadata": metadata}
        return data if rank is None else {"rank": rank, **data}


#: Stored metadata that only serves bookkeeping (change detection, exact paths); a hit's
#: ``uri`` already says where the file is. Left out of brief results.
BOOKKEEPING_FIELDS = BOOKKEEPING


def hits_to_json(hits: Sequence[Hit], *, brief: bool = False) -> list[dict[str, Any]]:
    """Search results as JSON-ready rows, best first: ``[{rank, id, uri, score, metadata}]``.

    The one shape of results everywhere: ``imagevec search --json``, the HTTP API and the
    LangChain and LlamaIndex agent tools. ``score`` is the cosine similarity (higher is
    better); ``brief=True`` (what agent tools return) rounds it and drops bookkeeping fields.

    Example:
        >>> json.dumps(imagevec.hits_to_json(index.search("a cat", k=3)))  # doctest: +SKIP
    """
    return [hit.to_dict(rank, brief=brief) for rank, hit in enumerate(hits, 1)]


@dataclass
class AddReport:
    """What :meth:`ImageIndex.add` did.

    Attributes:
        indexed: new files written.
        updated: files whose content changed since they were indexed (re-embedded).
        unchanged: files already indexed with the same content (not embedded again).
        failed: files that could not be read or decoded in this run, each with its reason.
        failed_earlier: files skipped because they failed before and have not changed since
            (``retry_failed=True`` / ``--retry-failed`` tries them again).
        pruned: records removed because their file is gone (``prune=True``).
        warnings: files indexed despite a problem (e.g. a truncated JPEG), with the reason;
            the record's ``warning`` metadata field says it too.
        embedded: images that went through the encoder (the rest were skipped or reused).
        seconds: wall time.
    """

    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[Failure] = field(default_factory=list)
    failed_earlier: list[Failure] = field(default_factory=list)
    pruned: int = 0
    warnings: list[Failure] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    @property
    def total(self) -> int:
        """Files seen."""
        good = self.indexed + self.updated + self.unchanged
        return good + len(self.failed) + len(self.failed_earlier)

    @property
    def all_failed(self) -> bool:
        """True when inputs were given and not one of them is in the index (all failed,
        now or earlier): nothing can be searched. :meth:`ImageIndex.add` warns then."""
        nothing = self.indexed + self.updated + self.unchanged == 0
        return nothing and bool(self.failed or self.failed_earlier)

    def summary(self) -> str:
        """One line: ``indexed 18, updated 0, unchanged 2, failed 1, pruned 0 (3.2 s)``,
        plus the files skipped for failing earlier, and a loud prefix when all failed."""
        line = (
            f"indexed {self.indexed}, updated {self.updated}, unchanged {self.unchanged}, "
            f"failed {len(self.failed)}, pruned {self.pruned} ({self.seconds:.1f} s)"
        )
        if self.failed_earlier:
            line += (
                f"; {len(self.failed_earlier)} failed earlier, unchanged — "
                "--retry-failed to try again"
            )
        if self.warnings:
            line += f"; {len(self.warnings)} indexed with a warning"
        if self.all_failed:
            line = f"NOTHING INDEXED: all {self.total} inputs failed; {line}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``failed`` is a list of ``{file, reason}``."""
        return {
            "indexed": self.indexed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"file": f.source, "reason": f.reason} for f in self.failed],
            "failed_earlier": [{"file": f.source, "reason": f.reason} for f in self.failed_earlier],
            "all_failed": self.all_failed,
            "pruned": self.pruned,
            "warnings": [{"file": f.source, "reason": f.reason} for f in self.warnings],
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
        }


class SearchIndex(abc.ABC):
    """What retrievers, tools and agents need from an index: :meth:`search` and :meth:`count`.

    Implemented by :class:`~imagevec.ImageIndex` (local) and the client returned by
    :func:`imagevec.connect` (a served index), so adapters accept either unchanged.
    """

    @abc.abstractmethod
    def search(
        self,
        text: str | None = None,
        *,
        image: Any = None,
        like: Any = None,
        k: int = 10,
        where: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[Hit]:
        """The ``k`` best :class:`Hit` objects for one query (text, image or indexed item)."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of images."""
