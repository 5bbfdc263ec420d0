"""``ImagevecRetriever``: one LangChain retriever that searches an image index by text or image.

``invoke("a red car")`` searches by text; ``invoke("photos/car.jpg")``, a ``data:image/...``
URI, bytes or a PIL image searches by image. ``mode="text"`` / ``"image"`` overrides the guess
(per retriever or per call). Documents carry the image URI and the cosine score in their
metadata; ``page_content`` is a short description, never base64.

How ``mode="auto"`` decides (a string is text unless it clearly names an image):

* not a string (PIL image, numpy array, bytes, ``pathlib.Path``) -> image;
* ``data:image/...`` or ``file://...`` -> image;
* a string that *is* an http(s) URL -> image only when the retriever has ``allow_urls=True``
  and the URL path ends in an image extension; otherwise text (never fetched). A text that
  merely *contains* a URL is text;
* one token (no spaces) ending in an image extension (``photos/car.jpg``), or an existing
  image file (spaces allowed) -> image; a missing file then fails loudly;
* a long run of base64 characters (raw base64 image data) -> image;
* anything else -> text.

Example:
    >>> import imagevec
    >>> from langchain_imagevec import ImagevecRetriever
    >>> index = imagevec.ImageIndex("imagevec-db", collection="photos")  # doctest: +SKIP
    >>> retriever = ImagevecRetriever(index=index, k=4)                    # doctest: +SKIP
    >>> retriever.invoke("a cat on a sofa")[0].metadata["uri"]             # doctest: +SKIP
    '/home/me/photos/chelsea.jpg'
    >>> retriever.invoke("photos/chelsea_crop.jpg", k=2, where={"album": "2024"})  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from langchain_core.tools import ToolException
from pydantic import ConfigDict, Field, field_validator

import imagevec

__all__ = ["ImagevecRetriever", "describe_image_record", "guess_query_mode"]

Mode = Literal["auto", "text", "image", "like", "query"]
_MODES = ("auto", "text", "image", "like", "query")

#: Metadata the index records about the file itself; left out of ``page_content``.
FILE_FIELDS = frozenset(
    {"uri", "filename", "sha256", "bytes", "mtime_ns", "width", "height", "format"}
    | {"path_b64", "taken_ts", "orientation", "camera_make", "camera_model", "vector_digest"}
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{64,}={0,2}")
_MAX_DESCRIPTION = 300


def _has_image_ext(path: str) -> bool:
    return imagevec.is_image_file(path)


def guess_query_mode(query: Any, *, allow_urls: bool = False) -> Literal["text", "image"]:
    """Decide whether a retriever query is a text or an image (see the module docstring).

    Example:
        >>> guess_query_mode("a red car"), guess_query_mode("photos/car.jpg")
        ('text', 'image')
        >>> guess_query_mode("https://x.org/cat.jpg"), guess_query_mode("see https://x.org")
        ('text', 'text')
        >>> guess_query_mode("https://x.org/cat.jpg", allow_urls=True)
        'image'
    """
    if not isinstance(query, str):
        return "image"
    text = query.strip()
    lowered = text[:16].lower()
    if lowered.startswith(("data:image/", "file://")):
        return "image"
    one_token = bool(text) and not any(ch.isspace() for ch in text)
    if lowered.startswith(("http://", "https://")) and one_token:
        return "image" if allow_urls and _has_image_ext(urlsplit(text).path) else "text"
    if one_token and "://" not in text and _has_image_ext(text):
        return "image"
    if len(text) < 4096 and _has_image_ext(text) and os.path.isfile(text):
        return "image"
    if one_token and _BASE64_RUN.fullmatch(text):
        return "image"
    return "text"


class ImageQueryError(imagevec.ImageLoadError, ToolException):
    """An image query that cannot be read: an :class:`imagevec.ImageLoadError` that is also a
    LangChain ``ToolException``, so under the stock ``create_retriever_tool`` (with
    ``handle_tool_error=True``, or an agent that handles tool errors) the model gets the
    message and can correct itself instead of the run ending. imagevec's own tools
    (:func:`create_image_search_tool`...) report every error as a tool message by default.
    """


class UnsafeImageQueryError(imagevec.UnsafeSourceError, ImageQueryError):
    """An image query the source policy refuses (a URL, a path outside the roots)."""


class TooLargeImageQueryError(imagevec.ImageTooLargeError, ImageQueryError):
    """An image query over the size or pixel limits."""


_TOOL_ERRORS: dict[type, type[ImageQueryError]] = {
    imagevec.UnsafeSourceError: UnsafeImageQueryError,
    imagevec.ImageTooLargeError: TooLargeImageQueryError,
}


def describe_image_record(uri: str, metadata: dict[str, Any]) -> str:
    """A short text for ``page_content``: file name, format and size, then your fields.

    Example:
        >>> describe_image_record("/p/cat.jpg", {"width": 640, "height": 480, "format": "JPEG",
        ...                                      "caption": "a tabby cat"})
        'cat.jpg (JPEG 640x480) | caption: a tabby cat'
    """
    name = metadata.get("filename") or os.path.basename(uri.rstrip("/")) or uri
    details = " ".join(str(metadata[k]) for k in ("format",) if metadata.get(k))
    if metadata.get("width") and metadata.get("height"):
        details = f"{details} {metadata['width']}x{metadata['height']}".strip()
    head = f"{name} ({details})" if details else str(name)
    fields = [f"{k}: {v}" for k, v in metadata.items() if k not in FILE_FIELDS and v != ""]
    text = " | ".join([head, *fields])
    return text if len(text) <= _MAX_DESCRIPTION else text[: _MAX_DESCRIPTION - 3] + "..."


class ImagevecRetriever(BaseRetriever):
    """Retrieve images from an :class:`imagevec.ImageIndex` by text or by image.

    Each Document has ``id`` = the record id, ``page_content`` = a short description
    (:func:`describe_image_record`) and ``metadata`` = the stored fields plus ``uri``,
    ``score`` (cosine similarity, higher is better) and ``id``.

    Per-call keyword arguments override the fields: ``k``, ``where``, ``mode``,
    ``score_threshold``. ``mode="like"`` takes an indexed id or path ("more like this", the
    item itself left out); ``mode="query"`` takes a combined :class:`imagevec.Query` or a
    string in its syntax (``"2:golden retriever + ./pool.jpg - night"``); a ``Query`` object
    is recognised in ``auto`` mode.

    Example:
        >>> retriever = ImagevecRetriever(index=index, k=3, score_threshold=0.2)  # doctest: +SKIP
        >>> retriever.invoke(PIL.Image.open("query.jpg"))                          # doctest: +SKIP
        >>> await retriever.ainvoke("a dog on the beach", where={"album": "2024"})  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    index: Any = Field(
        description="The imagevec.ImageIndex, or a served index from imagevec.connect(url)."
    )
    k: int = Field(default=4, ge=1, description="Number of images to return.")
    mode: Mode = Field(
        default="auto",
        description="'auto' (guess), 'text', 'image', 'like' (an indexed id or path) or "
        "'query' (a combined imagevec.Query or its string syntax).",
    )
    where: dict[str, Any] | None = Field(default=None, description="Chroma metadata filter.")
    score_threshold: float | None = Field(
        default=None, description="Drop hits whose cosine similarity is below this."
    )
    allow_urls: bool = Field(
        default=False, description="Treat image URLs as image queries and fetch them."
    )

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: Any) -> Any:
        if not isinstance(value, imagevec.SearchIndex):
            raise ValueError(
                "index must be an imagevec.ImageIndex or imagevec.connect(url), got "
                f"{type(value).__name__}; for a LangChain vector store use store.as_retriever()"
            )
        return value

    def search(
        self,
        query: Any,
        *,
        k: int | None = None,
        where: dict[str, Any] | None = None,
        mode: Mode | None = None,
        score_threshold: float | None = None,
    ) -> list[Document]:
        """Run one search; the keyword arguments override the retriever's fields."""
        mode = mode or self.mode
        if mode not in _MODES:
            raise imagevec.ConfigError(f"mode must be one of {_MODES}, got {mode!r}")
        if mode == "auto":
            is_combined = isinstance(query, imagevec.Query)
            mode = "query" if is_combined else guess_query_mode(query, allow_urls=self.allow_urls)
        options: dict[str, Any] = {"k": k or self.k, "where": where or self.where}
        if mode == "like":
            hits = self.index.search(like=query, **options)
        elif mode == "query":
            policy = imagevec.SourcePolicy(allow_urls=self.allow_urls)
            hits = self.index.search(query=query, policy=policy, **options)
        elif mode == "text":
            if not isinstance(query, str):
                raise imagevec.ConfigError("mode='text' needs a string query")
            hits = self.index.search(text=query, **options)
        else:
            policy = imagevec.SourcePolicy(allow_urls=self.allow_urls)
            hits = self.index.search(image=query, policy=policy, **options)
        threshold = self.score_threshold if score_threshold is None else score_threshold
        return [
            Document(
                id=hit.id,
                page_content=(
                    f"{describe_image_record(hit.uri, hit.metadata)} | uri: {hit.uri} "
                    f"| score: {hit.score:.3f}"
                ),  # what a model reads: enough to refer back to the photo
                metadata={**hit.metadata, "uri": hit.uri, "score": hit.score, "id": hit.id},
            )
            for hit in hits
            if threshold is None or hit.score >= threshold
        ]

    def _get_relevant_documents(
        self, query: Any, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        try:
            return self.search(query, **kwargs)
        except imagevec.ImageLoadError as exc:
            kind = _TOOL_ERRORS.get(type(exc), ImageQueryError)
            raise kind(exc.source, exc.reason) from exc

    async def _aget_relevant_documents(
        self, query: Any, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await run_in_executor(None, lambda: self.search(query, **kwargs))
