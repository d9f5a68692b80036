"""Malformed but correctly signed bodies thrown at every adapter: never a 500 from the last-resort handler, and no
user code runs for a body that is refused as invalid."""

from __future__ import annotations

import json
import os
import time
import types
from collections.abc import Callable
from typing import Any, cast

import flask
import httpx
import pytest
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

import steppe
from steppe._protocol.signing import sign
from steppe.serve import serve_django, serve_fastapi, serve_flask, serve_starlette
from tests.serve.helpers import SIGNING_KEY, call_body, event

QUERY = {"fnId": "fuzzed-greet", "stepId": "step"}
UNREACHABLE_API = "http://127.0.0.1:9"  # the discard port: nothing listens there, the connection is refused at once
RAN: list[str] = []

# JSON values, including the shapes the protocol uses and values of the wrong type for each of its fields.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
VALID = json.loads(call_body(event("e", {"name": "ada"})))
FIELDS = ["event", "events", "steps", "ctx", "use_api", "version"]
CTX_FIELDS = ["run_id", "attempt", "disable_immediate_execution", "stack", "max_attempts", "use_api"]


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A valid call body with one field (or a ctx field, or an event field) replaced by any JSON value, or
    removed."""
    body: dict[str, Any] = json.loads(json.dumps(VALID))
    where = draw(st.sampled_from(["top", "ctx", "event", "stack"]))
    target: dict[str, Any] = {
        "top": body,
        "ctx": body["ctx"],
        "event": body["event"],
        "stack": body["ctx"]["stack"],
    }[where]
    keys = {
        "top": FIELDS,
        "ctx": CTX_FIELDS,
        "event": ["name", "data", "id", "ts", "user"],
        "stack": ["stack", "current"],
    }
    key = draw(st.sampled_from(keys[where]))
    if draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = draw(JSON_VALUES)
    return json.dumps(body).encode()


BODIES = st.one_of(
    st.binary(max_size=64),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    mutated_bodies(),
    st.sampled_from([b"NaN", b'{"event": {"name": "e", "data": {"x": Infinity}}}', b"[" * 5000, b"\xff\xfe"]),
)

# Each body is signed at a second no other body of the test used, so that no two examples share a signature (a
# replay would be refused with 401 before the body is even looked at, which tests nothing). Counting back from now
# past the seconds already used keeps every signature unique however slowly the examples run.
_USED_SECONDS: set[int] = set()


def signed_headers(body: bytes) -> dict[str, str]:
    at = int(time.time())
    while at in _USED_SECONDS:
        at -= 1
    _USED_SECONDS.add(at)
    return {"content-type": "application/json", "x-inngest-signature": sign(body, SIGNING_KEY, now=at)}


def fuzzed_client() -> steppe.Client:
    # The API answers nothing (a closed local port, no network): a body that asks steppe to fetch its run's events
    # (``use_api``) gets the retriable answer for an unreachable API, the same on every machine.
    client = steppe.Client("fuzzed", is_production=True, signing_key=SIGNING_KEY, api_base_url=UNREACHABLE_API)

    @client.create_function(fn_id="greet", trigger=steppe.TriggerEvent("e"))
    async def greet(ctx: steppe.Context, step: steppe.Step) -> str:
        RAN.append("greet")
        return "hello"

    return client


@pytest.fixture(autouse=True)
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("INNGEST_")]:
        monkeypatch.delenv(name)


def asks_for_the_api(body: bytes) -> bool:
    """Whether a body is a JSON object whose ``use_api`` (top level or in ``ctx``) is true, as steppe reads it."""
    try:
        document: object = json.loads(body)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    fields = cast(dict[str, object], document)
    ctx = fields.get("ctx")
    return fields.get("use_api") is True or (
        isinstance(ctx, dict) and cast(dict[str, object], ctx).get("use_api") is True
    )


def check(status: int, answer: bytes, ran_before: int, body: bytes) -> None:
    if status == 500:  # only the deliberate answer to an API that cannot be reached, never the last resort
        assert asks_for_the_api(body), answer
        error = json.loads(answer)
        assert error["name"] == "InngestApiError", answer
        assert f"fetching the run's events: GET {UNREACHABLE_API}/v0/runs/" in error["message"], answer
        assert len(RAN) == ran_before, answer
        return
    if status == 400:
        assert len(RAN) == ran_before, f"user code ran for a refused body: {answer!r}"
    assert status in (200, 206, 400, 401), (status, answer)


Send = Callable[[bytes], tuple[int, bytes]]


def asgi_sender(app: Any) -> Send:
    import asyncio

    def send(body: bytes) -> tuple[int, bytes]:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                return await http.post("/api/inngest", params=QUERY, content=body, headers=signed_headers(body))

        answer = asyncio.run(go())
        return answer.status_code, answer.content

    return send


def starlette_sender() -> Send:
    app = Starlette()
    serve_starlette(app, fuzzed_client())
    return asgi_sender(app)


def fastapi_sender() -> Send:
    app = FastAPI()
    serve_fastapi(app, fuzzed_client())
    return asgi_sender(app)


def flask_sender() -> Send:
    app = flask.Flask(__name__)
    serve_flask(app, fuzzed_client())
    http = app.test_client()

    def send(body: bytes) -> tuple[int, bytes]:
        answer = http.post("/api/inngest", query_string=QUERY, data=body, headers=signed_headers(body))
        return answer.status_code, answer.data

    return send


def django_sender(urls: types.ModuleType) -> Send:
    setattr(urls, "urlpatterns", [serve_django(fuzzed_client())])  # noqa: B010 - a module built at run time
    http = DjangoClient(enforce_csrf_checks=True)

    def send(body: bytes) -> tuple[int, bytes]:
        with override_settings(ROOT_URLCONF=urls.__name__):
            answer = http.post(
                "/api/inngest?fnId=fuzzed-greet&stepId=step",
                data=body,
                content_type="application/json",
                headers={"X-Inngest-Signature": signed_headers(body)["x-inngest-signature"]},
            )
        return answer.status_code, answer.content

    return send


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_fuzz(send: Send) -> None:
    _USED_SECONDS.clear()  # each test has a fresh replay guard, and a test signs far fewer bodies than the window

    @FUZZ
    @given(BODIES)
    @example(json.dumps({**VALID, "use_api": True}).encode())  # a trimmed call: its events come from the API
    def fuzz(body: bytes) -> None:
        before = len(RAN)
        status, answer = send(body)
        check(status, answer, before, body)

    fuzz()
    # The sender works at all: a valid signed body runs the function.
    before = len(RAN)
    assert send(call_body(event("e", {"name": "ada"})))[0] == 200
    assert len(RAN) == before + 1


@pytest.mark.parametrize(
    "build", [starlette_sender, fastapi_sender, flask_sender], ids=["starlette", "fastapi", "flask"]
)
def test_signed_malformed_bodies_never_reach_the_last_resort_handler(build: Callable[[], Send]) -> None:
    run_fuzz(build())


def test_signed_malformed_bodies_never_reach_the_last_resort_handler_in_django(django_urls: types.ModuleType) -> None:
    run_fuzz(django_sender(django_urls))
