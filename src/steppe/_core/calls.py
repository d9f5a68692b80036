"""``StepCall``: what every step method returns, a coroutine to await; ``StepCoroutine``: the object behind it."""

from __future__ import annotations

import abc
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, TypeAlias, TypeVar

from steppe._core.outcomes import Interrupt

__all__ = ["StepCall", "StepCoroutine"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)

StepCall: TypeAlias = Coroutine[None, None, _T]
"""The declared type of a step call, ``await`` it for the step's result.

Exactly ``Coroutine`` (pyright warns about an unused coroutine only for that class itself, not a subclass)
and free of ``Any``: an ``Any`` in an argument's type makes checkers try more ``parallel`` overloads. So an
un-awaited ``step.run(...)`` statement is an error under pyright (``reportUnusedCoroutine``) and mypy
(``unused-coroutine``), both on by default. What the coroutine yields to the event loop is the loop's
business; the runtime object says ``Any`` there.
"""

_PENDING, _RUNNING, _DONE = range(3)


class StepCoroutine(Coroutine[Any, None, _T_co]):
    """A step that has its id but has not run yet; ``await`` it for the step's result.

    Step methods return this instead of a native coroutine because the step's id is taken when the method
    is called, in program order, which keeps ids deterministic under ``step.parallel`` and ``asyncio.gather``.
    Awaiting it again gives the same outcome without running the step again. It is a
    ``collections.abc.Coroutine`` (``send``/``throw``/``close`` drive one run of ``outcome``), so
    ``asyncio.create_task`` and ``asyncio.gather`` take it like any coroutine.

    Subclasses say where the outcome comes from: ``_stored`` answers from the run's stored results without
    touching the event loop (so a replay costs no loop turn), ``_resolve`` hands a new step to the driver. They are
    methods of one object rather than closures given to it: a replay makes one of these per step.
    """

    __slots__ = ("_driven", "_error", "_state", "_value")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._driven: Generator[Any, None, _T_co] | None = None  # the __await__ that send/throw drive

    @abc.abstractmethod
    def _stored(self) -> tuple[_T_co] | None:
        """``(result,)`` if the outcome is stored (raising a stored failure), else None."""

    @abc.abstractmethod
    def _resolve(self) -> Coroutine[Any, Any, _T_co]:
        """The outcome of a step with nothing stored."""

    @abc.abstractmethod
    def describe(self) -> str:
        """What this is, for messages: ``step 'x' of function 'f'``."""

    def __await__(self) -> Generator[Any, None, _T_co]:
        if self._state == _PENDING:
            self._state = _RUNNING
            try:
                found = self._stored()
                self._value = found[0] if found is not None else (yield from self._resolve().__await__())
            except Interrupt:
                # The attempt ends here and the step has no outcome. Not kept: the exception's traceback holds this
                # frame, so keeping it would make every suspended run a reference cycle for the GC to free.
                self._state = _PENDING
                raise
            except BaseException as error:
                self._state, self._error = _DONE, error
                raise
            self._state = _DONE
        elif self._state == _RUNNING:
            raise RuntimeError(f"{self.describe()} is being awaited twice at the same time")
        if self._error is not None:
            raise self._error
        result: _T_co = self._value
        return result

    def send(self, value: None, /) -> Any:
        if self._driven is None:
            self._driven = self.__await__()
        return self._driven.send(value)

    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: object = None,
        tb: TracebackType | None = None,
        /,
    ) -> Any:
        if self._driven is None:
            self._driven = self.__await__()
        if val is None and tb is None:  # the one-argument form, which asyncio uses (three arguments are deprecated)
            return self._driven.throw(typ)
        if isinstance(typ, type):
            return self._driven.throw(typ, val, tb)
        if val is not None:
            raise TypeError("instance exception may not have a separate value")  # as a native coroutine says
        return self._driven.throw(typ, None, tb)

    def close(self) -> None:
        if self._driven is not None:
            self._driven.close()

    async def outcome(self) -> _T_co:
        """The step's result (what ``await`` gives), as a native coroutine."""
        return await self

    def __repr__(self) -> str:
        return f"<StepCall {self.describe()}>"
