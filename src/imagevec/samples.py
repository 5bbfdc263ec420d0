"""Real sample photos for the demo and the tests, offline (from scikit-image and scikit-learn).

They install with the ``samples`` extra (``pip install "imagevec[samples]"``); nothing is
downloaded at run time.

Example:
    >>> from imagevec.samples import write_sample_photos
    >>> paths = write_sample_photos("sample-photos")                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from imagevec.errors import ImagevecError

#: file stem -> (scikit-image function, what the photo shows)
SKIMAGE_PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("astronaut", "an astronaut in a space suit with a flag"),
    "camera": ("camera", "a man with a camera on a tripod, black and white"),
    "chelsea": ("chelsea", "a tabby cat"),
    "coffee": ("coffee", "a cup of coffee on a saucer"),
    "coins": ("coins", "old coins, black and white"),
    "horse": ("horse", "the silhouette of a horse"),
    "hubble_deep_field": ("hubble_deep_field", "galaxies in deep space"),
    "immunohistochemistry": ("immunohistochemistry", "stained tissue under a microscope"),
    "moon": ("moon", "the surface of the moon"),
    "page": ("page", "a page of printed text"),
    "rocket": ("rocket", "a rocket on a launch pad"),
    "motorcycle": ("stereo_motorcycle", "a motorcycle"),
    "clock": ("clock", "a wall clock"),
    "colorwheel": ("colorwheel", "a colour wheel"),
    "retina": ("retina", "a photo of a human retina"),
    "brick": ("brick", "a brick wall"),
    "grass": ("grass", "grass"),
    "gravel": ("gravel", "gravel"),
}

#: file stem -> what the photo shows (scikit-learn's two sample photos)
SKLEARN_PHOTOS: dict[str, str] = {
    "china": "a Chinese temple (pagoda) in front of trees",
    "flower": "a flower",
}


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return np.where(array, 255, 0).astype(np.uint8)
    if array.dtype != np.uint8:
        array = np.clip(array * 255.0 if array.max() <= 1.0 else array, 0, 255).astype(np.uint8)
    return array


def sample_arrays() -> dict[str, np.ndarray]:
    """The sample photos as ``uint8`` arrays, by name (scikit-learn's too, when installed)."""
    try:
        import skimage.data
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImagevecError(
            'sample photos need scikit-image: pip install "imagevec[samples]"'
        ) from exc
    photos: dict[str, np.ndarray] = {}
    for stem, (func, _) in SKIMAGE_PHOTOS.items():
        loader: Callable[[], np.ndarray] = getattr(skimage.data, func)
        array = loader()
        photos[stem] = _to_uint8(array[0] if isinstance(array, tuple) else array)
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return photos
    bunch = load_sample_images()
    for path, array in zip(bunch.filenames, bunch.images, strict=True):
        photos[Path(path).stem] = array
    return photos


def describe(stem: str) -> str:
    """What a sample photo shows, in words."""
    if stem in SKIMAGE_PHOTOS:
        return SKIMAGE_PHOTOS[stem][1]
    return SKLEARN_PHOTOS.get(stem, stem)


def write_sample_photos(directory: str | Path, *, quality: int = 92) -> list[Path]:
    """Write the sample photos as JPEG files into ``directory``; returns their paths."""
    from PIL import Image

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, array in sample_arrays().items():
        path = folder / f"{stem}.jpg"
        if not path.exists():
            Image.fromarray(array).convert("RGB").save(path, quality=quality)
        paths.append(path)
    return paths
