"""A step call is a real ``collections.abc.Coroutine``: checkers see ``Coroutine[None, None, T]`` (so they report one
left un-awaited), and at run time ``send``/``throw``/``close`` drive it, so asyncio runs it as a task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any, cast

import pytest

import steppe
from steppe._core.calls import StepCoroutine
from steppe._core.runtime import run_to_end


class _Once:
    """An awaitable that yields ``None`` to whoever drives it once, then returns."""

    def __await__(self) -> Generator[None, None, None]:
        yield None


class _Pending(StepCoroutine[Any]):
    """A step call with nothing stored, resolved by ``resolve``."""

    def __init__(self, resolve: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        super().__init__()
        self._resolve_with = resolve

    def _stored(self) -> None:
        return None

    def _resolve(self) -> Coroutine[Any, Any, Any]:
        return self._resolve_with()

    def describe(self) -> str:
        return "step 'x'"


def _pending(resolve: Callable[[], Coroutine[Any, Any, Any]]) -> StepCoroutine[Any]:
    return _Pending(resolve)


async def test_asyncio_runs_a_step_call_as_a_task(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("tasks")
    ran: list[str] = []

    def charge(amount: int) -> int:
        ran.append("charge")
        return amount * 2

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[object]:
        call = step.run("charge", charge, 21)
        # A TypeError ("a coroutine was expected") while a step call was only an Awaitable.
        first = await asyncio.create_task(call)
        again = await call  # the same result, not a new run
        return [isinstance(cast(object, call), Coroutine), first, again]

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", [True, 42, 42])
    assert ran == ["charge"]


async def test_cancelling_the_task_cancels_the_step_call() -> None:
    started = asyncio.Event()

    async def forever() -> int:
        started.set()
        await asyncio.sleep(3600)
        return 1

    call = _pending(forever)
    task = asyncio.create_task(call)
    await started.wait()
    task.cancel()  # reaches the call through its throw()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(asyncio.CancelledError):
        await call  # the outcome is kept


def test_send_throw_and_close_drive_one_run_of_the_outcome() -> None:
    async def resolve() -> int:
        try:
            await _Once()
        except KeyError:
            return 7
        return 1

    thrown = _pending(resolve)
    assert thrown.send(None) is None  # what the inner awaitable yielded
    with pytest.raises(StopIteration) as stopped:
        thrown.throw(KeyError("k"))
    assert stopped.value.value == 7
    assert run_to_end(thrown.outcome()) == 7  # the outcome is kept: awaiting again gives it

    three_arguments = _pending(resolve)
    three_arguments.send(None)
    with pytest.raises(StopIteration) as stopped:
        three_arguments.throw(KeyError, KeyError("k"), None)
    assert stopped.value.value == 7

    instance_and_value = _pending(resolve)
    instance_and_value.send(None)
    with pytest.raises(TypeError, match="instance exception may not have a separate value"):
        instance_and_value.throw(KeyError("k"), "value")

    closed = _pending(resolve)
    closed.close()  # never started: nothing to close, and the call can still run
    closed.send(None)
    closed.close()
    with pytest.raises(GeneratorExit):
        run_to_end(closed.outcome())
