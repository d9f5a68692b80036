"""``FunctionDecorator``: what ``create_function`` returns, turning a ``(ctx, step)`` handler into a ``Function``.

Apart from ``function.py`` because it knows the step API (``Step``/``StepSync``) while ``Function`` does not: the
step API refers to functions (``step.invoke``), so a ``Function`` that referred back to it would close a cycle.
"""

from __future__ import annotations

import inspect
import typing
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
    """Refuse a handler whose parameters are annotated as something other than ``(ctx: Context, step: <its step
    class>)``: swapped, or the other step class than it will receive.

    Annotations are resolved where they can be (``typing.get_type_hints``) and read as text otherwise, so a
    handler whose module uses ``from __future__ import annotations`` is checked too.
    """
    is_async = inspect.iscoroutinefunction(handler)
    params = list(inspect.signature(handler).parameters.values())[:2]
    kinds = [_annotated_kind(handler, param) for param in params]
    wanted, unwanted = (Step, StepSync) if is_async else (StepSync, Step)
    kind = "an async def" if is_async else "a plain def"
    if len(params) == 2 and (kinds[0] in (Step, StepSync) or kinds[1] is Context):
        ctx, step = params
        raise FunctionDefinitionError(
            f"function {function_id!r}: the handler's parameters are (ctx, step), in that order, but "
            f"{ctx.name!r} is annotated {_name(kinds[0], ctx)} and {step.name!r} {_name(kinds[1], step)}; "
            f"write (ctx: steppe.Context, step: steppe.{wanted.__name__})"
        )
    if len(params) == 2 and kinds[1] is unwanted:
        raise FunctionDefinitionError(
            f"function {function_id!r}: {kind} handler receives steppe.{wanted.__name__}, "
            f"but its step parameter is annotated {unwanted.__name__}"
        )


_KNOWN: dict[str, type] = {"Context": Context, "Step": Step, "StepSync": StepSync}


def _annotated_kind(handler: Callable[..., Any], param: inspect.Parameter) -> type | None:
    """``Context``, ``Step`` or ``StepSync`` if ``param`` is annotated as one of them, else None."""
    annotation: object = param.annotation
    try:
        annotation = typing.get_type_hints(handler).get(param.name, annotation)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve is read as text below
        pass
    if isinstance(annotation, str):
        text = annotation.split("[", 1)[0].strip().removeprefix("steppe.")
        return _KNOWN.get(text)
    origin = typing.get_origin(annotation) or annotation
    return origin if origin in (Context, Step, StepSync) else None


def _name(kind: type | None, param: inspect.Parameter) -> str:
    if kind is not None:
        return kind.__name__
    return "nothing" if param.annotation is inspect.Parameter.empty else repr(param.annotation)


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
