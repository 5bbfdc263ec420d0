"""The photo page in a real browser: the library without a query, query links, the viewer,
filters, swipe on a phone, uploads, more like this, and the duplicates page.

Screenshots are saved (see the ``screenshots`` fixture) so a person can look at the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

pytestmark = pytest.mark.slow

SHOWN = (
    "(sel) => { const imgs = [...document.querySelectorAll(sel)];"
    " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
)


def _watch(tab: Any) -> list[str]:
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.fixture
def page(browser: Any, served_photos: tuple[str, Path]) -> Iterator[tuple[Any, list[str], str]]:
    """A fresh desktop tab, the console errors it logs, and the server's URL."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors = _watch(tab)
    yield tab, errors, served_photos[0]
    context.close()


def _wait_results(tab: Any, label: str) -> None:
    tab.wait_for_function(
        "(label) => { const s = document.getElementById('status').textContent;"
        " return /^\\d+ results/.test(s) && s.includes(label); }",
        arg=label,
    )
    tab.wait_for_function(SHOWN, arg="#grid img")


def _names(tab: Any, where: str = "#grid") -> list[str]:
    return tab.locator(f"{where} li.tile .name").all_text_contents()


def _search(tab: Any, text: str) -> None:
    tab.fill("#q", text)
    tab.press("#q", "Enter")
    _wait_results(tab, text)


def test_home_shows_the_library_newest_first_without_a_query(
    page: tuple[Any, list[str], str], screenshots: Path
) -> None:
    tab, errors, url = page
    tab.goto(url + "/")
    tab.wait_for_function(SHOWN, arg="#library img")
    assert tab.locator("#library li.tile").count() == 21
    headings = tab.locator("#library .group h2").all_text_contents()
    assert len(headings) >= 3 and "2024" in " ".join(headings)
    groups = tab.eval_on_selector_all("#library .group", "els => els.map(e => e.dataset.group)")
    assert groups == sorted(groups, reverse=True)  # newest first
    # justified: every tile keeps its photo's aspect ratio (no letterboxing)
    ratios = tab.eval_on_selector_all(
        "#library li.tile img",
        "els => els.map(i => [i.getBoundingClientRect().width / i.getBoundingClientRect().height,"
        " i.naturalWidth / i.naturalHeight])",
    )
    assert all(abs(shown / natural - 1) < 0.08 for shown, natural in ratios)
    tab.click("#filters summary")
    folders = tab.locator("#f-folder option").all_text_contents()
    assert any(f.startswith("Photos/2024/Paris") for f in folders)
    assert not any(f.startswith("/") for f in folders)  # relative names, never server paths
    tab.screenshot(path=str(screenshots / "1-home.png"))
    assert errors == []


def test_a_query_link_reopens_its_results_and_back_works(
    page: tuple[Any, list[str], str], screenshots: Path
) -> None:
    tab, errors, url = page
    tab.goto(url + "/?q=a%20tabby%20cat")
    _wait_results(tab, "a tabby cat")
    assert tab.input_value("#q") == "a tabby cat"
    assert _names(tab, "#good")[0] == "chelsea.jpg"
    assert "weaker matches" in tab.inner_text("#weaker summary")
    assert not tab.locator("#weaker").evaluate("d => d.open")  # folded
    tab.screenshot(path=str(screenshots / "2-query-link.png"))
    _search(tab, "a motorcycle")
    assert "q=a+motorcycle" in tab.url
    tab.go_back()
    _wait_results(tab, "a tabby cat")
    assert _names(tab, "#good")[0] == "chelsea.jpg" and tab.input_value("#q") == "a tabby cat"
    tab.goto(url + "/#q=a%20rocket")  # old links still work
    _wait_results(tab, "a rocket")
    assert _names(tab)[0] in ("rocket.jpg", "rocket (small copy).jpg")
    assert errors == []


def test_the_viewer_shows_date_camera_place_and_the_url_names_the_photo(
    page: tuple[Any, list[str], str], screenshots: Path
) -> None:
    tab, errors, url = page
    tab.goto(url + "/?q=a%20tabby%20cat")
    _wait_results(tab, "a tabby cat")
    first = tab.locator("#good li.tile").first
    photo = first.get_attribute("data-id")
    first.locator(".open").click()
    tab.wait_for_function("() => document.querySelector('.viewer-info h2')")
    info = tab.inner_text(".viewer-info")
    assert "chelsea.jpg" in info and "June 1, 2024" in info and "14:03" in info
    assert "FUJIFILM X100V" in info and "XF23mmF2" in info and "1/250 s" in info
    assert "f/2.8" in info and "ISO 200" in info
    place = tab.locator(".viewer-info a")
    assert "openstreetmap.org" in place.get_attribute("href") and "48.85" in place.inner_text()
    assert f"photo={photo}" in tab.url
    download = tab.locator(".pswp a[download]")
    assert download.get_attribute("href").endswith(f"/api/items/{photo}/original")
    tab.wait_for_function(SHOWN, arg=".pswp__img")
    tab.wait_for_selector("body[data-viewer=open]")  # keys are bound after the animation
    tab.screenshot(path=str(screenshots / "3-viewer.png"))
    shared = tab.url
    tab.keyboard.press("ArrowRight")
    tab.wait_for_function("(id) => !location.search.includes(id)", arg=photo)
    tab.keyboard.press("Escape")
    tab.wait_for_function("() => !location.search.includes('photo=')")
    # a shared link opens the same photo
    tab.goto(shared)
    tab.wait_for_function("() => document.querySelector('.viewer-info h2')")
    assert "chelsea.jpg" in tab.inner_text(".viewer-info h2")
    assert errors == []


def test_filters_narrow_the_grid_show_as_chips_and_combine_with_a_query(
    page: tuple[Any, list[str], str], screenshots: Path
) -> None:
    tab, errors, url = page
    tab.goto(url + "/")
    tab.wait_for_function(SHOWN, arg="#library img")
    tab.click("#filters summary")
    tab.select_option("#f-camera", "Canon EOS R5")
    tab.wait_for_function("() => document.querySelectorAll('#library li.tile').length === 2")
    assert sorted(_names(tab, "#library")) == ["horse.jpg", "motorcycle.jpg"]
    assert "camera: Canon EOS R5" in tab.inner_text("#chips")
    assert "camera=Canon+EOS+R5" in tab.url
    tab.screenshot(path=str(screenshots / "4-filters.png"))
    _search(tab, "a horse")
    assert set(_names(tab)) <= {"horse.jpg", "motorcycle.jpg"}
    assert _names(tab)[0] == "horse.jpg"
    tab.fill("#f-since", "2024-01-01")
    tab.dispatch_event("#f-since", "change")
    tab.wait_for_function("() => /^0 results/.test(document.getElementById('status').textContent)")
    assert tab.locator("#grid li.tile").count() == 0 and "since=2024-01-01" in tab.url
    tab.locator("#chips .chip", has_text="camera").click()
    tab.wait_for_function("() => !location.search.includes('camera')")
    _wait_results(tab, "a horse")
    assert set(_names(tab)) <= {"chelsea.jpg", "coffee.jpg"}  # only 2024 photos are left
    assert errors == []


def _swipe(tab: Any, start: float, end: float, y: float) -> None:
    """A real one-finger swipe (touch events through the DevTools protocol)."""
    cdp = tab.context.new_cdp_session(tab)

    def touch(kind: str, x: float | None = None) -> None:
        points = [] if x is None else [{"x": x, "y": y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", start)
    for step in range(1, 11):
        touch("touchMove", start + (end - start) * step / 10)
        tab.wait_for_timeout(16)
    touch("touchEnd")


def test_phone_width_swipe_and_no_keyboard_hints(
    browser: Any, served_photos: tuple[str, Path], screenshots: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    errors = _watch(tab)
    tab.goto(served_photos[0] + "/")
    tab.wait_for_function(SHOWN, arg="#library img")
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert not tab.is_visible(".kbd-hint")
    tab.screenshot(path=str(screenshots / "5-phone-home.png"))
    tab.locator("#library li.tile .open").first.tap()
    tab.wait_for_function("() => location.search.includes('photo=')")
    tab.wait_for_function(SHOWN, arg=".pswp__img")
    before = tab.evaluate("() => new URLSearchParams(location.search).get('photo')")
    tab.wait_for_selector("body[data-viewer=open]")  # the opening animation ignores gestures
    _swipe(tab, 330, 40, 420)
    tab.wait_for_function(
        "(id) => new URLSearchParams(location.search).get('photo') !== id", arg=before
    )
    tab.wait_for_timeout(400)
    tab.screenshot(path=str(screenshots / "6-phone-viewer.png"))
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= 390
    context.close()
    assert errors == []


def test_uploads_more_like_this_and_a_failed_upload(
    page: tuple[Any, list[str], str], served_photos: tuple[str, Path], tmp_path: Path,
    screenshots: Path,
) -> None:  # fmt: skip
    tab, errors, url = page
    tab.goto(url + "/")
    original = Image.open(served_photos[1] / "2024" / "Paris" / "coffee.jpg")
    width, height = original.size
    edited = original.crop((width // 10, height // 10, width, height)).resize((300, 225))
    upload = tmp_path / "my edited copy.jpg"
    ImageEnhance.Brightness(edited).enhance(1.25).save(upload, quality=70)
    tab.set_input_files("#file", str(upload))
    _wait_results(tab, "by image")
    assert _names(tab)[0] == "coffee.jpg" and tab.is_visible("#reference-image")
    # a failed upload clears the preview, the "searching by" line and the old results
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    tab.set_input_files("#file", str(broken))
    tab.wait_for_selector("#error:not([hidden])")
    assert not tab.is_visible("#reference") and tab.locator("#grid li.tile").count() == 0
    # more like this: the box empties, a thumbnail of the reference shows, the URL says it
    _search(tab, "a motorcycle")
    first = tab.locator("#grid li.tile").first
    first_id = first.get_attribute("data-id")
    first.hover()
    first.locator(".like").click()
    _wait_results(tab, "like motorcycle.jpg")
    assert tab.input_value("#q") == "" and f"like={first_id}" in tab.url
    assert first_id in tab.get_attribute("#reference-image", "src")
    assert "More like motorcycle.jpg" in tab.inner_text("#reference")
    ids = tab.eval_on_selector_all("#grid li.tile", "els => els.map(e => e.dataset.id)")
    assert ids and first_id not in ids
    tab.screenshot(path=str(screenshots / "7-more-like-this.png"))
    assert [e for e in errors if "422" not in e] == []  # the broken upload's answer


def test_the_duplicates_page_marks_the_original_as_keeper(
    page: tuple[Any, list[str], str], screenshots: Path
) -> None:
    tab, errors, url = page
    tab.goto(url + "/dupes")
    tab.wait_for_selector(".dupe-group")
    group = tab.locator(".dupe-group", has_text="rocket").first
    keeper = group.locator(".member.keeper")
    assert keeper.locator(".file").inner_text() == "rocket.jpg"
    assert "keep" in keeper.locator(".badge").inner_text()
    others = group.locator(".member:not(.keeper) .file").all_inner_texts()
    assert "rocket (small copy).jpg" in others
    assert "keep rocket.jpg" in group.locator("h2").inner_text()
    tab.wait_for_function(SHOWN, arg=".dupe-group img")
    tab.screenshot(path=str(screenshots / "8-dupes.png"))
    assert errors == []


def test_the_duplicates_page_moves_a_copy_to_trash_only_after_confirming(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:
    import imagevec
    from imagevec.serve.app import create_app
    from imagevec.serve.runner import BackgroundServer
    from imagevec.service import QueryService

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(photos / "original.png")
    Image.new("RGB", (160, 120), (200, 30, 30)).save(photos / "small copy.png")
    Image.new("RGB", (64, 48), (20, 20, 220)).save(photos / "blue.png")
    with imagevec.ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(photos)
    service = QueryService.open(tmp_path / "db", roots=[photos], cache_dir=tmp_path / "c")
    app = create_app(service, trash_dir=tmp_path / "trash")
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    tab = context.new_page()
    errors = _watch(tab)
    answers = iter([False, True])  # the first confirmation is refused
    tab.on("dialog", lambda d: d.accept() if next(answers) else d.dismiss())
    with BackgroundServer(app) as url:
        tab.goto(url + "/dupes?threshold=0.99")
        tab.wait_for_selector(".member .trash")
        assert "trash folder" in tab.inner_text("#mode")
        tab.screenshot(path=str(screenshots / "9-dupes-trash.png"))
        copy = tab.locator(".member:not(.keeper)")
        copy.locator(".trash").click()
        tab.wait_for_timeout(500)
        assert (photos / "small copy.png").exists()  # refused: nothing moved
        copy.locator(".trash").click()
        tab.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Moved')"
        )
        assert not (photos / "small copy.png").exists()
        assert (tmp_path / "trash" / "photos" / "small copy.png").exists()
        assert tab.locator(".dupe-group").count() == 0
    context.close()
    service.close()
    assert errors == []
