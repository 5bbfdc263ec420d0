"""CLIP: images and texts in one shared space (``transformers.CLIPModel``).

Image vectors are ``get_image_features`` (the vision tower's pooled output through the visual
projection); text vectors are ``get_text_features``. Texts longer than the model's context
(77 tokens for OpenAI CLIP) are truncated, never an error.

Example:
    >>> enc = imagevec.create_encoder("clip-vit-b32")               # doctest: +SKIP
    >>> enc.embed_texts(["a photo of a cat"]) @ enc.embed_images(["cat.jpg"]).T  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from imagevec.encoders.base import IMAGE, TEXT
from imagevec.encoders.hf import HFEncoder, group, pooled_output
from imagevec.encoders.hub import from_pretrained

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef


class CLIPEncoder(HFEncoder):
    """A CLIP model; ``pooling`` is always ``"clip"`` (the model's own pooling + projection).

    :meth:`layer_groups` covers the image tower: patch embeddings (+ pre-norm), one group per
    vision transformer block, then the head (post-norm, visual projection, projection head).
    The text tower is in no group.
    """

    family = "clip"
    poolings = ("clip",)
    modalities = frozenset({IMAGE, TEXT})
    default_processor: ClassVar[dict[str, Any]] = {  # openai/clip-vit-base-patch32
        "image_processor_type": "CLIPImageProcessor",
        "size": {"shortest_edge": 224},
        "crop_size": {"height": 224, "width": 224},
        "do_center_crop": True,
        "resample": 3,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }

    def load_backbone(self, ref: ModelRef) -> nn.Module:
        """Load ``CLIPModel`` and its tokenizer."""
        from transformers import AutoTokenizer, CLIPModel

        model = self.load_pretrained(CLIPModel, ref)
        self.tokenizer = from_pretrained(AutoTokenizer, ref.location, revision=ref.revision)
        limits = [model.config.text_config.max_position_embeddings]
        if isinstance(getattr(self.tokenizer, "model_max_length", None), int):
            limits.append(self.tokenizer.model_max_length)
        self.context_length = min(limits)
        return model

    def feature_dim(self) -> int:
        """The shared-space size (``projection_dim``)."""
        return int(self.backbone.config.projection_dim)

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``get_image_features``: the projected, pooled vision output."""
        return pooled_output(self.backbone.get_image_features(pixel_values=pixel_values))

    def forward_texts(self, texts: list[str]) -> torch.Tensor:
        """``get_text_features`` of the texts, truncated to the context length."""
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.context_length,
            return_tensors="pt",
        ).to(self.device)
        output = self.backbone.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        )
        return self.project(pooled_output(output))

    def runtime_text(self) -> dict[str, Any]:
        """The text tower is exported as a graph; the tokenizer is saved beside it."""
        return {"kind": "graph", "max_length": self.context_length}

    def text_graph(self) -> nn.Module:
        """``(input_ids, attention_mask) -> (B, dim)``: the projected text features."""
        return _TextGraph(self)

    def save_tokenizer(self, path: Path) -> None:
        """Write the fast tokenizer as ``tokenizers`` JSON, truncating to the context length
        and padding to the longest text, as :meth:`forward_texts` calls it."""
        backend = self.tokenizer.backend_tokenizer
        backend = type(backend).from_str(backend.to_str())  # a copy: leave ours untouched
        backend.enable_truncation(max_length=self.context_length)
        pad_id = self.tokenizer.pad_token_id
        pad_id = pad_id if pad_id is not None else 0
        backend.enable_padding(pad_id=pad_id, pad_token=str(self.tokenizer.pad_token or ""))
        backend.save(str(path))

    def layer_groups(self) -> list[nn.Module]:
        """Image tower from input to output (see the class docstring)."""
        vision = self.backbone.vision_model
        return [
            group(vision.embeddings, vision.pre_layrnorm),
            *vision.encoder.layers,
            group(vision.post_layernorm, self.backbone.visual_projection, self.projection),
        ]

    def save_extra(self, folder: Path) -> None:
        """Save the tokenizer next to the model."""
        self.tokenizer.save_pretrained(str(folder))


class _TextGraph(nn.Module):
    """The text tower as a module of token tensors (what the exporter traces)."""

    def __init__(self, encoder: CLIPEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.parts = nn.ModuleDict(encoder.modules())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Projected text features, not normalised."""
        output = self.encoder.backbone.get_text_features(
            input_ids=input_ids, attention_mask=attention_mask
        )
        return self.encoder.project(pooled_output(output)).float()


def load(ref: ModelRef, **options: Any) -> CLIPEncoder:
    """Family loader used by :func:`imagevec.create_encoder`."""
    return CLIPEncoder(ref, **options)
