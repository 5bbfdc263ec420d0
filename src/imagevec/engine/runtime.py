"""The torch-free runtime encoder: an exported graph on ONNX Runtime, plus what it needs.

A :class:`RuntimeEncoder` is built from a graph folder's manifest (:mod:`imagevec.engine.cache`)
and holds the preprocessing spec, the identity (fingerprint, dim, pooling...), and lazily the
``onnxruntime.InferenceSession`` of each tower: a text query never opens the image graph and
the reverse. Its :attr:`config` rebuilds it in another process (a Ray worker, a data-loader
worker) with :func:`imagevec.create_encoder` — from the cache, still without torch.

Example:
    >>> enc = imagevec.create_encoder("default")       # doctest: +SKIP
    >>> enc.engine                                      # doctest: +SKIP
    'onnxruntime (CPUExecutionProvider, fp32)'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.encoders.embedding import IMAGE, TEXT, Embedder, unit_rows
from imagevec.engine.sessions import IMAGE_INPUT, OUTPUT, TEXT_INPUTS, open_session
from imagevec.errors import ConfigError, ModelLoadError, UnsupportedModalityError
from imagevec.preprocess import Preprocess


class RuntimeEncoder(Embedder):
    """An encoder whose forward pass is an ONNX Runtime session over an exported graph.

    Args:
        manifest: the graph folder's ``manifest.json`` (see :mod:`imagevec.engine.cache`).
        folder: the graph folder.
        device: ``cpu`` or ``cuda[:N]`` (the CUDA provider).
        precision: ``fp32`` or ``int8`` (a graph the manifest lists).
        repair: called with the encoder and the graph file when a graph fails to load
            (:func:`imagevec.engine.load.open_encoder` passes the re-export).

    Attributes:
        family: the encoder family that exported the graph.
        precision: the precision this encoder runs its image graph in.
    """

    def __init__(
        self,
        manifest: dict[str, Any],
        folder: Path,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        repair: Callable[[RuntimeEncoder, Path], None] | None = None,
    ) -> None:
        self.manifest, self.folder = manifest, Path(folder)
        self.device, self.precision, self.repair = device, precision, repair
        if precision not in manifest["image"]:
            raise ConfigError(f"no {precision} graph in {folder}")
        self.name = str(manifest["name"])
        self.family = str(manifest["family"])
        self.dim = int(manifest["dim"])
        self.pooling = manifest.get("pooling") or None
        self.space = str(manifest.get("space", "cosine"))
        self.modalities = frozenset(manifest["modalities"])
        self.preprocess = Preprocess.from_dict(manifest["preprocess"])
        self._sessions: dict[str, Any] = {}
        self._text: Any = None
        self._lock = threading.Lock()
        # one lock per tower: a text query never waits while the image graph is opened
        self._opening = {IMAGE: threading.Lock(), TEXT: threading.Lock()}

    # ------------------------------------------------------------------ identity
    @property
    def fingerprint(self) -> str:
        """The fingerprint of the torch module the graph was exported from."""
        return str(self.manifest["fingerprint"])

    @property
    def config(self) -> dict[str, Any]:
        """``create_encoder(**config)`` rebuilds this encoder (from the cache, torch-free)."""
        return {**self.manifest["config"], "device": self.device, "precision": self.precision}

    @property
    def engine(self) -> str:
        """``"onnxruntime (CPUExecutionProvider, fp32)"`` and the like."""
        provider = (
            "CUDAExecutionProvider" if self.device.startswith("cuda") else "CPUExecutionProvider"
        )
        return f"onnxruntime ({provider}, {self.precision})"

    def query_reach(self, kind: str) -> float:
        """See :meth:`Embedder.query_reach` (stored in the manifest at export)."""
        super().query_reach(kind)
        return float(self.manifest.get("query_reach", {}).get(kind, 1.0))

    # ------------------------------------------------------------------ engine
    def session(self, tower: str) -> Any:
        """The ``InferenceSession`` of ``tower`` (``"image"`` or ``"text"``), opened on first use.

        A graph that fails to load (damaged on disk) is exported again from the torch module.
        """
        key = f"{tower}.{self.precision if tower == IMAGE else 'fp32'}"
        with self._opening[tower]:
            if key not in self._sessions:
                entry = self.manifest[tower] if tower == TEXT else self.manifest[IMAGE]
                name = entry["file"] if tower == TEXT else entry[self.precision]["file"]
                path = self.folder / name
                try:
                    self._sessions[key] = open_session(path, device=self.device)
                except Exception as exc:  # onnxruntime raises its own types for bad files
                    if not type(exc).__module__.startswith("onnxruntime"):
                        raise
                    if self.repair is None:
                        raise
                    self.repair(self, path)
                    self._sessions[key] = open_session(path, device=self.device)
            return self._sessions[key]

    def run_images(self, pixels: np.ndarray) -> np.ndarray:
        """``uint8 (B, H, W, 3)`` -> unit rows, by the image graph."""
        batch = np.ascontiguousarray(pixels, dtype=np.uint8)
        (out,) = self.session(IMAGE).run([OUTPUT], {IMAGE_INPUT: batch})
        return unit_rows(out)

    def run_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> unit rows, by the text tower the manifest names."""
        if TEXT not in self.modalities:
            raise UnsupportedModalityError(f"encoder {self.name!r} embeds images only")
        with self._lock:
            if self._text is None:
                self._text = _text_runner(self)
        return unit_rows(self._text(list(texts)))

    def torch_encoder(self) -> Any:
        """The torch module this graph was exported from (loads torch and the weights)."""
        from imagevec.encoders.registry import load_torch, resolve

        options = dict(self.manifest["config"])
        ref = resolve(str(options.pop("model")), revision=options.pop("revision", None))
        return load_torch(ref, device="cpu", **options)


def _text_runner(encoder: RuntimeEncoder) -> Any:
    """``texts -> (B, dim)`` features for the manifest's text tower."""
    spec = encoder.manifest["text"]
    kind = spec["kind"]
    if kind == "graph":
        return GraphText(encoder, spec)
    if kind == "minilm":
        from imagevec.encoders.default.minilm import MiniLM

        model, image_dim = MiniLM(), int(spec["image_dim"])

        def minilm(texts: list[str]) -> np.ndarray:
            text = model.embed(texts)
            return np.concatenate([np.zeros((len(text), image_dim), np.float32), text], axis=1)

        return minilm
    if kind == "torch":
        return encoder.torch_encoder().run_texts
    raise ModelLoadError(f"{encoder.folder}: unknown text tower kind {kind!r}")


class GraphText:
    """A tokenizer (``tokenizers``, saved beside the graph) and the text graph's session."""

    def __init__(self, encoder: RuntimeEncoder, spec: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.encoder = encoder
        self.tokenizer = Tokenizer.from_file(str(encoder.folder / spec["tokenizer"]))

    def __call__(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch([str(t) for t in texts])
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        session = self.encoder.session(TEXT)
        (out,) = session.run([OUTPUT], {TEXT_INPUTS[0]: ids, TEXT_INPUTS[1]: mask})
        return np.asarray(out, dtype=np.float32)
