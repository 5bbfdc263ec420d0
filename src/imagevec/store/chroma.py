"""Chroma storage: clients, collections with an encoder stamp, batched writes, queries -> hits.

This is the only module that talks to Chroma and the only place where Chroma's distances
become scores: ``score = 1 - cosine distance`` = cosine similarity, higher is better.

Collections are created in cosine space with **no** Chroma embedding function (imagevec
passes vectors; Chroma never loads or downloads its own model). Each collection's metadata
carries the encoder stamp (see :mod:`imagevec.store.stamp`). Records hold the vector, the image
URI (an absolute path, in Chroma's ``uris`` and in the metadata as ``uri``) and metadata;
never the image itself. The record's *document* is its URI too (:func:`document_text`), so that
stores which read Chroma rows as text documents (LangChain's ``Chroma``, which drops rows
without one; LlamaIndex's ``ChromaVectorStore``) see each image as a Document whose
``page_content`` is the path to load. Collections written before documents were stored are
filled in on the next write (:meth:`Store.fill_documents`).

Example:
    >>> client = connect("imagevec-db")                                # doctest: +SKIP
    >>> store = Store(client, "photos", location="imagevec-db")        # doctest: +SKIP
    >>> store.query(vector, k=5)[0].score                              # doctest: +SKIP
    0.83
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from imagevec.errors import CollectionNotFoundError, ConfigError, NoServerError, StoreDamagedError
from imagevec.store import integrity
from imagevec.store.digest import DIGEST, vector_digest
from imagevec.store.record import PATH_B64, SHA256, URI
from imagevec.store.recovery import PERSIST_EVERY, keep_log
from imagevec.store.stamp import read_stamp
from imagevec.store.uris import uri_from_metadata
from imagevec.types import Hit

DEFAULT_COLLECTION = "images"
#: The store folder name imagevec still finds in the working folder. With no folder given,
#: the store is :func:`imagevec.store.home.default_db` (one per user; ``IMAGEVEC_DB``).
DEFAULT_DB = "imagevec-db"
_PAGE = 1000
# A Chroma server refuses requests of ~100 MB and more ("Payload too large"), well below its
# max batch size for big vectors: a 1664-d vector is ~35 KB of JSON. Writes stay under this.
_PAYLOAD = 48 << 20
#: Collection metadata key set once every record carries its document (not part of the stamp).
DOCUMENTS_KEY = "imagevec-documents"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


def distance_to_score(distance: float, space: str = "cosine") -> float:
    """Convert a Chroma distance to a similarity, higher is better.

    ``cosine`` and ``ip`` distances are ``1 - similarity``; ``l2`` is the squared distance,
    which for unit vectors is ``2 - 2 cos``.
    """
    if space == "l2":
        return 1.0 - float(distance) / 2.0
    return 1.0 - float(distance)


def collection_space(collection: Any) -> str:
    """The distance space (``cosine``, ``l2`` or ``ip``) of a Chroma collection: from its
    configuration (``hnsw`` or ``spann`` index), else the legacy ``hnsw:space`` metadata,
    else Chroma's default ``l2``.

    Example:
        >>> imagevec.collection_space(client.get_collection("images"))  # doctest: +SKIP
        'cosine'
    """
    configuration = getattr(collection, "configuration", None) or {}
    for key in ("hnsw", "spann"):
        section = configuration.get(key) if isinstance(configuration, Mapping) else None
        if isinstance(section, Mapping) and section.get("space"):
            return str(section["space"])
    metadata = getattr(collection, "metadata", None) or {}
    return str(metadata.get("hnsw:space") or "l2")


def connect(path: str | os.PathLike[str] | None = None, *, url: str | None = None) -> Any:
    """A Chroma client: embedded in folder ``path``, or a server at ``url``; telemetry off.

    Raises:
        ConfigError: a malformed URL, or no Chroma server answering there.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is None:
        if path is None:
            raise ConfigError("give a store folder (path) or a Chroma server url")
        return _open_checked(Path(path), settings)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"Chroma url must look like http://host:8000, got {url!r}")
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    try:
        client = chromadb.HttpClient(host=parts.hostname, port=port, ssl=ssl, settings=settings)
        client.heartbeat()
    except Exception as exc:  # connection refused, DNS, TLS, version mismatch...
        raise NoServerError(url, str(exc)) from exc
    return client


def _open_checked(folder: Path, settings: Any) -> Any:
    """A client on an embedded folder. A folder that is not marked clean
    (:mod:`imagevec.store.integrity`) is checked before Chroma reads a byte of it; settling
    it (rebuilding, marking clean) is :func:`imagevec.store.locking.open_store`'s work."""
    import chromadb
    from chromadb.errors import ChromaError

    reason = integrity.sqlite_header_problem(folder / integrity.SQLITE)
    if reason:
        raise StoreDamagedError(str(folder), reason)
    if not integrity.is_clean(folder):
        integrity.verify_files(folder)  # before Chroma reads a byte of them
    try:
        return chromadb.PersistentClient(path=os.fspath(folder), settings=settings)
    except ChromaError as exc:
        raise StoreDamagedError(str(folder), f"Chroma cannot read it ({exc})") from exc


def check_collection_name(name: str) -> str:
    """Return ``name`` if Chroma accepts it as a collection name, else raise ConfigError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"bad collection name {name!r}: use 3-512 characters of letters, digits, '.', '_' "
            "and '-', starting and ending with a letter or digit"
        )
    return name


def collection_names(client: Any) -> list[str]:
    """Names of the client's collections, sorted."""
    return sorted(c.name for c in client.list_collections())


def describe_collections(client: Any, location: str) -> list[dict[str, Any]]:
    """``{name, count, stamp}`` for every collection of the client."""
    stores = [Store(client, name, location=location) for name in collection_names(client)]
    return [{"name": st.name, "count": st.count(), "stamp": st.stamp} for st in stores]


def document_text(meta: Mapping[str, Any]) -> str:
    """The document stored with a record: its printable URI (the metadata ``uri``).

    LangChain's ``Chroma`` returns it as ``page_content`` and LlamaIndex as the node text;
    a path is what a multimodal chain needs to load the image, and it never changes while
    the record lives (the id is derived from it), unlike a description of the metadata.
    """
    return str(meta[URI])


def _hit_uri(uri: str | None, meta: Mapping[str, Any]) -> str:
    """The real path of a hit: exact bytes from ``path_b64`` when the name is not UTF-8."""
    return uri_from_metadata(meta) if PATH_B64 in meta else str(uri or meta.get(URI, ""))


class Store:
    """One collection of a Chroma client: stamp, writes in batches, queries.

    Args:
        client: from :func:`connect`.
        name: the collection name (3-512 characters of ``[a-zA-Z0-9._-]``).
        location: the folder or URL, for messages.
        folder: the embedded folder whose clean mark and log this store keeps
            (:mod:`imagevec.store.integrity`, :mod:`imagevec.store.recovery`).
    """

    def __init__(
        self, client: Any, name: str, *, location: str, folder: Path | None = None
    ) -> None:
        self.client = client
        self.name = name
        self.location = location
        self._collection: Any = None
        self._max_batch = 0
        #: The embedded folder, marked dirty before a write (None: a server, or unmanaged).
        self.folder = folder
        self.dirty = False

    # ------------------------------------------------------------------ collection
    @property
    def collection(self) -> Any:
        """The Chroma collection, or None while it does not exist."""
        if self._collection is None and self.name in collection_names(self.client):
            self._collection = self.client.get_collection(self.name, embedding_function=None)
        return self._collection

    def require(self) -> Any:
        """The collection; :class:`CollectionNotFoundError` naming the ones there are."""
        if self.collection is None:
            raise CollectionNotFoundError(self.name, self.location, collection_names(self.client))
        return self.collection

    @property
    def exists(self) -> bool:
        """Whether the collection exists."""
        return self.collection is not None

    @property
    def stamp(self) -> dict[str, Any] | None:
        """The encoder stamp of the collection (see :func:`read_stamp`)."""
        if not self.exists:
            return None
        try:
            return read_stamp(self.collection.metadata)
        except StoreDamagedError as exc:
            raise StoreDamagedError(self.location, exc.reason, self.name) from None

    @property
    def space(self) -> str:
        """The collection's distance space (``cosine`` for collections imagevec made)."""
        return collection_space(self.collection)

    def create(self, stamp: Mapping[str, Any]) -> None:
        """Create the collection: cosine space, no embedding function, ``stamp`` as metadata."""
        from chromadb.errors import InvalidArgumentError

        self.begin_write()
        hnsw: dict[str, Any] = {"space": "cosine"}
        if self.folder is not None:  # persist after each write: see store/recovery.py
            hnsw.update(sync_threshold=PERSIST_EVERY, batch_size=PERSIST_EVERY)
        try:
            self._collection = self.client.get_or_create_collection(
                self.name,
                configuration={"hnsw": hnsw},
                metadata={**stamp, DOCUMENTS_KEY: 1},
                embedding_function=None,
            )
        except (InvalidArgumentError, ValueError) as exc:
            raise ConfigError(f"cannot create collection {self.name!r}: {exc}") from exc
        if self.folder is not None:
            keep_log(self.folder)

    def begin_write(self) -> None:
        """Before a write to an embedded folder: remove its clean mark (once per session)."""
        if self.folder is not None and not self.dirty:
            integrity.mark_dirty(self.folder)
            self.dirty = True

    def settle(self) -> None:
        """After a write session: mark the embedded folder clean (its files as written)."""
        if self.folder is not None and self.dirty:
            integrity.mark_clean(self.folder)
            self.dirty = False

    def count(self) -> int:
        """Number of records (0 when the collection does not exist)."""
        return self.collection.count() if self.exists else 0

    @property
    def max_batch(self) -> int:
        """The client's largest write batch."""
        if not self._max_batch:
            self._max_batch = int(self.client.get_max_batch_size())
        return self._max_batch

    # ------------------------------------------------------------------ reads
    def get_metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``id -> metadata`` for the ids that exist."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _PAGE):
            got = self.collection.get(ids=list(ids[start : start + _PAGE]), include=["metadatas"])
            out.update(zip(got["ids"], (m or {} for m in got["metadatas"]), strict=True))
        return out

    def get_vectors(self, ids: Sequence[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        """``id -> (stored vector, metadata)`` for the ids that exist (never re-embeds)."""
        out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        if not self.exists:
            return out
        for start in range(0, len(ids), _PAGE):
            got = self.collection.get(
                ids=list(ids[start : start + _PAGE]), include=["metadatas", "embeddings"]
            )
            for id_, meta, vector in zip(
                got["ids"], got["metadatas"], got["embeddings"], strict=True
            ):
                out[id_] = (np.asarray(vector, dtype=np.float32), dict(meta or {}))
        return out

    def find_by_hash(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """``sha256 -> stored vector`` for content already in the collection (any path)."""
        out: dict[str, np.ndarray] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), _PAGE):
            chunk = unique[start : start + _PAGE]
            got = self.collection.get(
                where={SHA256: {"$in": chunk}}, include=["metadatas", "embeddings"]
            )
            for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
                out.setdefault(str(meta[SHA256]), np.asarray(vector, dtype=np.float32))
        return out

    def iter_vectors(
        self, where: dict[str, Any] | None = None, page: int = _PAGE
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        """Every record as pages of ``(ids, vectors (n, dim) float32, metadatas)``."""
        if not self.exists:
            return
        from chromadb.errors import ChromaError

        offset = 0
        while True:
            try:
                got = self.collection.get(
                    where=where,
                    limit=page,
                    offset=offset,
                    include=["metadatas", "embeddings"],
                )
            except (ValueError, ChromaError) as exc:  # a bad where filter
                raise ConfigError(f"cannot read collection {self.name!r}: {exc}") from exc
            ids = list(got["ids"])
            if ids:
                vectors = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(ids), -1)
                yield ids, vectors, [dict(m or {}) for m in got["metadatas"]]
            if len(ids) < page:
                return
            offset += page

    def iter_metadata(self, where: dict[str, Any] | None = None) -> Iterator[tuple[str, dict]]:
        """Every ``(id, metadata)`` of the collection, page by page."""
        if not self.exists:
            return
        from chromadb.errors import ChromaError

        offset = 0
        while True:
            try:
                got = self.collection.get(
                    where=where, limit=_PAGE, offset=offset, include=["metadatas"]
                )
            except (ValueError, ChromaError) as exc:  # a bad where filter
                raise ConfigError(f"cannot read collection {self.name!r}: {exc}") from exc
            yield from zip(got["ids"], (m or {} for m in got["metadatas"]), strict=True)
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    # ------------------------------------------------------------------ writes
    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert or replace records, in batches under the client's maximum batch size and
        under a server's request size limit."""
        self.begin_write()
        dim = vectors.shape[1] if vectors.ndim == 2 else 1
        step = max(1, min(self.max_batch, _PAYLOAD // (dim * 24 + 1024)))
        for start in range(0, len(ids), step):
            stop = start + step
            chunk = np.ascontiguousarray(vectors[start:stop], dtype=np.float32)
            metas = [
                {**m, DIGEST: vector_digest(row)}
                for m, row in zip(metadatas[start:stop], chunk.reshape(len(chunk), -1), strict=True)
            ]
            self.collection.upsert(
                ids=list(ids[start:stop]),
                embeddings=chunk,
                metadatas=metas,
                uris=[str(m[URI]) for m in metas],
                documents=[document_text(m) for m in metas],
            )

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        """Replace the metadata of existing records (vectors untouched), batched."""
        self.begin_write()
        for start in range(0, len(ids), self.max_batch):
            stop = start + self.max_batch
            self.collection.update(
                ids=list(ids[start:stop]), metadatas=[dict(m) for m in metadatas[start:stop]]
            )

    def fill_documents(self) -> int:
        """Give every record without a document its :func:`document_text` (collections
        written before imagevec stored documents); returns how many were filled.

        Runs once per collection: afterwards the collection metadata carries
        :data:`DOCUMENTS_KEY` and this returns at once.
        """
        if not self.exists or (self.collection.metadata or {}).get(DOCUMENTS_KEY):
            return 0
        self.begin_write()
        filled, offset = 0, 0
        while True:
            got = self.collection.get(
                limit=_PAGE, offset=offset, include=["documents", "metadatas", "embeddings"]
            )
            rows = zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
            # Chroma re-embeds a document updated without its vector: pass the stored one.
            todo = [(i, document_text(m), v) for i, d, m, v in rows if not d and m and URI in m]
            for start in range(0, len(todo), self.max_batch):
                part = todo[start : start + self.max_batch]
                self.collection.update(
                    ids=[i for i, _, _ in part],
                    documents=[d for _, d, _ in part],
                    embeddings=np.asarray([v for _, _, v in part], dtype=np.float32),
                )
            filled += len(todo)
            if len(got["ids"]) < _PAGE:
                break
            offset += _PAGE
        metadata = dict(self.collection.metadata or {})
        self.collection.modify(metadata={**metadata, DOCUMENTS_KEY: 1})
        return filled

    def delete(self, ids: Sequence[str]) -> int:
        """Delete records by id; returns how many existed."""
        if not self.exists or not ids:
            return 0
        present = list(self.get_metadata(ids))
        self.begin_write()
        for start in range(0, len(present), self.max_batch):
            self.collection.delete(ids=present[start : start + self.max_batch])
        return len(present)

    # ------------------------------------------------------------------ queries
    def query(
        self, vector: np.ndarray, *, k: int = 10, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """The ``k`` nearest records to ``vector``, best first, as :class:`Hit` objects."""
        if not self.exists or k < 1:
            return []
        from chromadb.errors import ChromaError

        try:
            result = self.collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                where=where or None,
                include=["metadatas", "distances", "uris"],
            )
        except (ValueError, ChromaError) as exc:  # bad where filter, dimension mismatch
            raise ConfigError(f"query on collection {self.name!r} failed: {exc}") from exc
        space = self.space
        metas = result["metadatas"][0] if result.get("metadatas") else []
        uris = result["uris"][0] if result.get("uris") else [None] * len(metas)
        hits = [
            Hit(
                id_,
                _hit_uri(uri, meta or {}),
                distance_to_score(d, space),
                dict(sorted((meta or {}).items())),
            )
            for id_, uri, meta, d in zip(
                result["ids"][0], uris, metas, result["distances"][0], strict=True
            )
        ]
        return sorted(hits, key=lambda hit: -hit.score)
