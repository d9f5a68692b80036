"""Events and the triggers that start functions.

An event's ``data`` is ``dict[str, Any]`` unless the event is declared with :class:`EventType`, in which
case both the checker and the runtime see the declared pydantic model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, overload

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from steppe._core.errors import FunctionDefinitionError

__all__ = ["Event", "EventType", "TriggerCron", "TriggerEvent", "event_list", "new_event_id"]

_D = TypeVar("_D", default=dict[str, Any])
_M = TypeVar("_M", bound=BaseModel)


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel, Generic[_D]):
    """An event: a name, a payload, and the id and millisecond timestamp the engine gives it when sent."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, defer_build=True)

    name: str
    data: _D = Field(default_factory=dict)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    id: str = ""
    ts: int = 0


def event_list(events: Event[Any] | Sequence[Event[Any]], *, what: str) -> list[Event[Any]]:
    """One event or several, as a list; raises TypeError naming ``what`` and the index of anything not an Event."""
    batch: list[Event[Any]] = [events] if isinstance(events, Event) else list(events)
    for index, event in enumerate(batch):
        if not isinstance(event, Event):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"{what}: events[{index}] is a {type(event).__name__}, not a steppe.Event")
    return batch


def _check_event_name(name: object, owner: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FunctionDefinitionError(f"{owner}: the event name must be a non-empty string, got {name!r}")
    return name


@dataclass(frozen=True)
class EventType(Generic[_M]):
    """A named event whose ``data`` is validated as the pydantic model ``data_type``.

    Use it as a trigger (``trigger=SignupEvent``) so ``ctx.event.data`` is statically ``data_type``.
    """

    name: str
    data_type: type[_M]

    def __post_init__(self) -> None:
        _check_event_name(self.name, "EventType")
        if not (isinstance(self.data_type, type) and issubclass(self.data_type, BaseModel)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(
                f"EventType {self.name!r}: data_type must be a pydantic model class, got {self.data_type!r}"
            )
        # Held here: pydantic keeps a parametrized model only while something refers to it, and building it again
        # costs about a millisecond.
        object.__setattr__(self, "_event_model", Event[self.data_type])  # type: ignore[name-defined]

    @property
    def _model(self) -> type[Event[_M]]:
        """``Event[data_type]``."""
        model: type[Event[_M]] = self.__dict__["_event_model"]
        return model

    def create(self, data: _M, *, id: str = "", ts: int = 0) -> Event[_M]:
        """An event of this type, ready to send."""
        return self._model(name=self.name, data=data, id=id, ts=ts)

    def validate(self, event: Event[Any]) -> Event[_M]:
        """``event`` with its data validated as ``data_type``; raises pydantic's ValidationError."""
        return self._model.model_validate(event.model_dump())


@dataclass(frozen=True, init=False)
class TriggerEvent(Generic[_D]):
    """Start the function when an event named ``event`` is sent, optionally only when ``expression`` holds."""

    event: str
    expression: str | None
    event_type: EventType[Any] | None = field(default=None, compare=False)

    @overload
    def __init__(self: TriggerEvent[dict[str, Any]], event: str, expression: str | None = None) -> None: ...
    @overload
    def __init__(self: TriggerEvent[_M], event: EventType[_M], expression: str | None = None) -> None: ...
    def __init__(self, event: str | EventType[Any], expression: str | None = None) -> None:
        if isinstance(event, EventType):
            object.__setattr__(self, "event", event.name)
            object.__setattr__(self, "event_type", event)
        else:
            object.__setattr__(self, "event", _check_event_name(event, "TriggerEvent"))
            object.__setattr__(self, "event_type", None)
        if expression is not None and not expression.strip():
            raise FunctionDefinitionError(f"TriggerEvent {self.event!r}: expression must not be empty")
        object.__setattr__(self, "expression", expression)


@dataclass(frozen=True)
class TriggerCron:
    """Start the function on a cron schedule (five fields, UTC), e.g. ``"0 9 * * 1"``."""

    cron: str

    def __post_init__(self) -> None:
        from croniter import croniter

        if not isinstance(self.cron, str) or not croniter.is_valid(self.cron):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"TriggerCron: {self.cron!r} is not a valid cron expression")
