"""Sync (PUT) and introspection (GET): what is sent to the API, with which credentials, and what is answered."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

import steppe
from steppe._protocol.signing import hashed_signing_key, verify
from steppe.serve import HttpRequest, ServeHandler
from tests.serve.helpers import FALLBACK_KEY, NOW, SIGNING_KEY, FakeApi, signed


def cloud_client(**keywords: Any) -> steppe.Client:
    client = steppe.Client("sync-app", is_production=True, signing_key=SIGNING_KEY, **keywords)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    return client


def handler(client: steppe.Client, api: FakeApi, environ: dict[str, str] | None = None) -> ServeHandler:
    return ServeHandler(
        client,
        framework="test",
        settings=client.serve_settings(environ=environ or {}),
        api_transport=api.transport(),
        clock=lambda: NOW,
    )


def request(
    method: str,
    *,
    url: str = "https://app.test/api/inngest",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest.create(method=method, url=url, headers=headers or {}, query=query or {}, body=body)


REGISTERED = httpx.Response(200, json={"ok": True, "modified": False})


async def test_out_of_band_sync_authenticates_with_the_hashed_key_and_forwards_the_server_kind() -> None:
    api = FakeApi({"POST /fn/register": REGISTERED})
    answer = await handler(cloud_client(env="branch-1"), api).handle(
        request("PUT", headers=signed(b""), query={"deployId": "dep-1"})
    )
    assert (answer.status, json.loads(answer.body)) == (200, {"message": "Successfully synced.", "modified": False})
    assert verify(answer.body, answer.headers["x-inngest-signature"], signing_key=SIGNING_KEY, now=NOW)
    [call] = api.calls
    assert str(call.url) == "https://api.inngest.com/fn/register?deployId=dep-1"
    assert call.headers["authorization"] == f"Bearer {hashed_signing_key(SIGNING_KEY)}"
    assert call.headers["x-inngest-expected-server-kind"] == "cloud"
    assert call.headers["x-inngest-env"] == "branch-1"
    sent = json.loads(call.content)
    assert sent["url"] == "https://app.test/api/inngest"  # no deployId in the synced URL
    assert sent["sdk"] == call.headers["x-inngest-sdk"]  # spec: the same value as the header
    assert [f["id"] for f in sent["functions"]] == ["sync-app-f"]


async def test_a_refused_key_is_retried_with_the_fallback_key() -> None:
    fallback_bearer = f"Bearer {hashed_signing_key(FALLBACK_KEY)}"

    def register(call: httpx.Request) -> httpx.Response:
        if call.headers["authorization"] != fallback_bearer:
            return httpx.Response(401, json={"error": "unknown key"})
        return REGISTERED

    api = FakeApi({"POST /fn/register": register})
    answer = await handler(cloud_client(signing_key_fallback=FALLBACK_KEY), api).handle(
        request("PUT", headers=signed(b""))
    )
    assert answer.status == 200
    assert [c.headers["authorization"] for c in api.calls] == [
        f"Bearer {hashed_signing_key(SIGNING_KEY)}",
        fallback_bearer,
    ]


async def test_the_configured_serve_origin_and_path_win_over_the_request_url() -> None:
    api = FakeApi({"POST /fn/register": REGISTERED})
    client = cloud_client(serve_origin="public.example.com", serve_path="/hooks/inngest")
    await handler(client, api).handle(request("PUT", url="http://10.0.0.7:8000/api/inngest"))
    sent = json.loads(api.calls[0].content)
    assert sent["url"] == "https://public.example.com/hooks/inngest"
    assert sent["functions"][0]["steps"]["step"]["runtime"]["url"] == (
        "https://public.example.com/hooks/inngest?fnId=sync-app-f&stepId=step"
    )


async def test_the_environment_is_read_when_the_client_does_not_say() -> None:
    client = steppe.Client("env-app")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    api = FakeApi({"POST /fn/register": REGISTERED})
    environ = {"INNGEST_DEV": "http://devserver:9999", "INNGEST_SERVE_ORIGIN": "http://app:3000"}
    await handler(client, api, environ).handle(request("PUT"))
    assert str(api.calls[0].url) == "http://devserver:9999/fn/register"
    assert "authorization" not in api.calls[0].headers  # dev mode, no key
    assert json.loads(api.calls[0].content)["url"] == "http://app:3000/api/inngest"


async def test_an_unreachable_api_fails_the_sync_with_its_reason() -> None:
    def unreachable(call: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=call)

    api = FakeApi({"POST /fn/register": unreachable})
    answer = await handler(cloud_client(), api).handle(request("PUT", headers=signed(b"")))
    assert answer.status == 500
    reply = json.loads(answer.body)
    assert reply["modified"] is False
    assert "connection refused" in reply["message"]


async def test_an_in_band_request_in_dev_mode_is_answered_in_band_without_key_hashes() -> None:
    # The Dev Server and the CLI's conformance runner ask for an in-band sync; dev mode checks no signature, so
    # the answer leaves out what only a verified request may see.
    client = steppe.Client("dev-app", is_production=False, signing_key=SIGNING_KEY, event_key="evt-key")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    api = FakeApi({"POST /fn/register": REGISTERED})
    body = b'{"url":"http://127.0.0.1:9999/proxy"}'
    answer = await handler(client, api).handle(
        request("PUT", headers={"x-inngest-sync-kind": "in_band", "x-inngest-server-kind": "dev"}, body=body)
    )
    reply = json.loads(answer.body)
    assert (answer.status, answer.headers["x-inngest-sync-kind"]) == (200, "in_band")
    assert (reply["app_id"], reply["url"]) == ("dev-app", "http://127.0.0.1:9999/proxy")
    assert [fn["id"] for fn in reply["functions"]] == ["dev-app-f"]
    assert reply["inspection"]["authentication_succeeded"] is None
    assert not {"signing_key_hash", "event_key_hash", "signing_key_fallback_hash"} & set(reply["inspection"])
    assert "x-inngest-signature" not in answer.headers
    assert api.calls == []  # in band: nothing is posted


async def test_an_out_of_band_request_in_dev_mode_still_syncs_out_of_band() -> None:
    client = steppe.Client("dev-app", is_production=False)
    api = FakeApi({"POST /fn/register": REGISTERED})
    answer = await handler(client, api).handle(request("PUT", url="http://localhost:8000/api/inngest"))
    assert (answer.status, answer.headers["x-inngest-sync-kind"]) == (200, "out_of_band")
    assert json.loads(api.calls[0].content)["url"] == "http://localhost:8000/api/inngest"


async def test_an_unsigned_production_sync_never_registers_a_url_from_the_host_header() -> None:
    api = FakeApi({"POST /fn/register": REGISTERED})
    answer = await handler(cloud_client(), api).handle(request("PUT", url="https://attacker.example/api/inngest"))
    assert answer.status == 401
    message = json.loads(answer.body)["message"]
    assert "INNGEST_SERVE_ORIGIN" in message and "signed sync" in message
    assert api.calls == []


async def test_an_unsigned_production_sync_registers_the_configured_serve_origin() -> None:
    api = FakeApi({"POST /fn/register": REGISTERED})
    client = cloud_client(serve_origin="https://app.example.com")
    answer = await handler(client, api).handle(request("PUT", url="https://attacker.example/api/inngest"))
    assert answer.status == 200
    assert json.loads(api.calls[0].content)["url"] == "https://app.example.com/api/inngest"


async def test_a_sync_with_a_forged_signature_is_refused_without_a_serve_origin() -> None:
    api = FakeApi({"POST /fn/register": REGISTERED})
    forged = signed(b"", "signkey-test-" + "ab" * 32)
    answer = await handler(cloud_client(), api).handle(request("PUT", headers=forged))
    assert answer.status == 401
    assert "does not match" in json.loads(answer.body)["message"]
    assert api.calls == []


async def test_an_in_band_sync_uses_the_url_the_server_reached_us_on() -> None:
    api = FakeApi()
    body = b'{"url":"https://seen-by-inngest.test/api/inngest"}'
    answer = await handler(cloud_client(), api).handle(
        request("PUT", headers={"x-inngest-sync-kind": "in_band", **signed(body)}, body=body)
    )
    reply = json.loads(answer.body)
    assert answer.status == 200
    assert reply["url"] == "https://seen-by-inngest.test/api/inngest"
    assert reply["inspection"]["authentication_succeeded"] is True
    assert api.calls == []  # in band: nothing is posted


async def test_signed_introspection_reports_hashes_and_settings() -> None:
    client = cloud_client(event_key="evt-key", env="staging")
    answer = await handler(client, FakeApi()).handle(request("GET", headers=signed(b"")))
    reply = json.loads(answer.body)
    assert reply["event_key_hash"] == hashlib.sha256(b"evt-key").hexdigest()
    assert reply["signing_key_hash"] == hashed_signing_key(SIGNING_KEY)
    assert "signing_key_fallback_hash" not in reply
    assert (reply["env"], reply["mode"], reply["has_event_key"]) == ("staging", "cloud", True)
