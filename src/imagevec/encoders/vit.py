"""Vision transformers (``ViTModel``, ``Dinov2Model``, ``DeiTModel`` via ``AutoModel``).

Pooling: ``cls`` (default) takes the final-norm CLS token; ``mean`` averages the patch tokens
(CLS, distillation and register tokens left out). Image only.

Example:
    >>> enc = imagevec.create_encoder("dinov2-small", pooling="mean")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from imagevec.encoders.hf import HFEncoder, group

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef


class ViTEncoder(HFEncoder):
    """A ViT-style backbone; ``dim`` = ``hidden_size``.

    :meth:`layer_groups`: patch embeddings, one group per transformer block, then the head
    (final layer norm + projection head). The unused ``pooler`` of ViT checkpoints is in no group.
    """

    family = "vit"
    poolings = ("cls", "mean")
    ignore_missing = ("pooler.",)  # classifier checkpoints have none; it is not used
    default_processor: ClassVar[dict[str, Any]] = {  # google/vit-base-patch16-224-in21k
        "image_processor_type": "ViTImageProcessor",
        "size": {"height": 224, "width": 224},
        "resample": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }

    def load_backbone(self, ref: ModelRef) -> nn.Module:
        """Load the base model with ``AutoModel``."""
        from transformers import AutoModel

        model = self.load_pretrained(AutoModel, ref)
        config = model.config
        extra = 1 if config.model_type == "deit" else 0  # DeiT's distillation token
        self.prefix_tokens = 1 + extra + int(getattr(config, "num_register_tokens", 0) or 0)
        return model

    def feature_dim(self) -> int:
        """``hidden_size``."""
        return int(self.backbone.config.hidden_size)

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLS token or mean of the patch tokens of ``last_hidden_state``."""
        kwargs: dict[str, Any] = {}
        if self.backbone.config.model_type != "dinov2":  # DINOv2 always interpolates
            image_size = self.backbone.config.image_size
            kwargs["interpolate_pos_encoding"] = tuple(pixel_values.shape[-2:]) != (
                image_size,
                image_size,
            )
        tokens = self.backbone(pixel_values=pixel_values, **kwargs).last_hidden_state
        if self.pooling == "cls":
            return tokens[:, 0]
        return tokens[:, self.prefix_tokens :].mean(dim=1)

    def layer_groups(self) -> list[nn.Module]:
        """Embeddings, each block, head (see the class docstring)."""
        model = self.backbone
        blocks = getattr(model, "layers", None)
        if blocks is None:
            blocks = model.encoder.layer
        return [model.embeddings, *blocks, group(model.layernorm, self.projection)]


def load(ref: ModelRef, **options: Any) -> ViTEncoder:
    """Family loader used by :func:`imagevec.create_encoder`."""
    return ViTEncoder(ref, **options)
