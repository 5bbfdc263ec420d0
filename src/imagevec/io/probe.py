"""Cheap checks Pillow does not make: the real size of ICO frames before any is decoded, and
the grey fill a JPEG decoder leaves where the data ran out.

* An ICO/CUR directory says 256 x 256 (or less) for each frame, but a PNG frame inside may be
  12000 x 12000, and Pillow decodes the largest frame inside ``Image.open``. :func:`ico_frame_sizes`
  reads each frame's own header so that the pixel cap is checked before that.
* A JPEG whose scan data ends early (cut off, or a header that claims more rows) decodes
  without an error: libjpeg fills the missing blocks with zero coefficients, i.e. exact grey
  128. :func:`grey_fill_rows` measures such a band at the bottom, so the loader can keep the
  picture and record a warning rather than index a half-grey image silently.

Example:
    >>> ico_frame_sizes(b"not an icon")
    []
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["ICO_MAGICS", "grey_fill_rows", "ico_frame_sizes"]

ICO_MAGICS = (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")
"""Leading bytes of ICO and CUR files."""

_PNG = b"\x89PNG\r\n\x1a\n"
_FILL = 128  # the value zero DCT coefficients decode to


def ico_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """``(width, height)`` of every frame of an ICO/CUR file, from the frames' own headers.

    Returns ``[]`` for data that is not an icon; frames whose header cannot be read are left
    out (Pillow reports them when it decodes).
    """
    if len(data) < 6 or data[:4] not in ICO_MAGICS:
        return []
    count = int.from_bytes(data[4:6], "little")
    sizes = []
    for number in range(count):
        entry = data[6 + 16 * number : 22 + 16 * number]
        if len(entry) < 16:
            break
        offset = int.from_bytes(entry[12:16], "little")
        head = data[offset : offset + 24]
        if head[:8] == _PNG and len(head) >= 24:
            sizes.append((int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")))
        elif len(head) >= 12:  # BITMAPINFOHEADER: the height counts the AND mask too
            width = int.from_bytes(head[4:8], "little", signed=True)
            height = int.from_bytes(head[8:12], "little", signed=True)
            sizes.append((abs(width), abs(height) // 2))
    return sizes


def grey_fill_rows(img: Image.Image) -> int:
    """How many full-width rows at the bottom of a decoded JPEG are the decoder's grey fill.

    Only for ``RGB`` and ``L`` JPEGs (other modes fill with other values). A picture that is
    grey all over gives 0: no part of it shows where decoding stopped.
    """
    if img.format != "JPEG" or img.mode not in ("RGB", "L") or img.height < 2:
        return 0
    width, height = img.size
    if not (np.asarray(img.crop((0, height - 1, width, height))) == _FILL).all():
        return 0  # the common case: one row looked at
    pixels = np.asarray(img).reshape(height, -1)
    grey = (pixels == _FILL).all(axis=1)
    if grey.all():
        return 0
    return int(height - 1 - np.flatnonzero(~grey)[-1])
