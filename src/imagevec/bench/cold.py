"""Cold start: seconds from typing a command to its answer, each run a fresh process.

Per model (the bundled ``default``; ``clip-b32-random``, a random-weight CLIP ViT-B/32 saved as
a folder, which loads like any CLIP folder), on the sample photos indexed once (not timed):

* ``text`` / ``image``: ``imagevec search "a cat"`` / ``imagevec search --image photo.jpg``;
* ``reindex``: ``imagevec index`` on the same folder, nothing new but two broken files;
* ``mcp_ready``: ``imagevec mcp`` over stdio, from start to its answer to ``initialize``
  (ready to answer); ``mcp_answer``: to its answer to a first ``search_photos`` call.

Imports, model and store loading are all counted, as a user sees them. Each kind runs once
untimed first (the disk cache, Python's bytecode, the exported graphs), then ``rounds`` times;
the wall time and the CPU time (user + system) of each run are reported: on a busy machine the
CPU time is the steadier of the two.

Example:
    >>> result = bench_cold(rounds=3)                                  # doctest: +SKIP
    >>> result["models"]["default"]["text"]["wall_s"]["min"]           # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from imagevec.index import ImageIndex
from imagevec.samples import write_sample_photos

COLLECTION = "demo"
RANDOM_CLIP = "clip-b32-random"
KINDS = ("text", "image", "reindex", "mcp_ready", "mcp_answer")


def _command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "imagevec", *args]


def _timed(args: list[str]) -> tuple[float, float]:
    """Run ``python -m imagevec ARGS``; returns (wall, CPU) seconds of that process.

    Exit code 1 (finished, some inputs failed: the broken files of a re-index) is a result.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        _command(args), capture_output=True, text=True, env=environment(), check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"imagevec {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def environment() -> dict[str, str]:
    """Offline, no telemetry, and Python's bytecode cache allowed: a user's second command
    reads compiled modules (the untimed first run writes them) even where the environment
    says not to write them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _send(pipe: IO[str], message: dict[str, Any]) -> None:
    pipe.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
    pipe.flush()


def _answer(pipe: IO[str], request_id: int) -> dict[str, Any]:
    """The JSON-RPC response with ``request_id`` (other lines, notifications, skipped)."""
    for line in pipe:
        message = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"MCP error: {message['error']}")
            return dict(message["result"])
    raise RuntimeError("the MCP server closed its output before answering")


def mcp_stdio(args: Sequence[str], query: str, env: dict[str, str] | None = None) -> dict:
    """Start ``imagevec mcp ARGS`` on stdio, ``initialize``, call ``search_photos(query)``.

    Returns ``{"ready_s", "answer_s", "result", "returncode"}``: seconds from start to the
    ``initialize`` answer and to the tool's answer, the tool result, and the exit code after
    its input closed.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        _command(["mcp", *args]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env or environment(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        params = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "imagevec-bench", "version": "1"},
        }
        _send(proc.stdin, {"id": 1, "method": "initialize", "params": params})
        _answer(proc.stdout, 1)
        ready = time.perf_counter() - started
        _send(proc.stdin, {"method": "notifications/initialized"})
        call = {"name": "search_photos", "arguments": {"query": query, "k": 3}}
        _send(proc.stdin, {"id": 2, "method": "tools/call", "params": call})
        result = _answer(proc.stdout, 2)
        answered = time.perf_counter() - started
        proc.stdin.close()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"ready_s": ready, "answer_s": answered, "result": result, "returncode": code}


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _prepare(folder: Path, model: str) -> tuple[Path, Path]:
    """Index the sample photos and two broken files into ``folder/db`` (collection ``demo``)
    with ``model``; returns (db, image query)."""
    photos = write_sample_photos(folder / "photos")
    (folder / "photos" / "broken.jpg").write_text("not a picture")
    (folder / "photos" / "truncated.jpg").write_bytes(photos[0].read_bytes()[:3000])
    db = folder / "db"
    with ImageIndex(db, collection=COLLECTION, encoder=model) as index:
        index.add(folder / "photos", on_error="skip")
    return db, next(p for p in photos if p.stem == "chelsea")


def _model_location(model: str, workdir: Path | None) -> str:
    if model != RANDOM_CLIP:
        return model
    from imagevec.bench.models import build_random_clip

    if workdir is None:
        from imagevec.engine.cache import cache_dir

        workdir = cache_dir().parent / "bench-engine"
    folder = workdir / RANDOM_CLIP
    if not (folder / "config.json").exists():
        build_random_clip(folder)
    return str(folder)


def _time_kinds(kinds: dict[str, list[str]], db: Path, text: str, rounds: int) -> dict:
    result: dict[str, Any] = {}
    for kind, args in kinds.items():
        _timed(args)  # untimed: the first run after indexing pays for the disk cache
        runs = [_timed(args) for _ in range(rounds)]
        result[kind] = {
            "wall_s": _summary([wall for wall, _ in runs]),
            "cpu_s": _summary([cpu for _, cpu in runs]),
        }
    mcp_args = ["--db", str(db), "-c", COLLECTION, "--cache-dir", str(db.parent / "thumbs")]
    mcp_stdio(mcp_args, text)  # untimed
    runs_mcp = [mcp_stdio(mcp_args, text) for _ in range(rounds)]
    result["mcp_ready"] = {"wall_s": _summary([r["ready_s"] for r in runs_mcp])}
    result["mcp_answer"] = {"wall_s": _summary([r["answer_s"] for r in runs_mcp])}
    return result


def bench_cold(
    db: str | os.PathLike[str] | None = None,
    *,
    collection: str = COLLECTION,
    text: str = "a cat",
    image: str | os.PathLike[str] | None = None,
    rounds: int = 3,
    models: Sequence[str] = ("default",),
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Time ``rounds`` cold runs of each kind (best, median, worst), per model.

    Args:
        db: an existing index (then ``models`` is ignored, and neither the re-index nor the
            MCP server is timed); default: the sample photos indexed in a temporary folder.
        collection: its collection.
        text: the text query.
        image: the image query (default: a sample photo).
        rounds: fresh processes per kind (one more, untimed, warms the disk cache).
        models: encoders to index the sample photos with (``default``, ``clip-b32-random``
            or anything :func:`imagevec.create_encoder` takes).
        workdir: where ``clip-b32-random`` is kept (default: beside the graph cache).
    """
    result: dict[str, Any] = {"rounds": rounds, "load_average": os.getloadavg()[0], "models": {}}
    if db is not None:
        if image is None:
            raise ValueError("give the image query (image=) with your own index")
        base = ["search", "--db", str(db), "-c", collection, "-k", "5"]
        kinds = {"text": [*base, text], "image": [*base, "--image", str(image)]}
        timed: dict[str, Any] = {}
        for kind, args in kinds.items():
            _timed(args)
            runs = [_timed(args) for _ in range(rounds)]
            timed[kind] = {
                "wall_s": _summary([w for w, _ in runs]),
                "cpu_s": _summary([c for _, c in runs]),
            }
        result["models"][str(db)] = timed
    for model in models if db is None else ():
        with tempfile.TemporaryDirectory(prefix="imagevec-bench-cold-") as tmp:
            folder, query = _prepare(Path(tmp), _model_location(model, workdir))
            base = ["search", "--db", str(folder), "-c", COLLECTION, "-k", "5"]
            reindex = ["index", str(Path(tmp, "photos")), "--db", str(folder), "-c", COLLECTION]
            kinds = {
                "text": [*base, text],
                "image": [*base, "--image", str(query)],
                "reindex": [*reindex, "--no-progress"],
            }
            result["models"][model] = _time_kinds(kinds, folder, text, rounds)
    result["load_average_after"] = os.getloadavg()[0]
    return result


def format_cold(result: dict[str, Any]) -> str:
    """A short table of :func:`bench_cold`'s result."""
    lines = [
        f"cold start, {result['rounds']} fresh processes each "
        f"(load average {result['load_average']:.1f} -> {result['load_average_after']:.1f})",
        f"{'model':<16} {'run':<11} {'wall min':>9} {'median':>7} {'cpu min':>8} {'median':>7}",
    ]
    for model, kinds in result["models"].items():
        for kind in KINDS:
            if kind not in kinds:
                continue
            wall, cpu = kinds[kind]["wall_s"], kinds[kind].get("cpu_s")
            cpu_text = f"{cpu['min']:>7.2f}s {cpu['median']:>6.2f}s" if cpu else ""
            name = (Path(model).name if os.sep in model else model)[:16]
            times = f"{wall['min']:>8.2f}s {wall['median']:>6.2f}s"
            lines.append(f"{name:<16} {kind:<11} {times} {cpu_text}".rstrip())
    return "\n".join(lines)
