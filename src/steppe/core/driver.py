"""The contract between the step API and whatever stores and schedules steps.

The step API (``core.step``) knows how a function *calls* steps; a driver knows what happens to a step the
run has not completed before. The embedded engine's driver executes it in place and continues; the HTTP
protocol's driver reports it to the Inngest server as an op and suspends the run. Both see the same
requests, so step semantics live in one place.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from steppe.core.ids import StepId

if TYPE_CHECKING:
    from steppe.events import Event
    from steppe.function import Function
    from steppe.serde import Codec, JsonValue

__all__ = [
    "Driver",
    "ErrorInfo",
    "Interrupt",
    "InvokeRequest",
    "Memo",
    "MemoData",
    "MemoError",
    "MemoJson",
    "ParallelMode",
    "RunRequest",
    "SendEventRequest",
    "SleepRequest",
    "StepRequest",
    "WaitForEventRequest",
]

ParallelMode = Literal["wait", "race"]


class Interrupt(BaseException):
    """Suspends a run so the driver can act on the steps it found.

    A BaseException, so a user's ``except Exception:`` around a step cannot swallow it.
    """


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error as it is stored and sent over the wire: class name, message, traceback text."""

    name: str
    message: str
    stack: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        stack = "".join(traceback.format_exception(error))
        return cls(name=type(error).__name__, message=str(error), stack=stack)


@dataclass(frozen=True, slots=True)
class MemoData:
    """A completed step's stored output, as JSON data."""

    value: JsonValue


@dataclass(frozen=True, slots=True)
class MemoJson:
    """A completed step's stored output as JSON text: rebuilt straight from the text, with no parse in between."""

    text: str | bytes


@dataclass(frozen=True, slots=True)
class MemoError:
    """A step that failed for good."""

    error: ErrorInfo


Memo = MemoData | MemoJson | MemoError


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    id: StepId
    display_name: str
    # Set when the step was started inside a branch of ``step.parallel``.
    parallel: ParallelMode | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest(_Request):
    """Run ``execute`` (the user's handler, already bound to its arguments) and store its output."""

    execute: Callable[[], Awaitable[object]]
    codec: Codec[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SleepRequest(_Request):
    """Wake at ``until`` if given, else ``duration`` after the step is first reached."""

    until: datetime | None
    duration: timedelta | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForEventRequest(_Request):
    event: str
    if_exp: str | None
    timeout: timedelta
    codec: Codec[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeRequest(_Request):
    function: Function[Any, Any]
    data: JsonValue
    timeout: timedelta | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendEventRequest(_Request):
    events: Sequence[Event[Any]]


StepRequest = RunRequest | SleepRequest | WaitForEventRequest | InvokeRequest | SendEventRequest


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
