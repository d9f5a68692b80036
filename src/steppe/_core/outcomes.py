"""What a step or a run came to, as the core, the engines and the wire share it: errors, stored results, suspension."""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from steppe._core.serde import JsonValue

__all__ = ["ErrorInfo", "Interrupt", "Memo", "MemoData", "MemoError", "MemoJson"]

# Frames in files under this directory are steppe's own: they tell the user nothing about their code.
_STEPPE_DIR: Final = str(Path(__file__).resolve().parent.parent) + "/"
# pydantic ends each error of a ValidationError's text with a link to its documentation site.
_PYDANTIC_HELP_URL: Final = re.compile(r"\n[ \t]*For further information visit https://errors\.pydantic\.dev/\S*")


class Interrupt(BaseException):
    """Suspends a run so the driver can act on the steps it found.

    A BaseException, so a user's ``except Exception:`` around a step cannot swallow it.
    """


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error as it is stored and sent over the wire: class name, message, traceback text."""

    name: str
    message: str
    stack: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        """The error as the user should see it: the traceback through their own frames only (steppe's are left
        out, in every exception of a chain), and pydantic's help links dropped from the message and the stack."""
        described = traceback.TracebackException.from_exception(error)
        _drop_steppe_frames(described, seen=set())
        stack = _without_help_urls("".join(described.format()))
        return cls(name=type(error).__name__, message=_without_help_urls(str(error)), stack=stack)


def _drop_steppe_frames(described: traceback.TracebackException, *, seen: set[int]) -> None:
    if id(described) in seen:  # an exception chain may loop through __context__
        return
    seen.add(id(described))
    kept = [frame for frame in described.stack if not frame.filename.startswith(_STEPPE_DIR)]
    described.stack = traceback.StackSummary.from_list(kept)
    for linked in (described.__cause__, described.__context__, *(described.exceptions or ())):
        if linked is not None:
            _drop_steppe_frames(linked, seen=seen)


def _without_help_urls(text: str) -> str:
    return _PYDANTIC_HELP_URL.sub("", text)


# Not frozen: one is made per replayed step, and a frozen dataclass's __init__ costs twice as much. Treat as immutable.
@dataclass(slots=True)
class MemoData:
    """A completed step's stored output, as JSON data."""

    value: JsonValue


@dataclass(slots=True)  # not frozen, as MemoData
class MemoJson:
    """A completed step's stored output as JSON text: rebuilt straight from the text, with no parse in between."""

    text: str | bytes


@dataclass(frozen=True, slots=True)
class MemoError:
    """A step that failed for good."""

    error: ErrorInfo


Memo = MemoData | MemoJson | MemoError
