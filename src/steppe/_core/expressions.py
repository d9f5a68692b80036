"""Match conditions for ``step.wait_for_event(..., if_exp=...)``.

An ``if_exp`` is a CEL expression (the language Inngest uses for the same job) that sees two
variables: ``event``, the run's triggering event, and ``async``, the incoming candidate event.
Parsing and evaluation are done by ``cel-python``'s tree-walking interpreter, never by Python's
``eval``/``exec``. On top of it this module adds what the engine needs:

* checks at definition time: syntax, names (only ``event``, ``async`` and comprehension
  variables), an allow-list of functions, a nesting limit, and an obviously non-boolean result;
* CEL-spec equality: numbers compare by value across int/uint/double (JSON gives ``10`` or
  ``10.0`` for the same amount) and values of different kinds are unequal rather than an error;
  for the same reason, arithmetic mixing an int and a double is done in double;
* evaluation errors such as a missing field mean "no match" instead of an exception.

The supported subset is documented for users in ``docs/expressions.md``.
"""

from __future__ import annotations

import functools
import logging
import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, cast

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELFunction, Result, base_functions

__all__ = ["Expression", "ExpressionError", "compile_expression"]

_logger = logging.getLogger(__name__)

VARIABLES: Final = frozenset({"event", "async"})
"""The only free variables an ``if_exp`` may use."""

_FUNCTIONS: Final = frozenset({"size", "has", "int", "uint", "double", "string"})
_METHODS: Final = frozenset({"size", "contains", "startsWith", "endsWith"})
# Comprehension macros: ``list.exists(x, x > 1)`` binds ``x`` inside its later arguments.
_COMPREHENSIONS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})

# cel-python's interpreter uses about 4.7 Python frames per parse-tree level, so 100 levels need
# under 500 frames: half the default recursion limit, leaving the rest to the engine's own stack.
# Realistic conditions are 15-50 levels deep; 100 allows eight nested pairs of parentheses.
_MAX_TREE_DEPTH: Final = 100

_CEL_TYPE_NAMES: Final[Mapping[type, str]] = {
    celtypes.BoolType: "bool",
    celtypes.IntType: "int",
    celtypes.UintType: "uint",
    celtypes.DoubleType: "double",
    celtypes.StringType: "string",
    celtypes.BytesType: "bytes",
    celtypes.ListType: "list",
    celtypes.MapType: "map",
    type(None): "null",
}


_UNWRAPPED_DATA_ERRORS: Final = (TypeError, AttributeError, LookupError, ArithmeticError)


class ExpressionError(ValueError):
    """An ``if_exp`` that cannot be compiled, or whose value is not a boolean."""


@dataclass(frozen=True)
class Expression:
    """A compiled ``if_exp``; constructing one validates ``source`` (see compile_expression)."""

    source: str
    _program: celpy.Runner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_program", _compile_program(self.source))

    def matches(self, *, event: Mapping[str, object], incoming: Mapping[str, object]) -> bool:
        """Whether ``incoming`` (CEL ``async``) satisfies the condition for a run of ``event``.

        An evaluation error (a missing field or key, an index out of range, an operator applied
        to the wrong types, division by zero) means no match. A result that is not a boolean is
        an :class:`ExpressionError`, because no event could ever make such a condition sensible.
        """
        context = {
            "event": _to_cel(self.source, "event", event),
            "async": _to_cel(self.source, "async", incoming),
        }
        try:
            result = self._program.evaluate(context)
        except CELEvalError as error:
            _logger.debug("if_exp %r does not match: %s", self.source, error.args[0])
            return False
        except _UNWRAPPED_DATA_ERRORS as error:
            # A few operations on unexpected data (a comprehension over null, say) escape
            # cel-python as plain Python errors; they are data errors all the same.
            _logger.debug("if_exp %r does not match: %r", self.source, error)
            return False
        except RecursionError:
            raise ExpressionError(
                f"if_exp {self.source!r} exceeded the Python recursion limit while evaluating"
            ) from None
        if not isinstance(result, celtypes.BoolType):
            raise ExpressionError(
                f"if_exp {self.source!r} must evaluate to a boolean, "
                f"but produced a value of type {_cel_type_name(result)}"
            )
        return bool(result)


def compile_expression(source: str) -> Expression:
    """Parse and check ``source`` once; :class:`ExpressionError` if it is not a valid condition."""
    return Expression(source)


class _CelEnvironment(Protocol):
    """The part of ``celpy.Environment`` we use, with lark's tree type spelled out."""

    def compile(self, text: str) -> lark.Tree[lark.Token]: ...

    def program(self, expr: lark.Tree[lark.Token], functions: dict[str, CELFunction] | None = None) -> celpy.Runner: ...


def _new_environment() -> _CelEnvironment:
    # Creating an Environment sets the interpreter-wide recursion limit to 2500; put the caller's
    # limit back so importing steppe changes no global state. _MAX_TREE_DEPTH keeps us within it.
    previous_limit = sys.getrecursionlimit()
    environment = celpy.Environment()
    sys.setrecursionlimit(previous_limit)
    return environment


_ENVIRONMENT: Final = _new_environment()


@functools.lru_cache(maxsize=1024)
def _compile_program(source: str) -> celpy.Runner:
    # Cached by source: a workflow calls wait_for_event with the same if_exp on every replay.
    if not source.strip():
        raise ExpressionError("if_exp is empty; pass None to accept any event with the given name")
    try:
        tree = _ENVIRONMENT.compile(source)
    except CELParseError as error:
        where = f" at line {error.line}, column {error.column}" if error.line is not None else ""
        raise ExpressionError(f"if_exp {source!r} has a syntax error{where}:\n{error.args[0]}") from None
    _check_tree(source, tree)
    return _ENVIRONMENT.program(tree, functions=_OPERATOR_OVERRIDES)


# --- definition-time checks ------------------------------------------------------------------


def _check_tree(source: str, tree: lark.Tree[lark.Token]) -> None:
    """Reject unknown names and functions, excessive nesting and obviously non-boolean results."""
    pending: list[tuple[lark.Tree[lark.Token], frozenset[str], int]] = [(tree, VARIABLES, 1)]
    while pending:
        node, names, depth = pending.pop()
        if depth > _MAX_TREE_DEPTH:
            raise ExpressionError(f"if_exp {source!r} is nested too deeply")
        children = _checked_children(source, node, names)
        pending.extend((child, scope, depth + 1) for child, scope in children)
    non_boolean = _obviously_not_boolean(tree)
    if non_boolean is not None:
        raise ExpressionError(f"if_exp {source!r} must be a boolean condition, not {non_boolean}")


_Scoped = tuple[lark.Tree[lark.Token], frozenset[str]]


def _checked_children(source: str, node: lark.Tree[lark.Token], names: frozenset[str]) -> list[_Scoped]:
    """Check ``node`` itself; return its sub-trees, each with the variable names visible in it."""
    if node.data in ("ident", "dot_ident"):
        _check_variable(source, _leading_token(node), names)
    elif node.data in ("ident_arg", "dot_ident_arg"):
        _check_name(source, _leading_token(node), _FUNCTIONS, "function")
    elif node.data == "member_object":
        raise ExpressionError(
            f"if_exp {source!r}{_position(node)}: message construction (Type{{field: value}}) is not supported"
        )
    elif node.data == "member_dot_arg":
        return _method_children(source, node, names)
    return [(child, names) for child in node.children if isinstance(child, lark.Tree)]


def _method_children(source: str, node: lark.Tree[lark.Token], names: frozenset[str]) -> list[_Scoped]:
    """Check ``target.method(args)``; a comprehension binds its first argument in the others."""
    target, method, *rest = node.children
    assert isinstance(target, lark.Tree) and isinstance(method, lark.Token)  # grammar guarantees
    arguments = rest[0] if rest and isinstance(rest[0], lark.Tree) else None
    if method.value not in _COMPREHENSIONS:
        _check_name(source, method, _METHODS, "method")
        return [(target, names)] + ([(arguments, names)] if arguments is not None else [])
    bound = _bare_identifier(arguments.children[0]) if arguments is not None else None
    if arguments is None or bound is None:
        raise ExpressionError(
            f"if_exp {source!r}{_token_position(method)}: {method.value}() needs a variable name "
            "as its first argument, as in list.exists(x, x > 0)"
        )
    # The target is evaluated outside the comprehension; the later arguments can see `bound`.
    return [(target, names)] + [
        (argument, names | {bound}) for argument in arguments.children[1:] if isinstance(argument, lark.Tree)
    ]


def _check_variable(source: str, token: lark.Token, names: frozenset[str]) -> None:
    if token.value not in names:
        allowed = " and ".join(sorted(VARIABLES))
        raise ExpressionError(
            f"if_exp {source!r} uses unknown variable {token.value!r}{_token_position(token)}; "
            f"only {allowed} are available"
        )


def _check_name(source: str, token: lark.Token, allowed: frozenset[str], kind: str) -> None:
    if token.value not in allowed:
        raise ExpressionError(
            f"if_exp {source!r} calls unsupported {kind} {token.value!r}{_token_position(token)}; "
            f"supported: {', '.join(sorted(allowed))}"
        )


# Precedence rules that, with a single child, only wrap the sub-expression below them.
_WRAPPER_RULES: Final = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition"}
    | {"multiplication", "unary", "member", "primary", "paren_expr"}
)


def _obviously_not_boolean(tree: lark.Tree[lark.Token]) -> str | None:
    """Describe the top-level value if its shape alone shows it cannot be a boolean."""
    node = tree
    while node.data in _WRAPPER_RULES and len(node.children) == 1 and isinstance(node.children[0], lark.Tree):
        node = node.children[0]
    if node.data in ("addition", "multiplication"):
        return "an arithmetic result"
    if node.data == "unary" and _first_child_rule(node) == "unary_neg":
        return "a negated number"
    if node.data == "list_lit":
        return "a list"
    if node.data == "map_lit":
        return "a map"
    if node.data == "literal":
        token = _leading_token(node)
        if token.type != "BOOL_LIT":
            return f"the literal {token.value}"
    return None


def _bare_identifier(node: lark.Tree[lark.Token] | lark.Token) -> str | None:
    """The name if ``node`` is an expression consisting of a single identifier."""
    while isinstance(node, lark.Tree) and len(node.children) == 1:
        if node.data == "ident":
            return str(_leading_token(node))
        node = node.children[0]
    return None


def _leading_token(node: lark.Tree[lark.Token]) -> lark.Token:
    token = node.children[0]
    assert isinstance(token, lark.Token)  # every rule passed here starts with a terminal
    return token


def _first_child_rule(node: lark.Tree[lark.Token]) -> str | None:
    first = node.children[0]
    return str(first.data) if isinstance(first, lark.Tree) else None


def _token_position(token: lark.Token) -> str:
    return f" at line {token.line}, column {token.column}" if token.line is not None else ""


def _position(node: lark.Tree[lark.Token]) -> str:
    line: int | None = getattr(node.meta, "line", None)
    column: int | None = getattr(node.meta, "column", None)
    return f" at line {line}, column {column}" if line is not None else ""


# --- evaluation helpers ----------------------------------------------------------------------


def _to_cel(source: str, variable: str, event: Mapping[str, object]) -> celtypes.Value:
    try:
        return _json_to_cel(event)
    except TypeError as error:
        raise ExpressionError(f"if_exp {source!r}: the {variable!r} event is not plain JSON data: {error}") from None


_INT64_RANGE: Final = range(-(2**63), 2**63)


def _json_to_cel(value: object) -> celtypes.Value:
    # Rather than celpy.adapter.json_to_cel, which accepts only dict and raises on integers
    # outside int64. JSON numbers that large are read as doubles, as cel-go does with all JSON
    # numbers, so one odd field in an incoming event cannot make matching fail.
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, bool):  # tested before int: bool is an int subclass
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value) if value in _INT64_RANGE else celtypes.DoubleType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if value is None:
        return None
    if isinstance(value, Mapping):
        items = cast(Mapping[object, object], value).items()
        return celtypes.MapType({_json_to_cel(key): _json_to_cel(item) for key, item in items})
    if isinstance(value, (list, tuple)):
        return celtypes.ListType([_json_to_cel(item) for item in cast(Sequence[object], value)])
    raise TypeError(f"{type(value).__name__} value {value!r} has no JSON equivalent")


def _cel_type_name(value: object) -> str:
    return _CEL_TYPE_NAMES.get(type(value), type(value).__name__)


# --- CEL-spec equality and ordering ----------------------------------------------------------
# cel-python 0.5.0 treats `1 == 1.0` and `1 == "a"` as "no such overload" errors. The CEL spec
# (and Inngest's cel-go) compares numbers by value across int/uint/double and makes values of
# different kinds simply unequal. Event payloads are JSON, where 10 and 10.0 are the same amount,
# so we install spec-conformant operators.


def _plain_number(value: object) -> int | float | None:
    # Checked by value class rather than celtypes class: results such as `t + '!'` inside a
    # comprehension can come back as plain Python values. Booleans are not numbers in CEL.
    if isinstance(value, (bool, celtypes.BoolType)):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return None


def _kind(value: object) -> object:
    """CEL's notion of a value's type, where int, uint and double are all just numbers."""
    if isinstance(value, (bool, celtypes.BoolType)):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    return type(value)  # null, timestamp, duration and type values equal only their own kind


def _key_identity(key: object) -> object:
    """A hashable stand-in for a map key under CEL equality (1, 1u and 1.0 are the same key)."""
    number = _plain_number(key)
    return ("number", number) if number is not None else (_kind(key), key)


def _values_equal(left: object, right: object) -> bool:
    left_number, right_number = _plain_number(left), _plain_number(right)
    if left_number is not None and right_number is not None:
        return left_number == right_number
    if _kind(left) != _kind(right):
        return False
    if isinstance(left, list) and isinstance(right, list):
        left_items, right_items = cast(list[object], left), cast(list[object], right)
        return len(left_items) == len(right_items) and all(map(_values_equal, left_items, right_items))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        left_map = cast(Mapping[object, object], left)
        right_map = cast(Mapping[object, object], right)
        right_by_key = {_key_identity(key): value for key, value in right_map.items()}
        return len(left_map) == len(right_by_key) and all(
            _key_identity(key) in right_by_key and _values_equal(value, right_by_key[_key_identity(key)])
            for key, value in left_map.items()
        )
    return bool(left == right)


def _equal(left: Result, right: Result) -> Result:
    if isinstance(left, CELEvalError):
        return left
    if isinstance(right, CELEvalError):
        return right
    return celtypes.BoolType(_values_equal(left, right))


def _not_equal(left: Result, right: Result) -> Result:
    equal = _equal(left, right)
    return celtypes.BoolType(not equal) if isinstance(equal, celtypes.BoolType) else equal


def _numeric_ordering(operator_name: str, compare_numbers: Callable[[float, float], bool]) -> CELFunction:
    """Wrap cel-python's ordering operator so that int, uint and double compare with each other."""
    same_type_compare = base_functions[operator_name]

    def compare(left: Result, right: Result) -> Result:
        left_number, right_number = _plain_number(left), _plain_number(right)
        if left_number is None or right_number is None:
            return same_type_compare(left, right)
        return celtypes.BoolType(compare_numbers(left_number, right_number))

    return compare


def _mixed_arithmetic(operator_name: str) -> CELFunction:
    """Wrap cel-python's arithmetic operator so that an int mixed with a double gives a double.

    CEL itself has no mixed arithmetic and cel-python allows only some of it (``10.0 * 2`` works,
    ``2 * 10.0`` does not). JSON does not distinguish ``10`` from ``10.0``, so both must behave
    the same; two ints still use integer arithmetic.
    """
    same_type_operator = base_functions[operator_name]

    def apply(left: Result, right: Result) -> Result:
        if isinstance(left, celtypes.IntType) and isinstance(right, celtypes.DoubleType):
            left = celtypes.DoubleType(left)
        elif isinstance(left, celtypes.DoubleType) and isinstance(right, celtypes.IntType):
            right = celtypes.DoubleType(right)
        return same_type_operator(left, right)

    return apply


def _contains(item: Result, container: Result) -> Result:
    if isinstance(item, CELEvalError):
        return item
    if isinstance(container, CELEvalError):
        return container
    if isinstance(container, celtypes.ListType):
        return celtypes.BoolType(any(_values_equal(item, element) for element in container))
    if isinstance(container, celtypes.MapType):
        keys = {_key_identity(key) for key in container}
        return celtypes.BoolType(_key_identity(item) in keys)
    return base_functions["_in_"](item, container)


_OPERATOR_OVERRIDES: Final[dict[str, CELFunction]] = {
    "_==_": _equal,
    "_!=_": _not_equal,
    "_in_": _contains,
    "_<_": _numeric_ordering("_<_", operator.lt),
    "_<=_": _numeric_ordering("_<=_", operator.le),
    "_>_": _numeric_ordering("_>_", operator.gt),
    "_>=_": _numeric_ordering("_>=_", operator.ge),
    **{name: _mixed_arithmetic(name) for name in ("_+_", "_-_", "_*_", "_/_", "_%_")},
}
