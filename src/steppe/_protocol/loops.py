"""Event loops for threads that run none of their own (WSGI workers), kept from one request to the next.

Making a loop and closing it (``asyncio.run``) costs about 0.2 ms, paid on every request by a WSGI endpoint that
needs a loop for a moment (an ``async def`` body, the one step a call runs, an API fetch). A loop is not tied to a
thread, only run by one at a time, so a finished request hands its loop back here for the next one, in whatever
thread. Requests stay independent: a task a request left behind is cancelled before its loop is handed on.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

__all__ = ["EventLoops", "event_loops"]

_T = TypeVar("_T")


class EventLoops:
    """Idle event loops, at most ``keep`` of them: as many as requests ran at once, up to that bound."""

    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._idle: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` to its end on an idle loop (or a new one) in the calling thread; its result."""
        with self._lock:
            loop = self._idle.pop() if self._idle else None
        if loop is None:
            loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coroutine)
        finally:
            self._hand_back(loop)

    def _hand_back(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_closed():
            left = asyncio.all_tasks(loop)
            if left:
                for task in left:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            with self._lock:
                if len(self._idle) < self._keep:
                    self._idle.append(loop)
                    return
        _close(loop)

    def close(self) -> None:
        """Close every idle loop (at exit)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for loop in idle:
            _close(loop)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_closed():
        return
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


event_loops: Final = EventLoops()
"""The process's loops, shared by every endpoint."""

atexit.register(event_loops.close)
