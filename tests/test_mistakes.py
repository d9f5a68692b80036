"""Mistakes in using steppe fail fast and say what is wrong; a step is never skipped silently.

This module uses ``from __future__ import annotations`` on purpose: handlers' annotations are strings here, as in
many users' modules.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import steppe
from steppe._core.execute import Failed, Suspended, execute
from steppe._core.serde import UnsupportedTypeError
from steppe.options import BatchEvents
from tests.test_core import ScriptedDriver, context

# -- 3. misuse of the step API fails the run at once, naming the call -------------------------------------------


def _noop() -> int:
    return 1


MISUSES: dict[str, tuple[Callable[[steppe.Step], Any], str]] = {
    "parallel given a list": (
        lambda step: step.parallel([lambda: step.run("a", _noop)]),  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownLambdaType]
        r"step\.parallel takes a tuple of zero-argument callables, got list; wrap it in tuple\(\.\.\.\)",
    ),
    "parallel element not callable": (
        lambda step: step.parallel((lambda: step.run("a", _noop), 42)),  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnknownLambdaType]
        r"step\.parallel: element 1 is not callable \(got int\)",
    ),
    "parallel element not a step": (
        lambda step: step.parallel((lambda: 42,)),  # type: ignore[arg-type, return-value]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnknownLambdaType]
        r"step\.parallel: element 0 returned int, not an awaitable",
    ),
    "handler not callable": (
        lambda step: step.run("charge", 42),  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownLambdaType]
        r"step 'charge': handler must be callable, got int",
    ),
    "empty step id": (lambda step: step.run("", _noop), r"a step id must be a non-empty string, got ''"),
    "negative sleep": (
        lambda step: step.sleep("nap", timedelta(seconds=-1)),
        r"step 'nap': duration must not be negative",
    ),
    "sleep given seconds": (
        lambda step: step.sleep("nap", 5),  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        r"step 'nap': duration must be a timedelta, got int",
    ),
    "naive datetime": (
        lambda step: step.sleep_until("nap", datetime(2030, 1, 1)),
        r"step 'nap': datetime\.datetime\(2030, 1, 1, 0, 0\) must be a timezone-aware datetime",
    ),
    "negative wait timeout": (
        lambda step: step.wait_for_event("wait", event="x", timeout=timedelta(seconds=-1)),
        r"step 'wait': duration must not be negative",
    ),
    "empty event name": (
        lambda step: step.wait_for_event("wait", event="", timeout=timedelta(seconds=1)),
        r"step 'wait': event must be a non-empty event name",
    ),
    "send_event given a dict": (
        lambda step: step.send_event("send", {"name": "x"}),  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        r"step 'send': events\[0\] is a str, not a steppe\.Event",
    ),
    "nested step": (
        lambda step: step.run("outer", lambda: step.run("inner", _noop)),
        r"step 'inner' was started inside the handler of step 'outer'",
    ),
}


@pytest.mark.parametrize("misuse", list(MISUSES))
async def test_a_misuse_of_the_step_api_fails_the_run_at_once_naming_the_call(
    make_engine: Any, clock: steppe.ManualClock, misuse: str
) -> None:
    call, message = MISUSES[misuse]
    client = steppe.Client("misuse")
    attempts: list[int] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        attempts.append(ctx.attempt)
        await call(step)

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "failed" and result.error is not None
    assert attempts == [0]  # no retries: the code would make the same call next time
    # A nested step fails its outer step, which the body sees as that step's StepError.
    assert result.error.name == ("StepError" if misuse == "nested step" else "StepUsageError")
    assert re.search(message, result.error.message), result.error.message


def test_a_step_usage_error_is_still_a_type_error_and_a_value_error() -> None:
    assert issubclass(steppe.StepUsageError, TypeError) and issubclass(steppe.StepUsageError, ValueError)
    assert issubclass(steppe.StepUsageError, steppe.NonRetriableError)
    assert issubclass(steppe.NestedStepError, steppe.StepUsageError)


def test_swapped_handler_parameters_are_refused_at_definition() -> None:
    client = steppe.Client("swapped")
    with pytest.raises(
        steppe.FunctionDefinitionError,
        match=r"'swapped-f': the handler's parameters are \(ctx, step\), in that order, but 'step' is annotated "
        r"Step and 'ctx' Context; write \(ctx: steppe\.Context, step: steppe\.Step\)",
    ):

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
        async def f(step: steppe.Step, ctx: steppe.Context) -> None:
            return None

    with pytest.raises(
        steppe.FunctionDefinitionError, match=r"'swapped-g'.*write \(ctx: steppe\.Context, step: steppe\.StepSync\)"
    ):

        @client.create_function(fn_id="g", trigger=steppe.TriggerEvent(event="go"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
        def g(step: steppe.StepSync, ctx: steppe.Context[dict[str, Any]]) -> None:
            return None


def test_a_step_parameter_annotated_as_the_context_is_refused_even_unresolved() -> None:
    client = steppe.Client("swapped")
    with pytest.raises(steppe.FunctionDefinitionError, match=r"'ctx' is annotated nothing and 'step' Context"):

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
        async def f(ctx, step: Context[Unknown]) -> None:  # type: ignore[name-defined, no-untyped-def]  # noqa: F821  # pyright: ignore[reportUndefinedVariable, reportUnknownParameterType, reportMissingParameterType]
            return None


async def test_parameter_annotations_steppe_cannot_resolve_do_not_stop_a_function(
    make_engine: Any, clock: steppe.ManualClock
) -> None:
    # steppe imported inside a function, under `from __future__ import annotations`: the module has no such names.
    from steppe import Context as LocalContext
    from steppe import Step as LocalStep

    client = steppe.Client("local")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: LocalContext, step: LocalStep) -> int:
        return await step.run("one", _noop)

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    assert (await engine.wait(run_id, timeout=10)).output == 1


def test_a_return_annotation_that_cannot_be_resolved_is_named_with_the_missing_name() -> None:
    from pydantic import BaseModel

    class Receipt(BaseModel):  # local: the module's namespace does not have it
        total: int

    client = steppe.Client("local")
    with pytest.raises(
        UnsupportedTypeError,
        match=r"cannot resolve the return annotation 'Receipt' of .*f: name 'Receipt' is not defined \(define or "
        r"import 'Receipt' at the top of the module",
    ):

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
        async def f(ctx: steppe.Context, step: steppe.Step) -> Receipt:
            return Receipt(total=1)


# -- 3. duplicate ids inside one parallel group are warned about ---------------------------------------------------


async def test_a_loop_of_lambdas_sharing_a_step_id_is_warned_about_once(
    make_engine: Any, clock: steppe.ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = steppe.Client("loop")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        calls: list[Callable[[], steppe.StepCall[int]]] = []
        for i in range(3):
            calls.append(lambda: step.run(f"get-{i}", lambda: i))  # noqa: B023 - the mistake under test
        first = await step.parallel(tuple(calls))
        second = await step.parallel(tuple(calls))  # the same mistake again: one warning per attempt
        return [*first, *second]

    engine = await make_engine(client, clock=clock)
    with caplog.at_level(logging.WARNING, logger="steppe"):
        [run_id] = await engine.send(steppe.Event(name="go"))
        assert (await engine.wait(run_id, timeout=10)).output == [2, 2, 2, 2, 2, 2]
    warnings = [r.getMessage() for r in caplog.records if r.name == "steppe" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'get-2' 3 times ('get-2', 'get-2:1', 'get-2:2')" in warnings[0]
    assert "step.defer" in warnings[0] and "'loop-f'" in warnings[0]


def test_sync_parallel_branches_sharing_a_step_id_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("loop")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> tuple[int, ...]:
        return step.parallel((lambda: step.run("same", _noop), lambda: step.run("same", _noop)))

    async def run() -> None:
        async with steppe.Engine(client) as engine:
            [run_id] = await engine.send(steppe.Event(name="go"))
            assert (await engine.wait(run_id, timeout=10)).output == (1, 1)

    with caplog.at_level(logging.WARNING, logger="steppe"):
        asyncio.run(run())
    assert any("'same' 2 times ('same', 'same:1')" in r.getMessage() for r in caplog.records if r.name == "steppe")


async def test_distinct_ids_and_a_sequential_loop_are_not_warned_about(
    make_engine: Any, clock: steppe.ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = steppe.Client("loop")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        found = list(await step.parallel(tuple(step.defer(f"get-{i}", lambda n: n, i) for i in range(3))))
        for _ in range(2):  # a repeated id in sequence is the documented way to loop: ids get ":n" suffixes
            found.append(await step.run("poll", _noop))
        return found

    engine = await make_engine(client, clock=clock)
    with caplog.at_level(logging.WARNING, logger="steppe"):
        [run_id] = await engine.send(steppe.Event(name="go"))
        assert (await engine.wait(run_id, timeout=10)).output == [0, 1, 2, 1, 1]
    assert [r for r in caplog.records if r.name == "steppe"] == []


# -- 4. a step is never skipped silently --------------------------------------------------------------------------


async def test_a_step_call_never_awaited_fails_the_run_naming_it(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("forgot")
    charged: list[int] = []
    attempts: list[int] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        attempts.append(ctx.attempt)
        await step.run("reserve", _noop)
        _ = step.run("charge", lambda: charged.append(1))  # made, never awaited: the mistake under test
        return "done"

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "failed" and result.error is not None
    assert result.error.name == "StepUsageError"
    assert result.error.message.startswith(
        "step 'charge' of function 'forgot-f' was never awaited, so never ran: a step method returns a StepCall"
    )
    assert "`await step.run(...)`" in result.error.message
    assert attempts == [0] and charged == []


async def test_a_parallel_group_never_awaited_fails_the_run(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("forgot")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        _ = step.parallel((step.defer("a", _noop), step.defer("b", _noop)))  # never awaited

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert result.error is not None and result.error.name == "StepUsageError"
    assert "a step.parallel group of 2 (function 'forgot-f') was never awaited" in result.error.message


async def test_steps_awaited_later_are_not_taken_for_forgotten(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("later")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        deferred = step.defer("never-started", _noop)  # a deferred step that is never started is not a step
        del deferred
        first, second = step.run("first", _noop), step.run("second", lambda: 2)
        gathered = await asyncio.gather(second, first)
        group = await step.group().add(lambda: step.run("g1", _noop)).add(step.defer("g2", lambda: 3)).parallel()
        return [*gathered, *group]

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", [2, 1, 1, 3])


async def test_an_attempt_that_ends_at_a_new_step_is_not_taken_for_forgetting_one() -> None:
    # The HTTP protocol's attempts end at the first new step: a step made earlier and awaited later is fine there.
    client = steppe.Client("http")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        later = step.run("later", _noop)
        await step.run("now", _noop)
        return await later

    driver = ScriptedDriver()
    outcome = await execute(f, context(client), driver)
    assert isinstance(outcome, Suspended) and [r.id.user_id for r in driver.new] == ["now"]

    @client.create_function(fn_id="g", trigger=steppe.TriggerEvent(event="go"))
    async def g(ctx: steppe.Context, step: steppe.Step) -> int:
        _ = step.run("forgotten", _noop)
        return 1

    outcome = await execute(g, context(client), ScriptedDriver())
    assert isinstance(outcome, Failed) and not outcome.retriable and "'forgotten'" in outcome.error.message


# -- 5. the failure event carries the triggering event -------------------------------------------------------------


async def test_a_failure_handler_reads_the_triggering_event(make_engine: Any, clock: steppe.ManualClock) -> None:
    client = steppe.Client("failures")
    seen: list[dict[str, Any]] = []

    async def report(ctx: steppe.Context, step: steppe.Step) -> None:
        seen.append(ctx.event.data)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="order"), retries=0, on_failure=report)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        raise steppe.NonRetriableError("out of stock")

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="order", data={"sku": "A-1"}))
    assert (await engine.wait(run_id, timeout=10)).status == "failed"
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    [data] = seen
    assert data["event"]["name"] == "order" and data["event"]["data"] == {"sku": "A-1"}
    assert data["run_id"] == run_id and "events" not in data


async def test_a_batched_runs_failure_event_carries_all_its_events(make_engine: Any) -> None:
    client = steppe.Client("failures")
    seen: list[dict[str, Any]] = []

    async def report(ctx: steppe.Context, step: steppe.Step) -> None:
        seen.append(ctx.event.data)

    @client.create_function(
        fn_id="f",
        trigger=steppe.TriggerEvent(event="order"),
        retries=0,
        on_failure=report,
        batch_events=BatchEvents(max_size=2, timeout=timedelta(seconds=5)),
    )
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        raise steppe.NonRetriableError("out of stock")

    engine = await make_engine(client)
    [run_id] = await engine.send([steppe.Event(name="order", data={"sku": sku}) for sku in ("A-1", "B-2")])
    assert (await engine.wait(run_id, timeout=10)).status == "failed"
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    [data] = seen
    assert data["event"]["data"] == {"sku": "A-1"}
    assert [event["data"] for event in data["events"]] == [{"sku": "A-1"}, {"sku": "B-2"}]
