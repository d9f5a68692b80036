"""``ServeHandler.handle_blocking``, the WSGI path: a def body in the worker thread, loops kept across requests."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import threading
import weakref
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, cast

import pytest
from pydantic import BaseModel, ValidationError

import steppe
from steppe._protocol import wire
from steppe.serve import HttpResponse
from tests.serve.helpers import body, call_body, call_request, dev_handler, event, ops, sha1


def dev_client() -> steppe.Client:
    return steppe.Client("wsgi", is_production=False, event_key="k")


def test_a_def_function_runs_in_the_calling_thread_with_no_event_loop() -> None:
    client = dev_client()
    seen: dict[str, object] = {}

    def step_handler() -> int:
        seen["step thread"] = threading.current_thread()
        seen["step loop"] = _running_loop()
        return asyncio.run(_one())  # a def step may run its own loop, as on a thread of its own

    @client.create_function(fn_id="inline", trigger=steppe.TriggerEvent("e"))
    def inline(ctx: steppe.Context, step: steppe.StepSync) -> int:
        seen["body thread"] = threading.current_thread()
        seen["body loop"] = _running_loop()
        asyncio.run(_one())  # so may a def body
        return step.run("first", step_handler)

    handler = dev_handler(client)
    answer = handler.handle_blocking(call_request(inline, call_body(event("e"))))
    assert [(o["op"], o["data"]) for o in ops(answer)] == [("StepRun", 1)]
    assert seen == {
        "body thread": threading.current_thread(),
        "body loop": None,
        "step thread": threading.current_thread(),
        "step loop": None,
    }
    done = handler.handle_blocking(call_request(inline, call_body(event("e"), {sha1("first"): {"data": 1}})))
    assert (done.status, body(done)) == (200, 1)


def test_event_loops_are_kept_from_one_request_to_the_next() -> None:
    client = dev_client()
    loops: list[asyncio.AbstractEventLoop] = []

    @client.create_function(fn_id="on-loop", trigger=steppe.TriggerEvent("e"))
    async def on_loop(ctx: steppe.Context, step: steppe.Step) -> None:
        loops.append(asyncio.get_running_loop())

    handler = dev_handler(client)
    for _ in range(3):
        assert handler.handle_blocking(call_request(on_loop, call_body(event("e")))).status == 200
    assert len(loops) == 3
    assert loops[0] is loops[1] is loops[2]
    assert not loops[0].is_closed()


def test_a_task_a_request_leaves_behind_is_cancelled_before_its_loop_serves_another() -> None:
    client = dev_client()
    left: list[asyncio.Task[None]] = []

    @client.create_function(fn_id="leaves-a-task", trigger=steppe.TriggerEvent("e"))
    async def leaves_a_task(ctx: steppe.Context, step: steppe.Step) -> None:
        left.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))

    handler = dev_handler(client)
    assert handler.handle_blocking(call_request(leaves_a_task, call_body(event("e")))).status == 200
    assert left[0].cancelled()


def test_sync_parallel_branches_are_planned_in_callable_order_in_the_worker_thread() -> None:
    client = dev_client()
    started = threading.Barrier(3)

    def named(name: str) -> str:
        return name

    @client.create_function(fn_id="fan-out", trigger=steppe.TriggerEvent("e"))
    def fan_out(ctx: steppe.Context, step: steppe.StepSync) -> tuple[str, ...]:
        def start(name: str) -> str:
            started.wait()  # the three branch threads reach their steps together: their order is up to the OS
            return step.run(name, named, name)

        return step.parallel(tuple(functools.partial(start, name) for name in "abc"))

    handler = dev_handler(client)
    for _ in range(5):
        started.reset()
        answer = handler.handle_blocking(call_request(fan_out, call_body(event("e"))))
        assert [(o["op"], o["displayName"]) for o in ops(answer)] == [("StepPlanned", n) for n in "abc"]
    memos = {sha1(name): {"data": name} for name in "abc"}
    started.reset()
    done = handler.handle_blocking(call_request(fan_out, call_body(event("e"), memos)))
    assert (done.status, body(done)) == (200, ["a", "b", "c"])


# --- the WSGI path answers exactly as the ASGI one -------------------------------------------------------------


class Item(BaseModel):
    index: int
    name: str


def make_item(index: int) -> Item:
    return Item(index=index, name=f"item-{index}")


def fails() -> int:
    raise ValueError("step broke")


def fails_for_good() -> int:
    raise steppe.NonRetriableError("no point retrying")


def wrong_type() -> int:
    return "not an int"  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


def served_functions(client: steppe.Client) -> None:
    """One def and one async def function of each shape the executor answers differently."""

    @client.create_function(fn_id="def-items", trigger=steppe.TriggerEvent("e"))
    def def_items(ctx: steppe.Context, step: steppe.StepSync) -> int:
        return sum(step.run(f"item-{i}", make_item, i).index for i in range(3))

    @client.create_function(fn_id="async-items", trigger=steppe.TriggerEvent("e"))
    async def async_items(ctx: steppe.Context, step: steppe.Step) -> int:
        return sum([(await step.run(f"item-{i}", make_item, i)).index for i in range(3)])

    @client.create_function(fn_id="def-steps", trigger=steppe.TriggerEvent("e"), retries=1)
    def def_steps(ctx: steppe.Context, step: steppe.StepSync) -> Any:
        kind = ctx.event.data["kind"]
        if kind == "error":
            return step.run("fails", fails)
        if kind == "final":
            return step.run("fails", fails_for_good)
        if kind == "type":
            return step.run("wrong", wrong_type)
        if kind == "nested":
            return step.run("outer", lambda: step.run("inner", lambda: 1))
        if kind == "sleep":
            return step.sleep("nap", timedelta(seconds=5))
        if kind == "raise":
            raise RuntimeError("the body broke")
        return step.parallel((lambda: step.run("a", lambda: 1), lambda: step.sleep("b", timedelta(seconds=1))))

    @client.create_function(fn_id="async-steps", trigger=steppe.TriggerEvent("e"), retries=1)
    async def async_steps(ctx: steppe.Context, step: steppe.Step) -> Any:
        kind = ctx.event.data["kind"]
        if kind == "error":
            return await step.run("fails", fails)
        if kind == "final":
            return await step.run("fails", fails_for_good)
        if kind == "type":
            return await step.run("wrong", wrong_type)
        if kind == "sleep":
            return await step.sleep("nap", timedelta(seconds=5))
        if kind == "raise":
            raise RuntimeError("the body broke")
        return await step.parallel((lambda: step.run("a", lambda: 1), lambda: step.sleep("b", timedelta(seconds=1))))


def requests_for(function: steppe.Function[Any, Any]) -> list[tuple[str, bytes, str]]:
    """(what, body, stepId) of the calls to compare for ``function``."""
    if function.local_id.endswith("items"):
        item = {"data": {"index": 0, "name": "item-0"}}
        return [
            ("first call", call_body(event("e")), "step"),
            ("one memo", call_body(event("e"), {sha1("item-0"): item}), "step"),
            (
                "all memos",
                call_body(event("e"), {sha1(f"item-{i}"): {"data": {"index": i, "name": "x"}} for i in range(3)}),
                "step",
            ),
            ("a memo of the wrong shape", call_body(event("e"), {sha1("item-0"): {"data": {"index": "zero"}}}), "step"),
            ("targeted", call_body(event("e"), {sha1("item-0"): item}), sha1("item-1")),
            ("target not found", call_body(event("e")), sha1("elsewhere")),
            ("immediate execution disabled", call_body(event("e"), disable_immediate_execution=True), "step"),
        ]
    kinds = ["error", "final", "type", "nested", "sleep", "raise", "parallel"]
    calls = [(kind, call_body(event("e", {"kind": kind})), "step") for kind in kinds]
    calls.append(("last attempt", call_body(event("e", {"kind": "error"}), attempt=1, max_attempts=2), "step"))
    calls.append(
        (
            "stored error",
            call_body(
                event("e", {"kind": "error"}), {sha1("fails"): {"error": {"name": "ValueError", "message": "m"}}}
            ),
            "step",
        )
    )
    return calls


def comparable(response: HttpResponse) -> tuple[int, dict[str, str], Any]:
    return response.status, response.headers, _user_frames(json.loads(response.body))


def _user_frames(value: Any) -> Any:
    """A stack as the frames of this file and the exception's line. Only the thread pool's frame, above the
    user's, differs: a def function's step runs in the worker thread under WSGI, in the step pool otherwise."""
    if isinstance(value, dict):
        members = cast(dict[str, Any], value)
        return {
            key: _stack_lines(item) if key == "stack" and isinstance(item, str) else _user_frames(item)
            for key, item in members.items()
        }
    if isinstance(value, list):
        return [_user_frames(item) for item in cast(Iterable[Any], value)]
    return value


def _stack_lines(stack: str) -> list[str]:
    lines = stack.splitlines()
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    return [frame for frame in frames if __file__ in frame] + lines[-1:]


@pytest.mark.parametrize("fn_id", ["def-items", "async-items", "def-steps", "async-steps"])
async def test_the_wsgi_path_answers_every_call_exactly_as_the_async_one(fn_id: str) -> None:
    client = dev_client()
    served_functions(client)
    handler = dev_handler(client)
    [function] = [f for f in client.functions if f.local_id == fn_id]
    for what, request_body, step_id in requests_for(function):
        request = call_request(function, request_body, step_id=step_id)
        blocking = await asyncio.to_thread(handler.handle_blocking, request)  # a worker thread, as under WSGI
        assert comparable(blocking) == comparable(await handler.handle(request)), what


# --- parsing -----------------------------------------------------------------------------------------------------


def test_stored_steps_from_python_data_are_still_checked_as_json() -> None:
    """Only data a JSON parser produced skips the value-by-value check (it cannot hold anything but JSON)."""
    document: dict[str, Any] = json.loads(call_body(event("e")))
    document["steps"] = {sha1("a"): {"data": {1, 2}}}
    with pytest.raises(ValidationError, match="steps"):
        wire.CallRequest.model_validate(document)
    document["steps"] = {sha1("a"): {"data": [1, 2]}}
    assert wire.CallRequest.from_json_document(document).steps == {sha1("a"): {"data": [1, 2]}}
    document["steps"] = []
    with pytest.raises(ValidationError, match="steps"):
        wire.CallRequest.from_json_document(document)


class Signup(BaseModel):
    email: str


def test_a_typed_event_is_rebuilt_with_one_model_class_kept_for_its_type() -> None:
    """pydantic keeps ``Event[Model]`` only while something refers to it: building it again per call is slow."""
    client = dev_client()

    @client.create_function(fn_id="typed", trigger=steppe.EventType("app/signup", Signup))
    async def typed(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        return None

    decode: Callable[[dict[str, Any]], steppe.Event[Signup]] = typed.decode_event
    first = weakref.ref(type(decode(event("app/signup", {"email": "a@b"}))))
    gc.collect()
    assert type(decode(event("app/signup", {"email": "a@b"}))) is first()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _one() -> int:
    return 1
