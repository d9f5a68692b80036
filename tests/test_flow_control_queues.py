"""batch_events, debounce and throttle on the embedded engine: run starts held back, durably, on a ManualClock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._core.errors import FunctionDefinitionError
from steppe._engine.progress import RunFinished
from steppe.options import BatchEvents, Debounce, Throttle

GO = steppe.TriggerEvent(event="go")


def _go(n: int, **data: Any) -> steppe.Event[Any]:
    return steppe.Event(name="go", data={"n": n, **data})


class Runs:
    """The runs an engine finished, as the ``n`` of their events (``ctx.events``), in finishing order."""

    def __init__(self) -> None:
        self.events: list[list[int]] = []
        self.first: list[int] = []
        self.finished: list[str] = []

    def listen(self, progress: object) -> None:
        if isinstance(progress, RunFinished):
            self.finished.append(progress.run_id)

    async def until(self, count: int) -> None:
        # Loop turns, not seconds: released runs are tasks that need a few turns to finish.
        for _ in range(2000):
            if len(self.finished) >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} finished runs, saw {len(self.finished)}")


def _recorder(client: steppe.Client, runs: Runs, **options: Any) -> None:
    @client.create_function(fn_id="f", trigger=GO, **options)
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        runs.first.append(ctx.event.data["n"])
        numbers = [event.data["n"] for event in ctx.events]
        runs.events.append(numbers)
        return numbers


async def _engine(make_engine: Callable[..., Any], client: steppe.Client, runs: Runs, clock: steppe.ManualClock) -> Any:
    return await make_engine(client, clock=clock, listeners=[runs.listen])


# -- batch_events ----------------------------------------------------------------------------------


async def test_a_full_batch_starts_one_run_with_every_event_in_order(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("batch-full")
    _recorder(client, runs, batch_events=BatchEvents(max_size=3, timeout=timedelta(minutes=1)))
    engine = await _engine(make_engine, client, runs, clock)
    assert await engine.send(_go(0)) == []
    assert await engine.send(_go(1)) == []
    [run_id] = await engine.send(_go(2))
    assert (await engine.wait(run_id, timeout=10)).output == [0, 1, 2]
    assert runs.first == [0]
    assert await engine.send([_go(3), _go(4)]) == []  # a new batch begins
    assert runs.events == [[0, 1, 2]]


async def test_a_batch_starts_with_fewer_events_once_its_timeout_passes(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("batch-timeout")
    _recorder(client, runs, batch_events=BatchEvents(max_size=10, timeout=timedelta(seconds=30)))
    engine = await _engine(make_engine, client, runs, clock)
    await engine.send(_go(0))
    await clock.advance(timedelta(seconds=20))
    await engine.send(_go(1))
    await clock.advance(timedelta(seconds=9))
    assert runs.events == []  # the timeout counts from the batch's first event: 29 s so far
    await clock.advance(timedelta(seconds=1))
    await runs.until(1)
    assert runs.events == [[0, 1]]


async def test_batches_are_per_key_and_only_matching_events_are_batched(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("batch-key")
    batching = BatchEvents(max_size=2, timeout=timedelta(minutes=1), key="event.data.user", if_exp="event.data.n < 100")
    _recorder(client, runs, batch_events=batching)
    engine = await _engine(make_engine, client, runs, clock)
    assert await engine.send([_go(0, user="ann"), _go(1, user="bob")]) == []
    [alone] = await engine.send(_go(100, user="ann"))  # does not match if_exp: starts at once, by itself
    assert (await engine.wait(alone, timeout=10)).output == [100]
    [ann] = await engine.send(_go(2, user="ann"))
    assert (await engine.wait(ann, timeout=10)).output == [0, 2]
    await clock.advance(timedelta(minutes=1))
    await runs.until(3)
    assert runs.events == [[100], [0, 2], [1]]


async def test_a_held_batch_survives_an_engine_restart(tmp_path: Path) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("batch-restart")
    _recorder(client, runs, batch_events=BatchEvents(max_size=10, timeout=timedelta(seconds=30)))
    database = tmp_path / "batch.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        assert await engine.send([_go(0), _go(1)]) == []
    async with steppe.Engine(client, database=database, clock=clock, listeners=[runs.listen]) as engine:
        assert await engine.send(_go(2)) == []
        await clock.advance(timedelta(seconds=30))
        await runs.until(1)
    assert runs.events == [[0, 1, 2]]


# -- debounce --------------------------------------------------------------------------------------


async def test_debounce_starts_one_run_with_the_last_event_after_a_quiet_period(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("debounce")
    _recorder(client, runs, debounce=Debounce(period=timedelta(seconds=5), key="event.data.user"))
    engine = await _engine(make_engine, client, runs, clock)
    for n in range(3):  # at 0 s, 3 s and 6 s: each pushes the start back
        assert await engine.send(_go(n, user="ann")) == []
        await clock.advance(timedelta(seconds=3))
    await engine.send(_go(10, user="bob"))  # at 9 s, its own key
    await clock.advance(timedelta(seconds=1))  # 10 s: ann's last event was 4 s ago
    assert runs.events == []
    await clock.advance(timedelta(seconds=1))  # 11 s
    await runs.until(1)
    assert runs.events == [[2]]
    await clock.advance(timedelta(seconds=3))  # 14 s: bob's period is over
    await runs.until(2)
    assert runs.events == [[2], [10]]


async def test_debounce_timeout_caps_how_long_events_can_push_the_start_back(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("debounce-timeout")
    _recorder(client, runs, debounce=Debounce(period=timedelta(seconds=5), timeout=timedelta(seconds=8)))
    engine = await _engine(make_engine, client, runs, clock)
    for n in range(3):  # 0 s, 3 s, 6 s
        await engine.send(_go(n))
        await clock.advance(timedelta(seconds=3))
    # At 8 s the timeout fired, before the 9 s advance ended: it ran with the last event so far.
    await runs.until(1)
    assert runs.events == [[2]]
    await engine.send(_go(3))  # 9 s: a new debounce begins
    await clock.advance(timedelta(seconds=5))
    await runs.until(2)
    assert runs.events == [[2], [3]]


async def test_a_debounced_event_survives_an_engine_restart(tmp_path: Path) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("debounce-restart")
    _recorder(client, runs, debounce=Debounce(period=timedelta(seconds=5)))
    database = tmp_path / "debounce.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        await engine.send([_go(0), _go(1)])
    async with steppe.Engine(client, database=database, clock=clock, listeners=[runs.listen]) as engine:
        await clock.advance(timedelta(seconds=5))
        await runs.until(1)
    assert runs.events == [[1]]


async def test_batch_events_and_debounce_together_are_refused(tmp_path: Path) -> None:
    client = steppe.Client("both")
    runs = Runs()
    _recorder(
        client,
        runs,
        batch_events=BatchEvents(max_size=2, timeout=timedelta(seconds=5)),
        debounce=Debounce(period=timedelta(seconds=5)),
    )
    with pytest.raises(FunctionDefinitionError, match=r"'both-f'.*batch_events and debounce"):
        async with steppe.Engine(client, database=tmp_path / "both.db"):
            pass


# -- throttle --------------------------------------------------------------------------------------


async def test_throttle_delays_starts_beyond_the_limit_in_order(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("throttle")
    _recorder(client, runs, throttle=Throttle(limit=2, period=timedelta(minutes=1), key="event.data.user"))
    engine = await _engine(make_engine, client, runs, clock)
    started = await engine.send([_go(n, user="ann") for n in range(5)])
    assert len(started) == 2
    assert len(await engine.send(_go(9, user="bob"))) == 1  # another key has its own window
    await runs.until(3)
    await clock.advance(timedelta(seconds=59))
    assert sorted(runs.events) == [[0], [1], [9]]
    await clock.advance(timedelta(seconds=1))
    await runs.until(5)
    await clock.advance(timedelta(minutes=1))
    await runs.until(6)
    assert [numbers for numbers in runs.events if numbers != [9]] == [[0], [1], [2], [3], [4]]


async def test_throttle_burst_allows_extra_starts_per_period(make_engine: Any) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("burst")
    _recorder(client, runs, throttle=Throttle(limit=1, period=timedelta(minutes=1), burst=2))
    engine = await _engine(make_engine, client, runs, clock)
    assert len(await engine.send([_go(n) for n in range(4)])) == 3
    await clock.advance(timedelta(minutes=1))
    await runs.until(4)
    assert sorted(runs.events) == [[0], [1], [2], [3]]


async def test_a_throttled_start_survives_an_engine_restart(tmp_path: Path) -> None:
    clock, runs, client = steppe.ManualClock(), Runs(), steppe.Client("throttle-restart")
    _recorder(client, runs, throttle=Throttle(limit=1, period=timedelta(minutes=1)))
    database = tmp_path / "throttle.db"
    async with steppe.Engine(client, database=database, clock=clock) as engine:
        [first] = await engine.send([_go(0), _go(1)])
        await engine.wait(first, timeout=10)
    async with steppe.Engine(client, database=database, clock=clock, listeners=[runs.listen]) as engine:
        assert await engine.send(_go(2)) == []  # the window and the queue survived the restart
        await clock.advance(timedelta(minutes=1))
        await runs.until(1)
        await clock.advance(timedelta(minutes=1))
        await runs.until(2)
    assert runs.events == [[0], [1], [2]]


async def test_held_options_are_not_warned_about(make_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("quiet")
    _recorder(
        client,
        Runs(),
        debounce=Debounce(period=timedelta(seconds=5)),
        throttle=Throttle(limit=1, period=timedelta(minutes=1)),
    )
    with caplog.at_level(logging.WARNING, logger="steppe.engine"):
        await make_engine(client)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == []
