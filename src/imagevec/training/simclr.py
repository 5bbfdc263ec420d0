"""SimCLR on unlabelled photos: two random views per image, NT-Xent over the batch.

A projection head (Linear-ReLU-Linear to 128) sits on top of the encoder's features for the
loss only; it is trained with the encoder and dropped at export, as in SimCLR (Chen et al.,
2020): the representation before the head transfers better. :class:`SimCLRObjective` also
holds what MoCo and BYOL share with it: the data, the views, the activation cache and the
label-free held-out check.

With ``views`` (>= 2) and frozen lower layers, each image's ``views`` augmented views are
drawn once and run through the frozen layers once
(:class:`~imagevec.training.cache.ActivationCache`); a step then pairs two different cached
views of each image and runs only the trainable top. The cache covers every image, so a
second seed (another held-out split) reuses it. Without it, every step draws two fresh views
and runs the whole model.

**The held-out check without labels (the copy-finding proxy).** A share of the photos
(``holdout``) never trains. Each of them gets ``copies`` fixed copies, drawn with the
*light* augmentation (a crop of 35-100% of the photo, mild colour changes: another shot of
the same thing, not the strong training views), and every original and copy must find the
others of its photo among all held-out originals and copies (leave-one-out recall@1 and
mAP, as ``imagevec eval``). The loop's selection rules run on these numbers, so a run that
does not make the copies easier to find exports the base weights and says
``NO IMPROVEMENT``. Where labels exist, this proxy's verdict was checked against real
retrieval (``examples/benchmarks/selfsup_evidence.py``; docs/finetune-selfsup.md). Pass
``eval_dir`` (a labelled folder) to select on real retrieval instead.

Example:
    >>> objective = SimCLRObjective("photos/")                               # doctest: +SKIP
    >>> fit(create_encoder("default"), objective, TrainConfig(out="runs/s"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from imagevec.encoders.pooling import ProjectionHead
from imagevec.errors import ConfigError
from imagevec.evaluation import evaluate_images, retrieval_metrics
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

_CHUNK = 16


class SimCLRObjective(Objective):
    """NT-Xent over two augmented views of unlabelled images.

    Args:
        data_dir: a folder of images (searched recursively; sub-folders are not labels).
        holdout: share of images kept apart for the copy-finding check (none with
            ``eval_dir``).
        temperature: NT-Xent temperature (0.1 - 0.5).
        head_dim: output size of the (dropped) projection head.
        eval_dir: optional labelled folder (``<label>/<image>``) for the held-out metrics.
        augment: the training views (default: :meth:`Augment.simclr` at the model's size).
        views: fixed views per image kept in the frozen-layer cache (0: fresh views every
            step, no cache).
        copies: copies per held-out photo in the check (default recipe:
            :meth:`Augment.light`).
    """

    name = "simclr"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        holdout: float = 0.2,
        temperature: float = 0.2,
        head_dim: int = 128,
        eval_dir: str | Path | None = None,
        augment: Augment | None = None,
        views: int = 0,
        copies: int = 2,
    ) -> None:
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        if views == 1 or views < 0:
            raise ConfigError(f"views must be 0 (no cache) or >= 2, got {views}")
        if copies < 1:
            raise ConfigError(f"copies must be >= 1, got {copies}")
        self.data_dir = Path(data_dir)
        self.holdout, self.temperature, self.head_dim = holdout, temperature, head_dim
        self.eval_dir = Path(eval_dir) if eval_dir is not None else None
        self.augment = augment
        self.views, self.copies = views, copies
        self.head: ProjectionHead | None = None
        self.cache: ActivationCache | None = None
        self.acts: torch.Tensor | None = None
        self.held_acts: torch.Tensor | None = None
        self._prepared: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """Decode the images once and cache their views (both kept for the next seed with the
        same encoder and freeze), split, draw the held-out copies, build the head."""
        key = (id(encoder), config.freeze)
        if self._prepared != key:
            paths = scan_unlabelled_folder(self.data_dir)
            decoded = cache_for(encoder, paths)
            self.all_images = [decoded[i] for i in range(len(decoded))]
            self.augment = self.augment or Augment.simclr(encoder.preprocess.output_size)
            if self.views:
                self._fill_cache(encoder, config.freeze, random.Random(7919))
            self._prepared = key
        holdout = 0.0 if self.eval_dir is not None else self.holdout
        self.train_index, held_idx = split_items(
            len(self.all_images), holdout=holdout, seed=config.seed
        )
        if len(self.train_index) < 2:
            raise ConfigError(f"{self.name} needs at least 2 training images")
        self.train_images = [self.all_images[i] for i in self.train_index]
        self.batch_size = max(2, min(config.batch_size, len(self.train_index)))
        self._held_out(encoder, held_idx, config.seed)
        self.head = ProjectionHead(encoder.dim, self.head_dim).to(encoder.device)

    def reuse(self, other: SimCLRObjective) -> None:
        """Take ``other``'s decoded images and cached views (same folder, encoder, freeze and
        ``views``): a second method on the same photos skips the decode and the cache fill."""
        if (other.data_dir, other.views) != (self.data_dir, self.views):
            raise ConfigError("reuse needs an objective over the same folder and views")
        self._prepared, self.all_images, self.augment = (
            other._prepared, other.all_images, other.augment,
        )  # fmt: skip
        self.cache, self.acts = other.cache, other.acts

    def _fill_cache(self, encoder: Encoder, freeze: int | None, rng: random.Random) -> None:
        """Row ``v * n + i``: the frozen layers' output for view ``v`` of image ``i``."""
        assert self.augment is not None
        self.cache, self.acts = None, None
        sample = self._eval_pixels(encoder, self.all_images[:2])
        cache = ActivationCache.build(encoder, image_trainable(encoder, freeze), sample)
        if cache is None:
            return
        parts = []
        for _ in range(self.views):
            for start in range(0, len(self.all_images), _CHUNK):
                chunk = self.all_images[start : start + _CHUNK]
                parts.append(cache.capture(to_pixels([self.augment(im, rng) for im in chunk],
                                                     encoder)))  # fmt: skip
        self.cache, self.acts = cache, torch.cat(parts)

    def _held_out(self, encoder: Encoder, held_idx: list[int], seed: int) -> None:
        """The held-out originals and their copies (or the ``eval_dir`` images)."""
        self.held_acts = None
        self.held_copies: list[np.ndarray] = []
        if self.eval_dir is not None:
            paths, self.held_labels = scan_labelled_folder(self.eval_dir)
            labelled = cache_for(encoder, paths)
            self.held_images: list[Image.Image] = [labelled[i] for i in range(len(labelled))]
            return
        copy = Augment.light(encoder.preprocess.output_size)
        rng = random.Random(seed + 1)
        self.held_images = [self.all_images[i] for i in held_idx]
        self.held_copies = [copy(im, rng) for im in self.held_images for _ in range(self.copies)]
        self.held_labels = [str(i) for i in held_idx]
        self.held_labels += [str(i) for i in held_idx for _ in range(self.copies)]
        if self.cache is not None and self.held_images:
            self.held_acts = torch.cat([self._capture(p) for p in self._held_pixels(encoder)])

    def _held_pixels(self, encoder: Encoder) -> Iterator[torch.Tensor]:
        """Normalised batches of the held-out originals (eval transform), then the copies."""
        for start in range(0, len(self.held_images), _CHUNK):
            yield self._eval_pixels(encoder, self.held_images[start : start + _CHUNK])
        for start in range(0, len(self.held_copies), _CHUNK):
            yield to_pixels(self.held_copies[start : start + _CHUNK], encoder)

    def _capture(self, pixels: torch.Tensor) -> torch.Tensor:
        assert self.cache is not None
        return self.cache.capture(pixels)

    @staticmethod
    def _eval_pixels(encoder: Encoder, images: Sequence[Image.Image]) -> torch.Tensor:
        arrays = [encoder.preprocess.to_array(image) for image in images]
        return to_pixels(arrays, encoder)

    def describe(self) -> str:
        """Sizes, for the log."""
        if self.eval_dir is not None:
            held = f"{len(self.held_images)} images in the labelled eval folder"
        else:
            held = (
                f"{len(self.held_images)} photos held out, each with {self.copies} light copies "
                "to find (the label-free check)"
            )
        cached = (
            f"; frozen layers cached ({self.views} views per image)" if self._cached_now() else ""
        )
        return f"{len(self.train_images)} training images, {held}{cached}"

    def _cached_now(self) -> bool:
        return self.cache is not None and self.acts is not None

    # ------------------------------------------------------------------ training
    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """The image tower's groups above ``freeze``."""
        return image_trainable(encoder, freeze)

    def extra_modules(self) -> dict[str, nn.Module]:
        """The projection head: trained, not exported."""
        return {"simclr_head": self.head} if self.head is not None else {}

    def use_all(self, seed: int) -> int:
        """From now on every photo trains, the held-out ones too (the refit once the check
        chose the epoch count); returns their number, 0 when none was held out. The held-out
        photos and copies stay (for :meth:`describe`); the next :meth:`setup` splits anew."""
        del seed  # the split is undone, not redrawn
        if self.eval_dir is not None or not self.held_images:
            return 0
        self.train_index = list(range(len(self.all_images)))
        self.train_images = list(self.all_images)
        return len(self.train_index)

    def batches(self, rng: random.Random) -> Iterator[Any]:
        """Shuffled batches of training-image positions (the last short one dropped)."""
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

    def _use_cache(self, encoder: Encoder) -> bool:
        return self._cached_now() and self.cache is not None and self.cache.encoder is encoder

    def view_inputs(
        self, encoder: Encoder, batch: Any, rng: random.Random
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two different views of each image: cached activations, or fresh pixels."""
        if self._use_cache(encoder):
            assert self.acts is not None
            n = len(self.all_images)
            rows = [self.train_index[i] for i in batch]
            a = [rng.randrange(self.views) for _ in batch]
            b = [(v + 1 + rng.randrange(self.views - 1)) % self.views for v in a]
            return (
                self.acts[[v * n + i for v, i in zip(a, rows, strict=True)]],
                self.acts[[v * n + i for v, i in zip(b, rows, strict=True)]],
            )
        assert self.augment is not None
        first = [self.augment(self.train_images[i], rng) for i in batch]
        second = [self.augment(self.train_images[i], rng) for i in batch]
        return to_pixels(first, encoder), to_pixels(second, encoder)

    def features(self, encoder: Encoder, inputs: torch.Tensor) -> torch.Tensor:
        """Encoder features of :meth:`view_inputs` (from the cache when they are activations)."""
        if self._use_cache(encoder):
            assert self.cache is not None
            return self.cache.forward(inputs).float()
        return encoder.forward_images(inputs).float()

    def evaluate(self, encoder: Encoder) -> dict[str, float]:
        """The copy-finding check on the held-out photos (or the labelled eval folder)."""
        if not self.held_images:
            return {}
        if self.eval_dir is not None:
            return evaluate_images(self.held_images, self.held_labels, encoder)
        if self.held_acts is not None and self._use_cache(encoder):
            assert self.cache is not None
            acts = self.held_acts
            parts = [self.cache.forward(acts[i : i + 64]) for i in range(0, len(acts), 64)]
        else:
            parts = [encoder.forward_images(p) for p in self._held_pixels(encoder)]
        vectors = torch.cat(parts).float().cpu().numpy()
        return retrieval_metrics(vectors, self.held_labels)
