"""A served call frees what it built when it returns: no reference cycle is left for the garbage collector.

A cycle through one call's objects keeps its whole parsed request (every memo) alive until the collector runs,
and the collection then costs the next calls their time. Each case serves one call and asks the collector what
it would have to free that is steppe's. (A step failure kept for a second await still makes a cycle through
the failing frame; that path ends the run and is left to the collector.)
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import steppe
from steppe.serve import HttpResponse
from tests.serve.helpers import call_body, call_request, dev_handler, event, sha1


def _client() -> steppe.Client:
    return steppe.Client("garbage", is_production=False, event_key="k")


def _steppe_garbage(call: Callable[[], HttpResponse]) -> tuple[HttpResponse, list[str]]:
    """``call``'s response and the type names of the steppe objects only the collector could free after it."""
    gc.collect()
    gc.disable()
    try:
        response = call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = sorted({type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("steppe")})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return response, found


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    kept = asyncio.new_event_loop()  # one loop for every call, as a server keeps it: a loop's own setup is not ours
    yield kept
    kept.close()


def _functions(client: steppe.Client) -> dict[str, steppe.Function[Any, Any]]:
    @client.create_function(fn_id="def-body", trigger=steppe.TriggerEvent("e"))
    def def_body(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return step.run("first", lambda: 1) + step.run("second", lambda: 2)

    @client.create_function(fn_id="async-body", trigger=steppe.TriggerEvent("e"))
    async def async_body(ctx: steppe.Context, step: steppe.Step) -> int:
        first = await step.run("first", lambda: 1)
        (second, third) = await step.parallel((lambda: step.run("second", lambda: 2), lambda: step.run("third", int)))
        return first + second + third

    return {"def": def_body, "async": async_body}


# memoized steps -> what the call does: run the next step in place, report a parallel group, finish
_CALLS = {
    "runs a new step": {},
    "reports steps found together": {sha1("first"): {"data": 1}},
    "finishes": {sha1("first"): {"data": 1}, sha1("second"): {"data": 2}, sha1("third"): {"data": 0}},
}


@pytest.mark.parametrize("kind", ["def", "async"])
@pytest.mark.parametrize("what", list(_CALLS))
@pytest.mark.parametrize("path", ["handle", "handle_blocking"])
def test_a_call_leaves_no_reference_cycle(kind: str, what: str, path: str, loop: asyncio.AbstractEventLoop) -> None:
    client = _client()
    function = _functions(client)[kind]
    handler = dev_handler(client)
    request = call_request(function, call_body(event("e"), _CALLS[what]))

    def serve() -> HttpResponse:
        if path == "handle":
            return loop.run_until_complete(handler.handle(request))
        return handler.handle_blocking(request)

    serve()  # first call: module-level caches fill, and they are not garbage
    response, garbage = _steppe_garbage(serve)
    assert response.status in (200, 206), response.body
    assert garbage == []
