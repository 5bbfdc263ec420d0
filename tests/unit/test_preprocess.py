"""``Preprocess``: derived from real processor configs, pixel-identical to transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imagevec.errors import ConfigError
from imagevec.preprocess import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, Preprocess
from tests.tiny_models import CLIP_PROCESSOR, DINOV2_PROCESSOR, RESNET_PROCESSOR, VIT_PROCESSOR

HALF = (0.5, 0.5, 0.5)
CONFIGS = {
    "clip": (CLIP_PROCESSOR, Preprocess(("shortest", 224), (224, 224), 3, CLIP_MEAN, CLIP_STD)),
    "vit": (VIT_PROCESSOR, Preprocess(("exact", 224, 224), None, 2, HALF, HALF)),
    "dinov2": (
        DINOV2_PROCESSOR,
        Preprocess(("shortest", 256), (224, 224), 3, IMAGENET_MEAN, IMAGENET_STD),
    ),
    "resnet": (
        RESNET_PROCESSOR,
        Preprocess(("shortest", 256), (224, 224), 3, IMAGENET_MEAN, IMAGENET_STD),
    ),
    "clip-dict-sizes": (
        {
            "image_processor_type": "CLIPImageProcessor",
            "size": {"shortest_edge": 224},
            "crop_size": {"height": 224, "width": 224},
            "do_center_crop": True,
            "resample": 3,
            "image_mean": list(CLIP_MEAN),
            "image_std": list(CLIP_STD),
        },
        Preprocess(("shortest", 224), (224, 224), 3, CLIP_MEAN, CLIP_STD),
    ),
    "vit-384-int-size": (
        {**VIT_PROCESSOR, "size": 384},
        Preprocess(("exact", 384, 384), None, 2, HALF, HALF),
    ),
    "convnext-384-warps": (
        {**RESNET_PROCESSOR, "size": {"shortest_edge": 384}},
        Preprocess(("exact", 384, 384), None, 3, IMAGENET_MEAN, IMAGENET_STD),
    ),
    "crop-larger-than-resize": (  # pads with black, odd padding first like transformers
        {**CLIP_PROCESSOR, "size": 101, "crop_size": {"height": 128, "width": 96}},
        Preprocess(("shortest", 101), (128, 96), 3, CLIP_MEAN, CLIP_STD),
    ),
}


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    from skimage import data

    coffee, chelsea = data.coffee(), data.chelsea()
    arrays = [chelsea, coffee[:, 180:430], chelsea[60:180, 140:301], data.camera()[::2, 51:450]]
    return [Image.fromarray(np.ascontiguousarray(a)).convert("RGB") for a in arrays]


def _processor(config: dict, folder: Path):
    from transformers import AutoImageProcessor

    folder.mkdir(exist_ok=True)
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    return AutoImageProcessor.from_pretrained(folder)


@pytest.mark.parametrize("name", CONFIGS)
def test_from_hf_reads_raw_and_resolved_configs(name: str, tmp_path: Path) -> None:
    raw, expected = CONFIGS[name]
    assert Preprocess.from_hf(raw) == expected
    resolved = json.loads(json.dumps(_processor(raw, tmp_path).to_dict()))
    assert Preprocess.from_hf(resolved) == expected


@pytest.mark.parametrize("name", CONFIGS)
def test_pixels_equal_the_transformers_processor(
    name: str, images: list[Image.Image], tmp_path: Path
) -> None:
    raw, pre = CONFIGS[name]
    expected = _processor(raw, tmp_path)(images=images, return_tensors="np")["pixel_values"]
    actual = np.stack([pre.to_pixels(image) for image in images])  # the numpy eval path
    assert actual.shape == expected.shape == (len(images), 3, *pre.output_size)
    assert np.abs(actual - expected).max() < 1e-5


@pytest.mark.parametrize("name", CONFIGS)
def test_numpy_normalise_equals_the_torch_one_bit_for_bit(name: str) -> None:
    pre = CONFIGS[name][1]
    batch = np.random.default_rng(0).integers(0, 256, (3, 17, 23, 3), dtype=np.uint8)
    batch[0, 0, :3] = [[0, 0, 0], [255, 255, 255], [127, 128, 1]]
    expected = pre.normalize(torch.from_numpy(batch)).numpy()
    actual = pre.normalize_array(batch)
    assert actual.dtype == np.float32 and actual.shape == (3, 3, 17, 23)
    assert np.array_equal(actual, expected)
    assert np.array_equal(pre.normalize_array(batch[1]), expected[1])


def test_numpy_normalise_refuses_what_is_not_rgb_bytes() -> None:
    pre = CONFIGS["vit"][1]
    with pytest.raises(ConfigError):
        pre.normalize_array(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ConfigError):
        pre.normalize_array(np.zeros((4, 4, 4), dtype=np.uint8))


def test_int_size_convention_follows_the_processor_type() -> None:
    assert Preprocess.from_hf({"size": 300}).resize == ("exact", 300, 300)
    clip = Preprocess.from_hf({"feature_extractor_type": "CLIPFeatureExtractor", "size": 300})
    assert clip.resize == ("shortest", 300) and clip.crop == (300, 300)


def test_normalize_dtype_and_layout() -> None:
    pre = CONFIGS["vit"][1]
    batch = torch.full((2, 224, 224, 3), 255, dtype=torch.uint8)
    out = pre.normalize(batch, torch.bfloat16)
    assert out.shape == (2, 3, 224, 224) and out.dtype == torch.bfloat16
    assert torch.all(out == 1.0)  # (1 - 0.5) / 0.5


def test_sizes_and_round_trip() -> None:
    pre = CONFIGS["resnet"][1]
    assert pre.output_size == (224, 224) and pre.draft_size == 256
    assert pre.resized_size(640, 480) == (341, 256) and pre.resized_size(300, 451) == (256, 384)
    assert CONFIGS["vit"][1].draft_size == 224 and CONFIGS["vit"][1].output_size == (224, 224)
    for _, each in CONFIGS.values():
        assert Preprocess.from_dict(json.loads(json.dumps(each.to_dict()))) == each


def test_bad_resize_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Preprocess(resize=("stretch", 224))
    with pytest.raises(ConfigError):
        _ = Preprocess(("shortest", 224), None).output_size
