"""ResNet (``transformers.ResNetModel``): the last feature map, pooled.

The last stage's map (``[2048, 7, 7]`` for ResNet-50 at 224 px) is pooled with ``avg``
(default), ``max``, ``gem`` or ``attention`` (:func:`imagevec.encoders.pooling.pool`).

Example:
    >>> enc = imagevec.create_encoder("resnet50", pooling="gem")     # doctest: +SKIP
    >>> enc.dim                                                     # doctest: +SKIP
    2048
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from imagevec.encoders.hf import HFEncoder
from imagevec.encoders.pooling import POOLINGS, pool

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef


class ResNetEncoder(HFEncoder):
    """A ResNet backbone; ``dim`` = the last hidden size (2048 for ResNet-50).

    :meth:`layer_groups`: the stem (``embedder``), one group per stage, then the projection
    head when there is one (pooling has no weights).
    """

    family = "resnet"
    poolings = POOLINGS
    default_processor: ClassVar[dict[str, Any]] = {  # microsoft/resnet-50
        "image_processor_type": "ConvNextImageProcessor",
        "size": {"shortest_edge": 224},
        "crop_pct": 0.875,
        "resample": 3,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
    }

    def load_backbone(self, ref: ModelRef) -> nn.Module:
        """Load the base ``ResNetModel`` (a classifier head in the checkpoint is dropped)."""
        from transformers import AutoModel

        return self.load_pretrained(AutoModel, ref)

    def feature_dim(self) -> int:
        """The channels of the last stage."""
        return int(self.backbone.config.hidden_sizes[-1])

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pool the last feature map ``(B, C, H, W)`` to ``(B, C)``."""
        feature_map = self.backbone(pixel_values=pixel_values).last_hidden_state
        return pool(feature_map, self.pooling or "avg")

    def layer_groups(self) -> list[nn.Module]:
        """Stem, each stage, projection head (if any)."""
        groups: list[nn.Module] = [self.backbone.embedder, *self.backbone.encoder.stages]
        if self.projection is not None:
            groups.append(self.projection)
        return groups


def load(ref: ModelRef, **options: Any) -> ResNetEncoder:
    """Family loader used by :func:`imagevec.create_encoder`."""
    return ResNetEncoder(ref, **options)
