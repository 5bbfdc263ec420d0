"""How the ``imagevec`` command shows results: plain text, JSON, or an HTML page.

JSON of a search (``imagevec search ... --json``) is a list, best first, of::

    {"rank": 1, "id": "<record id>", "uri": "/abs/path.jpg", "score": 0.41,
     "metadata": {"bytes": ..., "filename": ..., "format": ..., "height": ..., "mtime_ns": ...,
                  "sha256": ..., "uri": ..., "width": ..., <your fields>}}

``score`` is the cosine similarity (higher is better); keys are sorted.

The HTML page is self-contained: small JPEG thumbnails inlined as data URIs, each linking to
the original file (a ``file://`` URI); every text on it is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagevec import types
from imagevec.store.ingest import AddReport
from imagevec.store.record import BYTES, CAMERA, FORMAT, HEIGHT, SHA256, TAKEN, URI, WIDTH
from imagevec.types import Hit

if TYPE_CHECKING:
    from imagevec.search.dupes import DupeGroup

THUMBNAIL = 160


def printable(text: object) -> str:
    r"""``text`` safe for a terminal: control and format characters (escape sequences, bidi
    overrides, NUL, line separators) shown as ``\xNN`` / ``\uNNNN``, and file-name bytes that
    are not UTF-8 as ``\xNN``. JSON output never goes through this (it is exact).

    Example:
        >>> print(printable("a\x1b[31mred.jpg"), printable("caf\udce9.jpg"))
        a\x1b[31mred.jpg caf\xe9.jpg
    """
    out = []
    for char in str(text):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a file-name byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def hits_to_json(hits: Sequence[Hit]) -> str:
    """The documented JSON list ``[{rank, id, uri, score, metadata}]`` (see
    :func:`imagevec.hits_to_json`)."""
    return json.dumps(types.hits_to_json(hits), indent=2)


def hits_to_text(hits: Sequence[Hit]) -> str:
    """One line per hit: rank, score, path, size and format."""
    if not hits:
        return "no results"
    lines = []
    for rank, hit in enumerate(hits, 1):
        meta = hit.metadata
        size = f"{meta[WIDTH]}x{meta[HEIGHT]} {meta.get(FORMAT, '')}" if WIDTH in meta else ""
        line = f"{rank:>3}. {hit.score:6.3f}  {printable(hit.uri)}  {printable(size)}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def report_to_text(report: AddReport) -> str:
    """The end-of-run summary, then every file not indexed (and every warning), with its
    reason."""
    lines = [report.summary()]
    if report.seconds > 0 and report.embedded:
        lines[0] += f"; {report.embedded} embedded at {report.embedded / report.seconds:.1f} img/s"
    for label, entries in (
        ("failed", report.failed),
        ("failed earlier", report.failed_earlier),
        ("warning", report.warnings),
    ):
        lines += [f"  {label}: {printable(e.source)}: {printable(e.reason)}" for e in entries]
    gone = report.missing
    lines += [f"  gone (still indexed): {printable(uri)}" for uri in gone[:_GONE_SHOWN]]
    if len(gone) > _GONE_SHOWN:
        lines.append(f"  ... and {len(gone) - _GONE_SHOWN} more gone (--json lists them)")
    return "\n".join(lines)


_GONE_SHOWN = 20


def stamp_to_text(stamp: dict[str, Any] | None) -> str:
    """An encoder stamp in a few words."""
    if not stamp:
        return "no imagevec encoder stamp"
    return (
        f"encoder {stamp.get('model')} (dim {stamp.get('dim')}, {stamp.get('modalities')}, "
        f"fingerprint {stamp.get('fingerprint')}, written in {stamp.get('precision') or 'fp32'})"
    )


def _thumbnail(uri: str) -> str | None:
    """A small JPEG of the image as a data URI, or None if it cannot be read any more."""
    from imagevec.errors import ImageLoadError
    from imagevec.io.decode import load_image

    try:
        image = load_image(uri, draft_size=THUMBNAIL)
    except ImageLoadError:
        return None
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _file_href(uri: str) -> str:
    try:
        return Path(uri).as_uri()
    except ValueError:  # not absolute
        return uri


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em} .grid{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;width:180px;border:1px solid #ddd;border-radius:6px;padding:8px}
figure.query{border:2px solid #36c}
figure img{max-width:160px;max-height:160px;display:block;margin:auto}
.missing{width:160px;height:100px;background:#eee;display:flex;align-items:center;
justify-content:center;color:#888} figcaption{font-size:.8em;word-break:break-all}
.score{font-weight:bold;font-size:1em} details{font-size:.75em;color:#555}
"""


def hits_to_html(hits: Sequence[Hit], title: str, query_images: Sequence[str] = ()) -> str:
    """A self-contained HTML page of thumbnails with rank, score and path (all escaped),
    after the query's own pictures (``query_images``: paths; unreadable ones are named)."""
    esc = html.escape
    shown = []
    for source in query_images:
        thumb = _thumbnail(str(Path(source).expanduser()))
        picture = f'<img src="{thumb}" alt="query">' if thumb else ""
        shown.append(
            f'<figure class="query">{picture}<figcaption><div class="score">query</div>'
            f"<div>{esc(source)}</div></figcaption></figure>"
        )
    query_block = f'<div class="grid">{"".join(shown)}</div>' if shown else ""
    cards = []
    for rank, hit in enumerate(hits, 1):
        thumb = _thumbnail(hit.uri)
        picture = (
            f'<img src="{thumb}" alt="{esc(Path(hit.uri).name)}">'
            if thumb
            else '<div class="missing">file missing</div>'
        )
        meta = "".join(
            f"<div>{esc(str(k))}: {esc(str(v))}</div>"
            for k, v in hit.metadata.items()
            if k not in (URI, SHA256)
        )
        cards.append(
            f'<figure><a href="{esc(_file_href(hit.uri))}">{picture}</a><figcaption>'
            f'<div class="score">#{rank} &middot; {hit.score:.3f}</div>'
            f"<div>{esc(hit.uri)}</div><details><summary>metadata</summary>{meta}</details>"
            "</figcaption></figure>"
        )
    body = "".join(cards) or "<p>no results</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>{query_block}<p>score = cosine similarity, higher is better</p>"
        f'<div class="grid">{body}</div></body></html>\n'
    )


def groups_to_html(groups: Sequence[DupeGroup], title: str) -> str:
    """A self-contained HTML page: one row of thumbnails per duplicate group, keeper first."""
    esc = html.escape
    rows = []
    for number, group in enumerate(groups, 1):
        cards = []
        for position, hit in enumerate(group.members):
            thumb = _thumbnail(hit.uri)
            picture = (
                f'<img src="{thumb}" alt="{esc(Path(hit.uri).name)}">'
                if thumb
                else '<div class="missing">file missing</div>'
            )
            meta = hit.metadata
            size = f"{meta.get(WIDTH, '?')}x{meta.get(HEIGHT, '?')}, {meta.get(BYTES, '?')} B"
            size += "".join(f", {meta[key]}" for key in (TAKEN, CAMERA) if meta.get(key))
            label = f"keeper: {group.reason}" if position == 0 else f"{hit.score:.3f}"
            cards.append(
                f'<figure><a href="{esc(_file_href(hit.uri))}">{picture}</a><figcaption>'
                f'<div class="score">{label}</div><div>{esc(hit.uri)}</div>'
                f"<div>{esc(size)}</div></figcaption></figure>"
            )
        rows.append(
            f"<h2>group {number} &middot; {len(group.members)} photos</h2>"
            f'<div class="grid">{"".join(cards)}</div>'
        )
    body = "".join(rows) or "<p>no duplicates</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>keeper = the likely original: earliest "
        "capture time, then earliest file time, then camera EXIF present, then most pixels, "
        "then most bytes; other photos show their cosine similarity to it</p>"
        f"{body}</body></html>\n"
    )
