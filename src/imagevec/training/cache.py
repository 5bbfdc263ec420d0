"""Frozen-layer activation cache: run the frozen lower layers once, train the upper ones.

When the lower layer groups are frozen, their output for a given input never changes. So
each training view (a fixed set of augmented views per image, drawn once) and each
held-out image goes through the whole model once; the input of the first trainable group is
kept. Afterwards a forward pass starts from the stored activations: the encoder runs on a
tiny dummy image with every frozen group's modules passing their input through unchanged
(they cost nothing), and a forward pre-hook swaps the stored activations in at the first
trainable module.

The swap is checked, never assumed: :meth:`ActivationCache.build` compares the cached path
with the full forward pass on real images and returns ``None`` when they differ (a model
whose forward is not a plain chain through its groups), and the caller trains without it.

Example:
    >>> cache = ActivationCache.build(encoder, trainable, sample_pixels)   # doctest: +SKIP
    >>> acts = cache.capture(pixels)             # (B, C, H, W) at the trainable boundary
    >>> vectors = cache.forward(acts)            # == encoder.forward_images(pixels)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from imagevec.training.freeze import eval_mode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from imagevec.encoders.base import Encoder

__all__ = ["ActivationCache", "entry_module"]

#: Sides of the dummy image the (skipped) frozen layers see on the cached path, tried in turn.
DUMMY_SIDES = (8, 32)
#: Largest difference allowed between the cached path and the full forward pass.
TOLERANCE = 1e-3


def entry_module(group: nn.Module) -> nn.Module:
    """The first module a forward pass through ``group`` calls: containers are unwrapped."""
    module = group
    while isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module):
        module = module[0]
    return module


def called_modules(group: nn.Module) -> list[nn.Module]:
    """The modules a forward pass through ``group`` calls (containers unwrapped)."""
    if isinstance(group, (nn.ModuleList, nn.Sequential)):
        return [leaf for child in group for leaf in called_modules(child)]
    return [group]


def _passthrough(*args: Any, **_kwargs: Any) -> Any:
    return args[0]


class ActivationCache:
    """Stores activations at the trainable boundary and runs the model from there.

    Args:
        encoder: the encoder being trained.
        frozen: the frozen groups (skipped on the cached path).
        entry: the first module of the first trainable group.
        dummy_side: side of the dummy image fed to the (skipped) frozen layers.
    """

    def __init__(
        self, encoder: Encoder, frozen: Sequence[nn.Module], entry: nn.Module, dummy_side: int
    ) -> None:
        self.encoder, self.entry, self.dummy_side = encoder, entry, dummy_side
        self.skipped = [m for group in frozen for m in called_modules(group)]

    @classmethod
    def build(
        cls, encoder: Encoder, trainable: Sequence[nn.Module], sample: torch.Tensor
    ) -> ActivationCache | None:
        """A checked cache for ``encoder`` (or ``None`` when the shortcut is not exact).

        Args:
            encoder: the model (its lower groups frozen).
            trainable: the trainable groups, lowest first (a frozen group below the first is
                required: with nothing frozen there is nothing to save).
            sample: a few normalised pixel batches' worth of real images for the check.
        """
        groups = list(encoder.layer_groups())
        if not trainable or not groups:
            return None
        entry = entry_module(trainable[0])
        # Groups may be fresh containers on every call: match them by their first module.
        index = next((i for i, g in enumerate(groups) if entry_module(g) is entry), None)
        if not index:  # not found, or nothing frozen below it: nothing to save
            return None
        for side in DUMMY_SIDES:
            cache = cls(encoder, groups[:index], entry, side)
            try:
                with torch.no_grad(), eval_mode(encoder):
                    full = encoder.forward_images(sample).float()
                    cached = cache.forward(cache.capture(sample)).float()
            except (RuntimeError, ValueError, IndexError):
                continue
            if cached.shape == full.shape and (cached - full).abs().max() <= TOLERANCE:
                return cache
        return None

    def capture(self, pixels: torch.Tensor) -> torch.Tensor:
        """The activations entering the first trainable module for ``pixels`` (no graph)."""
        stored: list[torch.Tensor] = []

        def keep(_module: nn.Module, args: tuple[Any, ...]) -> None:
            stored.append(args[0].detach().clone())
            raise _CapturedError

        handle = self.entry.register_forward_pre_hook(keep)
        try:
            with torch.no_grad(), eval_mode(self.encoder):
                self.encoder.forward_images(pixels)
        except _CapturedError:
            pass
        finally:
            handle.remove()
        return stored[0]

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        """``encoder.forward_images`` of the images whose activations these are."""
        with self._swapped(activations):
            dummy = torch.zeros(
                (activations.shape[0], 3, self.dummy_side, self.dummy_side),
                device=activations.device,
                dtype=self.encoder.dtype,
            )
            return self.encoder.forward_images(dummy)

    @contextmanager
    def _swapped(self, activations: torch.Tensor) -> Iterator[None]:
        def swap(
            _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            return (activations, *args[1:]), kwargs

        handle = self.entry.register_forward_pre_hook(swap, with_kwargs=True)
        for module in self.skipped:
            module.forward = _passthrough  # an instance attribute shadows the method
        try:
            yield
        finally:
            handle.remove()
            for module in self.skipped:
                del module.forward


class _CapturedError(Exception):
    """Stops the forward pass once the boundary activations are stored."""
