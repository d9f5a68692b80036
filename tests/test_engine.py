"""Execution semantics of the embedded engine."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import steppe
from steppe._engine.progress import StepFinished, StepStarted
from tests.conftest import Recorder


async def run_one(engine: steppe.Engine, name: str = "go", data: dict[str, Any] | None = None) -> steppe.RunResult[Any]:
    [run_id] = await engine.send(steppe.Event(name=name, data=data or {}))
    return await engine.wait(run_id, timeout=10)


async def test_parallel_steps_overlap(make_engine: Any, recorder: Recorder) -> None:
    client = steppe.Client("overlap")

    async def slow(tag: str) -> str:
        await asyncio.sleep(0.05)
        return tag

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> tuple[str, str, str]:
        return await step.parallel(
            (lambda: step.run("a", slow, "a"), lambda: step.run("b", slow, "b"), lambda: step.run("c", slow, "c"))
        )

    engine = await make_engine(client, listeners=[recorder])
    result = await run_one(engine)
    assert result.output == ("a", "b", "c")
    starts = {i.step_id: i.monotonic for i in recorder.items if isinstance(i, StepStarted)}
    ends = {i.step_id: i.monotonic for i in recorder.items if isinstance(i, StepFinished)}
    # Every step started before any other step ended: they ran at the same time.
    assert max(starts.values()) < min(ends.values())


async def test_sync_parallel_steps_overlap_in_threads(make_engine: Any, recorder: Recorder) -> None:
    client = steppe.Client("overlap-sync")
    barrier = threading.Barrier(2, timeout=5)

    def meet(tag: str) -> str:
        barrier.wait()  # only returns once both steps are running at the same time
        return tag

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> list[str]:
        first, second = step.parallel((lambda: step.run("a", meet, "a"), lambda: step.run("b", meet, "b")))
        return [first, second]

    engine = await make_engine(client, listeners=[recorder])
    result = await run_one(engine)
    assert result.status == "completed", result.error
    assert result.output == ["a", "b"]


async def test_result_order_follows_callables_not_completion(make_engine: Any) -> None:
    client = steppe.Client("order")

    async def after(delay: float, tag: int) -> int:
        await asyncio.sleep(delay)
        return tag

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> tuple[int, int, int]:
        return await step.parallel(
            (
                lambda: step.run("slow", after, 0.06, 1),
                lambda: step.run("mid", after, 0.03, 2),
                lambda: step.run("fast", after, 0.0, 3),
            )
        )

    assert (await run_one(await make_engine(client))).output == (1, 2, 3)


async def test_completed_steps_do_not_run_again_after_restart(tmp_path: Path) -> None:
    client = steppe.Client("restart")
    calls: list[str] = []
    gate = asyncio.Event()

    async def record(tag: str) -> str:
        calls.append(tag)
        return tag

    async def block() -> str:
        await gate.wait()
        return "released"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        one = await step.run("one", record, "one")
        two = await step.run("two", record, "two")
        three = await step.run("three", block)
        return [one, two, three]

    database = tmp_path / "restart.db"
    async with steppe.Engine(client, database=database) as engine:
        [run_id] = await engine.send(steppe.Event(name="go"))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(calls) == 2:
                break
    assert calls == ["one", "two"]
    gate.set()
    async with steppe.Engine(client, database=database) as engine:
        result = await engine.wait(run_id, timeout=10)
    assert result.output == ["one", "two", "released"]
    assert calls == ["one", "two"]


async def test_step_retries_with_backoff_then_succeeds(
    make_engine: Any, recorder: Recorder, clock: steppe.ManualClock
) -> None:
    client = steppe.Client("retries")
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError(f"attempt {len(attempts)} failed")
        return "ok"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=4)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        return await step.run("flaky", flaky)

    engine = await make_engine(
        client, clock=clock, listeners=[recorder], retry_policy=steppe.RetryPolicy(base=timedelta(seconds=10))
    )
    result = await run_one(engine)
    assert result.output == "ok"
    finished = recorder.finished()
    assert [f.attempt for f in finished] == [0, 1, 2]
    assert [f.error.name if f.error else None for f in finished] == ["ConnectionError", "ConnectionError", None]
    delays = [f.will_retry_at - f.at for f in finished[:2] if f.will_retry_at]
    # Exponential with jitter: the n-th wait lies in [base*2^(n-1)/2, base*2^(n-1)].
    assert timedelta(seconds=5) <= delays[0] <= timedelta(seconds=10)
    assert timedelta(seconds=10) <= delays[1] <= timedelta(seconds=20)


async def test_exhausted_step_raises_step_error_that_user_code_can_catch(
    make_engine: Any, clock: steppe.ManualClock
) -> None:
    client = steppe.Client("exhausted")
    attempts: list[int] = []

    def always_fails() -> str:
        attempts.append(1)
        raise ValueError("boom")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=2)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            return await step.run("doomed", always_fails)
        except steppe.StepError as error:
            return f"caught {error.name}: {error.message} from {error.step_id}"

    result = await run_one(await make_engine(client, clock=clock))
    assert result.output == "caught ValueError: boom from doomed"
    assert len(attempts) == 3


async def test_non_retriable_error_stops_at_once(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("non-retriable")
    attempts: list[int] = []

    def refuses() -> str:
        attempts.append(1)
        raise steppe.NonRetriableError("card declined")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=5)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        return await step.run("charge", refuses)

    result = await run_one(await make_engine(client, clock=clock))
    assert result.status == "failed"
    assert result.error is not None and result.error.name == "StepError"
    assert "card declined" in result.error.message
    assert len(attempts) == 1


async def test_retry_after_error_sets_the_delay(
    make_engine: Any, recorder: Recorder, clock: steppe.ManualClock
) -> None:
    client = steppe.Client("retry-after")
    attempts: list[int] = []

    def rate_limited() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise steppe.RetryAfterError("slow down", timedelta(minutes=7))
        return "ok"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        return await step.run("call-api", rate_limited)

    result = await run_one(await make_engine(client, clock=clock, listeners=[recorder]))
    assert result.output == "ok"
    first = recorder.finished()[0]
    assert first.will_retry_at is not None and first.will_retry_at - first.at == timedelta(minutes=7)


async def test_function_body_errors_are_retried_with_memoized_steps(
    make_engine: Any, clock: steppe.ManualClock
) -> None:
    client = steppe.Client("body-retry")
    step_calls: list[int] = []
    body_attempts: list[int] = []

    def once() -> int:
        step_calls.append(1)
        return 5

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=3)
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        value = await step.run("once", once)
        body_attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise RuntimeError("transient")
        return value * 2

    result = await run_one(await make_engine(client, clock=clock))
    assert result.output == 10
    assert body_attempts == [0, 1, 2]
    assert step_calls == [1]


async def test_failed_sibling_does_not_lose_successful_results(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("siblings")
    good_calls: list[int] = []

    async def good() -> str:
        good_calls.append(1)
        return "good"

    async def bad() -> str:
        raise steppe.NonRetriableError("bad")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=2)
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            await step.parallel((lambda: step.run("good", good), lambda: step.run("bad", bad)))
        except steppe.StepError as error:
            assert error.step_id == "bad"
        # Asking again returns the stored result: the sibling is not executed again.
        return await step.run("good", good)

    engine = await make_engine(client, clock=clock)
    result = await run_one(engine)
    assert result.status == "completed", result.error
    assert good_calls == [1, 1]  # "good" and "good:1" are two steps; neither ran twice
    memos, _ = engine._store.load_steps(result.run_id)
    assert len(memos) == 3


async def test_sleep_a_day_with_the_test_clock(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("sleepy")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.sleep("nap", timedelta(days=1))
        return "rested"

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    await clock.advance(timedelta(hours=23))
    assert engine.result(run_id).status == "running"
    await clock.advance(timedelta(hours=1))
    assert (await engine.wait(run_id, timeout=5)).output == "rested"


async def test_wait_for_event_matched_by_expression(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("waits")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="signup"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str | None:
        confirmed = await step.wait_for_event(
            "confirm", event="confirmed", if_exp="async.data.user == event.data.user", timeout=timedelta(hours=1)
        )
        return None if confirmed is None else confirmed.data["via"]

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="signup", data={"user": "ann"}))
    await clock.advance(timedelta(minutes=1))
    await engine.send(steppe.Event(name="confirmed", data={"user": "bob", "via": "wrong user"}))
    await engine.send(steppe.Event(name="confirmed", data={"user": "ann", "via": "email"}))
    assert (await engine.wait(run_id, timeout=5)).output == "email"


async def test_wait_for_event_times_out(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("waits-timeout")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="signup"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        got = await step.wait_for_event("confirm", event="confirmed", timeout=timedelta(hours=1))
        return "timed out" if got is None else "matched"

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="signup"))
    await clock.advance(timedelta(hours=2))
    assert (await engine.wait(run_id, timeout=5)).output == "timed out"


async def test_invoke_returns_the_child_output(make_engine: Any) -> None:
    client = steppe.Client("invoke")

    @client.create_function(fn_id="child", trigger=steppe.TriggerEvent(event="never"))
    async def child(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("double", lambda: ctx.event.data["n"] * 2)

    @client.create_function(fn_id="parent", trigger=steppe.TriggerEvent(event="go"))
    async def parent(ctx: steppe.Context, step: steppe.Step) -> int:
        doubled = await step.invoke("call-child", function=child, data={"n": 21})
        return doubled + 0

    assert (await run_one(await make_engine(client))).output == 42


async def test_send_event_starts_another_run_once(make_engine: Any) -> None:
    client = steppe.Client("fan-out")
    received: list[str] = []

    @client.create_function(fn_id="sender", trigger=steppe.TriggerEvent(event="go"))
    async def sender(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return await step.send_event("notify", steppe.Event(name="notified", data={"who": "ann"}))

    @client.create_function(fn_id="receiver", trigger=steppe.TriggerEvent(event="notified"))
    async def receiver(ctx: steppe.Context, step: steppe.Step) -> None:
        received.append(ctx.event.data["who"])

    engine = await make_engine(client)
    result = await run_one(engine)
    assert result.status == "completed" and result.output is not None
    [event_id] = result.output
    for _ in range(200):
        if received:
            break
        await asyncio.sleep(0.01)
    assert received == ["ann"]
    assert isinstance(event_id, str) and event_id


async def test_sync_function_with_sync_steps(make_engine: Any) -> None:
    client = steppe.Client("sync")

    def add(a: int, b: int) -> int:
        return a + b

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> int:
        total = step.run("add", add, 1, 2)
        step.sleep("nap", timedelta(seconds=1))
        doubled, tripled = step.parallel(
            (lambda: step.run("x2", add, total, total), lambda: step.run("x3", add, total, 2 * total))
        )
        return doubled + tripled

    assert (await run_one(await make_engine(client, clock=steppe.ManualClock(auto_advance=True)))).output == 15


async def test_asyncio_gather_over_steps_is_correct(make_engine: Any, recorder: Recorder) -> None:
    client = steppe.Client("gather")

    async def slow(tag: str) -> str:
        await asyncio.sleep(0.03)
        return tag

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return list(await asyncio.gather(step.run("a", slow, "a"), step.run("b", slow, "b")))

    engine = await make_engine(client, listeners=[recorder])
    assert (await run_one(engine)).output == ["a", "b"]
    starts = [i.monotonic for i in recorder.items if isinstance(i, StepStarted)]
    ends = [i.monotonic for i in recorder.items if isinstance(i, StepFinished)]
    assert max(starts) < min(ends)


async def test_step_inside_a_step_is_a_clear_error(make_engine: Any) -> None:
    client = steppe.Client("nested")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        async def outer() -> str:
            return await step.run("inner", lambda: "x")

        return await step.run("outer", outer)

    result = await run_one(await make_engine(client))
    assert result.status == "failed"
    assert result.error is not None
    assert "NestedStepError" in result.error.message
    assert "'inner' was started inside the handler of step 'outer'" in result.error.message


async def test_cron_trigger_starts_runs_on_schedule(make_engine: Any) -> None:
    from datetime import UTC, datetime

    clock = steppe.ManualClock(datetime(2030, 1, 1, 8, 30, tzinfo=UTC))
    client = steppe.Client("cron")
    fired: list[str] = []

    @client.create_function(fn_id="hourly", trigger=steppe.TriggerCron(cron="0 * * * *"))
    async def hourly(ctx: steppe.Context, step: steppe.Step) -> None:
        fired.append(ctx.event.name)

    await make_engine(client, clock=clock)
    await clock.advance(timedelta(minutes=29))
    assert fired == []
    await clock.advance(timedelta(minutes=1))
    for _ in range(100):
        if fired:
            break
        await asyncio.sleep(0.01)
    assert fired == ["inngest/scheduled.timer"]
    await clock.advance(timedelta(hours=2))
    for _ in range(100):
        if len(fired) == 3:
            break
        await asyncio.sleep(0.01)
    assert len(fired) == 3


async def test_many_concurrent_sync_functions_do_not_starve_their_steps(make_engine: Any) -> None:
    """More sync runs than the loop's thread pool has workers: each body waits on steps that need a worker."""
    client = steppe.Client("many-sync")

    def work(i: int) -> int:
        return i

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return step.run("a", work, 1) + step.run("b", work, 2)

    engine = await make_engine(client)
    run_ids = await engine.send([steppe.Event(name="go") for _ in range(40)])
    results = [await engine.wait(run_id, timeout=30) for run_id in run_ids]
    assert [r.output for r in results] == [3] * 40


async def test_runs_of_functions_this_engine_lacks_are_left_as_stored(tmp_path: Path) -> None:
    """An engine opened with other functions must not touch (or fail) runs it cannot execute."""
    database = tmp_path / "shared-history.db"
    clock = steppe.ManualClock()
    first = steppe.Client("app")

    @first.create_function(fn_id="sleeper", trigger=steppe.TriggerEvent(event="go"))
    async def sleeper(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.sleep("nap", timedelta(hours=1))
        return "woke"

    async with steppe.Engine(first, database=database, clock=clock) as engine:
        [run_id] = await engine.send(steppe.Event(name="go"))

    other = steppe.Client("app")

    @other.create_function(fn_id="unrelated", trigger=steppe.TriggerEvent(event="other"))
    async def unrelated(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    async with steppe.Engine(other, database=database, clock=steppe.ManualClock(auto_advance=True)) as engine:
        await asyncio.sleep(0.05)
        assert engine.result(run_id).status == "running"

    async with steppe.Engine(first, database=database, clock=steppe.ManualClock(auto_advance=True)) as engine:
        assert (await engine.wait(run_id, timeout=5)).output == "woke"


async def test_on_failure_handler_runs_with_the_failed_run_and_its_error(
    make_engine: Any, clock: steppe.ManualClock
) -> None:
    client = steppe.Client("failures")
    seen: list[dict[str, Any]] = []

    async def report(ctx: steppe.Context, step: steppe.Step) -> None:
        seen.append(ctx.event.data)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=0, on_failure=report)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        raise steppe.NonRetriableError("out of stock")

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    assert (await engine.wait(run_id, timeout=5)).status == "failed"
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    [data] = seen
    assert data["function_id"] == "failures-f" and data["run_id"] == run_id
    assert data["error"]["name"] == "NonRetriableError" and data["error"]["message"] == "out of stock"
