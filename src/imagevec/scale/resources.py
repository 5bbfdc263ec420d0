"""How a Ray cluster's CPUs and GPUs are split between the stages, so that any size progresses.

Ray Data starts an actor pool before the tasks that feed it; if the actors hold every
logical CPU, nothing else is ever scheduled and the job hangs (ray-project/ray#44687; seen
here with two 1-CPU actors on ``num_cpus=2``). So every stage gets a share that fits:

* the input rows are made on the driver (``from_items``): no read task needs a CPU;
* writers are I/O bound: ``0.1`` CPU each (one for Chroma: its ingest is serial anyway);
* ``0.25`` CPU is left free for Ray Data's own tasks;
* the model actors share the rest, fractionally when it is small (2 cores: 2 actors of
  0.8 CPU), and each actor decodes with as many threads as it holds cores (at least 1).

Example:
    >>> plan_resources(cpus=2, concurrency=2).cpus_per_actor
    0.8
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imagevec.errors import ConfigError

WRITER_CPUS = 0.1
HEADROOM = 0.25
MAX_CPU_ACTORS = 8


@dataclass(frozen=True)
class StagePlan:
    """The resources of each stage.

    Attributes:
        actors: model actors (each loads the encoder once).
        cpus_per_actor: logical CPUs each model actor reserves (may be fractional).
        gpus_per_actor: GPUs each model actor reserves (0 on a CPU cluster).
        threads: torch and decode threads per model actor.
        writers: writer tasks at a time.
        writer_cpus: logical CPUs per writer.
    """

    actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    threads: int
    writers: int
    writer_cpus: float


def plan_resources(
    cpus: float,
    gpus: float = 0.0,
    *,
    concurrency: int | None = None,
    num_gpus: float = 0.0,
    writers: int = 1,
) -> StagePlan:
    """Split a cluster of ``cpus`` CPUs and ``gpus`` GPUs between the model actors and writers.

    Args:
        cpus: the cluster's logical CPUs (``ray.cluster_resources()["CPU"]``).
        gpus: the cluster's GPUs.
        concurrency: model actors; default one per GPU share with ``num_gpus``, else one per
            two cores (at least 1, at most 8).
        num_gpus: GPUs per model actor (0: run on CPU).
        writers: writer tasks at a time.

    Raises:
        ConfigError: the request cannot fit the cluster (it would hang).
    """
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    if num_gpus < 0 or (num_gpus and num_gpus > gpus):
        raise ConfigError(f"--num-gpus {num_gpus} per actor, but the cluster has {gpus} GPUs")
    if concurrency is None:
        concurrency = (
            max(1, math.floor(gpus / num_gpus + 1e-9))
            if num_gpus
            else max(1, min(MAX_CPU_ACTORS, math.floor(cpus / 2)))
        )
    if num_gpus and concurrency * num_gpus > gpus + 1e-9:
        raise ConfigError(
            f"{concurrency} actors x {num_gpus} GPUs do not fit the cluster's {gpus} GPUs"
        )
    spare = cpus - writers * WRITER_CPUS - HEADROOM
    if spare < 0.1 * concurrency:
        raise ConfigError(
            f"{cpus:g} CPUs cannot hold {concurrency} model actors and {writers} writers; "
            "lower --concurrency"
        )
    share = math.floor(spare / concurrency * 10) / 10  # tenths: no float dust in the pool
    return StagePlan(
        actors=concurrency,
        cpus_per_actor=share,
        gpus_per_actor=float(num_gpus),
        threads=max(1, round(share)),
        writers=writers,
        writer_cpus=WRITER_CPUS,
    )
