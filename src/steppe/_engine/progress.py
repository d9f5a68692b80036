"""What the engine reports while it works (the CLI prints these; tests read their timings).

Reports are built only when someone listens (``RunHost.reporting``), so a run without listeners pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import ParallelMode

__all__ = [
    "EventsSent",
    "InvokeFinished",
    "InvokeStarted",
    "Progress",
    "ProgressListener",
    "RunFinished",
    "RunRetrying",
    "RunStarted",
    "SleepFinished",
    "SleepStarted",
    "StepFinished",
    "StepProgress",
    "StepStarted",
    "WaitFinished",
    "WaitStarted",
]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The engine starts (or, after a restart, resumes) executing a run."""

    run_id: str
    function_id: str
    attempt: int
    # The run that invoked this one, for a child run.
    parent_run_id: str | None


@dataclass(frozen=True, slots=True)
class RunRetrying:
    """The function body failed on ``attempt`` (counted from 0) and runs again at ``retry_at``."""

    run_id: str
    function_id: str
    attempt: int
    at: datetime
    error: ErrorInfo
    retry_at: datetime


@dataclass(frozen=True, slots=True)
class StepStarted:
    run_id: str
    step_id: str
    attempt: int
    parallel: ParallelMode | None
    at: datetime
    # Monotonic seconds: for durations and overlap, unaffected by a test clock.
    monotonic: float


@dataclass(frozen=True, slots=True)
class StepFinished:
    run_id: str
    step_id: str
    attempt: int
    parallel: ParallelMode | None
    at: datetime
    monotonic: float
    duration: float
    error: ErrorInfo | None
    will_retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class SleepStarted:
    run_id: str
    step_id: str
    at: datetime
    wake_at: datetime


@dataclass(frozen=True, slots=True)
class SleepFinished:
    run_id: str
    step_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WaitStarted:
    """A ``wait_for_event`` step waits for ``event`` (matching ``if_exp``) until ``timeout_at``."""

    run_id: str
    step_id: str
    at: datetime
    event: str
    if_exp: str | None
    timeout_at: datetime | None


@dataclass(frozen=True, slots=True)
class WaitFinished:
    """The wait ended: with the id of the event received, or ``None`` when it timed out."""

    run_id: str
    step_id: str
    at: datetime
    event_id: str | None


@dataclass(frozen=True, slots=True)
class InvokeStarted:
    run_id: str
    step_id: str
    at: datetime
    function_id: str
    child_run_id: str | None
    timeout_at: datetime | None


@dataclass(frozen=True, slots=True)
class InvokeFinished:
    """The invoked child run ended (``status`` its end), or the step stopped waiting for it ("timed out")."""

    run_id: str
    step_id: str
    at: datetime
    child_run_id: str | None
    status: Literal["completed", "failed", "cancelled", "timed out"]
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class EventsSent:
    run_id: str
    step_id: str
    at: datetime
    names: tuple[str, ...]
    event_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunFinished:
    run_id: str
    function_id: str
    status: Literal["completed", "failed", "cancelled"]
    error: ErrorInfo | None


StepProgress = (
    StepStarted
    | StepFinished
    | SleepStarted
    | SleepFinished
    | WaitStarted
    | WaitFinished
    | InvokeStarted
    | InvokeFinished
    | EventsSent
)
"""What a run's driver reports, about its steps."""

Progress = RunStarted | RunRetrying | RunFinished | StepProgress
"""Everything the engine reports."""

ProgressListener = Callable[[Progress], None]
