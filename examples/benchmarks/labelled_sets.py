"""Labelled photo sets for fine-tuning evidence, built offline from the shipped sample photos.

A label is one cell of one photo (scikit-image / scikit-learn samples, see
:mod:`imagevec.samples`). Each cell is cut into two zones with a gap between them: training
images are crops of the left zone, the *new photos of known labels* are crops of the right
zone — so no source pixel is in both. Every crop covers a random share of its zone
(:attr:`SetSpec.crop`: small crops of neighbouring cells are hard to tell apart, so the base
model is not already at the ceiling) and gets a light edit (rotation, colour, blur, flip,
JPEG), then is resized to the set's short side. Photos of the *unseen labels* take no part
in training at all.

Example:
    >>> folders = build_set("runs/sets", SETS["colour-5"])       # doctest: +SKIP
    >>> folders.train, folders.known, folders.unseen             # doctest: +SKIP
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

__all__ = ["SETS", "SetFolders", "SetSpec", "build_set", "edit_crop"]

#: Share of a cell's width for training crops; the new photos come from the last 40%.
TRAIN_ZONE, TEST_ZONE = 0.55, 0.40


@dataclass(frozen=True)
class SetSpec:
    """One labelled set.

    Attributes:
        name: folder name.
        photos: sample photos whose cells are the known labels.
        unseen_photos: sample photos whose cells are the unseen labels (never trained on).
        grid: ``(rows, cols)`` cells per photo (one label each).
        train: training images per label.
        test: new photos per known label (and images per unseen label).
        size: short side of every image, in pixels.
        grey: greyscale set.
        views: augmented views per image the trainer caches (besides the eval transform);
            ``None``: what ``finetune triplet`` uses (the evidence runs the defaults).
        crop: range of a crop's area, as a share of its zone (smaller: harder to match).
    """

    name: str
    photos: tuple[str, ...]
    unseen_photos: tuple[str, ...]
    grid: tuple[int, int]
    train: int
    test: int
    size: int
    grey: bool = False
    views: int | None = None
    crop: tuple[float, float] = (0.5, 1.0)


SETS: dict[str, SetSpec] = {
    spec.name: spec
    for spec in (
        SetSpec(
            "colour-5",
            ("astronaut", "chelsea", "coffee", "rocket"),
            ("china", "flower", "motorcycle"),
            grid=(2, 3), train=5, test=4, size=96, crop=(0.2, 0.6),
        ),
        SetSpec(
            "grey-30",
            ("camera", "coins", "moon"),
            ("brick", "clock", "page"),
            grid=(2, 2), train=30, test=8, size=128, grey=True, crop=(0.2, 0.6),
        ),
        SetSpec(
            "colour-100",
            ("coffee", "rocket"),
            ("astronaut", "china", "chelsea"),
            grid=(2, 2), train=100, test=12, size=160, crop=(0.1, 0.4),
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class SetFolders:
    """``train/<label>/``, ``known/<label>/`` (new photos of those labels), ``unseen/``."""

    train: Path
    known: Path
    unseen: Path


def edit_crop(
    zone: Image.Image, rng: random.Random, size: int, crop: tuple[float, float] = (0.5, 1.0)
) -> Image.Image:
    """A random crop (``crop`` share of the zone's area) with a light edit, short side ``size``."""
    w, h = zone.size
    area = w * h * rng.uniform(*crop)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw, ch = min(w, round(math.sqrt(area * aspect))), min(h, round(math.sqrt(area / aspect)))
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    image = zone.crop((left, top, left + cw, top + ch))
    image = image.rotate(rng.uniform(-12, 12), Image.Resampling.BILINEAR, expand=False)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    scale = size / min(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _cells(photo: Image.Image, grid: tuple[int, int]) -> list[Image.Image]:
    rows, cols = grid
    w, h = photo.size
    return [
        photo.crop((c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows))
        for r in range(rows)
        for c in range(cols)
    ]


def _zones(cell: Image.Image) -> tuple[Image.Image, Image.Image]:
    w, h = cell.size
    return (
        cell.crop((0, 0, round(w * TRAIN_ZONE), h)),
        cell.crop((w - round(w * TEST_ZONE), 0, w, h)),
    )


def _write(folder: Path, zone: Image.Image, n: int, spec: SetSpec, rng: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        edit_crop(zone, rng, spec.size, spec.crop).save(
            folder / f"{i:03d}.jpg", quality=rng.randint(75, 95)
        )


def build_set(root: str | Path, spec: SetSpec, *, seed: int = 0) -> SetFolders:
    """Write ``root/<spec.name>/{train,known,unseen}/<label>/`` (skipped if already there)."""
    from imagevec.samples import sample_arrays

    base = Path(root) / spec.name
    folders = SetFolders(base / "train", base / "known", base / "unseen")
    stamp, recipe = base / ".complete", f"{spec!r} seed={seed}"
    if stamp.is_file() and stamp.read_text() == recipe:
        return folders
    if base.exists():  # built from another spec: start again
        shutil.rmtree(base)
    rng = random.Random(seed)
    arrays = sample_arrays()
    for stem in (*spec.photos, *spec.unseen_photos):
        photo = Image.fromarray(arrays[stem]).convert("L" if spec.grey else "RGB").convert("RGB")
        for index, cell in enumerate(_cells(photo, spec.grid)):
            label = f"{stem}-{index}"
            if stem in spec.unseen_photos:
                _write(folders.unseen / label, cell, spec.test, spec, rng)
                continue
            train_zone, test_zone = _zones(cell)
            _write(folders.train / label, train_zone, spec.train, spec, rng)
            _write(folders.known / label, test_zone, spec.test, spec, rng)
    stamp.write_text(recipe)
    return folders
