"""``ImagevecEmbeddings``: a LangChain ``Embeddings`` over any imagevec encoder.

Texts go through the encoder's text tower (or the bundled default model's bridge); images go
through ``Encoder.embed_images`` -- the one batching loop of the core -- so LangChain's
``Chroma.add_images`` embeds a whole folder in batches, not one picture at a time.

Example:
    >>> from langchain_imagevec import ImagevecEmbeddings
    >>> emb = ImagevecEmbeddings()                               # the bundled default model
    >>> emb.embed_query("a red car")[:3]                         # doctest: +SKIP
    [0.012, -0.051, 0.033]
    >>> emb.embed_image(["photos/car.jpg", pil_image])           # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

import imagevec

__all__ = ["ImagevecEmbeddings"]

# Guards the lazy model load when several threads (async calls) ask for it at once. A lock is
# not state that changes results, and it keeps instances picklable.
_LOAD_LOCK = threading.Lock()


class ImagevecEmbeddings(BaseModel, Embeddings):
    """LangChain embeddings for texts *and* images from a local imagevec encoder.

    The encoder is loaded once, on first use (or passed in ready-made with ``encoder=``).
    The public fields are the whole configuration: ``ImagevecEmbeddings(**emb.model_dump())``
    rebuilds an equivalent object in another process, and instances pickle.

    Vectors are L2-normalised, so cosine similarity equals the dot product. With Chroma, create
    the collection in cosine space (``collection_metadata={"hnsw:space": "cosine"}``) to get
    relevance scores that are cosine similarities.

    Example:
        >>> from langchain_chroma import Chroma
        >>> emb = ImagevecEmbeddings(model="clip-vit-b32", batch_size=64)
        >>> store = Chroma("photos", emb, collection_metadata={"hnsw:space": "cosine"})
        >>> store.add_images(["photos/cat.jpg", "photos/car.jpg"])  # doctest: +SKIP
        >>> store.similarity_search("a cat", k=1)                   # doctest: +SKIP

        Reuse an encoder you already have:

        >>> enc = imagevec.create_encoder("default")                 # doctest: +SKIP
        >>> emb = ImagevecEmbeddings(encoder=enc)                    # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(
        default="default",
        description="imagevec model: 'default', a short name, 'hf:<hub id>' or a local folder.",
    )
    device: str = Field(default="auto", description="'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.")
    dtype: str = Field(default="float32", description="'float32', 'bfloat16' or 'float16'.")
    batch_size: int = Field(default=32, ge=1, description="Images per forward pass.")
    allow_urls: bool = Field(
        default=False, description="Fetch http(s) image URLs passed to embed_image."
    )

    _encoder: Any = PrivateAttr(default=None)

    def __init__(self, *, encoder: imagevec.Encoder | None = None, **data: Any) -> None:
        """Build from the fields, or wrap a ready ``encoder`` (its config fills the fields)."""
        if encoder is not None:
            config = encoder.config
            data.setdefault("model", str(config.get("model", encoder.name)))
            data.setdefault("device", str(config.get("device", "auto")))
            data.setdefault("dtype", str(config.get("dtype", "float32")))
        super().__init__(**data)
        self._encoder = encoder

    # ------------------------------------------------------------------ the encoder
    @property
    def encoder(self) -> imagevec.Encoder:
        """The imagevec encoder, created on first access and reused afterwards."""
        if self._encoder is None:
            with _LOAD_LOCK:
                if self._encoder is None:
                    self._encoder = imagevec.create_encoder(
                        self.model, device=self.device, dtype=self.dtype
                    )
        return self._encoder

    @property
    def policy(self) -> imagevec.SourcePolicy:
        """The source policy used for images (URLs only with ``allow_urls``)."""
        return imagevec.SourcePolicy(allow_urls=self.allow_urls)

    # ------------------------------------------------------------------ texts
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts with the encoder's text tower; one vector per text, in order.

        Raises:
            imagevec.UnsupportedModalityError: the encoder embeds images only.
        """
        if not texts:
            return []
        return self.encoder.embed_texts(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one search text (the same space as the images)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`; runs in a worker thread."""
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`; runs in a worker thread."""
        return await run_in_executor(None, self.embed_query, text)

    # ------------------------------------------------------------------ images
    def embed_image(self, uris: Sequence[Any]) -> list[list[float]]:
        """Embed images in batches; one vector per input, in order.

        This is the method LangChain's ``Chroma.add_images`` and
        ``Chroma.similarity_search_by_image`` call.

        Args:
            uris: paths, ``file://`` URIs, http(s) URLs (with ``allow_urls=True``), base64
                strings, ``data:`` URIs, bytes, PIL images or numpy arrays -- mixed freely.

        Raises:
            imagevec.ImageLoadError: an input is missing, corrupt or not an image (the message
                names it). Nothing is skipped silently: a store needs one vector per input.
        """
        if isinstance(uris, (str, bytes)):
            raise TypeError("embed_image takes a list of images; wrap a single one in [ ]")
        items = list(uris)
        if not items:
            return []
        vectors = self.encoder.embed_images(
            items, batch_size=self.batch_size, on_error="raise", policy=self.policy
        )
        return vectors.tolist()

    async def aembed_image(self, uris: Sequence[Any]) -> list[list[float]]:
        """Async :meth:`embed_image`; runs in a worker thread, the event loop stays free."""
        return await run_in_executor(None, self.embed_image, uris)
