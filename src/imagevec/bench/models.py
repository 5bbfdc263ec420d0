"""Random-weight models of real sizes, for benchmarks and tests that must not download.

A random CLIP ViT-B/32 runs exactly as fast as the real one, so throughput measured on it
holds for ``openai/clip-vit-base-patch32``; its vectors mean nothing, of course.

Example:
    >>> folder = build_random_clip("/tmp/clip-b32")                    # doctest: +SKIP
    >>> enc = imagevec.create_encoder(str(folder))                      # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: ``preprocessor_config.json`` of openai/clip-vit-base-patch32 (values copied from the hub).
CLIP_PROCESSOR: dict[str, Any] = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}


def byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary (every byte, alone and word-final) plus a few merges."""
    chars = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    chars += range(ord("®"), ord("ÿ") + 1)
    extra = [b for b in range(256) if b not in chars]
    symbols = [chr(c) for c in chars] + [chr(256 + i) for i in range(len(extra))]
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = ["t h", "th e</w>", "a t</w>", "c at</w>", "o f</w>", "p h", "ph o", "pho t", "o o"]
    tokens += [m.replace(" ", "") for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    pairs = [(left, right) for left, _, right in (m.partition(" ") for m in merges)]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, pairs


def build_byte_tokenizer(folder: str | Path, *, context: int = 77) -> Path:
    """Write a small byte-level ``CLIPTokenizer`` (no download) to ``folder``."""
    from transformers import CLIPTokenizer

    vocab, merges = byte_level_vocab()
    CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=context).save_pretrained(str(folder))  # type: ignore[arg-type]
    return Path(folder)


def build_random_clip(folder: str | Path, *, seed: int = 0, **vision: Any) -> Path:
    """Save a random-weight CLIP with the ViT-B/32 architecture (or ``vision`` overrides).

    Args:
        folder: where to write ``config.json``, ``model.safetensors``, the processor config
            and a byte-level tokenizer.
        seed: the torch seed of the random init.
        **vision: overrides of the vision config (e.g. ``patch_size=16`` for B/16).
    """
    import torch
    from transformers import CLIPConfig, CLIPModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = len(byte_level_vocab()[0])
    config = CLIPConfig(
        text_config={
            "vocab_size": vocab_size,
            "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1,
            "pad_token_id": vocab_size - 1,
        },
        vision_config={"image_size": 224, "patch_size": 32, **vision},
        projection_dim=512,
    )
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(folder, safe_serialization=True)
    (folder / "preprocessor_config.json").write_text(json.dumps(CLIP_PROCESSOR, indent=2))
    build_byte_tokenizer(folder)
    return folder
