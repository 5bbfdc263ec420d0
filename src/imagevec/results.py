"""What the batching loop returns: vectors, the input each row belongs to, and failures.

Kept free of torch so that code which only reports (the index, the CLI) imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SkippedImageWarning(UserWarning):
    """An input was skipped because it could not be loaded (``on_error="warn"``)."""


@dataclass(frozen=True)
class Failure:
    """An input that could not be embedded: its position, a description and the reason."""

    index: int
    source: str
    reason: str


@dataclass
class EncodedBatch:
    """One batch out of the loop: ``vectors[i]`` belongs to input number ``indices[i]``."""

    indices: list[int]
    vectors: np.ndarray
    sources: list[Any] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass
class EncodeReport:
    """All batches collected: vectors, the input index of each row, and the failures."""

    vectors: np.ndarray
    indices: list[int]
    failures: list[Failure]

    @property
    def ok(self) -> bool:
        """True when every input was embedded."""
        return not self.failures
