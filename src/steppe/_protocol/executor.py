"""One call request, executed: run the function on the shared core with an ``HttpDriver``, answer by the protocol.

The core (``steppe._core.execute``) runs the function exactly as the embedded engine does; the driver only collects
the new steps. This module applies the protocol's rules to what came out:

* the function returned: 200 with its output; it raised: 500 (retriable) or 400 (not), with ``x-inngest-no-retry``;
* a targeted call (``stepId=<hash>``) runs that step alone and answers ``StepRun``/``StepError``/``StepFailed``,
  or ``StepNotFound`` when the function never reached it;
* a discovery call (``stepId=step``) runs the one new step in place when the rules allow it (immediate execution
  not disabled, exactly one new step, and a run step), else reports every new step in one 206.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeAlias, TypeVar

from pydantic import JsonValue, ValidationError

from steppe._core import outcomes as core
from steppe._core.errors import NonRetriableError
from steppe._core.events import Event
from steppe._core.execute import Completed, Failed, Outcome, run_attempt
from steppe._core.failures import classify_failure
from steppe._core.function import Function
from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import RunRequest, SendEventRequest, StepRequest
from steppe._core.runtime import run_to_end
from steppe._protocol import wire
from steppe._protocol.call_driver import HttpDriver
from steppe._protocol.durations import utc_instant
from steppe._protocol.messages import Header, HttpResponse, json_response
from steppe._protocol.ops import error_op, is_run_step, not_found_op, report_op, run_op

__all__ = ["EventSender", "handle_call", "handle_call_blocking", "retry_after_value"]

EventSender: TypeAlias = Callable[[Sequence[Event[Any]]], Awaitable[list[str]]]
"""Posts events to the event API (validating them first) and returns their ids: ``send_event``'s work."""

_Stored = TypeVar("_Stored")

_HTTP_OK: Final = 200
_HTTP_PARTIAL: Final = 206
_HTTP_NON_RETRIABLE: Final = 400
_HTTP_RETRIABLE: Final = 500


async def handle_call(
    function: Function[Any, Any],
    call: wire.CallRequest,
    *,
    target: str | None,
    send_events: EventSender,
    events: Sequence[wire.WireEvent] | None = None,
    memos: Mapping[str, wire.Memo] | None = None,
) -> HttpResponse:
    """Answer one call request for ``function`` (the status, outcome headers and body; no protocol headers).

    ``target`` is the ``stepId`` hash, or ``None`` for ``stepId=step``. ``events`` and ``memos`` replace the
    body's when the server trimmed the request (``use_api``) and the caller fetched them from the API.
    """
    attempt = _Attempt(function, call, target, events, memos)
    answer = attempt.answer(await attempt.run(inline=False))
    if isinstance(answer, _StepToRun):
        return await _run_step(answer.request, answer.last_attempt, send_events)
    return answer


def handle_call_blocking(
    function: Function[Any, Any],
    call: wire.CallRequest,
    *,
    target: str | None,
    send_events: EventSender,
    run_async: Callable[[Coroutine[Any, Any, Any]], Any],
    events: Sequence[wire.WireEvent] | None = None,
    memos: Mapping[str, wire.Memo] | None = None,
) -> HttpResponse:
    """``handle_call`` from a thread that may block and runs no event loop (a WSGI worker).

    A plain ``def`` function's body runs right in this thread, with no thread of its own and no event loop (the
    driver answers its steps at once), and so does the handler of the step the call runs. ``run_async`` runs what
    needs a loop to its end and returns its result: an ``async def`` body and its step, a ``send_event``.
    """
    attempt = _Attempt(function, call, target, events, memos)
    inline = not function.is_async
    outcome: Outcome = run_to_end(attempt.run(inline=True)) if inline else run_async(attempt.run())
    answer = attempt.answer(outcome)
    if not isinstance(answer, _StepToRun):
        return answer
    step = _run_step(answer.request, answer.last_attempt, send_events)
    if inline and isinstance(answer.request, RunRequest):
        return run_to_end(step)  # the body ran inline, so its step's handler runs right here too (see bind_handler)
    response: HttpResponse = run_async(step)
    return response


@dataclass(frozen=True, slots=True)
class _StepToRun:
    """The protocol's rules say: run this one step here and report it."""

    request: StepRequest
    last_attempt: bool


class _Attempt:
    """One call's attempt of the function, and the protocol's answer to how it ended."""

    def __init__(
        self,
        function: Function[Any, Any],
        call: wire.CallRequest,
        target: str | None,
        events: Sequence[wire.WireEvent] | None,
        memos: Mapping[str, wire.Memo] | None,
    ) -> None:
        self.function = function
        self.call = call
        self.target = target
        wire_events = list(events) if events is not None else list(call.events or ())
        if not wire_events:  # a call with an empty events list still has its triggering event
            wire_events = [call.event]
        self.raw_events = [event.to_wire() for event in wire_events]
        stored: _StoredSteps[Any] = (
            _StoredSteps(call.steps, wire.parse_memo) if memos is None else _StoredSteps(memos, _same)
        )
        self.driver = HttpDriver(stored, target=target)

    async def run(self, *, inline: bool = False) -> Outcome:
        return await run_attempt(
            self.function,
            self.raw_events,
            run_id=self.call.ctx.run_id,
            attempt=self.call.ctx.attempt,
            driver=self.driver,
            inline=inline,
        )

    def answer(self, outcome: Outcome) -> HttpResponse | _StepToRun:
        function, call, driver, target = self.function, self.call, self.driver, self.target
        if isinstance(outcome, Completed):
            _warn_if_steps_skipped(function, call, driver)
            return HttpResponse(_HTTP_OK, {Header.CONTENT_TYPE: "application/json"}, _json(outcome.output))
        if isinstance(outcome, Failed):
            # A step's stored error that escaped the function is reported as that step's original error (the spec).
            failed = outcome if outcome.step_error is None else Failed(outcome.step_error, retriable=False)
            return _function_error(failed)
        # The server counts attempts per step; without its maximum, the function's own retries decide.
        last_attempt = call.ctx.attempt + 1 >= (call.ctx.max_attempts or function.max_attempts)
        if target is not None:
            request = driver.target_request
            if request is None:
                return _ops([not_found_op(target)])
            if not is_run_step(request):  # the server targets run steps only; report anything else as found
                return _ops([report_op(request)])
            return _StepToRun(request, last_attempt)
        found = driver.found
        if len(found) == 1 and is_run_step(found[0]) and not call.ctx.disable_immediate_execution:
            return _StepToRun(found[0], last_attempt)
        return _ops([report_op(request) for request in found])


async def _run_step(request: StepRequest, last_attempt: bool, send_events: EventSender) -> HttpResponse:
    """Run one step here and report it: its output, or an error that is retried unless this was the last try."""
    try:
        data = await _step_output(request, send_events)
    except Exception as error:  # noqa: BLE001 - a step's own failure is reported, and retried by the server
        failure = classify_failure(error)
        final = last_attempt or not failure.retriable
        return _step_error(request, failure.error, final=final, retry_after=None if final else failure.retry_after)
    return _ops([run_op(request, data)])


async def _step_output(request: StepRequest, send_events: EventSender) -> JsonValue:
    if isinstance(request, RunRequest):
        return request.codec.dump(await request.execute(), request.what)
    assert isinstance(request, SendEventRequest)
    try:
        ids = await send_events(request.events)
    except (TypeError, ValidationError) as error:
        # Events that do not fit their declared types would be refused on every retry.
        raise NonRetriableError(f"step {request.id.user_id!r}: {error}") from error
    return list[JsonValue](ids)


def _step_error(
    request: StepRequest, error: ErrorInfo, *, final: bool, retry_after: timedelta | datetime | None = None
) -> HttpResponse:
    headers = {Header.NO_RETRY: "true" if final else "false"}
    if retry_after is not None:
        headers[Header.RETRY_AFTER] = retry_after_value(retry_after)
    return _ops([error_op(request, error, final=final)], headers)


def _function_error(failure: Failed) -> HttpResponse:
    """The function itself failed: 400 + no-retry when retrying cannot help, else 500 (the server retries)."""
    headers = {Header.NO_RETRY: "false" if failure.retriable else "true"}
    if failure.retriable and failure.retry_after is not None:
        headers[Header.RETRY_AFTER] = retry_after_value(failure.retry_after)
    error = failure.error
    body = wire.FunctionErrorBody(message=error.message, stack=error.stack)
    return json_response(_HTTP_RETRIABLE if failure.retriable else _HTTP_NON_RETRIABLE, body, headers)


def retry_after_value(when: timedelta | datetime) -> str:
    """``Retry-After``: whole seconds (rounded up) for a delay, an RFC 3339 instant for a time."""
    if isinstance(when, datetime):
        return utc_instant(when)
    return str(max(0, math.ceil(when.total_seconds())))


def _ops(ops: list[wire.WireObject], headers: Mapping[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        _HTTP_PARTIAL, {Header.CONTENT_TYPE: "application/json", **(headers or {})}, wire.wire_ops_json(ops)
    )


def _json(value: JsonValue) -> bytes:
    return json_response(_HTTP_OK, value).body


_ABSENT: Final[Any] = object()


class _StoredSteps(Mapping[str, core.Memo], Generic[_Stored]):
    """A call's stored steps as the core's memos, each read when the run reaches it (a replay reaches each once,
    and a call may not reach them all), rather than all of them before the run starts."""

    __slots__ = ("_parse", "_stored")

    def __init__(self, stored: Mapping[str, _Stored], parse: Callable[[_Stored], wire.Memo]) -> None:
        self._stored = stored
        self._parse = parse

    def get(self, hashed: str, default: None = None) -> core.Memo | None:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        stored = self._stored.get(hashed, _ABSENT)  # one lookup: a stored step may be JSON null
        if stored is _ABSENT:
            return default
        return _core_memo(self._parse(stored))

    def __getitem__(self, hashed: str) -> core.Memo:
        return _core_memo(self._parse(self._stored[hashed]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def _same(memo: wire.Memo) -> wire.Memo:
    return memo


def _core_memo(memo: wire.Memo) -> core.Memo:
    """A wire memo as the core's: an output as JSON data (the step's codec rebuilds its type), an error as info."""
    if isinstance(memo, wire.MemoError):
        return core.MemoError(ErrorInfo(memo.name, memo.message, memo.stack))
    return memo


def _warn_if_steps_skipped(function: Function[Any, Any], call: wire.CallRequest, driver: HttpDriver) -> None:
    """A finished run that never reached some of its stored steps took another path than before."""
    skipped = [hashed for hashed in call.ctx.stack.stack if hashed not in driver.visited]
    if skipped:
        function.client.logger.warning(
            "steppe: function %r finished without reaching %d stored step(s) (%s); its code changed during the "
            "run, or its steps depend on time, randomness or other unstored state",
            function.id,
            len(skipped),
            ", ".join(skipped[:5]),
        )
