"""MoCo's queue and momentum keys, and the layer-wise learning rates of the loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image

import imagevec
from imagevec.errors import ConfigError
from imagevec.training.loop import TrainConfig, _make_optimizer, fit
from imagevec.training.moco import MoCoObjective, moco_loss
from tests.tiny_models import build_tiny_resnet


def test_queued_negatives_make_the_task_harder_and_matching_keys_easier() -> None:
    torch.manual_seed(0)
    q = F.normalize(torch.randn(8, 16), dim=-1)
    near = F.normalize(q + 0.3 * torch.randn(8, 16), dim=-1)
    far = F.normalize(torch.randn(8, 16), dim=-1)
    assert moco_loss(q, near, None, 0.2) < moco_loss(q, far, None, 0.2)
    # Negatives close to the queries (a queue of look-alikes) raise the loss.
    look_alikes = F.normalize(q.roll(1, 0) * 0.1 + q, dim=-1)
    assert moco_loss(q, near, look_alikes, 0.2) > moco_loss(q, near, None, 0.2)


def test_moco_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="momentum"):
        MoCoObjective(tmp_path, momentum=1.0)


def test_lower_groups_train_at_lr_decay_times_the_rate() -> None:
    groups = [torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)]
    config = TrainConfig(out="unused", lr=1e-3, lr_decay=0.1)
    optimizer = _make_optimizer(groups, {}, config)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-4, 1e-5])
    assert optimizer.param_groups[0]["params"][0] is groups[-1].weight  # the top: full rate


@pytest.mark.slow  # a training run
def test_moco_trains_keys_follow_slowly_and_the_queue_is_capped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(24):
        array = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
        Image.fromarray(array).save(photos / f"{n}.png")
    model = build_tiny_resnet(tmp_path / "resnet")
    encoder = imagevec.create_encoder(str(model), device="cpu", engine="torch")
    objective = MoCoObjective(photos, queue=12, momentum=0.9, holdout=0.0, views=3)
    config = TrainConfig(out=tmp_path / "out", epochs=2, batch_size=8, lr=3e-3, freeze=-1,
                         progress=False, patience=None)  # fmt: skip
    result = fit(encoder, objective, config, log=lambda _line: None)
    assert all(e["loss"] > 0 for e in result.history[1:])
    assert "frozen layers cached (3 views per image)" in objective.describe()
    assert objective._queue is not None and objective._queue.shape[0] == 12
    trained = [p.detach() for p in objective._params()]
    keys = objective._keys
    assert keys is not None
    # The key weights trail the trained ones: different, but not the base weights either.
    base = imagevec.create_encoder(str(model), device="cpu", engine="torch")
    base_top = [p.detach() for p in base.layer_groups()[-1].parameters()]
    assert any(not torch.equal(k, t) for k, t in zip(keys, trained, strict=False))
    assert any(not torch.equal(k, b) for k, b in zip(keys, base_top, strict=False))
    # The exported model is the trained encoder (the projection head and key copy are not).
    exported = imagevec.create_encoder(str(tmp_path / "out"), device="cpu", engine="torch")
    assert set(exported.modules()) == set(base.modules())
