"""Metric-learning losses: triplet (batch-hard / semi-hard mining), NT-Xent, CLIP InfoNCE.

All take raw embeddings (they normalise where the loss needs it) and return a scalar tensor.

Example:
    >>> import torch
    >>> emb = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    >>> labels = torch.tensor([0, 0, 1, 1])
    >>> round(float(triplet_loss(emb, labels, margin=0.2)), 4)
    0.18
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from imagevec.errors import ConfigError

__all__ = ["METRICS", "MINING", "clip_loss", "nt_xent_loss", "pairwise_distance", "triplet_loss"]

MINING = ("batch_hard", "semi_hard")
METRICS = ("cosine", "euclidean")


def pairwise_distance(embeddings: torch.Tensor, metric: str = "cosine") -> torch.Tensor:
    """``(B, B)`` distances: ``1 - cos`` (``cosine``) or the L2 distance (``euclidean``).

    Euclidean distances are taken on the raw embeddings (normalise them first for unit-sphere
    distances); the square root is guarded so the gradient at zero distance stays finite.
    """
    if metric == "cosine":
        z = F.normalize(embeddings, dim=-1)
        return 1.0 - z @ z.T
    if metric == "euclidean":
        sq_norm = (embeddings * embeddings).sum(dim=1)
        gram = embeddings @ embeddings.T
        squared = (sq_norm.view(-1, 1) + sq_norm.view(1, -1) - 2.0 * gram).clamp(min=0.0)
        nonzero = squared > 1e-12
        return torch.where(nonzero, squared.clamp(min=1e-12).sqrt(), torch.zeros_like(squared))
    raise ConfigError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")


def triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 0.2,
    mining: str = "batch_hard",
    metric: str = "cosine",
) -> torch.Tensor:
    """Triplet loss ``max(0, d(A,P) - d(A,N) + margin)`` with in-batch mining.

    With the cosine metric, ``d = 1 - cos``, so this is ``max(0, cos(A,N) - cos(A,P) + margin)``.

    Args:
        embeddings: ``(B, D)`` raw embeddings.
        labels: ``(B,)`` integer labels; a batch from a P x K sampler has K images per label.
        margin: the required gap between positive and negative distances.
        mining: ``batch_hard`` — per anchor, its farthest positive and closest negative
            (Hermans et al., 2017), averaged over anchors; ``semi_hard`` — for every
            (anchor, positive) pair, the closest negative still farther than the positive
            (``d(A,P) < d(A,N)``), or the farthest negative if there is none (FaceNet,
            Schroff et al., 2015), averaged over pairs.
        metric: ``cosine`` or ``euclidean``.

    Returns:
        A scalar; 0 (with a graph) when the batch has no valid triplet.
    """
    if mining not in MINING:
        raise ConfigError(f"unknown mining {mining!r}: use one of {', '.join(MINING)}")
    dist = pairwise_distance(embeddings, metric)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive, negative = same & ~eye, ~same
    if mining == "batch_hard":
        valid = positive.any(dim=1) & negative.any(dim=1)
        if not valid.any():
            return dist.sum() * 0.0
        hardest_pos = dist.masked_fill(~positive, float("-inf")).amax(dim=1)
        hardest_neg = dist.masked_fill(~negative, float("inf")).amin(dim=1)
        return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()
    # semi-hard: one term per (anchor, positive) pair.
    anchors, positives = positive.nonzero(as_tuple=True)
    if not len(anchors) or not negative.any():
        return dist.sum() * 0.0
    d_ap = dist[anchors, positives].unsqueeze(1)  # (pairs, 1)
    d_an = dist[anchors]  # (pairs, B)
    neg = negative[anchors]
    farther = neg & (d_an > d_ap)
    semi = d_an.masked_fill(~farther, float("inf")).amin(dim=1)
    easiest = d_an.masked_fill(~neg, float("-inf")).amax(dim=1)
    chosen = torch.where(farther.any(dim=1), semi, easiest)
    keep = neg.any(dim=1)
    return F.relu(d_ap.squeeze(1) - chosen + margin)[keep].mean()


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent / InfoNCE of SimCLR (Chen et al., 2020) over two views of a batch.

    Each of the ``2N`` views must pick its partner view among the other ``2N - 1`` by
    cosine similarity divided by ``temperature`` (cross-entropy, averaged over all views).

    Args:
        z1: ``(N, D)`` projections of the first views.
        z2: ``(N, D)`` projections of the second views (row ``i`` pairs with ``z1[i]``).
        temperature: softmax temperature, typically 0.1 - 0.5.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ConfigError(f"need two (N, D) batches of one shape, got {z1.shape} and {z2.shape}")
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = (z @ z.T) / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def clip_loss(
    image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """Symmetric InfoNCE of CLIP (Radford et al., 2021): image->text and text->image.

    Args:
        image_embeddings: ``(N, D)`` raw image embeddings.
        text_embeddings: ``(N, D)`` raw text embeddings; row ``i`` describes image ``i``.
        logit_scale: the multiplier of the cosine similarities (CLIP's ``logit_scale.exp()``,
            about 100 for trained models); a tensor keeps it trainable.
    """
    if image_embeddings.shape != text_embeddings.shape:
        raise ConfigError(
            f"image and text batches differ: {image_embeddings.shape} vs {text_embeddings.shape}"
        )
    img = F.normalize(image_embeddings, dim=-1)
    txt = F.normalize(text_embeddings, dim=-1)
    logits = logit_scale * img @ txt.T
    targets = torch.arange(len(img), device=img.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
