"""How `drs-orch` fails: one clear line and an exit code, never a traceback.

Every command runs inside `GuardedGroup.invoke`, the one place that turns an exception a command did not
handle into a message:

- an AWS error (botocore: no credentials, no region, an API error, an endpoint out of reach), raised
  directly or as the cause of one of our adapters' errors: one line naming it and what to do, exit
  `EXIT_INVALID` (2), like every other input or environment the command cannot work with;
- anything else is a bug: one line naming the error and the log file that holds its traceback, exit
  `EXIT_FAILED` (1).

Exit codes of every command: 0 done (a plan COMPLETED, a check agreed); 1 the command ran and the outcome
is not a success (a plan FAILED or CANCELLED, a local run that stalled, timed out or was interrupted, a
command the control function rejected, a difference found, a clean-up deferred) or an internal error;
2 nothing could be done with what was given (an invalid plan, profile or option, a refused --recovery
without --confirm, an unknown execution, no local run listening, an AWS error).
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

EXIT_FAILED = 1
EXIT_INVALID = 2
LOG_DIR_VARIABLE = "DRS_ORCH_LOG_DIR"
LOG_LEVEL_VARIABLE = "DRS_ORCH_LOG_LEVEL"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_current_log: list[Path] = []  # the log file of the local run in progress (its traceback goes there too)


def log_dir() -> Path:
    """Where log files go: `$DRS_ORCH_LOG_DIR`, else the temporary directory."""
    return Path(os.environ.get(LOG_DIR_VARIABLE) or tempfile.gettempdir())


def log_level(option: str | None) -> str:
    """The level of a local run's log: `--log-level`, else `$DRS_ORCH_LOG_LEVEL`, else INFO. Raises
    typer.BadParameter for a level that is not one of LOG_LEVELS."""
    level = (option or os.environ.get(LOG_LEVEL_VARIABLE) or "INFO").upper()
    if level not in LOG_LEVELS:
        source = "--log-level" if option else f"${LOG_LEVEL_VARIABLE}"
        raise typer.BadParameter(f"{source} {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


@contextmanager
def run_log(path: Path) -> Iterator[Path]:
    """Send the functions' structured logs (Powertools' logger) to `path` while a local run runs: the
    console belongs to the live progress. An internal error's traceback is appended to the same file."""
    import logging

    from orchestrator.observability import logger

    handler = logger.registered_handler
    stream = path.open("a", encoding="utf-8")
    previous = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
    _current_log.append(path)
    try:
        yield path
    finally:
        _current_log.remove(path)
        if isinstance(handler, logging.StreamHandler) and previous is not None:
            handler.setStream(previous)
        stream.close()


def write_traceback(exc: BaseException, path: Path | None = None) -> Path | None:
    """Append `exc`'s traceback to `path` (default: the running local run's log, else a new file in
    `log_dir()`). Returns the file, or None when no file could be written."""
    target = path or (_current_log[-1] if _current_log else None)
    if target is None:
        moment = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = log_dir() / f"drs-orch-error-{moment}-{os.getpid()}.log"
    try:
        with target.open("a", encoding="utf-8") as log:
            log.write(f"{datetime.now(UTC).isoformat()} drs-orch internal error\n")
            log.write("".join(traceback.format_exception(exc)))
    except OSError:
        return None
    return target


def _botocore_error(exc: BaseException) -> BaseException | None:
    """The botocore exception `exc` is or was raised from (our adapters raise domain errors `from` it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BotoCoreError | ClientError):
            found: BaseException = current
            return found
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def aws_message(exc: BaseException) -> str | None:
    """One line for an AWS error (None: `exc` is not one)."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    error = _botocore_error(exc)
    if error is None:
        return None
    name = type(error).__name__
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        line = (
            f"AWS: no usable credentials ({name}: {error}): configure them (aws configure, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) for the account the stack is deployed in"
        )
    elif isinstance(error, NoRegionError):
        line = f"AWS: no region ({name}): pass --region, or set AWS_REGION"
    elif isinstance(error, EndpointConnectionError):
        line = f"AWS: cannot reach the endpoint ({name}: {error}): check the region and the network"
    elif isinstance(error, ClientError):
        details: dict[str, Any] = error.response.get("Error", {})
        code, message = details.get("Code", "error"), details.get("Message") or str(error)
        line = f"AWS {error.operation_name}: {code}: {message}"
    else:
        line = f"AWS: {name}: {error}"
    notes = [str(n) for n in getattr(exc, "__notes__", ())]
    return " ".join([line, *(f"({note})" for note in notes)]).replace("\r", " ").replace("\n", " ")


def fail(exc: Exception, console: Console | None = None) -> int:
    """Print one line for an exception no command handled; returns the exit code."""
    err = console or Console(stderr=True)
    message = aws_message(exc)
    if message is not None:
        err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
        return EXIT_INVALID
    log = write_traceback(exc)
    where = f"the traceback is in {log}" if log else "no log file could be written"
    summary = f"{type(exc).__name__}: {exc}".replace("\r", " ").replace("\n", " ")
    err.print(
        f"[red]drs-orch: internal error: {escape(summary)} ({escape(where)})[/red]", highlight=False, soft_wrap=True
    )
    return EXIT_FAILED


class GuardedGroup(TyperGroup):
    """The `drs-orch` command group: an exception no command handled ends in one line, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # the CLI's own endings and usage errors
            raise
        except Exception as exc:
            raise typer.Exit(fail(exc)) from None
