"""A server with --token in a real browser: the page is refused without it, works after
opening ``/?token=...`` once (HttpOnly cookie), thumbnails included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.served import build_colour_index, serving

pytestmark = pytest.mark.slow
TOKEN = "browser-token-0123456789"


def test_token_login_then_search(browser: Any, tmp_path: Path, screenshots: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in (("red", (220, 10, 10)), ("green", (10, 200, 10)), ("blue", (10, 10, 230))):
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    build_colour_index(photos, tmp_path / "db")
    with serving(tmp_path / "db", tmp_path / "cache", roots=[photos], token=TOKEN) as (url, _):
        context = browser.new_context()
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        assert tab.goto(url + "/").status == 401
        tab.goto(f"{url}/?token={TOKEN}")
        assert tab.url == url + "/"  # redirected: the token is not left in the address bar
        cookie = next(c for c in context.cookies() if c["name"] == "imagevec_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        tab.wait_for_function("() => document.getElementById('info').textContent.includes('3')")
        tab.fill("#q", "green")
        tab.press("#q", "Enter")
        tab.wait_for_function(
            "() => [...document.querySelectorAll('#grid img')].length === 3 &&"
            " [...document.querySelectorAll('#grid img')].every(i => i.naturalWidth > 0)"
        )
        assert tab.locator("#grid li .name").first.inner_text() == "green.png"
        tab.screenshot(path=str(screenshots / "6-token.png"))
        context.close()
        assert errors == []
