"""Export a torch encoder's towers to ONNX, verify them against torch, write the manifest.

Needs torch (the exporter is ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based
one: no extra dependency beyond ``onnx``). The image graph takes the prepared ``uint8
(B, H, W, 3)`` batch and does the normalisation itself, so the runtime ships bytes to the
engine; its output is the encoder's features (``forward_images``), L2-normalised by the caller.
The batch axis is dynamic. Each graph is checked on fixed probe inputs against the torch
forward (every row's cosine >= :data:`MIN_PARITY`); a graph that fails is not used: the
encoder stays on torch (one warning) and the manifest remembers why, so no process retries.

Example:
    >>> manifest = build_graphs(torch_encoder, "clip")              # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from imagevec.engine.cache import (
    GRAPH_FORMAT,
    MANIFEST,
    atomic_write_json,
    export_lock,
    graph_dir,
    temp_path,
    valid_manifest,
)
from imagevec.engine.sessions import IMAGE_INPUT, OUTPUT, TEXT_INPUTS, open_session

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder
    from imagevec.engine.runtime import RuntimeEncoder

MIN_PARITY = 0.9999
OPSET = 17
PROBE_TEXTS = ["a photo of a cat", "two dogs playing in the snow on a sunny day", "x"]
EXPORTS = {"count": 0}
"""How many graphs this process exported (tests check that a cached graph is reused)."""


class ExportRejectedError(Exception):
    """The exported graph does not reproduce the torch forward (or cannot be exported)."""


class ImageGraph(nn.Module):
    """``uint8 (B, H, W, 3)`` -> the encoder's ``(B, dim)`` features, normalisation inside."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.parts = nn.ModuleDict(encoder.modules())  # the weights, as initialisers
        pre = encoder.preprocess
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalise and run ``forward_images``."""
        x = pixels.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        mean, std = self.get_buffer("mean"), self.get_buffer("std")
        return self.encoder.forward_images((x - mean) / std).float()


def probe_pixels(size: tuple[int, int], count: int = 3) -> np.ndarray:
    """Fixed probe images ``uint8 (count, h, w, 3)``: noise, a gradient, blocks of colour."""
    h, w = size
    rng = np.random.default_rng(20261207)
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    gradient = np.broadcast_to(ramp * np.array([1.0, 0.5, 0.2], np.float32), (h, w, 3))
    blocks = np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((h // 8 + 1, w // 8 + 1, 1)))
    images = [noise, gradient.astype(np.uint8), blocks[:h, :w].astype(np.uint8)]
    return np.stack([images[i % len(images)] for i in range(count)])


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def _check(name: str, reference: np.ndarray, got: np.ndarray) -> float:
    if reference.shape != got.shape or not np.isfinite(got).all():
        raise ExportRejectedError(f"{name} graph gives {got.shape}, torch {reference.shape}")
    worst = float(_row_cosines(reference, got).min())
    if worst < MIN_PARITY:
        raise ExportRejectedError(f"{name} graph's cosine to torch is {worst:.6f} < {MIN_PARITY}")
    return worst


def _export(
    module: nn.Module,
    args: tuple[Any, ...],
    path: Path,
    inputs: list[str],
    axes: dict[str, dict[int, str]],
) -> None:
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript tracer warnings about Python control flow
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=inputs,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def export_graphs(encoder: Encoder, folder: Path, family: str) -> dict[str, Any]:
    """Export, verify and describe ``encoder``'s towers in ``folder``; returns the manifest.

    Raises:
        ExportRejectedError: a graph does not match the torch forward.
    """
    from imagevec.encoders.base import eval_mode

    folder.mkdir(parents=True, exist_ok=True)
    EXPORTS["count"] += 1
    probe = probe_pixels(encoder.preprocess.output_size)
    with eval_mode(encoder):
        reference = encoder.run_images(probe)
        image_file = folder / "image.fp32.onnx"
        with temp_path(image_file) as tmp:
            try:
                _export(
                    ImageGraph(encoder).eval(),
                    (torch.from_numpy(probe[:2]),),
                    tmp,
                    [IMAGE_INPUT],
                    {IMAGE_INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                )
            except Exception as exc:  # the tracer's errors have many types
                raise ExportRejectedError(f"the image tower cannot be exported: {exc}") from exc
            (got,) = open_session(tmp).run([OUTPUT], {IMAGE_INPUT: probe})
            cosine = _check("image", reference, np.asarray(got))
        text = dict(encoder.runtime_text())
        if text["kind"] == "graph":
            text.update(_export_text(encoder, folder))
    return {
        "format": GRAPH_FORMAT,
        "fingerprint": encoder.fingerprint,
        "name": encoder.name,
        "family": family,
        "dim": encoder.dim,
        "pooling": encoder.pooling or "",
        "space": encoder.space,
        "modalities": sorted(encoder.modalities),
        "preprocess": encoder.preprocess.to_dict(),
        "config": encoder.model_config(),
        "query_reach": {kind: encoder.query_reach(kind) for kind in ("image", "text")},
        "image": {
            "fp32": {"file": image_file.name, "size": image_file.stat().st_size, "parity": cosine}
        },
        "text": text,
        "exported_with": {"torch": torch.__version__, "opset": OPSET},
    }


def _export_text(encoder: Encoder, folder: Path) -> dict[str, Any]:
    """Export the text graph and its tokenizer; verify the whole ``texts -> vectors`` path."""
    from tokenizers import Tokenizer

    module = encoder.text_graph()
    if module is None:
        raise ExportRejectedError("the encoder declares a text graph but has none")
    tokenizer_file = folder / "tokenizer.json"
    with temp_path(tokenizer_file) as tmp_tok:
        encoder.save_tokenizer(tmp_tok)
        tokenizer = Tokenizer.from_file(str(tmp_tok))
    encoded = tokenizer.encode_batch(PROBE_TEXTS)
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    text_file = folder / "text.fp32.onnx"
    with temp_path(text_file) as tmp:
        axes = {name: {0: "batch", 1: "tokens"} for name in TEXT_INPUTS}
        try:
            _export(
                module.eval(),
                (torch.from_numpy(ids), torch.from_numpy(mask)),
                tmp,
                list(TEXT_INPUTS),
                {**axes, OUTPUT: {0: "batch"}},
            )
        except Exception as exc:
            raise ExportRejectedError(f"the text tower cannot be exported: {exc}") from exc
        (got,) = open_session(tmp).run([OUTPUT], {TEXT_INPUTS[0]: ids, TEXT_INPUTS[1]: mask})
        cosine = _check("text", encoder.run_texts(PROBE_TEXTS), np.asarray(got))
    return {
        "file": text_file.name,
        "size": text_file.stat().st_size,
        "tokenizer": tokenizer_file.name,
        "parity": cosine,
    }


def build_graphs(encoder: Encoder, family: str) -> dict[str, Any]:
    """The manifest of ``encoder``'s graphs: read from the cache, or exported (under the
    fingerprint's lock: a second process waits and reuses the first one's graphs). A
    rejected export is recorded as ``{"rejected": reason}``."""
    fingerprint = encoder.fingerprint
    folder = graph_dir(fingerprint)
    with export_lock(fingerprint):
        manifest = valid_manifest(folder)
        if manifest is not None:
            return manifest
        try:
            manifest = export_graphs(encoder, folder, family)
        except ExportRejectedError as exc:
            manifest = {"format": GRAPH_FORMAT, "fingerprint": fingerprint, "rejected": str(exc)}
        atomic_write_json(folder / MANIFEST, manifest)
        return manifest


def repair(runtime: RuntimeEncoder, damaged: Path) -> None:
    """Export ``runtime``'s graphs again after ``damaged`` failed to load (needs torch)."""
    warnings.warn(f"the cached graph {damaged} is damaged; exporting it again", stacklevel=3)
    damaged.unlink(missing_ok=True)
    (runtime.folder / MANIFEST).unlink(missing_ok=True)
    manifest = build_graphs(runtime.torch_encoder(), runtime.family)
    if "rejected" in manifest:
        raise ExportRejectedError(manifest["rejected"])
    runtime.manifest = manifest
