"""Times and durations as people read them at a glance: ``840 ms``, ``3.2 s``, ``4.5 min``, ``2.1 h``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from steppe._core.serde import JsonValue

__all__ = ["duration_between", "human_duration", "pretty_json", "short_time"]


def human_duration(seconds: float) -> str:
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds!r} s")
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def duration_between(start: datetime | None, end: datetime | None, *, now: datetime | None = None) -> str:
    """The run's or step's duration so far (up to ``now`` while it has not ended); empty when it never started."""
    if start is None:
        return ""
    finish = end or now or datetime.now(UTC)
    return human_duration(max((finish - start).total_seconds(), 0.0))


def short_time(moment: datetime | None) -> str:
    """Local-independent and sortable: the UTC date and time to the second."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: JsonValue) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
