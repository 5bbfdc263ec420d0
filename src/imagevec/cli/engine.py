"""``imagevec index --engine ray``: the options and the call into :mod:`imagevec.scale`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from imagevec.types import AddOptions, AddReport

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="'ray': embed on a Ray cluster (pip install \"imagevec[ray]\") into a Chroma "
        "server (--chroma-url) or Parquet shards (--parquet); same records as 'local'.",
    ),
    click.option(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to join, e.g. 'auto' [default: start a local Ray]. --engine ray.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1),
        help="Model actors [default: one per --num-gpus share, else one per 2 cores]. "
        "--engine ray.",
    ),
    click.option(
        "--num-gpus",
        type=click.FloatRange(0),
        default=0.0,
        show_default=True,
        help="GPUs per model actor (0: CPU). --engine ray.",
    ),
    click.option(
        "--parquet",
        type=click.Path(file_okay=False, path_type=Path),
        help="Write vectors + metadata as Parquet shards (id, uri, vector, metadata) into "
        "this empty folder instead of a collection. --engine ray.",
    ),
]


def engine_options(func: F) -> F:
    """``--engine``, ``--ray-address``, ``--concurrency``, ``--num-gpus``, ``--parquet``."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def check_engine_options(engine: str, chroma_url: str | None, ray: dict[str, Any]) -> None:
    """Refuse Ray options without ``--engine ray`` and a Ray run without a process-safe sink."""
    if engine != "ray":
        given = [f"--{k.replace('_', '-')}" for k, v in ray.items() if v not in (None, 0.0)]
        if given:
            raise click.UsageError(f"{', '.join(given)} need --engine ray")
        return
    if (chroma_url is None) == (ray.get("parquet") is None):
        raise click.UsageError(
            "--engine ray writes to a Chroma server (--chroma-url URL) or to Parquet "
            "(--parquet DIR), one of them: the embedded --db store is not process-safe"
        )


def index_on_ray(
    paths: list[Path],
    options: AddOptions,
    *,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    ray: dict[str, Any],
    **kwargs: Any,
) -> tuple[AddReport, str]:
    """Run :func:`imagevec.scale.index_with_ray`; ``(report, location)``."""
    from imagevec.scale import index_with_ray

    report = index_with_ray(
        paths,
        chroma_url=chroma_url,
        collection=collection,
        model=model,
        parquet=ray["parquet"],
        ray_address=ray["ray_address"],
        concurrency=ray["concurrency"],
        num_gpus=ray["num_gpus"],
        options=options,
        **kwargs,
    )
    if options.prune and chroma_url is not None:
        from imagevec.index import ImageIndex

        with ImageIndex(url=chroma_url, collection=collection) as index:
            report.pruned = index.prune(paths)
    return report, chroma_url or str(ray["parquet"])
