"""The embedded engine's driver: a new step is executed right here and the function goes on.

So a run of n sequential steps costs O(n): the function is replayed from its stored results only when an
engine resumes it after a restart or wakes a run it unloaded, never once per step.

A step whose handler completes at once never suspends its run, so the driver gives the loop up itself
(``LOOP_SHARE``): other runs, and a web app served on the same loop, go on while a long run executes.

A run is parked while every step it has in flight waits on time or on the engine (a sleep, a wait for an event,
an invoke, a step's retry backoff). Parked for ``unload_after`` seconds of real time, the driver unloads it: each
parked step raises ``Interrupt`` through the function, which ends the attempt ``Suspended`` and frees its
coroutine, tasks and thread; the engine keeps only when to wake it and replays it from storage then.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
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
from steppe._core.threads import Waiter, wait_on_loop
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

__all__ = ["LOOP_SHARE", "EmbeddedDriver", "Unloaded"]

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
        unload_after: float | None = None,
        resumed: bool = False,
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
        # Whether a sync body's thread may run a run step's first attempt itself (``step_from_thread``): nothing
        # has to happen on the loop before the handler starts.
        self._starts_at_once = step_slot is None and not replay_every_step
        self._stored_before = frozenset(memos)
        self._visited: set[str] = set()
        self._slice_started = time.monotonic()  # when this run last yielded the loop (see LOOP_SHARE)
        # Unloading: seconds parked before the run is unloaded (None: never); whether this pass wakes an unloaded
        # run (its parked steps were reported as started before, so they are not again).
        self._unload_after = unload_after
        self._resumed = resumed
        self._in_flight = 0  # new steps being handled now
        self._parked: list[_Park] = []  # the in-flight steps that wait on time or on the engine
        self._unloading: asyncio.Future[None] | None = None  # done once the run is unloaded
        self._grace: asyncio.TimerHandle | None = None
        self._unloaded_at: Unloaded | None = None

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

    @property
    def unloaded(self) -> Unloaded | None:
        """What the run was parked in when this driver unloaded it; ``None`` while it was not unloaded."""
        return self._unloaded_at

    async def new_step(self, request: StepRequest) -> object:
        if self._unloaded_at is not None:  # the run is being unloaded: this step runs when it is replayed
            raise Interrupt
        self._in_flight += 1
        self._check_parked()
        try:
            return await self._new_step(self._dispatch(request))
        finally:
            self._in_flight -= 1
            self._check_parked()

    async def _new_step(self, dispatched: Coroutine[Any, Any, object]) -> object:
        try:
            value = await dispatched
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

    async def _park(
        self, wake_at: datetime | None, resolved: asyncio.Future[Memo] | None = None, step: str = ""
    ) -> None:
        """Wait until ``wake_at`` or until ``resolved`` (the engine's answer to step ``step``) is done.

        Raises ``Interrupt`` if the run is unloaded meanwhile (and not woken at the same moment).
        """
        if self._unloaded_at is not None:
            raise Interrupt
        if wake_at is not None and wake_at <= self._host.clock.now():  # e.g. a replay reaching a sleep that is over
            return
        if self._unloading is None:
            self._unloading = asyncio.get_running_loop().create_future()
        waiters: list[asyncio.Future[Any]] = [self._unloading]
        timer: asyncio.Future[None] | None = None
        if wake_at is not None:
            timer = asyncio.ensure_future(self._host.clock.sleep_until(wake_at))
            waiters.append(timer)
        if resolved is not None:
            waiters.append(resolved)
        park = _Park(wake_at, step if resolved is not None else None)
        self._parked.append(park)
        self._check_parked()
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._parked.remove(park)
            if timer is not None:
                timer.cancel()
            self._check_parked()
        woken = (timer is not None and timer.done() and not timer.cancelled()) or (
            resolved is not None and resolved.done()
        )
        if not woken:
            raise Interrupt

    def _check_parked(self) -> None:
        """Start the grace period once every step in flight is parked; stop it when one is not."""
        parked = bool(self._parked) and len(self._parked) == self._in_flight and self._unloaded_at is None
        if parked and self._grace is None and self._unload_after is not None:
            self._grace = asyncio.get_running_loop().call_later(self._unload_after, self._unload)
        elif not parked and self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _unload(self) -> None:
        """Parked past the grace period: interrupt every parked step, so the attempt ends ``Suspended``."""
        self._grace = None
        wakes = [park.wake_at for park in self._parked if park.wake_at is not None]
        waits = tuple(park.step for park in self._parked if park.step is not None)
        self._unloaded_at = Unloaded(min(wakes, default=None), waits)
        assert self._unloading is not None  # made by the first park
        self._unloading.set_result(None)

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
            kind: StepKind
            if isinstance(request, WaitForEventRequest):
                codec, what, kind = request.codec, request.what, "wait"
            else:
                codec, what, kind = request.function.output_codec, request.function.output_what, "invoke"
            self._store_memo(request.id, MemoData(codec.dump(stub, what)), kind=kind)
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
                return await self._send_event(request)

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

    async def _run_step(self, request: RunRequest, ran: _RanHere | None = None) -> object:
        """The step's attempts until one succeeds or it fails for good; ``ran``: its first attempt, which a sync
        body's thread ran itself (``step_from_thread``) and which is settled here."""
        host, step = self._host, request.id
        state = self._retrying.get(step.hashed, _FIRST_ATTEMPT)
        attempt = state.attempts
        if state.retry_at is not None and ran is None:
            await self._park(state.retry_at)
        while True:
            if ran is not None:
                first, ran = ran, None
                started, started_at = first.started, first.started_at
                if first.fault is not None:
                    raise first.fault  # recording the attempt's start failed: the engine's fault, not the step's
                try:
                    value, output = await first.outcome(request)
                except Exception as error:  # noqa: BLE001 - as below
                    failed = classify_failure(error)
                else:
                    return await self._succeeded(request, value, output, attempt, started, started_at)
            else:
                async with self._step_slot():  # reported as started once it holds its concurrency slot
                    started = time.monotonic()
                    started_at = self._record_attempt_start(request, attempt)
                    self._report_start(request, attempt, started)
                    try:
                        value = await self._execute(request)
                        output = request.codec.dump_json(value, request.what)
                    except Exception as error:  # noqa: BLE001 - a step's own failure is retried (or not) below
                        failed = classify_failure(error)
                    else:
                        return await self._succeeded(request, value, output, attempt, started, started_at)
            attempt += 1
            now = host.clock.now()
            failure = failed.error
            if not failed.retriable or attempt >= self._max_attempts:
                await host.store.commit(
                    partial(self._store_outcome, request, MemoError(failure), attempt - 1, started_at)
                )
                self._report_end(request, attempt - 1, started, failure, None)
                raise StepError(step.user_id, failure.name, failure.message, failure.stack)
            retry_at = now + host.retry_policy.delay(attempt, now=now, retry_after=failed.retry_after)

            await host.store.commit(partial(self._store_retry, request, attempt, retry_at, failure, started_at, now))
            self._report_end(request, attempt - 1, started, failure, retry_at)
            await self._park(retry_at)

    async def _succeeded(
        self, request: RunRequest, value: object, output: bytes, attempt: int, started: float, started_at: datetime
    ) -> object:
        await self._host.store.commit(partial(self._store_outcome, request, MemoJson(output), attempt, started_at))
        self._report_end(request, attempt, started, None, None)
        return value

    # -- a sync body's run step, run on its own thread --------------------------------------------------------

    def step_from_thread(self, request: StepRequest, loop: asyncio.AbstractEventLoop) -> tuple[object] | None:
        """On a sync body's thread: run a plain handler's step right here when it may start at once (no
        concurrency limit to wait for, no stub, no retry pending, no replay after each step, the run not unloaded).

        The thread tells the loop the attempt starts (not waiting for the loop to record it) and runs the handler,
        then hands the outcome over in the message that asks for the answer; the loop stores it and answers once
        it is committed (and so, under durability "full", on disk), before the body goes on. So the body waits for
        the loop once per step, where ``new_step`` costs it twice (for the handler, then for the stored result). A
        failed attempt, an awaitable result or a group commit is settled by a task on the loop (``_finish_here``),
        which hands retries back to this thread as ``new_step`` does. If the run was unloaded meanwhile (the check
        below raced the loop), the outcome is stored all the same and the body gets ``Interrupt``, as its other
        steps do. ``None``: the step goes to ``new_step``.
        """
        if (
            not self._starts_at_once
            or not isinstance(request, RunRequest)
            or request.run_here is None
            or self._unloaded_at is not None
            or request.id.hashed in self._retrying
            or self._stub(request.id)[0]
        ):
            return None
        ran = _RanHere(time.monotonic())
        loop.call_soon_threadsafe(self._began_here, request, ran)
        try:
            result = request.run_here()
            if inspect.isawaitable(result):
                ran.awaiting = result
            else:
                ran.value, ran.output = result, request.codec.dump_json(result, request.what)
        except BaseException as error:  # noqa: BLE001 - settled on the loop, as new_step would
            ran.error = error
        try:
            return (wait_on_loop(loop, partial(self._ran_here, request, ran)),)
        finally:
            del ran  # it may hold an error whose traceback holds this frame: no cycle left for the collector

    def _began_here(self, request: RunRequest, ran: _RanHere) -> None:
        """On the loop, as the thread starts the handler: what ``_run_step`` does before it (a fault is kept)."""
        self._in_flight += 1
        self._check_parked()
        try:
            ran.started_at = self._record_attempt_start(request, 0)
            self._report_start(request, 0, ran.started)
        except Exception as error:  # noqa: BLE001 - raised by _ran_here, as _run_step would before the handler
            ran.fault = error

    def _ran_here(self, request: RunRequest, ran: _RanHere, waiter: Waiter) -> None:
        """On the loop, once the thread ran the handler: store a plain success at once and answer; leave anything
        else to ``_finish_here``."""
        store = self._host.store
        if ran.output is None or ran.fault is not None or not store.commits_at_once:
            waiter.spawn(self._finish_here(request, ran))
            return
        try:
            store.commit_at_once(partial(self._store_outcome, request, MemoJson(ran.output), 0, ran.started_at))
            self._report_end(request, 0, ran.started, None, None)
        except Exception as error:  # noqa: BLE001 - handed to the body as _new_step hands it (the body must not hang)
            self._ended_here()
            waiter.end(None, EngineFault(error) if is_engine_fault(error) else error)
            return
        self._ended_here()
        waiter.end(ran.value, None if self._unloaded_at is None else Interrupt())

    async def _finish_here(self, request: RunRequest, ran: _RanHere) -> object:
        try:
            value = await self._new_step(self._run_step(request, ran))
        finally:
            self._ended_here()
        if self._unloaded_at is not None:
            raise Interrupt  # unloaded while the thread ran it: stored, and the run stops here as its other steps
        return value

    def _ended_here(self) -> None:
        self._in_flight -= 1
        self._check_parked()

    def _store_outcome(self, request: RunRequest, memo: Memo, attempt: int, started_at: datetime) -> None:
        """A step's result (or final failure) with the end of the attempt that gave it: one change."""
        host, step = self._host, request.id
        self._store_memo(step, memo, kind="run", started_at=started_at, parallel=request.parallel)
        error = memo.error if isinstance(memo, MemoError) else None
        host.store.record_attempt_end(self._run.id, step.hashed, attempt, host.clock.now(), error=error)

    def _store_retry(
        self,
        request: RunRequest,
        attempts: int,
        retry_at: datetime,
        failure: ErrorInfo,
        started_at: datetime,
        now: datetime,
    ) -> None:
        """A failed attempt that will be tried again at ``retry_at``, with the end of that attempt: one change."""
        host, step = self._host, request.id
        host.store.record_step_retry(
            self._run.id,
            step.hashed,
            step.deduplicated,
            attempts,
            retry_at,
            failure,
            kind="run",
            started_at=started_at,
            parallel=request.parallel,
        )
        host.store.record_attempt_end(self._run.id, step.hashed, attempts - 1, now, error=failure)

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
        wait = stored = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wake_at = request.until if request.until is not None else host.clock.now() + (request.duration or _ZERO)
            wait = WaitRecord(kind="sleep", wake_at=wake_at, event_name=None, expression=None, child_run_id=None)
            host.store.insert_wait(self._run.id, step.hashed, step.deduplicated, wait, now=host.clock.now())
        assert wait.wake_at is not None
        if self._reports_start(stored):
            host.report(SleepStarted(self._run.id, step.deduplicated, host.clock.now(), wait.wake_at))
        await self._park(wait.wake_at)
        host.store.resolve_wait(self._run.id, step.hashed, MemoData(None), host.clock.now())
        self._memos[step.hashed] = MemoData(None)
        if host.reporting:
            host.report(SleepFinished(self._run.id, step.deduplicated, host.clock.now()))

    async def _wait_for_event(self, request: WaitForEventRequest) -> object:
        host, step = self._host, request.id
        wait = stored = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wait = WaitRecord(
                kind="event",
                wake_at=host.clock.now() + request.timeout,
                event_name=request.event,
                expression=request.if_exp,
                child_run_id=None,
            )
            host.store.insert_wait(self._run.id, step.hashed, step.deduplicated, wait, now=host.clock.now())
        if self._reports_start(stored):
            host.report(
                WaitStarted(
                    self._run.id, step.deduplicated, host.clock.now(), request.event, request.if_exp, wait.wake_at
                )
            )
        memo, delivered = await self._resolution(step, wait, on_timeout=MemoData(None))
        received = resolve_memo(step, memo, request.codec, request.what)
        if host.reporting and delivered:
            host.report(WaitFinished(self._run.id, step.deduplicated, host.clock.now(), _event_id(received)))
        return received

    async def _invoke(self, request: InvokeRequest) -> object:
        host, step = self._host, request.id
        wait = stored = host.store.load_wait(self._run.id, step.hashed)
        if wait is None:
            wake_at = None if request.timeout is None else host.clock.now() + request.timeout
            wait = host.start_child_run(self._run.id, step, request.function, request.data, wake_at)
        timeout = MemoError(ErrorInfo("InvokeTimeoutError", f"function {request.function.id!r} did not finish in time"))
        if self._reports_start(stored):
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
        memo, delivered = await self._resolution(step, wait, on_timeout=timeout)
        if host.reporting and delivered:
            self._report_invoke_end(step, wait, memo, timed_out=memo is timeout)
        return resolve_memo(step, memo, request.function.output_codec, request.function.output_what)

    def _reports_start(self, stored: WaitRecord | None) -> bool:
        """Whether to report a sleep, wait or invoke as started: not when this pass wakes the run parked in it."""
        return self._host.reporting and (stored is None or not self._resumed)

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

    async def _resolution(self, step: StepId, wait: WaitRecord, *, on_timeout: Memo) -> tuple[Memo, bool]:
        """Wait until the engine resolves this wait (an event matched, a child run ended) or it times out.

        Returns the step's result and whether this driver received it (its future, its timeout): one the engine
        stored while nobody waited on it in memory (e.g. before a restart's replay) the engine reported itself.
        """
        host = self._host
        resolved = host.expect_resolution(self._run.id, step.hashed)
        stored = host.store.load_memo(self._run.id, step.hashed)
        if stored is not None:
            host.forget_resolution(self._run.id, step.hashed)
            self._memos[step.hashed] = stored
            return stored, False
        try:
            await self._park(wait.wake_at, resolved, step.hashed)
        except BaseException:  # unloaded or cancelled: the engine stops expecting this run's answer
            host.forget_resolution(self._run.id, step.hashed)
            raise
        delivered = True
        if resolved.done():
            memo = resolved.result()
        else:
            host.forget_resolution(self._run.id, step.hashed)
            if not host.store.resolve_wait(self._run.id, step.hashed, on_timeout, host.clock.now()):
                resolved_meanwhile = host.store.load_memo(self._run.id, step.hashed)  # at the same moment
                assert resolved_meanwhile is not None
                memo, delivered = resolved_meanwhile, False
            else:
                memo = on_timeout
        self._memos[step.hashed] = memo
        return memo, delivered

    async def _send_event(self, request: SendEventRequest) -> list[str]:
        host = self._host
        event_ids = await host.send_events(self._run.id, request.id, request.events)
        self._memos[request.id.hashed] = MemoData(list[Any](event_ids))
        if host.reporting:
            names = tuple(event.name for event in request.events)
            host.report(EventsSent(self._run.id, request.id.deduplicated, host.clock.now(), names, tuple(event_ids)))
        return event_ids


def _event_id(received: object) -> str | None:
    """The id of the event a ``wait_for_event`` step received; ``None`` when it timed out."""
    return received.id if isinstance(received, Event) else None


@dataclass(eq=False, slots=True)
class _RanHere:
    """The first attempt of a run step that a sync body's thread ran itself (see ``step_from_thread``)."""

    started: float  # time.monotonic() as the handler started
    started_at: datetime = datetime.min  # recorded on the loop (``_began_here``), which runs before it is read
    fault: Exception | None = None  # recording the start failed: the engine's fault
    value: object = None
    output: bytes | None = None  # the value as stored, once the handler returned a plain value
    awaiting: Awaitable[object] | None = None  # what the handler returned, if awaitable: awaited on the loop
    error: BaseException | None = None  # what the handler (or dumping its value) raised

    async def outcome(self, request: RunRequest) -> tuple[object, bytes]:
        """The handler's value and output, raising what it raised; an awaitable it returned is awaited here."""
        if self.error is not None:
            raise self.error
        if self.awaiting is None:
            assert self.output is not None  # a plain value is dumped on the thread
            return self.value, self.output
        value = await self.awaiting
        return value, request.codec.dump_json(value, request.what)


@dataclass(eq=False, slots=True)
class _Park:
    """One in-flight step waiting: until ``wake_at`` (if any) or the engine's answer to wait ``step`` (if any)."""

    wake_at: datetime | None
    step: str | None


@dataclass(frozen=True, slots=True)
class Unloaded:
    """What an unloaded run was parked in: the earliest time one of its parked steps wakes by itself (``None``
    if none does), and the hashed ids of the waits the engine resolves (events, child runs)."""

    wake_at: datetime | None
    waits: tuple[str, ...]


_ZERO = timedelta(0)
_FIRST_ATTEMPT = StepAttempts(0, None)
