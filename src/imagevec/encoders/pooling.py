"""Pooling of feature maps / token sequences to one vector, and the optional projection head.

Feature maps are ``(B, C, H, W)`` (CNNs); token sequences ``(B, N, C)`` (ViTs, without CLS).

Example:
    >>> import torch
    >>> pool(torch.ones(2, 2048, 7, 7), "avg").shape
    torch.Size([2, 2048])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from imagevec.errors import ConfigError

POOLINGS = ("avg", "max", "gem", "attention")
GEM_P = 3.0
#: Seed of the initial weights of an untrained projection head (the same in every process).
PROJECTION_SEED = 0


def check_pooling(
    pooling: str, allowed: Sequence[str] = POOLINGS, *, family: str | None = None
) -> str:
    """Return ``pooling`` if it is one of ``allowed``, else raise :class:`ConfigError`."""
    if pooling not in allowed:
        kind = f" for a {family} model" if family else ""
        raise ConfigError(f"unknown pooling {pooling!r}{kind}: use one of {', '.join(allowed)}")
    return pooling


def _as_positions(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` or ``(B, N, C)`` -> ``(B, positions, C)``."""
    if features.ndim == 4:
        return features.flatten(2).transpose(1, 2)
    if features.ndim == 3:
        return features
    raise ConfigError(
        f"pooling needs a (B,C,H,W) map or (B,N,C) tokens, got {tuple(features.shape)}"
    )


def pool(features: torch.Tensor, method: str = "avg") -> torch.Tensor:
    """Pool spatial positions into one ``(B, C)`` vector.

    Args:
        features: a ``(B, C, H, W)`` feature map or ``(B, N, C)`` tokens.
        method: ``avg`` (mean), ``max``, ``gem`` (generalised mean, p=3, on clamped
            activations) or ``attention`` (softmax over positions of the mean activation,
            then a weighted sum: salient regions count more, no learned weights).
    """
    x = _as_positions(features)
    if method == "avg":
        return x.mean(dim=1)
    if method == "max":
        return x.amax(dim=1)
    if method == "gem":
        return x.float().clamp(min=1e-6).pow(GEM_P).mean(dim=1).pow(1.0 / GEM_P).to(x.dtype)
    if method == "attention":
        weights = torch.softmax(x.float().mean(dim=2), dim=1).to(x.dtype)  # (B, positions)
        return torch.einsum("bp,bpc->bc", weights, x)
    check_pooling(method)
    raise AssertionError(method)  # pragma: no cover - check_pooling raised


class ProjectionHead(nn.Module):
    """Linear-ReLU-Linear map from the backbone's features to a chosen size.

    Args:
        in_dim: backbone feature size.
        out_dim: embedding size.
        hidden_dim: hidden width (defaults to ``in_dim``).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or in_dim
        self.in_dim, self.out_dim, self.hidden_dim = in_dim, out_dim, hidden
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``(B, in_dim)`` to ``(B, out_dim)``."""
        return self.net(x)

    def spec(self) -> dict[str, int]:
        """The sizes needed to rebuild this head."""
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "hidden_dim": self.hidden_dim}


def seeded_projection(in_dim: int, out_dim: int, hidden_dim: int | None = None) -> ProjectionHead:
    """A fresh :class:`ProjectionHead` initialised from :data:`PROJECTION_SEED`.

    The global RNG is left untouched, and the same sizes give the same weights in every
    process (so the head is part of what the fingerprint names, not a random draw).

    Raises:
        ConfigError: ``out_dim`` is not a positive integer.
    """
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        raise ConfigError(f"projection_dim must be a positive integer, got {out_dim!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PROJECTION_SEED)
        return ProjectionHead(in_dim, out_dim, hidden_dim)
