"""Combined, weighted queries: a :class:`Query` is a sum of weighted parts (text, image,
indexed item), and a small syntax for writing one on a command line or in a chat box.

Meaning (the same for every encoder): a combined query ranks each photo by the weighted sum
of its parts' own scores, ``sum(w_i * score_i(photo))``; a negative weight (``-`` / ``--sub``)
pushes photos like that part down. Each part's score is taken on the scale that part can reach
in the encoder's space, so that weights compare like with like (see
:func:`imagevec.search.combine.query_vector`).

Syntax (:func:`parse_terms`): each term is ``[WEIGHT:][KIND:]VALUE``:

* ``WEIGHT`` a number (``2:``, ``0.5:``, ``-1:``); default 1, ``--sub`` negates it;
* ``KIND`` ``text:``, ``image:`` (a picture file, URL or data URI) or ``like:`` (an indexed
  item by id or path: its stored vector, never re-embedded);
* without a kind, an existing image file (or a name ending in an image extension, when it
  has no spaces) is an image and anything else is text. Write ``text:2:30 pm`` for a text
  that starts like a weight.

One string can hold several terms separated by `` + `` and `` - `` (spaces around the sign):
``"2:golden retriever + ./pool.jpg - night"``.

Example:
    >>> q = Query.text("golden retriever", 2) + Query.image("pool.jpg") - Query.text("night")
    >>> [(p.kind, p.weight) for p in q.parts]
    [('text', 2.0), ('image', 1.0), ('text', -1.0)]
    >>> parse_query("2:golden retriever + image:pool.jpg - night") == q
    True
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from imagevec.errors import ConfigError
from imagevec.io.files import is_image_file

__all__ = ["KINDS", "MAX_PARTS", "Part", "Query", "parse_query", "parse_term", "parse_terms"]

Kind = Literal["text", "image", "like"]
KINDS: tuple[str, ...] = ("text", "image", "like")
_WEIGHT = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*:(?!//)")
_SPLIT = re.compile(r"\s+([+-])\s+")
MAX_PARTS = 16
"""Most parts in one query: each text or image part is a forward pass, and a server runs
one query at a time, so a query of hundreds of parts would stall every other search."""
IsFile = Callable[[str], bool]


@dataclass(frozen=True)
class Part:
    """One weighted part of a query.

    Attributes:
        kind: ``text``, ``image`` (any input the loader takes) or ``like`` (an indexed id or
            path).
        value: the text, the image source, or the id/path.
        weight: how much this part counts; negative pushes matches down.
    """

    kind: Kind
    value: Any
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"query part kind must be one of {KINDS}, got {self.kind!r}")
        weight = float(self.weight)
        if not math.isfinite(weight):
            raise ConfigError(f"query part weight must be a finite number, got {self.weight!r}")
        object.__setattr__(self, "weight", weight)
        if self.kind == "text" and (not isinstance(self.value, str) or not self.value.strip()):
            raise ConfigError(f"a text query part must be a non-empty string, got {self.value!r}")


@dataclass(frozen=True)
class Query:
    """A combined query: weighted parts, built with ``+``, ``-`` and ``*``.

    Example:
        >>> q = 2 * Query.text("beach") + Query.like("photos/cat.jpg")
        >>> index.search(query=q, k=10)                               # doctest: +SKIP
    """

    parts: tuple[Part, ...]

    #: The string syntax in two lines, for a tool description a language model reads.
    SYNTAX: ClassVar[str] = (
        "Combine parts with ' + ' or ' - ' (spaces around): plain words, 'image:<picture>' or "
        "'like:<id or path of an indexed photo>' (its stored vector), each optionally "
        "weighted 'N:', e.g. '2:golden retriever + like:<id> - night'."
    )

    def __post_init__(self) -> None:
        if not self.parts:
            raise ConfigError("a query needs at least one part")
        if len(self.parts) > MAX_PARTS:
            raise ConfigError(
                f"a query has at most {MAX_PARTS} parts, this one has {len(self.parts)}"
            )
        if all(part.weight == 0 for part in self.parts):
            raise ConfigError("every part of the query has weight 0")

    @classmethod
    def text(cls, text: str, weight: float = 1.0) -> Query:
        """A query of one text."""
        return cls((Part("text", text, weight),))

    @classmethod
    def image(cls, source: Any, weight: float = 1.0) -> Query:
        """A query of one picture (path, URL, bytes, PIL image, array...)."""
        return cls((Part("image", source, weight),))

    @classmethod
    def like(cls, ref: str | os.PathLike[str], weight: float = 1.0) -> Query:
        """A query of one indexed item (id or path): its stored vector."""
        return cls((Part("like", ref, weight),))

    def __add__(self, other: Query) -> Query:
        if not isinstance(other, Query):
            return NotImplemented
        return Query(self.parts + other.parts)

    def __sub__(self, other: Query) -> Query:
        if not isinstance(other, Query):
            return NotImplemented
        return self + (-1.0) * other

    def __mul__(self, factor: float) -> Query:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            return NotImplemented
        return Query(tuple(Part(p.kind, p.value, p.weight * factor) for p in self.parts))

    __rmul__ = __mul__

    def __neg__(self) -> Query:
        return self * -1.0

    def describe(self) -> str:
        """The query in the term syntax, e.g. ``2:golden retriever + image:pool.jpg``."""
        out = []
        for i, part in enumerate(self.parts):
            sign = "-" if part.weight < 0 else "+"
            weight = abs(part.weight)
            head = "" if weight == 1 else f"{weight:g}:"
            kind = "" if part.kind == "text" else f"{part.kind}:"
            value = part.value if isinstance(part.value, (str, os.PathLike)) else "<image>"
            term = f"{head}{kind}{os.fspath(value)}"
            out.append(term if i == 0 and sign == "+" else f"{sign} {term}")
        return " ".join(out)


def _looks_like_image(value: str, is_file: IsFile) -> bool:
    if value.startswith(("data:image/", "file://")):
        return True
    one_token = not any(ch.isspace() for ch in value)
    return is_image_file(value) and (one_token or is_file(value))


def parse_term(term: str, sign: float = 1.0, *, is_file: IsFile = os.path.isfile) -> Part:
    """One ``[WEIGHT:][KIND:]VALUE`` term (see the module docstring) -> a :class:`Part`.

    Args:
        is_file: decides whether a name with spaces and an image extension is an existing
            file (an image part) or text; a server passes one that looks only under the
            folders it serves, so the answer never tells whether some other file exists.

    Raises:
        ConfigError: an empty term or an empty value.
    """
    if not isinstance(term, str) or not term.strip():
        raise ConfigError(f"empty query term {term!r}")
    weight, rest = 1.0, term.strip()
    match = _WEIGHT.match(rest)
    if match:
        weight, rest = float(match.group(1)), rest[match.end() :].lstrip()
    head, colon, tail = rest.partition(":")
    if colon and head.lower() in KINDS:
        kind, value = head.lower(), tail.strip()
    else:
        kind, value = ("image" if _looks_like_image(rest, is_file) else "text"), rest
    if not value:
        raise ConfigError(f"query term {term!r} has no value after its prefix")
    if kind == "image" and value.startswith("~"):
        value = os.path.expanduser(value)
    return Part(kind, value, sign * weight)  # type: ignore[arg-type]


def parse_query(text: str, *, is_file: IsFile = os.path.isfile) -> Query:
    """A whole query in one string: terms joined by `` + `` / `` - `` (spaces around);
    ``is_file`` as in :func:`parse_term`.

    Example:
        >>> parse_query("beach - 0.5:people").describe()
        'beach - 0.5:people'
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"empty query {text!r}")
    pieces = _SPLIT.split(" " + text.strip())
    first = pieces[0].strip()
    if len(pieces) // 2 + 1 > MAX_PARTS:
        raise ConfigError(
            f"a query has at most {MAX_PARTS} parts, this one has {len(pieces) // 2 + 1}"
        )
    parts = [parse_term(first, is_file=is_file)] if first else []
    for sign, term in zip(pieces[1::2], pieces[2::2], strict=True):
        parts.append(parse_term(term, -1.0 if sign == "-" else 1.0, is_file=is_file))
    return Query(tuple(parts))


def parse_terms(
    query: str | None = None, add: Iterable[str] = (), sub: Iterable[str] = ()
) -> Query:
    """The CLI form: a main query string (may itself hold ``+``/``-`` terms), plus ``--add``
    and ``--sub`` terms.

    Example:
        >>> parse_terms("2:golden retriever", add=["image:pool.jpg"], sub=["night"]).describe()
        '2:golden retriever + image:pool.jpg - night'
    """
    parts: list[Part] = list(parse_query(query).parts) if query else []
    parts += [parse_term(term) for term in add]
    parts += [parse_term(term, -1.0) for term in sub]
    return Query(tuple(parts))
