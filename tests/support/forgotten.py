"""An index whose query photo's file is gone and whose encoder must not run again.

For the "more like this" tests of the agent tools: the similar-image tools must answer an
indexed photo from its stored vector (no re-embedding, no file read). After indexing, the
first photo's file is deleted and the encoder's forward passes raise.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imagevec
from tests.support.color_encoder import ColorEncoder


class ReEmbeddedError(AssertionError):
    """The encoder ran although the query was an indexed photo."""


def _refuse(*args: object, **kwargs: object) -> None:
    raise ReEmbeddedError("the encoder ran: an indexed photo must be searched by its stored vector")


@contextmanager
def forgotten_photo_index(
    photos: list[Path], folder: Path
) -> Iterator[tuple[imagevec.ImageIndex, Path, str]]:
    """``(index, gone, gone_id)``: copies of ``photos`` indexed with a fresh colour encoder
    in ``folder``; the first copy is deleted and every forward pass raises
    :class:`ReEmbeddedError`."""
    library = folder / "library"
    library.mkdir(parents=True)
    for photo in photos:
        shutil.copy(photo, library / photo.name)
    encoder = ColorEncoder()
    with imagevec.ImageIndex(folder / "db", encoder=encoder) as index:
        report = index.add(library)
        assert report.ok and index.count() == len(photos), report.summary()
        gone = library / photos[0].name
        (gone_id,) = [id_ for id_, meta in index.iter_metadata() if meta["uri"] == str(gone)]
        gone.unlink()
        for name in ("embed_images", "embed_texts", "forward_images", "forward_texts"):
            setattr(encoder, name, _refuse)
        yield index, gone, gone_id
