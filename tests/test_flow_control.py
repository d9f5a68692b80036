"""Flow-control options on the embedded engine: enforced ones behave, the others are announced."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._core.errors import FunctionDefinitionError, StepError
from steppe._engine.progress import RunFinished
from steppe.options import (
    BatchEvents,
    Cancel,
    Concurrency,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)

GO = steppe.TriggerEvent(event="go")


class Occupancy:
    """Counts step handlers executing at once, overall and per key, and keeps the maxima."""

    def __init__(self) -> None:
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    async def occupy(self, *keys: str) -> None:
        for key in keys:
            self.active[key] = self.active.get(key, 0) + 1
            self.peak[key] = max(self.peak.get(key, 0), self.active[key])
        for _ in range(5):  # give every other ready handler the chance to start meanwhile
            await asyncio.sleep(0)
        for key in keys:
            self.active[key] -= 1


# -- warnings for the options the engine does not enforce ------------------------------------------


async def test_each_unenforced_option_is_warned_once(make_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("warned")

    @client.create_function(
        fn_id="loose",
        trigger=GO,
        priority=Priority(run="event.data.vip ? 60 : 0"),
        timeouts=Timeouts(start=timedelta(minutes=1), finish=timedelta(minutes=5)),
        singleton=Singleton(mode="cancel"),
    )
    async def loose(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    @client.create_function(
        fn_id="strict",
        trigger=GO,
        concurrency=Concurrency(limit=1),
        cancel=Cancel(event="stop"),
        idempotency="event.data.id",
        rate_limit=RateLimit(limit=1, period=timedelta(minutes=1)),
        singleton=Singleton(mode="skip"),
        timeouts=Timeouts(finish=timedelta(minutes=5)),
        throttle=Throttle(limit=1, period=timedelta(minutes=1)),
        batch_events=BatchEvents(max_size=10, timeout=timedelta(seconds=5)),
    )
    async def strict(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="steppe.engine"):
        await make_engine(client)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = ["priority", "timeouts.start", "singleton(mode='cancel')"]
    assert len(warnings) == len(expected)
    for option, message in zip(expected, warnings, strict=True):
        assert "'warned-loose'" in message and f"sets {option}," in message and "does not enforce" in message
    assert not any("warned-strict" in message for message in warnings)


async def test_an_invalid_key_expression_is_refused_naming_the_function(tmp_path: Path) -> None:
    client = steppe.Client("bad-key")

    @client.create_function(fn_id="f", trigger=GO, concurrency=Concurrency(limit=1, key="event.data.("))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    with pytest.raises(FunctionDefinitionError, match=r"'bad-key-f'.*concurrency key"):
        async with steppe.Engine(client, database=tmp_path / "x.db"):
            pass


# -- concurrency -----------------------------------------------------------------------------------


async def test_concurrency_limits_step_handlers_across_runs_and_parallel_branches(make_engine: Any) -> None:
    client = steppe.Client("concurrency")
    seen = Occupancy()

    @client.create_function(fn_id="f", trigger=GO, concurrency=Concurrency(limit=3))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        await step.run("first", seen.occupy, "all")
        parts = await step.parallel(tuple(step.defer(f"branch-{i}", seen.occupy, "all") for i in range(4)))
        return len(parts)

    engine = await make_engine(client)
    run_ids = await engine.send([steppe.Event(name="go") for _ in range(8)])
    results = [await engine.wait(run_id, timeout=10) for run_id in run_ids]
    assert [r.output for r in results] == [4] * 8
    assert seen.peak["all"] == 3  # reached, never exceeded


async def test_concurrency_key_limits_each_value_separately(make_engine: Any) -> None:
    client = steppe.Client("keyed")
    seen = Occupancy()

    @client.create_function(fn_id="f", trigger=GO, concurrency=Concurrency(limit=1, key="event.data.user"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        user = ctx.event.data["user"]
        for i in range(3):
            await step.run(f"s{i}", seen.occupy, "all", user)

    engine = await make_engine(client)
    run_ids = await engine.send([steppe.Event(name="go", data={"user": u}) for u in ["ann", "bob"] * 4])
    for run_id in run_ids:
        assert (await engine.wait(run_id, timeout=10)).status == "completed"
    assert seen.peak["ann"] == 1 and seen.peak["bob"] == 1
    assert seen.peak["all"] == 2  # the two users' runs did overlap


async def test_env_scope_is_shared_by_functions_with_the_same_key(make_engine: Any) -> None:
    client = steppe.Client("shared")
    seen = Occupancy()
    shared = Concurrency(limit=2, key='"openai"', scope="env")

    @client.create_function(fn_id="f", trigger=GO, concurrency=shared)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.parallel((lambda: step.run("a", seen.occupy, "all"), lambda: step.run("b", seen.occupy, "all")))

    @client.create_function(fn_id="g", trigger=GO, concurrency=[shared, Concurrency(limit=5)])
    async def g(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.parallel((lambda: step.run("a", seen.occupy, "all"), lambda: step.run("b", seen.occupy, "all")))

    engine = await make_engine(client)
    run_ids = await engine.send([steppe.Event(name="go") for _ in range(5)])
    assert len(run_ids) == 10
    for run_id in run_ids:
        assert (await engine.wait(run_id, timeout=10)).status == "completed"
    assert seen.peak["all"] == 2


# -- cancel ----------------------------------------------------------------------------------------


def _sleeper(client: steppe.Client, calls: list[str], **options: Any) -> steppe.Function[Any, str]:
    async def record(tag: str) -> None:  # async, so the test clock never races a worker thread
        calls.append(tag)

    @client.create_function(fn_id="sleeper", trigger=steppe.TriggerEvent(event="start"), **options)
    async def sleeper(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.run("before", record, "before")
        await step.sleep("nap", timedelta(hours=1))
        await step.run("after", record, "after")
        return "woke"

    return sleeper


async def test_a_matching_event_cancels_the_run_durably(tmp_path: Path) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("cancel")
    calls: list[str] = []
    _sleeper(client, calls, cancel=Cancel(event="stop", if_exp="async.data.id == event.data.id"))
    database = tmp_path / "cancel.db"
    reports: list[object] = []
    async with steppe.Engine(client, database=database, clock=clock, listeners=[reports.append]) as engine:
        [ann] = await engine.send(steppe.Event(name="start", data={"id": "ann"}))
        [bob] = await engine.send(steppe.Event(name="start", data={"id": "bob"}))
        await clock.advance(timedelta(minutes=1))
        await engine.send(steppe.Event(name="stop", data={"id": "ann"}))
        result = await engine.wait(ann, timeout=10)
        assert result.status == "cancelled"
        assert result.error is not None and result.error.name == "RunCancelledError"
        assert [(r.run_id, r.status) for r in reports if isinstance(r, RunFinished)] == [(ann, "cancelled")]
        await clock.advance(timedelta(hours=2))
        assert (await engine.wait(bob, timeout=10)).output == "woke"
    assert calls == ["before", "before", "after"]  # ann never got past the sleep
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        await clock.advance(timedelta(hours=2))
        assert engine.result(ann).status == "cancelled"
    assert calls == ["before", "before", "after"]


async def test_engine_shutdown_is_not_a_cancellation(tmp_path: Path) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("shutdown")
    calls: list[str] = []
    _sleeper(client, calls, cancel=Cancel(event="stop"))
    database = tmp_path / "shutdown.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        [run_id] = await engine.send(steppe.Event(name="start"))
        await clock.advance(timedelta(minutes=1))
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        assert engine.result(run_id).status == "running"
        await clock.advance(timedelta(hours=2))
        assert (await engine.wait(run_id, timeout=10)).output == "woke"
    assert calls == ["before", "after"]


async def test_cancel_timeout_limits_when_the_event_counts(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("cancel-window")
    calls: list[str] = []
    _sleeper(client, calls, cancel=[Cancel(event="other"), Cancel(event="stop", timeout=timedelta(minutes=10))])
    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="start"))
    await clock.advance(timedelta(minutes=11))
    await engine.send(steppe.Event(name="stop"))
    await clock.advance(timedelta(hours=1))
    assert (await engine.wait(run_id, timeout=10)).output == "woke"


async def test_a_cancelled_child_fails_the_parents_invoke_step(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("cancel-child")
    calls: list[str] = []
    child = _sleeper(client, calls, cancel=Cancel(event="stop"))

    @client.create_function(fn_id="parent", trigger=GO)
    async def parent(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            return await step.invoke("call", function=child, data={})
        except StepError as error:
            return f"child failed: {error}"

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await clock.advance(timedelta(minutes=1))
    await engine.send(steppe.Event(name="stop"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "completed" and "cancelled" in result.output
    assert calls == ["before"]


async def test_timeouts_finish_cancels_a_run_that_takes_too_long(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("finish")
    calls: list[str] = []
    _sleeper(client, calls, timeouts=Timeouts(finish=timedelta(minutes=10)))
    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="start"))
    await clock.advance(timedelta(minutes=11))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "cancelled" and result.error is not None and result.error.name == "FunctionTimeoutError"
    await clock.advance(timedelta(hours=2))
    assert calls == ["before"]


async def test_timeouts_finish_leaves_a_quick_run_alone(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("finish-quick")
    calls: list[str] = []
    _sleeper(client, calls, timeouts=Timeouts(finish=timedelta(hours=2)))
    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="start"))
    await clock.advance(timedelta(hours=3))
    assert (await engine.wait(run_id, timeout=10)).output == "woke"


# -- starting runs: idempotency, rate limit, singleton ----------------------------------------------


def _counter(client: steppe.Client, **options: Any) -> None:
    @client.create_function(fn_id="f", trigger=GO, **options)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None


def _go(**data: Any) -> steppe.Event[Any]:
    return steppe.Event(name="go", data=data)


async def test_idempotency_key_starts_one_run_per_day_even_across_restarts(tmp_path: Path) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("idem")
    _counter(client, idempotency="event.data.order")
    database = tmp_path / "idem.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        assert len(await engine.send(_go(order=1))) == 1
        assert await engine.send(_go(order=1)) == []
        assert len(await engine.send(_go(order=2))) == 1
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        await clock.advance(timedelta(hours=23))
        assert await engine.send(_go(order=1)) == []
        await clock.advance(timedelta(hours=2))
        assert len(await engine.send(_go(order=1))) == 1


async def test_rate_limit_skips_events_beyond_the_limit_per_key(tmp_path: Path) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("rate")
    _counter(client, rate_limit=RateLimit(limit=2, period=timedelta(minutes=1), key="event.data.user"))
    database = tmp_path / "rate.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        started = await engine.send([_go(user="ann"), _go(user="ann"), _go(user="ann"), _go(user="bob")])
        assert len(started) == 3
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        await clock.advance(timedelta(seconds=30))
        assert await engine.send(_go(user="ann")) == []  # the window survived the restart
        await clock.advance(timedelta(seconds=31))
        assert len(await engine.send([_go(user="ann"), _go(user="ann"), _go(user="ann")])) == 2


@pytest.mark.parametrize(
    "options",
    [
        {"idempotency": "event.data.user_id"},
        {"rate_limit": RateLimit(limit=1, period=timedelta(minutes=1), key="event.data.user_id")},
    ],
    ids=["idempotency", "rate_limit"],
)
async def test_a_key_is_read_from_events_carrying_integers_beyond_int64(
    make_engine: Any, options: dict[str, Any]
) -> None:
    # An unrelated field too large for CEL's int64 must not make the key unreadable: if it did, u2 and u3 would both
    # get the key null and u3's event would start no run.
    client = steppe.Client("big")
    _counter(client, **options)
    engine = await make_engine(client)
    started = await engine.send([_go(user_id="u1"), _go(user_id="u2", big=2**64), _go(user_id="u3", big=2**64)])
    assert len(started) == 3
    assert await engine.send(_go(user_id="u3", big=2**64)) == []  # the key still holds: u3 is u3


async def test_singleton_skip_starts_no_run_while_one_is_running(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("single")
    calls: list[str] = []
    _sleeper(client, calls, singleton=Singleton(mode="skip", key="event.data.user"))
    engine = await make_engine(client, clock=clock)
    [first] = await engine.send(steppe.Event(name="start", data={"user": "ann"}))
    assert await engine.send(steppe.Event(name="start", data={"user": "ann"})) == []
    assert len(await engine.send(steppe.Event(name="start", data={"user": "bob"}))) == 1
    await clock.advance(timedelta(hours=2))
    assert (await engine.wait(first, timeout=10)).output == "woke"
    assert len(await engine.send(steppe.Event(name="start", data={"user": "ann"}))) == 1
