"""``Function``: a handler with its id, triggers and options, as ``client.create_function`` makes it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, NotRequired, Protocol, TypedDict, cast

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar

from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import Event, EventType, TriggerCron, TriggerEvent
from steppe._core.serde import Codec, JsonValue, OutputValueError, codec_for_callable
from steppe.options import (
    BatchEvents,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)

__all__ = ["FAILURE_EVENT", "App", "Function", "FunctionSettings", "Trigger"]

_D = TypeVar("_D", default=dict[str, Any])
_T = TypeVar("_T", default=Any)
_R = TypeVar("_R")

# The event a failed run emits; a function's ``on_failure`` handler is a second function triggered by it.
FAILURE_EVENT = "inngest/function.failed"

DEFAULT_RETRIES = 4

Trigger = TriggerEvent[Any] | EventType[Any] | TriggerCron


class FunctionSettings(TypedDict):
    """What a function keeps of its ``create_function`` options (``FunctionOptions`` less ``on_failure``)."""

    name: NotRequired[str]
    retries: NotRequired[int]
    """Retries after the first attempt, for each step and for the function body (default 4: five attempts)."""
    # Flow control (steppe.options): an Inngest server enforces all of them; the embedded engine the ones named in
    # steppe._engine.flow_control.ENFORCED, and warns about the rest.
    concurrency: NotRequired[Concurrency | Sequence[Concurrency]]
    throttle: NotRequired[Throttle]
    rate_limit: NotRequired[RateLimit]
    debounce: NotRequired[Debounce]
    batch_events: NotRequired[BatchEvents]
    cancel: NotRequired[Cancel | Sequence[Cancel]]
    priority: NotRequired[Priority]
    idempotency: NotRequired[str]
    """An expression over ``event``: at most one run per value in 24 hours."""
    timeouts: NotRequired[Timeouts]
    singleton: NotRequired[Singleton]


class App(Protocol):
    """What functions, the embedded engine and the HTTP protocol need of the app that owns them.

    ``steppe.Client`` is the app users create; the layers below it depend on this protocol, not on the client.
    """

    @property
    def app_id(self) -> str: ...
    @property
    def logger(self) -> logging.Logger: ...
    @property
    def functions(self) -> list[Function[Any, Any]]:
        """Every function of the app, in creation order."""
        ...

    def register(self, function: Function[Any, Any]) -> None: ...


class Function(Generic[_D, _T]):
    """A durable function. ``_D`` is its event's data type, ``_T`` what the handler returns."""

    def __init__(
        self,
        *,
        client: App,
        fn_id: str,
        triggers: Sequence[Trigger],
        handler: Callable[..., Any],
        options: FunctionSettings,
    ) -> None:
        if not isinstance(fn_id, str) or not fn_id.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"create_function: fn_id must be a non-empty string, got {fn_id!r}")
        self.client = client
        self.local_id = fn_id
        self.id: str = f"{client.app_id}-{fn_id}"
        self.name: str = options.get("name", fn_id)
        self.handler = handler
        self.is_async: bool = _check_handler(handler, self.id)
        self.retries: int = options.get("retries", DEFAULT_RETRIES)
        if not isinstance(self.retries, int) or self.retries < 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"function {self.id!r}: retries must be an int >= 0, got {self.retries!r}")
        self.triggers: tuple[TriggerEvent[Any] | TriggerCron, ...] = tuple(_check_trigger(t, self.id) for t in triggers)
        if not self.triggers:
            raise FunctionDefinitionError(f"function {self.id!r}: needs at least one trigger")
        typed = {t.event_type for t in self.triggers if isinstance(t, TriggerEvent) and t.event_type is not None}
        # A single typed trigger types the event; mixing event types would make ``ctx.event.data`` ambiguous.
        self.event_type: EventType[Any] | None = typed.pop() if len(typed) == 1 and len(self.triggers) == 1 else None
        self.output_what: str = f"the output of function {self.id!r}"
        self.output_codec: Codec[_T] = codec_for_callable(handler, what=self.output_what)
        self.options = options
        # Set on the function that ``on_failure`` creates: the id of the function whose failures it handles.
        self.handles_failure_of: str | None = None

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def encode_event_data(self, data: object, *, what: str) -> JsonValue:
        """``data`` as the JSON data of an event for this function (checked against its event type)."""
        try:
            if self.event_type is not None:
                model: type[BaseModel] = self.event_type.data_type
                instance = data if isinstance(data, model) else model.model_validate(data)
                return cast(JsonValue, instance.model_dump(mode="json"))
            event: Event[Any] = Event(name="invoke", data=data)
            dumped: JsonValue = event.model_dump(mode="json")["data"]
            return dumped
        except ValidationError as error:
            raise OutputValueError(f"{what}: data for function {self.id!r} is invalid: {error}") from error

    def decode_event(self, raw: dict[str, Any]) -> Event[_D]:
        """A stored event rebuilt for this function; raises ValidationError when its data does not fit."""
        event: Event[Any] = Event.model_validate(raw)
        if self.event_type is not None:
            event = self.event_type.validate(event)
        return cast("Event[_D]", event)  # a string: subscripting the pydantic model at run time builds a class

    def __repr__(self) -> str:
        return f"<steppe.Function {self.id}>"


def _check_trigger(trigger: object, function_id: str) -> TriggerEvent[Any] | TriggerCron:
    if isinstance(trigger, EventType):
        return TriggerEvent(trigger)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    if isinstance(trigger, TriggerEvent | TriggerCron):
        if isinstance(trigger, TriggerEvent) and trigger.expression is not None:
            from steppe._core.expressions import ExpressionError, compile_expression

            try:
                compile_expression(trigger.expression)
            except ExpressionError as error:
                raise FunctionDefinitionError(
                    f"function {function_id!r}: trigger {trigger.event!r}: {error}"
                ) from error
        return trigger  # pyright: ignore[reportUnknownVariableType]
    raise FunctionDefinitionError(
        f"function {function_id!r}: a trigger must be TriggerEvent, TriggerCron or EventType, got {type(trigger).__name__}"
    )


def _check_handler(handler: object, function_id: str) -> bool:
    """Whether the handler is async; raises when it cannot be called as ``handler(ctx, step)``."""
    if not callable(handler):
        raise FunctionDefinitionError(
            f"function {function_id!r}: the handler must be callable, got {type(handler).__name__}"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError) as error:
        raise FunctionDefinitionError(
            f"function {function_id!r}: cannot read the handler's signature: {error}"
        ) from error
    try:
        signature.bind(None, None)
    except TypeError as error:
        raise FunctionDefinitionError(
            f"function {function_id!r}: the handler {getattr(handler, '__qualname__', handler)!r} must accept "
            f"exactly (ctx, step) positionally; its signature is {signature}"
        ) from error
    is_async = inspect.iscoroutinefunction(handler)
    return is_async
