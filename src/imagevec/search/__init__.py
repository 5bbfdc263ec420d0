"""What a query can be, beyond one text or one image: indexed items ("more like this"),
weighted combinations of parts, and near-duplicate groups.

:class:`~imagevec.index.ImageIndex` stays the facade; this package holds the logic.
"""

from __future__ import annotations

from imagevec.search.items import Item, lookup

__all__ = ["Item", "lookup"]
