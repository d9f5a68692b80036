"""The Inngest CLI's serve conformance suite, replayed in process: every call the server made to the reference SDK
(tests/serve/fixtures/conformance/go_sdk_wire.json) is sent to the same functions written with steppe
(tests/serve/conformance_app.py), and steppe's answer is compared the way the suite's runner compares it.

The runner decodes each answer into Go structs and compares them exactly, so an op field that is absent differs
from the same field sent as ``null``: every op must carry every field. Then it normalises what SDKs may differ in
(``runner_normalises`` in the fixture); the rest must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, cast

import httpx
import pytest

from steppe._protocol.signing import sign
from steppe.serve import HttpRequest, HttpResponse, ServeHandler
from tests.serve import conformance_app
from tests.serve.helpers import SIGNING_KEY

FIXTURE: Final = cast(
    dict[str, Any], json.loads((Path(__file__).parent / "fixtures" / "conformance" / "go_sdk_wire.json").read_text())
)
EXCHANGES: Final = cast(list[dict[str, Any]], FIXTURE["exchanges"])
OP_FIELDS: Final = cast(list[str], FIXTURE["op_fields"])
SLUGS: Final = sorted({exchange["function"] for exchange in EXCHANGES})


def dev_handler() -> ServeHandler:
    client = conformance_app.build_client()

    def no_api(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected call to the Inngest API: {request.method} {request.url}")

    return ServeHandler(
        client,
        framework="starlette",
        settings=client.serve_settings(environ={"INNGEST_DEV": "1"}),
        api_transport=httpx.MockTransport(no_api),
    )


def call(exchange: dict[str, Any]) -> HttpRequest:
    steps = cast(dict[str, Any], exchange["steps"])
    stack = cast(list[str], exchange["stack"])
    body = {
        "event": exchange["event"],
        "events": [exchange["event"]],
        "steps": steps,
        "ctx": {
            "run_id": "01KCONFORMANCE0RUN00000001",
            "attempt": exchange["attempt"],
            "disable_immediate_execution": False,
            "use_api": False,
            "step_id": "step",
            "stack": {"stack": stack, "current": len(stack)},
        },
        "version": 2,
        "use_api": False,
    }
    return HttpRequest.create(
        method="POST",
        url="http://127.0.0.1:3000/api/inngest",
        headers={"content-type": "application/json", "x-inngest-server-kind": "dev"},
        query={"fnId": f"{conformance_app.APP_ID}-{exchange['function']}", "stepId": "step"},
        body=json.dumps(body).encode(),
    )


def normalised_op(op: dict[str, Any]) -> dict[str, Any]:
    """An op as the runner compares it: timing, userland and displayName ignored; a Sleep op named by its
    duration, without opts; of an error, only the message."""
    kept = {key: op[key] for key in ("op", "id", "name", "opts", "data", "error")}
    if kept["op"] == "Sleep":
        opts = cast(dict[str, Any], op["opts"] or {})
        kept["name"] = opts.get("duration")
        kept["opts"] = None
    if kept["error"] is not None:
        kept["error"] = {"message": kept["error"]["message"]}
    return kept


def check_answer(exchange: dict[str, Any], answer: HttpResponse) -> None:
    expected = exchange["response"]
    assert answer.status == exchange["status"], answer.body
    got = json.loads(answer.body)
    if answer.status == 206:
        for op in got:
            assert list(op) == OP_FIELDS  # every field, null where empty, in the reference SDK's order
            if op["error"] is not None:
                assert {"name", "message", "data"} <= set(op["error"])
        assert [normalised_op(op) for op in got] == [normalised_op(op) for op in expected]
    elif answer.status == 500:
        # The runner accepts a function error whose name is absent, empty or "Error", with the same message.
        assert got.get("name", "") in ("", "Error")
        assert got["message"] == expected["message"]
        assert answer.headers["x-inngest-no-retry"] == "false"
    else:
        assert got == expected


def exchange_id(exchange: dict[str, Any]) -> str:
    return f"{exchange['function']}-attempt{exchange['attempt']}-{len(exchange['steps'])}memos"


@pytest.mark.parametrize("exchange", EXCHANGES, ids=exchange_id)
async def test_steppe_answers_each_call_of_the_conformance_suite_as_the_reference_sdk(
    exchange: dict[str, Any],
) -> None:
    check_answer(exchange, await dev_handler().handle(call(exchange)))


def test_the_fixture_covers_every_function_of_the_suite() -> None:
    assert SLUGS == [
        "test-suite-cancel-test",
        "test-suite-retry-test",
        "test-suite-simple-fn",
        "test-suite-step-test",
        "test-suite-wait-for-event",
    ]


async def test_the_runners_in_band_sync_is_answered_in_dev_mode() -> None:
    # As the runner sends it: PUT, in band, from a dev server, signed with a key the app in dev mode does not hold.
    body = b'{"url":"http://127.0.0.1:45678"}'
    answer = await dev_handler().handle(
        HttpRequest.create(
            method="PUT",
            url="http://127.0.0.1:3000/api/inngest",
            headers={
                "content-type": "application/json",
                "x-inngest-sync-kind": "in_band",
                "x-inngest-server-kind": "dev",
                "x-inngest-signature": sign(body, SIGNING_KEY),
            },
            query={},
            body=body,
        )
    )
    assert answer.status == 200
    reply = json.loads(answer.body)
    assert (reply["app_id"], reply["url"]) == (conformance_app.APP_ID, "http://127.0.0.1:45678")
    slugs = sorted(fn["id"].removeprefix(f"{conformance_app.APP_ID}-") for fn in reply["functions"])
    assert slugs == SLUGS
    urls = {fn["steps"]["step"]["runtime"]["url"].split("?")[0] for fn in reply["functions"]}
    assert urls == {"http://127.0.0.1:45678"}
