"""The ``steppe`` command: run a function on the embedded engine from a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click

from steppe._cli.logs import LEVELS, log_to_stderr
from steppe._cli.progress import ProgressPrinter
from steppe._cli.running import MEMORY, RunCommand, StoppedWaiting
from steppe._cli.targets import load_target
from steppe._cli.triggers import choose_start

__all__ = ["main"]

# Exit statuses when the command stops waiting for an unfinished run, as timeout(1) and shells use them.
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130


@click.group()
@click.version_option(package_name="steppe")
def main() -> None:
    """steppe: durable step functions with exact static types."""


@main.command()
@click.argument("target")
@click.option("--event", "event_name", default=None, help="Name of the event to send [default: the only trigger's].")
@click.option("--data", default=None, help="The event's data, a JSON object [default: {}].")
@click.option("--db", "database", default=MEMORY, show_default=True, help="SQLite file for durable state.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the run.")
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Log records at this level and above go to stderr (INFO shows ctx.logger's).",
)
@click.pass_context
def run(
    ctx: click.Context,
    target: str,
    event_name: str | None,
    data: str | None,
    database: str,
    timeout: float,
    log_level: str,
) -> None:
    """Run the function TARGET once on the embedded engine.

    TARGET is PATH_OR_MODULE[:FUNCTION] (a file, or a module found from the current directory); FUNCTION may be
    left out when the module holds one function. A cron function runs on the scheduled event. Progress goes to
    stderr; the function's output, as JSON, to stdout.
    """
    command: RunCommand | None = None
    try:
        payload = _parse_data(data)
        _check_database(database)
        loaded = load_target(target)
        start = choose_start(loaded.function, event_name, payload)
        printer = ProgressPrinter(loaded.function.id)
        command = RunCommand(loaded, start, database, timeout, printer)
        with log_to_stderr(log_level.upper(), printer):
            output = command.execute()
    except StoppedWaiting:
        assert command is not None
        _stopped(command.stop_message(f"stopped waiting after --timeout {timeout:g}s"), EXIT_TIMEOUT)
    except KeyboardInterrupt:
        lines = command.stop_message("interrupted (Ctrl-C)") if command else ["steppe: interrupted (Ctrl-C)"]
        _stopped(lines, EXIT_INTERRUPTED)
    click.echo(json.dumps(output, indent=2))


def _parse_data(data: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--data") from None
    if not isinstance(payload, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(payload).__name__}", param_hint="--data")
    return payload  # pyright: ignore[reportUnknownVariableType]


def _check_database(database: str) -> None:
    """Name the path when ``--db`` cannot be a database file (SQLite itself says only "unable to open")."""
    if database == MEMORY:
        return
    path = Path(database)
    if path.is_dir():
        raise click.BadParameter(f"{database} is a directory, not a database file", param_hint="--db")
    if not path.parent.is_dir():
        raise click.BadParameter(f"the directory {path.parent} (of {database}) does not exist", param_hint="--db")


def _stopped(lines: list[str], status: int) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    raise click.exceptions.Exit(status)


def _register_operating_commands() -> None:
    from steppe._operate.cli import register

    register(main)


_register_operating_commands()


def _register_dev_command() -> None:
    from steppe._dev.command import dev

    main.add_command(dev)


_register_dev_command()
