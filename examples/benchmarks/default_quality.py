"""How well the bundled default answers plain text queries and finds edited copies.

The evidence behind the default encoder's ConSE settings and pooling
(``python examples/benchmarks/run.py default-quality``). Cases are built from the real
photos that ship with scikit-image and scikit-learn:

* **text**: plain queries naming what a photo shows ("a camera", "a vehicle"), split into a
  *tune* part (used to choose top-k, temperature, class texts and pooling) and a *kept-aside*
  part never used for a choice; hit@1 / hit@3 over all photos, and the demo's queries;
* **copies**: edited copies (crop, rotation, blur, JPEG, grey, heavy recompression of small
  copies) must find their original first (recall@1 per edit), on the sample photos (tune) and
  on kept-aside quadrant crops of large photos with unseen edits.

Each run compares the settings before this tuning (average pooling, top-20 ConSE at
temperature 1) with the encoder's current ones, from one forward pass per image.

Example:
    >>> report = run_default_quality()  # doctest: +SKIP
    >>> print(format_report(report))    # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image, ImageFilter

from imagevec.encoders.base import Encoder
from imagevec.encoders.default.conse import semantic_embedding
from imagevec.encoders.default.encoder import LiteEncoder
from imagevec.encoders.pooling import pool

__all__ = ["BEFORE", "DEMO", "HELDOUT", "TUNE", "Settings", "format_report", "run_default_quality"]

TUNE: dict[str, set[str]] = {
    "a cat": {"chelsea"}, "a tabby cat": {"chelsea"}, "a cup of coffee": {"coffee"},
    "a motorcycle": {"motorcycle"}, "a rocket": {"rocket"}, "a horse": {"horse"},
    "a flower": {"flower"}, "a temple": {"china"}, "an astronaut": {"astronaut"},
    "a camera": {"camera"}, "a clock": {"clock"}, "a brick wall": {"brick"},
    "a checkerboard": {"checkerboard"}, "a space shuttle": {"rocket"}, "a tripod": {"camera"},
    "a pagoda": {"china"}, "an animal": {"chelsea", "horse"},
    "a vehicle": {"motorcycle", "rocket"}, "a drink": {"coffee"}, "a pet": {"chelsea"},
    "a building": {"china"}, "a page of text": {"page", "text"}, "coins": {"coins"},
    "the moon": {"moon"}, "galaxies in space": {"hubble_deep_field"},
}  # fmt: skip
"""Text queries used to choose the settings: query -> the photos that answer it."""

HELDOUT: dict[str, set[str]] = {
    "a kitten": {"chelsea"}, "espresso": {"coffee"}, "a motorbike": {"motorcycle"},
    "a missile": {"rocket"}, "a pony": {"horse"}, "a daisy": {"flower"}, "a shrine": {"china"},
    "a man in a space suit": {"astronaut"}, "a photographer": {"camera"},
    "a wall clock": {"clock"}, "a stone wall": {"brick"}, "a chessboard": {"checkerboard"},
    "a mug": {"coffee"}, "a mammal": {"chelsea", "horse"}, "a plant": {"flower"},
    "a spacecraft": {"rocket"}, "a book": {"page", "text"}, "money": {"coins"},
    "a planet": {"moon"}, "a bike": {"motorcycle"}, "a feline": {"chelsea"},
    "a tower": {"china"}, "a stallion": {"horse"}, "a blossom": {"flower"},
    "a hot beverage": {"coffee"}, "a spaceship": {"rocket"},
    "a domestic animal": {"chelsea", "horse"},
}  # fmt: skip
"""Kept-aside text queries: never used to choose anything, only reported."""

DEMO: dict[str, set[str]] = {
    "a cat": {"chelsea"}, "a cup of coffee": {"coffee"}, "a rocket": {"rocket"},
    "a motorcycle": {"motorcycle"},
}  # fmt: skip
"""The text queries ``imagevec demo`` runs."""

#: More sample photos than the demo's: synthetic and scientific images are distractors.
EXTRA_PHOTOS = ("cell", "checkerboard", "logo", "microaneurysms", "text", "binary_blobs")
#: Large photos whose quadrants are the kept-aside originals of the copy test.
QUADRANT_PHOTOS = ("retina", "hubble_deep_field", "rocket", "coffee", "motorcycle", "brick")


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _small(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.BILINEAR)
    return copy


def _centre(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * (1 - keep) / 2), int(h * (1 - keep) / 2)
    return image.crop((dx, dy, w - dx, h - dy))


Edit = Callable[[Image.Image], Image.Image]
TUNE_EDITS: dict[str, Edit] = {
    "crop 70%": lambda im: _centre(im, 0.7),
    "rotate 10°": lambda im: im.rotate(10, resample=Image.Resampling.BILINEAR),
    "blur": lambda im: im.filter(ImageFilter.GaussianBlur(2)),
    "JPEG q30": lambda im: _jpeg(im, 30),
    "grey": lambda im: im.convert("L").convert("RGB"),
    "128 px, JPEG q15": lambda im: _jpeg(_small(im, 128), 15),
    "96 px, JPEG q10": lambda im: _jpeg(_small(im, 96), 10),
    "JPEG q5": lambda im: _jpeg(im, 5),
}
HELDOUT_EDITS: dict[str, Edit] = {
    "112 px, JPEG q12": lambda im: _jpeg(_small(im, 112), 12),
    "80 px, JPEG q25": lambda im: _jpeg(_small(im, 80), 25),
    "JPEG q8": lambda im: _jpeg(im, 8),
    "64 px, upscaled": lambda im: _small(im, 64).resize(im.size, Image.Resampling.BICUBIC),
}


@dataclass(frozen=True)
class Settings:
    """The options of the default that shape its vectors after the CNN."""

    pooling: str
    top_k: int
    temperature: float
    semantic_weight: float = 0.2


BEFORE = Settings(pooling="avg", top_k=20, temperature=1.0)
"""The default's settings before the issue-13 tuning."""


@dataclass
class _Features:
    maps: torch.Tensor  # (N, 1280, 7, 7)
    logits: torch.Tensor  # (N, 1000)


def _features(enc: LiteEncoder, images: list[Image.Image], batch: int = 16) -> _Features:
    maps, logits = [], []
    tower = enc.image_tower
    for start in range(0, len(images), batch):
        arrays = [enc.preprocess.to_array(im) for im in images[start : start + batch]]
        pixels = torch.from_numpy(np.stack(arrays)).to(enc.device)
        with torch.inference_mode():
            fmap = tower.feature_map(enc.preprocess.normalize(pixels, enc.dtype))
            maps.append(fmap.float().cpu())
            logits.append(tower.logits(fmap).float().cpu())
    return _Features(torch.cat(maps), torch.cat(logits))


def _semantic(enc: LiteEncoder, feats: _Features, s: Settings) -> torch.Tensor:
    return semantic_embedding(feats.logits, enc.class_table.cpu(), s.top_k, s.temperature)


def _vectors(enc: LiteEncoder, feats: _Features, s: Settings) -> torch.Tensor:
    image = F.normalize(pool(feats.maps, s.pooling), dim=-1)
    w_img, w_sem = np.sqrt(1 - s.semantic_weight), np.sqrt(s.semantic_weight)
    return torch.cat([w_img * image, w_sem * _semantic(enc, feats, s)], dim=-1)


def _text_hits(
    names: list[str], semantic: torch.Tensor, queries: Mapping[str, set[str]], texts: torch.Tensor
) -> tuple[float, float, dict[str, int]]:
    ranks = {}
    for row, (query, wanted) in enumerate(queries.items()):
        order = [names[i] for i in (semantic @ texts[row]).argsort(descending=True).tolist()]
        ranks[query] = 1 + min(order.index(name) for name in wanted)
    count = len(ranks)
    hit1 = sum(rank == 1 for rank in ranks.values()) / count
    return hit1, sum(rank <= 3 for rank in ranks.values()) / count, ranks


def _copy_recall(
    enc: LiteEncoder, originals: _Features, copies: dict[str, _Features], s: Settings
) -> dict[str, float]:
    gallery = _vectors(enc, originals, s)
    target = torch.arange(gallery.shape[0])
    return {
        edit: float(((_vectors(enc, feats, s) @ gallery.T).argmax(-1) == target).float().mean())
        for edit, feats in copies.items()
    }


def _photos() -> dict[str, Image.Image]:
    import skimage.data

    from imagevec.samples import _to_uint8, sample_arrays

    arrays = sample_arrays()
    for name in EXTRA_PHOTOS:
        arrays[name] = _to_uint8(getattr(skimage.data, name)())
    photos = {}
    for name, array in sorted(arrays.items()):
        image = Image.fromarray(array)
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        photos[name] = image.convert("RGB")
    return photos


def _quadrants(photos: dict[str, Image.Image]) -> dict[str, Image.Image]:
    out = {}
    for name in QUADRANT_PHOTOS:
        image = photos[name]
        w, h = image.size[0] // 2, image.size[1] // 2
        for i, (x, y) in enumerate(((0, 0), (w, 0), (0, h), (w, h))):
            out[f"{name}#{i}"] = image.crop((x, y, x + w, y + h))
    return out


def run_default_quality(
    enc: Encoder | None = None,
    *,
    settings: Settings | None = None,
    tune_edits: Mapping[str, Edit] = TUNE_EDITS,
    heldout_edits: Mapping[str, Edit] = HELDOUT_EDITS,
) -> dict[str, Any]:
    """Score :data:`BEFORE` and ``settings`` (default: the encoder's own) on every case.

    ``tune_edits`` / ``heldout_edits`` choose the copy edits (a subset makes a quicker run).

    Returns:
        ``{"photos": N, "settings": {...}, "results": {label: {...}}}`` where each result has
        ``text`` (hit@1 / hit@3 for tune, kept-aside and demo queries, and each query's rank)
        and ``copies`` (recall@1 per edit, tune and kept-aside).
    """
    import imagevec

    enc = enc or imagevec.create_encoder("default", engine="torch")
    if not isinstance(enc, LiteEncoder):
        raise TypeError("default-quality measures the bundled default encoder")
    after = settings or Settings(enc.pooling or "avg", enc.top_k, enc.temperature)
    photos = _photos()
    names = list(photos)
    originals = _features(enc, list(photos.values()))
    copies = {e: _features(enc, [f(im) for im in photos.values()]) for e, f in tune_edits.items()}
    quads = _quadrants(photos)
    quad_originals = _features(enc, list(quads.values()))
    quad_copies = {
        e: _features(enc, [f(im) for im in quads.values()]) for e, f in heldout_edits.items()
    }
    results = {}
    for label, s in (("before", BEFORE), ("after", after)):
        semantic = _semantic(enc, originals, s)
        text = {}
        for part, queries in (("tune", TUNE), ("kept aside", HELDOUT), ("demo", DEMO)):
            texts = torch.from_numpy(enc.embed_texts(list(queries)))[:, -semantic.shape[1] :]
            hit1, hit3, ranks = _text_hits(names, semantic, queries, texts)
            text[part] = {"hit@1": hit1, "hit@3": hit3, "ranks": ranks}
        results[label] = {
            "settings": s.__dict__,
            "text": text,
            "copies": {
                "tune": _copy_recall(enc, originals, copies, s),
                "kept aside": _copy_recall(enc, quad_originals, quad_copies, s),
            },
        }
    return {"photos": len(names), "quadrants": len(quads), "results": results}


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_default_quality`'s result, before vs after."""
    before, after = report["results"]["before"], report["results"]["after"]
    lines = [
        f"{report['photos']} sample photos; copies kept aside: {report['quadrants']} quadrants",
        f"before: {before['settings']}",
        f"after:  {after['settings']}",
        "",
        f"{'text queries':28s} {'before h@1/h@3':>16s} {'after h@1/h@3':>16s}",
    ]
    for part in before["text"]:
        b, a = before["text"][part], after["text"][part]
        lines.append(
            f"{part + ' (' + str(len(b['ranks'])) + ')':28s} "
            f"{b['hit@1']:>8.2f}/{b['hit@3']:.2f}  {a['hit@1']:>9.2f}/{a['hit@3']:.2f}"
        )
    lines += ["", f"{'copy recall@1':28s} {'before':>16s} {'after':>16s}"]
    for part in before["copies"]:
        for edit, value in before["copies"][part].items():
            lines.append(
                f"{part + ': ' + edit:28s} {value:>16.2f} {after['copies'][part][edit]:>16.2f}"
            )
    return "\n".join(lines)
