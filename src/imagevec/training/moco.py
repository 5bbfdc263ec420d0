"""MoCo on unlabelled photos: a momentum key encoder and a queue of past keys as negatives.

SimCLR (:mod:`imagevec.training.simclr`) contrasts a view only with the other views of its
batch: at batch 32 on a CPU that is 62 negatives. MoCo (He et al., 2020) keeps the keys of
the last ``queue`` images as extra negatives; the keys come from a slowly moving copy of the
trained weights (``momentum``, :class:`~imagevec.training.momentum.MomentumCopy`) so that
old keys stay comparable with new queries. Here the negatives of a query are its batch's
other keys plus the queue (as in MoCo v3 + v2's queue).

The data, views, activation cache, label-free held-out check and export are SimCLR's. The
queue and the key weights are checkpointed with the objective's state, so ``resume``
continues exactly.

Example:
    >>> objective = MoCoObjective("photos/", queue=256)                       # doctest: +SKIP
    >>> fit(create_encoder("default"), objective, TrainConfig(out="runs/m"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.errors import ConfigError
from imagevec.training.loop import TrainConfig
from imagevec.training.momentum import MomentumCopy, unique_parameters
from imagevec.training.simclr import SimCLRObjective

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = ["MoCoObjective", "moco_loss"]


def moco_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor | None, temperature: float
) -> torch.Tensor:
    """InfoNCE of queries ``q`` against their keys ``k`` (row ``i`` pairs with row ``i``),
    the batch's other keys and the ``queue`` as negatives. All inputs are unit vectors."""
    keys = k if queue is None or not len(queue) else torch.cat([k, queue])
    logits = q @ keys.T / temperature
    return F.cross_entropy(logits, torch.arange(len(q), device=q.device))


class MoCoObjective(SimCLRObjective):
    """SimCLR's data, views and projection head, with MoCo's momentum keys and queue.

    Args:
        data_dir: a folder of images (searched recursively; sub-folders are not labels).
        queue: past keys kept as negatives (keep it below the number of training images,
            or an image's own older keys become negatives).
        momentum: how slowly the key weights follow the trained ones (0.99 - 0.999).
        **kwargs: :class:`~imagevec.training.simclr.SimCLRObjective` options.
    """

    name = "moco"

    def __init__(
        self, data_dir: str | Path, *, queue: int = 256, momentum: float = 0.99, **kwargs: Any
    ) -> None:
        if queue < 0 or not 0 <= momentum < 1:
            raise ConfigError(f"need queue >= 0 and 0 <= momentum < 1, got {queue}, {momentum}")
        super().__init__(data_dir, **kwargs)
        self.queue_size, self.momentum = queue, momentum
        self._trained: list[nn.Module] = []
        self.keys = MomentumCopy(momentum)
        self._queue: torch.Tensor | None = None
        self._device = torch.device("cpu")

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """SimCLR's setup; the key weights and the queue start empty."""
        super().setup(encoder, config)
        self._device = encoder.device
        self.load_state_dict({})

    def describe(self) -> str:
        """Sizes, for the log."""
        return f"{super().describe()}; queue {self.queue_size}, momentum {self.momentum}"

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """SimCLR's trainable groups (remembered: the key weights copy them)."""
        self._trained = super().trainable(encoder, freeze)
        return self._trained

    def _params(self) -> list[nn.Parameter]:
        assert self.head is not None
        return unique_parameters([*self._trained, self.head])

    @property
    def _keys(self) -> list[torch.Tensor] | None:
        """The key weights (``None`` before the first step)."""
        return self.keys.copy

    def state_dict(self) -> dict[str, Any]:
        """The key weights and the queue (checkpointed: ``resume`` continues exactly)."""
        return {**self.keys.state_dict(), "queue": self._queue}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back :meth:`state_dict` (empty: start afresh)."""
        self.keys.load_state_dict(state, self._device)
        queue = state.get("queue")
        self._queue = None if queue is None else queue.to(self._device)

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """Queries from one view (with gradients), keys from another (momentum weights)."""
        assert self.head is not None
        params = self._params()
        self.keys.update(params)  # after the previous step's update, before this batch's keys
        query_inputs, key_inputs = self.view_inputs(encoder, batch, rng)
        with torch.no_grad(), self.keys.swapped(params):
            k = F.normalize(self.head(self.features(encoder, key_inputs)))
        q = F.normalize(self.head(self.features(encoder, query_inputs)))
        loss = moco_loss(q, k.float(), self._queue, self.temperature)
        queue = k.float() if self._queue is None else torch.cat([k.float(), self._queue])
        self._queue = queue[: self.queue_size].detach()
        return loss
