"""The step API a function receives: ``Step`` for ``async def`` functions, ``StepSync`` for plain ones.

What this stub says and the source cannot: one ``parallel`` overload per tuple arity 0..N, then a fallback
for tuples of unknown length, so a literal tuple of callables gives the exact tuple of their results.
``tools/generate_overloads.py`` writes the marked blocks (N is its ``MAX_ARITY``); ``nox -s generated`` fails
when they are stale, and stubtest checks this stub against the runtime module. The other step methods are
typed inline in ``step_methods``, the groups in ``groups``.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

from steppe._core.calls import StepCall
from steppe._core.groups import Group, SyncGroup
from steppe._core.requests import ParallelMode
from steppe._core.step_methods import StepMethods, StepSyncMethods

__all__ = ["Group", "Step", "StepSync", "SyncGroup"]

_T = TypeVar("_T")

# BEGIN GENERATED: parallel type variables (tools/generate_overloads.py)
# fmt: off
_T1 = TypeVar("_T1")
_T2 = TypeVar("_T2")
_T3 = TypeVar("_T3")
_T4 = TypeVar("_T4")
_T5 = TypeVar("_T5")
_T6 = TypeVar("_T6")
_T7 = TypeVar("_T7")
_T8 = TypeVar("_T8")
_T9 = TypeVar("_T9")
_T10 = TypeVar("_T10")
_T11 = TypeVar("_T11")
_T12 = TypeVar("_T12")
# fmt: on
# END GENERATED: parallel type variables (tools/generate_overloads.py)

class Step(StepMethods):
    """Steps for an ``async def`` function. Each method returns a ``StepCall``: ``await`` it."""

    def group(self) -> Group[()]:
        """An empty typed parallel group: ``await step.group().add(f).add(g).parallel()``."""

    # Run the callables' steps concurrently; their results as a tuple, in callable order.
    # BEGIN GENERATED: parallel overloads for Step (tools/generate_overloads.py)
    # fmt: off
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
            Callable[[], Awaitable[_T8]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
            Callable[[], Awaitable[_T8]],
            Callable[[], Awaitable[_T9]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
            Callable[[], Awaitable[_T8]],
            Callable[[], Awaitable[_T9]],
            Callable[[], Awaitable[_T10]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
            Callable[[], Awaitable[_T8]],
            Callable[[], Awaitable[_T9]],
            Callable[[], Awaitable[_T10]],
            Callable[[], Awaitable[_T11]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], Awaitable[_T1]],
            Callable[[], Awaitable[_T2]],
            Callable[[], Awaitable[_T3]],
            Callable[[], Awaitable[_T4]],
            Callable[[], Awaitable[_T5]],
            Callable[[], Awaitable[_T6]],
            Callable[[], Awaitable[_T7]],
            Callable[[], Awaitable[_T8]],
            Callable[[], Awaitable[_T9]],
            Callable[[], Awaitable[_T10]],
            Callable[[], Awaitable[_T11]],
            Callable[[], Awaitable[_T12]],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[Callable[[], Awaitable[_T1]]],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T1]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[()],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[()]]: ...
    @overload
    def parallel(
        self,
        callables: tuple[Callable[[], Awaitable[_T]], ...],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[_T, ...]]: ...
    # fmt: on
    # END GENERATED: parallel overloads for Step (tools/generate_overloads.py)

class StepSync(StepSyncMethods):
    """Steps for a plain ``def`` function: the same methods as ``Step``, each blocking until it has a result."""

    def group(self) -> SyncGroup[()]:
        """An empty typed parallel group: ``step.group().add(f).add(g).parallel()``."""

    # Run the callables concurrently in threads; their results as a tuple, in callable order.
    # BEGIN GENERATED: parallel overloads for StepSync (tools/generate_overloads.py)
    # fmt: off
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
            Callable[[], _T8],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
            Callable[[], _T8],
            Callable[[], _T9],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
            Callable[[], _T8],
            Callable[[], _T9],
            Callable[[], _T10],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
            Callable[[], _T8],
            Callable[[], _T9],
            Callable[[], _T10],
            Callable[[], _T11],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11]: ...
    @overload
    def parallel(
        self,
        callables: tuple[
            Callable[[], _T1],
            Callable[[], _T2],
            Callable[[], _T3],
            Callable[[], _T4],
            Callable[[], _T5],
            Callable[[], _T6],
            Callable[[], _T7],
            Callable[[], _T8],
            Callable[[], _T9],
            Callable[[], _T10],
            Callable[[], _T11],
            Callable[[], _T12],
        ],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12]: ...
    @overload
    def parallel(
        self,
        callables: tuple[Callable[[], _T1]],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T1]: ...
    @overload
    def parallel(
        self,
        callables: tuple[()],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[()]: ...
    @overload
    def parallel(
        self,
        callables: tuple[Callable[[], _T], ...],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[_T, ...]: ...
    # fmt: on
    # END GENERATED: parallel overloads for StepSync (tools/generate_overloads.py)
