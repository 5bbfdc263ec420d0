"""Fine-tuning: triplet (labelled), SimCLR / MoCo / BYOL (unlabelled), CLIP (captions).

Which path fits which data — :func:`recommend`; one call per path —
:func:`finetune_triplet`, :func:`finetune_simclr` (:func:`finetune_moco`,
:func:`finetune_byol`), :func:`finetune_clip`; the parts —
``data`` (folders, CSVs, splits, samplers), ``augment`` (PIL/torch views), ``losses``,
``freeze`` (layer groups), ``loop`` (the one training loop), ``selection`` (what is
exported), ``checkpoint``.

Example:
    >>> from imagevec.training import finetune_triplet
    >>> finetune_triplet("products/", out="runs/products", epochs=5)  # doctest: +SKIP

Importing this package is cheap; torch loads with the first call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Augment": "imagevec.training.augment",
    "Recommendation": "imagevec.training.auto",
    "TrainConfig": "imagevec.training.loop",
    "TrainResult": "imagevec.training.loop",
    "fit": "imagevec.training.loop",
    "finetune": "imagevec.training.finetune",
    "finetune_byol": "imagevec.training.finetune",
    "finetune_clip": "imagevec.training.finetune",
    "finetune_moco": "imagevec.training.finetune",
    "finetune_selfsup": "imagevec.training.finetune",
    "finetune_simclr": "imagevec.training.finetune",
    "finetune_triplet": "imagevec.training.finetune",
    "recommend": "imagevec.training.auto",
}

if TYPE_CHECKING:
    from imagevec.training.augment import Augment
    from imagevec.training.auto import Recommendation, recommend
    from imagevec.training.finetune import (
        finetune,
        finetune_byol,
        finetune_clip,
        finetune_moco,
        finetune_selfsup,
        finetune_simclr,
        finetune_triplet,
    )
    from imagevec.training.loop import TrainConfig, TrainResult, fit


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imagevec.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Augment",
    "Recommendation",
    "TrainConfig",
    "TrainResult",
    "finetune",
    "finetune_byol",
    "finetune_clip",
    "finetune_moco",
    "finetune_selfsup",
    "finetune_simclr",
    "finetune_triplet",
    "fit",
    "recommend",
]
