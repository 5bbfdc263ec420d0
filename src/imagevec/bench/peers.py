"""The peer paths of ``imagevec bench engine``: how other libraries embed a folder of photos.

* :func:`torch_one_by_one`: the stock ``transformers`` image processor and the torch model,
  one image per call (what LangChain's and LlamaIndex's CLIP embeddings do);
* :func:`ort_one_by_one`: the stock processor and an ONNX Runtime session over a plain export
  of the same vision tower, one image per call (what immich and fastembed do);
* :func:`ort_forward`: an ONNX Runtime session alone on ready inputs, in batches (the ceiling
  any pipeline around it can reach).

Peers open their sessions with ONNX Runtime's default options, as their users would.
For the bundled default, which has no ``transformers`` processor, the "stock" preprocessing is
its own PIL resize and crop with a numpy normalisation, and the torch module is imagevec's.

Example:
    >>> peer = ClipPeer(Path("clip-b32"), Path("work"))                 # doctest: +SKIP
    >>> vectors = peer.torch_one_by_one(paths)                          # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagevec.encoders.embedding import unit_rows

OPSET = 17


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def plain_session(graph: Path) -> Any:
    """An ``InferenceSession`` on the CPU with ONNX Runtime's default options."""
    import onnxruntime as ort

    return ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])


def ort_forward(session: Any, batches: Sequence[np.ndarray]) -> np.ndarray:
    """Run ``session`` on each ready batch (its first input); unit rows."""
    name = session.get_inputs()[0].name
    return unit_rows(np.concatenate([session.run(None, {name: b})[0] for b in batches]))


def _weights_key(folder: Path) -> str:
    """Names a folder's peer export: its path and its weight files' sizes and times."""
    import hashlib

    digest = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=6)
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{folder.name}-{digest.hexdigest()}"


class ClipPeer:
    """The two peer paths of a CLIP checkpoint folder (stock processor, torch or ORT).

    Args:
        folder: a ``save_pretrained`` CLIP folder.
        work: where the plain ONNX export of the vision tower is kept (made once per weights).
    """

    def __init__(self, folder: Path, work: Path) -> None:
        import torch
        from transformers import AutoImageProcessor, CLIPModel

        self.processor = AutoImageProcessor.from_pretrained(str(folder))
        self.model = CLIPModel.from_pretrained(str(folder)).eval()
        self.torch = torch
        self.graph = work / f"peer-{_weights_key(folder)}.onnx"
        if not self.graph.is_file():
            self._export()
        self.session = plain_session(self.graph)

    def _features(self, pixel_values: Any) -> Any:
        out = self.model.get_image_features(pixel_values=pixel_values)
        return getattr(out, "pooler_output", out)  # a ModelOutput in transformers 5

    def _export(self) -> None:
        """A plain export of ``get_image_features`` (float pixels in), as a peer makes it."""
        torch = self.torch

        class Tower(torch.nn.Module):  # type: ignore[name-defined]
            def __init__(self, model: Any) -> None:
                super().__init__()
                self.model = model

            def forward(self, pixel_values: Any) -> Any:
                out = self.model.get_image_features(pixel_values=pixel_values)
                return getattr(out, "pooler_output", out)

        partial = self.graph.with_suffix(".partial")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer and deprecation notes
            torch.onnx.export(
                Tower(self.model).eval(),
                (torch.zeros(1, 3, 224, 224),),
                str(partial),
                input_names=["pixel_values"],
                output_names=["image_embeds"],
                dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        partial.replace(self.graph)

    def torch_one_by_one(self, paths: Sequence[Path]) -> np.ndarray:
        """Stock processor + torch forward, one image per call."""
        rows = []
        with self.torch.inference_mode():
            for path in paths:
                inputs = self.processor(images=_rgb(path), return_tensors="pt")
                rows.append(self._features(inputs["pixel_values"]).float().numpy())
        return unit_rows(np.concatenate(rows))

    def ort_one_by_one(self, paths: Sequence[Path]) -> np.ndarray:
        """Stock processor + ONNX Runtime fp32 (a plain export), one image per call."""
        rows = []
        for path in paths:
            pixels = self.processor(images=_rgb(path), return_tensors="np")["pixel_values"]
            rows.append(self.session.run(None, {"pixel_values": pixels.astype(np.float32)})[0])
        return unit_rows(np.concatenate(rows))


class ModulePeer:
    """Peer paths for a model without a ``transformers`` processor (the bundled default):
    its own PIL preprocessing, then the torch module or an ONNX Runtime session, one by one.

    Args:
        torch_encoder: the model's torch encoder (``engine="torch"``).
        graph: its exported fp32 image graph (``uint8 (B, H, W, 3)`` input).
    """

    def __init__(self, torch_encoder: Any, graph: Path | None) -> None:
        self.encoder = torch_encoder
        self.session = plain_session(graph) if graph is not None else None

    def torch_one_by_one(self, paths: Sequence[Path]) -> np.ndarray:
        """PIL preprocessing + the torch module, one image per call."""
        pre = self.encoder.preprocess
        rows = [self.encoder.run_images(np.array(pre.to_array(_rgb(p))[None])) for p in paths]
        return np.concatenate(rows)

    def ort_one_by_one(self, paths: Sequence[Path]) -> np.ndarray | None:
        """PIL preprocessing + ONNX Runtime fp32, one image per call (None without a graph)."""
        session = self.session
        if session is None:
            return None
        pre, name = self.encoder.preprocess, session.get_inputs()[0].name
        rows = [session.run(None, {name: pre.to_array(_rgb(p))[None]})[0] for p in paths]
        return unit_rows(np.concatenate(rows))
