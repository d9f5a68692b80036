"""A function that fails because a step failed for good reports that step's original error (the spec asks it)."""

from __future__ import annotations

import steppe
from tests.serve.helpers import body, call_body, call_request, dev_handler, event, sha1

STORED = {"name": "CardDeclined", "message": "no funds", "stack": "stored trace"}
# A function error's body has the reference SDK's shape: the message (and steppe adds the stack), no name.
REPORTED = {"message": "no funds", "stack": "stored trace"}


def dev_client() -> steppe.Client:
    return steppe.Client("step-errors", is_production=False, event_key="k")


async def test_a_step_error_that_escapes_reports_the_steps_original_error() -> None:
    client = dev_client()

    @client.create_function(fn_id="pay", trigger=steppe.TriggerEvent("e"))
    async def pay(ctx: steppe.Context, step: steppe.Step) -> int:
        await step.run("reserve", lambda: 1)
        return await step.run("charge", lambda: 2)

    memos = {sha1("reserve"): {"data": 1}, sha1("charge"): {"error": STORED}}
    answer = await dev_handler(client).handle(call_request(pay, call_body(event("e"), memos)))
    assert (answer.status, answer.headers["x-inngest-no-retry"]) == (400, "true")
    assert body(answer) == REPORTED


async def test_a_step_error_raised_again_after_other_steps_reports_its_own_steps_error() -> None:
    client = dev_client()

    @client.create_function(fn_id="later", trigger=steppe.TriggerEvent("e"))
    async def later(ctx: steppe.Context, step: steppe.Step) -> int:
        failed: steppe.StepError | None = None
        try:
            await step.run("first", lambda: 1)
        except steppe.StepError as error:
            failed = error
        await step.run("second", lambda: 2)
        assert failed is not None
        raise failed

    memos = {sha1("first"): {"error": STORED}, sha1("second"): {"data": 2}}
    answer = await dev_handler(client).handle(call_request(later, call_body(event("e"), memos)))
    assert (answer.status, body(answer)) == (400, REPORTED)


async def test_an_error_raised_after_catching_a_step_error_is_reported_as_itself() -> None:
    client = dev_client()

    @client.create_function(fn_id="wrap", trigger=steppe.TriggerEvent("e"))
    async def wrap(ctx: steppe.Context, step: steppe.Step) -> int:
        try:
            return await step.run("charge", lambda: 2)
        except steppe.StepError as error:
            raise RuntimeError(f"payment failed: {error.message}") from error

    answer = await dev_handler(client).handle(
        call_request(wrap, call_body(event("e"), {sha1("charge"): {"error": STORED}}))
    )
    assert (answer.status, answer.headers["x-inngest-no-retry"]) == (500, "false")
    assert body(answer)["message"] == "payment failed: no funds"
    assert body(answer)["stack"].rstrip().endswith("RuntimeError: payment failed: no funds")
