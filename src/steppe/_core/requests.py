"""The steps a function asks for, as requests a driver handles: one dataclass per step kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from steppe._core.ids import StepId

if TYPE_CHECKING:
    from steppe._core.events import Event
    from steppe._core.function import Function
    from steppe._core.serde import Codec, JsonValue, Owner

__all__ = [
    "InvokeRequest",
    "ParallelMode",
    "RunRequest",
    "SendEventRequest",
    "SleepRequest",
    "StepRequest",
    "WaitForEventRequest",
]

ParallelMode = Literal["wait", "race"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    id: StepId
    display_name: str
    # Set when the step was started inside a branch of ``step.parallel``.
    parallel: ParallelMode | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest(_Request):
    """Run ``execute`` (the user's handler, already bound to its arguments) and store its output.

    ``run_here``, for a plain ``def`` handler, is that handler bound the same way to run on the calling thread
    instead: a sync body's thread, which a driver may let run its own step (``Driver.step_from_thread``). Its
    result may be awaitable (a lambda around a coroutine function): that is awaited on the loop.
    """

    execute: Callable[[], Awaitable[object]]
    codec: Codec[Any]
    what: Owner  # names the step in the codec's errors
    run_here: Callable[[], object] | None = None


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
    what: Owner


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeRequest(_Request):
    function: Function[Any, Any]
    data: JsonValue
    timeout: timedelta | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendEventRequest(_Request):
    events: Sequence[Event[Any]]


StepRequest = RunRequest | SleepRequest | WaitForEventRequest | InvokeRequest | SendEventRequest
