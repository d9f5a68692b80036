"""What a step or a run came to, as the core, the engines and the wire share it: errors, stored results, suspension."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from steppe._core.serde import JsonValue

__all__ = ["ErrorInfo", "Interrupt", "Memo", "MemoData", "MemoError", "MemoJson"]


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
        stack = "".join(traceback.format_exception(error))
        return cls(name=type(error).__name__, message=str(error), stack=stack)


@dataclass(frozen=True, slots=True)
class MemoData:
    """A completed step's stored output, as JSON data."""

    value: JsonValue


@dataclass(frozen=True, slots=True)
class MemoJson:
    """A completed step's stored output as JSON text: rebuilt straight from the text, with no parse in between."""

    text: str | bytes


@dataclass(frozen=True, slots=True)
class MemoError:
    """A step that failed for good."""

    error: ErrorInfo


Memo = MemoData | MemoJson | MemoError
