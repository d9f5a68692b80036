"""Fixtures for the serve tests."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import django
import pytest
from django.conf import settings as django_settings

from steppe._protocol import endpoint
from steppe._protocol.signing import ReplayGuard


@pytest.fixture(autouse=True)
def fresh_process_replay_guard(monkeypatch: pytest.MonkeyPatch) -> ReplayGuard:
    """Each test starts with an empty process-wide replay guard: tests sign the same bodies at the same fixed time,
    and one test's accepted signature must not be refused as a replay in the next one."""
    guard = ReplayGuard()
    monkeypatch.setattr(endpoint, "_PROCESS_REPLAY_GUARD", guard)
    return guard


@pytest.fixture(scope="module")
def django_urls() -> Iterator[types.ModuleType]:
    """Django configured in the test: no database, no middleware but CSRF, a URL module built here."""
    if not django_settings.configured:
        django_settings.configure(
            DEBUG=False,
            SECRET_KEY="steppe-tests-only",
            ALLOWED_HOSTS=["testserver"],
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
        )
        django.setup()
    module = types.ModuleType("steppe_test_django_urls")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]
