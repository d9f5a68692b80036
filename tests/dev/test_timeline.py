"""The timeline's layout: bar positions in ms from the run's start and as percentages of the axis."""

from __future__ import annotations

from steppe._dev.timeline import MIN_WIDTH_PERCENT, build_timeline
from tests.dev.fake_runs import Run, Step, at


def test_a_wait_cut_short_by_cancelling_ends_where_the_run_ended() -> None:
    run = Run(
        "r",
        "f",
        "cancelled",
        at(0),
        at(4000),
        steps=[
            Step("quick", at(0), at(2)),
            Step("confirm", at(1000), None, kind="wait", status="waiting", waiting_for="event app/ok"),
        ],
    )
    timeline = build_timeline(run, now=at(60_000))
    quick, confirm = timeline.bars
    assert (confirm.start_ms, confirm.end_ms, confirm.is_span, confirm.is_open) == (1000, 4000, True, True)
    assert timeline.total_ms == 4000
    assert (confirm.left, confirm.width) == (25.0, 75.0)
    assert quick.width == MIN_WIDTH_PERCENT  # 2 ms of 4 s is still visible
    assert [tick.label for tick in timeline.ticks] == ["0 ms", "1.0 s", "2.0 s", "3.0 s", "4.0 s"]


def test_a_run_still_going_reaches_up_to_now() -> None:
    run = Run("r", "f", "running", at(0), None, steps=[Step("work", at(500), None, status="running")])
    [bar] = build_timeline(run, now=at(2000)).bars
    assert (bar.start_ms, bar.end_ms, bar.duration) == (500, 2000, "1.5 s")


def test_a_run_not_started_has_an_empty_timeline() -> None:
    timeline = build_timeline(Run("r", "f", "queued", None, None), now=at(0))
    assert (timeline.bars, timeline.total_ms, timeline.ticks) == ((), 0, ())
