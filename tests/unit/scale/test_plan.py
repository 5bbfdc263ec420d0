"""The Ray engine's planning, without Ray: resources that fit any cluster, rows from the
records code (unchanged / touched / failed earlier), and the CLI's option checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imagevec.cli import EXIT_USAGE, main
from imagevec.errors import ConfigError
from imagevec.index import ImageIndex
from imagevec.scale.plan import plan_rows
from imagevec.scale.resources import HEADROOM, plan_resources
from imagevec.store.failed import FailedFiles
from imagevec.store.records import file_uri, record_id, walk
from imagevec.types import AddReport


@pytest.mark.parametrize("cpus", [1, 2, 3, 16, 96])
@pytest.mark.parametrize("concurrency", [None, 1, 2])
def test_cpu_plans_leave_room_for_every_other_stage(cpus: int, concurrency: int | None) -> None:
    plan = plan_resources(cpus, concurrency=concurrency)
    used = plan.actors * plan.cpus_per_actor + plan.writers * plan.writer_cpus
    assert used <= cpus - HEADROOM + 1e-9  # never every CPU: the job cannot starve
    assert plan.cpus_per_actor > 0 and plan.threads >= 1
    if concurrency:
        assert plan.actors == concurrency


def test_two_cpus_two_actors_is_the_case_that_used_to_hang() -> None:
    plan = plan_resources(2, concurrency=2)
    assert plan.actors == 2 and plan.cpus_per_actor < 1


def test_gpu_plans_and_impossible_requests() -> None:
    plan = plan_resources(64, 8, num_gpus=1)
    assert (plan.actors, plan.gpus_per_actor) == (8, 1.0) and plan.cpus_per_actor >= 7
    assert plan_resources(16, 1, num_gpus=0.5).actors == 2  # two actors share one GPU
    with pytest.raises(ConfigError, match="GPUs"):
        plan_resources(16, 1, num_gpus=2)
    with pytest.raises(ConfigError, match="GPUs"):
        plan_resources(16, 2, num_gpus=1, concurrency=3)
    with pytest.raises(ConfigError, match="lower --concurrency"):
        plan_resources(1, concurrency=20)


def test_plan_rows_uses_the_records_rules(tmp_path: Path, colour_dir: Path) -> None:
    (colour_dir / "broken.png").write_bytes(b"not a png")
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(colour_dir)  # red, green, blue indexed; broken remembered as failed
        store = index._open(write=True)
        red, green = colour_dir / "red.png", colour_dir / "green.png"
        os.utime(red, ns=(1, 1))  # touched, same content: metadata refreshed, not a row
        green.write_bytes(green.read_bytes() + b"\0")  # changed: a row, not new
        (colour_dir / "new.png").write_bytes((colour_dir / "blue.png").read_bytes())
        files, _ = walk([colour_dir], True, "skip")
        report = AddReport()
        rows = list(plan_rows(files, store, None, report, "skip", FailedFiles.load(store)))
        assert sorted((Path(os.fsdecode(r["path"])).name, r["new"]) for r in rows) == [
            ("green.png", False),
            ("new.png", True),
        ]
        assert report.unchanged == 2 and [Path(f.source).name for f in report.failed_earlier] == [
            "broken.png"
        ]
        assert store.get_metadata([r["id"] for r in rows if not r["new"]])  # ids are add's
        refreshed = store.get_metadata([record_id(file_uri(red))])
        assert next(iter(refreshed.values()))["mtime_ns"] == 1  # the touched record
        fresh = json.loads(rows[0]["fresh"])
        assert set(fresh) == {"bytes", "mtime_ns"}


def test_ray_options_are_refused_without_engine_ray(colour_dir: Path) -> None:
    assert main(["index", str(colour_dir), "--parquet", "out"]) == EXIT_USAGE
    assert main(["index", str(colour_dir), "--concurrency", "2"]) == EXIT_USAGE
    assert main(["index", str(colour_dir), "--engine", "ray"]) == EXIT_USAGE  # no sink


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("index", ["--engine", "--ray-address", "--concurrency", "--num-gpus", "--parquet"]),
        ("bench scale", ["--chroma-url", "--actors", "--sizes"]),
    ],
)
def test_help_names_the_ray_options(command: str, words: list[str]) -> None:
    from click.testing import CliRunner

    from imagevec.cli import cli

    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0
    for word in words:
        assert word in result.output
