"""Evidence that fine-tuning helps: labelled sets built from real photos, before/after numbers.

Each *label* is one region of one real sample photo (scikit-image + scikit-learn); its
images are different hard edits of that region: a random crop of 30-70% of its area, a
rotation, a perspective warp, colour shifts, blur, a flip, a partial occlusion, JPEG
re-compression. Whole photos are held out, so the held-out labels are unseen content.

Run (about 10 minutes on 2 CPU cores)::

    imagevec bench finetune --out runs/evidence

It prints test recall@1/5/10, mAP and MRR of the base default encoder, after triplet
fine-tuning (labelled) and after SimCLR (the same training images, labels ignored). Three
disjoint sets of photos: train, validation (picks the best epoch) and test (reported), so
the test photos take no part in training *or* in choosing the epoch.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from imagevec.evaluation import evaluate_folder, format_metrics

__all__ = ["HELD_OUT_PHOTOS", "VAL_PHOTOS", "build_labelled_sets", "edit_photo", "run_evidence"]

#: Photos whose regions only appear in the test set (unseen labels).
HELD_OUT_PHOTOS = ("chelsea", "coins", "rocket", "grass", "flower")
#: Photos whose regions only appear in the validation set (picks the best epoch).
VAL_PHOTOS = ("coffee", "camera", "gravel")


def _perspective(image: Image.Image, rng: random.Random, amount: float) -> Image.Image:
    """Move each corner by up to ``amount`` of the size: a cheap perspective-like warp."""
    w, h = image.size
    dx, dy = w * amount, h * amount
    quad = [
        rng.uniform(0, dx), rng.uniform(0, dy),
        rng.uniform(0, dx), h - rng.uniform(0, dy),
        w - rng.uniform(0, dx), h - rng.uniform(0, dy),
        w - rng.uniform(0, dx), rng.uniform(0, dy),
    ]  # fmt: skip
    return image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR)


def _shift_hue(image: Image.Image, shift: float) -> Image.Image:
    hsv = image.convert("HSV")
    h, s, v = hsv.split()
    h = h.point(lambda value: (value + round(shift * 255)) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def edit_photo(region: Image.Image, rng: random.Random, *, size: int = 256) -> Image.Image:
    """One hard edit of ``region`` (see the module docstring); short side ``size``."""
    w, h = region.size
    area = w * h * rng.uniform(0.3, 0.7)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw, ch = min(w, round(math.sqrt(area * aspect))), min(h, round(math.sqrt(area / aspect)))
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    image = region.crop((left, top, left + cw, top + ch))
    image = image.rotate(rng.uniform(-25, 25), Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    image = _perspective(image, rng, 0.12)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.4))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.6, 1.4))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.3, 1.7))
    if rng.random() < 0.5:
        image = _shift_hue(image, rng.uniform(-0.12, 0.12))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    if rng.random() < 0.6:
        ow, oh = (
            round(image.width * rng.uniform(0.2, 0.45)),
            round(image.height * rng.uniform(0.2, 0.45)),
        )
        ox, oy = rng.randint(0, image.width - ow), rng.randint(0, image.height - oh)
        fill = tuple(rng.randint(0, 255) for _ in range(3))
        ImageDraw.Draw(image).rectangle((ox, oy, ox + ow, oy + oh), fill=fill)
    scale = size / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)))


def _regions(photo: Image.Image, grid: int) -> list[Image.Image]:
    w, h = photo.size
    return [
        photo.crop((col * w // grid, row * h // grid, (col + 1) * w // grid, (row + 1) * h // grid))
        for row in range(grid)
        for col in range(grid)
    ]


def build_labelled_sets(
    root: str | Path, *, grid: int = 2, per_label: int = 6, seed: int = 0, val: bool = False
) -> tuple[Path, Path]:
    """Write ``root/train/<label>/`` and ``root/heldout/<label>/`` from the sample photos.

    Args:
        root: output folder.
        grid: each photo gives ``grid x grid`` regions, one label each.
        per_label: edited images per label.
        seed: the edits' random seed.
        val: also keep :data:`VAL_PHOTOS` apart in ``root/val/`` (for choosing the epoch).

    Returns:
        ``(train folder, held-out folder)``.
    """
    from imagevec.samples import sample_arrays

    rng = random.Random(seed)
    root = Path(root)
    for stem, array in sorted(sample_arrays().items()):
        photo = Image.fromarray(array).convert("RGB")
        split = "heldout" if stem in HELD_OUT_PHOTOS else "train"
        if val and stem in VAL_PHOTOS:
            split = "val"
        for index, region in enumerate(_regions(photo, grid)):
            folder = root / split / f"{stem}-r{index}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_label):
                edited = edit_photo(region, rng)
                edited.save(folder / f"{n:02d}.jpg", quality=rng.randint(70, 95))
    return root / "train", root / "heldout"


def _row(name: str, metrics: dict[str, float], seconds: float | None = None) -> str:
    cells = [metrics[k] for k in ("recall@1", "recall@5", "recall@10", "map", "mrr")]
    took = f"{seconds:.0f} s" if seconds is not None else "-"
    return f"| {name:<28} | " + " | ".join(f"{v:.3f}" for v in cells) + f" | {took} |"


def _score(folder: Path, model: str, batch_size: int, device: str) -> dict[str, float]:
    from imagevec.encoders.registry import create_encoder

    return evaluate_folder(folder, create_encoder(model, device=device), batch_size=batch_size)


def run_evidence(
    out: str | Path = "runs/evidence",
    *,
    model: str = "default",
    epochs: int = 5,
    simclr_epochs: int = 3,
    per_label: int = 6,
    grid: int = 2,
    seed: int = 0,
    batch_size: int = 32,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Build the sets, evaluate the base model, fine-tune (triplet, SimCLR), log a table.

    Args:
        out: work folder (``data/``, one folder per trained model, ``evidence.json``).
        model: the encoder to start from.
        epochs: triplet epochs.
        simclr_epochs: SimCLR epochs.
        per_label: edited images per label.
        grid: regions per photo side (``grid x grid`` labels per photo).
        seed: the edits' and the training's random seed.
        batch_size: images per training and evaluation batch.
        device: where the models run.
        progress: show progress bars.
        log: where the lines of the report go.

    Returns:
        ``{"base" | "triplet" | "simclr": metrics}`` on the test set.
    """
    from imagevec.training.finetune import finetune_simclr, finetune_triplet

    out = Path(out)
    train_dir, held_dir = out / "data" / "train", out / "data" / "heldout"
    val_dir = out / "data" / "val"
    if not held_dir.is_dir():
        build_labelled_sets(out / "data", grid=grid, per_label=per_label, seed=seed, val=True)
    common = {
        "model": model,
        "seed": seed,
        "progress": progress,
        "batch_size": batch_size,
        "device": device,
    }
    results: dict[str, dict[str, float]] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    results["base"] = _score(held_dir, model, batch_size, device)
    timings["base"] = time.perf_counter() - started
    log(f"base model ({model}): {format_metrics(results['base'])}")
    runs: tuple[tuple[str, Callable[..., Any], dict[str, Any]], ...] = (
        ("triplet", finetune_triplet, {"epochs": epochs, "eval_dir": val_dir}),
        ("simclr", finetune_simclr, {"epochs": simclr_epochs, "eval_dir": val_dir}),
    )
    for name, train, options in runs:
        started = time.perf_counter()
        train(train_dir, out=out / name, **common, **options)
        timings[name] = time.perf_counter() - started
        # Reload the exported folder from disk and score it on the files, as a user would.
        results[name] = _score(held_dir, str(out / name), batch_size, device)
        log(f"{name}: {format_metrics(results[name])}  ({timings[name]:.0f} s)")
    labels = {"base": f"{model} (as is)", "triplet": "+ triplet fine-tuning",
              "simclr": "+ SimCLR (labels ignored)"}  # fmt: skip
    log("\n| test set (unseen photos)     | R@1   | R@5   | R@10  | mAP   | MRR   | time  |")
    log("|------------------------------|-------|-------|-------|-------|-------|-------|")
    for key, metrics in results.items():
        log(_row(labels[key], metrics, timings[key]))
    held = results["base"]
    log(f"\n{held['images']} test images in {held['labels']} labels from unseen photos")
    settings = {"model": model, "epochs": epochs, "simclr_epochs": simclr_epochs,
                "per_label": per_label, "grid": grid, "seed": seed}  # fmt: skip
    (out / "evidence.json").write_text(
        json.dumps({"results": results, "seconds": timings, "settings": settings}, indent=2)
    )
    return results
