"""Read a folder of photos into LlamaIndex ``ImageDocument``s that are safe to index.

Two traps this avoids:

* ``SimpleDirectoryReader`` returns images as ``ImageDocument`` only when
  ``llama-index-readers-file`` is installed; without it every photo comes back as a plain
  text ``Document`` of garbage and the image store stays empty, silently.
  :func:`check_image_documents` turns that into a clear error.
* Reruns duplicated every image: documents got random ids. Here each document's id is
  derived from its file path and content hash, so loading the same folder again gives the
  same ids (:func:`stable_document_ids`) and the index replaces rather than appends.
* Importing ``llama_index.readers.file`` turns on INFO logging for the whole process (one of
  its modules calls ``logging.basicConfig``); it is imported here with the root logger's
  level and handlers put back as they were.
* The reader keeps a truncated JPEG (its header opens fine) and LlamaIndex needs one vector
  per node, so one bad file would stop the whole index build. :func:`load_image_documents`
  embeds the images up front in one call to imagevec's loop, keeps the vectors on the
  documents (LlamaIndex does not embed them again) and leaves unreadable images out.

Example:
    >>> from llama_index.readers.imagevec import load_image_documents
    >>> emb = ImagevecEmbedding()                                              # doctest: +SKIP
    >>> docs = load_image_documents("photos/", embed_model=emb)               # doctest: +SKIP
    >>> index = MultiModalVectorStoreIndex.from_documents(
    ...     docs, embed_model=emb, image_embed_model=emb)                      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core import SimpleDirectoryReader
from llama_index.core.schema import Document, ImageDocument

import imagevec

if TYPE_CHECKING:
    from llama_index.embeddings.imagevec.base import ImagevecEmbedding


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """Put the root logger's level and handlers back as they were (imports that call
    ``logging.basicConfig`` must not change the user's logging)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


# SimpleDirectoryReader imports it for images: import it quietly once (without the extra it
# is missing, and check_image_documents says so).
with logging_kept(), contextlib.suppress(ImportError):
    import llama_index.readers.file  # noqa: F401

_EXTRA_SUFFIXES = (".bmp", ".tif", ".tiff")
_INSTALL_HINT = 'pip install "imagevec[llamaindex]" (it brings llama-index-readers-file)'


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return [
        p
        for p in folder.glob(pattern)
        if p.is_file() and imagevec.is_image_file(p) and not p.name.startswith(".")
    ]


def check_image_documents(
    documents: Sequence[Document], folder: str | Path | None = None, *, recursive: bool = True
) -> list[ImageDocument]:
    """Return the ``ImageDocument``s; raise if a folder of images produced none.

    Args:
        documents: what a reader returned.
        folder: the folder they were read from; when it holds image files and no
            ``ImageDocument`` came back, the file readers are missing.
        recursive: look for image files in sub-folders too.

    Raises:
        imagevec.ConfigError: images on disk but zero ``ImageDocument``s.

    Example:
        >>> docs = SimpleDirectoryReader("photos/").load_data()                    # doctest: +SKIP
        >>> images = check_image_documents(docs, "photos/")                        # doctest: +SKIP
    """
    images = [d for d in documents if isinstance(d, ImageDocument)]
    if not images and folder is not None:
        files = _image_files(Path(folder), recursive)
        if files:
            raise imagevec.ConfigError(
                f"{folder} holds {len(files)} image files (e.g. {files[0].name}) but the "
                f"reader returned no ImageDocument, so nothing would reach the image store. "
                f"SimpleDirectoryReader reads images only with llama-index-readers-file "
                f"installed: {_INSTALL_HINT}"
            )
    return images


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def stable_document_ids(documents: Sequence[Document]) -> None:
    """Give each document an id from its file path and content hash (in place).

    The same file with the same bytes always gets the same id, so building an index from
    the same folder twice replaces its entries instead of adding copies; a changed file
    gets a new id. Several documents from one file (pages) are numbered.
    """
    seen: dict[str, int] = {}
    for document in documents:
        path = document.metadata.get("file_path") or getattr(document, "image_path", None)
        if not path:
            continue
        key = f"{path}\0{_file_digest(str(path))}"
        part = seen.get(key, 0)
        seen[key] = part + 1
        stem = hashlib.sha256(f"{key}\0{part}".encode("utf-8", "surrogateescape")).hexdigest()
        document.id_ = f"imagevec-{stem[:32]}"


def _image_reader_extractors() -> dict[str, Any]:
    try:
        with logging_kept():
            from llama_index.readers.file import ImageReader
    except ImportError:
        return {}
    reader = ImageReader()
    return {suffix: reader for suffix in _EXTRA_SUFFIXES}


def _image_source(document: ImageDocument) -> Any:
    if document.image_path:
        return document.image_path
    if document.image_url:
        return document.image_url  # fetched by imagevec under the embedding's URL policy
    return document.resolve_image()


def load_image_documents(
    folder: str | Path,
    *,
    embed_model: ImagevecEmbedding | None = None,
    on_error: Literal["warn", "skip", "raise"] = "warn",
    images_only: bool = False,
    recursive: bool = True,
    **reader_kwargs: Any,
) -> list[Document]:
    """Read a folder with ``SimpleDirectoryReader``, checked, with unreadable images left out.

    Args:
        folder: the folder of photos.
        embed_model: when given, the images are embedded now (one call into imagevec's
            loop), the vectors stay on the documents, and images that cannot be read are
            left out. Pass the same object as the index's ``image_embed_model``.
        on_error: for unreadable images: ``warn`` (an :class:`imagevec.SkippedImageWarning`
            listing them) and leave out, ``skip`` silently, or ``raise``
            :class:`imagevec.ImageLoadError`.
        images_only: drop the other files the reader returns as text ``Document``s.
        recursive: read sub-folders.
        **reader_kwargs: passed to ``SimpleDirectoryReader`` (``exclude``, ``file_metadata``...).

    Returns:
        The documents, images as ``ImageDocument`` (with ``embedding`` set when
        ``embed_model`` is given), each with an id from its path and content hash.

    Raises:
        imagevec.ConfigError: the folder has images but no ``ImageDocument`` came back.
    """
    if on_error not in ("warn", "skip", "raise"):
        raise imagevec.ConfigError(f"on_error must be 'warn', 'skip' or 'raise', got {on_error!r}")
    extractors = {**_image_reader_extractors(), **reader_kwargs.pop("file_extractor", {})}
    folder = Path(folder).expanduser()
    reader = SimpleDirectoryReader(
        input_dir=str(folder), recursive=recursive, file_extractor=extractors, **reader_kwargs
    )
    with logging_kept():
        documents = reader.load_data()
    stable_document_ids(documents)
    images = check_image_documents(documents, folder, recursive=recursive)
    if images_only:
        documents = list(images)
    if embed_model is None or not images:
        return documents
    report = embed_model.encode_images([_image_source(d) for d in images])
    for row, position in enumerate(report.indices):
        images[position].embedding = report.vectors[row].tolist()
    if report.failures:
        listed = "; ".join(f"{f.source}: {f.reason}" for f in report.failures)
        if on_error == "raise":
            first = report.failures[0]
            raise imagevec.ImageLoadError(first.source, f"{first.reason} (all: {listed})")
        if on_error == "warn":
            warnings.warn(
                f"left out {len(report.failures)} unreadable images: {listed}",
                imagevec.SkippedImageWarning,
                stacklevel=2,
            )
        bad = {id(images[f.index]) for f in report.failures}
        documents = [d for d in documents if id(d) not in bad]
    return documents
