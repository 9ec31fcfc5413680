"""``rates conformance``: run the suite in-process with pytest and print a table per capability."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["ConformanceReport", "capability_of", "run_conformance"]

OUTCOMES = ("passed", "failed", "skipped", "xfailed")


def capability_of(item: Any) -> str:
    """The capability a test of the suite belongs to: the names it requires (``+``-joined),
    ``adaptive`` for tests of adaptive solvers only, else ``core``."""
    function = getattr(item, "function", None)
    needs = set(getattr(function, "rates_requires", ()))
    callspec = getattr(item, "callspec", None)
    for value in (getattr(callspec, "params", None) or {}).values():
        needs |= set(getattr(value, "rates_requires", ()))
    if getattr(function, "rates_solvers", None) == "adaptive":
        needs.add("adaptive")
    return "+".join(sorted(needs)) or "core"


@dataclass
class ConformanceReport:
    """A pytest plugin that counts the outcome of every test of the suite per capability."""

    capability: dict[str, str] = field(default_factory=dict)  # nodeid -> capability
    outcome: dict[str, str] = field(default_factory=dict)  # nodeid -> passed/failed/...
    reasons: dict[str, str] = field(default_factory=dict)  # nodeid -> skip reason

    def pytest_collection_finish(self, session: Any) -> None:
        for item in session.items:  # after deselection (-k)
            self.capability[item.nodeid] = capability_of(item)

    def pytest_runtest_logreport(self, report: Any) -> None:
        nodeid = report.nodeid
        if hasattr(report, "wasxfail"):
            if report.skipped:
                self.outcome[nodeid] = "xfailed"
            elif report.when == "call":  # a non-strict xpass
                self.outcome[nodeid] = "passed"
            return
        if report.failed:
            self.outcome[nodeid] = "failed"
        elif report.skipped:
            self.outcome[nodeid] = "skipped"
            longrepr = report.longrepr
            if isinstance(longrepr, tuple) and len(longrepr) == 3:
                self.reasons[nodeid] = str(longrepr[2]).removeprefix("Skipped: ")
        elif report.when == "call" and self.outcome.get(nodeid) != "failed":
            self.outcome[nodeid] = "passed"

    def counts(self) -> dict[str, dict[str, int]]:
        """capability -> outcome -> number of tests."""
        table: dict[str, dict[str, int]] = {}
        for nodeid, cap in self.capability.items():
            row = table.setdefault(cap, dict.fromkeys(OUTCOMES, 0))
            result = self.outcome.get(nodeid)
            if result in row:
                row[result] += 1
        return table

    def table(self) -> str:
        counts = self.counts()
        order = sorted(counts, key=lambda c: (c != "core", c))
        width = max([len("capability"), *map(len, order), len("total")])
        lines = [f"{'capability':<{width}}  " + "  ".join(f"{o:>7}" for o in OUTCOMES)]
        total = dict.fromkeys(OUTCOMES, 0)
        for cap in order:
            row = counts[cap]
            lines.append(f"{cap:<{width}}  " + "  ".join(f"{row[o]:>7}" for o in OUTCOMES))
            for o in OUTCOMES:
                total[o] += row[o]
        lines.append(f"{'total':<{width}}  " + "  ".join(f"{total[o]:>7}" for o in OUTCOMES))
        reasons: dict[str, int] = {}
        for reason in self.reasons.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        if reasons:
            lines += ["", "skipped:"]
            for reason, n in sorted(reasons.items()):
                lines.append(f"  {n:>3} x {reason}")
        return "\n".join(lines) + "\n"

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcome.values() if o == "failed")


def run_conformance(
    backend: str,
    solvers: Sequence[str] = (),
    pytest_args: Sequence[str] = (),
    stream: TextIO | None = None,
) -> int:
    """Run the suite for ``backend`` in this process; print pytest's report, then the table.

    Returns 0 when nothing failed, 1 otherwise (2 when pytest could not run the suite).
    """
    import pytest

    import rates_core.testing as plugin

    stream = stream or sys.stdout
    report = ConformanceReport()
    with tempfile.TemporaryDirectory(prefix="rates-conformance-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\naddopts =\n", encoding="utf-8")
        # the suite's pytest plugin is passed as an object (it is imported already)
        args = ["-p", "no:cacheprovider", "-c", str(ini)]
        suite = Path(plugin.suite_path())
        args += ["--rootdir", str(suite.parent), "--rates-backend", backend]
        for solver in solvers:
            args += ["--rates-solver", solver]
        args += [*pytest_args, str(suite)]
        code = pytest.main(args, plugins=[report, plugin])
    from rates_core.plugins import default_host

    distribution = ""
    for record in default_host().plugins:
        if any(b.name == backend for b in record.backends):
            distribution = f" ({record.distribution} {record.version})"
    stream.write(f"\nConformance of backend {backend!r}{distribution}:\n\n")
    stream.write(report.table())
    stream.flush()
    if report.failed or code == pytest.ExitCode.TESTS_FAILED:
        return 1
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return 2
    return 0
