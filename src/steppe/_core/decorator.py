"""``FunctionDecorator``: what ``create_function`` returns, turning a ``(ctx, step)`` handler into a ``Function``.

Apart from ``function.py`` because it knows the step API (``Step``/``StepSync``) while ``Function`` does not: the
step API refers to functions (``step.invoke``), so a ``Function`` that referred back to it would close a cycle.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, NotRequired, overload

from typing_extensions import TypeVar

from steppe._core.context import Context
from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import TriggerEvent
from steppe._core.function import FAILURE_EVENT, App, Function, FunctionSettings, Trigger
from steppe._core.step import Step, StepSync

__all__ = ["FunctionDecorator", "FunctionOptions"]

_D = TypeVar("_D", default=dict[str, Any])
_R = TypeVar("_R")


class FunctionOptions(FunctionSettings):
    """Options of ``create_function`` besides ``fn_id`` and ``trigger``."""

    on_failure: NotRequired[Callable[[Context[dict[str, Any]], Step], Awaitable[None]]]
    """A handler run when a run of this function fails for good (a function of its own, triggered by the failure)."""


def check_step_parameter(handler: Callable[..., Any], function_id: str) -> None:
    """Refuse a handler whose step parameter is annotated with the other step class than it will receive."""
    is_async = inspect.iscoroutinefunction(handler)
    params = list(inspect.signature(handler).parameters.values())
    step_annotation = params[1].annotation if len(params) > 1 else inspect.Parameter.empty
    wanted, unwanted = (Step, StepSync) if is_async else (StepSync, Step)
    if step_annotation is unwanted or step_annotation in (unwanted.__name__, f"steppe.{unwanted.__name__}"):
        kind = "an async def" if is_async else "a plain def"
        raise FunctionDefinitionError(
            f"function {function_id!r}: {kind} handler receives steppe.{wanted.__name__}, "
            f"but its step parameter is annotated {unwanted.__name__}"
        )


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
        check_step_parameter(handler, function.id)
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
            check_step_parameter(on_failure, handler_function.id)
            handler_function.handles_failure_of = function.id
            self._client.register(handler_function)
        return function
