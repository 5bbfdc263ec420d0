"""MoCo on unlabelled photos: a momentum key encoder and a queue of past keys as negatives.

SimCLR (:mod:`imagevec.training.simclr`) contrasts a view only with the other views of its
batch: at batch 32 on a CPU that is 62 negatives. MoCo (He et al., 2020) keeps the keys of
the last ``queue`` images as extra negatives; the keys come from a slowly moving copy of the
trained weights (``momentum``) so that old keys stay comparable with new queries. Here the
negatives of a query are its batch's other keys plus the queue (as in MoCo v3 + v2's queue).

The key copy covers only what trains (the groups above ``freeze`` and the projection head),
so it costs one extra forward pass without gradients per batch, not a second model. The
queue and the key weights are not checkpointed: a resumed run starts them afresh.

Example:
    >>> objective = MoCoObjective("photos/", queue=256)                       # doctest: +SKIP
    >>> fit(create_encoder("default"), objective, TrainConfig(out="runs/m"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.errors import ConfigError
from imagevec.training.loop import TrainConfig
from imagevec.training.simclr import SimCLRObjective

if TYPE_CHECKING:
    from collections.abc import Iterator

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
        self._keys: list[torch.Tensor] | None = None
        self._queue: torch.Tensor | None = None

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """SimCLR's setup; the key weights and the queue start empty."""
        super().setup(encoder, config)
        self._keys, self._queue = None, None

    def describe(self) -> str:
        """Sizes, for the log."""
        return f"{super().describe()}; queue {self.queue_size}, momentum {self.momentum}"

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """SimCLR's trainable groups (remembered: the key weights copy them)."""
        self._trained = super().trainable(encoder, freeze)
        return self._trained

    def _params(self) -> list[nn.Parameter]:
        assert self.head is not None
        seen: dict[int, nn.Parameter] = {}
        for module in (*self._trained, self.head):
            for param in module.parameters():
                seen.setdefault(id(param), param)
        return list(seen.values())

    @contextmanager
    def _key_weights(self) -> Iterator[None]:
        """The trained parameters hold the momentum (key) weights inside the block."""
        params, keys = self._params(), self._keys
        assert keys is not None

        def swap() -> None:  # a pointer swap, no copy
            for i, param in enumerate(params):
                param.data, keys[i] = keys[i], param.data

        swap()
        try:
            yield
        finally:
            swap()

    def _update_keys(self) -> None:
        params = self._params()
        with torch.no_grad():
            if self._keys is None:
                self._keys = [p.detach().clone() for p in params]
                return
            for key, param in zip(self._keys, params, strict=True):
                key.mul_(self.momentum).add_(param.detach(), alpha=1 - self.momentum)

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """Queries from one view (with gradients), keys from another (momentum weights)."""
        assert self.head is not None
        self._update_keys()  # after the previous step's update, before this batch's keys
        query_inputs, key_inputs = self.view_inputs(encoder, batch, rng)
        with torch.no_grad(), self._key_weights():
            k = F.normalize(self.head(self.features(encoder, key_inputs)))
        q = F.normalize(self.head(self.features(encoder, query_inputs)))
        loss = moco_loss(q, k.float(), self._queue, self.temperature)
        queue = k.float() if self._queue is None else torch.cat([k.float(), self._queue])
        self._queue = queue[: self.queue_size].detach()
        return loss
