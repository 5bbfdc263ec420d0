"""What a query can be, beyond one text or one image: indexed items ("more like this"),
weighted combinations of parts, and near-duplicate groups.

:class:`~imagevec.index.ImageIndex` stays the facade; this package holds the logic.
"""

from __future__ import annotations

from imagevec.search.combine import query_vector
from imagevec.search.items import Item, lookup
from imagevec.search.query import Part, Query, parse_query, parse_term, parse_terms

__all__ = [
    "Item",
    "Part",
    "Query",
    "lookup",
    "parse_query",
    "parse_term",
    "parse_terms",
    "query_vector",
]
