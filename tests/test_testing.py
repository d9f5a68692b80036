"""steppe.testing: replay after every step, stubs, and the test clock."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import steppe
from steppe.testing import run_function


@dataclasses.dataclass(frozen=True)
class Reading:
    taken_at: datetime
    values: tuple[int, ...]


async def test_every_step_replays_from_storage_with_declared_types() -> None:
    client = steppe.Client("replay")
    executions: list[str] = []
    seen: list[tuple[type, type, type]] = []

    def take_reading() -> Reading:
        executions.append("reading")
        return Reading(datetime(2030, 1, 1, tzinfo=UTC), (1, 2, 3))

    def pair() -> tuple[int, str]:
        executions.append("pair")
        return (7, "seven")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        reading, numbers = await step.parallel(
            (lambda: step.run("reading", take_reading), lambda: step.run("pair", pair))
        )
        await step.sleep("rest", timedelta(days=3))
        seen.append((type(reading), type(reading.values), type(numbers)))
        return sum(reading.values) + numbers[0]

    result = await run_function(f, steppe.Event(name="go"))
    assert result.status == "completed", result.error
    assert result.output == 13
    assert sorted(executions) == ["pair", "reading"]  # each ran once, however many replays
    assert seen == [(Reading, tuple, tuple)]  # the final pass saw only rebuilt values


async def test_stubs_replace_steps() -> None:
    client = steppe.Client("stubs")

    def charge(amount: int) -> str:
        raise AssertionError("the real charge must not run in this test")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        receipt = await step.run("charge", charge, 10)
        reply = await step.wait_for_event("reply", event="answered", timeout=timedelta(days=1))
        return f"{receipt} / {'no reply' if reply is None else reply.data['text']}"

    result = await run_function(
        f,
        steppe.Event(name="go"),
        stubs={"charge": "receipt-1", "reply": steppe.Event(name="answered", data={"text": "yes"})},
    )
    assert result.output == "receipt-1 / yes"


async def test_a_stubbed_exception_fails_the_step() -> None:
    client = steppe.Client("stub-error")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=0)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            return await step.run("lookup", lambda: "real")
        except steppe.StepError as error:
            return f"fallback after {error.name}"

    result = await run_function(f, steppe.Event(name="go"), stubs={"lookup": TimeoutError("upstream timed out")})
    assert result.output == "fallback after TimeoutError"


async def test_nondeterministic_function_is_caught_by_replay() -> None:
    """A function choosing its step ids at random takes other steps on replay: the replay test exposes it."""
    client = steppe.Client("nondeterministic")
    rng = random.Random(1)
    runs: list[str] = []

    def record(step_id: str) -> str:
        runs.append(step_id)
        return step_id

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        out: list[str] = []
        for _ in range(3):
            step_id = f"step-{rng.randint(0, 10**9)}"  # not stored: differs on every replay
            out.append(await step.run(step_id, record, step_id))
        return out

    result = await run_function(f, steppe.Event(name="go"))
    assert result.status == "failed"
    assert result.error is not None and result.error.name == "NonDeterminismError"
    assert f"did not reach the steps ['{runs[0]}']" in result.error.message
    assert len(runs) == 2  # the first pass's step, then the replay's different one; then the run stopped
