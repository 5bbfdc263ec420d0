"""The default encoder's torch-free constants and files, shared by the torch model and the
numpy query paths: its pixel preprocessing and the shipped ImageNet class-name table."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from PIL import Image

from imagevec.preprocess import Preprocess

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: ConSE settings and the default pooling, chosen on labelled cases built from the sample
#: photos (``examples/benchmarks/run.py default-quality``; numbers in the README): a flatter mix
#: of more classes (top 50 at temperature 2) finds the named object more often than the
#: paper's sharp top-20 mix, and GeM pooling keeps heavily recompressed, downscaled copies
#: of texture-like photos closer to their originals than average pooling.
TOP_K = 50
TEMPERATURE = 2.0
POOLING = "gem"
SEMANTIC_WEIGHT = 0.2
#: TF-Lite training statistics (pixels scaled to [-1, 1], checked against the stem's BN
#: running variance) and TF's eval crop (short side 256, centre 224, bicubic).
PREPROCESS = Preprocess(
    resize=("shortest", 256),
    crop=(224, 224),
    resample=int(Image.Resampling.BICUBIC),
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
)

#: MiniLM embeddings of the 1000 ImageNet class prompts (float16 ``.npy``, in ``data/``)
TABLE_FILE = "imagenet_class_text_minilm.npy"


def data_file(name: str) -> Traversable:
    """A file shipped in ``imagevec/encoders/default/data``."""
    return (
        resources.files("imagevec.encoders.default").joinpath("data").joinpath(name)
    )  # one part per joinpath: Python 3.10
