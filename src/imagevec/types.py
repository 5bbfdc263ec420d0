"""Torch-free records shared by every layer: Failure, EncodedBatch, EncodeReport, VectorRecord,
Hit, AddReport; the one request per verb (:class:`SearchRequest` with its
:class:`PhotoFilter`, :class:`AddOptions`) that every surface builds and the core consumes;
and SearchIndex (the search contract of local and served indexes).

Kept free of torch so that code which only reports (the index, the CLI) imports nothing heavy.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagevec.errors import ConfigError
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

#: The most results one agent tool call may ask for: the LangChain and LlamaIndex tools and
#: the MCP server all refuse a larger ``k`` with an error the model can read (none clamps).
TOOL_MAX_K = 50


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
        missing: files still in the index under the given folders that are gone from disk
            (``prune=False``, the default: ``prune=True`` / ``--prune`` removes them).
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
    missing: list[str] = field(default_factory=list)
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
        if self.missing:
            line += f"; {len(self.missing)} indexed files are gone — --prune removes them"
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
            "missing": list(self.missing),
            "warnings": [{"file": f.source, "reason": f.reason} for f in self.warnings],
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
        }


def _filter(help: str, metavar: str, choices: tuple[str, ...] = ()) -> Any:
    """A :class:`PhotoFilter` field; its help, metavar and choices are what every surface
    shows (CLI option, HTTP field and parameter, MCP argument)."""
    return field(default=None, metadata={"help": help, "metavar": metavar, "choices": choices})


MAX_WHERE_DEPTH = 32
"""Deepest nesting of a ``where`` filter (objects and lists; a real filter uses < 10)."""
MAX_WHERE_NODES = 10_000
"""Most values (objects, lists, scalars) in a ``where`` filter."""


def check_where(where: Any) -> dict[str, Any] | None:
    """``where`` if it is a plain JSON-like filter of bounded size, else a clear error.

    Walks the filter without recursion, so a filter nested thousands of levels deep (sent
    to the HTTP API or an MCP tool) is refused here, before Chroma or any recursive code
    sees it. Every surface reaches it through :class:`PhotoFilter`, which checks its ``where``
    with it (re-exported by :mod:`imagevec.search.filters`).

    Raises:
        ConfigError: not a dict, deeper than :data:`MAX_WHERE_DEPTH`, more than
            :data:`MAX_WHERE_NODES` values, or holding something that is not JSON.
    """
    if where is None:
        return None
    if not isinstance(where, dict):
        raise ConfigError("where must be a dict (a Chroma metadata filter)")
    stack: list[tuple[Any, int]] = [(where, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_WHERE_NODES:
            raise ConfigError(f"where filter too large: more than {MAX_WHERE_NODES} values")
        if depth > MAX_WHERE_DEPTH:
            raise ConfigError(f"where filter nested too deeply: more than {MAX_WHERE_DEPTH} levels")
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise ConfigError("where filter keys must be strings")
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"where filter holds a {type(value).__name__}, not a JSON value")
    return where


@dataclass(frozen=True)
class PhotoFilter:
    """Which photos a search (or a duplicate scan) may return: every filter given must hold.

    Each field but ``where`` is a plain-text filter offered by every surface under its own
    name: ``index.search("beach", camera="iphone")``, ``imagevec search --camera``, the HTTP
    API's ``camera`` field and query parameter, the MCP tools' ``camera`` argument. Their help
    comes from here; what each means to the store is :mod:`imagevec.search.filters`. A new
    filter is one field here and one clause there.

    Attributes:
        where: a Chroma metadata filter (``{"album": "2024"}``), combined with the others.
        folder: only photos under this folder.
        since: only photos taken on or after this date (``2024-06-01``, EXIF date taken).
        until: only photos taken on or before this date (the whole day included).
        camera: only photos whose camera make/model contains this text (any case).
        lens: only photos whose lens contains this text (any case).
        orientation: ``landscape``, ``portrait`` or ``square`` photos (width and height as
            displayed, after EXIF rotation).

    Example:
        >>> PhotoFilter(since=dt.date(2024, 6, 1), camera="iphone").to_json()
        {'since': '2024-06-01', 'camera': 'iphone'}
    """

    where: dict[str, Any] | None = None
    folder: str | None = _filter("Only photos under this folder.", "FOLDER")
    since: str | None = _filter(
        "Only photos taken on or after DATE (YYYY-MM-DD, EXIF date taken).", "DATE"
    )
    until: str | None = _filter("Only photos taken on or before DATE (inclusive).", "DATE")
    camera: str | None = _filter("Only photos whose camera make/model contains TEXT.", "TEXT")
    lens: str | None = _filter("Only photos whose lens contains TEXT (any case).", "TEXT")
    orientation: str | None = _filter(
        "Only landscape, portrait or square photos (as displayed).",
        "SHAPE",
        ("landscape", "portrait", "square"),
    )

    def __post_init__(self) -> None:
        check_where(self.where)
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "where" or value is None:
                continue
            if isinstance(value, (dt.date, dt.datetime)):
                value = value.isoformat()
            elif isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str):
                raise ConfigError(f"{item.name} must be a string, got {value!r}")
            choices = item.metadata["choices"]
            if choices and value not in choices:
                raise ConfigError(f"{item.name} must be one of {', '.join(choices)}, got {value!r}")
            object.__setattr__(self, item.name, value or None)  # "" is no filter

    @staticmethod
    def options() -> list[dataclasses.Field[Any]]:
        """The plain-text filters (every field but ``where``), for surfaces to offer."""
        return [f for f in dataclasses.fields(PhotoFilter) if f.name != "where"]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PhotoFilter:
        """A filter from ``{name: value}`` (unknown names are an error; None is no filter).

        Raises:
            ConfigError: an unknown filter name or a bad value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown filter {unknown}: choose from {', '.join(sorted(names))}")
        return cls(**dict(values))

    def __bool__(self) -> bool:
        return any(value is not None for value in dataclasses.astuple(self))

    def to_json(self) -> dict[str, Any]:
        """The filters given, JSON-ready (dates as ISO text), for the wire."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class SearchRequest:
    """One search, as every surface builds it (Python, CLI, HTTP, MCP, remote client) and
    :meth:`ImageIndex.search` runs it.

    Exactly one of ``text``, ``image``, ``vector``, ``like`` or ``query``.

    Attributes:
        text: a text query (the encoder's text tower, or the default's bridge).
        image: an example picture (any input the loader takes).
        vector: a query vector in the collection's space.
        like: "more like this": the id or file path of an indexed item.
        query: a combined :class:`~imagevec.search.Query` of weighted parts, or a string in
            its syntax (``"2:golden retriever + ./pool.jpg - night"``).
        k: number of results.
        include_self: keep the items named by ``like`` (or ``like:`` parts) in the results.
        filter: which photos may be returned (:class:`PhotoFilter`).

    Example:
        >>> request = SearchRequest(text="a cat", k=5, filter=PhotoFilter(camera="iphone"))
        >>> request.kind
        'text'
        >>> built, rest = SearchRequest.build("a cat", k=5, camera="iphone", policy=None)
        >>> built == request, rest
        (True, {'policy': None})
    """

    text: str | None = None
    image: Any = None
    vector: Any = None
    like: str | os.PathLike[str] | None = None
    query: Any = None
    k: int = 10
    include_self: bool = False
    filter: PhotoFilter = field(default_factory=PhotoFilter)

    KINDS = ("text", "image", "vector", "like", "query")

    @property
    def kind(self) -> str:
        """Which query was given (``text``, ``image``, ``vector``, ``like`` or ``query``).

        Raises:
            ConfigError: not exactly one of them.
        """
        given = [name for name in self.KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConfigError("search takes exactly one of text=, image=, vector=, like= or query=")
        return given[0]

    @classmethod
    def build(
        cls, text: str | SearchRequest | None = None, /, **kwargs: Any
    ) -> tuple[SearchRequest, dict[str, Any]]:
        """A request from keyword arguments (the public API's spelling): the request's own
        fields, a ``filter=`` :class:`PhotoFilter` and/or its fields (``where``, ``folder``,
        ``since``...); returns it with the other keywords (load options such as ``policy``).

        ``text`` may already be a :class:`SearchRequest`; keywords then replace its fields.
        """
        base = text if isinstance(text, SearchRequest) else cls(text=text)
        own = {f.name for f in dataclasses.fields(cls)} - {"filter"}
        filters = {f.name for f in dataclasses.fields(PhotoFilter)}
        changes = {name: kwargs.pop(name) for name in list(kwargs) if name in own}
        given = kwargs.pop("filter", None) or base.filter
        if not isinstance(given, PhotoFilter):
            given = PhotoFilter.from_mapping(given)
        extra = {name: kwargs.pop(name) for name in list(kwargs) if name in filters}
        changes["filter"] = dataclasses.replace(given, **extra) if extra else given
        return dataclasses.replace(base, **changes), kwargs


@dataclass(frozen=True)
class AddOptions:
    """How :meth:`ImageIndex.add` (and :func:`imagevec.scale.index_with_ray`) walks folders
    and indexes files; every surface builds one (``imagevec index`` flags, keywords).

    Attributes:
        recursive: walk sub-folders.
        include_hidden: also walk hidden files and folders (``.name``); junk folders
            (``.git``, ``node_modules``, ``@eaDir``...) are never walked.
        exclude: globs of names or relative paths to leave out (``"*.png"``, ``"2019/*"``).
        raw_siblings: also take a RAW file whose JPEG/HEIC sibling is there.
        retry_failed: try again files that failed earlier and have not changed since.
        prune: also remove records of files gone from the given folders. Without it they
            stay and ``AddReport.missing`` names them: a folder on an unmounted drive or a
            half-finished sync looks empty, and pruning would drop the records with the
            fields you gave them.
        exif_gps: also store GPS coordinates (``gps_lat``, ``gps_lon``); privacy: off.
        max_megapixels: images larger than this fail (named in the report) undecoded.
        on_error: ``skip`` bad files and report them, ``warn`` too, or ``raise`` the first.
        batch_size: images per forward pass (each batch is written at once).

    Example:
        >>> AddOptions(exclude="*.png", prune=True).exclude
        ('*.png',)
    """

    recursive: bool = True
    include_hidden: bool = False
    exclude: tuple[str, ...] = ()
    raw_siblings: bool = False
    retry_failed: bool = False
    prune: bool = False
    exif_gps: bool = False
    max_megapixels: float | None = None
    on_error: str = "skip"
    batch_size: int = 32

    def __post_init__(self) -> None:
        exclude = self.exclude
        object.__setattr__(
            self, "exclude", (exclude,) if isinstance(exclude, str) else tuple(exclude)
        )
        if self.max_megapixels is not None and not self.max_megapixels > 0:
            raise ConfigError(f"max_megapixels must be > 0, got {self.max_megapixels!r}")
        if self.on_error not in ("skip", "warn", "raise"):
            raise ConfigError(f"on_error must be skip, warn or raise, got {self.on_error!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {self.batch_size!r}")

    @property
    def max_pixels(self) -> int | None:
        """``max_megapixels`` as the loader's ``max_pixels``."""
        return None if self.max_megapixels is None else int(self.max_megapixels * 1_000_000)

    @classmethod
    def build(
        cls, options: AddOptions | None = None, /, **kwargs: Any
    ) -> tuple[AddOptions, dict[str, Any]]:
        """Options from keyword arguments (replacing those of ``options``); returns them with
        the other keywords (load options such as ``policy``, ``num_workers``)."""
        own = {f.name for f in dataclasses.fields(cls)}
        changes = {name: kwargs.pop(name) for name in list(kwargs) if name in own}
        return dataclasses.replace(options or cls(), **changes), kwargs


class SearchIndex(abc.ABC):
    """What retrievers, tools and agents need from an index: :meth:`search` and :meth:`count`.

    Implemented by :class:`~imagevec.ImageIndex` (local) and the client returned by
    :func:`imagevec.connect` (a served index), so adapters accept either unchanged.
    """

    @abc.abstractmethod
    def search(self, text: str | SearchRequest | None = None, **options: Any) -> list[Hit]:
        """The ``k`` best :class:`Hit` objects for one query (text, image or indexed item):
        a :class:`SearchRequest`, or its fields and filters as keywords
        (``search("a cat", k=5, camera="iphone")``)."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of images."""
