"""The per-attempt state behind ``Step`` and ``StepSync``: id allocation, memo lookup, nesting guard."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from steppe._core.calls import StepCall
from steppe._core.driver import Driver
from steppe._core.errors import NestedStepError, StepError, StepUsageError
from steppe._core.ids import StepId, StepIdAllocator
from steppe._core.outcomes import Memo, MemoData, MemoError, MemoJson
from steppe._core.requests import ParallelMode, StepRequest
from steppe._core.serde import Codec
from steppe._core.threads import run_in_step_pool

__all__ = ["Branch", "StepRuntime", "current_branch", "resolve_memo"]

_T = TypeVar("_T")

# Set while a step's handler runs, so a step started inside it is caught.
_running_step: contextvars.ContextVar[StepId | None] = contextvars.ContextVar("steppe_running_step", default=None)


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

    def __init__(self, *, driver: Driver, function_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.driver = driver
        self.function_id = function_id
        self.loop = loop
        self._ids = StepIdAllocator()

    def describe(self, step_id: str) -> str:
        return f"step {step_id!r} of function {self.function_id!r}"

    def call(
        self,
        user_id: str,
        codec: Codec[_T],
        request: Callable[[StepId, ParallelMode | None], StepRequest],
    ) -> StepCall[_T]:
        """Allocate the step's id now (program order) and return the awaitable that resolves it."""
        if not isinstance(user_id, str) or not user_id:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise StepUsageError(f"a step id must be a non-empty string, got {user_id!r} (function {self.function_id!r})")
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

        def stored() -> tuple[_T] | None:
            memo = self.driver.memo(step_id)
            return None if memo is None else (resolve_memo(step_id, memo, codec),)

        async def resolve() -> _T:
            value: _T = await self.driver.new_step(request(step_id, mode))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
            return value

        return StepCall(stored, resolve, self.describe(step_id.deduplicated))

    def bind_handler(
        self, step_id: StepId, handler: Callable[..., Any], args: tuple[Any, ...]
    ) -> Callable[[], Awaitable[object]]:
        """The step's handler bound to its args, guarded against nested steps.

        A coroutine function runs on the loop; anything else runs in a worker thread so a blocking handler
        never stalls the other branches (its result is awaited if it turns out to be awaitable, e.g. a lambda
        around a coroutine function).
        """

        async def execute() -> object:
            token = _running_step.set(step_id)
            try:
                if inspect.iscoroutinefunction(handler):
                    return await handler(*args)
                result = await run_in_step_pool(handler, *args)
                if inspect.isawaitable(result):
                    return await result
                return result
            finally:
                _running_step.reset(token)

        return execute

    def run_blocking(self, call: StepCall[_T]) -> _T:
        """Resolve ``call`` from a sync function's worker thread: from storage right here when the step has a
        stored result, else on the engine's loop (where drivers run), waiting for it."""
        found = call.stored_outcome()
        if found is not None:
            return found[0]
        return asyncio.run_coroutine_threadsafe(call.outcome(), self.loop).result()
