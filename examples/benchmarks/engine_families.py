"""Engine evidence per family: torch vs ONNX Runtime forward, int8 / bf16 fidelity and speed.

For the bundled default (real weights) and random-weight models of the real architectures
(CLIP ViT-B/32, ViT-B/16, ResNet-50; no download), on prepared ``uint8`` batches of real sample
photos (scikit-image / scikit-learn), in one process:

* forward images/s at batch 32: torch fp32, ONNX Runtime fp32, int8 (where offered), bf16;
* mean cosine to fp32 over the photos for int8 and bf16 (or why int8 is refused);
* ONNX Runtime fp32 end to end from JPEG files (decode, resize, batch loop) and its ratio to
  the forward alone (does the batching loop keep the engine busy?).

Usage::

    python examples/benchmarks/engine_families.py [--families default,clip,vit,resnet]
        [--batch 32] [--repeats 3] [--work /tmp/imagevec-engine-bench]

Random weights make the *speed* figures representative (same shapes, same kernels) but not
the int8 fidelity of trained weights; imagevec measures that on the user's own model when
an int8 graph is first made, and refuses int8 below a mean cosine of 0.99.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import imagevec
from imagevec.errors import PrecisionError

VIT_PROCESSOR = {
    "image_processor_type": "ViTImageProcessor",
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "size": {"height": 224, "width": 224},
}
RESNET_PROCESSOR = {
    "image_processor_type": "ConvNextImageProcessor",
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "size": {"shortest_edge": 224},
}


def build(family: str, work: Path) -> str:
    """A model folder (random weights, real architecture) or ``"default"``."""
    if family == "default":
        return "default"
    folder = work / family
    if (folder / "config.json").exists():
        return str(folder)
    import torch

    torch.manual_seed(0)
    if family == "clip":
        from imagevec.bench.models import build_random_clip

        return str(build_random_clip(folder))
    folder.mkdir(parents=True, exist_ok=True)
    if family == "vit":
        from transformers import ViTConfig, ViTModel

        ViTModel(ViTConfig(), add_pooling_layer=False).save_pretrained(str(folder))
        processor = VIT_PROCESSOR
    else:
        from transformers import ResNetConfig, ResNetModel

        ResNetModel(ResNetConfig()).save_pretrained(str(folder))
        processor = RESNET_PROCESSOR
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return str(folder)


def photos() -> list[Image.Image]:
    from imagevec.samples import sample_arrays

    return [Image.fromarray(a).convert("RGB") for a in sample_arrays().values()]


def jpeg_files(work: Path, count: int) -> list[Path]:
    """``count`` JPEG files (the sample photos, repeated) for the end-to-end timing."""
    folder = work / "jpegs"
    if not folder.exists():
        from imagevec.samples import write_sample_photos

        write_sample_photos(folder)
    found = sorted(folder.glob("*.jpg"))
    return [found[i % len(found)] for i in range(count)]


def rate(run: Any, batch: np.ndarray, repeats: int) -> float:
    """Best images/s of ``run(batch)`` over ``repeats`` timed calls (after one warm-up)."""
    run(batch)
    best = min(_timed(run, batch) for _ in range(repeats))
    return len(batch) / best


def _timed(run: Any, batch: np.ndarray) -> float:
    started = time.perf_counter()
    run(batch)
    return time.perf_counter() - started


def measure(family: str, work: Path, batch_size: int, repeats: int) -> dict[str, Any]:
    model = build(family, work)
    torch_enc = imagevec.create_encoder(model, device="cpu", engine="torch")
    onnx_enc = imagevec.create_encoder(model, device="cpu")
    images = photos()
    prepared = np.stack([torch_enc.preprocess.to_array(im) for im in images])
    batch = np.stack([prepared[i % len(prepared)] for i in range(batch_size)])
    reference = onnx_enc.run_images(prepared)
    row: dict[str, Any] = {
        "family": family,
        "photos": len(prepared),
        "torch_fp32_img_s": round(rate(torch_enc.run_images, batch, repeats), 1),
        "onnx_fp32_img_s": round(rate(onnx_enc.run_images, batch, repeats), 1),
        "onnx_vs_torch_cosine": float((reference * torch_enc.run_images(prepared)).sum(1).min()),
    }
    row["onnx_speedup"] = round(row["onnx_fp32_img_s"] / row["torch_fp32_img_s"], 2)
    files = jpeg_files(work, batch_size * 2)
    onnx_enc.embed_images(files[:batch_size], batch_size=batch_size)  # warm
    started = time.perf_counter()
    onnx_enc.embed_images(files, batch_size=batch_size)
    row["onnx_end_to_end_img_s"] = round(len(files) / (time.perf_counter() - started), 1)
    row["pipeline_ratio"] = round(row["onnx_end_to_end_img_s"] / row["onnx_fp32_img_s"], 2)
    try:
        int8 = imagevec.create_encoder(model, device="cpu", precision="int8")
        row["int8_method"] = int8.manifest["image"]["int8"]["method"]
        row["int8_img_s"] = round(rate(int8.run_images, batch, repeats), 1)
        row["int8_mean_cosine"] = float((int8.run_images(prepared) * reference).sum(1).mean())
    except PrecisionError as exc:
        row["int8_refused"] = str(exc)
    try:
        bf16 = imagevec.create_encoder(model, device="cpu", precision="bf16")
        row["bf16_engine"] = bf16.engine
        row["bf16_img_s"] = round(rate(bf16.run_images, batch, repeats), 1)
        row["bf16_mean_cosine"] = float((bf16.run_images(prepared) * reference).sum(1).mean())
    except PrecisionError as exc:
        row["bf16_refused"] = str(exc)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="default,clip,vit,resnet")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/imagevec-engine-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for family in args.families.split(","):
        row = measure(family, args.work, args.batch, args.repeats)
        row["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
