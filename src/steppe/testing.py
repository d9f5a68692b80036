"""Run a function in a test: in-process, with a clock that skips waiting, stubbed steps, and replays.

    result = await steppe.testing.run_function(onboard, steppe.Event(name="app/user.signup", data={...}))
    assert result.output == ...

By default every step result makes the round trip through storage and the function is replayed after each
new step (``replay="every_step"``), as it would be after a crash or a long sleep in production. A step whose
value does not survive storage (it comes back as another type, or not at all), or a function that does not
take the same steps on replay (it branches on the time, randomness, or unstored state), fails the test here
instead of in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from steppe._core.events import Event
from steppe._core.function import Function
from steppe._engine.clock import Clock, ManualClock
from steppe._engine.engine import Engine, RunResult
from steppe._engine.retry import RetryPolicy

__all__ = ["run_function"]

_D = TypeVar("_D")
_T = TypeVar("_T")


async def run_function(
    function: Function[_D, _T],
    event: Event[_D] | Event[Any],
    *,
    stubs: Mapping[str, object] | None = None,
    replay: Literal["on_restart", "every_step"] = "every_step",
    clock: Clock | None = None,
    functions: Sequence[Function[Any, Any]] = (),
    database: str | Path = ":memory:",
    timeout: float = 60.0,
) -> RunResult[_T]:
    """Run ``function`` once for ``event`` on a fresh embedded engine and return how the run ended.

    ``stubs`` maps step ids to results used instead of running those steps (an exception instance makes the
    step raise it; a ``wait_for_event`` stub is the event, or None for a timeout; an ``invoke`` stub is the
    invoked function's output). The clock defaults to ``ManualClock(auto_advance=True)``, so sleeps and retry
    backoffs take no time. ``functions`` are other functions the run may invoke or trigger.
    """
    engine = Engine(
        function.client,
        [function, *(f for f in functions if f is not function)],
        database=database,
        clock=clock or ManualClock(auto_advance=True),
        retry_policy=RetryPolicy(),
        replay=replay,
        step_stubs=stubs,
    )
    async with engine:
        run_ids = await engine.send(event)
        mine = [run_id for run_id in run_ids if engine.result(run_id).function_id == function.id]
        if not mine:
            raise ValueError(f"event {event.name!r} does not trigger function {function.id!r}")
        result: RunResult[_T] = await engine.wait(mine[0], timeout=timeout)
        return result
