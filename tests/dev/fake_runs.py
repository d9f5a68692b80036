"""An in-memory stand-in for ``steppe.Runs``, shaped as the dev UI's contract (``steppe._dev.contract``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from steppe._client import Client
from steppe._core.events import Event, TriggerEvent
from steppe._core.outcomes import ErrorInfo
from steppe._core.serde import JsonValue
from steppe._dev.contract import RunStatus

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class Step:
    id: str
    started_at: datetime | None
    ended_at: datetime | None
    kind: Literal["run", "sleep", "wait", "invoke", "send", "parallel"] = "run"
    status: Literal["running", "completed", "failed", "waiting"] = "completed"
    output: JsonValue = None
    error: ErrorInfo | None = None
    parallel: bool = False
    attempts: list[Attempt] = field(default_factory=lambda: [])
    waiting_for: str | None = None
    child_run_id: str | None = None


@dataclass(frozen=True)
class Run:
    run_id: str
    function: str
    status: RunStatus
    started_at: datetime | None
    ended_at: datetime | None
    event: JsonValue = None
    events: list[JsonValue] = field(default_factory=lambda: [])
    output: JsonValue = None
    error: ErrorInfo | None = None
    waiting_on: str | None = None
    parent_run_id: str | None = None
    child_run_ids: list[str] = field(default_factory=lambda: [])
    steps: list[Step] = field(default_factory=lambda: [])

    def to_json(self) -> dict[str, JsonValue]:
        return {"run_id": self.run_id, "status": self.status, "steps": [s.id for s in self.steps]}


class FakeRuns:
    """Runs kept newest first; ``send`` validates typed triggers as the real one does (pydantic's error)."""

    def __init__(self, client: Client, runs: list[Run] | None = None) -> None:
        self.client = client
        self.runs: list[Run] = list(runs or [])
        self.cancelled: list[str] = []
        self.reruns: list[tuple[str, str | None]] = []
        self.sent: list[Event[Any]] = []
        self.started: dict[str, list[str]] = {}

    def list(
        self,
        *,
        status: RunStatus | None = None,
        function: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> Sequence[Run]:
        found = [r for r in self.runs if (status is None or r.status == status) and function in (None, r.function)]
        if before is not None:
            index = next(i for i, r in enumerate(found) if r.run_id == before)
            found = found[index + 1 :]
        return found[:limit]

    def count(self, *, status: RunStatus | None = None, function: str | None = None) -> int:
        return len(self.list(status=status, function=function, limit=len(self.runs)))

    def get(self, run_id: str) -> Run:
        for run in self.runs:
            if run.run_id == run_id:
                return run
        raise KeyError(run_id)

    def cancel(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status not in ("queued", "running"):
            raise ValueError(f"run {run_id} is {run.status}: only a queued or running run can be cancelled")
        self.cancelled.append(run_id)

    def rerun(self, run_id: str, *, from_step: str | None = None) -> str:
        old = self.get(run_id)
        new = replace(old, run_id=f"{run_id}-rerun{len(self.reruns)}", status="queued", started_at=None, ended_at=None)
        self.runs.insert(0, new)
        self.reruns.append((run_id, from_step))
        return new.run_id

    def send(self, event: Event[Any]) -> Sequence[str]:
        for function in self.client.functions:
            for trigger in function.triggers:
                if isinstance(trigger, TriggerEvent) and trigger.event == event.name and trigger.event_type:
                    trigger.event_type.validate(event)
        self.sent.append(event)
        event_id = f"evt-{len(self.sent)}"
        self.started[event_id] = []
        return [event_id]

    def runs_of_event(self, event_id: str) -> Sequence[Run]:
        return [self.get(run_id) for run_id in self.started.get(event_id, [])]
