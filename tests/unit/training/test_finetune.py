"""Fine-tuning end to end on tiny models: data, freezing, loss goes down, export, resume."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import imagevec
from imagevec.errors import ConfigError
from imagevec.training import finetune_clip, finetune_simclr, finetune_triplet, recommend
from imagevec.training.cache import ActivationCache
from imagevec.training.data import (
    PKSampler,
    read_pairs_csv,
    scan_labelled_folder,
    split_by_label,
    split_within_labels,
)
from imagevec.training.freeze import (
    make_trainable,
    set_train_mode,
    split_groups,
)
from imagevec.training.loop import Objective, TrainConfig, autocast_dtype
from imagevec.training.selection import MIN_GAIN, try_blend, verdict
from imagevec.training.selection import better as _better
from imagevec.training.triplet import TRIPLET_DEFAULTS, TripletObjective
from tests.tiny_models import build_tiny_clip, build_tiny_resnet, build_tiny_vit

FAST = {"batch_size": 8, "progress": False, "lr": 3e-3, "device": "cpu"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "resnet": build_tiny_resnet(root / "resnet"),
        "vit": build_tiny_vit(root / "vit"),
        "clip": build_tiny_clip(root / "clip"),
    }


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 labels x 4 images: each label a random colour layout, each image a noisy copy."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    for label in range(8):
        base = rng.integers(0, 256, (4, 4, 3))
        (root / f"label{label}").mkdir()
        for n in range(4):
            noisy = np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)
            image = Image.fromarray(noisy).resize((64, 48), Image.Resampling.NEAREST)
            image.save(root / f"label{label}" / f"{n}.png")
    return root


def _changed_in_checkpoint(base: Path, out: Path) -> list[str]:
    """Weights of the last checkpoint in ``out`` that differ from the base model's."""
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["modules"]
    enc = imagevec.create_encoder(str(base), device="cpu", engine="torch")
    return [
        f"{name}.{key}"
        for name, module in enc.modules().items()
        for key, value in module.state_dict().items()
        if not torch.equal(value, state[name][key])
    ]


# ---------------------------------------------------------------- data


def test_split_holds_out_whole_unseen_labels(labelled: Path) -> None:
    paths, labels = scan_labelled_folder(labelled)
    assert len(paths) == 32 and labels[0] == "label0"
    train, held = split_by_label(labels, holdout=0.25, seed=1)
    train_labels = {labels[i] for i in train}
    held_labels = {labels[i] for i in held}
    assert len(held_labels) == 2 and not train_labels & held_labels
    assert sorted(train + held) == list(range(32))
    assert split_by_label(labels, holdout=0.25, seed=1) == (train, held)


def test_split_within_labels_keeps_two_for_training_and_holds_out_pairs() -> None:
    labels = ["a"] * 10 + ["b"] * 4 + ["c"] * 3 + ["d"]
    train, held = split_within_labels(labels, holdout=0.2, seed=3)
    held_by = {x: sum(labels[i] == x for i in held) for x in "abcd"}
    # 10 -> 2 held (20%); 4 -> 2 held, 2 train; 3 and 1 are too small: all train.
    assert held_by == {"a": 2, "b": 2, "c": 0, "d": 0}
    assert sorted(train + held) == list(range(len(labels)))
    assert split_within_labels(labels, holdout=0.2, seed=3) == (train, held)
    assert split_within_labels(labels, holdout=0.0) == (list(range(len(labels))), [])
    with pytest.raises(ConfigError):
        split_within_labels(labels, holdout=1.0)


def test_pk_sampler_gives_p_labels_of_k_images() -> None:
    labels = ["a"] * 5 + ["b"] * 2 + ["c"] * 3 + ["lonely"]
    sampler = PKSampler(labels, p=2, k=3, rng=random.Random(0))
    for items, ids in sampler:
        assert len(items) == 6 and sorted(ids) == [0, 0, 0, 1, 1, 1]
        groups = {labels[i] for i, label_id in zip(items, ids, strict=True) if label_id == 0}
        assert len(groups) == 1 and "lonely" not in {labels[i] for i in items}
    with pytest.raises(ConfigError):
        PKSampler(["a", "a", "b"], p=2, k=2, rng=random.Random(0))


def test_pairs_csv_header_relative_paths_and_commas(tmp_path: Path) -> None:
    (tmp_path / "pairs.csv").write_text(
        'image,caption\ncat.jpg,"a cat, asleep"\n/abs/dog.png,a dog\n'
    )
    images, captions = read_pairs_csv(tmp_path / "pairs.csv")
    assert images == [tmp_path / "cat.jpg", Path("/abs/dog.png")]
    assert captions == ["a cat, asleep", "a dog"]


# ---------------------------------------------------------------- freezing / gradients


def test_split_groups_default_half_negative_and_too_many() -> None:
    groups = [torch.nn.Linear(1, 1) for _ in range(6)]
    assert [len(part) for part in split_groups(groups, None)] == [3, 3]
    assert [len(part) for part in split_groups(groups, -2)] == [4, 2]
    with pytest.raises(ConfigError):
        split_groups(groups, 6)


@pytest.mark.parametrize("family", ["resnet", "vit", "clip"])
def test_forward_is_differentiable_and_freezing_stops_gradients(
    tiny: dict[str, Path], family: str
) -> None:
    enc = imagevec.create_encoder(str(tiny[family]), device="cpu", engine="torch")
    groups = enc.layer_groups()
    frozen, trainable = split_groups(groups, 1)
    params = make_trainable(enc, trainable)
    set_train_mode(enc, trainable)
    features = enc.forward_images(torch.randn(2, 3, 224, 224))
    assert features.requires_grad
    features.pow(2).sum().backward()
    assert all(p.grad is not None for p in params)
    assert all(p.grad is None for p in frozen[0].parameters())
    assert not any(sub.training for sub in frozen[0].children())


# ---------------------------------------------------------------- selection / cache


def test_an_epoch_must_beat_the_base_and_ties_go_to_the_earlier_epoch() -> None:
    base = {"recall@1": 0.80, "map": 0.60}
    assert _better({"recall@1": 0.85, "map": 0.65}, base, base)
    assert not _better({"recall@1": 0.85, "map": 0.60 + MIN_GAIN / 2}, base, base)  # a tie
    assert not _better({"recall@1": 0.75, "map": 0.70}, base, base)  # recall@1 fell
    # Less than one query's worth of mAP (1/20 here) is noise on a small held-out set.
    assert not _better({"recall@1": 0.85, "map": 0.64, "queries": 20}, base, base)
    assert _better({"recall@1": 0.85, "map": 0.66, "queries": 20}, base, base)
    best = {"recall@1": 0.9, "map": 0.7}
    assert not _better({"recall@1": 0.9, "map": 0.7}, best, base)
    assert _better({"recall@1": 0.5, "mrr": 0.5}, {"recall@1": 0.5, "mrr": 0.4}, {})


class _OneLayer:
    """The least of an encoder that weight interpolation touches: modules + fingerprint."""

    def __init__(self) -> None:
        self.layer = torch.nn.Linear(1, 1, bias=False)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"layer": self.layer}

    def weights_changed(self) -> None:
        pass


class _ScoreByWeight(Objective):
    """Held-out metrics read off the layer's single weight by ``score(w) -> (r@1, mAP)``."""

    name = "fake"

    def __init__(self, model: _OneLayer, score: object) -> None:
        self.model, self.score = model, score

    def evaluate(self, encoder: object) -> dict[str, float]:
        recall, average = self.score(self.model.layer.weight.item())  # type: ignore[operator]
        return {"recall@1": recall, "map": average}

    def setup(self, *_: object) -> None: ...
    def trainable(self, *_: object) -> list[torch.nn.Module]: ...  # type: ignore[empty-body]
    def batches(self, *_: object) -> object: ...  # type: ignore[override]
    def batches_per_epoch(self) -> int: ...  # type: ignore[empty-body]
    def loss(self, *_: object) -> torch.Tensor: ...  # type: ignore[empty-body]


@pytest.mark.parametrize(
    ("score", "kept", "weight"),
    [
        (lambda w: (0.9, 0.6 + w / 10), True, 1.0),  # halfway (w=1) beats the base (w=0)
        (lambda w: (0.8, 0.6 + w / 1000), True, 1.0),  # a gain under the noise floor is kept
        (lambda w: (0.7 if w < 2 else 0.9, 0.6 + w / 10), False, 2.0),  # its recall@1 fell
        (lambda w: (0.9, 0.5 if w < 2 else 0.7), False, 2.0),  # its mAP fell
    ],
)
def test_the_weight_space_ensemble_is_kept_unless_it_scores_below_the_base(
    score: object, kept: bool, weight: float
) -> None:
    model = _OneLayer()
    base, best = [{"weight": torch.zeros(1, 1)}], [{"weight": torch.full((1, 1), 2.0)}]
    before = {"recall@1": 0.8, "map": 0.6}
    objective = _ScoreByWeight(model, score)
    blend = try_blend([model.layer], (base, best), before, 0.5, lambda: objective.evaluate(model))
    assert blend["exported"] is kept and blend["interpolate"] == 0.5
    assert model.layer.weight.item() == weight  # else the best epoch's weights went back
    assert blend["metrics"]["map"] == pytest.approx(score(1.0)[1])  # type: ignore[operator]


def test_the_verdict_headlines_the_exported_model_not_the_best_epoch() -> None:
    before = {"recall@1": 0.688, "map": 0.600}
    epoch = {"recall@1": 0.917, "map": 0.700}
    blend = {"interpolate": 0.25, "metrics": {"recall@1": 0.750, "map": 0.640}, "exported": True}
    line = verdict(before, epoch, 5, Path("out"), blend)
    exported, _, alone = line.partition(";")
    assert "recall@1 0.688 -> 0.750" in exported and "0.917" not in exported
    assert "base + 0.25 x (epoch 5 - base)" in exported and "epoch 5 alone" in alone
    # A refused blend: the epoch as trained is the export and the headline.
    blend = {**blend, "metrics": {"recall@1": 0.6, "map": 0.5}, "exported": False}
    line = verdict(before, epoch, 5, Path("out"), blend)
    assert line.startswith("exported epoch 5 as trained") and "0.688 -> 0.917" in line
    assert "NO IMPROVEMENT" in verdict(before, before, 0, Path("out"))


class _ToyEncoder(_OneLayer):
    """What :func:`fit` needs of an encoder, around one weight (``save`` writes its value)."""

    name, dtype, device = "toy", torch.float32, torch.device("cpu")

    def save(self, directory: Path) -> Path:
        (Path(directory) / "weight.txt").write_text(str(self.layer.weight.item()))
        return Path(directory)


class _Toward(Objective):
    """Pulls the weight toward +2 (held-out mAP rises with it); after ``use_all``, toward -2,
    so a refit is told apart from the first run by its sign."""

    name = "toy"

    def __init__(self, model: _ToyEncoder) -> None:
        self.model, self.target, self.refit_steps = model, 2.0, 0

    def setup(self, *_: object) -> None:
        self.target = 2.0

    def trainable(self, *_: object) -> list[torch.nn.Module]:
        return [self.model.layer]

    def batches(self, *_: object) -> Any:
        return iter(range(2))

    def batches_per_epoch(self) -> int:
        return 2

    def loss(self, *_: object) -> torch.Tensor:
        self.refit_steps += self.target < 0
        return (self.model.layer.weight - self.target).pow(2).sum()

    def evaluate(self, *_: object) -> dict[str, float]:
        return {"recall@1": 0.5, "map": 0.5 + self.model.layer.weight.item() / 10}

    def use_all(self, seed: int) -> int:
        self.target = -2.0
        return 7


def test_the_refit_trains_the_chosen_epochs_on_everything_then_blends(tmp_path: Path) -> None:
    from imagevec.training.loop import fit

    model = _ToyEncoder()
    with torch.no_grad():
        model.layer.weight.zero_()
    objective = _Toward(model)
    config = TrainConfig(out=tmp_path, epochs=3, lr=0.1, progress=False, patience=None,
                         interpolate=0.5, refit=True, grad_clip=None)  # fmt: skip
    lines: list[str] = []
    result = fit(model, objective, config, log=lines.append)  # type: ignore[arg-type]
    assert result.best_epoch == 3
    assert result.refit == {"epochs": 3, "images": 7, "interpolate": 0.5}
    assert result.interpolated is not None and result.interpolated["exported"]
    assert objective.refit_steps == 3 * 2  # the chosen epoch count, from the base weight
    weight = model.layer.weight.item()
    assert weight < 0  # the refit's weights (toward -2), halved by the blend
    assert float((tmp_path / "weight.txt").read_text()) == pytest.approx(weight)
    assert "all 7 images" in lines[-1] and "weight-space ensemble" in lines[-1]
    assert json.loads((tmp_path / "training.json").read_text())["refit"]["images"] == 7


def test_bf16_autocast_only_where_the_device_has_it_natively(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagevec.encoders import runtime

    enc = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    for native, expected in ((False, None), (True, torch.bfloat16)):
        monkeypatch.setattr(runtime, "cpu_supports_bfloat16", lambda n=native: n)
        assert autocast_dtype(enc, "auto") is expected
    assert autocast_dtype(enc, "bfloat16") is torch.bfloat16
    assert autocast_dtype(enc, "off") is None
    with pytest.raises(ConfigError, match="autocast"):
        finetune_triplet(Path("."), model=str(tiny["resnet"]), out=Path("x"), autocast="fp8")


def test_activation_cache_gives_the_full_forward_and_trains_the_top(
    tiny: dict[str, Path],
) -> None:
    enc = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    frozen, trainable = split_groups(enc.layer_groups(), -1)
    params = make_trainable(enc, trainable)
    pixels = torch.randn(3, 3, 224, 224)
    cache = ActivationCache.build(enc, trainable, pixels)
    assert cache is not None
    acts = cache.capture(pixels)
    with torch.no_grad():
        torch.testing.assert_close(cache.forward(acts), enc.forward_images(pixels))
    set_train_mode(enc, trainable)
    cache.forward(acts).pow(2).sum().backward()
    assert all(p.grad is not None for p in params)
    assert all(p.grad is None for g in frozen for p in g.parameters())
    # Nothing frozen: nothing to cache.
    assert ActivationCache.build(enc, enc.layer_groups(), pixels) is None


@pytest.mark.slow  # trains the default encoder
def test_no_epoch_beats_the_base_so_the_base_is_exported_and_said(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    options = {**FAST, "lr": 1e-12}  # too small to change anything measurable
    result = finetune_triplet(
        labelled, model=str(tiny["resnet"]), out=tmp_path, epochs=2, k=2, log=lines.append,
        **options,
    )  # fmt: skip
    assert result.best_epoch == 0 and not result.improved
    assert any("NO IMPROVEMENT" in line and "base weights" in line for line in lines)
    base = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    exported = imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch")
    for key, value in base.modules()["backbone"].state_dict().items():
        assert torch.equal(value, exported.modules()["backbone"].state_dict()[key]), key
    # Validation on new photos of known labels, plus whole unseen labels (8 labels here).
    assert {"recall@1", "map", "unseen recall@1", "unseen map"} <= set(result.before)


@pytest.mark.slow  # trains the default encoder
def test_the_encoder_ends_with_the_exported_best_weights(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    enc = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    objective = TripletObjective(labelled, k=2)
    from imagevec.training.loop import fit

    config = TrainConfig(out=tmp_path, epochs=3, batch_size=8, lr=3e-3, progress=False)
    result = fit(enc, objective, config, log=lambda _line: None)
    assert objective.cache is not None  # the frozen layers ran once per view
    exported = imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch")
    for key, value in exported.modules()["backbone"].state_dict().items():
        torch.testing.assert_close(enc.modules()["backbone"].state_dict()[key], value)
    assert result.history[result.best_epoch]["metrics"] == result.best


# ---------------------------------------------------------------- triplet


@pytest.mark.slow  # a training run
def test_triplet_lowers_the_loss_and_exports_a_loadable_model(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    base = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    objective = TripletObjective(labelled, k=2, holdout=0.25, cache=False)  # same views for both
    objective.setup(base, TrainConfig(out=out, batch_size=8))

    def fixed_batch_loss(encoder: imagevec.Encoder) -> float:
        rng = random.Random(5)
        with torch.no_grad():
            return float(
                np.mean([float(objective.loss(encoder, b, rng)) for b in objective.batches(rng)])
            )

    before = fixed_batch_loss(base)
    result = finetune_triplet(labelled, model=str(tiny["resnet"]), out=out, epochs=3, k=2, **FAST)
    # The last epoch's weights (the checkpoint; the export is the best validated epoch).
    last = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["modules"]
    for name, module in last.modules().items():
        module.load_state_dict(state[name])
    assert fixed_batch_loss(last) < before
    trained = imagevec.create_encoder(str(out), device="cpu", engine="torch")
    assert [r["epoch"] for r in result.history] == [0, 1, 2, 3]
    assert "recall@1" in result.before and (out / "training.json").is_file()
    vectors = trained.embed_images(sorted(labelled.glob("*/*.png"))[:3])
    assert vectors.shape == (3, base.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow  # two training runs
def test_triplet_exports_the_blend_of_the_base_and_the_best_epoch(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    options = {"model": str(tiny["resnet"]), "epochs": 2, "k": 2, "holdout": 0.0, "unseen": 0.0}
    finetune_triplet(labelled, out=tmp_path / "trained", interpolate=1.0, **options, **FAST)
    lines: list[str] = []
    result = finetune_triplet(labelled, out=tmp_path / "blend", log=lines.append, **options, **FAST)
    t = TRIPLET_DEFAULTS["interpolate"]
    assert result.interpolated == {"interpolate": t, "metrics": {}, "exported": True}
    assert any("weight-space ensemble" in line for line in lines)
    states = [
        imagevec.create_encoder(str(path), device="cpu", engine="torch")
        .modules()["backbone"]
        .state_dict()
        for path in (tiny["resnet"], tmp_path / "trained", tmp_path / "blend")
    ]
    base, trained, blend = states
    moved = [k for k in base if not torch.equal(base[k], trained[k])]
    assert moved  # training changed the top group
    for key in base:
        if base[key].is_floating_point():
            torch.testing.assert_close(blend[key], base[key] + t * (trained[key] - base[key]))
        else:
            assert torch.equal(blend[key], trained[key])


@pytest.mark.slow  # a training run
def test_bf16_autocast_trains_float32_weights(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    options = {**FAST, "autocast": "bfloat16", "interpolate": 1.0}
    result = finetune_triplet(
        labelled, model=str(tiny["resnet"]), out=tmp_path, epochs=1, k=2, log=lines.append,
        **options,
    )  # fmt: skip
    assert any("bf16 autocast" in line for line in lines)
    assert np.isfinite(result.history[1]["loss"])
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["modules"]
    assert _changed_in_checkpoint(tiny["resnet"], tmp_path)  # it trained
    assert all(
        v.dtype == torch.float32
        for m in state.values()
        for v in m.values()
        if v.is_floating_point()
    )


@pytest.mark.slow  # a training run
def test_resume_after_an_interruption_matches_an_uninterrupted_run(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    options = {"model": str(tiny["resnet"]), "epochs": 2, "k": 2, **FAST}
    finetune_triplet(labelled, out=tmp_path / "straight", **options)

    def stop_after_first(record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune_triplet(labelled, out=tmp_path / "cut", on_epoch_end=stop_after_first, **options)
    result = finetune_triplet(labelled, out=tmp_path / "cut", resume=True, **options)
    assert [r["epoch"] for r in result.history] == [0, 1, 2]
    straight = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)
    for name, state in straight["modules"].items():
        for key, value in state.items():
            torch.testing.assert_close(resumed["modules"][name][key], value)


@pytest.mark.slow  # a training run
def test_resume_refuses_a_checkpoint_of_another_run(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    finetune_triplet(labelled, model=str(tiny["resnet"]), out=tmp_path, epochs=1, k=2, **FAST)
    with pytest.raises(ConfigError):
        finetune_triplet(
            labelled, model=str(tiny["vit"]), out=tmp_path, epochs=2, k=2, resume=True, **FAST
        )


@pytest.mark.slow  # a training run
def test_projection_head_is_trained_and_exported(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    finetune_triplet(
        labelled, model=str(tiny["vit"]), out=tmp_path, projection_dim=8, epochs=1, k=2, **FAST
    )
    enc = imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch")
    assert enc.dim == 8  # the head is exported (epoch 0 included: it is part of the model)
    fresh = imagevec.create_encoder(
        str(tiny["vit"]), projection_dim=8, device="cpu", engine="torch"
    )
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["modules"]
    assert any(
        not torch.equal(value, state["projection"][key])
        for key, value in fresh.modules()["projection"].state_dict().items()
    )


# ---------------------------------------------------------------- SimCLR / CLIP


@pytest.mark.slow  # a training run
def test_simclr_drops_its_head_at_export(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    result = finetune_simclr(labelled, model=str(tiny["resnet"]), out=tmp_path, epochs=1, **FAST)
    assert result.history[1]["loss"] > 0 and "recall@1" in result.history[1]["metrics"]
    enc = imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch")
    assert enc.dim == 32 and set(enc.modules()) == {"backbone"}
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert "simclr_head" in state["modules"]  # trained (and checkpointed), never exported
    assert _changed_in_checkpoint(tiny["resnet"], tmp_path)


def test_simclr_refit_trains_on_every_photo_the_held_out_ones_too(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    from imagevec.training.simclr import SimCLRObjective

    encoder = imagevec.create_encoder(str(tiny["resnet"]), device="cpu", engine="torch")
    objective = SimCLRObjective(labelled, holdout=0.25, views=0)
    objective.setup(encoder, TrainConfig(out=tmp_path, batch_size=8, progress=False))
    held = len(objective.held_images)
    assert held > 0 and len(objective.train_images) == 32 - held
    assert objective.use_all(seed=0) == 32  # the refit's images: all of them
    assert objective.train_images == objective.all_images
    rows = {i for batch in objective.batches(random.Random(0)) for i in batch}
    assert len(rows) == 32  # held-out photos are now in the batches
    selected = SimCLRObjective(labelled, eval_dir=labelled, views=0)
    selected.setup(encoder, TrainConfig(out=tmp_path, batch_size=8, progress=False))
    assert selected.use_all(seed=0) == 0  # a labelled eval folder was never training data


@pytest.mark.slow  # a training run
def test_cli_simclr_caches_views_of_the_frozen_layers(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagevec.cli import main

    args = ["finetune", "simclr", str(labelled), "--model", str(tiny["resnet"])]
    options = ["--views", "2", "--freeze", "-1", "--epochs", "1", "-b", "8", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path), *options, "--no-progress"]) == 0
    assert "frozen layers cached (2 views per image)" in capsys.readouterr().out
    assert imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch").dim == 32
    assert main([*args, "--out", str(tmp_path / "x"), "--views", "1"]) == 2  # needs 0 or 2+


@pytest.mark.slow  # a training run
def test_clip_pairs_train_both_towers_and_export(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    rows = ["image,caption"] + [
        f"{path},a picture of {path.parent.name}" for path in sorted(labelled.glob("*/*.png"))
    ]
    (tmp_path / "pairs.csv").write_text("\n".join(rows))
    result = finetune_clip(
        tmp_path / "pairs.csv", model=str(tiny["clip"]), out=tmp_path / "out", epochs=1,
        holdout=0.2, **FAST,
    )  # fmt: skip
    assert "text->image recall@1" in result.best
    enc = imagevec.create_encoder(str(tmp_path / "out"), device="cpu", engine="torch")
    assert enc.embed_texts(["a picture"]).shape == (1, 16)
    changed = _changed_in_checkpoint(tiny["clip"], tmp_path / "out")
    assert any("text_model.encoder" in key for key in changed)  # text tower trained too
    assert any("vision_model.encoder" in key for key in changed)


def test_clip_needs_a_clip_model(tiny: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "pairs.csv").write_text("a.png,a\nb.png,b\n")
    with pytest.raises(ConfigError):
        finetune_clip(tmp_path / "pairs.csv", model=str(tiny["resnet"]), out=tmp_path / "o", **FAST)


# ---------------------------------------------------------------- recommend


def test_recommend_by_data(labelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert recommend(labelled).path == "pretrained"  # 32 labelled images: too few
    monkeypatch.setattr("imagevec.training.auto.MIN_LABELLED", 20)
    rec = recommend(labelled)
    assert (rec.path, rec.labels, rec.images, rec.pretrain) == ("triplet", 8, 32, None)
    # Labelled folders as large as a self-supervised run wants: SimCLR on them first,
    # unless the budget cannot hold it.
    monkeypatch.setattr("imagevec.training.auto.MIN_UNLABELLED", 30)
    rec = recommend(labelled)
    assert (rec.path, rec.pretrain) == ("triplet", "simclr") and "First simclr" in rec.reason
    rec = recommend(labelled, budget_s=1)
    assert (rec.path, rec.pretrain) == ("triplet", None) and "over the budget" in rec.reason
    monkeypatch.setattr("imagevec.training.auto.MIN_UNLABELLED", 300)
    flat = tmp_path / "flat"
    flat.mkdir()
    for n in range(3):
        Image.new("RGB", (8, 8)).save(flat / f"{n}.png")
    assert recommend(flat).path == "pretrained"
    monkeypatch.setattr("imagevec.training.auto.MIN_UNLABELLED", 3)
    assert recommend(flat).path == "simclr"
    # A run that would take longer than the budget: the pretrained encoder, and why.
    monkeypatch.setattr("imagevec.training.auto.SELFSUP_SECONDS_PER_IMAGE", 40.0)
    rec = recommend(flat, budget_s=60)
    assert rec.path == "pretrained" and "2 min" in rec.reason and "60 s budget" in rec.reason
    assert recommend(flat, budget_s=600).path == "simclr"
    rows = "\n".join(f"{n}.png,caption {n}" for n in range(3))
    (flat / "pairs.csv").write_text(rows)
    assert recommend(flat / "pairs.csv").path == "pretrained"
    monkeypatch.setattr("imagevec.training.auto.MIN_PAIRS", 2)
    rec = recommend(flat / "pairs.csv")
    assert rec.path == "clip" and rec.captions and "3" in rec.reason


# ---------------------------------------------------------------- CLI


def test_cli_eval_json(colour_dir: Path, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from imagevec.cli.app import cli

    for label, rgb in (("red", (230, 5, 5)), ("blue", (5, 5, 230))):
        (tmp_path / label).mkdir()
        for n in range(2):
            Image.new("RGB", (16, 16), tuple(max(0, c - 20 * n) for c in rgb)).save(
                tmp_path / label / f"{n}.png"
            )
    # Through the group, as users run it: a bare command caches a help option without the
    # group's "-h", and docs/cli.md would then read stale in the same process.
    result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--model", "test-color", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["recall@1"] == 1.0 and metrics["images"] == 4


@pytest.mark.slow  # a training run
def test_cli_finetune_triplet_and_auto(
    tiny: dict[str, Path], labelled: Path, tmp_path: Path
) -> None:
    from imagevec.cli import main

    out = tmp_path / "cli-run"
    args = ["finetune", "triplet", str(labelled), "--model", str(tiny["resnet"]), "--out", str(out)]
    assert main([*args, "--epochs", "1", "-b", "8", "--device", "cpu", "--no-progress"]) == 0
    assert imagevec.create_encoder(str(out), device="cpu", engine="torch").dim == 32
    assert main(["finetune", "auto", str(labelled), "--dry-run"]) == 0
    assert main(["finetune", "auto", str(labelled)]) == 0  # too few images: nothing to train
    assert main(["eval", str(tmp_path / "missing"), "--model", "test-color"]) == 2


@pytest.mark.slow  # two training runs
def test_cli_auto_runs_simclr_then_triplet_from_its_export(
    tiny: dict[str, Path],
    labelled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from imagevec.cli import main

    monkeypatch.setattr("imagevec.training.auto.MIN_LABELLED", 20)
    monkeypatch.setattr("imagevec.training.auto.MIN_UNLABELLED", 30)
    out = tmp_path / "auto"
    args = ["finetune", "auto", str(labelled), "--model", str(tiny["resnet"]), "--out", str(out)]
    fast = ["--epochs", "1", "-b", "8", "--device", "cpu", "--no-progress", "--json"]
    assert main([*args, *fast]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["out"] == str(out)  # stdout: the final model's report only
    assert "step 1 of 2: simclr" in captured.err and "path: simclr, then triplet" in captured.err
    first = tmp_path / "auto-simclr"
    simclr = json.loads((first / "training.json").read_text())
    triplet = json.loads((out / "training.json").read_text())
    assert simclr["objective"] == "simclr" and simclr["config"]["meta"]["model"] == str(
        tiny["resnet"]
    )
    assert triplet["objective"] == "triplet"
    assert triplet["config"]["meta"]["model"] == str(first)  # triplet started from SimCLR's
    assert imagevec.create_encoder(str(out), device="cpu", engine="torch").dim == 32
