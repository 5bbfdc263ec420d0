"""``index_with_ray``: index image folders on a Ray cluster into a Chroma server or Parquet.

The flow::

    driver: walk + change detection (records code) -> rows (from_items)
      -> Embed actors (encoder rebuilt from its config; imagevec's decode + batching loop)
      -> writer tasks (ImageIndex.upsert_vectors | Parquet shards)
      -> status rows back to the driver: progress bar and AddReport

Records are those of ``ImageIndex.add`` (same ids, URIs, metadata, stamp), so a collection
built here is searched, re-indexed and pruned by the local path and vice versa. Each batch is
written as soon as it is embedded: a killed driver loses nothing written, and the rerun skips
it (unchanged by stat). A killed worker is restarted by Ray and its task retried; upserts by
id make the retry harmless.

Example:
    >>> from imagevec.scale import index_with_ray
    >>> report = index_with_ray(["/shared/photos"], chroma_url="http://chroma:8000",
    ...                         collection="products", model="clip-vit-b32")  # doctest: +SKIP
    >>> print(report.summary())                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from imagevec.errors import ConfigError
from imagevec.scale.plan import plan_rows
from imagevec.scale.quiet import ray_output, verbose
from imagevec.scale.resources import StagePlan, plan_resources
from imagevec.scale.stages import Embed, write_chroma, write_parquet
from imagevec.store.chroma import Store, check_collection_name, connect
from imagevec.store.failed import FailedFiles
from imagevec.store.ingest import walk_rules
from imagevec.store.record import BYTES, MTIME_NS
from imagevec.store.records import Metadatas, failure, walk
from imagevec.store.stamp import check_name, encoder_stamp
from imagevec.store.vectors import ensure_stamped
from imagevec.types import AddOptions, AddReport


def _start_ray(address: str | None, num_cpus: int | None) -> Any:
    """Ray, started (or joined) quietly unless imagevec logs at INFO (``-v``): Ray's own
    INFO/WARNING lines stay in Ray's log files (see :mod:`imagevec.scale.quiet`)."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError('the Ray engine needs Ray: pip install "imagevec[ray]"') from exc
    loud = verbose()
    level = logging.INFO if loud else logging.ERROR
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=num_cpus,
            log_to_driver=loud,
            logging_level=level,
            include_dashboard=False,
        )
    for name in ("ray", "ray.data", "ray.data.context"):
        logging.getLogger(name).setLevel(level)
    return ray


def _stamp(ray: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The encoder stamp, computed on the cluster (the driver never loads the model)."""

    def stamp_of(config: dict[str, Any]) -> dict[str, Any]:
        from imagevec.encoders.factory import create_encoder

        return encoder_stamp(create_encoder(**config))

    return ray.get(ray.remote(num_cpus=0.1)(stamp_of).remote(config))


def _encoder_config(model: str | None, store: Any, device: str, dtype: str) -> dict[str, Any]:
    stamp = store.stamp if store is not None else None
    if stamp is not None:
        config = dict(stamp["config"])
        if model is not None:
            from imagevec.encoders.registry import resolve

            check_name(stamp, resolve(model).model, store.name, store.location)
    else:
        from imagevec.encoders.registry import resolve

        config = {"model": resolve(model or "default").model}
    return {**config, "device": device, "dtype": dtype}


def index_with_ray(
    sources: Sequence[str | os.PathLike[str]],
    *,
    chroma_url: str | None = None,
    collection: str = "images",
    parquet: str | os.PathLike[str] | None = None,
    model: str | None = None,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    num_gpus: float = 0.0,
    dtype: str = "float32",
    options: AddOptions | None = None,
    metadatas: Metadatas | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> AddReport:
    """Index image files and folders with Ray Data into a Chroma server or Parquet shards.

    Args:
        sources: files and folders, visible at the same path on every node (shared storage).
        chroma_url: the Chroma server (the embedded store is not process-safe).
        collection: the collection name.
        parquet: a folder for Parquet shards instead of (or as well as) a Chroma server;
            every file found is exported, with no change detection.
        model: the encoder; default: the collection's stamp, else ``default``.
        ray_address: an existing cluster (``auto``); default: start a local Ray.
        num_cpus: CPUs of a local Ray started here (default: all).
        concurrency: model actors (see :func:`~imagevec.scale.resources.plan_resources`).
        num_gpus: GPUs per model actor (0: CPU).
        dtype: model precision on the actors (half precision is for GPUs).
        options: how to walk and index, as for ``ImageIndex.add``
            (:class:`~imagevec.types.AddOptions`; ``prune`` is left to the caller); its
            fields may also be given as keywords (``batch_size``, ``retry_failed``...).
        metadatas: your fields, as for ``ImageIndex.add``.
        progress: show a progress bar.

    Returns:
        The :class:`~imagevec.AddReport` (indexed / updated / unchanged / failed, reasons).
    """
    options, unknown = AddOptions.build(options, **kwargs)
    if unknown:
        raise ConfigError(f"index_with_ray() got unknown options {sorted(unknown)}")
    on_error, batch_size = options.on_error, options.batch_size
    if (chroma_url is None) == (parquet is None):
        raise ConfigError("give a Chroma server url or a Parquet folder (one of them)")
    if isinstance(metadatas, Sequence) and len(metadatas) != len(sources):
        raise ConfigError(f"got {len(metadatas)} metadatas for {len(sources)} sources")
    started = time.perf_counter()
    report = AddReport()
    sources = [os.path.expanduser(os.fspath(source)) for source in sources]
    files, report.failed = walk(sources, options.recursive, on_error, walk_rules(options))
    load: dict[str, Any] = {"gps": options.exif_gps}
    if options.max_pixels is not None:
        load["max_pixels"] = options.max_pixels
    store = None
    if chroma_url is not None:
        name = check_collection_name(collection)
        store = Store(connect(url=chroma_url), name, location=chroma_url)
    out = None
    if parquet is not None:
        out = Path(parquet)
        if out.exists() and any(out.glob("*.parquet")):
            raise ConfigError(f"{out} already holds Parquet shards; give an empty folder")
        out.mkdir(parents=True, exist_ok=True)
    config = _encoder_config(model, store, "cuda" if num_gpus else "cpu", dtype)
    memory = FailedFiles.load(store) if store is not None else FailedFiles()
    skip = None if options.retry_failed or store is None else memory
    rows = list(plan_rows(files, store, metadatas, report, on_error, skip))
    with (
        ray_output() as terminal,
        tqdm(
            total=len(files), unit="img", desc="indexing (ray)", disable=not progress, file=terminal
        ) as bar,
    ):
        bar.update(len(files) - len(rows))
        if rows:
            ray = _start_ray(ray_address, num_cpus)
            stamp = _stamp(ray, config)
            if store is not None:
                ensure_stamped(store, stamp)
            resources = ray.cluster_resources()
            plan = plan_resources(
                resources.get("CPU", 1), resources.get("GPU", 0),
                concurrency=concurrency, num_gpus=num_gpus,
            )  # fmt: skip
            writer: Any = (
                (write_chroma, {"url": chroma_url, "collection": collection, "stamp": stamp})
                if chroma_url is not None
                else (write_parquet, {"folder": str(out), "stamp": stamp})
            )
            embed = {"config": config, "batch_size": batch_size, "on_error": on_error, **load}
            _run(ray, rows, plan, embed, writer, report, bar, memory)
            if store is not None:
                memory.save(store)
    if store is not None and store.exists:
        store.fill_documents()  # records written before documents were stored: once
    report.seconds = time.perf_counter() - started
    return report


def _run(
    ray: Any,
    rows: list[dict[str, Any]],
    plan: StagePlan,
    embed: dict[str, Any],
    writer: tuple[Any, dict[str, Any]],
    report: AddReport,
    bar: Any,
    memory: FailedFiles,
) -> None:
    """Run the dataset and fold its status rows into ``report`` and the failure memory."""
    from ray.data import ActorPoolStrategy, DataContext, TaskPoolStrategy

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = verbose()
    context.enable_auto_log_stats = verbose()
    block = max(1, min(embed["batch_size"] * 4, -(-len(rows) // plan.actors)))
    dataset = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // block))
    embedded = dataset.map_batches(
        Embed,
        fn_constructor_kwargs={**embed, "threads": plan.threads},
        batch_size=block,
        compute=ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus_per_actor,
        num_gpus=plan.gpus_per_actor or None,
        batch_format="numpy",
    )  # fmt: skip
    write, kwargs = writer
    statuses = embedded.map_batches(
        write,
        fn_kwargs=kwargs,
        batch_size=None,  # each embedded block is written as soon as it arrives
        compute=TaskPoolStrategy(size=plan.writers),
        num_cpus=plan.writer_cpus,
        batch_format="numpy",
    )
    by_id = {row["id"]: row for row in rows}
    for batch in statuses.iter_batches(batch_format="numpy", batch_size=None):
        for id_, status, reason in zip(batch["id"], batch["status"], batch["reason"], strict=True):
            row = by_id[str(id_)]
            if status == "failed":
                report.failed.append(failure(row["position"], os.fsdecode(row["path"]), reason))
                fresh = json.loads(row["fresh"])
                memory.remember(row["uri"], fresh[BYTES], fresh[MTIME_NS], str(reason))
            else:
                memory.forget(row["uri"])
                report.embedded += 1
                if status == "indexed":
                    report.indexed += 1
                else:
                    report.updated += 1
        bar.update(len(batch["status"]))
