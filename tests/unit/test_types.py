"""One request per verb: SearchRequest + PhotoFilter and AddOptions, built by every surface."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagevec.cli import cli
from imagevec.errors import ConfigError
from imagevec.index import ImageIndex
from imagevec.types import AddOptions, PhotoFilter, SearchRequest


def test_keywords_build_the_request_and_leave_load_options() -> None:
    request, rest = SearchRequest.build("a cat", k=3, camera="iphone", where={"a": 1}, policy=None)
    assert request == SearchRequest(
        text="a cat", k=3, filter=PhotoFilter(where={"a": 1}, camera="iphone")
    )
    assert rest == {"policy": None} and request.kind == "text"
    again, _ = SearchRequest.build(request, k=5, since="2024-01-01")  # keywords replace fields
    assert (again.text, again.k, again.filter.camera, again.filter.since) == (
        "a cat",
        5,
        "iphone",
        "2024-01-01",
    )


def test_a_request_names_exactly_one_query() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        _ = SearchRequest(text="a", like="b").kind
    with pytest.raises(ConfigError, match="exactly one"):
        _ = SearchRequest().kind


def test_filter_values_are_normalised_for_the_wire() -> None:
    photos = PhotoFilter(since=dt.date(2024, 6, 1), folder=Path("/p/2024"), camera="")
    assert photos.to_json() == {"since": "2024-06-01", "folder": "/p/2024"}  # "" is no filter
    assert not PhotoFilter() and photos
    with pytest.raises(ConfigError, match="unknown filter"):
        PhotoFilter.from_mapping({"colour": "red"})
    with pytest.raises(ConfigError, match="where"):
        PhotoFilter(where="album=2024")  # type: ignore[arg-type]


def test_add_options_from_keywords() -> None:
    options, rest = AddOptions.build(AddOptions(prune=True), exclude="*.png", num_workers=2)
    assert options == AddOptions(prune=True, exclude=("*.png",)) and rest == {"num_workers": 2}
    assert AddOptions(max_megapixels=1.5).max_pixels == 1_500_000
    with pytest.raises(ConfigError):
        AddOptions(max_megapixels=0)
    with pytest.raises(ConfigError):
        AddOptions(on_error="ignore")


def test_index_takes_the_request_object_and_the_keywords(tmp_path: Path, colour_dir: Path) -> None:
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(colour_dir, AddOptions(exclude=("blue.png",)))
        assert report.indexed == 2
        by_object = index.search(SearchRequest(text="red", k=1))
        by_keywords = index.search("red", k=1)
        assert [h.id for h in by_object] == [h.id for h in by_keywords]
        folder = index.search("red", k=5, folder=tmp_path / "elsewhere")
        assert folder == []


@pytest.mark.parametrize("command", ["search", "dupes"])
def test_every_filter_is_a_cli_option(command: str) -> None:
    text = CliRunner().invoke(cli, [command, "--help"]).output
    for field in PhotoFilter.options():
        assert f"--{field.name.replace('_', '-')}" in text


def test_every_filter_is_an_http_and_mcp_field() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("mcp")
    from imagevec.mcp.arguments import SearchArgs, SimilarArgs
    from imagevec.serve.schemas import FilterQuery, SearchIn

    names = {field.name for field in dataclasses.fields(PhotoFilter)}
    for model in (SearchIn, FilterQuery, SearchArgs, SimilarArgs):
        assert names <= set(model.model_fields), model.__name__
    body = SearchIn(text="x", since="2024-01-01", where={"a": 1})
    assert body.photo_filter == PhotoFilter(where={"a": 1}, since="2024-01-01")


def test_orientation_filter_from_the_stored_size(tmp_path: Path) -> None:
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, size in (("wide", (64, 32)), ("tall", (32, 64)), ("square", (40, 40))):
        Image.new("RGB", size, (200, 20, 20)).save(photos / f"{name}.png")
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(photos)
        for shape in ("landscape", "portrait", "square"):
            (hit,) = index.search("red", k=5, orientation=shape)
            assert Path(hit.uri).stem == {"landscape": "wide", "portrait": "tall"}.get(shape, shape)
    with pytest.raises(ConfigError, match="one of landscape, portrait, square"):
        PhotoFilter(orientation="panorama")
    result = CliRunner().invoke(cli, ["search", "red", "--orientation", "panorama"])
    assert result.exit_code == 2 and "panorama" in result.output
