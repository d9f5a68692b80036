"""``Function``: a handler with its id, triggers and options, as ``client.create_function`` makes it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, NotRequired, Protocol, TypedDict, cast, overload

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar

from steppe._core.context import Context
from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import Event, EventType, TriggerCron, TriggerEvent
from steppe._core.serde import Codec, JsonValue, OutputValueError, codec_for_callable
from steppe._core.step import Step, StepSync
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

__all__ = ["FAILURE_EVENT", "App", "Function", "FunctionDecorator", "FunctionOptions", "Trigger"]

_D = TypeVar("_D", default=dict[str, Any])
_T = TypeVar("_T", default=Any)
_R = TypeVar("_R")

# The event a failed run emits; a function's ``on_failure`` handler is a second function triggered by it.
FAILURE_EVENT = "inngest/function.failed"

DEFAULT_RETRIES = 4

Trigger = TriggerEvent[Any] | EventType[Any] | TriggerCron


class FunctionOptions(TypedDict):
    """Options of ``create_function`` besides ``fn_id`` and ``trigger``."""

    name: NotRequired[str]
    retries: NotRequired[int]
    """Retries after the first attempt, for each step and for the function body (default 4: five attempts)."""
    on_failure: NotRequired[Callable[[Context[dict[str, Any]], Step], Awaitable[None]]]
    # Flow control (steppe.options): an Inngest server enforces all of them; the embedded engine enforces
    # concurrency, cancel, idempotency, rate_limit, singleton (skip), timeouts.finish, batch_events, debounce and
    # throttle, and warns about the rest (priority, timeouts.start, singleton "cancel").
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
        options: FunctionOptions,
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
        self.output_codec: Codec[_T] = codec_for_callable(handler, what=f"the output of function {self.id!r}")
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
        return cast(Event[_D], event)

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
    params = list(signature.parameters.values())
    step_annotation = params[1].annotation if len(params) > 1 else inspect.Parameter.empty
    wanted, unwanted = (Step, StepSync) if is_async else (StepSync, Step)
    if step_annotation is unwanted or step_annotation in (unwanted.__name__, f"steppe.{unwanted.__name__}"):
        kind = "an async def" if is_async else "a plain def"
        raise FunctionDefinitionError(
            f"function {function_id!r}: {kind} handler receives steppe.{wanted.__name__}, "
            f"but its step parameter is annotated {unwanted.__name__}"
        )
    return is_async


class FunctionDecorator(Generic[_D]):
    """What ``create_function`` returns: apply it to an ``async def`` or ``def`` handler of ``(ctx, step)``."""

    def __init__(self, client: App, fn_id: str, triggers: Sequence[Trigger], options: FunctionOptions) -> None:
        self._client = client
        self._fn_id = fn_id
        self._triggers = triggers
        self._options = options

    @overload
    def __call__(self, handler: Callable[[Context[_D], Step], Awaitable[_R]], /) -> Function[_D, _R]: ...
    @overload
    def __call__(self, handler: Callable[[Context[_D], StepSync], _R], /) -> Function[_D, _R]: ...
    def __call__(self, handler: Callable[..., Any], /) -> Function[_D, Any]:
        function: Function[_D, Any] = Function(
            client=self._client, fn_id=self._fn_id, triggers=self._triggers, handler=handler, options=self._options
        )
        self._client.register(function)
        on_failure = self._options.get("on_failure")
        if on_failure is not None:
            # Failures are events, so a failure handler is an ordinary function triggered by them.
            handler_function: Function[Any, None] = Function(
                client=self._client,
                fn_id=f"{self._fn_id}-failure",
                triggers=[TriggerEvent(FAILURE_EVENT, expression=f"event.data.function_id == {function.id!r}")],
                handler=on_failure,
                options={"name": f"{function.name} (on failure)", "retries": function.retries},
            )
            handler_function.handles_failure_of = function.id
            self._client.register(handler_function)
        return function
