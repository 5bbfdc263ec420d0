"""``finetune auto``: look at the data, pick a path, and say why.

=================================================  =========================================
what you have                                       path
=================================================  =========================================
images with captions (a CSV of image, caption)      ``clip`` — contrastive image-text tuning
300+ images with "same item" labels (4+ per label)  ``simclr``, then ``triplet`` from it
60+ images with "same item" labels (4+ per label)   ``triplet`` — the evidence recipe (below)
300+ unlabelled images                              ``simclr`` — self-supervised, guarded
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

The unlabelled rule comes from ``examples/benchmarks/selfsup_evidence.py``: the three labelled
sets with their labels hidden from training, SimCLR, MoCo and BYOL x 3 seeds each, all 27 runs
on 2 idle cores (docs/finetune-selfsup.md has the table):

* the guard holds: no export lowered labelled recall@1 on new photos of the same scenes by
  more than one query (8 runs up, 18 the same, 1 down by one);
* SimCLR is the method that gains: +3 / +1 / +3 of 96 queries on grey-30 (360 photos), +1 /
  +1 / +2 on colour-100 (800); MoCo -1 / +2 / +1 on colour-100 and nothing on grey-30; BYOL
  nothing anywhere, and each of their steps costs one more forward pass of the top;
* on colour-5 (120 photos) no method, seed or variant tried (learning rate x3 and x10, two
  layer groups, longer rounds) raised recall@1 by more than single-query noise, and the
  check on its 24 held-out photos cannot see such a gain: the base was exported every time.
  So a self-supervised run is proposed from :data:`MIN_UNLABELLED` photos, between the set
  that never gained (120) and the smallest that always did (360);
* with labels too, SimCLR first pays: ``finetune triplet`` started from the SimCLR export of
  the same photos (labels unused by SimCLR) beat triplet from the base model on grey-30 by
  88.3 vs 87.3 of 96 queries (mean of 3 seeds; mAP 0.673 vs 0.660) and on colour-100 by 82.0
  vs 80.3 (mAP 0.785 vs 0.769), unseen scenes within one query. Labelled folders of
  :data:`MIN_UNLABELLED` images or more therefore get the SimCLR pass first
  (:attr:`Recommendation.pretrain`).

Example:
    >>> rec = recommend("products/")                         # doctest: +SKIP
    >>> rec.path, rec.pretrain, rec.reason                   # doctest: +SKIP
    ('triplet', 'simclr', '2,400 images in 300 label folders: ...')
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
#: Fewest images for a self-supervised run (alone, or before triplet on labelled folders):
#: on 120 photos no run gained (its 24 held-out photos are too few for the check to see a
#: gain); on 360 and 800 SimCLR gained on every seed (module doc).
MIN_UNLABELLED = 300
#: The self-supervised method ``finetune auto`` runs on unlabelled photos (the evidence is
#: in the module doc).
SELFSUP_CHOICE = "simclr"
#: Seconds per image of a default ``finetune simclr`` run on 2 idle CPU cores, what a time
#: budget is compared with. Measured end to end (decode, 4 cached views, 10 epochs, the
#: check, export) with the bundled default: 46 s for 360 photos (0.13 s each), 100 s for 800
#: (0.12 s each).
SELFSUP_SECONDS_PER_IMAGE = 0.13
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
        pretrain: a self-supervised method to run on the same images first (labels unused);
            ``path`` then starts from its export.
    """

    path: str
    reason: str
    images: int
    labels: int = 0
    captions: bool = False
    pretrain: str | None = None


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
            reason = (
                f"{labelled:,} images in {labels:,} label folders of {MIN_PER_LABEL}+: 'same "
                "item' labels, so triplet fine-tuning of the top layer; new photos of each label "
                "are held out to choose the epoch, and the base model is kept if no epoch "
                "beats it."
            )
            if total < MIN_UNLABELLED:
                return Recommendation("triplet", reason, total, labels)
            estimate = total * SELFSUP_SECONDS_PER_IMAGE
            if budget_s is not None and estimate > budget_s:
                skipped = f" No {SELFSUP_CHOICE} pass first: {_minutes(estimate)}, over the budget."
                return Recommendation("triplet", reason + skipped, total, labels)
            first = (
                f" First {SELFSUP_CHOICE} on the same {total:,} images, labels unused (about "
                f"{_minutes(estimate)} on 2 CPU cores; kept only if it finds held-out copies "
                "better): triplet from its export beat triplet from the base on both evidence "
                f"sets of {MIN_UNLABELLED}+ images."
            )
            return Recommendation("triplet", reason + first, total, labels, pretrain=SELFSUP_CHOICE)
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
