"""Image queries on a default-encoder collection without torch: EfficientNet-Lite0 in numpy.

One query image needs one forward pass; importing torch and building its model costs several
times more than the pass. So :meth:`ImageIndex.search` answers a one-image query on a
collection the bundled default wrote (bundled weights, no projection, pooling avg/max/gem)
with :class:`LiteTower`: the same network over the same weights, read from the checkpoint
without torch (:mod:`~imagevec.encoders.default.checkpoint`), batch norms folded into the
convolutions. The vector equals ``LiteEncoder.embed_images`` to float precision (tested).
The stamp's fingerprint must match the one computed here, over the same bytes the torch
encoder hashes, or the full encoder is used (and reports the mismatch).

Example:
    >>> embed = image_embedder(resolve("default"), config, stamp)     # doctest: +SKIP
    >>> embed(["cat.jpg"]).shape                                       # doctest: +SKIP
    (1, 1664)
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagevec.encoders.default.assets import (
    POOLING,
    PREPROCESS,
    SEMANTIC_WEIGHT,
    TABLE_FILE,
    TEMPERATURE,
    TOP_K,
    data_file,
)
from imagevec.encoders.default.checkpoint import bundled_checkpoint, read_legacy_checkpoint

if TYPE_CHECKING:
    from imagevec.encoders.registry import ModelRef

#: strides of the first block of each of EfficientNet-B0/Lite0's 7 stages (the others: 1)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPS = 1e-3
GEM_P = 3.0  # pooling.GEM_P (a test pins it)
POOLINGS = ("avg", "max", "gem")
_CONVS = ("_conv_stem", "_conv_head")


def _folded(state: Mapping[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """A bias-free conv's weight with the following batch norm folded in: (weight, bias)."""
    scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"] + BN_EPS)
    weight = state[f"{conv}.weight"] * scale[:, None, None, None]
    bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
    return weight.astype(np.float32), bias.astype(np.float32)


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow's "SAME" padding (the checkpoint's static padding, for any input size)."""
    padded = []
    for size in x.shape[1:3]:
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        padded.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), padded[0], padded[1], (0, 0)))


def _pointwise(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return x @ weight[:, :, 0, 0].T + bias


def _windows(x: np.ndarray, kernel: int, stride: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(a, b, window)`` for each kernel offset: the strided view of the SAME-padded input
    that meets weight tap ``[a, b]`` (the output's rows and columns)."""
    padded = _same_pad(x, kernel, stride)
    rows, cols = math.ceil(x.shape[1] / stride), math.ceil(x.shape[2] / stride)
    for a in range(kernel):
        for b in range(kernel):
            yield a, b, padded[:, a : a + stride * rows : stride, b : b + stride * cols : stride]


def _summed(terms: Iterator[np.ndarray]) -> np.ndarray:
    """The sum of fresh arrays, added in place into the first."""
    out = next(terms)
    for term in terms:
        out += term
    return out


def _depthwise(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    taps = _windows(x, weight.shape[-1], stride)
    return _summed(window * weight[:, 0, a, b] for a, b, window in taps) + bias


def _stem(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 2) -> np.ndarray:
    taps = _windows(x, weight.shape[-1], stride)
    return _summed(window @ weight[:, :, a, b].T for a, b, window in taps) + bias


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0, out=x)


class LiteTower:
    """EfficientNet-Lite0 inference over a numpy state dict (the checkpoint's keys).

    Args:
        state: ``{name: array}`` as ``EfficientNet.state_dict()`` names them.
    """

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.stem = _folded(state, "_conv_stem", "_bn0")
        self.head = _folded(state, "_conv_head", "_bn1")
        self.fc = (state["_fc.weight"].astype(np.float32), state["_fc.bias"].astype(np.float32))
        self.blocks: list[dict[str, Any]] = []
        count = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
        stage, previous_out = -1, None
        for i in range(count):
            p = f"_blocks.{i}."
            depthwise = _folded(state, p + "_depthwise_conv", p + "_bn1")
            project = _folded(state, p + "_project_conv", p + "_bn2")
            expand = (
                _folded(state, p + "_expand_conv", p + "_bn0")
                if p + "_expand_conv.weight" in state
                else None
            )
            out = project[0].shape[0]
            first = out != previous_out
            stage += first
            stride = STAGE_STRIDES[stage] if first else 1
            inputs = expand[0].shape[1] if expand is not None else depthwise[0].shape[0]
            self.blocks.append(
                {
                    "expand": expand,
                    "depthwise": depthwise,
                    "project": project,
                    "stride": stride,
                    "skip": stride == 1 and inputs == out,
                }
            )
            previous_out = out

    def feature_map(self, pixels: np.ndarray) -> np.ndarray:
        """Normalised ``(B, H, W, 3)`` pixels -> the ``(B, H/32, W/32, 1280)`` map."""
        x = _relu6(_stem(pixels.astype(np.float32), *self.stem))
        for block in self.blocks:
            inputs = x
            if block["expand"] is not None:
                x = _relu6(_pointwise(x, *block["expand"]))
            weight, bias = block["depthwise"]
            x = _relu6(_depthwise(x, weight, bias, block["stride"]))
            x = _pointwise(x, *block["project"])
            if block["skip"]:
                x = x + inputs
        return _relu6(_pointwise(x, *self.head))

    def logits(self, feature_map: np.ndarray) -> np.ndarray:
        """The ImageNet classifier on the average-pooled map: ``(B, 1000)``."""
        weight, bias = self.fc
        return feature_map.mean(axis=(1, 2)) @ weight.T + bias


def pool(feature_map: np.ndarray, method: str) -> np.ndarray:
    """``imagevec.encoders.pooling.pool`` for avg, max and gem over a ``(B, H, W, C)`` map."""
    x = feature_map.reshape(feature_map.shape[0], -1, feature_map.shape[-1])
    if method == "avg":
        return x.mean(axis=1)
    if method == "max":
        return x.max(axis=1)
    if method == "gem":
        return np.power(np.power(np.maximum(x, 1e-6), GEM_P).mean(axis=1), 1.0 / GEM_P)
    raise ValueError(f"no numpy pooling {method!r}")


def semantic_embedding(
    logits: np.ndarray, table: np.ndarray, top_k: int, temperature: float
) -> np.ndarray:
    """``conse.semantic_embedding`` in numpy: the renormalised top-k mix, L2-normalised."""
    scaled = logits / temperature
    probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    k = min(top_k, probs.shape[-1])
    top = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    weights = np.take_along_axis(probs, top, axis=-1)
    weights /= weights.sum(axis=-1, keepdims=True)
    mixed = np.einsum("bk,bkd->bd", weights, table[top])
    return mixed / np.linalg.norm(mixed, axis=-1, keepdims=True)


@functools.cache
def class_table() -> np.ndarray:
    """The shipped ImageNet class-name embeddings, float32 rows L2-normalised."""
    with data_file(TABLE_FILE).open("rb") as handle:
        table = np.load(handle, allow_pickle=False).astype(np.float32)
    return table / np.maximum(np.linalg.norm(table, axis=-1, keepdims=True), 1e-12)


def weights_hex(state: Mapping[str, np.ndarray]) -> str:
    """``encoders.base.weights_digest`` of ``{"image": EfficientNet}`` over the same bytes:
    every tensor widened to float32, in key order."""
    weights = hashlib.blake2b(digest_size=8)
    weights.update(b"image")
    for key in sorted(state):
        weights.update(key.encode())
        weights.update(np.ascontiguousarray(state[key], dtype=np.float32).tobytes())
    return weights.hexdigest()


def fingerprint(weights: str, config: Mapping[str, Any], text: str) -> str:
    """``Encoder.fingerprint`` of a default encoder: its config, the MiniLM digest, the
    image weights' digest (:func:`weights_hex`)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps(dict(config), sort_keys=True).encode())
    digest.update(f"minilm:{text}".encode())
    digest.update(weights.encode())
    return digest.hexdigest()


_towers: dict[str, tuple[LiteTower, str, str]] = {}  # tower, weights digest, MiniLM digest


def image_embedder(
    ref: ModelRef, config: Mapping[str, Any], stamp_fingerprint: str
) -> Callable[..., np.ndarray] | None:
    """``(sources, **load options) -> (N, 1664)`` unit rows, or None when this collection's
    encoder is not the plain bundled default (a folder, a projection, attention pooling) or
    the fingerprints differ."""
    from imagevec.encoders.default.minilm import model_dir, weights_digest

    options = {
        "model": "default",
        "pooling": config.get("pooling") or POOLING,
        "projection_dim": config.get("projection_dim"),
        "top_k": config.get("top_k", TOP_K),
        "temperature": config.get("temperature", TEMPERATURE),
        "semantic_weight": config.get("semantic_weight", SEMANTIC_WEIGHT),
    }
    if ref.saved or options["projection_dim"] or options["pooling"] not in POOLINGS:
        return None
    if config.get("model", "default") != "default":
        return None
    if "bundled" not in _towers:
        state = read_legacy_checkpoint(bundled_checkpoint())
        _towers["bundled"] = (LiteTower(state), weights_hex(state), weights_digest(model_dir()))
    tower, weights, text_digest = _towers["bundled"]
    if fingerprint(weights, options, text_digest) != stamp_fingerprint:
        return None
    table = class_table()
    w_sem = math.sqrt(float(options["semantic_weight"]))
    w_img = math.sqrt(1.0 - float(options["semantic_weight"]))

    def embed(sources: Sequence[Any], **load_options: Any) -> np.ndarray:
        from imagevec.io.decode import load_image

        arrays = [
            PREPROCESS.to_array(
                load_image(source, draft_size=PREPROCESS.draft_size, **load_options)
            )
            for source in sources
        ]
        mean = np.asarray(PREPROCESS.mean, np.float32)
        std = np.asarray(PREPROCESS.std, np.float32)
        pixels = (np.stack(arrays).astype(np.float32) / 255.0 - mean) / std
        fmap = tower.feature_map(pixels)
        image = pool(fmap, str(options["pooling"]))
        image /= np.maximum(np.linalg.norm(image, axis=-1, keepdims=True), 1e-12)
        semantic = semantic_embedding(
            tower.logits(fmap), table, int(options["top_k"]), float(options["temperature"])
        )
        vector = np.concatenate([w_img * image, w_sem * semantic], axis=1).astype(np.float32)
        return vector / np.linalg.norm(vector, axis=-1, keepdims=True)

    embed.dim = tower.head[0].shape[0] + table.shape[1]  # type: ignore[attr-defined]
    return embed
