"""THE batching loop: every image and text embedding in imagevec goes through here.

Images: a thread pool decodes and preprocesses ahead of the model (PIL releases the GIL), at
most ``prefetch`` batches in flight, so memory stays flat however many inputs stream in. The
main thread stacks ``uint8`` arrays, normalises the batch on the device, runs the model under
``torch.inference_mode``, L2-normalises in float32 and moves each batch to CPU at once.
Order is kept; bad inputs are raised, skipped or warned about per ``on_error``.
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
import torch
import torch.nn.functional as F  # noqa: N812

from imagevec.errors import ConfigError, ImageLoadError, ImagevecError, describe_source
from imagevec.io.decode import WARNING, load_image
from imagevec.io.policy import SourcePolicy
from imagevec.preprocess import Preprocess
from imagevec.types import EncodedBatch, EncodeReport, Failure, SkippedImageWarning


class ImageModel(Protocol):
    """What the loop needs of an encoder to embed images (every :class:`~imagevec.Encoder`).

    Typing the loop against this, not the ``Encoder`` class, keeps the arrow one way:
    encoders call the loop; the loop knows nothing of encoders.
    """

    name: str
    dim: int
    device: torch.device
    dtype: torch.dtype
    preprocess: Preprocess

    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` normalised pixels -> ``(B, dim)`` features."""
        ...


class TextModel(Protocol):
    """What :func:`encode_texts` needs of an encoder."""

    dim: int

    def forward_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> ``(B, dim)`` features."""
        ...


ON_ERROR = ("raise", "skip", "warn")
_log = logging.getLogger(__name__)


def _prepare(
    source: Any, encoder: ImageModel, policy: SourcePolicy | None, max_pixels: int | None = None
) -> tuple[np.ndarray, str | None]:
    limit: dict[str, Any] = {} if max_pixels is None else {"max_pixels": max_pixels}
    image = load_image(source, policy=policy, draft_size=encoder.preprocess.draft_size, **limit)
    return encoder.preprocess.to_array(image), image.info.get(WARNING)


def _forward(encoder: ImageModel, arrays: list[np.ndarray]) -> np.ndarray:
    batch = torch.from_numpy(np.stack(arrays))
    if encoder.device.type == "cuda":
        batch = batch.pin_memory().to(encoder.device, non_blocking=True)
    else:
        batch = batch.to(encoder.device)
    with torch.inference_mode():
        pixels = encoder.preprocess.normalize(batch, encoder.dtype)
        features = encoder.forward_images(pixels)
        return F.normalize(features.float(), dim=-1).cpu().numpy()


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
        encoder: the model.
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
    from tqdm.auto import tqdm  # imported on use: ~0.1 s of a cold search

    bar = tqdm(total=total, unit="img", desc=f"embedding ({encoder.name})", disable=not progress)
    pending: deque[tuple[int, Any, Future[tuple[np.ndarray, str | None]]]] = deque()
    window = batch_size * max(1, prefetch)
    arrays: list[np.ndarray] = []
    indices: list[int] = []
    kept: list[Any] = []
    failures: list[Failure] = []
    notes: list[Failure] = []
    iterator = enumerate(sources)
    exhausted = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagevec-load") as pool:
        try:
            while True:
                while not exhausted and len(pending) < window:
                    try:
                        index, source = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append(
                        (index, source, pool.submit(_prepare, source, encoder, policy, max_pixels))
                    )
                if not pending:
                    break
                index, source, future = pending.popleft()
                try:
                    array, note = future.result()
                    arrays.append(array)
                    indices.append(index)
                    kept.append(source)
                    if note:
                        notes.append(Failure(index, describe_source(source), note))
                except Exception as exc:  # one input must not sink the others (MemoryError too)
                    if on_error == "raise" or _is_setup_error(exc):
                        raise
                    failure = _failure(index, source, exc)
                    if on_error == "warn":
                        message = f"cannot load image {failure.source}: {failure.reason}"
                        warnings.warn(message, SkippedImageWarning, stacklevel=2)
                    failures.append(failure)
                bar.update(1)
                if len(arrays) >= batch_size or (exhausted and not pending):
                    vectors = _forward(encoder, arrays) if arrays else _empty(encoder.dim)
                    yield EncodedBatch(indices, vectors, kept, failures, notes)
                    arrays, indices, kept, failures, notes = [], [], [], [], []
        finally:
            for _, _, future in pending:
                future.cancel()
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
    from tqdm.auto import tqdm  # imported on use: ~0.1 s of a cold search

    with tqdm(total=len(texts), unit="text", disable=not progress) as bar, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            features = encoder.forward_texts([texts[i] for i in chunk])
            out[chunk] = F.normalize(features.float(), dim=-1).cpu().numpy()
            bar.update(len(chunk))
    return out
