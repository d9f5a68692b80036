"""The functions of tests/serve/peer_capture.py, written once more with steppe.

Same app ids, function ids, step ids, triggers and outputs as the peer's, so a request captured from the
peer can be replayed against these and the answers compared (tests/serve/test_differential.py). Like the
peer's, they are plain ``def`` functions, which exercises the core's threaded ``StepSync``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import steppe
from steppe.options import (
    BatchEvents,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)

DEV_APP_ID: Final = "peer-app"
CLOUD_APP_ID: Final = "peer-cloud"
# The capture's fixed clock and throwaway keys (peer_capture.py, which cannot be imported here: importing the
# peer's Flask adapter emits a pydantic deprecation warning, an error under this suite's warning filter).
FIXED_NOW: Final = 1_700_000_000
SIGNING_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe peer capture").hexdigest()
FALLBACK_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe peer capture fallback").hexdigest()


def on(event_name: str) -> steppe.TriggerEvent[dict[str, Any]]:
    return steppe.TriggerEvent(event_name)


def build_dev_client(**keywords: Any) -> steppe.Client:
    """The peer's dev app (every function but the on_failure handler, which steppe creates itself)."""
    client = steppe.Client(DEV_APP_ID, is_production=False, **keywords)

    @client.create_function(fn_id="sequential", trigger=on("test/sequential"))
    def sequential(ctx: steppe.Context, step: steppe.StepSync) -> dict[str, str]:
        first: str = step.run("first", lambda: "A")
        second: str = step.run("second", lambda: first + "B")
        return {"result": second}

    @client.create_function(fn_id="parallel", trigger=on("test/parallel"))
    def parallel(ctx: steppe.Context, step: steppe.StepSync) -> dict[str, Any]:
        outputs = step.parallel((lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)))
        total = step.run("after", lambda: sum(outputs))
        return {"outputs": list(outputs), "total": total}

    @client.create_function(fn_id="parallel-race", trigger=on("test/parallel-race"))
    def parallel_race(ctx: steppe.Context, step: steppe.StepSync) -> list[Any]:
        outputs = step.parallel(
            (lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)), mode="race"
        )
        return list(outputs)

    @client.create_function(fn_id="sleeper", trigger=on("test/sleep"))
    def sleeper(ctx: steppe.Context, step: steppe.StepSync) -> str:
        step.sleep_until("nap", datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC))
        return "awake"

    @client.create_function(fn_id="waiter", trigger=on("test/wait"))
    def waiter(ctx: steppe.Context, step: steppe.StepSync) -> dict[str, Any]:
        found = step.wait_for_event(
            "wait-approval",
            event="test/approved",
            if_exp="async.data.order == event.data.order",
            timeout=timedelta(hours=1),
        )
        return {"approved_by": None if found is None else found.data.get("user")}

    @client.create_function(fn_id="child", trigger=on("test/child"))
    def child(ctx: steppe.Context, step: steppe.StepSync) -> int | None:
        n = ctx.event.data.get("n")
        return n + 1 if isinstance(n, int) else None

    @client.create_function(fn_id="invoker", trigger=on("test/invoke"))
    def invoker(ctx: steppe.Context, step: steppe.StepSync) -> dict[str, int | None]:
        result = step.invoke("call-child", function=child, data={"n": 41})
        return {"child": result}

    def flaky() -> object:
        raise ValueError("flaky failure")

    @client.create_function(fn_id="step-error", trigger=on("test/step-error"), retries=3)
    def step_error(ctx: steppe.Context, step: steppe.StepSync) -> object:
        return step.run("flaky", flaky)

    def fatal() -> object:
        raise steppe.NonRetriableError("cannot continue")

    @client.create_function(fn_id="non-retriable", trigger=on("test/non-retriable"))
    def non_retriable(ctx: steppe.Context, step: steppe.StepSync) -> object:
        return step.run("fatal", fatal)

    @client.create_function(fn_id="fn-error", trigger=on("test/fn-error"))
    def fn_error(ctx: steppe.Context, step: steppe.StepSync) -> object:
        raise KeyError("missing thing")

    @client.create_function(fn_id="retry-after", trigger=on("test/retry-after"))
    def retry_after(ctx: steppe.Context, step: steppe.StepSync) -> object:
        raise steppe.RetryAfterError("slow down", retry_after=datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))

    def times_ten(i: int) -> int:
        return i * 10

    @client.create_function(fn_id="duplicates", trigger=on("test/duplicates"))
    def duplicates(ctx: steppe.Context, step: steppe.StepSync) -> int:
        total = 0
        for i in range(3):
            total += step.run("repeat", times_ten, i)
        return total

    @client.create_function(fn_id="nested", trigger=on("test/nested"))
    def nested(ctx: steppe.Context, step: steppe.StepSync) -> object:
        return step.run("outer", lambda: step.run("inner", lambda: "x"))

    async def configured_failed(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    @client.create_function(
        fn_id="configured",
        name="Configured function",
        trigger=[
            steppe.TriggerEvent("test/configured", expression="event.data.ok == true"),
            steppe.TriggerCron("0 9 * * 1"),
        ],
        retries=2,
        concurrency=[
            Concurrency(limit=5, key="event.data.user", scope="fn"),
            Concurrency(limit=50, scope="account", key='"global"'),
        ],
        throttle=Throttle(limit=10, period=timedelta(minutes=1), key="event.data.user"),
        rate_limit=RateLimit(limit=100, period=timedelta(hours=1)),
        debounce=Debounce(period=timedelta(seconds=30), timeout=timedelta(minutes=5)),
        cancel=[Cancel(event="test/cancelled", if_exp="async.data.id == event.data.id", timeout=timedelta(days=1))],
        priority=Priority(run="event.data.vip ? 120 : 0"),
        idempotency="event.data.order",
        timeouts=Timeouts(start=timedelta(minutes=10), finish=timedelta(hours=2)),
        singleton=Singleton(key="event.data.user", mode="skip"),
        on_failure=configured_failed,
    )
    def configured(ctx: steppe.Context, step: steppe.StepSync) -> None:
        return None

    @client.create_function(
        fn_id="batched",
        trigger=on("test/batched"),
        batch_events=BatchEvents(max_size=10, timeout=timedelta(seconds=5)),
    )
    def batched(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return len(ctx.events)

    return client


def build_cloud_client(**keywords: Any) -> steppe.Client:
    """The peer's cloud app: one function, served in production mode."""
    client = steppe.Client(CLOUD_APP_ID, is_production=True, **keywords)

    @client.create_function(fn_id="greeter", trigger=on("test/greet"))
    def greeter(ctx: steppe.Context, step: steppe.StepSync) -> str:
        return step.run("greet", lambda: "hello")

    return client
