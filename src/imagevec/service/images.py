"""Pictures the service hands out: thumbnails cached on disk by content hash, resized images.

Only files of indexed records are ever read, and only through the safe loader under the
service's roots (:class:`~imagevec.io.policy.SourcePolicy` with ``path_roots``). Output is
always re-encoded (JPEG), so EXIF (GPS...) never leaves the server and the browser gets
a format it shows; the EXIF orientation is applied first.

Example:
    >>> cache = ThumbnailCache("~/.cache/imagevec/thumbnails")          # doctest: +SKIP
    >>> cache.get("ab12...", "/photos/cat.jpg", 256, policy).mime        # doctest: +SKIP
    'image/jpeg'
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagevec.io.policy import SourcePolicy

if TYPE_CHECKING:
    from imagevec.io.budget import PixelBudget

__all__ = ["ImageData", "ThumbnailCache", "default_cache_dir", "render_jpeg"]

_HASH = re.compile(r"[0-9a-f]{16,128}")
_QUALITY = 82


@dataclass(frozen=True)
class ImageData:
    """Encoded image bytes and their MIME type (e.g. ``image/jpeg``)."""

    data: bytes
    mime: str


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imagevec/thumbnails`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imagevec" / "thumbnails"


def render_jpeg(
    uri: str, max_size: int | None, policy: SourcePolicy, *, budget: PixelBudget | None = None
) -> ImageData:
    """Load ``uri`` safely, fit it in ``max_size`` x ``max_size`` (None: keep), as JPEG bytes;
    with a ``budget``, its decoded pixels count against it until the JPEG is made.

    Raises:
        ImageLoadError: the file is gone, outside the roots, corrupt or too large.
    """
    import contextlib

    from imagevec.io.decode import load_image

    with budget.hold() if budget is not None else contextlib.nullcontext() as ticket:
        image = load_image(uri, policy=policy, draft_size=max_size, budget=ticket)
        if max_size is not None:
            image.thumbnail((max_size, max_size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=_QUALITY)
        del image
    return ImageData(buffer.getvalue(), "image/jpeg")


class ThumbnailCache:
    """JPEG thumbnails on disk, one file per (content hash, size); writes are atomic.

    The key is the record's ``sha256`` metadata, so a renamed or duplicated photo reuses
    its thumbnail and an edited one (new hash after re-indexing) gets a new one.

    Args:
        folder: where thumbnails live (created on first write).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()

    def path(self, sha256: str, size: int) -> Path | None:
        """The cache file for a hash and size (None for a malformed hash: never a path)."""
        if not _HASH.fullmatch(sha256):
            return None
        return self.folder / sha256[:2] / f"{sha256}-{size}.jpg"

    def get(
        self,
        sha256: str,
        uri: str,
        size: int,
        policy: SourcePolicy,
        *,
        budget: PixelBudget | None = None,
    ) -> ImageData:
        """The thumbnail of the indexed file ``uri`` (content ``sha256``), made on a miss."""
        target = self.path(sha256, size)
        if target is not None and target.is_file():
            return ImageData(target.read_bytes(), "image/jpeg")
        image = render_jpeg(uri, size, policy, budget=budget)
        if target is not None:
            self._write(target, image.data)
        return image

    def _write(self, target: Path, data: bytes) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except OSError:  # a read-only cache only costs speed
            return
