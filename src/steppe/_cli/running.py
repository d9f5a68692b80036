"""One run on the embedded engine, waited for until it ends or the command stops waiting (``--timeout``)."""

from __future__ import annotations

import asyncio
import shlex
from contextlib import AsyncExitStack
from typing import Any

import click
from pydantic import ValidationError

from steppe._cli.progress import ProgressPrinter
from steppe._cli.targets import Target
from steppe._cli.triggers import Start
from steppe._core.errors import SteppeError
from steppe._core.function import Function
from steppe._engine.engine import Engine

__all__ = ["MEMORY", "RunCommand", "StoppedWaiting"]

MEMORY = ":memory:"


class StoppedWaiting(Exception):
    """``--timeout`` passed before the run ended."""


class RunCommand:
    """Starts the run and waits for it; ``run_id`` is known as soon as the run exists (for a stop message)."""

    def __init__(self, target: Target, start: Start, database: str, timeout: float, printer: ProgressPrinter) -> None:
        self._target = target
        self._start = start
        self._database = database
        self._timeout = timeout
        self._printer = printer
        self.run_id: str | None = None

    def execute(self) -> Any:
        """The run's output as JSON data; raises click errors for a failed run or invalid data."""
        return asyncio.run(self._execute())

    async def _execute(self) -> Any:
        function, event = self._start.function, self._start.event
        others = [f for f in function.client.functions if f.id != function.id]
        async with AsyncExitStack() as stack:
            try:
                engine = await stack.enter_async_context(
                    Engine(function.client, [function, *others], database=self._database, listeners=[self._printer])
                )
            except SteppeError as error:  # e.g. a file that is not a steppe database, or one in use
                raise click.ClickException(str(error)) from None
            try:
                run_ids = await engine.send(event)
            except ValidationError as error:
                raise click.BadParameter(_invalid_data(event.name, error), param_hint="--data") from None
            mine = [run_id for run_id in run_ids if engine.result(run_id).function_id == function.id]
            if not mine:
                raise click.ClickException(
                    f"event {event.name!r} started no run of {function.id!r}: its trigger's expression did not match "
                    "the data, or the function's flow control held or skipped the run"
                )
            self.run_id = mine[0]
            try:
                result = await engine.wait(self.run_id, timeout=self._timeout)
            except TimeoutError:
                raise StoppedWaiting from None
            if result.status != "completed":
                failure = result.error
                raise click.ClickException(
                    f"run {result.run_id} {result.status}: {failure.name}: {failure.message}"
                    if failure
                    else result.status
                )
            return _output(function, result.output)

    def stop_message(self, reason: str) -> list[str]:
        """What to tell the user when the command stops before the run ended: where the run is, and what next."""
        if self.run_id is None:
            return [f"steppe: {reason} before the run started"]
        lines = [f"steppe: {reason}: run {self.run_id} has not finished"]
        if self._database == MEMORY:
            lines.append("steppe: the run is lost: it was kept in memory (pass --db FILE to store runs in a file)")
            return lines
        database = shlex.quote(self._database)
        lines += [
            f"steppe: the run is stored in {self._database}",
            f"steppe: inspect it with: steppe runs show {self.run_id} --db {database}",
            f"steppe: resume it with:  steppe worker {shlex.quote(self._target.app)} --db {database}",
        ]
        return lines


def _invalid_data(event_name: str, error: ValidationError) -> str:
    problems: list[str] = []
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if location[:1] == ["data"]:  # the event's data is what --data gives
            location = location[1:]
        problems.append(f"{'.'.join(location) or '(data)'}: {problem['msg']}")
    return f"invalid data for event {event_name!r}: " + "; ".join(problems)


def _output(function: Function[Any, Any], output: Any) -> Any:
    return function.output_codec.dump(output, function.output_what)
