"""``imagevec bench engine``: imagevec at each precision against the peer paths, one process.

For each model, on the same JPEG files (real sample photos upscaled to 1-2 MP), every path
runs once per round, the paths interleaved (a busy machine slows them alike), best round kept:

* peers (:mod:`imagevec.bench.peers`): stock processor + torch one by one; stock processor +
  ONNX Runtime fp32 one by one;
* preparing the files alone (decode, resize, crop), one thread;
* ONNX Runtime forward alone on the engine's own graphs, batches of ``batch_size``, inputs
  ready in memory (fp32 and int8): the ceiling of any pipeline on a free machine;
* imagevec end to end (``embed_images`` on the files: decode, resize, batch, forward) with the
  torch module (the path before the engine) and with the engine at fp32, bf16 and int8;
* for the bundled default, ``ImageIndex.add`` into a fresh store with torch and with fp32.

Prints images/s, the ratios the targets name and each precision's mean cosine to imagevec
fp32 over the files; and, from the CPU time of preparing a photo and of its fp32 forward,
the most images/s any pipeline can reach on this process's CPUs (where decoding competes with
the forward for the same cores, that bound, not the forward alone, is the ceiling).
``clip-b32-random`` is a random-weight CLIP ViT-B/32 (real speed, no download), built once
into the work folder.

Example:
    >>> result = run_engine_bench(["default"], images=8, rounds=1)     # doctest: +SKIP
    >>> print(format_engine(result))                                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RANDOM_CLIP = "clip-b32-random"
PRECISIONS = ("fp32", "bf16", "int8")
_DEFAULT = ("default",)
#: (name, numerator, denominator, target, models the target is for: () = all)
RATIOS = (
    ("imagevec int8 / ORT one-by-one peer", "imagevec int8", "peer ort 1x1", 3.0, ()),
    ("imagevec fp32 / ORT forward alone fp32", "imagevec fp32", "ort forward fp32", 0.9, ()),
    (
        "imagevec fp32 / imagevec torch (before)",
        "imagevec fp32",
        "imagevec torch",
        2.0,
        ("default",),
    ),
    ("index.add fp32 / index.add torch (before)", "index fp32", "index torch", 2.0, _DEFAULT),
)
LABELS = {
    "prepare": "decode, resize and crop alone, one thread",
    "peer torch 1x1": "stock processor + torch, one by one",
    "peer ort 1x1": "stock processor + ONNX Runtime fp32, one by one",
    "ort forward fp32": "ONNX Runtime forward alone, fp32, batch {b}",
    "ort forward int8": "ONNX Runtime forward alone, int8, batch {b}",
    "imagevec torch": "imagevec end to end, torch fp32 (before the engine)",
    "imagevec fp32": "imagevec end to end, fp32",
    "imagevec bf16": "imagevec end to end, bf16",
    "imagevec int8": "imagevec end to end, int8",
    "index torch": "imagevec index.add, torch fp32 (before the engine)",
    "index fp32": "imagevec index.add, fp32",
}


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` JPEGs of 1.1-2.0 MP: the sample photos upscaled (bicubic), later copies turned.

    Written once; an existing file of the same name is reused.
    """
    from PIL import Image

    from imagevec.samples import sample_arrays

    folder.mkdir(parents=True, exist_ok=True)
    photos = list(sample_arrays().values())
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:03d}.jpg"
        if not path.exists():
            base = Image.fromarray(photos[i % len(photos)]).convert("RGB")
            long_side = 1200 + (i * 37) % 430
            w, h = base.size
            size = (long_side, long_side * 3 // 4) if w >= h else (long_side * 3 // 4, long_side)
            big = base.resize(size, Image.Resampling.BICUBIC)
            if i >= len(photos):
                big = big.rotate(5 * (i // len(photos)))
            big.save(path, quality=90)
        paths.append(path)
    return paths


def _graph(encoder: Any, precision: str) -> Path | None:
    """The engine's image graph file of ``precision`` behind ``encoder``, if it has one."""
    from imagevec.engine.runtime import RuntimeEncoder

    if not isinstance(encoder, RuntimeEncoder):
        return None
    entry = encoder.manifest.get("image", {}).get(precision) or {}
    return encoder.folder / entry["file"] if "file" in entry else None


def _encoder(location: str, precision: str, **options: Any) -> Any:
    """The encoder at ``precision``, or the reason it is refused (a string)."""
    from imagevec.encoders.factory import create_encoder
    from imagevec.errors import ConfigError

    try:
        return create_encoder(location, device="cpu", precision=precision, **options)
    except ConfigError as exc:  # PrecisionError: not offered for this family / hardware
        return f"refused: {exc}"


def _index_add(encoder: Any, root: Path) -> Callable[[Sequence[Path]], None]:
    """``ImageIndex.add`` of the files into a new store each call (nothing to skip)."""
    from imagevec.index import ImageIndex

    def add(files: Sequence[Path]) -> None:
        with ImageIndex(Path(tempfile.mkdtemp(dir=root)) / "db", encoder=encoder) as index:
            report = index.add(list(files))
        if report.embedded != len(files):
            raise RuntimeError(f"index.add embedded {report.embedded} of {len(files)} files")

    return add


#: a path: the files to embed -> their vectors (None when it gives none); or why it cannot run
Run = Callable[[Sequence[Path]], Any] | str


def _paths(
    model: str, location: str, files: list[Path], work: Path, scratch: Path, batch: int
) -> dict[str, Run]:
    """name -> the path's run for every path of one model (peers, forward alone, imagevec).

    ``work`` keeps the peer export between runs; ``scratch`` holds this run's stores."""
    from imagevec.bench.peers import ClipPeer, ModulePeer, ort_forward, plain_session
    from imagevec.encoders.hub import infer_family

    encoders = {p: _encoder(location, p) for p in PRECISIONS}
    torch_encoder = _encoder(location, "fp32", engine="torch")
    fp32 = encoders["fp32"]
    family = infer_family(location) if Path(location).is_dir() else None
    paths: dict[str, Run] = {}
    peer: Any = None
    if (model == "default" or family == "default") and not isinstance(torch_encoder, str):
        peer = ModulePeer(torch_encoder, _graph(fp32, "fp32"))
    elif family == "clip":
        peer = ClipPeer(Path(location), work)
    if peer is not None:
        paths["peer torch 1x1"] = peer.torch_one_by_one
        paths["peer ort 1x1"] = peer.ort_one_by_one
    if not isinstance(fp32, str):
        arrays = {f: _prepared(fp32, f) for f in files}  # ready inputs, made once

        def prepare(chosen: Sequence[Path], enc: Any = fp32) -> None:
            for f in chosen:
                _prepared(enc, f)

        paths["prepare"] = prepare
        for precision in ("fp32", "int8"):
            graph = _graph(encoders[precision], precision)
            if graph is not None:
                session = plain_session(graph)

                def forward(chosen: Sequence[Path], s: Any = session) -> np.ndarray:
                    ready = np.stack([arrays[f] for f in chosen])
                    return ort_forward(
                        s, [ready[i : i + batch] for i in range(0, len(ready), batch)]
                    )

                paths[f"ort forward {precision}"] = forward
    for name, encoder in (("torch", torch_encoder), *encoders.items()):
        paths[f"imagevec {name}"] = encoder if isinstance(encoder, str) else _embed(encoder, batch)
    if model == "default":
        for name, encoder in (("torch", torch_encoder), ("fp32", fp32)):
            if not isinstance(encoder, str):
                paths[f"index {name}"] = _index_add(encoder, scratch)
    return paths


def _embed(encoder: Any, batch: int) -> Callable[[Sequence[Path]], np.ndarray]:
    return lambda chosen: encoder.embed_images(chosen, batch_size=batch)


def _prepared(encoder: Any, path: Path) -> np.ndarray:
    from imagevec.io.decode import load_image

    pre = encoder.preprocess
    return pre.to_array(load_image(path, draft_size=pre.draft_size))


def run_engine_bench(
    models: Sequence[str] = (RANDOM_CLIP, "default"),
    *,
    images: int = 96,
    rounds: int = 2,
    batch_size: int = 32,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run every path of every model; returns a JSON-ready dict (see :func:`format_engine`).

    Args:
        models: ``clip-b32-random``, ``default`` or anything :func:`imagevec.create_encoder`
            takes (peers exist for CLIP folders and the default).
        images: JPEG files (the same for every path).
        rounds: timed passes of every path, interleaved; the best is kept.
        batch_size: images per forward pass (imagevec and the forward-alone rows).
        workdir: keeps the photos, the random CLIP and the peer export between runs
            (default: ``$IMAGEVEC_CACHE/../bench-engine``-like, see :func:`default_workdir`).
    """
    from imagevec.bench.models import build_random_clip

    work = Path(workdir) if workdir else default_workdir()
    files = make_photos(work / "photos", images)
    result: dict[str, Any] = {
        "images": len(files),
        "megapixels": _megapixels(files),
        "rounds": rounds,
        "batch_size": batch_size,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "models": {},
    }
    for model in models:
        location = model
        if model == RANDOM_CLIP:
            location = str(work / RANDOM_CLIP)
            if not Path(location, "config.json").exists():
                build_random_clip(location)
        with tempfile.TemporaryDirectory(prefix="imagevec-bench-engine-") as scratch:
            scratch_dir = Path(scratch)
            result["models"][model] = _run_model(
                model, _paths(model, location, files, work, scratch_dir, batch_size), files, rounds
            )
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def _run_model(model: str, paths: dict[str, Run], files: list[Path], rounds: int) -> dict[str, Any]:
    """Time every path ``rounds`` times (interleaved), best kept; cosines to imagevec fp32."""
    for run in paths.values():  # untimed warm-up on a few files (sessions, arenas, stores)
        if not isinstance(run, str):
            run(files[:4])
    rates: dict[str, float | str] = {}
    cpu_ms: dict[str, float] = {}  # CPU time of the whole process per image, best round
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, run in paths.items():
            if isinstance(run, str):
                rates[name] = run
                continue
            started, cpu = time.perf_counter(), time.process_time()
            out = run(files)
            rate = len(files) / (time.perf_counter() - started)
            used = (time.process_time() - cpu) * 1000 / len(files)
            best = rates.get(name)
            rates[name] = max(rate, best) if isinstance(best, float) else rate
            cpu_ms[name] = min(used, cpu_ms.get(name, used))
            if isinstance(out, np.ndarray):
                vectors[name] = out
    reference = vectors.get("imagevec fp32")
    cosines = {
        name: round(float(np.mean(np.sum(v * reference, axis=1))), 4)
        for name, v in vectors.items()
        if reference is not None and v.shape == reference.shape
    }
    return {
        "img_s": {k: round(v, 1) if isinstance(v, float) else v for k, v in rates.items()},
        "cosine_to_fp32": cosines,
        "ratios": _ratios(rates, model),
        "cpu_ms_per_image": {k: round(v, 2) for k, v in cpu_ms.items()},
        "cpu_bound": _cpu_bound(cpu_ms, rates.get("imagevec fp32")),
    }


def _cpu_bound(cpu_ms: dict[str, float], reached: float | str | None) -> dict[str, Any] | None:
    """The most images/s any fp32 pipeline can reach on this process's CPUs: each image costs
    its preparation (decode, resize, crop) plus its share of the forward, in CPU time; and
    the share of it imagevec fp32 end to end ``reached``."""
    prepare, forward = cpu_ms.get("prepare"), cpu_ms.get("ort forward fp32")
    if prepare is None or forward is None or prepare + forward <= 0:
        return None
    from imagevec.engine.sessions import usable_cpus

    cpus = usable_cpus()
    ceiling = cpus * 1000 / (prepare + forward)
    return {
        "prepare_ms": round(prepare, 2),
        "forward_ms": round(forward, 2),
        "cpus": cpus,
        "img_s": round(ceiling, 1),
        "reached": round(reached / ceiling, 2) if isinstance(reached, float) else None,
    }


def _ratios(rates: dict[str, float | str], model: str) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for name, top, bottom, target, models in RATIOS:
        a, b = rates.get(top), rates.get(bottom)
        if isinstance(a, float) and isinstance(b, float) and b > 0:
            aimed = target if not models or model in models else None
            out[name] = {"ratio": round(a / b, 2), "target": aimed}
    return out


def default_workdir() -> Path:
    """``bench-engine`` beside the engine's graph cache (photos, random CLIP, peer export)."""
    from imagevec.engine.cache import cache_dir

    return cache_dir().parent / "bench-engine"


def _megapixels(files: Sequence[Path]) -> list[float]:
    from PIL import Image

    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.width * image.height / 1e6)
    return [round(min(sizes), 2), round(max(sizes), 2)] if sizes else [0.0, 0.0]


def format_engine(result: dict[str, Any]) -> str:
    """A text table per model: images/s and cosine to fp32 per path, then the ratios."""
    low, high = result["megapixels"]
    lines = [
        f"imagevec bench engine: {result['images']} JPEGs of {low}-{high} MP, "
        f"best of {result['rounds']} interleaved rounds, batch {result['batch_size']}, "
        f"{result['cpus']} CPUs, load average {result['load_average']} -> "
        f"{result['load_average_after']}"
    ]
    for model, entry in result["models"].items():
        lines += ["", f"model {model}", f"  {'path':<56} {'img/s':>7}  cos to fp32"]
        for name, rate in entry["img_s"].items():
            label = LABELS.get(name, name).format(b=result["batch_size"])
            cosine = entry["cosine_to_fp32"].get(name)
            shown = f"{rate:>7.1f}" if isinstance(rate, float) else f"  {_short(rate)}"
            lines.append(f"  {label:<56} {shown}  {'' if cosine is None else f'{cosine:.4f}'}")
        for name, ratio in entry["ratios"].items():
            target = ratio["target"]
            aim = ""
            if target is not None:
                mark = "ok" if ratio["ratio"] >= target else "below target"
                aim = f" (target >= {target}, {mark})"
            lines.append(f"  ratio {name}: {ratio['ratio']:.2f}{aim}")
        bound = entry.get("cpu_bound")
        if bound:
            share = (
                f" (imagevec fp32 reaches {bound['reached']:.2f} of it)" if bound["reached"] else ""
            )
            lines.append(
                f"  CPU bound of fp32 end to end: preparing a photo {bound['prepare_ms']:.1f} ms "
                f"+ its forward {bound['forward_ms']:.1f} ms of CPU -> at most "
                f"{bound['img_s']:.1f} img/s on {bound['cpus']} CPUs{share}"
            )
    return "\n".join(lines)


def _short(reason: str) -> str:
    """A refusal's first clause (the JSON keeps the whole message)."""
    head, _, rest = reason.partition(": ")
    return f"{head}: {rest.split(': ')[0]}" if rest else head
