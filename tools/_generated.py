"""The one way a generator writes its output or, with ``--check``, proves the committed file is fresh.

Every generator under tools/ renders its files as text and hands each one to ``write_or_check``; the
``generated`` nox session runs them all with ``--check``.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path


def write_or_check(path: Path, text: str, check: bool) -> bool:
    """Write ``text`` to ``path`` (``check=False``), or compare them (``check=True``).

    Returns True when ``path`` holds ``text`` afterwards. A stale file under ``check`` is left alone, and a
    unified diff from the file on disk to the generated text goes to stdout; False is returned.
    """
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old == text:
        return True
    if check:
        diff = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{path} (on disk)" if old is not None else f"{path} (missing)",
            tofile=f"{path} (generated)",
        )
        sys.stdout.write("".join(diff))
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return True
