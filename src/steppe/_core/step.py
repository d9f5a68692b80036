"""The step API a function receives: ``Step`` for ``async def`` functions, ``StepSync`` for plain ones.

Every method takes the step id first. ``Step`` methods return a ``StepCall`` to await; ``StepSync`` methods
block and return the result. This module holds ``parallel`` and ``group``; the other methods are typed inline
in ``step_methods``. Checkers read this module through ``stubs/steppe-stubs/_core/step.pyi`` (shipped beside
it in the wheel), where ``tools/generate_overloads.py`` writes one ``parallel`` overload per tuple arity: the
runtime keeps the single implementation, typed for a tuple of any length.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from steppe._core.calls import StepCall
from steppe._core.errors import StepUsageError
from steppe._core.groups import Group, SyncGroup
from steppe._core.outcomes import Interrupt
from steppe._core.requests import ParallelMode
from steppe._core.runtime import Branch, ParallelGroup, current_branch
from steppe._core.step_methods import StepMethods, StepSyncMethods

if TYPE_CHECKING:
    import asyncio

__all__ = ["Group", "Step", "StepSync", "SyncGroup"]

_T = TypeVar("_T")


def _check_callables(callables: object, method: str) -> tuple[Callable[[], Any], ...]:
    if not isinstance(callables, tuple):
        raise StepUsageError(
            f"{method} takes a tuple of zero-argument callables, got {type(callables).__name__}"
            + ("; wrap it in tuple(...)" if isinstance(callables, (list, Sequence)) else "")
        )
    checked = cast(tuple[object, ...], callables)
    for index, item in enumerate(checked):
        if not callable(item):
            raise StepUsageError(f"{method}: element {index} is not callable (got {type(item).__name__})")
    return cast(tuple[Callable[[], Any], ...], checked)


def _first_failure(outcomes: Sequence[object]) -> BaseException | None:
    """Which failure a parallel group re-raises: a suspension first (the run stops for the driver), then
    anything that is not an ordinary error, then the first error in callable order."""
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    interrupts = [f for f in failures if isinstance(f, Interrupt)]
    not_errors = [f for f in failures if not isinstance(f, Exception)]  # e.g. cancellation
    return next(iter(interrupts + not_errors + failures), None)


class Step(StepMethods):
    """Steps for an ``async def`` function. Each method returns a ``StepCall``: ``await`` it."""

    def group(self) -> Group[()]:
        """An empty typed parallel group: ``await step.group().add(f).add(g).parallel()``."""
        return Group(self, ())

    def parallel(
        self, callables: tuple[Callable[[], Awaitable[Any]], ...], /, *, mode: ParallelMode = "wait"
    ) -> StepCall[tuple[Any, ...]]:
        """Run the callables' steps concurrently; their results as a tuple, in callable order."""
        checked = _check_callables(callables, "step.parallel")
        runtime = self._runtime

        async def gather() -> tuple[Any, ...]:
            import asyncio  # here, not at the top: importing steppe must not load asyncio's event loop machinery

            group = ParallelGroup()
            tasks: list[asyncio.Task[Any]] = []
            for index, make in enumerate(checked):
                context = contextvars.copy_context()
                branch = Branch(mode=mode, previous=None, ready=threading.Event(), group=group)
                context.run(current_branch().set, branch)
                awaitable = context.run(make)
                if not isinstance(awaitable, Awaitable):
                    for task in tasks:
                        task.cancel()
                    raise StepUsageError(
                        f"step.parallel: element {index} returned {type(awaitable).__name__}, not an awaitable; "
                        "each element should be a lambda around a step method"
                    )
                step_call: Awaitable[Any] = awaitable  # pyright: ignore[reportUnknownVariableType]
                tasks.append(asyncio.get_running_loop().create_task(_await(step_call), context=context))
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            runtime.warn_duplicate_ids(group)
            failure = _first_failure(outcomes)
            if failure is not None:
                try:
                    raise failure
                finally:
                    del failure, outcomes, tasks  # they hold the error, whose traceback holds this frame: no cycle
            return tuple(outcomes)

        return runtime.group_call(len(checked), gather)


async def _await(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


class StepSync(StepSyncMethods):
    """Steps for a plain ``def`` function: the same methods as ``Step``, each blocking until it has a result."""

    def group(self) -> SyncGroup[()]:
        """An empty typed parallel group: ``step.group().add(f).add(g).parallel()``."""
        return SyncGroup(self, ())

    def parallel(self, callables: tuple[Callable[[], Any], ...], /, *, mode: ParallelMode = "wait") -> tuple[Any, ...]:
        """Run the callables concurrently in threads; their results as a tuple, in callable order."""
        checked = _check_callables(callables, "step.parallel")
        if not checked:
            return ()
        from concurrent.futures import Future, ThreadPoolExecutor  # here, not at the top, as asyncio in Step.parallel

        group = ParallelGroup()
        previous: threading.Event | None = None
        with ThreadPoolExecutor(max_workers=len(checked), thread_name_prefix="steppe-parallel") as pool:
            futures: list[Future[Any]] = []
            for make in checked:
                branch = Branch(mode=mode, previous=previous, ready=threading.Event(), group=group)
                previous = branch.ready
                context = contextvars.copy_context()
                context.run(current_branch().set, branch)
                futures.append(pool.submit(context.run, _run_branch, make, branch))
            outcomes: list[object] = []
            for future in futures:
                try:
                    outcomes.append(future.result())
                except BaseException as error:  # noqa: BLE001 - every branch's outcome is kept, see _first_failure
                    outcomes.append(error)
        self._runtime.warn_duplicate_ids(group)
        failure = _first_failure(outcomes)
        if failure is not None:
            try:
                raise failure
            finally:
                del failure, outcomes, futures  # as in Step.parallel: no cycle through this frame
        return tuple(outcomes)


def _run_branch(make: Callable[[], _T], branch: Branch) -> _T:
    try:
        return make()
    finally:
        branch.ready.set()  # a branch that took no step must not hold up the next one
