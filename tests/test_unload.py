"""Parked runs are unloaded: past ``unload_parked_after`` a run in a sleep, a wait, an invoke or a step's retry
backoff holds no coroutine, task or thread in the engine, and wakes (time, event, child run, cancel, deadline)
by replaying its stored steps, which do not run again.

Every test here unloads at once (``unload_parked_after=0``) and moves time with a ``ManualClock``: nothing waits
for real time but the loop turns the engine needs to get there.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._engine.progress import (
    InvokeFinished,
    RunStarted,
    SleepFinished,
    SleepStarted,
    WaitFinished,
    WaitStarted,
)
from tests.conftest import Recorder

DAY = timedelta(days=1)


class Marker:
    """An object only a run's coroutine frame refers to: alive exactly as long as that frame."""


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the engine work until ``condition`` holds (bounded; no timing is asserted)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


def unloaded(engine: Any, run_id: str) -> bool:
    return run_id in engine._unloaded and run_id not in engine._tasks


def engine_tasks() -> set[str]:
    """Names of the live asyncio tasks but the test's own."""
    current = asyncio.current_task()
    return {task.get_name() for task in asyncio.all_tasks() if task is not current}


async def unloading_engine(make_engine: Any, client: steppe.Client, **kwargs: Any) -> Any:
    """An engine (typed ``Any``, as ``make_engine`` gives it, so tests may look at its state) unloading at once."""
    kwargs.setdefault("clock", steppe.ManualClock())
    return await make_engine(client, unload_parked_after=0, **kwargs)


def sleeper(counts: Counter[str], markers: list[weakref.ref[Marker]]) -> steppe.Client:
    client = steppe.Client("unload-sleep")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        counts["body"] += 1
        marker = Marker()
        markers.append(weakref.ref(marker))

        def before() -> int:
            counts["before"] += 1
            return 20

        def after(n: int) -> str:
            counts["after"] += 1
            return f"rested {n}"

        n = await step.run("before", before)
        await step.sleep("nap", DAY)
        return await step.run("after", after, n + 1)

    return client


async def test_a_sleeping_run_holds_nothing_once_unloaded_and_wakes_by_replaying(
    make_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    counts: Counter[str] = Counter()
    markers: list[weakref.ref[Marker]] = []
    clock = steppe.ManualClock()
    engine = await unloading_engine(make_engine, sleeper(counts, markers), clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    gc.collect()
    assert markers[0]() is None  # its coroutine frame is gone
    assert engine_tasks() == {"steppe-wakes"}  # one task sleeps for every unloaded run
    assert not engine._resolutions and not engine._deadlines
    assert engine._unloaded == {run_id: clock.now() + DAY}
    assert engine.result(run_id).status == "running"

    await clock.advance(DAY - timedelta(seconds=1))
    assert engine.result(run_id).status == "running" and counts["body"] == 1
    await clock.advance(timedelta(seconds=1))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", "rested 21")
    assert counts == Counter(body=2, before=1, after=1)  # replayed once; no step ran twice
    assert not engine._unloaded and engine_tasks() == set()
    gc.collect()
    assert not [record for record in caplog.records if record.name == "asyncio"]  # e.g. "Task was destroyed"


async def test_a_run_stays_in_memory_within_its_grace_period(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    markers: list[weakref.ref[Marker]] = []
    clock = steppe.ManualClock()
    engine = await make_engine(sleeper(counts, markers), clock=clock, unload_parked_after=3600)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: counts["before"] == 1, "the first step ran")
    for _ in range(20):
        await asyncio.sleep(0)
    assert run_id in engine._tasks and run_id not in engine._unloaded
    assert markers[0]() is not None
    await clock.advance(DAY)
    assert (await engine.wait(run_id, timeout=10)).output == "rested 21"
    assert counts == Counter(body=1, before=1, after=1)  # not replayed


async def test_engine_wait_on_an_unloaded_run_returns_when_it_ends(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    engine = await unloading_engine(make_engine, sleeper(counts, []), clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    waiting = asyncio.ensure_future(engine.wait(run_id, timeout=10))
    await asyncio.sleep(0)
    assert not waiting.done()
    await clock.advance(DAY)
    assert (await waiting).output == "rested 21"


def waiter(counts: Counter[str], markers: list[weakref.ref[Marker]]) -> steppe.Client:
    client = steppe.Client("unload-wait")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="signup"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        counts["body"] += 1
        marker = Marker()
        markers.append(weakref.ref(marker))

        def welcome() -> str:
            counts["welcome"] += 1
            return "sent"

        await step.run("welcome", welcome)
        confirmed = await step.wait_for_event(
            "confirm", event="confirmed", if_exp="async.data.user == event.data.user", timeout=DAY
        )
        counts["after"] += 1
        return "timed out" if confirmed is None else f"confirmed via {confirmed.data['via']}"

    return client


async def test_a_waiting_run_is_unloaded_and_woken_by_its_event(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    markers: list[weakref.ref[Marker]] = []
    recorder = Recorder()
    engine = await unloading_engine(make_engine, waiter(counts, markers), listeners=[recorder])
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    gc.collect()
    assert markers[0]() is None and not engine._resolutions
    await engine.send(steppe.Event(name="confirmed", data={"user": "bob", "via": "wrong user"}))
    await asyncio.sleep(0)
    assert unloaded(engine, run_id)  # an event that does not match leaves it unloaded
    await engine.send(steppe.Event(name="confirmed", data={"user": "ann", "via": "email"}))
    result = await engine.wait(run_id, timeout=10)
    assert result.output == "confirmed via email"
    assert counts == Counter(body=2, welcome=1, after=1)
    kinds = Counter(type(item) for item in recorder.items if getattr(item, "run_id", None) == run_id)
    # Reported once each, as for a run that stayed in memory; the wake is no new start.
    assert kinds[RunStarted] == kinds[WaitStarted] == kinds[WaitFinished] == 1
    [finished] = [item for item in recorder.items if isinstance(item, WaitFinished)]
    assert finished.step_id == "confirm" and finished.event_id is not None


async def test_an_unloaded_wait_times_out(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    engine = await unloading_engine(make_engine, waiter(counts, []), clock=clock)
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    await clock.advance(DAY + timedelta(seconds=1))
    assert (await engine.wait(run_id, timeout=10)).output == "timed out"
    assert counts == Counter(body=2, welcome=1, after=1)


async def test_an_unloaded_run_is_cancelled_by_an_event(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    client = steppe.Client("unload-cancel")

    @client.create_function(
        fn_id="f",
        trigger=steppe.TriggerEvent(event="go"),
        cancel=[steppe.Cancel(event="stop", if_exp="event.data.id == async.data.id")],
    )
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("nap", DAY)
        counts["after"] += 1

    engine = await unloading_engine(make_engine, client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go", data={"id": 1}))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    await engine.send(steppe.Event(name="stop", data={"id": 1}))
    assert (await engine.wait(run_id, timeout=10)).status == "cancelled"
    assert not engine._unloaded
    await clock.advance(2 * DAY)
    assert counts["after"] == 0 and engine.result(run_id).status == "cancelled"


async def test_an_unloaded_run_is_cancelled_from_another_process(make_engine: Any, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    engine = await unloading_engine(make_engine, waiter(counts, []), clock=clock)
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    with steppe.Runs(tmp_path / "steppe.db") as runs:
        runs.cancel(run_id)
    assert engine.apply_commands() == 1
    assert (await engine.wait(run_id, timeout=10)).status == "cancelled"
    assert not engine._unloaded
    await engine.send(steppe.Event(name="confirmed", data={"user": "ann", "via": "email"}))
    await clock.advance(2 * DAY)
    assert counts["after"] == 0 and engine.result(run_id).status == "cancelled"


async def test_an_event_from_another_process_wakes_an_unloaded_run(make_engine: Any, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    engine = await unloading_engine(make_engine, waiter(counts, []))
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    with steppe.Runs(tmp_path / "steppe.db") as runs:
        runs.send(steppe.Event(name="confirmed", data={"user": "ann", "via": "the CLI"}))
    assert engine.apply_commands() == 1
    assert (await engine.wait(run_id, timeout=10)).output == "confirmed via the CLI"


async def test_the_finish_deadline_of_an_unloaded_run_still_cancels_it(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("unload-deadline")

    @client.create_function(
        fn_id="f", trigger=steppe.TriggerEvent(event="go"), timeouts=steppe.Timeouts(finish=timedelta(hours=1))
    )
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("nap", DAY)

    engine = await unloading_engine(make_engine, client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    assert engine._unloaded[run_id] == clock.now() + timedelta(hours=1)  # woken at its deadline, not a day later
    await clock.advance(timedelta(hours=2))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "cancelled" and result.error is not None
    assert result.error.name == "FunctionTimeoutError"


async def test_an_invoking_parent_is_unloaded_and_woken_by_its_child(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    recorder = Recorder()
    client = steppe.Client("unload-invoke")

    @client.create_function(fn_id="child", trigger=steppe.TriggerEvent(event="never"))
    async def child(ctx: steppe.Context, step: steppe.Step) -> int:
        got = await step.wait_for_event("go-on", event="go-on", timeout=DAY)
        return 0 if got is None else int(got.data["n"]) * 2

    @client.create_function(fn_id="parent", trigger=steppe.TriggerEvent(event="go"))
    async def parent(ctx: steppe.Context, step: steppe.Step) -> int:
        counts["parent"] += 1
        return await step.invoke("call-child", function=child, data={})

    engine = await unloading_engine(make_engine, client, listeners=[recorder])
    [parent_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: len(engine._unloaded) == 2 and not engine._tasks, "parent and child are unloaded")
    assert engine._unloaded[parent_id] is None  # an invoke without timeout wakes only when its child ends
    await engine.send(steppe.Event(name="go-on", data={"n": 21}))
    assert (await engine.wait(parent_id, timeout=10)).output == 42
    assert counts["parent"] == 2
    [ended] = [item for item in recorder.items if isinstance(item, InvokeFinished)]
    assert (ended.run_id, ended.step_id, ended.status) == (parent_id, "call-child", "completed")


async def test_a_step_retry_backoff_is_unloaded(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    attempts: list[int] = []
    client = steppe.Client("unload-retry")

    def flaky() -> str:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=2)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        return await step.run("flaky", flaky)

    policy = steppe.RetryPolicy(base=timedelta(hours=1), cap=timedelta(hours=1))
    engine = await unloading_engine(make_engine, client, clock=clock, retry_policy=policy)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded in its backoff")
    assert attempts == [0]
    await clock.advance(timedelta(hours=1))
    assert (await engine.wait(run_id, timeout=10)).output == "ok"
    assert attempts == [0, 1]


async def test_a_step_sync_body_frees_its_thread_when_unloaded(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    client = steppe.Client("unload-sync")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> int:
        counts["body"] += 1
        n = step.run("before", lambda: counts.update(["before"]) or 1)
        step.sleep("nap", DAY)
        return n + step.run("after", lambda: counts.update(["after"]) or 2)

    engine = await unloading_engine(make_engine, client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    await until(
        lambda: not any(thread.name == "steppe-function" for thread in threading.enumerate()), "its thread ended"
    )
    await clock.advance(DAY)
    assert (await engine.wait(run_id, timeout=10)).output == 3
    assert counts == Counter(body=2, before=1, after=1)


async def test_a_parallel_group_unloads_only_once_every_branch_is_parked(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    clock = steppe.ManualClock()
    release = asyncio.Event()
    client = steppe.Client("unload-parallel")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        counts["body"] += 1

        async def slow() -> str:
            counts["slow"] += 1
            await release.wait()
            return "slow"

        napped, got, slow_result = await step.parallel(
            (
                lambda: step.sleep("nap", DAY),
                lambda: step.wait_for_event("ping", event="ping", timeout=2 * DAY),
                lambda: step.run("slow", slow),
            )
        )
        return f"{napped} {got is not None} {slow_result}"

    engine = await unloading_engine(make_engine, client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: counts["slow"] == 1, "the slow step started")
    for _ in range(20):
        await asyncio.sleep(0)
    assert run_id in engine._tasks  # two branches are parked, one runs a step: the run stays in memory
    release.set()
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    assert engine._unloaded[run_id] == clock.now() + DAY  # the earliest of its parked steps
    await engine.send(steppe.Event(name="ping"))
    await until(lambda: unloaded(engine, run_id) and counts["body"] == 2, "woken, replayed and unloaded again")
    await clock.advance(DAY)
    assert (await engine.wait(run_id, timeout=10)).output == "None True slow"
    assert counts == Counter(body=3, slow=1)


async def test_finally_around_a_parked_step_runs_when_unloaded_and_the_code_after_it_once(make_engine: Any) -> None:
    trace: list[str] = []
    clock = steppe.ManualClock()
    client = steppe.Client("unload-finally")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            await step.sleep("nap", DAY)
            trace.append("after the sleep")
        except Exception:  # noqa: BLE001 - the unloading is no error: this never runs
            trace.append("caught")
        finally:
            trace.append("finally")
        return "done"

    engine = await unloading_engine(make_engine, client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    assert trace == ["finally"]
    await clock.advance(DAY)
    assert (await engine.wait(run_id, timeout=10)).output == "done"
    assert trace == ["finally", "after the sleep", "finally"]


async def test_a_wait_resolved_while_its_run_is_being_unloaded_wakes_it_at_once(make_engine: Any) -> None:
    unwinding, proceed = asyncio.Event(), asyncio.Event()
    client = steppe.Client("unload-race")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            got = await step.wait_for_event("confirm", event="confirmed", timeout=DAY)
            return "timed out" if got is None else "confirmed"
        finally:
            unwinding.set()
            await proceed.wait()  # holds the unloading open while the event arrives

    engine = await unloading_engine(make_engine, client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(unwinding.is_set, "the run is being unloaded")
    await engine.send(steppe.Event(name="confirmed"))
    assert run_id not in engine._unloaded
    proceed.set()
    assert (await engine.wait(run_id, timeout=10)).output == "confirmed"  # not a day later, at its timeout


async def test_a_woken_sleep_reports_its_end_but_no_second_start(make_engine: Any) -> None:
    recorder = Recorder()
    clock = steppe.ManualClock()
    engine = await unloading_engine(make_engine, sleeper(Counter(), []), clock=clock, listeners=[recorder])
    [run_id] = await engine.send(steppe.Event(name="go"))
    await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    await clock.advance(DAY)
    await engine.wait(run_id, timeout=10)
    kinds = Counter(type(item) for item in recorder.items)
    assert kinds[RunStarted] == kinds[SleepStarted] == kinds[SleepFinished] == 1


async def test_an_engine_closed_with_unloaded_runs_resumes_them_on_restart(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    client = sleeper(counts, [])
    clock = steppe.ManualClock()
    database = tmp_path / "steppe.db"
    async with steppe.Engine(client, database=database, clock=clock, unload_parked_after=0) as engine:
        [run_id] = await engine.send(steppe.Event(name="go"))
        await until(lambda: unloaded(engine, run_id), "the run is unloaded")
    async with steppe.Engine(client, database=database, clock=clock, unload_parked_after=0) as engine:
        await until(lambda: unloaded(engine, run_id), "the resumed run is unloaded again")
        await clock.advance(DAY)
        assert (await engine.wait(run_id, timeout=10)).output == "rested 21"
    assert counts == Counter(body=3, before=1, after=1)


async def test_many_unloaded_runs_wake_in_time_order(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    woke: list[int] = []
    client = steppe.Client("unload-order")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        hours = int(ctx.event.data["hours"])
        await step.sleep("nap", timedelta(hours=hours))
        await step.run("woke", woke.append, hours)

    engine = await unloading_engine(make_engine, client, clock=clock)
    order = [5, 1, 4, 2, 3]
    run_ids = await engine.send([steppe.Event(name="go", data={"hours": hours}) for hours in order])
    await until(lambda: len(engine._unloaded) == len(order), "every run is unloaded")

    def woken(count: int) -> Callable[[], bool]:
        return lambda: len(woke) == count

    for hour in range(1, 6):
        await clock.advance(timedelta(hours=1))
        await until(woken(hour), f"the run of {hour}h woke")
    assert woke == [1, 2, 3, 4, 5]
    for run_id in run_ids:
        assert (await engine.wait(run_id, timeout=10)).status == "completed"


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_unload_parked_after_must_be_seconds(bad: Any) -> None:
    with pytest.raises(ValueError, match="unload_parked_after must be a number of seconds >= 0 or None"):
        steppe.Engine(steppe.Client("bad"), unload_parked_after=bad)


async def test_unload_parked_after_none_keeps_parked_runs_in_memory(make_engine: Any) -> None:
    counts: Counter[str] = Counter()
    engine = await make_engine(waiter(counts, []), clock=steppe.ManualClock(), unload_parked_after=None)
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await until(lambda: counts["welcome"] == 1, "the first step ran")
    await asyncio.sleep(0.05)
    assert run_id in engine._tasks and not engine._unloaded
    await engine.send(steppe.Event(name="confirmed", data={"user": "ann", "via": "email"}))
    assert (await engine.wait(run_id, timeout=10)).output == "confirmed via email"
    assert counts["body"] == 1
