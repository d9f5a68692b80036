"""CEL expressions: the one place steppe compiles and evaluates them.

Two kinds, both in CEL (the language Inngest uses for the same jobs):

* a condition (:class:`Expression`): ``step.wait_for_event(..., if_exp=...)``, a trigger's ``expression``,
  ``Cancel.if_exp`` and ``BatchEvents.if_exp``. It sees ``event``, the run's triggering event, and ``async``, the
  incoming candidate event, and must produce a boolean; an evaluation error means no match.
* a key (:class:`KeyExpression`): ``key`` of Concurrency, RateLimit, Throttle, Debounce, BatchEvents and
  Singleton, and ``idempotency``. It sees ``event`` and may produce any JSON value, compared as JSON text; an
  evaluation error (a missing field, say) gives ``null``, so all such events share one key.

Both get the same checks at definition time (names, an allow-list of functions, a nesting limit), the same
JSON-to-CEL conversion and the same CEL-spec operators, from one CEL environment; each distinct source is compiled
once. That environment, and ``celpy`` itself, load on the first expression compiled: they live in
``steppe._core.cel``, which only this module imports. The supported subset is documented in ``docs/expressions.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, cast

from steppe._core.errors import ExpressionError

if TYPE_CHECKING:
    from steppe._core.cel import Program

__all__ = [
    "EqualityIndex",
    "Expression",
    "ExpressionError",
    "KeyExpression",
    "NotIndexable",
    "compile_expression",
    "compile_key_expression",
]


@dataclass(frozen=True)
class Expression:
    """A compiled condition (``if_exp``); constructing one validates ``source`` (see compile_expression)."""

    source: str
    _program: Program = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ExpressionError("if_exp is empty; pass None to accept any event with the given name")
        object.__setattr__(self, "_program", _compiled(self.source, "condition"))

    def matches(self, *, event: Mapping[str, object], incoming: Mapping[str, object]) -> bool:
        """Whether ``incoming`` (CEL ``async``) satisfies the condition for a run of ``event``.

        An evaluation error (a missing field or key, an index out of range, an operator applied
        to the wrong types, division by zero) means no match. A result that is not a boolean is
        an :class:`ExpressionError`, because no event could ever make such a condition sensible.
        """
        return self._program.matches(event=event, incoming=incoming)

    @property
    def index(self) -> EqualityIndex | None:
        """A term ``event.<path> == async.<path>`` the condition cannot hold without, to look candidates up by."""
        equalities = self._program.equalities
        return EqualityIndex(*equalities[0]) if equalities else None


class NotIndexable(Exception):
    """A value that has no equality key (see :meth:`EqualityIndex.key`): compare it by evaluating instead."""


@dataclass(frozen=True)
class EqualityIndex:
    """A term ``event.<waiting> == async.<incoming>`` of a condition, which holds only where the term does.

    The term holds exactly when both paths lead to values with the same :meth:`key`: so the runs whose
    ``waiting`` key equals an incoming event's ``incoming`` key are the only ones whose condition can hold for it.
    """

    waiting: tuple[str, ...]
    incoming: tuple[str, ...]

    @staticmethod
    def key(event: Mapping[str, object], path: tuple[str, ...]) -> str | None:
        """The equality key of the value at ``path`` in ``event`` (JSON data), as CEL selects fields.

        None when the term cannot hold: a field is missing or selected from something other than a map (an
        error in CEL), or the value equals nothing (NaN). :class:`NotIndexable` for a value with no key.
        """
        from steppe._core import cel

        value: object = event
        for name in path:
            value = _field(value, name)
            if value is _MISSING:
                return None
        try:
            return cel.equality_key(value)
        except (TypeError, ValueError, OverflowError) as error:
            raise NotIndexable(f"{value!r} has no equality key: {error}") from None


_MISSING: Final = object()


def _field(value: object, name: str) -> object:
    """``value.name`` as CEL selects it from JSON data (a map's entry), or _MISSING where CEL has an error."""
    if isinstance(value, Mapping) and name in value:
        return cast(Mapping[str, object], value)[name]
    return _MISSING


@dataclass(frozen=True)
class KeyExpression:
    """A compiled key: a CEL expression over ``event`` whose value (any JSON value) groups runs."""

    source: str
    _program: Program = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ExpressionError("a key expression must not be empty")
        object.__setattr__(self, "_program", _compiled(self.source, "key"))

    def value(self, event: Mapping[str, object]) -> str:
        """The key's value for ``event``, as JSON text (``"null"`` when it cannot be evaluated)."""
        return self._program.key_value(event)


def compile_expression(source: str) -> Expression:
    """Parse and check a condition once; :class:`ExpressionError` if it is not a valid one."""
    return Expression(source)


def compile_key_expression(source: str) -> KeyExpression:
    """Parse and check a key once; :class:`ExpressionError` if it is not a valid one."""
    return KeyExpression(source)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, kind: Literal["condition", "key"]) -> Program:
    # Cached by source: a workflow calls wait_for_event with the same if_exp on every replay, and the engine
    # compiles a trigger's expression for each event it sends.
    from steppe._core import cel  # loads celpy and builds the CEL environment, once

    if kind == "condition":
        return cel.compile_program(source, label="if_exp", variables=cel.CONDITION_VARIABLES, boolean=True)
    return cel.compile_program(source, label="key", variables=cel.KEY_VARIABLES, boolean=False)
