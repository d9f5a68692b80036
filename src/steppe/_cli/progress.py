"""Progress lines on stderr: one for the start and one for the end of every step, retry and run.

Each line starts with the seconds since the command began and the run's short id; a run of another function
than the one the command runs (a child run, a run started by an event it sent) also names its function.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import click

from steppe._core.outcomes import ErrorInfo
from steppe._engine.progress import (
    EventsSent,
    InvokeFinished,
    InvokeStarted,
    Progress,
    RunFinished,
    RunRetrying,
    RunStarted,
    SleepFinished,
    SleepStarted,
    StepFinished,
    StepStarted,
    WaitFinished,
    WaitStarted,
)

__all__ = ["ProgressPrinter", "short_id"]


def short_id(run_id: str) -> str:
    return run_id[:8]


class ProgressPrinter:
    """A progress listener for the engine, printing each report as one line."""

    def __init__(self, function_id: str) -> None:
        self._function_id = function_id
        self._origin = time.monotonic()
        self._functions: dict[str, str] = {}  # run id -> function id, for the runs this process has seen

    def tag(self, run_id: str, function_id: str | None = None) -> str:
        """The run's short id, and its function's id when that is not the function the command runs."""
        function_id = function_id or self._functions.get(run_id)
        if function_id is None or function_id == self._function_id:
            return short_id(run_id)
        return f"{short_id(run_id)} {function_id}"

    def elapsed(self, monotonic: float | None = None) -> str:
        return f"[{(time.monotonic() if monotonic is None else monotonic) - self._origin:8.3f}s]"

    def __call__(self, item: Progress) -> None:
        if isinstance(item, RunStarted):
            self._functions[item.run_id] = item.function_id
        self._say(item.run_id, _describe(item), getattr(item, "monotonic", None))

    def _say(self, run_id: str, text: str, at: float | None) -> None:
        click.echo(f"{self.elapsed(at)} {self.tag(run_id)} {text}", err=True)


def _describe(item: Progress) -> str:
    match item:
        case RunStarted():
            parent = f", invoked by run {short_id(item.parent_run_id)}" if item.parent_run_id else ""
            again = f" (attempt {item.attempt + 1})" if item.attempt else ""
            return f"run {item.run_id} started: {item.function_id}{again}{parent}"
        case RunRetrying():
            return (
                f"retry  attempt {item.attempt + 1} of the function failed: {_error(item.error)}; "
                f"retrying at {_time(item.retry_at)} (in {_span(item.retry_at - item.at)})"
            )
        case RunFinished():
            failure = f": {_error(item.error)}" if item.error is not None and item.status != "completed" else ""
            return f"run {item.run_id} {item.status}{failure}"
        case StepStarted():
            where = " [parallel]" if item.parallel else ""
            retry = f" (attempt {item.attempt + 1})" if item.attempt else ""
            return f"start  {item.step_id}{where}{retry}"
        case StepFinished(error=None):
            return f"done   {item.step_id} in {item.duration * 1000:.0f} ms"
        case StepFinished():
            later = f"; retry at {_time(item.will_retry_at)}" if item.will_retry_at else "; no retries left"
            error = f": {_error(item.error)}" if item.error is not None else ""
            return f"failed {item.step_id} in {item.duration * 1000:.0f} ms{error}{later}"
        case SleepStarted():
            return f"sleep  {item.step_id} until {_time(item.wake_at)} (for {_span(item.wake_at - item.at)})"
        case SleepFinished():
            return f"woke   {item.step_id}"
        case WaitStarted():
            condition = f" if {item.if_exp}" if item.if_exp else ""
            until = (
                f", timeout at {_time(item.timeout_at)} (in {_span(item.timeout_at - item.at)})"
                if item.timeout_at
                else ""
            )
            return f"wait   {item.step_id} for event {item.event!r}{condition}{until}"
        case WaitFinished(event_id=None):
            return f"wait   {item.step_id} timed out: no matching event"
        case WaitFinished():
            return f"got    {item.step_id}: event {item.event_id}"
        case InvokeStarted():
            child = f" as run {short_id(item.child_run_id)}" if item.child_run_id else ""
            until = f", timeout at {_time(item.timeout_at)}" if item.timeout_at else ""
            return f"invoke {item.step_id}: function {item.function_id!r}{child}{until}"
        case InvokeFinished():
            child = f"child run {short_id(item.child_run_id)}" if item.child_run_id else "child run"
            error = f": {_error(item.error)}" if item.error is not None and item.status != "timed out" else ""
            return f"invoke {item.step_id} ended: {child} {item.status}{error}"
        case EventsSent():
            sent = ", ".join(f"{name} ({event_id})" for name, event_id in zip(item.names, item.event_ids, strict=True))
            return f"sent   {item.step_id}: {sent}"


def _error(error: ErrorInfo) -> str:
    return f"{error.name}: {error.message}"


def _time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def _span(span: timedelta) -> str:
    """A duration for people: ``1.5s``, ``2m 5s``, ``3d 4h``."""
    seconds = max(round(span.total_seconds(), 3), 0.0)
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    parts = [(days, "d"), (hour, "h"), (minute, "m"), (second, "s")]
    shown = [f"{amount}{unit}" for amount, unit in parts if amount]
    return " ".join(shown[:2])
