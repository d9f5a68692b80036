"""Indexed event matching: the keys under which parked runs are found by the events that can match them.

A wait's ``if_exp`` or a ``Cancel.if_exp`` that can hold only where a term ``event.<path> == async.<path>`` holds
(``Expression.index``: the whole condition, or an operand of its top-level ``&&``) is indexed. The run's own event
is fixed, so the equality key of its value is computed once (when the run parks, or is first checked for
cancellation) and stored with the incoming event's path; an event then looks up, for each such path stored under
its name (a few), the runs whose key equals its own value there. Only those candidates are evaluated in full, so
an event matches exactly the runs that evaluating every condition would give, in time independent of how many runs
are parked. A condition of another shape, or a value without an equality key (``NotIndexable``), is not indexed:
it is evaluated for every event of its name, as it always was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from steppe._core.expressions import EqualityIndex, NotIndexable, compile_expression

__all__ = ["ALWAYS_CANDIDATE", "conditions_fingerprint", "incoming_keys", "path_of", "waiting_key"]

ALWAYS_CANDIDATE: Final = ""
"""The key stored for a run whose own value has none: every incoming event looks it up too (no key is empty)."""


def path_of(text: str) -> tuple[str, ...]:
    """A stored path (JSON list of field names) back as a tuple."""
    return tuple(json.loads(text))


def waiting_key(condition: str, event: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(incoming path as stored, key of ``event``'s value) for a run of ``event`` waiting on ``condition``.

    The key is None when the condition can never hold for this run (its own field is missing, say); the result is
    None when the condition is not indexed.
    """
    index = compile_expression(condition).index
    if index is None:
        return None
    try:
        key = index.key(event, index.waiting)
    except NotIndexable:
        return None
    return json.dumps(list(index.incoming)), key


def incoming_keys(paths: Iterable[str], incoming: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """(path, key) of ``incoming``'s value at each stored path that has one; None if a value has no key, so that
    every run parked under those paths must be evaluated instead."""
    keys: list[tuple[str, str]] = []
    for path in paths:
        try:
            key = EqualityIndex.key(incoming, path_of(path))
        except NotIndexable:
            return None
        if key is not None:
            keys.append((path, key))
    return keys


def conditions_fingerprint(conditions: Iterable[str]) -> str:
    """Names one set of indexed cancel conditions, so keys made for another set are known to be stale."""
    text = json.dumps(sorted(set(conditions)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
