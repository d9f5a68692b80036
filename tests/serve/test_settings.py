"""Tests of steppe._protocol.settings (proposed: tests/serve/test_settings.py)."""

from __future__ import annotations

import hashlib

import pytest

from steppe._protocol.settings import (
    CLOUD_API_BASE_URL,
    CLOUD_EVENT_API_BASE_URL,
    DEV_SERVER_URL,
    ServeSettings,
    ServeSettingsError,
)

KEY = "signkey-prod-" + hashlib.sha256(b"k").hexdigest()
FALLBACK = "signkey-prod-" + hashlib.sha256(b"f").hexdigest()


def test_production_defaults() -> None:
    settings = ServeSettings.from_env({"INNGEST_SIGNING_KEY": KEY})
    assert (settings.dev, settings.mode) == (False, "cloud")
    assert settings.api_base_url == CLOUD_API_BASE_URL == "https://api.inngest.com"
    assert settings.event_api_base_url == CLOUD_EVENT_API_BASE_URL == "https://inn.gs"
    assert settings.signing_key == KEY
    assert settings.signing_key_fallback is None


def test_production_without_a_signing_key_is_an_error() -> None:
    with pytest.raises(ServeSettingsError, match=r"INNGEST_SIGNING_KEY is not set.*INNGEST_DEV=1"):
        ServeSettings.from_env({})


@pytest.mark.parametrize("flag", ["1", "true", "TRUE", "yes", "on", " 1 "])
def test_dev_mode_flags(flag: str) -> None:
    settings = ServeSettings.from_env({"INNGEST_DEV": flag})
    assert settings.mode == "dev"
    assert settings.api_base_url == settings.event_api_base_url == DEV_SERVER_URL
    assert settings.signing_key is None


@pytest.mark.parametrize("flag", ["0", "false", "no", "off", ""])
def test_falsy_dev_flags_mean_production(flag: str) -> None:
    with pytest.raises(ServeSettingsError, match="INNGEST_SIGNING_KEY"):
        ServeSettings.from_env({"INNGEST_DEV": flag})


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("http://host.docker.internal:8288", "http://host.docker.internal:8288"),
        ("http://devserver:9000/", "http://devserver:9000"),
        ("localhost:8288", "http://localhost:8288"),
    ],
)
def test_dev_url(value: str, url: str) -> None:
    settings = ServeSettings.from_env({"INNGEST_DEV": value})
    assert settings.dev is True
    assert settings.api_base_url == settings.event_api_base_url == url


def test_a_bad_dev_value_is_an_error() -> None:
    with pytest.raises(ServeSettingsError, match="INNGEST_DEV must be"):
        ServeSettings.from_env({"INNGEST_DEV": "ftp://x"})


def test_specific_base_urls_win_over_the_shared_one_and_the_dev_url() -> None:
    env = {
        "INNGEST_DEV": "http://dev:8288",
        "INNGEST_BASE_URL": "https://shared.example",
        "INNGEST_API_BASE_URL": "https://api.example/",
    }
    settings = ServeSettings.from_env(env)
    assert settings.api_base_url == "https://api.example"
    assert settings.event_api_base_url == "https://shared.example"


def test_every_variable_is_read() -> None:
    settings = ServeSettings.from_env(
        {
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_SIGNING_KEY_FALLBACK": FALLBACK,
            "INNGEST_EVENT_KEY": "evt",
            "INNGEST_EVENT_API_BASE_URL": "https://events.example",
            "INNGEST_SERVE_ORIGIN": "myapp.example.com",
            "INNGEST_SERVE_PATH": "/api/inngest",
            "INNGEST_ENV": "feature-x",
        }
    )
    assert settings.signing_key_fallback == FALLBACK
    assert settings.event_key == "evt"
    assert settings.event_api_base_url == "https://events.example"
    assert settings.serve_origin == "https://myapp.example.com"
    assert settings.serve_path == "/api/inngest"
    assert settings.env == "feature-x"


def test_empty_values_count_as_unset() -> None:
    settings = ServeSettings.from_env({"INNGEST_DEV": "1", "INNGEST_ENV": " ", "INNGEST_EVENT_KEY": ""})
    assert settings.env is None
    assert settings.event_key is None


def test_overrides_win_over_the_environment() -> None:
    settings = ServeSettings.from_env(
        {"INNGEST_DEV": "1"}, dev=False, signing_key=KEY, api_base_url="https://proxy.example/"
    )
    assert settings.mode == "cloud"
    assert settings.api_base_url == "https://proxy.example"
    assert settings.event_api_base_url == CLOUD_EVENT_API_BASE_URL


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INNGEST_SIGNING_KEY": "signkey-prod-nothex"}, "signing_key .* is not a signing key"),
        ({"INNGEST_SIGNING_KEY": KEY, "INNGEST_SIGNING_KEY_FALLBACK": "abc"}, "signing_key_fallback"),
        ({"INNGEST_SIGNING_KEY": KEY, "INNGEST_API_BASE_URL": "api.inngest.com"}, "api_base_url"),
        ({"INNGEST_SIGNING_KEY": KEY, "INNGEST_EVENT_API_BASE_URL": "https://x/?a=1"}, "query"),
        ({"INNGEST_SIGNING_KEY": KEY, "INNGEST_SERVE_PATH": "api/inngest"}, "must start with '/'"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ServeSettingsError, match=message):
        ServeSettings.from_env(env)


def test_secrets_stay_out_of_repr() -> None:
    settings = ServeSettings.from_env({"INNGEST_SIGNING_KEY": KEY, "INNGEST_EVENT_KEY": "evt-secret"})
    assert KEY not in repr(settings)
    assert "evt-secret" not in repr(settings)


def test_settings_are_frozen() -> None:
    settings = ServeSettings.from_env({"INNGEST_DEV": "1"})
    with pytest.raises(AttributeError):
        setattr(settings, "dev", False)  # noqa: B010 - the assignment itself is under test
