"""Calls the checkers must reject. Each line names the error code each checker reports for it."""

from __future__ import annotations

import pydantic

import steppe
from steppe import Step, StepSync


class Signup(pydantic.BaseModel):
    user_id: str


SignupEvent = steppe.EventType("user.signup", Signup)
client = steppe.Client(app_id="typing-tests-rejected")


async def get_user(user_id: int) -> str:
    return str(user_id)


def two_args(a: int, b: str) -> bool:
    return bool(a) and bool(b)


async def needs_argument(user_id: int) -> int:
    return user_id


@client.create_function(fn_id="child", trigger=SignupEvent)
async def child(ctx: steppe.Context[Signup], step: Step) -> int:
    return 1


async def run_arguments(step: Step) -> None:
    # case[reject]: run with a wrong argument type
    await step.run("wrong", get_user, "1")  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: run with a missing argument
    await step.run("missing", get_user)  # type: ignore[call-arg, arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: run with an extra argument
    await step.run("extra", get_user, 1, 2)  # type: ignore[call-arg, arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: run of a two-argument sync handler given one
    await step.run("sync-missing", two_args, 1)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: run with a non-callable handler
    await step.run("not-callable", 42)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: run with an output_type that contradicts the handler (pyright solves a union)
    await step.run("mismatch", get_user, 1, output_type=int)  # type: ignore[arg-type]
    # case[reject]: defer with a wrong argument type
    step.defer("defer-wrong", get_user, "1")  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]


async def parallel_arguments(step: Step) -> None:
    # case[reject]: parallel of a callable that needs an argument
    await step.parallel((needs_argument,))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: parallel of a non-callable
    await step.parallel((1,))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: parallel of a list instead of a tuple
    await step.parallel([lambda: step.run("get", get_user, 1)])  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: parallel of a callable that returns a plain value (Step needs awaitables)
    await step.parallel((lambda: 1,))  # type: ignore[arg-type, return-value]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: parallel of callables passed as separate arguments
    await step.parallel(lambda: step.run("a", get_user, 1), lambda: step.run("b", get_user, 2))  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    # case[reject]: parallel with an unknown mode
    await step.parallel((lambda: step.run("a", get_user, 1),), mode="all")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    # case[reject]: group add of a callable that needs an argument
    step.group().add(needs_argument)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def sync_arguments(step: StepSync) -> None:
    # case[reject]: StepSync.run with a wrong argument type
    step.run("wrong", two_args, 1, 2)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # case[reject]: StepSync.parallel of a list instead of a tuple
    step.parallel([lambda: 1])  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


async def other_steps(step: Step) -> None:
    # case[reject]: sleep with seconds as an int
    await step.sleep("pause", 5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # case[reject]: wait_for_event without a timeout
    await step.wait_for_event("wait", event="user.confirmed")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    # case[reject]: invoke with data of the wrong type
    await step.invoke("invoke", function=child, data={"user_id": "u"})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    # case[reject]: send_event of a plain dict
    await step.send_event("send", {"name": "user.signup"})  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# case[reject]: EventType whose data type is not a pydantic model
NotAModel = steppe.EventType("x", dict)  # type: ignore[type-var]  # pyright: ignore[reportArgumentType, reportUnknownVariableType]


# An `async def` annotated with StepSync matches the sync overload (its result is a coroutine); only the
# runtime refuses it (FunctionDefinitionError). Recorded as a miss in every checker.
# case[reject]: async def handler whose step parameter is StepSync
@client.create_function(fn_id="wrong-step", trigger=steppe.TriggerEvent("x"))
async def wrong_step(ctx: steppe.Context, step: StepSync) -> None:
    pass


# case[reject]: handler with the wrong context type for its trigger
@client.create_function(fn_id="wrong-context", trigger=SignupEvent)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType, reportUntypedFunctionDecorator]
async def wrong_context(ctx: steppe.Context[dict[str, int]], step: Step) -> None:
    pass
