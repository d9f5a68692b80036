"""Return types of the other `Step` methods: sleep, wait_for_event, invoke, send_event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, assert_type

import pydantic

import steppe
from steppe import Step, StepCall


class Signup(pydantic.BaseModel):
    user_id: str


class Report(pydantic.BaseModel):
    total: int


SignupEvent = steppe.EventType("user.signup", Signup)
client = steppe.Client(app_id="typing-tests-methods")


@client.create_function(fn_id="child", trigger=SignupEvent)
async def child(ctx: steppe.Context[Signup], step: Step) -> Report:
    return Report(total=1)


@client.create_function(fn_id="untyped-child", trigger=steppe.TriggerEvent("report.requested"))
async def untyped_child(ctx: steppe.Context, step: Step) -> list[int]:
    return []


async def methods(step: Step) -> None:
    # case: sleep returns StepCall[None]
    await assert_type(step.sleep("pause", timedelta(seconds=1)), StepCall[None])
    # case: await sleep
    assert_type(await step.sleep("pause-2", timedelta(seconds=1)), None)
    # case: await sleep_until
    assert_type(await step.sleep_until("until", datetime(2030, 1, 1, tzinfo=UTC)), None)
    # case: wait_for_event with an event name
    assert_type(
        await step.wait_for_event("wait", event="user.confirmed", timeout=timedelta(hours=1)),
        steppe.Event[dict[str, Any]] | None,
    )
    # case: wait_for_event with if_exp
    assert_type(
        await step.wait_for_event(
            "wait-if", event="user.confirmed", if_exp="async.data.id == event.data.id", timeout=timedelta(hours=1)
        ),
        steppe.Event[dict[str, Any]] | None,
    )
    # case: wait_for_event with an EventType
    assert_type(
        await step.wait_for_event("wait-typed", event=SignupEvent, timeout=timedelta(hours=1)),
        steppe.Event[Signup] | None,
    )
    # case: invoke returns the invoked function's output type
    assert_type(await step.invoke("invoke", function=child, data=Signup(user_id="u")), Report)
    # case: invoke a dict-triggered function
    assert_type(
        await step.invoke("invoke-dict", function=untyped_child, data={"period": "day"}, timeout=timedelta(minutes=5)),
        list[int],
    )
    # case: send_event returns the event ids
    assert_type(await step.send_event("send", steppe.Event(name="user.signup")), list[str])
    # case: send_event of a list of typed events
    assert_type(await step.send_event("send-many", [SignupEvent.create(Signup(user_id="a"))]), list[str])


async def typed_wait_narrowing(step: Step) -> None:
    confirmed = await step.wait_for_event("wait-narrow", event=SignupEvent, timeout=timedelta(hours=1))
    if confirmed is not None:
        # case: a typed event's data after narrowing out None
        assert_type(confirmed.data, Signup)
        # case: a typed event's model field
        assert_type(confirmed.data.user_id, str)


async def in_parallel(step: Step) -> None:
    result = await step.parallel(
        (
            lambda: step.wait_for_event("wait", event=SignupEvent, timeout=timedelta(hours=1)),
            lambda: step.invoke("invoke", function=child, data=Signup(user_id="u")),
            lambda: step.sleep("pause", timedelta(seconds=1)),
        )
    )
    # case: wait_for_event, invoke and sleep in one parallel group
    assert_type(result, tuple[steppe.Event[Signup] | None, Report, None])
