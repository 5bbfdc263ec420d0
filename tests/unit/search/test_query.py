"""Combined, weighted queries: the syntax, the meaning (weighted sum of part scores) and the
search facade, with the colour encoder on real photos and colour swatches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagevec
from imagevec.errors import ConfigError, NotIndexedError
from imagevec.index import ImageIndex
from imagevec.search import Part, Query, parse_query, parse_term, parse_terms


def test_terms_parse_weights_kinds_and_signs(tmp_path: Path) -> None:
    photo = tmp_path / "pool photo.jpg"
    Image.new("RGB", (8, 8)).save(photo)
    query = parse_terms("2:golden retriever", add=[str(photo), "like:abc"], sub=["0.5:night"])
    assert query.parts == (
        Part("text", "golden retriever", 2.0),
        Part("image", str(photo), 1.0),  # an existing image file, spaces and all
        Part("like", "abc", 1.0),
        Part("text", "night", -0.5),
    )
    assert parse_term("./pool.jpg") == Part("image", "./pool.jpg")  # one token, image name
    assert parse_term("text:2:30 pm") == Part("text", "2:30 pm")
    assert parse_term("a photo of cat.jpg") == Part("text", "a photo of cat.jpg")
    assert parse_term("https://x.org/a.jpg").kind == "image"
    assert parse_term("-1.5:IMAGE:a b.png") == Part("image", "a b.png", -1.5)
    assert parse_query("beach + 2:sunset - people").describe() == "beach + 2:sunset - people"
    assert parse_query("well-lit dog - cat").parts[0] == Part("text", "well-lit dog")


def test_the_syntax_help_tools_show_parses_as_it_says() -> None:
    example = Query.SYNTAX.split("e.g. ")[1].strip(" .'")
    assert parse_query(example.replace("<id>", "5b1c")) == (
        2 * Query.text("golden retriever") + Query.like("5b1c") - Query.text("night")
    )
    assert len(Query.SYNTAX) < 260  # two lines of a tool description


def test_query_algebra_and_bad_queries() -> None:
    q = 2 * Query.text("beach") - Query.like("id1") + Query.image("a.jpg", 0.5)
    assert [(p.kind, p.weight) for p in q.parts] == [("text", 2.0), ("like", -1.0), ("image", 0.5)]
    assert isinstance(q, imagevec.Query)
    for bad in ("", "   ", "2:", "like:"):
        with pytest.raises(ConfigError):
            parse_query(bad)
    with pytest.raises(ConfigError):
        Query.text("beach", 0.0)
    with pytest.raises(ConfigError):
        Part("video", "x")
    with pytest.raises(ConfigError):
        Query.text("x", float("nan"))


@pytest.fixture
def swatches(tmp_path: Path, photo_dir: Path) -> Path:
    """Red, blue and purple pictures next to real photos."""
    folder = tmp_path / "swatches"
    folder.mkdir()
    for name, rgb in (("red", (230, 0, 0)), ("blue", (0, 0, 230)), ("purple", (150, 0, 150))):
        Image.new("RGB", (48, 48), rgb).save(folder / f"{name}.png")
    for name in ("chelsea", "coffee", "astronaut"):
        shutil.copy(photo_dir / f"{name}.jpg", folder)
    return folder


@pytest.fixture
def index(tmp_path: Path, swatches: Path) -> ImageIndex:
    with ImageIndex(tmp_path / "db", encoder="test-color") as opened:
        opened.add(swatches)
        yield opened


def _stem(hit: imagevec.Hit) -> str:
    return Path(hit.uri).stem


def test_image_plus_text_moves_results_between_them(index: ImageIndex, swatches: Path) -> None:
    red = swatches / "red.png"
    assert _stem(index.search(image=red, k=1)[0]) == "red"
    mixed = index.search(query=f"{red} + blue", k=1)
    assert _stem(mixed[0]) == "purple"
    # weights shift the balance back, a subtraction pushes blue to the bottom
    assert _stem(index.search(query=f"3:{red} + blue", k=1)[0]) == "red"
    ranked = index.search(query=f"like:{red} - blue", k=10, include_self=True)
    order = [_stem(h) for h in ranked]
    assert order[-1] == "blue" and order.index("red") < order.index("purple")


def test_combined_score_is_the_weighted_sum_of_part_scores(
    index: ImageIndex, swatches: Path
) -> None:
    enc = index.encoder
    t = enc.embed_texts(["blue"])[0]
    v = enc.embed_images([swatches / "chelsea.jpg"])[0]
    q = 2 * Query.text("blue") + Query.image(swatches / "chelsea.jpg")
    hits = index.search(query=q, k=6)
    stored = {h.id: index.search(like=h.id, k=1, include_self=True)[0] for h in hits}
    assert len(stored) == 6
    # rank order equals the order of 2*cos(t, x) + cos(v, x)
    vectors = index._open(write=False).get_vectors([h.id for h in hits])
    sums = [2 * vectors[h.id][0] @ t + vectors[h.id][0] @ v for h in hits]
    assert sums == sorted(sums, reverse=True)
    direction = (2 * t + v) / np.linalg.norm(2 * t + v)
    assert hits[0].score == pytest.approx(float(vectors[hits[0].id][0] @ direction), abs=1e-4)


def test_single_part_queries_equal_the_plain_searches(index: ImageIndex, swatches: Path) -> None:
    plain = index.search(text="red", k=6)
    combined = index.search(query=Query.text("red"), k=6)
    assert [h.id for h in plain] == [h.id for h in combined]
    assert [h.score for h in plain] == pytest.approx([h.score for h in combined], abs=1e-5)
    like = index.search(query="like:" + str(swatches / "coffee.jpg"), k=3)
    assert "coffee" not in [_stem(h) for h in like] and len(like) == 3


def test_bad_combined_queries_are_clear_errors(index: ImageIndex, swatches: Path) -> None:
    with pytest.raises(ConfigError, match="cancels out"):
        index.search(query="red - red")
    with pytest.raises(NotIndexedError):
        index.search(query="red + like:nothing-here")
    with pytest.raises(ConfigError, match="exactly one"):
        index.search("red", query="blue")
    with pytest.raises(ConfigError):
        index.search(query=42)  # type: ignore[arg-type]


def test_cli_combined_query_and_paths_only(
    capsys: pytest.CaptureFixture[str], index: ImageIndex, swatches: Path, tmp_path: Path
) -> None:
    from imagevec.cli import EXIT_OK, EXIT_USAGE, main

    index.close()
    db = ["--db", str(tmp_path / "db")]
    red = str(swatches / "red.png")
    code = main(["search", "--image", red, "--add", "blue", "--paths-only", "-k", "2", *db])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK and out.splitlines()[0] == str(swatches / "purple.png")
    assert len(out.splitlines()) == 2
    code = main(["search", f"like:{red}", "--sub", "2:red", "--json", "-k", "20", *db])
    out, _ = capsys.readouterr()
    ranked = [Path(h["uri"]).stem for h in json.loads(out)]
    assert code == EXIT_OK and "red" not in ranked and ranked[-1] != "blue"
    html = tmp_path / "r.html"
    code = main(["search", "3:red", "--add", "0.5:blue", "--html", str(html), *db])
    assert code == EXIT_OK and "3:red + 0.5:blue" in html.read_text()
    assert main(["search", *db]) == EXIT_USAGE
    assert main(["search", "2:", *db]) == EXIT_USAGE
