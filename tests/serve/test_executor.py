"""The protocol's rules on top of the shared core: what a call runs, and what it reports."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import steppe
from steppe._core.ids import StepIdAllocator
from steppe._core.outcomes import Interrupt, MemoData
from steppe._core.requests import RunRequest, SleepRequest
from steppe._protocol.call_driver import HttpDriver
from steppe._protocol.executor import retry_after_value
from tests.serve.helpers import FakeApi, body, call_body, call_request, dev_handler, event, ops, sha1


def dev_client() -> steppe.Client:
    return steppe.Client("exec", is_production=False, event_key="k")


# --- parallel planning ---------------------------------------------------------------------------


async def test_sync_parallel_branches_are_reported_in_callable_order_every_time() -> None:
    client = dev_client()
    started = threading.Barrier(4)

    def named(name: str) -> str:
        return name

    @client.create_function(fn_id="fan-out", trigger=steppe.TriggerEvent("e"))
    def fan_out(ctx: steppe.Context, step: steppe.StepSync) -> tuple[str, ...]:
        def start(name: str) -> str:
            started.wait()  # all four threads start together, so their order is up to the OS
            return step.run(name, named, name)

        return step.parallel(tuple(functools.partial(start, name) for name in "abcd"))

    handler = dev_handler(client)
    for _ in range(10):
        started.reset()
        answer = await handler.handle(call_request(fan_out, call_body(event("e"))))
        assert [(o["op"], o["displayName"]) for o in ops(answer)] == [("StepPlanned", n) for n in "abcd"]


async def test_a_group_of_different_steps_reports_each_with_its_own_op() -> None:
    client = dev_client()

    @client.create_function(fn_id="mixed", trigger=steppe.TriggerEvent("e"))
    async def mixed(ctx: steppe.Context, step: steppe.Step) -> Any:
        return await step.parallel(
            (
                lambda: step.run("work", lambda: 1),
                lambda: step.sleep("pause", timedelta(seconds=5)),
                lambda: step.wait_for_event("signal", event="go", timeout=timedelta(minutes=1)),
            ),
            mode="race",
        )

    answer = ops(await dev_handler(client).handle(call_request(mixed, call_body(event("e")))))
    assert [(o["op"], o.get("opts")) for o in answer] == [
        ("StepPlanned", {"parallelMode": "race"}),
        ("Sleep", {"duration": "5s", "parallelMode": "race"}),
        ("WaitForEvent", {"event": "go", "timeout": "1m", "parallelMode": "race"}),
    ]


async def test_one_new_run_step_in_a_group_runs_at_once_when_allowed() -> None:
    client = dev_client()

    @client.create_function(fn_id="pair", trigger=steppe.TriggerEvent("e"))
    async def pair(ctx: steppe.Context, step: steppe.Step) -> Any:
        return await step.parallel((lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)))

    handler = dev_handler(client)
    memo = {sha1("left"): {"data": 1}}
    allowed = ops(await handler.handle(call_request(pair, call_body(event("e"), memo))))
    assert [(o["op"], o["displayName"], o.get("data")) for o in allowed] == [("StepRun", "right", 2)]
    disabled = ops(
        await handler.handle(call_request(pair, call_body(event("e"), memo, disable_immediate_execution=True)))
    )
    assert [(o["op"], o["displayName"]) for o in disabled] == [("StepPlanned", "right")]


async def test_a_lone_new_sleep_is_reported_not_run() -> None:
    client = dev_client()
    ran: list[str] = []

    @client.create_function(fn_id="nap", trigger=steppe.TriggerEvent("e"))
    async def nap(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("nap", timedelta(hours=2))
        ran.append("after the sleep")

    answer = ops(await dev_handler(client).handle(call_request(nap, call_body(event("e")))))
    assert [(o["op"], o["opts"]) for o in answer] == [("Sleep", {"duration": "2h"})]
    assert ran == []


# --- targeting -----------------------------------------------------------------------------------


async def test_a_targeted_call_runs_only_its_target() -> None:
    client = dev_client()
    ran: list[str] = []

    def work(name: str) -> str:
        ran.append(name)
        return name

    @client.create_function(fn_id="three", trigger=steppe.TriggerEvent("e"))
    async def three(ctx: steppe.Context, step: steppe.Step) -> Any:
        return await step.parallel(tuple(step.defer(n, work, n) for n in ("a", "b", "c")))

    answer = ops(
        await dev_handler(client).handle(
            call_request(
                three, call_body(event("e"), step_id=sha1("b"), disable_immediate_execution=True), step_id=sha1("b")
            )
        )
    )
    assert [(o["op"], o["id"], o["data"]) for o in answer] == [("StepRun", sha1("b"), "b")]
    assert ran == ["b"]


async def test_a_targeted_call_accepts_an_upper_case_hash() -> None:
    client = dev_client()

    @client.create_function(fn_id="one", trigger=steppe.TriggerEvent("e"))
    async def one(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("only", lambda: 1)

    target = sha1("only").upper()
    answer = ops(await dev_handler(client).handle(call_request(one, call_body(event("e")), step_id=target)))
    assert [(o["op"], o["id"]) for o in answer] == [("StepRun", sha1("only"))]


async def test_a_targeted_call_of_a_finished_function_returns_its_output() -> None:
    client = dev_client()

    @client.create_function(fn_id="done", trigger=steppe.TriggerEvent("e"))
    async def done(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("only", lambda: 1) + 1

    memo = {sha1("only"): {"data": 1}}
    answer = await dev_handler(client).handle(call_request(done, call_body(event("e"), memo), step_id=sha1("only")))
    assert (answer.status, body(answer)) == (200, 2)


# --- step outcomes -------------------------------------------------------------------------------


async def test_retry_after_on_the_last_attempt_fails_the_step_without_a_retry_time() -> None:
    client = dev_client()

    def slow() -> int:
        raise steppe.RetryAfterError("later", timedelta(seconds=5))

    @client.create_function(fn_id="slow", trigger=steppe.TriggerEvent("e"), retries=1)
    async def slow_fn(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("slow", slow)

    answer = await dev_handler(client).handle(call_request(slow_fn, call_body(event("e"), attempt=1)))
    assert [o["op"] for o in ops(answer)] == ["StepFailed"]
    assert answer.headers["x-inngest-no-retry"] == "true"
    assert "retry-after" not in answer.headers


async def test_a_step_output_that_does_not_fit_its_type_fails_the_step_for_good() -> None:
    client = dev_client()

    def not_an_int() -> int:
        return "seven"  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

    @client.create_function(fn_id="typed", trigger=steppe.TriggerEvent("e"))
    async def typed(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("count", not_an_int)

    answer = ops(await dev_handler(client).handle(call_request(typed, call_body(event("e")))))
    assert [(o["op"], o["error"]["name"]) for o in answer] == [("StepFailed", "OutputValueError")]


async def test_a_nested_step_in_an_async_function_fails_the_outer_step() -> None:
    client = dev_client()

    @client.create_function(fn_id="nested", trigger=steppe.TriggerEvent("e"))
    async def nested(ctx: steppe.Context, step: steppe.Step) -> Any:
        async def outer() -> str:
            return await step.run("inner", lambda: "x")

        return await step.run("outer", outer)

    answer = ops(await dev_handler(client).handle(call_request(nested, call_body(event("e")))))
    assert [(o["op"], o["displayName"], o["error"]["name"]) for o in answer] == [
        ("StepFailed", "outer", "NestedStepError")
    ]


def test_retry_after_values() -> None:
    assert retry_after_value(timedelta(seconds=1.2)) == "2"
    assert retry_after_value(datetime(2030, 1, 1, tzinfo=UTC)) == "2030-01-01T00:00:00.000Z"


# --- send_event ----------------------------------------------------------------------------------


class Signup(BaseModel):
    email: str


SignupEvent = steppe.EventType("app/signup", Signup)


async def test_send_event_validates_typed_events_before_posting_them() -> None:
    client = dev_client()

    @client.create_function(fn_id="welcome", trigger=SignupEvent)
    async def welcome(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        return None

    @client.create_function(fn_id="announce", trigger=steppe.TriggerEvent("e"))
    async def announce(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return await step.send_event("announce", steppe.Event(name="app/signup", data={"email": 42}))

    api = FakeApi()
    answer = ops(await dev_handler(client, api).handle(call_request(announce, call_body(event("e")))))
    assert [(o["op"], o["error"]["name"]) for o in answer] == [("StepFailed", "NonRetriableError")]
    assert api.calls == []


async def test_send_event_that_the_api_refuses_is_retried() -> None:
    client = dev_client()

    @client.create_function(fn_id="announce", trigger=steppe.TriggerEvent("e"))
    async def announce(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return await step.send_event("announce", [steppe.Event(name="a"), steppe.Event(name="b", id="given")])

    api = FakeApi({"POST /e/k": httpx.Response(503, text="overloaded")})
    answer = ops(await dev_handler(client, api).handle(call_request(announce, call_body(event("e")))))
    assert [(o["op"], o["error"]["name"]) for o in answer] == [("StepError", "InngestApiError")]
    assert [e["name"] for e in httpx.Response(200, content=api.calls[0].content).json()] == ["a", "b"]
    assert httpx.Response(200, content=api.calls[0].content).json()[1]["id"] == "given"


# --- events and invoke ---------------------------------------------------------------------------


async def test_an_event_that_does_not_fit_the_trigger_type_is_a_non_retriable_failure() -> None:
    client = dev_client()
    ran: list[str] = []

    @client.create_function(fn_id="welcome", trigger=SignupEvent)
    async def welcome(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        ran.append(ctx.event.data.email)

    answer = await dev_handler(client).handle(call_request(welcome, call_body(event("app/signup", {"email": 1}))))
    assert (answer.status, answer.headers["x-inngest-no-retry"]) == (400, "true")
    assert "validation error for" in body(answer)["message"]
    assert "pydantic_core._pydantic_core.ValidationError: 1 validation error for" in body(answer)["stack"]
    assert ran == []


async def test_the_context_carries_the_run() -> None:
    client = dev_client()
    seen: list[tuple[str, int, str, str]] = []

    @client.create_function(fn_id="ctx", trigger=SignupEvent)
    async def ctx_fn(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        seen.append((ctx.run_id, ctx.attempt, ctx.fn_id, ctx.event.data.email))

    answer = await dev_handler(client).handle(
        call_request(ctx_fn, call_body(event("app/signup", {"email": "a@b.c"}), attempt=2))
    )
    assert answer.status == 200
    assert seen == [("01HTEST0RUN000000000000000", 2, "exec-ctx", "a@b.c")]


async def test_stored_steps_that_a_finished_run_never_reached_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = dev_client()

    @client.create_function(fn_id="changed", trigger=steppe.TriggerEvent("e"))
    async def changed(ctx: steppe.Context, step: steppe.Step) -> str:
        return "no steps any more"

    memo = {sha1("removed-step"): {"data": 1}}
    with caplog.at_level(logging.WARNING, logger="steppe"):
        answer = await dev_handler(client).handle(call_request(changed, call_body(event("e"), memo)))
    assert answer.status == 200
    assert "finished without reaching 1 stored step(s)" in caplog.text


# --- the driver alone ----------------------------------------------------------------------------


async def test_the_driver_notes_new_steps_and_interrupts() -> None:
    ids = StepIdAllocator()
    first, second = ids.allocate("a"), ids.allocate("b")
    driver = HttpDriver({first.hashed: MemoData(1)}, target=None)
    assert driver.memo(first) == MemoData(1)
    assert driver.memo(second) is None
    assert driver.visited == {first.hashed: "a"}
    sleep = SleepRequest(id=second, display_name="b", parallel=None, until=None, duration=timedelta(seconds=1))
    with pytest.raises(Interrupt):
        await driver.new_step(sleep)
    assert driver.found == [sleep]


async def test_a_targeted_driver_keeps_only_its_target() -> None:
    ids = StepIdAllocator()
    other, target = ids.allocate("other"), ids.allocate("target")

    async def nothing() -> object:
        return None

    def run(step_id: Any) -> RunRequest:
        codec: Any = None
        return RunRequest(
            id=step_id, display_name=step_id.user_id, parallel=None, execute=nothing, codec=codec, what="step"
        )

    driver = HttpDriver({}, target=target.hashed)
    for step_id in (other, target):
        with pytest.raises(Interrupt):
            await driver.new_step(run(step_id))
    assert driver.found == []
    assert driver.target_request is not None and driver.target_request.id == target


async def test_the_driver_reports_found_steps_in_program_order_whatever_order_they_arrive_in() -> None:
    ids = StepIdAllocator()
    taken = [ids.allocate(name) for name in ("a", "b", "c")]
    driver = HttpDriver({}, target=None)
    requests = [
        SleepRequest(
            id=step_id, display_name=step_id.user_id, parallel="wait", until=None, duration=timedelta(seconds=1)
        )
        for step_id in taken
    ]
    for request in (requests[2], requests[0], requests[1]):  # as threads might deliver them
        with pytest.raises(Interrupt):
            await driver.new_step(request)
    assert [r.id.user_id for r in driver.found] == ["a", "b", "c"]
