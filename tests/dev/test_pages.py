"""The dev UI's handlers, in-process over the fake operations API: what each page shows and what each form does."""

from __future__ import annotations

import re

import httpx

from tests.dev.conftest import DETAILED, token_in
from tests.dev.fake_runs import FakeRuns

BAR = re.compile(r'data-step-id="([^"]+)" data-start-ms="(\d+)" data-end-ms="(\d+)"')


def run_ids_in(page: str) -> list[str]:
    return re.findall(r'<tr class="run" data-run-id="([^"]+)">', page)


def bars_in(page: str) -> dict[str, tuple[int, int]]:
    return {step: (int(start), int(end)) for step, start, end in BAR.findall(page)}


# --- the index page ------------------------------------------------------------------------------------------------


async def test_the_index_lists_the_functions_with_their_triggers_and_options(http: httpx.AsyncClient) -> None:
    page = (await http.get("/")).text
    assert "<b>onboard</b>" in page and "shop-onboard" in page and "<b>nightly</b>" in page
    assert "event app/user.signup (Signup)" in page
    assert "cron 0 3 * * *" in page
    assert "concurrency=Concurrency(limit=2)" in page
    assert "retries=1" in page


async def test_the_index_lists_runs_newest_first_with_status_start_and_duration(http: httpx.AsyncClient) -> None:
    page = (await http.get("/")).text
    ids = run_ids_in(page)
    assert ids[:3] == ["run-detailed", "run-0119", "run-0118"]
    assert len(ids) == 50
    row = page[page.index('data-run-id="run-0119"') :].split("</tr>")[0]
    assert '<a href="/runs/run-0119">' in row
    assert "status-completed" in row and "onboard" in row
    assert "2026-12-01 10:01:59 UTC" in row and "1.5 s" in row
    assert "121 runs" in page


async def test_pages_follow_the_before_cursor_without_gaps_or_repeats(http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    query = ""
    for _ in range(10):
        page = (await http.get(f"/?{query}")).text
        seen += run_ids_in(page)
        found = re.search(r'<a class="next" href="/\?([^"]+)">', page)
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
    assert len(seen) == 121 and len(set(seen)) == 121
    assert seen[-1] == "run-0000"


async def test_the_index_filters_by_status_and_function(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    page = (await http.get("/?status=failed&function=nightly")).text
    expected = [r.run_id for r in fake.runs if r.status == "failed" and r.function == "nightly"]
    assert run_ids_in(page) == expected and len(expected) == 20
    assert "20 runs matching" in page and 'class="next"' not in page
    assert '<option value="failed" selected>' in page and '<option value="nightly" selected>' in page


async def test_the_next_page_keeps_the_filters(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    page = (await http.get("/?status=completed")).text
    [older] = re.findall(r'<a class="next" href="/\?([^"]+)">', page)
    second = (await http.get("/?" + older.replace("&amp;", "&"))).text
    expected = [r.run_id for r in fake.runs if r.status == "completed"]
    assert run_ids_in(page) + run_ids_in(second) == expected and len(expected) == 80


async def test_an_unknown_status_is_a_bad_request_naming_the_choices(http: httpx.AsyncClient) -> None:
    response = await http.get("/?status=done")
    assert response.status_code == 400
    assert "status must be one of queued, running, completed, failed, cancelled, got &#39;done&#39;" in response.text
    assert (await http.get("/api/runs?limit=0")).json() == {
        "error": "limit must be a whole number from 1 to 500, got '0'"
    }


async def test_the_runs_endpoint_gives_the_same_state_as_the_page(http: httpx.AsyncClient) -> None:
    page = (await http.get("/")).text
    state = re.search(r'data-state="([0-9a-f]+)"', page)
    assert state and 'data-poll="/api/runs?"' in page
    body = (await http.get("/api/runs")).json()
    assert body["state"] == state.group(1)
    assert body["live"] is True and body["more"] is True
    assert body["runs"][1] == {
        "run_id": "run-0119",
        "function": "onboard",
        "status": "completed",
        "started_at": "2026-12-01T10:01:59+00:00",
        "ended_at": "2026-12-01T10:02:00.500000+00:00",
    }


async def test_an_older_page_with_nothing_in_flight_does_not_poll(http: httpx.AsyncClient) -> None:
    page = (await http.get("/?before=run-0050")).text
    assert "data-poll" not in page
    assert '<a href="/?">« newest</a>' in page


# --- the run page --------------------------------------------------------------------------------------------------


async def test_each_step_is_a_bar_with_its_times_from_the_run_start(http: httpx.AsyncClient) -> None:
    bars = bars_in((await http.get("/runs/run-detailed")).text)
    assert list(bars) == [step.id for step in DETAILED.steps]
    assert bars["update-user"] == (10, 60)
    assert bars["send-email"] == (12, 70)
    assert bars["nap"] == (900, 1000)  # still sleeping: drawn up to now


async def test_parallel_steps_overlap_on_the_time_axis(http: httpx.AsyncClient) -> None:
    bars = bars_in((await http.get("/runs/run-detailed")).text)
    (a_start, a_end), (b_start, b_end) = bars["update-user"], bars["send-email"]
    assert a_start < b_end and b_start < a_end


async def test_a_retried_step_shows_each_attempt(http: httpx.AsyncClient) -> None:
    page = (await http.get("/runs/run-detailed")).text
    bar = page[page.index('data-step-id="flaky"') :].split("</div>")[0]
    attempts = re.findall(r'<span class="attempt( failed)?" style="[^"]+" title="([^"]+)">', bar)
    assert [(failed, title) for failed, title in attempts] == [
        (" failed", "attempt 1: RuntimeError: the mail server said no (20 ms)"),
        ("", "attempt 2: succeeded (100 ms)"),
    ]


async def test_sleeps_show_what_they_wait_for_and_invokes_link_the_child(http: httpx.AsyncClient) -> None:
    page = (await http.get("/runs/run-detailed")).text
    nap = page[page.index('data-step-id="nap"') :].split("</div>")[0]
    assert 'class="bar status-waiting span open"' in page
    assert "waits for until 2026-12-01T11:00:00+00:00" in nap
    assert '<a class="child" href="/runs/run-child">child run →</a>' in page
    assert "waiting for <b>until 2026-12-01T11:00:00+00:00</b>" in page


async def test_step_output_and_error_are_one_click_away(http: httpx.AsyncClient) -> None:
    page = (await http.get("/runs/run-detailed")).text
    charge = page[page.index("<code>charge</code>") :].split("</details>")[0]
    assert "<b>RuntimeError</b>: the mail server said no" in charge
    email = page[page.index("<code>send-email</code>") :].split("</details>")[0]
    assert '<pre class="output">true</pre>' in email
    assert page.count("<details>") >= len(DETAILED.steps)


async def test_output_from_user_code_is_text_not_markup(http: httpx.AsyncClient) -> None:
    page = (await http.get("/runs/run-detailed")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # ours: /static/dev.js


async def test_an_unknown_run_is_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/runs/nope")
    assert response.status_code == 404 and "There is no run nope in /tmp/dev.db." in response.text
    assert (await http.get("/api/runs/nope")).status_code == 404


async def test_a_finished_run_page_does_not_poll_and_offers_no_cancel(http: httpx.AsyncClient) -> None:
    page = (await http.get("/runs/run-0003")).text
    assert "data-poll" not in page and "/cancel" not in page and "/runs/run-0003/rerun" in page


# --- forms: CSRF, cancel, rerun, send ------------------------------------------------------------------------------


async def test_a_post_without_the_token_is_refused_and_changes_nothing(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    for path, form in [
        ("/runs/run-detailed/cancel", {}),
        ("/runs/run-detailed/rerun", {"from_step": "flaky"}),
        ("/send", {"name": "app/user.signup", "data": "{}"}),
        ("/runs/run-detailed/cancel", {"csrf_token": "0" * 64}),
    ]:
        response = await http.post(path, data=form)
        assert response.status_code == 403, path
        assert "nothing changed" in response.text
    assert fake.cancelled == [] and fake.reruns == [] and fake.sent == []


async def test_cancel_asks_the_operations_api_and_says_so(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    token = token_in((await http.get("/runs/run-detailed")).text)
    response = await http.post("/runs/run-detailed/cancel", data={"csrf_token": token})
    assert response.status_code == 303
    assert fake.cancelled == ["run-detailed"]
    page = (await http.get(response.headers["location"])).text
    assert "cancel requested" in page


async def test_cancelling_a_finished_run_shows_why_not(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    token = token_in((await http.get("/send")).text)
    page = (await http.post("/runs/run-0003/cancel", data={"csrf_token": token}, follow_redirects=True)).text
    assert "not cancelled: the run is already failed" in page
    assert fake.cancelled == []


async def test_rerun_from_a_chosen_step_opens_the_new_run(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    page = (await http.get("/runs/run-detailed")).text
    assert '<option value="flaky">step flaky</option>' in page
    response = await http.post("/runs/run-detailed/rerun", data={"csrf_token": token_in(page), "from_step": "flaky"})
    assert response.status_code == 303
    assert fake.reruns == [("run-detailed", "flaky")]
    assert response.headers["location"].startswith("/runs/run-detailed-rerun0?")
    assert "rerun of run-detailed from step flaky" in (await http.get(response.headers["location"])).text


async def test_rerun_from_the_start(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    token = token_in((await http.get("/send")).text)
    (await http.post("/runs/run-0003/rerun", data={"csrf_token": token, "from_step": ""}))
    assert fake.reruns == [("run-0003", None)]


async def test_send_reports_json_errors_on_the_data_field(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    token = token_in((await http.get("/send")).text)
    response = await http.post("/send", data={"csrf_token": token, "name": "app/user.signup", "data": '{"user_id": 1,'})
    assert response.status_code == 422
    assert re.search(r'<p class="field-error" data-field="data">not JSON: Expecting property name', response.text)
    assert "{&#34;user_id&#34;: 1," in response.text  # the form keeps what was typed
    response = await http.post("/send", data={"csrf_token": token, "name": "", "data": "[1]"})
    assert '<p class="field-error" data-field="name">the event needs a name</p>' in response.text
    assert '<p class="field-error" data-field="data">must be a JSON object, got list</p>' in response.text
    assert fake.sent == []


async def test_send_reports_typed_trigger_errors_per_field(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    token = token_in((await http.get("/send")).text)
    response = await http.post(
        "/send", data={"csrf_token": token, "name": "app/user.signup", "data": '{"user_id": "x"}'}
    )
    assert response.status_code == 422
    errors = re.findall(r'<p class="field-error" data-field="data">([^<]+)</p>', response.text)
    assert errors == [
        "data.user_id: Input should be a valid integer, unable to parse string as an integer",
        "data.email: Field required",
    ]
    assert fake.sent == []


async def test_a_sent_event_shows_the_runs_it_started(http: httpx.AsyncClient, fake: FakeRuns) -> None:
    page = (await http.get("/send?event=app/user.signup")).text
    assert '<option value="app/user.signup">' in page
    response = await http.post(
        "/send",
        data={"csrf_token": token_in(page), "name": "app/user.signup", "data": '{"user_id": 1, "email": "a@b.c"}'},
    )
    assert response.status_code == 303 and response.headers["location"] == "/events/evt-1?name=app%2Fuser.signup"
    assert [e.data for e in fake.sent] == [{"user_id": 1, "email": "a@b.c"}]
    waiting = (await http.get(response.headers["location"])).text
    assert "Waiting for the worker to start its runs" in waiting and "data-poll" in waiting
    fake.started["evt-1"] = ["run-0007"]
    started = (await http.get(response.headers["location"])).text
    assert run_ids_in(started) == ["run-0007"] and "data-poll" not in started
    assert (await http.get("/api/events/evt-1?name=app/user.signup")).json()["runs"][0]["run_id"] == "run-0007"


async def test_an_event_no_function_listens_to_is_said_so(http: httpx.AsyncClient) -> None:
    token = token_in((await http.get("/send")).text)
    data = {"csrf_token": token, "name": "nobody/listens", "data": ""}
    response = await http.post("/send", data=data, follow_redirects=True)
    assert "No function of this app is triggered by nobody/listens." in response.text
    assert "data-poll" not in response.text


# --- safety --------------------------------------------------------------------------------------------------------


async def test_a_request_for_another_host_name_is_refused(http: httpx.AsyncClient) -> None:
    # DNS rebinding: a page on evil.example resolving its name to 127.0.0.1 must not read the UI.
    assert (await http.get("/", headers={"host": "evil.example"})).status_code == 400
    assert (await http.get("/", headers={"host": "localhost:8765"})).status_code == 200
