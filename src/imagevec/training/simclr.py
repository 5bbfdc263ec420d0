"""SimCLR on unlabelled photos: two random views per image, NT-Xent over the batch.

A projection head (Linear-ReLU-Linear to 128) sits on top of the encoder's features for the
loss only; it is trained with the encoder and dropped at export, as in SimCLR (Chen et al.,
2020): the representation before the head transfers better.

With ``views`` (>= 2) and frozen lower layers, each image's ``views`` augmented views are
drawn once and run through the frozen layers once
(:class:`~imagevec.training.cache.ActivationCache`); a step then pairs two different cached
views of each image and runs only the trainable top. Without it, every step draws two fresh
views and runs the whole model.

Held-out check without labels: each held-out image gets one fixed strong augmentation; the
metrics say how often a view finds its own original (recall@1). Pass ``eval_dir`` (a labelled
folder) to measure real retrieval instead.

Example:
    >>> objective = SimCLRObjective("photos/")                               # doctest: +SKIP
    >>> fit(create_encoder("default"), objective, TrainConfig(out="runs/s"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import nn

from imagevec.encoders.pooling import ProjectionHead
from imagevec.errors import ConfigError
from imagevec.evaluation import evaluate_images
from imagevec.training.augment import Augment, to_pixels
from imagevec.training.cache import ActivationCache
from imagevec.training.data import (
    cache_for,
    scan_labelled_folder,
    scan_unlabelled_folder,
    split_items,
)
from imagevec.training.freeze import image_trainable
from imagevec.training.loop import Objective, TrainConfig
from imagevec.training.losses import nt_xent_loss

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = ["SimCLRObjective"]


class SimCLRObjective(Objective):
    """NT-Xent over two augmented views of unlabelled images.

    Args:
        data_dir: a folder of images (searched recursively; sub-folders are not labels).
        holdout: share of images kept apart for the held-out check (none with ``eval_dir``).
        temperature: NT-Xent temperature (0.1 - 0.5).
        head_dim: output size of the (dropped) projection head.
        eval_dir: optional labelled folder (``<label>/<image>``) for the held-out metrics.
        augment: the views (default: :meth:`Augment.simclr` at the model's size).
        views: fixed views per image kept in the frozen-layer cache (0: fresh views every
            step, no cache).
    """

    name = "simclr"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        holdout: float = 0.1,
        temperature: float = 0.2,
        head_dim: int = 128,
        eval_dir: str | Path | None = None,
        augment: Augment | None = None,
        views: int = 0,
    ) -> None:
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        if views == 1 or views < 0:
            raise ConfigError(f"views must be 0 (no cache) or >= 2, got {views}")
        self.data_dir = Path(data_dir)
        self.holdout, self.temperature, self.head_dim = holdout, temperature, head_dim
        self.eval_dir = Path(eval_dir) if eval_dir is not None else None
        self.augment = augment
        self.views = views
        self.head: ProjectionHead | None = None
        self.cache: ActivationCache | None = None
        self.acts: torch.Tensor | None = None
        self._cached_for: tuple[Any, ...] | None = None

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """Decode the images once, keep some apart, build the projection head."""
        paths = scan_unlabelled_folder(self.data_dir)
        holdout = 0.0 if self.eval_dir is not None else self.holdout
        train_idx, held_idx = split_items(len(paths), holdout=holdout, seed=config.seed)
        if len(train_idx) < 2:
            raise ConfigError("SimCLR needs at least 2 training images")
        self.augment = self.augment or Augment.simclr(encoder.preprocess.output_size)
        cache = cache_for(encoder, paths)
        self.train_images = [cache[i] for i in train_idx]
        self.batch_size = max(2, min(config.batch_size, len(train_idx)))
        self.held_images, self.held_labels = self._held_out(encoder, cache, held_idx, config.seed)
        self.head = ProjectionHead(encoder.dim, self.head_dim).to(encoder.device)
        key = (id(encoder), config.freeze, tuple(train_idx))
        if self.views and self._cached_for != key:
            self._fill_cache(encoder, config.freeze, random.Random(7919))
            self._cached_for = key

    def _fill_cache(self, encoder: Encoder, freeze: int | None, rng: random.Random) -> None:
        """Row ``v * n + i``: the frozen layers' output for view ``v`` of training image ``i``."""
        assert self.augment is not None
        self.cache, self.acts = None, None
        sample = to_pixels([encoder.preprocess.to_array(im) for im in self.train_images[:2]],
                           encoder)  # fmt: skip
        cache = ActivationCache.build(encoder, image_trainable(encoder, freeze), sample)
        if cache is None:
            return
        parts = []
        for _ in range(self.views):
            for start in range(0, len(self.train_images), 16):
                chunk = self.train_images[start : start + 16]
                parts.append(cache.capture(to_pixels([self.augment(im, rng) for im in chunk],
                                                     encoder)))  # fmt: skip
        self.cache, self.acts = cache, torch.cat(parts)

    def _held_out(
        self, encoder: Encoder, cache: Any, held_idx: list[int], seed: int
    ) -> tuple[list[Image.Image], list[str]]:
        if self.eval_dir is not None:
            paths, labels = scan_labelled_folder(self.eval_dir)
            labelled = cache_for(encoder, paths)
            return [labelled[i] for i in range(len(labelled))], labels
        assert self.augment is not None
        view_rng = random.Random(seed + 1)
        images: list[Image.Image] = []
        labels = []
        for i in held_idx:
            images += [cache[i], Image.fromarray(self.augment(cache[i], view_rng))]
            labels += [str(i), str(i)]
        return images, labels

    def describe(self) -> str:
        """Sizes, for the log."""
        held = "labelled eval folder" if self.eval_dir else "held-out view pairs"
        cached = (
            f"; frozen layers cached ({self.views} views per image)"
            if self.acts is not None
            else ""
        )
        return (
            f"{len(self.train_images)} training images, {len(self.held_images)} images in "
            f"{held}{cached}"
        )

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """The image tower's groups above ``freeze``."""
        return image_trainable(encoder, freeze)

    def extra_modules(self) -> dict[str, nn.Module]:
        """The projection head: trained, not exported."""
        return {"simclr_head": self.head} if self.head is not None else {}

    def batches(self, rng: random.Random) -> Iterator[Any]:
        """Shuffled batches of image indices (the last short one dropped)."""
        order = list(range(len(self.train_images)))
        rng.shuffle(order)
        for start in range(0, self.batches_per_epoch() * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]

    def batches_per_epoch(self) -> int:
        """Full batches per pass (at least one)."""
        return max(1, len(self.train_images) // self.batch_size)

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """NT-Xent of two views of each image, through the projection head."""
        assert self.head is not None
        first, second = self.view_inputs(encoder, batch, rng)
        z = self.head(self.features(encoder, torch.cat([first, second])))
        z1, z2 = z.chunk(2)
        return nt_xent_loss(z1, z2, self.temperature)

    def view_inputs(
        self, encoder: Encoder, batch: Any, rng: random.Random
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two different views of each image: cached activations, or fresh pixels."""
        if self.cache is not None and self.acts is not None and self.cache.encoder is encoder:
            n = len(self.train_images)
            a = [rng.randrange(self.views) for _ in batch]
            b = [(v + 1 + rng.randrange(self.views - 1)) % self.views for v in a]
            return (
                self.acts[[v * n + i for v, i in zip(a, batch, strict=True)]],
                self.acts[[v * n + i for v, i in zip(b, batch, strict=True)]],
            )
        assert self.augment is not None
        first = [self.augment(self.train_images[i], rng) for i in batch]
        second = [self.augment(self.train_images[i], rng) for i in batch]
        return to_pixels(first, encoder), to_pixels(second, encoder)

    def features(self, encoder: Encoder, inputs: torch.Tensor) -> torch.Tensor:
        """Encoder features of :meth:`view_inputs` (from the cache when they are activations)."""
        if self.cache is not None and self.acts is not None and self.cache.encoder is encoder:
            return self.cache.forward(inputs).float()
        return encoder.forward_images(inputs).float()

    def evaluate(self, encoder: Encoder) -> dict[str, float]:
        """Retrieval metrics on the held-out views (or the labelled eval folder)."""
        if not self.held_images:
            return {}
        return evaluate_images(self.held_images, self.held_labels, encoder)
