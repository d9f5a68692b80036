"""Every step method but ``parallel`` and ``group``, for ``Step`` (``StepMethods``) and ``StepSync``
(``StepSyncMethods``).

They live apart from ``step.py`` so that module's stub, which holds the generated ``parallel`` overloads,
only has to declare ``parallel`` and ``group``: these are typed here, inline, once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel
from typing_extensions import TypeVarTuple, Unpack

from steppe._core.calls import StepCall, StepCoroutine
from steppe._core.errors import StepUsageError
from steppe._core.events import Event, EventType, event_list
from steppe._core.ids import StepId
from steppe._core.requests import (
    InvokeRequest,
    ParallelMode,
    RunRequest,
    SendEventRequest,
    SleepRequest,
    WaitForEventRequest,
)
from steppe._core.runtime import RequestFactory, StepRuntime, describe_step
from steppe._core.serde import Codec, Owner, codec_for_callable, codec_for_type

if TYPE_CHECKING:
    from steppe._core.function import Function

__all__ = ["StepMethods", "StepSyncMethods"]

_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)
_D = TypeVar("_D")
_Ts = TypeVarTuple("_Ts")


def _check_duration(step_id: str, duration: timedelta) -> timedelta:
    if not isinstance(duration, timedelta):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StepUsageError(f"step {step_id!r}: duration must be a timedelta, got {type(duration).__name__}")
    if duration < timedelta(0):
        raise StepUsageError(f"step {step_id!r}: duration must not be negative, got {duration}")
    return duration


def _check_aware(step_id: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise StepUsageError(f"step {step_id!r}: {moment!r} must be a timezone-aware datetime")
    return moment


def _run_request(
    runtime: StepRuntime,
    display_name: str,
    handler: Callable[..., Any],
    args: tuple[Any, ...],
    codec: Codec[Any],
    what: Owner,
    sid: StepId,
    mode: ParallelMode | None,
) -> RunRequest:
    return RunRequest(
        id=sid,
        display_name=display_name,
        parallel=mode,
        execute=runtime.bind_handler(sid, handler, args),
        codec=codec,
        what=what,
        run_here=runtime.bind_blocking(sid, handler, args),
    )


class _StepRequests:
    """Builds the requests shared by ``Step`` and ``StepSync``; ``_start`` is where they differ (an awaitable
    step call, or the step's result once it has one)."""

    def __init__(self, runtime: StepRuntime) -> None:
        self._runtime = runtime

    def _start(self, step_id: str, codec: Codec[Any], what: Owner, request: RequestFactory) -> Any:
        raise NotImplementedError

    def _owner(self, step_id: str) -> Owner:
        # Formatted only for an error message, so a replayed step formats nothing. Not the runtime's bound method:
        # a request holding it must not reach back to the driver that holds the request.
        return functools.partial(describe_step, self._runtime.function_id, step_id)

    def _run_call(self, step_id: str, handler: Callable[..., Any], args: tuple[Any, ...], output_type: object) -> Any:
        if not callable(handler):
            raise StepUsageError(f"step {step_id!r}: handler must be callable, got {type(handler).__name__}")
        runtime = self._runtime
        what = self._owner(step_id)
        codec = codec_for_callable(handler, output_type=output_type, what=what)
        # A partial of a module function rather than a lambda: one object, where a closure is six (per step).
        request = functools.partial(_run_request, runtime, step_id, handler, args, codec, what)
        return self._start(step_id, codec, what, request)

    def _sleep_call(self, step_id: str, until: datetime | None, duration: timedelta | None) -> Any:
        what = self._owner(step_id)
        codec = codec_for_type(type(None), what=what)
        return self._start(
            step_id,
            codec,
            what,
            lambda sid, mode: SleepRequest(id=sid, display_name=step_id, parallel=mode, until=until, duration=duration),
        )

    def _wait_call(self, step_id: str, event: str | EventType[Any], if_exp: str | None, timeout: timedelta) -> Any:
        name = event.name if isinstance(event, EventType) else event
        if not isinstance(name, str) or not name:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise StepUsageError(f"step {step_id!r}: event must be a non-empty event name, got {name!r}")
        _check_duration(step_id, timeout)
        event_model: type[Event[Any]] = Event[event.data_type] if isinstance(event, EventType) else Event  # type: ignore[name-defined]
        what = self._owner(step_id)
        codec = codec_for_type(event_model | None, what=what)
        return self._start(
            step_id,
            codec,
            what,
            lambda sid, mode: WaitForEventRequest(
                id=sid,
                display_name=step_id,
                parallel=mode,
                event=name,
                if_exp=if_exp,
                timeout=timeout,
                codec=codec,
                what=what,
            ),
        )

    def _invoke_call(self, step_id: str, function: Function[Any, Any], data: object, timeout: timedelta | None) -> Any:
        if timeout is not None:
            _check_duration(step_id, timeout)
        payload = function.encode_event_data(data, what=self._runtime.describe(step_id))
        return self._start(
            step_id,
            function.output_codec,
            function.output_what,
            lambda sid, mode: InvokeRequest(
                id=sid, display_name=step_id, parallel=mode, function=function, data=payload, timeout=timeout
            ),
        )

    def _send_call(self, step_id: str, events: Event[Any] | Sequence[Event[Any]]) -> Any:
        try:
            batch = event_list(events, what=f"step {step_id!r}")
        except TypeError as error:
            raise StepUsageError(str(error)) from None
        what = self._owner(step_id)
        codec = codec_for_type(list[str], what=what)
        return self._start(
            step_id,
            codec,
            what,
            lambda sid, mode: SendEventRequest(id=sid, display_name=step_id, parallel=mode, events=batch),
        )


class StepMethods(_StepRequests):
    """The methods of ``Step`` but ``parallel`` and ``group``: each returns a ``StepCall`` to await."""

    def _start(self, step_id: str, codec: Codec[Any], what: Owner, request: RequestFactory) -> StepCoroutine[Any]:
        return self._runtime.call(step_id, codec, what, request)

    @overload
    def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[_Ts]], Awaitable[_T]],
        *args: Unpack[_Ts],
        output_type: type[_T] | None = None,
    ) -> StepCall[_T]: ...
    @overload
    def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[_Ts]], _T],
        *args: Unpack[_Ts],
        output_type: type[_T] | None = None,
    ) -> StepCall[_T]: ...
    def run(
        self, step_id: str, handler: Callable[[Unpack[_Ts]], Any], *args: Unpack[_Ts], output_type: object = None
    ) -> StepCall[Any]:
        """Run ``handler(*args)`` as a step (sync or async); its result is stored and never computed again."""
        call: StepCall[Any] = self._run_call(step_id, handler, args, output_type)
        return call

    @overload
    def defer(
        self, step_id: str, handler: Callable[[Unpack[_Ts]], Awaitable[_T]], *args: Unpack[_Ts]
    ) -> Callable[[], StepCall[_T]]: ...
    @overload
    def defer(
        self, step_id: str, handler: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]
    ) -> Callable[[], StepCall[_T]]: ...
    def defer(
        self, step_id: str, handler: Callable[[Unpack[_Ts]], Any], *args: Unpack[_Ts]
    ) -> Callable[[], StepCall[Any]]:
        """``step.run`` bound to its arguments now, started later: the loop-safe element for ``parallel``.

        ``step.parallel(tuple(step.defer(f"get-{u}", get_user, u) for u in ids))`` keeps each step's exact
        type and captures each loop value, unlike ``functools.partial(step.run, ...)`` or a bare lambda.
        """
        return functools.partial(self._run_call, step_id, handler, args, None)

    def sleep(self, step_id: str, duration: timedelta) -> StepCall[None]:
        """Pause the run for ``duration`` (durably: the run resumes after a restart)."""
        call: StepCall[None] = self._sleep_call(step_id, None, _check_duration(step_id, duration))
        return call

    def sleep_until(self, step_id: str, until: datetime) -> StepCall[None]:
        """Pause the run until ``until`` (timezone-aware)."""
        call: StepCall[None] = self._sleep_call(step_id, _check_aware(step_id, until), None)
        return call

    @overload
    def wait_for_event(
        self, step_id: str, *, event: EventType[_M], if_exp: str | None = None, timeout: timedelta
    ) -> StepCall[Event[_M] | None]: ...
    @overload
    def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: timedelta
    ) -> StepCall[Event[dict[str, Any]] | None]: ...
    def wait_for_event(
        self, step_id: str, *, event: str | EventType[Any], if_exp: str | None = None, timeout: timedelta
    ) -> StepCall[Any]:
        """Wait for an event named ``event`` (matching ``if_exp``, if given); ``None`` after ``timeout``."""
        call: StepCall[Any] = self._wait_call(step_id, event, if_exp, timeout)
        return call

    def invoke(
        self, step_id: str, *, function: Function[_D, _T], data: _D, timeout: timedelta | None = None
    ) -> StepCall[_T]:
        """Run ``function`` as a child run with ``data`` as its event data, and return its output."""
        call: StepCall[_T] = self._invoke_call(step_id, function, data, timeout)
        return call

    def send_event(self, step_id: str, events: Event[Any] | Sequence[Event[Any]]) -> StepCall[list[str]]:
        """Send events (starting the functions they trigger); returns their ids. Sent once per run."""
        call: StepCall[list[str]] = self._send_call(step_id, events)
        return call


class StepSyncMethods(_StepRequests):
    """The methods of ``StepSync`` but ``parallel`` and ``group``: each blocks until it has a result."""

    def _start(self, step_id: str, codec: Codec[Any], what: Owner, request: RequestFactory) -> Any:
        return self._runtime.run_blocking(step_id, codec, what, request)

    def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[_Ts]], _T],
        *args: Unpack[_Ts],
        output_type: type[_T] | None = None,
    ) -> _T:
        """Run ``handler(*args)`` as a step; its result is stored and never computed again."""
        result: _T = self._run_call(step_id, handler, args, output_type)
        return result

    def defer(self, step_id: str, handler: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]) -> Callable[[], _T]:
        """``step.run`` bound to its arguments now, run later: the loop-safe element for ``parallel``."""
        return functools.partial(self.run, step_id, handler, *args)

    def sleep(self, step_id: str, duration: timedelta) -> None:
        self._sleep_call(step_id, None, _check_duration(step_id, duration))

    def sleep_until(self, step_id: str, until: datetime) -> None:
        self._sleep_call(step_id, _check_aware(step_id, until), None)

    @overload
    def wait_for_event(
        self, step_id: str, *, event: EventType[_M], if_exp: str | None = None, timeout: timedelta
    ) -> Event[_M] | None: ...
    @overload
    def wait_for_event(
        self, step_id: str, *, event: str, if_exp: str | None = None, timeout: timedelta
    ) -> Event[dict[str, Any]] | None: ...
    def wait_for_event(
        self, step_id: str, *, event: str | EventType[Any], if_exp: str | None = None, timeout: timedelta
    ) -> Any:
        return self._wait_call(step_id, event, if_exp, timeout)

    def invoke(self, step_id: str, *, function: Function[_D, _T], data: _D, timeout: timedelta | None = None) -> _T:
        result: _T = self._invoke_call(step_id, function, data, timeout)
        return result

    def send_event(self, step_id: str, events: Event[Any] | Sequence[Event[Any]]) -> list[str]:
        result: list[str] = self._send_call(step_id, events)
        return result
