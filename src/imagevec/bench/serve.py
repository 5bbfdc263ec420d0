"""Benchmark of ``imagevec serve``: warm API latency and the page's thumbnail grid.

Measured over HTTP on 127.0.0.1 against a real uvicorn (the model loaded once and warmed):

* ``text_ms``: ``GET /api/search?q=...&k=24`` (text tower + Chroma query + JSON);
* ``image_upload_ms``: ``POST /api/search/image`` with a JPEG body (upload, safe decode,
  image forward, query);
* ``like_ms``: ``GET /api/items/{id}/similar`` (stored vector, no model);
* ``remote_text_ms``: the same text search through ``imagevec.connect(url).search``;
* ``grid_ms`` (with a browser): from pressing Enter on the page to all ``k`` thumbnails
  decoded and shown, thumbnails already cached (``grid_cold_ms``: the first time).

Each latency is ``{"p50", "p95", "cpu"}`` in milliseconds: wall-clock percentiles, and the
CPU time the process spent per request (all threads). On a shared, overloaded machine the
wall times mostly measure waiting for a core; ``cpu`` shows the work itself. ``load_1min``
is the load average before the run (compare with ``cpu_cores``).

Example:
    >>> bench_serve(copies=2, repeats=30)["text_ms"]["p50"]            # doctest: +SKIP
    18.2

From a shell: ``imagevec bench serve --copies 2 --repeats 30 --browser /usr/bin/chromium``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imagevec.bench.index import TEXT_QUERIES, sample_variants
from imagevec.index import ImageIndex
from imagevec.io.files import iter_image_files
from imagevec.serve.app import create_app
from imagevec.serve.client import connect
from imagevec.serve.runner import BackgroundServer
from imagevec.service import QueryService

ALL_SHOWN = (
    "(k) => { const imgs = [...document.querySelectorAll('#grid img')];"
    " return imgs.length >= k && imgs.every(i => i.complete && i.naturalWidth > 0); }"
)


def _percentiles(func: Callable[[Any], Any], inputs: Sequence[Any], repeats: int) -> dict:
    """Wall-clock p50/p95 (ms), and ``cpu``: CPU ms per call of this process (server and
    client threads together) — about the wall time on an idle machine, whatever the load."""
    times = []
    cpu_started = time.process_time()
    for n in range(repeats):
        started = time.perf_counter()
        func(inputs[n % len(inputs)])
        times.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_started) * 1000 / repeats
    times.sort()
    pick = lambda q: times[min(len(times) - 1, round(q * (len(times) - 1)))]  # noqa: E731
    return {"p50": round(pick(0.5), 1), "p95": round(pick(0.95), 1), "cpu": round(cpu, 1)}


def bench_serve(
    paths: Sequence[str | Path] | None = None,
    *,
    model: str = "default",
    device: str = "auto",
    copies: int = 2,
    repeats: int = 30,
    k: int = 24,
    browser: str | None = "/usr/bin/chromium",
) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-ready dict (see the module docstring).

    Args:
        paths: image files/folders to index; default: ``copies`` variants of each sample photo.
        model: the encoder.
        device: where it runs.
        copies: variants per sample photo when ``paths`` is None.
        repeats: requests timed per kind.
        k: results per query (and thumbnails in the grid).
        browser: a chromium executable for the grid timing; None or missing: skipped.
    """
    import httpx

    with tempfile.TemporaryDirectory(prefix="imagevec-bench-serve-") as scratch:
        root = Path(scratch)
        files = list(iter_image_files(list(paths))) if paths else sample_variants(root, copies)
        index = ImageIndex(root / "db", encoder=model, device=device)
        index.add(files)
        roots = sorted({str(Path(f).resolve().parent) for f in files})
        service = QueryService(index, roots=roots, cache_dir=root / "thumbs")
        service.warm_up()
        uploads = [Path(f).read_bytes() for f in files[:: max(1, len(files) // 10)]]
        with BackgroundServer(create_app(service)) as url, httpx.Client(base_url=url) as http:
            some_id = http.get("/api/search", params={"q": "a cat", "k": 1}).json()[0]["id"]
            for text in TEXT_QUERIES:  # warm: first requests pay imports and caches
                http.get("/api/search", params={"q": text, "k": k})
            http.post("/api/search/image", params={"k": k}, content=uploads[0])
            result: dict[str, Any] = {
                "model": model,
                "cpu_cores": os.cpu_count(),
                "load_1min": round(os.getloadavg()[0], 1),
                "images": index.count(),
                "k": k,
                "repeats": repeats,
                "upload_kb": round(sum(map(len, uploads)) / len(uploads) / 1024, 1),
                "text_ms": _percentiles(
                    lambda q: http.get("/api/search", params={"q": q, "k": k}).raise_for_status(),
                    TEXT_QUERIES,
                    repeats,
                ),
                "image_upload_ms": _percentiles(
                    lambda body: http.post(
                        "/api/search/image", params={"k": k}, content=body
                    ).raise_for_status(),
                    uploads,
                    repeats,
                ),
                "like_ms": _percentiles(
                    lambda id_: http.get(f"/api/items/{id_}/similar", params={"k": k}),
                    [some_id],
                    repeats,
                ),
            }
            with connect(url) as remote:
                result["remote_text_ms"] = _percentiles(
                    lambda q: remote.search(q, k=k), TEXT_QUERIES, repeats
                )
            if browser and os.path.exists(browser):
                result.update(_grid(url, browser, k, min(repeats, 10)))
        service.close()
    return result


def _grid(url: str, executable: str, k: int, repeats: int) -> dict[str, Any]:
    """Time from Enter to all ``k`` thumbnails shown, in headless chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"grid_ms": "skipped: pip install playwright"}
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args)
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("#q")

        def search(text: str) -> float:
            page.evaluate("() => document.getElementById('grid').replaceChildren()")
            page.fill("#q", text)
            started = time.perf_counter()
            page.press("#q", "Enter")
            page.wait_for_function(ALL_SHOWN, arg=k, polling="raf")
            return (time.perf_counter() - started) * 1000

        cold = search("a tabby cat")
        times = sorted(search(TEXT_QUERIES[n % 3]) for n in range(repeats))
        chromium.close()
    return {
        "grid_cold_ms": round(cold, 1),
        "grid_ms": {"p50": round(times[len(times) // 2], 1), "p95": round(times[-1], 1)},
    }
