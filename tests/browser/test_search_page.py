"""The search page in a real browser: text search, image upload, more like this, the viewer.

Screenshots are saved (see the ``screenshots`` fixture) so a person can look at the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

pytestmark = pytest.mark.slow

ALL_THUMBNAILS_SHOWN = (
    "() => { const imgs = [...document.querySelectorAll('#grid img')];"
    " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
)


@pytest.fixture
def page(browser: Any, served_photos: tuple[str, Path]) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page on the served index, and the console errors it logs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(served_photos[0] + "/")
    tab.wait_for_function("() => /\\d+ images/.test(document.getElementById('info').textContent)")
    yield tab, errors
    context.close()


def _wait_done(tab: Any, label: str) -> None:
    """Wait for the finished status line ("N results <label>..."), then for every thumbnail
    (the old grid stays on screen while a search runs: waiting for it alone would race)."""
    tab.wait_for_function(
        "(label) => { const s = document.getElementById('status').textContent;"
        " return /^\\d+ results/.test(s) && s.includes(label); }",
        arg=label,
    )
    tab.wait_for_function(ALL_THUMBNAILS_SHOWN)


def _names(tab: Any) -> list[str]:
    return tab.locator("#grid li .name").all_inner_texts()


def _search(tab: Any, text: str) -> None:
    tab.fill("#q", text)
    tab.press("#q", "Enter")
    _wait_done(tab, text)


def test_text_search_shows_the_right_photo_first(
    page: tuple[Any, list[str]], screenshots: Path
) -> None:
    tab, errors = page
    info = tab.inner_text("#info")
    assert "default" in info and "images" in info
    _search(tab, "a tabby cat")
    assert _names(tab)[0] == "chelsea.jpg"
    first = tab.locator("#grid li").first
    assert first.locator(".rank").inner_text() == "#1"
    assert 0 < float(first.locator(".score").inner_text()) <= 1
    tab.screenshot(path=str(screenshots / "1-text-search.png"), full_page=True)
    assert errors == []


def test_uploading_an_edited_copy_finds_the_original(
    page: tuple[Any, list[str]], served_photos: tuple[str, Path], tmp_path: Path, screenshots: Path
) -> None:
    tab, errors = page
    original = Image.open(served_photos[1] / "coffee.jpg")
    width, height = original.size
    edited = original.crop((width // 10, height // 10, width, height)).resize((300, 225))
    edited = ImageEnhance.Brightness(edited).enhance(1.25)
    upload = tmp_path / "my edited copy.jpg"
    edited.save(upload, quality=70)
    tab.set_input_files("#file", str(upload))
    _wait_done(tab, "by image")
    assert _names(tab)[0] == "coffee.jpg"
    assert tab.is_visible("#query-preview")
    tab.screenshot(path=str(screenshots / "2-image-upload.png"), full_page=True)
    assert errors == []


def test_more_like_this_and_the_viewer(page: tuple[Any, list[str]], screenshots: Path) -> None:
    tab, errors = page
    _search(tab, "a motorcycle")
    first = tab.locator("#grid li").first
    first_id = first.get_attribute("data-id")
    assert _names(tab)[0] == "motorcycle.jpg"
    first.locator(".like").click()
    _wait_done(tab, "like motorcycle.jpg")
    ids = tab.eval_on_selector_all("#grid li", "els => els.map(e => e.dataset.id)")
    assert ids and first_id not in ids  # the item itself is left out
    tab.screenshot(path=str(screenshots / "3-more-like-this.png"), full_page=True)
    # keyboard: Enter on a thumbnail opens the viewer, arrows move, Escape closes
    tab.locator("#grid li .open").first.focus()
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#detail[open]")
    tab.wait_for_function("() => document.getElementById('detail-image').naturalWidth > 0")
    assert "filename" in tab.inner_text("#detail-meta")
    title = tab.inner_text("#detail-title")
    tab.keyboard.press("ArrowRight")
    assert tab.inner_text("#detail-title") != title and "#2" in tab.inner_text("#detail-title")
    tab.screenshot(path=str(screenshots / "4-viewer.png"))
    tab.keyboard.press("Escape")
    tab.wait_for_selector("#detail:not([open])", state="attached")
    assert errors == []


def test_phone_width_and_folder_filter(
    browser: Any, served_photos: tuple[str, Path], screenshots: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(served_photos[0] + "/")
    tab.wait_for_function("() => document.querySelectorAll('#folder option').length > 1")
    tab.select_option("#folder", str(served_photos[1]))
    _search(tab, "a rocket")
    assert _names(tab)[0] == "rocket.jpg"
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= 390
    tab.screenshot(path=str(screenshots / "5-phone.png"), full_page=False)
    context.close()
    assert errors == []
