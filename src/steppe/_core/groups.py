"""``step.group()``: a parallel group typed at any length, one ``add`` per element (``Group``, ``SyncGroup``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar, cast

from typing_extensions import TypeVarTuple, Unpack

from steppe._core.calls import StepCall
from steppe._core.requests import ParallelMode

__all__ = ["Group", "SyncGroup"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


# What a group needs of ``Step`` / ``StepSync``: their plain ``parallel``. A protocol rather than the classes, so
# the groups type-check the same against the runtime ``step.py`` and against its stub (pyright reads the stub
# even while it checks the package's own source, and the stub's ``Step`` is another class).
class _Parallel(Protocol):
    """``Step`` as a ``Group`` uses it."""

    def parallel(
        self, callables: tuple[Callable[[], Awaitable[Any]], ...], /, *, mode: ParallelMode = "wait"
    ) -> StepCall[tuple[Any, ...]]: ...


class _SyncParallel(Protocol):
    """``StepSync`` as a ``SyncGroup`` uses it."""

    def parallel(
        self, callables: tuple[Callable[[], Any], ...], /, *, mode: ParallelMode = "wait"
    ) -> tuple[Any, ...]: ...


class Group(Generic[Unpack[_Ts]]):
    """A parallel group typed at any length: each ``add`` appends one element type to the result tuple.

    Use it past the arities ``parallel`` has overloads for, or to build a group step by step.
    """

    def __init__(self, step: _Parallel, callables: tuple[Callable[[], Awaitable[Any]], ...]) -> None:
        self._step = step
        self._callables = callables

    def add(self, callable: Callable[[], Awaitable[_T]], /) -> Group[Unpack[_Ts], _T]:
        """A new group with ``callable`` appended; its result type is appended to the tuple's."""
        return Group(self._step, (*self._callables, callable))

    def parallel(self, *, mode: ParallelMode = "wait") -> StepCall[tuple[Unpack[_Ts]]]:
        """``step.parallel`` of the group's callables: the results in the order they were added."""
        return cast("StepCall[tuple[Unpack[_Ts]]]", self._step.parallel(self._callables, mode=mode))


class SyncGroup(Generic[Unpack[_Ts]]):
    """``Group`` for ``StepSync``."""

    def __init__(self, step: _SyncParallel, callables: tuple[Callable[[], Any], ...]) -> None:
        self._step = step
        self._callables = callables

    def add(self, callable: Callable[[], _T], /) -> SyncGroup[Unpack[_Ts], _T]:
        """A new group with ``callable`` appended; its result type is appended to the tuple's."""
        return SyncGroup(self._step, (*self._callables, callable))

    def parallel(self, *, mode: ParallelMode = "wait") -> tuple[Unpack[_Ts]]:
        """``step.parallel`` of the group's callables: the results in the order they were added."""
        return cast("tuple[Unpack[_Ts]]", self._step.parallel(self._callables, mode=mode))
