"""How long to wait before the next attempt of a failed step or function."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with equal jitter.

    After n failures the ceiling is ``base * 2**(n-1)``, at most ``cap``; the wait is half the ceiling, fixed, plus
    a uniformly random part of the other half, so it lies in [ceiling/2, ceiling]. A ``RetryAfterError``'s time
    replaces it.
    """

    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=10)

    def delay(
        self, failed_attempts: int, *, now: datetime, retry_after: timedelta | datetime | None = None
    ) -> timedelta:
        """The wait before the next attempt, after ``failed_attempts`` failures (>= 1)."""
        if isinstance(retry_after, datetime):
            return max(retry_after - now, timedelta(0))
        if retry_after is not None:
            return max(retry_after, timedelta(0))
        ceiling = min(self.base * (1 << min(failed_attempts - 1, 40)), self.cap)
        jitter: float = random.uniform(0.5, 1.0)
        return ceiling * jitter
