"""ctx.logger logs each line once per run, however often the run is replayed."""

from __future__ import annotations

import json
import logging

import pytest

import steppe
from steppe.testing import run_function
from tests.serve.helpers import call_body, call_request, dev_handler, event, sha1


def logged(caplog: pytest.LogCaptureFixture, app: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == f"test.{app}"]


async def test_embedded_replays_do_not_repeat_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("quiet-replay", logger=logging.getLogger("test.quiet-replay"))

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        ctx.logger.info("starting")
        one = await step.run("one", lambda: 1)
        ctx.logger.info("after one")
        two = await step.run("two", lambda: 2)
        ctx.logger.info("after two")
        return one + two

    caplog.set_level(logging.INFO)
    result = await run_function(f, steppe.Event(name="go"), replay="every_step")  # three passes over the body
    assert result.output == 3
    assert logged(caplog, "quiet-replay") == ["starting", "after one", "after two"]
    record = next(r for r in caplog.records if r.name == "test.quiet-replay")
    # The logger's extra fields are set on each record's __dict__; LogRecord declares no such attributes.
    assert vars(record)["run_id"] == result.run_id and vars(record)["fn_id"] == "quiet-replay-f"


async def test_http_calls_log_only_what_is_new(caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("quiet-http", is_production=False, logger=logging.getLogger("test.quiet-http"))

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        ctx.logger.info("starting")
        one = await step.run("one", lambda: 1)
        ctx.logger.info("after one")
        return one

    caplog.set_level(logging.INFO)
    handler = dev_handler(client)
    first = await handler.handle(call_request(f, call_body(event("go"))))
    assert first.status == 206
    assert logged(caplog, "quiet-http") == ["starting"]
    caplog.clear()
    second = await handler.handle(call_request(f, call_body(event("go"), {sha1("one"): {"data": 1}})))
    assert second.status == 200 and json.loads(second.body) == 1
    assert logged(caplog, "quiet-http") == ["after one"]
