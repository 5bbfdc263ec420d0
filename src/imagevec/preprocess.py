"""The encoder's own eval preprocessing: resize, centre crop, normalise (the fast path).

Numpy and PIL only (no torch): the batching loop's worker threads turn a PIL image into a
normalised ``float32`` ``(3, H, W)`` array (:meth:`Preprocess.to_pixels`: the ``uint8`` resize
and crop of :meth:`~Preprocess.to_array`, then :meth:`~Preprocess.normalize_array`, a lookup table
whose values equal the reference ``(x / 255 - mean) / std`` in float32 bit for bit). The numbers
come from the model's own image-processor config (:meth:`Preprocess.from_hf`), the way timm
resolves its data config; training augmentation lives apart, in ``imagevec.training``, and
normalises its own tensors with :meth:`Preprocess.normalize` (the one method that needs torch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from imagevec.errors import ConfigError

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Image processors whose bare-int ``size`` is the short side (transformers'
# ``default_to_square = False``); for the others (ViT, DeiT, ...) it is a square.
_CROP_FIRST = 4  # resized area above this many crops: resample only what the crop keeps
_SHORT_SIDE_INT_SIZE = ("CLIP", "ChineseCLIP", "ConvNext", "Bit", "MobileNet", "EfficientNet")


@dataclass(frozen=True)
class Preprocess:
    """Eval preprocessing of one encoder.

    Attributes:
        resize: ``("shortest", n)`` scales the short side to ``n`` keeping the aspect ratio;
            ``("exact", h, w)`` scales to exactly ``h x w``.
        crop: centre crop ``(h, w)`` after the resize, or ``None``.
        resample: a PIL resampling filter number (``Image.Resampling.BICUBIC`` = 3).
        mean: per-channel mean, on the 0..1 scale.
        std: per-channel std, on the 0..1 scale.

    Example:
        >>> pre = Preprocess(resize=("shortest", 224), crop=(224, 224))
        >>> pre.to_array(Image.new("RGB", (640, 480))).shape
        (224, 224, 3)
    """

    resize: tuple[Any, ...] = ("shortest", 224)
    crop: tuple[int, int] | None = (224, 224)
    resample: int = int(Image.Resampling.BICUBIC)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        kind = self.resize[0] if self.resize else None
        if kind not in ("shortest", "exact"):
            raise ConfigError(
                f"resize must be ('shortest', n) or ('exact', h, w), got {self.resize}"
            )

    @property
    def output_size(self) -> tuple[int, int]:
        """The ``(h, w)`` of the arrays this produces."""
        if self.crop is not None:
            return self.crop
        if self.resize[0] == "exact":
            return (int(self.resize[1]), int(self.resize[2]))
        raise ConfigError("a 'shortest' resize without a crop has no fixed output size")

    @property
    def draft_size(self) -> int:
        """The short side a decoder must keep (JPEG draft mode may shrink down to it)."""
        if self.resize[0] == "shortest":
            return int(self.resize[1])
        return int(max(self.resize[1], self.resize[2]))

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(w, h)`` after the resize step, with the reference processors' rounding."""
        if self.resize[0] == "exact":
            return (int(self.resize[2]), int(self.resize[1]))
        target = int(self.resize[1])
        if width <= height:
            return (target, int(target * height / width))
        return (int(target * width / height), target)

    def to_array(self, image: Image.Image) -> np.ndarray:
        """Resize and crop an RGB image; returns a ``uint8`` array of shape ``(h, w, 3)``.

        The work is bounded by the output size: when the resized image would be much larger
        than the crop (an extreme aspect ratio such as a 1 x 30000 sliver, whose short side is
        scaled up), only the region that survives the crop is resampled.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        size = self.resized_size(*image.size)
        if self.crop is not None and size[0] * size[1] > _CROP_FIRST * self.crop[0] * self.crop[1]:
            return self._crop_then_resize(image, size)
        if size != image.size:
            image = image.resize(size, resample=self.resample)
        if self.crop is not None:
            crop_h, crop_w = self.crop
            width, height = image.size
            if width < crop_w or height < crop_h:
                image = _pad_to(image, max(width, crop_w), max(height, crop_h))
                width, height = image.size
            top = (height - crop_h) // 2
            left = (width - crop_w) // 2
            image = image.crop((left, top, left + crop_w, top + crop_h))
        return np.asarray(image, dtype=np.uint8)

    def _crop_then_resize(self, image: Image.Image, size: tuple[int, int]) -> np.ndarray:
        """Resample only the source region that the centre crop keeps (same geometry)."""
        crop_h, crop_w = self.crop or size[::-1]
        width, height = size
        out_w, out_h = min(crop_w, width), min(crop_h, height)
        left, top = (width - out_w) // 2, (height - out_h) // 2
        scale_x, scale_y = image.width / width, image.height / height
        box = (
            left * scale_x,
            top * scale_y,
            (left + out_w) * scale_x,
            (top + out_h) * scale_y,
        )
        region = image.resize((out_w, out_h), resample=self.resample, box=box)
        if (out_w, out_h) != (crop_w, crop_h):
            region = _pad_to(region, crop_w, crop_h)
        return np.asarray(region, dtype=np.uint8)

    @cached_property
    def _table(self) -> np.ndarray:
        """``(3, 256)`` float32: channel ``c``'s normalised value of each byte, computed as
        ``(byte / 255 - mean[c]) / std[c]`` in float32 (the reference arithmetic)."""
        levels = np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)[:, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None]
        return np.ascontiguousarray((levels - mean) / std, dtype=np.float32)

    def normalize_array(self, array: np.ndarray) -> np.ndarray:
        """``uint8`` ``(..., H, W, 3)`` -> normalised ``float32`` ``(..., 3, H, W)`` (numpy).

        Equal bit for bit to :meth:`normalize` (and to ``(x / 255 - mean) / std`` in float32).

        Example:
            >>> pre = Preprocess(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
            >>> pre.normalize_array(np.full((2, 2, 3), 255, np.uint8))[:, 0, 0].tolist()
            [1.0, 1.0, 1.0]
        """
        if array.dtype != np.uint8 or array.shape[-1] != 3:
            raise ConfigError(
                f"expected uint8 (..., H, W, 3) pixels, got {array.dtype} {array.shape}"
            )
        table = self._table
        channels = [table[c].take(array[..., c]) for c in range(3)]
        return np.stack(channels, axis=-3)

    def to_pixels(self, image: Image.Image) -> np.ndarray:
        """Resize, crop and normalise one image: ``float32`` ``(3, h, w)``, the model's input."""
        return self.normalize_array(self.to_array(image))

    def normalize(self, batch: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Torch twin of :meth:`normalize_array` for training, on the tensor's device: a
        ``uint8`` ``(B, H, W, 3)`` tensor -> normalised ``(B, 3, H, W)`` (float32 unless
        ``dtype`` says otherwise). Inference never calls it (it imports torch)."""
        import torch  # training only: the eval path above needs no torch

        x = batch.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std).to(dtype or torch.float32)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form; :meth:`from_dict` reads it back."""
        data = asdict(self)
        data["resize"] = list(self.resize)
        data["crop"] = list(self.crop) if self.crop else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocess:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            resize=tuple(data["resize"]),
            crop=tuple(data["crop"]) if data.get("crop") else None,
            resample=int(data.get("resample", Image.Resampling.BICUBIC)),
            mean=tuple(data["mean"]),
            std=tuple(data["std"]),
        )

    @classmethod
    def from_hf(cls, config: Mapping[str, Any]) -> Preprocess:
        """Derive the fast path from a Hugging Face ``preprocessor_config.json`` dict.

        Understands the CLIP (shortest edge + crop), ViT (exact size) and ConvNeXt/ResNet
        (``crop_pct``) conventions. A bare int ``size`` means the short side for the processors
        that say so in ``transformers`` (CLIP, ConvNeXt, BiT, ...) and a square otherwise, as
        ``get_size_dict(default_to_square=...)`` reads it.
        """
        size = config.get("size", 224)
        kind = str(config.get("image_processor_type") or config.get("feature_extractor_type") or "")
        mean = tuple(config.get("image_mean", IMAGENET_MEAN))
        std = tuple(config.get("image_std", IMAGENET_STD))
        resample = int(config.get("resample", Image.Resampling.BILINEAR))
        if not config.get("do_normalize", True):
            mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        if isinstance(size, int):
            square = not kind.startswith(_SHORT_SIDE_INT_SIZE)
            size = {"height": size, "width": size} if square else {"shortest_edge": size}
        crop_cfg = config.get("crop_size") if config.get("do_center_crop", False) else None
        if isinstance(crop_cfg, int):
            crop_cfg = {"height": crop_cfg, "width": crop_cfg}
        if "shortest_edge" in size:
            short = int(size["shortest_edge"])
            crop_pct = config.get("crop_pct")
            if crop_pct is not None and "crop_size" not in config:
                if short >= 384:  # ConvNeXt warps to a square at 384 and above
                    return cls(("exact", short, short), None, resample, mean, std)
                # ConvNeXt-style: resize to short / crop_pct, then centre crop to short.
                return cls(("shortest", int(short / crop_pct)), (short, short), resample, mean, std)
            crop = (int(crop_cfg["height"]), int(crop_cfg["width"])) if crop_cfg else None
            if crop is None:
                crop = (short, short)
            return cls(("shortest", short), crop, resample, mean, std)
        height, width = int(size["height"]), int(size["width"])
        crop = (int(crop_cfg["height"]), int(crop_cfg["width"])) if crop_cfg else None
        return cls(("exact", height, width), crop, resample, mean, std)


def _pad_to(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre a too-small image on a black canvas so a crop stays in bounds."""
    canvas = Image.new("RGB", (width, height))
    # transformers' center_crop puts the odd pixel of padding first (ceil), so do we.
    canvas.paste(image, (-(-(width - image.width) // 2), -(-(height - image.height) // 2)))
    return canvas
