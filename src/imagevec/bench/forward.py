"""Throughput benchmark: ``imagevec bench forward``.

For each encoder and dtype it prints images/s for
    (a) ``forward``: the model alone on ready, normalised tensors;
    (b) ``end-to-end``: ``embed_images`` on a folder of camera-sized JPEGs (decode, resize,
        batch, forward, normalise — what users get);
and, for CLIP models, (c) ``baseline``: a one-image-at-a-time loop with the stock
``transformers`` processor, which is what LangChain's and LlamaIndex's CLIP classes do.

``clip-b32-random`` is a random-weight CLIP ViT-B/32 (same speed as the real one, no
download); any name ``create_encoder`` takes works too.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.bench.models import build_random_clip
from imagevec.encoders.factory import create_encoder
from imagevec.encoders.hub import infer_family
from imagevec.encoders.runtime import dtype_name
from imagevec.samples import sample_arrays

RANDOM_CLIP = "clip-b32-random"


def make_camera_jpegs(folder: Path, count: int, *, long_side: int = 4032) -> list[Path]:
    """Write ``count`` camera-sized JPEGs (sample photos upscaled to 4:3, with grain)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    photos = list(sample_arrays().values())
    size = (long_side, long_side * 3 // 4)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"camera_{i:04d}.jpg"
        if not path.exists():
            base = Image.fromarray(photos[i % len(photos)]).convert("RGB")
            big = base.resize(size, Image.Resampling.BILINEAR)
            if i >= len(photos):
                big = big.rotate(7 * (i // len(photos)), expand=False)
            # Sensor-like grain, so files have a real camera's detail (and decode cost).
            grain = rng.normal(0.0, 4.0, (size[1], size[0], 1)).astype(np.float32)
            pixels = np.clip(np.asarray(big, dtype=np.float32) + grain, 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def _rate(func: Callable[[], Any], items: int, *, repeat: int = 1) -> float:
    func()  # warm-up (allocations, lazy init)
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    return items * repeat / (time.perf_counter() - start)


def bench_forward(encoder: Any, batch_size: int, batches: int) -> float:
    """Images/s of ``forward_images`` on ready tensors (no decoding, no resizing)."""
    import torch

    height, width = encoder.preprocess.output_size
    rng = np.random.default_rng(0)
    uint8 = torch.from_numpy(rng.integers(0, 255, (batch_size, height, width, 3), dtype=np.uint8))
    pixels = encoder.preprocess.normalize(uint8.to(encoder.device), encoder.dtype)

    def run() -> None:
        with torch.inference_mode():
            for _ in range(batches):
                encoder.forward_images(pixels)
        if encoder.device.type == "cuda":
            torch.cuda.synchronize()

    return _rate(run, batch_size * batches)


def bench_end_to_end(encoder: Any, paths: list[Path], batch_size: int) -> float:
    """Images/s of ``embed_images`` on files, everything included."""
    return _rate(lambda: encoder.embed_images(paths, batch_size=batch_size), len(paths))


def bench_stock_clip(folder: Path, paths: list[Path]) -> float:
    """Images/s of one-at-a-time ``CLIPProcessor`` + ``get_image_features`` (fp32)."""
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPImageProcessor.from_pretrained(folder)

    def run() -> None:
        with torch.no_grad():
            for path in paths:
                inputs = processor(images=Image.open(path).convert("RGB"), return_tensors="pt")
                model.get_image_features(**inputs)

    return _rate(run, len(paths))


def run_benchmark(
    models: list[str],
    dtypes: list[str],
    *,
    images: int = 64,
    batch_size: int = 32,
    baseline: bool = True,
    workdir: Path | None = None,
    device: str = "auto",
    long_side: int = 4032,
) -> list[dict[str, Any]]:
    """Run the benchmark; returns one row per (model, dtype)."""
    work = Path(workdir or tempfile.mkdtemp(prefix="imagevec-bench-"))
    paths = make_camera_jpegs(work / f"jpegs-{long_side}", images, long_side=long_side)
    rows = []
    for model in models:
        location = model
        if model == RANDOM_CLIP:
            location = str(work / RANDOM_CLIP)
            if not Path(location, "config.json").exists():
                build_random_clip(location)
        stock = None
        for dtype in dtypes:
            encoder = create_encoder(location, device=device, dtype=dtype, engine="torch")
            forward = bench_forward(encoder, batch_size, max(1, images // batch_size))
            end_to_end = bench_end_to_end(encoder, paths, batch_size)
            is_clip = Path(location).is_dir() and infer_family(location) == "clip"
            if baseline and is_clip and stock is None and encoder.device.type == "cpu":
                stock = bench_stock_clip(Path(location), paths[: max(8, images // 4)])
            rows.append(
                {
                    "model": model,
                    "dtype": dtype_name(encoder.dtype),
                    "device": encoder.device.type,
                    "forward_img_s": round(forward, 1),
                    "end_to_end_img_s": round(end_to_end, 1),
                    "ratio": round(end_to_end / forward, 2),
                    "stock_one_by_one_img_s": round(stock, 1) if stock else None,
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    header = ["model", "dtype", "device", "forward", "end-to-end", "e2e/fwd", "stock 1-by-1"]
    lines = [header]
    for row in rows:
        stock = row["stock_one_by_one_img_s"]
        lines.append(
            [
                row["model"],
                row["dtype"],
                row["device"],
                f"{row['forward_img_s']}",
                f"{row['end_to_end_img_s']}",
                f"{row['ratio']}",
                "-" if stock is None else f"{stock}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    return "\n".join(text) + "\n(images/s; end-to-end = JPEG files -> vectors)"
