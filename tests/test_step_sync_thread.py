"""A ``def`` body's steps on the embedded engine: its plain handlers run on the body's own thread, never on the
event loop, and a step costs the body one wait for the loop (the loop records the attempt's start while the
handler runs and stores its outcome from the same message that asks for the answer), whatever else the step
needs: retries, flow control, stubs, replay after every step, an awaitable result.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._engine.progress import StepFinished
from steppe.options import Concurrency
from steppe.testing import run_function

STEPS = 10


class _CountingQueue(queue.SimpleQueue[Any]):
    """A SimpleQueue that counts the waits of the function bodies' threads (the loop's hand-offs to them)."""

    waits = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if threading.current_thread().name == "steppe-function":
            type(self).waits += 1
        return super().get(block, timeout)


def _count_posts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count what the function bodies' threads hand to the running loop (``call_soon_threadsafe``)."""
    loop = asyncio.get_running_loop()
    original = loop.call_soon_threadsafe
    posts = [0]

    def counting(callback: Callable[..., object], *args: Any, **kwargs: Any) -> asyncio.Handle:
        if threading.current_thread().name == "steppe-function":
            posts[0] += 1
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    return posts


async def test_a_step_of_a_def_body_waits_for_the_loop_once(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before: twice per step (for its handler, then for its stored result), each a task and a future on the loop.
    client = steppe.Client("step-sync-hand-offs")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> int:
        value = 0
        for index in range(STEPS):
            value = step.run(f"s{index}", lambda v: v + 1, value)
        return value

    engine = await make_engine(client)
    monkeypatch.setattr(queue, "SimpleQueue", _CountingQueue)
    _CountingQueue.waits = 0
    posts = _count_posts(monkeypatch)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=30)
    assert (result.status, result.output) == ("completed", STEPS)
    assert _CountingQueue.waits == STEPS
    # Per step: the attempt's start (not waited for) and the outcome; then the body's own end.
    assert posts[0] == 2 * STEPS + 1
    steps = steppe.Runs(tmp_path / "steppe.db").get(run_id).steps
    assert [step.status for step in steps] == ["completed"] * STEPS
    assert all(len(step.attempts) == 1 and step.attempts[0].ended_at is not None for step in steps)


@pytest.mark.parametrize("limited", [False, True], ids=["at once", "concurrency limit"])
async def test_every_attempt_of_a_def_bodys_step_runs_on_the_bodys_thread(
    make_engine: Any, tmp_path: Path, limited: bool
) -> None:
    # The first attempt runs at once on the body's thread (or, under a concurrency limit, once the loop let it);
    # the retry after its failure is handed back to the same thread.
    client = steppe.Client("step-sync-threads")
    threads: list[threading.Thread] = []
    bodies: list[threading.Thread] = []

    def flaky() -> str:
        threads.append(threading.current_thread())
        if len(threads) == 1:
            raise ConnectionError("the first attempt fails")
        return "ok"

    options: steppe.FunctionOptions = {"retries": 1, "concurrency": Concurrency(limit=1)} if limited else {"retries": 1}

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), **options)
    def f(ctx: steppe.Context, step: steppe.StepSync) -> str:
        bodies.append(threading.current_thread())
        return step.run("flaky", flaky)

    engine = await make_engine(client, clock=steppe.ManualClock(auto_advance=True))
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=30)
    assert (result.status, result.output) == ("completed", "ok")
    assert threads == bodies * 2  # one body, both attempts on its thread
    assert threading.main_thread() not in threads  # the engine's loop runs on the main thread here
    [stored] = steppe.Runs(tmp_path / "steppe.db").get(run_id).steps
    assert [attempt.error is not None for attempt in stored.attempts] == [True, False]


async def test_a_def_handler_returning_an_awaitable_is_awaited_on_the_loop(make_engine: Any, tmp_path: Path) -> None:
    client = steppe.Client("step-sync-awaitable")

    async def fetch(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    def fetch_later() -> int:  # gives an awaitable, which the engine awaits: typed as what that resolves to
        return fetch(21)  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return step.run("fetch", fetch_later) + step.run("plain", lambda: 0)

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=30)
    assert (result.status, result.output) == ("completed", 42)
    assert [step.output for step in steppe.Runs(tmp_path / "steppe.db").get(run_id).steps] == [42, 0]


async def test_a_step_started_inside_an_awaited_handler_of_a_def_body_is_a_clear_error(make_engine: Any) -> None:
    client = steppe.Client("step-sync-nested")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=0)
    def f(ctx: steppe.Context, step: steppe.StepSync) -> str:
        async def outer() -> str:
            return step.run("inner", lambda: "x")

        def outer_later() -> str:  # as in the test above
            return outer()  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

        return step.run("outer", outer_later)

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=30)
    assert result.status == "failed" and result.error is not None
    assert "'inner' was started inside the handler of step 'outer'" in result.error.message


async def test_stubs_and_replay_after_every_step_in_a_def_body() -> None:
    client = steppe.Client("step-sync-testing")
    ran: list[str] = []

    def real(name: str) -> str:
        ran.append(name)
        return f"real {name}"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> list[str]:
        return [step.run("a", real, "a"), step.run("stubbed", real, "stubbed"), step.run("b", real, "b")]

    result = await run_function(f, steppe.Event(name="go"), stubs={"stubbed": "stub"})
    assert (result.status, result.output) == ("completed", ["real a", "stub", "real b"])
    assert ran == ["a", "b"]  # each ran once, however many replays; the stub never ran the real handler
    ran.clear()
    again = await run_function(f, steppe.Event(name="go"), replay="on_restart")
    assert (again.status, again.output, ran) == (
        "completed",
        ["real a", "real stubbed", "real b"],
        ["a", "stubbed", "b"],
    )


async def test_a_failing_progress_listener_fails_a_def_body_as_an_async_one(make_engine: Any) -> None:
    # The step's outcome is stored on the loop after the body's thread ran it: what fails there reaches the body.
    client = steppe.Client("step-sync-listener")

    @client.create_function(fn_id="sync", trigger=steppe.TriggerEvent(event="sync"), retries=0)
    def sync_body(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return step.run("a", lambda: 1)

    @client.create_function(fn_id="async", trigger=steppe.TriggerEvent(event="async"), retries=0)
    async def async_body(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("a", lambda: 1)

    def broken(progress: object) -> None:
        if isinstance(progress, StepFinished):
            raise RuntimeError("the listener broke")

    engine = await make_engine(client, listeners=[broken])
    ended: list[tuple[str, str | None]] = []
    for name in ("async", "sync"):
        [run_id] = await engine.send(steppe.Event(name=name))
        result = await engine.wait(run_id, timeout=30)
        ended.append((result.status, None if result.error is None else result.error.message))
    assert ended == [("failed", "the listener broke")] * 2
