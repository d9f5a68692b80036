"""Where steps run on the embedded engine, and that a long run shares the event loop with everything else on it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pydantic

import steppe

STEPS = 3000  # enough steps that a run takes many times the engine's loop share, on any machine


class Work(pydantic.BaseModel):
    tag: str
    steps: int


async def test_two_long_runs_started_together_progress_together(make_engine: Any) -> None:
    client = steppe.Client("fair-runs")
    order: list[str] = []

    async def record(tag: str) -> None:  # completes at once: the run never suspends in a step
        order.append(tag)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        work = Work.model_validate(ctx.event.data)
        for i in range(work.steps):
            await step.run(f"s{i}", record, work.tag)

    engine = await make_engine(client, database=":memory:")
    run_ids = await engine.send([steppe.Event(name="go", data={"tag": tag, "steps": STEPS}) for tag in "ab"])
    results = [await engine.wait(run_id, timeout=120) for run_id in run_ids]
    assert [r.status for r in results] == ["completed", "completed"]
    assert sorted(order) == ["a"] * STEPS + ["b"] * STEPS
    # Before either run took its last step, the other had taken steps too (not one run after the other).
    first_end = min(len(order) - order[::-1].index(tag) for tag in "ab")
    assert set(order[: first_end - 1]) == {"a", "b"}


async def test_a_task_on_the_same_loop_runs_while_a_long_run_executes(make_engine: Any) -> None:
    client = steppe.Client("fair-ticker")
    ticks = 0
    seen: list[int] = []  # the ticker's count, as each step saw it

    async def look() -> None:
        seen.append(ticks)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        for i in range(STEPS):
            await step.run(f"s{i}", look)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    engine = await make_engine(client, database=":memory:")
    ticking = asyncio.create_task(ticker())
    try:
        [run_id] = await engine.send(steppe.Event(name="go"))
        assert (await engine.wait(run_id, timeout=120)).status == "completed"
    finally:
        ticking.cancel()
    assert len(seen) == STEPS
    assert seen[-1] > seen[0]  # the ticker got loop turns between the run's first and last step


async def test_a_sync_bodys_handlers_run_on_its_own_thread_off_the_loop(make_engine: Any) -> None:
    client = steppe.Client("sync-thread")
    loop_thread = threading.get_ident()
    threads: dict[str, int] = {}

    def where(name: str) -> str:
        threads[name] = threading.get_ident()
        return name

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> list[str]:
        threads["body"] = threading.get_ident()
        return [step.run("one", where, "one"), step.run("two", where, "two")]

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", ["one", "two"])
    assert threads["body"] != loop_thread
    assert threads["one"] == threads["two"] == threads["body"]


async def test_a_sync_bodys_handler_sees_its_context_and_cannot_start_steps(make_engine: Any) -> None:
    client = steppe.Client("sync-context")
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
    seen: list[str] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=0)
    def f(ctx: steppe.Context, step: steppe.StepSync) -> None:
        request_id.set("r-1")
        seen.append(step.run("read", request_id.get))
        step.run("outer", lambda: step.run("inner", lambda: "x"))

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert seen == ["r-1"]
    assert result.status == "failed"
    assert result.error is not None
    assert "'inner' was started inside the handler of step 'outer'" in result.error.message


async def test_a_sync_bodys_failing_handler_is_retried_on_its_thread(make_engine: Any) -> None:
    client = steppe.Client("sync-retry")
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(threading.get_ident())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "done"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=3)
    def f(ctx: steppe.Context, step: steppe.StepSync) -> tuple[str, int]:
        return step.run("flaky", flaky), threading.get_ident()

    engine = await make_engine(client, clock=steppe.ManualClock(auto_advance=True))
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "completed", result.error
    assert result.output is not None
    output, body_thread = result.output
    assert output == "done"
    assert attempts == [body_thread] * 3
