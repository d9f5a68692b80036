"""Time as the engine sees it. Tests swap in ``ManualClock`` so a one-day sleep takes no time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return at ``moment`` (at once if it has passed)."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        # asyncio.sleep is monotonic; re-check so a wall clock that moved still wakes at ``moment``.
        while (remaining := (moment - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(remaining, 3600.0))


class ManualClock:
    """A clock that moves only when told to.

    ``advance(delta)`` wakes every sleeper due by then, in time order. With ``auto_advance=True`` every
    sleep jumps the clock straight to its deadline, so sleeps and retry backoffs finish at once (but a
    ``wait_for_event`` then times out at once too, unless its event is already there: use ``advance`` for those).
    """

    def __init__(self, start: datetime | None = None, *, auto_advance: bool = False) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock: start must be timezone-aware")
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        if self.auto_advance:
            self._now = moment
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (moment, next(self._order), waiter))
        await waiter

    async def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``, waking sleepers in order and letting each woken run proceed."""
        target = self._now + delta
        await _let_others_run()
        while self._sleepers and self._sleepers[0][0] <= target:
            moment, _, waiter = heapq.heappop(self._sleepers)
            self._now = max(self._now, moment)
            if not waiter.done():
                waiter.set_result(None)
            await _let_others_run()
        self._now = target
        await _let_others_run()


async def _let_others_run() -> None:
    # Enough loop turns for woken runs to reach their next await; work in threads may still be going.
    for _ in range(50):
        await asyncio.sleep(0)
