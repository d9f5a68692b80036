"""Settings for serving functions to an Inngest server, read from the environment.

Variables (an empty value counts as unset):

- ``INNGEST_DEV``: dev mode. ``1``/``true``/``yes``/``on`` use the Dev Server at
  ``http://127.0.0.1:8288``; a URL (``http://host:port``) uses the Dev Server there;
  ``0``/``false``/``no``/``off`` or unset mean production (Inngest Cloud). Dev mode skips request
  signature verification, so production is the default.
- ``INNGEST_SIGNING_KEY`` (required in production), ``INNGEST_SIGNING_KEY_FALLBACK``.
- ``INNGEST_EVENT_KEY``.
- ``INNGEST_API_BASE_URL`` (default ``https://api.inngest.com``, or the Dev Server URL) and
  ``INNGEST_EVENT_API_BASE_URL`` (default ``https://inn.gs``, or the Dev Server URL);
  ``INNGEST_BASE_URL`` sets both where the specific variable is unset.
- ``INNGEST_SERVE_ORIGIN`` (e.g. ``https://myapp.example.com``; no scheme means https) and
  ``INNGEST_SERVE_PATH`` (e.g. ``/api/inngest``): the URL the server should call us on, when it
  cannot be inferred from the incoming request (proxies, containers).
- ``INNGEST_ENV``: the branch environment, sent as ``X-Inngest-Env``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict, Unpack

from steppe._protocol.signing import strip_signing_key_prefix

__all__ = [
    "CLOUD_API_BASE_URL",
    "CLOUD_EVENT_API_BASE_URL",
    "DEV_SERVER_URL",
    "ServeSettings",
    "ServeSettingsError",
    "ServeSettingsOverrides",
]

CLOUD_API_BASE_URL: Final = "https://api.inngest.com"
CLOUD_EVENT_API_BASE_URL: Final = "https://inn.gs"
# 127.0.0.1 rather than localhost: "localhost" may resolve to ::1 first, where the Dev Server
# does not listen by default.
DEV_SERVER_URL: Final = "http://127.0.0.1:8288"

_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})


class ServeSettingsError(ValueError):
    """The serve settings are unusable; the message names the variable at fault."""


class ServeSettingsOverrides(TypedDict, total=False):
    """Values passed to ``ServeSettings.from_env`` that win over the environment."""

    dev: bool
    signing_key: str | None
    signing_key_fallback: str | None
    event_key: str | None
    api_base_url: str
    event_api_base_url: str
    serve_origin: str | None
    serve_path: str | None
    env: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeSettings:
    """How this process talks to an Inngest server. Build it with ``from_env``.

    Construction checks the values: production without a signing key, a signing key that is not
    hex, a base URL that is not http(s), or a serve path without a leading ``/`` all raise
    ``ServeSettingsError``.
    """

    dev: bool
    api_base_url: str
    event_api_base_url: str
    # Secrets stay out of repr() so that logging the settings cannot leak them.
    signing_key: str | None = field(default=None, repr=False)
    signing_key_fallback: str | None = field(default=None, repr=False)
    event_key: str | None = field(default=None, repr=False)
    serve_origin: str | None = None
    serve_path: str | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        if not self.dev and self.signing_key is None:
            raise ServeSettingsError(
                "INNGEST_SIGNING_KEY is not set: production mode needs it to verify that calls "
                "come from Inngest. Set it, or set INNGEST_DEV=1 to use the local Dev Server."
            )
        _check_signing_key("signing_key (INNGEST_SIGNING_KEY)", self.signing_key)
        _check_signing_key("signing_key_fallback (INNGEST_SIGNING_KEY_FALLBACK)", self.signing_key_fallback)
        _check_base_url("api_base_url (INNGEST_API_BASE_URL)", self.api_base_url)
        _check_base_url("event_api_base_url (INNGEST_EVENT_API_BASE_URL)", self.event_api_base_url)
        if self.serve_origin is not None:
            _check_base_url("serve_origin (INNGEST_SERVE_ORIGIN)", self.serve_origin)
        if self.serve_path is not None and not self.serve_path.startswith("/"):
            raise ServeSettingsError(f"serve_path (INNGEST_SERVE_PATH) must start with '/', got {self.serve_path!r}")

    @property
    def mode(self) -> Literal["dev", "cloud"]:
        """The mode as the protocol names it (introspection ``mode``, ``X-Inngest-Server-Kind``)."""
        return "dev" if self.dev else "cloud"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Unpack[ServeSettingsOverrides]) -> ServeSettings:
        """Read the ``INNGEST_*`` variables from ``environ``; ``overrides`` win over them."""
        values = {name: value.strip() for name, value in environ.items() if value.strip()}
        dev_flag, dev_url = _parse_dev(values.get("INNGEST_DEV"))
        dev = overrides.get("dev", dev_flag)
        dev_base = (dev_url or DEV_SERVER_URL) if dev else None
        shared_base = values.get("INNGEST_BASE_URL")
        api_base = values.get("INNGEST_API_BASE_URL") or shared_base or dev_base or CLOUD_API_BASE_URL
        event_base = values.get("INNGEST_EVENT_API_BASE_URL") or shared_base or dev_base or CLOUD_EVENT_API_BASE_URL
        serve_origin = overrides.get("serve_origin", values.get("INNGEST_SERVE_ORIGIN"))
        return cls(
            dev=dev,
            api_base_url=_without_trailing_slash(overrides.get("api_base_url", api_base)),
            event_api_base_url=_without_trailing_slash(overrides.get("event_api_base_url", event_base)),
            signing_key=overrides.get("signing_key", values.get("INNGEST_SIGNING_KEY")),
            signing_key_fallback=overrides.get("signing_key_fallback", values.get("INNGEST_SIGNING_KEY_FALLBACK")),
            event_key=overrides.get("event_key", values.get("INNGEST_EVENT_KEY")),
            serve_origin=_origin_with_scheme(serve_origin) if serve_origin else None,
            serve_path=overrides.get("serve_path", values.get("INNGEST_SERVE_PATH")),
            env=overrides.get("env", values.get("INNGEST_ENV")),
        )


def _parse_dev(raw: str | None) -> tuple[bool, str | None]:
    """``INNGEST_DEV`` as (dev mode?, Dev Server URL if one was given)."""
    if raw is None or raw.lower() in _FALSE_WORDS:
        return False, None
    if raw.lower() in _TRUE_WORDS:
        return True, None
    url = raw if "://" in raw else f"http://{raw}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeSettingsError(
            f"INNGEST_DEV must be 1/true, 0/false or the Dev Server's URL (e.g. http://localhost:8288), got {raw!r}"
        )
    return True, _without_trailing_slash(url)


def _without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _origin_with_scheme(origin: str) -> str:
    # A bare host is taken as https: the serve origin is where Inngest Cloud reaches us.
    return _without_trailing_slash(origin if "://" in origin else f"https://{origin}")


def _check_base_url(label: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeSettingsError(f"{label} must be an http(s) URL such as https://api.inngest.com, got {url!r}")
    if parts.query or parts.fragment:
        raise ServeSettingsError(f"{label} must not have a query or fragment, got {url!r}")


def _check_signing_key(label: str, key: str | None) -> None:
    if key is None:
        return
    secret = strip_signing_key_prefix(key)
    try:
        valid = bool(secret) and bool(bytes.fromhex(secret))
    except ValueError:
        valid = False
    if not valid:
        raise ServeSettingsError(
            f"{label} is not a signing key: expected 'signkey-<env>-' followed by hexadecimal "
            "digits, as shown in the Inngest dashboard"
        )
