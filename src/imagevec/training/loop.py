"""THE training loop: one for every objective (triplet, SimCLR, CLIP).

Per epoch: batches from the objective, loss, AdamW step, a progress bar with the running
loss, then the held-out metrics (recall@1 first). The best epoch (by held-out mAP, then
recall@1) is exported to ``out`` with the family's ``save`` — ``create_encoder(out)`` loads it;
``out/checkpoints/last.pt`` holds model + optimizer + epoch + RNG states for ``resume``;
``out/training.json`` the history. Epoch 0 is the model before training.

Example:
    >>> enc = create_encoder("default")                               # doctest: +SKIP
    >>> objective = TripletObjective("products/")                     # doctest: +SKIP
    >>> fit(enc, objective, TrainConfig(out="runs/t", epochs=5))      # doctest: +SKIP
"""

from __future__ import annotations

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

__all__ = ["Objective", "TrainConfig", "TrainResult", "fit"]

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
        weight_decay: AdamW weight decay.
        freeze: lower layer groups kept frozen (``None``: the lower half).
        seed: seeds the split, the sampler, the augmentations and torch.
        resume: continue from ``out/checkpoints/last.pt`` if it exists.
        progress: show a progress bar per epoch.
        grad_clip: clip the gradient norm to this (``None``: off).
        meta: free-form facts stored with the checkpoint (the base model name, ...).
    """

    out: str | Path
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float | None = None
    weight_decay: float = 1e-4
    freeze: int | None = None
    seed: int = 0
    resume: bool = False
    progress: bool = True
    grad_clip: float | None = 5.0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a run did: per-epoch history, the best epoch and its metrics, where it went."""

    out: Path
    history: list[dict[str, Any]]
    best_epoch: int
    before: dict[str, float]
    best: dict[str, float]
    seconds: float


def _score(metrics: dict[str, float]) -> tuple[float, float]:
    """Best-epoch order: mAP (MRR where there is one relevant item), then recall@1. mAP
    uses the whole ranking, so it is steadier than recall@1 on a small held-out set."""
    return (metrics.get("map", metrics.get("mrr", 0.0)), metrics.get("recall@1", 0.0))


def _make_optimizer(
    params: list[nn.Parameter], heads: dict[str, nn.Module], config: TrainConfig
) -> torch.optim.Optimizer:
    groups: list[dict[str, Any]] = [{"params": params, "lr": config.lr}]
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
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    rng = random.Random(config.seed)
    objective.setup(encoder, config)
    trainable = objective.trainable(encoder, config.freeze)
    params = make_trainable(encoder, trainable)
    heads = objective.extra_modules()
    for head in heads.values():
        head.to(encoder.device).train()
    modules = {**encoder.modules(), **heads}
    optimizer = _make_optimizer(params, heads, config)
    if objective.describe():
        say(f"{objective.name}: {objective.describe()}")
    total = count_parameters(list(encoder.modules().values()))
    say(
        f"{objective.name}: training {count_parameters(trainable):,} of {total:,} weights "
        f"({len(trainable)} layer groups), {objective.batches_per_epoch()} batches per epoch"
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
        say(f"resuming after epoch {state['epoch']} (best so far: epoch {best_epoch})")
    else:
        history = [{"epoch": 0, "loss": None, "metrics": _evaluate(encoder, objective)}]
        best_epoch, start = 0, 1
        export_encoder(encoder, out)
        say(f"epoch 0 (before)  held-out {_fmt(history[0]['metrics'])}")
    for epoch in range(start, config.epochs + 1):
        set_train_mode(encoder, trainable)
        loss = _train_epoch(encoder, objective, optimizer, rng, epoch, config)
        metrics = _evaluate(encoder, objective)
        record = {"epoch": epoch, "loss": loss, "metrics": metrics}
        history.append(record)
        improved = not metrics or _score(metrics) > _score(history[best_epoch]["metrics"])
        if improved:
            best_epoch = epoch
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
        }
        save_state(checkpoint, state)
        _write_history(out, objective, config, history, best_epoch)
        if on_epoch_end is not None:
            on_epoch_end(record)
    for module in encoder.modules().values():
        module.eval()
    encoder.weights_changed()
    _write_history(out, objective, config, history, best_epoch)
    before, best = history[0]["metrics"], history[best_epoch]["metrics"]
    return TrainResult(out, history, best_epoch, before, best, time.perf_counter() - started)


def _train_epoch(
    encoder: Encoder,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
    epoch: int,
    config: TrainConfig,
) -> float:
    """One pass over the objective's batches; returns the mean loss."""
    losses: list[float] = []
    bar = tqdm(
        objective.batches(rng),
        total=objective.batches_per_epoch(),
        desc=f"epoch {epoch}/{config.epochs}",
        unit="batch",
        disable=not config.progress,
        leave=False,
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for batch in bar:
        loss = objective.loss(encoder, batch, rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses):.4f}")
    bar.close()
    return float(np.mean(losses))


def _evaluate(encoder: Encoder, objective: Objective) -> dict[str, float]:
    with eval_mode(encoder), torch.inference_mode():
        return objective.evaluate(encoder)


def _fmt(metrics: dict[str, float]) -> str:
    from imagevec.evaluation import format_metrics

    return format_metrics(metrics)


def _write_history(
    out: Path, objective: Objective, config: TrainConfig, history: list[dict[str, Any]], best: int
) -> None:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
    payload = {"objective": objective.name, "config": options, "best_epoch": best}
    write_json(out / HISTORY, {**payload, "history": history})
