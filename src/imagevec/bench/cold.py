"""Cold start: seconds from typing ``imagevec search`` to the result (text and image query),
and of ``imagevec index`` on a folder where nothing changed but two files are broken.

Each round runs the real command in a fresh process (``python -m imagevec search ...``), so
imports, model loading and opening the store are all counted, as a user sees them. Reports
the wall time and the CPU time (user + system) of each run; on a busy machine the CPU time
is the steadier of the two. Uses the bundled sample photos, indexed once into a temporary
folder (not timed) unless ``db`` names an existing index (then the re-index is not run).

Example:
    >>> result = bench_cold(rounds=3)                                  # doctest: +SKIP
    >>> result["text"]["wall_s"]["min"]                                # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imagevec.index import ImageIndex
from imagevec.samples import write_sample_photos

COLLECTION = "demo"


def _timed(args: list[str]) -> tuple[float, float]:
    """Run ``python -m imagevec ARGS``; returns (wall, CPU) seconds of that process.

    Exit code 1 (finished, some inputs failed: the broken files of a re-index) is a result.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "imagevec", *args],
        capture_output=True,
        text=True,
        env=_environment(),
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"imagevec {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _environment() -> dict[str, str]:
    """Offline, no telemetry, and Python's bytecode cache allowed: a user's second command
    reads compiled modules (the untimed first run writes them) even where the environment
    says not to write them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _prepare(folder: Path) -> tuple[Path, Path]:
    """Index the sample photos and two broken files into ``folder/db`` (collection ``demo``);
    returns (db, image query)."""
    photos = write_sample_photos(folder / "photos")
    (folder / "photos" / "broken.jpg").write_text("not a picture")
    (folder / "photos" / "truncated.jpg").write_bytes(photos[0].read_bytes()[:3000])
    db = folder / "db"
    with ImageIndex(db, collection=COLLECTION, encoder="default") as index:
        index.add(folder / "photos")
    return db, next(p for p in photos if p.stem == "chelsea")


def bench_cold(
    db: str | os.PathLike[str] | None = None,
    *,
    collection: str = COLLECTION,
    text: str = "a cat",
    image: str | os.PathLike[str] | None = None,
    rounds: int = 3,
) -> dict[str, Any]:
    """Time ``rounds`` cold text searches, image searches and re-indexes (best, median, worst).

    Args:
        db: an existing index; default: the sample photos indexed in a temporary folder.
        collection: its collection.
        text: the text query.
        image: the image query (default: a sample photo).
        rounds: fresh processes per kind (one more, untimed, warms the disk cache).
    """
    with tempfile.TemporaryDirectory(prefix="imagevec-bench-cold-") as tmp:
        reindex: list[str] = []
        if db is None:
            db, image = _prepare(Path(tmp))
            collection = COLLECTION
            reindex = ["index", str(Path(tmp, "photos")), "--db", str(db), "-c", collection]
        if image is None:
            raise ValueError("give the image query (image=) with your own index")
        base = ["search", "--db", str(db), "-c", collection, "-k", "5"]
        kinds = {"text": [*base, text], "image": [*base, "--image", str(image)]}
        if reindex:  # the photos again: nothing new, two broken files remembered
            kinds["reindex"] = [*reindex, "--no-progress"]
        result: dict[str, Any] = {"rounds": rounds, "load_average": os.getloadavg()[0]}
        for kind, args in kinds.items():
            _timed(args)  # untimed: the first run after indexing pays for the disk cache
            runs = [_timed(args) for _ in range(rounds)]
            result[kind] = {
                "wall_s": _summary([wall for wall, _ in runs]),
                "cpu_s": _summary([cpu for _, cpu in runs]),
            }
        result["load_average_after"] = os.getloadavg()[0]
    return result


def format_cold(result: dict[str, Any]) -> str:
    """A short table of :func:`bench_cold`'s result."""
    lines = [
        f"cold `imagevec search`, {result['rounds']} fresh processes each "
        f"(load average {result['load_average']:.1f} -> {result['load_average_after']:.1f})",
        f"{'run':<7} {'wall min':>9} {'median':>7} {'cpu min':>8} {'median':>7}",
    ]
    for kind in ("text", "image", "reindex"):
        if kind not in result:
            continue
        wall, cpu = result[kind]["wall_s"], result[kind]["cpu_s"]
        lines.append(
            f"{kind:<7} {wall['min']:>8.2f}s {wall['median']:>6.2f}s "
            f"{cpu['min']:>7.2f}s {cpu['median']:>6.2f}s"
        )
    return "\n".join(lines)
