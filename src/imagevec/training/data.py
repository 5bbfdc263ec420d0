"""Training data: labelled folders, unlabelled folders, image-caption CSVs, splits, samplers.

* labelled folder — ``root/<label>/<image>`` (one sub-folder per label, e.g. per product);
* unlabelled folder — any images below ``root``;
* pairs CSV — rows of ``image path, caption`` (a header row is optional; relative paths are
  taken from the CSV's folder).

Images are decoded once through :func:`imagevec.io.decode.load_image` and kept in memory,
downsized (:class:`ImageCache`), so each epoch only augments — the cheap part on a CPU.

Example:
    >>> paths, labels = scan_labelled_folder("products/")          # doctest: +SKIP
    >>> train_idx, held_idx = split_by_label(labels, holdout=0.2, seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from imagevec.errors import ConfigError
from imagevec.io.decode import load_image
from imagevec.io.files import is_image_file, iter_image_files, scan_labelled_folder

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = [
    "ImageCache",
    "PKSampler",
    "cache_for",
    "looks_like_pairs_csv",
    "read_pairs_csv",
    "scan_labelled_folder",
    "scan_unlabelled_folder",
    "split_by_label",
    "split_items",
    "split_within_labels",
]

_HEADER_WORDS = {"image", "path", "file", "filename", "image_path", "caption", "text"}


def scan_unlabelled_folder(root: str | Path) -> list[Path]:
    """Every image below ``root`` (recursive, sorted)."""
    paths = list(iter_image_files(root))
    if not paths:
        raise ConfigError(f"no images found in {root}")
    return paths


def read_pairs_csv(path: str | Path) -> tuple[list[Path], list[str]]:
    """``(image paths, captions)`` from a CSV of ``image path, caption`` rows.

    A first row naming the columns (``image,caption``, ``path,text``...) is skipped.

    Raises:
        ConfigError: the file is missing, a row has fewer than two fields, or it has no rows.
    """
    csv_path = Path(path)
    if not csv_path.is_file():
        raise ConfigError(f"no such CSV file: {csv_path}")
    images: list[Path] = []
    captions: list[str] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise ConfigError(f"{csv_path}:{number}: need 'image path, caption', got {row}")
            if number == 1 and row[0].strip().lower() in _HEADER_WORDS:
                continue
            image = Path(row[0].strip()).expanduser()
            images.append(image if image.is_absolute() else csv_path.parent / image)
            captions.append(",".join(row[1:]).strip())
    if not images:
        raise ConfigError(f"{csv_path} has no image-caption rows")
    return images, captions


def looks_like_pairs_csv(path: str | Path) -> bool:
    """True for a ``.csv`` file (the data kind ``finetune auto`` treats as captions)."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() == ".csv" and not is_image_file(p)


def split_by_label(
    labels: Sequence[str], *, holdout: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split item indices so the held-out part has only *unseen* labels.

    Only labels with at least two images can be held out (a query needs a match). At least
    two labels are held out when ``holdout > 0``, and at least two stay for training; with
    too few labels for both, nothing is held out.

    Returns:
        ``(train indices, held-out indices)``, each sorted.
    """
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    eligible = sorted(label for label, items in by_label.items() if len(items) >= 2)
    n_held = round(len(by_label) * holdout) if holdout > 0 else 0
    if holdout > 0:
        n_held = max(n_held, 2)
    n_held = min(n_held, max(len(eligible) - 2, 0))
    if n_held < 2:  # one held-out label makes every neighbour a hit: meaningless
        n_held = 0
    held = set(random.Random(seed).sample(eligible, n_held))
    train = [i for i, label in enumerate(labels) if label not in held]
    test = [i for i, label in enumerate(labels) if label in held]
    return train, test


def split_within_labels(
    labels: Sequence[str], *, holdout: float = 0.2, seed: int = 0, min_train: int = 2
) -> tuple[list[int], list[int]]:
    """Hold out images *within* labels: new photos of known items.

    Per label of ``n`` images, ``max(2, round(n * holdout))`` are held out when that still
    leaves ``min_train`` for training (so a label needs ``min_train + 2`` images); smaller
    labels are kept whole for training. Two or more held-out images per label let each one
    find another of its label among the held-out images (the ``imagevec eval`` protocol).

    Returns:
        ``(train indices, held-out indices)``, each sorted.
    """
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    held: list[int] = []
    for label in sorted(by_label):
        items = by_label[label]
        n_held = max(2, round(len(items) * holdout)) if holdout > 0 else 0
        if n_held and len(items) - n_held >= min_train:
            held += rng.sample(items, n_held)
    chosen = set(held)
    return [i for i in range(len(labels)) if i not in chosen], sorted(chosen)


def split_items(n: int, *, holdout: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Randomly split ``range(n)`` into ``(train, held-out)`` index lists, each sorted."""
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_held = min(round(n * holdout), max(n - 2, 0))
    return sorted(order[n_held:]), sorted(order[:n_held])


class ImageCache:
    """Images decoded once and kept in memory, downsized so the short side is ``short_side``.

    Datasets over ``max_cached`` images are decoded on every access instead (with the JPEG
    draft shortcut), so memory stays bounded for large folders.

    Args:
        sources: paths (or any input ``load_image`` accepts).
        short_side: the short side kept (a little over the model's input size).
        max_cached: the largest dataset kept in memory.
        workers: decoding threads for the initial fill.
    """

    def __init__(
        self,
        sources: Sequence[object],
        *,
        short_side: int = 256,
        max_cached: int = 20_000,
        workers: int = 2,
    ) -> None:
        self.sources = list(sources)
        self.short_side = short_side
        self.cached = len(self.sources) <= max_cached
        self._images: list[Image.Image] = []
        if self.cached:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                self._images = list(pool.map(self._decode, self.sources))

    def _decode(self, source: object) -> Image.Image:
        image = load_image(source, draft_size=self.short_side)
        scale = self.short_side / min(image.size)
        if scale < 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        return image

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> Image.Image:
        return self._images[index] if self.cached else self._decode(self.sources[index])


def cache_for(encoder: Encoder, sources: Sequence[object], **options: Any) -> ImageCache:
    """An :class:`ImageCache` sized for ``encoder``: the short side its eval resize needs,
    and at least 15% over its input size so random crops keep some detail."""
    pre = encoder.preprocess
    short = max(pre.draft_size, round(1.15 * max(pre.output_size)))
    return ImageCache(sources, short_side=short, **options)


class PKSampler:
    """Batches of ``p`` labels x ``k`` images each, for triplet mining.

    Labels with a single image are skipped (they cannot give a positive). Images of a label
    are drawn without replacement while there are enough, with replacement otherwise. An
    epoch has about ``len(items) / (p * k)`` batches (at least one).

    Args:
        labels: the label of each item.
        p: labels per batch.
        k: images per label.
        rng: the random source (the training loop owns and checkpoints it).
    """

    def __init__(self, labels: Sequence[str], p: int, k: int, rng: random.Random) -> None:
        if p < 2 or k < 2:
            raise ConfigError(f"a triplet batch needs p >= 2 labels and k >= 2 images; got {p}x{k}")
        self.by_label: dict[str, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            self.by_label[label].append(index)
        self.usable = sorted(label for label, items in self.by_label.items() if len(items) >= 2)
        if len(self.usable) < 2:
            raise ConfigError("triplet training needs at least 2 labels with 2+ images each")
        self.p, self.k, self.rng = min(p, len(self.usable)), k, rng
        n_items = sum(len(self.by_label[label]) for label in self.usable)
        self.batches_per_epoch = max(1, n_items // (self.p * self.k))

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[list[int], list[int]]]:
        """Yield ``(item indices, integer label ids)`` per batch."""
        for _ in range(self.batches_per_epoch):
            chosen = self.rng.sample(self.usable, self.p)
            items: list[int] = []
            ids: list[int] = []
            for label_id, label in enumerate(chosen):
                pool = self.by_label[label]
                if len(pool) >= self.k:
                    picks = self.rng.sample(pool, self.k)
                else:
                    picks = [self.rng.choice(pool) for _ in range(self.k)]
                items.extend(picks)
                ids.extend([label_id] * self.k)
            yield items, ids
