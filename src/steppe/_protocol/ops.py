"""Steps as the ops of a 206 response: what the server is told about each step a call found or ran.

Each op is built straight as its wire object (``wire_object(Op, ...)``): a call answers with one every time, and
the ``Op`` model (which parses them, and whose rules these follow) would cost most of a short call."""

from __future__ import annotations

from pydantic import JsonValue

from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import (
    InvokeRequest,
    RunRequest,
    SendEventRequest,
    SleepRequest,
    StepRequest,
    WaitForEventRequest,
)
from steppe._protocol.durations import time_string, utc_instant
from steppe._protocol.wire import ErrorBody, Op, Opcode, Userland, WireObject, wire_object

__all__ = ["error_op", "is_run_step", "not_found_op", "report_op", "run_op"]


def is_run_step(request: StepRequest) -> bool:
    """Steps whose work the SDK does (``StepRun``); the server does the others (sleep, wait, invoke).

    ``send_event`` is one: the SDK posts the events to the event API and reports their ids.
    """
    return isinstance(request, RunRequest | SendEventRequest)


def _op(opcode: Opcode, request: StepRequest, opts: dict[str, JsonValue], **fields: JsonValue) -> WireObject:
    if request.parallel == "race":
        # Lets the server advance this branch without waiting for the others (the default "wait" is not sent).
        opts = {**opts, "parallelMode": "race"}
    step = request.id
    return wire_object(
        Op,
        {
            "op": opcode,
            "id": step.hashed,
            "name": step.user_id,
            "display_name": request.display_name,
            "opts": opts or None,
            # An explicit index (null for the first use of an id) says which repeat this is.
            "userland": wire_object(Userland, {"id": step.user_id, "index": step.index}),
            **fields,
        },
    )


def report_op(request: StepRequest) -> WireObject:
    """The op for a step found but not run here: planned, or handed to the server to sleep, wait or invoke."""
    match request:
        case RunRequest() | SendEventRequest():
            return _op(Opcode.STEP_PLANNED, request, {})
        case SleepRequest():
            if request.until is not None:
                wake = utc_instant(request.until)
            else:
                assert request.duration is not None  # the step API sets exactly one of the two
                wake = time_string(request.duration)
            return _op(Opcode.SLEEP, request, {"duration": wake})
        case WaitForEventRequest():
            opts: dict[str, JsonValue] = {"event": request.event, "timeout": time_string(request.timeout)}
            if request.if_exp is not None:
                opts["if"] = request.if_exp
            return _op(Opcode.WAIT_FOR_EVENT, request, opts)
        case InvokeRequest():
            # ``step.invoke`` already checked the data against the invoked function's event (always an object).
            invoke: dict[str, JsonValue] = {"function_id": request.function.id, "payload": {"data": request.data}}
            if request.timeout is not None:
                invoke["timeout"] = time_string(request.timeout)
            return _op(Opcode.INVOKE_FUNCTION, request, invoke)


def run_op(request: StepRequest, data: JsonValue) -> WireObject:
    """The op for a step run here: ``StepRun`` with its output (``"data": null`` for ``None``)."""
    return _op(Opcode.STEP_RUN, request, {}, data=data)


def error_op(request: StepRequest, error: ErrorInfo, *, final: bool) -> WireObject:
    """``StepFailed`` when the step failed for good, else ``StepError`` (the server retries it)."""
    body = wire_object(ErrorBody, {"name": error.name, "message": error.message, "stack": error.stack, "data": None})
    return _op(Opcode.STEP_FAILED if final else Opcode.STEP_ERROR, request, {}, error=body)


def not_found_op(target: str) -> WireObject:
    """The targeted step was not reached: the code changed since it was planned, or is not deterministic."""
    return wire_object(Op, {"op": Opcode.STEP_NOT_FOUND, "id": target})
