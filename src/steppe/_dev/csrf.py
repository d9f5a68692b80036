"""One token per process, derived from a secret made at start: every form that changes state carries it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["CsrfGuard"]

FIELD = "csrf_token"


class CsrfGuard:
    field = FIELD

    def __init__(self, secret: bytes | None = None) -> None:
        key = secret if secret is not None else secrets.token_bytes(32)
        self.token = hmac.new(key, b"steppe dev: state-changing form", hashlib.sha256).hexdigest()

    def accepts(self, submitted: object) -> bool:
        return isinstance(submitted, str) and hmac.compare_digest(submitted.encode(), self.token.encode())
