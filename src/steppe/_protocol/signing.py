"""Request signing for the Inngest SDK HTTP protocol.

The Inngest server signs every call it makes with the app's signing key:

    X-Inngest-Signature: t=<unix seconds>&s=<hex HMAC-SHA256(key, body + str(t))>

where ``key`` is the signing key with its ``signkey-<env>-`` prefix removed, taken as the UTF-8
bytes of that (hex) text. The HMAC covers the raw request bytes exactly as received.

This module is pure: no framework, no I/O, no global state. ``verify`` checks, in order: a header
is present, it is well formed, the HMAC matches the signing key (or else the fallback key), the
timestamp lies inside the accepted window, and (optionally) the signature was not seen before.
The HMAC is checked before the clock so that a time error is only ever reported for a request that
really came from the key holder: it then means clock skew or a replay, never a forgery.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_FUTURE_SKEW",
    "SIGNATURE_HEADER",
    "ExpiredSignatureError",
    "FutureSignatureError",
    "InvalidSignatureError",
    "MalformedSignatureError",
    "MissingSignatureError",
    "ParsedSignature",
    "ReplayGuard",
    "ReplayedSignatureError",
    "SignatureError",
    "VerifiedSignature",
    "hashed_signing_key",
    "parse_signature_header",
    "sign",
    "signing_key_prefix",
    "strip_signing_key_prefix",
    "verify",
]

SIGNATURE_HEADER: Final = "X-Inngest-Signature"

# The protocol spec asks SDKs to refuse signatures older than five minutes.
DEFAULT_MAX_AGE: Final = timedelta(minutes=5)

# A timestamp slightly ahead of our clock is normal clock drift between two hosts; far ahead is not.
DEFAULT_MAX_FUTURE_SKEW: Final = timedelta(seconds=30)

_KEY_PREFIX = re.compile(r"^signkey-[A-Za-z0-9_]+-")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # 12 digits reach year 33658: plenty, and bounded.
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_EXPECTED_FORMAT = "expected 't=<unix seconds>&s=<64 hex digits>'"


class SignatureError(Exception):
    """A request's ``X-Inngest-Signature`` did not prove it came from the signing key holder."""


class MissingSignatureError(SignatureError):
    """The request carries no signature header."""


class MalformedSignatureError(SignatureError):
    """The signature header is not of the form ``t=<unix seconds>&s=<hex>``."""


class InvalidSignatureError(SignatureError):
    """The HMAC matches neither the signing key nor the fallback key."""


class ExpiredSignatureError(SignatureError):
    """The signature is authentic but its timestamp is older than the accepted age."""


class FutureSignatureError(SignatureError):
    """The signature is authentic but its timestamp is ahead of our clock by more than the
    accepted skew."""


class ReplayedSignatureError(SignatureError):
    """The same signed request was already accepted once."""


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    """The two parts of a signature header: its unix timestamp and its lowercase hex HMAC."""

    timestamp: int
    signature: str


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What ``verify`` established.

    ``signing_key`` is the key whose HMAC matched; the SDK signs its response with that same key.
    """

    timestamp: int
    signature: str
    used_fallback: bool
    signing_key: str = field(repr=False)


def signing_key_prefix(signing_key: str) -> str:
    """The ``signkey-<env>-`` prefix of a signing key, or ``""`` when it has none."""
    match = _KEY_PREFIX.match(signing_key)
    return match.group(0) if match else ""


def strip_signing_key_prefix(signing_key: str) -> str:
    """The secret part of a signing key: the key without its ``signkey-<env>-`` prefix."""
    return signing_key[len(signing_key_prefix(signing_key)) :]


def hashed_signing_key(signing_key: str) -> str:
    """The Bearer token for outbound calls to the Inngest API.

    ``signkey-<env>-<hex sha256 of the key's hex-decoded bytes>``: the prefix is kept, the secret
    is replaced by the SHA-256 of the bytes it encodes.
    """
    prefix = signing_key_prefix(signing_key)
    secret = signing_key[len(prefix) :]
    try:
        raw = bytes.fromhex(secret)
    except ValueError:
        raise ValueError(
            "signing key is not hexadecimal after its 'signkey-<env>-' prefix; "
            "copy the key exactly as the Inngest dashboard shows it"
        ) from None
    if not raw:
        raise ValueError("signing key is empty after its 'signkey-<env>-' prefix")
    return prefix + hashlib.sha256(raw).hexdigest()


def sign(body: bytes, signing_key: str, *, now: datetime | int | None = None) -> str:
    """The ``X-Inngest-Signature`` value for ``body`` signed with ``signing_key`` at time ``now``.

    ``now`` is an aware datetime or unix seconds; ``None`` means the current time.
    """
    timestamp = _unix_seconds(now)
    return f"t={timestamp}&s={_hmac_hex(body, timestamp, signing_key)}"


def parse_signature_header(header: str) -> ParsedSignature:
    """Split a signature header into its timestamp and HMAC.

    Unknown ``key=value`` parts are ignored so that a future server may add some; ``t`` and ``s``
    must each appear exactly once.
    """
    values: dict[str, str] = {}
    for part in header.strip().split("&"):
        name, sep, value = part.partition("=")
        if not sep:
            raise MalformedSignatureError(
                f"{SIGNATURE_HEADER} header is malformed: {_EXPECTED_FORMAT}, found a part without '='"
            )
        if name in ("t", "s"):
            if name in values:
                raise MalformedSignatureError(
                    f"{SIGNATURE_HEADER} header is malformed: '{name}' appears more than once"
                )
            values[name] = value
    missing = [name for name in ("t", "s") if name not in values]
    if missing:
        raise MalformedSignatureError(
            f"{SIGNATURE_HEADER} header is malformed: {_EXPECTED_FORMAT}, '{missing[0]}' is missing"
        )
    if not _TIMESTAMP.fullmatch(values["t"]):
        raise MalformedSignatureError(
            f"{SIGNATURE_HEADER} header is malformed: 't' is not a whole number of unix seconds"
        )
    if not _HEX_SHA256.fullmatch(values["s"]):
        raise MalformedSignatureError(f"{SIGNATURE_HEADER} header is malformed: 's' is not 64 hexadecimal digits")
    return ParsedSignature(timestamp=int(values["t"]), signature=values["s"].lower())


def verify(
    body: bytes,
    header: str | None,
    *,
    signing_key: str,
    fallback_key: str | None = None,
    now: datetime | int | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
    replay_guard: ReplayGuard | None = None,
) -> VerifiedSignature:
    """Check that ``header`` signs ``body`` with ``signing_key`` (or ``fallback_key``), recently.

    Raises a ``SignatureError`` subclass naming what is wrong. With a ``replay_guard``, a signature
    that verified once is refused the second time.
    """
    if not strip_signing_key_prefix(signing_key):
        raise ValueError("signing_key is empty; set INNGEST_SIGNING_KEY")
    if max_age <= timedelta(0):
        raise ValueError(f"max_age must be positive, got {max_age}")
    if max_future_skew < timedelta(0):
        raise ValueError(f"max_future_skew must not be negative, got {max_future_skew}")
    if replay_guard is not None and replay_guard.max_age < max_age:
        # The guard would forget a signature while verify still accepts it: replays would pass.
        raise ValueError(f"replay_guard.max_age ({replay_guard.max_age}) is shorter than max_age ({max_age})")
    if header is None or not header.strip():
        raise MissingSignatureError(f"request has no {SIGNATURE_HEADER} header")

    parsed = parse_signature_header(header)
    matched = _matching_key(body, parsed, signing_key, fallback_key)
    if matched is None:
        tried = "the signing key or the fallback key" if fallback_key else "the signing key"
        raise InvalidSignatureError(f"{SIGNATURE_HEADER} does not match the request body signed with {tried}")

    current = _unix_seconds(now)
    age = current - parsed.timestamp
    if age > max_age.total_seconds():
        raise ExpiredSignatureError(
            f"{SIGNATURE_HEADER} timestamp is {age}s old, older than the accepted {int(max_age.total_seconds())}s"
        )
    if -age > max_future_skew.total_seconds():
        raise FutureSignatureError(
            f"{SIGNATURE_HEADER} timestamp is {-age}s in the future, beyond the accepted clock "
            f"skew of {int(max_future_skew.total_seconds())}s; check this host's clock"
        )

    if replay_guard is not None:
        replay_guard.admit(parsed.signature, parsed.timestamp, now=current)

    return VerifiedSignature(
        timestamp=parsed.timestamp,
        signature=parsed.signature,
        used_fallback=matched.used_fallback,
        signing_key=matched.key,
    )


class ReplayGuard:
    """Remembers accepted signatures so that one signed request cannot be processed twice.

    Call ``admit(signature, timestamp)`` after a signature verified (``verify`` does it when given a
    guard). A signature is remembered until its timestamp is older than ``max_age``: from then on
    ``verify`` refuses it as expired anyway, so forgetting it is safe. Memory is bounded by
    ``capacity``; should more signatures than that arrive within ``max_age``, the oldest ones are
    forgotten early, so size ``capacity`` above the peak request count per ``max_age`` window.
    Only signatures that verified reach the guard, so an attacker without the key cannot fill it.

    Note that a legitimate duplicate (the server sending byte-identical bodies within the same
    second) is refused too; the server then retries with a fresh timestamp. Safe for use from
    several threads.
    """

    def __init__(self, *, max_age: timedelta = DEFAULT_MAX_AGE, capacity: int = 50_000) -> None:
        if max_age <= timedelta(0):
            raise ValueError(f"max_age must be positive, got {max_age}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.max_age: Final = max_age
        self.capacity: Final = capacity
        self._seen: set[str] = set()
        self._by_age: list[tuple[int, str]] = []  # min-heap on timestamp, for eviction
        self._lock = threading.Lock()

    def admit(self, signature: str, timestamp: int, *, now: datetime | int | None = None) -> None:
        """Record ``signature``; raise ``ReplayedSignatureError`` if it was recorded before."""
        signature = signature.lower()
        horizon = _unix_seconds(now) - int(self.max_age.total_seconds())
        with self._lock:
            while self._by_age and self._by_age[0][0] < horizon:
                self._seen.discard(heapq.heappop(self._by_age)[1])
            if signature in self._seen:
                raise ReplayedSignatureError(
                    f"{SIGNATURE_HEADER} was already used by an earlier request (replay refused)"
                )
            if len(self._by_age) >= self.capacity:
                self._seen.discard(heapq.heappop(self._by_age)[1])
            self._seen.add(signature)
            heapq.heappush(self._by_age, (timestamp, signature))

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


@dataclass(frozen=True, slots=True)
class _KeyMatch:
    key: str = field(repr=False)
    used_fallback: bool


def _matching_key(body: bytes, parsed: ParsedSignature, signing_key: str, fallback_key: str | None) -> _KeyMatch | None:
    if hmac.compare_digest(_hmac_hex(body, parsed.timestamp, signing_key), parsed.signature):
        return _KeyMatch(signing_key, used_fallback=False)
    if fallback_key and hmac.compare_digest(_hmac_hex(body, parsed.timestamp, fallback_key), parsed.signature):
        return _KeyMatch(fallback_key, used_fallback=True)
    return None


def _hmac_hex(body: bytes, timestamp: int, signing_key: str) -> str:
    secret = strip_signing_key_prefix(signing_key)
    if not secret:
        raise ValueError("signing key is empty after its 'signkey-<env>-' prefix")
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256)
    mac.update(str(timestamp).encode("ascii"))
    return mac.hexdigest()


def _unix_seconds(now: datetime | int | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, bool):
        raise TypeError("now must be an aware datetime or unix seconds, not a bool")
    if isinstance(now, int):
        return now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
    return int(now.timestamp())
