"""Blocking function bodies on threads of their own.

A sync function body spends its life waiting on its steps, and a sync step handler runs in the loop's
thread pool. If bodies shared that pool, enough concurrent sync runs would fill it with bodies waiting on
steps that can never get a thread: a deadlock. So each body gets a dedicated thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_in_own_thread"]

_T = TypeVar("_T")


async def run_in_own_thread(function: Callable[..., _T], *args: Any, name: str = "steppe-function") -> _T:
    """``function(*args)`` on a new thread, with the caller's context variables; awaits its result."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if outcome.done():  # the awaiting task was cancelled meanwhile
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    def body() -> None:
        try:
            result, error = context.run(function, *args), None
        except BaseException as raised:  # noqa: BLE001 - handed to the awaiting task as is
            result, error = None, raised
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop closed while this body ran: nobody is waiting any more

    threading.Thread(target=body, name=name, daemon=True).start()
    return await outcome
