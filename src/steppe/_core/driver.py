"""The contract between the step API and whatever stores and schedules steps.

The step API (``core.step``) knows how a function *calls* steps; a driver knows what happens to a step the
run has not completed before. The embedded engine's driver executes it in place and continues; the HTTP
protocol's driver reports it to the Inngest server as an op and suspends the run. Both see the same
requests, so step semantics live in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias

from steppe._core.ids import StepId
from steppe._core.outcomes import Memo
from steppe._core.requests import StepRequest

if TYPE_CHECKING:
    import asyncio

__all__ = ["Driver", "FromThread", "ThreadedDriver"]


class Driver(Protocol):
    """What the step API needs from an engine."""

    def memo(self, step_id: StepId) -> Memo | None:
        """The stored result of ``step_id`` in this run, if it has one."""
        ...

    def replaying(self) -> bool:
        """Whether the run still has stored steps it has not reached again in this pass (it is replaying)."""
        ...

    async def new_step(self, request: StepRequest) -> object:
        """Handle a step the run has not completed before.

        Returns the step's output, raises ``StepError`` when the step failed for good, or raises
        ``Interrupt`` to suspend the run.
        """
        ...


class ThreadedDriver(Driver, Protocol):
    """A driver that can let a sync body's thread run a new step itself, rather than hand it to ``new_step`` on
    the loop and wait there for its handler to come back."""

    def step_from_thread(self, request: StepRequest, loop: asyncio.AbstractEventLoop) -> tuple[object] | None:
        """Called on a sync body's thread (not ``loop``'s) for a step with nothing stored: ``(output,)`` once the
        step is handled (or raises as ``new_step`` does), or ``None`` if it must go to ``new_step`` instead."""
        ...


FromThread: TypeAlias = "Callable[[StepRequest, asyncio.AbstractEventLoop], tuple[object] | None]"
"""The type of ``ThreadedDriver.step_from_thread``, bound."""
