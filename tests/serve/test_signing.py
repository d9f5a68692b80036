"""Tests of steppe._protocol.signing: hand-derived vectors, the `inngest` package as an oracle, and
every way a request can fail verification."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inngest._internal import net as peer_net
from inngest._internal import server_lib as peer_server
from inngest._internal import transforms as peer_transforms

from steppe._protocol.signing import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_FUTURE_SKEW,
    ExpiredSignatureError,
    FutureSignatureError,
    InvalidSignatureError,
    MalformedSignatureError,
    MissingSignatureError,
    ReplayedSignatureError,
    ReplayGuard,
    SignatureError,
    hashed_signing_key,
    parse_signature_header,
    sign,
    signing_key_prefix,
    strip_signing_key_prefix,
    verify,
)

SECRET = hashlib.sha256(b"steppe test key").hexdigest()
KEY = f"signkey-test-{SECRET}"
FALLBACK = "signkey-test-" + hashlib.sha256(b"steppe fallback key").hexdigest()
OTHER = "signkey-test-" + hashlib.sha256(b"somebody else").hexdigest()
NOW = 1_700_000_000
BODY = b'{"ctx":{"attempt":0},"event":{"name":"test/x"},"steps":{}}'
PEER_FIXTURES = Path(__file__).parent / "fixtures" / "peer"

hex_keys = st.binary(min_size=1, max_size=64).map(lambda raw: raw.hex())
signing_keys = st.tuples(st.sampled_from(["", "signkey-test-", "signkey-prod-", "signkey-branch-"]), hex_keys).map(
    "".join
)
timestamps = st.integers(min_value=0, max_value=4_102_444_800)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def hand_hmac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()


# --- known vectors -------------------------------------------------------------------------------


def test_sign_matches_a_hand_computed_hmac_over_body_then_timestamp() -> None:
    assert sign(BODY, KEY, now=NOW) == f"t={NOW}&s={hand_hmac(SECRET, BODY, NOW)}"


def test_the_key_prefix_is_not_part_of_the_hmac_key() -> None:
    assert sign(BODY, KEY, now=NOW) == sign(BODY, SECRET, now=NOW)
    assert sign(BODY, KEY, now=NOW) == sign(BODY, f"signkey-prod-{SECRET}", now=NOW)


def test_the_hex_key_is_used_as_text_not_as_decoded_bytes() -> None:
    decoded = hmac.new(bytes.fromhex(SECRET), BODY + str(NOW).encode(), hashlib.sha256)
    assert sign(BODY, KEY, now=NOW) != f"t={NOW}&s={decoded.hexdigest()}"


def test_sign_accepts_an_aware_datetime() -> None:
    moment = datetime.fromtimestamp(NOW, tz=timezone(timedelta(hours=-5)))
    assert sign(BODY, KEY, now=moment) == sign(BODY, KEY, now=NOW)


def test_sign_refuses_a_naive_datetime_and_a_bool() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign(BODY, KEY, now=datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="not a bool"):
        sign(BODY, KEY, now=True)


def test_hashed_signing_key_matches_the_spec_example() -> None:
    # docs/SDK_SPEC.md §4.1.4: signkey-prod-12345678 -> this Bearer token.
    assert hashed_signing_key("signkey-prod-12345678") == (
        "signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"
    )


def test_hashed_signing_key_hashes_the_decoded_bytes_and_keeps_the_prefix() -> None:
    expected = hashlib.sha256(bytes.fromhex(SECRET)).hexdigest()
    assert hashed_signing_key(KEY) == f"signkey-test-{expected}"
    assert hashed_signing_key(SECRET) == expected


@pytest.mark.parametrize("key", ["signkey-test-xyz", "signkey-test-abc", "signkey-test-"])
def test_hashed_signing_key_refuses_a_key_that_is_not_hex(key: str) -> None:
    with pytest.raises(ValueError, match="signing key"):
        hashed_signing_key(key)


def test_prefix_helpers() -> None:
    assert signing_key_prefix(KEY) == "signkey-test-"
    assert strip_signing_key_prefix(KEY) == SECRET
    assert signing_key_prefix(SECRET) == ""
    assert strip_signing_key_prefix("signkey-my_branch1-ab") == "ab"


# --- the inngest package as an oracle ------------------------------------------------------------


@given(body=st.binary(max_size=512), key=signing_keys, timestamp=timestamps)
def test_sign_equals_the_peers_response_signature(body: bytes, key: str, timestamp: int) -> None:
    assert sign(body, key, now=timestamp) == peer_net.sign_response(body, key, timestamp)


@given(value=json_values, key=signing_keys, timestamp=timestamps)
def test_sign_equals_the_peers_request_signature_on_canonical_json(value: object, key: str, timestamp: int) -> None:
    # The peer canonicalizes (RFC 8785) before signing; the server sends canonical bytes, on
    # which both agree.
    canonical = peer_transforms.canonicalize(json.dumps(value).encode())
    assert isinstance(canonical, bytes)
    assert sign(canonical, key, now=timestamp) == peer_net.sign_request(canonical, key, timestamp)


@given(value=json_values, key=signing_keys)
def test_the_peer_accepts_our_signatures(value: object, key: str) -> None:
    canonical = peer_transforms.canonicalize(json.dumps(value).encode())
    assert isinstance(canonical, bytes)
    accepted = peer_net.validate_request_sig(
        body=canonical,
        headers={"x-inngest-signature": sign(canonical, key, now=NOW)},
        mode=peer_server.ServerKind.CLOUD,
        signing_key=key,
        signing_key_fallback=None,
    )
    assert accepted == key


@given(body=st.binary(max_size=256), key=signing_keys, timestamp=timestamps)
def test_we_accept_the_peers_signatures(body: bytes, key: str, timestamp: int) -> None:
    header = peer_net.sign_response(body, key, timestamp)
    assert isinstance(header, str)
    verified = verify(body, header, signing_key=key, now=timestamp)
    assert verified.timestamp == timestamp


@given(key=signing_keys)
def test_hashed_signing_key_equals_the_peers_hash_plus_the_prefix(key: str) -> None:
    # The peer's Bearer token drops the prefix; the spec keeps it.
    peer_hash = peer_transforms.hash_signing_key(key)
    assert hashed_signing_key(key) == signing_key_prefix(key) + peer_hash


def _signed_responses() -> list[Path]:
    return [
        path
        for path in sorted(PEER_FIXTURES.glob("*.json"))
        if "x-inngest-signature" in json.loads(path.read_text())["response"]["headers"]
    ]


def test_the_capture_has_signed_responses() -> None:
    assert len(_signed_responses()) >= 5


@pytest.mark.parametrize("path", _signed_responses(), ids=lambda path: path.stem)
def test_the_peers_captured_response_signatures_verify(path: Path) -> None:
    response = json.loads(path.read_text())["response"]
    body = cast(str, response["raw_body"]).encode()
    header = cast(str, response["headers"]["x-inngest-signature"])
    timestamp = parse_signature_header(header).timestamp
    key, fallback = _capture_key(), _capture_key(" fallback")
    verified = verify(body, header, signing_key=key, fallback_key=fallback, now=timestamp)
    # The peer signs its response with whichever key verified the request.
    assert verified.used_fallback is ("fallback" in path.stem)
    with pytest.raises(InvalidSignatureError):
        verify(body + b" ", header, signing_key=key, fallback_key=fallback, now=timestamp)


def _capture_key(suffix: str = "") -> str:
    # The throwaway keys tests/serve/peer_capture.py signs with.
    return "signkey-test-" + hashlib.sha256(f"steppe peer capture{suffix}".encode()).hexdigest()


# --- verification: the happy paths ----------------------------------------------------------------


def test_verify_accepts_a_fresh_signature() -> None:
    verified = verify(BODY, sign(BODY, KEY, now=NOW), signing_key=KEY, now=NOW)
    assert (verified.timestamp, verified.used_fallback, verified.signing_key) == (NOW, False, KEY)
    assert KEY not in repr(verified)


def test_verify_falls_back_to_the_fallback_key() -> None:
    verified = verify(BODY, sign(BODY, FALLBACK, now=NOW), signing_key=KEY, fallback_key=FALLBACK, now=NOW)
    assert verified.used_fallback is True
    assert verified.signing_key == FALLBACK


def test_verify_prefers_the_signing_key_when_both_keys_are_equal() -> None:
    verified = verify(BODY, sign(BODY, KEY, now=NOW), signing_key=KEY, fallback_key=KEY, now=NOW)
    assert verified.used_fallback is False


def test_verify_accepts_the_edges_of_the_window() -> None:
    oldest = NOW - int(DEFAULT_MAX_AGE.total_seconds())
    newest = NOW + int(DEFAULT_MAX_FUTURE_SKEW.total_seconds())
    assert verify(BODY, sign(BODY, KEY, now=oldest), signing_key=KEY, now=NOW).timestamp == oldest
    assert verify(BODY, sign(BODY, KEY, now=newest), signing_key=KEY, now=NOW).timestamp == newest


def test_verify_ignores_unknown_header_parts_and_hex_case() -> None:
    header = sign(BODY, KEY, now=NOW)
    timestamp_part, signature_part = header.split("&")
    shuffled = f"v=2&{signature_part.upper().replace('S=', 's=')}&{timestamp_part}"
    assert verify(BODY, shuffled, signing_key=KEY, now=NOW).timestamp == NOW


@given(body=st.binary(max_size=256), key=signing_keys, timestamp=timestamps)
def test_sign_then_verify_round_trips(body: bytes, key: str, timestamp: int) -> None:
    verified = verify(body, sign(body, key, now=timestamp), signing_key=key, now=timestamp)
    assert verified.timestamp == timestamp


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("steppe._protocol.signing.hmac.compare_digest", spy)
    verify(BODY, sign(BODY, KEY, now=NOW), signing_key=KEY, now=NOW)
    assert len(calls) == 1


# --- verification: every attack -------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_an_unsigned_request_is_refused(header: str | None) -> None:
    with pytest.raises(MissingSignatureError, match="no X-Inngest-Signature header"):
        verify(BODY, header, signing_key=KEY, now=NOW)


def test_a_request_signed_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidSignatureError, match=r"does not match .* the signing key$"):
        verify(BODY, sign(BODY, OTHER, now=NOW), signing_key=KEY, now=NOW)


def test_another_key_is_refused_after_trying_the_fallback() -> None:
    with pytest.raises(InvalidSignatureError, match="the signing key or the fallback key"):
        verify(BODY, sign(BODY, OTHER, now=NOW), signing_key=KEY, fallback_key=FALLBACK, now=NOW)


def test_the_fallback_key_is_not_accepted_unless_configured() -> None:
    with pytest.raises(InvalidSignatureError):
        verify(BODY, sign(BODY, FALLBACK, now=NOW), signing_key=KEY, now=NOW)


@given(
    body=st.binary(min_size=1, max_size=128),
    position=st.integers(min_value=0),
    flip=st.integers(1, 255),
)
def test_a_tampered_body_is_refused(body: bytes, position: int, flip: int) -> None:
    header = sign(body, KEY, now=NOW)
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(InvalidSignatureError):
        verify(tampered, header, signing_key=KEY, now=NOW)


def test_a_changed_timestamp_is_refused() -> None:
    signature = sign(BODY, KEY, now=NOW).split("&")[1]
    with pytest.raises(InvalidSignatureError):
        verify(BODY, f"t={NOW + 1}&{signature}", signing_key=KEY, now=NOW)


def test_an_expired_signature_is_refused() -> None:
    stale = NOW - int(DEFAULT_MAX_AGE.total_seconds()) - 1
    with pytest.raises(ExpiredSignatureError, match="301s old, older than the accepted 300s"):
        verify(BODY, sign(BODY, KEY, now=stale), signing_key=KEY, now=NOW)


def test_max_age_is_configurable() -> None:
    header = sign(BODY, KEY, now=NOW - 60)
    with pytest.raises(ExpiredSignatureError):
        verify(BODY, header, signing_key=KEY, now=NOW, max_age=timedelta(seconds=59))
    assert verify(BODY, header, signing_key=KEY, now=NOW, max_age=timedelta(seconds=60))


def test_a_signature_from_the_future_is_refused() -> None:
    ahead = NOW + int(DEFAULT_MAX_FUTURE_SKEW.total_seconds()) + 1
    with pytest.raises(FutureSignatureError, match="31s in the future"):
        verify(BODY, sign(BODY, KEY, now=ahead), signing_key=KEY, now=NOW)


def test_a_forged_old_signature_reports_the_forgery_not_the_age() -> None:
    # The HMAC is checked first: a time error always means an authentic request.
    with pytest.raises(InvalidSignatureError):
        verify(BODY, sign(BODY, OTHER, now=NOW - 86_400), signing_key=KEY, now=NOW)


def test_a_replayed_signature_is_refused() -> None:
    guard = ReplayGuard()
    header = sign(BODY, KEY, now=NOW)
    verify(BODY, header, signing_key=KEY, now=NOW, replay_guard=guard)
    with pytest.raises(ReplayedSignatureError, match="already used"):
        verify(BODY, header, signing_key=KEY, now=NOW + 10, replay_guard=guard)


def test_a_refused_request_does_not_enter_the_replay_guard() -> None:
    guard = ReplayGuard()
    with pytest.raises(InvalidSignatureError):
        verify(BODY, sign(BODY, OTHER, now=NOW), signing_key=KEY, now=NOW, replay_guard=guard)
    assert len(guard) == 0


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("garbage", "without '='"),
        ("t=1700000000", "'s' is missing"),
        ("s=" + "a" * 64, "'t' is missing"),
        ("t=soon&s=" + "a" * 64, "'t' is not a whole number"),
        ("t=-5&s=" + "a" * 64, "'t' is not a whole number"),
        ("t=1.5&s=" + "a" * 64, "'t' is not a whole number"),
        ("t=1700000000&s=" + "a" * 63, "'s' is not 64 hexadecimal"),
        ("t=1700000000&s=" + "g" * 64, "'s' is not 64 hexadecimal"),
        ("t=1700000000\n&s=" + "a" * 64, "'t' is not a whole number"),
        ("t=1700000000&s=" + "a" * 64 + "\n&v=1", "'s' is not 64 hexadecimal"),
        ("t=1&t=2&s=" + "a" * 64, "'t' appears more than once"),
        ("t=1&s=" + "a" * 64 + "&s=" + "b" * 64, "'s' appears more than once"),
        ("t=1700000000,s=" + "a" * 64, "'s' is missing"),  # comma instead of &
    ],
)
def test_a_malformed_header_is_refused(header: str, problem: str) -> None:
    with pytest.raises(MalformedSignatureError, match=problem):
        verify(BODY, header, signing_key=KEY, now=NOW)


def test_every_failure_is_a_signature_error() -> None:
    for error in (
        MissingSignatureError,
        MalformedSignatureError,
        InvalidSignatureError,
        ExpiredSignatureError,
        FutureSignatureError,
        ReplayedSignatureError,
    ):
        assert issubclass(error, SignatureError)


def test_verify_refuses_bad_configuration() -> None:
    header = sign(BODY, KEY, now=NOW)
    with pytest.raises(ValueError, match="signing_key is empty"):
        verify(BODY, header, signing_key="signkey-test-", now=NOW)
    with pytest.raises(ValueError, match="max_age must be positive"):
        verify(BODY, header, signing_key=KEY, now=NOW, max_age=timedelta(0))
    with pytest.raises(ValueError, match="shorter than max_age"):
        verify(BODY, header, signing_key=KEY, now=NOW, replay_guard=ReplayGuard(max_age=timedelta(minutes=1)))


# --- the replay guard -----------------------------------------------------------------------------


def test_the_guard_forgets_signatures_once_they_are_too_old_to_verify() -> None:
    guard = ReplayGuard(max_age=timedelta(seconds=300))
    guard.admit("a" * 64, NOW, now=NOW)
    guard.admit("b" * 64, NOW + 100, now=NOW + 100)
    assert len(guard) == 2
    guard.admit("c" * 64, NOW + 301, now=NOW + 301)  # "a" is now older than 300 s
    assert len(guard) == 2
    guard.admit("a" * 64, NOW + 301, now=NOW + 301)  # so it is accepted again (verify would not)
    with pytest.raises(ReplayedSignatureError):
        guard.admit("b" * 64, NOW + 301, now=NOW + 301)


def test_the_guard_keeps_at_most_capacity_entries_dropping_the_oldest() -> None:
    guard = ReplayGuard(capacity=3)
    for offset, char in enumerate("abcd"):
        guard.admit(char * 64, NOW + offset, now=NOW + offset)
    assert len(guard) == 3
    guard.admit("a" * 64, NOW + 4, now=NOW + 4)  # the oldest was dropped to make room
    with pytest.raises(ReplayedSignatureError):
        guard.admit("d" * 64, NOW + 4, now=NOW + 4)


def test_the_guard_is_case_insensitive() -> None:
    guard = ReplayGuard()
    guard.admit("ab" * 32, NOW, now=NOW)
    with pytest.raises(ReplayedSignatureError):
        guard.admit("AB" * 32, NOW, now=NOW)


def test_the_guard_admits_a_signature_once_across_threads() -> None:
    guard = ReplayGuard()
    outcomes: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        try:
            guard.admit("f" * 64, NOW, now=NOW)
            accepted = True
        except ReplayedSignatureError:
            accepted = False
        with lock:
            outcomes.append(accepted)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 15 + [True]


@pytest.mark.parametrize(("max_age", "capacity"), [(timedelta(0), 10), (timedelta(minutes=5), 0)])
def test_the_guard_refuses_bad_configuration(max_age: timedelta, capacity: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        ReplayGuard(max_age=max_age, capacity=capacity)


def test_default_now_is_the_current_time() -> None:
    header = sign(BODY, KEY)
    now = int(datetime.now(UTC).timestamp())
    assert abs(parse_signature_header(header).timestamp - now) <= 5
    expected = parse_signature_header(header).signature
    assert verify(BODY, header, signing_key=KEY).signature == expected
