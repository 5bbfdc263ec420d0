"""The HTTP API against a real uvicorn on 127.0.0.1: searches, pictures, and the attacks."""

from __future__ import annotations

import http.client
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

import imagevec
from tests.support.served import build_colour_index, colour_library, serving

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def colour_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return colour_library(tmp_path_factory)


@pytest.fixture(scope="module")
def server(colour_db: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    photos, db = colour_db
    with serving(
        db, tmp_path_factory.mktemp("cache"), roots=[photos], max_upload_bytes=200_000
    ) as (
        url,
        _,
    ):
        yield url


@pytest.fixture(scope="module")
def locked(colour_db: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    photos, db = colour_db
    with serving(db, tmp_path_factory.mktemp("cache"), roots=[photos], token=TOKEN) as (url, _):
        yield url


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def _raw(
    url: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A request with the path sent exactly as given (no client-side normalisation)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest(method, path, skip_host=True)
    for key, value in {"Host": parts.netloc, **(headers or {})}.items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_health_info_and_openapi(server: str) -> None:
    assert httpx.get(f"{server}/api/health").json() == {"status": "ok"}
    info = httpx.get(f"{server}/api/info").json()
    assert info["count"] == 3 and info["encoder"]["model"] == "test-color"
    paths = httpx.get(f"{server}/api/openapi.json").json()["paths"]
    assert {"/api/search", "/api/search/image", "/api/items/{item_id}/thumbnail"} <= set(paths)


def test_text_search_returns_the_cli_json_shape(server: str) -> None:
    hits = httpx.get(f"{server}/api/search", params={"q": "red", "k": 2}).json()
    assert [h["rank"] for h in hits] == [1, 2]
    assert set(hits[0]) == {"rank", "id", "uri", "score", "metadata"}
    assert hits[0]["metadata"]["filename"] == "red.png"


def test_upload_an_edited_copy_finds_the_original(
    server: str, colour_db: tuple[Path, Path]
) -> None:
    edited = Image.open(colour_db[0] / "blue.png").convert("RGB").rotate(8).resize((40, 30))
    response = httpx.post(
        f"{server}/api/search/image",
        params={"k": 3},
        content=_jpeg(edited),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200, response.text
    assert response.json()[0]["metadata"]["filename"] == "blue.png"


def test_post_search_by_text_like_and_base64(server: str) -> None:
    import base64

    red = httpx.post(f"{server}/api/search", json={"text": "red", "k": 1}).json()[0]
    like = httpx.post(f"{server}/api/search", json={"like": red["id"], "k": 5}).json()
    assert red["id"] not in [h["id"] for h in like] and len(like) == 2
    similar = httpx.get(f"{server}/api/items/{red['id']}/similar", params={"k": 5}).json()
    assert [h["id"] for h in similar] == [h["id"] for h in like]
    green = base64.b64encode(_jpeg(Image.new("RGB", (30, 30), (0, 210, 0)))).decode()
    hits = httpx.post(f"{server}/api/search", json={"image": green, "k": 1}).json()
    assert hits[0]["metadata"]["filename"] == "green.png"
    bad = httpx.post(f"{server}/api/search", json={"text": "red", "like": red["id"]})
    assert bad.status_code == 400


def test_combined_queries_by_http_and_by_connect(server: str, colour_db: tuple[Path, Path]) -> None:
    import base64

    photos = colour_db[0]
    red = httpx.get(f"{server}/api/search", params={"q": "red", "k": 1}).json()[0]["id"]

    def post(**body: object) -> httpx.Response:
        return httpx.post(f"{server}/api/search", json={"k": 3, **body})

    liked = post(query=f"green + 0.5:like:{red}").json()
    assert liked[0]["metadata"]["filename"] == "green.png" and red not in [h["id"] for h in liked]
    assert post(query=f"like:{red}", include_self=True).json()[0]["id"] == red
    typed = httpx.get(f"{server}/api/search", params={"q": f"green + 0.5:like:{red}", "k": 3})
    assert [h["id"] for h in typed.json()] == [h["id"] for h in liked]  # the page's search box
    green = base64.b64encode(_jpeg(Image.new("RGB", (30, 30), (0, 210, 0)))).decode()
    parts = [
        {"kind": "image", "value": f"data:image/jpeg;base64,{green}"},
        {"kind": "text", "value": "green", "weight": -0.5},
        {"kind": "like", "value": red, "weight": -1},
    ]
    by_parts = post(query=parts).json()
    assert by_parts[0]["metadata"]["filename"] == "green.png"
    assert by_parts[-1]["metadata"]["filename"] == "blue.png"  # red is the liked item: left out
    assert post(query="red + like: ").status_code == 400
    assert post(query=[{"kind": "video", "value": "x"}]).status_code == 422
    with imagevec.connect(server) as remote:
        policy = imagevec.SourcePolicy.for_agent([photos])
        query = imagevec.Query.image(photos / "blue.png") - imagevec.Query.text("red")
        hits = remote.search(query=query, k=3, policy=policy)
        assert Path(hits[0].uri).name == "blue.png" and Path(hits[-1].uri).name == "red.png"
        same = remote.search(query=f"green + 0.5:like:{red}", k=3)
        assert [h.id for h in same] == [h["id"] for h in liked]
        by_path = remote.search(query=f"green + 0.5:like:{photos / 'red.png'}", k=3)
        assert [h.id for h in by_path] == [h["id"] for h in liked]
        with pytest.raises(imagevec.NotIndexedError, match=r"never\.png"):
            remote.search(query=f"like:{photos / 'never.png'}")


def test_thumbnail_and_image_of_an_indexed_id(server: str) -> None:
    hit = httpx.get(f"{server}/api/search", params={"q": "green", "k": 1}).json()[0]
    thumb = httpx.get(f"{server}/api/items/{hit['id']}/thumbnail", params={"size": 32})
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (64, 48)  # 64 is the smallest size
    image = httpx.get(f"{server}/api/items/{hit['id']}/image", params={"max_size": 32})
    assert Image.open(io.BytesIO(image.content)).size == (32, 24)
    record = httpx.get(f"{server}/api/items/{hit['id']}").json()
    assert record["uri"] == hit["uri"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/..%2F..%2F..%2Fetc%2Fpasswd/image",
        "/api/items/%2Fetc%2Fpasswd/thumbnail",
        "/api/items/../../../../etc/passwd",
        "/api/items/0123456789abcdef0123456789abcdef/image",
        "/static/../../../../etc/passwd",
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/items/%00/image",
    ],
)
def test_paths_in_ids_serve_nothing(server: str, path: str) -> None:
    status, body = _raw(server, "GET", path)
    assert status in (400, 404), (status, body[:200])
    assert b"root:" not in body


def test_oversized_upload_is_refused_before_decoding(server: str) -> None:
    big = b"\xff\xd8\xff" + b"\0" * 400_000
    response = httpx.post(f"{server}/api/search/image", content=big)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(40):
            yield b"\0" * 10_000

    response = httpx.post(f"{server}/api/search/image", content=chunks())
    assert response.status_code == 413


def test_decompression_bomb_and_garbage_uploads(server: str) -> None:
    bomb = io.BytesIO()
    Image.new("L", (8_000, 8_000)).save(bomb, format="PNG", optimize=True)  # 64 MP
    assert len(bomb.getvalue()) < 200_000
    response = httpx.post(f"{server}/api/search/image", content=bomb.getvalue())
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]
    junk = httpx.post(f"{server}/api/search/image", content=b"GIF89a not really")
    assert junk.status_code == 422
    empty = httpx.post(f"{server}/api/search/image", content=b"")
    assert empty.status_code == 422


def test_bad_host_header_is_refused(server: str) -> None:
    status, _ = _raw(server, "GET", "/api/info", {"Host": "evil.example:8700"})
    assert status == 400
    assert httpx.get(server.replace("127.0.0.1", "localhost") + "/api/health").status_code == 200


def test_no_cors_and_strict_headers(server: str) -> None:
    response = httpx.get(f"{server}/api/info", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        f"{server}/api/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    page = httpx.get(f"{server}/")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )


def test_bad_parameters(server: str) -> None:
    assert httpx.get(f"{server}/api/search", params={"q": "red", "k": 0}).status_code == 422
    assert httpx.get(f"{server}/api/search", params={"q": "red", "k": 10**6}).status_code == 422
    where = httpx.get(f"{server}/api/search", params={"q": "red", "where": "[1"})
    assert where.status_code == 400 and "JSON" in where.json()["detail"]


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-000000", f"Basic {TOKEN}", TOKEN])
def test_missing_or_wrong_token_is_refused(locked: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    for path in ("/", "/api/health", "/api/info", "/static/app.js", "/api/openapi.json"):
        response = httpx.get(locked + path, headers=headers)
        assert response.status_code == 401, path
    assert httpx.get(f"{locked}/?token=nope").status_code == 401


def test_right_token_works_by_header_and_by_page_cookie(locked: str) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{locked}/api/info", headers=bearer).json()["count"] == 3
    with httpx.Client(base_url=locked) as browser:
        login = browser.get(f"/?token={TOKEN}")
        assert login.status_code == 303 and "HttpOnly" in login.headers["set-cookie"]
        assert "SameSite=Strict" in login.headers["set-cookie"]
        assert browser.get("/").status_code == 200
        assert browser.get("/api/search", params={"q": "red"}).status_code == 200


def test_a_file_name_that_is_not_utf8_travels_exactly(tmp_path: Path) -> None:
    import os

    import imagevec

    photos = tmp_path / "photos"
    photos.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: a lone surrogate in Python
    Image.new("RGB", (30, 30), (220, 10, 10)).save(photos / name)
    build_colour_index(photos, tmp_path / "db")
    with serving(tmp_path / "db", tmp_path / "cache", roots=[photos]) as (url, _):
        response = httpx.get(f"{url}/api/search", params={"q": "red", "k": 1})
        assert response.status_code == 200
        hit = response.json()[0]
        assert hit["uri"] == str(photos / name)
        assert httpx.get(f"{url}/api/items/{hit['id']}").json()["uri"] == str(photos / name)
        thumb = httpx.get(f"{url}/api/items/{hit['id']}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        with imagevec.connect(url) as remote:
            assert remote.search("red", k=1)[0].uri == str(photos / name)
