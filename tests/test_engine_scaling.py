"""A run of n steps costs O(n) on the embedded engine: the body runs once, each step is looked up once.

Counted, never timed: the function body counts its own starts and step calls, the handlers count their
executions, and a wrapper around the embedded driver's memo lookup counts lookups and hits. The default
mode replays nothing; ``replay="every_step"`` (the testing mode) replays the body after every new step, so
there the counts grow as n²: the contrast shows the counters would catch a replay per step.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import steppe
from steppe._core.ids import StepId
from steppe._core.outcomes import Memo
from steppe._engine.embedded_driver import EmbeddedDriver

Shape = Literal["async handlers", "sync handlers", "StepSync body", "parallel groups"]
SHAPES: tuple[Shape, ...] = ("async handlers", "sync handlers", "StepSync body", "parallel groups")
GROUP_SIZE = 5  # steps per step.parallel group in the "parallel groups" shape
Replay = Literal["on_restart", "every_step"]

_apps = itertools.count()


@dataclass
class Tally:
    body_starts: int = 0
    step_calls: int = 0
    handled: Counter[int] = field(default_factory=Counter[int])  # handler executions, by step number
    memo_lookups: int = 0
    memo_hits: int = 0


@contextmanager
def counting_memo_lookups(tally: Tally) -> Generator[None]:
    """Count every memo lookup the embedded driver makes, and how many found a stored result."""
    original = EmbeddedDriver.memo

    def counted(self: EmbeddedDriver, step_id: StepId) -> Memo | None:
        memo = original(self, step_id)
        tally.memo_lookups += 1
        tally.memo_hits += memo is not None
        return memo

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EmbeddedDriver, "memo", counted)
        yield


def steps_function(shape: Shape, tally: Tally) -> steppe.Client:
    """A client with one function, triggered by "go", that takes ``event.data["n"]`` steps in ``shape``."""
    client = steppe.Client(f"scaling-{next(_apps)}")
    trigger = steppe.TriggerEvent(event="go")

    async def handle(i: int) -> int:
        tally.handled[i] += 1
        return i

    def handle_sync(i: int) -> int:
        tally.handled[i] += 1
        return i

    def on_loop(step: steppe.Step, i: int) -> steppe.StepCall[int]:
        return step.run(f"step-{i}", handle, i)

    def in_thread(step: steppe.Step, i: int) -> steppe.StepCall[int]:
        return step.run(f"step-{i}", handle_sync, i)

    if shape == "async handlers" or shape == "sync handlers":
        run_step = on_loop if shape == "async handlers" else in_thread

        @client.create_function(fn_id="f", trigger=trigger, retries=0)
        async def sequential(ctx: steppe.Context, step: steppe.Step) -> int:
            tally.body_starts += 1
            total = 0
            for i in range(ctx.event.data["n"]):
                tally.step_calls += 1
                total += await run_step(step, i)
            return total

    elif shape == "StepSync body":

        @client.create_function(fn_id="f", trigger=trigger, retries=0)
        def blocking(ctx: steppe.Context, step: steppe.StepSync) -> int:
            tally.body_starts += 1
            total = 0
            for i in range(ctx.event.data["n"]):
                tally.step_calls += 1
                total += step.run(f"step-{i}", handle_sync, i)
            return total

    else:

        @client.create_function(fn_id="f", trigger=trigger, retries=0)
        async def grouped(ctx: steppe.Context, step: steppe.Step) -> int:
            tally.body_starts += 1
            total = 0
            for start in range(0, ctx.event.data["n"], GROUP_SIZE):
                numbers = range(start, min(start + GROUP_SIZE, ctx.event.data["n"]))
                tally.step_calls += len(numbers)
                group: tuple[Callable[[], steppe.StepCall[int]], ...] = tuple(
                    step.defer(f"step-{i}", handle, i) for i in numbers
                )
                total += sum(await step.parallel(group))
            return total

    return client


async def run_steps(engine: steppe.Engine, n: int) -> steppe.RunResult[Any]:
    [run_id] = await engine.send(steppe.Event(name="go", data={"n": n}))
    return await engine.wait(run_id, timeout=60)


def batches(shape: Shape, n: int) -> int:
    """How many times a run stops for new steps in replay="every_step" mode: once per new step, or once
    per parallel group (a group's steps all run before the replay)."""
    return -(-n // GROUP_SIZE) if shape == "parallel groups" else n


def every_step_lookups(shape: Shape, n: int) -> tuple[int, int]:
    """(lookups, hits) of a run in replay="every_step" mode: pass p replays the steps of the p batches
    before it and looks up the new batch once; the last pass replays all n."""
    size = GROUP_SIZE if shape == "parallel groups" else 1
    lookups = hits = 0
    for batch in range(batches(shape, n)):
        replayed = min(batch * size, n)
        hits += replayed
        lookups += replayed + min(size, n - replayed)
    return lookups + n, hits + n


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_run_of_50_steps_runs_its_body_once_and_looks_each_step_up_once(make_engine: Any, shape: Shape) -> None:
    tally = Tally()
    with counting_memo_lookups(tally):
        engine = await make_engine(steps_function(shape, tally))
        result = await run_steps(engine, 50)
    assert result.status == "completed", result.error
    assert result.output == sum(range(50))
    assert tally.body_starts == 1
    assert tally.step_calls == 50
    assert tally.handled == Counter(range(50))  # every handler ran, each exactly once
    assert (tally.memo_lookups, tally.memo_hits) == (50, 0)


@pytest.mark.parametrize("shape", SHAPES)
async def test_replay_every_step_replays_the_body_after_each_new_step(make_engine: Any, shape: Shape) -> None:
    tally = Tally()
    with counting_memo_lookups(tally):
        engine = await make_engine(steps_function(shape, tally), replay="every_step")
        result = await run_steps(engine, 50)
    assert result.status == "completed", result.error
    assert result.output == sum(range(50))
    assert tally.body_starts == batches(shape, 50) + 1  # 51, or 11 for groups of 5
    assert tally.handled == Counter(range(50))  # replays reuse stored results: still one execution each
    assert (tally.memo_lookups, tally.memo_hits) == every_step_lookups(shape, 50)
    if shape != "parallel groups":
        assert (tally.memo_lookups, tally.memo_hits) == (50 * 53 // 2, 50 * 51 // 2)  # n(n+3)/2, n(n+1)/2


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=40),
    shape=st.sampled_from(SHAPES),
    replay=st.sampled_from(("on_restart", "every_step")),
)
def test_body_passes_and_lookups_follow_the_replay_mode_for_any_n(n: int, shape: Shape, replay: Replay) -> None:
    tally = Tally()

    async def scenario() -> steppe.RunResult[Any]:
        async with steppe.Engine(steps_function(shape, tally), database=":memory:", replay=replay) as engine:
            return await run_steps(engine, n)

    with counting_memo_lookups(tally):
        result = asyncio.run(scenario())
    assert result.status == "completed", result.error
    assert tally.handled == Counter(range(n))
    if replay == "on_restart":
        assert (tally.body_starts, tally.step_calls, tally.memo_lookups, tally.memo_hits) == (1, n, n, 0)
    else:
        assert tally.body_starts == batches(shape, n) + 1
        assert (tally.memo_lookups, tally.memo_hits) == every_step_lookups(shape, n)
