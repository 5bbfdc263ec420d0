"""A slowly moving copy of the trained weights: MoCo's key encoder, BYOL's target network.

After every step the copy moves a little toward the trained weights
(``copy = momentum * copy + (1 - momentum) * trained``). It covers only what trains (the
groups above ``freeze`` and the objective's head), so using it costs one extra forward pass
without gradients, not a second model: inside :meth:`MomentumCopy.swapped` the trained
parameters *hold* the copy's values (a pointer swap, no copy), and the cached frozen layers
below stay shared. The copy is part of the objective's checkpointed state
(:meth:`state_dict`), so a resumed run continues with the same copy.

Example:
    >>> copy = MomentumCopy(0.99)                                        # doctest: +SKIP
    >>> copy.update(params)          # first call: a copy of params       # doctest: +SKIP
    >>> with torch.no_grad(), copy.swapped(params):                      # doctest: +SKIP
    ...     keys = head(features(views))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from imagevec.errors import ConfigError

__all__ = ["MomentumCopy", "unique_parameters"]


def unique_parameters(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    """The parameters of ``modules``, each once, in a fixed order."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for param in module.parameters():
            seen.setdefault(id(param), param)
    return list(seen.values())


class MomentumCopy:
    """An exponential moving average of some parameters, swapped in on demand.

    Args:
        momentum: how slowly the copy follows (0.99 - 0.999; 0: the copy is the trained
            weights of the step before).
    """

    def __init__(self, momentum: float) -> None:
        if not 0 <= momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.copy: list[torch.Tensor] | None = None

    def update(self, params: Sequence[nn.Parameter]) -> None:
        """Move the copy toward ``params`` (the first call copies them)."""
        with torch.no_grad():
            if self.copy is None:
                self.copy = [p.detach().clone() for p in params]
                return
            for kept, param in zip(self.copy, params, strict=True):
                kept.mul_(self.momentum).add_(param.detach(), alpha=1 - self.momentum)

    @contextmanager
    def swapped(self, params: Sequence[nn.Parameter]) -> Iterator[None]:
        """``params`` hold the copy's values inside the block (call :meth:`update` first)."""
        kept = self.copy
        if kept is None:
            raise ConfigError("the momentum copy is empty: call update() first")

        def swap() -> None:
            for i, param in enumerate(params):
                param.data, kept[i] = kept[i], param.data

        swap()
        try:
            yield
        finally:
            swap()

    def state_dict(self) -> dict[str, Any]:
        """The copy's tensors (``None`` before the first update)."""
        return {"copy": self.copy}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Put back :meth:`state_dict` (an empty ``state``: start afresh)."""
        saved = state.get("copy")
        self.copy = None if saved is None else [t.detach().clone().to(device) for t in saved]
