"""One attempt of one run: set it up, call the handler with a driver behind its steps, and say how it ended."""

from __future__ import annotations

import asyncio
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
) -> Outcome:
    """One attempt of a run of ``function`` triggered by ``raw_events`` (stored or wire JSON), as every host runs it.

    The events are rebuilt for the function; the context's logger tags records with the run and is quiet while
    ``driver`` replays stored steps.
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
    return await execute(function, context, driver)


async def execute(function: Function[Any, Any], context: Context[Any], driver: Driver) -> Outcome:
    runtime = StepRuntime(driver=driver, function_id=function.id, loop=asyncio.get_running_loop())
    try:
        if function.is_async:
            value = await function.handler(context, Step(runtime))
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
        return Completed(output=function.output_codec.dump(value), value=value)
    except OutputValueError as error:
        return classify_failure(error)
