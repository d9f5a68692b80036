"""Step outputs survive JSON storage as exactly their declared type (steppe._core.serde)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import socket
import typing
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, Optional, TypeVar, Union

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import TypedDict

from steppe._core import serde
from steppe._core.serde import (
    UNTYPED,
    Codec,
    JsonValue,
    OutputValueError,
    UnsupportedTypeError,
    codec_for_callable,
    codec_for_type,
)

WHAT = "step 'fetch-user' of function 'app-onboard'"


def stored(data: JsonValue) -> JsonValue:
    """What comes back from storage: real JSON text, parsed again."""
    parsed: JsonValue = json.loads(json.dumps(data))
    return parsed


def round_trip(codec: Codec[Any], value: object) -> object:
    return codec.load(stored(codec.dump(value, WHAT)), WHAT)


def assert_same(expected: object, actual: object, path: str = "value") -> None:
    """Equal, and of exactly the same runtime type all the way down."""
    assert type(actual) is type(expected), f"{path}: {type(actual)!r} is not {type(expected)!r}"
    if isinstance(expected, enum.Enum):
        assert actual is expected, path
    elif isinstance(expected, float):
        assert isinstance(actual, float)
        assert actual == expected and math.copysign(1, actual) == math.copysign(1, expected), path
    elif isinstance(expected, Decimal):
        assert isinstance(actual, Decimal)
        assert actual.as_tuple() == expected.as_tuple(), path  # keeps precision and sign of zero
    elif isinstance(expected, (dt.datetime, dt.time)):
        # Same wall time and UTC offset (the zone's name is not stored). Not `==`: under PEP 495 a time in
        # a DST gap or fold never equals one in another tzinfo, even at the same instant.
        assert isinstance(actual, (dt.datetime, dt.time))
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), path
        assert actual.utcoffset() == expected.utcoffset(), path
    elif isinstance(expected, pydantic.BaseModel):
        assert isinstance(actual, pydantic.BaseModel)
        for name in type(expected).model_fields:
            assert_same(getattr(expected, name), getattr(actual, name), f"{path}.{name}")
    elif dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        for field in dataclasses.fields(expected):
            assert_same(getattr(expected, field.name), getattr(actual, field.name), f"{path}.{field.name}")
    elif isinstance(expected, (list, tuple)):
        items = typing.cast("list[object] | tuple[object, ...]", expected)
        actual_items = typing.cast("list[object] | tuple[object, ...]", actual)
        assert len(actual_items) == len(items), path
        for index, (want, got) in enumerate(zip(items, actual_items, strict=True)):
            assert_same(want, got, f"{path}[{index}]")
    elif isinstance(expected, dict):
        mapping = typing.cast("dict[object, object]", expected)
        actual_mapping = typing.cast("dict[object, object]", actual)
        assert actual_mapping.keys() == mapping.keys(), path
        actual_keys = {key: key for key in actual_mapping}
        for key, want in mapping.items():
            assert_same(key, actual_keys[key], f"{path} key {key!r}")
            assert_same(want, actual_mapping[key], f"{path}[{key!r}]")
    elif isinstance(expected, (set, frozenset)):
        members = typing.cast("set[object] | frozenset[object]", expected)
        actual_members = {member: member for member in typing.cast("set[object]", actual)}
        assert actual_members.keys() == members, path
        for member in members:
            assert_same(member, actual_members[member], f"{path} member {member!r}")
    else:
        assert actual == expected, path


# --------------------------------------------------------------------------------------------------
# Generated types and values
# --------------------------------------------------------------------------------------------------


class Color(str, enum.Enum):  # noqa: UP042 - the str mixin form users write, not StrEnum
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    ONE = 1
    TWO = "two"


class Maybe(enum.Enum):
    NOTHING = None
    SOMETHING = "x"


Spec = tuple[object, st.SearchStrategy[Any]]


def generic(origin: Any, first: object, *rest: object) -> object:
    """``origin[first, *rest]`` for types only known at runtime (type checkers cannot follow these)."""
    return origin[(first, *rest) if rest else first]


# The class factories, called with runtime field types (which type checkers cannot follow either).
make_typed_dict: Any = TypedDict
make_named_tuple: Any = NamedTuple
make_model: Any = pydantic.create_model

fixed_offsets = st.builds(
    dt.timezone, st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: dt.timedelta(minutes=m))
)
# pydantic writes UTC offsets to the minute; zones only had offsets with seconds before 1972 (local mean time).
aware_datetimes = st.datetimes(min_value=dt.datetime(1972, 1, 1), timezones=st.one_of(fixed_offsets, st.timezones()))

HASHABLE_SCALARS: list[Spec] = [
    (int, st.integers()),
    (str, st.text()),
    (bytes, st.binary()),
    (uuid.UUID, st.uuids()),
    (dt.date, st.dates()),
    (Decimal, st.decimals(allow_nan=False, allow_infinity=False)),
    (Color, st.sampled_from(Color)),
]

SCALARS: list[Spec] = [
    *HASHABLE_SCALARS,
    (type(None), st.none()),
    (None, st.none()),
    (bool, st.booleans()),
    (float, st.floats(allow_nan=False, allow_infinity=False)),
    (dt.datetime, st.one_of(st.datetimes(), aware_datetimes)),
    (dt.time, st.one_of(st.times(), st.times(timezones=fixed_offsets))),
    (dt.timedelta, st.timedeltas()),
    (Level, st.sampled_from(Level)),
    (Mixed, st.sampled_from(Mixed)),
    (Literal["a", "b"], st.sampled_from(["a", "b"])),
    (Literal[1, 2, 3], st.sampled_from([1, 2, 3])),
    # unions whose members pydantic tells apart exactly
    (int | str, st.one_of(st.integers(), st.text())),
    (int | float, st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))),
    (bool | int, st.one_of(st.booleans(), st.integers())),
    (bool | int | float | str | None, st.one_of(st.booleans(), st.integers(), st.floats(0, 1), st.text(), st.none())),
    (dt.datetime | int, st.one_of(st.datetimes(), st.integers())),
    (Decimal | float, st.one_of(st.decimals(allow_nan=False, allow_infinity=False), st.floats(0, 1))),
    (Optional[uuid.UUID], st.one_of(st.uuids(), st.none())),  # noqa: UP045 - the spelling under test
]

_class_names = iter(f"Generated{index}" for index in range(10**9))


def containers(inner: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
    """Types built around generated element types, with matching value strategies."""

    def list_of(spec: Spec) -> Spec:
        return generic(list, spec[0]), st.lists(spec[1], max_size=4)

    def variadic_tuple(spec: Spec) -> Spec:
        return generic(tuple, spec[0], ...), st.lists(spec[1], max_size=4).map(tuple)

    def fixed_tuple(specs: tuple[Spec, Spec]) -> Spec:
        (first, first_values), (second, second_values) = specs
        return generic(tuple, first, second), st.tuples(first_values, second_values)

    def dict_of(specs: tuple[Spec, Spec]) -> Spec:
        (key, keys), (value, values) = specs
        return generic(dict, key, value), st.dictionaries(keys, values, max_size=3)

    def set_of(spec: Spec) -> Spec:
        return generic(set, spec[0]), st.sets(spec[1], max_size=4)

    def frozenset_of(spec: Spec) -> Spec:
        return generic(frozenset, spec[0]), st.frozensets(spec[1], max_size=4)

    def optional(spec: Spec) -> Spec:
        return generic(Optional, spec[0]), st.one_of(st.none(), spec[1])

    def dataclass_of(specs: tuple[Spec, Spec]) -> Spec:
        (first, first_values), (second, second_values) = specs
        cls = dataclasses.make_dataclass(next(_class_names), [("first", first), ("second", second)])
        return cls, st.builds(cls, first_values, second_values)

    def typed_dict_of(specs: tuple[Spec, Spec]) -> Spec:
        (first, first_values), (second, second_values) = specs
        cls = make_typed_dict(next(_class_names), {"first": first, "second": second})
        return cls, st.fixed_dictionaries({"first": first_values, "second": second_values})

    def named_tuple_of(specs: tuple[Spec, Spec]) -> Spec:
        (first, first_values), (second, second_values) = specs
        cls = make_named_tuple(next(_class_names), [("first", first), ("second", second)])
        return cls, st.builds(cls, first_values, second_values)

    def model_of(specs: tuple[Spec, Spec]) -> Spec:
        (first, first_values), (second, second_values) = specs
        # A model keeps its own config: one that may hold arbitrary bytes asks for base64 itself.
        config = pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
        cls = make_model(next(_class_names), __config__=config, first=(first, ...), second=(second, ...))

        def build(first: object, second: object) -> object:
            return cls(first=first, second=second)

        return cls, st.builds(build, first_values, second_values)

    hashable = st.sampled_from(HASHABLE_SCALARS)
    pairs = st.tuples(inner, inner)
    return st.one_of(
        inner.map(list_of),
        inner.map(variadic_tuple),
        pairs.map(fixed_tuple),
        st.tuples(hashable, inner).map(dict_of),
        hashable.map(set_of),
        hashable.map(frozenset_of),
        inner.map(optional),
        pairs.map(dataclass_of),
        pairs.map(typed_dict_of),
        pairs.map(named_tuple_of),
        pairs.map(model_of),
    )


type_specs: st.SearchStrategy[Spec] = st.recursive(st.sampled_from(SCALARS), containers, max_leaves=6)

GENERATED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@GENERATED
@given(data=st.data(), spec=type_specs)
def test_values_come_back_equal_and_of_the_exact_declared_type(data: st.DataObject, spec: Spec) -> None:
    declared, values = spec
    value = data.draw(values)
    codec = codec_for_type(declared, what=WHAT)
    assert_same(value, round_trip(codec, value))


@GENERATED
@given(data=st.data(), spec=type_specs)
def test_json_text_path_matches_the_json_data_path(data: st.DataObject, spec: Spec) -> None:
    declared, values = spec
    value = data.draw(values)
    codec = codec_for_type(declared, what=WHAT)
    raw = codec.dump_json(value, WHAT)
    assert json.loads(raw) == codec.dump(value, WHAT)
    assert_same(value, codec.load_json(raw, WHAT))
    assert_same(value, codec.load_json(raw.decode(), WHAT))


@GENERATED
@given(
    data=st.data(),
    members=st.lists(st.recursive(st.sampled_from(SCALARS), containers, max_leaves=2), min_size=2, max_size=3),
)
def test_a_union_is_either_refused_up_front_or_comes_back_as_the_same_member(
    data: st.DataObject, members: list[Spec]
) -> None:
    declared = generic(Union, *(member for member, _ in members))
    try:
        codec = codec_for_type(declared, what=WHAT)
    except UnsupportedTypeError as err:
        assert "union" in str(err) or "dict keys" in str(err)
        return
    for _, values in members:
        value = data.draw(values)
        assert_same(value, round_trip(codec, value))


# --------------------------------------------------------------------------------------------------
# Exactness the generated tests might only hit by luck
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (int | str, 5),
        (int | str, "5"),
        (str | int, "5"),
        (int | float, 1),
        (int | float, 1.0),
        (float | int, 1.0),
        (bool | int, True),
        (bool | int, 1),
        (int | bool, True),
        (float, 1.0),
        (float, -0.0),
        (int, 2**100),
        (bytes, bytes(range(256))),
        (Decimal, Decimal("1.10")),
        (dt.datetime, dt.datetime(2024, 3, 31, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))),
        (dt.time, dt.time(23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
        (dt.timedelta, dt.timedelta(days=-1, microseconds=1)),
        (tuple[int, str], (1, "a")),
        (dict[int, Level], {1: Level.LOW}),
        (dict[dt.date, set[int]], {dt.date(2024, 1, 1): {1, 2}}),
        (Maybe, Maybe.NOTHING),
    ],
)
def test_exact_round_trips(declared: object, value: object) -> None:
    assert_same(value, round_trip(codec_for_type(declared, what=WHAT), value))


def test_an_int_returned_where_float_is_declared_is_stored_and_loaded_as_float() -> None:
    codec = codec_for_type(float, what=WHAT)
    assert_same(1.0, round_trip(codec, 1))


def test_a_float_stored_as_a_json_integer_by_another_writer_still_loads_as_float() -> None:
    assert_same(3.0, codec_for_type(float, what=WHAT).load(3, WHAT))


@dataclasses.dataclass
class Blob:
    name: str
    payload: bytes


class BlobDict(TypedDict):
    payload: bytes


def test_arbitrary_bytes_survive_inside_top_level_dataclasses_and_typeddicts() -> None:
    raw = b"\xff\xfe\x00\x80"
    assert_same(Blob("x", raw), round_trip(codec_for_type(Blob, what=WHAT), Blob("x", raw)))
    assert_same({"payload": raw}, round_trip(codec_for_type(BlobDict, what=WHAT), {"payload": raw}))


class PlainBytesModel(pydantic.BaseModel):
    payload: bytes


def test_a_model_keeps_its_own_bytes_config_and_fails_at_dump_not_at_replay() -> None:
    codec = codec_for_type(PlainBytesModel, what=WHAT)
    assert_same(PlainBytesModel(payload=b"ok"), round_trip(codec, PlainBytesModel(payload=b"ok")))
    with pytest.raises(OutputValueError, match="PlainBytesModel"):
        codec.dump(PlainBytesModel(payload=b"\xff"), WHAT)


# --------------------------------------------------------------------------------------------------
# Values that cannot be stored
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Reading:
    sensor: str
    values: list[float]


@pytest.mark.parametrize(
    ("declared", "value", "where"),
    [
        (float, math.nan, "the top level"),
        (list[float], [1.0, math.inf], "at [1]"),
        (dict[str, Any], {"a": [0, -math.inf]}, "at .a[1]"),
        (Reading, Reading("s", [1.0, math.nan]), "at .values[1]"),
        (Decimal, Decimal("NaN"), "finite"),
    ],
)
def test_non_finite_numbers_are_refused_at_dump(declared: object, value: object, where: str) -> None:
    with pytest.raises(OutputValueError) as caught:
        codec_for_type(declared, what=WHAT).dump(value, WHAT)
    assert WHAT in str(caught.value)
    assert where in str(caught.value)


def test_a_string_that_is_not_valid_unicode_is_refused_at_dump() -> None:
    with pytest.raises(OutputValueError, match="surrogate"):
        codec_for_type(list[str], what=WHAT).dump(["ok", "\ud800"], WHAT)


def test_a_string_containing_nan_is_a_string() -> None:
    codec = codec_for_type(dict[str, str], what=WHAT)
    assert_same({"NaN": "Infinity"}, round_trip(codec, {"NaN": "Infinity"}))


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (dt.datetime, "2024-01-01T00:00:00"),
        (int, "5"),
        (int, True),
        (tuple[int, str], [1, "a"]),
        (list[int], [1, "2"]),
        (Reading, {"sensor": "s", "values": []}),
        (Color, "red"),
        (Literal["a"], "b"),
    ],
)
def test_a_value_of_the_wrong_type_fails_dump_naming_the_step_the_declared_type_and_the_value_type(
    declared: object, value: object
) -> None:
    with pytest.raises(OutputValueError) as caught:
        codec_for_type(declared, what=WHAT).dump(value, WHAT)
    message = str(caught.value)
    assert WHAT in message
    assert serde._type_name(declared) in message  # pyright: ignore[reportPrivateUsage]
    assert type(value).__name__ in message


def test_a_wrong_typed_field_inside_a_dataclass_instance_fails_dump() -> None:
    not_a_str: Any = 5
    with pytest.raises(OutputValueError, match="Reading"):
        codec_for_type(Reading, what=WHAT).dump(Reading(sensor=not_a_str, values=[]), WHAT)


@pytest.mark.parametrize(
    ("declared", "data", "kind"),
    [
        (dt.datetime, "yesterday", "string"),
        (tuple[int, str], [1, 2], "array"),
        (Reading, {"sensor": "s"}, "object"),
        (int, None, "null"),
    ],
)
def test_stored_data_that_does_not_match_fails_load_naming_what_was_found(
    declared: object, data: JsonValue, kind: str
) -> None:
    codec = codec_for_type(declared, what=WHAT)
    loaders: list[Callable[[], object]] = [
        lambda: codec.load(data, WHAT),
        lambda: codec.load_json(json.dumps(data), WHAT),
    ]
    for load in loaders:
        with pytest.raises(OutputValueError) as caught:
            load()
        message = str(caught.value)
        assert WHAT in message and serde._type_name(declared) in message  # pyright: ignore[reportPrivateUsage]
        assert f"JSON {kind}" in message


# --------------------------------------------------------------------------------------------------
# Declared types that cannot be stored
# --------------------------------------------------------------------------------------------------

T = TypeVar("T")


class TupleValued(enum.Enum):
    ORIGIN = (0, 0)


class UserV1(pydantic.BaseModel):
    name: str


class UserV2(pydantic.BaseModel):
    name: str
    email: str = ""


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool


Dangling = dataclasses.make_dataclass("Dangling", [("other", "Undefined")])


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        (socket.socket, "pydantic cannot"),
        (Callable[[], int], "a callable"),
        (Iterator[int], "pydantic cannot"),
        (Generator[int, None, None], "generator"),
        (type[int], "class object"),
        (generic(list, T), "type variable"),
        ("int", "forward reference"),
        (Dangling, "cannot be resolved"),
        (TupleValued, "enum member"),
        (dict[tuple[int, int], str], "dict keys"),
        (dict[int | str, str], "dict keys"),
        (str | dt.datetime, "union members"),
        (dt.datetime | str, "union members"),
        (bytes | str, "union members"),
        (list[int] | tuple[int, ...], "union members"),
        (set[int] | list[int], "union members"),
        (Level | int, "union members"),
        (Optional[Maybe], "union members"),  # noqa: UP045 - the spelling under test
        (dict[str, int] | Reading, "union members"),
        (UserV1 | UserV2, "union members"),
        (list[str | Decimal], "union members"),
    ],
)
def test_unsupported_declared_types_are_refused_up_front_by_name(declared: object, reason: str) -> None:
    with pytest.raises(UnsupportedTypeError) as caught:
        codec_for_type(declared, what=WHAT)
    message = str(caught.value)
    assert WHAT in message
    assert serde._type_name(declared) in message  # pyright: ignore[reportPrivateUsage]
    assert reason in message


def test_models_with_distinct_required_fields_and_discriminated_unions_are_accepted() -> None:
    plain = codec_for_type(Cat | Dog, what=WHAT)
    tagged = codec_for_type(Annotated[Cat | Dog, pydantic.Field(discriminator="kind")], what=WHAT)
    for codec in (plain, tagged):
        assert_same(Cat(lives=9), round_trip(codec, Cat(lives=9)))
        assert_same(Dog(good=True), round_trip(codec, Dog(good=True)))


@dataclasses.dataclass
class Tree:
    label: str
    children: list[Tree]


def test_recursive_types_round_trip() -> None:
    value = Tree("root", [Tree("leaf", []), Tree("branch", [Tree("leaf", [])])])
    assert_same(value, round_trip(codec_for_type(Tree, what=WHAT), value))


# --------------------------------------------------------------------------------------------------
# The untyped fallback
# --------------------------------------------------------------------------------------------------


untyped: Callable[[object], object] = lambda x: x  # noqa: E731 - a lambda carries no annotations at runtime


def test_an_unannotated_handler_gets_plain_json_back() -> None:
    codec = codec_for_callable(untyped, what=WHAT)
    assert codec.declared is UNTYPED
    value = {"when": dt.datetime(2024, 1, 1), "pair": (1, 2), "blob": b"\xff", "tags": {"a"}}
    assert codec.dump(value, WHAT) == {"when": "2024-01-01T00:00:00", "pair": [1, 2], "blob": "_w==", "tags": ["a"]}
    data: JsonValue = {"pair": [1, 2]}
    assert codec.load(data, WHAT) is data
    assert codec.load_json('{"pair": [1, 2]}', WHAT) == data


@pytest.mark.parametrize(("value", "problem"), [(object(), "object"), ({"x": math.nan}, "non-finite")])
def test_the_untyped_fallback_refuses_values_that_are_not_json(value: object, problem: str) -> None:
    codec = codec_for_callable(lambda: value, what=WHAT)
    with pytest.raises(OutputValueError) as caught:
        codec.dump(value, WHAT)
    assert WHAT in str(caught.value) and problem in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Reading the declared type off a handler
# --------------------------------------------------------------------------------------------------


async def fetch_pair() -> tuple[int, dt.date]:
    return 1, dt.date(2024, 1, 1)


def awaitable_pair() -> Awaitable[tuple[int, dt.date]]:
    return fetch_pair()


def coroutine_pair() -> Coroutine[Any, Any, tuple[int, dt.date]]:
    return fetch_pair()


def pair_from(a: int, b: dt.date) -> tuple[int, dt.date]:
    return a, b


class Service:
    def pair(self) -> tuple[int, dt.date]:
        return 1, dt.date(2024, 1, 1)

    @classmethod
    def make_pair(cls) -> tuple[int, dt.date]:
        return 1, dt.date(2024, 1, 1)

    def __call__(self) -> tuple[int, dt.date]:
        return self.pair()


@pytest.mark.parametrize(
    "handler",
    [
        fetch_pair,
        awaitable_pair,
        coroutine_pair,
        functools.partial(pair_from, 1),
        functools.partial(functools.partial(pair_from, 1), dt.date(2024, 1, 1)),
        Service().pair,
        Service.make_pair,
        Service(),
    ],
    ids=["async-def", "awaitable", "coroutine", "partial", "nested-partial", "method", "classmethod", "object"],
)
def test_the_return_annotation_is_resolved_through_wrappers(handler: Callable[..., object]) -> None:
    codec = codec_for_callable(handler, what=WHAT)
    assert codec.declared == tuple[int, dt.date]
    assert_same((1, dt.date(2024, 1, 1)), round_trip(codec, (1, dt.date(2024, 1, 1))))


def test_a_class_used_as_a_handler_returns_an_instance_of_it() -> None:
    codec = codec_for_callable(Reading, what=WHAT)
    assert_same(Reading("s", [1.0]), round_trip(codec, Reading("s", [1.0])))


def test_a_builtin_without_annotations_uses_the_untyped_fallback() -> None:
    assert codec_for_callable(len, what=WHAT).declared is UNTYPED


def test_output_type_wins_over_the_annotation() -> None:
    codec = codec_for_callable(fetch_pair, output_type=list[int], what=WHAT)
    assert codec.declared == list[int]
    assert_same([1, 2], round_trip(codec, [1, 2]))


def test_a_handler_annotated_none_loads_none() -> None:
    def notify() -> None:
        return None

    codec = codec_for_callable(notify, what=WHAT)
    assert codec.dump(None, WHAT) is None
    assert codec.load(None, WHAT) is None
    with pytest.raises(OutputValueError):
        codec.dump(1, WHAT)


def test_an_unresolvable_annotation_names_the_handler() -> None:
    def broken() -> None:
        raise AssertionError

    broken.__annotations__["return"] = "Missing"  # a name defined nowhere

    with pytest.raises(UnsupportedTypeError, match="broken") as caught:
        codec_for_callable(broken, what=WHAT)
    assert WHAT in str(caught.value)


def test_a_generic_handler_must_say_its_output_type() -> None:
    def identity(x: T) -> T:
        return x

    with pytest.raises(UnsupportedTypeError, match="output_type"):
        codec_for_callable(identity, what=WHAT)
    assert codec_for_callable(identity, output_type=int, what=WHAT).declared is int


# --------------------------------------------------------------------------------------------------
# Caching: the adapter is built once
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def adapter_builds(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every TypeAdapter the serde module constructs."""
    built: list[object] = []
    real = pydantic.TypeAdapter

    def counting(tp: Any, **kwargs: Any) -> pydantic.TypeAdapter[Any]:
        built.append(tp)
        return real(tp, **kwargs)

    monkeypatch.setattr(serde, "TypeAdapter", counting)
    return built


def test_the_adapter_is_built_once_per_type(adapter_builds: list[object]) -> None:
    fresh = dataclasses.make_dataclass("Fresh", [("x", int)])  # a type no other test has built
    first = codec_for_type(generic(list, fresh), what="step 'a'")
    second = codec_for_type(generic(list, fresh), what="step 'b'")
    assert len(adapter_builds) == 1
    assert first is second  # one codec per type; each caller names itself in the errors
    for owner in ("step 'a'", "step 'b'"):
        with pytest.raises(OutputValueError, match=f"^{owner}: the stored output"):
            first.load([{"x": "not an int"}], owner)
    with pytest.raises(OutputValueError, match=r"^step 'c' returned a value"):
        first.dump_json([fresh("x")], lambda: "step 'c'")


def test_handlers_sharing_a_function_share_the_adapter(adapter_builds: list[object]) -> None:
    fresh = dataclasses.make_dataclass("Fresh", [("x", int)])  # a type no other test has built

    class Handlers:
        def run(self) -> object:
            return fresh(1)

    def make(x: int) -> object:
        return fresh(x)

    Handlers.run.__annotations__["return"] = fresh
    make.__annotations__["return"] = fresh
    for _ in range(3):
        codec_for_callable(Handlers().run, what=WHAT)  # a new bound method each time
        codec_for_callable(functools.partial(make, 1), what=WHAT)  # a new partial each time
    assert len(adapter_builds) == 1


def test_the_return_annotation_is_read_once_per_function(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = typing.get_type_hints

    def counting(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(obj)
        return real(obj, *args, **kwargs)

    def handler() -> list[int]:
        return [1]

    monkeypatch.setattr(typing, "get_type_hints", counting)
    for _ in range(3):
        codec_for_callable(handler, what=WHAT)
    assert calls == [handler]


def test_a_type_that_cannot_be_hashed_skips_the_cache(adapter_builds: list[object]) -> None:
    declared = Annotated[int, ["unhashable", "metadata"]]
    codec_for_type(declared, what=WHAT)
    codec = codec_for_type(declared, what=WHAT)
    assert len(adapter_builds) == 2
    assert_same(7, round_trip(codec, 7))


def test_a_refused_type_names_each_callers_step() -> None:
    for what in ("step 'a'", "step 'b'"):
        with pytest.raises(UnsupportedTypeError, match=what):
            codec_for_type(str | bytes, what=what)
