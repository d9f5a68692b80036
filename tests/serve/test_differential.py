"""Differential suite: steppe against the `inngest` package (our peer) on identical requests.

Every request captured from the peer (tests/serve/fixtures/peer/) is sent to the same functions written with
steppe (tests/serve/twins.py). Both answers are reduced to the protocol's observable fields and compared:
status; the ``x-inngest-no-retry`` and ``retry-after`` headers; for a 206 each op's code, id, name,
displayName, userland, data, opts and error name/message; for a 200 every field of the body; for an error its
name and message. Op fields are compared as the server decodes them (an omitted ``opts`` and ``"opts": null``
are the same to its Go decoder); everything else, nested values included, must be equal.

Where steppe follows the spec and the peer does not (fixtures/README.md), ``EXPECTED_DIFFERENCES`` states
steppe's answer field by field and why: those fields are compared with steppe's stated value instead of the
peer's, and every other field still with the peer's. The table is exhaustive: a difference missing from it
fails, and so does an entry that no longer differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import httpx
import pytest

from steppe._protocol.messages import SDK_VERSION
from steppe._protocol.signing import hashed_signing_key, verify
from steppe._protocol.wire import Op
from steppe.serve import HttpRequest, HttpResponse, ServeHandler
from tests.serve import twins
from tests.serve.twins import FALLBACK_KEY, FIXED_NOW, SIGNING_KEY

PEER_FIXTURES: Final = Path(__file__).parent / "fixtures" / "peer"
ABSENT: Final = "<absent in steppe's answer>"


class Prefix(str):
    """Equal to any string that starts with it: for messages that quote a JSON parser's own text."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(str(self))

    def __hash__(self) -> int:
        return super().__hash__()


@dataclass(frozen=True)
class Difference:
    reason: str
    ours: Mapping[str, Any]
    """Summary fields (see ``summarize``) where steppe answers otherwise; ``ABSENT``: steppe sends no such field."""


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def op(kind: str, user_id: str, **fields: Any) -> dict[str, Any]:
    """An op summary as ``summarize`` writes it; ``index`` for a repeated id."""
    index = fields.pop("index", None)
    hashed = sha1(user_id if index is None else f"{user_id}:{index}")
    return {
        "op": kind,
        "id": hashed,
        "name": fields.pop("name", user_id),
        "displayName": user_id,
        "userland": {"id": user_id, "index": index},
        "data": fields.pop("data", None),
        "opts": fields.pop("opts", None),
        "error": fields.pop("error", None),
        **fields,
    }


SPEC_ERRORS = "spec 4.4.3: a non-retriable error is 400 with X-Inngest-No-Retry: true; a retriable one 500 with false"
SPEC_NO_RETRY = "spec 4.1.1: X-Inngest-No-Retry MUST be set (true or false) when returning an error"
SPEC_BAD_REQUEST = "brief: a malformed body, an unknown function or a bad stepId is a 400 (the peer: retriable 500)"
REFERENCE_FUNCTION_ERROR = (
    "a failed function's body has the reference SDK's shape, {message, stack}: no name (the server reads it as "
    "Error; the stack's last line names the exception)"
)
NO_RETRY_ON_400 = "a 400 always carries X-Inngest-No-Retry: true"
PEER_KEY_HASH = "spec 4.1.4: the key hash keeps its signkey-<env>- prefix (the peer drops it)"
OUR_CAPABILITIES = {"in_band_sync": "v1", "trust_probe": "v1"}

EXPECTED_DIFFERENCES: Final[dict[str, Difference]] = {
    # -- errors and retries ----------------------------------------------------------------------
    "dev__fn_error_01": Difference(
        f"{SPEC_NO_RETRY}; {REFERENCE_FUNCTION_ERROR}", {"header.x-inngest-no-retry": "false", "error.name": ABSENT}
    ),
    "dev__retry_after_01": Difference(
        f"{SPEC_NO_RETRY}; spec: Retry-After MUST come with false; {REFERENCE_FUNCTION_ERROR}",
        {"header.x-inngest-no-retry": "false", "error.name": ABSENT},
    ),
    "dev__invoke_03_error": Difference(
        f"{SPEC_ERRORS}; {REFERENCE_FUNCTION_ERROR}", {"status": 400, "error.name": ABSENT}
    ),
    "dev__step_error_04_memoized_error": Difference(
        f"{SPEC_ERRORS}; {REFERENCE_FUNCTION_ERROR}", {"status": 400, "error.name": ABSENT}
    ),
    "dev__step_error_01_retries_left": Difference(
        "steppe states on every step error whether the server may retry it", {"header.x-inngest-no-retry": "false"}
    ),
    "dev__step_error_02_last_attempt": Difference(
        "steppe states on every step error whether the server may retry it", {"header.x-inngest-no-retry": "true"}
    ),
    "dev__step_error_03_no_max_attempts": Difference(
        "ctx has no max_attempts: steppe uses the function's own retries (3, so attempt 3 is the last); the peer "
        "assumes more attempts remain",
        {
            "header.x-inngest-no-retry": "true",
            "ops": [op("StepFailed", "flaky", error={"name": "ValueError", "message": "flaky failure"})],
        },
    ),
    "dev__non_retriable_01": Difference(
        "NonRetriableError in a step fails that step (StepFailed, memoized as its error) instead of failing the "
        "whole function in this response",
        {
            "status": 206,
            "header.x-inngest-no-retry": "true",
            "error.name": ABSENT,
            "error.message": ABSENT,
            "ops": [op("StepFailed", "fatal", error={"name": "NonRetriableError", "message": "cannot continue"})],
        },
    ),
    "dev__nested_01": Difference(
        "a step inside a step is a NestedStepError (non-retriable), so the outer step fails for good: StepFailed",
        {
            "ops": [
                op(
                    "StepFailed",
                    "outer",
                    error={
                        "name": "NestedStepError",
                        "message": "step 'inner' was started inside the handler of step 'outer' (function 'peer-app-nested'); "
                        "call steps from the function body, not from other steps",
                    },
                )
            ]
        },
    ),
    "dev__sequential_04_target_unknown": Difference(
        "spec 5.3.1: a targeted step that is never reached MUST be answered with a StepNotFound op",
        {
            "status": 206,
            "error.name": ABSENT,
            "error.message": ABSENT,
            "ops": [
                {
                    "op": "StepNotFound",
                    "id": sha1("no-such-step"),
                    "name": None,
                    "displayName": None,
                    "userland": None,
                    "data": None,
                    "opts": None,
                    "error": None,
                }
            ],
        },
    ),
    # -- op shapes ---------------------------------------------------------------------------------
    "dev__sleep_01_empty": Difference(
        "spec 5.3.2: the wake-up time goes in opts.duration (the peer puts it in name, which the server reads "
        "only as a fallback); name is the step id, as for every other op",
        {"ops": [op("Sleep", "nap", opts={"duration": "2030-01-01T12:00:00.000Z"})]},
    ),
    "dev__wait_01_empty": Difference(
        "spec 5.3.3: the event name goes in opts.event (the peer puts it in name, the server's fallback)",
        {
            "ops": [
                op(
                    "WaitForEvent",
                    "wait-approval",
                    opts={"event": "test/approved", "timeout": "1h", "if": "async.data.order == event.data.order"},
                )
            ]
        },
    ),
    "dev__invoke_01_empty": Difference(
        "unset optional fields are omitted rather than sent as null (payload.v, timeout)",
        {
            "ops": [
                op(
                    "InvokeFunction",
                    "call-child",
                    opts={"function_id": "peer-app-child", "payload": {"data": {"n": 41}}},
                )
            ]
        },
    ),
    # -- bad requests --------------------------------------------------------------------------------
    "dev__malformed_body": Difference(
        f"{SPEC_BAD_REQUEST}; {NO_RETRY_ON_400}",
        {
            "status": 400,
            "header.x-inngest-no-retry": "true",
            "error.name": "BadRequest",
            "error.message": Prefix("malformed call request body"),
        },
    ),
    "dev__missing_ctx": Difference(
        f"{SPEC_BAD_REQUEST}; {NO_RETRY_ON_400}",
        {
            "status": 400,
            "header.x-inngest-no-retry": "true",
            "error.name": "BadRequest",
            "error.message": Prefix("malformed call request body"),
        },
    ),
    "dev__unknown_function": Difference(
        f"{SPEC_BAD_REQUEST}; {NO_RETRY_ON_400}",
        {
            "status": 400,
            "header.x-inngest-no-retry": "true",
            "error.name": "FunctionNotFound",
            "error.message": Prefix("no function 'peer-app-does-not-exist' is served here"),
        },
    ),
    # -- sync and introspection ----------------------------------------------------------------------
    "dev__introspection": Difference(
        "function_count counts every synced function, the on_failure handler included (the peer's sync has 16 "
        "functions too, but it reports 15)",
        {"body.function_count": 16},
    ),
    "dev__sync_out_of_band": Difference(
        "spec 4.3.4: the PUT is answered with {message, modified} (the peer passes the API's {ok, modified} on)",
        {"body.ok": ABSENT, "body.message": "Successfully synced."},
    ),
    # -- signatures (cloud) ----------------------------------------------------------------------------
    "cloud__signed_03_unsigned": Difference(
        "the 401 body names the refusal",
        {"error.name": "MissingSignatureError", "error.message": "request has no X-Inngest-Signature header"},
    ),
    "cloud__signed_04_wrong_key": Difference(
        "the 401 body names the refusal",
        {
            "error.name": "InvalidSignatureError",
            "error.message": "X-Inngest-Signature does not match the request body signed with the signing key or the "
            "fallback key",
        },
    ),
    "cloud__signed_05_tampered": Difference(
        "the 401 body names the refusal",
        {
            "error.name": "InvalidSignatureError",
            "error.message": "X-Inngest-Signature does not match the request body signed with the signing key or the "
            "fallback key",
        },
    ),
    "cloud__signed_06_expired": Difference(
        "spec 4.1.3: a signature older than 5 minutes is refused (the peer never checks the time)",
        {
            "status": 401,
            "ops": ABSENT,
            "error.name": "ExpiredSignatureError",
            "error.message": "X-Inngest-Signature timestamp is 86400s old, older than the accepted 300s",
        },
    ),
    "cloud__introspection_unsigned": Difference(
        "spec 4.5: an unsigned GET gets the unauthenticated body, not a 401",
        {
            "status": 200,
            "error.message": ABSENT,
            "body.function_count": 1,
            "body.has_event_key": False,
            "body.has_signing_key": True,
            "body.has_signing_key_fallback": True,
            "body.mode": "cloud",
            "body.schema_version": "2024-05-24",
        },
    ),
    "cloud__introspection_signed": Difference(
        PEER_KEY_HASH + "; origins without a trailing slash; unset fields omitted; steppe's own SDK version; no "
        "connect capability",
        {
            "body.api_origin": "https://api.inngest.com",
            "body.event_api_origin": "https://inn.gs",
            "body.capabilities.connect": ABSENT,
            "body.env": ABSENT,
            "body.event_key_hash": ABSENT,
            "body.serve_origin": ABSENT,
            "body.serve_path": ABSENT,
            "body.sdk_version": SDK_VERSION,
            "body.signing_key_hash": hashed_signing_key(SIGNING_KEY),
            "body.signing_key_fallback_hash": hashed_signing_key(FALLBACK_KEY),
        },
    ),
    "cloud__sync_in_band": Difference(
        PEER_KEY_HASH + "; retries always sent (the server's default could differ from ours); steppe's SDK "
        "name and version; origins without a trailing slash",
        {
            "body.functions": [
                {
                    "id": "peer-cloud-greeter",
                    "name": "greeter",
                    "triggers": [{"event": "test/greet"}],
                    "steps": {
                        "step": {
                            "id": "step",
                            "name": "step",
                            "retries": {"attempts": 4},
                            "runtime": {
                                "type": "http",
                                "url": "https://app.example.test/api/inngest?fnId=peer-cloud-greeter&stepId=step",
                            },
                        }
                    },
                }
            ],
            "body.inspection.api_origin": "https://api.inngest.com",
            "body.inspection.event_api_origin": "https://inn.gs",
            "body.inspection.capabilities.connect": ABSENT,
            "body.inspection.sdk_version": SDK_VERSION,
            "body.inspection.signing_key_hash": hashed_signing_key(SIGNING_KEY),
            "body.inspection.signing_key_fallback_hash": hashed_signing_key(FALLBACK_KEY),
            "body.sdk_author": "steppe",
            "body.sdk_version": SDK_VERSION,
        },
    ),
}

FIXTURES: Final = sorted(PEER_FIXTURES.glob("*.json"))


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """A JSON object as one entry per leaf (``body.inspection.mode``); lists and scalars stay whole."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in cast(dict[str, Any], value).items():
            flat.update(flatten(f"{prefix}.{key}", item))
        return flat
    return {prefix: value}


def op_summary(raw: object) -> dict[str, Any]:
    parsed = Op.model_validate(raw)
    return {
        "op": parsed.op.value,
        "id": parsed.id,
        "name": parsed.name,
        "displayName": parsed.display_name,
        "userland": None if parsed.userland is None else {"id": parsed.userland.id, "index": parsed.userland.index},
        "data": parsed.data,
        "opts": parsed.opts,
        "error": None if parsed.error is None else {"name": parsed.error.name, "message": parsed.error.message},
    }


def summarize(status: int, headers: Mapping[str, str], body: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {"status": status}
    for name in ("x-inngest-no-retry", "retry-after"):
        if name in headers:
            summary[f"header.{name}"] = headers[name]
    if status == 206:
        summary["ops"] = [op_summary(raw) for raw in body]
    elif status == 200:
        summary.update(flatten("body", body))
    elif isinstance(body, dict):
        error = cast(dict[str, Any], body)
        for key in ("name", "message"):
            if key in error:
                summary[f"error.{key}"] = error[key]
    return summary


def expected_summary(peer: dict[str, Any], difference: Difference | None) -> dict[str, Any]:
    expected = dict(peer)
    ours: Mapping[str, Any] = difference.ours if difference else {}
    for key, value in ours.items():
        if value == ABSENT:
            expected.pop(key, None)
        else:
            expected[key] = value
    return expected


@dataclass
class PeerApiStandIn:
    """The Inngest API as the peer's capture served it (register, the batch, the actions); records calls."""

    fixture: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if request.url.path == "/fn/register":
            return httpx.Response(200, json={"ok": True, "modified": True})
        body = self.fixture["request"]["body"]
        if request.url.path.endswith("/batch"):
            return httpx.Response(
                200,
                json=[body["event"]]
                + [{**body["event"], "data": {"i": i}, "id": f"01HF3ZQ6Y5EVENT00000000B{i}"} for i in (1, 2)],
            )
        if request.url.path.endswith("/actions"):
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"error": f"unexpected path {request.url.path}"})


def steppe_handler(fixture: Mapping[str, Any], api: PeerApiStandIn) -> ServeHandler:
    if fixture["mode"] == "dev":
        client = twins.build_dev_client()
    else:
        client = twins.build_cloud_client(signing_key=SIGNING_KEY, signing_key_fallback=FALLBACK_KEY)
    return ServeHandler(
        client,
        framework="flask",
        settings=client.serve_settings(environ={}),
        api_transport=httpx.MockTransport(api.handle),
        clock=lambda: FIXED_NOW,
    )


async def ask_steppe(fixture: Mapping[str, Any], api: PeerApiStandIn) -> HttpResponse:
    request = fixture["request"]
    if request["raw_body"] is not None:
        body = request["raw_body"].encode()
    elif request["body"] is not None:
        body = json.dumps(request["body"], sort_keys=True, separators=(",", ":")).encode()
    else:
        body = b""
    return await steppe_handler(fixture, api).handle(
        HttpRequest.create(
            method=request["method"],
            url="http://localhost/api/inngest",
            headers=request["headers"],
            query=request["query"],
            body=body,
        )
    )


def parse(body: bytes) -> Any:
    return json.loads(body) if body else None


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
async def test_steppe_answers_as_the_peer_does(path: Path) -> None:
    fixture = json.loads(path.read_text())
    api = PeerApiStandIn(fixture)
    ours = await ask_steppe(fixture, api)
    peer = fixture["response"]
    peer_summary = summarize(peer["status"], peer["headers"], peer["body"])
    our_summary = summarize(ours.status, ours.headers, parse(ours.body))
    difference = EXPECTED_DIFFERENCES.get(path.stem)
    assert our_summary == expected_summary(peer_summary, difference)
    if difference is not None:
        assert our_summary != peer_summary, f"{path.stem} no longer differs: remove it from EXPECTED_DIFFERENCES"


def test_every_expected_difference_names_a_captured_exchange() -> None:
    assert set(EXPECTED_DIFFERENCES) <= {path.stem for path in FIXTURES}


@pytest.mark.parametrize("name", ["cloud__signed_01_primary", "cloud__signed_02_fallback"])
async def test_a_signed_call_is_answered_signed_with_the_key_that_verified_it(name: str) -> None:
    fixture = json.loads((PEER_FIXTURES / f"{name}.json").read_text())
    ours = await ask_steppe(fixture, PeerApiStandIn(fixture))
    key = SIGNING_KEY if name.endswith("primary") else FALLBACK_KEY
    verified = verify(ours.body, ours.headers["x-inngest-signature"], signing_key=key, now=FIXED_NOW)
    assert verified.used_fallback is False  # verified against the one key given here
    assert "x-inngest-signature" in fixture["response"]["headers"]  # the peer signs these answers too


async def test_use_api_fetches_from_the_same_endpoints_as_the_peer() -> None:
    fixture = json.loads((PEER_FIXTURES / "dev__use_api_01.json").read_text())
    api = PeerApiStandIn(fixture)
    ours = await ask_steppe(fixture, api)
    assert (ours.status, parse(ours.body)) == (200, 3)
    peer_calls = [(call["method"], call["url"]) for call in fixture["outbound"]]
    assert [(call.method, str(call.url)) for call in api.calls] == peer_calls
