"""Multimodal RAG: retrieved image Documents -> the messages a multimodal chat model takes.

Images are read from each Document's ``uri`` *at that moment* with ``imagevec.load_image``
(EXIF orientation applied, any format, any mode), shrunk so the long side is at most
``max_size`` pixels and JPEG-encoded into a ``data:`` URI -- the OpenAI-style
``{"type": "image_url", ...}`` block that ChatOpenAI, ChatAnthropic, ChatOllama, ChatGoogleGenAI
and most other LangChain chat models accept. Nothing is stored as base64.

Example:
    >>> from langchain_imagevec import ImagevecRetriever, create_multimodal_rag_chain
    >>> retriever = ImagevecRetriever(index=index, k=3)               # doctest: +SKIP
    >>> model = ChatOpenAI(model="gpt-4o-mini")                       # doctest: +SKIP
    >>> chain = create_multimodal_rag_chain(retriever, model)         # doctest: +SKIP
    >>> chain.invoke("What colour is the cat?")                       # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from PIL import Image

import imagevec

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "build_multimodal_messages",
    "create_multimodal_rag_chain",
    "describe_documents",
    "image_to_data_uri",
    "images_to_content_blocks",
]

_log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You answer questions about the user's photos. Use only the images provided, refer to "
    "them by number, and say so when they do not show the answer."
)


def image_to_data_uri(
    source: Any,
    *,
    max_size: int = 512,
    quality: int = 85,
    policy: imagevec.SourcePolicy | None = None,
) -> str:
    """Load an image, shrink its long side to ``max_size`` and return a JPEG ``data:`` URI.

    Args:
        source: anything ``imagevec.load_image`` accepts (path, URI, bytes, PIL image, ...).
        max_size: the longest side in pixels after resizing (never enlarged).
        quality: JPEG quality, 1-95.
        policy: source policy (URLs are off unless it allows them).

    Raises:
        imagevec.ImageLoadError: the image is missing, corrupt or refused by ``policy``.

    Example:
        >>> image_to_data_uri("photos/cat.jpg", max_size=256)[:23]   # doctest: +SKIP
        'data:image/jpeg;base64,'
    """
    if max_size < 1:
        raise imagevec.ConfigError(f"max_size must be >= 1, got {max_size}")
    image = imagevec.load_image(source, policy=policy, draft_size=max_size)
    if max(image.size) > max_size:
        image = image.copy()
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _source(doc: Document) -> Any:
    # Our Documents carry the image's URI; upstream Chroma's add_images puts base64 in
    # page_content (no URI), which load_image decodes as well.
    return doc.metadata.get("uri") or doc.page_content


def _load_blocks(
    docs: Sequence[Document],
    max_size: int,
    quality: int,
    policy: imagevec.SourcePolicy | None,
    on_error: Literal["skip", "raise"],
    detail: str | None,
) -> list[tuple[Document, dict[str, Any]]]:
    pairs = []
    for doc in docs:
        try:
            url = image_to_data_uri(_source(doc), max_size=max_size, quality=quality, policy=policy)
        except imagevec.ImageLoadError as exc:
            if on_error == "raise":
                raise
            _log.warning("leaving out an image the model cannot be shown: %s", exc)
            continue
        image_url: dict[str, Any] = {"url": url}
        if detail is not None:
            image_url["detail"] = detail
        pairs.append((doc, {"type": "image_url", "image_url": image_url}))
    return pairs


def images_to_content_blocks(
    docs: Sequence[Document],
    *,
    max_size: int = 512,
    quality: int = 85,
    policy: imagevec.SourcePolicy | None = None,
    on_error: Literal["skip", "raise"] = "skip",
    detail: str | None = None,
) -> list[dict[str, Any]]:
    """Turn image Documents into ``image_url`` content blocks with JPEG data URIs.

    Args:
        docs: Documents with an image ``uri`` in their metadata (from :class:`ImagevecRetriever`
            or the tools), or with base64 image data as ``page_content`` (upstream Chroma).
        max_size: the longest side of each image sent to the model, in pixels.
        quality: JPEG quality.
        policy: source policy for reading the URIs.
        on_error: ``skip`` images that can no longer be read (logged), or ``raise``.
        detail: OpenAI's optional ``detail`` hint (``"low"``, ``"high"``, ``"auto"``).

    Returns:
        ``[{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,..."}}, ...]``

    Example:
        >>> docs = retriever.invoke("a cat")                             # doctest: +SKIP
        >>> blocks = images_to_content_blocks(docs, max_size=512)       # doctest: +SKIP
    """
    return [block for _, block in _load_blocks(docs, max_size, quality, policy, on_error, detail)]


def describe_documents(docs: Sequence[Document]) -> str:
    """A numbered list of the images for the model's text part, best match first.

    Example:
        >>> doc = Document("chelsea.jpg", metadata={"uri": "/p/chelsea.jpg", "score": 0.312})
        >>> describe_documents([doc])
        'Image 1: chelsea.jpg (score 0.31)'
    """
    lines = []
    for number, doc in enumerate(docs, start=1):
        score = doc.metadata.get("score")
        if "uri" in doc.metadata:  # ours: a short description, never base64
            label = doc.page_content.split(" | uri: ")[0]  # the image itself is attached
        else:  # upstream Chroma: page_content is base64, describe by metadata instead
            label = ", ".join(f"{k}: {v}" for k, v in doc.metadata.items() if k != "score")
        suffix = f" (score {score:.2f})" if isinstance(score, (int, float)) else ""
        lines.append(f"Image {number}: {label or 'image'}{suffix}")
    return "\n".join(lines)


def build_multimodal_messages(
    question: str,
    docs: Sequence[Document],
    *,
    max_size: int = 512,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    quality: int = 85,
    policy: imagevec.SourcePolicy | None = None,
    on_error: Literal["skip", "raise"] = "skip",
    detail: str | None = None,
) -> list[BaseMessage]:
    """Build ``[SystemMessage, HumanMessage]`` with the question, a legend and the images.

    The human message holds one text part (the question, then "Image 1: ..." lines for the
    images that could be loaded) followed by one ``image_url`` block per image, in order.

    Args:
        question: the user's question.
        docs: the retrieved image Documents, best first.
        max_size: the longest side of each image, in pixels.
        system_prompt: the system message, or None for none.
        quality, policy, on_error, detail: see :func:`images_to_content_blocks`.

    Example:
        >>> docs = retriever.invoke("a cat")                             # doctest: +SKIP
        >>> messages = build_multimodal_messages("What colour is it?", docs)  # doctest: +SKIP
        >>> answer = chat_model.invoke(messages)                            # doctest: +SKIP
    """
    pairs = _load_blocks(docs, max_size, quality, policy, on_error, detail)
    text = question
    if pairs:
        text += "\n\n" + describe_documents([doc for doc, _ in pairs])
    else:
        text += "\n\n(No matching images were found.)"
    content: list[str | dict[str, Any]] = [{"type": "text", "text": text}]
    content.extend(block for _, block in pairs)
    messages: list[BaseMessage] = [SystemMessage(system_prompt)] if system_prompt else []
    messages.append(HumanMessage(content=content))
    return messages


def create_multimodal_rag_chain(
    retriever: BaseRetriever,
    chat_model: BaseChatModel | Runnable[Any, Any],
    *,
    return_sources: bool = False,
    **message_options: Any,
) -> Runnable[str, Any]:
    """A chain ``question -> retrieve images -> multimodal chat model -> answer``.

    Args:
        retriever: finds the images for the question (e.g. :class:`ImagevecRetriever`).
        chat_model: any LangChain chat model that reads images.
        return_sources: return ``{"question", "docs", "answer"}`` instead of the answer text.
        **message_options: passed to :func:`build_multimodal_messages` (``max_size``,
            ``system_prompt``, ``quality``, ``policy``, ``on_error``, ``detail``).

    Example:
        >>> model = ChatOllama(model="llava")                             # doctest: +SKIP
        >>> chain = create_multimodal_rag_chain(retriever, model)         # doctest: +SKIP
        >>> chain.invoke("Is there a cat in my photos?")                  # doctest: +SKIP
    """

    def to_messages(inputs: dict[str, Any]) -> list[BaseMessage]:
        return build_multimodal_messages(inputs["question"], inputs["docs"], **message_options)

    answer = RunnableLambda(to_messages) | chat_model | StrOutputParser()
    retrieve = {"question": RunnablePassthrough(), "docs": retriever}
    if return_sources:
        return (retrieve | RunnablePassthrough.assign(answer=answer)).with_config(
            run_name="multimodal_rag"
        )
    return (retrieve | answer).with_config(run_name="multimodal_rag")
