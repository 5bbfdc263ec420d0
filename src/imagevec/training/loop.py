"""THE training loop: one for every objective (triplet, SimCLR, CLIP).

Per epoch: batches from the objective, loss, AdamW step (the learning rate warms up
linearly over the first epoch), a progress bar with the running loss, then the held-out
metrics. Epoch 0 is the model before training, and it is a candidate like any other: an
epoch replaces the best one only when its held-out mAP is higher by more than one query's
worth (``1 / queries``, at least :data:`MIN_GAIN`: a smaller gain is noise on a small
held-out set) *and* its recall@1 is not below the base model's (ties go to the earlier
epoch, so to the base). When no epoch beats the base model, the log says so with the numbers
and ``out`` holds the base weights: running the recommended command never makes an index
worse on what it was validated on. Training stops early after ``patience`` epochs without a
new best.

With ``interpolate`` below 1, the export is a *weight-space ensemble* of the base model and
the best epoch (WiSE-FT, Wortsman et al. 2022): ``base + interpolate * (best - base)``, kept
unless it scores below the base model on the held-out photos (then the best epoch as
trained). With ``refit``, once the epoch count is chosen, training runs again from the base
on every image (the objective's ``use_all``) for that many epochs, and that is exported
(blended with the base when the blend of the best epoch was kept). Fine-tuned on a few
photos, a model gains on what it saw and can lose on new photos; trained on all of them and
blended, it raised recall@1 on new photos in every run of ``imagevec bench finetune``.

The best epoch is exported to ``out`` with the family's ``save`` — ``create_encoder(out)``
loads it — and its weights are put back into the encoder at the end;
``out/checkpoints/last.pt`` holds model + optimizer + epoch + RNG states for ``resume``;
``out/training.json`` the history.

Example:
    >>> enc = create_encoder("default")                               # doctest: +SKIP
    >>> objective = TripletObjective("products/")                     # doctest: +SKIP
    >>> fit(enc, objective, TrainConfig(out="runs/t", epochs=5))      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from imagevec.errors import ConfigError
from imagevec.training.checkpoint import (
    capture_rng,
    check_compatible,
    export_encoder,
    load_state,
    restore_rng,
    save_state,
    write_json,
)
from imagevec.training.freeze import (
    count_parameters,
    eval_mode,
    make_trainable,
    set_train_mode,
)

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = [
    "AUTOCAST",
    "MIN_GAIN",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "autocast_dtype",
    "fit",
]

#: The least held-out mAP gain for an epoch to count as better than the best so far.
MIN_GAIN = 0.002

#: ``TrainConfig.autocast`` choices: bf16 where the device runs it natively, always, never.
AUTOCAST = ("auto", "bfloat16", "off")

CHECKPOINT = Path("checkpoints") / "last.pt"
HISTORY = "training.json"


class Objective(ABC):
    """What an objective gives the loop: data, a loss, held-out metrics, trainable modules."""

    name: str

    @abstractmethod
    def setup(self, encoder: Encoder, config: TrainConfig) -> None:
        """Load and split the data (called once, before anything trains)."""

    @abstractmethod
    def trainable(self, encoder: Encoder, freeze: int | None) -> list[nn.Module]:
        """The encoder modules to train (the lower ``freeze`` groups excluded)."""

    def describe(self) -> str:
        """One line about the data (sizes of the split), for the log."""
        return ""

    def use_all(self, seed: int) -> int:
        """Let every training image train from now on, the held-out ones too (the refit);
        return how many images train then, 0 when this objective cannot (the default)."""
        return 0

    def extra_modules(self) -> dict[str, nn.Module]:
        """Modules trained with the encoder but not exported (SimCLR's projection head)."""
        return {}

    @abstractmethod
    def batches(self, rng: random.Random) -> Iterator[Any]:
        """One epoch of batches."""

    @abstractmethod
    def batches_per_epoch(self) -> int:
        """How many batches :meth:`batches` yields."""

    @abstractmethod
    def loss(self, encoder: Encoder, batch: Any, rng: random.Random) -> torch.Tensor:
        """The loss of one batch (with a graph)."""

    @abstractmethod
    def evaluate(self, encoder: Encoder) -> dict[str, float]:
        """Held-out metrics, with ``recall@1`` (called in eval mode, without gradients)."""


@dataclass
class TrainConfig:
    """Loop options.

    Attributes:
        out: output folder (the exported model, ``training.json``, ``checkpoints/``).
        epochs: total epochs (a resumed run continues up to this number).
        batch_size: images per batch (triplet: P labels x K images; SimCLR: 2 views each).
        lr: AdamW learning rate of the encoder's trainable layers.
        head_lr: learning rate of freshly initialised heads (default ``10 * lr``).
        lr_decay: layer-wise learning-rate decay: the top trainable group trains at ``lr``,
            the one below at ``lr * lr_decay``, and so on (a lower backbone rate than the
            head's; 1.0: one rate for all).
        weight_decay: AdamW weight decay.
        freeze: lower layer groups kept frozen (``None``: the lower half).
        seed: seeds the split, the sampler, the augmentations and torch.
        resume: continue from ``out/checkpoints/last.pt`` if it exists.
        progress: show a progress bar per epoch.
        grad_clip: clip the gradient norm to this (``None``: off).
        patience: stop after this many epochs without a new best (``None``: never).
        warmup: warm the learning rate up linearly over the first epoch.
        interpolate: export ``base + interpolate * (best - base)`` (a weight-space ensemble
            with the base model; 1.0: the best epoch as trained). See the module doc.
        refit: once the held-out photos chose the epoch count, train again from the base
            model on *every* image (the held-out ones and whole held-out labels too) for
            that many epochs and export that (blended as ``interpolate`` says).
        autocast: run the forward pass under bfloat16 autocast (weights and the loss stay
            float32): ``auto`` where the device has native bf16 (CUDA with bf16, a CPU with
            AVX512-BF16 or AMX), ``bfloat16`` always, ``off`` never.
        meta: free-form facts stored with the checkpoint (the base model name, ...).
    """

    out: str | Path
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float | None = None
    lr_decay: float = 1.0
    weight_decay: float = 1e-4
    freeze: int | None = None
    seed: int = 0
    resume: bool = False
    progress: bool = True
    grad_clip: float | None = 5.0
    patience: int | None = 3
    warmup: bool = True
    interpolate: float = 1.0
    refit: bool = False
    autocast: str = "auto"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a run did: per-epoch history, the best epoch, the exported model's held-out
    metrics (``best``), where it went; ``interpolated``: the weight-space ensemble's record
    (``interpolate``, ``metrics``, ``exported``) when one was tried; ``refit``: ``epochs``
    and ``images`` of the final run on every image and the ``interpolate`` its export was
    blended with (1.0: none), when there was one."""

    out: Path
    history: list[dict[str, Any]]
    best_epoch: int
    before: dict[str, float]
    best: dict[str, float]
    seconds: float
    interpolated: dict[str, Any] | None = None
    refit: dict[str, Any] | None = None

    @property
    def improved(self) -> bool:
        """True when an epoch beat the base model (else ``out`` holds the base weights)."""
        return self.best_epoch > 0


def _better(metrics: dict[str, float], best: dict[str, float], base: dict[str, float]) -> bool:
    """Does an epoch with ``metrics`` replace the ``best`` so far (see the module doc)?

    mAP leads (it uses the whole ranking, so it is steadier than recall@1 on a small
    held-out set) and must gain more than one query's worth; recall@1 must not fall below
    the base model's.
    """
    if not metrics:  # nothing held out: the last epoch is the best we know
        return True
    key = "map" if "map" in metrics else "mrr"  # one relevant item (CLIP pairs): MRR
    gain = metrics.get(key, 0.0) - best.get(key, 0.0)
    # Less than one query's worth (one query going from a miss to a perfect ranking) is noise.
    noise = 1.0 / metrics["queries"] if metrics.get("queries") else 0.0
    floor = max(MIN_GAIN, noise)
    return gain > floor and metrics.get("recall@1", 0.0) >= base.get("recall@1", 0.0)


def _not_below(metrics: dict[str, float], base: dict[str, float]) -> bool:
    """Neither recall@1 nor mAP (MRR) below the base model's (nothing held out: True)."""
    key = "map" if "map" in metrics else "mrr"
    return all(metrics.get(k, 0.0) >= base.get(k, 0.0) for k in ("recall@1", key))


def _seeded(seed: int) -> random.Random:
    """Seed torch and numpy; return the loop's own generator, seeded the same."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    return random.Random(seed)


def _make_optimizer(
    trainable: list[nn.Module], heads: dict[str, nn.Module], config: TrainConfig
) -> torch.optim.Optimizer:
    """AdamW over the trainable groups (top at ``lr``, each lower one ``lr_decay`` times
    that) and the objective's heads (``head_lr``)."""
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for depth, module in enumerate(reversed(trainable)):
        params = [p for p in module.parameters() if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in params)
        if params:
            groups.append({"params": params, "lr": config.lr * config.lr_decay**depth})
    head_params = [p for head in heads.values() for p in head.parameters()]
    if head_params:
        groups.append({"params": head_params, "lr": config.head_lr or config.lr * 10})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def fit(
    encoder: Encoder,
    objective: Objective,
    config: TrainConfig,
    *,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``encoder`` with ``objective``; export the best epoch to ``config.out``.

    Seeds torch, numpy and the loop's own ``random.Random`` with ``config.seed``.

    Args:
        encoder: the model to fine-tune, changed in place (it ends at the last epoch, in eval
            mode; the best epoch is the one exported).
        objective: data + loss (:class:`~imagevec.training.triplet.TripletObjective`...).
        config: the loop options.
        log: where the per-epoch lines go (default: ``tqdm.write``).
        on_epoch_end: called with each epoch's record after its checkpoint is written
            (raise ``KeyboardInterrupt`` there to simulate an interruption).

    Returns:
        A :class:`TrainResult`.
    """
    say = log or tqdm.write
    out = Path(config.out)
    if config.epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {config.epochs}")
    if not 0 < config.interpolate <= 1:
        raise ConfigError(f"interpolate must be in (0, 1], got {config.interpolate}")
    if config.autocast not in AUTOCAST:
        raise ConfigError(f"autocast must be one of {AUTOCAST}, got {config.autocast!r}")
    started = time.perf_counter()
    rng = _seeded(config.seed)
    objective.setup(encoder, config)
    trainable = objective.trainable(encoder, config.freeze)
    make_trainable(encoder, trainable)
    base_weights = _snapshot(trainable)  # the model as loaded: epoch 0, also on a resume
    heads = objective.extra_modules()
    for head in heads.values():
        head.to(encoder.device).train()
    modules = {**encoder.modules(), **heads}
    optimizer = _make_optimizer(trainable, heads, config)
    if objective.describe():
        say(f"{objective.name}: {objective.describe()}")
    total = count_parameters(list(encoder.modules().values()))
    amp = autocast_dtype(encoder, config.autocast)
    say(
        f"{objective.name}: training {count_parameters(trainable):,} of {total:,} weights "
        f"({len(trainable)} layer groups), {objective.batches_per_epoch()} batches per epoch"
        + (", bf16 autocast" if amp is not None else "")
    )
    checkpoint = out / CHECKPOINT
    if config.resume and checkpoint.is_file():
        state = load_state(checkpoint)
        check_compatible(state, objective.name, config.meta, out)
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng(rng, state["rng"])
        history, best_epoch, start = state["history"], state["best_epoch"], state["epoch"] + 1
        best_weights = state.get("best_weights") or (base_weights if best_epoch == 0 else None)
        say(f"resuming after epoch {state['epoch']} (best so far: epoch {best_epoch})")
    else:
        history = [{"epoch": 0, "loss": None, "metrics": _evaluate(encoder, objective)}]
        best_epoch, start = 0, 1
        best_weights = base_weights
        export_encoder(encoder, out)
        say(f"epoch 0 (base model)  held-out {_fmt(history[0]['metrics'])}")
    for epoch in range(start, config.epochs + 1):
        if config.patience is not None and epoch - max(best_epoch, start - 1) > config.patience:
            say(f"no new best for {config.patience} epochs: stopping early")
            break
        set_train_mode(encoder, trainable)
        tick = time.perf_counter()
        loss = _train_epoch(encoder, objective, optimizer, rng, epoch, config, amp)
        took = time.perf_counter() - tick
        metrics = _evaluate(encoder, objective)
        record = {
            "epoch": epoch,
            "loss": loss,
            "metrics": metrics,
            "train_seconds": round(took, 3),
            "steps": objective.batches_per_epoch(),
        }
        history.append(record)
        improved = _better(metrics, history[best_epoch]["metrics"], history[0]["metrics"])
        if improved:
            best_epoch = epoch
            best_weights = _snapshot(trainable)
            export_encoder(encoder, out)
        note = "  (best, exported)" if improved else ""
        say(f"epoch {epoch}/{config.epochs}  loss {loss:.4f}  held-out {_fmt(metrics)}{note}")
        state = {
            "epoch": epoch,
            "objective": objective.name,
            "meta": config.meta,
            "modules": {name: module.state_dict() for name, module in modules.items()},
            "optimizer": optimizer.state_dict(),
            "rng": capture_rng(rng),
            "history": history,
            "best_epoch": best_epoch,
            "best_weights": best_weights,
        }
        save_state(checkpoint, state)
        _write_history(out, objective, config, history, best_epoch)
        if on_epoch_end is not None:
            on_epoch_end(record)
    if best_weights is not None:  # a checkpoint from before best_weights: its last weights
        _restore(trainable, best_weights)
    for module in encoder.modules().values():
        module.eval()
    encoder.weights_changed()
    before, best = history[0]["metrics"], history[best_epoch]["metrics"]
    blend = None
    if best_epoch > 0 and config.interpolate < 1 and best_weights is not None:
        blend = _interpolate(
            encoder, objective, trainable, (base_weights, best_weights), before, config.interpolate
        )
        if blend["exported"]:
            export_encoder(encoder, out)
            best = blend["metrics"]
    refit = None
    images = objective.use_all(config.seed) if config.refit and best_epoch > 0 else 0
    if images:
        say(f"training again from the base model on all {images} images for {best_epoch} epochs")
        t = blend["interpolate"] if blend and blend["exported"] else 1.0
        refit = {"epochs": best_epoch, "images": images, "interpolate": t}
        weights = _refit(encoder, objective, trainable, base_weights, best_epoch, config, amp)
        _restore(trainable, _mix(base_weights, weights, t))
        encoder.weights_changed()
        export_encoder(encoder, out)
    _write_history(out, objective, config, history, best_epoch, blend, refit)
    say(_verdict(before, history[best_epoch]["metrics"], best_epoch, out, blend, refit))
    seconds = time.perf_counter() - started
    return TrainResult(out, history, best_epoch, before, best, seconds, blend, refit)


def _refit(
    encoder: Encoder,
    objective: Objective,
    trainable: list[nn.Module],
    base: list[dict[str, torch.Tensor]],
    epochs: int,
    config: TrainConfig,
    amp: torch.dtype | None,
) -> list[dict[str, torch.Tensor]]:
    """Train ``epochs`` epochs from the ``base`` weights, seeded as the first run; nothing is
    held out, so nothing is scored. Returns the trained weights (the encoder keeps them)."""
    _restore(trainable, base)
    rng = _seeded(config.seed)
    heads = objective.extra_modules()
    optimizer = _make_optimizer(trainable, heads, config)
    for epoch in range(1, epochs + 1):
        set_train_mode(encoder, trainable)
        _train_epoch(encoder, objective, optimizer, rng, epoch, config, amp, label="refit")
    for module in encoder.modules().values():
        module.eval()
    return _snapshot(trainable)


def _mix(
    base: list[dict[str, torch.Tensor]], tuned: list[dict[str, torch.Tensor]], t: float
) -> list[dict[str, torch.Tensor]]:
    """``base + t * (tuned - base)`` tensor by tensor (integer buffers: ``tuned``'s)."""
    return [
        {k: a[k] + t * (b[k] - a[k]) if b[k].is_floating_point() else b[k] for k in b}
        for a, b in zip(base, tuned, strict=True)
    ]


def _interpolate(
    encoder: Encoder,
    objective: Objective,
    trainable: list[nn.Module],
    ends: tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]],
    before: dict[str, float],
    t: float,
) -> dict[str, Any]:
    """Put ``base + t * (best - base)`` (``ends`` = base, best) into the encoder and score it
    on the held-out photos; it stays (``exported``) unless it scores below the base model
    there (the best epoch already beat the base by more than noise; a blend half-way keeps
    part of that gain, which may be under the noise floor), else the best epoch goes back."""
    base, best = ends
    _restore(trainable, _mix(base, best, t))
    encoder.weights_changed()
    metrics = _evaluate(encoder, objective)
    keep = _not_below(metrics, before)
    if not keep:
        _restore(trainable, best)
        encoder.weights_changed()
    return {"interpolate": t, "metrics": metrics, "exported": keep}


def _verdict(
    before: dict[str, float],
    best: dict[str, float],
    epoch: int,
    out: Path,
    blend: dict[str, Any] | None = None,
    refit: dict[str, Any] | None = None,
) -> str:
    """The plain-words summary: what was exported and why."""
    key = "map" if "map" in before else "mrr"
    if not before:
        won = f"nothing was held out: the last epoch ({epoch}) is the best known"
    elif epoch == 0:
        nums = f"held-out recall@1 {before['recall@1']:.3f}, {key} {before[key]:.3f}"
        return (
            f"NO IMPROVEMENT: no epoch beat the base model on the held-out photos ({nums}); "
            f"{out} holds the base weights unchanged"
        )
    else:
        won = (
            f"epoch {epoch} beat the base model on the held-out photos: recall@1 "
            f"{before['recall@1']:.3f} -> {best['recall@1']:.3f}, {key} {before[key]:.3f} -> "
            f"{best[key]:.3f}"
        )
    model = f"epoch {epoch}"
    if refit is not None:
        model = f"{refit['epochs']} epochs on all {refit['images']} images"
    if blend is None:
        return f"{won}; exported {model} to {out}"
    mixed, t = blend["metrics"], blend["interpolate"]
    scores = f"recall@1 {mixed['recall@1']:.3f}, {key} {mixed[key]:.3f}" if mixed else ""
    if blend["exported"]:
        held = f"; base + {t:g} x (epoch {epoch} - base) held out: {scores}" if scores else ""
        ensemble = f"base + {t:g} x ({model} - base) (a weight-space ensemble{held})"
        return f"{won}; exported {ensemble} to {out}"
    return (
        f"{won}; base + {t:g} x (epoch {epoch} - base) did not beat the base ({scores}): "
        f"exported {model} as trained to {out}"
    )


def _snapshot(modules: list[nn.Module]) -> list[dict[str, torch.Tensor]]:
    """A detached copy of the trainable modules' weights."""
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def _restore(modules: list[nn.Module], saved: list[dict[str, torch.Tensor]]) -> None:
    with torch.no_grad():
        for module, state in zip(modules, saved, strict=True):
            module.load_state_dict(state)


def _train_epoch(
    encoder: Encoder,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
    epoch: int,
    config: TrainConfig,
    amp: torch.dtype | None = None,
    *,
    label: str = "epoch",
) -> float:
    """One pass over the objective's batches (forward under ``amp`` autocast when given);
    returns the mean loss."""
    losses: list[float] = []
    bar = tqdm(
        objective.batches(rng),
        total=objective.batches_per_epoch(),
        desc=f"{label} {epoch}/{config.epochs}",
        unit="batch",
        disable=not config.progress,
        leave=False,
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    steps = objective.batches_per_epoch()
    for step, batch in enumerate(bar):
        if config.warmup and epoch == 1:
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr * (step + 1) / steps
        with _autocast(encoder, amp):
            loss = objective.loss(encoder, batch, rng).float()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    bar.close()
    for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = lr
    return float(np.mean(losses))


def autocast_dtype(encoder: Encoder, choice: str) -> torch.dtype | None:
    """The autocast dtype for ``TrainConfig.autocast`` on this encoder's device (``None``:
    plain float32). A model already loaded in a low precision is left as it is."""
    from imagevec.encoders.runtime import cpu_supports_bfloat16

    if choice == "off" or encoder.dtype != torch.float32:
        return None
    if choice == "bfloat16":
        return torch.bfloat16
    device = encoder.device.type
    native = (device == "cuda" and torch.cuda.is_bf16_supported()) or (
        device == "cpu" and cpu_supports_bfloat16()
    )
    return torch.bfloat16 if native else None


def _autocast(encoder: Encoder, amp: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=encoder.device.type, dtype=amp)


def _evaluate(encoder: Encoder, objective: Objective) -> dict[str, float]:
    with eval_mode(encoder), torch.inference_mode():
        return objective.evaluate(encoder)


def _fmt(metrics: dict[str, float]) -> str:
    """``recall@1 0.812  map 0.701 | unseen recall@1 0.700  map 0.650``."""
    known = [f"{k} {metrics[k]:.3f}" for k in ("recall@1", "recall@5", "map") if k in metrics]
    unseen = [
        f"{k[7:]} {metrics[k]:.3f}"
        for k in ("unseen recall@1", "unseen recall@5", "unseen map")
        if k in metrics
    ]
    return "  ".join(known) + (" | unseen labels " + "  ".join(unseen) if unseen else "")


def _write_history(
    out: Path,
    objective: Objective,
    config: TrainConfig,
    history: list[dict[str, Any]],
    best: int,
    blend: dict[str, Any] | None = None,
    refit: dict[str, Any] | None = None,
) -> None:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    payload: dict[str, Any] = {"objective": objective.name, "config": options, "best_epoch": best}
    if blend is not None:
        payload["interpolated"] = blend
    if refit is not None:
        payload["refit"] = refit
    write_json(out / HISTORY, {**payload, "history": history})
