"""Training augmentation: shapes, determinism, the crop recipe, hand-checkable edits."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

import imagevec
from imagevec.training.augment import Augment, _shift_hue, random_resized_crop, to_pixels

PLAIN = Augment(size=(32, 40), scale=(1.0, 1.0), flip=0.0, jitter_p=0.0, grey=0.0, blur=0.0)


def _gradient(width: int = 120, height: int = 80) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    array = np.stack([np.tile(x, (height, 1))] * 3, axis=-1)
    array[..., 2] = 40
    return Image.fromarray(array)


@pytest.mark.parametrize("aug", [Augment.simclr((64, 64)), Augment.light((40, 56))])
def test_views_have_the_model_size_and_dtype(aug: Augment) -> None:
    view = aug(_gradient(), random.Random(0))
    assert view.shape == (*aug.size, 3) and view.dtype == np.uint8


def test_same_seed_same_view_other_seed_other_view() -> None:
    aug = Augment.simclr((48, 48))
    a = aug(_gradient(), random.Random(3))
    b = aug(_gradient(), random.Random(3))
    c = aug(_gradient(), random.Random(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_full_scale_crop_is_a_plain_resize() -> None:
    image = _gradient(96, 64)
    out = random_resized_crop(image, (64, 96), random.Random(0), scale=(1.0, 1.0), ratio=(1.5, 1.5))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image))


def test_crop_falls_back_to_a_centre_crop_for_extreme_shapes() -> None:
    image = _gradient(1000, 10)  # no 3/4..4/3 crop of 8-100% area fits
    out = random_resized_crop(image, (10, 13), random.Random(0))
    expected = image.crop((493, 0, 506, 10))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_crop_area_stays_in_the_scale_range() -> None:
    sizes = []
    original = Image.Image.resize

    def spy(self: Image.Image, size: tuple[int, int], *args: object, box=None, **kw: object):
        sizes.append((box[2] - box[0]) * (box[3] - box[1]))
        return original(self, size, *args, box=box, **kw)

    Image.Image.resize = spy  # type: ignore[method-assign]
    try:
        rng = random.Random(0)
        for _ in range(50):
            random_resized_crop(_gradient(200, 200), (20, 20), rng, scale=(0.3, 0.7))
    finally:
        Image.Image.resize = original  # type: ignore[method-assign]
    shares = np.array(sizes) / 40_000
    assert shares.min() >= 0.28 and shares.max() <= 0.72


def test_flip_only() -> None:
    image = _gradient(40, 32)  # ratio 1.25: a full-area crop is the whole image
    view = Augment(size=(32, 40), scale=(1.0, 1.0), flip=1.0, jitter_p=0, grey=0, blur=0)(
        image, random.Random(0)
    )
    np.testing.assert_array_equal(view, np.asarray(image)[:, ::-1])


def test_grey_makes_equal_channels_and_plain_keeps_pixels() -> None:
    image = _gradient(40, 32)
    np.testing.assert_array_equal(PLAIN(image, random.Random(0)), np.asarray(image))
    grey = Augment(size=(32, 40), scale=(1.0, 1.0), flip=0, jitter_p=0, grey=1.0, blur=0)
    view = grey(image, random.Random(0))
    assert (view[..., 0] == view[..., 1]).all() and (view[..., 1] == view[..., 2]).all()


def test_hue_shift_by_half_a_turn_turns_red_to_cyan() -> None:
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    r, g, b = np.asarray(_shift_hue(red, 0.5))[0, 0]
    assert r < 10 and g > 240 and b > 240


def test_to_pixels_uses_the_encoder_normalisation_and_is_contiguous() -> None:
    enc = imagevec.create_encoder("test-color", device="cpu", engine="torch")
    views = [np.full((32, 32, 3), 255, np.uint8), np.zeros((32, 32, 3), np.uint8)]
    pixels = to_pixels(views, enc)
    assert pixels.shape == (2, 3, 32, 32) and pixels.is_contiguous()
    assert torch.allclose(pixels[0], torch.ones(3, 32, 32))  # (1 - .5) / .5
    assert torch.allclose(pixels[1], -torch.ones(3, 32, 32))
