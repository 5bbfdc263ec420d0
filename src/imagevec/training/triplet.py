"""Triplet fine-tuning on labelled photos (``root/<label>/<image>``).

Batches are P labels x K images (:class:`~imagevec.training.data.PKSampler`), each image a
random light augmentation; the loss is :func:`~imagevec.training.losses.triplet_loss` with
batch-hard or semi-hard mining. Whole labels are held out, so the held-out recall@1
measures how well the model generalises to products it never saw.

Example:
    >>> enc = create_encoder("default")                                   # doctest: +SKIP
    >>> fit(enc, TripletObjective("products/"), TrainConfig(out="runs/t")) # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.errors import ConfigError
from imagevec.evaluation import evaluate_images
from imagevec.training.augment import Augment, to_pixels
from imagevec.training.data import PKSampler, cache_for, scan_labelled_folder, split_by_label
from imagevec.training.freeze import image_trainable
from imagevec.training.loop import Objective, TrainConfig
from imagevec.training.losses import METRICS, MINING, triplet_loss

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = ["TripletObjective"]


class TripletObjective(Objective):
    """Triplet loss over a labelled folder.

    Args:
        data_dir: ``data_dir/<label>/<image>``.
        holdout: share of labels held out for evaluation (unseen labels).
        margin: the triplet margin (0.2 for cosine distance).
        mining: ``batch_hard`` or ``semi_hard``.
        metric: ``cosine`` (default) or ``euclidean``.
        k: images per label in a batch (P = batch_size // k labels).
        augment: the training views (default: :meth:`Augment.light` at the model's size).
        eval_dir: a labelled folder to evaluate on instead of holding labels out of
            ``data_dir`` (then all of ``data_dir`` trains).
    """

    name = "triplet"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        holdout: float = 0.2,
        margin: float = 0.2,
        mining: str = "batch_hard",
        metric: str = "cosine",
        k: int = 4,
        augment: Augment | None = None,
        eval_dir: str | Path | None = None,
    ) -> None:
        if mining not in MINING or metric not in METRICS:
            raise ConfigError(f"mining must be one of {MINING} and metric one of {METRICS}")
        self.data_dir = Path(data_dir)
        self.holdout, self.margin, self.mining, self.metric = holdout, margin, mining, metric
        self.k = k
        self.augment = augment
        self.eval_dir = Path(eval_dir) if eval_dir is not None else None

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """Scan the folder, hold out whole labels, decode every image once."""
        paths, labels = scan_labelled_folder(self.data_dir)
        holdout = 0.0 if self.eval_dir is not None else self.holdout
        train_idx, held_idx = split_by_label(labels, holdout=holdout, seed=config.seed)
        cache = cache_for(encoder, paths)
        self.train_images = [cache[i] for i in train_idx]
        self.train_labels = [labels[i] for i in train_idx]
        self.held_images = [cache[i] for i in held_idx]
        self.held_labels = [labels[i] for i in held_idx]
        if self.eval_dir is not None:
            held_paths, self.held_labels = scan_labelled_folder(self.eval_dir)
            held = cache_for(encoder, held_paths)
            self.held_images = [held[i] for i in range(len(held))]
        self.p = max(2, config.batch_size // self.k)
        self.augment = self.augment or Augment.light(encoder.preprocess.output_size)
        # Fails early (too few labels) rather than in the first epoch.
        self._sampler(random.Random(0))

    def _sampler(self, rng: random.Random) -> PKSampler:
        return PKSampler(self.train_labels, self.p, self.k, rng)

    def describe(self) -> str:
        """Sizes of the split, for the log."""
        return (
            f"{len(self.train_images)} training images ({len(set(self.train_labels))} labels), "
            f"{len(self.held_images)} held out ({len(set(self.held_labels))} unseen labels)"
        )

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """The image tower's groups above ``freeze`` (incl. a projection head)."""
        return image_trainable(encoder, freeze)

    def batches(self, rng: random.Random) -> Iterator[Any]:
        """P x K batches of ``(image indices, label ids)``."""
        return iter(self._sampler(rng))

    def batches_per_epoch(self) -> int:
        """About one pass over the training images."""
        return len(self._sampler(random.Random(0)))

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """Triplet loss of augmented views of the batch."""
        items, ids = batch
        assert self.augment is not None
        views = [self.augment(self.train_images[i], rng) for i in items]
        # Unit vectors for both metrics: search uses cosine, and the margin keeps its scale.
        features = F.normalize(encoder.forward_images(to_pixels(views, encoder)).float(), dim=-1)
        labels = torch.tensor(ids, device=features.device)
        return triplet_loss(
            features, labels, margin=self.margin, mining=self.mining, metric=self.metric
        )

    def evaluate(self, encoder: Encoder) -> dict[str, float]:
        """Leave-one-out retrieval metrics on the held-out (unseen) labels."""
        if not self.held_images:
            return {}
        return evaluate_images(self.held_images, self.held_labels, encoder)
