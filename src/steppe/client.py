"""``Client``: an app's identity and the registry of its functions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel
from typing_extensions import TypeVar, Unpack

from steppe.errors import FunctionDefinitionError
from steppe.events import EventType, TriggerCron, TriggerEvent
from steppe.function import FunctionDecorator, FunctionOptions, Trigger

if TYPE_CHECKING:
    from steppe.function import Function

__all__ = ["Client"]

_M = TypeVar("_M", bound=BaseModel)
_D = TypeVar("_D")


class Client:
    """An app: its id (the prefix of every function id) and the functions created with it."""

    def __init__(self, app_id: str, *, logger: logging.Logger | None = None) -> None:
        if not isinstance(app_id, str) or not app_id.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"Client: app_id must be a non-empty string, got {app_id!r}")
        self.app_id = app_id
        self.logger = logger or logging.getLogger("steppe")
        self._functions: dict[str, Function[Any, Any]] = {}

    @overload
    def create_function(
        self, *, fn_id: str, trigger: EventType[_M], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[_M]: ...
    @overload
    def create_function(
        self, *, fn_id: str, trigger: TriggerEvent[_D], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[_D]: ...
    @overload
    def create_function(
        self, *, fn_id: str, trigger: TriggerCron | Sequence[Trigger], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[dict[str, Any]]: ...
    def create_function(
        self, *, fn_id: str, trigger: Trigger | Sequence[Trigger], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[Any]:
        """Declare a durable function; decorate its ``(ctx, step)`` handler with the result."""
        triggers: Sequence[Trigger] = (
            list(trigger) if isinstance(trigger, Sequence) else [trigger]
        )
        if f"{self.app_id}-{fn_id}" in self._functions:
            raise FunctionDefinitionError(f"app {self.app_id!r} already has a function with fn_id {fn_id!r}")
        return FunctionDecorator(self, fn_id, triggers, options)

    def register(self, function: Function[Any, Any]) -> None:
        if function.id in self._functions:
            raise FunctionDefinitionError(f"app {self.app_id!r} already has a function with fn_id {function.local_id!r}")
        self._functions[function.id] = function

    @property
    def functions(self) -> list[Function[Any, Any]]:
        """Every function created with this client, in creation order."""
        return list(self._functions.values())
