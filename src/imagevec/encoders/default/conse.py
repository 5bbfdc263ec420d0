"""The ConSE text bridge: ImageNet class probabilities -> a point in the text model's space.

ConSE (Norouzi et al., 2014, "Zero-Shot Learning by Convex Combination of Semantic
Embeddings"): an image whose classifier says "tiger cat 0.39, Egyptian cat 0.36, tabby 0.17,
..." is placed at the probability-weighted mean of the text embeddings of those class names.
A text query embedded by the same text model then lands near the images of what it names,
even for words that are not ImageNet classes ("a cat" is close to "tabby" and "tiger cat").

The 1000 class-name embeddings are a pure function of the pinned MiniLM weights and the fixed
prompt :data:`PROMPT`, so they ship precomputed (float16, 768 KB) in ``imagevec/data``: loading
costs nothing, nothing is written to the user's disk and every process (a Ray worker, a data
loader) gets the same table. :func:`class_embeddings` uses it as is when the text model's
weights file is the one the table was made from (:data:`TABLE_WEIGHTS`, the sha256 pip
recorded at install: no text model is loaded, so an image query never loads MiniLM); for
other weights it checks a few rows and recomputes the table (once per process) if they differ.

Example:
    >>> table = class_embeddings(MiniLM())                          # doctest: +SKIP
    >>> semantic_embedding(logits, table, top_k=20).shape           # doctest: +SKIP
    torch.Size([8, 384])
"""

from __future__ import annotations

import threading
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from imagevec.encoders.default.assets import TABLE_FILE, data_file
from imagevec.encoders.default.minilm import MiniLM

PROMPT = "a photo of {article} {name}"
"""How a class becomes a sentence: its first (most common) name with an article."""

CLASSES_FILE = "imagenet_classes.txt"
CHECK_ROWS = (0, 281, 417, 999)  # tench, tabby, balloon, toilet tissue
_TOLERANCE = 1e-3  # float16 storage keeps cosines within ~1e-4 of the float32 table
TABLE_WEIGHTS = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of the all-MiniLM-L6-v2 ``model.safetensors`` the shipped table was computed with."""

_lock = threading.Lock()
_recomputed: dict[str, torch.Tensor] = {}


@cache
def class_synsets() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The 1000 ImageNet classes in index order: ``(wordnet id, (name, synonym, ...))``."""
    rows = []
    for line in data_file(CLASSES_FILE).read_text(encoding="utf-8").splitlines():
        wnid, _, names = line.partition("\t")
        rows.append((wnid, tuple(part.strip() for part in names.split(","))))
    return tuple(rows)


def class_names() -> list[str]:
    """The first name of each ImageNet class, in index order (``"tabby"``, ``"tiger cat"``)."""
    return [names[0] for _, names in class_synsets()]


def class_prompt(name: str) -> str:
    """The sentence embedded for a class name: ``"a photo of a tabby"``."""
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return PROMPT.format(article=article, name=name)


def compute_class_embeddings(text_model: MiniLM) -> torch.Tensor:
    """Embed the prompts of all 1000 classes: ``(1000, 384)`` float32, L2-normalised."""
    return torch.from_numpy(text_model.embed([class_prompt(name) for name in class_names()]))


def shipped_class_embeddings() -> torch.Tensor:
    """The precomputed table shipped with imagevec, as float32 (rows L2-normalised)."""
    with data_file(TABLE_FILE).open("rb") as handle:
        table = np.load(handle, allow_pickle=False)
    return F.normalize(torch.from_numpy(table.astype(np.float32)), dim=-1)


def class_embeddings(text_model: MiniLM) -> torch.Tensor:
    """The class table for ``text_model``: the shipped one when it matches, else recomputed.

    The bundled weights (:data:`TABLE_WEIGHTS`) take the table as is. Other weights embed
    :data:`CHECK_ROWS` (a few milliseconds); a mismatch recomputes all 1000 rows once per
    process and warns.
    """
    table = shipped_class_embeddings()
    if text_model.digest == TABLE_WEIGHTS:
        return table
    names = class_names()
    fresh = torch.from_numpy(text_model.embed([class_prompt(names[row]) for row in CHECK_ROWS]))
    agreement = (fresh * table[list(CHECK_ROWS)]).sum(dim=-1)
    if bool((agreement > 1 - _TOLERANCE).all()):
        return table
    key = ",".join(f"{value:.6f}" for value in fresh[0, :16].tolist())
    with _lock:
        if key not in _recomputed:
            warnings.warn(
                "the shipped ImageNet class-name embeddings do not match this text model; "
                "recomputing them (a few seconds, once per process)",
                stacklevel=2,
            )
            _recomputed[key] = compute_class_embeddings(text_model)
        return _recomputed[key]


def write_class_embeddings(path: str | Path, text_model: MiniLM | None = None) -> Path:
    """Compute the class table and save it as float16 ``.npy`` (how the shipped file is made).

    Example:
        >>> write_class_embeddings("imagenet_class_text_minilm.npy")  # doctest: +SKIP
    """
    table = compute_class_embeddings(text_model or MiniLM())
    target = Path(path)
    np.save(target, table.numpy().astype(np.float16), allow_pickle=False)
    return target


def top_k_weights(
    logits: torch.Tensor, top_k: int, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` most probable classes and their softmax probabilities, renormalised.

    Args:
        logits: ``(B, C)`` classifier logits.
        top_k: how many classes to keep.
        temperature: softmax temperature; above 1 spreads the weight over more classes
            (a smoother, more semantic mix), below 1 sharpens it towards the top class.

    Returns:
        ``(indices, weights)``, both ``(B, top_k)``; each row of ``weights`` is non-negative,
        sorted in decreasing order and sums to 1 (a convex combination).
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    weights = top.values / top.values.sum(dim=-1, keepdim=True)
    return top.indices, weights


def semantic_embedding(
    logits: torch.Tensor, table: torch.Tensor, top_k: int, temperature: float = 1.0
) -> torch.Tensor:
    """ConSE: the convex combination of the top-k class embeddings, L2-normalised.

    Args:
        logits: ``(B, C)`` classifier logits.
        table: ``(C, D)`` L2-normalised class-name embeddings.
        top_k: how many of the most probable classes to mix (``T`` in the paper).
        temperature: softmax temperature of the class probabilities (see
            :func:`top_k_weights`).

    Returns:
        ``(B, D)`` float32, L2-normalised: a point in the text model's space.
    """
    indices, weights = top_k_weights(logits, top_k, temperature)
    mixed = torch.einsum("bk,bkd->bd", weights, table.float()[indices])
    return F.normalize(mixed, dim=-1)
