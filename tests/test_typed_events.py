"""Typed events: declared with a pydantic model, validated when sent, rebuilt when a run reads them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

import steppe


class Signup(pydantic.BaseModel):
    user_id: str
    plan: str = "free"


class Confirmation(pydantic.BaseModel):
    user_id: str
    via: str


SignupEvent = steppe.EventType("app/user.signup", Signup)
ConfirmationEvent = steppe.EventType("app/email.confirmed", Confirmation)


async def test_ctx_event_data_is_the_declared_model(make_engine: Any) -> None:
    client = steppe.Client("typed")
    seen: list[object] = []

    @client.create_function(fn_id="f", trigger=SignupEvent)
    async def f(ctx: steppe.Context[Signup], step: steppe.Step) -> str:
        seen.append(ctx.event.data)
        return ctx.event.data.plan

    engine = await make_engine(client)
    [run_id] = await engine.send(SignupEvent.create(Signup(user_id="u1", plan="pro")))
    assert (await engine.wait(run_id, timeout=5)).output == "pro"
    assert seen == [Signup(user_id="u1", plan="pro")]


async def test_send_refuses_an_invalid_payload_and_stores_nothing(make_engine: Any) -> None:
    client = steppe.Client("typed-invalid")

    @client.create_function(fn_id="f", trigger=SignupEvent)
    async def f(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        return None

    engine = await make_engine(client)
    with pytest.raises(pydantic.ValidationError, match="user_id"):
        await engine.send(steppe.Event(name="app/user.signup", data={"plan": "pro"}))
    assert engine._store.unfinished_runs() == []
    # A valid event afterwards works: the failed send left nothing half-written.
    [run_id] = await engine.send(steppe.Event(name="app/user.signup", data={"user_id": "u2"}))
    assert (await engine.wait(run_id, timeout=5)).status == "completed"


async def test_a_stored_payload_that_no_longer_validates_fails_the_run_without_retries(tmp_path: Path) -> None:
    database = tmp_path / "evolving.db"
    clock = steppe.ManualClock()
    before = steppe.Client("evolving")

    @before.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="app/user.signup"))
    async def untyped(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("later", timedelta(days=1))

    async with steppe.Engine(before, database=database, clock=clock) as engine:
        [run_id] = await engine.send(steppe.Event(name="app/user.signup", data={"user_id": 17}))

    after = steppe.Client("evolving")
    attempts: list[int] = []

    @after.create_function(fn_id="f", trigger=SignupEvent, retries=3)
    async def typed(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        attempts.append(ctx.attempt)

    async with steppe.Engine(after, database=database, clock=clock) as engine:
        result = await engine.wait(run_id, timeout=5)
    assert result.status == "failed"
    assert result.error is not None and result.error.name == "ValidationError"
    assert "user_id" in result.error.message
    assert attempts == []


async def test_wait_for_a_typed_event_returns_the_model(make_engine: Any) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("typed-wait")

    @client.create_function(fn_id="f", trigger=SignupEvent)
    async def f(ctx: steppe.Context[Signup], step: steppe.Step) -> str:
        confirmed = await step.wait_for_event(
            "confirm",
            event=ConfirmationEvent,
            if_exp="async.data.user_id == event.data.user_id",
            timeout=timedelta(hours=1),
        )
        assert confirmed is None or isinstance(confirmed.data, Confirmation)
        return "timeout" if confirmed is None else confirmed.data.via

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(SignupEvent.create(Signup(user_id="u1")))
    await clock.advance(timedelta(seconds=1))
    await engine.send(ConfirmationEvent.create(Confirmation(user_id="u1", via="link")))
    assert (await engine.wait(run_id, timeout=5)).output == "link"


async def test_invoke_checks_data_against_the_invoked_functions_event_type(make_engine: Any) -> None:
    client = steppe.Client("typed-invoke")

    @client.create_function(fn_id="welcome", trigger=SignupEvent)
    async def welcome(ctx: steppe.Context[Signup], step: steppe.Step) -> tuple[str, int]:
        return (ctx.event.data.user_id, len(ctx.event.data.plan))

    @client.create_function(fn_id="good", trigger=steppe.TriggerEvent(event="go"))
    async def good(ctx: steppe.Context, step: steppe.Step) -> tuple[str, int]:
        return await step.invoke("call", function=welcome, data=Signup(user_id="u9", plan="team"))

    @client.create_function(fn_id="bad", trigger=steppe.TriggerEvent(event="go-bad"))
    async def bad(ctx: steppe.Context, step: steppe.Step) -> object:
        return await step.invoke("call", function=welcome, data={"plan": "missing user"})  # type: ignore[arg-type, misc]  # pyright: ignore[reportArgumentType]

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=5)
    assert result.output == ("u9", 4)
    assert type(result.output) is tuple  # rebuilt from storage as the declared tuple, not a list

    [run_id] = await engine.send(steppe.Event(name="go-bad"))
    failed = await engine.wait(run_id, timeout=5)
    assert failed.status == "failed" and failed.error is not None
    assert "step 'call' of function 'typed-invoke-bad'" in failed.error.message
    assert "user_id" in failed.error.message


async def test_output_type_types_an_unannotated_handler(make_engine: Any) -> None:
    client = steppe.Client("output-type")
    seen: list[object] = []

    def plan() -> Any:  # what an unannotated handler returns, as checkers see it
        return {"user_id": "u1", "plan": "pro"}

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        value = await step.run("plan", plan, output_type=Signup)
        seen.append(value)

    from steppe.testing import run_function

    result = await run_function(f, steppe.Event(name="go"))
    assert result.status == "completed", result.error
    assert seen == [Signup(user_id="u1", plan="pro")]
