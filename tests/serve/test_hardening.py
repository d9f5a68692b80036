"""Findings of a hidden probe of the serve endpoint, each pinned: escaped API paths and classified API failures,
signed refusals, non-JSON numbers, the process-wide replay guard, protocol defaults for ctx, user-only stacks,
secrets kept out of answers and logs, and the ``steppe.serve`` log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import steppe
from steppe._protocol.signing import strip_signing_key_prefix, verify
from steppe.serve import HttpRequest, HttpResponse, ServeHandler
from tests.serve.helpers import (
    FALLBACK_KEY,
    NOW,
    SIGNING_KEY,
    FakeApi,
    body,
    call_body,
    call_request,
    event,
    ops,
    sha1,
    signed,
)

EVENT_KEY = "evt-" + "5e" * 20
STEPPE_SOURCE = str(Path(steppe.__file__).resolve().parent)


def cloud_app(ran: list[str]) -> steppe.Client:
    client = steppe.Client(
        "hard",
        is_production=True,
        signing_key=SIGNING_KEY,
        signing_key_fallback=FALLBACK_KEY,
        event_key=EVENT_KEY,
    )

    @client.create_function(fn_id="done", trigger=steppe.TriggerEvent("e"))
    async def done(ctx: steppe.Context, step: steppe.Step) -> int:
        ran.append("done")
        return len(ctx.events)

    @client.create_function(fn_id="stepper", trigger=steppe.TriggerEvent("e"))
    async def stepper(ctx: steppe.Context, step: steppe.Step) -> str:
        ran.append("stepper")

        async def first() -> str:
            return "one"

        return await step.run("first", first)

    @client.create_function(fn_id="sender", trigger=steppe.TriggerEvent("e"))
    async def sender(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        return await step.send_event("send", steppe.Event(name="other", data={}))

    return client


def cloud_handler(client: steppe.Client, api: FakeApi | None = None) -> ServeHandler:
    return ServeHandler(
        client,
        framework="test",
        settings=client.serve_settings(environ={}),
        api_transport=(api or FakeApi()).transport(),
        clock=lambda: NOW,
    )


def fn(client: steppe.Client, local_id: str) -> steppe.Function[Any, Any]:
    return next(f for f in client.functions if f.local_id == local_id)


def signed_call(client: steppe.Client, local_id: str, raw: bytes, *, at: int = NOW, **query: str) -> HttpRequest:
    request = call_request(fn(client, local_id), raw, headers=signed(raw, at=at))
    return HttpRequest.create(
        method="POST", url=request.url, headers=request.headers, query={**request.query, **query}, body=raw
    )


def assert_signed(answer: HttpResponse) -> None:
    verify(answer.body, answer.headers["x-inngest-signature"], signing_key=SIGNING_KEY, now=NOW)


# --- API paths and failures -----------------------------------------------------------------------


def use_api_body(run_id: str) -> bytes:
    raw = json.loads(call_body(event("e"), use_api=True))
    raw["ctx"]["run_id"] = run_id
    return json.dumps(raw).encode()


async def test_a_run_id_with_a_control_character_is_escaped_in_the_api_path() -> None:
    ran: list[str] = []
    client = cloud_app(ran)
    paths: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path)
        if request.url.raw_path.endswith(b"/batch"):
            return httpx.Response(200, json=[event("e")])
        return httpx.Response(200, json={})

    response = await ServeHandler(
        client,
        framework="test",
        settings=client.serve_settings(environ={}),
        api_transport=httpx.MockTransport(answer),
        clock=lambda: NOW,
    ).handle(signed_call(client, "done", use_api_body("run\x07/../x?y")))
    assert (response.status, body(response)) == (200, 1)
    assert paths == [b"/v0/runs/run%07%2F..%2Fx%3Fy/batch", b"/v0/runs/run%07%2F..%2Fx%3Fy/actions"]
    assert_signed(response)


def answering(status: int, **content: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **content)


def raising(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    return fail


@pytest.mark.parametrize(
    ("failure", "status", "no_retry"),
    [
        (answering(401, json={"error": "bad key"}), 400, "true"),
        (answering(404, json={"error": "no such run"}), 400, "true"),
        (answering(503, text="busy"), 500, "false"),
        (answering(200, text="not json"), 500, "false"),
        (raising(httpx.ConnectError("refused")), 500, "false"),
        (raising(httpx.InvalidURL("cannot build it")), 400, "true"),
        (raising(RuntimeError("a transport bug")), 500, "false"),
    ],
    ids=["refused", "not-found", "busy", "bad-answer", "unreachable", "invalid-url", "transport-bug"],
)
async def test_every_api_failure_is_answered_as_an_api_error_never_by_the_last_resort_handler(
    failure: Callable[[httpx.Request], httpx.Response], status: int, no_retry: str
) -> None:
    ran: list[str] = []
    client = cloud_app(ran)
    api = FakeApi({f"GET /v0/runs/{'r'}/batch": failure})
    response = await cloud_handler(client, api).handle(signed_call(client, "done", use_api_body("r")))
    assert (response.status, response.headers["x-inngest-no-retry"]) == (status, no_retry)
    assert body(response)["name"] == "InngestApiError"
    assert "internal error in steppe" not in body(response)["message"]
    assert ran == []
    assert_signed(response)


async def test_an_event_api_refusal_fails_the_send_step_for_good() -> None:
    client = cloud_app([])
    api = FakeApi({f"POST /e/{EVENT_KEY}": httpx.Response(401, json={"error": f"unknown key {EVENT_KEY}"})})
    response = await cloud_handler(client, api).handle(signed_call(client, "sender", call_body(event("e"))))
    [op] = ops(response)
    assert (op["op"], op["error"]["name"], response.headers["x-inngest-no-retry"]) == (
        "StepFailed",
        "NonRetriableError",
        "true",
    )
    assert EVENT_KEY not in response.body.decode()


# --- signed refusals --------------------------------------------------------------------------------


async def test_every_refusal_of_a_verified_call_is_signed_and_a_400_is_never_retried() -> None:
    client = cloud_app([])
    handler = cloud_handler(client)
    good = call_body(event("e"))
    refusals = [  # signed at distinct times: the same body twice at one time would be a replay
        signed_call(client, "done", good, at=NOW - 1, fnId=""),
        signed_call(client, "done", good, at=NOW - 2, fnId="hard-nope"),
        signed_call(client, "done", good, at=NOW - 3, stepId="nope"),
        signed_call(client, "done", b'{"event": 1}'),
    ]
    for request in refusals:
        answer = await handler.handle(request)
        assert answer.status == 400, answer.body
        assert answer.headers["x-inngest-no-retry"] == "true"
        assert_signed(answer)


async def test_an_unverified_refusal_is_not_signed() -> None:
    client = cloud_app([])
    answer = await cloud_handler(client).handle(call_request(fn(client, "done"), call_body(event("e"))))
    assert answer.status == 401
    assert "x-inngest-signature" not in answer.headers


# --- bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
async def test_non_json_numbers_in_a_signed_body_are_refused_before_any_user_code(number: bytes) -> None:
    ran: list[str] = []
    client = cloud_app(ran)
    raw = call_body(event("e", {"x": 0})).replace(b'"x": 0', b'"x": ' + number)
    answer = await cloud_handler(client).handle(signed_call(client, "done", raw))
    assert (answer.status, body(answer)["name"]) == (400, "BadRequest")
    assert "not JSON (RFC 8259)" in body(answer)["message"]
    assert ran == []


async def test_missing_optional_ctx_fields_take_their_protocol_defaults() -> None:
    ran: list[str] = []
    client = cloud_app(ran)
    raw = json.dumps({"event": event("e"), "steps": {}, "ctx": {"run_id": "r1", "attempt": 0, "stack": {}}}).encode()
    answer = await cloud_handler(client).handle(signed_call(client, "stepper", raw))
    assert [(o["op"], o["data"]) for o in ops(answer)] == [("StepRun", "one")]  # immediate execution allowed
    bare = json.dumps({"event": event("e"), "ctx": {"run_id": "r2"}}).encode()
    assert body(await cloud_handler(client).handle(signed_call(client, "done", bare))) == 1
    assert ran == ["stepper", "done"]


# --- the replay guard -------------------------------------------------------------------------------


async def test_the_replay_guard_is_shared_by_every_handler_of_the_process() -> None:
    ran: list[str] = []
    client = cloud_app(ran)
    request = signed_call(client, "done", call_body(event("e")))
    assert (await cloud_handler(client).handle(request)).status == 200
    again = await cloud_handler(client).handle(request)  # another handler, same process
    assert (again.status, body(again)["name"]) == (401, "ReplayedSignatureError")
    assert ran == ["done"]


# --- stacks ---------------------------------------------------------------------------------------------


class Shape(BaseModel):
    size: int


def dev_client() -> steppe.Client:
    client = steppe.Client("stacks", is_production=False)

    def users_step_code() -> str:
        raise ValueError("step broke")

    @client.create_function(fn_id="step-fails", trigger=steppe.TriggerEvent("e"))
    def step_fails(ctx: steppe.Context, step: steppe.StepSync) -> str:
        return step.run("breaks", users_step_code)

    @client.create_function(fn_id="body-fails", trigger=steppe.TriggerEvent("e"))
    async def body_fails(ctx: steppe.Context, step: steppe.Step) -> int:
        return users_function_code()

    return client


def users_function_code() -> int:
    return Shape.model_validate({"size": "big"}).size


def dev_handler(client: steppe.Client) -> ServeHandler:
    return ServeHandler(client, framework="test", settings=client.serve_settings(environ={}))


async def test_error_stacks_show_the_users_frames_not_steppes_nor_pydantic_help_links() -> None:
    client = dev_client()
    handler = dev_handler(client)
    step_answer = await handler.handle(call_request(fn(client, "step-fails"), call_body(event("e"))))
    [op] = ops(step_answer)
    body_answer = await handler.handle(call_request(fn(client, "body-fails"), call_body(event("e"))))
    assert body_answer.status == 500
    for stack, user_frame in [
        (op["error"]["stack"], "users_step_code"),
        (body(body_answer)["stack"], "users_function_code"),
    ]:
        assert user_frame in stack
        assert STEPPE_SOURCE not in stack
        assert "errors.pydantic.dev" not in stack
    assert "errors.pydantic.dev" not in body(body_answer)["message"]
    malformed = await handler.handle(call_request(fn(client, "body-fails"), b'{"event": {}}'))
    assert malformed.status == 400
    assert "errors.pydantic.dev" not in body(malformed)["message"]


# --- secrets and logs -----------------------------------------------------------------------------------


def secrets() -> list[str]:
    keys = [SIGNING_KEY, FALLBACK_KEY]
    return [*keys, *(strip_signing_key_prefix(k) for k in keys), EVENT_KEY]


async def test_no_secret_appears_in_any_answer_header_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ran: list[str] = []
    client = cloud_app(ran)

    def echo_everything(request: httpx.Request) -> httpx.Response:
        # A server that quotes the request back, credentials and URL included.
        return httpx.Response(401, text=f"refused {request.url} {dict(request.headers)} {EVENT_KEY} {SIGNING_KEY}")

    api = FakeApi(
        {
            "POST /fn/register": echo_everything,
            "GET /v0/runs/r/batch": echo_everything,
            f"POST /e/{EVENT_KEY}": echo_everything,
        }
    )
    handler = cloud_handler(client, api)
    good = call_body(event("e"))
    requests = [
        signed_call(client, "done", good),
        signed_call(client, "sender", call_body(event("e", {"n": 1}))),
        signed_call(client, "done", use_api_body("r")),
        signed_call(client, "done", good, fnId="hard-missing"),
        signed_call(client, "done", b"NaN"),
        call_request(fn(client, "done"), good),  # unsigned
        call_request(fn(client, "done"), good, headers=signed(good, "signkey-test-" + "ab" * 32)),
        HttpRequest.create(method="PUT", url="https://app.test/api/inngest", headers=signed(b""), query={}, body=b""),
        HttpRequest.create(method="PUT", url="https://app.test/api/inngest", headers={}, query={}, body=b""),
        HttpRequest.create(method="GET", url="https://app.test/api/inngest", headers=signed(b""), query={}, body=b""),
        HttpRequest.create(method="GET", url="https://app.test/api/inngest", headers={}, query={}, body=b""),
        HttpRequest.create(
            method="PUT",
            url="https://app.test/api/inngest",
            headers={"x-inngest-sync-kind": "in_band", **signed(b'{"url": "https://app.test/api/inngest"}')},
            query={},
            body=b'{"url": "https://app.test/api/inngest"}',
        ),
        HttpRequest.create(method="DELETE", url="https://app.test/api/inngest", headers={}, query={}, body=b""),
    ]
    seen: list[str] = []
    for request in requests:
        answer = await handler.handle(request)
        seen.append(answer.body.decode())
        seen.extend(f"{name}: {value}" for name, value in answer.headers.items())
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(caplog.text.splitlines())
    assert len(api.calls) >= 3  # the echoing server was reached for register, batch and events
    for secret in secrets():
        leaks = [line for line in seen if secret in line]
        assert leaks == [], f"{secret[:12]}... leaked"


async def test_syncs_and_failed_calls_are_logged_on_the_steppe_serve_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="steppe.serve")
    client = steppe.Client("logged", is_production=False)

    @client.create_function(fn_id="boom", trigger=steppe.TriggerEvent("e"))
    async def boom(ctx: steppe.Context, step: steppe.Step) -> None:
        raise RuntimeError("it broke")

    api = FakeApi({"POST /fn/register": httpx.Response(200, json={"ok": True, "modified": True})})
    handler = ServeHandler(
        client, framework="test", settings=client.serve_settings(environ={}), api_transport=api.transport()
    )
    await handler.handle(
        HttpRequest.create(method="PUT", url="http://localhost:8000/api/inngest", headers={}, query={}, body=b"")
    )
    await handler.handle(call_request(boom, call_body(event("e"))))
    logged = [(r.name, r.getMessage()) for r in caplog.records if r.name == "steppe.serve"]
    assert any("synced 1 function(s) at http://localhost:8000/api/inngest" in m for _, m in logged), logged
    assert any("logged-boom" in m and "500" in m and "it broke" in m for _, m in logged), logged


def test_sha1_helper_matches_the_protocol() -> None:
    assert sha1("my-step-id") == "e7d8a2f140845095749d60246ff1110c9d01d76a"
