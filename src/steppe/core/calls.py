"""``StepCall``: the awaitable every step method returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

__all__ = ["StepCall"]

_T_co = TypeVar("_T_co", covariant=True)

_PENDING, _RUNNING, _DONE = range(3)


class StepCall(Awaitable[_T_co], Generic[_T_co]):
    """A step that has its id but has not run yet; ``await`` it for the step's result.

    Step methods return this instead of a coroutine for two reasons. The step's id is taken when the method is
    called, in program order, which keeps ids deterministic under ``step.parallel`` and ``asyncio.gather``.
    And its type carries no ``Any`` (a coroutine is ``CoroutineType[Any, Any, T]``), which keeps type-checking
    overloaded ``parallel`` calls cheap. Awaiting it again gives the same outcome without running the step again.
    """

    __slots__ = ("_description", "_error", "_resolve", "_state", "_value")

    def __init__(self, resolve: Callable[[], Coroutine[Any, Any, _T_co]], description: str) -> None:
        self._resolve = resolve
        self._description = description
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    def __await__(self) -> Generator[Any, None, _T_co]:
        return self.outcome().__await__()

    async def outcome(self) -> _T_co:
        """The step's result (what ``await`` gives); a coroutine, for APIs that need one."""
        if self._state == _RUNNING:
            raise RuntimeError(f"{self._description} is being awaited twice at the same time")
        if self._state == _PENDING:
            self._state = _RUNNING
            try:
                self._value = await self._resolve()
            except BaseException as error:
                self._error = error
                raise
            finally:
                self._state = _DONE
        if self._error is not None:
            raise self._error
        value: _T_co = self._value
        return value

    def __repr__(self) -> str:
        return f"<StepCall {self._description}>"
