"""Which weights train, and in which mode: freezing lower layers, train/eval switching.

An encoder lists its image path's blocks from input to output with ``layer_groups()``.
Freezing ``n`` means the first ``n`` groups keep their pretrained weights (no gradient, eval
mode, BatchNorm statistics untouched); the groups above them train. Weights in no group (a
text tower, a bridge) never train unless an objective adds them.

Example:
    >>> frozen, trainable = split_groups(layer_groups(encoder), freeze=3)   # doctest: +SKIP
    >>> params = make_trainable(encoder, trainable)                        # doctest: +SKIP
    >>> set_train_mode(encoder, trainable)                                 # doctest: +SKIP
    >>> with eval_mode(encoder):                                           # doctest: +SKIP
    ...     vectors = encoder.embed_images(images)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import nn

from imagevec.encoders.base import eval_mode
from imagevec.errors import ConfigError

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = [
    "count_parameters",
    "default_freeze",
    "eval_mode",
    "image_trainable",
    "layer_groups",
    "make_trainable",
    "set_train_mode",
    "split_groups",
]

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def layer_groups(encoder: Encoder) -> list[nn.Module]:
    """The encoder's image-path blocks, input to output (empty for encoders without them)."""
    return list(encoder.layer_groups())


def default_freeze(n_groups: int) -> int:
    """The default number of frozen groups: the lower half (the recipe for a few thousand
    labelled images: general low-level features stay, the upper layers adapt)."""
    return n_groups // 2


def split_groups(
    groups: Sequence[nn.Module], freeze: int | None
) -> tuple[list[nn.Module], list[nn.Module]]:
    """``(frozen, trainable)`` groups for ``freeze`` (``None``: :func:`default_freeze`;
    negative: keep only the top ``-freeze`` groups trainable).

    Raises:
        ConfigError: ``freeze`` leaves no group to train.
    """
    n = len(groups)
    if freeze is None:
        freeze = default_freeze(n)
    elif freeze < 0:
        freeze = max(n + freeze, 0)
    if freeze >= n and n:
        raise ConfigError(f"freeze={freeze} leaves nothing to train: the model has {n} groups")
    return list(groups[:freeze]), list(groups[freeze:])


def image_trainable(encoder: Encoder, freeze: int | None) -> list[nn.Module]:
    """The image-path groups left to train when the lower ``freeze`` are frozen."""
    return split_groups(layer_groups(encoder), freeze)[1]


def make_trainable(encoder: Encoder, trainable: Sequence[nn.Module]) -> list[nn.Parameter]:
    """Turn gradients off for every weight of the encoder, then on for ``trainable``.

    Returns:
        The parameters to optimise (each once).

    Raises:
        ConfigError: no parameter is left to train.
    """
    for module in encoder.modules().values():
        module.requires_grad_(False)
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in trainable:
        for param in module.parameters():
            if id(param) not in seen:
                seen.add(id(param))
                param.requires_grad_(True)
                params.append(param)
    if not params:
        raise ConfigError(
            f"{encoder.name!r} has no trainable layer groups (it needs layer_groups())"
        )
    return params


def set_train_mode(
    encoder: Encoder, trainable: Sequence[nn.Module], *, freeze_norm_stats: bool = True
) -> None:
    """Everything in eval mode except the ``trainable`` modules.

    Args:
        encoder: the model.
        trainable: the modules being trained.
        freeze_norm_stats: keep BatchNorm layers in eval mode even inside trainable modules
            (running statistics fixed, affine weights still learn): stable with the small
            batches of a CPU run.
    """
    for module in encoder.modules().values():
        module.eval()
    for module in trainable:
        module.train()
        if freeze_norm_stats:
            for sub in module.modules():
                if isinstance(sub, _NORMS):
                    sub.eval()


def count_parameters(modules: Sequence[nn.Module]) -> int:
    """Number of distinct parameters in ``modules``."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for param in module.parameters():
            seen.setdefault(id(param), param)
    return sum(p.numel() for p in seen.values())
