"""``Engine``: runs a client's functions durably in this process, on one SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Generic, Literal, Self

from pydantic import ValidationError
from typing_extensions import TypeVar

from steppe._core.errors import ENGINE_FAULT_PREFIX, EngineError, RunNotFoundError, SteppeError
from steppe._core.events import Event, TriggerCron, TriggerEvent, event_list, new_event_id
from steppe._core.execute import Completed, Failed, Suspended, run_attempt
from steppe._core.expressions import compile_expression
from steppe._core.function import FAILURE_EVENT, App, Function
from steppe._core.ids import StepId
from steppe._core.outcomes import ErrorInfo, Memo, MemoData, MemoError
from steppe._core.serde import JsonValue
from steppe._engine.clock import Clock, SystemClock
from steppe._engine.database import Durability, check_durability
from steppe._engine.embedded_driver import EmbeddedDriver, Unloaded
from steppe._engine.faults import FAULT_BACKOFF, INTERNAL_FAULT_ATTEMPTS, EngineFault, engine_errors, is_storage_fault
from steppe._engine.flow_control import FlowControl, RunCancelled
from steppe._engine.matching import incoming_keys
from steppe._engine.progress import (
    InvokeFinished,
    Progress,
    ProgressListener,
    RunFinished,
    RunRetrying,
    RunStarted,
    StepProgress,
    WaitFinished,
)
from steppe._engine.queues import HOLD_KINDS, HeldGroup, Release, RunQueues
from steppe._engine.retry import RetryPolicy
from steppe._engine.store import RunRecord, RunStatus, Store, WaitRecord

__all__ = ["Engine", "RunResult", "triggered_functions"]

_T = TypeVar("_T", default=Any)
_A = TypeVar("_A")
_R = TypeVar("_R")

INVOKE_EVENT = "inngest/function.invoked"
CRON_EVENT = "inngest/scheduled.timer"

logger = logging.getLogger("steppe.engine")

DEFAULT_UNLOAD_PARKED_AFTER: Final = 5.0
"""Seconds of real time a parked run stays in memory before the engine unloads it (``Engine(unload_parked_after=)``).

Long enough that a run parked briefly (a short sleep, an event that follows at once, a quick step retry) goes on
in memory without a replay; short enough that long waits hold nothing."""


@dataclass(frozen=True, slots=True)
class RunResult(Generic[_T]):
    """How a run ended. ``output`` is rebuilt into the function's declared return type."""

    run_id: str
    function_id: str
    status: RunStatus
    output: _T | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True)
class Accepted:
    """Events stored in the current transaction, and the runs they start (scheduled once it commits)."""

    event_ids: list[str] = field(default_factory=list[str])
    run_ids: list[str] = field(default_factory=list[str])
    # The stored events as JSON data, dumped once: for waits they may resolve once it commits.
    payloads: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    # Runs these events cancelled (already marked so in the transaction); stopped once it commits.
    cancelled: list[RunCancelled] = field(default_factory=list[RunCancelled])
    # Groups of held starts (batch, debounce, throttle) to wake when due, once it commits.
    held: list[HeldGroup] = field(default_factory=list[HeldGroup])


class Engine:
    """The embedded engine: ``async with Engine(client, database="app.db") as engine: await engine.send(...)``.

    ``replay="every_step"`` suspends the run after each new step and replays the function from the database,
    so every result the function sees has been stored and rebuilt: slow, meant for tests (see
    ``steppe.testing``). ``step_stubs`` maps step ids to results used instead of running those steps (an
    exception instance makes the step raise it).

    ``durability`` says what a committed step, event or run end survives, on a database file: ``"normal"``
    (the default) survives the process crashing or being killed, but a power loss or OS crash may undo the
    last commits before it (a step undone runs again, an event undone is gone; the file stays sound);
    ``"full"`` also survives power loss, at the cost of an fsync per commit of state (SQLite's ``synchronous``
    NORMAL or FULL, in WAL mode): the commits ready at the same turn of the event loop (the results of parallel
    branches or of concurrent runs, events sent at once) share one (``Store.commit``). Each is on disk before its
    step returns, its ``send`` returns or its run's end is reported. At either level, run history (when the run and
    each attempt began) goes with the next commit, at the latest at the next turn of the loop: a step that ends in
    the turn it began in stores its start with its result. ``:memory:`` survives nothing either way.

    Entering it opens the database (refusing a file that is not a steppe database or that another engine
    holds) and resumes every run that was not finished. Leaving it stops the runs in progress; they resume on
    the next start, with every completed step kept.

    A run parked in a sleep, a ``wait_for_event``, an ``invoke`` or a step's retry backoff for longer than
    ``unload_parked_after`` seconds of real time (default 5; ``0`` unloads at once, ``None`` never) is unloaded:
    its coroutine, tasks and (for a ``StepSync`` body) thread are freed, and the engine keeps only when to wake it.
    It wakes when its time comes, its event matches or its child run ends, and is replayed from its stored steps,
    which do not run again. Unloading raises ``Interrupt`` (a BaseException) at the parked step, so ``finally``
    blocks and context managers around it exit then; the code after the step runs on wake only, as on a served
    function, where every call ends this way.

    Flow control: the options in ``steppe._engine.flow_control.ENFORCED`` are enforced; entering logs a warning for
    each other option a function sets.

    Faults of the engine itself never reach a function's code (see ``steppe._engine.faults``): a failing database
    pauses the run, retried with backoff until it works again; any other fault is retried 5 times in all, then the
    run fails with ``EngineError``. Public calls raise ``EngineError`` naming the cause.
    """

    def __init__(
        self,
        client: App,
        functions: Sequence[Function[Any, Any]] | None = None,
        *,
        database: str | Path = ":memory:",
        clock: Clock | None = None,
        retry_policy: RetryPolicy | None = None,
        listeners: Sequence[ProgressListener] = (),
        replay: Literal["on_restart", "every_step"] = "on_restart",
        step_stubs: Mapping[str, object] | None = None,
        durability: Durability = "normal",
        unload_parked_after: float | None = DEFAULT_UNLOAD_PARKED_AFTER,
    ) -> None:
        chosen = client.functions if functions is None else list(functions)
        self._functions: dict[str, Function[Any, Any]] = {}
        for function in chosen:
            if function.id in self._functions:
                raise SteppeError(f"Engine: function {function.id!r} is given twice")
            self._functions[function.id] = function
        self._database = database
        self._clock: Clock = clock or SystemClock()
        self._retry_policy: RetryPolicy = retry_policy or RetryPolicy()
        self._listeners = list(listeners)
        if replay not in ("on_restart", "every_step"):
            raise ValueError(f"Engine: replay must be 'on_restart' or 'every_step', got {replay!r}")
        self._replay = replay
        self._step_stubs = dict(step_stubs or {})
        self._durability: Durability = check_durability(durability, owner="Engine")
        self._unload_parked_after = _check_unload_parked_after(unload_parked_after)
        self._open_store: Store | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: dict[str, asyncio.Future[None]] = {}
        self._resolutions: dict[tuple[str, str], asyncio.Future[Memo]] = {}
        self._cron_tasks: list[asyncio.Task[None]] = []
        self._deadlines: dict[str, asyncio.Task[None]] = {}
        self._open_flow: FlowControl | None = None
        self._open_queues: RunQueues | None = None
        self._host = Engine._RunHost(self)
        self._releases: dict[HeldGroup, asyncio.Task[None]] = {}
        # Unloaded runs: when each wakes by itself (None: only when a wait of it resolves), and the same times as
        # a heap (an entry is stale once its run's time differs), slept on by one task.
        self._unloaded: dict[str, datetime | None] = {}
        self._wakes: list[tuple[datetime, str]] = []
        self._wake_task: asyncio.Task[None] | None = None
        self._wake_armed: datetime | None = None  # what ``_wake_task`` sleeps until

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._open_flow = FlowControl(self._functions.values())  # raises on an invalid key or condition expression
        self._open_queues = RunQueues(self._functions.values())
        self._open_flow.warn_unenforced(logger)
        self._open_store = Store.open(self._database, durability=self._durability)
        self._open_store.register_functions(  # for listings by the id a function was declared with
            (function.id, function.local_id, function.id.removesuffix(f"-{function.local_id}"))
            for function in self._functions.values()
        )
        with engine_errors("Engine start"):
            pending, unfinished = self._open_store.pending_groups(), self._open_store.unfinished_runs()
        for function_id, stored_kind, key in pending:
            kind = HOLD_KINDS.get(stored_kind)
            if function_id in self._functions and kind is not None:  # another app's held starts stay stored
                self._watch(HeldGroup(function_id, kind, key))
        for run_id, function_id in unfinished:
            if function_id in self._functions:
                self._schedule(run_id)
            else:  # another app's (or a removed function's) run: left as stored, for an engine that has it
                logger.warning(
                    "steppe: run %s of function %r is left waiting: this engine does not have that function",
                    run_id,
                    function_id,
                )
        for function in self._functions.values():
            for trigger in function.triggers:
                if isinstance(trigger, TriggerCron):
                    self._cron_tasks.append(asyncio.create_task(self._cron(function, trigger)))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tasks = [*self._tasks.values(), *self._cron_tasks, *self._deadlines.values(), *self._releases.values()]
        if self._wake_task is not None:
            tasks.append(self._wake_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._cron_tasks.clear()
        self._deadlines.clear()
        self._releases.clear()
        self._unloaded.clear()
        self._wakes.clear()
        self._wake_task = self._wake_armed = None
        if self._open_store is not None:
            self._open_store.close()
            self._open_store = None

    @property
    def _store(self) -> Store:
        if self._open_store is None:
            raise SteppeError(_NOT_RUNNING)
        return self._open_store

    @property
    def _flow(self) -> FlowControl:
        if self._open_flow is None:
            raise SteppeError(_NOT_RUNNING)
        return self._open_flow

    @property
    def _queues(self) -> RunQueues:
        if self._open_queues is None:
            raise SteppeError(_NOT_RUNNING)
        return self._open_queues

    # -- public API ------------------------------------------------------------------------------

    async def send(self, events: Event[Any] | Sequence[Event[Any]]) -> list[str]:
        """Store events and start the runs they trigger; returns the ids of those runs.

        Typed events are validated against every triggered function's event type first: an invalid payload
        raises pydantic's ValidationError and nothing is stored.
        """
        batch = event_list(events, what="Engine.send")
        with engine_errors("Engine.send (nothing was sent)"):
            accepted = await self._store.commit(partial(self._accept_events, batch))
        with engine_errors("Engine.send (the events are stored; their runs start when the engine next opens)"):
            self._after_accept(accepted)
        return accepted.run_ids

    async def wait(self, run_id: str, timeout: float | None = None) -> RunResult[Any]:
        """Wait until the run has finished (``timeout`` in real seconds) and return how it ended."""
        with engine_errors("Engine.wait"):
            record = self._store.load_run(run_id)
        if record is None:
            raise RunNotFoundError(run_id, self._store.path)
        if record.status == "running":
            done = self._finished.setdefault(run_id, asyncio.get_running_loop().create_future())
            await asyncio.wait_for(asyncio.shield(done), timeout)
            with engine_errors("Engine.wait"):
                record = self._store.load_run(run_id)
            assert record is not None
        return self._result(record)

    def result(self, run_id: str) -> RunResult[Any]:
        """How the run stands now, without waiting."""
        with engine_errors("Engine.result"):
            record = self._store.load_run(run_id)
        if record is None:
            raise RunNotFoundError(run_id, self._store.path)
        return self._result(record)

    def _result(self, record: RunRecord) -> RunResult[Any]:
        output: Any = record.output
        function = self._functions.get(record.function_id)
        if record.status == "completed" and function is not None:
            output = function.output_codec.load(record.output, function.output_what)
        return RunResult(
            run_id=record.id, function_id=record.function_id, status=record.status, output=output, error=record.error
        )

    # -- events ----------------------------------------------------------------------------------

    def _accept_events(self, events: Sequence[Event[Any]]) -> Accepted:
        """Store events (each a ``steppe.Event``) and create the runs they trigger; call inside a transaction."""
        accepted = Accepted()
        now = self._clock.now()
        for event in events:
            stamped = event.model_copy(
                update={"id": event.id or new_event_id(), "ts": event.ts or int(now.timestamp() * 1000)}
            )
            payload = stamped.model_dump(mode="json")
            triggered = self._triggered(stamped, payload)
            self._store.insert_event(stamped.id, stamped.name, payload, now)
            accepted.event_ids.append(stamped.id)
            accepted.payloads.append(payload)
            # Before this event's own runs exist, so an event never cancels a run it starts.
            for cancel in self._flow.cancellations(payload, self._store, now):
                if self._store.cancel_run(cancel.run_id, now, cancel.error):
                    accepted.cancelled.append(cancel)
            for function in triggered:
                released = self._queues.arrive(function.id, stamped.id, payload, self._store, now)
                self._create_runs(function.id, released, accepted, now)
        return accepted

    def _create_runs(self, function_id: str, released: Release, accepted: Accepted, now: datetime) -> None:
        """Create the runs ``released`` starts (each still subject to admission); call inside a transaction."""
        accepted.held.extend(released.watch)
        for event_ids in released.starts:
            first = self._store.load_events(event_ids[:1])[0]
            admission = self._flow.admit(function_id, first, self._store, now)
            if admission is None:
                logger.info("steppe: event %s starts no run of %r (flow control: skipped)", event_ids[0], function_id)
                continue
            run_id = _new_run_id()
            self._store.create_run(run_id, function_id, event_ids, now, singleton_key=admission.singleton_key)
            accepted.run_ids.append(run_id)

    def _after_accept(self, accepted: Accepted) -> None:
        """Once accepted events are committed: stop the runs they cancelled, start their runs, wake waiting runs."""
        for cancel in accepted.cancelled:
            self._stop_cancelled(cancel)
        for run_id in accepted.run_ids:
            self._schedule(run_id)
        for group in accepted.held:
            self._watch(group)
        for payload in accepted.payloads:
            self._match_waits(payload)

    def _triggered(self, event: Event[Any], payload: dict[str, Any]) -> list[Function[Any, Any]]:
        return triggered_functions(self._functions.values(), event, payload)

    def _match_waits(self, incoming: dict[str, Any]) -> None:
        name = incoming["name"]
        # Only the waits the event can match by their index keys (see steppe._engine.matching), then in full.
        keys = incoming_keys(self._store.event_wait_paths(name), incoming)
        for run_id, step, expression in self._store.event_waits(name, keys):
            if expression is not None:
                run = self._store.load_run(run_id)
                if run is None:
                    continue
                trigger = self._store.load_events(run.event_ids[:1])[0]
                if not compile_expression(expression).matches(event=trigger, incoming=incoming):
                    continue
            self._resolve(run_id, step, MemoData(incoming), partial(WaitFinished, run_id, event_id=incoming.get("id")))

    def _resolve(self, run_id: str, step: str, memo: Memo, finished: Callable[[str, datetime], StepProgress]) -> None:
        """Store a waiting step's result and wake its run: in memory through its future, else if it is unloaded.

        The step's end is reported (``finished(step_id, now)``) by the driver that receives it, or here when no
        driver waits on it in memory (its run is unloaded, or replaying towards it).
        """
        now = self._clock.now()
        if self._store.resolve_wait(run_id, step, memo, now):
            waiter = self._resolutions.pop((run_id, step), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(memo)
                return
            if self._listeners:
                for user_id in self._store.step_user_ids(run_id, [step]):
                    self._report(finished(user_id, now))
            self._wake(run_id)

    # -- what the driver asks of the engine (through ``_RunHost``) ----------------------------------

    def _report(self, progress: Progress) -> None:
        for listener in self._listeners:
            listener(progress)

    def _start_child_run(
        self, parent_run_id: str, step: StepId, function: Function[Any, Any], data: JsonValue, wake_at: datetime | None
    ) -> WaitRecord:
        if function.id not in self._functions:
            raise SteppeError(f"step {step.user_id!r} invokes function {function.id!r}, which this engine does not run")
        wait = WaitRecord(kind="invoke", wake_at=wake_at, event_name=None, expression=None, child_run_id=_new_run_id())
        assert wait.child_run_id is not None
        event: Event[Any] = Event(
            name=INVOKE_EVENT, data=data, id=new_event_id(), ts=int(self._clock.now().timestamp() * 1000)
        )
        with self._store.transaction():
            self._store.insert_event(event.id, event.name, event.model_dump(mode="json"), self._clock.now())
            self._store.create_run(
                wait.child_run_id,
                function.id,
                [event.id],
                self._clock.now(),
                parent_run_id=parent_run_id,
                parent_step=step.hashed,
            )
            self._store.insert_wait(parent_run_id, step.hashed, step.deduplicated, wait, now=self._clock.now())
        self._schedule(wait.child_run_id)
        return wait

    # -- held starts: batch_events, debounce, throttle --------------------------------------------

    def _watch(self, group: HeldGroup) -> None:
        if group not in self._releases:
            self._releases[group] = asyncio.create_task(
                self._release_when_due(group), name=f"steppe-held-{group.function_id}"
            )

    async def _release_when_due(self, group: HeldGroup) -> None:
        """Sleep until the group's earliest held start is due, release it, repeat until nothing is held."""
        try:
            # Re-read each time: a debounce may have pushed the due time back while this slept.
            what = f"held starts of {group.function_id!r}"
            while (due := await self._through_storage_faults(what, self._pending_due, group)) is not None:
                await self._clock.sleep_until(due)
                accepted = await self._through_storage_faults(what, self._release, group)
                self._after_accept(accepted)
        finally:
            self._releases.pop(group, None)

    def _pending_due(self, group: HeldGroup) -> datetime | None:
        return self._store.pending_due(group.function_id, group.kind, group.key)

    def _release(self, group: HeldGroup) -> Accepted:
        accepted = Accepted()
        now = self._clock.now()
        with self._store.transaction():
            released = self._queues.release(group, self._store, now)
            self._create_runs(group.function_id, released, accepted, now)
        accepted.held = [other for other in accepted.held if other != group]  # the caller keeps watching it
        return accepted

    async def _through_storage_faults(self, what: str, action: Callable[[_A], _R], argument: _A) -> _R:
        """``action(argument)``, retried with the fault backoff while the database fails under it (the engine's
        own background work: held starts, crons, deadlines; a run's faults are handled in ``_drive_through_faults``)."""
        faults = 0
        while True:
            try:
                return action(argument)
            except Exception as error:
                if not is_storage_fault(error):
                    raise
                faults += 1
                delay = _fault_delay(faults)
                (logger.warning if faults == 1 else logger.debug)(
                    "steppe: %s paused: the engine's storage failed (%s: %s); retrying in %.2fs",
                    what,
                    type(error).__name__,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)

    # -- running ---------------------------------------------------------------------------------

    def _schedule(self, run_id: str, *, woken: bool = False) -> None:
        if run_id not in self._tasks:
            self._tasks[run_id] = asyncio.create_task(self._drive(run_id, woken), name=f"steppe-run-{run_id}")

    async def _drive(self, run_id: str, woken: bool = False) -> None:
        try:
            await self._drive_through_faults(run_id, woken)
        finally:
            self._tasks.pop(run_id, None)
            deadline = self._deadlines.pop(run_id, None)
            if deadline is not None:
                deadline.cancel()

    async def _drive_through_faults(self, run_id: str, woken: bool) -> None:
        """Drive the run to its end, through faults of the engine (see ``steppe._engine.faults``).

        A storage fault pauses the run, retried with backoff until the database works again; the run then
        resumes from its stored steps. Any other fault is retried ``INTERNAL_FAULT_ATTEMPTS`` times in all, then
        the run fails with ``EngineError``: it never stays "running" with nobody driving it.
        """
        storage_faults = internal_faults = 0
        while True:
            try:
                await self._drive_attempts(run_id, woken)
            except EngineFault as fault:
                cause: BaseException = fault.cause
            except Exception as error:  # noqa: BLE001 - the engine's own failure; the user's are outcomes
                cause = error
            else:
                if storage_faults:
                    logger.info(
                        "steppe: run %s ended after its storage recovered (paused %d times)", run_id, storage_faults
                    )
                return
            if is_storage_fault(cause):
                storage_faults += 1
                delay = _fault_delay(storage_faults)
                log = logger.warning if storage_faults == 1 else logger.debug
                log(
                    "steppe: run %s paused: the engine's storage failed (%s: %s); retrying in %.2fs",
                    run_id,
                    type(cause).__name__,
                    cause,
                    delay,
                )
            else:
                internal_faults += 1
                if internal_faults >= INTERNAL_FAULT_ATTEMPTS:
                    logger.error(
                        "steppe: run %s fails: the engine hit an internal error %d times",
                        run_id,
                        internal_faults,
                        exc_info=cause,
                    )
                    await self._fail_for_engine_fault(run_id, cause)
                    return
                delay = _fault_delay(internal_faults)
                logger.warning(
                    "steppe: run %s hit an internal error of the engine (%s: %s); retrying in %.2fs",
                    run_id,
                    type(cause).__name__,
                    cause,
                    delay,
                    exc_info=cause,
                )
            await asyncio.sleep(delay)

    async def _fail_for_engine_fault(self, run_id: str, cause: BaseException) -> None:
        """End the run ``failed`` with an ``EngineError`` for ``cause``, retrying until that is stored."""
        error = ErrorInfo(EngineError.__name__, f"{ENGINE_FAULT_PREFIX}{type(cause).__name__}: {cause}")
        tries = 0
        while True:
            try:
                run = self._store.load_run(run_id)
                if run is not None and run.status == "running":
                    await self._finish(run, Failed(error, retriable=False))
                return
            except Exception:
                tries += 1
                delay = _fault_delay(tries)
                logger.exception("steppe: run %s: its failure could not be stored; retrying in %.2fs", run_id, delay)
                await asyncio.sleep(delay)

    # -- cancelling ------------------------------------------------------------------------------
    # A cancelled run is marked "cancelled" in the database first and only then is its task stopped; engine
    # shutdown stops tasks without touching the database, so those runs stay "running" and resume on restart.

    def _cancel_run(self, cancel: RunCancelled) -> None:
        with self._store.transaction():
            changed = self._store.cancel_run(cancel.run_id, self._clock.now(), cancel.error)
        if changed:
            self._stop_cancelled(cancel)

    def _stop_cancelled(self, cancel: RunCancelled) -> None:
        """After the cancellation is committed: stop the run's task, fail its waiting parent, wake waiters."""
        task = self._tasks.get(cancel.run_id)
        if task is not None:
            task.cancel()
        self._forget_unloaded(cancel.run_id)
        run = self._store.load_run(cancel.run_id)
        if run is not None:
            self._announce_end(run, "cancelled", cancel.error, MemoError(cancel.error))

    def _announce_end(
        self,
        run: RunRecord,
        status: Literal["completed", "failed", "cancelled"],
        error: ErrorInfo | None,
        parent_memo: Memo,
    ) -> None:
        """Once a run's end is stored: resolve a parent's invoke step, report it, and release its waiters."""
        if run.parent_run_id is not None and run.parent_step is not None:
            parent_run_id = run.parent_run_id
            self._resolve(
                parent_run_id,
                run.parent_step,
                parent_memo,
                lambda user_id, at: InvokeFinished(parent_run_id, user_id, at, run.id, status, error),
            )
        self._report(RunFinished(run.id, run.function_id, status, error))
        done = self._finished.pop(run.id, None)
        if done is not None and not done.done():
            done.set_result(None)

    async def _expire(self, run: RunRecord, deadline: datetime) -> None:
        await self._clock.sleep_until(deadline)
        message = f"run of function {run.function_id!r} did not finish within its timeouts.finish"
        cancel = RunCancelled(run.id, ErrorInfo("FunctionTimeoutError", message))
        await self._through_storage_faults(f"the deadline of run {run.id}", self._cancel_run, cancel)

    async def _drive_attempts(self, run_id: str, woken: bool) -> None:
        """Run attempts of the run until it ends or is unloaded (``woken``: it was unloaded, and wakes now)."""
        run = self._store.load_run(run_id)
        if run is None or run.status != "running":
            return
        if run.started_at is None:
            self._store.record_run_started(run.id, self._clock.now())
        function = self._functions[run.function_id]  # only runs of this engine's functions are scheduled
        deadline = self._flow.finish_deadline(function.id, run.created_at)
        if deadline is not None and run.id not in self._deadlines:  # driven again after a fault: it has its timer
            self._deadlines[run.id] = asyncio.create_task(self._expire(run, deadline), name=f"steppe-deadline-{run.id}")
        raw_events = self._store.load_events(run.event_ids)
        gates, claims = self._flow.gates, self._flow.claims(function.id, raw_events[0])
        if self._listeners and not woken:
            self._report(RunStarted(run.id, function.id, run.attempt, run.parent_run_id))
        while True:
            if run.retry_at is not None:
                await self._clock.sleep_until(run.retry_at)
            memos, retrying = self._store.load_steps(run.id)
            driver = EmbeddedDriver(
                self._host,
                run,
                memos,
                function.max_attempts,
                retrying,
                replay_every_step=self._replay == "every_step",
                step_stubs=self._step_stubs,
                step_slot=(lambda: gates.hold(claims)) if claims else None,
                unload_after=self._unload_parked_after,
                resumed=woken,
            )
            outcome = await run_attempt(function, raw_events, run_id=run.id, attempt=run.attempt, driver=driver)
            unloaded = driver.unloaded
            if unloaded is not None and isinstance(outcome, Suspended):
                if self._keep_unloaded(run.id, unloaded, deadline):
                    return
                woken = True  # woken while it was being unloaded: replay it now
                continue
            if isinstance(outcome, Failed) and outcome.retriable and run.attempt + 1 < function.max_attempts:
                now = self._clock.now()
                retry_at = now + self._retry_policy.delay(run.attempt + 1, now=now, retry_after=outcome.retry_after)
                self._store.schedule_run_retry(run.id, run.attempt + 1, retry_at)
                if self._listeners:
                    self._report(RunRetrying(run.id, function.id, run.attempt, now, outcome.error, retry_at))
                reloaded = self._store.load_run(run.id)
                assert reloaded is not None
                run = reloaded
                continue
            if isinstance(outcome, Suspended):  # replay="every_step": run the function again from storage
                skipped = driver.steps_not_retraced()
                if not skipped:
                    continue
                names = sorted(self._store.step_user_ids(run.id, skipped))
                outcome = Failed(
                    ErrorInfo(
                        "NonDeterminismError",
                        f"on replay, function {function.id!r} did not reach the steps {names} it had taken before: "
                        "step ids and the order of steps must not depend on time, randomness or unstored state",
                    ),
                    retriable=False,
                )
            await self._finish(run, outcome)
            return

    # -- unloaded runs -----------------------------------------------------------------------------
    # An unloaded run has no task: only its entry in ``_unloaded`` (and in ``_wakes`` if it wakes by itself).
    # Every run of this engine's functions that is "running" has a task or that entry.

    def _keep_unloaded(self, run_id: str, unloaded: Unloaded, deadline: datetime | None) -> bool:
        """Note the run as unloaded, to wake at its first wake time or at its ``timeouts.finish`` deadline; False
        if it must be replayed at once (a wake time has come, or a wait resolved while it was being unloaded)."""
        wake_at = min((moment for moment in (unloaded.wake_at, deadline) if moment is not None), default=None)
        if wake_at is not None and wake_at <= self._clock.now():
            return False
        if any(self._store.load_memo(run_id, step) is not None for step in unloaded.waits):
            return False
        self._unloaded[run_id] = wake_at
        if wake_at is not None:
            heapq.heappush(self._wakes, (wake_at, run_id))
            if self._wake_armed is None or wake_at < self._wake_armed:
                if self._wake_task is not None:
                    self._wake_task.cancel()
                self._wake_armed = wake_at
                self._wake_task = asyncio.create_task(self._wake_when_due(), name="steppe-wakes")
        return True

    async def _wake_when_due(self) -> None:
        """Wake each unloaded run at its time, in time order, until none is left to wake by time."""
        while self._wakes:
            wake_at, run_id = self._wakes[0]
            if self._unloaded.get(run_id, None) != wake_at:  # woken or cancelled since: a stale entry
                heapq.heappop(self._wakes)
                continue
            if wake_at > self._clock.now():
                self._wake_armed = wake_at
                await self._clock.sleep_until(wake_at)
                continue
            heapq.heappop(self._wakes)
            self._wake(run_id)
        self._wake_task = self._wake_armed = None

    def _wake(self, run_id: str) -> None:
        """Replay the run if it is unloaded (its time came, a wait of it resolved)."""
        if run_id in self._unloaded:
            self._forget_unloaded(run_id)
            self._schedule(run_id, woken=True)

    def _forget_unloaded(self, run_id: str) -> None:
        self._unloaded.pop(run_id, None)
        if len(self._wakes) > 64 and len(self._wakes) > 2 * len(self._unloaded):  # mostly stale: rebuild it
            self._wakes = [(moment, run) for moment, run in self._wakes if self._unloaded.get(run) == moment]
            heapq.heapify(self._wakes)

    async def _finish(self, run: RunRecord, outcome: Completed | Failed) -> None:
        accepted = await self._store.commit(partial(self._store_end, run, outcome))
        if accepted is None:  # cancelled meanwhile: that outcome stands
            return
        self._after_accept(accepted)
        if isinstance(outcome, Completed):
            self._announce_end(run, "completed", None, MemoData(outcome.output))
        else:
            self._announce_end(run, "failed", outcome.error, MemoError(outcome.error))

    def _store_end(self, run: RunRecord, outcome: Completed | Failed) -> Accepted | None:
        """Store how the run ended, and its failure event if it failed; None if it was not running any more."""
        now = self._clock.now()
        if isinstance(outcome, Completed):
            return Accepted() if self._store.finish_run(run.id, "completed", now, output=outcome.output) else None
        if not self._store.finish_run(run.id, "failed", now, error=outcome.error):
            return None
        function = self._functions.get(run.function_id)
        if function is None or function.handles_failure_of is not None:
            return Accepted()
        triggering = self._store.load_events(run.event_ids)
        data: dict[str, Any] = {
            "function_id": run.function_id,
            "run_id": run.id,
            "error": dataclasses.asdict(outcome.error),
            "event": triggering[0],  # as Inngest's failure event carries it
        }
        if "batch_events" in function.options:
            data["events"] = triggering
        failure: Event[Any] = Event(name=FAILURE_EVENT, data=data)
        return self._accept_events([failure])

    async def _cron(self, function: Function[Any, Any], trigger: TriggerCron) -> None:
        from croniter import croniter

        schedule = croniter(trigger.cron, self._clock.now())
        while True:
            fire_at: datetime = schedule.get_next(datetime)
            await self._clock.sleep_until(fire_at)
            event: Event[Any] = Event(
                name=CRON_EVENT, data={"cron": trigger.cron}, id=new_event_id(), ts=int(fire_at.timestamp() * 1000)
            )
            run_id = _new_run_id()

            def start(event: Event[Any], run_id: str = run_id) -> None:
                with self._store.transaction():
                    self._store.insert_event(event.id, event.name, event.model_dump(mode="json"), self._clock.now())
                    self._store.create_run(run_id, function.id, [event.id], self._clock.now())

            await self._through_storage_faults(f"the cron of {function.id!r}", start, event)
            self._schedule(run_id)

    # -- commands from other processes (steppe send, runs cancel / rerun, steppe.Runs) ----------------

    def apply_commands(self) -> int:
        """Apply the commands other processes left in the database: accept their events, stop the runs they
        cancelled, start the runs they created. Each is applied and removed in one transaction; returns how many."""
        with engine_errors("Engine.apply_commands"):
            return self._apply_commands()

    def _apply_commands(self) -> int:
        applied = 0
        while True:
            accepted = Accepted()
            with self._store.transaction():
                command = self._store.take_command()
                if command is None:
                    return applied
                run_id = command.payload.get("run_id") if command.kind != "event" else None
                if command.kind == "event":
                    try:
                        accepted = self._accept_events([Event[Any].model_validate(command.payload)])
                    except (ValidationError, SteppeError) as error:  # the sender's mistake: dropped, and said so
                        logger.error("steppe: event %r from another process was refused: %s", command.payload, error)
            applied += 1
            self._after_accept(accepted)
            if not isinstance(run_id, str):
                continue
            run = self._store.load_run(run_id)
            if run is None or run.function_id not in self._functions:
                continue
            if command.kind == "cancelled" and run.status == "cancelled":
                assert run.error is not None
                self._stop_cancelled(RunCancelled(run.id, run.error))
            elif command.kind == "created" and run.status == "running":
                self._schedule(run.id)

    class _RunHost:
        """The engine as its runs' drivers see it: implements ``RunHost`` on the engine's own state."""

        def __init__(self, engine: Engine) -> None:
            self._engine = engine

        @property
        def store(self) -> Store:
            return self._engine._store

        @property
        def clock(self) -> Clock:
            return self._engine._clock

        @property
        def retry_policy(self) -> RetryPolicy:
            return self._engine._retry_policy

        @property
        def reporting(self) -> bool:
            return bool(self._engine._listeners)

        def report(self, progress: StepProgress) -> None:
            self._engine._report(progress)

        def expect_resolution(self, run_id: str, step: str) -> asyncio.Future[Memo]:
            future: asyncio.Future[Memo] = asyncio.get_running_loop().create_future()
            self._engine._resolutions[(run_id, step)] = future
            return future

        def forget_resolution(self, run_id: str, step: str) -> None:
            self._engine._resolutions.pop((run_id, step), None)

        def start_child_run(
            self,
            parent_run_id: str,
            step: StepId,
            function: Function[Any, Any],
            data: JsonValue,
            wake_at: datetime | None,
        ) -> WaitRecord:
            return self._engine._start_child_run(parent_run_id, step, function, data, wake_at)

        async def send_events(self, run_id: str, step: StepId, events: Sequence[Event[Any]]) -> list[str]:
            engine = self._engine

            def store() -> Accepted:
                accepted = engine._accept_events(events)
                memo = MemoData(list[Any](accepted.event_ids))
                now = engine._clock.now()
                engine._store.save_memo(run_id, step.hashed, step.deduplicated, memo, now, kind="send", started_at=now)
                return accepted

            accepted = await engine._store.commit(store)
            engine._after_accept(accepted)
            return accepted.event_ids


def triggered_functions(
    functions: Iterable[Function[Any, Any]], event: Event[Any], payload: dict[str, Any]
) -> list[Function[Any, Any]]:
    """The functions ``event`` (dumped as ``payload``) starts; raises ValidationError if it does not fit the event
    type of one of them."""
    matched: list[Function[Any, Any]] = []
    for function in functions:
        for trigger in function.triggers:
            if not isinstance(trigger, TriggerEvent) or trigger.event != event.name:
                continue
            if trigger.expression is not None and not compile_expression(trigger.expression).matches(
                event=payload, incoming=payload
            ):
                continue
            if function.event_type is not None:
                function.event_type.validate(event)  # raises ValidationError before anything is stored
            matched.append(function)
            break
    return matched


def _check_unload_parked_after(seconds: object) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(seconds) or seconds < 0:
        raise ValueError(f"Engine: unload_parked_after must be a number of seconds >= 0 or None, got {seconds!r}")
    return None if math.isinf(seconds) else float(seconds)


_NOT_RUNNING: Final = "the engine is not running: use it as `async with Engine(...) as engine:`"


def _fault_delay(faults: int) -> float:
    """Seconds before retrying a run after its ``faults``-th fault in a row."""
    return FAULT_BACKOFF.delay(faults, now=datetime.now(UTC)).total_seconds()


def _new_run_id() -> str:
    return uuid.uuid4().hex
