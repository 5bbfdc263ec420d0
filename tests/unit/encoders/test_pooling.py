"""Pooling of feature maps / tokens, and the projection head."""

from __future__ import annotations

import pytest
import torch

from imagevec.encoders.pooling import GEM_P, POOLINGS, ProjectionHead, pool, seeded_projection
from imagevec.errors import ConfigError


@pytest.fixture
def fmap() -> torch.Tensor:
    return torch.randn(3, 8, 5, 4, generator=torch.Generator().manual_seed(0))


def test_avg_and_max_are_the_plain_reductions(fmap: torch.Tensor) -> None:
    torch.testing.assert_close(pool(fmap, "avg"), fmap.mean(dim=(2, 3)))
    torch.testing.assert_close(pool(fmap, "max"), fmap.amax(dim=(2, 3)))


def test_gem_is_the_generalised_mean_of_clamped_activations(fmap: torch.Tensor) -> None:
    expected = fmap.clamp(min=1e-6).pow(GEM_P).mean(dim=(2, 3)).pow(1 / GEM_P)
    torch.testing.assert_close(pool(fmap, "gem"), expected)
    positive = fmap.abs() + 0.1
    assert (pool(positive, "avg") <= pool(positive, "gem") + 1e-6).all()
    assert (pool(positive, "gem") <= pool(positive, "max") + 1e-6).all()


def test_attention_weights_salient_positions(fmap: torch.Tensor) -> None:
    tokens = fmap.flatten(2).transpose(1, 2)
    weights = torch.softmax(tokens.mean(dim=2), dim=1)
    torch.testing.assert_close(pool(fmap, "attention"), (weights[..., None] * tokens).sum(dim=1))
    constant = torch.full((2, 4, 3, 3), 0.7)
    torch.testing.assert_close(pool(constant, "attention"), torch.full((2, 4), 0.7))


@pytest.mark.parametrize("method", POOLINGS)
def test_maps_and_token_sequences_pool_alike(fmap: torch.Tensor, method: str) -> None:
    tokens = fmap.flatten(2).transpose(1, 2)  # (B, positions, C)
    out = pool(fmap, method)
    assert out.shape == (3, 8)
    torch.testing.assert_close(pool(tokens, method), out)


@pytest.mark.parametrize("method", POOLINGS)
def test_bfloat16_in_bfloat16_out(fmap: torch.Tensor, method: str) -> None:
    out = pool(fmap.to(torch.bfloat16), method)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), pool(fmap, method), atol=0.05, rtol=0.05)


def test_poolings_differ(fmap: torch.Tensor) -> None:
    outs = {m: pool(fmap, m) for m in POOLINGS}
    for a in POOLINGS:
        for b in POOLINGS:
            if a < b:
                assert not torch.allclose(outs[a], outs[b]), (a, b)


def test_bad_method_or_shape_is_a_config_error(fmap: torch.Tensor) -> None:
    with pytest.raises(ConfigError, match="unknown pooling"):
        pool(fmap, "median")
    with pytest.raises(ConfigError, match="pooling needs"):
        pool(torch.ones(2, 3), "avg")


def test_projection_head_shapes_and_spec() -> None:
    head = ProjectionHead(32, 8)
    assert head(torch.randn(5, 32)).shape == (5, 8)
    assert head.spec() == {"in_dim": 32, "out_dim": 8, "hidden_dim": 32}
    assert ProjectionHead(32, 8, 16).spec()["hidden_dim"] == 16


def test_seeded_projection_is_reproducible_and_leaves_the_rng_alone() -> None:
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    one = seeded_projection(32, 8)
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(8)
    two = seeded_projection(32, 8)
    for (k1, v1), (k2, v2) in zip(one.state_dict().items(), two.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)
    assert not torch.equal(seeded_projection(32, 4).net[0].weight, torch.zeros(32, 32))
