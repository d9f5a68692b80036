"""``ServeHandler``: the serve endpoint, framework-independent. Adapters only translate requests and responses.

Routing: ``POST`` is a call request (or the trust probe ``?probe=trust``), ``PUT`` a sync, ``GET`` introspection.
Every response carries ``X-Inngest-Sdk`` and ``X-Inngest-Req-Version: 2``; a response to a verified request is
signed with the key that verified it.

Authentication: in production (``INNGEST_DEV`` unset) a call, a trust probe and an in-band sync must carry a valid
``X-Inngest-Signature`` no older than five minutes and not seen before; anything else gets 401 before the body is
even parsed, so no user code runs. Dev mode verifies nothing, as the Dev Server signs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
from pydantic import ValidationError

from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import Event
from steppe._core.function import App, Function
from steppe._protocol import wire
from steppe._protocol.api import InngestApi, InngestApiError, check_events
from steppe._protocol.executor import handle_call
from steppe._protocol.messages import Header, HttpRequest, HttpResponse, json_response, sdk_header_value
from steppe._protocol.settings import ServeSettings
from steppe._protocol.signing import ReplayGuard, SignatureError, VerifiedSignature, sign, verify
from steppe._protocol.sync import in_band_response, introspection, register_request

__all__ = ["DEFAULT_SERVE_PATH", "ServeHandler"]

DEFAULT_SERVE_PATH: Final = "/api/inngest"
_STEP_HASH: Final = re.compile(r"[0-9a-fA-F]{40}")
_DISCOVERY: Final = "step"

logger = logging.getLogger("steppe.serve")


class ServedApp(App, Protocol):
    """An app that can be served: ``steppe.Client`` is one. Its keywords and the environment give the settings."""

    def serve_settings(self, environ: Mapping[str, str] | None = None) -> ServeSettings: ...


@dataclass(frozen=True, slots=True)
class _Answer:
    response: HttpResponse
    verified: VerifiedSignature | None = None


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(json_response(status, wire.ErrorBody(name=name, message=message), headers))


class ServeHandler:
    """Serves ``functions`` (default: every function of ``client``) to an Inngest server.

    ``settings`` default to ``client.serve_settings()`` (the ``INNGEST_*`` environment and the client's keywords).
    ``framework`` is reported to the server. ``api_transport`` replaces the network for outbound calls (tests,
    proxies); ``clock`` returns the current unix time for signature checks (tests).
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
        self.replay_guard: ReplayGuard = replay_guard if replay_guard is not None else ReplayGuard()
        self._clock = clock
        self._warned_server_kind = False

    # -- entry points ----------------------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request to the serve endpoint."""
        try:
            answer = await self._route(request)
        except Exception as error:
            logger.exception("steppe: internal error while serving %s %s", request.method, request.url)
            answer = _error(500, type(error).__name__, f"internal error in steppe: {error}", {Header.NO_RETRY: "false"})
        return self._finish(answer)

    def handle_blocking(self, request: HttpRequest) -> HttpResponse:
        """``handle`` for WSGI servers: runs it on a fresh event loop in the calling worker thread.

        A loop per request keeps requests independent (no loop shared across WSGI threads, nothing to shut down);
        its cost, well under a millisecond, is small beside a call's JSON and signature work.
        """
        return asyncio.run(self.handle(request))

    # -- routing ---------------------------------------------------------------------------------

    async def _route(self, request: HttpRequest) -> _Answer:
        match request.method:
            case "POST" if request.query.get("probe") == "trust":
                return self._trust_probe(request)
            case "POST":
                return await self._call(request)
            case "PUT":
                return await self._sync(request)
            case "GET":
                return self._introspect(request)
            case _:
                answer = _error(405, "MethodNotAllowed", f"{request.method} is not served here; use GET, POST or PUT")
                answer.response.headers["allow"] = "GET, POST, PUT"
                return answer

    def _authenticate(self, request: HttpRequest) -> VerifiedSignature | _Answer | None:
        """The verified signature, ``None`` in dev mode, or the 401 to answer."""
        if self.settings.dev:
            if request.header(Header.SERVER_KIND) != "dev" and not self._warned_server_kind:
                self._warned_server_kind = True
                logger.warning(
                    "steppe: serving in dev mode (INNGEST_DEV) without signature checks, but a request came "
                    "without X-Inngest-Server-Kind: dev; unset INNGEST_DEV when serving Inngest Cloud"
                )
            return None
        try:
            return self._verify(request, self.replay_guard)
        except SignatureError as error:
            hint = ""
            if request.header(Header.SERVER_KIND) == "dev":
                hint = " (the request came from a Dev Server: set INNGEST_DEV=1 to serve it)"
            return _error(401, type(error).__name__, f"{error}{hint}")

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

    def _trust_probe(self, request: HttpRequest) -> _Answer:
        verified = self._authenticate(request)
        if isinstance(verified, _Answer):
            return verified
        return _Answer(HttpResponse(200), verified)

    async def _call(self, request: HttpRequest) -> _Answer:
        verified = self._authenticate(request)
        if isinstance(verified, _Answer):
            return verified
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
            call = wire.CallRequest.model_validate_json(request.body)
        except ValidationError as error:
            return _error(400, "BadRequest", f"malformed call request body: {error}")
        events: list[wire.WireEvent] | None = None
        memos: dict[str, wire.Memo] | None = None
        if call.must_fetch_from_api:
            try:
                events = await self.api.fetch_batch(call.ctx.run_id)
                memos = await self.api.fetch_actions(call.ctx.run_id)
            except InngestApiError as error:
                return _error(500, "InngestApiError", str(error), {Header.NO_RETRY: "false"})
            if not events:
                return _error(
                    500, "InngestApiError", "the API returned no events for the run", {Header.NO_RETRY: "false"}
                )
        response = await handle_call(
            function,
            call,
            target=None if step_id == _DISCOVERY else step_id.lower(),
            send_events=self._send_events,
            events=events,
            memos=memos,
        )
        return _Answer(response, verified)

    async def _send_events(self, events: Sequence[Event[Any]]) -> list[str]:
        check_events(events, self.client.functions, what="step.send_event")
        return await self.api.send_events(events)

    async def _sync(self, request: HttpRequest) -> _Answer:
        if request.header(Header.SYNC_KIND) == "in_band" and not self.settings.dev:
            verified = self._authenticate(request)
            if isinstance(verified, _Answer):
                return verified
            return self._sync_in_band(request, verified)
        return await self._sync_out_of_band(request)

    def _sync_in_band(self, request: HttpRequest, verified: VerifiedSignature | None) -> _Answer:
        try:
            asked = wire.InBandSyncRequest.model_validate_json(request.body)
        except ValidationError as error:
            return _error(400, "BadRequest", f"malformed in-band sync body: {error}")
        url = self._serve_url(asked.url)
        body = in_band_response(
            list(self.functions.values()),
            self.settings,
            app_id=self.client.app_id,
            serve_url=url,
            framework=self.framework,
        )
        return _Answer(json_response(200, body, {Header.SYNC_KIND: "in_band"}), verified)

    async def _sync_out_of_band(self, request: HttpRequest) -> _Answer:
        body = register_request(
            list(self.functions.values()),
            app_id=self.client.app_id,
            serve_url=self._serve_url(request.url),
            framework=self.framework,
        )
        headers = {Header.SYNC_KIND: "out_of_band"}
        try:
            outcome = await self.api.register(
                body, deploy_id=request.query.get("deployId"), server_kind=request.header(Header.SERVER_KIND)
            )
        except InngestApiError as error:
            return _Answer(json_response(500, wire.SyncResponse(message=str(error), modified=False), headers))
        if not outcome.ok:
            message = outcome.error or "sync failed"
            return _Answer(json_response(500, wire.SyncResponse(message=message, modified=False), headers))
        answer = wire.SyncResponse(message="Successfully synced.", modified=outcome.modified)
        return _Answer(json_response(200, answer, headers))

    def _introspect(self, request: HttpRequest) -> _Answer:
        verified: VerifiedSignature | None = None
        if not self.settings.dev and request.header(Header.SIGNATURE):
            try:
                # No replay guard: answering the same signed GET twice reveals nothing new.
                verified = self._verify(request, None)
            except SignatureError:
                verified = None
        body = introspection(
            list(self.functions.values()),
            self.settings,
            app_id=self.client.app_id,
            framework=self.framework,
            authenticated=verified is not None,
        )
        return _Answer(json_response(200, body), verified)

    # -- helpers ---------------------------------------------------------------------------------

    def _serve_url(self, request_url: str) -> str:
        """Where the server should call us: the request's URL, with the configured origin and path winning."""
        parts = urllib.parse.urlsplit(request_url)
        origin = self.settings.serve_origin or f"{parts.scheme}://{parts.netloc}"
        path = self.settings.serve_path or parts.path
        return f"{origin}{path}"

    def _finish(self, answer: _Answer) -> HttpResponse:
        response = answer.response
        headers = dict(response.headers)
        headers[Header.SDK] = sdk_header_value()
        headers[Header.REQ_VERSION] = "2"
        headers[Header.FRAMEWORK] = self.framework
        if answer.verified is not None:
            headers[Header.SIGNATURE] = sign(response.body, answer.verified.signing_key, now=self._now())
        return HttpResponse(response.status, headers, response.body)


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
