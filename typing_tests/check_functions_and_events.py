"""`create_function`, triggers, `EventType`, `Context` and `Event`: the types a function body sees."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, assert_type

import pydantic

import steppe
from steppe import Step, StepSync


class Signup(pydantic.BaseModel):
    user_id: str
    plan: str = "free"


SignupEvent = steppe.EventType("user.signup", Signup)
client = steppe.Client(app_id="typing-tests-functions")


@client.create_function(fn_id="typed", trigger=SignupEvent)
async def typed(ctx: steppe.Context[Signup], step: Step) -> int:
    # case: an EventType trigger makes ctx.event.data the model
    assert_type(ctx.event.data, Signup)
    # case: the model's fields
    assert_type(ctx.event.data.plan, str)
    # case: ctx.events with a typed trigger
    assert_type(ctx.events, tuple[steppe.Event[Signup], ...])
    return 1


@client.create_function(
    fn_id="typed-trigger-event", trigger=steppe.TriggerEvent(SignupEvent, expression="event.data.plan == 'pro'")
)
async def typed_trigger_event(ctx: steppe.Context[Signup], step: Step) -> None:
    # case: TriggerEvent(EventType) types ctx.event.data too
    assert_type(ctx.event.data, Signup)


@client.create_function(fn_id="untyped", trigger=steppe.TriggerEvent(event="user.login"), retries=2, name="Untyped")
async def untyped(ctx: steppe.Context, step: Step) -> str:
    # case: a named-event trigger gives dict data
    assert_type(ctx.event.data, dict[str, Any])
    # case: Context.event
    assert_type(ctx.event, steppe.Event[dict[str, Any]])
    # case: Context.events
    assert_type(ctx.events, tuple[steppe.Event[dict[str, Any]], ...])
    # case: Context.run_id
    assert_type(ctx.run_id, str)
    # case: Context.attempt
    assert_type(ctx.attempt, int)
    # case: Context.fn_id
    assert_type(ctx.fn_id, str)
    # case: Context.logger
    assert_type(ctx.logger, logging.Logger | logging.LoggerAdapter[logging.Logger])
    return ""


@client.create_function(fn_id="cron", trigger=steppe.TriggerCron("0 9 * * 1"))
def cron(ctx: steppe.Context, step: StepSync) -> bytes:
    return b""


@client.create_function(fn_id="returns-none", trigger=[steppe.TriggerEvent("a"), steppe.TriggerCron("0 * * * *")])
async def returns_none(ctx: steppe.Context, step: Step) -> None:
    pass


async def notify_failure(ctx: steppe.Context, step: Step) -> None:
    pass


@client.create_function(fn_id="with-failure-handler", trigger=steppe.TriggerEvent("a"), on_failure=notify_failure)
async def with_failure_handler(ctx: steppe.Context, step: Step) -> None:
    pass


def functions() -> None:
    # case: create_function keeps the return type (EventType trigger)
    assert_type(typed, steppe.Function[Signup, int])
    # case: create_function with TriggerEvent(EventType)
    assert_type(typed_trigger_event, steppe.Function[Signup, None])
    # case: create_function with a named-event trigger
    assert_type(untyped, steppe.Function[dict[str, Any], str])
    # case: create_function of a sync handler with a cron trigger
    assert_type(cron, steppe.Function[dict[str, Any], bytes])
    # case: create_function with a list of triggers
    assert_type(returns_none, steppe.Function[dict[str, Any], None])
    # case: create_function with on_failure
    assert_type(with_failure_handler, steppe.Function[dict[str, Any], None])
    # case: Function.id
    assert_type(typed.id, str)
    # case: Function.name
    assert_type(typed.name, str)
    # case: Client.functions
    assert_type(client.functions, list[steppe.Function[Any, Any]])
    # case: FunctionOptions.on_failure
    assert_type(
        steppe.FunctionOptions(on_failure=notify_failure).get("on_failure"),
        Callable[[steppe.Context[dict[str, Any]], Step], Awaitable[None]] | None,
    )


def events() -> None:
    # case: EventType carries its model
    assert_type(SignupEvent, steppe.EventType[Signup])
    # case: EventType.data_type
    assert_type(SignupEvent.data_type, type[Signup])
    # case: EventType.create
    assert_type(SignupEvent.create(Signup(user_id="u")), steppe.Event[Signup])
    # case: EventType.validate
    assert_type(SignupEvent.validate(steppe.Event(name="user.signup", data={"user_id": "u"})), steppe.Event[Signup])
    plain = steppe.Event(name="user.login")
    # case: Event without data defaults to dict data
    assert_type(plain, steppe.Event[dict[str, Any]])
    # case: Event.name
    assert_type(plain.name, str)
    # case: Event.id
    assert_type(plain.id, str)
    # case: Event.ts
    assert_type(plain.ts, int)
    # case: Event.data inferred from the argument
    assert_type(steppe.Event(name="count", data={"n": 1}).data, dict[str, int])
    # case: Event with explicit model data
    assert_type(steppe.Event(name="user.signup", data=Signup(user_id="u")), steppe.Event[Signup])
    # case: TriggerEvent of a name
    assert_type(steppe.TriggerEvent("user.login"), steppe.TriggerEvent[dict[str, Any]])
    # case: TriggerEvent of an EventType
    assert_type(steppe.TriggerEvent(SignupEvent), steppe.TriggerEvent[Signup])
    # case: TriggerEvent.expression
    assert_type(steppe.TriggerEvent("user.login").expression, str | None)
