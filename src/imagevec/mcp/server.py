"""The MCP server: tools and photo resources over stdio or streamable HTTP (127.0.0.1).

Built on the MCP Python SDK's low-level :class:`mcp.server.lowlevel.Server`, so that the
tool schemas, the errors and the resource listing (paginated) are exactly ours. Every tool
call runs the blocking service in a worker thread; any failure becomes a tool error (or a
JSON-RPC error for resources), never a crash of the server.

Example:
    >>> from imagevec.service import QueryService
    >>> service = QueryService.open("imagevec-db", roots=["~/Photos"])      # doctest: +SKIP
    >>> anyio.run(run_stdio, build_server(service))                          # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import anyio
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl

from imagevec.errors import ConfigError, ImagevecError
from imagevec.mcp.refs import PHOTO_URI_PREFIX, photo_uri
from imagevec.mcp.tools import McpOptions, PhotoTools
from imagevec.store.record import FILENAME

if TYPE_CHECKING:
    from imagevec.service import QueryService

__all__ = ["INDEX_URI", "LOOPBACK_HOSTS", "build_server", "http_app", "run_http", "run_stdio"]

logger = logging.getLogger("imagevec.mcp")

INDEX_URI = "imagevec://index"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
RESOURCE_NOT_FOUND = -32002
INSTRUCTIONS = (
    "Search the user's local photo collection. Start with describe_photo_index to learn what "
    "text queries work with this index; search_photos finds photos by a description, "
    "find_similar_photos finds photos like an example, get_photo shows you a photo. Results "
    "are JSON with each photo's id; photos are also resources imagevec://photo/{id}."
)


def _version() -> str:
    try:
        return version("imagevec")
    except PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "0"


def build_server(service: QueryService, options: McpOptions | None = None) -> Server[Any, Any]:
    """An MCP server exposing ``service`` (tools, photo resources, the index description).

    Args:
        service: the query service; the caller keeps it open while the server runs.
        options: caps (image sizes and bytes, thumbnails, URL fetching, page size).
    """
    tools = PhotoTools(service, options)
    page = tools.options.resource_page
    server: Server[Any, Any] = Server("imagevec", version=_version(), instructions=INSTRUCTIONS)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return tools.specs()

    @server.call_tool(validate_input=False)  # our pydantic models say which argument is bad
    async def call_tool(name: str, arguments: dict[str, Any]) -> list[Any]:
        try:
            return await anyio.to_thread.run_sync(tools.call, name, arguments)
        except ImagevecError as exc:
            raise ToolCallError(str(exc)) from None
        except Exception as exc:
            logger.exception("tool %s failed", name)
            raise ToolCallError(f"internal error in {name}: {type(exc).__name__}: {exc}") from None

    @server.list_resources()
    async def list_resources(request: types.ListResourcesRequest) -> types.ListResourcesResult:
        cursor = request.params.cursor if request.params else None
        offset = _offset(cursor)
        records = await anyio.to_thread.run_sync(service.records, offset, page)
        resources = [_photo_resource(record) for record in records]
        if offset == 0:
            resources.insert(0, _index_resource())
        more = len(records) == page
        return types.ListResourcesResult(
            resources=resources, nextCursor=str(offset + page) if more else None
        )

    @server.list_resource_templates()
    async def list_resource_templates() -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(
                uriTemplate=PHOTO_URI_PREFIX + "{id}",
                name="photo",
                title="An indexed photo",
                description="A photo of the index by its id (as search results give it), "
                f"as a JPEG resized to at most {tools.options.max_image_side} px.",
                mimeType="image/jpeg",
            )
        ]

    @server.read_resource()
    async def read_resource(uri: AnyUrl) -> Iterable[ReadResourceContents]:
        text = str(uri)
        try:
            if text == INDEX_URI:
                result = await anyio.to_thread.run_sync(tools.call, "describe_photo_index", {})
                return [ReadResourceContents(result[0].text, "application/json")]  # type: ignore[union-attr]
            if text.startswith(PHOTO_URI_PREFIX):
                data, mime = await anyio.to_thread.run_sync(tools.read_photo, text)
                return [ReadResourceContents(data, mime)]
        except ImagevecError as exc:
            raise McpError(types.ErrorData(code=RESOURCE_NOT_FOUND, message=str(exc))) from None
        message = f"unknown resource {text[:200]!r}: photos are {PHOTO_URI_PREFIX}<id>"
        raise McpError(types.ErrorData(code=RESOURCE_NOT_FOUND, message=message))

    return server


class ToolCallError(Exception):
    """A tool call failed; its message goes back to the model as a tool error."""


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message="invalid cursor"))
    return int(cursor)


def _photo_resource(record: dict[str, Any]) -> types.Resource:
    meta = record.get("metadata") or {}
    name = str(meta.get(FILENAME) or os.path.basename(str(record.get("uri", ""))))
    return types.Resource(
        uri=photo_uri(record["id"]),  # type: ignore[arg-type]
        name=name or record["id"],
        description=str(record.get("uri", "")),
        mimeType="image/jpeg",
    )


def _index_resource() -> types.Resource:
    return types.Resource(
        uri=INDEX_URI,  # type: ignore[arg-type]
        name="index",
        title="The photo index",
        description="What describe_photo_index returns: count, encoder, query advice, limits.",
        mimeType="application/json",
    )


# ---------------------------------------------------------------------- transports
async def run_stdio(server: Server[Any, Any]) -> None:
    """Serve over stdin/stdout (what desktop clients launch).

    Only protocol messages reach stdout: file descriptor 1 is pointed at stderr for the
    whole run (``print`` from any library, native code too), and the protocol writes to a
    private duplicate of the original stdout.
    """
    from mcp.server.stdio import stdio_server

    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    saved, sys.stdout = sys.stdout, sys.stderr
    out = io.TextIOWrapper(os.fdopen(protocol_fd, "wb"), encoding="utf-8")
    try:
        async with stdio_server(stdout=anyio.wrap_file(out)) as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        sys.stdout = saved


def http_app(server: Server[Any, Any], *, host: str = "127.0.0.1", port: int = 8701) -> Any:
    """A Starlette app serving ``server`` at ``/mcp`` (streamable HTTP), loopback only.

    Requests whose ``Host`` or ``Origin`` is not this loopback address are refused (DNS
    rebinding protection).

    Raises:
        ConfigError: ``host`` is not a loopback address (there is no authentication).
    """
    import contextlib

    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    if host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"the MCP server binds only to a loopback address ({', '.join(LOOPBACK_HOSTS)}), "
            f"not {host!r}: it has no authentication"
        )
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"],
        allowed_origins=[
            f"http://127.0.0.1:{port}",
            f"http://localhost:{port}",
            f"http://[::1]:{port}",
        ],
    )
    manager = StreamableHTTPSessionManager(app=server, security_settings=security)

    class _Endpoint:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        async with manager.run():
            yield

    return Starlette(routes=[Route("/mcp", endpoint=_Endpoint())], lifespan=lifespan)


class ClientGone(logging.Filter):
    """Drop the SDK's error records whose cause is a client that went away (a closed or
    broken stream): a disconnect is routine, not an error with a traceback."""

    GONE = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, self.GONE)


def quiet_disconnects() -> None:
    """Install :class:`ClientGone` on the MCP SDK's HTTP transport loggers (idempotent)."""
    for name in ("mcp.server.streamable_http", "mcp.server.streamable_http_manager"):
        target = logging.getLogger(name)
        if not any(isinstance(f, ClientGone) for f in target.filters):
            target.addFilter(ClientGone())


async def run_http(server: Server[Any, Any], *, host: str = "127.0.0.1", port: int = 8701) -> None:
    """Serve over streamable HTTP at ``http://host:port/mcp`` until interrupted (a client
    that disconnects is not logged as an error)."""
    from imagevec.serve.limits import bounded_server, uvicorn_config

    quiet_disconnects()
    app = http_app(server, host=host, port=port)
    config = uvicorn_config(app, host=host, port=port, lifespan="on")
    await bounded_server(config).serve()
