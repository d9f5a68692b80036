"""What the engine reports while it works (the CLI prints these; tests read their timings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import ParallelMode

__all__ = ["ProgressListener", "RunFinished", "StepFinished", "StepStarted"]


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
class RunFinished:
    run_id: str
    function_id: str
    status: Literal["completed", "failed", "cancelled"]
    error: ErrorInfo | None


ProgressListener = Callable[[StepStarted | StepFinished | RunFinished], None]
