"""Read a folder of photos into LlamaIndex ``ImageDocument``s that are safe to index.

Two traps this avoids:

* ``SimpleDirectoryReader`` returns images as ``ImageDocument`` only when
  ``llama-index-readers-file`` is installed; without it every photo comes back as a plain
  text ``Document`` of garbage and the image store stays empty, silently.
  :func:`check_image_documents` turns that into a clear error.
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

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core import SimpleDirectoryReader
from llama_index.core.schema import Document, ImageDocument

import imagevec

if TYPE_CHECKING:
    from llama_index.embeddings.imagevec.base import ImagevecEmbedding

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


def _image_reader_extractors() -> dict[str, Any]:
    try:
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
        ``embed_model`` is given).

    Raises:
        imagevec.ConfigError: the folder has images but no ``ImageDocument`` came back.
    """
    if on_error not in ("warn", "skip", "raise"):
        raise imagevec.ConfigError(f"on_error must be 'warn', 'skip' or 'raise', got {on_error!r}")
    extractors = {**_image_reader_extractors(), **reader_kwargs.pop("file_extractor", {})}
    reader = SimpleDirectoryReader(
        input_dir=str(folder), recursive=recursive, file_extractor=extractors, **reader_kwargs
    )
    documents = reader.load_data()
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
