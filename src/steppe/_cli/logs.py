"""``--log-level``: log records (``ctx.logger``'s among them) on stderr, each tagged with its run like a progress line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator
from contextlib import contextmanager

from steppe._cli.progress import ProgressPrinter

__all__ = ["LEVELS", "log_to_stderr"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@contextmanager
def log_to_stderr(level: str, printer: ProgressPrinter) -> Generator[None]:
    """For the command's duration: the root logger at ``level``, writing to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RunLogFormatter(printer))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


class RunLogFormatter(logging.Formatter):
    """Log records as progress lines: a record logged through ``ctx.logger`` carries its run's tag."""

    def __init__(self, printer: ProgressPrinter) -> None:
        super().__init__()
        self._printer = printer

    def format(self, record: logging.LogRecord) -> str:
        run_id: object = getattr(record, "run_id", None)
        fn_id: object = getattr(record, "fn_id", None)
        where = (
            self._printer.tag(run_id, fn_id if isinstance(fn_id, str) else None)
            if isinstance(run_id, str)
            else record.name
        )
        line = f"{self._printer.elapsed()} {where} {record.levelname.lower():<7} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line
