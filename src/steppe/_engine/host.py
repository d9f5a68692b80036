"""``RunHost``: what a run's driver needs of the engine that runs it, and nothing more.

``EmbeddedDriver`` depends on this protocol, not on ``Engine``: the engine builds a host for its runs, and the driver
reaches the engine's storage, time, retry rules, progress listeners and other runs only through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from steppe._core.events import Event
from steppe._core.function import Function
from steppe._core.ids import StepId
from steppe._core.outcomes import Memo
from steppe._core.serde import JsonValue
from steppe._engine.clock import Clock
from steppe._engine.progress import StepProgress
from steppe._engine.retry import RetryPolicy
from steppe._engine.store import Store, WaitRecord

__all__ = ["RunHost"]


class RunHost(Protocol):
    """The engine as a run's driver sees it."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def retry_policy(self) -> RetryPolicy:
        """The backoff between attempts of a failed step."""
        ...

    @property
    def reporting(self) -> bool:
        """Whether anyone listens to progress (so the hot path builds no reports for nobody)."""
        ...

    def report(self, progress: StepProgress) -> None: ...

    def expect_resolution(self, run_id: str, step: str) -> asyncio.Future[Memo]:
        """A future the engine completes with the step's result when an event matches it or its child run ends."""
        ...

    def forget_resolution(self, run_id: str, step: str) -> None:
        """Stop expecting the step's resolution (it timed out, or was found stored)."""
        ...

    def start_child_run(
        self, parent_run_id: str, step: StepId, function: Function[Any, Any], data: JsonValue, wake_at: datetime | None
    ) -> WaitRecord:
        """Create and schedule a run of ``function`` for ``step`` to wait on; stores the wait and returns it."""
        ...

    async def send_events(self, run_id: str, step: StepId, events: Sequence[Event[Any]]) -> list[str]:
        """Store ``events``, the runs they start and the step's result (the event ids) in one transaction, then
        start those runs: a replay never sends twice. Returns the event ids."""
        ...
