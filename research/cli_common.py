"""What every `shoal` subcommand shares: the --lake/--json/--debug options and the error wrapper."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated

import typer

from engine.errors import ShoalError
from research.output import err_console

LakeOpt = Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix (else "
                                               "$SHOAL_LAKE, else data/).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


def command(fn: Callable) -> Callable:
    """Turn `ShoalError` (and bad values) into a one-line message and exit 2, unless --debug."""

    @wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ShoalError, ValueError) as e:
            if kwargs.get("debug"):
                raise
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            err_console.print("(run again with --debug for the traceback)", style="dim")
            raise typer.Exit(2) from None

    return run
