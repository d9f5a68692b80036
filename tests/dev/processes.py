"""``steppe dev`` in a subprocess: started on a free port, its address read from what it prints, stopped by signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARALLEL_EXAMPLE = REPO / "examples" / "parallel_steps.py"
STARTUP_SECONDS = 60  # a hang guard only: the start takes well under a second


@dataclass
class DevProcess:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=lambda: [])

    def stop(self, signum: signal.Signals) -> tuple[int, str]:
        """Sends ``signum`` and waits for the process to end: its exit status and what it printed on stderr."""
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=STARTUP_SECONDS)
        return self.process.returncode, stderr


@contextmanager
def steppe_dev(*args: str, cwd: Path) -> Generator[DevProcess]:
    command = [sys.executable, "-c", "import sys; from steppe.cli import main; sys.exit(main())", "dev", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "http://" in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(STARTUP_SECONDS):
            process.kill()
            _, stderr = process.communicate()
            raise AssertionError(f"steppe dev printed no address; stdout {lines!r}, stderr {stderr!r}")
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", "\n".join(lines))
        assert match, lines
        yield DevProcess(process, match.group(1), lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
