"""How to test a steppe function: `steppe.testing.run_function` (run by the project's pytest too).

The clock skips the sleep, stubs stand in for the outside world, and the function is replayed from storage
after every step, as it would be after a crash.
"""

from __future__ import annotations

import steppe
from sleep_and_wait import onboard
from steppe.testing import run_function


async def test_confirmed_signup() -> None:
    confirmation = steppe.Event(name="app/email.confirmed", data={"user_id": "u1"})
    result = await run_function(
        onboard,
        steppe.Event(name="app/user.signup", data={"user_id": "u1"}),
        stubs={"wait-for-confirmation": confirmation},
    )
    assert result.status == "completed"
    assert result.output == {"welcome": "welcome sent to u1", "confirmed": True}


async def test_silent_signup_times_out() -> None:
    result = await run_function(onboard, steppe.Event(name="app/user.signup", data={"user_id": "u2"}))
    assert result.output == {"welcome": "welcome sent to u2", "confirmed": False}
