"""One attempt of one run: call the handler with a driver behind its steps, and classify how it ended."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from steppe._core.context import Context
from steppe._core.driver import Driver
from steppe._core.errors import NonRetriableError, RetryAfterError, StepError
from steppe._core.function import Function
from steppe._core.outcomes import ErrorInfo, Interrupt
from steppe._core.runtime import StepRuntime
from steppe._core.serde import JsonValue, OutputValueError, UnsupportedTypeError
from steppe._core.step import Step, StepSync
from steppe._core.threads import run_in_own_thread

__all__ = ["Completed", "Failed", "Outcome", "Suspended", "execute"]


@dataclass(frozen=True, slots=True)
class Completed:
    output: JsonValue
    value: object


@dataclass(frozen=True, slots=True)
class Failed:
    error: ErrorInfo
    retriable: bool
    retry_after: timedelta | datetime | None = None


@dataclass(frozen=True, slots=True)
class Suspended:
    """The driver interrupted the run to act on the steps it found."""


Outcome = Completed | Failed | Suspended


async def execute(function: Function[Any, Any], context: Context[Any], driver: Driver) -> Outcome:
    runtime = StepRuntime(driver=driver, function_id=function.id, loop=asyncio.get_running_loop())
    try:
        if function.is_async:
            value = await function.handler(context, Step(runtime))
        else:
            value = await run_in_own_thread(function.handler, context, StepSync(runtime))
    except Interrupt:
        return Suspended()
    except (NonRetriableError, StepError, OutputValueError, UnsupportedTypeError) as error:
        # Retrying cannot help: a StepError would be raised again from its stored failure, and a value that
        # does not fit its declared type (or a type that cannot be stored) would not fit next time either.
        return Failed(ErrorInfo.from_exception(error), retriable=False)
    except RetryAfterError as error:
        return Failed(ErrorInfo.from_exception(error), retriable=True, retry_after=error.retry_after)
    except Exception as error:  # noqa: BLE001 - any other failure of the function body is retried
        return Failed(ErrorInfo.from_exception(error), retriable=True)
    try:
        return Completed(output=function.output_codec.dump(value), value=value)
    except OutputValueError as error:
        return Failed(ErrorInfo.from_exception(error), retriable=False)
