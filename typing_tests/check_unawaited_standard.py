# pyright: standard
# pyright: reportUnnecessaryTypeIgnoreComment=error
"""check_unawaited.py's first cases under pyright's default mode ("standard") instead of the suite's strict."""

from __future__ import annotations

from steppe import Step


async def get_user(user_id: int) -> str:
    return str(user_id)


async def unawaited(step: Step) -> None:
    # case[reject]: step.run not awaited (pyright standard mode)
    step.run("x", get_user, 1)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.parallel not awaited (pyright standard mode)
    step.parallel((lambda: step.run("a", get_user, 1),))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: a group's parallel not awaited (pyright standard mode)
    step.group().add(lambda: step.run("g", get_user, 1)).parallel()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
