"""THE training loop: one for every objective (triplet, SimCLR, MoCo, BYOL, CLIP).

Per epoch: batches from the objective, loss, AdamW step (the learning rate warms up
linearly over the first epoch), a progress bar with the running loss, then the held-out
metrics. Training stops early after ``patience`` epochs without a new best.

Which weights are exported — better than the base or the base itself (``NO IMPROVEMENT``),
the blend with the base (``interpolate``), the refit on every image (``refit``) — is decided
by the rules of :mod:`imagevec.training.selection`, and the last log line says what was
exported with *its* held-out scores. ``create_encoder(out)`` loads the export, and the
encoder ends with those weights; ``out/checkpoints/last.pt`` holds model + optimizer + epoch
+ RNG states + the objective's own state (a momentum copy, a queue) for ``resume``;
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
from imagevec.training.selection import (
    MIN_GAIN,
    Weights,
    better,
    mix,
    restore,
    snapshot,
    try_blend,
    verdict,
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

    def state_dict(self) -> dict[str, Any]:
        """The objective's own training state beyond modules and RNGs (MoCo's queue and key
        weights, BYOL's target), checkpointed so that a resumed run continues exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back :meth:`state_dict`; an empty ``state`` starts that state afresh."""
        del state  # nothing beyond modules and RNGs by default

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
    metrics (``best``: the blend's when it was exported; with a refit, those of its validated
    stand-in), where it went; ``interpolated``: the weight-space ensemble's record
    (``interpolate``, ``metrics``, ``exported``) when one was tried; ``refit``: ``epochs``
    and ``images`` of the final run on every image and the ``interpolate`` its export was
    blended with (1.0: none), when there was one; ``epoch_metrics``: the best epoch's
    held-out metrics as trained (``best`` when nothing was blended)."""

    out: Path
    history: list[dict[str, Any]]
    best_epoch: int
    before: dict[str, float]
    best: dict[str, float]
    seconds: float
    interpolated: dict[str, Any] | None = None
    refit: dict[str, Any] | None = None
    epoch_metrics: dict[str, float] | None = None

    @property
    def improved(self) -> bool:
        """True when an epoch beat the base model (else ``out`` holds the base weights)."""
        return self.best_epoch > 0


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
    """Train ``encoder`` with ``objective``; export what :mod:`~imagevec.training.selection`
    chooses to ``config.out``.

    Seeds torch, numpy and the loop's own ``random.Random`` with ``config.seed``.

    Args:
        encoder: the model to fine-tune, changed in place (it ends with the exported weights,
            in eval mode).
        objective: data + loss (:class:`~imagevec.training.triplet.TripletObjective`...).
        config: the loop options.
        log: where the per-epoch lines go (default: ``tqdm.write``).
        on_epoch_end: called with each epoch's record after its checkpoint is written
            (raise ``KeyboardInterrupt`` there to simulate an interruption).

    Returns:
        A :class:`TrainResult`.
    """
    if config.epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {config.epochs}")
    if not 0 < config.interpolate <= 1:
        raise ConfigError(f"interpolate must be in (0, 1], got {config.interpolate}")
    if config.autocast not in AUTOCAST:
        raise ConfigError(f"autocast must be one of {AUTOCAST}, got {config.autocast!r}")
    started = time.perf_counter()
    run = _Run(encoder, objective, config, log or tqdm.write)
    run.train(on_epoch_end)
    return run.finish(started)


class _Run:
    """One call of :func:`fit`: the set-up, the epochs, then the export (:meth:`finish`)."""

    def __init__(
        self,
        encoder: Encoder,
        objective: Objective,
        config: TrainConfig,
        say: Callable[[str], None],
    ) -> None:
        self.encoder, self.objective, self.config, self.say = encoder, objective, config, say
        self.out = Path(config.out)
        self.rng = _seeded(config.seed)
        objective.setup(encoder, config)
        self.trainable = objective.trainable(encoder, config.freeze)
        make_trainable(encoder, self.trainable)
        self.base_weights = snapshot(
            self.trainable
        )  # the model as loaded: epoch 0, on a resume too
        self.heads = objective.extra_modules()
        for head in self.heads.values():
            head.to(encoder.device).train()
        self.modules = {**encoder.modules(), **self.heads}
        self.optimizer = _make_optimizer(self.trainable, self.heads, config)
        if objective.describe():
            say(f"{objective.name}: {objective.describe()}")
        total = count_parameters(list(encoder.modules().values()))
        self.amp = autocast_dtype(encoder, config.autocast)
        say(
            f"{objective.name}: training {count_parameters(self.trainable):,} of {total:,} "
            f"weights ({len(self.trainable)} layer groups), {objective.batches_per_epoch()} "
            "batches per epoch" + (", bf16 autocast" if self.amp is not None else "")
        )
        self.best_weights: Weights | None = self.base_weights
        self.history: list[dict[str, Any]] = []
        checkpoint = self.out / CHECKPOINT
        if config.resume and checkpoint.is_file():
            self._resume(checkpoint)
        else:
            self.history = [{"epoch": 0, "loss": None, "metrics": self._evaluate()}]
            self.best_epoch, self.start = 0, 1
            export_encoder(encoder, self.out)
            say(f"epoch 0 (base model)  held-out {_fmt(self.history[0]['metrics'])}")

    def _resume(self, checkpoint: Path) -> None:
        state = load_state(checkpoint)
        check_compatible(state, self.objective.name, self.config.meta, self.out)
        for name, module in self.modules.items():
            module.load_state_dict(state["modules"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        restore_rng(self.rng, state["rng"])
        self.objective.load_state_dict(state.get("objective_state") or {})
        self.history, self.best_epoch = state["history"], state["best_epoch"]
        self.start = state["epoch"] + 1
        saved = state.get("best_weights")
        self.best_weights = saved or (self.base_weights if self.best_epoch == 0 else None)
        self.say(f"resuming after epoch {state['epoch']} (best so far: epoch {self.best_epoch})")

    def _evaluate(self) -> dict[str, float]:
        return _evaluate(self.encoder, self.objective)

    def train(self, on_epoch_end: Callable[[dict[str, Any]], None] | None) -> None:
        """The epochs: train, score on the held-out photos, keep the best, checkpoint."""
        config, patience = self.config, self.config.patience
        for epoch in range(self.start, config.epochs + 1):
            if patience is not None and epoch - max(self.best_epoch, self.start - 1) > patience:
                self.say(f"no new best for {patience} epochs: stopping early")
                break
            set_train_mode(self.encoder, self.trainable)
            tick = time.perf_counter()
            loss = _train_epoch(
                self.encoder, self.objective, self.optimizer, self.rng, epoch, config, self.amp
            )
            took = time.perf_counter() - tick
            metrics = self._evaluate()
            record = {
                "epoch": epoch,
                "loss": loss,
                "metrics": metrics,
                "train_seconds": round(took, 3),
                "steps": self.objective.batches_per_epoch(),
            }
            self.history.append(record)
            best, base = self.history[self.best_epoch]["metrics"], self.history[0]["metrics"]
            improved = better(metrics, best, base)
            if improved:
                self.best_epoch, self.best_weights = epoch, snapshot(self.trainable)
                export_encoder(self.encoder, self.out)  # a crash leaves a validated model
            note = "  (best so far)" if improved else ""
            self.say(
                f"epoch {epoch}/{config.epochs}  loss {loss:.4f}  held-out {_fmt(metrics)}{note}"
            )
            self._checkpoint(epoch)
            if on_epoch_end is not None:
                on_epoch_end(record)

    def _checkpoint(self, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "objective": self.objective.name,
            "meta": self.config.meta,
            "modules": {name: module.state_dict() for name, module in self.modules.items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng(self.rng),
            "objective_state": self.objective.state_dict(),
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }
        save_state(self.out / CHECKPOINT, state)
        _write_history(self.out, self.objective, self.config, self.history, self.best_epoch)

    def _weights_changed(self) -> None:
        for module in self.encoder.modules().values():
            module.eval()
        self.encoder.weights_changed()

    def finish(self, started: float) -> TrainResult:
        """Export by the rules of :mod:`~imagevec.training.selection`; say what and why."""
        encoder, objective, config, out = self.encoder, self.objective, self.config, self.out
        if self.best_weights is not None:  # a checkpoint from before best_weights: last weights
            restore(self.trainable, self.best_weights)
        self._weights_changed()
        before = self.history[0]["metrics"]
        best = exported = self.history[self.best_epoch]["metrics"]
        blend = None
        if self.best_epoch > 0 and config.interpolate < 1 and self.best_weights is not None:

            def score() -> dict[str, float]:
                encoder.weights_changed()
                return self._evaluate()

            ends = (self.base_weights, self.best_weights)
            blend = try_blend(self.trainable, ends, before, config.interpolate, score)
            encoder.weights_changed()
            if blend["exported"]:
                export_encoder(encoder, out)
                exported = blend["metrics"]
        refit = None
        images = objective.use_all(config.seed) if config.refit and self.best_epoch > 0 else 0
        if images:
            epochs = self.best_epoch
            self.say(
                f"training again from the base model on all {images} images for {epochs} epochs"
            )
            t = blend["interpolate"] if blend and blend["exported"] else 1.0
            refit = {"epochs": epochs, "images": images, "interpolate": t}
            weights = _refit(
                encoder, objective, self.trainable, self.base_weights, epochs, config, self.amp
            )
            restore(self.trainable, mix(self.base_weights, weights, t))
            encoder.weights_changed()
            export_encoder(encoder, out)
        _write_history(out, objective, config, self.history, self.best_epoch, blend, refit)
        self.say(verdict(before, best, self.best_epoch, out, blend, refit))
        seconds = time.perf_counter() - started
        return TrainResult(
            out, self.history, self.best_epoch, before, exported, seconds, blend, refit, best
        )


def _refit(
    encoder: Encoder,
    objective: Objective,
    trainable: list[nn.Module],
    base: Weights,
    epochs: int,
    config: TrainConfig,
    amp: torch.dtype | None,
) -> Weights:
    """Train ``epochs`` epochs from the ``base`` weights, seeded as the first run; nothing is
    held out, so nothing is scored. Returns the trained weights (the encoder keeps them)."""
    restore(trainable, base)
    rng = _seeded(config.seed)
    objective.load_state_dict({})  # momentum copies and queues start afresh
    heads = objective.extra_modules()
    optimizer = _make_optimizer(trainable, heads, config)
    for epoch in range(1, epochs + 1):
        set_train_mode(encoder, trainable)
        _train_epoch(encoder, objective, optimizer, rng, epoch, config, amp, label="refit")
    for module in encoder.modules().values():
        module.eval()
    return snapshot(trainable)


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
