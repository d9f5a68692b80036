"""The ``steppe`` command: run a function on the embedded engine from a shell."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from steppe._core.events import Event
from steppe._core.function import Function
from steppe._engine.engine import Engine
from steppe._engine.progress import RunFinished, StepFinished, StepStarted

__all__ = ["main"]


def load_function(target: str) -> Function[Any, Any]:
    """``path/to/file.py:name`` or ``package.module:name`` -> the ``steppe.Function`` it names."""
    location, _, attribute = target.rpartition(":")
    if not location or not attribute:
        raise click.BadParameter(f"{target!r} is not PATH_OR_MODULE:FUNCTION", param_hint="TARGET")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {location}", param_hint="TARGET")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.BadParameter(f"cannot import {location}", param_hint="TARGET")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        sys.path.insert(0, str(path.resolve().parent))
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise click.BadParameter(f"cannot import module {location!r}: {error}", param_hint="TARGET") from error
    function = getattr(module, attribute, None)
    if not isinstance(function, Function):
        found = "nothing" if function is None else type(function).__name__
        raise click.BadParameter(f"{location}:{attribute} is {found}, not a steppe function", param_hint="TARGET")
    return function  # pyright: ignore[reportUnknownVariableType]


class ProgressPrinter:
    """Prints each step's start and end to stderr, with its duration, parallel mode and retries."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def __call__(self, item: StepStarted | StepFinished | RunFinished) -> None:
        match item:
            case StepStarted():
                where = " [parallel]" if item.parallel else ""
                retry = f" (attempt {item.attempt + 1})" if item.attempt else ""
                self._say(item.monotonic, f"start  {item.step_id}{where}{retry}")
            case StepFinished(error=None):
                self._say(item.monotonic, f"done   {item.step_id} in {item.duration * 1000:.0f} ms")
            case StepFinished(error=error) if error is not None:
                later = f"; retry at {item.will_retry_at.isoformat()}" if item.will_retry_at else "; no retries left"
                self._say(
                    item.monotonic,
                    f"failed {item.step_id} in {item.duration * 1000:.0f} ms: {error.name}: {error.message}{later}",
                )
            case RunFinished():
                self._say(time.monotonic(), f"run {item.run_id} {item.status}")
            case _:
                pass

    def _say(self, at: float, text: str) -> None:
        click.echo(f"[{at - self._origin:8.3f}s] {text}", err=True)


@click.group()
@click.version_option(package_name="steppe")
def main() -> None:
    """steppe: durable step functions with exact static types."""


@main.command()
@click.argument("target")
@click.option("--event", "event_name", required=True, help="Name of the event to send.")
@click.option("--data", default="{}", show_default=True, help="The event's data, a JSON object.")
@click.option("--db", "database", default=":memory:", show_default=True, help="SQLite file for durable state.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the run.")
def run(target: str, event_name: str, data: str, database: str, timeout: float) -> None:
    """Run the function TARGET (PATH_OR_MODULE:FUNCTION) once on the embedded engine.

    Progress goes to stderr; the function's output, as JSON, to stdout.
    """
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--data") from error
    if not isinstance(payload, dict):
        raise click.BadParameter(f"must be a JSON object, got {type(payload).__name__}", param_hint="--data")
    function = load_function(target)
    output = asyncio.run(_run(function, event_name, payload, database, timeout))  # pyright: ignore[reportUnknownArgumentType]
    click.echo(json.dumps(output, indent=2))


async def _run(
    function: Function[Any, Any], event_name: str, data: dict[str, Any], database: str, timeout: float
) -> Any:
    async with Engine(function.client, database=database, listeners=[ProgressPrinter()]) as engine:
        run_ids = await engine.send(Event(name=event_name, data=data))
        records = [engine.result(run_id) for run_id in run_ids]
        mine = [r.run_id for r in records if r.function_id == function.id]
        if not mine:
            raise click.ClickException(
                f"event {event_name!r} does not trigger {function.id!r} (its triggers: {function.triggers})"
            )
        result = await engine.wait(mine[0], timeout=timeout)
        if result.status != "completed":
            error = result.error
            raise click.ClickException(
                f"run {result.run_id} {result.status}: {error.name}: {error.message}" if error else result.status
            )
        return function.output_codec.dump(result.output)


def _register_operating_commands() -> None:
    from steppe._operate.cli import register

    register(main)


_register_operating_commands()


def _register_dev_command() -> None:
    from steppe._dev.command import dev

    main.add_command(dev)


_register_dev_command()
