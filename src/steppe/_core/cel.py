"""The CEL runtime behind ``steppe._core.expressions``; only that module imports this one, on first use.

Importing it loads ``celpy`` and builds the one CEL environment (together about half a second), which is why
``steppe._core.expressions`` defers it until the first expression is compiled. Parsing and evaluation are done by
``cel-python``'s tree-walking interpreter, never by Python's ``eval``/``exec``. On top of it this module adds:

* checks at definition time: syntax, names (only the expression's variables and comprehension variables), an
  allow-list of functions, a nesting limit, and, for a condition, an obviously non-boolean result;
* one conversion of JSON to CEL values, which reads integers beyond int64 as doubles;
* CEL-spec equality: numbers compare by value across int/uint/double (JSON gives ``10`` or ``10.0`` for the same
  amount) and values of different kinds are unequal rather than an error; for the same reason, arithmetic mixing
  an int and a double is done in double;
* evaluation errors such as a missing field mean "no match" for a condition and the value ``null`` for a key.

The supported subset is documented for users in ``docs/expressions.md``.
"""

from __future__ import annotations

import json
import logging
import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, cast

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELFunction, Result, base_functions

from steppe._core.errors import ExpressionError

__all__ = ["CONDITION_VARIABLES", "KEY_VARIABLES", "Equality", "Program", "compile_program", "equality_key"]

_logger = logging.getLogger("steppe._core.expressions")

CONDITION_VARIABLES: Final = frozenset({"event", "async"})
"""The free variables of a condition (``if_exp``): the run's triggering event and the incoming event."""

KEY_VARIABLES: Final = frozenset({"event"})
"""The free variable of a key: the event whose key is wanted."""

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


# A term ``event.<waiting> == async.<incoming>`` (either way round): the two paths of field names.
Equality = tuple[tuple[str, ...], tuple[str, ...]]


class Program:
    """A checked, compiled expression: a condition (see :meth:`matches`) or a key (see :meth:`key_value`).

    ``equalities``: for a condition, each term ``event.<path> == async.<path>`` that is the whole condition or one
    operand of its top-level ``&&`` chain, so the condition can hold only where that term holds.
    """

    def __init__(self, source: str, label: str, runner: celpy.Runner, equalities: tuple[Equality, ...] = ()) -> None:
        self.source = source
        self._label = label  # how messages name the expression: "if_exp" or "key"
        self._runner = runner
        self.equalities = equalities

    def matches(self, *, event: Mapping[str, object], incoming: Mapping[str, object]) -> bool:
        """Whether ``incoming`` (CEL ``async``) satisfies the condition for a run of ``event``.

        An evaluation error (a missing field or key, an index out of range, an operator applied
        to the wrong types, division by zero) means no match. A result that is not a boolean is
        an :class:`ExpressionError`, because no event could ever make such a condition sensible.
        """
        context = {"event": self._to_cel("event", event), "async": self._to_cel("async", incoming)}
        try:
            result = self._runner.evaluate(context)
        except CELEvalError as error:
            _logger.debug("if_exp %r does not match: %s", self.source, error.args[0])
            return False
        except _UNWRAPPED_DATA_ERRORS as error:
            # A few operations on unexpected data (a comprehension over null, say) escape
            # cel-python as plain Python errors; they are data errors all the same.
            _logger.debug("if_exp %r does not match: %r", self.source, error)
            return False
        except RecursionError:
            raise self._recursion_error() from None
        if not isinstance(result, celtypes.BoolType):
            raise ExpressionError(
                f"if_exp {self.source!r} must evaluate to a boolean, "
                f"but produced a value of type {_cel_type_name(result)}"
            )
        return bool(result)

    def key_value(self, event: Mapping[str, object]) -> str:
        """The key's value for ``event`` as JSON text; ``"null"`` when it cannot be evaluated (a missing field, say)."""
        try:
            result: object = self._runner.evaluate({"event": self._to_cel("event", event)})
        except CELEvalError as error:
            _logger.debug("key %r is null: %s", self.source, error.args[0])
            return "null"
        except (*_UNWRAPPED_DATA_ERRORS, ValueError) as error:
            _logger.debug("key %r is null: %r", self.source, error)
            return "null"
        except RecursionError:
            raise self._recursion_error() from None
        if isinstance(result, CELEvalError):
            return "null"
        # The text is stored (idempotency keys, rate-limit windows, held groups), so its form must not change.
        return json.dumps(result, sort_keys=True, default=str)

    def _to_cel(self, variable: str, event: Mapping[str, object]) -> celtypes.Value:
        try:
            return _json_to_cel(event)
        except TypeError as error:
            raise ExpressionError(
                f"{self._label} {self.source!r}: the {variable!r} event is not plain JSON data: {error}"
            ) from None

    def _recursion_error(self) -> ExpressionError:
        return ExpressionError(f"{self._label} {self.source!r} exceeded the Python recursion limit while evaluating")


class _CelEnvironment(Protocol):
    """The part of ``celpy.Environment`` we use, with lark's tree type spelled out."""

    def compile(self, text: str) -> lark.Tree[lark.Token]: ...

    def program(self, expr: lark.Tree[lark.Token], functions: dict[str, CELFunction] | None = None) -> celpy.Runner: ...


def _new_environment() -> _CelEnvironment:
    # Creating an Environment sets the interpreter-wide recursion limit to 2500; put the caller's
    # limit back so using an expression changes no global state. _MAX_TREE_DEPTH keeps us within it.
    previous_limit = sys.getrecursionlimit()
    environment = celpy.Environment()
    sys.setrecursionlimit(previous_limit)
    return environment


_ENVIRONMENT: Final = _new_environment()


def compile_program(source: str, *, label: str, variables: frozenset[str], boolean: bool) -> Program:
    """Parse and check ``source``, whose free variables are ``variables``; ``boolean``: it must be a condition.

    :class:`ExpressionError`, naming the expression by ``label``, when it is not valid.
    """
    try:
        tree = _ENVIRONMENT.compile(source)
    except CELParseError as error:
        where = f" at line {error.line}, column {error.column}" if error.line is not None else ""
        raise ExpressionError(f"{label} {source!r} has a syntax error{where}:\n{error.args[0]}") from None
    _Checker(source, label, variables).check(tree, boolean=boolean)
    equalities = _equalities(tree) if boolean else ()
    return Program(source, label, _ENVIRONMENT.program(tree, functions=_OPERATOR_OVERRIDES), equalities)


# --- definition-time checks ------------------------------------------------------------------


_Scoped = tuple[lark.Tree[lark.Token], frozenset[str]]


class _Checker:
    """Rejects unknown names and functions, excessive nesting and, in a condition, obviously non-boolean results."""

    def __init__(self, source: str, label: str, variables: frozenset[str]) -> None:
        self._source = source
        self._label = label
        self._variables = variables

    def check(self, tree: lark.Tree[lark.Token], *, boolean: bool) -> None:
        pending: list[tuple[lark.Tree[lark.Token], frozenset[str], int]] = [(tree, self._variables, 1)]
        while pending:
            node, names, depth = pending.pop()
            if depth > _MAX_TREE_DEPTH:
                raise self._error("is nested too deeply")
            children = self._checked_children(node, names)
            pending.extend((child, scope, depth + 1) for child, scope in children)
        non_boolean = _obviously_not_boolean(tree) if boolean else None
        if non_boolean is not None:
            raise self._error(f"must be a boolean condition, not {non_boolean}")

    def _error(self, problem: str) -> ExpressionError:
        return ExpressionError(f"{self._label} {self._source!r} {problem}")

    def _checked_children(self, node: lark.Tree[lark.Token], names: frozenset[str]) -> list[_Scoped]:
        """Check ``node`` itself; return its sub-trees, each with the variable names visible in it."""
        if node.data in ("ident", "dot_ident"):
            self._check_variable(_leading_token(node), names)
        elif node.data in ("ident_arg", "dot_ident_arg"):
            self._check_name(_leading_token(node), _FUNCTIONS, "function")
        elif node.data == "member_object":
            raise ExpressionError(
                f"{self._label} {self._source!r}{_position(node)}: "
                "message construction (Type{field: value}) is not supported"
            )
        elif node.data == "member_dot_arg":
            return self._method_children(node, names)
        return [(child, names) for child in node.children if isinstance(child, lark.Tree)]

    def _method_children(self, node: lark.Tree[lark.Token], names: frozenset[str]) -> list[_Scoped]:
        """Check ``target.method(args)``; a comprehension binds its first argument in the others."""
        target, method, *rest = node.children
        assert isinstance(target, lark.Tree) and isinstance(method, lark.Token)  # grammar guarantees
        arguments = rest[0] if rest and isinstance(rest[0], lark.Tree) else None
        if method.value not in _COMPREHENSIONS:
            self._check_name(method, _METHODS, "method")
            return [(target, names)] + ([(arguments, names)] if arguments is not None else [])
        bound = _bare_identifier(arguments.children[0]) if arguments is not None else None
        if arguments is None or bound is None:
            raise ExpressionError(
                f"{self._label} {self._source!r}{_token_position(method)}: {method.value}() needs a variable name "
                "as its first argument, as in list.exists(x, x > 0)"
            )
        # The target is evaluated outside the comprehension; the later arguments can see `bound`.
        return [(target, names)] + [
            (argument, names | {bound}) for argument in arguments.children[1:] if isinstance(argument, lark.Tree)
        ]

    def _check_variable(self, token: lark.Token, names: frozenset[str]) -> None:
        if token.value not in names:
            allowed = " and ".join(sorted(self._variables))
            available = "is" if len(self._variables) == 1 else "are"
            raise self._error(
                f"uses unknown variable {token.value!r}{_token_position(token)}; only {allowed} {available} available"
            )

    def _check_name(self, token: lark.Token, allowed: frozenset[str], kind: str) -> None:
        if token.value not in allowed:
            raise self._error(
                f"calls unsupported {kind} {token.value!r}{_token_position(token)}; "
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


def _unwrapped(node: lark.Tree[lark.Token]) -> lark.Tree[lark.Token]:
    while node.data in _WRAPPER_RULES and len(node.children) == 1 and isinstance(node.children[0], lark.Tree):
        node = node.children[0]
    return node


def _equalities(tree: lark.Tree[lark.Token]) -> tuple[Equality, ...]:
    """The ``event.<path> == async.<path>`` terms the condition needs: itself, or operands of its top ``&&``.

    CEL's ``&&`` is true only when every operand is true (an error or false in any operand makes it false or an
    error, never true), so the condition can hold only for events where each such term holds.
    """
    found: list[Equality] = []
    pending = [tree]
    while pending:
        node = _unwrapped(pending.pop())
        if node.data == "conditionaland" and len(node.children) == 2:
            pending.extend(child for child in reversed(node.children) if isinstance(child, lark.Tree))
            continue
        if node.data != "relation" or len(node.children) != 2:
            continue
        comparison, right = node.children
        if not (
            isinstance(comparison, lark.Tree) and comparison.data == "relation_eq" and isinstance(right, lark.Tree)
        ):
            continue
        left = comparison.children[0]
        sides = (_variable_path(left), _variable_path(right)) if isinstance(left, lark.Tree) else (None, None)
        paths = dict(side for side in sides if side is not None)
        if len(paths) == 2:  # one side reads the run's event, the other the incoming one
            found.append((paths["event"], paths["async"]))
    return tuple(found)


def _variable_path(node: lark.Tree[lark.Token]) -> tuple[str, tuple[str, ...]] | None:
    """("event" or "async", field names) when ``node`` is only a variable and field selections (``event.data.k``)."""
    fields: list[str] = []
    node = _unwrapped(node)
    while node.data == "member_dot":
        member, name = node.children
        if not (isinstance(member, lark.Tree) and isinstance(name, lark.Token)):
            return None
        fields.append(str(name.value))
        node = _unwrapped(member)
    if node.data != "ident":
        return None
    variable = str(_leading_token(node).value)
    return (variable, tuple(reversed(fields))) if variable in CONDITION_VARIABLES else None


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


_INT64_RANGE: Final = range(-(2**63), 2**63)


def _json_to_cel(value: object) -> celtypes.Value:
    # Rather than celpy.adapter.json_to_cel, which accepts only dict and raises on integers
    # outside int64. JSON numbers that large are read as doubles, as cel-go does with all JSON
    # numbers, so one odd field in an event cannot make a condition fail or a key null.
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


def equality_key(value: object) -> str | None:
    """A text two JSON values share exactly when they are equal under CEL equality (``_values_equal``).

    None for a value equal to nothing, not even itself (NaN, or a list or map holding one). Raises TypeError,
    ValueError or OverflowError for a value that has no key (one ``_json_to_cel`` cannot convert, or a map with
    keys other than strings): such a value is not indexed.
    """
    normal = _normal(_json_to_cel(value))
    return None if normal is _NOTHING else json.dumps(normal, sort_keys=True, separators=(",", ":"))


_NOTHING: Final = object()


def _normal(value: object) -> object:
    """``value`` with each number in one form per amount (ints, and integral doubles as ints), or _NOTHING."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    number = _plain_number(value)
    if number is not None:
        if isinstance(number, float) and number.is_integer():
            return int(number)
        return _NOTHING if number != number else number  # NaN equals nothing
    if value is None or isinstance(value, str):
        return None if value is None else str(value)
    if isinstance(value, list):
        items = [_normal(item) for item in cast(list[object], value)]
        return _NOTHING if any(item is _NOTHING for item in items) else items
    if isinstance(value, Mapping):
        entries = cast(Mapping[object, object], value)
        if not all(isinstance(key, str) for key in entries):
            raise TypeError("a map key that is not a string")
        normal = {str(key): _normal(item) for key, item in entries.items()}
        return _NOTHING if any(item is _NOTHING for item in normal.values()) else normal
    raise TypeError(f"a value of type {_cel_type_name(value)}")


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
