"""Times as the Inngest protocol spells them: time strings (``"1h30m"``) and RFC 3339 UTC instants."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["time_string", "utc_instant"]

_UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def time_string(duration: timedelta) -> str:
    """``duration`` as a time string of whole seconds, largest units first: ``"1d2h"``, ``"90s"`` -> ``"1m30s"``.

    The server counts in whole seconds with a minimum of one, so a fraction is rounded up and anything
    shorter than a second becomes ``"1s"``: a wait is never cut short.
    """
    seconds = max(1, math.ceil(duration.total_seconds()))
    parts: list[str] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def utc_instant(moment: datetime) -> str:
    """An aware ``moment`` as RFC 3339 in UTC with milliseconds: ``"2030-01-01T12:00:00.000Z"``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
