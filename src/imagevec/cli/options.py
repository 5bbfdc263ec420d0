"""Options shared by the ``imagevec`` commands that open an index, and small helpers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from imagevec.store.chroma import DEFAULT_COLLECTION
from imagevec.types import PhotoFilter

F = TypeVar("F", bound=Callable[..., Any])


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def _default_db() -> Path:
    from imagevec.store.home import default_db

    return default_db()


#: How ``--db``'s default reads in ``--help``.
DB_DEFAULT_TEXT = "./imagevec-db if it exists, else ~/.local/share/imagevec/db"


def db_option(
    help: str = "Folder of the embedded Chroma store (env IMAGEVEC_DB). One process writes "
    "it at a time; use a Chroma server for concurrent access.",
) -> Callable[[F], F]:
    """``--db DIR``: the embedded store; default: the user's one (:mod:`imagevec.store.home`)."""
    return click.option(
        "--db",
        type=click.Path(file_okay=False, path_type=Path),
        default=_default_db,
        show_default=DB_DEFAULT_TEXT,
        envvar="IMAGEVEC_DB",
        help=help,
    )


def note_store(db: Path | None) -> None:
    """Name a store found in the working folder on stderr (the default is the user's one)."""
    from imagevec.store.home import legacy_db

    ctx = click.get_current_context(silent=True)
    if db is None or ctx is None or "db" not in ctx.params:
        return
    from click.core import ParameterSource

    if ctx.get_parameter_source("db") == ParameterSource.DEFAULT and legacy_db() == db:
        click.echo(f"imagevec: using the index in this folder, {db}", err=True)


def store_options(func: F) -> F:
    """``--db``, ``--chroma-url`` and ``--collection``."""
    return _apply(
        func,
        [
            db_option(),
            click.option(
                "--chroma-url",
                metavar="URL",
                envvar="IMAGEVEC_CHROMA_URL",
                help="Use a Chroma server instead of --db, e.g. http://localhost:8000 "
                "(start one with `chroma run --path DIR`; env IMAGEVEC_CHROMA_URL).",
            ),
            click.option(
                "--collection",
                "-c",
                default=DEFAULT_COLLECTION,
                show_default=True,
                help="Collection name (3-512 characters of letters, digits, '.', '_', '-').",
            ),
        ],
    )


PRECISION_KEY = "imagevec.precision"


def _keep_precision(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[PRECISION_KEY] = value
    return value


def chosen_precision() -> str:
    """The ``--precision`` of the running command (``fp32`` outside one)."""
    ctx = click.get_current_context(silent=True)
    return str(ctx.meta.get(PRECISION_KEY, "fp32")) if ctx is not None else "fp32"


def model_options(func: F) -> F:
    """``--model``, ``--device``, ``--dtype`` and ``--precision`` (read by
    :func:`open_index` through :func:`chosen_precision`, so commands need no parameter)."""
    return _apply(
        func,
        [
            click.option(
                "--model",
                "-m",
                metavar="MODEL",
                help="Encoder: 'default' (bundled, offline), a short name from `imagevec "
                "models`, 'hf:<hub id>' or a local folder. Not needed for an existing "
                "collection: it remembers the encoder that wrote it. [default: default]",
            ),
            click.option(
                "--device",
                default="auto",
                show_default=True,
                help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps.",
            ),
            click.option(
                "--dtype",
                type=click.Choice(["float32", "bfloat16", "float16"]),
                default="float32",
                show_default=True,
                help="Model precision (half precision is for GPUs).",
            ),
            click.option(
                "--precision",
                type=click.Choice(["fp32", "bf16", "int8"]),
                default="fp32",
                show_default=True,
                expose_value=False,
                callback=_keep_precision,
                help="Inference precision: fp32; bf16 where the CPU/GPU runs it natively; int8 "
                "where it keeps answers (mean cosine >= 0.99 to fp32; refused for 'default'). "
                "Collections written in one are searched in another.",
            ),
        ],
    )


def output_options(func: F) -> F:
    """``--json``, ``--progress/--no-progress`` and ``--verbose``."""
    return _apply(
        func,
        [
            click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout."),
            click.option(
                "--progress/--no-progress",
                default=None,
                help="Show progress bars on stderr. [default: when stderr is a terminal]",
            ),
            click.option(
                "--verbose", "-v", is_flag=True, help="Log each write and other details to stderr."
            ),
        ],
    )


def filter_options(func: F) -> F:
    """One option per :class:`~imagevec.types.PhotoFilter` text filter (``--folder``,
    ``--since``, ``--until``, ``--camera``...), named, explained and checked as declared
    there; the command gets them as keywords (:func:`photo_filter` collects them)."""
    options: list[Callable[[F], F]] = []
    for field in PhotoFilter.options():
        choices = field.metadata["choices"]
        options.append(
            click.option(
                "--" + field.name.replace("_", "-"),
                field.name,
                metavar=field.metadata["metavar"],
                type=click.Choice(choices) if choices else _TYPES.get(field.metadata["metavar"]),
                help=field.metadata["help"],
            )
        )
    return _apply(func, options)


def photo_filter(where: str | None, given: dict[str, Any]) -> PhotoFilter:
    """The :class:`~imagevec.types.PhotoFilter` of ``--where`` and the :func:`filter_options`
    found in a command's keywords ``given``."""
    names = {field.name for field in PhotoFilter.options()}
    return PhotoFilter(where=parse_where(where), **{k: v for k, v in given.items() if k in names})


def want_progress(progress: bool | None) -> bool:
    """The ``--progress`` choice, defaulting to whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def setup_logging(verbose: bool) -> None:
    """Send imagevec's log records to stderr when ``--verbose``."""
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("imagevec: %(message)s"))
        logger = logging.getLogger("imagevec")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def open_index(
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None = None,
    device: str = "auto",
    dtype: str = "float32",
) -> Any:
    """An :class:`~imagevec.ImageIndex` for the command's options; while ``imagevec serve``
    owns the folder, a client of that server (searches and adds go through it)."""
    from imagevec.errors import StoreLockedError
    from imagevec.index import ImageIndex

    check_store_choice(chroma_url)
    if chroma_url is None:
        note_store(db)
    try:
        return ImageIndex(
            None if chroma_url else db,
            url=chroma_url,
            collection=collection,
            encoder=model,
            device=device,
            dtype=dtype,
            precision=chosen_precision(),
        )
    except StoreLockedError:
        if chroma_url:
            raise
        from imagevec.serve.owned import connect_owner

        served = connect_owner(db)
        if served is None:
            raise
        return served


def check_store_choice(chroma_url: str | None) -> None:
    """Refuse ``--chroma-url`` with an explicit ``--db``: one of them would be ignored.

    ``--db`` on the command line, or both from the environment, is refused; an
    ``IMAGEVEC_DB`` in the environment gives way to a ``--chroma-url`` typed on the line.
    """
    ctx = click.get_current_context(silent=True)
    if chroma_url is None or ctx is None or "db" not in ctx.params:
        return
    from click.core import ParameterSource

    db_from = ctx.get_parameter_source("db")
    url_from = ctx.get_parameter_source("chroma_url")
    env = ParameterSource.ENVIRONMENT
    if db_from == ParameterSource.COMMANDLINE or (db_from == env and url_from == env):
        raise click.UsageError(
            "give either --db (an embedded store folder) or --chroma-url (a Chroma server), "
            "not both"
        )


def parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("album=2024", ...)`` -> ``{"album": "2024"}`` (values stay strings)."""
    meta = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--meta")
        meta[key.strip()] = value
    return meta


def parse_where(text: str | None) -> dict[str, Any] | None:
    """The ``--where`` JSON object (a Chroma metadata filter), or None."""
    if not text:
        return None
    try:
        where = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--where") from exc
    if not isinstance(where, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--where")
    return where


class DateType(click.ParamType):
    """``--since`` / ``--until``: an ISO date (``2024-06-01``) or date-time; a bad one is a
    usage error (exit 2) before anything is opened."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from imagevec.errors import ConfigError
        from imagevec.search.filters import parse_when

        try:
            parse_when(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        return value


DATE = DateType()
#: Click types of the PhotoFilter options, by metavar (the others are plain text).
_TYPES: dict[str, click.ParamType] = {"DATE": DATE}
