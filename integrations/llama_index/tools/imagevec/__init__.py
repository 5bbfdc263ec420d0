"""LlamaIndex agent tool over an imagevec index: ``create_image_search_tool``.

Example:
    >>> from llama_index.tools.imagevec import create_image_search_tool
    >>> tool = create_image_search_tool(index, path_roots=["/srv/photos"])   # doctest: +SKIP
"""

from llama_index.tools.imagevec.base import create_image_search_tool

__all__ = ["create_image_search_tool"]
