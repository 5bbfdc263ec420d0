"""load_image: every input kind, every awkward mode, bombs, corrupt files, draft, folder walking."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, features
from skimage import data as skdata

from imagevec.errors import ImageLoadError, ImageTooLargeError, UnsafeSourceError
from imagevec.io.decode import BACKGROUND, MAX_PIXELS, load_image
from imagevec.io.files import is_image_file, iter_image_files
from imagevec.io.policy import SourcePolicy

CHELSEA = skdata.chelsea()  # 300 x 451 x 3, a real photo (landscape)


def encode(array_or_image: np.ndarray | Image.Image, fmt: str, **options: object) -> bytes:
    img = (
        array_or_image
        if isinstance(array_or_image, Image.Image)
        else Image.fromarray(array_or_image)
    )
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def png_bytes(width: int, height: int, depth: int, colour: int, rows: bytes | None) -> bytes:
    """A hand-made PNG: ``rows=None`` writes a header with no pixel data at all."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body)
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if rows is not None:
        out += chunk(b"IDAT", zlib.compress(rows))
    return out + chunk(b"IEND", b"")


def pixels(img: Image.Image) -> list[tuple[int, ...]]:
    return [tuple(p) for p in np.asarray(img).reshape(-1, 3).tolist()]


def mean_diff(img: Image.Image, expected: np.ndarray) -> float:
    return float(np.abs(np.asarray(img, dtype=np.int16) - expected.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(CHELSEA, "JPEG", quality=95)


# --- input kinds ----------------------------------------------------------------------------


def test_every_input_kind_gives_the_same_rgb_photo(tmp_path: Path, jpeg: bytes) -> None:
    path = tmp_path / "chelsea.jpg"
    path.write_bytes(jpeg)
    reference = np.asarray(load_image(path))
    b64 = base64.b64encode(jpeg).decode()
    with path.open("rb") as fh:
        from_file_object = load_image(fh)
    inputs = [
        str(path),
        path.as_uri(),
        jpeg,
        bytearray(jpeg),
        memoryview(jpeg),
        io.BytesIO(jpeg),
        b64,
        base64.encodebytes(jpeg).decode(),  # line-wrapped base64
        base64.urlsafe_b64encode(jpeg).decode(),
        f"data:image/jpeg;base64,{b64}",
        Image.open(io.BytesIO(jpeg)),
    ]
    assert np.array_equal(np.asarray(from_file_object), reference)
    for source in inputs:
        out = load_image(source)
        assert out.mode == "RGB" and out.size == (451, 300), type(source).__name__
        assert np.array_equal(np.asarray(out), reference), type(source).__name__
    assert mean_diff(load_image(path), CHELSEA) < 3  # the photo itself, not some other image


def test_rgb_pil_image_is_returned_without_copy() -> None:
    img = Image.fromarray(CHELSEA)
    assert load_image(img) is img


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 128, 255]], np.uint8), [0, 128, 255]),
        (np.array([[[0], [128], [255]]], np.uint8), [0, 128, 255]),
        (np.array([[0, 257, 32768, 65535]], np.uint16), [0, 1, 128, 255]),
        (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),
        (np.array([[0.0, 1.0004]], np.float64), [0, 255]),  # rounding noise is clipped
        (np.array([[False, True]]), [0, 255]),
        (np.array([[0, 200]], np.int64), [0, 200]),
    ],
)
def test_arrays_are_scaled_to_8_bit_grey(array: np.ndarray, expected: list[int]) -> None:
    out = np.asarray(load_image(array))
    assert out.shape == (1, len(expected), 3)
    assert out[0, :, 0].tolist() == expected
    assert np.array_equal(out[..., 0], out[..., 2])


def test_colour_arrays() -> None:
    assert np.array_equal(np.asarray(load_image(CHELSEA)), CHELSEA)
    rgba = np.array([[[255, 0, 0, 128], [0, 0, 255, 255], [0, 0, 0, 0]]], np.uint8)
    out = np.asarray(load_image(rgba))[0].astype(int)
    assert np.abs(out[0] - [255, 127, 127]).max() <= 1  # half red over white
    assert out[1].tolist() == [0, 0, 255] and out[2].tolist() == list(BACKGROUND)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.zeros((3, 32, 32), np.uint8), "transpose(1, 2, 0)"),
        (np.zeros((4, 4, 2), np.uint8), "unsupported array shape"),
        (np.zeros((0, 4), np.uint8), "empty array"),
        (np.array([[0.0, 255.0]]), "divide 0-255 data by 255"),
        (np.array([[np.nan, 0.5]]), "NaN"),
        (np.array([[-1, 300]]), "[0, 255]"),
        (np.array([[1 + 1j]]), "unsupported array dtype"),
    ],
)
def test_bad_arrays_are_explained(array: np.ndarray, words: str) -> None:
    with pytest.raises(ImageLoadError, match="ndarray") as info:
        load_image(array)
    assert words in info.value.reason


def test_unsupported_type_and_text_mode_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="unsupported input type int"):
        load_image(42)
    (tmp_path / "a.txt").write_text("hello")
    with (tmp_path / "a.txt").open() as fh, pytest.raises(ImageLoadError, match="'rb'"):
        load_image(fh)


# --- modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "turns"), [(3, 2), (6, -1), (8, 1)])
@pytest.mark.parametrize("draft_size", [None, 100])
def test_exif_orientation_is_applied(orientation: int, turns: int, draft_size: int | None) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    jpeg = encode(CHELSEA, "JPEG", quality=95, exif=exif.tobytes())
    out = load_image(jpeg, draft_size=draft_size)
    upright = np.rot90(CHELSEA, k=turns)  # what a viewer shows
    if draft_size is None:
        assert out.size == (upright.shape[1], upright.shape[0])
        assert mean_diff(out, upright) < 3
    else:  # drafted at 1/2 scale: compare with the upright photo downscaled the same way
        assert out.size == ((upright.shape[1] + 1) // 2, (upright.shape[0] + 1) // 2)
        small = Image.fromarray(upright).resize(out.size, Image.Resampling.BOX)
        assert mean_diff(out, np.asarray(small)) < 6
    wrong = np.rot90(CHELSEA, k=turns + 2)
    if wrong.shape == upright.shape and draft_size is None:
        assert mean_diff(out, wrong) > 20  # not merely any rotation


def test_exif_orientation_of_pil_images_is_applied_once() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    opened = Image.open(io.BytesIO(encode(CHELSEA, "JPEG", quality=95, exif=exif.tobytes())))
    upright = np.rot90(CHELSEA, k=-1)
    for img in (opened.convert("RGB"), ImageOps.exif_transpose(opened)):
        out = load_image(img)
        assert out.size == (300, 451) and mean_diff(out, upright) < 3


def test_draft_does_not_bypass_the_pixel_limit(jpeg: bytes) -> None:
    # 451x300 = 135k pixels; drafted to 1/4 it would be 8.5k, under the limit: still refused.
    with pytest.raises(ImageTooLargeError):
        load_image(jpeg, draft_size=60, max_pixels=100_000)
    assert load_image(jpeg, draft_size=60, max_pixels=200_000).size == (113, 75)


def test_cmyk_jpeg_has_the_original_colours() -> None:
    jpeg = encode(Image.fromarray(CHELSEA).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(jpeg)).mode == "CMYK"
    out = load_image(jpeg)
    assert out.mode == "RGB" and mean_diff(out, CHELSEA) < 4  # not inverted


def test_palette_png_and_gif_transparency_become_white() -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 0, 200, 0])
    img.putdata([0, 1])
    for fmt in ("PNG", "GIF"):
        out = load_image(encode(img, fmt, transparency=0))
        assert pixels(out) == [BACKGROUND, (0, 200, 0)], fmt


def test_alpha_modes_are_composited_over_white() -> None:
    rgba = Image.new("RGBA", (2, 1))
    rgba.putdata([(255, 0, 0, 128), (10, 20, 30, 0)])
    out = pixels(load_image(encode(rgba, "PNG")))
    assert np.abs(np.subtract(out[0], (255, 127, 127))).max() <= 1 and out[1] == BACKGROUND
    la = Image.new("LA", (1, 1), (0, 64))  # black at 1/4 opacity -> light grey
    assert abs(load_image(encode(la, "PNG")).getpixel((0, 0))[0] - 191) <= 1


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    png = encode(values, "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I;16")  # really a 16-bit file
    assert np.asarray(load_image(png))[0, :, 1].tolist() == [0, 1, 128, 255]


def test_16_bit_rgb_png_is_scaled() -> None:
    row = np.array([[0, 32768, 65535], [65535, 0, 32768]], ">u2").tobytes()
    out = load_image(png_bytes(2, 1, 16, 2, b"\x00" + row))
    assert pixels(out) == [(0, 128, 255), (255, 0, 128)]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.frombytes("I;16B", (3, 1), np.array([0, 32768, 65535], ">u2").tobytes()), None),
        (Image.fromarray(np.array([[0, 32768, 65535]], np.int32)), None),
        (Image.fromarray(np.array([[0, 65535, 131070]], np.int32)), [0, 128, 255]),
        (Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)), None),
        (Image.fromarray(np.array([[-3.0, 50.0, 100.0]], np.float32)), [0, 128, 255]),
    ],
)
def test_wide_modes_are_scaled(image: Image.Image, expected: list[int] | None) -> None:
    assert image.mode in ("I;16B", "I", "F")
    out = np.asarray(load_image(image))
    assert out[0, :, 0].tolist() == (expected or [0, 128, 255])


def test_one_bit_image() -> None:
    img = Image.new("1", (2, 1))
    img.putdata([0, 255])
    assert pixels(load_image(encode(img, "PNG"))) == [(0, 0, 0), (255, 255, 255)]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_the_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=50, lossless=True)
    assert getattr(Image.open(io.BytesIO(buf.getvalue())), "n_frames", 1) == 3
    out = load_image(buf.getvalue())
    assert out.size == (8, 8) and out.getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif() -> None:
    out = load_image(encode(CHELSEA, "AVIF", quality=90))
    assert out.size == (451, 300) and mean_diff(out, CHELSEA) < 6


# --- limits, draft ------------------------------------------------------------------------


def test_bomb_header_is_rejected_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decode(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # a user switched Pillow's check off
    header_only = png_bytes(50_000, 50_000, 8, 2, None)  # claims 2.5 Gpx, has no pixel data
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="2500000000 pixels exceeds"):
        load_image(header_only)
    assert time.perf_counter() - start < 2.0
    with pytest.raises(ImageTooLargeError, match="exceeds the limit of 1000"):
        load_image(png_bytes(100, 100, 8, 2, None), max_pixels=1000)


def test_pillow_hard_limit_also_surfaces_as_too_large() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError):
        load_image(png_bytes(50_000, 50_000, 8, 2, None), max_pixels=10**10)
    assert Image.MAX_IMAGE_PIXELS == before == MAX_PIXELS  # no global was touched


def test_arrays_obey_max_pixels() -> None:
    with pytest.raises(ImageTooLargeError):
        load_image(CHELSEA, max_pixels=1000)


@pytest.mark.parametrize("portrait", [False, True])
@pytest.mark.parametrize("draft_size", [224, 400, 401, 2000])
def test_draft_keeps_short_side_and_reduces_most(portrait: bool, draft_size: int) -> None:
    big = Image.fromarray(CHELSEA).resize((2400, 1600))
    if portrait:
        big = big.transpose(Image.Transpose.ROTATE_90)
    out = load_image(encode(big, "JPEG", quality=90), draft_size=draft_size)
    short = min(out.size)
    scale = max(s for s in (1, 2, 4, 8) if s * draft_size <= 1600 or s == 1)
    assert short >= min(draft_size, 1600)
    assert out.size == tuple((side + scale - 1) // scale for side in big.size)
    assert (out.size[0] > out.size[1]) != portrait  # aspect kept


def test_draft_ignored_for_png() -> None:
    assert load_image(encode(CHELSEA, "PNG"), draft_size=64).size == (451, 300)


def test_byte_cap(tmp_path: Path, jpeg: bytes) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg)
    policy = SourcePolicy(max_bytes=1000)
    for source in (tmp_path / "a.jpg", jpeg, io.BytesIO(jpeg), base64.b64encode(jpeg).decode()):
        with pytest.raises(ImageTooLargeError, match="1000-byte limit"):
            load_image(source, policy=policy)


# --- broken inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_names_the_input(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cut.{fmt.lower()}"
    full = encode(CHELSEA, fmt)
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert "truncated" in info.value.reason


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"just some notes\nnothing to see\n", "text file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML page"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (bytes(range(256)) * 4, "not a recognised image format"),
        (b"", "empty"),
    ],
)
def test_non_images_are_explained(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "thing.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert words in info.value.reason
    assert str(info.value).startswith(f"cannot load image {path}")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("", "empty string"),
        ("   ", "empty string"),
        ("no/such/photo.jpg", "no such file"),
        ("HelloWorldThisIsJustAPlainSentenceWithoutSpaces", "no such file"),
        ("ftp://example.com/cat.jpg", "unsupported URL scheme"),
        ("data:text/plain;base64,aGVsbG8=", "not an image"),
        ("data:image/png;base64,!!!", "invalid base64"),
    ],
)
def test_bad_strings_are_never_opened(source: str, words: str) -> None:
    with pytest.raises(ImageLoadError) as info:
        load_image(source)
    assert words in info.value.reason


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(str(tmp_path))


def test_path_policy(tmp_path: Path, jpeg: bytes) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(jpeg)
    (tmp_path / "out.jpg").write_bytes(jpeg)
    (tmp_path / "in" / "link.jpg").symlink_to(tmp_path / "out.jpg")
    roots = SourcePolicy(path_roots=(tmp_path / "in",))
    assert load_image(tmp_path / "in" / "a.jpg", policy=roots).size == (451, 300)
    for escape in (tmp_path / "out.jpg", tmp_path / "in" / "link.jpg", tmp_path / "in/../out.jpg"):
        with pytest.raises(UnsafeSourceError, match="path_roots"):
            load_image(escape, policy=roots)
    with pytest.raises(UnsafeSourceError, match="path_roots"):
        load_image(tmp_path / "in" / "a.jpg", policy=SourcePolicy(allow_paths=False))


# --- folders ----------------------------------------------------------------------------------


def test_is_image_file() -> None:
    assert is_image_file("a/IMG_1.JPG") and is_image_file(Path("b.webp"))
    assert not is_image_file("notes.txt") and not is_image_file("jpg")


def test_iter_image_files(tmp_path: Path) -> None:
    for name in ["b.PNG", "a.jpg", "notes.txt", ".hidden.jpg", ".cache/x.jpg", "sub/c.gif",
                 "sub/deep/d.webp", "z.tiff"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)  # a symlink loop
    rel = [p.relative_to(tmp_path).as_posix() for p in iter_image_files(tmp_path)]
    assert rel == ["a.jpg", "b.PNG", "sub/c.gif", "sub/deep/d.webp", "z.tiff"]
    assert [p.name for p in iter_image_files(str(tmp_path), recursive=False)] == [
        "a.jpg",
        "b.PNG",
        "z.tiff",
    ]
    mixed = list(iter_image_files([tmp_path / "notes.txt", tmp_path / "sub", tmp_path]))
    assert [p.name for p in mixed] == ["notes.txt", "c.gif", "d.webp", "a.jpg", "b.PNG", "z.tiff"]
    with pytest.raises(ImageLoadError, match="no such file or directory"):
        list(iter_image_files([tmp_path / "missing"]))
