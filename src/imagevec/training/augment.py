"""Training augmentation with PIL and torch (no torchvision): crops, flips, colour, grey, blur.

This is apart from the encoder's eval preprocessing (:mod:`imagevec.preprocess`): an
:class:`Augment` turns a PIL image into a ``uint8`` HxWx3 array of the model's input size,
and :func:`to_pixels` stacks a batch and normalises it with the encoder's own
``preprocess.normalize`` — the same numbers as at inference time.

Every random choice comes from the ``random.Random`` passed in, so a seeded run is
reproducible and its state can be checkpointed.

Example:
    >>> import random
    >>> from PIL import Image
    >>> aug = Augment.simclr((224, 224))
    >>> aug(Image.new("RGB", (320, 240), "red"), random.Random(0)).shape
    (224, 224, 3)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = ["Augment", "random_resized_crop", "to_pixels"]


def random_resized_crop(
    image: Image.Image,
    size: tuple[int, int],
    rng: random.Random,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Image.Image:
    """Crop a random area share (``scale``) and aspect ratio (``ratio``), resize to ``size``.

    Falls back to the largest centred crop of an allowed ratio after 10 failed draws (the
    Inception-style recipe).

    Args:
        image: the source image.
        size: output ``(height, width)``.
        rng: the random source.
        scale: the range of the crop's area as a share of the image's.
        ratio: the range of the crop's width / height.
    """
    width, height = image.size
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            break
    else:
        in_ratio = width / height
        if in_ratio < ratio[0]:
            w, h = width, min(height, round(width / ratio[0]))
        elif in_ratio > ratio[1]:
            w, h = min(width, round(height * ratio[1])), height
        else:
            w, h = width, height
        left, top = (width - w) // 2, (height - h) // 2
    out_h, out_w = size
    return image.resize(
        (out_w, out_h), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h)
    )


def _shift_hue(image: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` of a full turn (-0.5 .. 0.5)."""
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(shift * 255)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


@dataclass(frozen=True)
class Augment:
    """A random training view of an image, as a ``uint8`` array of the model's input size.

    Attributes:
        size: output ``(height, width)`` (the encoder's ``preprocess.output_size``).
        scale: area share range of the random resized crop.
        flip: probability of a horizontal flip.
        jitter: ``(brightness, contrast, saturation, hue)`` strengths; factors are drawn from
            ``[1 - s, 1 + s]`` (hue: a shift in ``[-s, s]`` of a turn).
        jitter_p: probability of applying the colour jitter.
        grey: probability of converting to greyscale.
        blur: probability of a Gaussian blur.
        blur_radius: range of the blur radius, in pixels of the output.
    """

    size: tuple[int, int] = (224, 224)
    scale: tuple[float, float] = (0.08, 1.0)
    flip: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grey: float = 0.2
    blur: float = 0.5
    blur_radius: tuple[float, float] = (0.1, 2.0)

    @classmethod
    def simclr(cls, size: tuple[int, int]) -> Augment:
        """The strong SimCLR recipe (Chen et al., 2020)."""
        return cls(size=size)

    @classmethod
    def light(cls, size: tuple[int, int]) -> Augment:
        """Milder views for supervised fine-tuning (triplet, CLIP)."""
        return cls(
            size=size,
            scale=(0.35, 1.0),
            jitter=(0.3, 0.3, 0.3, 0.05),
            jitter_p=0.5,
            grey=0.1,
            blur=0.2,
            blur_radius=(0.1, 1.5),
        )

    def __call__(self, image: Image.Image, rng: random.Random) -> np.ndarray:
        """One random view of ``image`` as ``uint8`` ``(h, w, 3)``."""
        view = random_resized_crop(image.convert("RGB"), self.size, rng, self.scale)
        if rng.random() < self.flip:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < self.jitter_p:
            view = self._colour_jitter(view, rng)
        if rng.random() < self.grey:
            view = view.convert("L").convert("RGB")
        if rng.random() < self.blur:
            view = view.filter(ImageFilter.GaussianBlur(rng.uniform(*self.blur_radius)))
        return np.asarray(view, dtype=np.uint8)

    def _colour_jitter(self, image: Image.Image, rng: random.Random) -> Image.Image:
        brightness, contrast, saturation, hue = self.jitter
        steps = [
            (ImageEnhance.Brightness, brightness),
            (ImageEnhance.Contrast, contrast),
            (ImageEnhance.Color, saturation),
        ]
        order = list(range(4))
        rng.shuffle(order)
        for step in order:
            if step < 3:
                enhancer, strength = steps[step]
                if strength > 0:
                    image = enhancer(image).enhance(rng.uniform(1 - strength, 1 + strength))
            elif hue > 0:
                image = _shift_hue(image, rng.uniform(-hue, hue))
        return image


def to_pixels(arrays: Sequence[np.ndarray], encoder: Encoder) -> torch.Tensor:
    """Stack ``uint8`` views and normalise them with the encoder's eval numbers.

    Returns:
        A contiguous ``(B, 3, H, W)`` tensor on the encoder's device, in its dtype.
        (``normalize`` returns a channels-last view; a convolution's backward pass on such
        a view crashes torch 2.13 on CPU, so training gets a contiguous copy.)
    """
    batch = torch.from_numpy(np.stack(arrays)).to(encoder.device)
    return encoder.preprocess.normalize(batch, encoder.dtype).contiguous()
