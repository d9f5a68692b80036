"""``steppe dev APP``: the worker for APP's functions and the browser UI, in one process, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from steppe._core.errors import SteppeError

__all__ = ["DEFAULT_DATABASE", "DEFAULT_PORT", "dev"]

DEFAULT_PORT = 8290
DEFAULT_DATABASE = Path(".steppe") / "dev.db"


@click.command()
@click.argument("app_target", metavar="APP")
@click.option(
    "--db",
    "database",
    default=None,
    help=f"SQLite file for durable state [default: {DEFAULT_DATABASE} in the current directory, created if missing].",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (loopback only); 0 picks a free one.",
)
def dev(app_target: str, database: str | None, port: int) -> None:
    """Run APP's functions (PATH_OR_MODULE[:CLIENT]) and watch their runs in the browser.

    One process: a worker that runs the functions, resumes unfinished runs and fires crons, and a web UI on
    127.0.0.1 that lists runs, draws each run's steps on a timeline, sends events, cancels and reruns.
    Ctrl-C stops both; unfinished runs resume on the next start.
    """
    try:
        from steppe._dev.server import listen, serve
    except ImportError as missing:
        raise click.ClickException(
            f"steppe dev needs the packages of its extra (missing: {missing.name}): pip install 'steppe[dev]'"
        ) from None
    from steppe._cli.targets import load_app

    client = load_app(app_target)
    path = Path(database) if database is not None else DEFAULT_DATABASE
    if database is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise click.BadParameter(f"the directory {path.parent} (of {database}) does not exist", param_hint="--db")
    try:
        sock = listen(port)
    except OSError as error:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
    bound = sock.getsockname()[1]

    def ready() -> None:
        click.echo(f"steppe dev: app {client.app_id!r}, database {path}{' (default)' if database is None else ''}")
        click.echo(f"steppe dev: http://127.0.0.1:{bound}/  (Ctrl-C to stop)")

    try:
        asyncio.run(_until_signalled(lambda stop: serve(client, path, sock, stop=stop, ready=ready)))
    except SteppeError as error:  # the database refused (held by another engine, not a steppe file, ...)
        raise click.ClickException(str(error)) from None
    finally:
        sock.close()
    click.echo("steppe dev: stopped; unfinished runs resume on the next start", err=True)


async def _until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs ``main(stop)`` with SIGINT and SIGTERM setting ``stop``, so the worker and the server end together."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if sys.platform != "win32":
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        await main(stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
