"""``ServeHandler``: the serve endpoint, framework-independent. Adapters only translate requests and responses.

Routing: ``POST`` is a call request (or the trust probe ``?probe=trust``), ``PUT`` a sync, ``GET`` introspection.
Every response carries ``X-Inngest-Sdk`` and ``X-Inngest-Req-Version: 2``; a response to a verified request is
signed with the key that verified it.

Authentication: in production (``INNGEST_DEV`` unset) a call, a trust probe and an in-band sync must carry a valid
``X-Inngest-Signature`` no older than five minutes and not seen before (one replay guard per process); anything
else gets 401 before the body is even parsed, so no user code runs. An out-of-band sync must be signed too unless
``serve_origin`` is configured, since it would otherwise register a URL taken from the request's ``Host`` header.
Dev mode verifies nothing, as the Dev Server signs nothing. A ``400`` answer always carries
``X-Inngest-No-Retry: true``.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

import httpx
import pydantic_core
from pydantic import ValidationError

from steppe._core.errors import FunctionDefinitionError, NonRetriableError
from steppe._core.events import Event
from steppe._core.function import App, Function
from steppe._core.outcomes import ErrorInfo
from steppe._protocol import wire
from steppe._protocol.api import InngestApi, InngestApiError, RegisterOutcome, check_events
from steppe._protocol.executor import handle_call, handle_call_blocking
from steppe._protocol.loops import event_loops
from steppe._protocol.messages import Header, HttpRequest, HttpResponse, json_response, sdk_header_value
from steppe._protocol.settings import ServeSettings
from steppe._protocol.signing import ReplayGuard, SignatureError, VerifiedSignature, sign, verify
from steppe._protocol.sync import in_band_response, introspection, register_request

__all__ = ["DEFAULT_SERVE_PATH", "ServeHandler"]

DEFAULT_SERVE_PATH: Final = "/api/inngest"
_STEP_HASH: Final = re.compile(r"[0-9a-fA-F]{40}")
_DISCOVERY: Final = "step"

logger = logging.getLogger("steppe.serve")

# One guard for the whole process, whatever the number of handlers: a signed request accepted by one handler must
# not be accepted again by another one serving the same keys (signatures made with other keys never collide).
_PROCESS_REPLAY_GUARD: Final = ReplayGuard()


class ServedApp(App, Protocol):
    """An app that can be served: ``steppe.Client`` is one. Its keywords and the environment give the settings."""

    def serve_settings(self, environ: Mapping[str, str] | None = None) -> ServeSettings: ...


@dataclass(slots=True)
class _Exchange:
    """One request, and the signature that verified it once it did: every answer to a verified request is signed."""

    request: HttpRequest
    verified: VerifiedSignature | None = None


@dataclass(frozen=True, slots=True)
class _AcceptedCall:
    function: Function[Any, Any]
    call: wire.CallRequest
    target: str | None
    """The ``stepId`` hash, or ``None`` for a discovery call (``stepId=step``)."""


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A call's events and memos when the server trimmed them from the body; ``None``: take the body's."""

    events: list[wire.WireEvent] | None
    memos: dict[str, wire.Memo] | None


_NOT_TRIMMED: Final = _Fetched(None, None)


def _is_call(request: HttpRequest) -> bool:
    """A request to run a function: a POST that is not a trust probe (``?probe=trust``)."""
    return request.method == "POST" and request.query.get("probe") != "trust"


class _NotJsonError(ValueError):
    """A body that is not JSON as RFC 8259 defines it (``NaN`` and ``Infinity`` included: they are not JSON)."""


def _json_document(body: bytes) -> object:
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise _NotJsonError(f"not JSON (RFC 8259): {error}") from None


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response(status, wire.ErrorBody(name=name, message=message), headers)


def _malformed(what: str, error: ValidationError | _NotJsonError) -> HttpResponse:
    detail = str(error) if isinstance(error, _NotJsonError) else ErrorInfo.from_exception(error).message
    return _error(400, "BadRequest", f"malformed {what}: {detail}")


class ServeHandler:
    """Serves ``functions`` (default: every function of ``client``) to an Inngest server.

    ``settings`` default to ``client.serve_settings()`` (the ``INNGEST_*`` environment and the client's keywords).
    ``framework`` is reported to the server. ``api_transport`` replaces the network for outbound calls (tests,
    proxies); ``replay_guard`` replaces the process-wide one (tests); ``clock`` returns the current unix time for
    signature checks (tests).
    """

    def __init__(
        self,
        client: ServedApp,
        functions: Sequence[Function[Any, Any]] | None = None,
        *,
        framework: str,
        settings: ServeSettings | None = None,
        api_transport: httpx.AsyncBaseTransport | None = None,
        replay_guard: ReplayGuard | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.client = client
        self.settings: ServeSettings = settings if settings is not None else client.serve_settings()
        self.framework = framework
        self.functions: dict[str, Function[Any, Any]] = _served_functions(client, functions)
        self.api: InngestApi = InngestApi(self.settings, framework=framework, transport=api_transport)
        self.replay_guard: ReplayGuard = replay_guard if replay_guard is not None else _PROCESS_REPLAY_GUARD
        self._clock = clock
        self._warned_server_kind = False

    # -- entry points ----------------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request to the serve endpoint."""
        exchange = _Exchange(request)
        try:
            response = await self._route(exchange)
        except Exception as error:  # noqa: BLE001 - logged with its traceback, answered as a retriable 500
            response = self._internal_error(request, error)
        return self._finish(exchange, response)

    def handle_blocking(self, request: HttpRequest) -> HttpResponse:
        """``handle`` for WSGI servers, in the calling worker thread, which it may block.

        A call to a plain ``def`` function runs the body right in this thread, with no thread of its own and no
        event loop. What needs a loop (an ``async def`` body, the step a call runs, a sync, an API fetch) runs on
        one kept from an earlier request (``loops.event_loops``) rather than a new loop per request.
        """
        exchange = _Exchange(request)
        try:
            if _is_call(request):
                response = self._call_blocking(exchange)
            else:
                response = event_loops.run(self._route(exchange))
        except Exception as error:  # noqa: BLE001 - logged with its traceback, answered as a retriable 500
            response = self._internal_error(request, error)
        return self._finish(exchange, response)

    def _internal_error(self, request: HttpRequest, error: Exception) -> HttpResponse:
        logger.exception("steppe: internal error while serving %s %s", request.method, request.url)
        message = self.api.redact(f"internal error in steppe: {error}")
        return _error(500, type(error).__name__, message, {Header.NO_RETRY: "false"})

    # -- routing ---------------------------------------------------------------------------------

    async def _route(self, exchange: _Exchange) -> HttpResponse:
        request = exchange.request
        match request.method:
            case "POST" if _is_call(request):
                return await self._call(exchange)
            case "POST":  # a trust probe
                return self._authenticate(exchange) or HttpResponse(200)
            case "PUT":
                return await self._sync(exchange)
            case "GET":
                return self._introspect(exchange)
            case _:
                answer = _error(405, "MethodNotAllowed", f"{request.method} is not served here; use GET, POST or PUT")
                answer.headers["allow"] = "GET, POST, PUT"
                return answer

    def _authenticate(self, exchange: _Exchange) -> HttpResponse | None:
        """``None`` when the request may go on (verified, or dev mode), else the 401 to answer."""
        request = exchange.request
        if self.settings.dev:
            if request.header(Header.SERVER_KIND) != "dev" and not self._warned_server_kind:
                self._warned_server_kind = True
                logger.warning(
                    "steppe: serving in dev mode (INNGEST_DEV) without signature checks, but a request came "
                    "without X-Inngest-Server-Kind: dev; unset INNGEST_DEV when serving Inngest Cloud"
                )
            return None
        try:
            exchange.verified = self._verify(request, self.replay_guard)
        except SignatureError as error:
            hint = ""
            if request.header(Header.SERVER_KIND) == "dev":
                hint = " (the request came from a Dev Server: set INNGEST_DEV=1 to serve it)"
            return _error(401, type(error).__name__, f"{error}{hint}")
        return None

    def _verify(self, request: HttpRequest, replay_guard: ReplayGuard | None) -> VerifiedSignature:
        assert self.settings.signing_key is not None  # ServeSettings refuses production without one
        return verify(
            request.body,
            request.header(Header.SIGNATURE),
            signing_key=self.settings.signing_key,
            fallback_key=self.settings.signing_key_fallback,
            now=self._now(),
            replay_guard=replay_guard,
        )

    def _now(self) -> int | None:
        return self._clock() if self._clock is not None else None

    async def _call(self, exchange: _Exchange) -> HttpResponse:
        accepted = self._accept_call(exchange)
        if isinstance(accepted, HttpResponse):
            return accepted
        fetched = await self._fetch_trimmed(accepted.call) if accepted.call.must_fetch_from_api else _NOT_TRIMMED
        if isinstance(fetched, HttpResponse):
            return fetched
        return await handle_call(
            accepted.function,
            accepted.call,
            target=accepted.target,
            send_events=self._send_events,
            events=fetched.events,
            memos=fetched.memos,
        )

    def _call_blocking(self, exchange: _Exchange) -> HttpResponse:
        """``_call`` in a WSGI worker thread: the same steps, a loop only for what needs one."""
        accepted = self._accept_call(exchange)
        if isinstance(accepted, HttpResponse):
            return accepted
        fetched: _Fetched | HttpResponse = _NOT_TRIMMED
        if accepted.call.must_fetch_from_api:
            fetched = event_loops.run(self._fetch_trimmed(accepted.call))
        if isinstance(fetched, HttpResponse):
            return fetched
        return handle_call_blocking(
            accepted.function,
            accepted.call,
            target=accepted.target,
            send_events=self._send_events,
            run_async=event_loops.run,
            events=fetched.events,
            memos=fetched.memos,
        )

    def _accept_call(self, exchange: _Exchange) -> _AcceptedCall | HttpResponse:
        """The function, target and parsed body of a call request, or the answer refusing it."""
        refused = self._authenticate(exchange)
        if refused is not None:
            return refused
        request = exchange.request
        function_id = request.query.get("fnId")
        if not function_id:
            return _error(400, "BadRequest", "call request without the fnId query parameter")
        function = self.functions.get(function_id)
        if function is None:
            served = ", ".join(sorted(self.functions)) or "none"
            return _error(400, "FunctionNotFound", f"no function {function_id!r} is served here (served: {served})")
        step_id = request.query.get("stepId")
        if step_id is None or (step_id != _DISCOVERY and not _STEP_HASH.fullmatch(step_id)):
            return _error(400, "BadRequest", f"stepId must be 'step' or a 40-digit hex step hash, got {step_id!r}")
        try:
            call = wire.CallRequest.from_json_document(_json_document(request.body))
        except (ValidationError, _NotJsonError) as error:
            return _malformed("call request body", error)
        return _AcceptedCall(function, call, target=None if step_id == _DISCOVERY else step_id.lower())

    async def _fetch_trimmed(self, call: wire.CallRequest) -> _Fetched | HttpResponse:
        """The events and memos of a call the server trimmed (``use_api``), from its API."""
        try:
            events = await self.api.fetch_batch(call.ctx.run_id)
            memos = await self.api.fetch_actions(call.ctx.run_id)
        except InngestApiError as error:
            if error.retriable:
                return _error(500, "InngestApiError", str(error), {Header.NO_RETRY: "false"})
            return _error(400, "InngestApiError", str(error))
        if not events:
            return _error(500, "InngestApiError", "the API returned no events for the run", {Header.NO_RETRY: "false"})
        return _Fetched(events, memos)

    async def _send_events(self, events: Sequence[Event[Any]]) -> list[str]:
        check_events(events, self.client.functions, what="step.send_event")
        try:
            return await self.api.send_events(events)
        except InngestApiError as error:
            if error.retriable:
                raise
            raise NonRetriableError(str(error)) from None  # the step fails for good: no retry can send them

    async def _sync(self, exchange: _Exchange) -> HttpResponse:
        if exchange.request.header(Header.SYNC_KIND) == "in_band":
            # Asked for in band: production answers only a verified request, dev mode (which checks nothing)
            # answers it too, as the Dev Server and the conformance runner expect.
            refused = self._authenticate(exchange)
            if refused is not None:
                return refused
            return self._sync_in_band(exchange)
        return await self._sync_out_of_band(exchange)

    def _sync_in_band(self, exchange: _Exchange) -> HttpResponse:
        try:
            asked = wire.InBandSyncRequest.model_validate(_json_document(exchange.request.body))
        except (ValidationError, _NotJsonError) as error:
            return _malformed("in-band sync body", error)
        url = self._serve_url(asked.url)
        body = in_band_response(
            list(self.functions.values()),
            self.settings,
            app_id=self.client.app_id,
            serve_url=url,
            framework=self.framework,
            verified=exchange.verified is not None,
        )
        logger.info("steppe: answered an in-band sync: %d function(s) at %s", len(body.functions), url)
        return json_response(200, body, {Header.SYNC_KIND: "in_band"})

    async def _sync_out_of_band(self, exchange: _Exchange) -> HttpResponse:
        request = exchange.request
        headers = {Header.SYNC_KIND: "out_of_band"}
        if not self.settings.dev and self.settings.serve_origin is None:
            # The URL would come from the request's Host header, which anyone can set: only a signed sync may
            # register it.
            refused = self._authenticate(exchange)
            if refused is not None:
                reason = json.loads(refused.body)["message"]
                message = (
                    "an unsigned sync in production cannot register the URL taken from the request's Host header: "
                    "set INNGEST_SERVE_ORIGIN (or serve_origin= on the Client) to the app's public origin, or send "
                    f"a signed sync ({reason})"
                )
                logger.warning("steppe: sync refused: %s", message)
                return json_response(401, wire.SyncResponse(message=message, modified=False), headers)
        url = self._serve_url(request.url)
        body = register_request(
            list(self.functions.values()), app_id=self.client.app_id, serve_url=url, framework=self.framework
        )
        try:
            outcome = await self.api.register(
                body, deploy_id=request.query.get("deployId"), server_kind=request.header(Header.SERVER_KIND)
            )
        except InngestApiError as error:
            outcome = RegisterOutcome(ok=False, modified=False, error=str(error))
        if not outcome.ok:
            message = outcome.error or "sync failed"
            logger.warning("steppe: sync of %s to %s failed: %s", url, self.settings.api_base_url, message)
            return json_response(500, wire.SyncResponse(message=message, modified=False), headers)
        logger.info(
            "steppe: synced %d function(s) at %s to %s (modified: %s)",
            len(body.functions),
            url,
            self.settings.api_base_url,
            outcome.modified,
        )
        answer = wire.SyncResponse(message="Successfully synced.", modified=outcome.modified)
        return json_response(200, answer, headers)

    def _introspect(self, exchange: _Exchange) -> HttpResponse:
        request = exchange.request
        if not self.settings.dev and request.header(Header.SIGNATURE):
            try:
                # No replay guard: answering the same signed GET twice reveals nothing new.
                exchange.verified = self._verify(request, None)
            except SignatureError:
                exchange.verified = None
        body = introspection(
            list(self.functions.values()),
            self.settings,
            app_id=self.client.app_id,
            framework=self.framework,
            authenticated=exchange.verified is not None,
        )
        return json_response(200, body)

    # -- helpers ---------------------------------------------------------------------------------

    def _serve_url(self, request_url: str) -> str:
        """Where the server should call us: the request's URL, with the configured origin and path winning."""
        parts = urllib.parse.urlsplit(request_url)
        origin = self.settings.serve_origin or f"{parts.scheme}://{parts.netloc}"
        path = self.settings.serve_path or parts.path
        return f"{origin}{path}"

    def _finish(self, exchange: _Exchange, response: HttpResponse) -> HttpResponse:
        headers = dict(response.headers)
        if response.status == 400:
            headers[Header.NO_RETRY] = "true"  # a request refused as bad is refused again on every retry
        headers[Header.SDK] = sdk_header_value()
        headers[Header.REQ_VERSION] = "2"
        headers[Header.FRAMEWORK] = self.framework
        if exchange.verified is not None:
            headers[Header.SIGNATURE] = sign(response.body, exchange.verified.signing_key, now=self._now())
        if exchange.request.method == "POST" and response.status >= 400:
            self._log_failed_call(exchange.request, response)
        return HttpResponse(response.status, headers, response.body)

    def _log_failed_call(self, request: HttpRequest, response: HttpResponse) -> None:
        try:
            answer: object = json.loads(response.body)
        except ValueError:
            answer = None
        message = cast(dict[str, object], answer).get("message") if isinstance(answer, dict) else None
        logger.warning(
            "steppe: call to %s (stepId %s) answered %d%s: %s",
            request.query.get("fnId"),
            request.query.get("stepId"),
            response.status,
            " (retriable)" if response.headers.get(Header.NO_RETRY) == "false" else "",
            message if isinstance(message, str) else response.body[:200],
        )


def _served_functions(
    client: ServedApp, functions: Sequence[Function[Any, Any]] | None
) -> dict[str, Function[Any, Any]]:
    """The functions by id; a listed function brings its ``on_failure`` handler along."""
    chosen = client.functions if functions is None else list(functions)
    served: dict[str, Function[Any, Any]] = {}
    for function in chosen:
        if not isinstance(function, Function):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"serve: expected steppe functions, got a {type(function).__name__}")
        if function.client.app_id != client.app_id:
            raise FunctionDefinitionError(
                f"serve: function {function.id!r} belongs to app {function.client.app_id!r}, not {client.app_id!r}"
            )
        if function.id in served:
            raise FunctionDefinitionError(f"serve: function {function.id!r} is given twice")
        served[function.id] = function
    for handler in client.functions:
        if handler.handles_failure_of in served and handler.id not in served:
            served[handler.id] = handler
    return served
