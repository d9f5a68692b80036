"""The per-attempt state behind ``Step`` and ``StepSync``: id allocation, memo lookup, nesting guard."""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from steppe._core.calls import StepCoroutine
from steppe._core.driver import Driver, FromThread
from steppe._core.errors import NestedStepError, StepError, StepUsageError
from steppe._core.ids import StepId, StepIdAllocator
from steppe._core.outcomes import Memo, MemoData, MemoJson
from steppe._core.requests import ParallelMode, StepRequest
from steppe._core.serde import Codec, Owner
from steppe._core.threads import block_on, run_blocking

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Branch",
    "ParallelGroup",
    "StepRuntime",
    "current_branch",
    "describe_step",
    "resolve_memo",
    "run_to_end",
]

_T = TypeVar("_T")

logger = logging.getLogger("steppe")

# Set while a step's handler runs, so a step started inside it is caught.
_running_step: contextvars.ContextVar[StepId | None] = contextvars.ContextVar("steppe_running_step", default=None)


@dataclass(eq=False, slots=True)
class ParallelGroup:
    """One ``step.parallel`` call: the ids its branches' steps took, to warn when branches share an id."""

    taken: list[StepId] = field(default_factory=list[StepId])


@dataclass(slots=True)
class Branch:
    """One branch of a ``step.parallel`` group, as seen by the steps started inside it.

    Sync branches run in threads, so the order in which they reach their first step is up to the OS. The
    turnstile (``previous`` / ``ready``) makes branch i take its first id only after branch i-1 took its own,
    so ids stay deterministic across replays, as they are for async branches.
    """

    mode: ParallelMode
    previous: threading.Event | None
    ready: threading.Event
    group: ParallelGroup

    def take_turn(self) -> None:
        if not self.ready.is_set():
            if self.previous is not None:
                self.previous.wait()
            self.ready.set()


_branch: contextvars.ContextVar[Branch | None] = contextvars.ContextVar("steppe_parallel_branch", default=None)


def current_branch() -> contextvars.ContextVar[Branch | None]:
    return _branch


def resolve_memo(step_id: StepId, memo: Memo, codec: Codec[_T], what: Owner) -> _T:
    """A stored result as the step's declared type, or its stored failure raised as ``StepError``."""
    if isinstance(memo, MemoData):
        return codec.load(memo.value, what)
    if isinstance(memo, MemoJson):
        return codec.load_json(memo.text, what)
    error = memo.error
    raise StepError(step_id.user_id, error.name, error.message, error.stack)


def describe_step(function_id: str, step_id: str) -> str:
    """How messages name a step: ``step 'fetch-user' of function 'app-onboard'``."""
    return f"step {step_id!r} of function {function_id!r}"


RequestFactory: TypeAlias = Callable[[StepId, ParallelMode | None], StepRequest]
"""Builds a step's request for the driver once the step turns out to have nothing stored."""


class StepRuntime:
    """Everything one attempt of one run needs to turn step calls into driver requests."""

    def __init__(self, *, driver: Driver, function_id: str, loop: asyncio.AbstractEventLoop | None) -> None:
        """``loop`` is where a sync function's new steps reach the driver. ``None`` resolves them in the body's own
        thread, for a body run inline (``execute``): its thread may block and runs no loop, and the driver's
        ``new_step`` never waits on anything."""
        self.driver = driver
        self.function_id = function_id
        self.loop = loop
        self._ids = StepIdAllocator()
        # Step calls made but not awaited yet (an ordered set): any left when the body returns never ran.
        self._unawaited: dict[StepCoroutine[Any], None] = {}
        self._warned_duplicates = False
        # A ThreadedDriver's step_from_thread (getattr: an isinstance check of the protocol costs ~30 µs an attempt).
        self._from_thread: FromThread | None = getattr(driver, "step_from_thread", None)

    def describe(self, step_id: str) -> str:
        return describe_step(self.function_id, step_id)

    def take_id(self, user_id: str) -> tuple[StepId, ParallelMode | None]:
        """The next step's id (program order) and the mode of the parallel group it runs in, if any."""
        if type(user_id) is not str or not user_id:
            raise StepUsageError(
                f"a step id must be a non-empty string, got {user_id!r} (function {self.function_id!r})"
            )
        running = _running_step.get()
        if running is not None:
            raise NestedStepError(
                f"step {user_id!r} was started inside the handler of step {running.user_id!r} "
                f"(function {self.function_id!r}); call steps from the function body, not from other steps"
            )
        branch = _branch.get()
        if branch is None:
            return self._ids.allocate(user_id), None
        branch.take_turn()
        step_id = self._ids.allocate(user_id)
        branch.group.taken.append(step_id)
        return step_id, branch.mode

    def call(self, user_id: str, codec: Codec[_T], what: Owner, request: RequestFactory) -> StepCoroutine[_T]:
        """An ``async def`` function's step: its id taken now (program order), the awaitable that resolves it."""
        step_id, mode = self.take_id(user_id)
        call = _StepCall(self, step_id, mode, codec, what, request)
        self._unawaited[call] = None
        return call

    def run_blocking(self, user_id: str, codec: Codec[_T], what: Owner, request: RequestFactory) -> _T:
        """A sync function's step, from its worker thread: resolved from storage right here when it has a stored
        result, else by the driver on this thread if it can (``ThreadedDriver``), else on the engine's loop (where
        drivers run), waiting for it; its sync handler runs back on this thread."""
        step_id, mode = self.take_id(user_id)
        memo = self.driver.memo(step_id)
        if memo is not None:
            return resolve_memo(step_id, memo, codec, what)
        if self.loop is None:
            result: _T = run_to_end(self.new_step(step_id, mode, request))
            return result
        built = request(step_id, mode)
        handled = None if self._from_thread is None else self._from_thread(built, self.loop)
        outcome = (
            handled[0] if handled is not None else block_on(self.loop, functools.partial(self.driver.new_step, built))
        )
        # A driver gives ``object``: the output of the step whose codec is ``codec``.
        output: _T = outcome  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
        return output

    def stored(self, step_id: StepId, codec: Codec[_T], what: Owner) -> tuple[_T] | None:
        """A step call's stored result, in a 1-tuple (a stored result may be None), or None if it has none."""
        memo = self.driver.memo(step_id)
        return None if memo is None else (resolve_memo(step_id, memo, codec, what),)

    async def new_step(self, step_id: StepId, mode: ParallelMode | None, request: RequestFactory) -> Any:
        return await self.driver.new_step(request(step_id, mode))

    def group_call(self, size: int, gather: Callable[[], Coroutine[Any, Any, _T]]) -> StepCoroutine[_T]:
        """The awaitable of a ``step.parallel`` group of ``size`` branches, which ``gather`` runs."""
        call = _GroupCall(self, gather, f"a step.parallel group of {size} (function {self.function_id!r})")
        self._unawaited[call] = None
        return call

    def awaited(self, call: StepCoroutine[Any]) -> None:
        self._unawaited.pop(call, None)

    def check_all_awaited(self) -> None:
        """Raise ``StepUsageError`` if the body made step calls it never awaited: those steps never ran.

        Failing the run (rather than running them) is deliberate: the function returned without their results,
        so running them now would do work, with side effects, that the code does not wait for nor see fail.
        """
        if self._unawaited:
            names = ", ".join(call.describe() for call in self._unawaited)
            verb = "was" if len(self._unawaited) == 1 else "were"
            raise StepUsageError(
                f"{names} {verb} never awaited, so never ran: a step method returns a StepCall that runs only when "
                "awaited; write `await step.run(...)` (or pass the call to `step.parallel` or `asyncio.gather`)"
            )

    def warn_duplicate_ids(self, group: ParallelGroup) -> None:
        """Warn (once per attempt) when branches of one parallel group took the same step id."""
        if self._warned_duplicates or self.driver.replaying():
            return
        by_user_id: dict[str, list[str]] = {}
        for step_id in sorted(group.taken, key=lambda taken: taken.position):
            by_user_id.setdefault(step_id.user_id, []).append(step_id.deduplicated)
        repeated = {user_id: ids for user_id, ids in by_user_id.items() if len(ids) > 1}
        if not repeated:
            return
        self._warned_duplicates = True
        described = "; ".join(
            f"{user_id!r} {len(ids)} times ({', '.join(map(repr, ids))})" for user_id, ids in repeated.items()
        )
        logger.warning(
            "steppe: function %r: one step.parallel group uses the same step id more than once: %s. Each branch "
            "should take its own id; a lambda made in a loop sees the loop variable's last value, so bind each "
            'value with step.defer(f"get-{user}", get_user, user) instead',
            self.function_id,
            described,
        )

    def bind_handler(
        self, step_id: StepId, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> Callable[[], Awaitable[object]]:
        """The step's handler bound to its args, guarded against nested steps.

        A coroutine function runs on the loop; anything else runs off it (on the thread of the sync body that
        waits for this step, else in a worker thread) so a blocking handler never stalls the other branches (its
        result is awaited if it turns out to be awaitable, e.g. a lambda around a coroutine function). Without a
        loop (a body run inline, see ``__init__``) the handler runs right in the calling thread, which may block,
        and the returned coroutine never waits: a coroutine the handler gives runs on a loop of its own.
        """

        loop = self.loop  # not ``self``: the request holding this closure must not reach back to the driver holding it

        async def execute() -> object:
            token = _running_step.set(step_id)
            try:
                if loop is None:
                    return _run_here(handler, args)
                if inspect.iscoroutinefunction(handler):
                    return await handler(*args)
                result = await run_blocking(handler, *args)
                if inspect.isawaitable(result):
                    return await result
                return result
            finally:
                _running_step.reset(token)

        return execute

    def bind_blocking(
        self, step_id: StepId, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> Callable[[], object] | None:
        """A plain handler bound to its args to run on the calling thread, as ``bind_handler`` runs it off the loop
        (guarded against nested steps, in a copy of the context); an awaitable result comes back as a coroutine
        that awaits it under the same guard, for the loop. ``None`` for a coroutine function or without a loop."""
        if self.loop is None or inspect.iscoroutinefunction(handler):
            return None
        return functools.partial(_run_guarded, step_id, handler, args)


def _run_guarded(step_id: StepId, handler: Callable[..., Any], args: tuple[Any, ...]) -> object:
    return contextvars.copy_context().run(_guarded, step_id, handler, args)


def _guarded(step_id: StepId, handler: Callable[..., Any], args: tuple[Any, ...]) -> object:
    _running_step.set(step_id)  # in the copy of the context this runs in
    result = handler(*args)
    return _awaited_guarded(step_id, result) if inspect.isawaitable(result) else result


async def _awaited_guarded(step_id: StepId, awaitable: Awaitable[_T]) -> _T:
    token = _running_step.set(step_id)
    try:
        return await awaitable
    finally:
        _running_step.reset(token)


def _run_here(handler: Callable[..., Any], args: tuple[Any, ...]) -> object:
    result = handler(*args)
    if inspect.isawaitable(result):
        import asyncio  # here, not at the top: importing steppe must not load asyncio's event loop machinery

        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


def run_to_end(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine``, which must never wait on anything, to its end in the calling thread, with no event loop.

    For the steps of a body run inline (``execute``'s ``inline``): the driver answers them at once.
    """
    try:
        waited = coroutine.send(None)
    except StopIteration as done:
        result: _T = done.value
        return result
    coroutine.close()
    raise RuntimeError(f"steppe: {coroutine!r} waited on {waited!r} where no event loop runs")


class _StepCall(StepCoroutine[_T]):
    """One step of an ``async def`` function: answered from storage, else its request goes to the driver."""

    __slots__ = ("_codec", "_id", "_mode", "_request", "_runtime", "_what")

    def __init__(
        self,
        runtime: StepRuntime,
        step_id: StepId,
        mode: ParallelMode | None,
        codec: Codec[_T],
        what: Owner,
        request: RequestFactory,
    ) -> None:
        super().__init__()
        self._runtime = runtime
        self._id = step_id
        self._mode: ParallelMode | None = mode
        self._codec = codec
        self._what = what
        self._request = request

    def _stored(self) -> tuple[_T] | None:
        self._runtime.awaited(self)
        return self._runtime.stored(self._id, self._codec, self._what)

    def _resolve(self) -> Coroutine[Any, Any, _T]:
        return self._runtime.new_step(self._id, self._mode, self._request)

    def describe(self) -> str:
        return self._runtime.describe(self._id.deduplicated)


class _GroupCall(StepCoroutine[_T]):
    """A ``step.parallel`` group: not a step, nothing stored of its own (its steps answer from storage)."""

    __slots__ = ("_description", "_gather", "_runtime")

    def __init__(self, runtime: StepRuntime, gather: Callable[[], Coroutine[Any, Any, _T]], description: str) -> None:
        super().__init__()
        self._runtime = runtime
        self._gather = gather
        self._description = description

    def _stored(self) -> None:
        self._runtime.awaited(self)

    def _resolve(self) -> Coroutine[Any, Any, _T]:
        return self._gather()

    def describe(self) -> str:
        return self._description
