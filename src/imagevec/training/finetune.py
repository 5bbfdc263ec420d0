"""One call per fine-tuning path: load the base model, train, export to ``out``.

The exported folder loads anywhere a model name goes: ``create_encoder(out)``,
``imagevec index --model out``, the LangChain and LlamaIndex classes.

Example:
    >>> from imagevec.training import finetune_triplet
    >>> result = finetune_triplet("products/", out="runs/products")  # doctest: +SKIP
    >>> result.before["recall@1"], result.best["recall@1"]           # doctest: +SKIP
    (0.39, 0.61)
    >>> imagevec.create_encoder("runs/products")                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagevec.errors import ConfigError
from imagevec.training.loop import Objective, TrainConfig, TrainResult, fit

__all__ = [
    "SELFSUP",
    "SELFSUP_DEFAULTS",
    "finetune",
    "finetune_byol",
    "finetune_clip",
    "finetune_moco",
    "finetune_selfsup",
    "finetune_simclr",
    "finetune_triplet",
]


def finetune(
    objective: Objective,
    *,
    model: str = "default",
    out: str | Path,
    projection_dim: int | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    **loop_options: Any,
) -> TrainResult:
    """Load ``model`` (with an optional fresh projection head) and :func:`fit` it.

    Args:
        objective: what to train on.
        model: any name ``create_encoder`` accepts.
        out: output folder (exported model, ``training.json``, ``checkpoints/``).
        projection_dim: add a trainable projection head of this size (exported).
        device: where to train.
        log: where progress lines go.
        on_epoch_end: called after each epoch's checkpoint.
        **loop_options: :class:`~imagevec.training.loop.TrainConfig` fields (``epochs``,
            ``batch_size``, ``lr``, ``freeze``, ``seed``, ``resume``, ``progress``...).
    """
    from imagevec.encoders.factory import create_encoder

    out_dir = Path(out).expanduser().resolve()
    model_dir = Path(str(model)).expanduser()
    if model_dir.is_dir() and model_dir.resolve() == out_dir:
        raise ConfigError(f"out={str(out)!r} must differ from the model folder being fine-tuned")
    encoder = create_encoder(model, device=device, projection_dim=projection_dim, engine="torch")
    meta = {"model": str(model), "projection_dim": projection_dim}
    config = TrainConfig(out=out_dir, meta=meta, **loop_options)
    return fit(encoder, objective, config, log=log, on_epoch_end=on_epoch_end)


def finetune_triplet(
    data_dir: str | Path,
    *,
    holdout: float = 0.2,
    unseen: float = 0.2,
    margin: float | None = None,
    mining: str | None = None,
    metric: str = "cosine",
    k: int = 4,
    views: int = 4,
    eval_dir: str | Path | None = None,
    **options: Any,
) -> TrainResult:
    """Triplet fine-tuning on ``data_dir/<label>/<image>`` (see :func:`finetune` for the
    common options and :class:`~imagevec.training.triplet.TripletObjective` for these).

    Options left unset take :data:`~imagevec.training.triplet.TRIPLET_DEFAULTS`, the recipe
    chosen on held-out photos by ``examples/benchmarks/run.py finetune``.
    """
    from imagevec.training.triplet import TRIPLET_DEFAULTS, TripletObjective

    for key in ("epochs", "lr", "freeze", "patience", "interpolate", "refit"):
        if options.get(key) is None:
            options[key] = TRIPLET_DEFAULTS[key]
    objective = TripletObjective(
        data_dir, holdout=holdout, unseen=unseen, metric=metric, k=k, views=views,
        margin=TRIPLET_DEFAULTS["margin"] if margin is None else margin,
        mining=mining or TRIPLET_DEFAULTS["mining"], eval_dir=eval_dir,
    )  # fmt: skip
    return finetune(objective, **options)


#: The recipe ``finetune simclr | moco | byol`` use for options left unset, chosen by
#: ``examples/benchmarks/selfsup_evidence.py`` (docs/finetune-selfsup.md): the top layer
#: group only over cached views (a run takes seconds to minutes on an idle CPU), the epoch
#: chosen by the label-free copy-finding check on held-out photos (the base kept when no
#: epoch beats it), then the blend with the base at 0.5: on grey-30 the chosen epoch as
#: trained lost one query of recall@1 on new photos, blended 0.5 it gained 3 (0.25: 1).
#: No run of the evidence lowered recall@1; on colour-5 (120 photos) every run kept the base.
SELFSUP_DEFAULTS: dict[str, Any] = {
    "freeze": -1,
    "lr": 1e-3,
    "epochs": 10,
    "patience": 3,
    "views": 4,
    "interpolate": 0.5,
}

#: The self-supervised methods by name (their objective class's module and name).
SELFSUP = {
    "simclr": ("imagevec.training.simclr", "SimCLRObjective"),
    "moco": ("imagevec.training.moco", "MoCoObjective"),
    "byol": ("imagevec.training.byol", "BYOLObjective"),
}


def finetune_selfsup(
    method: str,
    data_dir: str | Path,
    *,
    holdout: float = 0.2,
    eval_dir: str | Path | None = None,
    views: int | None = None,
    objective_options: dict[str, Any] | None = None,
    **options: Any,
) -> TrainResult:
    """Self-supervised fine-tuning (``simclr``, ``moco`` or ``byol``) on the images below
    ``data_dir``; the heads are dropped at export.

    Options left unset take :data:`SELFSUP_DEFAULTS`. ``views`` >= 2 draws that many
    augmented views per image once and runs the frozen lower layers once per view (pairs of
    different cached views train the top); 0 draws fresh views every step. ``holdout`` of
    the photos never train: the label-free check (:mod:`imagevec.training.simclr`) scores
    each epoch on them, and the base is exported when no epoch beats it.
    """
    import importlib

    if method not in SELFSUP:
        raise ConfigError(f"unknown self-supervised method {method!r}: use one of {list(SELFSUP)}")
    for key in ("epochs", "lr", "freeze", "patience", "interpolate"):
        if options.get(key) is None:
            options[key] = SELFSUP_DEFAULTS[key]
    module, name = SELFSUP[method]
    objective = getattr(importlib.import_module(module), name)(
        data_dir,
        holdout=holdout,
        eval_dir=eval_dir,
        views=SELFSUP_DEFAULTS["views"] if views is None else views,
        **(objective_options or {}),
    )
    return finetune(objective, **options)


def finetune_simclr(
    data_dir: str | Path, *, temperature: float = 0.2, **options: Any
) -> TrainResult:
    """SimCLR (:func:`finetune_selfsup` with in-batch negatives at ``temperature``)."""
    return finetune_selfsup("simclr", data_dir, objective_options={"temperature": temperature},
                            **options)  # fmt: skip


def finetune_moco(
    data_dir: str | Path,
    *,
    temperature: float = 0.2,
    queue: int = 256,
    momentum: float = 0.99,
    **options: Any,
) -> TrainResult:
    """MoCo (:func:`finetune_selfsup` with momentum keys and a ``queue`` of past keys)."""
    extra = {"temperature": temperature, "queue": queue, "momentum": momentum}
    return finetune_selfsup("moco", data_dir, objective_options=extra, **options)


def finetune_byol(data_dir: str | Path, *, momentum: float = 0.99, **options: Any) -> TrainResult:
    """BYOL (:func:`finetune_selfsup`: a predictor chases a momentum target, no negatives)."""
    return finetune_selfsup("byol", data_dir, objective_options={"momentum": momentum},
                            **options)  # fmt: skip


def finetune_clip(
    pairs_csv: str | Path,
    *,
    holdout: float = 0.1,
    freeze_text: int | None = None,
    **options: Any,
) -> TrainResult:
    """CLIP's contrastive loss on a CSV of ``image path, caption`` (``model`` must be CLIP)."""
    from imagevec.training.clip import CLIPObjective

    objective = CLIPObjective(pairs_csv, holdout=holdout, freeze_text=freeze_text)
    return finetune(objective, **options)
