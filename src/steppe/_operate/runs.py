"""``Runs``: list, inspect, cancel and rerun the runs of a steppe database, and send it events, from any process.

Reads open the file read-only and need no engine. Writes go to the database itself (a cancellation, a new run)
or to its inbox (an event), each with a command the engine driving the file applies when it next polls.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

from steppe._core.errors import RunNotFoundError, SteppeError
from steppe._core.events import Event, new_event_id
from steppe._core.function import App
from steppe._core.outcomes import ErrorInfo
from steppe._core.serde import JsonValue
from steppe._engine.store import RunDetail as StoredDetail
from steppe._engine.store import RunSummary as StoredSummary
from steppe._engine.store import Store, WaitRecord

__all__ = ["AttemptInfo", "RunDetail", "RunStatus", "RunSummary", "Runs", "StepInfo", "StepKind", "StepStatus"]

RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
StepKind = Literal["run", "sleep", "wait", "invoke", "send", "parallel"]
StepStatus = Literal["running", "completed", "failed", "waiting"]

_WAIT_KINDS: dict[str, StepKind] = {"sleep": "sleep", "event": "wait", "invoke": "invoke"}
_CANCELLED = ErrorInfo("RunCancelledError", "the run was cancelled (steppe runs cancel)")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _error_json(error: ErrorInfo | None) -> JsonValue:
    return None if error is None else {"name": error.name, "message": error.message, "stack": error.stack}


@dataclass(frozen=True)
class RunSummary:
    """One run as a listing shows it. ``function`` is the id the function was declared with (``fn_id``)."""

    run_id: str
    function: str
    status: RunStatus
    started_at: datetime | None
    ended_at: datetime | None

    def to_json(self) -> dict[str, JsonValue]:
        """The summary as JSON data; times in ISO 8601 with their time zone, or None."""
        return {
            "run_id": self.run_id,
            "function": self.function,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True)
class AttemptInfo:
    """One attempt of a step (0 the first); ``error`` is None when it succeeded (or has not ended)."""

    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    error: ErrorInfo | None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "attempt": self.attempt,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "error": _error_json(self.error),
        }


@dataclass(frozen=True)
class StepInfo:
    """A step of a run: its kind, state, stored output or error, attempts, and what it waits for."""

    id: str
    kind: StepKind
    status: StepStatus
    started_at: datetime | None
    ended_at: datetime | None
    output: JsonValue
    error: ErrorInfo | None
    parallel: bool
    attempts: list[AttemptInfo]
    waiting_for: str | None
    child_run_id: str | None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "output": self.output,
            "error": _error_json(self.error),
            "parallel": self.parallel,
            "waiting_for": self.waiting_for,
            "child_run_id": self.child_run_id,
            "attempts": [attempt.to_json() for attempt in self.attempts],
        }


@dataclass(frozen=True)
class RunDetail(RunSummary):
    """A run with its triggering event(s), outcome, relatives and steps (in the order they first started)."""

    event: JsonValue
    events: list[JsonValue]
    output: JsonValue
    error: ErrorInfo | None
    waiting_on: str | None
    parent_run_id: str | None
    child_run_ids: list[str]
    steps: list[StepInfo]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            **super().to_json(),
            "event": self.event,
            "events": list(self.events),
            "output": self.output,
            "error": _error_json(self.error),
            "waiting_on": self.waiting_on,
            "parent_run_id": self.parent_run_id,
            "child_run_ids": list[JsonValue](self.child_run_ids),
            "steps": [step.to_json() for step in self.steps],
        }


def describe_wait(wait: WaitRecord, declared: dict[str, str]) -> str:
    """What a step waits for, in words (the same text for a run and its step)."""
    match wait.kind:
        case "sleep":
            return f"until {_iso(wait.wake_at)}"
        case "event":
            condition = f" if {wait.expression}" if wait.expression else ""
            timeout = f" (until {_iso(wait.wake_at)})" if wait.wake_at else ""
            return f"event {wait.event_name}{condition}{timeout}"
        case "invoke":
            return f"run {wait.child_run_id}"


class Runs:
    """Operations on a steppe database, from any process: reads need no engine; writes reach a running engine
    (``steppe worker``) within about a second, as it polls the database for them.

    ``app``: when given, ``send`` validates events against the app's typed triggers.
    """

    def __init__(self, database: str | os.PathLike[str], *, app: App | None = None) -> None:
        self._path = os.fspath(database)
        self._app = app
        self._reader: Store | None = Store.open_reader(self._path)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def _store(self) -> Store:
        if self._reader is None:
            raise SteppeError(f"Runs({self._path!r}) is closed")
        return self._reader

    def _writer(self) -> Store:
        return Store.open_shared(self._path)

    # -- reading ---------------------------------------------------------------------------------

    def _function_ids(self, function: str | None) -> list[str] | None:
        """The stored function ids a declared id (or a full one) names."""
        if function is None:
            return None
        declared = self._store.declared_ids()
        return [function, *(full for full, local in declared.items() if local == function and full != function)]

    def list(
        self,
        *,
        status: RunStatus | None = None,
        function: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> builtins.list[RunSummary]:
        """Runs newest first, of one status and/or function (its declared id); ``before`` a run id to page on."""
        stored_status, queued = _stored_status(status)
        store = self._store
        declared = store.declared_ids()
        found: builtins.list[RunSummary] = []
        cursor = before
        while len(found) < limit:
            batch = store.list_runs(
                status=stored_status, function_id=self._function_ids(function), limit=limit, before=cursor
            )
            found.extend(
                summary
                for summary in (_summary(row, declared) for row in batch)
                if status is None or summary.status == status or queued is None
            )
            if len(batch) < limit:
                break
            cursor = batch[-1].id
        return found[:limit]

    def count(self, *, status: RunStatus | None = None, function: str | None = None) -> int:
        """How many runs there are (of one status and/or function)."""
        stored_status, queued = _stored_status(status)
        if queued is None:
            return self._store.count_runs(status=stored_status, function_id=self._function_ids(function))
        return len(self.list(status=status, function=function, limit=10**9))

    def get(self, run_id: str) -> RunDetail:
        """The run in detail; raises ``steppe.RunNotFoundError`` if there is none with this id."""
        store = self._store
        detail = store.run_detail(run_id)
        if detail is None:
            raise RunNotFoundError(run_id, self._path)
        return _detail(store, detail)

    def runs_of_event(self, event_id: str) -> builtins.list[RunSummary]:
        """The runs an event started, newest first."""
        declared = self._store.declared_ids()
        return [_summary(row, declared) for row in self._store.runs_of_event(event_id)]

    # -- writing ---------------------------------------------------------------------------------

    def cancel(self, run_id: str) -> None:
        """Cancel the run: it becomes "cancelled" at once; the engine stops it (and fails a parent invoking it
        with a StepError) when it next polls. A run that has already finished is left as it is."""
        writer = self._writer()
        try:
            now = datetime.now(UTC)
            with writer.transaction():
                if writer.load_run(run_id) is None:
                    raise RunNotFoundError(run_id, self._path)
                if writer.cancel_run(run_id, now, _CANCELLED):
                    writer.post_command("cancelled", {"run_id": run_id}, now)
        finally:
            writer.close()

    def rerun(self, run_id: str, *, from_step: str | None = None) -> str:
        """Start a new run of the same function and event(s); returns its id. With ``from_step`` (a step id as
        ``get`` lists it), the new run reuses the stored results of the steps that started before that one."""
        writer = self._writer()
        try:
            now = datetime.now(UTC)
            with writer.transaction():
                detail = writer.run_detail(run_id)
                if detail is None:
                    raise RunNotFoundError(run_id, self._path)
                reused = _steps_before(detail, from_step) if from_step is not None else []
                new_id = uuid.uuid4().hex
                writer.create_run(new_id, detail.run.function_id, detail.run.event_ids, now)
                writer.copy_steps(run_id, new_id, reused)
                writer.post_command("created", {"run_id": new_id}, now)
            return new_id
        finally:
            writer.close()

    def send(self, event: Event[Any]) -> builtins.list[str]:
        """Store the event for the engine driving this database (it starts the runs the event triggers when it
        next polls); returns ``[event id]``. With an ``app``, an event that does not fit one of the app's typed
        triggers raises pydantic's ValidationError and nothing is stored."""
        now = datetime.now(UTC)
        stamped = event.model_copy(
            update={"id": event.id or new_event_id(), "ts": event.ts or int(now.timestamp() * 1000)}
        )
        payload: dict[str, Any] = stamped.model_dump(mode="json")
        if self._app is not None:
            from steppe._engine.engine import triggered_functions

            triggered_functions(self._app.functions, stamped, payload)
        writer = self._writer()
        try:
            with writer.transaction():
                writer.post_command("event", payload, now)
        finally:
            writer.close()
        return [stamped.id]


def _stored_status(status: RunStatus | None) -> tuple[Any, bool | None]:
    """The status to ask the store for, and whether a "running" row must be queued (True) or started (False)."""
    if status == "queued":
        return "running", True
    if status == "running":
        return "running", False
    return status, None


def _summary(row: StoredSummary, declared: dict[str, str]) -> RunSummary:
    status: RunStatus = "queued" if row.status == "running" and row.started_at is None else row.status
    return RunSummary(row.id, declared.get(row.function_id, row.function_id), status, row.started_at, row.ended_at)


def _steps_before(detail: StoredDetail, from_step: str) -> list[str]:
    ids = [step.user_id for step in detail.steps]
    if from_step not in ids:
        raise SteppeError(f"run {detail.run.id} has no step {from_step!r} (its steps: {', '.join(ids) or 'none'})")
    before = detail.steps[: ids.index(from_step)]
    return [step.step for step in before if step.status != "retrying"]


def _json_or_none(text: str | None) -> JsonValue:
    return None if text is None else json.loads(text)


def _detail(store: Store, stored: StoredDetail) -> RunDetail:
    run = stored.run
    declared = store.declared_ids()
    attempts: dict[str, list[AttemptInfo]] = {}
    first_seen: dict[str, tuple[str, datetime]] = {}
    for record in store.step_history(run.id):
        attempts.setdefault(record.step, []).append(
            AttemptInfo(record.attempt, record.started_at, record.ended_at, record.error)
        )
        first_seen.setdefault(record.step, (record.user_id, record.started_at))
    steps: list[StepInfo] = []
    for step in stored.steps:
        failed = step.status == "failed"
        steps.append(
            StepInfo(
                id=step.user_id,
                kind=step.kind or "run",
                status="failed" if failed else "completed" if step.status == "completed" else "running",
                started_at=step.started_at,
                ended_at=step.ended_at if step.status != "retrying" else None,
                output=_json_or_none(step.output) if step.status == "completed" else None,
                error=step.error if failed else None,
                parallel=step.parallel is not None,
                attempts=attempts.get(step.step, []),
                waiting_for=None,
                child_run_id=None,
            )
        )
    children = store.child_runs(run.id)
    child_of_step = {parent_step: child for child, parent_step in children}
    steps = [
        dataclasses.replace(info, child_run_id=child_of_step.get(step.step)) if info.kind == "invoke" else info
        for info, step in zip(steps, stored.steps, strict=True)
    ]
    known = {step.step for step in stored.steps}
    waiting_on: str | None = None
    for wait in stored.waits:
        known.add(wait.step)
        text = describe_wait(wait.wait, declared)
        waiting_on = waiting_on or text
        kind = _WAIT_KINDS[wait.wait.kind]
        steps.append(
            StepInfo(
                wait.user_id, kind, "waiting", wait.since, None, None, None, False, [], text, wait.wait.child_run_id
            )
        )
    for hashed, (user_id, started_at) in first_seen.items():
        if hashed not in known:  # an attempt under way, nothing stored for the step yet
            steps.append(
                StepInfo(user_id, "run", "running", started_at, None, None, None, False, attempts[hashed], None, None)
            )
    steps.sort(key=lambda info: info.started_at or datetime.max.replace(tzinfo=UTC))
    events = [_as_json(payload) for payload in store.load_events(run.event_ids)]
    summary = _summary(
        StoredSummary(
            run.id,
            run.function_id,
            run.status,
            run.attempt,
            run.created_at or datetime.now(UTC),
            run.started_at,
            run.ended_at,
        ),
        declared,
    )
    return RunDetail(
        run_id=summary.run_id,
        function=summary.function,
        status=summary.status,
        started_at=summary.started_at,
        ended_at=summary.ended_at,
        event=events[0] if events else None,
        events=events,
        output=run.output if run.status == "completed" else None,
        error=run.error,
        waiting_on=waiting_on if run.status == "running" else None,
        parent_run_id=run.parent_run_id,
        child_run_ids=[child for child, _ in children],
        steps=steps,
    )


def _as_json(payload: dict[str, Any]) -> JsonValue:
    value: JsonValue = payload
    return value
