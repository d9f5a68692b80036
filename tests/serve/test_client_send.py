"""``Client.send`` against an event API on loopback, and the client's serve keywords."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import steppe
from steppe.serve import InngestApiError, ServeSettingsError
from tests.serve.helpers import SIGNING_KEY


@dataclass
class EventApi:
    """A stand-in for the event API on a real loopback socket; it records what it receives."""

    url: str
    received: list[tuple[str, dict[str, str], Any]] = field(default_factory=lambda: [])


@pytest.fixture
def event_api() -> Iterator[EventApi]:
    api = EventApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            sent = json.loads(self.rfile.read(length))
            api.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, sent))
            reply = json.dumps({"ids": [f"id-{i}" for i in range(len(sent))], "status": 200}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Signup(BaseModel):
    email: str


SignupEvent = steppe.EventType("app/signup", Signup)


def client_for(api: EventApi, **keywords: Any) -> steppe.Client:
    client = steppe.Client(
        "sender",
        is_production=True,
        signing_key=SIGNING_KEY,
        event_key="evt-123",
        event_api_base_url=api.url,
        env="preview",
        **keywords,
    )

    @client.create_function(fn_id="welcome", trigger=SignupEvent)
    async def welcome(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        return None

    return client


async def test_send_posts_the_events_with_the_event_key(event_api: EventApi) -> None:
    client = client_for(event_api)
    ids = await client.send(
        [SignupEvent.create(Signup(email="a@b.c")), steppe.Event(name="other", data={"x": 1}, id="mine")]
    )
    assert ids == ["id-0", "id-1"]
    [(path, headers, sent)] = event_api.received
    assert path == "/e/evt-123"
    assert headers["x-inngest-env"] == "preview"
    assert headers["x-inngest-sdk"].startswith("steppe:v")
    assert sent == [
        {"name": "app/signup", "data": {"email": "a@b.c"}},
        {"name": "other", "data": {"x": 1}, "id": "mine"},
    ]


async def test_send_validates_typed_events_before_sending_anything(event_api: EventApi) -> None:
    client = client_for(event_api)
    with pytest.raises(ValidationError):
        await client.send([steppe.Event(name="ok"), steppe.Event(name="app/signup", data={"email": 7})])
    with pytest.raises(TypeError, match=r"events\[0\] is a dict, not a steppe.Event"):
        await client.send([{"name": "app/signup"}])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
    assert event_api.received == []


async def test_production_needs_an_event_key(event_api: EventApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INNGEST_EVENT_KEY", raising=False)
    client = steppe.Client("sender", is_production=True, signing_key=SIGNING_KEY, event_api_base_url=event_api.url)
    with pytest.raises(InngestApiError, match="INNGEST_EVENT_KEY"):
        await client.send(steppe.Event(name="x"))


def test_a_plain_client_needs_no_keys_until_it_is_served() -> None:
    client = steppe.Client("plain")
    with pytest.raises(ServeSettingsError, match="INNGEST_SIGNING_KEY is not set"):
        client.serve_settings(environ={})
    assert client.serve_settings(environ={"INNGEST_DEV": "1"}).dev is True


def test_client_keywords_win_over_the_environment() -> None:
    client = steppe.Client("kw", is_production=False, api_base_url="http://api.test", env="mine")
    settings = client.serve_settings(environ={"INNGEST_API_BASE_URL": "http://env.test", "INNGEST_ENV": "theirs"})
    assert (settings.dev, settings.api_base_url, settings.env) == (True, "http://api.test", "mine")
