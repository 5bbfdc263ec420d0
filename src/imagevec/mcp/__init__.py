"""The MCP server: the photo index as Model Context Protocol tools and resources.

Any MCP client (desktop assistants, IDE agents, LangGraph through ``langchain-mcp-adapters``,
LlamaIndex through ``llama-index-tools-mcp``) gets four read-only tools — ``search_photos``,
``find_similar_photos``, ``get_photo`` (image content a multimodal model sees) and
``describe_photo_index`` — and each photo as the resource ``imagevec://photo/{id}``. It runs
on the same :class:`~imagevec.service.QueryService` as ``imagevec serve``: one loaded model,
one place that turns a request into a search. Needs the ``mcp`` extra.

Example (what ``imagevec mcp --db imagevec-db --roots ~/Photos`` does):
    >>> import anyio
    >>> from imagevec.mcp import McpOptions, build_server, run_stdio
    >>> from imagevec.service import QueryService
    >>> with QueryService.open("imagevec-db", roots=["~/Photos"]) as service:  # doctest: +SKIP
    ...     anyio.run(run_stdio, build_server(service, McpOptions()))
"""

from __future__ import annotations

from imagevec.mcp.server import INDEX_URI, build_server, http_app, run_http, run_stdio
from imagevec.mcp.tools import TOOL_SPECS, McpOptions, PhotoTools

__all__ = [
    "INDEX_URI",
    "TOOL_SPECS",
    "McpOptions",
    "PhotoTools",
    "build_server",
    "http_app",
    "run_http",
    "run_stdio",
]
