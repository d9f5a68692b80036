"""One attempt of one run: set it up, call the handler with a driver behind its steps, and say how it ended."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from steppe._core.context import Context
from steppe._core.driver import Driver
from steppe._core.errors import StepUsageError
from steppe._core.failures import Failed, classify_failure
from steppe._core.function import Function
from steppe._core.logger import ReplayAwareLogger
from steppe._core.outcomes import ErrorInfo, Interrupt
from steppe._core.runtime import StepRuntime
from steppe._core.serde import JsonValue, OutputValueError
from steppe._core.step import Step, StepSync
from steppe._core.threads import run_in_own_thread

__all__ = ["Completed", "Failed", "Outcome", "Suspended", "execute", "run_attempt"]


@dataclass(frozen=True, slots=True)
class Completed:
    output: JsonValue
    value: object


@dataclass(frozen=True, slots=True)
class Suspended:
    """The driver interrupted the run to act on the steps it found."""


Outcome = Completed | Failed | Suspended


async def run_attempt(
    function: Function[Any, Any],
    raw_events: Sequence[dict[str, Any]],
    *,
    run_id: str,
    attempt: int,
    driver: Driver,
    inline: bool = False,
) -> Outcome:
    """One attempt of a run of ``function`` triggered by ``raw_events`` (stored or wire JSON), as every host runs it.

    The events are rebuilt for the function; the context's logger tags records with the run and is quiet while
    ``driver`` replays stored steps. ``inline`` is ``execute``'s.
    """
    try:
        events = tuple(function.decode_event(raw) for raw in raw_events)
    except ValidationError as error:
        # The event does not fit the function's declared type: no attempt can ever succeed.
        return Failed(ErrorInfo.from_exception(error), retriable=False)
    logger = ReplayAwareLogger(function.client.logger, run_id=run_id, fn_id=function.id, replaying=driver.replaying)
    context: Context[Any] = Context(
        event=events[0], events=events, run_id=run_id, attempt=attempt, fn_id=function.id, logger=logger
    )
    return await execute(function, context, driver, inline=inline)


async def execute(
    function: Function[Any, Any], context: Context[Any], driver: Driver, *, inline: bool = False
) -> Outcome:
    """Run the body once. A plain ``def`` body gets a thread of its own, so it may block without stalling the loop.

    ``inline=True`` is for a caller whose thread may block and runs no event loop (a WSGI worker), with a driver
    whose ``new_step`` never waits: a ``def`` body then runs right here, its steps resolved in its own thread, and
    this coroutine never waits either (drive it with ``runtime.run_to_end``). An ``async def`` body needs a loop
    as ever.
    """
    inline_body = inline and not function.is_async
    runtime = StepRuntime(
        driver=driver, function_id=function.id, loop=None if inline_body else asyncio.get_running_loop()
    )
    try:
        if function.is_async:
            value = await function.handler(context, Step(runtime))
        elif inline_body:
            value = contextvars.copy_context().run(function.handler, context, StepSync(runtime))
        else:
            value = await run_in_own_thread(function.handler, context, StepSync(runtime))
    except Interrupt:
        return Suspended()
    except Exception as error:  # noqa: BLE001 - the function body's failure, retried or not by its kind
        return classify_failure(error)
    try:
        runtime.check_all_awaited()
    except StepUsageError as error:
        return classify_failure(error)
    try:
        return Completed(output=function.output_codec.dump(value, function.output_what), value=value)
    except OutputValueError as error:
        return classify_failure(error)
