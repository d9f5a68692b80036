"""Tests of steppe._protocol.wire: every body captured from the `inngest` package parses and
round-trips exactly, memos unwrap as the protocol says, and known fields are typed strictly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue, TypeAdapter, ValidationError

from steppe._protocol.wire import (
    AuthenticatedIntrospection,
    BatchEvents,
    CallRequest,
    CallStack,
    CancelOn,
    ConcurrencyLimit,
    CronTrigger,
    ErrorBody,
    EventTrigger,
    FunctionConfig,
    InBandSyncRequest,
    InBandSyncResponse,
    InvokeFunctionOpts,
    InvokePayload,
    MemoData,
    MemoError,
    Op,
    Opcode,
    RateLimit,
    RegisterRequest,
    RegisterResponse,
    Retries,
    SleepOpts,
    StepConfig,
    StepRuntime,
    UnauthenticatedIntrospection,
    Userland,
    WaitForEventOpts,
    WireModel,
    parse_memo,
    parse_memos,
    parse_ops,
    wire_object,
    wire_ops_json,
)

PEER_FIXTURES = Path(__file__).parent / "fixtures" / "peer"
FIXTURE_FILES = sorted(PEER_FIXTURES.glob("*.json"))
# An op with nothing set, as the reference SDK sends it: every field, null, in this order.
EMPTY_OP: dict[str, Any] = dict.fromkeys(
    ["op", "id", "name", "opts", "data", "error", "displayName", "timing", "userland"]
)
ANY_JSON: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


def load(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(path.read_text()))


def round_trip(model: type[WireModel], body: object) -> None:
    """Parse as the adapter will (from JSON bytes) and check both serializers give ``body`` back."""
    parsed = model.model_validate_json(json.dumps(body))
    assert parsed.to_wire() == body
    assert json.loads(parsed.to_wire_json()) == body


def is_call_body(body: object) -> bool:
    return isinstance(body, dict) and "ctx" in body


def response_model(method: str, status: int, body: object) -> type[WireModel] | None:
    """Which protocol model a captured response body is; None for a function's own output."""
    if status == 206:
        raise AssertionError("206 bodies are op lists; use parse_ops")
    if status >= 500:
        return ErrorBody
    if method == "GET" and status == 200:
        is_signed = isinstance(body, dict) and "app_id" in body
        return AuthenticatedIntrospection if is_signed else UnauthenticatedIntrospection
    if method == "PUT" and status == 200:
        is_in_band = isinstance(body, dict) and "inspection" in body
        return InBandSyncResponse if is_in_band else RegisterResponse
    return None


# --- every captured body -----------------------------------------------------------------------


def test_fixtures_were_captured() -> None:
    assert len(FIXTURE_FILES) >= 40


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.stem)
def test_captured_request_body_parses_and_round_trips(path: Path) -> None:
    request = load(path)["request"]
    body = request["body"]
    if request["method"] == "POST" and is_call_body(body):
        round_trip(CallRequest, body)
    elif request["method"] == "PUT" and body is not None:
        round_trip(InBandSyncRequest, body)
    elif path.stem == "dev__missing_ctx":
        with pytest.raises(ValidationError, match="ctx"):
            CallRequest.model_validate_json(json.dumps(body))
    elif path.stem == "dev__malformed_body":
        with pytest.raises(ValidationError, match="Invalid JSON"):
            CallRequest.model_validate_json(request["raw_body"])
    else:
        assert body is None, f"{path.stem}: unclassified request body"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.stem)
def test_captured_response_body_parses_and_round_trips(path: Path) -> None:
    record = load(path)
    response = record["response"]
    body = response["body"]
    status = cast(int, response["status"])
    if status == 206:
        ops = parse_ops(json.dumps(body))
        assert ops, "the peer never sent an empty op list in these scenarios"
        # Every op field comes back, null where the peer left it out (it omits `error` and `timing`).
        with_every_field = [{**EMPTY_OP, **op} for op in body]
        assert [op.to_wire() for op in ops] == with_every_field
        assert [json.loads(op.to_wire_json()) for op in ops] == with_every_field
        return
    if status == 401:
        # Not a protocol body: the peer's own {"message": "Unauthorized"}.
        assert body == {"message": "Unauthorized"}
        return
    model = response_model(record["request"]["method"], status, body)
    if model is None:
        assert status == 200  # a function's return value: any JSON
        assert ANY_JSON.validate_json(json.dumps(body)) == body
    else:
        round_trip(model, body)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.stem)
def test_captured_outbound_register_body_parses(path: Path) -> None:
    for outbound in load(path)["outbound"]:
        body = outbound["body"]
        if body is None:
            assert outbound["method"] == "GET"
            continue
        # The peer spells two keys its own way (Go's decoder matches "appname" to appName
        # case-insensitively; "deploy_type" it does not match). Ours are the spec's.
        spec_body = dict(body)
        spec_body["appName"] = spec_body.pop("appname")
        spec_body["deployType"] = spec_body.pop("deploy_type")
        round_trip(RegisterRequest, spec_body)


def test_captured_register_body_has_every_config_field() -> None:
    body = load(PEER_FIXTURES / "dev__sync_out_of_band.json")["outbound"][0]["body"]
    configs = {fn["id"]: FunctionConfig.model_validate(fn) for fn in body["functions"]}
    configured = configs["peer-app-configured"]
    assert configured.rate_limit == RateLimit(limit=100, period="1h")
    assert configured.concurrency == [
        ConcurrencyLimit(limit=5, key="event.data.user", scope="fn"),
        ConcurrencyLimit(limit=50, key='"global"', scope="account"),
    ]
    assert configured.cancel == [CancelOn(event="test/cancelled", if_="async.data.id == event.data.id", timeout="1d")]
    assert isinstance(configured.triggers[1], CronTrigger)
    assert configured.steps["step"].retries == Retries(attempts=2)
    batched = configs["peer-app-batched"]
    assert batched.batch_events == BatchEvents(max_size=10, timeout="5s")
    failure = configs["peer-app-configured-failure"]
    assert failure.triggers == [
        EventTrigger(
            event="inngest/function.failed",
            expression="event.data.function_id == 'peer-app-configured'",
        )
    ]


# --- memos --------------------------------------------------------------------------------------


def test_captured_memos_unwrap_as_the_protocol_says() -> None:
    def memos_of(stem: str) -> dict[str, MemoData | MemoError]:
        body = load(PEER_FIXTURES / f"{stem}.json")["request"]["body"]
        return CallRequest.model_validate_json(json.dumps(body)).memos()

    assert list(memos_of("dev__sequential_02_first_memo").values()) == [MemoData("A")]
    assert list(memos_of("dev__sleep_02_done").values()) == [MemoData(None)]
    [approval] = memos_of("dev__wait_02_matched").values()
    assert isinstance(approval, MemoData)
    assert isinstance(approval.value, dict)
    assert approval.value["name"] == "test/approved"  # the raw event, not unwrapped
    assert list(memos_of("dev__invoke_03_error").values()) == [
        MemoError(name="Error", message="child failed", stack="Error: child failed")
    ]


@pytest.mark.parametrize(
    ("raw", "memo"),
    [
        ({"data": {"x": 1}}, MemoData({"x": 1})),
        ({"data": None}, MemoData(None)),
        ({"error": {"name": "E", "message": "m"}}, MemoError(name="E", message="m")),
        (
            {"error": {"name": "E", "message": "m", "stack": "s", "code": "c"}},
            MemoError(name="E", message="m", stack="s"),
        ),
        (None, MemoData(None)),
        (42, MemoData(42)),
        ({}, MemoData({})),
        ({"data": 1, "name": "evt"}, MemoData({"data": 1, "name": "evt"})),
        (
            {"data": 1, "error": {"name": "E", "message": "m"}},
            MemoData({"data": 1, "error": {"name": "E", "message": "m"}}),
        ),
    ],
)
def test_parse_memo(raw: JsonValue, memo: MemoData | MemoError) -> None:
    assert parse_memo(raw) == memo


def test_parse_memos_keeps_the_keys() -> None:
    assert parse_memos({"a": {"data": 1}, "b": None}) == {"a": MemoData(1), "b": MemoData(None)}


@pytest.mark.parametrize("error", ["boom", {"message": "no name"}, {"name": 1, "message": "m"}])
def test_a_malformed_error_memo_is_a_validation_error(error: JsonValue) -> None:
    with pytest.raises(ValidationError):
        parse_memo({"error": error})
    body = minimal_call_request()
    body["steps"] = {"abc": {"error": error}}
    with pytest.raises(ValidationError, match="memo of step 'abc' has a malformed error"):
        CallRequest.model_validate_json(json.dumps(body))


@given(value=json_values)
def test_any_data_memo_unwraps_to_its_value(value: JsonValue) -> None:
    assert parse_memo({"data": value}) == MemoData(value)


# --- call request strictness -------------------------------------------------------------------


def minimal_call_request() -> dict[str, Any]:
    return {
        "event": {"name": "test/x", "data": {}},
        "steps": {},
        "ctx": {
            "run_id": "run",
            "attempt": 0,
            "disable_immediate_execution": False,
            "stack": {"stack": [], "current": 0},
        },
    }


def test_a_minimal_call_request_parses_with_defaults() -> None:
    parsed = CallRequest.model_validate_json(json.dumps(minimal_call_request()))
    assert parsed.ctx.max_attempts is None
    assert parsed.events is None
    assert parsed.must_fetch_from_api is False


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("ctx", "attempt"), "1"),
        (("ctx", "attempt"), 1.5),
        (("ctx", "attempt"), -1),
        (("ctx", "disable_immediate_execution"), "true"),
        (("ctx", "disable_immediate_execution"), 1),
        (("ctx", "run_id"), 7),
        (("ctx", "max_attempts"), 0),
        (("ctx", "stack", "stack"), "abc"),
        (("event", "name"), None),
        (("event", "data"), []),
        (("steps",), []),
        (("use_api",), "yes"),
    ],
)
def test_known_fields_are_typed_strictly(path: tuple[str, ...], bad: object) -> None:
    body = minimal_call_request()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(ValidationError):
        CallRequest.model_validate_json(json.dumps(body))


@pytest.mark.parametrize("missing", ["event", "ctx"])
def test_required_fields_are_required(missing: str) -> None:
    body = minimal_call_request()
    del body[missing]
    with pytest.raises(ValidationError, match=missing):
        CallRequest.model_validate_json(json.dumps(body))


def test_unknown_fields_are_accepted_and_kept() -> None:
    body = minimal_call_request()
    body["brand_new"] = {"x": None}
    body["ctx"]["qi_id"] = "queue-item"
    body["ctx"]["request_id"] = None
    body["event"]["extra"] = [1, None]
    parsed = CallRequest.model_validate_json(json.dumps(body))
    assert parsed.to_wire() == body


def test_nulls_the_go_server_may_send_are_read_as_empty() -> None:
    body = minimal_call_request()
    body["steps"] = None
    body["ctx"]["stack"]["stack"] = None
    parsed = CallRequest.model_validate_json(json.dumps(body))
    assert parsed.steps == {}
    assert parsed.ctx.stack.stack == []


@pytest.mark.parametrize(("top", "in_ctx"), [(True, None), (None, True), (True, False)])
def test_use_api_is_honoured_from_either_place(top: bool | None, in_ctx: bool | None) -> None:
    body = minimal_call_request()
    if top is not None:
        body["use_api"] = top
    if in_ctx is not None:
        body["ctx"]["use_api"] = in_ctx
    assert CallRequest.model_validate_json(json.dumps(body)).must_fetch_from_api is True


def test_a_body_that_is_not_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        CallRequest.model_validate_json(b"\xff\xfe")


def test_models_are_immutable() -> None:
    parsed = CallRequest.model_validate_json(json.dumps(minimal_call_request()))
    with pytest.raises(ValidationError, match="frozen"):
        parsed.ctx.attempt = 3


# --- ops ------------------------------------------------------------------------------------------


def test_a_step_run_returning_none_sends_an_explicit_null() -> None:
    op = Op(op=Opcode.STEP_RUN, id="abc", display_name="first", data=None)
    assert op.to_wire() == {**EMPTY_OP, "op": "StepRun", "id": "abc", "displayName": "first", "data": None}


def test_every_op_field_is_sent_null_when_unset_in_the_reference_sdks_order() -> None:
    # The server's Go decoder tells an absent field from a null one; the reference SDK sends them all.
    op = Op(op=Opcode.STEP_PLANNED, id="abc", display_name="first")
    assert op.to_wire() == {**EMPTY_OP, "op": "StepPlanned", "id": "abc", "displayName": "first"}
    assert list(json.loads(op.to_wire_json())) == list(EMPTY_OP)


def test_unset_optional_fields_of_other_bodies_are_omitted() -> None:
    assert Userland(id="first").to_wire() == {"id": "first"}
    assert ErrorBody(name="E", message="m").to_wire() == {"name": "E", "message": "m"}


def test_an_error_op() -> None:
    op = Op(
        op=Opcode.STEP_ERROR,
        id="abc",
        error=ErrorBody(name="ValueError", message="bad", data=None),
        userland=Userland(id="first"),
    )
    assert op.to_wire() == {
        **EMPTY_OP,
        "op": "StepError",
        "id": "abc",
        "error": {"name": "ValueError", "message": "bad", "data": None},
        "userland": {"id": "first"},
    }


def test_typed_opts_serialize_to_the_wire_spelling() -> None:
    assert SleepOpts(duration="1h").to_wire() == {"duration": "1h"}
    assert WaitForEventOpts(event="e", timeout="5m", if_="async.data.a == 1").to_wire() == {
        "event": "e",
        "timeout": "5m",
        "if": "async.data.a == 1",
    }
    invoke = InvokeFunctionOpts(function_id="app-fn", payload=InvokePayload(data={"n": 1}))
    assert invoke.to_wire() == {"function_id": "app-fn", "payload": {"data": {"n": 1}}}
    op = Op(op=Opcode.SLEEP, id="x", opts=SleepOpts(duration="1s").to_wire())
    assert op.to_wire()["opts"] == {"duration": "1s"}


def test_every_opcode_parses_from_its_wire_name() -> None:
    names = [
        "StepRun",
        "StepPlanned",
        "StepError",
        "StepFailed",
        "Sleep",
        "WaitForEvent",
        "InvokeFunction",
        "StepNotFound",
    ]
    ops = parse_ops(json.dumps([{"op": name, "id": "x"} for name in names]))
    assert [op.op for op in ops] == [Opcode(name) for name in names]


def test_an_unknown_opcode_is_refused() -> None:
    with pytest.raises(ValidationError, match="op"):
        parse_ops('[{"op": "Teleport", "id": "x"}]')


@given(value=json_values)
def test_any_step_output_survives_an_op(value: JsonValue) -> None:
    op = Op(op=Opcode.STEP_RUN, id="x", data=value)
    assert op.to_wire()["data"] == value
    assert json.loads(op.to_wire_json())["data"] == value
    assert parse_ops(wire_ops_json([op.to_wire()])) == [op]


_maybe_text = st.none() | st.text(max_size=6)


@st.composite
def op_fields(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fields of an op, each one given or not: as ``Op(...)`` takes them, and as ``wire_object`` takes them."""
    userland: dict[str, Any] = {
        "id": draw(st.text(max_size=6)),
        **draw(st.fixed_dictionaries({}, optional={"index": st.none() | st.integers(0, 9)})),
    }
    error: dict[str, Any] = {
        "name": draw(st.text(max_size=6)),
        "message": draw(st.text(max_size=6)),
        **draw(st.fixed_dictionaries({}, optional={"stack": _maybe_text, "data": json_values})),
    }
    given: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {"op": st.sampled_from(list(Opcode)), "id": st.text(max_size=6)},
            optional={
                "name": _maybe_text,
                "opts": st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=2),
                "data": json_values,
                "error": st.none() | st.just(error),
                "display_name": _maybe_text,
                "timing": st.none(),
                "userland": st.none() | st.just(userland),
            },
        )
    )
    as_models: dict[str, Any] = dict(given)
    as_wire: dict[str, Any] = dict(given)
    if given.get("error") is not None:
        as_models["error"] = ErrorBody.model_validate(error)
        as_wire["error"] = wire_object(ErrorBody, error)
    if given.get("userland") is not None:
        as_models["userland"] = Userland.model_validate(userland)
        as_wire["userland"] = wire_object(Userland, userland)
    return as_models, as_wire


@given(fields=op_fields())
def test_an_op_built_as_its_wire_object_is_what_the_model_sends(fields: tuple[dict[str, Any], dict[str, Any]]) -> None:
    as_models, as_wire = fields
    op = Op(**as_models)
    built = wire_object(Op, as_wire)
    assert built == op.to_wire()
    assert list(built) == list(op.to_wire())  # the same key order: the reference SDK's
    assert wire_ops_json([built]) == b"[" + op.to_wire_json() + b"]"
    assert parse_ops(wire_ops_json([built])) == [op]


def test_wire_object_refuses_a_model_whose_fields_default_to_a_value() -> None:
    with pytest.raises(TypeError, match=r"CallStack\.stack has a default other than None"):
        wire_object(CallStack, {})


@given(steps=st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4))
def test_any_steps_map_round_trips(steps: dict[str, JsonValue]) -> None:
    body = minimal_call_request()
    body["steps"] = {key: {"data": value} for key, value in steps.items()}
    round_trip(CallRequest, body)


# --- function config, sync, introspection ---------------------------------------------------


def test_a_function_config_uses_the_wire_spelling() -> None:
    url = "https://x/api/inngest?fnId=app-fn&stepId=step"
    config = FunctionConfig(
        id="app-fn",
        name="Fn",
        triggers=[EventTrigger(event="a/b"), CronTrigger(cron="0 * * * *")],
        steps={
            "step": StepConfig(
                id="step",
                name="step",
                runtime=StepRuntime(type="http", url=url),
                retries=Retries(attempts=3),
            )
        },
        rate_limit=RateLimit(limit=1, period="1m"),
        batch_events=BatchEvents(max_size=5, timeout="2s", if_="event.data.ok"),
    )
    assert config.to_wire() == {
        "id": "app-fn",
        "name": "Fn",
        "triggers": [{"event": "a/b"}, {"cron": "0 * * * *"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": url},
                "retries": {"attempts": 3},
            }
        },
        "rateLimit": {"limit": 1, "period": "1m"},
        "batchEvents": {"maxSize": 5, "timeout": "2s", "if": "event.data.ok"},
    }


def test_triggers_are_told_apart_by_their_key() -> None:
    config = FunctionConfig.model_validate_json(
        json.dumps(
            {
                "id": "a-f",
                "steps": {},
                "triggers": [{"cron": "* * * * *"}, {"event": "x", "expression": "y"}],
            }
        )
    )
    assert config.triggers == [
        CronTrigger(cron="* * * * *"),
        EventTrigger(event="x", expression="y"),
    ]
    with pytest.raises(ValidationError):
        FunctionConfig.model_validate_json('{"id": "a-f", "steps": {}, "triggers": [{"crn": "x"}]}')


def test_concurrency_is_a_number_or_a_list() -> None:
    number = FunctionConfig.model_validate_json('{"id":"a","steps":{},"triggers":[],"concurrency":3}')
    assert number.concurrency == 3
    with pytest.raises(ValidationError):
        FunctionConfig.model_validate_json('{"id":"a","steps":{},"triggers":[],"concurrency":"3"}')


def test_a_register_request_fills_the_constants() -> None:
    request = RegisterRequest(url="https://x/api/inngest", app_name="app", sdk="steppe:v0.1.0", functions=[])
    assert request.to_wire() == {
        "url": "https://x/api/inngest",
        "appName": "app",
        "sdk": "steppe:v0.1.0",
        "functions": [],
        "deployType": "ping",
        "v": "0.1",
    }


def test_introspection_carries_its_schema_version() -> None:
    unauthenticated = UnauthenticatedIntrospection(
        function_count=2,
        has_event_key=False,
        has_signing_key=True,
        has_signing_key_fallback=False,
        mode="cloud",
    )
    assert unauthenticated.to_wire()["schema_version"] == "2024-05-24"
    authenticated = AuthenticatedIntrospection(
        function_count=2,
        has_event_key=False,
        has_signing_key=True,
        has_signing_key_fallback=False,
        mode="cloud",
        api_origin="https://api.inngest.com",
        app_id="app",
        event_api_origin="https://inn.gs",
        framework="starlette",
        sdk_language="py",
        sdk_version="0.1.0",
        signing_key_fallback_hash=None,
    )
    wire = authenticated.to_wire()
    assert wire["authentication_succeeded"] is True
    assert wire["signing_key_fallback_hash"] is None  # set explicitly: sent as null
    assert "signing_key_hash" not in wire  # left unset: omitted
    with pytest.raises(ValidationError):
        UnauthenticatedIntrospection.model_validate_json(
            '{"function_count": 1, "has_event_key": false, "has_signing_key": false,'
            ' "has_signing_key_fallback": false, "mode": "prod"}'
        )
