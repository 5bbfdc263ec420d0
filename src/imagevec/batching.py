"""THE batching loop: every image and text embedding in imagevec goes through here.

Images: a thread pool decodes, resizes and crops ahead of the model (PIL releases the GIL), at
most ``prefetch`` batches in flight, so memory stays flat however many inputs stream in. Each
worker hands back one ``uint8`` ``(H, W, 3)`` array; full batches go to ONE forward thread that
calls the encoder's :meth:`~ImageModel.run_images` (the ONNX Runtime session, or the torch
module where no graph is used), so decoding batch n+1 and the caller's work on batch n-1
(hashing, store writes) overlap the forward of batch n and the engine never waits for the
loop. Batches are yielded in input order; bad inputs are raised, skipped or warned about per
``on_error``.

Torch-free: the loop knows numpy arrays and the two engine hooks, never a framework.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from imagevec.errors import ConfigError, ImageLoadError, ImagevecError, describe_source
from imagevec.io.decode import WARNING, load_image
from imagevec.io.policy import SourcePolicy
from imagevec.preprocess import Preprocess
from imagevec.types import EncodedBatch, EncodeReport, Failure, SkippedImageWarning


class ImageModel(Protocol):
    """What the loop needs of an encoder to embed images (every encoder).

    Typing the loop against this, not an encoder class, keeps the arrow one way: encoders
    call the loop; the loop knows nothing of encoders.
    """

    name: str
    dim: int
    preprocess: Preprocess

    def run_images(self, pixels: np.ndarray) -> np.ndarray:
        """``uint8 (B, H, W, 3)`` prepared pixels -> ``float32 (B, dim)`` unit rows.

        Called from the loop's forward thread (one call at a time)."""
        ...


class TextModel(Protocol):
    """What :func:`encode_texts` needs of an encoder."""

    dim: int

    def run_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> ``float32 (B, dim)`` unit rows."""
        ...


ON_ERROR = ("raise", "skip", "warn")
_log = logging.getLogger(__name__)


def _prepare(
    source: Any, preprocess: Preprocess, policy: SourcePolicy | None, max_pixels: int | None
) -> tuple[np.ndarray, str | None]:
    limit: dict[str, Any] = {} if max_pixels is None else {"max_pixels": max_pixels}
    image = load_image(source, policy=policy, draft_size=preprocess.draft_size, **limit)
    return preprocess.to_array(image), image.info.get(WARNING)


def _embed(encoder: ImageModel, arrays: list[np.ndarray]) -> np.ndarray:
    return np.asarray(encoder.run_images(np.stack(arrays)), dtype=np.float32)


class _Batch:
    """A batch on its way through the forward thread (its rows' bookkeeping beside it)."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.indices: list[int] = []
        self.kept: list[Any] = []
        self.failures: list[Failure] = []
        self.notes: list[Failure] = []
        self.vectors: Future[np.ndarray] | None = None

    def result(self, dim: int) -> EncodedBatch:
        vectors = self.vectors.result() if self.vectors is not None else _empty(dim)
        return EncodedBatch(self.indices, vectors, self.kept, self.failures, self.notes)


def iter_encoded_batches(
    encoder: ImageModel,
    sources: Iterable[Any],
    *,
    batch_size: int = 32,
    on_error: str = "raise",
    progress: bool = False,
    policy: SourcePolicy | None = None,
    num_workers: int | None = None,
    prefetch: int = 2,
    total: int | None = None,
    max_pixels: int | None = None,
) -> Iterator[EncodedBatch]:
    """Stream embedded batches of images, in input order.

    Args:
        encoder: the model (its ``preprocess``, ``dim``, ``name`` and ``run_images``).
        sources: any iterable of image inputs (consumed lazily).
        batch_size: images per forward pass.
        on_error: ``raise``, ``skip`` or ``warn`` for inputs that fail to load. Anything one
            input raises while loading (a decoder bug, ``MemoryError``) is that input's
            failure; only errors about the call itself (``ConfigError``...) propagate.
        progress: show a tqdm bar (counts inputs, failed ones included).
        policy: the source policy (URLs off unless it allows them).
        num_workers: decode threads (default: CPU count, at most 8).
        prefetch: batches decoded ahead of the model.
        total: the number of inputs, for the progress bar when ``sources`` has no ``len``.
        max_pixels: refuse (as a failed input) images with more pixels than this
            (default :data:`imagevec.io.decode.MAX_PIXELS`).
    """
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if total is None and isinstance(sources, Sequence):
        total = len(sources)
    workers = num_workers or min(8, os.cpu_count() or 1)
    preprocess = encoder.preprocess
    from tqdm.auto import tqdm  # imported on use: ~0.1 s of a cold search

    bar = tqdm(total=total, unit="img", desc=f"embedding ({encoder.name})", disable=not progress)
    pending: deque[tuple[int, Any, Future[tuple[np.ndarray, str | None]]]] = deque()
    window = batch_size * max(1, prefetch)
    batch = _Batch()
    running: deque[_Batch] = deque()  # sent to the forward thread, not yet yielded
    iterator = enumerate(sources)
    exhausted = False
    loaders = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagevec-load")
    engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagevec-forward")
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    index, source = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                job = loaders.submit(_prepare, source, preprocess, policy, max_pixels)
                pending.append((index, source, job))
            if not pending and not batch.indices and not batch.failures:
                break
            if pending:
                index, source, future = pending.popleft()
                try:
                    array, note = future.result()
                    batch.arrays.append(array)
                    batch.indices.append(index)
                    batch.kept.append(source)
                    if note:
                        batch.notes.append(Failure(index, describe_source(source), note))
                except Exception as exc:  # one input must not sink the others (MemoryError too)
                    if on_error == "raise" or _is_setup_error(exc):
                        raise
                    failure = _failure(index, source, exc)
                    if on_error == "warn":
                        message = f"cannot load image {failure.source}: {failure.reason}"
                        warnings.warn(message, SkippedImageWarning, stacklevel=2)
                    batch.failures.append(failure)
                bar.update(1)
            if len(batch.arrays) >= batch_size or (exhausted and not pending):
                if batch.arrays:
                    batch.vectors = engine.submit(_embed, encoder, batch.arrays)
                    batch.arrays = []
                running.append(batch)
                batch = _Batch()
                # One batch in the engine, one waiting: yield the older once it is done.
                while len(running) > 1 or (running and exhausted and not pending):
                    yield running.popleft().result(encoder.dim)
        while running:
            yield running.popleft().result(encoder.dim)
    finally:
        for _, _, future in pending:
            future.cancel()
        for waiting in running:
            if waiting.vectors is not None:
                waiting.vectors.cancel()
        loaders.shutdown(wait=True, cancel_futures=True)
        engine.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _is_setup_error(exc: Exception) -> bool:
    """An imagevec error about the call itself (not about one input): never skipped."""
    return isinstance(exc, ImagevecError) and not isinstance(exc, ImageLoadError)


def _failure(index: int, source: Any, exc: Exception) -> Failure:
    """The failure of one input, whatever was raised while loading it (MemoryError included)."""
    if isinstance(exc, ImageLoadError):
        return Failure(index, exc.source, exc.reason)
    _log.warning("unexpected error loading %s", describe_source(source), exc_info=exc)
    reason = f"unexpected {type(exc).__name__} while loading: {exc}".rstrip(": ")
    return Failure(index, describe_source(source), reason)


def _empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)


def collect(batches: Iterable[EncodedBatch], dim: int) -> EncodeReport:
    """Concatenate streamed batches into one :class:`EncodeReport`."""
    vectors, indices, failures, notes = [], [], [], []
    for batch in batches:
        vectors.append(batch.vectors)
        indices.extend(batch.indices)
        failures.extend(batch.failures)
        notes.extend(batch.warnings)
    stacked = np.concatenate(vectors) if vectors else _empty(dim)
    return EncodeReport(stacked.astype(np.float32, copy=False), indices, failures, notes)


def encode_texts(
    encoder: TextModel, texts: list[str], *, batch_size: int = 64, progress: bool = False
) -> np.ndarray:
    """Embed texts in batches sorted by length (less padding), returned in input order."""
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ConfigError(f"text #{position} is not a string: {describe_source(text)}")
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if not texts:
        return out
    from tqdm.auto import tqdm  # imported on use: ~0.1 s of a cold search

    with tqdm(total=len(texts), unit="text", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = encoder.run_texts([texts[i] for i in chunk])
            bar.update(len(chunk))
    return out
