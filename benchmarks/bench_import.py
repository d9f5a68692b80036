"""What ``import steppe`` costs a fresh interpreter, against ``import pydantic.main``.

Run: ``.venv/bin/python benchmarks/bench_import.py [--repeats N] [--top K]`` (a plain script; prints tables,
asserts nothing).

Each repetition starts a new interpreter with ``python -X importtime -c "import <module>"`` and reads the
cumulative time of the module's own line from the report on stderr; the table shows the median over the
repetitions (also min and max, since other processes on the machine add noise). A second table gives the CPU time
of the same imports (``time.process_time`` around the import statement, in separate fresh interpreters), which
waiting for a busy machine's cores does not inflate. ``pydantic.main`` is the reference: steppe needs pydantic
anyway, so its import is the floor steppe's own modules add to. The last tables show where the rest goes:
steppe's own modules, and the other modules it loads that ``import pydantic.main`` does not, each by median self
time (the time a module's own body takes, without the modules it imports).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass

REFERENCE = "pydantic.main"


@dataclass(frozen=True)
class ImportReport:
    """One ``-X importtime`` report: per module, (self, cumulative) microseconds."""

    times: dict[str, tuple[int, int]]

    def cumulative(self, module: str) -> int:
        return self.times[module][1]


def measure(module: str) -> ImportReport:
    """Import ``module`` once in a fresh interpreter and parse its ``-X importtime`` report."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    times: dict[str, tuple[int, int]] = {}
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        times[name.strip()] = (int(self_us), int(cumulative_us))
    return ImportReport(times)


def cpu_ms(module: str) -> float:
    """CPU time of importing ``module`` once in a fresh interpreter (without -X importtime), in milliseconds.

    Wall-clock times on a shared machine include waiting for a core; CPU time does not, so this ratio is steadier.
    """
    script = f"import time\nstart = time.process_time()\nimport {module}\nprint(time.process_time() - start)"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment
    )
    return float(completed.stdout) * 1000


def print_table(title: str, steppe_ms: list[float], reference_ms: list[float]) -> None:
    print(f"| {title} | median | min | max |")
    print("|---|---:|---:|---:|")
    for name, values in (("steppe", steppe_ms), (REFERENCE, reference_ms)):
        print(f"| `{name}` | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    ratio = statistics.median(steppe_ms) / statistics.median(reference_ms)
    print(f"\nratio steppe / {REFERENCE} (medians): {ratio:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=9, help="fresh interpreters per module (default 9)")
    parser.add_argument("--top", type=int, default=12, help="modules to list in each self-time table")
    arguments = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.platform()}, load average {os.getloadavg()[0]:.2f}")
    print(f"{arguments.repeats} fresh interpreters per module, alternating; times in milliseconds\n")
    steppe_reports: list[ImportReport] = []
    reference_reports: list[ImportReport] = []
    steppe_cpu: list[float] = []
    reference_cpu: list[float] = []
    for _ in range(arguments.repeats):  # alternating, so a burst of load elsewhere hits both alike
        steppe_reports.append(measure("steppe"))
        reference_reports.append(measure(REFERENCE))
        steppe_cpu.append(cpu_ms("steppe"))
        reference_cpu.append(cpu_ms(REFERENCE))

    steppe_ms = [report.cumulative("steppe") / 1000 for report in steppe_reports]
    reference_ms = [report.cumulative(REFERENCE) / 1000 for report in reference_reports]
    print_table("-X importtime, cumulative", steppe_ms, reference_ms)
    print_table("CPU time (time.process_time)", steppe_cpu, reference_cpu)
    print_self_times(steppe_reports, reference_reports, arguments.top)


def print_self_times(steppe_reports: list[ImportReport], reference_reports: list[ImportReport], top: int) -> None:
    """steppe's own modules, then the other modules steppe loads beyond pydantic.main's, by median self time."""
    modules = set[str]().union(*(report.times for report in steppe_reports))
    reference_modules = set[str]().union(*(report.times for report in reference_reports))
    self_ms = {
        module: statistics.median(report.times[module][0] / 1000 for report in steppe_reports if module in report.times)
        for module in modules
    }
    own = [module for module in modules if module.split(".")[0] == "steppe"]
    extra = [module for module in modules - reference_modules if module not in own]
    for title, group in (("steppe modules", own), (f"other modules not loaded by `import {REFERENCE}`", extra)):
        ranked = sorted(group, key=self_ms.__getitem__, reverse=True)
        print(f"| {title} (top {top} of {len(group)}, {sum(map(self_ms.__getitem__, group)):.1f} in all) | self |")
        print("|---|---:|")
        for module in ranked[:top]:
            print(f"| `{module}` | {self_ms[module]:.1f} |")
        print()


if __name__ == "__main__":
    main()
