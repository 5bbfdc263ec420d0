"""CLIP fine-tuning on image-caption pairs (a CSV of ``image path, caption``).

The loss is CLIP's symmetric InfoNCE (:func:`~imagevec.training.losses.clip_loss`) with the
model's own logit scale (kept fixed: a few thousand pairs are too few to re-learn it). Lower
layers of both towers are frozen: ``freeze`` image groups (``layer_groups()``) and
``freeze_text`` text groups (embeddings, one per transformer block, then the final norm and
text projection). Held out: a share of the pairs; the metrics are image->text retrieval
(``recall@k``, ``mrr``) and ``text->image recall@1``.

Example:
    >>> enc = create_encoder("clip-vit-b32")                                 # doctest: +SKIP
    >>> fit(enc, CLIPObjective("pairs.csv"), TrainConfig(out="runs/clip"))   # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from imagevec.errors import ConfigError
from imagevec.training.augment import Augment, to_pixels
from imagevec.training.data import cache_for, read_pairs_csv, split_items
from imagevec.training.freeze import image_trainable, split_groups
from imagevec.training.loop import Objective, TrainConfig
from imagevec.training.losses import clip_loss

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder
    from imagevec.encoders.clip import CLIPEncoder

__all__ = ["CLIPObjective", "cross_modal_metrics", "text_layer_groups"]


def text_layer_groups(encoder: CLIPEncoder) -> list[nn.Module]:
    """The text tower of a CLIP encoder, input to output."""
    text = encoder.backbone.text_model
    head = nn.ModuleList([text.final_layer_norm, encoder.backbone.text_projection])
    return [text.embeddings, *text.encoder.layers, head]


def cross_modal_metrics(images: np.ndarray, texts: np.ndarray) -> dict[str, float]:
    """Retrieval between matching rows: image ``i`` should find caption ``i`` and back.

    Args:
        images: ``(N, D)`` unit image vectors.
        texts: ``(N, D)`` unit text vectors, row ``i`` the caption of image ``i``.

    Returns:
        ``recall@1``, ``recall@5``, ``mrr`` (image -> text) and ``text->image recall@1``.
    """
    sims = images @ texts.T
    correct = np.diag(sims)[:, None]
    ranks = 1 + (correct < sims).sum(axis=1)  # rank of the true caption (ties favour it)
    back = 1 + (correct < sims.T).sum(axis=1)
    return {
        "recall@1": float((ranks <= 1).mean()),
        "recall@5": float((ranks <= 5).mean()),
        "mrr": float((1.0 / ranks).mean()),
        "text->image recall@1": float((back <= 1).mean()),
    }


class CLIPObjective(Objective):
    """Symmetric InfoNCE over image-caption pairs; the encoder must be a CLIP model.

    Args:
        pairs_csv: rows of ``image path, caption``.
        holdout: share of pairs held out.
        freeze_text: text groups frozen (``None``: the lower half).
        augment: image views (default: :meth:`Augment.light`).
    """

    name = "clip"

    def __init__(
        self,
        pairs_csv: str | Path,
        *,
        holdout: float = 0.1,
        freeze_text: int | None = None,
        augment: Augment | None = None,
    ) -> None:
        self.pairs_csv = Path(pairs_csv)
        self.holdout, self.freeze_text, self.augment = holdout, freeze_text, augment

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """Read the pairs, hold some out, decode every image once."""
        from imagevec.encoders.clip import CLIPEncoder

        if not isinstance(encoder, CLIPEncoder):
            raise ConfigError(
                f"CLIP fine-tuning needs a CLIP model (e.g. clip-vit-b32), not {encoder.name!r}"
            )
        paths, captions = read_pairs_csv(self.pairs_csv)
        train_idx, held_idx = split_items(len(paths), holdout=self.holdout, seed=config.seed)
        cache = cache_for(encoder, paths)
        self.train_pairs = [(cache[i], captions[i]) for i in train_idx]
        self.held_pairs = [(cache[i], captions[i]) for i in held_idx]
        self.batch_size = max(2, min(config.batch_size, len(self.train_pairs)))
        self.augment = self.augment or Augment.light(encoder.preprocess.output_size)

    def describe(self) -> str:
        """Sizes, for the log."""
        return f"{len(self.train_pairs)} training pairs, {len(self.held_pairs)} held out"

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """Image groups above ``freeze`` and text groups above ``freeze_text``."""
        text = split_groups(text_layer_groups(encoder), self.freeze_text)[1]  # type: ignore[arg-type]
        return [*image_trainable(encoder, freeze), *text]

    def batches(self, rng: random.Random) -> Iterator[Any]:
        """Shuffled batches of pair indices (the last short one dropped)."""
        order = list(range(len(self.train_pairs)))
        rng.shuffle(order)
        for start in range(0, self.batches_per_epoch() * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size]

    def batches_per_epoch(self) -> int:
        """Full batches per pass (at least one)."""
        return max(1, len(self.train_pairs) // self.batch_size)

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """CLIP loss of augmented images against their captions."""
        assert self.augment is not None
        views = [self.augment(self.train_pairs[i][0], rng) for i in batch]
        images = encoder.forward_images(to_pixels(views, encoder)).float()
        texts = encoder.forward_texts([self.train_pairs[i][1] for i in batch]).float()
        scale = encoder.backbone.logit_scale.detach().exp().float()  # type: ignore[attr-defined]
        return clip_loss(images, texts, scale)

    def evaluate(self, encoder: Encoder) -> dict[str, float]:
        """Image <-> caption retrieval among the held-out pairs."""
        if len(self.held_pairs) < 2:
            return {}
        images = encoder.embed_images([image for image, _ in self.held_pairs])
        texts = encoder.embed_texts([caption for _, caption in self.held_pairs])
        return cross_modal_metrics(images, texts)
