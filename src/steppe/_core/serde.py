"""Store step outputs as JSON and rebuild them as exactly the type the handler declared.

Every step output is persisted as JSON (SQLite on the embedded engine, the server's memo over HTTP). A
replay must hand the function the same value the first run saw: a ``tuple`` comes back as a tuple, a
``datetime`` as a datetime, a dataclass or pydantic model as that class. A :class:`Codec` does this for one
declared type with a pydantic ``TypeAdapter`` built once per type.

Decisions (where the type alone does not settle it):

* **dump validates in strict mode.** A ``str`` where ``datetime`` is declared, a ``list`` where ``tuple`` is
  declared, ``"5"`` where ``int`` is declared: all fail with :class:`OutputValueError` when the step returns,
  not on some later replay. Pydantic's strict mode lets an ``int`` through where ``float`` is declared (it is
  stored as a float) but refuses a ``bool`` where ``int`` is declared. Dataclass and model *instances* are
  not rebuilt field by field (that would re-run ``__post_init__`` and validators); their field values are
  checked by the serializer instead, which refuses a value whose type differs from the field's.
* **load validates the stored JSON in JSON mode** (``validate_json``), the mode pydantic designed for
  reading JSON back: a JSON string is a datetime only where a datetime is declared, a JSON array becomes a
  tuple, set or NamedTuple as declared. Union members are picked by pydantic's smart mode: an exact JSON
  match wins (``int | float`` keeps ``1`` and ``1.0`` apart, ``bool | int`` keeps ``True`` and ``1`` apart;
  a store that rewrote ``1.0`` as ``1`` would turn that member into ``int``, while a plain ``float`` stays float).
* **Ambiguous unions are refused up front** (:class:`UnsupportedTypeError` when the codec is built): a union
  whose members are stored in the same JSON shape, such as ``str | datetime`` (both strings),
  ``list[int] | tuple[int, ...]`` (both arrays) or two models where one accepts the other's fields. Such a
  value could come back as the other member on replay, which would make a durable function
  non-deterministic. Pydantic's discriminated unions (``Field(discriminator=...)``) are the way out for
  classes. Members stored as JSON scalars with an exact match (``None``, ``bool``, ``int``, ``float``,
  ``str``, string ``Literal``, ``Any``) never conflict with each other.
* **bytes are stored as URL-safe base64**, so any bytes (not only UTF-8) survive.
* **Non-finite floats are refused** (:class:`OutputValueError`): JSON has no ``nan``/``inf``, SQLite's JSON
  functions and the server's Go JSON parser reject them, and ``nan != nan`` would break replay comparisons.
  Strings with unpaired surrogates are refused for the same reason (they are not valid UTF-8).
* **pydantic models (and pydantic dataclasses, and TypedDicts with their own config) keep their own config**
  for their fields: set ``ser_json_bytes="base64"`` / ``val_json_bytes="base64"`` on a model that holds
  arbitrary bytes (otherwise non-UTF-8 bytes fail at dump), and note that a model's default
  ``ser_json_inf_nan="null"`` writes ``nan`` as ``null``. Stdlib dataclasses, NamedTuples and plain
  TypedDicts follow our settings.
* **Untyped steps get plain JSON back.** A handler with no return annotation (a lambda, for one) uses a
  codec that stores whatever ``pydantic_core`` can turn into JSON and returns the stored JSON data
  unchanged; ``Any`` and ``object`` inside a declared type behave the same way.
* **Aware datetimes keep their UTC offset, not their zone name** (a ``ZoneInfo`` comes back as a fixed
  offset). Offsets are written to the minute, as pydantic writes ISO 8601: the rare offset with seconds
  (local mean time in zones before 1972) loses them. Abstract containers come back as their concrete JSON form (``Sequence`` as ``list``, ``Mapping``
  as ``dict``); a subclass instance comes back as the declared class.
* A return annotation that still holds a type variable (``def f(x: T) -> T``) is refused: the runtime cannot
  know what ``T`` was, so pass ``output_type=`` instead.
"""

from __future__ import annotations

import abc
import collections.abc
import functools
import math
import types
import typing
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Generic, NamedTuple, TypeAlias, TypeVar, overload

import pydantic_core
from pydantic import (
    ConfigDict,
    JsonValue,
    PydanticUndefinedAnnotation,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticSerializationError
from typing_extensions import TypeAliasType

__all__ = [
    "UNTYPED",
    "Codec",
    "JsonValue",
    "OutputValueError",
    "Owner",
    "UnsupportedTypeError",
    "codec_for_callable",
    "codec_for_type",
]

_T = TypeVar("_T")


class UnsupportedTypeError(TypeError):
    """A declared return type whose values cannot be stored as JSON and rebuilt exactly."""


class OutputValueError(ValueError):
    """A runtime value that cannot be stored, or stored data that does not match the declared type."""


class _Untyped:
    """Marker type of :data:`UNTYPED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNTYPED"


UNTYPED: Final = _Untyped()
"""``Codec.declared`` of the plain-JSON codec used for handlers without a return annotation."""


# --------------------------------------------------------------------------------------------------
# Codecs
# --------------------------------------------------------------------------------------------------


Owner: TypeAlias = str | Callable[[], str]
"""Names whose value a codec handles, in its error messages, e.g. ``"step 'fetch-user' of function 'app-onboard'"``.

A callable is called only to build a message: a replayed step passes one, so a replay formats no name."""


def _owner_text(what: Owner) -> str:
    return what if isinstance(what, str) else what()


class Codec(abc.ABC, Generic[_T]):
    """Turns outputs of one declared type ``T`` into JSON data and back.

    One codec serves every step and function that declares ``T`` (they are cached, see ``codec_for_type``), so it
    does not know whose value it handles: each call that can fail takes ``what``, which its error names.
    ``dump``/``load`` work on JSON data (what ``json.dumps``/``json.loads`` handle); ``dump_json`` and
    ``load_json`` do the same straight to and from JSON text, which skips a pass through Python objects.
    """

    __slots__ = ("declared",)

    declared: object
    """The declared type, or :data:`UNTYPED` for the plain-JSON codec."""

    def __init__(self, declared: object) -> None:
        self.declared = declared

    def dump(self, value: _T, what: Owner) -> JsonValue:
        """Check ``value`` against the declared type and return it as JSON data."""
        data: JsonValue = pydantic_core.from_json(self.dump_json(value, what))
        return data

    @abc.abstractmethod
    def dump_json(self, value: _T, what: Owner) -> bytes:
        """Check ``value`` against the declared type and return it as UTF-8 JSON text."""

    @abc.abstractmethod
    def load(self, data: JsonValue, what: Owner) -> _T:
        """Rebuild the declared type from stored JSON data."""

    @abc.abstractmethod
    def load_json(self, raw: str | bytes, what: Owner) -> _T:
        """Rebuild the declared type from stored JSON text."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_type_name(self.declared)})"

    def _wrong_value(self, what: Owner, value: object, reason: str) -> OutputValueError:
        return OutputValueError(
            f"{_owner_text(what)} returned a value of type {_type_of(value)} that cannot be stored as its "
            f"declared return type {_type_name(self.declared)}: {reason}"
        )

    def _wrong_data(self, what: Owner, data: object, reason: str) -> OutputValueError:
        return OutputValueError(
            f"{_owner_text(what)}: the stored output (JSON {_json_kind(data)}) does not match the declared return "
            f"type {_type_name(self.declared)}: {reason}"
        )


class _TypedCodec(Codec[_T]):
    __slots__ = ("_adapter", "_validate_json")

    def __init__(self, declared: object, adapter: TypeAdapter[_T]) -> None:
        super().__init__(declared)
        self._adapter = adapter
        self._validate_json = adapter.validator.validate_json  # not through TypeAdapter: called per replayed step

    def dump_json(self, value: _T, what: Owner) -> bytes:
        try:
            # strict: refuse values that only lax coercion would accept (see the module docstring).
            checked = self._adapter.validate_python(value, strict=True)
            # warnings="error": inside dataclass/model instances the serializer is the type check.
            raw = self._adapter.dump_json(checked, warnings="error")
        except ValidationError as err:
            raise self._wrong_value(what, value, _summarize(err)) from None
        except PydanticSerializationError as err:
            raise self._wrong_value(what, value, _one_line(str(err))) from None
        _refuse_non_finite(raw, lambda reason: self._wrong_value(what, value, reason))
        return raw

    def load(self, data: JsonValue, what: Owner) -> _T:
        try:
            raw = pydantic_core.to_json(data)
        except PydanticSerializationError as err:
            raise self._wrong_data(what, data, f"it is not JSON data ({_one_line(str(err))})") from None
        try:
            value: _T = self._validate_json(raw)
        except ValidationError as err:
            raise self._wrong_data(what, data, _summarize(err)) from None
        return value

    def load_json(self, raw: str | bytes, what: Owner) -> _T:
        try:
            value: _T = self._validate_json(raw)
        except ValidationError as err:
            raise self._wrong_data(what, _parse_or_none(raw), _summarize(err)) from None
        return value


class _UntypedCodec(Codec[Any]):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(UNTYPED)

    def dump_json(self, value: Any, what: Owner) -> bytes:
        try:
            raw = pydantic_core.to_json(value, bytes_mode="base64", inf_nan_mode="constants")
        except PydanticSerializationError as err:
            raise OutputValueError(
                f"{_owner_text(what)} has no return annotation, so its output must be JSON-compatible, but it "
                f"returned a value of type {_type_of(value)}: {_one_line(str(err))} "
                "(declare a return type to store other types)"
            ) from None
        _refuse_non_finite(raw, lambda reason: self._wrong_value(what, value, reason))
        return raw

    def load(self, data: JsonValue, what: Owner) -> JsonValue:
        return data

    def load_json(self, raw: str | bytes, what: Owner) -> JsonValue:
        data: JsonValue = pydantic_core.from_json(raw)
        return data


_UNTYPED_CODEC: Final = _UntypedCodec()


# --------------------------------------------------------------------------------------------------
# Building codecs
# --------------------------------------------------------------------------------------------------


@overload
def codec_for_type(tp: type[_T], *, what: Owner) -> Codec[_T]: ...
@overload
def codec_for_type(tp: object, *, what: Owner) -> Codec[Any]: ...
def codec_for_type(tp: object, *, what: Owner) -> Codec[Any]:
    """The codec for values of the declared type ``tp``, built once per type (``what`` names the owner if the type
    cannot be stored).

    Raises :class:`UnsupportedTypeError` when values of ``tp`` cannot be stored as JSON and rebuilt exactly.
    """
    try:
        hashable = _is_hashable(tp)  # Annotated with unhashable metadata, say: built every time
        return _cached_codec(tp) if hashable else _TypedCodec(tp, _adapter_or_raise(tp))
    except _BuildError as err:
        # `what` is not part of the cache key, so the message is made here, with this caller's `what`.
        raise UnsupportedTypeError(f"{_owner_text(what)} declares return type {_type_name(tp)}, {err.reason}") from None


def codec_for_callable(fn: Callable[..., object], *, output_type: object | None = None, what: Owner) -> Codec[Any]:
    """The codec for what ``fn`` returns: ``output_type`` if given, else ``fn``'s return annotation.

    ``functools.partial`` objects, bound methods, callable objects and classes are looked through; an
    ``Awaitable[X]`` or ``Coroutine[..., X]`` annotation means ``X``. Without an annotation the plain-JSON
    codec (:data:`UNTYPED`) is used. The annotation is read once per underlying function.
    """
    if output_type is not None:
        return codec_for_type(output_type, what=what)
    target = fn if type(fn) is types.FunctionType else _annotation_owner(fn)  # the common case, first: per step
    try:
        codec = _callable_cache.get(target)
    except TypeError:  # not weak-referenceable (a builtin, say): nothing cached
        codec = None
    if codec is None:
        declared = _declared_return_type(target, what)
        codec = _UNTYPED_CODEC if declared is UNTYPED else codec_for_type(declared, what=what)
        _callable_cache_put(target, codec)
    return codec


# Keyed weakly by the function (or class) that carries the annotation, so handlers defined per call or
# per test do not pile up; bound methods and partials are fresh objects on every access, their function
# is not.
_callable_cache: weakref.WeakKeyDictionary[object, Codec[Any]] = weakref.WeakKeyDictionary()


def _callable_cache_put(target: object, codec: Codec[Any]) -> None:
    try:
        _callable_cache[target] = codec
    except TypeError:
        pass


def _annotation_owner(fn: object) -> object:
    """The function or class whose return annotation describes what calling ``fn`` returns."""
    while isinstance(fn, functools.partial):
        fn = typing.cast("functools.partial[object]", fn).func
    if isinstance(fn, types.MethodType):
        return fn.__func__
    if isinstance(fn, (types.FunctionType, types.BuiltinFunctionType, type)):
        return fn
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable object: its class's __call__ carries the annotations
    return call if call is not None else fn


def _declared_return_type(target: object, what: Owner) -> object:
    if isinstance(target, type):
        return target  # calling a class returns an instance of it
    if not hasattr(target, "__annotations__"):
        return UNTYPED  # builtins and other C callables carry no annotations
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - some annotation does not resolve: see whether the return annotation does
        annotations: dict[str, object] = getattr(target, "__annotations__", None) or {}
        hints = {} if "return" not in annotations else {"return": _resolve_alone(target, annotations["return"], what)}
    if "return" not in hints:
        return UNTYPED
    declared: object = hints["return"]
    origin = typing.get_origin(declared)
    if origin is collections.abc.Awaitable or origin is collections.abc.Coroutine:
        args = typing.get_args(declared)
        declared = args[-1] if args else UNTYPED
    return declared


def _resolve_alone(target: object, annotation: object, what: Owner) -> object:
    """``target``'s return annotation, resolved alone: the parameters' annotations (which steppe never needs)
    may name things the module does not define at run time, e.g. under ``from __future__ import annotations``."""

    def probe() -> None: ...

    probe.__annotations__ = {"return": annotation}
    namespace: dict[str, Any] | None = getattr(target, "__globals__", None)
    try:
        return typing.get_type_hints(probe, globalns=namespace, include_extras=True)["return"]
    except Exception as err:  # NameError for an unresolvable name, and whatever a broken annotation raises
        missing = f"name {err.name!r} is not defined" if isinstance(err, NameError) else f"{type(err).__name__}: {err}"
        hint = (
            f" (define or import {err.name!r} at the top of the module, not inside a function: annotations are "
            "resolved in the module's namespace)"
            if isinstance(err, NameError)
            else ""
        )
        raise UnsupportedTypeError(
            f"{_owner_text(what)}: cannot resolve the return annotation {annotation!r} of {_callable_name(target)}: {missing}{hint}"
        ) from err


# --------------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------------

_STORAGE_CONFIG: Final = ConfigDict(
    ser_json_bytes="base64",
    val_json_bytes="base64",
    allow_inf_nan=False,  # typed floats and Decimals: refuse nan/inf when validating
    ser_json_inf_nan="constants",  # untyped positions: write NaN so _refuse_non_finite sees it, not null
)

_CODEC_CACHE_SIZE: Final = 1024


def _is_hashable(tp: object) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


class _BuildError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Equal types share an entry: typing treats `int | str` and `str | int` as equal. That is harmless for the
# unions the ambiguity check below lets through, where member order cannot change the result (members it
# cannot classify, such as custom validators, are the exception, and are documented as pydantic's call).
@functools.lru_cache(maxsize=_CODEC_CACHE_SIZE)
def _cached_codec(tp: object) -> Codec[Any]:
    return _TypedCodec(tp, _adapter_or_raise(tp))


def _adapter_or_raise(tp: object) -> TypeAdapter[Any]:
    if isinstance(tp, (str, typing.ForwardRef)):
        raise _BuildError("which is an unresolved forward reference (resolve it with typing.get_type_hints)")
    free = _free_type_vars(tp)
    if free:
        names = ", ".join(sorted(str(var) for var in free))
        raise _BuildError(
            f"which holds the type variable(s) {names}: the runtime cannot tell what they stand for "
            "(pass output_type= with the concrete type)"
        )
    # Pydantic refuses a config for a top-level dataclass or TypedDict; an alias lets our settings reach
    # stdlib dataclasses and plain TypedDicts (which inherit the enclosing config) wherever they sit.
    aliased: Any = _make_alias("StepOutput", tp)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(aliased, config=_STORAGE_CONFIG)
        if not adapter.pydantic_complete:
            adapter.rebuild(raise_errors=True)
    except PydanticUndefinedAnnotation as err:
        raise _BuildError(f"which refers to a name that cannot be resolved: {_one_line(str(err))}") from None
    except PydanticUserError as err:  # schema generation errors: types pydantic does not know
        raise _BuildError(f"which pydantic cannot validate and serialize: {_one_line(str(err))}") from None
    problem = _schema_problem(adapter.core_schema)
    if problem is not None:
        raise _BuildError(problem)
    return adapter


# Called through a plain callable: type checkers only accept TypeAliasType(...) as a named declaration.
_make_alias: Final[Callable[[str, object], object]] = TypeAliasType


def _free_type_vars(tp: object) -> set[object]:
    if isinstance(tp, (TypeVar, typing.ParamSpec, typing.TypeVarTuple)):
        return {tp}
    found: set[object] = set()
    for arg in typing.get_args(tp):
        if isinstance(arg, (list, tuple)):  # Callable[[args], ret] nests its arguments in a list
            for inner in typing.cast("list[object] | tuple[object, ...]", arg):
                found |= _free_type_vars(inner)
        else:
            found |= _free_type_vars(arg)
    return found


# --------------------------------------------------------------------------------------------------
# Refusing types whose values cannot be stored and rebuilt exactly (checked on the pydantic core schema,
# where every annotation, dataclass field and model field is already resolved)
# --------------------------------------------------------------------------------------------------

_Node = Mapping[str, object]

_NOT_STORABLE: Final = {
    "callable": "a callable",
    "generator": "an iterator or generator (consumed lazily, it cannot be stored)",
    "is-subclass": "a class object (type[...])",
}

# JSON shapes a stored value can take.
_NULL, _BOOL, _NUMBER, _STRING, _ARRAY, _OBJECT = "null", "boolean", "number", "string", "array", "object"
_ANY_SHAPE: Final = frozenset({_NULL, _BOOL, _NUMBER, _STRING, _ARRAY, _OBJECT})


class _Member(NamedTuple):
    """How a union member is stored, for telling members apart when the stored JSON is read back."""

    name: str
    produces: frozenset[str]  # shapes its values are written as
    accepts: frozenset[str]  # shapes it reads back
    exact: bool  # a JSON scalar that pydantic's smart union matches exactly: its values always win
    keys: tuple[frozenset[str] | None, frozenset[str]] | None = None  # (all keys or None=any, required)


def _schema_problem(schema: object) -> str | None:
    """Why values of this core schema cannot round-trip through JSON, or None."""
    definitions: dict[str, _Node] = {}
    _collect_definitions(schema, definitions)
    checker = _SchemaChecker(definitions)
    node = _as_node(schema)
    return checker.problem(node) if node is not None else None


def _collect_definitions(value: object, into: dict[str, _Node]) -> None:
    node = _as_node(value)
    if node is not None:
        if node.get("type") == "definitions":
            for item in _as_list(node.get("definitions")):
                definition = _as_node(item)
                ref = definition.get("ref") if definition is not None else None
                if definition is not None and isinstance(ref, str):
                    into[ref] = definition
        for child in node.values():
            _collect_definitions(child, into)
    else:
        for item in _as_list(value):
            _collect_definitions(item, into)


class _SchemaChecker:
    def __init__(self, definitions: dict[str, _Node]) -> None:
        self._definitions = definitions

    def problem(self, node: _Node) -> str | None:
        for child in self._walk(node, set()):
            kind = child.get("type")
            if isinstance(kind, str) and kind in _NOT_STORABLE:
                return f"which holds {_NOT_STORABLE[kind]}: it cannot be stored as JSON"
            if kind == "enum":
                problem = _enum_problem(child)
            elif kind in ("union", "nullable"):
                problem = self._union_problem(child)
            elif kind == "dict":
                problem = self._dict_key_problem(child)
            else:
                problem = None
            if problem is not None:
                return problem
        return None

    def _walk(self, node: _Node, seen: set[str]) -> Iterator[_Node]:
        """This node and the schemas of everything stored inside it (items, fields, union members)."""
        node = self._resolve(node)
        ref = node.get("ref")
        if isinstance(ref, str):  # recursive types: look inside each definition once
            if ref in seen:
                return
            seen.add(ref)
        yield node
        for child in self._children(node):
            yield from self._walk(child, seen)

    def _resolve(self, node: _Node) -> _Node:
        while node.get("type") in ("definitions", "definition-ref"):
            if node.get("type") == "definitions":
                inner = _as_node(node.get("schema"))
            else:
                inner = self._definitions.get(str(node.get("schema_ref")))
            if inner is None:
                return node
            node = inner
        return node

    def _unwrap(self, node: _Node) -> _Node:
        """Look through references, defaults and validator functions to the schema that stores the value."""
        node = self._resolve(node)
        while node.get("type") in ("default", "function-after", "function-before", "function-wrap"):
            inner = _as_node(node.get("schema"))
            if inner is None:
                break
            node = self._resolve(inner)
        return node

    def _children(self, node: _Node) -> list[_Node]:
        kind = node.get("type")
        if kind in ("list", "set", "frozenset", "deque", "generator"):
            return _nodes([node.get("items_schema")])
        if kind == "tuple":
            return _nodes(_as_list(node.get("items_schema")))
        if kind == "dict":
            return _nodes([node.get("keys_schema"), node.get("values_schema")])
        if kind in ("nullable", "default", "function-after", "function-before", "function-wrap", "model"):
            return _nodes([node.get("schema")])
        if kind == "json-or-python":
            return _nodes([node.get("json_schema")])  # the JSON side is what reads stored data back
        if kind == "dataclass":
            args = _as_node(node.get("schema"))
            return _field_schemas(args.get("fields") if args is not None else None)
        if kind in ("model-fields", "typed-dict", "named-tuple"):
            return _field_schemas(node.get("fields"))
        if kind == "union":
            return _nodes([_union_choice(choice) for choice in _as_list(node.get("choices"))])
        if kind == "tagged-union":
            choices = _as_node(node.get("choices"))
            return _nodes(list(choices.values())) if choices is not None else []
        return []

    def _members(self, node: _Node) -> list[_Node]:
        """The members of a union or nullable schema (pydantic lifts `None` out of `X | Y | None`)."""
        if node.get("type") == "nullable":
            inner = _as_node(node.get("schema"))
            if inner is None:
                return [{"type": "none"}]
            inner = self._resolve(inner)
            flat = self._members(inner) if inner.get("type") in ("union", "nullable") else [inner]
            return [*flat, {"type": "none"}]
        return _nodes([_union_choice(choice) for choice in _as_list(node.get("choices"))])

    def _union_problem(self, node: _Node) -> str | None:
        members = [self._member(choice) for choice in self._members(node)]
        for index, first in enumerate(members):
            for second in members[index + 1 :]:
                if first is None or second is None:
                    continue  # a member we cannot classify (custom validator): give pydantic the benefit
                clash = _clash(first, second) or _clash(second, first)
                if clash is not None:
                    return (
                        f"whose union members {first.name} and {second.name} can both read back the same "
                        f"stored JSON {clash}, so a replay could return the other member; use one type, or a "
                        "pydantic discriminated union (Field(discriminator=...)) for classes"
                    )
        return None

    def _dict_key_problem(self, node: _Node) -> str | None:
        keys = _as_node(node.get("keys_schema"))
        if keys is None:
            return None
        keys = self._unwrap(keys)
        if keys.get("type") in ("union", "nullable"):
            return (
                f"whose dict keys are a union ({self._name(keys)}): JSON object keys are always strings, "
                "so the members cannot be told apart"
            )
        member = self._member(keys)
        if member is not None and member.produces & {_NULL, _ARRAY, _OBJECT}:
            return f"whose dict keys ({member.name}) cannot be JSON object keys, which are strings"
        return None

    def _member(self, node: _Node) -> _Member | None:
        """How values of this schema are stored and read back; None when we cannot tell."""
        node = self._unwrap(node)
        kind = node.get("type")
        name = self._name(node)
        if kind in _EXACT_SHAPES:
            return _Member(name, _EXACT_SHAPES[kind], _EXACT_SHAPES[kind], exact=True)
        if kind in _STRING_KINDS:
            return _Member(name, frozenset({_STRING}), _STRING_KINDS[kind], exact=False)
        if kind == "enum":
            shapes = _scalar_shapes([getattr(member, "value", member) for member in _as_list(node.get("members"))])
            return _Member(name, shapes, shapes, exact=False)
        if kind == "literal":
            values = _as_list(node.get("expected"))
            # A str or None value comes back as itself whichever member reads it; others (1 vs True,
            # enum members) may not.
            risky = [value for value in values if type(value) is not str and value is not None]
            return _Member(name, _scalar_shapes(risky), _scalar_shapes(values), exact=not risky)
        if kind in ("list", "tuple", "set", "frozenset", "deque", "generator"):
            return _Member(name, frozenset({_ARRAY}), frozenset({_ARRAY}), exact=False)
        if kind == "named-tuple":  # written as an array, but pydantic also reads an object of its fields
            return _Member(name, frozenset({_ARRAY}), frozenset({_ARRAY, _OBJECT}), exact=False)
        if kind == "dict":
            return _Member(name, frozenset({_OBJECT}), frozenset({_OBJECT}), False, (None, frozenset()))
        if kind == "model" and node.get("root_model"):
            inner = _as_node(node.get("schema"))
            return self._member(inner) if inner is not None else None
        if kind in ("model", "dataclass", "typed-dict"):
            return _Member(name, frozenset({_OBJECT}), frozenset({_OBJECT}), False, self._object_keys(node))
        if kind == "json-or-python":
            inner = _as_node(node.get("json_schema"))
            return self._member(inner) if inner is not None else None
        if kind in ("union", "nullable"):
            parts = [self._member(member) for member in self._members(node)]
            known = [part for part in parts if part is not None]
            if len(known) < len(parts):
                return None
            return _Member(
                name,
                frozenset().union(*(part.produces for part in known)),
                frozenset().union(*(part.accepts for part in known)),
                exact=all(part.exact for part in known),
            )
        return None

    def _object_keys(self, node: _Node) -> tuple[frozenset[str] | None, frozenset[str]]:
        """(every key written, the keys required to read) of a model, dataclass or TypedDict."""
        required_by_key: dict[str, bool] = {}
        if node.get("type") == "typed-dict":
            for name, field in _named_fields(node.get("fields")):
                required_by_key[_stored_key(name, field)] = bool(field.get("required", True))
        else:
            inner = _as_node(node.get("schema"))
            for name, field in _named_fields(inner.get("fields") if inner is not None else None):
                schema = _as_node(field.get("schema"))
                has_default = schema is not None and schema.get("type") == "default"
                required_by_key[_stored_key(name, field)] = not has_default
        required = frozenset(key for key, is_required in required_by_key.items() if is_required)
        return frozenset(required_by_key), required

    def _name(self, node: _Node) -> str:
        node = self._unwrap(node)
        cls = node.get("cls")
        if isinstance(cls, type):
            return cls.__qualname__
        kind = node.get("type")
        if kind == "literal":
            return f"Literal[{', '.join(map(repr, _as_list(node.get('expected'))))}]"
        if kind in ("union", "nullable"):
            return " | ".join(self._name(member) for member in self._members(node))
        return "None" if kind == "none" else str(kind)


_EXACT_SHAPES: Final[Mapping[object, frozenset[str]]] = {
    "any": _ANY_SHAPE,
    "none": frozenset({_NULL}),
    "bool": frozenset({_BOOL}),
    "int": frozenset({_NUMBER}),
    "float": frozenset({_NUMBER}),
    "str": frozenset({_STRING}),
}

# Schemas written as JSON strings -> the shapes pydantic reads back as them (temporal types and Decimal
# also read numbers: timestamps, seconds).
_STRING_KINDS: Final[Mapping[object, frozenset[str]]] = {
    **dict.fromkeys(("bytes", "uuid", "url", "multi-host-url", "complex"), frozenset({_STRING})),
    **dict.fromkeys(("date", "time", "datetime", "timedelta", "decimal"), frozenset({_STRING, _NUMBER})),
}


def _clash(writer: _Member, reader: _Member) -> str | None:
    """The JSON shape in which ``reader`` could capture values written by ``writer``, or None."""
    if writer.exact:
        return None  # pydantic prefers the exact JSON match, and that is the writer
    shared = writer.produces & reader.accepts
    if not shared:
        return None
    if shared == frozenset({_OBJECT}) and writer.keys is not None and reader.keys is not None:
        written_keys, _ = writer.keys
        _, required = reader.keys
        if written_keys is not None and not required <= written_keys:
            return None  # the reader requires a key the writer never writes
    return f"{'/'.join(sorted(shared))}"


def _scalar_shapes(values: list[object]) -> frozenset[str]:
    shapes: set[str] = set()
    for value in values:
        if value is None:
            shapes.add(_NULL)
        elif isinstance(value, (bool, int, float)):
            shapes.update((_BOOL, _NUMBER))  # pydantic matches True against 1 and back
        elif isinstance(value, str):
            shapes.add(_STRING)
        else:
            shapes.update(_ANY_SHAPE)
    return frozenset(shapes)


def _enum_problem(node: _Node) -> str | None:
    for member in _as_list(node.get("members")):
        value = getattr(member, "value", None)
        if value is not None and not isinstance(value, (str, int, float)):
            return (
                f"whose enum member {member!r} has a value of type {_type_of(value)}, which does not "
                "come back from JSON as the same value"
            )
    return None


def _field_schemas(fields: object) -> list[_Node]:
    return _nodes([field.get("schema") for _, field in _named_fields(fields)])


def _nodes(values: list[object]) -> list[_Node]:
    return [node for node in map(_as_node, values) if node is not None]


def _named_fields(fields: object) -> list[tuple[str, _Node]]:
    """(name, field) pairs of a model/typed-dict (a dict of fields) or dataclass/named-tuple (a list)."""
    pairs: list[tuple[str, _Node]] = []
    as_dict = _as_node(fields)
    if as_dict is not None:
        for name, field in as_dict.items():
            node = _as_node(field)
            if node is not None:
                pairs.append((name, node))
    else:
        for field in map(_as_node, _as_list(fields)):
            if field is not None:
                pairs.append((str(field.get("name")), field))
    return pairs


def _stored_key(name: str, field: _Node) -> str:
    alias = field.get("serialization_alias")
    return alias if isinstance(alias, str) else name


def _union_choice(choice: object) -> _Node | None:
    # A choice is a schema, or a (schema, label) pair.
    if isinstance(choice, tuple):
        return _as_node(typing.cast("tuple[object, ...]", choice)[0])
    return _as_node(choice)


def _as_node(value: object) -> _Node | None:
    return typing.cast(_Node, value) if isinstance(value, dict) else None


def _as_list(value: object) -> list[object]:
    return typing.cast("list[object]", value) if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------------
# Refusing JSON that would not survive storage
# --------------------------------------------------------------------------------------------------


def _refuse_non_finite(raw: bytes, error: Callable[[str], OutputValueError]) -> None:
    """Raise if ``raw`` holds NaN/Infinity (written by ser_json_inf_nan="constants")."""
    # The substring test is a fast pre-check; a string value containing "NaN" sends us to the real parse.
    if b"NaN" not in raw and b"Infinity" not in raw:
        return
    try:
        pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError:
        data: object = pydantic_core.from_json(raw, allow_inf_nan=True)
        where = _non_finite_path(data)
        raise error(f"it holds a non-finite float at {where or 'the top level'}, and JSON has no nan/inf") from None


def _non_finite_path(data: object) -> str | None:
    if isinstance(data, float) and not math.isfinite(data):
        return ""
    items: list[tuple[str, object]]
    if isinstance(data, dict):
        items = [(f".{key}", value) for key, value in typing.cast("dict[str, object]", data).items()]
    elif isinstance(data, list):
        items = [(f"[{index}]", value) for index, value in enumerate(typing.cast("list[object]", data))]
    else:
        return None
    for step, value in items:
        below = _non_finite_path(value)
        if below is not None:
            return step + below
    return None


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------

_MAX_ERRORS_SHOWN: Final = 3


def _summarize(err: ValidationError) -> str:
    """Pydantic's errors as `at <path>: <message>`, the first few only."""
    errors = err.errors(include_url=False)
    shown = [f"at {_loc_path(error['loc'])}: {error['msg']}" for error in errors[:_MAX_ERRORS_SHOWN]]
    more = len(errors) - _MAX_ERRORS_SHOWN
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return path.lstrip(".") or "the top level"


def _type_name(tp: object) -> str:
    if tp is UNTYPED:
        return "(no annotation)"
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__
    return repr(tp).replace("typing_extensions.", "").replace("typing.", "")


def _type_of(value: object) -> str:
    return _type_name(type(value))


def _json_kind(data: object) -> str:
    kinds: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}
    if data is None:
        return "null"
    return kinds.get(type(data), "number" if isinstance(data, float) else type(data).__name__)


def _callable_name(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parse_or_none(raw: str | bytes) -> object:
    try:
        return pydantic_core.from_json(raw)
    except ValueError:
        return raw
