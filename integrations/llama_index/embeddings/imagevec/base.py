"""``ImagevecEmbedding``: any imagevec encoder as a LlamaIndex ``MultiModalEmbedding``.

Images and texts land in one space (the ``default`` encoder and CLIP models have a text
tower), so the same object serves as ``embed_model`` and ``image_embed_model`` of a
``MultiModalVectorStoreIndex`` and no OpenAI default is ever touched.

Batching: LlamaIndex's ``get_image_embedding_batch`` cuts the images into chunks of
``embed_batch_size`` and calls ``_get_image_embeddings`` once per chunk (and its async
twin runs all chunks at once with ``asyncio.gather``). Here a whole batch is ONE call into
imagevec's loop, which decodes on threads ahead of the model and runs real
``embed_batch_size`` forward passes.

Example:
    >>> from llama_index.embeddings.imagevec import ImagevecEmbedding
    >>> emb = ImagevecEmbedding()                       # bundled offline model   # doctest: +SKIP
    >>> emb.get_image_embedding_batch(["cat.jpg", "dog.png"])                       # doctest: +SKIP
    >>> emb.get_query_embedding("a cat on a sofa")                                  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType

import imagevec

if TYPE_CHECKING:
    from imagevec import Encoder, EncodeReport

_SHOWN_FAILURES = 5


# Guards the lazy model load when several threads (async calls) ask for it at once; the same
# pattern as the LangChain adapter. A module-level lock keeps instances picklable.
_LOAD_LOCK = threading.Lock()


class ImagevecEmbedding(MultiModalEmbedding):
    """Image and text embeddings from a local imagevec encoder (L2-normalised, cosine space).

    The encoder is built lazily from the serialisable fields on first use (or passed in
    ready-made with ``encoder=``), so the object is cheap to create, to serialise with
    ``to_dict``/``to_json`` and to rebuild in another process.

    Images may be paths, ``BytesIO``, data URIs / base64 strings and, with
    ``allow_urls=True``, ``http(s)`` URLs. An image that cannot be read raises
    :class:`imagevec.ImageLoadError` naming it: LlamaIndex needs one vector per node, so a
    bad file cannot be silently dropped here. Read folders with
    :func:`~llama_index.readers.imagevec.load_image_documents`, which leaves unreadable
    images out before indexing.

    Example:
        >>> emb = ImagevecEmbedding(model_name="default", device="cpu")  # doctest: +SKIP
        >>> index = MultiModalVectorStoreIndex.from_documents(
        ...     docs, embed_model=emb, image_embed_model=emb)              # doctest: +SKIP
        >>> ImagevecEmbedding(encoder=imagevec.create_encoder("clip-vit-b32"))  # doctest: +SKIP
    """

    model_config = ConfigDict(
        protected_namespaces=("pydantic_model_",), arbitrary_types_allowed=True, extra="forbid"
    )

    model_name: str = Field(
        default="default",
        description="imagevec model: 'default', a short name, 'hf:<hub id>' or a local folder.",
    )
    device: str = Field(
        default="auto", description="Device: 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'."
    )
    dtype: str = Field(
        default="float32", description="Weights dtype: 'float32', 'bfloat16' or 'float16'."
    )
    embed_batch_size: int = Field(
        default=32,
        gt=0,
        le=2048,
        description="Images (and texts) per forward pass inside imagevec's batching loop.",
    )
    allow_urls: bool = Field(
        default=False,
        description="Fetch http(s) image URLs (off by default: URLs in inputs are refused).",
    )
    encoder_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra options for imagevec.create_encoder (pooling, revision, ...).",
    )

    _encoder: Encoder | None = PrivateAttr(default=None)

    def __init__(self, encoder: Encoder | None = None, **data: Any) -> None:
        """Create the embedding; with ``encoder=`` the config fields are taken from it."""
        if encoder is not None:
            config = dict(encoder.config)
            data.setdefault("model_name", str(config.pop("model")))
            data.setdefault("device", str(config.pop("device", "auto")))
            data.setdefault("dtype", str(config.pop("dtype", "float32")))
            data.setdefault("encoder_options", config)
        super().__init__(**data)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex stores in serialised configs."""
        return "ImagevecEmbedding"

    # ------------------------------------------------------------------ the encoder
    @property
    def encoder(self) -> Encoder:
        """The imagevec encoder, created on first use (thread-safe)."""
        if self._encoder is None:
            with _LOAD_LOCK:
                if self._encoder is None:
                    self._encoder = imagevec.create_encoder(
                        self.model_name,
                        device=self.device,
                        dtype=self.dtype,
                        **self.encoder_options,
                    )
        return self._encoder

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self.encoder.dim

    def encode_images(self, images: list[Any], *, progress: bool = False) -> EncodeReport:
        """Run images through imagevec's loop in ONE call, skipping unreadable ones.

        Returns:
            An :class:`imagevec.EncodeReport`: ``vectors[i]`` belongs to ``images[indices[i]]``;
            ``failures`` lists what could not be read and why.
        """
        return self.encoder.encode_images(
            images,
            batch_size=self.embed_batch_size,
            on_error="skip",
            progress=progress,
            policy=imagevec.SourcePolicy(allow_urls=self.allow_urls),
        )

    def _embed_images(self, images: list[Any], progress: bool = False) -> list[Embedding]:
        if not images:
            return []
        report = self.encode_images(list(images), progress=progress)
        if report.failures:
            first = report.failures[:_SHOWN_FAILURES]
            shown = "; ".join(f"#{f.index} {f.source}: {f.reason}" for f in first)
            more = len(report.failures) - _SHOWN_FAILURES
            raise imagevec.ImageLoadError(
                report.failures[0].source,
                f"{len(report.failures)} of {len(images)} images cannot be read ({shown}"
                f"{f'; and {more} more' if more > 0 else ''}). LlamaIndex needs one vector per "
                "node: remove them, or read the folder with load_image_documents(folder, "
                "embed_model), which leaves unreadable images out",
            )
        return report.vectors.tolist()

    # ------------------------------------------------------------------ images
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._embed_images([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return await asyncio.to_thread(self._get_image_embedding, img_file_path)

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._embed_images(list(img_file_paths))

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await asyncio.to_thread(self._embed_images, list(img_file_paths))

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        """Embed many images with ONE call into imagevec's loop (it batches and prefetches)."""
        images = list(img_file_paths)
        if not images:
            return []
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: self.to_payload()}
        ) as event:
            embeddings = self._embed_images(images, progress=show_progress)
            event.on_end(payload={EventPayload.CHUNKS: images, EventPayload.EMBEDDINGS: embeddings})
        return embeddings

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        """Async :meth:`get_image_embedding_batch`: runs in a worker thread, loop stays free."""
        return await asyncio.to_thread(
            self.get_image_embedding_batch, list(img_file_paths), show_progress
        )

    # ------------------------------------------------------------------ texts
    def _get_query_embedding(self, query: str) -> Embedding:
        return self.encoder.embed_texts([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self.encoder.embed_texts([text])[0].tolist()

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        return self.encoder.embed_texts(list(texts), batch_size=self.embed_batch_size).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
