"""What the app tells the server about itself: introspection (GET) and sync (PUT, out of band or in band)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from steppe._core.function import Function
from steppe._protocol import wire
from steppe._protocol.api import event_key_hash
from steppe._protocol.function_config import function_config
from steppe._protocol.messages import SDK_NAME, SDK_VERSION, sdk_header_value
from steppe._protocol.settings import ServeSettings
from steppe._protocol.signing import hashed_signing_key

__all__ = ["CAPABILITIES", "SDK_LANGUAGE", "in_band_response", "introspection", "register_request"]

SDK_LANGUAGE: Final = "py"
CAPABILITIES: Final = wire.Capabilities(in_band_sync="v1", trust_probe="v1")


def introspection(
    functions: Sequence[Function[Any, Any]],
    settings: ServeSettings,
    *,
    app_id: str,
    framework: str,
    authenticated: bool,
) -> wire.UnauthenticatedIntrospection | wire.AuthenticatedIntrospection:
    """The GET answer. Without a verified signature it says nothing sensitive: only counts and flags."""
    if not authenticated:
        return wire.UnauthenticatedIntrospection(**_public_fields(functions, settings))
    return _app_fields(functions, settings, app_id=app_id, framework=framework, with_key_hashes=True)


def _public_fields(functions: Sequence[Function[Any, Any]], settings: ServeSettings) -> dict[str, Any]:
    public: dict[str, Any] = {
        "function_count": len(functions),
        "has_event_key": settings.event_key is not None,
        "has_signing_key": settings.signing_key is not None,
        "has_signing_key_fallback": settings.signing_key_fallback is not None,
        "mode": settings.mode,
    }
    return public


def _app_fields(
    functions: Sequence[Function[Any, Any]],
    settings: ServeSettings,
    *,
    app_id: str,
    framework: str,
    with_key_hashes: bool,
) -> wire.AuthenticatedIntrospection:
    """The app's settings; the key hashes only for a verified request (the hashed signing key is the API's
    Bearer token)."""
    private: dict[str, Any] = {
        "api_origin": settings.api_base_url,
        "app_id": app_id,
        "event_api_origin": settings.event_api_base_url,
        "framework": framework,
        "sdk_language": SDK_LANGUAGE,
        "sdk_version": SDK_VERSION,
        "capabilities": CAPABILITIES,
        "env": settings.env,
        "event_key_hash": settings.event_key and event_key_hash(settings.event_key),
        "serve_origin": settings.serve_origin,
        "serve_path": settings.serve_path,
        "signing_key_hash": settings.signing_key and hashed_signing_key(settings.signing_key),
        "signing_key_fallback_hash": settings.signing_key_fallback
        and hashed_signing_key(settings.signing_key_fallback),
    }
    if not with_key_hashes:
        private.update(event_key_hash=None, signing_key_hash=None, signing_key_fallback_hash=None)
    # Unset values are left out rather than sent as null.
    fields = {k: v for k, v in private.items() if v is not None}
    if not with_key_hashes:
        fields["authentication_succeeded"] = None  # nothing was checked
    return wire.AuthenticatedIntrospection(**_public_fields(functions, settings), **fields)


def register_request(
    functions: Sequence[Function[Any, Any]], *, app_id: str, serve_url: str, framework: str
) -> wire.RegisterRequest:
    """The body of ``POST {api}/fn/register``."""
    return wire.RegisterRequest(
        url=serve_url,
        app_name=app_id,
        sdk=sdk_header_value(),  # the spec wants the same value as the X-Inngest-Sdk header
        functions=[function_config(f, serve_url) for f in functions],
        framework=framework,
        capabilities=CAPABILITIES,
    )


def in_band_response(
    functions: Sequence[Function[Any, Any]],
    settings: ServeSettings,
    *,
    app_id: str,
    serve_url: str,
    framework: str,
    verified: bool,
) -> wire.InBandSyncResponse:
    """The answer to an in-band sync: the app's configuration, in the response itself.

    ``verified`` is false in dev mode, which checks no signature: the answer then leaves out the key hashes.
    """
    inspection = _app_fields(functions, settings, app_id=app_id, framework=framework, with_key_hashes=verified)
    return wire.InBandSyncResponse(
        app_id=app_id,
        framework=framework,
        functions=[function_config(f, serve_url) for f in functions],
        inspection=inspection,
        sdk_author=SDK_NAME,
        sdk_language=SDK_LANGUAGE,
        sdk_version=SDK_VERSION,
        url=serve_url,
        **({"env": settings.env} if settings.env is not None else {}),
    )
