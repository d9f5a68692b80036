"""The Starlette application: pages over a ``RunsView`` and the forms that cancel, rerun and send.

Handlers are ``async`` and call the operations API on the event loop's own thread: its SQLite connection stays in
the thread that made it, and each call is a short read or write. Every POST checks the CSRF token first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import jinja2
import pydantic
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from steppe._client import Client
from steppe._core.errors import SteppeError
from steppe._core.events import Event
from steppe._core.serde import JsonValue
from steppe._dev.contract import STATUSES, RunDetailView, RunStatus, RunSummaryView, RunsView
from steppe._dev.csrf import CsrfGuard
from steppe._dev.format import duration_between, human_duration, pretty_json, short_time
from steppe._dev.functions import event_names, function_rows
from steppe._dev.timeline import build_timeline

__all__ = ["PAGE_SIZE", "create_app"]

HERE = Path(__file__).parent
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
IN_FLIGHT: frozenset[str] = frozenset({"queued", "running"})
# Loopback names only: a page on another site cannot reach the UI by pointing its own host name at 127.0.0.1.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
_STATUS_NAMED: dict[str, RunStatus] = {status: status for status in STATUSES}


@dataclass(frozen=True)
class _Filters:
    status: RunStatus | None
    function: str | None
    before: str | None
    limit: int

    def query(self, **changes: str | None) -> str:
        values: dict[str, str | None] = {
            "status": self.status,
            "function": self.function,
            "before": self.before,
        } | changes
        if self.limit != PAGE_SIZE:
            values["limit"] = str(self.limit)
        return urlencode({k: v for k, v in values.items() if v})


class _BadRequest(Exception):
    pass


def create_app(
    runs: RunsView,
    client: Client,
    *,
    database: str,
    csrf: CsrfGuard | None = None,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Starlette:
    """The UI over ``runs`` (the database at ``database``) for the functions of ``client``."""
    guard = csrf or CsrfGuard()
    pages = _Pages(runs, client, database, guard, now)
    routes = [
        Route("/", pages.index),
        Route("/api/runs", pages.runs_json),
        Route("/runs/{run_id}", pages.run_page),
        Route("/api/runs/{run_id}", pages.run_json),
        Route("/runs/{run_id}/cancel", pages.cancel, methods=["POST"]),
        Route("/runs/{run_id}/rerun", pages.rerun, methods=["POST"]),
        Route("/send", pages.send_form, methods=["GET"]),
        Route("/send", pages.send, methods=["POST"]),
        Route("/events/{event_id}", pages.event_page),
        Route("/api/events/{event_id}", pages.event_json),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
    )


def fingerprint(value: object) -> str:
    """A short digest of what a page shows: the page's script reloads when the server's differs from its own."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def summary_json(run: RunSummaryView) -> dict[str, JsonValue]:
    return {
        "run_id": run.run_id,
        "function": run.function,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


class _Pages:
    def __init__(self, runs: RunsView, client: Client, database: str, csrf: CsrfGuard, now: Callable[[], datetime]):
        self._runs = runs
        self._client = client
        self._database = database
        self._csrf = csrf
        self._now = now
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value from user code (outputs, errors, events) is text, never markup
            undefined=jinja2.StrictUndefined,
        )
        self._templates.filters["json"] = pretty_json
        self._templates.filters["when"] = short_time

    def _duration(self, start: datetime | None, end: datetime | None) -> str:
        return duration_between(start, end, now=self._now())

    def _render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("title", self._client.app_id)
        for key, default in (("poll", None), ("state", ""), ("live", False)):
            values.setdefault(key, default)
        page = self._templates.get_template(template).render(
            app_id=self._client.app_id, database=self._database, csrf_field=self._csrf.field,
            csrf_token=self._csrf.token, duration=self._duration, human_duration=human_duration, **values,
        )  # fmt: skip
        return HTMLResponse(page, status_code=status_code)

    # --- the runs list -------------------------------------------------------------------------------------------

    def _filters(self, request: Request) -> _Filters:
        params = request.query_params
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise _BadRequest(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        raw_limit = params.get("limit") or str(PAGE_SIZE)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
            raise _BadRequest(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got {raw_limit!r}")
        return _Filters(
            _STATUS_NAMED.get(status or ""),
            params.get("function") or None,
            params.get("before") or None,
            int(raw_limit),
        )

    def _page_of_runs(self, filters: _Filters) -> tuple[list[RunSummaryView], bool]:
        # One more than the page holds tells whether there is a next page without counting.
        found = list(
            self._runs.list(
                status=filters.status, function=filters.function, limit=filters.limit + 1, before=filters.before
            )
        )
        return found[: filters.limit], len(found) > filters.limit

    def _runs_state(self, filters: _Filters, shown: Sequence[RunSummaryView]) -> tuple[str, bool]:
        live = any(run.status in IN_FLIGHT for run in shown)
        # The first page also watches for new runs; later pages only while something on them is in flight.
        return fingerprint([summary_json(run) for run in shown]), live or filters.before is None

    async def index(self, request: Request) -> Response:
        try:
            filters = self._filters(request)
        except _BadRequest as error:
            return self._render(
                "message.html", status_code=400, title="bad request", heading="Bad request", message=str(error)
            )
        shown, more = self._page_of_runs(filters)
        state, watch = self._runs_state(filters, shown)
        return self._render(
            "index.html",
            functions=function_rows(self._client),
            runs=shown,
            total=self._runs.count(status=filters.status, function=filters.function),
            filters=filters,
            statuses=STATUSES,
            next_query=filters.query(before=shown[-1].run_id) if more and shown else None,
            first_query=filters.query(before=None) if filters.before else None,
            state=state,
            poll=f"/api/runs?{filters.query()}" if watch else None,
            live=any(run.status in IN_FLIGHT for run in shown),
        )

    async def runs_json(self, request: Request) -> Response:
        try:
            filters = self._filters(request)
        except _BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        shown, more = self._page_of_runs(filters)
        state, _ = self._runs_state(filters, shown)
        return JSONResponse(
            {"runs": [summary_json(run) for run in shown], "more": more, "state": state,
             "live": any(run.status in IN_FLIGHT for run in shown)}
        )  # fmt: skip

    # --- one run -------------------------------------------------------------------------------------------------

    def _detail(self, run_id: str) -> RunDetailView | None:
        try:
            return self._runs.get(run_id)
        except KeyError:
            return None

    def _not_found(self, what: str) -> HTMLResponse:
        return self._render("message.html", status_code=404, title="not found", heading="Not found", message=what)

    async def run_page(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        run = self._detail(run_id)
        if run is None:
            return self._not_found(f"There is no run {run_id} in {self._database}.")
        live = run.status in IN_FLIGHT
        return self._render(
            "run.html",
            title=f"{run.function} {run.run_id}",
            run=run,
            timeline=build_timeline(run, now=self._now()),
            state=fingerprint(run.to_json()),
            poll=f"/api/runs/{run.run_id}" if live else None,
            live=live,
            notice=request.query_params.get("notice"),
        )

    async def run_json(self, request: Request) -> Response:
        run = self._detail(request.path_params["run_id"])
        if run is None:
            return JSONResponse({"error": f"no run {request.path_params['run_id']}"}, status_code=404)
        body = run.to_json()
        return JSONResponse({"run": body, "state": fingerprint(body), "live": run.status in IN_FLIGHT})

    async def _checked_form(self, request: Request) -> dict[str, str] | Response:
        form = await request.form()
        if not self._csrf.accepts(form.get(self._csrf.field)):
            return self._render(
                "message.html", status_code=403, title="refused", heading="Refused",
                message="This form has no valid token (it did not come from this steppe dev process): nothing changed.",
            )  # fmt: skip
        return {key: value for key, value in form.items() if isinstance(value, str)}

    async def cancel(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        run_id = request.path_params["run_id"]
        run = self._detail(run_id)
        if run is None:
            return self._not_found(f"There is no run {run_id} to cancel.")
        if run.status not in IN_FLIGHT:
            return _redirect(f"/runs/{run_id}", notice=f"not cancelled: the run is already {run.status}")
        try:
            self._runs.cancel(run_id)
        except (SteppeError, ValueError) as error:
            return _redirect(f"/runs/{run_id}", notice=f"not cancelled: {error}")
        return _redirect(f"/runs/{run_id}", notice="cancel requested: the worker stops the run within a second")

    async def rerun(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        run_id = request.path_params["run_id"]
        if self._detail(run_id) is None:
            return self._not_found(f"There is no run {run_id} to rerun.")
        from_step = form.get("from_step") or None
        try:
            new_run = self._runs.rerun(run_id, from_step=from_step)
        except (SteppeError, ValueError) as error:
            return _redirect(f"/runs/{run_id}", notice=f"not rerun: {error}")
        where = f" from step {from_step}" if from_step else ""
        return _redirect(f"/runs/{new_run}", notice=f"rerun of {run_id}{where}")

    # --- sending events ------------------------------------------------------------------------------------------

    def _send_page(self, name: str, data: str, errors: dict[str, list[str]], status_code: int = 200) -> HTMLResponse:
        return self._render(
            "send.html", status_code=status_code, title="send an event", name=name, data=data, errors=errors,
            suggestions=event_names(self._client),
        )  # fmt: skip

    async def send_form(self, request: Request) -> Response:
        return self._send_page(request.query_params.get("event", ""), request.query_params.get("data", "{}"), {})

    async def send(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        name, data = form.get("name", "").strip(), form.get("data", "").strip() or "{}"
        errors: dict[str, list[str]] = {}
        if not name:
            errors["name"] = ["the event needs a name"]
        payload: dict[str, Any] = {}
        try:
            parsed: object = json.loads(data)
        except json.JSONDecodeError as error:
            errors["data"] = [f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"]
        else:
            if isinstance(parsed, dict):
                payload = cast("dict[str, Any]", parsed)
            else:
                errors["data"] = [f"must be a JSON object, got {type(parsed).__name__}"]
        if errors:
            return self._send_page(name, data, errors, status_code=422)
        try:
            [event_id] = self._runs.send(Event(name=name, data=payload))
        except pydantic.ValidationError as error:
            # A typed trigger refused the data: one line per field, as `steppe send` reports it.
            lines = [f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in error.errors()]
            return self._send_page(name, data, {"data": lines}, status_code=422)
        except (SteppeError, ValueError) as error:
            return self._send_page(name, data, {"data": [str(error)]}, status_code=422)
        return _redirect(f"/events/{event_id}", name=name)

    def _event_state(self, event_id: str, name: str) -> tuple[list[RunSummaryView], bool]:
        started = list(self._runs.runs_of_event(event_id))
        expected = name in event_names(self._client)
        return started, (expected and not started) or any(run.status in IN_FLIGHT for run in started)

    async def event_page(self, request: Request) -> Response:
        event_id = request.path_params["event_id"]
        name = request.query_params.get("name", "")
        started, live = self._event_state(event_id, name)
        query = urlencode({"name": name})
        return self._render(
            "event.html",
            title=f"event {event_id}",
            event_id=event_id,
            name=name,
            triggers_some=name in event_names(self._client),
            runs=started,
            state=fingerprint([summary_json(run) for run in started]),
            poll=f"/api/events/{event_id}?{query}" if live else None,
            live=live,
        )

    async def event_json(self, request: Request) -> Response:
        started, live = self._event_state(request.path_params["event_id"], request.query_params.get("name", ""))
        body = [summary_json(run) for run in started]
        return JSONResponse({"runs": body, "state": fingerprint(body), "live": live})


def _redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)
