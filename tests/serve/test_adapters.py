"""Each adapter, driven through its framework's own test client (and one real server on loopback)."""

from __future__ import annotations

import asyncio
import json
import threading
import types
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest
from django.test import AsyncClient as DjangoAsyncClient
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from fastapi import FastAPI
from starlette.applications import Starlette
from werkzeug.serving import make_server

import steppe
from steppe.serve import serve_django, serve_fastapi, serve_flask, serve_starlette
from tests.serve.helpers import call_body, event, sha1

QUERY = {"fnId": "adapted-greet", "stepId": "step"}
DEV = {"content-type": "application/json", "x-inngest-server-kind": "dev"}


@pytest.fixture(autouse=True)
def dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters read settings from the environment: make it a clean dev setup."""
    import os

    for name in [n for n in os.environ if n.startswith("INNGEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("INNGEST_DEV", "1")


def app_client() -> steppe.Client:
    client = steppe.Client("adapted")

    @client.create_function(fn_id="greet", trigger=steppe.TriggerEvent("e"))
    def greet(ctx: steppe.Context, step: steppe.StepSync) -> str:
        name = step.run("name", lambda: ctx.event.data["name"])
        return f"hello {name}"

    return client


BODY = call_body(event("e", {"name": "ada"}))
DONE = call_body(event("e", {"name": "ada"}), {sha1("name"): {"data": "ada"}})


def check_protocol_headers(headers: Any) -> None:
    assert headers["x-inngest-sdk"].startswith("steppe:v")
    assert headers["x-inngest-req-version"] == "2"


# --- Starlette and FastAPI (ASGI) -------------------------------------------------------------------


def asgi_client(app: Any) -> httpx.AsyncClient:
    # httpx's ASGI transport: Starlette's own TestClient is deprecated in favour of a package not installed here.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_starlette_serves_calls_introspection_and_sync() -> None:
    app = Starlette()
    serve_starlette(app, app_client())
    async with asgi_client(app) as http:
        step = await http.post("/api/inngest", params=QUERY, content=BODY, headers=DEV)
        assert step.status_code == 206
        assert [(o["op"], o["data"]) for o in step.json()] == [("StepRun", "ada")]
        check_protocol_headers(step.headers)
        done = await http.post("/api/inngest", params=QUERY, content=DONE, headers=DEV)
        assert (done.status_code, done.json()) == (200, "hello ada")
        assert (await http.get("/api/inngest")).json()["function_count"] == 1
        assert (await http.delete("/api/inngest")).status_code == 405


async def test_fastapi_serves_at_a_custom_path_outside_the_openapi_schema() -> None:
    app = FastAPI()
    serve_fastapi(app, app_client(), path="/inngest")
    async with asgi_client(app) as http:
        answer = await http.post("/inngest", params=QUERY, content=DONE, headers=DEV)
        assert (answer.status_code, answer.json()) == (200, "hello ada")
        check_protocol_headers(answer.headers)
        assert answer.headers["x-inngest-framework"] == "fastapi"
        assert "/inngest" not in (await http.get("/openapi.json")).json()["paths"]


async def test_a_blocking_step_does_not_block_the_event_loop() -> None:
    """While one call's sync step blocks its worker thread, another call on the same loop completes."""
    client = steppe.Client("adapted")
    release = threading.Event()

    @client.create_function(fn_id="blocker", trigger=steppe.TriggerEvent("e"))
    def blocker(ctx: steppe.Context, step: steppe.StepSync) -> str:
        return step.run("wait", lambda: "released" if release.wait(timeout=30) else "timed out")

    @client.create_function(fn_id="quick", trigger=steppe.TriggerEvent("e"))
    async def quick(ctx: steppe.Context, step: steppe.Step) -> str:
        return "quick"

    app = Starlette()
    serve_starlette(app, client)
    async with asgi_client(app) as http:
        blocked = asyncio.create_task(
            http.post("/api/inngest", params={"fnId": "adapted-blocker", "stepId": "step"}, content=BODY, headers=DEV)
        )
        answer = await http.post(
            "/api/inngest", params={"fnId": "adapted-quick", "stepId": "step"}, content=BODY, headers=DEV
        )
        assert (answer.json(), blocked.done()) == ("quick", False)
        release.set()
        assert [o["data"] for o in (await blocked).json()] == ["released"]


# --- Flask (WSGI) ---------------------------------------------------------------------------------


def test_flask_serves_calls_through_its_test_client() -> None:
    app = flask.Flask(__name__)
    serve_flask(app, app_client())
    http = app.test_client()
    step = http.post("/api/inngest", query_string=QUERY, data=BODY, headers=DEV)
    assert step.status_code == 206
    assert [(o["op"], o["data"]) for o in json.loads(step.data)] == [("StepRun", "ada")]
    check_protocol_headers(step.headers)
    bad = http.post("/api/inngest", query_string={"fnId": "adapted-greet", "stepId": "nope"}, data=BODY, headers=DEV)
    assert bad.status_code == 400


@pytest.fixture
def flask_server() -> Iterator[str]:
    """A real HTTP server on loopback (werkzeug's, threaded) serving the Flask app."""
    app = flask.Flask(__name__)
    serve_flask(app, app_client())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_flask_on_a_real_server_answers_concurrent_calls(flask_server: str) -> None:
    def ask(_: int) -> tuple[int, Any]:
        answer = httpx.post(f"{flask_server}/api/inngest", params=QUERY, content=DONE, headers=DEV)
        return answer.status_code, answer.json()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == [(200, "hello ada")] * 8


# --- Django -------------------------------------------------------------------------------------------


def django_path(query: dict[str, str]) -> str:
    return "/api/inngest?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_django_sync_view_serves_calls_csrf_exempt(django_urls: types.ModuleType) -> None:
    setattr(django_urls, "urlpatterns", [serve_django(app_client())])  # noqa: B010 - a module built at run time
    with override_settings(ROOT_URLCONF=django_urls.__name__):
        http = DjangoClient(enforce_csrf_checks=True)
        step = http.post(
            django_path(QUERY), data=BODY, content_type="application/json", headers={"X-Inngest-Server-Kind": "dev"}
        )
        assert step.status_code == 206
        assert [(o["op"], o["data"]) for o in json.loads(step.content)] == [("StepRun", "ada")]
        check_protocol_headers(step.headers)
        assert json.loads(http.get("/api/inngest").content)["mode"] == "dev"


async def test_django_async_view_serves_calls(django_urls: types.ModuleType) -> None:
    setattr(django_urls, "urlpatterns", [serve_django(app_client(), path="inngest", asynchronous=True)])  # noqa: B010
    with override_settings(ROOT_URLCONF=django_urls.__name__):
        http = DjangoAsyncClient(enforce_csrf_checks=True)
        done = await http.post(
            "/inngest?fnId=adapted-greet&stepId=step",
            data=DONE,
            content_type="application/json",
            headers={"X-Inngest-Server-Kind": "dev"},
        )
        assert (done.status_code, json.loads(done.content)) == (200, "hello ada")
        assert done.headers["x-inngest-framework"] == "django"
