"""Outbound calls to an Inngest server: sync (register), the trimmed call payload (use_api) and sending events.

Every call carries ``X-Inngest-Sdk`` and ``X-Inngest-Req-Version`` (and ``X-Inngest-Env`` when set). Calls to the
API authenticate with the hashed signing key as a Bearer token; when the server refuses it (401/403) and a
fallback key is set, the call is made once more with the fallback, as the spec asks during key rotation.

A fresh ``httpx.AsyncClient`` is opened per call so that the same ``InngestApi`` works from any event loop (a WSGI
adapter runs one loop per request); the costly part of a client, its TLS context, is built once per process.
"""

from __future__ import annotations

import functools
import hashlib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import JsonValue, TypeAdapter, ValidationError

from steppe._core.errors import SteppeError
from steppe._core.events import Event, TriggerEvent, event_list
from steppe._core.function import Function
from steppe._protocol.messages import JSON_CONTENT_TYPE, Header, sdk_header_value
from steppe._protocol.settings import ServeSettings
from steppe._protocol.signing import hashed_signing_key
from steppe._protocol.wire import Memo, RegisterRequest, RegisterResponse, WireEvent, parse_memos

__all__ = ["DEV_EVENT_KEY", "InngestApi", "InngestApiError", "RegisterOutcome", "check_events", "event_key_hash"]

# The Dev Server accepts any event key; Inngest Cloud needs a real one.
DEV_EVENT_KEY: Final = "NO_EVENT_KEY_SET"
_TIMEOUT: Final = httpx.Timeout(30.0)
_EVENTS: Final = TypeAdapter(list[WireEvent])
_STEPS: Final = TypeAdapter(dict[str, JsonValue])
_IDS: Final = TypeAdapter(list[str])


class InngestApiError(SteppeError):
    """An Inngest API call failed; the message names the call, the status and the server's own message."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """The server's answer to a sync: whether the app's functions changed, or why it refused them."""

    ok: bool
    modified: bool
    error: str | None = None


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def event_key_hash(event_key: str) -> str:
    return hashlib.sha256(event_key.encode()).hexdigest()


def check_events(events: Sequence[Event[Any]], functions: Sequence[Function[Any, Any]], *, what: str) -> None:
    """Refuse anything but ``steppe.Event`` and validate typed events against the functions they trigger.

    Raises ``TypeError`` or pydantic's ``ValidationError`` before anything is sent, as the embedded engine does.
    """
    for event in event_list(events, what=what):
        for function in functions:
            if function.event_type is None:
                continue
            if any(isinstance(t, TriggerEvent) and t.event == event.name for t in function.triggers):
                function.event_type.validate(event)


def _event_body(event: Event[Any]) -> dict[str, Any]:
    """An event as the event API takes it; an unset id or timestamp is left for the server to fill in."""
    body: dict[str, Any] = event.model_dump(mode="json", exclude={"id", "ts"})
    if event.id:
        body["id"] = event.id
    if event.ts:
        body["ts"] = event.ts
    return body


class InngestApi:
    """The Inngest server's API and event API, as ``settings`` locate them."""

    def __init__(
        self,
        settings: ServeSettings,
        *,
        framework: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.framework = framework
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        if self._transport is not None:
            return httpx.AsyncClient(transport=self._transport, timeout=_TIMEOUT)
        return httpx.AsyncClient(verify=_tls(), timeout=_TIMEOUT)

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            Header.SDK: sdk_header_value(),
            Header.REQ_VERSION: "2",
            Header.USER_AGENT: sdk_header_value(),
            Header.CONTENT_TYPE: JSON_CONTENT_TYPE,
        }
        if self.framework is not None:
            headers[Header.FRAMEWORK] = self.framework
        if self.settings.env is not None:
            headers[Header.ENV] = self.settings.env
        headers.update(extra or {})
        return headers

    def _bearer_tokens(self) -> list[str | None]:
        keys = [k for k in (self.settings.signing_key, self.settings.signing_key_fallback) if k]
        # Dev mode may have no key at all: the Dev Server takes unauthenticated calls.
        return [f"Bearer {hashed_signing_key(k)}" for k in keys] or [None]

    async def _api_call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: object = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One API call, made again with the fallback key when the server refuses the signing key."""
        url = f"{self.settings.api_base_url}{path}"
        response: httpx.Response | None = None
        async with self._client() as http:
            for token in self._bearer_tokens():
                sent = self._headers(headers)
                if token is not None:
                    sent[Header.AUTHORIZATION] = token
                try:
                    response = await http.request(method, url, json=json, params=params, headers=sent)
                except httpx.HTTPError as error:
                    raise InngestApiError(f"{what}: {method} {url} failed: {error}") from error
                if response.status_code not in (401, 403):
                    break
        assert response is not None
        return response

    async def register(
        self, request: RegisterRequest, *, deploy_id: str | None = None, server_kind: str | None = None
    ) -> RegisterOutcome:
        """Sync out of band: ``POST {api}/fn/register`` with the app's functions."""
        extra = {Header.EXPECTED_SERVER_KIND: server_kind} if server_kind else None
        response = await self._api_call(
            "POST",
            "/fn/register",
            what="sync",
            json=request.to_wire(),
            params={"deployId": deploy_id} if deploy_id else None,
            headers=extra,
        )
        try:
            answer = RegisterResponse.model_validate_json(response.content)
        except ValidationError:
            answer = RegisterResponse(error=response.text[:500] or None)
        if response.status_code == 200:
            return RegisterOutcome(ok=True, modified=bool(answer.modified))
        reason = answer.error or f"the server answered {response.status_code}"
        return RegisterOutcome(ok=False, modified=False, error=reason)

    async def fetch_batch(self, run_id: str) -> list[WireEvent]:
        """The run's events, when the call request was trimmed (``use_api``)."""
        response = await self._api_call("GET", f"/v0/runs/{run_id}/batch", what="fetching the run's events")
        self._expect_ok(response, "fetching the run's events")
        try:
            return _EVENTS.validate_json(response.content)
        except ValidationError as error:
            raise InngestApiError(f"fetching the run's events: unexpected answer: {error}") from error

    async def fetch_actions(self, run_id: str) -> dict[str, Memo]:
        """The run's memoized steps, when the call request was trimmed (``use_api``)."""
        response = await self._api_call("GET", f"/v0/runs/{run_id}/actions", what="fetching the run's steps")
        self._expect_ok(response, "fetching the run's steps")
        try:
            return parse_memos(_STEPS.validate_json(response.content))
        except ValidationError as error:
            raise InngestApiError(f"fetching the run's steps: unexpected answer: {error}") from error

    async def send_events(self, events: Sequence[Event[Any]]) -> list[str]:
        """``POST {event api}/e/{event key}``; returns the ids the server gave the events."""
        key = self.settings.event_key
        if key is None:
            if not self.settings.dev:
                raise InngestApiError(
                    "sending events needs an event key: set INNGEST_EVENT_KEY or pass event_key= to the Client"
                )
            key = DEV_EVENT_KEY
        url = f"{self.settings.event_api_base_url}/e/{key}"
        async with self._client() as http:
            try:
                response = await http.post(url, json=[_event_body(e) for e in events], headers=self._headers())
            except httpx.HTTPError as error:
                raise InngestApiError(
                    f"sending events to {self.settings.event_api_base_url} failed: {error}"
                ) from error
        self._expect_ok(response, "sending events")
        try:
            body = response.json()
            return _IDS.validate_python(body["ids"] if isinstance(body, dict) else None)
        except (ValueError, KeyError) as error:
            raise InngestApiError(f"sending events: unexpected answer {response.text[:200]!r}") from error

    @staticmethod
    def _expect_ok(response: httpx.Response, what: str) -> None:
        if response.status_code // 100 != 2:
            raise InngestApiError(
                f"{what}: the server answered {response.status_code}: {response.text[:500]}",
                status=response.status_code,
            )
