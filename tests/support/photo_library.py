"""A small real photo library for the page tests: the sample photos in dated sub-folders,
some re-saved with camera EXIF (date, camera, lens, exposure, GPS), and a resized copy of
one photo (a duplicate whose original must be the keeper)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

EXIF_PHOTOS = {
    # name: (make, model, taken, lens)
    "chelsea.jpg": ("FUJIFILM", "X100V", "2024:06:01 14:03:22", "XF23mmF2"),
    "coffee.jpg": ("FUJIFILM", "X100V", "2024:06:01 08:15:00", "XF23mmF2"),
    "horse.jpg": ("Canon", "Canon EOS R5", "2023:09:12 17:40:10", "RF24-105mm F4 L IS USM"),
    "motorcycle.jpg": ("Canon", "Canon EOS R5", "2023:09:13 11:02:54", "RF24-105mm F4 L IS USM"),
}
DUPLICATE = ("rocket.jpg", "rocket (small copy).jpg")


def _exif(make: str, model: str, taken: str, lens: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = taken
    ifd[0xA434] = lens
    ifd[0x829A], ifd[0x829D] = IFDRational(1, 250), IFDRational(28, 10)
    ifd[0x8827], ifd[0x920A] = 200, IFDRational(23, 1)
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (IFDRational(48), IFDRational(51), IFDRational(30))
    gps[3], gps[4] = "E", (IFDRational(2), IFDRational(17), IFDRational(40))
    return exif


def write_photo_library(samples: Path, root: Path) -> Path:
    """Copy the sample photos from ``samples`` into ``root/Photos/...``; returns that folder."""
    library = root / "Photos"
    for path in sorted(samples.glob("*.jpg")):
        if path.name in EXIF_PHOTOS:
            make, model, taken, lens = EXIF_PHOTOS[path.name]
            folder = library / taken[:4] / ("Paris" if taken.startswith("2024") else "Farm")
            folder.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as img:
                img.save(folder / path.name, quality=90, exif=_exif(make, model, taken, lens))
        else:
            folder = library / "Unsorted"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, folder / path.name)
    original = library / "Unsorted" / DUPLICATE[0]
    with Image.open(original) as img:
        small = img.resize((img.width // 2, img.height // 2))
        small.save(library / "Unsorted" / DUPLICATE[1], quality=80)
    return library
