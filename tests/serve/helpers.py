"""Building call requests and handlers for the serve tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

import steppe
from steppe._protocol.signing import sign
from steppe.serve import HttpRequest, HttpResponse, ServeHandler

RUN_ID: Final = "01HTEST0RUN000000000000000"
NOW: Final = 1_700_000_000
SIGNING_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe serve tests").hexdigest()
FALLBACK_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe serve tests fallback").hexdigest()
SERVE_URL: Final = "http://testserver/api/inngest"


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def event(name: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "data": dict(data or {}), "id": "01HTEST0EVENT0000000000001", "ts": NOW * 1000, "user": {}}


def call_body(
    trigger: Mapping[str, Any],
    steps: Mapping[str, Any] | None = None,
    *,
    attempt: int = 0,
    max_attempts: int | None = None,
    disable_immediate_execution: bool = False,
    step_id: str = "step",
    use_api: bool = False,
) -> bytes:
    memos = dict(steps or {})
    ctx: dict[str, Any] = {
        "run_id": RUN_ID,
        "attempt": attempt,
        "disable_immediate_execution": disable_immediate_execution,
        "use_api": use_api,
        "step_id": step_id,
        "stack": {"stack": list(memos), "current": len(memos)},
    }
    if max_attempts is not None:
        ctx["max_attempts"] = max_attempts
    body = {"event": dict(trigger), "events": [dict(trigger)], "steps": memos, "ctx": ctx, "use_api": use_api}
    return json.dumps(body).encode()


def call_request(
    function: steppe.Function[Any, Any], body: bytes, *, step_id: str = "step", headers: Mapping[str, str] | None = None
) -> HttpRequest:
    return HttpRequest.create(
        method="POST",
        url=SERVE_URL,
        headers={"content-type": "application/json", "x-inngest-server-kind": "dev", **(headers or {})},
        query={"fnId": function.id, "stepId": step_id},
        body=body,
    )


def signed(body: bytes, key: str = SIGNING_KEY, *, at: int = NOW) -> dict[str, str]:
    return {"x-inngest-signature": sign(body, key, now=at), "x-inngest-server-kind": "cloud"}


@dataclass
class FakeApi:
    """The Inngest API and event API: canned answers by ``"METHOD /path"``; every request recorded."""

    answers: dict[str, httpx.Response | Callable[[httpx.Request], httpx.Response]] = field(default_factory=lambda: {})
    calls: list[httpx.Request] = field(default_factory=lambda: [])

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.answers.get(f"{request.method} {request.url.path}")
        if answer is None:
            return httpx.Response(404, json={"error": f"no answer for {request.method} {request.url.path}"})
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def dev_handler(client: steppe.Client, api: FakeApi | None = None, **settings: Any) -> ServeHandler:
    return ServeHandler(
        client,
        framework="test",
        settings=client.serve_settings(environ={}),
        api_transport=(api or FakeApi()).transport(),
        clock=lambda: NOW,
        **settings,
    )


def ops(response: HttpResponse) -> list[dict[str, Any]]:
    assert response.status == 206, response.body
    parsed: list[dict[str, Any]] = json.loads(response.body)
    return parsed


def body(response: HttpResponse) -> Any:
    return json.loads(response.body)
