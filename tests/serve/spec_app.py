"""The functions behind the spec fixtures (tests/serve/fixtures/spec/): one per behaviour of the protocol.

They are ``async def`` (the peer twins in twins.py are plain ``def``), so together the two suites cover both.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import BaseModel

import steppe
from steppe.options import Concurrency, RateLimit, Throttle

DEV_APP_ID: Final = "spec-app"
CLOUD_APP_ID: Final = "spec-cloud"
SIGNING_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe spec fixtures").hexdigest()
FALLBACK_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe spec fixtures fallback").hexdigest()
EVENT_KEY: Final = "spec-event-key"
NOW: Final = 1_700_000_000


class Approval(BaseModel):
    order: int
    user: str


Approved = steppe.EventType("spec/approved", Approval)


class Order(BaseModel):
    order: int


def build_dev_client(**keywords: Any) -> steppe.Client:
    client = steppe.Client(DEV_APP_ID, is_production=False, event_key=EVENT_KEY, **keywords)

    @client.create_function(fn_id="sequential", trigger=steppe.TriggerEvent("spec/sequential"))
    async def sequential(ctx: steppe.Context, step: steppe.Step) -> dict[str, str]:
        first = await step.run("first", lambda: "A")
        second = await step.run("second", lambda: first + "B")
        return {"result": second}

    @client.create_function(fn_id="parallel", trigger=steppe.TriggerEvent("spec/parallel"))
    async def parallel(ctx: steppe.Context, step: steppe.Step) -> int:
        left, right = await step.parallel((lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)))
        return left + right

    @client.create_function(fn_id="race", trigger=steppe.TriggerEvent("spec/race"))
    async def race(ctx: steppe.Context, step: steppe.Step) -> int:
        left, right = await step.parallel(
            (lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)), mode="race"
        )
        return left + right

    @client.create_function(fn_id="nap", trigger=steppe.TriggerEvent("spec/nap"))
    async def nap(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.sleep("nap", timedelta(minutes=90))
        return "awake"

    @client.create_function(fn_id="alarm", trigger=steppe.TriggerEvent("spec/alarm"))
    async def alarm(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.sleep_until("alarm", datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC))
        return "ring"

    @client.create_function(fn_id="approval", trigger=steppe.EventType("spec/order", Order))
    async def approval(ctx: steppe.Context[Order], step: steppe.Step) -> dict[str, Any]:
        found = await step.wait_for_event(
            "approval", event=Approved, if_exp="async.data.order == event.data.order", timeout=timedelta(days=2)
        )
        # found.data is an Approval, rebuilt from the stored event: not a dict.
        return {"order": ctx.event.data.order, "approved_by": None if found is None else found.data.user}

    @client.create_function(fn_id="child", trigger=steppe.TriggerEvent("spec/child"))
    async def child(ctx: steppe.Context, step: steppe.Step) -> int:
        return int(ctx.event.data["n"]) + 1

    @client.create_function(fn_id="invoker", trigger=steppe.TriggerEvent("spec/invoker"))
    async def invoker(ctx: steppe.Context, step: steppe.Step) -> dict[str, int]:
        result = await step.invoke("call-child", function=child, data={"n": 41}, timeout=timedelta(minutes=10))
        return {"child": result}

    def flaky() -> int:
        raise ValueError("flaky failure")

    @client.create_function(fn_id="flaky", trigger=steppe.TriggerEvent("spec/flaky"), retries=2)
    async def flaky_fn(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("flaky", flaky)

    def slow() -> int:
        raise steppe.RetryAfterError("rate limited", timedelta(seconds=30))

    @client.create_function(fn_id="slow-step", trigger=steppe.TriggerEvent("spec/slow-step"))
    async def slow_step(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("slow", slow)

    def fatal() -> int:
        raise steppe.NonRetriableError("bad input")

    @client.create_function(fn_id="fatal-step", trigger=steppe.TriggerEvent("spec/fatal-step"))
    async def fatal_step(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("fatal", fatal)

    @client.create_function(fn_id="fn-error", trigger=steppe.TriggerEvent("spec/fn-error"))
    async def fn_error(ctx: steppe.Context, step: steppe.Step) -> None:
        raise KeyError("missing")

    @client.create_function(fn_id="fn-retry-after", trigger=steppe.TriggerEvent("spec/fn-retry-after"))
    async def fn_retry_after(ctx: steppe.Context, step: steppe.Step) -> None:
        raise steppe.RetryAfterError("busy", timedelta(minutes=2))

    @client.create_function(fn_id="fn-fatal", trigger=steppe.TriggerEvent("spec/fn-fatal"))
    async def fn_fatal(ctx: steppe.Context, step: steppe.Step) -> None:
        raise steppe.NonRetriableError("never")

    @client.create_function(fn_id="announce", trigger=steppe.TriggerEvent("spec/announce"))
    async def announce(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return await step.send_event("announce", steppe.Event(name="spec/announced", data={"n": 1}))

    def same(i: int) -> int:
        return i

    @client.create_function(fn_id="repeat", trigger=steppe.TriggerEvent("spec/repeat"))
    async def repeat(ctx: steppe.Context, step: steppe.Step) -> int:
        total = 0
        for i in range(3):
            total += await step.run("add", same, i)
        return total

    def moment() -> tuple[int, datetime]:
        return (1, datetime(2030, 1, 1, tzinfo=UTC))

    @client.create_function(fn_id="typed", trigger=steppe.TriggerEvent("spec/typed"))
    async def typed(ctx: steppe.Context, step: steppe.Step) -> dict[str, Any]:
        pair = await step.run("pair", moment)
        # The memo is JSON ([1, "2030-01-01T00:00:00Z"]); the function sees the declared tuple[int, datetime].
        is_tuple = type(pair) is tuple  # the static type says so; this checks the runtime agrees
        return {"is_tuple": is_tuple, "year": pair[1].year, "aware": pair[1].tzinfo is not None}

    @client.create_function(fn_id="batched", trigger=steppe.TriggerEvent("spec/batched"))
    async def batched(ctx: steppe.Context, step: steppe.Step) -> dict[str, Any]:
        seen = await step.run("seen", lambda: "from the API")
        return {"events": len(ctx.events), "seen": seen}

    async def on_failure(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    @client.create_function(
        fn_id="configured",
        name="Configured",
        trigger=[
            steppe.TriggerEvent("spec/configured", expression="event.data.ok == true"),
            steppe.TriggerCron("0 9 * * 1"),
        ],
        retries=2,
        concurrency=Concurrency(limit=5, key="event.data.user"),
        throttle=Throttle(limit=10, period=timedelta(minutes=1), burst=2),
        rate_limit=RateLimit(limit=100, period=timedelta(hours=1), key="event.data.user"),
        idempotency="event.data.order",
        on_failure=on_failure,
    )
    async def configured(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    return client


def build_cloud_client(**keywords: Any) -> steppe.Client:
    client = steppe.Client(
        CLOUD_APP_ID, is_production=True, signing_key=SIGNING_KEY, signing_key_fallback=FALLBACK_KEY, **keywords
    )

    @client.create_function(fn_id="greeter", trigger=steppe.TriggerEvent("spec/greet"))
    async def greeter(ctx: steppe.Context, step: steppe.Step) -> str:
        return await step.run("greet", lambda: "hello")

    return client
