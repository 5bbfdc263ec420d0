"""Library errors as the command line says them: the facts, then the flag to try.

Library messages speak Python (``ImageIndex(url=...)``, ``collection=NAME``); here the
structured fields of each error are turned into ``--model``, ``--collection``, ``--db``...
"""

from __future__ import annotations

from imagevec.errors import (
    CollectionNotFoundError,
    EncoderMismatchError,
    ImagevecError,
    NoServerError,
    StoreDamagedError,
    StoreLockedError,
    StoreNotFoundError,
)


def error_text(exc: ImagevecError) -> str:
    """What ``imagevec`` prints after ``error:`` for a library error."""
    if isinstance(exc, EncoderMismatchError):
        where = f"collection {exc.collection!r} in {exc.location}"
        if exc.expected is None:
            return (
                f"{where} has no imagevec encoder stamp (imagevec did not write it); "
                "use another --collection"
            )
        model = exc.expected.get("model")
        return (
            f"{where} was written by encoder {model!r} ({exc.diff}). Open it with --model "
            f"{model} (or without --model: the collection knows its encoder), or index into a "
            "new collection with --collection NAME."
        )
    if isinstance(exc, StoreNotFoundError):
        return (
            f"no index at {exc.path}: create it with `imagevec index PHOTOS --db {exc.path}`, "
            "or point to another index with --db DIR (or IMAGEVEC_DB=DIR)"
        )
    if isinstance(exc, CollectionNotFoundError):
        known = ", ".join(exc.available) or "none"
        return (
            f"no collection {exc.collection!r} in {exc.location} (collections: {known}); "
            "index photos first, or pick one with --collection"
        )
    if isinstance(exc, NoServerError) and exc.server == "Chroma":
        return f"{exc} (start one with `chroma run --path DIR`, or use --db DIR)"
    if isinstance(exc, StoreLockedError):
        what = "cannot write the index at" if exc.write else "the index at"
        return (
            f"{what} {exc.path}: {exc.holder}. Wait for it to finish (or stop it). To search "
            f"and add photos while it is served, run `imagevec serve --db {exc.path}`: other "
            "imagevec commands then go through the server (or serve the folder with "
            "`chroma run --path DIR` and use --chroma-url URL)."
        )
    if isinstance(exc, StoreDamagedError):
        where = f"collection {exc.collection!r} in " if exc.collection else ""
        return (
            f"the index {where}{exc.location} is damaged: {exc.reason}. "
            f"`imagevec check --repair --db {exc.location}` rebuilds the vectors from the "
            "image files"
        )
    return str(exc)
