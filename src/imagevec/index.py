"""``ImageIndex``: an encoder plus a Chroma collection — index photos, search by text or image.

Example:
    >>> import imagevec
    >>> index = imagevec.ImageIndex("imagevec-db", collection="photos", encoder="default")
    >>> report = index.add(["a.jpg", "dir/"], metadatas={"album": "2024"})  # AddReport
    >>> hits = index.search(text="a cat", k=5, where={"album": "2024"})
    >>> hits[0].uri, hits[0].score          # score = cosine similarity, higher is better
    ('/home/me/dir/cat.jpg', 0.41)
    >>> index.close()

Without ``encoder``, an existing collection reuses the encoder that wrote it (its stamp);
another one raises :class:`~imagevec.errors.EncoderMismatchError`. Embedded folders are
locked (:mod:`imagevec.store.locking`): close the index (or use ``with``) to let others write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagevec.errors import ConfigError, ModelLoadError, StoreNotFoundError
from imagevec.store.chroma import (
    DEFAULT_COLLECTION,
    DEFAULT_DB,
    Store,
    check_collection_name,
)
from imagevec.store.ingest import AddReport, add_files, source_paths
from imagevec.store.locking import is_store
from imagevec.store.records import Metadatas, ids_for_paths, ids_of_missing_files
from imagevec.store.stamp import check, check_name, make_stamp
from imagevec.types import (
    AddOptions,
    AllInputsFailedWarning,
    Hit,
    PhotoFilter,
    SearchIndex,
    SearchRequest,
    VectorRecord,
)

if TYPE_CHECKING:
    from imagevec.encoders.embedding import Embedder as Encoder
    from imagevec.search.dupes import DupeGroup
    from imagevec.store.locking import LockHandle

__all__ = [
    "DEFAULT_DB",
    "AddReport",
    "Hit",
    "ImageIndex",
    "list_collections",
    "load_encoder",
]


def expand(path: str | os.PathLike[str]) -> str:
    """A user's path with ``~`` expanded (``"~/Photos"`` -> ``"/home/me/Photos"``)."""
    return os.path.expanduser(os.fspath(path))


class ImageIndex(SearchIndex):
    """A searchable collection of images.

    Args:
        path: the embedded store folder; not with ``url``. Default: ``IMAGEVEC_DB``, else
            ``./imagevec-db`` if it holds a store, else the user's data folder
            (``~/.local/share/imagevec/db`` on Linux; :func:`imagevec.store.home.default_db`).
        url: a Chroma server, e.g. ``http://localhost:8000``.
        collection: the collection name.
        encoder: an :class:`~imagevec.Encoder`, a model name (``"default"``,
            ``"clip-vit-b32"``, ``"hf:<id>"``, a folder), or None: the encoder stamped on the
            collection, else ``"default"``.
        device: for an encoder loaded by name.
        dtype: for an encoder loaded by name.

    Raises:
        EncoderMismatchError: the collection was written by another encoder.
        StoreLockedError: another process is writing this embedded folder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        encoder: Encoder | str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        precision: str = "fp32",
    ) -> None:
        if path is not None and url is not None:
            raise ConfigError("give either a store folder (path) or a server url, not both")
        self.path = None if url else _folder(path)
        self.url = url
        self.location = url or str(self.path)
        self.collection = check_collection_name(collection)
        self._device, self._dtype, self._precision = device, dtype, precision
        self._lock: LockHandle | None = None
        self._store: Store | None = None
        self._encoder: Encoder | None = None
        self._encoder_name: str | None = None
        self._verified = False
        self._guard = threading.RLock()
        if isinstance(encoder, str):
            from imagevec.encoders.registry import resolve

            self._encoder_name = resolve(encoder).model
        elif encoder is not None:
            self._encoder = encoder
        if url is not None or is_store(self.path):
            store = self._open(write=False)
            self._check_name()
            if self._encoder is not None and store.exists:
                self._verify(self._encoder)

    # ------------------------------------------------------------------ opening
    def _open(self, *, write: bool) -> Store:
        with self._guard:  # threads (async adapters) share one client, lock and encoder
            return self._open_unguarded(write=write)

    def _open_unguarded(self, *, write: bool) -> Store:
        if self._store is not None:
            if write and self._lock is not None:
                self._lock.make_exclusive()
            return self._store
        from imagevec.store.locking import open_store

        self._store, self._lock = open_store(
            self.path, url=self.url, collection=self.collection, location=self.location, write=write
        )
        return self._store

    def _check_name(self) -> None:
        if self.stamp is not None and self._encoder_name is not None:
            check_name(self.stamp, self._encoder_name, self.collection, self.location)

    def _verify(self, encoder: Encoder) -> None:
        if self._store is not None and self._store.exists:
            check(self.stamp, encoder, self.collection, self.location)
            self._verified = True

    @property
    def stamp(self) -> dict[str, Any] | None:
        """The collection's encoder stamp, or None if the collection does not exist yet."""
        return self._store.stamp if self._store is not None else None

    @property
    def encoder(self) -> Encoder:
        """The encoder (loaded on first use: from the stamp, the given name, or ``default``)."""
        with self._guard:
            if self._encoder is None:
                stamp = self.stamp
                config = dict(stamp["config"]) if stamp else {"model": self._encoder_name}
                model = config["model"] or "default"
                config.update(
                    model=model, device=self._device, dtype=self._dtype, precision=self._precision
                )
                self._encoder = load_encoder(
                    config,
                    named=stamp is None or bool(self._encoder_name),
                    collection=self.collection,
                    location=self.location,
                )
            if not self._verified:
                self._verify(self._encoder)
            return self._encoder

    def _writable(self) -> Store:
        store = self._open(write=True)
        if not store.exists:
            encoder = self.encoder
            store.create(make_stamp(encoder.identity, encoder.config))
        if self._encoder is not None:
            self._verify(self._encoder)
        return store

    # ------------------------------------------------------------------ writes
    def add(
        self,
        sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        options: AddOptions | None = None,
        *,
        metadatas: Metadatas | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> AddReport:
        """Index image files and folders; unchanged files are skipped, changed ones updated.

        Args:
            sources: files and folders (a single path is fine).
            options: how to walk and index (:class:`~imagevec.types.AddOptions`); its fields
                may also be given as keywords (``recursive``, ``prune``, ``retry_failed``,
                ``include_hidden``, ``exclude``, ``max_megapixels``, ``exif_gps``,
                ``on_error``, ``batch_size``...), which replace those of ``options``.
            metadatas: your fields (scalars): one dict for all files, one dict per source, or
                a function ``path -> dict``. Reserved: the keys of
                :mod:`imagevec.store.record` (uri, sha256, width, taken, camera...).
            progress: show a progress bar.
            **kwargs: :class:`~imagevec.types.AddOptions` fields, and options for the loader
                (``policy``, ``num_workers``).

        EXIF date taken, camera, lens, orientation and ``has_gps`` are always stored; GPS
        coordinates only with ``exif_gps`` (privacy). Paths may start with ``~``. When not
        one input could be indexed (``report.all_failed``), a
        :class:`~imagevec.AllInputsFailedWarning` is issued; a new store folder that would
        stay empty is not left behind.

        Example:
            >>> index.add("~/Photos", exclude=["*.png"], prune=True)       # doctest: +SKIP
            >>> index.add("~/Photos", AddOptions(include_hidden=True))     # doctest: +SKIP
        """
        options, load_options = AddOptions.build(options, **kwargs)
        paths = source_paths(sources)
        new_folder = self.path is not None and not self.path.exists()
        store = self._open(write=True)
        try:
            report = add_files(
                store,
                lambda: self.encoder,  # loaded only if something needs embedding
                paths,
                options,
                metadatas=metadatas,
                progress=progress,
                prepare=self._writable,  # the collection is created at the first write
                **load_options,
            )
        except BaseException:
            self._drop_if_empty(new_folder)
            raise
        if options.prune:
            report.pruned = self.prune(paths)
        elif store.exists:  # name them; pruning stays a choice (see the add docstring)
            from imagevec.store.records import missing_files

            report.missing = sorted(missing_files(store, [expand(p) for p in paths]).values())
        if report.all_failed:
            warnings.warn(
                f"nothing indexed: all {report.total} inputs failed "
                f"(first: {(report.failed or report.failed_earlier)[0].source})",
                AllInputsFailedWarning,
                stacklevel=2,
            )
        self._drop_if_empty(new_folder)
        return report

    def upsert_vectors(
        self, records: Iterable[VectorRecord], *, stamp: Mapping[str, Any] | None = None
    ) -> int:
        """Write vectors computed elsewhere (Ray, Spark, a notebook) as imagevec records.

        Build each record with :func:`imagevec.file_record` (the metadata ``add`` writes),
        so that the collection is searched and re-indexed like one filled by ``add``.

        Args:
            records: :class:`~imagevec.VectorRecord` objects; vectors are L2-normalised.
            stamp: the encoder's stamp (:func:`imagevec.encoder_stamp`): creates the
                collection if needed, else is checked against it. Without it the index's
                encoder stamps a new collection (it is loaded for that).

        Returns:
            The number of records written.

        Raises:
            EncoderMismatchError: the collection was written by another encoder.
            ConfigError: a vector of the wrong size, or metadata that disagrees with its URI.

        Example:
            >>> from imagevec import file_record
            >>> index.upsert_vectors([file_record("a.jpg", vec)])  # doctest: +SKIP
            1
        """
        from imagevec.store.vectors import ensure_stamped, write_vectors

        if stamp is None:
            store = self._writable()
        else:
            store = self._open(write=True)
            ensure_stamped(store, stamp)
        return write_vectors(store, records)

    def _drop_if_empty(self, new_folder: bool) -> None:
        """Remove the store folder this call created if nothing was written into it."""
        if not new_folder or self.path is None or (self._store and self._store.exists):
            return
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def delete(
        self,
        paths: Iterable[str | os.PathLike[str]] = (),
        *,
        ids: Iterable[str] = (),
        where: dict[str, Any] | None = None,
    ) -> int:
        """Delete records by file path (a folder deletes everything under it), id or filter.

        Returns:
            The number of records deleted.
        """
        store = self._open(write=True)
        doomed = set(ids) | ids_for_paths(store, [expand(path) for path in paths])
        if where:
            doomed.update(id_ for id_, _ in store.iter_metadata(where))
        return store.delete(sorted(doomed))

    def prune(self, paths: Iterable[str | os.PathLike[str]] | None = None) -> int:
        """Delete records whose file no longer exists (under ``paths`` only, if given)."""
        store = self._open(write=True)
        roots = None if paths is None else [expand(path) for path in paths]
        return store.delete(sorted(ids_of_missing_files(store, roots)))

    # ------------------------------------------------------------------ reads
    def search(self, text: str | SearchRequest | None = None, **kwargs: Any) -> list[Hit]:
        """The ``k`` best matches for a text, an image, a vector, an indexed item or a
        combined query: a :class:`~imagevec.types.SearchRequest`, or its fields as keywords.

        Args:
            text: a text query, or a whole :class:`~imagevec.types.SearchRequest`.
            **kwargs: the request's fields -- ``image`` (an example picture), ``vector``,
                ``like`` (the id or path of an indexed item: its stored vector is the query),
                ``query`` (a :class:`~imagevec.search.Query` or its string syntax,
                ``"2:golden retriever + ./pool.jpg - night"``), ``k``, ``include_self`` --,
                its filters (the :class:`~imagevec.types.PhotoFilter` fields: ``where``, a
                Chroma metadata filter; ``folder``; ``since`` / ``until``, EXIF date taken;
                ``camera``...), and options for loading image parts (``policy``...).

        Returns:
            :class:`Hit` objects, best first; ``score`` is the cosine similarity to the
            (combined, normalised) query vector.

        Raises:
            NotIndexedError: ``like`` names no indexed item.

        Example:
            >>> index.search("a cat", k=5, since="2024-06-01")            # doctest: +SKIP
            >>> index.search(like="photos/cat.jpg", k=5)                  # doctest: +SKIP
            >>> index.search(SearchRequest(query="2:beach - night", k=3))  # doctest: +SKIP
        """
        from imagevec.search.filters import photo_filter
        from imagevec.search.run import as_query, run_query

        request, load_options = SearchRequest.build(text, **kwargs)
        asked = as_query(
            text=request.text,
            image=request.image,
            vector=request.vector,
            like=request.like,
            query=request.query,
        )
        store = self._open(write=False)
        store.require()
        return run_query(
            store,
            asked,
            encoder=lambda: self.encoder,
            k=request.k,
            where=photo_filter(store, request.filter),
            include_self=request.include_self,
            **load_options,
        )

    def duplicates(self, *, threshold: float | None = None, **filters: Any) -> list[DupeGroup]:
        """Groups of near-identical photos (re-saves, resizes, crops, bursts) from the stored
        vectors, largest first; ``members[0]`` of each is the suggested keeper.

        Args:
            threshold: cosine similarity that makes two photos duplicates (default
                :data:`imagevec.search.dupes.DEFAULT_THRESHOLD`, chosen for the default
                encoder).
            **filters: :class:`~imagevec.types.PhotoFilter` fields (``where``, ``folder``,
                ``since``, ``until``, ``camera``...), or ``filter=`` a PhotoFilter.

        Example:
            >>> for group in index.duplicates(threshold=0.92):          # doctest: +SKIP
            ...     print([hit.uri for hit in group.members])
        """
        from imagevec.search.dupes import DEFAULT_THRESHOLD, find_duplicates
        from imagevec.search.filters import photo_filter

        store = self._open(write=False)
        store.require()
        given = filters.pop("filter", None) or PhotoFilter()
        where = photo_filter(store, dataclasses.replace(given, **filters))
        chosen = DEFAULT_THRESHOLD if threshold is None else threshold
        return find_duplicates(store, threshold=chosen, where=where)

    def metadata(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``id -> stored metadata`` (``uri``, ``sha256``, ``width``...) for the ids indexed."""
        store = self._open(write=False)
        return store.get_metadata(list(ids)) if store.exists else {}

    def iter_metadata(
        self, where: dict[str, Any] | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(id, metadata)`` of the collection (matching ``where``), page by page."""
        return self._open(write=False).iter_metadata(where)

    def count(self) -> int:
        """Number of images in the collection."""
        if self._store is None and self.path is not None and not is_store(self.path):
            return 0
        return self._open(write=False).count()

    def __len__(self) -> int:
        return self.count()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the Chroma client and the folder lock (idempotent)."""
        store, self._store = self._store, None
        if store is not None and hasattr(store.client, "close"):
            store.client.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def __enter__(self) -> ImageIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    def __repr__(self) -> str:
        return f"ImageIndex({self.location!r}, collection={self.collection!r})"


def list_collections(
    path: str | os.PathLike[str] | None = None, *, url: str | None = None
) -> list[dict[str, Any]]:
    """Every collection of a store: ``{name, count, stamp}`` (stamp None if not imagevec's)."""
    if url is None and not is_store(_folder(path)):
        raise StoreNotFoundError(_folder(path))
    from imagevec.store.chroma import describe_collections

    with ImageIndex(path, url=url) as index:
        return describe_collections(index._open(write=False).client, index.location)


def _folder(path: str | os.PathLike[str] | None) -> Path:
    """The embedded store folder for ``path`` (the per-user default when None)."""
    if path is None:
        from imagevec.store.home import default_db

        return default_db()
    return Path(path).expanduser()


def load_encoder(
    config: Mapping[str, Any], *, named: bool, collection: str, location: str
) -> Encoder:
    """The encoder of ``config`` (a stamp's config, or the model the user named).

    Args:
        named: the user named the model (it may be downloaded); otherwise only the stored
            stamp names it and it loads from folders and the local cache only.

    Raises:
        ModelLoadError: it cannot load; for a model only the stamp names, the message says
            how to allow the download.
    """
    from imagevec.encoders.factory import create_encoder
    from imagevec.encoders.hub import local_only

    if named:
        return create_encoder(**config)
    try:
        with local_only():
            return create_encoder(**config)
    except ModelLoadError as exc:
        raise ModelLoadError(
            f"collection {collection!r} in {location} was written by model "
            f"{config['model']!r}, which is not on this machine. It is not downloaded "
            f"because only the stored stamp names it: open the index with "
            f"encoder={config['model']!r} to allow the download ({exc})"
        ) from exc
