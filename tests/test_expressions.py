"""steppe's CEL: conditions (``if_exp`` of ``step.wait_for_event``, triggers, cancel, batches) and keys of flow-control
options; compile-time checks, matching and key values."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Callable, Mapping

import celpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from steppe._core.expressions import (
    Expression,
    ExpressionError,
    KeyExpression,
    compile_expression,
    compile_key_expression,
)

SIGNUP: dict[str, object] = {
    "name": "app/signup",
    "data": {
        "user_id": "u_1",
        "plan": {"tier": "pro", "seats": 3},
        "tags": ["beta", "eu"],
        "amount": 10,
    },
    "id": "01HSIGNUP",
    "ts": 1_700_000_000_000,
}


def paid(**data: object) -> dict[str, object]:
    """An incoming ``app/paid`` event carrying ``data``."""
    return {"name": "app/paid", "data": data, "id": "01HPAID", "ts": 1_700_000_001_000}


def matches(source: str, incoming: Mapping[str, object], event: Mapping[str, object] = SIGNUP) -> bool:
    return compile_expression(source).matches(event=event, incoming=incoming)


# --- matching ----------------------------------------------------------------------------------


def test_matches_when_the_correlating_field_is_equal() -> None:
    assert matches("async.data.user_id == event.data.user_id", paid(user_id="u_1"))


def test_does_not_match_when_the_correlating_field_differs() -> None:
    assert not matches("async.data.user_id == event.data.user_id", paid(user_id="u_2"))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async.data.plan.tier == event.data.plan.tier", True),
        ("async.data.plan.tier == 'free'", False),
        ("async.data['plan']['seats'] == event.data.plan['seats']", True),
        ("async.data.items[1].sku == 'b'", True),
        ("async.data.items[0].sku == 'b'", False),
        ("event.name == 'app/signup' && async.name == 'app/paid'", True),
    ],
)
def test_nested_fields_and_indexing(source: str, expected: bool) -> None:
    incoming = paid(plan={"tier": "pro", "seats": 3}, items=[{"sku": "a"}, {"sku": "b"}])
    assert matches(source, incoming) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async.data.user_id == event.data.user_id && async.data.amount >= 5", True),
        ("async.data.user_id == 'nobody' || async.data.amount >= 5", True),
        ("async.data.user_id == 'nobody' || async.data.amount > 100", False),
        ("!(async.data.user_id == 'nobody')", True),
        ("async.data.user_id != event.data.user_id", False),
        ("async.data.amount * 2 + 1 == 21", True),
        ("async.data.amount % 3 == 1 && async.data.amount / 2 == 5", True),
        ("-async.data.amount < 0", True),
        ("'eu' in event.data.tags", True),
        ("'us' in event.data.tags", False),
        ("'tier' in event.data.plan", True),
        ("async.data.amount in [5, 10, 15]", True),
        ("size(event.data.tags) == 2 && size(event.data.user_id) == 3", True),
        ("event.data.tags.size() == 2", True),
        ("{'pro': 30, 'free': 0}[event.data.plan.tier] == 30", True),
        ("[event.data.amount, 1] == [10, 1]", True),
        ("event.data.user_id.startsWith('u_') && event.data.user_id.endsWith('1')", True),
        ("event.data.user_id.contains('_')", True),
        ("event.data.tags.exists(t, t == 'beta')", True),
        ("event.data.tags.all(t, size(t) == 4)", False),
        ("event.data.tags.filter(t, t != 'eu').size() == 1", True),
        ("event.data.tags.map(t, t + '!') == ['beta!', 'eu!']", True),
        ("has(async.data.amount) && !has(async.data.coupon)", True),
        ("string(async.data.amount) == '10' && int('10') == async.data.amount", True),
        ("async.data.amount > 5 ? async.data.user_id == 'u_1' : false", True),
        ("true", True),
        ("false", False),
    ],
)
def test_supported_operators_and_functions(source: str, expected: bool) -> None:
    assert matches(source, paid(user_id="u_1", amount=10)) is expected


# --- missing fields and other evaluation errors ------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "async.data.coupon == 'FREE'",
        "event.data.coupon == async.data.user_id",
        "async.data.coupon.code == 'FREE'",
        "async.data['coupon'] == 'FREE'",
        "event.data.tags[5] == 'beta'",
        "size(async.data.coupon) == 0",
        # A missing field makes the whole condition fail, even under negation.
        "!(async.data.coupon == 'FREE')",
        "async.data.coupon != 'FREE'",
    ],
)
def test_a_missing_field_means_no_match(source: str) -> None:
    assert not matches(source, paid(user_id="u_1"))


def test_a_condition_already_decided_by_and_or_ignores_a_missing_field() -> None:
    incoming = paid(user_id="u_1")
    assert matches("async.data.coupon == 'FREE' || async.data.user_id == 'u_1'", incoming)
    assert not matches("async.data.user_id == 'u_2' && async.data.coupon == 'FREE'", incoming)


def test_other_evaluation_errors_mean_no_match() -> None:
    incoming = paid(amount=10, note="x")
    assert not matches("async.data.amount / 0 == 1", incoming)
    assert not matches("async.data.note < 3", incoming)  # no ordering between string and int
    assert not matches("async.data.note + 1 == 2", incoming)


def test_missing_top_level_keys_are_missing_fields() -> None:
    assert not matches("async.data.user_id == 'u_1'", {"name": "app/paid"})
    assert not matches("async.data.user_id == event.data.user_id", paid(user_id="u_1"), event={})


# --- numeric and string types ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming_value", "event_value", "expected"),
    [
        (10, 10, True),
        (10.0, 10, True),  # JSON 10 and 10.0 are the same amount
        (10.5, 10, False),
        ("10", 10, False),  # a string never equals a number
        ("u_1", "u_1", True),
        ("U_1", "u_1", False),
        (True, 1, False),  # nor does a bool
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        ([1, 2.0], [1.0, 2], True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        (2**70, 2.0**70, True),  # integers beyond int64 are read as doubles
    ],
)
def test_equality_across_types(incoming_value: object, event_value: object, expected: bool) -> None:
    event = {"name": "app/signup", "data": {"x": event_value}}
    source_eq = "async.data.x == event.data.x"
    source_ne = "async.data.x != event.data.x"
    assert matches(source_eq, paid(x=incoming_value), event=event) is expected
    assert matches(source_ne, paid(x=incoming_value), event=event) is not expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async.data.price > 9", True),
        ("async.data.price < 10", True),
        ("async.data.price >= 9.5", True),
        ("async.data.price <= 9.4", False),
        ("async.data.count > 1.5", True),
        ("async.data.count == 2.0", True),
        ("2.0 in [async.data.count]", True),
        ("async.data.count * 2.5 == 5.0", True),  # mixed int and double arithmetic is double
        ("2.5 * async.data.count == 5.0", True),
        ("async.data.price + 1 == 10.5", True),
        ("1 + async.data.price == 10.5", True),
        ("async.data.price / 2 == 4.75", True),
        ("async.data.count / 4 == 0", True),  # two ints keep integer division
        ("async.data.count % 2 == 0", True),
        ("async.data.price % 2 == 1.5", False),  # CEL has no remainder for doubles
        ("async.data.name > 'bob'", True),
        ("async.data.name < 'alex'", False),
    ],
)
def test_ordering_and_arithmetic_of_numbers_and_strings(source: str, expected: bool) -> None:
    assert matches(source, paid(price=9.5, count=2, name="carol")) is expected


# --- definition-time errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position"),
    [
        ("async.data.user_id ==", "line 1, column 20"),  # input ends after this operator
        ("async.data.user_id === event.data.user_id", "line 1, column 22"),
        ("async.data.user_id == 'u_1", "line 1, column 23"),
        ("async.data..user_id == 1", "line 1, column 12"),
        ("event.data.x == 1 &&\n  ) event.data.y", "line 2, column 3"),
    ],
)
def test_syntax_errors_name_the_source_and_the_position(source: str, position: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(source)
    message = str(raised.value)
    assert repr(source) in message
    assert "syntax error" in message
    assert position in message


@pytest.mark.parametrize("source", ["", "   "])
def test_an_empty_expression_is_rejected(source: str) -> None:
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression(source)


@pytest.mark.parametrize(
    ("source", "name", "position"),
    [
        ("user.id == event.data.user_id", "'user'", "line 1, column 1"),
        ("async.data.user_id == evnt.data.user_id", "'evnt'", "line 1, column 23"),
        ("event.data.tags.exists(t, t == tag)", "'tag'", "line 1, column 32"),
        ("event.data.tags.exists(t, t == 'eu') && t == 'eu'", "'t'", "line 1, column 41"),
        ("google.protobuf.Int32Value == 1", "'google'", "line 1, column 1"),
    ],
)
def test_unknown_variables_are_rejected(source: str, name: str, position: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(source)
    message = str(raised.value)
    assert repr(source) in message
    assert f"unknown variable {name}" in message
    assert position in message
    assert "async and event" in message


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("exec('x') == 1", "unsupported function 'exec'"),
        ("event.data.user_id.matches('u_.*')", "unsupported method 'matches'"),
        ("event.data.user_id.upper() == 'U_1'", "unsupported method 'upper'"),
        ("timestamp(event.ts) > timestamp(0)", "unsupported function 'timestamp'"),
        ("event.data.tags.exists('t', true)", "needs a variable name"),
        ("google.protobuf.Int32Value{value: 1} == 1", "message construction"),
    ],
)
def test_unsupported_functions_are_rejected(source: str, complaint: str) -> None:
    with pytest.raises(ExpressionError, match=complaint) as raised:
        compile_expression(source)
    assert repr(source) in str(raised.value)


@pytest.mark.parametrize(
    ("source", "description"),
    [
        ("async.data.amount + 1", "an arithmetic result"),
        ("(event.data.amount * 2)", "an arithmetic result"),
        ("-event.data.amount", "a negated number"),
        ("'yes'", "the literal 'yes'"),
        ("42", "the literal 42"),
        ("null", "the literal null"),
        ("[true]", "a list"),
        ("{'a': true}", "a map"),
    ],
)
def test_an_obviously_non_boolean_expression_fails_at_compile_time(source: str, description: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        compile_expression(source)
    assert str(raised.value) == f"if_exp {source!r} must be a boolean condition, not {description}"


@pytest.mark.parametrize(
    ("source", "type_name"),
    [
        ("async.data.amount", "int"),
        ("async.data.user_id", "string"),
        ("event.data.plan", "map"),
        ("async.data.amount > 1 ? 'big' : 'small'", "string"),
    ],
)
def test_a_non_boolean_result_fails_at_evaluation(source: str, type_name: str) -> None:
    expression = compile_expression(source)
    with pytest.raises(ExpressionError) as raised:
        expression.matches(event=SIGNUP, incoming=paid(user_id="u_1", amount=10))
    message = str(raised.value)
    assert repr(source) in message
    assert f"must evaluate to a boolean, but produced a value of type {type_name}" in message


def test_deep_nesting_is_rejected_instead_of_exhausting_the_stack() -> None:
    source = "(" * 20 + "async.data.x == 1" + ")" * 20
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression(source)
    assert matches("(" * 5 + "async.data.x == 1" + ")" * 5, paid(x=1))


def test_event_data_that_is_not_json_is_an_expression_error() -> None:
    expression = compile_expression("async.data.x == 1")
    with pytest.raises(ExpressionError, match="'async' event is not plain JSON data: set value"):
        expression.matches(event=SIGNUP, incoming=paid(x={1, 2}))


# --- the Expression value ----------------------------------------------------------------------


def test_expressions_compare_and_hash_by_source() -> None:
    first = compile_expression("async.data.user_id == event.data.user_id")
    again = Expression("async.data.user_id == event.data.user_id")
    other = compile_expression("async.data.user_id != event.data.user_id")
    assert first == again
    assert hash(first) == hash(again)
    assert first != other
    assert repr(first) == "Expression(source='async.data.user_id == event.data.user_id')"


def test_constructing_an_expression_directly_validates_it() -> None:
    with pytest.raises(ExpressionError, match="unknown variable 'nope'"):
        Expression("nope == 1")


_unique = itertools.count()


def test_the_same_source_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    # Read from the class dict: celpy's own annotation of compile() leaves lark's tree type unparameterised.
    original_compile: Callable[[celpy.Environment, str], object] = vars(celpy.Environment)["compile"]

    def counting_compile(self: celpy.Environment, text: str) -> object:
        parsed.append(text)
        return original_compile(self, text)

    monkeypatch.setattr(celpy.Environment, "compile", counting_compile)
    source = f"async.data.n == {next(_unique) + 1_000_000}"  # not compiled by any other test
    expression = compile_expression(source)
    for n in range(3):
        assert compile_expression(source).matches(event=SIGNUP, incoming=paid(n=n)) is False
    assert expression.matches(event=SIGNUP, incoming=paid(n=1_000_000)) is True
    assert parsed == [source]


def test_cel_loads_on_first_compile_and_leaves_the_recursion_limit_alone() -> None:
    # Importing the module must not load celpy (half a second); celpy.Environment() sets the interpreter-wide
    # recursion limit to 2500, which building it on first use must undo.
    script = (
        "import sys; sys.setrecursionlimit(1234)\n"
        "from steppe._core.expressions import compile_expression\n"
        "print('celpy' in sys.modules)\n"
        "compile_expression('async.data.x == 1')\n"
        "print('celpy' in sys.modules, sys.getrecursionlimit())"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["False", "True", "1234"]


# --- keys --------------------------------------------------------------------------------------


def key_of(source: str, data: Mapping[str, object]) -> str:
    return compile_key_expression(source).value({"name": "go", "data": data, "id": "e1", "ts": 0})


@pytest.mark.parametrize(
    ("source", "data", "value"),
    [
        ("event.data.user", {"user": "ann"}, '"ann"'),
        ("event.data.n", {"n": 7}, "7"),
        ("event.data.n", {"n": 7.5}, "7.5"),
        ("event.data.plan", {"plan": {"tier": "pro", "seats": 3}}, '{"seats": 3, "tier": "pro"}'),
        ("event.data.tags", {"tags": ["a", "b"]}, '["a", "b"]'),
        ("event.data.user + '-' + event.data.plan", {"user": "ann", "plan": "pro"}, '"ann-pro"'),
        ("event.data.missing", {"user": "ann"}, "null"),  # a key that cannot be evaluated is null
        ("event.data.user.id", {"user": "ann"}, "null"),
        ("event.data.big", {"big": 2**64}, "1.8446744073709552e+19"),  # beyond int64: read as a double
        ("event.data.user", {"user": "ann", "big": 2**64}, '"ann"'),  # an unrelated large field changes nothing
        ("event.data.n * 1.5", {"n": 2}, "3.0"),  # mixed arithmetic as in conditions
    ],
)
def test_a_key_is_its_value_as_json_text(source: str, data: Mapping[str, object], value: str) -> None:
    assert key_of(source, data) == value


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("", "must not be empty"),
        ("event.data.(", "has a syntax error"),
        ("async.data.user", "uses unknown variable 'async'"),  # a key sees the event only
        ("evnt.data.user", "only event is available"),
        ("event.data.user.matches('a')", "calls unsupported method 'matches'"),
        ("(" * 60 + "event.data.user" + ")" * 60, "is nested too deeply"),
    ],
)
def test_an_invalid_key_is_rejected_when_compiled(source: str, complaint: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(complaint)):
        compile_key_expression(source)


def test_a_key_need_not_be_a_boolean() -> None:
    assert key_of("event.data.n + 1", {"n": 1}) == "2"


def test_keys_and_conditions_of_the_same_source_are_compiled_apart() -> None:
    source = "event.data.n"
    assert isinstance(compile_key_expression(source), KeyExpression)
    with pytest.raises(ExpressionError, match="must evaluate to a boolean"):
        compile_expression(source).matches(event={"data": {"n": 1}}, incoming={})


# --- properties --------------------------------------------------------------------------------

# Python's == on these values agrees with CEL's: numbers by value across int and double,
# strings by content, and a string never equals a number.
json_scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
CORRELATE = compile_expression("async.data.x == event.data.x")


@given(incoming_value=json_scalars, event_value=json_scalars)
def test_correlation_matches_exactly_when_values_are_equal(incoming_value: object, event_value: object) -> None:
    event = {"name": "app/signup", "data": {"x": event_value}}
    assert CORRELATE.matches(event=event, incoming=paid(x=incoming_value)) is (incoming_value == event_value)


@given(value=json_scalars)
def test_a_value_always_correlates_with_itself(value: object) -> None:
    event = {"name": "app/signup", "data": {"x": value}}
    assert CORRELATE.matches(event=event, incoming=paid(x=value))


ORDERED = compile_expression("async.data.x < event.data.x")
numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(incoming_value=numbers, event_value=numbers)
def test_numbers_order_by_value_across_int_and_double(incoming_value: float, event_value: float) -> None:
    event = {"name": "app/signup", "data": {"x": event_value}}
    assert ORDERED.matches(event=event, incoming=paid(x=incoming_value)) is (incoming_value < event_value)


json_values = st.recursive(
    st.none() | st.booleans() | json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize(
    "source",
    [
        "async.data.x == event.data.user_id",
        "async.data.x.y != 1 || async.data.x[0] > 2.5",
        "'eu' in async.data.x && size(async.data.x) < 3",
        "async.data.x.exists(v, v == 1) && has(async.data.x.y)",
        "!(async.data.x * 2 > async.data.x / 2) || async.data.x + 'a' == 'ba'",
    ],
)
@given(payload=json_values)
def test_any_json_payload_gives_a_verdict_not_an_exception(source: str, payload: object) -> None:
    verdict = compile_expression(source).matches(event=SIGNUP, incoming=paid(x=payload))
    assert isinstance(verdict, bool)
