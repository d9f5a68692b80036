"""A small app with a typed trigger and flow-control options, and runs of it in the fake operations API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pydantic
import pytest
import pytest_asyncio

import steppe
from steppe._core.outcomes import ErrorInfo
from steppe._dev.app import create_app
from steppe._dev.contract import RunStatus
from steppe._dev.csrf import CsrfGuard
from tests.dev.fake_runs import Attempt, FakeRuns, Run, Step, at


class Signup(pydantic.BaseModel):
    user_id: int
    email: str


SIGNUP = steppe.EventType("app/user.signup", Signup)


def make_client() -> steppe.Client:
    client = steppe.Client(app_id="shop")

    @client.create_function(
        fn_id="onboard", trigger=steppe.TriggerEvent(SIGNUP), concurrency=steppe.Concurrency(limit=2)
    )
    async def onboard(ctx: steppe.Context[Signup], step: steppe.Step) -> str:
        return "ok"

    @client.create_function(fn_id="nightly", trigger=steppe.TriggerCron("0 3 * * *"), retries=1)
    async def nightly(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    return client


BOOM = ErrorInfo(name="RuntimeError", message="the mail server said no", stack="Traceback ...\nRuntimeError: no")

# One run with everything the timeline draws: two parallel steps, a step retried once, a sleep, an invoke.
DETAILED = Run(
    run_id="run-detailed",
    function="onboard",
    status="running",
    started_at=at(0),
    ended_at=None,
    event={"name": "app/user.signup", "data": {"user_id": 1, "email": "a@b.c"}},
    events=[{"name": "app/user.signup", "data": {"user_id": 1, "email": "a@b.c"}}],
    waiting_on="until 2026-12-01T11:00:00+00:00",
    child_run_ids=["run-child"],
    steps=[
        Step("update-user", at(10), at(60), parallel=True, output={"id": "1", "note": "<script>alert(1)</script>"}),
        Step("send-email", at(12), at(70), parallel=True, output=True),
        Step(
            "flaky",
            at(80),
            at(400),
            attempts=[Attempt(0, at(80), at(100), BOOM), Attempt(1, at(300), at(400))],
            output="fine the second time",
        ),
        Step("charge", at(400), at(420), status="failed", error=BOOM, attempts=[Attempt(0, at(400), at(420), BOOM)]),
        Step("invoke-child", at(420), at(900), kind="invoke", child_run_id="run-child", output=1),
        Step("nap", at(900), None, kind="sleep", status="waiting", waiting_for="until 2026-12-01T11:00:00+00:00"),
    ],
)


def many_runs(count: int) -> list[Run]:
    """``count`` finished runs, newest first, alternating functions and statuses."""
    runs: list[Run] = []
    for index in reversed(range(count)):
        status: RunStatus = "failed" if index % 3 == 0 else "completed"
        function = "onboard" if index % 2 else "nightly"
        runs.append(Run(f"run-{index:04d}", function, status, at(index * 1000), at(index * 1000 + 1500)))
    return runs


@pytest.fixture
def fake() -> FakeRuns:
    return FakeRuns(make_client(), [DETAILED, *many_runs(120)])


@pytest.fixture
def csrf() -> CsrfGuard:
    return CsrfGuard(b"a fixed secret for tests")


@pytest_asyncio.fixture
async def http(fake: FakeRuns, csrf: CsrfGuard) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fake, fake.client, database="/tmp/dev.db", csrf=csrf, now=lambda: at(1000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as client:
        yield client


def token_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)
