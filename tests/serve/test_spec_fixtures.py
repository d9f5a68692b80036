"""Replays the golden spec fixtures (tests/serve/fixtures/spec/, see its README) against steppe's serve endpoint."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import JsonValue

import steppe
from steppe._protocol.messages import SDK_VERSION
from steppe._protocol.signing import verify
from steppe.serve import HttpRequest, ServeHandler
from tests.serve import spec_app

SPEC_FIXTURES = Path(__file__).parent / "fixtures" / "spec"
FIXTURE_FILES = sorted(SPEC_FIXTURES.glob("*.json"))
TRACEBACK_HEAD = "Traceback (most recent call last):"


def encode(body: object) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def with_version(value: JsonValue) -> JsonValue:
    """The fixture's ``<version>`` placeholders replaced by steppe's version."""
    if isinstance(value, str):
        return value.replace("<version>", SDK_VERSION)
    if isinstance(value, list):
        return [with_version(item) for item in value]
    if isinstance(value, dict):
        return {key: with_version(item) for key, item in value.items()}
    return value


def last_line_of_tracebacks(value: JsonValue) -> JsonValue:
    """Each ``stack`` that is a Python traceback, cut to its last line: the exception it ends with."""
    if isinstance(value, list):
        return [last_line_of_tracebacks(item) for item in value]
    if isinstance(value, dict):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if key == "stack" and isinstance(item, str) and item.startswith(TRACEBACK_HEAD):
                out[key] = item.strip().splitlines()[-1]
            else:
                out[key] = last_line_of_tracebacks(item)
        return out
    return value


@dataclass
class FakeInngestApi:
    """The Inngest API and event API as a fixture describes them; records every call."""

    answers: Mapping[str, Any]
    calls: list[httpx.Request] = field(default_factory=lambda: [])

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        canned = self.answers.get(f"{request.method} {request.url.path}")
        if canned is None:
            return httpx.Response(404, json={"error": f"no canned answer for {request.method} {request.url.path}"})
        return httpx.Response(canned["status"], json=canned["body"])


def load(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(path.read_text()))


def build_handler(fixture: Mapping[str, Any], api: FakeInngestApi) -> ServeHandler:
    client: steppe.Client = spec_app.build_dev_client() if fixture["app"] == "dev" else spec_app.build_cloud_client()
    serve = fixture["serve"]
    functions = None if serve is None else [f for f in client.functions if f.local_id in serve]
    return ServeHandler(
        client,
        functions,
        framework="spec",
        settings=client.serve_settings(environ={}),  # the fixture alone decides, not this machine's INNGEST_* variables
        api_transport=httpx.MockTransport(api.handle),
        clock=lambda: spec_app.NOW,
    )


def test_there_is_a_fixture_for_every_status_and_op() -> None:
    statuses: set[int] = set()
    ops: set[str] = set()
    for path in FIXTURE_FILES:
        response = load(path)["response"]
        statuses.add(response["status"])
        if response["status"] == 206:
            ops.update(op["op"] for op in response["body"])
    assert statuses == {200, 206, 400, 401, 405, 500}
    assert ops == {
        "StepRun",
        "StepPlanned",
        "StepError",
        "StepFailed",
        "Sleep",
        "WaitForEvent",
        "InvokeFunction",
        "StepNotFound",
    }


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
async def test_spec_fixture(path: Path) -> None:
    fixture = load(path)
    asked = fixture["request"]
    expected = cast(dict[str, Any], with_version(fixture["response"]))
    api = FakeInngestApi(fixture["api"])
    handler = build_handler(fixture, api)
    if asked["raw_body"] is not None:
        body = asked["raw_body"].encode()
    else:
        body = encode(asked["body"]) if asked["body"] is not None else b""
    response = await handler.handle(
        HttpRequest.create(
            method=asked["method"], url=asked["url"], headers=asked["headers"], query=asked["query"], body=body
        )
    )

    assert response.status == expected["status"], response.body
    assert response.headers["x-inngest-sdk"] == f"steppe:v{SDK_VERSION}"
    assert response.headers["x-inngest-req-version"] == "2"
    for name, value in expected["headers"].items():
        assert response.headers.get(name) == value, name
    for name in expected["absent_headers"]:
        assert name not in response.headers, name
    if expected["body"] is not None:
        assert last_line_of_tracebacks(json.loads(response.body)) == expected["body"]
    if expected["body_match"] is not None:
        answered = json.loads(response.body)
        assert answered["name"] == expected["body_match"]["name"]
        assert answered["message"].startswith(expected["body_match"]["message_prefix"]), answered["message"]
    if expected["signed_with"] is not None:
        key = spec_app.SIGNING_KEY if expected["signed_with"] == "signing_key" else spec_app.FALLBACK_KEY
        signature = verify(response.body, response.headers["x-inngest-signature"], signing_key=key, now=spec_app.NOW)
        assert signature.timestamp == spec_app.NOW
    else:
        assert "x-inngest-signature" not in response.headers

    outbound = cast(list[dict[str, Any]], with_version(fixture["outbound"]))
    if outbound:
        assert len(api.calls) == len(outbound)
    for call, wanted in zip(api.calls, outbound, strict=False):
        assert (call.method, str(call.url)) == (wanted["method"], wanted["url"])
        for name, value in wanted["headers"].items():
            assert call.headers.get(name) == value, name
        assert (json.loads(call.content) if call.content else None) == wanted["body"]
