"""End to end: the reference page's parallel example under ``steppe dev``, driven in a real headless Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

import steppe
from tests.dev.processes import PARALLEL_EXAMPLE, steppe_dev

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it): no browser is downloaded
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000  # a hang guard: the run takes about 50 ms


def bars_of(page: Page) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for bar in page.locator("[data-step-id]").all():
        step_id, start, end = (bar.get_attribute(name) for name in ("data-step-id", "data-start-ms", "data-end-ms"))
        assert step_id and start and end
        found[step_id] = (int(start), int(end))
    return found


def test_a_run_sent_from_the_form_shows_its_parallel_steps_side_by_side(tmp_path: Path) -> None:
    assert Path(CHROMIUM).is_file(), (
        f"the end-to-end tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    )
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    with steppe_dev(str(PARALLEL_EXAMPLE), "--port", "0", cwd=tmp_path) as dev:
        # No --db: the default file, created with its directory, and said where.
        assert "database .steppe/dev.db (default)" in dev.lines[0]
        assert (tmp_path / ".steppe" / "dev.db").is_file()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

            page.goto(f"{dev.url}/")
            assert "my-function" in page.locator("table.functions").inner_text()
            # The first run warms the worker (each output type's codec is built on first use, between the two
            # parallel steps' starts); the second shows the steps' overlap rather than a cold start.
            for user_id in (1, 42):
                page.locator("header nav").get_by_role("link", name="Send an event").click()
                page.fill("#name", "my-event")
                page.fill("#data", f'{{"user_id": {user_id}}}')
                page.get_by_role("button", name="Send").click()
                # The event page reloads itself once the worker has started the run.
                run_link = page.locator("tr.run a").first
                run_link.wait_for(timeout=WAIT_MS)
                run_link.click()
                page.locator("h1 .status-completed").wait_for(timeout=WAIT_MS)

            bars = bars_of(page)
            assert set(bars) == {"update-user", "send-email"}
            (a_start, a_end), (b_start, b_end) = bars["update-user"], bars["send-email"]
            assert a_start < b_end and b_start < a_end, bars  # the two parallel steps overlap
            assert '"email_sent": true' in page.locator("pre.output").last.inner_text()

            page.locator("summary", has_text="send-email").click()
            assert page.locator("details[open] pre.output").inner_text() == "true"
            page.locator("summary", has_text="send-email").click()

            screenshot = tmp_path / "dev-ui.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 0
            if target := os.environ.get("STEPPE_SCREENSHOT_DIR"):
                shutil.copy(screenshot, Path(target) / "dev-ui.png")

            page.goto(f"{dev.url}/")  # the index with the finished run: it polls for new runs, quietly
            page.wait_for_timeout(3500)
            browser.close()
        status, stderr = dev.stop(signal.SIGINT)
    assert problems == []
    assert status == 0, stderr
    assert "steppe dev: stopped" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_worker_and_the_server_together(tmp_path: Path, signum: signal.Signals) -> None:
    database = tmp_path / "dev.db"
    with steppe_dev(str(PARALLEL_EXAMPLE), "--db", str(database), "--port", "0", cwd=tmp_path) as dev:
        assert f"database {database}" in dev.lines[0] and "(default)" not in dev.lines[0]
        status, stderr = dev.stop(signum)
    assert status == 0, stderr
    asyncio.run(take_the_database(database))


async def take_the_database(database: Path) -> None:
    """Both let go of the database: a new engine can take it at once (it refuses one another engine holds)."""
    async with steppe.Engine(steppe.Client(app_id="examples"), database=str(database)):
        pass
