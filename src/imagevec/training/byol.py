"""BYOL on unlabelled photos: an online network with a predictor chases a momentum target.

BYOL (Grill et al., 2020) uses no negatives. The *online* network (the trained layers and a
projector) plus a small *predictor* must predict, from one view of an image, the *target*
network's projection of another view; the target is a slowly moving copy of the online
weights (:class:`~imagevec.training.momentum.MomentumCopy`), so it changes with no
gradient of its own. The loss is ``2 - 2 cos(prediction, target)``, both ways round.

The data, views, activation cache, label-free held-out check and export are SimCLR's; the
projector and predictor are trained and dropped at export. The target weights are
checkpointed with the objective's state, so ``resume`` continues exactly.

Example:
    >>> objective = BYOLObjective("photos/", momentum=0.99)                   # doctest: +SKIP
    >>> fit(create_encoder("default"), objective, TrainConfig(out="runs/b"))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.encoders.pooling import ProjectionHead
from imagevec.training.loop import TrainConfig
from imagevec.training.momentum import MomentumCopy, unique_parameters
from imagevec.training.simclr import SimCLRObjective

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = ["BYOLObjective", "byol_loss"]


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos`` between each prediction and its target row, averaged (0: aligned)."""
    p, z = F.normalize(prediction, dim=-1), F.normalize(target, dim=-1)
    return (2 - 2 * (p * z).sum(dim=-1)).mean()


class BYOLObjective(SimCLRObjective):
    """SimCLR's data and views; BYOL's projector, predictor and momentum target.

    Args:
        data_dir: a folder of images (searched recursively; sub-folders are not labels).
        momentum: how slowly the target follows the online weights (0.99 - 0.999).
        predictor_hidden: hidden width of the predictor MLP.
        **kwargs: :class:`~imagevec.training.simclr.SimCLRObjective` options (``head_dim``
            is the projector's output size; ``temperature`` is not used).
    """

    name = "byol"

    def __init__(
        self,
        data_dir: str | Path,
        *,
        momentum: float = 0.99,
        predictor_hidden: int = 512,
        **kwargs: Any,
    ) -> None:
        self.target = MomentumCopy(momentum)  # checks the momentum
        super().__init__(data_dir, **kwargs)
        self.momentum, self.predictor_hidden = momentum, predictor_hidden
        self.predictor: ProjectionHead | None = None
        self._trained: list[nn.Module] = []
        self._device = torch.device("cpu")

    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """SimCLR's setup (its head is the projector), a predictor; the target starts empty."""
        super().setup(encoder, config)
        self.predictor = ProjectionHead(self.head_dim, self.head_dim, self.predictor_hidden)
        self.predictor.to(encoder.device)
        self._device = encoder.device
        self.load_state_dict({})

    def describe(self) -> str:
        """Sizes, for the log."""
        return f"{super().describe()}; target momentum {self.momentum}"

    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """SimCLR's trainable groups (remembered: the target copies them)."""
        self._trained = super().trainable(encoder, freeze)
        return self._trained

    def extra_modules(self) -> dict[str, nn.Module]:
        """The projector and the predictor: trained, not exported."""
        if self.head is None or self.predictor is None:
            return {}
        return {"byol_projector": self.head, "byol_predictor": self.predictor}

    def _online(self) -> list[nn.Parameter]:
        """What the target copies: the trained groups and the projector (not the predictor)."""
        assert self.head is not None
        return unique_parameters([*self._trained, self.head])

    def state_dict(self) -> dict[str, Any]:
        """The target weights (checkpointed: ``resume`` continues exactly)."""
        return self.target.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back :meth:`state_dict` (empty: start afresh)."""
        self.target.load_state_dict(state, self._device)

    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """Each view's prediction against the target's projection of the other view."""
        assert self.head is not None and self.predictor is not None
        params = self._online()
        self.target.update(params)  # after the previous step's update
        first, second = self.view_inputs(encoder, batch, rng)
        views = torch.cat([first, second])
        with torch.no_grad(), self.target.swapped(params):
            targets = self.head(self.features(encoder, views)).float()
        predictions = self.predictor(self.head(self.features(encoder, views)))
        p1, p2 = predictions.chunk(2)
        t1, t2 = targets.chunk(2)
        return byol_loss(p1, t2) + byol_loss(p2, t1)
