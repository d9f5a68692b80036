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

    __slots__ = ("_description", "_error", "_resolve", "_state", "_stored", "_value")

    def __init__(
        self,
        stored: Callable[[], tuple[_T_co] | None],
        resolve: Callable[[], Coroutine[Any, Any, _T_co]],
        description: str,
    ) -> None:
        # ``stored`` answers from the run's stored results without touching the event loop (so a sync
        # function's worker thread can replay cheaply); ``resolve`` hands a new step to the driver.
        self._stored = stored
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
                found = self._stored()
                self._value = found[0] if found is not None else await self._resolve()
            except BaseException as error:
                self._error = error
                raise
            finally:
                self._state = _DONE
        if self._error is not None:
            raise self._error
        result: _T_co = self._value
        return result

    def stored_outcome(self) -> tuple[_T_co] | None:
        """``(result,)`` if the step's result is already known or stored (raising a stored failure), else None.

        Safe to call from any thread; a stored result also settles later awaits.
        """
        if self._state == _DONE:
            if self._error is not None:
                raise self._error
            done: tuple[_T_co] = (self._value,)
            return done
        if self._state == _RUNNING:
            return None
        try:
            found = self._stored()
        except BaseException as error:
            self._state, self._error = _DONE, error
            raise
        if found is not None:
            self._state, self._value = _DONE, found[0]
        else:
            self._stored = _nothing_stored  # checked already: the loop goes straight to the driver
        return found

    def __repr__(self) -> str:
        return f"<StepCall {self._description}>"


def _nothing_stored() -> None:
    return None
