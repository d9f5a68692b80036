"""The dev UI over a real database: runs made by the embedded engine, read and changed through ``steppe.Runs``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pydantic
import pytest_asyncio

import steppe
from steppe._dev.app import create_app
from steppe._operate.runs import Runs
from tests.dev.conftest import token_in
from tests.dev.test_pages import bars_in

client = steppe.Client(app_id="real")
attempts_of_flaky: list[int] = []


class Order(pydantic.BaseModel):
    order_id: int


@client.create_function(fn_id="child", trigger=steppe.TriggerEvent("real/child"))
async def child(ctx: steppe.Context, step: steppe.Step) -> int:
    return await step.run("double", lambda: 2 * int(ctx.event.data["n"]))


@client.create_function(fn_id="journey", trigger=steppe.TriggerEvent("real/go"), retries=2)
async def journey(ctx: steppe.Context, step: steppe.Step) -> str:
    await step.parallel((lambda: step.run("left", lambda: 1), lambda: step.run("right", lambda: 2)))

    def flaky() -> str:
        attempts_of_flaky.append(ctx.attempt)
        if len(attempts_of_flaky) == 1:
            raise RuntimeError("first try fails")
        return "second try works"

    await step.run("flaky", flaky)
    await step.run("shout", lambda: "<script>alert('x')</script>")
    await step.sleep("nap", timedelta(hours=1))
    doubled = await step.invoke("call-child", function=child, data={"n": 21})
    return f"doubled {doubled}"


@client.create_function(fn_id="typed", trigger=steppe.TriggerEvent(steppe.EventType("real/order", Order)))
async def typed(ctx: steppe.Context[Order], step: steppe.Step) -> int:
    return ctx.event.data.order_id


@pytest_asyncio.fixture
async def database(tmp_path: Path) -> Path:
    attempts_of_flaky.clear()
    path = tmp_path / "real.db"
    async with steppe.Engine(client, database=str(path), clock=steppe.ManualClock(auto_advance=True)) as engine:
        [run_id] = await engine.send(steppe.Event(name="real/go"))
        result = await engine.wait(run_id, timeout=30)
        assert result.status == "completed", result.error
    return path


@pytest_asyncio.fixture
async def http(database: Path) -> AsyncIterator[httpx.AsyncClient]:
    with Runs(database, app=client) as runs:
        app = create_app(runs, client, database=str(database))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            yield http


async def the_journey(http: httpx.AsyncClient) -> str:
    index = (await http.get("/?function=journey")).text
    [run_id] = re.findall(r'data-run-id="([^"]+)"', index)
    return str(run_id)


async def test_the_run_page_draws_what_the_engine_stored(http: httpx.AsyncClient) -> None:
    run_id = await the_journey(http)
    page = (await http.get(f"/runs/{run_id}")).text
    bars = bars_in(page)
    assert list(bars) == ["left", "right", "flaky", "shout", "nap", "call-child"]
    assert all(start <= end for start, end in bars.values())
    flaky = page[page.index('data-step-id="flaky"') :].split("</div>")[0]
    assert re.findall(r'<span class="attempt( failed)?"', flaky) == [" failed", ""]
    assert "attempt 1: RuntimeError: first try fails" in flaky
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and "<script>alert" not in page
    [child_run] = re.findall(r'<a class="child" href="/runs/([^"]+)">', page)
    child_page = (await http.get(f"/runs/{child_run}")).text
    assert "invoked by" in child_page and f'href="/runs/{run_id}"' in child_page
    assert '<pre class="output">&#34;doubled 42&#34;</pre>' in page


async def test_rerun_from_a_step_makes_a_new_run(http: httpx.AsyncClient) -> None:
    run_id = await the_journey(http)
    page = (await http.get(f"/runs/{run_id}")).text
    response = await http.post(f"/runs/{run_id}/rerun", data={"csrf_token": token_in(page), "from_step": "shout"})
    assert response.status_code == 303
    new_run = response.headers["location"].split("?")[0].removeprefix("/runs/")
    assert new_run != run_id
    new_page = (await http.get(f"/runs/{new_run}")).text
    assert "status-queued" in new_page and f"rerun of {run_id} from step shout" not in new_page
    assert "rerun of" in (await http.get(response.headers["location"])).text


async def test_cancelling_a_finished_run_changes_nothing(http: httpx.AsyncClient) -> None:
    run_id = await the_journey(http)
    page = (await http.get(f"/runs/{run_id}")).text
    response = await http.post(f"/runs/{run_id}/cancel", data={"csrf_token": token_in(page)}, follow_redirects=True)
    assert "not cancelled: the run is already completed" in response.text


async def test_send_validates_typed_triggers_through_runs(http: httpx.AsyncClient) -> None:
    token = token_in((await http.get("/send")).text)
    response = await http.post("/send", data={"csrf_token": token, "name": "real/order", "data": '{"order_id": []}'})
    assert response.status_code == 422
    assert re.findall(r'data-field="data">([^<]+)<', response.text) == [
        "data.order_id: Input should be a valid integer"
    ]
    sent = await http.post("/send", data={"csrf_token": token, "name": "real/order", "data": '{"order_id": 7}'})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/events/")
    waiting = (await http.get(sent.headers["location"])).text
    assert "Waiting for the worker to start its runs" in waiting  # no worker here: the event waits in the inbox
