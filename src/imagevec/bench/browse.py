"""Benchmark of the photo page on a large library: browse pages, facets, a text query.

A synthetic library of ``n`` photos (real metadata shapes, random vectors of the encoder's
size, a tiny JPEG per photo so thumbnails are real; :mod:`imagevec.bench.library`) is
served by a real uvicorn on 127.0.0.1 with the encoder loaded and warmed, then measured:

* ``library_build_ms``: the first ``/api/browse`` of a fresh server (reads every record's
  metadata once and sorts it: the price of the first page after start or after indexing);
* ``first_page_ms``, ``next_page_ms``: ``/api/browse?limit=48`` warm, and following the
  cursor deep into the library (p50/p95);
* ``facets_ms``: ``/api/facets`` with a new filter each time (a full pass over the library);
  ``facets_cached_ms``: the same filters again (kept per library version);
* ``calibration_ms``: the per-query good-match threshold of a text query;
* ``text_ms``: ``/api/search`` text query with ``k=48`` (what the page asks);
* with a browser: ``home_paint_ms`` (opening ``/`` until the first 24 thumbnails are
  shown), ``scroll_next_ms`` (once the shown photos' thumbnails are in, jumping to the end of
  what is loaded until the first 12 photos of the next page are shown: the worst case, as
  the page asks for the next page 1200 px before the end), ``query_grid_ms`` (Enter until
  every result thumbnail is shown).

Example:
    >>> bench_browse(n=10_000, repeats=20)["next_page_ms"]["p50"]        # doctest: +SKIP
    9.7

From a shell: ``imagevec bench browse --photos 10000 --browser /usr/bin/chromium``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["bench_browse"]

QUERIES = ("a cat on a sofa", "a red car", "mountains at sunset")


def _times(func: Callable[[int], Any], repeats: int) -> dict[str, float]:
    times = []
    for n in range(repeats):
        started = time.perf_counter()
        func(n)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": round(times[len(times) // 2], 1), "p95": round(times[-1], 1)}


def bench_browse(
    n: int = 10_000,
    *,
    model: str = "default",
    device: str = "auto",
    repeats: int = 20,
    browser: str | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Build (or reuse, in ``folder``) a synthetic ``n``-photo library and time the page's
    requests; see the module docstring for what each figure means."""
    import httpx

    from imagevec.bench.library import write_library
    from imagevec.index import ImageIndex
    from imagevec.serve.app import create_app
    from imagevec.serve.runner import BackgroundServer
    from imagevec.service import QueryService
    from imagevec.store.stamp import encoder_stamp

    base = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="imagevec-bench-browse-"))
    db, photos = base / "db", base / "Photos"
    started = time.perf_counter()
    with ImageIndex(db, encoder=model, device=device) as index:
        if index.count() != n:
            write_library(index, photos, n, stamp=encoder_stamp(index.encoder), files=True)
    build_s = time.perf_counter() - started
    result: dict[str, Any] = {"photos": n, "model": model, "setup_s": round(build_s, 1)}
    result["load_1min"] = round(os.getloadavg()[0], 2)
    result["cpu_cores"] = os.cpu_count()
    service = QueryService.open(db, roots=[photos], cache_dir=base / "thumbs", device=device)
    service.warm_up()
    with BackgroundServer(create_app(service)) as url, httpx.Client(base_url=url) as http:

        def get(path: str, **params: Any) -> Any:
            response = http.get(path, params=params, timeout=120)
            response.raise_for_status()
            return response.json()

        started = time.perf_counter()
        first = get("/api/browse", limit=48)
        result["library_build_ms"] = round((time.perf_counter() - started) * 1000, 1)
        result["first_page_ms"] = _times(lambda _: get("/api/browse", limit=48), repeats)
        cursors = [first["next"]]
        for _ in range(repeats):
            cursors.append(get("/api/browse", limit=48, cursor=cursors[-1])["next"])
        result["next_page_ms"] = _times(
            lambda i: get("/api/browse", limit=48, cursor=cursors[i]), repeats
        )
        result["facets_ms"] = _times(  # a new filter each time: a full pass, not the cache
            lambda i: get("/api/facets", since=f"2015-01-{i % 28 + 1:02d}"), repeats
        )
        result["facets_cached_ms"] = _times(lambda _: get("/api/facets"), repeats)
        result["calibration_ms"] = _times(
            lambda i: get("/api/calibration", q=QUERIES[i % 3]), repeats
        )
        result["text_ms"] = _times(lambda i: get("/api/search", q=QUERIES[i % 3], k=48), repeats)
        if browser:
            result.update(_page(url, browser, repeats))
    service.close()
    return result


def _page(url: str, executable: str, repeats: int) -> dict[str, Any]:
    """Home first paint, scrolling to the next page, and a query's grid, in chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"home_paint_ms": "skipped: pip install playwright"}
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    shown = (
        "(n) => { const imgs = [...document.querySelectorAll(arguments_sel)].slice(0, n);"
        " return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    out: dict[str, Any] = {}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args)
        page = chromium.new_page(viewport={"width": 1280, "height": 900})

        def home(_: int) -> None:
            page.goto(url + "/")
            page.wait_for_function(shown.replace("arguments_sel", "'#library img'"), arg=24)

        out["home_paint_ms"] = _times(home, max(3, repeats // 4))

        def scroll(_: int) -> float:
            page.wait_for_load_state("networkidle")  # the shown page's thumbnails are in
            before = page.locator("#library li.tile").count()
            started = time.perf_counter()
            page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_function(
                "(n) => { const imgs = [...document.querySelectorAll('#library img')]"
                ".slice(n, n + 12); return imgs.length === 12 &&"
                " imgs.every(i => i.complete && i.naturalWidth > 0); }",
                arg=before,
            )
            return (time.perf_counter() - started) * 1000

        scrolls = sorted(scroll(i) for i in range(max(3, repeats // 2)))
        out["scroll_next_ms"] = {
            "p50": round(scrolls[len(scrolls) // 2], 1),
            "p95": round(scrolls[-1], 1),
        }

        def query(i: int) -> None:
            page.fill("#q", QUERIES[i % 3] + " " * (i % 2))  # a new address each time
            page.press("#q", "Enter")
            page.wait_for_function(
                "(q) => document.getElementById('status').textContent.includes(q.trim())"
                " && [...document.querySelectorAll('#grid img')].every("
                "i => i.complete && i.naturalWidth > 0)",
                arg=QUERIES[i % 3],
            )

        out["query_grid_ms"] = _times(query, max(3, repeats // 2))
        chromium.close()
    return out
