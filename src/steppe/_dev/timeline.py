"""A run's steps laid out on one time axis: where each bar starts and ends, in milliseconds from the run's start.

Pure layout, no HTML: the template draws what ``build_timeline`` returns. Steps still going (running, sleeping,
waiting) reach up to ``now`` while the run is in flight, and up to the run's end after it (a cancelled wait).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from steppe._dev.contract import RunDetailView, StepView
from steppe._dev.format import human_duration

__all__ = ["Bar", "Segment", "Tick", "Timeline", "build_timeline"]

# Narrower bars would vanish: a 2 ms step in a 10 min run still shows as a sliver.
MIN_WIDTH_PERCENT = 0.4
SPAN_KINDS = frozenset({"sleep", "wait", "invoke"})  # a step that waits for something, drawn as a hatched span


@dataclass(frozen=True)
class Segment:
    """One attempt of a retried step, inside its bar (percentages of the bar)."""

    attempt: int
    left: float
    width: float
    failed: bool
    title: str


@dataclass(frozen=True)
class Bar:
    step: StepView
    start_ms: int
    end_ms: int
    left: float
    width: float
    duration: str
    is_span: bool
    is_open: bool
    segments: Sequence[Segment]


@dataclass(frozen=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True)
class Timeline:
    bars: Sequence[Bar]
    total_ms: int
    ticks: Sequence[Tick]


def build_timeline(run: RunDetailView, *, now: datetime) -> Timeline:
    starts = [step.started_at for step in run.steps if step.started_at is not None]
    origin = run.started_at or (min(starts) if starts else None)
    if origin is None:
        return Timeline(bars=(), total_ms=0, ticks=())
    open_until = run.ended_at or now
    spans = [(step, *_bounds(step, origin, open_until)) for step in run.steps]
    run_end = _ms(run.ended_at, origin) if run.ended_at else 0
    total = max([run_end, 1, *(end for _, _, end in spans)])
    bars = [_bar(step, start, end, total, origin, open_until) for step, start, end in spans]
    ticks = [Tick(left=100 * i / 4, label=human_duration(total * i / 4 / 1000)) for i in range(5)]
    return Timeline(bars=bars, total_ms=total, ticks=ticks)


def _ms(moment: datetime, origin: datetime) -> int:
    return max(round((moment - origin).total_seconds() * 1000), 0)


def _bounds(step: StepView, origin: datetime, open_until: datetime) -> tuple[int, int]:
    start = _ms(step.started_at, origin) if step.started_at else 0
    end = _ms(step.ended_at or open_until, origin)
    return start, max(end, start)


def _bar(step: StepView, start: int, end: int, total: int, origin: datetime, open_until: datetime) -> Bar:
    left = 100 * start / total
    width = min(max(100 * (end - start) / total, MIN_WIDTH_PERCENT), 100 - left) if left < 100 else MIN_WIDTH_PERCENT
    return Bar(
        step=step,
        start_ms=start,
        end_ms=end,
        left=min(left, 100 - MIN_WIDTH_PERCENT),
        width=width,
        duration=human_duration((end - start) / 1000),
        is_span=step.kind in SPAN_KINDS,
        is_open=step.ended_at is None,
        segments=_segments(step, start, end, origin, open_until),
    )


def _segments(step: StepView, start: int, end: int, origin: datetime, open_until: datetime) -> list[Segment]:
    """Each attempt as a part of the bar: only for a step that took more than one, or whose one attempt failed."""
    if len(step.attempts) < 2 and not any(a.error for a in step.attempts):
        return []
    length = max(end - start, 1)
    segments: list[Segment] = []
    for attempt in step.attempts:
        a_start = _ms(attempt.started_at, origin) if attempt.started_at else start
        a_end = _ms(attempt.ended_at or open_until, origin)
        outcome = f"{attempt.error.name}: {attempt.error.message}" if attempt.error else "succeeded"
        segments.append(
            Segment(
                attempt=attempt.attempt,
                left=100 * (a_start - start) / length,
                width=max(100 * (a_end - a_start) / length, 1.0),
                failed=attempt.error is not None,
                title=f"attempt {attempt.attempt + 1}: {outcome} ({human_duration(max(a_end - a_start, 0) / 1000)})",
            )
        )
    return segments
