"""QueryService: searches, pictures by id only, roots, upload limits, background indexing."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

import imagevec
from imagevec.service import NotIndexedError, QueryService


@pytest.fixture
def service(colour_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> QueryService:
    db = tmp_path_factory.mktemp("db")
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    svc = QueryService.open(
        db, roots=[colour_dir], cache_dir=tmp_path_factory.mktemp("thumbs"), device="cpu"
    )
    yield svc
    svc.close()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def _name(hit: dict) -> str:
    return Path(hit["uri"]).stem


def test_info_names_encoder_count_and_folders(service: QueryService, colour_dir: Path) -> None:
    info = service.info()
    assert info["count"] == 3
    assert info["encoder"]["model"] == "test-color"
    assert info["encoder"]["dim"] == 48
    assert info["folders"] == [str(colour_dir)]
    assert info["roots"] == [str(colour_dir.resolve())]


def test_text_search_has_the_cli_json_shape(service: QueryService) -> None:
    hits = service.search_json("red", k=2)
    assert [h["rank"] for h in hits] == [1, 2]
    assert set(hits[0]) == {"rank", "id", "uri", "score", "metadata"}
    assert _name(hits[0]) == "red"
    assert hits[0]["score"] > hits[1]["score"]


def test_image_upload_finds_its_original(service: QueryService, colour_dir: Path) -> None:
    edited = Image.open(colour_dir / "green.png").convert("RGB").resize((50, 30))
    hits = service.search_json(image=_jpeg(edited), k=3)
    assert _name(hits[0]) == "green"


def test_like_uses_the_stored_vector_and_leaves_the_item_out(service: QueryService) -> None:
    blue = service.search("blue", k=1)[0]
    hits = service.search(like=blue.id, k=5)
    assert blue.id not in [h.id for h in hits]
    assert len(hits) == 2
    with pytest.raises(NotIndexedError):
        service.search(like="0" * 32)


def test_folder_filter(service: QueryService, colour_dir: Path, tmp_path: Path) -> None:
    assert len(service.search("red", k=5, folder=str(colour_dir))) == 3
    assert service.search("red", k=5, folder=str(tmp_path / "elsewhere")) == []


def test_bad_requests_are_config_errors(service: QueryService) -> None:
    with pytest.raises(imagevec.ConfigError):
        service.search("red", k=0)
    with pytest.raises(imagevec.ConfigError):
        service.search("red", image=b"x")
    with pytest.raises(imagevec.ConfigError):
        service.search("   ")


def test_thumbnail_is_cached_on_disk_by_content_hash(service: QueryService) -> None:
    hit = service.search("red", k=1)[0]
    thumb = service.thumbnail(hit.id, size=100)
    assert thumb.mime == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) == 64  # 64x48 original, not enlarged
    cached = service.thumbnails.path(hit.metadata["sha256"], 128)
    assert cached is not None and cached.read_bytes() == thumb.data
    cached.write_bytes(b"cached")  # the next call is served from the cache file
    assert service.thumbnail(hit.id, size=128).data == b"cached"


def test_image_is_reencoded_and_resized(service: QueryService) -> None:
    hit = service.search("blue", k=1)[0]
    image = service.image(hit.id, max_size=32)
    assert Image.open(io.BytesIO(image.data)).size == (32, 24)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "", "x" * 5000])
def test_only_indexed_ids_are_served(service: QueryService, bad: str) -> None:
    with pytest.raises(NotIndexedError):
        service.thumbnail(bad)
    with pytest.raises(NotIndexedError):
        service.image(bad)


def test_files_outside_the_roots_are_not_read(colour_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    with QueryService.open(db, roots=[elsewhere], cache_dir=tmp_path / "t") as svc:
        hit = svc.search("red", k=1)[0]
        with pytest.raises(imagevec.UnsafeSourceError):
            svc.thumbnail(hit.id)
        with pytest.raises(imagevec.UnsafeSourceError):
            svc.search(image=str(colour_dir / "red.png"))


def test_query_by_path_needs_roots(colour_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    with QueryService.open(db, cache_dir=tmp_path / "t") as svc:
        with pytest.raises(imagevec.UnsafeSourceError):
            svc.search(image=str(colour_dir / "red.png"))
        with pytest.raises(imagevec.UnsafeSourceError):
            svc.search(image="http://127.0.0.1/x.jpg")


def test_upload_limits(service: QueryService) -> None:
    big = _jpeg(Image.effect_noise((200, 200), 50).convert("RGB"))
    small = QueryService(service.index, max_upload_bytes=1000, cache_dir=service.thumbnails.folder)
    with pytest.raises(imagevec.ImageTooLargeError):
        small.search(image=big)
    bomb = io.BytesIO()
    Image.new("L", (8000, 8000)).save(bomb, format="PNG")  # 64 MP, a few KB compressed
    tight = QueryService(service.index, max_query_pixels=10_000_000)
    with pytest.raises(imagevec.ImageTooLargeError):
        tight.search(image=bomb.getvalue())


def test_watch_indexes_new_photos_while_queries_work(colour_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    watched = tmp_path / "watched"
    watched.mkdir()
    Image.new("RGB", (40, 40), (250, 250, 0)).save(watched / "yellow.png")
    index = imagevec.ImageIndex(db, encoder="test-color")
    with QueryService(index, roots=[watched], cache_dir=tmp_path / "t") as svc:
        svc.watch([watched], interval=0.2)
        deadline = time.time() + 60
        while svc.info()["count"] < 1 and time.time() < deadline:
            time.sleep(0.1)
        assert _name(svc.search_json("yellow", k=1)[0]) == "yellow"
        Image.new("RGB", (40, 40), (0, 0, 250)).save(watched / "blue.png")
        while svc.info()["count"] < 2 and time.time() < deadline:
            assert svc.search("yellow", k=1)  # queries keep working meanwhile
            time.sleep(0.05)
        assert _name(svc.search_json("blue", k=1)[0]) == "blue"
        assert svc.info()["indexing"]["error"] is None


def test_records_pages_and_id_for_path(service: QueryService, colour_dir: Path) -> None:
    first, rest = service.records(0, 2), service.records(2, 100)
    assert len(first) == 2 and len(rest) == 1
    everything = first + rest
    assert {Path(r["uri"]).stem for r in everything} == {"red", "green", "blue"}
    assert all(set(r) == {"id", "uri", "metadata"} for r in everything)
    red = next(r for r in everything if Path(r["uri"]).stem == "red")
    assert service.id_for_path(colour_dir / "red.png") == red["id"]
    assert service.id_for_path(colour_dir / "missing.png") is None
    with pytest.raises(imagevec.ConfigError):
        service.records(-1, 10)


def test_a_large_jpeg_query_is_decoded_at_a_reduced_scale(service: QueryService) -> None:
    big = _jpeg(Image.new("RGB", (4032, 3024), (200, 20, 20)))
    picture = service.load_query_image(big)
    assert 512 <= min(picture.size) < 3024
    assert Path(service.search_json(image=big, k=1)[0]["uri"]).stem == "red"


def test_fetch_query_image_refuses_private_addresses(service: QueryService) -> None:
    with pytest.raises(imagevec.UnsafeSourceError, match="refused to prevent"):
        service.fetch_query_image("http://127.0.0.1:9/photo.jpg")
    with pytest.raises(imagevec.UnsafeSourceError):
        service.fetch_query_image("file:///etc/passwd")


def test_combined_queries_read_image_parts_under_the_roots(
    service: QueryService, colour_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from imagevec.search.query import Query

    red = service.search("red", k=1)[0]
    hits = service.search(query=f"green + 0.5:like:{red.id}", k=3)
    assert _name(hits[0].to_dict()) == "green" and red.id not in [h.id for h in hits]
    kept = service.search(query=f"green + 0.5:like:{red.id}", k=3, include_self=True)
    assert red.id in [h.id for h in kept]
    outside = tmp_path_factory.mktemp("elsewhere") / "blue.png"
    Image.new("RGB", (20, 20), (0, 0, 255)).save(outside)
    with pytest.raises(imagevec.UnsafeSourceError):
        service.search(query=Query.image(str(outside)))
    inside = service.search(query=Query.image(str(colour_dir / "blue.png")) - Query.text("red"))
    assert _name(inside[0].to_dict()) == "blue"


def test_a_text_query_does_not_wait_for_the_image_warm_up(
    service: QueryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    encoder = service.index.encoder
    opening, release = threading.Event(), threading.Event()
    embed_images = encoder.embed_images

    def slow_image_tower(*args: object, **kwargs: object):  # the image graph still opening
        opening.set()
        release.wait(10)
        return embed_images(*args, **kwargs)

    monkeypatch.setattr(encoder, "embed_images", slow_image_tower)
    warm = threading.Thread(target=service.warm_up)
    warm.start()
    try:
        assert opening.wait(10)
        started = time.perf_counter()
        hits = service.search_json("red", k=1)  # answered while the image tower warms up
        assert _name(hits[0]) == "red" and time.perf_counter() - started < 5
        assert warm.is_alive()
    finally:
        release.set()
        warm.join(10)
