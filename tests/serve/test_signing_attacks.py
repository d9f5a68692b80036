"""Requests that did not come from the key holder, or not now: 401, and no user code runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import steppe
from steppe._protocol.signing import sign
from steppe.serve import HttpRequest, ServeHandler
from tests.serve.helpers import FALLBACK_KEY, NOW, SIGNING_KEY, call_body, call_request, event, signed

WRONG_KEY = "signkey-test-" + "ab" * 32


def cloud(ran: list[str]) -> tuple[ServeHandler, steppe.Function[Any, Any]]:
    client = steppe.Client("guarded", is_production=True, signing_key=SIGNING_KEY, signing_key_fallback=FALLBACK_KEY)

    def work() -> str:
        ran.append("step")
        return "done"

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        ran.append("function body")
        return await step.run("s", work)

    handler = ServeHandler(client, framework="test", settings=client.serve_settings(environ={}), clock=lambda: NOW)
    return handler, f


BODY = call_body(event("e"))

# Each attack: the headers and body an attacker sends, and the error the 401 names.
ATTACKS: dict[str, tuple[Callable[[], tuple[dict[str, str], bytes]], str]] = {
    "unsigned": (lambda: ({}, BODY), "MissingSignatureError"),
    "empty signature": (lambda: ({"x-inngest-signature": ""}, BODY), "MissingSignatureError"),
    "malformed signature": (lambda: ({"x-inngest-signature": "t=now&s=zz"}, BODY), "MalformedSignatureError"),
    "signed with another key": (lambda: (signed(BODY, WRONG_KEY), BODY), "InvalidSignatureError"),
    "body changed after signing": (
        lambda: (signed(BODY), BODY.replace(b'"attempt": 0', b'"attempt": 1')),
        "InvalidSignatureError",
    ),
    "timestamp changed after signing": (
        lambda: (
            {"x-inngest-signature": signed(BODY)["x-inngest-signature"].replace(f"t={NOW}", f"t={NOW + 1}")},
            BODY,
        ),
        "InvalidSignatureError",
    ),
    "expired (5 minutes and 1 second old)": (lambda: (signed(BODY, at=NOW - 301), BODY), "ExpiredSignatureError"),
    "from the future": (lambda: (signed(BODY, at=NOW + 3600), BODY), "FutureSignatureError"),
    "signature of an empty body": (lambda: (signed(b""), BODY), "InvalidSignatureError"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_forged_or_stale_call_is_refused_and_runs_nothing(attack: str) -> None:
    ran: list[str] = []
    handler, function = cloud(ran)
    make, error = ATTACKS[attack]
    headers, body = make()
    answer = await handler.handle(call_request(function, body, headers=headers))
    assert answer.status == 401
    assert json.loads(answer.body)["name"] == error
    assert "x-inngest-signature" not in answer.headers
    assert answer.headers["x-inngest-sdk"].startswith("steppe:v")
    assert ran == []


async def test_a_replayed_call_is_refused_the_second_time() -> None:
    ran: list[str] = []
    handler, function = cloud(ran)
    request = call_request(function, BODY, headers=signed(BODY))
    first = await handler.handle(request)
    assert first.status == 206
    assert ran == ["function body", "step"]
    second = await handler.handle(request)
    assert (second.status, json.loads(second.body)["name"]) == (401, "ReplayedSignatureError")
    assert ran == ["function body", "step"]


async def test_the_signature_is_checked_before_the_body_is_parsed() -> None:
    ran: list[str] = []
    handler, function = cloud(ran)
    answer = await handler.handle(call_request(function, b"{not json"))
    assert answer.status == 401


@pytest.mark.parametrize("key", [SIGNING_KEY, FALLBACK_KEY])
async def test_either_key_is_accepted_and_the_answer_is_signed_with_it(key: str) -> None:
    ran: list[str] = []
    handler, function = cloud(ran)
    answer = await handler.handle(call_request(function, BODY, headers=signed(BODY, key)))
    assert answer.status == 206
    assert answer.headers["x-inngest-signature"] == sign(answer.body, key, now=NOW)


async def test_the_edge_of_the_window_is_accepted() -> None:
    ran: list[str] = []
    handler, function = cloud(ran)
    answer = await handler.handle(call_request(function, BODY, headers=signed(BODY, at=NOW - 300)))
    assert answer.status == 206


async def test_dev_mode_verifies_nothing() -> None:
    client = steppe.Client("dev-app", is_production=False)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        return "ran"

    handler = ServeHandler(client, framework="test", settings=client.serve_settings(environ={}))
    answer = await handler.handle(call_request(f, BODY, headers={"x-inngest-signature": "t=1&s=" + "0" * 64}))
    assert (answer.status, json.loads(answer.body)) == (200, "ran")
    assert "x-inngest-signature" not in answer.headers


def put(body: bytes, headers: dict[str, str]) -> HttpRequest:
    return HttpRequest.create(
        method="PUT",
        url="https://app.test/api/inngest",
        headers={"x-inngest-sync-kind": "in_band", **headers},
        query={},
        body=body,
    )


@pytest.mark.parametrize("attack", ["unsigned", "signed with another key", "expired (5 minutes and 1 second old)"])
async def test_an_in_band_sync_needs_a_valid_signature(attack: str) -> None:
    handler, _ = cloud([])
    body = b'{"url":"https://app.test/api/inngest"}'
    headers = {
        "unsigned": {},
        "signed with another key": signed(body, WRONG_KEY),
        "expired (5 minutes and 1 second old)": signed(body, at=NOW - 301),
    }[attack]
    answer = await handler.handle(put(body, headers))
    assert answer.status == 401
    assert b"functions" not in answer.body


async def test_a_forged_trust_probe_is_refused() -> None:
    handler, _ = cloud([])
    probe = HttpRequest.create(
        method="POST",
        url="https://app.test/api/inngest",
        headers=signed(b"", WRONG_KEY),
        query={"probe": "trust"},
        body=b"",
    )
    assert (await handler.handle(probe)).status == 401


async def test_a_forged_introspection_gets_only_the_public_fields() -> None:
    handler, _ = cloud([])
    request = HttpRequest.create(
        method="GET", url="https://app.test/api/inngest", headers=signed(b"", WRONG_KEY), query={}, body=b""
    )
    answer = await handler.handle(request)
    assert answer.status == 200
    assert set(json.loads(answer.body)) == {
        "function_count",
        "has_event_key",
        "has_signing_key",
        "has_signing_key_fallback",
        "mode",
        "schema_version",
    }
