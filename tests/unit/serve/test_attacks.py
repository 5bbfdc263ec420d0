"""The HTTP API under attack, in process (an ASGI client, no sockets): each attack is refused
or bounded with a clear status. Socket-level attacks (header size, half-open connections,
SIGTERM) are in test_serve_limits.py."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imagevec.errors import ConfigError
from imagevec.search.query import parse_query
from imagevec.serve.app import create_app
from imagevec.serve.security import Gate
from imagevec.service import QueryService
from tests.support.served import colour_library

UPLOAD_CAP = 200_000
MAX_PARTS = 16  # imagevec.search.query.MAX_PARTS


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return colour_library(tmp_path_factory)


@pytest.fixture(scope="module")
def service(
    colours: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QueryService]:
    photos, db = colours
    cache = tmp_path_factory.mktemp("cache")
    with QueryService.open(
        db, roots=[photos], cache_dir=cache, device="cpu", max_upload_bytes=UPLOAD_CAP
    ) as svc:
        yield svc


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


def _deep_where(levels: int) -> str:
    return '{"$and":[' * levels + '{"width":1}' + ',{"width":1}]}' * levels


def test_a_chunked_body_is_not_read_past_the_cap(service: QueryService) -> None:
    app = create_app(service)
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        nonlocal sent
        yield b'{"text": "red", "where": {"x": "'
        for _ in range(200):  # 12.8 MB if read to the end
            sent += 64_000
            yield b"a" * 64_000

    response = call(
        app, "POST", "/api/search", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "over" in response.json()["detail"]
    assert sent <= app.max_body + 2 * 64_000  # stopped reading at the cap

    async def two() -> AsyncIterator[bytes]:
        yield b'{"text": '
        yield b'"red"}'

    json_type = {"content-type": "application/json"}
    small = call(app, "POST", "/api/search", content=two(), headers=json_type)
    assert small.status_code == 200 and small.json()[0]["uri"].endswith("red.png")


def test_two_host_headers_are_refused(service: QueryService) -> None:
    app = create_app(service)
    both = call(
        app, "GET", "/api/health", headers=[("host", "evil.example"), ("host", "127.0.0.1")]
    )
    assert both.status_code == 400 and "Host" in both.json()["detail"]
    assert call(app, "GET", "/api/health").status_code == 200


@pytest.mark.parametrize("levels", [40, 300, 2500])
def test_a_deeply_nested_where_is_a_clear_400(service: QueryService, levels: int) -> None:
    app = create_app(service)
    where = _deep_where(levels)
    in_url = _deep_where(min(levels, 900))  # a URL holds at most 64 KiB
    got = call(app, "GET", "/api/search", params={"q": "red", "where": in_url})
    assert got.status_code == 400, got.text
    assert "nested too deeply" in got.json()["detail"]
    posted = call(
        app,
        "POST",
        "/api/search",
        content=f'{{"text": "red", "where": {where}}}',
        headers={"content-type": "application/json"},
    )
    assert posted.status_code == 400, posted.text
    assert "nested too deeply" in posted.json()["detail"]


def test_where_is_checked_without_recursion_for_every_surface(service: QueryService) -> None:
    from imagevec.search.filters import MAX_WHERE_DEPTH, check_where

    deep: dict[str, Any] = {"width": 1}
    for _ in range(5000):
        deep = {"$and": [deep, {"width": 1}]}
    with pytest.raises(ConfigError, match="nested too deeply"):
        check_where(deep)
    with pytest.raises(ConfigError, match="nested too deeply"):
        service.search("red", where=deep)  # what MCP calls
    with pytest.raises(ConfigError, match="too large"):
        check_where({"$or": [{"width": i} for i in range(6000)]})
    ok = {"$and": [{"width": {"$gte": 10}}, {"$or": [{"format": "PNG"}, {"format": "JPEG"}]}]}
    assert check_where(ok) is ok and MAX_WHERE_DEPTH >= 8


def test_a_query_of_too_many_parts_is_refused_before_any_encoding(service: QueryService) -> None:
    app = create_app(service)
    many = " + ".join(["a"] * 200)
    response = call(app, "GET", "/api/search", params={"q": many})
    assert response.status_code == 400 and f"at most {MAX_PARTS} parts" in response.text
    parts = [{"kind": "text", "value": f"red {i}"} for i in range(MAX_PARTS + 1)]
    response = call(app, "POST", "/api/search", json={"query": parts})
    assert response.status_code == 400 and f"at most {MAX_PARTS} parts" in response.text
    fine = " + ".join(["red"] * MAX_PARTS)
    assert call(app, "GET", "/api/search", params={"q": fine}).status_code == 200
    with pytest.raises(ConfigError, match="at most"):
        parse_query(" - ".join(["night"] * (MAX_PARTS + 1)))


def test_a_path_query_outside_the_roots_tells_nothing_about_the_file(
    service: QueryService, tmp_path: Path
) -> None:
    app = create_app(service)
    (tmp_path / "a secret.jpg").write_bytes(b"not really")
    answers = []
    for name in ("a secret.jpg", "no such.jpg"):
        for prefix in ("", "image:"):
            response = call(app, "GET", "/api/search", params={"q": f"{prefix}{tmp_path / name}"})
            answers.append((prefix, response.status_code))
    exists_plain, missing_plain, exists_image, missing_image = (
        answers[0],
        answers[2],
        answers[1],
        answers[3],
    )
    assert exists_plain[1] == missing_plain[1] == 200  # read as words either way
    assert exists_image[1] == missing_image[1] == 403  # refused before looking


def test_a_path_with_spaces_under_the_roots_is_still_an_image(
    service: QueryService, colours: tuple[Path, Path]
) -> None:
    photos, _ = colours
    spaced = photos.parent / f"{photos.name}-spaced"
    spaced.mkdir(exist_ok=True)
    Image.new("RGB", (64, 48), (10, 200, 10)).save(spaced / "a green.png")
    inside = QueryService(service.index, roots=[photos, spaced])
    top = inside.search(query=f"{spaced / 'a green.png'}", k=1)[0]
    assert top.uri.endswith("green.png")


def _png_of(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (side, side), 7).save(buffer, format="PNG")  # a few KB, side**2 pixels
    return buffer.getvalue()


def test_concurrent_uploads_share_one_decode_budget(
    colours: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagevec.io import decode

    photos, db = colours
    side = 1500  # 2.25 M pixels each; the budget holds one at a time
    service = QueryService.open(
        db,
        roots=[photos],
        cache_dir=tmp_path,
        device="cpu",
        max_query_pixels=side * side,
        decode_budget_pixels=side * side + side,
    )
    finish = decode._finish
    now = peak = 0
    lock = threading.Lock()

    def counted(*args: Any) -> Any:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.05)
        try:
            return finish(*args)
        finally:
            with lock:
                now -= 1

    monkeypatch.setattr(decode, "_finish", counted)
    data = _png_of(side)
    results: list[Any] = []

    def upload() -> None:
        results.append(service.search(image=data, k=1))

    threads = [threading.Thread(target=upload) for _ in range(6)]
    with service:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert service.decode_budget.used == 0
    assert len(results) == 6 and all(results)
    assert peak == 1


def test_requests_over_the_in_flight_cap_get_503() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gate = Gate(slow, token=None, allowed_hosts=["127.0.0.1"], max_body=10, max_inflight=1)

    async def go() -> tuple[int, int, str | None]:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            first = asyncio.create_task(c.get("/"))
            await started.wait()
            second = await c.get("/")
            release.set()
            return (await first).status_code, second.status_code, second.headers.get("retry-after")

    assert asyncio.run(go()) == (200, 503, "1")
    assert gate.inflight == 0
