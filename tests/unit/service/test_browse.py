"""Browsing without a query through the ASGI app: pages, cursors, filters, facets, folders,
calibration and duplicate groups (the routes of :mod:`imagevec.serve.browse_routes`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import imagevec
from imagevec.bench.library import synthetic_metadata, write_library
from imagevec.serve.app import create_app
from imagevec.service import QueryService

N = 300


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    root = tmp_path_factory.mktemp("library") / "Photos"
    index = imagevec.ImageIndex(tmp_path_factory.mktemp("db"), encoder="test-color")
    assert write_library(index, root, N) == N
    service = QueryService(index, roots=[root], cache_dir=tmp_path_factory.mktemp("thumbs"))
    with TestClient(create_app(service), base_url="http://127.0.0.1") as http:
        yield http, root
    service.close()


def _get(http: TestClient, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _all(http: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _get(
            http, "/api/browse", limit=37, **params, **({"cursor": cursor} if cursor else {})
        )
        items += page["items"]
        cursor = page["next"]
        if not cursor:
            return items


def test_pages_walk_the_whole_library_newest_first_without_repeats(client: Any) -> None:
    http, root = client
    first = _get(http, "/api/browse", limit=10)
    assert first["total"] == N and len(first["items"]) == 10 and first["next"]
    items = _all(http)
    assert len(items) == N and len({i["id"] for i in items}) == N
    taken = [i["taken"] for i in items]
    assert taken == sorted(taken, reverse=True)
    # the photos without an EXIF date fall back to the file time, and say so
    expected = synthetic_metadata(str(root), N)
    assert sum(not i["exif_date"] for i in items) == sum("taken_ts" not in m for m in expected)
    # folders are relative to the served root, never absolute
    assert all(not i["folder"].startswith("/") and i["folder"].startswith("Photos/") for i in items)
    assert first["items"][0]["group"] == first["items"][0]["taken"][:10]
    month = _get(http, "/api/browse", limit=1, group="month")["items"][0]
    assert month["group"] == month["taken"][:7]


def test_filters_narrow_the_pages_and_combine(client: Any) -> None:
    http, root = client
    expected = synthetic_metadata(str(root), N)
    fuji = _all(http, camera="x100")
    assert len(fuji) == sum(m.get("camera") == "FUJIFILM X100V" for m in expected) > 0
    assert {i["camera"] for i in fuji} == {"FUJIFILM X100V"}
    lens = "FE 35mm F1.8"
    both = _all(http, camera="x100", lens=lens, format="jpeg")
    assert len(both) == sum(
        m.get("camera") == "FUJIFILM X100V" and m.get("lens") == lens and m["format"] == "JPEG"
        for m in expected
    )
    year = _all(http, since="2018-01-01", until="2018-12-31")
    assert year and all(i["taken"].startswith("2018") for i in year)
    folder = _get(http, "/api/facets")["folders"][0]["value"]
    inside = _all(http, folder=folder)
    assert inside and all(i["folder"] == folder for i in inside)
    assert _get(http, "/api/facets", folder=folder)["total"] == len(inside)


def test_facets_count_cameras_lenses_years_formats_folders(client: Any) -> None:
    http, root = client
    expected = synthetic_metadata(str(root), N)
    facets = _get(http, "/api/facets")
    assert facets["total"] == N
    cameras = {f["value"]: f["count"] for f in facets["cameras"]}
    assert cameras["Canon EOS R5"] == sum(m.get("camera") == "Canon EOS R5" for m in expected)
    assert sum(f["count"] for f in facets["formats"]) == N
    assert sum(f["count"] for f in facets["years"]) == N
    years = [f["value"] for f in facets["years"]]
    assert years == sorted(years, reverse=True)
    assert all(not f["value"].startswith("/") for f in facets["folders"])
    narrowed = _get(http, "/api/facets", camera="iphone")
    assert [f["value"] for f in narrowed["lenses"]] == ["iPhone 13 back camera 5.1mm f/1.6"]


def test_search_takes_relative_folders_and_lens_filters(client: Any) -> None:
    http, _ = client
    folder = _get(http, "/api/facets")["folders"][0]["value"]
    hits = _get(http, "/api/search", q="red", k=50, folder=folder)
    assert hits and all(f"/{folder}/" in h["uri"] for h in hits)
    body = {"text": "red", "k": 50, "where": {"lens": "FE 35mm F1.8"}, "camera": "sony"}
    response = http.post("/api/search", json=body)
    assert response.status_code == 200
    assert all(h["metadata"]["lens"] == "FE 35mm F1.8" for h in response.json())
    assert http.get("/api/search", params={"q": "red", "folder": "Nowhere/else"}).status_code == 400


def test_bad_cursor_and_limit_are_400_or_422(client: Any) -> None:
    http, _ = client
    assert http.get("/api/browse", params={"cursor": "not-a-cursor"}).status_code == 400
    assert http.get("/api/browse", params={"limit": 0}).status_code == 422
    assert http.get("/api/browse", params={"group": "year"}).status_code == 422
    assert http.get("/api/browse", params={"since": "June"}).status_code == 400


def test_calibration_is_per_query_on_the_encoders_own_scores(client: Any) -> None:
    http, _ = client
    pairs = _get(http, "/api/calibration")
    assert pairs["basis"] == "pairs" and pairs["z"] == 2.5 and pairs["sample"] == N
    assert pairs["threshold"] == pytest.approx(pairs["mean"] + 2.5 * pairs["std"], abs=1e-3)
    red = _get(http, "/api/calibration", q="red")
    blue = _get(http, "/api/calibration", q="blue")
    assert red["basis"] == "query" and red["threshold"] != blue["threshold"]
    # the best hit of a random library is no better than chance: few hits pass
    hits = _get(http, "/api/search", q="red", k=50)
    assert sum(h["score"] >= red["threshold"] for h in hits) < 10
    like = _get(http, "/api/calibration", like=hits[0]["id"])
    assert like["basis"] == "query" and like["threshold"] < 1
    assert http.get("/api/calibration", params={"like": "nope"}).status_code == 404


def test_dupes_lists_groups_with_the_keeper_first_and_a_reason(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(photos / "original.png")
    Image.new("RGB", (160, 120), (200, 30, 30)).save(photos / "small copy.png")
    Image.new("RGB", (64, 48), (20, 20, 220)).save(photos / "blue.png")
    with imagevec.ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(photos)
    service = QueryService.open(tmp_path / "db", roots=[photos], cache_dir=tmp_path / "c")
    with TestClient(create_app(service), base_url="http://127.0.0.1") as http:
        groups = _get(http, "/api/dupes", threshold=0.99)
    service.close()
    assert len(groups) == 1 and groups[0]["size"] == 2
    keeper, other = groups[0]["members"]
    assert keeper["metadata"]["filename"] == "original.png"
    assert other["metadata"]["filename"] == "small copy.png"
    assert "earliest" in groups[0]["reason"] and keeper["folder"] == "photos"


def test_original_download_and_the_client_methods(tmp_path: Path) -> None:
    from tests.support.served import serving

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photos / "red.png")
    Image.new("RGB", (64, 48), (20, 20, 220)).save(photos / "blue.png")
    with imagevec.ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(photos)
    with serving(tmp_path / "db", tmp_path / "cache", roots=[photos]) as (url, _):
        client = imagevec.connect(url)
        page = client.browse(limit=1)
        assert page["total"] == 2 and len(page["items"]) == 1 and page["next"]
        rest = client.browse(limit=1, cursor=page["next"])
        assert rest["next"] is None
        names = {page["items"][0]["filename"], rest["items"][0]["filename"]}
        assert names == {"red.png", "blue.png"}
        assert client.facets(format="png")["total"] == 2
        assert client.facets(folder="photos")["folders"] == [
            {"value": "photos", "count": 2, "cover": page["items"][0]["id"]}
        ]
        assert client.calibration(text="red")["basis"] == "query"
        assert client.duplicates(threshold=0.999) == []
        with pytest.raises(imagevec.ConfigError):
            client.browse(colour="red")
        red = next(i for i in (page["items"] + rest["items"]) if i["filename"] == "red.png")
        response = httpx.get(f"{url}/api/items/{red['id']}/original")
        assert response.content == (photos / "red.png").read_bytes()
        assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''red.png"
        assert response.headers["content-type"] == "image/png"
        assert httpx.get(f"{url}/api/items/nope/original").status_code == 404
        client.close()


def test_trash_is_off_by_default_and_moves_without_deleting_when_on(tmp_path: Path) -> None:
    from imagevec.errors import ConfigError

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(photos / "original.png")
    Image.new("RGB", (160, 120), (200, 30, 30)).save(photos / "small copy.png")
    with imagevec.ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(photos)
    service = QueryService.open(tmp_path / "db", roots=[photos], cache_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="outside the served roots"):
        create_app(service, trash_dir=photos / "trash")
    with TestClient(create_app(service), base_url="http://127.0.0.1") as http:
        assert _get(http, "/api/dupes/trash") == {"enabled": False}
        copy = _get(http, "/api/dupes", threshold=0.99)[0]["members"][1]
        assert http.post("/api/dupes/trash", json={"id": copy["id"]}).status_code == 400
    assert (photos / "small copy.png").exists()
    trash = tmp_path / "trash"
    with TestClient(create_app(service, trash_dir=trash), base_url="http://127.0.0.1") as http:
        assert _get(http, "/api/dupes/trash") == {"enabled": True}
        moved = http.post("/api/dupes/trash", json={"id": copy["id"]})
        assert moved.status_code == 200, moved.text
        assert moved.json()["moved_to"] == "photos/small copy.png"
        assert (trash / "photos" / "small copy.png").exists()
        assert not (photos / "small copy.png").exists()
        assert _get(http, "/api/dupes", threshold=0.99) == []  # the record left the index
        assert http.post("/api/dupes/trash", json={"id": copy["id"]}).status_code == 404
    service.close()
