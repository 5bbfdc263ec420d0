"""The four tools, on the shared query service: search, similar, get a photo, describe.

Each tool is a plain (blocking) method taking its parsed arguments and returning MCP content:
compact JSON text first, then pictures. Every search goes through
:meth:`imagevec.service.QueryService.search` and every picture through its ``image`` /
``thumbnail`` (files read only under the roots, re-encoded as JPEG); nothing here embeds,
queries the store or opens a file itself.

Example:
    >>> tools = PhotoTools(service, McpOptions())                          # doctest: +SKIP
    >>> tools.call("search_photos", {"query": "a cat", "k": 3})            # doctest: +SKIP
    [TextContent(type='text', text='{"query":{"text":"a cat"},"count":3,...}')]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mcp import types
from pydantic import BaseModel

from imagevec.errors import ConfigError, ImagevecError, UnsafeSourceError
from imagevec.mcp import arguments as args
from imagevec.mcp.content import image_content, metadata_for_model, results_payload, text_content
from imagevec.mcp.describe import describe_index
from imagevec.mcp.refs import PHOTO_URI_PREFIX, classify_image, photo_id, photo_uri
from imagevec.search.query import Part, Query, parse_query
from imagevec.types import SearchRequest

if TYPE_CHECKING:
    from imagevec.service import QueryService
    from imagevec.types import Hit

__all__ = ["TOOL_SPECS", "McpOptions", "PhotoTools", "ToolSpec"]

Content = list[types.TextContent | types.ImageContent]


@dataclass(frozen=True)
class McpOptions:
    """Caps of the MCP server.

    Attributes:
        max_image_side: longest side, in pixels, of any picture handed out.
        max_image_bytes: encoded size cap of one picture (it is shrunk until it fits).
        thumbnail_size: longest side of result thumbnails.
        max_thumbnails: thumbnails per search result, at most.
        allow_urls: let ``find_similar_photos`` fetch ``http(s)`` URLs (SSRF-safe fetcher).
        resource_page: photos per page of ``resources/list``.
    """

    max_image_side: int = 1024
    max_image_bytes: int = 1_000_000
    thumbnail_size: int = 128
    max_thumbnails: int = 12
    allow_urls: bool = False
    resource_page: int = 100

    def __post_init__(self) -> None:
        for name in ("max_image_side", "max_image_bytes", "thumbnail_size", "resource_page"):
            if getattr(self, name) < 1:
                raise ConfigError(f"McpOptions.{name} must be positive, got {getattr(self, name)}")
        if self.max_image_side < 64:
            raise ConfigError(f"McpOptions.max_image_side must be >= 64, got {self.max_image_side}")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it: name, description, argument model, annotations."""

    name: str
    title: str
    description: str
    arguments: type[BaseModel]

    def to_mcp(self) -> types.Tool:
        """The ``tools/list`` entry (read-only, closed-world, idempotent)."""
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            inputSchema=_schema(self.arguments),
            annotations=types.ToolAnnotations(
                title=self.title,
                readOnlyHint=True,
                destructiveHint=False,
                idempotentHint=True,
                openWorldHint=False,
            ),
        )


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("description", None)  # the class docstring is for developers, not the model
    return schema


_SYNTAX = Query.SYNTAX.replace("<id or path of an indexed photo>", "<a result's id>")

TOOL_SPECS = (
    ToolSpec(
        "search_photos",
        "Search photos",
        "Search the user's indexed photo collection by a short description of what a photo "
        "shows, or by a combined query. " + _SYNTAX + " Returns the best matches as JSON "
        "(rank, id, resource URI, file path, score = cosine similarity, size, format and any "
        "metadata), optionally with small thumbnails. Then call get_photo with a result's id "
        "to look at it, or find_similar_photos for more like it. Call describe_photo_index "
        "first to learn which queries this index answers well.",
        args.SearchArgs,
    ),
    ToolSpec(
        "find_similar_photos",
        "Find similar photos",
        "Find the photos most similar to an example picture: a search result's id (or "
        "imagevec://photo/<id>), a file under the server's photo folders, or a "
        "data:image/...;base64 URI. An indexed photo is matched by its stored vector (its "
        "file is not read) and is itself left out of the results. Returns JSON results like "
        "search_photos.",
        args.SimilarArgs,
    ),
    ToolSpec(
        "get_photo",
        "Look at a photo",
        "Return one indexed photo as an image you can see (a resized JPEG), with its path "
        "and metadata as JSON. Use it to check what a search result really shows before "
        "answering.",
        args.GetPhotoArgs,
    ),
    ToolSpec(
        "describe_photo_index",
        "Describe the photo index",
        "Describe the photo collection: how many photos, which encoder, what kinds of text "
        "query it answers well, the metadata fields usable in filters, and the limits.",
        args.DescribeArgs,
    ),
)


class PhotoTools:
    """The tools of one server: argument parsing, service calls, content building.

    Args:
        service: the query service (shared with ``imagevec serve``).
        options: caps.
    """

    def __init__(self, service: QueryService, options: McpOptions | None = None) -> None:
        self.service = service
        self.options = options or McpOptions()
        self._handlers: dict[str, Callable[[Any], Content]] = {
            "search_photos": self.search_photos,
            "find_similar_photos": self.find_similar_photos,
            "get_photo": self.get_photo,
            "describe_photo_index": self.describe_photo_index,
        }

    def specs(self) -> list[types.Tool]:
        """The ``tools/list`` entries."""
        return [spec.to_mcp() for spec in TOOL_SPECS]

    def call(self, name: str, arguments: dict[str, Any] | None) -> Content:
        """Run a tool by name (blocking).

        Raises:
            ImagevecError: unknown tool, bad arguments, unreadable picture...: a tool error.
        """
        spec = next((s for s in TOOL_SPECS if s.name == name), None)
        if spec is None:
            known = ", ".join(s.name for s in TOOL_SPECS)
            raise ConfigError(f"unknown tool {name!r} (this server has {known})")
        return self._handlers[name](args.parse(spec.arguments, arguments))

    # ------------------------------------------------------------------ tools
    def search_photos(self, a: args.SearchArgs) -> Content:
        """Text or combined search (``like:`` / ``image:`` parts read like examples)."""
        query = self._query(a.query)
        hits = self.service.search(SearchRequest(query=query, k=a.k, filter=a.photo_filter()))
        plain = len(query.parts) == 1 and query.parts[0] == Part("text", a.query)
        return self._results({"text" if plain else "query": a.query}, hits, a.thumbnails)

    def find_similar_photos(self, a: args.SimilarArgs) -> Content:
        """Search by an example picture (an indexed one by its stored vector)."""
        kind, value, shown = self._example(a.image)
        hits = self.service.search(SearchRequest(k=a.k, filter=a.photo_filter(), **{kind: value}))
        return self._results({kind: shown}, hits, a.thumbnails)

    def get_photo(self, a: args.GetPhotoArgs) -> Content:
        """One photo as image content, with its metadata."""
        id_ = self._photo(a.id)
        record = self.service.record(id_)
        side = min(a.max_size, self.options.max_image_side)
        data, mime, sent = self._fit(id_, side)
        info = {
            "id": id_,
            "resource": photo_uri(id_),
            "uri": record["uri"],
            "sent_max_side": sent,
            **metadata_for_model(record["metadata"]),
        }
        return [text_content(info), image_content(data, mime)]

    def describe_photo_index(self, a: args.DescribeArgs) -> Content:
        """The index, the encoder, advice on queries, limits."""
        limits = {**asdict(self.options), "max_k": args.MAX_K}
        limits.pop("resource_page")
        payload = describe_index(self.service.info(), self.service.records(0, 50), limits)
        return [text_content(payload)]

    # ------------------------------------------------------------------ helpers
    def _query(self, text: str) -> Query:
        """A combined query in :class:`~imagevec.search.Query`'s syntax, its ``image:`` and
        ``like:`` parts resolved as :meth:`find_similar_photos` resolves its example."""
        parts = []
        for part in parse_query(text).parts:
            value = str(part.value)
            if part.kind == "image":
                kind, resolved, _ = self._example(value)
                part = Part(kind, resolved, part.weight)  # type: ignore[arg-type]
            elif part.kind == "like" and value.startswith(PHOTO_URI_PREFIX):
                part = Part("like", photo_id(value), part.weight)
            parts.append(part)
        return Query(tuple(parts))

    def _example(self, image: str) -> tuple[str, Any, str]:
        """``(kind, value, shown)``: ``("like", id, id)`` for an indexed photo (by id, photo
        URI or indexed path: its file is never read), else ``("image", what the service
        decodes, what to echo)``.

        Raises:
            UnsafeSourceError: a path that is not indexed while the server has no roots, or
                a refused URL.
        """
        ref = classify_image(image, allow_urls=self.options.allow_urls)
        if ref.kind == "path":
            indexed = self.service.id_for_path(ref.value)
            if indexed is not None:
                return "like", indexed, indexed
            if self.service.roots is None:
                raise UnsafeSourceError(
                    ref.value,
                    "this server reads no files outside the index (start it with --roots); "
                    "give a search result's id or a data URI instead",
                )
            return "image", ref.value, ref.value
        if ref.kind == "id":
            return "like", ref.value, ref.value
        if ref.kind == "url":
            return "image", self.service.fetch_query_image(ref.value), "url"
        return "image", ref.value, ref.kind

    def read_photo(self, ref: str) -> tuple[bytes, str]:
        """The resource ``imagevec://photo/<id>``: JPEG bytes within the caps, and the MIME."""
        data, mime, _ = self._fit(photo_id(ref), self.options.max_image_side)
        return data, mime

    def _photo(self, ref: str) -> str:
        kind = classify_image(ref, allow_urls=False)
        if kind.kind == "id":
            return kind.value
        if kind.kind == "path":
            indexed = self.service.id_for_path(kind.value)
            if indexed is not None:
                return indexed
        return photo_id(ref)  # raises: explains what an id looks like

    def _fit(self, id_: str, side: int) -> tuple[bytes, str, int]:
        """Render the photo at ``side`` px, shrinking until it fits the byte cap."""
        while True:
            picture = self.service.image(id_, max_size=side)
            if len(picture.data) <= self.options.max_image_bytes or side <= 64:
                break
            side = max(64, int(side * 0.7))
        if len(picture.data) > self.options.max_image_bytes:
            raise ConfigError(f"photo {id_!r} does not fit in {self.options.max_image_bytes} bytes")
        return picture.data, picture.mime, side

    def _results(self, query: dict[str, Any], hits: list[Hit], thumbnails: bool) -> Content:
        payload = results_payload(query, hits)
        pictures: list[types.TextContent | types.ImageContent] = []
        if thumbnails:
            shown = []
            for hit in hits[: self.options.max_thumbnails]:
                try:
                    thumb = self.service.thumbnail(hit.id, self.options.thumbnail_size)
                except ImagevecError:
                    continue  # file gone since indexing: the JSON result still stands
                shown.append(hit.id)
                pictures.append(image_content(thumb.data, thumb.mime))
            payload["thumbnails"] = {
                "ids": shown,
                "note": "the images after this text are these results' thumbnails, in order",
            }
        return [text_content(payload), *pictures]
