"""Fixtures for the serve tests."""

from __future__ import annotations

import pytest

from steppe._protocol import endpoint
from steppe._protocol.signing import ReplayGuard


@pytest.fixture(autouse=True)
def fresh_process_replay_guard(monkeypatch: pytest.MonkeyPatch) -> ReplayGuard:
    """Each test starts with an empty process-wide replay guard: tests sign the same bodies at the same fixed time,
    and one test's accepted signature must not be refused as a replay in the next one."""
    guard = ReplayGuard()
    monkeypatch.setattr(endpoint, "_PROCESS_REPLAY_GUARD", guard)
    return guard
