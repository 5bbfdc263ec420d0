"""Edited copies of real photos: what near-duplicates look like in a photo library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resized": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "cropped": lambda im: im.crop(
        (im.width // 12, im.height // 12, im.width - im.width // 12, im.height - im.height // 12)
    ),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(1.5)),
    "flipped": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def write_edited_copies(
    photo: Path, folder: Path, edits: tuple[str, ...] = tuple(EDITS), quality: int = 80
) -> list[Path]:
    """Save ``photo`` edited each way in ``edits`` (re-saved as JPEG) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with Image.open(photo) as image:
        image = image.convert("RGB")
        for name in edits:
            path = folder / f"{photo.stem}_{name}.jpg"
            EDITS[name](image).save(path, quality=quality)
            out.append(path)
    return out
