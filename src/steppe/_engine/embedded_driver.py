"""The embedded engine's driver: a new step is executed right here and the function goes on.

So a run of n sequential steps costs O(n): the function is replayed from its stored results only when an
engine resumes it after a restart, never once per step.

A step whose handler completes at once never suspends its run, so the driver gives the loop up itself
(``LOOP_SHARE``): other runs, and a web app served on the same loop, go on while a long run executes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any, Literal

from steppe._core.errors import StepError
from steppe._core.events import Event
from steppe._core.failures import classify_failure
from steppe._core.ids import StepId
from steppe._core.outcomes import ErrorInfo, Interrupt, Memo, MemoData, MemoError, MemoJson
from steppe._core.requests import (
    InvokeRequest,
    RunRequest,
    SendEventRequest,
    SleepRequest,
    StepRequest,
    WaitForEventRequest,
)
from steppe._core.runtime import resolve_memo
from steppe._engine.faults import EngineFault, is_engine_fault
from steppe._engine.host import RunHost
from steppe._engine.progress import (
    EventsSent,
    InvokeFinished,
    InvokeStarted,
    SleepFinished,
    SleepStarted,
    StepFinished,
    StepStarted,
    WaitFinished,
    WaitStarted,
)
from steppe._engine.store import RunRecord, StepAttempts, StepKind, WaitRecord

__all__ = ["LOOP_SHARE", "EmbeddedDriver"]

# At most this many seconds of steps in a row before a run yields the event loop to others. Yielding costs one
# loop turn (a few microseconds), so it is paid once per slice of time rather than once per step.
LOOP_SHARE = 0.001


class EmbeddedDriver:
    def __init__(
        self,
        host: RunHost,
        run: RunRecord,
        memos: dict[str, Memo],
        max_attempts: int,
        retrying: Mapping[str, StepAttempts],
        *,
        replay_every_step: bool = False,
        step_stubs: Mapping[str, object] | None = None,
        step_slot: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self._host = host
        self._run = run
        self._memos = memos
        self._max_attempts = max_attempts
        self._retrying = retrying
        self._replay_every_step = replay_every_step
        self._stubs = step_stubs or {}
        # Entered around each execution of a step handler: the function's concurrency limits.
        self._step_slot: Callable[[], AbstractAsyncContextManager[None]] = step_slot or nullcontext
        self._stored_before = frozenset(memos)
        self._visited: set[str] = set()
        self._slice_started = time.monotonic()  # when this run last yielded the loop (see LOOP_SHARE)

    def memo(self, step_id: StepId) -> Memo | None:
        memo = self._memos.get(step_id.hashed)
        if memo is not None:
            self._visited.add(step_id.hashed)
        return memo

    def replaying(self) -> bool:
        return not self._visited >= self._stored_before

    def steps_not_retraced(self) -> frozenset[str]:
        """Hashed ids of stored steps this pass never reached: a replay that took another path."""
        return self._stored_before - self._visited

    async def new_step(self, request: StepRequest) -> object:
        try:
            value = await self._dispatch(request)
        except StepError:
            if self._replay_every_step:
                raise Interrupt from None  # the replay raises it again, from the stored failure
            await self._share_loop()  # a body may catch it and go on
            raise
        except Exception as error:
            # The one place a failure of the engine's storage is kept out of the user's function (a step
            # handler's own errors never get here: ``_run_step`` takes them). The engine pauses and retries the run.
            if is_engine_fault(error):
                raise EngineFault(error) from error
            raise
        if self._replay_every_step:
            # Suspend after every new step so the engine replays the function from storage: each result the
            # function sees from here on has made the round trip through the database.
            raise Interrupt
        await self._share_loop()
        return value

    async def _share_loop(self) -> None:
        """Yield the loop once this run has had it for ``LOOP_SHARE`` (its steps may never suspend)."""
        if time.monotonic() - self._slice_started >= LOOP_SHARE:
            await asyncio.sleep(0)
            self._slice_started = time.monotonic()

    def _stub(self, step: StepId) -> tuple[bool, object]:
        for key in (step.deduplicated, step.user_id):
            if key in self._stubs:
                return True, self._stubs[key]
        return False, None

    async def _execute(self, request: RunRequest) -> object:
        stubbed, stub = self._stub(request.id)
        if not stubbed:
            return await request.execute()
        if isinstance(stub, BaseException):
            raise stub
        return stub

    async def _dispatch(self, request: StepRequest) -> object:
        stubbed, stub = self._stub(request.id)
        if stubbed and isinstance(request, WaitForEventRequest | InvokeRequest):
            codec = request.codec if isinstance(request, WaitForEventRequest) else request.function.output_codec
            kind: StepKind = "wait" if isinstance(request, WaitForEventRequest) else "invoke"
            self._store_memo(request.id, MemoData(codec.dump(stub)), kind=kind)
            return stub
        match request:
            case RunRequest():
                return await self._run_step(request)
            case SleepRequest():
                await self._sleep(request)
                return None
            case WaitForEventRequest():
                return await self._wait_for_event(request)
            case InvokeRequest():
                return await self._invoke(request)
            case SendEventRequest():
                return self._send_event(request)

    def _store_memo(
        self,
        step_id: StepId,
        memo: Memo,
        *,
        kind: StepKind,
        started_at: datetime | None = None,
        parallel: str | None = None,
    ) -> None:
        now = self._host.clock.now()
        self._host.store.save_memo(
            self._run.id,
            step_id.hashed,
            step_id.deduplicated,
            memo,
            now,
            kind=kind,
            started_at=started_at or now,
            parallel=parallel,
        )
        self._memos[step_id.hashed] = memo

    async def _run_step(self, request: RunRequest) -> object:
        host, step = self._host, request.id
        state = self._retrying.get(step.hashed, _FIRST_ATTEMPT)
        attempt = state.attempts
        mode = request.parallel
        if state.retry_at is not None:
            await host.clock.sleep_until(state.retry_at)
        while True:
            async with self._step_slot():  # reported as started once it holds its concurrency slot
                started = time.monotonic()
                started_at = self._record_attempt_start(request, attempt)
                self._report_start(request, attempt, started)
                try:
                    value = await self._execute(request)
                    output = request.codec.dump_json(value)
                except Exception as error:  # noqa: BLE001 - a step's own failure is retried (or not) below
                    failed = classify_failure(error)
                else:
                    with host.store.transaction():
                        self._store_memo(step, MemoJson(output), kind="run", started_at=started_at, parallel=mode)
                        host.store.record_attempt_end(self._run.id, step.hashed, attempt, host.clock.now())
                    self._report_end(request, attempt, started, None, None)
                    return value
            attempt += 1
            now = host.clock.now()
            failure = failed.error
            if not failed.retriable or attempt >= self._max_attempts:
                with host.store.transaction():
                    self._store_memo(step, MemoError(failure), kind="run", started_at=started_at, parallel=mode)
                    host.store.record_attempt_end(self._run.id, step.hashed, attempt - 1, now, error=failure)
                self._report_end(request, attempt - 1, started, failure, None)
                raise StepError(step.user_id, failure.name, failure.message, failure.stack)
            retry_at = now + host.retry_policy.delay(attempt, now=now, retry_after=failed.retry_after)
            with host.store.transaction():
                host.store.record_step_retry(
                    self._run.id,
                    step.hashed,
                    step.deduplicated,
                    attempt,
                    retry_at,
                    failure,
                    kind="run",
                    started_at=started_at,
                    parallel=mode,
                )
                host.store.record_attempt_end(self._run.id, step.hashed, attempt - 1, now, error=failure)
            self._report_end(request, attempt - 1, started, failure, retry_at)
            await host.clock.sleep_until(retry_at)

    def _record_attempt_start(self, request: RunRequest, attempt: int) -> datetime:
        """Run history: the attempt began (its end is stored with the step's result or retry)."""
        now = self._host.clock.now()
        self._host.store.record_attempt_start(self._run.id, request.id.hashed, request.id.deduplicated, attempt, now)
        return now

    def _report_start(self, request: RunRequest, attempt: int, started: float) -> None:
        host = self._host
        if host.reporting:
            host.report(
                StepStarted(self._run.id, request.id.deduplicated, attempt, request.parallel, host.clock.now(), started)
            )

    def _report_end(
        self, request: RunRequest, attempt: int, started: float, failure: ErrorInfo | None, retry_at: datetime | None
    ) -> None:
        host = self._host
        if host.reporting:
            ended = time.monotonic()
            host.report(
                StepFinished(
                    self._run.id,
                    request.id.deduplicated,
                    attempt,
                    request.parallel,
                    host.clock.now(),
                    ended,
                    ended - started,
                    failure,
                    retry_at,
                )
            )

    async def _sleep(self, request: SleepRequest) -> None:
        host, step = self._host, request.id
        wait = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wake_at = request.until if request.until is not None else host.clock.now() + (request.duration or _ZERO)
            wait = WaitRecord(kind="sleep", wake_at=wake_at, event_name=None, expression=None, child_run_id=None)
            host.store.insert_wait(self._run.id, step.hashed, step.deduplicated, wait, now=host.clock.now())
        assert wait.wake_at is not None
        if host.reporting:
            host.report(SleepStarted(self._run.id, step.deduplicated, host.clock.now(), wait.wake_at))
        await host.clock.sleep_until(wait.wake_at)
        host.store.resolve_wait(self._run.id, step.hashed, MemoData(None), host.clock.now())
        self._memos[step.hashed] = MemoData(None)
        if host.reporting:
            host.report(SleepFinished(self._run.id, step.deduplicated, host.clock.now()))

    async def _wait_for_event(self, request: WaitForEventRequest) -> object:
        host, step = self._host, request.id
        wait = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wait = WaitRecord(
                kind="event",
                wake_at=host.clock.now() + request.timeout,
                event_name=request.event,
                expression=request.if_exp,
                child_run_id=None,
            )
            host.store.insert_wait(self._run.id, step.hashed, step.deduplicated, wait, now=host.clock.now())
        if host.reporting:
            host.report(
                WaitStarted(
                    self._run.id, step.deduplicated, host.clock.now(), request.event, request.if_exp, wait.wake_at
                )
            )
        memo = await self._resolution(step, wait, on_timeout=MemoData(None))
        received = resolve_memo(step, memo, request.codec)
        if host.reporting:
            host.report(WaitFinished(self._run.id, step.deduplicated, host.clock.now(), _event_id(received)))
        return received

    async def _invoke(self, request: InvokeRequest) -> object:
        host, step = self._host, request.id
        wait = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wake_at = None if request.timeout is None else host.clock.now() + request.timeout
            wait = host.start_child_run(self._run.id, step, request.function, request.data, wake_at)
        timeout = MemoError(ErrorInfo("InvokeTimeoutError", f"function {request.function.id!r} did not finish in time"))
        if host.reporting:
            host.report(
                InvokeStarted(
                    self._run.id,
                    step.deduplicated,
                    host.clock.now(),
                    request.function.id,
                    wait.child_run_id,
                    wait.wake_at,
                )
            )
        memo = await self._resolution(step, wait, on_timeout=timeout)
        if host.reporting:
            self._report_invoke_end(step, wait, memo, timed_out=memo is timeout)
        return resolve_memo(step, memo, request.function.output_codec)

    def _report_invoke_end(self, step: StepId, wait: WaitRecord, memo: Memo, *, timed_out: bool) -> None:
        host = self._host
        status: Literal["completed", "failed", "cancelled", "timed out"] = "completed"
        error = memo.error if isinstance(memo, MemoError) else None
        if timed_out:
            status = "timed out"
        elif error is not None:
            child = host.store.load_run(wait.child_run_id) if wait.child_run_id is not None else None
            status = "cancelled" if child is not None and child.status == "cancelled" else "failed"
        host.report(InvokeFinished(self._run.id, step.deduplicated, host.clock.now(), wait.child_run_id, status, error))

    async def _resolution(self, step: StepId, wait: WaitRecord, *, on_timeout: Memo) -> Memo:
        """Wait until the engine resolves this wait (an event matched, a child run ended) or it times out."""
        host = self._host
        resolved = host.expect_resolution(self._run.id, step.hashed)
        stored = host.store.load_memo(self._run.id, step.hashed)
        if stored is not None:  # resolved while this run was not running (e.g. before a restart's replay)
            host.forget_resolution(self._run.id, step.hashed)
            return stored
        if wait.wake_at is None:
            memo = await resolved
        else:
            timer: asyncio.Future[None] = asyncio.ensure_future(host.clock.sleep_until(wait.wake_at))
            try:
                either: list[asyncio.Future[Any]] = [resolved, timer]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
            if resolved.done():
                memo = resolved.result()
            else:
                host.forget_resolution(self._run.id, step.hashed)
                if not host.store.resolve_wait(self._run.id, step.hashed, on_timeout, host.clock.now()):
                    resolved_meanwhile = host.store.load_memo(self._run.id, step.hashed)  # at the same moment
                    assert resolved_meanwhile is not None
                    memo = resolved_meanwhile
                else:
                    memo = on_timeout
        self._memos[step.hashed] = memo
        return memo

    def _send_event(self, request: SendEventRequest) -> list[str]:
        host = self._host
        event_ids = host.send_events(self._run.id, request.id, request.events)
        self._memos[request.id.hashed] = MemoData(list[Any](event_ids))
        if host.reporting:
            names = tuple(event.name for event in request.events)
            host.report(EventsSent(self._run.id, request.id.deduplicated, host.clock.now(), names, tuple(event_ids)))
        return event_ids


def _event_id(received: object) -> str | None:
    """The id of the event a ``wait_for_event`` step received; ``None`` when it timed out."""
    return received.id if isinstance(received, Event) else None


_ZERO = timedelta(0)
_FIRST_ATTEMPT = StepAttempts(0, None)
