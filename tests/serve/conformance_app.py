"""The functions of the Inngest CLI's SDK conformance fixture (serve transport), written with steppe.

Same function slugs, triggers, step ids, cancel and wait configurations as the reference Go fixture
(tests/conformance/golang/main.go of the inngest/inngest repository); retries are left at the server's default.
``tests/serve/test_conformance_replay.py`` replays the reference SDK's exchanges against them in process; the same
app can be served to a real ``inngest alpha conformance run`` in dev mode:

    INNGEST_DEV=http://127.0.0.1:<dev server port> uvicorn tests.serve.conformance_app:create_app --factory
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from starlette.applications import Starlette

import steppe
from steppe.options import Cancel
from steppe.serve import serve_starlette

APP_ID: Final = "conformance-steppe"


def build_client() -> steppe.Client:
    """A fresh client holding the fixture's five functions."""
    client = steppe.Client(APP_ID)

    @client.create_function(fn_id="test-suite-simple-fn", trigger=steppe.TriggerEvent("tests/function.test"))
    async def simple_fn(ctx: steppe.Context[dict[str, Any]], step: steppe.Step) -> dict[str, Any]:
        return {"name": ctx.event.name, "body": "ok"}

    @client.create_function(fn_id="test-suite-step-test", trigger=steppe.TriggerEvent("tests/step.test"))
    async def step_test(ctx: steppe.Context[dict[str, Any]], step: steppe.Step) -> dict[str, Any]:
        async def first_step() -> str:
            return "first step"

        first = await step.run("first step", first_step)
        await step.sleep("sleep", timedelta(seconds=2))

        async def second_step() -> dict[str, Any]:
            return {"first": first, "second": True}

        await step.run("second step", second_step)
        return {"name": ctx.event.name, "body": "ok"}

    @client.create_function(fn_id="test-suite-retry-test", trigger=steppe.TriggerEvent("tests/retry.test"))
    async def retry_test(ctx: steppe.Context[dict[str, Any]], step: steppe.Step) -> dict[str, Any]:
        # The Go fixture counts calls in process-wide counters; the attempt number says the same thing (the step
        # fails on its first attempt, then the function body fails on its first), and it is deterministic.
        async def first_step() -> str:
            if ctx.attempt == 0:
                raise Exception("broken")
            return "yes: 2"

        await step.run("first step", first_step)
        if ctx.attempt == 0:
            raise Exception("broken func")
        return {"name": ctx.event.name, "body": "ok"}

    @client.create_function(
        fn_id="test-suite-cancel-test",
        trigger=steppe.TriggerEvent("tests/cancel.test"),
        cancel=Cancel(event="cancel/please", if_exp="async.data.request_id == event.data.request_id"),
    )
    async def cancel_test(ctx: steppe.Context[dict[str, Any]], step: steppe.Step) -> dict[str, Any]:
        await step.sleep("sleep", timedelta(seconds=10))

        async def after_sleep() -> str:
            return "This should be cancelled if a matching cancel event is received"

        await step.run("After the sleep", after_sleep)
        return {"name": ctx.event.name, "body": "ok"}

    @client.create_function(fn_id="test-suite-wait-for-event", trigger=steppe.TriggerEvent("tests/wait.test"))
    async def wait_for_event(ctx: steppe.Context[dict[str, Any]], step: steppe.Step) -> dict[str, Any]:
        resumed = await step.wait_for_event(
            "wait",
            event="test/resume",
            if_exp="async.data.resume == true && async.data.id == event.data.id",
            timeout=timedelta(seconds=10),
        )
        if resumed is None:
            return {}
        return {"result": resumed.data}

    return client


def create_app() -> Starlette:
    """The Starlette app serving the fixture's functions at ``/api/inngest``, configured by ``INNGEST_*``."""
    app = Starlette()
    serve_starlette(app, build_client())
    return app
