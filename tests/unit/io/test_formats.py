"""A real photo library: HEIC next to JPEG, RAW files, hidden and junk folders, exclusions,
EXIF fields (hostile ones too) and the filters on them; real sample photos throughout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import imagevec
from imagevec.cli import EXIT_OK, EXIT_PARTIAL, main
from imagevec.errors import ConfigError
from imagevec.index import ImageIndex
from imagevec.io.exif import photo_fields

pillow_heif = pytest.importorskip("pillow_heif")


def _exif(make: str, model: str, taken: str, *, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = make, model, 1
    exif.get_ifd(0x8769)[0x9003] = taken
    exif.get_ifd(0x8769)[0xA434] = "RF24-105mm F4 L IS USM"
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2], ifd[3], ifd[4] = "N", (48.0, 51.0, 29.0), "W", (2.0, 17.0, 40.0)
    return exif


@pytest.fixture(scope="module")
def heic_photo(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> bytes:
    """An iPhone-like HEIC with EXIF (encoded once: HEIC encoding is slow)."""
    pillow_heif.register_heif_opener()
    path = tmp_path_factory.mktemp("heic") / "IMG_0001.HEIC"
    Image.open(photo_dir / "rocket.jpg").save(
        path, exif=_exif("Apple", "iPhone 15 Pro", "2024:07:14 21:30:00")
    )
    return path.read_bytes()


@pytest.fixture
def library(tmp_path: Path, photo_dir: Path, heic_photo: bytes) -> Path:
    """JPEGs with EXIF from two cameras, a HEIC, a RAW with a JPEG sibling, a lone broken
    RAW, hidden and junk folders."""
    root = tmp_path / "Photos"
    (root / "2023").mkdir(parents=True)
    (root / "2024").mkdir()
    cat = Image.open(photo_dir / "chelsea.jpg")
    cat.save(
        root / "2024" / "cat.jpg",
        exif=_exif("Canon", "Canon EOS R5", "2024:06:01 14:03:22", gps=True),
    )
    Image.open(photo_dir / "coffee.jpg").save(
        root / "2023" / "coffee.jpg", exif=_exif("Apple", "iPhone 13", "2023:12:24 09:00:00")
    )
    (root / "2024" / "IMG_0001.HEIC").write_bytes(heic_photo)
    shutil.copy(photo_dir / "astronaut.jpg", root / "2024" / "DSC_0002.jpg")
    (root / "2024" / "DSC_0002.NEF").write_bytes(b"II*\x00 not really a raw file" * 10)
    (root / "2024" / "DSC_0003.dng").write_bytes(b"broken raw" * 10)
    for junk in (".git", "node_modules", "@eaDir", "__MACOSX", ".Trashes", ".hidden"):
        (root / junk).mkdir()
        shutil.copy(photo_dir / "moon.jpg", root / junk / "junk.jpg")
    shutil.copy(photo_dir / "china.jpg", root / "2024" / "._china.jpg")
    shutil.copy(photo_dir / "flower.jpg", root / "2024" / "draft_flower.png")
    return root


@pytest.fixture
def index(tmp_path: Path, library: Path) -> ImageIndex:
    with ImageIndex(tmp_path / "db", encoder="test-color") as opened:
        yield opened


def _names(report_or_hits: object) -> set[str]:
    return {Path(h.uri).name for h in report_or_hits}  # type: ignore[attr-defined]


def test_heic_indexed_junk_skipped_broken_raw_named(index: ImageIndex, library: Path) -> None:
    report = index.add(library)
    assert report.indexed == 5  # cat, coffee, HEIC, DSC_0002.jpg, draft_flower.png
    assert [Path(f.source).name for f in report.failed] == ["DSC_0003.dng"]
    assert "raw" in report.failed[0].reason.lower()
    hits = index.search(text="red", k=20)
    assert _names(hits) == {
        "cat.jpg",
        "coffee.jpg",
        "IMG_0001.HEIC",
        "DSC_0002.jpg",
        "draft_flower.png",
    }
    heic = next(h for h in hits if h.uri.endswith(".HEIC"))
    assert heic.metadata["format"] == "HEIF" and heic.metadata["camera"] == "Apple iPhone 15 Pro"
    like = index.search(like=library / "2024" / "IMG_0001.HEIC", k=1, include_self=True)
    assert like[0].uri == heic.uri and imagevec.is_image_file("IMG_0001.HEIC")


def test_include_hidden_and_exclude(index: ImageIndex, library: Path) -> None:
    report = index.add(library, include_hidden=True, exclude=["*.png", "2023"])
    names = {Path(h.uri).relative_to(library).as_posix() for h in index.search(text="red", k=20)}
    assert names == {
        ".hidden/junk.jpg", "2024/._china.jpg", "2024/cat.jpg", "2024/IMG_0001.HEIC",
        "2024/DSC_0002.jpg",
    }  # fmt: skip
    assert report.indexed == 5  # junk folders (.git, node_modules, @eaDir...) stay out


def test_exif_fields_and_gps_only_when_asked(
    index: ImageIndex, library: Path, tmp_path: Path
) -> None:
    index.add(library)
    cat = index.search(like=library / "2024" / "cat.jpg", k=1, include_self=True)[0].metadata
    assert cat["taken"] == "2024-06-01T14:03:22" and cat["camera"] == "Canon EOS R5"
    assert cat["lens"] == "RF24-105mm F4 L IS USM" and cat["has_gps"] is True
    assert "gps_lat" not in cat and cat["orientation"] == 1
    with ImageIndex(tmp_path / "db2", encoder="test-color") as other:
        other.add(library / "2024" / "cat.jpg", exif_gps=True)
        meta = other.search(text="red", k=1)[0].metadata
    assert (meta["gps_lat"], meta["gps_lon"]) == pytest.approx((48.858056, -2.294444))


def test_date_camera_folder_filters(index: ImageIndex, library: Path) -> None:
    index.add(library)
    assert _names(index.search(text="red", k=9, since="2024-01-01")) == {"cat.jpg", "IMG_0001.HEIC"}
    assert _names(index.search(text="red", k=9, until="2024-06-01")) == {"cat.jpg", "coffee.jpg"}
    assert _names(index.search(text="red", k=9, camera="iphone")) == {"coffee.jpg", "IMG_0001.HEIC"}
    assert _names(index.search(text="red", k=9, folder=library / "2023")) == {"coffee.jpg"}
    both = index.search(text="red", k=9, camera="IPHONE", since="2024-07-14", folder=library)
    assert _names(both) == {"IMG_0001.HEIC"}
    assert index.search(text="red", camera="Leica") == []
    with_lens = {"cat.jpg", "coffee.jpg", "IMG_0001.HEIC"}  # the photos with EXIF
    assert _names(index.search(text="red", k=9, lens="rf24-105")) == with_lens
    assert _names(index.search(text="red", k=9, lens="RF24", camera="canon")) == {"cat.jpg"}
    assert index.search(text="red", lens="50mm") == []
    with pytest.raises(ConfigError, match="bad date"):
        index.search(text="red", since="last summer")


def test_hostile_exif_never_loses_an_image(tmp_path: Path, photo_dir: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "Evil\x1b[31m\x00hidden"
    exif[0x0110] = "X" * 5000
    exif[0x0112] = 99
    exif.get_ifd(0x8769)[0x9003] = "2024:02:30 25:61:00"
    ifd = exif.get_ifd(0x8825)
    ifd[1], ifd[2] = "N", (999.0, 0.0, 0.0)
    Image.open(photo_dir / "coffee.jpg").save(folder / "evil.jpg", exif=exif)
    good = (photo_dir / "chelsea.jpg").read_bytes()
    app1 = b"\xff\xe1\x00\x40Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\xab" * 44
    (folder / "truncated_exif.jpg").write_bytes(good[:2] + app1 + good[2:])
    fields = photo_fields(Image.open(folder / "evil.jpg"), gps=True)
    assert fields["camera_make"] == "Evil[31m" and len(fields["camera_model"]) == 100
    assert "taken" not in fields and "orientation" not in fields and "gps_lat" not in fields
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(folder, exif_gps=True)
    assert (report.indexed, report.failed) == (2, [])


def test_max_megapixels_names_the_big_file(index: ImageIndex, library: Path) -> None:
    report = index.add(library / "2024", max_megapixels=0.2)
    big = {Path(f.source).name: f.reason for f in report.failed}
    # cat.jpg (451x300 = 0.14 MP) passes; 512x512 and 427x640 do not
    assert set(big) == {"DSC_0002.jpg", "draft_flower.png", "IMG_0001.HEIC", "DSC_0003.dng"}
    assert report.indexed == 1 and "pixels exceeds" in big["DSC_0002.jpg"]


def test_import_imagevec_registers_no_heif_opener() -> None:
    code = "import imagevec, sys; print('pillow_heif' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_index_options_and_search_filters(
    capsys: pytest.CaptureFixture[str], library: Path, tmp_path: Path
) -> None:
    db = ["--db", str(tmp_path / "cli-db")]
    code = main(["index", str(library), "-m", "test-color", "--exclude", "*.png", "--json", *db])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL and report["indexed"] == 4
    assert [Path(f["file"]).name for f in report["failed"]] == ["DSC_0003.dng"]
    code = main(["search", "red", "--camera", "iphone", "--since", "2023-12-24", "--json", *db])
    hits = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and {Path(h["uri"]).name for h in hits} == {
        "coffee.jpg",
        "IMG_0001.HEIC",
    }
    assert hits[0]["metadata"]["taken"].startswith(("2023-12-24", "2024-07-14"))
    code = main(["search", "red", "--folder", str(library / "2023"), "--paths-only", *db])
    assert code == EXIT_OK and capsys.readouterr().out == f"{library / '2023' / 'coffee.jpg'}\n"
    code = main(["search", "red", "--lens", "rf24", "--camera", "canon", "--paths-only", *db])
    assert code == EXIT_OK and capsys.readouterr().out == f"{library / '2024' / 'cat.jpg'}\n"
