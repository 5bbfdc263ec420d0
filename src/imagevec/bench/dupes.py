"""Near-duplicate evidence: speed of the blockwise search, and the threshold on real photos.

* :func:`bench_speed` times :func:`~imagevec.search.dupes.duplicate_pairs` + grouping on
  synthetic unit vectors (``n`` photos, a few planted near-copies), photos/s.
* :func:`threshold_evidence` embeds the sample photos and edited copies of them (resize,
  crop, brightness, blur, JPEG re-save, a small shift like a burst, a mirror) and reports the
  precision and recall of "same photo" pairs at each threshold.

Example:
    >>> bench_speed(10_000, dim=1664)["photos_per_s"]                 # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from imagevec.encoders.factory import create_encoder
from imagevec.samples import write_sample_photos
from imagevec.search.dupes import BLOCK, duplicate_pairs, group_pairs

EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resized": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "cropped": lambda im: im.crop(
        (im.width // 12, im.height // 12, im.width - im.width // 12, im.height - im.height // 12)
    ),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "blurred": lambda im: im.filter(ImageFilter.GaussianBlur(1.5)),
    "jpeg30": lambda im: im,  # saved at quality 30 below
    "shifted": lambda im: im.crop((im.width // 20, 0, im.width, im.height - im.height // 20)),
    "mirrored": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def bench_speed(n: int, *, dim: int = 1664, block: int = BLOCK, seed: int = 0) -> dict[str, Any]:
    """Photos/s of the duplicate search on ``n`` synthetic unit vectors of ``dim``, the
    matrix-product rate it reached (``n^2 * dim`` flops: the upper triangle, multiply and
    add), the memory the search allocated at its peak besides the vectors
    (``search_peak_mb``: about one tile) and the process's peak resident memory so far
    (``peak_rss_mb``, the vectors included; None off Unix)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    planted = min(n // 100, 1000)
    vectors[n - planted :] = vectors[:planted] + 0.1 * rng.standard_normal((planted, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tracemalloc.start()  # numpy reports its buffers: what the search allocates besides
    start = time.perf_counter()  # the vectors (one tile at a time, the pairs found)
    groups = group_pairs(n, duplicate_pairs(vectors, 0.9, block))
    seconds = time.perf_counter() - start
    search_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "vectors": n,
        "dim": dim,
        "block": block,
        "groups": len(groups),
        "planted": planted,
        "seconds": round(seconds, 2),
        "photos_per_s": round(n / seconds, 1),
        "gflop_per_s": round(float(n) * n * dim / seconds / 1e9, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "vector_mb": round(vectors.nbytes / 2**20, 1),
        "tile_mb": round(block * block * 4 / 2**20, 1),
        "search_peak_mb": round(search_mb, 1),
    }


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def edited_set(folder: Path, photos: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Each photo and its edited copies as JPEG files; returns paths and their source label."""
    paths, labels = [], []
    for photo in photos:
        with Image.open(photo) as opened:
            image = opened.convert("RGB")
        for name, edit in {"original": lambda im: im, **EDITS}.items():
            path = folder / f"{photo.stem}__{name}.jpg"
            edit(image).save(path, quality=30 if name == "jpeg30" else 90)
            paths.append(path)
            labels.append(photo.stem)
    return paths, labels


def _group_scores(
    vectors: np.ndarray, labels: list[str], names: list[str], threshold: float
) -> dict[str, float]:
    """Group level: the share of edited copies (mirrors apart) in their original's group,
    and the share of groups that mix two photos."""
    groups = group_pairs(len(vectors), duplicate_pairs(vectors, threshold))
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    originals = {labels[i]: i for i, name in enumerate(names) if name == "original"}
    copies = [i for i, name in enumerate(names) if name not in ("original", "mirrored")]
    found = sum(
        1 for i in copies if i in group_of and group_of[i] == group_of.get(originals[labels[i]], -1)
    )
    mixed = sum(1 for members in groups if len({labels[i] for i in members}) > 1)
    return {
        "copies_with_original": round(found / len(copies), 3),
        "groups": len(groups),
        "mixed_groups": mixed,
    }


def threshold_evidence(
    model: str = "default",
    thresholds: Sequence[float] = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
    device: str = "auto",
) -> dict[str, Any]:
    """Precision and recall of "same photo" pairs at each threshold, on the sample photos and
    their edited copies, with mirrors counted apart (a mirror is a new picture to some)."""
    encoder = create_encoder(model, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        photos = write_sample_photos(Path(tmp) / "photos")
        paths, labels = edited_set(Path(tmp), sorted(photos))
        vectors = encoder.embed_images(paths)
    names = [p.stem.split("__")[1] for p in paths]
    sims = vectors @ vectors.T
    same = np.equal.outer(np.array(labels), np.array(labels))
    mirror = np.array([n == "mirrored" for n in names])
    upper = np.triu(np.ones_like(same), k=1)
    rows = []
    for threshold in thresholds:
        found = (sims >= threshold) & upper
        row: dict[str, Any] = {"threshold": threshold}
        for kind, mask in (("edits", ~(mirror[:, None] | mirror[None, :])), ("all", upper)):
            positives = same & upper & mask
            predicted = found & mask
            true = predicted & same
            row[f"precision_{kind}"] = round(true.sum() / max(predicted.sum(), 1), 3)
            row[f"recall_{kind}"] = round(true.sum() / max(positives.sum(), 1), 3)
        row.update(_group_scores(vectors, labels, names, threshold))
        rows.append(row)
    off = sims[~same & upper.astype(bool)]
    on = sims[same & upper.astype(bool) & ~(mirror[:, None] | mirror[None, :])]
    return {
        "model": model,
        "photos": len(set(labels)),
        "images": len(paths),
        "edits": list(EDITS),
        "distinct_max": round(float(off.max()), 3),
        "distinct_p99": round(float(np.quantile(off, 0.99)), 3),
        "edited_min": round(float(on.min()), 3),
        "edited_p01": round(float(np.quantile(on, 0.01)), 3),
        "by_edit_min": {
            name: round(
                float(
                    min(
                        sims[i, j]
                        for i in range(len(paths))
                        for j in range(len(paths))
                        if i != j and same[i, j] and names[j] == name and names[i] == "original"
                    )
                ),
                3,
            )
            for name in EDITS
        },
        "rows": rows,
    }
