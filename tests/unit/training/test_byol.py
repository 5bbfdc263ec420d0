"""BYOL, and what MoCo and BYOL share: a momentum copy checkpointed so that ``--resume``
continues exactly, and the label-free held-out check that keeps the base when nothing helps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image

import imagevec
from imagevec.errors import ConfigError
from imagevec.training import finetune_byol, finetune_moco
from imagevec.training.byol import BYOLObjective, byol_loss
from imagevec.training.momentum import MomentumCopy
from tests.tiny_models import build_tiny_resnet


def test_byol_loss_is_zero_when_aligned_and_four_when_opposite() -> None:
    z = F.normalize(torch.randn(6, 8), dim=-1)
    assert float(byol_loss(z, 3 * z)) == pytest.approx(0.0, abs=1e-6)  # scale does not matter
    assert float(byol_loss(z, -z)) == pytest.approx(4.0, abs=1e-5)


def test_the_momentum_copy_trails_and_swaps_without_copying() -> None:
    param = torch.nn.Parameter(torch.zeros(3))
    copy = MomentumCopy(0.9)
    with pytest.raises(ConfigError):
        MomentumCopy(1.0)
    copy.update([param])  # the first call copies
    with torch.no_grad():
        param.fill_(1.0)
    copy.update([param])
    assert copy.copy is not None and torch.allclose(copy.copy[0], torch.full((3,), 0.1))
    with copy.swapped([param]):
        assert torch.allclose(param, torch.full((3,), 0.1))
    assert torch.equal(param.detach(), torch.ones(3))
    restored = MomentumCopy(0.9)
    restored.load_state_dict(copy.state_dict(), torch.device("cpu"))
    assert restored.copy is not None and torch.equal(restored.copy[0], copy.copy[0])
    restored.load_state_dict({}, torch.device("cpu"))
    assert restored.copy is None


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 unlabelled photos: smooth random colour fields (crops of one still resemble it)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for n in range(30):
        small = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
        Image.fromarray(small).resize((64, 48), Image.Resampling.BILINEAR).save(root / f"{n}.png")
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_resnet(tmp_path_factory.mktemp("resnet") / "resnet")


FAST: dict[str, Any] = {"batch_size": 8, "progress": False, "device": "cpu", "views": 3,
                        "patience": None, "lr": 3e-3, "interpolate": 1.0}  # fmt: skip


@pytest.mark.slow  # three short training runs
@pytest.mark.parametrize("train", [finetune_moco, finetune_byol], ids=["moco", "byol"])
def test_a_resumed_run_equals_an_uninterrupted_one(
    train: Any, photos: Path, model: Path, tmp_path: Path
) -> None:
    options = {"model": str(model), "epochs": 3, **FAST}
    straight = train(photos, out=tmp_path / "straight", **options)

    def stop_after_first(record: dict[str, Any]) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(photos, out=tmp_path / "cut", on_epoch_end=stop_after_first, **options)
    cut = torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)
    copy = cut["objective_state"]["copy"]
    assert copy is not None  # the momentum copy is in the checkpoint
    resumed = train(photos, out=tmp_path / "cut", resume=True, **options)
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2, 3]
    a = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)
    for name, state in a["modules"].items():  # the encoder and the heads
        for key, value in state.items():
            torch.testing.assert_close(b["modules"][name][key], value, rtol=0, atol=0)
    for key, value in a["objective_state"].items():  # key/target weights, MoCo's queue
        torch.testing.assert_close(b["objective_state"][key], value, rtol=0, atol=0)
    losses = [r["loss"] for r in straight.history[1:]]
    assert losses == [r["loss"] for r in resumed.history[1:]]


@pytest.mark.slow  # a training run
def test_byol_trains_drops_its_heads_and_the_check_guards_the_export(
    photos: Path, model: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    result = finetune_byol(photos, model=str(model), out=tmp_path, epochs=2, log=lines.append,
                           **FAST)  # fmt: skip
    assert all(r["loss"] > 0 for r in result.history[1:])
    # The label-free check: 6 held-out photos, each with 2 copies to find (18 queries).
    assert result.before["queries"] == 18
    assert any("6 photos held out, each with 2 light copies" in line for line in lines)
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert {"byol_projector", "byol_predictor"} <= set(state["modules"])
    exported = imagevec.create_encoder(str(tmp_path), device="cpu", engine="torch")
    assert set(exported.modules()) == {"backbone"}  # the heads are not exported
    if not result.improved:  # the check found no gain: the base, said plainly
        assert "NO IMPROVEMENT" in lines[-1]
    assert result.best["map"] >= result.before["map"]


def test_byol_rejects_a_bad_momentum(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="momentum"):
        BYOLObjective(tmp_path, momentum=1.5)


@pytest.mark.slow  # two short training runs through the CLI
def test_cli_moco_and_byol_train_and_say_what_they_exported(
    photos: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagevec.cli import main

    options = ["--model", str(model), "--views", "2", "--epochs", "1", "-b", "8",
               "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(["finetune", "moco", str(photos), "--out", str(tmp_path / "m"), "--queue", "8",
                 *options]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "queue 8, momentum 0.99" in out and "light copies" in out
    assert "exported (" in out  # the summary's last row is the model in OUT
    assert main(["finetune", "byol", str(photos), "--out", str(tmp_path / "b"), "--json",
                 *options]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["before"]["queries"] == 18 and "epoch_metrics" in summary
    assert imagevec.create_encoder(str(tmp_path / "b"), device="cpu", engine="torch").dim == 32
