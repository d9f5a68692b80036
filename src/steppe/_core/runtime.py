"""The per-attempt state behind ``Step`` and ``StepSync``: id allocation, memo lookup, nesting guard."""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from steppe._core.calls import StepCoroutine
from steppe._core.driver import Driver
from steppe._core.errors import NestedStepError, StepError, StepUsageError
from steppe._core.ids import StepId, StepIdAllocator
from steppe._core.outcomes import Memo, MemoData, MemoError, MemoJson
from steppe._core.requests import ParallelMode, StepRequest
from steppe._core.serde import Codec
from steppe._core.threads import block_on, run_blocking

if TYPE_CHECKING:
    import asyncio

__all__ = ["Branch", "ParallelGroup", "StepRuntime", "current_branch", "resolve_memo", "run_to_end"]

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


def resolve_memo(step_id: StepId, memo: Memo, codec: Codec[_T]) -> _T:
    """A stored result as the step's declared type, or its stored failure raised as ``StepError``."""
    match memo:
        case MemoJson(text=text):
            return codec.load_json(text)
        case MemoData(value=value):
            return codec.load(value)
        case MemoError(error=error):
            raise StepError(step_id.user_id, error.name, error.message, error.stack)


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
        # Step calls made but not awaited yet, by de-duplicated id: any left when the body returns never ran.
        self._unawaited: dict[str, str] = {}
        self._groups = 0
        self._warned_duplicates = False

    def describe(self, step_id: str) -> str:
        return f"step {step_id!r} of function {self.function_id!r}"

    def call(
        self,
        user_id: str,
        codec: Codec[_T],
        request: Callable[[StepId, ParallelMode | None], StepRequest],
    ) -> StepCoroutine[_T]:
        """Allocate the step's id now (program order) and return the awaitable that resolves it."""
        if not isinstance(user_id, str) or not user_id:  # pyright: ignore[reportUnnecessaryIsInstance]
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
        if branch is not None:
            branch.take_turn()
        step_id = self._ids.allocate(user_id)
        mode = branch.mode if branch is not None else None
        if branch is not None:
            branch.group.taken.append(step_id)
        key = step_id.deduplicated
        description = self.describe(key)
        self._unawaited[key] = description

        def stored() -> tuple[_T] | None:  # the first thing a StepCoroutine does when it is awaited
            self._unawaited.pop(key, None)
            memo = self.driver.memo(step_id)
            return None if memo is None else (resolve_memo(step_id, memo, codec),)

        async def resolve() -> _T:
            value: _T = await self.driver.new_step(request(step_id, mode))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
            return value

        return StepCoroutine(stored, resolve, description)

    def group_call(self, size: int, gather: Callable[[], Coroutine[Any, Any, _T]]) -> StepCoroutine[_T]:
        """The awaitable of a ``step.parallel`` group of ``size`` branches, which ``gather`` runs."""
        self._groups += 1
        key = f"\0group-{self._groups}"  # never a step id: those have no NUL
        description = f"a step.parallel group of {size} (function {self.function_id!r})"
        self._unawaited[key] = description

        def not_stored() -> None:  # a group is not a step: its steps answer from storage themselves
            self._unawaited.pop(key, None)

        return StepCoroutine(not_stored, gather, description)

    def check_all_awaited(self) -> None:
        """Raise ``StepUsageError`` if the body made step calls it never awaited: those steps never ran.

        Failing the run (rather than running them) is deliberate: the function returned without their results,
        so running them now would do work, with side effects, that the code does not wait for nor see fail.
        """
        if self._unawaited:
            names = ", ".join(self._unawaited.values())
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

    def run_blocking(self, call: StepCoroutine[_T]) -> _T:
        """Resolve ``call`` from a sync function's worker thread: from storage right here when the step has a
        stored result, else on the engine's loop (where drivers run), waiting for it; a sync handler of the step
        runs back on this thread."""
        found = call.stored_outcome()
        if found is not None:
            return found[0]
        if self.loop is None:
            return run_to_end(call.outcome())
        return block_on(self.loop, call.outcome)


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
