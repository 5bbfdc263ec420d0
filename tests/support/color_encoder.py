"""A small, real, deterministic encoder for fast structural tests: colour layout.

Images -> the mean colour of each cell of a 4x4 grid (48 numbers, centred); texts naming a
colour ("red", "a green image") -> that colour in every cell. So "red" really finds the red
picture, without loading a neural network. Registered as the model name ``test-color``.
"""

from __future__ import annotations

from typing import Any

import torch

from imagevec.encoders.base import IMAGE, TEXT, Encoder
from imagevec.encoders.registry import ModelRef, register_family
from imagevec.preprocess import Preprocess

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "yellow": (1.0, 1.0, 0.0),
}
GRID = 4


class ColorEncoder(Encoder):
    """Mean colour per grid cell; texts that name a colour map to a uniform image."""

    name = "test-color"
    dim = 3 * GRID * GRID
    modalities = frozenset({IMAGE, TEXT})
    pooling = "avg"
    preprocess = Preprocess(("exact", 32, 32), None, 2, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        cells = torch.nn.functional.adaptive_avg_pool2d(pixel_values.float(), GRID)
        return cells.flatten(1) + 1e-3

    def forward_texts(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            rgb = next((c for w, c in COLOURS.items() if w in text.lower()), (0.5, 0.5, 0.5))
            value = (torch.tensor(rgb) - 0.5) / 0.5
            rows.append(value.view(3, 1).expand(3, GRID * GRID).flatten() + 1e-3)
        return torch.stack(rows) if rows else torch.zeros(0, self.dim)

    def model_config(self) -> dict[str, Any]:
        return {"model": self.name}


def load(ref: ModelRef, **options: Any) -> ColorEncoder:
    """Family loader (``create_encoder("test-color")``)."""
    options = {k: v for k, v in options.items() if k in ("device", "dtype")}
    return ColorEncoder(**options)


register_family("test-color", load)
