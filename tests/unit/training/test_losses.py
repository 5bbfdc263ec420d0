"""Losses against hand-computed values and brute-force reference implementations."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from imagevec.errors import ConfigError
from imagevec.training.losses import clip_loss, nt_xent_loss, pairwise_distance, triplet_loss

# cos: e0e1 .8, e0e2 0, e0e3 .6, e1e2 .6, e1e3 .96, e2e3 .8  (labels 0 0 1 1)
EASY = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
# cos: e0e1 0, e0e2 .8, e0e3 .6, e1e2 .6, e1e3 .8, e2e3 .96  (labels 0 0 1 1)
HARD = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
LABELS = torch.tensor([0, 0, 1, 1])


def test_triplet_batch_hard_by_hand() -> None:
    # anchors: 0 -> 0.2-0.4+0.2=0; 1 -> 0.2-0.04+0.2=0.36; 2 -> 0; 3 -> 0.36
    assert float(triplet_loss(EASY, LABELS)) == pytest.approx(0.18)
    # anchors 0, 1: 1-0.2+0.2 = 1.0; anchors 2, 3: 0.04-0.2+0.2 = 0.04
    assert float(triplet_loss(HARD, LABELS)) == pytest.approx(0.52)


def test_triplet_semi_hard_by_hand() -> None:
    # every (a, p) pair has a negative farther than its positive, beyond the margin -> 0
    assert float(triplet_loss(EASY, LABELS, mining="semi_hard")) == pytest.approx(0.0, abs=1e-6)
    # pairs (0,1), (1,0): no farther negative -> easiest (0.4): 1-0.4+0.2 = 0.8;
    # pairs (2,3), (3,2): closest farther negative 0.2: 0.04-0.2+0.2 = 0.04
    assert float(triplet_loss(HARD, LABELS, mining="semi_hard")) == pytest.approx(0.42)


def test_triplet_is_cos_an_minus_cos_ap_plus_margin() -> None:
    anchor, positive, negative = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]])
    emb = torch.stack([anchor, positive, negative])
    loss = triplet_loss(emb, torch.tensor([0, 0, 1]), margin=0.2)
    # anchor: cos(A,N) .8 - cos(A,P) .6 + .2 = .4; positive: cos(P,N) .96 - .6 + .2 = .56
    assert float(loss) == pytest.approx((0.4 + 0.56) / 2)


def test_triplet_euclidean_by_hand() -> None:
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    # anchors: 0 -> 1-3+1.5 < 0; 1 -> 1-2+1.5 = .5; 2 -> .5; 3 -> 1-sqrt(5)+1.5
    expected = (0.5 + 0.5 + 2.5 - math.sqrt(5)) / 4
    loss = triplet_loss(emb, LABELS, margin=1.5, metric="euclidean")
    assert float(loss) == pytest.approx(expected, abs=1e-5)


def _brute_force(emb: torch.Tensor, labels: torch.Tensor, margin: float, mining: str) -> float:
    d = pairwise_distance(emb, "cosine")
    n = len(labels)
    if mining == "batch_hard":
        terms = []
        for a in range(n):
            pos = [d[a, p] for p in range(n) if p != a and labels[p] == labels[a]]
            neg = [d[a, q] for q in range(n) if labels[q] != labels[a]]
            if pos and neg:
                terms.append(max(0.0, float(max(pos) - min(neg)) + margin))
        return sum(terms) / len(terms)
    terms = []
    for a, p in itertools.permutations(range(n), 2):
        if labels[a] != labels[p]:
            continue
        neg = [float(d[a, q]) for q in range(n) if labels[q] != labels[a]]
        farther = [x for x in neg if x > float(d[a, p])]
        chosen = min(farther) if farther else max(neg)
        terms.append(max(0.0, float(d[a, p]) - chosen + margin))
    return sum(terms) / len(terms)


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_triplet_matches_brute_force(mining: str) -> None:
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(12, 5, generator=gen)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    got = float(triplet_loss(emb, labels, margin=0.3, mining=mining))
    assert got == pytest.approx(_brute_force(emb, labels, 0.3, mining), abs=1e-5)


def test_triplet_gradients_are_finite_with_duplicates() -> None:
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    for metric in ("cosine", "euclidean"):
        loss = triplet_loss(emb, LABELS, metric=metric)
        (grad,) = torch.autograd.grad(loss, emb)
        assert torch.isfinite(grad).all()


def test_triplet_without_valid_triplets_is_zero_with_graph() -> None:
    emb = torch.randn(3, 4, requires_grad=True)
    loss = triplet_loss(emb, torch.tensor([0, 1, 2]))
    assert float(loss.detach()) == 0.0 and loss.requires_grad


def test_triplet_rejects_unknown_options() -> None:
    with pytest.raises(ConfigError):
        triplet_loss(EASY, LABELS, mining="hardest")
    with pytest.raises(ConfigError):
        triplet_loss(EASY, LABELS, metric="manhattan")


def test_nt_xent_by_hand() -> None:
    z = torch.eye(2)
    # each view: positive sim 1, two negatives with sim 0 -> log(1 + 2 e^(-1/t))
    assert float(nt_xent_loss(z, z, temperature=1.0)) == pytest.approx(math.log(1 + 2 / math.e))
    expected = math.log(1 + 2 * math.exp(-2))
    assert float(nt_xent_loss(z, z, temperature=0.5)) == pytest.approx(expected)


def test_nt_xent_matches_reference() -> None:
    gen = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sims = z @ z.T / 0.3
    total = 0.0
    for i in range(12):
        j = (i + 6) % 12
        others = torch.cat([sims[i, :i], sims[i, i + 1 :]])
        total += float(-sims[i, j] + torch.logsumexp(others, dim=0))
    assert float(nt_xent_loss(z1, z2, 0.3)) == pytest.approx(total / 12, rel=1e-5)


def test_nt_xent_rejects_bad_input() -> None:
    with pytest.raises(ConfigError):
        nt_xent_loss(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ConfigError):
        nt_xent_loss(torch.eye(2), torch.eye(2), temperature=0.0)


def test_clip_loss_by_hand() -> None:
    z = torch.eye(2)
    assert float(clip_loss(z, z, 1.0)) == pytest.approx(math.log(1 + 1 / math.e))
    expected = math.log(1 + math.exp(-10))
    assert float(clip_loss(z, z, torch.tensor(10.0))) == pytest.approx(expected, rel=1e-2)
    # symmetric: swapping the towers gives the same loss
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    assert float(clip_loss(a, b, 7.0)) == pytest.approx(float(clip_loss(b, a, 7.0)))
    with pytest.raises(ConfigError):
        clip_loss(torch.zeros(2, 3), torch.zeros(3, 3), 1.0)
