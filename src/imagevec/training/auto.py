"""``finetune auto``: look at the data, pick a path, and say why.

=================================================  =========================================
what you have                                       path
=================================================  =========================================
images with captions (a CSV of image, caption)      ``clip`` — contrastive image-text tuning
60+ images with "same item" labels (4+ per label)   ``triplet`` — the evidence recipe (below)
100+ unlabelled images                              ``simclr`` — self-supervised, guarded
fewer unlabelled images (or few labelled)           ``pretrained`` — use the encoder as it is
a run longer than ``budget_s`` (``--budget``)       ``pretrained``
=================================================  =========================================

The labelled threshold comes from ``examples/benchmarks/run.py finetune``: with the recipe
(:data:`~imagevec.training.triplet.TRIPLET_DEFAULTS`: top layer only, the epoch count chosen
on new photos of the known labels, the base model kept when nothing beats it, then a refit
on every image blended with the base) the smallest evidence set — 24 labels of 5 images,
120 in all — gained recall@1 on new photos of its labels on every one of 6 seeds, as did
the 30- and 100-per-label sets, and again on a second cut of all three sets. Below 120
images the evidence is the guard: a run that does not beat the base model exports the base
weights and says so. A label needs 4 images so that 2 can be held out to validate on while
2 still train.

The unlabelled rule comes from ``examples/benchmarks/selfsup_evidence.py`` (the labelled sets
with their labels hidden from training; docs/finetune-selfsup.md has the table). On a loaded
2-core machine only part of the 3 sets x 3 methods x 3 seeds grid ran:

* the guard holds: no exported model lowered labelled recall@1 on new photos of the same
  scenes in any run; where the label-free check saw no gain (every colour-5 run, 120
  photos) the base was exported with ``NO IMPROVEMENT``, the tool saying so;
* SimCLR is the method with a measured gain: on grey-30 (360 photos) it raised recall@1 on
  new photos 0.865 -> 0.896 (+3 of 96 queries, blend 0.5), as SimCLR did there on 3 of 3
  seeds in the previous session's runs (0.885 / 0.896 / 0.875), where MoCo *lowered* it
  (0.833 / 0.844 / 0.844); MoCo and BYOL gained nothing on colour-5 (3 seeds) or grey-30
  (seed 0, where BYOL's last epoch would have cost 3 queries: the check kept the base), and
  each of their steps costs one more forward pass of the top than SimCLR's;
* so unlabelled photos go to SimCLR from :data:`MIN_UNLABELLED` photos: below that the
  held-out fifth is too small for the check to see a gain (the base would be kept anyway),
  and above it trying costs only time, which ``budget_s`` bounds
  (:data:`SELFSUP_SECONDS_PER_IMAGE`).

Example:
    >>> rec = recommend("products/")                         # doctest: +SKIP
    >>> rec.path, rec.reason                                 # doctest: +SKIP
    ('triplet', '2,400 images in 300 label folders: ...')
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from imagevec.errors import ConfigError
from imagevec.io.files import iter_image_files
from imagevec.training.data import looks_like_pairs_csv, read_pairs_csv

__all__ = [
    "MIN_LABELLED",
    "MIN_PAIRS",
    "MIN_PER_LABEL",
    "MIN_UNLABELLED",
    "SELFSUP_CHOICE",
    "SELFSUP_SECONDS_PER_IMAGE",
    "Recommendation",
    "recommend",
]

#: Fewest labelled images (in labels with 4+ images) for triplet fine-tuning to pay off.
MIN_LABELLED = 60
#: Fewest images in a label for it to count (2 held out to validate on, 2 to train).
MIN_PER_LABEL = 4
#: Fewest unlabelled images for a self-supervised run: 20% are held out for the label-free
#: check, and under 20 held-out photos (60 queries) one query's worth of mAP is too coarse
#: a step to see a gain (the run would keep the base anyway).
MIN_UNLABELLED = 100
#: The self-supervised method ``finetune auto`` runs on unlabelled photos (the evidence is
#: in the module doc).
SELFSUP_CHOICE = "simclr"
#: Seconds per image of a default self-supervised run on 2 idle CPU cores, what a time
#: budget is compared with: 10 epochs of 2 views per photo through the cached top layer at
#: the measured ~390 images/s of a cached head step (0.05 s), plus 5 full forward passes per
#: photo for the 4 cached views and the check (about 0.05 s). Under a load average of ~15
#: the evidence runs took 1.5-6.8 s per photo.
SELFSUP_SECONDS_PER_IMAGE = 0.1
#: Fewest image-caption pairs for CLIP fine-tuning.
MIN_PAIRS = 100


@dataclass(frozen=True)
class Recommendation:
    """The chosen path and why.

    Attributes:
        path: ``triplet``, ``simclr``, ``clip`` or ``pretrained`` (nothing to train).
        reason: one or two sentences a user can check against their data.
        images: images found.
        labels: label folders with 2+ images (0 for unlabelled data).
        captions: True for an image-caption CSV.
    """

    path: str
    reason: str
    images: int
    labels: int = 0
    captions: bool = False


def recommend(data: str | Path, *, budget_s: float | None = None) -> Recommendation:
    """Inspect ``data`` (a CSV of captions, a folder of label sub-folders or of images).

    Args:
        data: the folder or CSV.
        budget_s: the most seconds a self-supervised run may take (``None``: no limit);
            over it, the pretrained encoder is recommended.

    Raises:
        ConfigError: ``data`` does not exist or holds no images.
    """
    source = Path(data)
    if looks_like_pairs_csv(source):
        paths, _ = read_pairs_csv(source)
        n = len(paths)
        if n < MIN_PAIRS:
            return Recommendation(
                "pretrained",
                f"{n:,} image-caption pairs: too few to tune CLIP (want {MIN_PAIRS}+); "
                "use a pretrained CLIP model as it is.",
                n,
                captions=True,
            )
        return Recommendation(
            "clip",
            f"{n:,} image-caption pairs: fine-tune a CLIP model with its symmetric contrastive "
            "loss (lower layers of both towers frozen).",
            n,
            captions=True,
        )
    if not source.is_dir():
        raise ConfigError(f"{source} is neither a folder of images nor a CSV of captions")
    counts = _label_counts(source)
    labelled = sum(c for c in counts.values() if c >= MIN_PER_LABEL)
    labels = sum(1 for c in counts.values() if c >= MIN_PER_LABEL)
    total = len(list(iter_image_files(source)))
    if total == 0:
        raise ConfigError(f"no images found in {source}")
    if labels >= 2:
        if labelled >= MIN_LABELLED:
            return Recommendation(
                "triplet",
                f"{labelled:,} images in {labels:,} label folders of {MIN_PER_LABEL}+: 'same "
                "item' labels, so triplet fine-tuning of the top layer; new photos of each label "
                "are held out to choose the epoch, and the base model is kept if no epoch "
                "beats it.",
                total,
                labels,
            )
        return Recommendation(
            "pretrained",
            f"only {labelled:,} labelled images in {labels:,} label folders of "
            f"{MIN_PER_LABEL}+ images (want {MIN_LABELLED}+): too few to fine-tune and "
            "validate; use the pretrained encoder and check it with `imagevec eval`.",
            total,
            labels,
        )
    if total < MIN_UNLABELLED:
        return Recommendation(
            "pretrained",
            f"{total:,} unlabelled images: too few for self-supervised training (want "
            f"{MIN_UNLABELLED:,}+: a fifth is held out to check each epoch) and no labels; "
            "use the pretrained encoder as it is.",
            total,
        )
    estimate = total * SELFSUP_SECONDS_PER_IMAGE
    if budget_s is not None and estimate > budget_s:
        return Recommendation(
            "pretrained",
            f"{total:,} unlabelled images: a {SELFSUP_CHOICE} run takes about "
            f"{_minutes(estimate)} on 2 CPU cores, over the {_minutes(budget_s)} budget; use "
            "the pretrained encoder as it is (or a GPU, or a larger budget).",
            total,
        )
    return Recommendation(
        SELFSUP_CHOICE,
        f"{total:,} unlabelled images: self-supervised {SELFSUP_CHOICE} of the top layer "
        f"(about {_minutes(estimate)} on 2 CPU cores); a fifth of the photos is held out and "
        "the model must find their copies better than the base does, else the base is kept.",
        total,
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _label_counts(root: Path) -> Counter[str]:
    """Images per immediate sub-folder (the label folders)."""
    counts: Counter[str] = Counter()
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        counts[sub.name] = sum(1 for _ in iter_image_files(sub))
    return counts
