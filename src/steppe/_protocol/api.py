"""Outbound calls to an Inngest server: sync (register), the trimmed call payload (use_api) and sending events.

Every call carries ``X-Inngest-Sdk`` and ``X-Inngest-Req-Version`` (and ``X-Inngest-Env`` when set). Calls to the
API authenticate with the hashed signing key as a Bearer token; when the server refuses it (401/403) and a
fallback key is set, the call is made once more with the fallback, as the spec asks during key rotation.

Every failure of a call (the network, an unusable URL, a refusal, an unexpected answer) becomes an
``InngestApiError`` that says whether trying again can help, with the keys edited out of its message: a
server's error text or an exception's may quote the URL, and the event key is part of it.

A fresh ``httpx.AsyncClient`` is opened per call so that the same ``InngestApi`` works from any event loop (a WSGI
adapter runs one loop per request); the costly part of a client, its TLS context, is built once per process.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import JsonValue, TypeAdapter, ValidationError

from steppe._core.errors import SteppeError
from steppe._core.events import Event, TriggerEvent, event_list
from steppe._core.function import Function
from steppe._protocol.messages import JSON_CONTENT_TYPE, Header, sdk_header_value
from steppe._protocol.settings import ServeSettings
from steppe._protocol.signing import hashed_signing_key, strip_signing_key_prefix
from steppe._protocol.wire import Memo, RegisterRequest, RegisterResponse, WireEvent, parse_memos

__all__ = ["DEV_EVENT_KEY", "InngestApi", "InngestApiError", "RegisterOutcome", "check_events", "event_key_hash"]

# The Dev Server accepts any event key; Inngest Cloud needs a real one.
DEV_EVENT_KEY: Final = "NO_EVENT_KEY_SET"
_TIMEOUT: Final = httpx.Timeout(30.0)
_EVENTS: Final = TypeAdapter(list[WireEvent])
_STEPS: Final = TypeAdapter(dict[str, JsonValue])
_IDS: Final = TypeAdapter(list[str])


class InngestApiError(SteppeError):
    """An Inngest API call failed; the message names the call, the status and the server's own message.

    ``retriable`` is false when the same call cannot succeed later (a refused key, a URL that cannot be built,
    a request the server calls malformed).
    """

    def __init__(self, message: str, *, status: int | None = None, retriable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retriable = retriable


# Failures that the same call meets again on every try: a URL or header that cannot be sent, a scheme httpx does
# not speak. Anything else (the network, a busy server) may be gone on the next try.
_PERMANENT_ERRORS: Final = (
    httpx.InvalidURL,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    ValueError,
    TypeError,
)
_TRANSIENT_STATUSES: Final = frozenset({408, 425, 429})


def _retriable_status(status: int) -> bool:
    return status >= 500 or status in _TRANSIENT_STATUSES


def _redacted(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # a key contains its own secret part: longest first
        text = text.replace(secret, "[redacted]")
    return text


class _SecretsFilter(logging.Filter):
    """Edits the keys out of httpx's own log lines: it logs every request's URL at INFO, and the event API's URL
    holds the event key."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = _redacted(message, self.secrets)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


_HTTPX_LOG_FILTER: Final = _SecretsFilter()
logging.getLogger("httpx").addFilter(_HTTPX_LOG_FILTER)


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
        self._secret_texts = self._secrets()
        _HTTPX_LOG_FILTER.secrets.update(self._secret_texts)

    def _secrets(self) -> list[str]:
        """Every key, and every credential derived from one, longest first (a key contains its own secret part)."""
        keys = [k for k in (self.settings.signing_key, self.settings.signing_key_fallback) if k]
        found = {*keys, *(strip_signing_key_prefix(k) for k in keys), *(hashed_signing_key(k) for k in keys)}
        if self.settings.event_key:
            found.add(self.settings.event_key)
            found.add(urllib.parse.quote(self.settings.event_key, safe=""))
        return sorted((s for s in found if s), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with the signing keys, their hashes and the event key replaced by ``[redacted]``."""
        return _redacted(text, self._secret_texts)

    def _failure(self, what: str, detail: str, *, status: int | None = None, retriable: bool) -> InngestApiError:
        return InngestApiError(self.redact(f"{what}: {detail}"), status=status, retriable=retriable)

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
                except Exception as error:  # noqa: BLE001 - every failure is reported; the cause may quote a key
                    raise self._failure(
                        what,
                        f"{method} {url} failed: {type(error).__name__}: {error}",
                        retriable=not isinstance(error, _PERMANENT_ERRORS),
                    ) from None
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
        return RegisterOutcome(ok=False, modified=False, error=self.redact(reason))

    async def fetch_batch(self, run_id: str) -> list[WireEvent]:
        """The run's events, when the call request was trimmed (``use_api``)."""
        what = "fetching the run's events"
        response = await self._api_call("GET", f"/v0/runs/{_path_part(run_id)}/batch", what=what)
        self._expect_ok(response, what)
        try:
            return _EVENTS.validate_json(response.content)
        except ValidationError as error:
            raise self._failure(what, f"unexpected answer: {error}", retriable=True) from None

    async def fetch_actions(self, run_id: str) -> dict[str, Memo]:
        """The run's memoized steps, when the call request was trimmed (``use_api``)."""
        what = "fetching the run's steps"
        response = await self._api_call("GET", f"/v0/runs/{_path_part(run_id)}/actions", what=what)
        self._expect_ok(response, what)
        try:
            return parse_memos(_STEPS.validate_json(response.content))
        except ValidationError as error:
            raise self._failure(what, f"unexpected answer: {error}", retriable=True) from None

    async def send_events(self, events: Sequence[Event[Any]]) -> list[str]:
        """``POST {event api}/e/{event key}``; returns the ids the server gave the events."""
        key = self.settings.event_key
        if key is None:
            if not self.settings.dev:
                raise InngestApiError(
                    "sending events needs an event key: set INNGEST_EVENT_KEY or pass event_key= to the Client",
                    retriable=False,
                )
            key = DEV_EVENT_KEY
        base = self.settings.event_api_base_url
        what = f"sending events to {base}"
        async with self._client() as http:
            try:
                body = [_event_body(e) for e in events]
                response = await http.post(f"{base}/e/{_path_part(key)}", json=body, headers=self._headers())
            except Exception as error:  # noqa: BLE001 - every failure is reported; the cause may quote the key
                detail = f"failed: {type(error).__name__}: {error}"
                raise self._failure(what, detail, retriable=not isinstance(error, _PERMANENT_ERRORS)) from None
        self._expect_ok(response, what)
        try:
            answer = response.json()
            return _IDS.validate_python(answer["ids"] if isinstance(answer, dict) else None)
        except (ValueError, KeyError):
            raise self._failure(what, f"unexpected answer {response.text[:200]!r}", retriable=True) from None

    def _expect_ok(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status // 100 != 2:
            detail = f"the server answered {status}: {response.text[:500]}"
            raise self._failure(what, detail, status=status, retriable=_retriable_status(status))


def _path_part(value: str) -> str:
    """``value`` escaped as one segment of a URL path: an id from a request may hold any character."""
    return urllib.parse.quote(value, safe="")
