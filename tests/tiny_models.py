"""Tiny random-weight CLIP / ViT / DINOv2 / ResNet models, saved like hub checkpoints.

Each builder writes a folder that loads exactly like a real checkpoint: ``config.json`` +
``model.safetensors`` (``save_pretrained``), the real model's ``preprocessor_config.json``
(values copied from the hub repo, so preprocessing parity is tested on realistic settings) and,
for CLIP, a small byte-level BPE tokenizer. Networks are tiny (a few layers of width 32) but
``image_size`` is 224 so the processors match the real ones. Nothing is downloaded.

Plain functions, so any test module can use them::

    from tests.tiny_models import build_tiny_clip
    folder = build_tiny_clip(tmp_path / "clip")
    enc = imagevec.create_encoder(str(folder))

:func:`fake_hub_cache` copies such a folder into a Hugging Face cache layout
(``models--org--name/snapshots/<sha>/``) so ``create_encoder("hf:org/name")`` can be tested
offline through the same code path users hit. :func:`tiny_model` builds each kind once per
process (a session-wide cache without fixtures); treat those folders as read-only.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagevec.bench.models import CLIP_PROCESSOR, build_byte_tokenizer, byte_level_vocab

SEED = 1234
_SHA = "0123456789abcdef0123456789abcdef01234567"

# The real preprocessor_config.json values of the models the catalogue points at.
VIT_PROCESSOR = {  # google/vit-base-patch16-224-in21k
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ViTFeatureExtractor",
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "size": 224,
}
DINOV2_PROCESSOR = {  # facebook/dinov2-small
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_processor_type": "BitImageProcessor",
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 256},
}
RESNET_PROCESSOR = {  # microsoft/resnet-50
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ConvNextFeatureExtractor",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "size": 224,
}

_TINY_VIT = {
    "image_size": 224,
    "patch_size": 32,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
}


@contextlib.contextmanager
def _seeded() -> Iterator[None]:
    """Fixed weights for the tiny models, without touching the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        yield


def _save(model: torch.nn.Module, folder: Path, processor: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return folder


def build_tiny_tokenizer(folder: str | Path) -> Path:
    """Write a small byte-level CLIP tokenizer (``CLIPTokenizer``, 77-token context)."""
    return build_byte_tokenizer(folder, context=77)


def build_tiny_clip(folder: str | Path, *, projection_dim: int = 16) -> Path:
    """Save a tiny random ``CLIPModel`` + tokenizer + CLIP processor config; returns the folder."""
    from transformers import CLIPConfig, CLIPModel

    folder = Path(folder)
    vocab_size = len(byte_level_vocab()[0])
    config = CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1,
            "pad_token_id": vocab_size - 1,
        },
        vision_config=dict(_TINY_VIT),
        projection_dim=projection_dim,
    )
    with _seeded():
        _save(CLIPModel(config).eval(), folder, CLIP_PROCESSOR)
    build_tiny_tokenizer(folder)
    return folder


def build_tiny_vit(folder: str | Path, *, classifier: bool = False) -> Path:
    """Save a tiny random ``ViTModel`` (``ViTForImageClassification`` with ``classifier=True``,
    which has no pooler) with the ViT-in21k processor config; returns the folder."""
    from transformers import ViTConfig, ViTForImageClassification, ViTModel

    with _seeded():
        if classifier:
            model = ViTForImageClassification(ViTConfig(**_TINY_VIT, num_labels=3))
        else:
            model = ViTModel(ViTConfig(**_TINY_VIT))
    return _save(model.eval(), Path(folder), VIT_PROCESSOR)


def build_tiny_dinov2(folder: str | Path) -> Path:
    """Save a tiny random ``Dinov2Model`` with the DINOv2 (Bit) processor config."""
    from transformers import Dinov2Config, Dinov2Model

    config = Dinov2Config(**{**_TINY_VIT, "image_size": 518, "patch_size": 14, "mlp_ratio": 2})
    with _seeded():
        model = Dinov2Model(config).eval()
    return _save(model, Path(folder), DINOV2_PROCESSOR)


def build_tiny_resnet(folder: str | Path) -> Path:
    """Save a tiny random ResNet (as ``ResNetForImageClassification``, like
    ``microsoft/resnet-50``) with the ResNet-50 (ConvNeXt-style) processor config."""
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        layer_type="bottleneck",
        num_labels=3,
    )
    with _seeded():
        model = ResNetForImageClassification(config).eval()
    return _save(model, Path(folder), RESNET_PROCESSOR)


def fake_hub_cache(cache: str | Path, repo_id: str, model_folder: str | Path) -> Path:
    """Copy a model folder into a Hugging Face hub cache layout under ``cache``.

    Writes ``models--<org>--<name>/snapshots/<sha>/<files>`` and ``refs/main`` = ``<sha>``,
    which is what ``huggingface_hub`` reads with ``local_files_only=True``. Returns the
    snapshot folder.
    """
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / _SHA
    shutil.copytree(model_folder, snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(_SHA)
    return snapshot


BUILDERS = {
    "clip": build_tiny_clip,
    "vit": build_tiny_vit,
    "dinov2": build_tiny_dinov2,
    "resnet": build_tiny_resnet,
}


@functools.cache
def tiny_model(kind: str) -> Path:
    """A tiny model of ``kind`` (``clip``, ``vit``, ``dinov2``, ``resnet``), built once per
    process in a temporary folder removed at exit. Do not write into it."""
    root = Path(tempfile.mkdtemp(prefix=f"imagevec-tiny-{kind}-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return BUILDERS[kind](root / f"tiny-{kind}")


@functools.cache
def _photo_arrays() -> dict[str, np.ndarray]:
    from skimage import data

    coffee, chelsea = data.coffee(), data.chelsea()
    arrays = {
        "chelsea": chelsea,  # 451x300
        "astronaut": data.astronaut(),  # 512x512
        "coffee": coffee,  # 600x400
        "portrait": coffee[:, 180:430],  # 250x400
        "small": chelsea[60:180, 140:301],  # 161x120, smaller than 224: upscaled
        "grey": data.camera()[::2, 50:450],  # 400x256, mode L
    }
    return {name: np.ascontiguousarray(array) for name, array in arrays.items()}


def sample_photos() -> dict[str, Image.Image]:
    """Real photos (scikit-image) in the shapes that matter: landscape, square, portrait,
    smaller than 224 px, greyscale."""
    return {name: Image.fromarray(array) for name, array in _photo_arrays().items()}


def write_photos(folder: str | Path) -> list[Path]:
    """:func:`sample_photos` as lossless PNG files in ``folder``; returns the paths in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in sample_photos().items():
        image.save(folder / f"{name}.png")
        paths.append(folder / f"{name}.png")
    return paths
