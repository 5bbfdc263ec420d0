"""Index beyond one machine with Ray Data: same records as ``ImageIndex.add``, written to a
Chroma server or to Parquet shards.

Needs ``pip install "imagevec[ray]"``. Importing this package does not import Ray.

Example:
    >>> from imagevec.scale import index_with_ray
    >>> report = index_with_ray(["/shared/photos"], chroma_url="http://chroma:8000",
    ...                         collection="products", concurrency=4, num_gpus=1)  # doctest: +SKIP
"""

from __future__ import annotations

from imagevec.scale.pipeline import index_with_ray
from imagevec.scale.resources import StagePlan, plan_resources

__all__ = ["StagePlan", "index_with_ray", "plan_resources"]
