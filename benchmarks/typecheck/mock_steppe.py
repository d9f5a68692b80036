"""A type-level model of steppe's step API, for measuring type-checker cost and inference.

Only the signatures matter; the bodies run steps inline so the module stays honest and
checkable in strict mode. run.py copies this file and regenerates the marked blocks with
other arities (tools/generate_overloads.py --max-arity N).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Literal, TypeAlias, TypeVar, TypeVarTuple, overload

__all__ = ["ParallelMode", "Step", "StepCall", "StepSync"]

ParallelMode = Literal["wait", "race"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_Ts = TypeVarTuple("_Ts")

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


# What a step method returns, as steppe declares it: exactly Coroutine, with Any-free type arguments.
StepCall: TypeAlias = Coroutine[None, None, _T]


async def _call(handler: Callable[..., object], args: tuple[object, ...]) -> object:
    result = handler(*args)
    if inspect.isawaitable(result):
        return await result
    return result


async def _nothing() -> None:
    return None


class Step:
    @overload
    def run(
        self,
        step_id: str,
        handler: Callable[[*_Ts], Awaitable[_R]],
        *args: *_Ts,
        output_type: type[_R] | None = None,
    ) -> StepCall[_R]: ...
    @overload
    def run(
        self,
        step_id: str,
        handler: Callable[[*_Ts], _R],
        *args: *_Ts,
        output_type: type[_R] | None = None,
    ) -> StepCall[_R]: ...
    def run(
        self, step_id: str, handler: Callable[..., object], *args: object, output_type: object = None
    ) -> StepCall[object]:
        return _call(handler, args)

    def sleep(self, step_id: str, seconds: float, /) -> StepCall[None]:
        return _nothing()

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
    def parallel(
        self,
        callables: tuple[Callable[[], Awaitable[object]], ...],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> StepCall[tuple[object, ...]]:
        async def run_each() -> tuple[object, ...]:
            return tuple([await c() for c in callables])

        return run_each()


class StepSync:
    def run(self, step_id: str, handler: Callable[[*_Ts], _R], *args: *_Ts, output_type: type[_R] | None = None) -> _R:
        return handler(*args)

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
    def parallel(
        self,
        callables: tuple[Callable[[], object], ...],
        /,
        *,
        mode: ParallelMode = "wait",
    ) -> tuple[object, ...]:
        return tuple(c() for c in callables)
