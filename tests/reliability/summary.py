"""The printed summary of a crash or fault sweep: one line per operation, then the problems by category."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tests.reliability.crash import OperationReport
from tests.reliability.faults import FaultReport
from tests.reliability.known import KNOWN_BUGS, category, data_lost, unknown


def crash_summary(reports: Sequence[OperationReport]) -> str:
    lines = ["crash points (SIGKILL at the Nth write / fsync / rename / custody record):"]
    lines += [f"  {r.line()}" for r in reports]
    exercised, survived = sum(r.exercised for r in reports), sum(r.survived for r in reports)
    outcomes = [o for r in reports for o in r.outcomes if o.killed]
    lines.append(f"  total: {exercised} crash points exercised, {survived} survived every check, "
                 f"{sum(bool(unknown(o.check.problems)) for o in outcomes)} with a new problem; data lost at "
                 f"{sum(data_lost(o.check.problems) for o in outcomes)}; by category (a point may show several):")
    lines += _problems([(r.operation, o.point.label(), o.check.problems) for r in reports for o in r.outcomes])
    return "\n".join(lines)


def fault_summary(reports: Sequence[FaultReport]) -> str:
    lines = ["I/O faults (ENOSPC, EIO, EROFS, EFBIG at the Nth write / fsync / rename, once and persistent):"]
    lines += [f"  {r.line()}" for r in reports]
    injected, handled = sum(r.injected for r in reports), sum(r.handled for r in reports)
    outcomes = [o for r in reports for o in r.outcomes if o.injected]
    lines.append(f"  total: {injected} faults injected, {handled} handled cleanly, "
                 f"{sum(bool(unknown(o.problems)) for o in outcomes)} with a new problem; data lost at "
                 f"{sum(data_lost(o.problems) for o in outcomes)}; by category (a point may show several):")
    lines += _problems([(r.operation, o.fault.label(), o.problems) for r in reports for o in r.outcomes])
    return "\n".join(lines)


def _problems(found: list[tuple[str, str, list[str]]]) -> list[str]:
    """Per category: how many points, in which operations, and the first example; new ones in full."""
    by_category: Counter[str] = Counter()
    operations: dict[str, set[str]] = {}
    example: dict[str, str] = {}
    lines: list[str] = []
    for operation, label, problems in found:
        for name in sorted({category(p) for p in problems}):
            by_category[name] += 1
            operations.setdefault(name, set()).add(operation)
            example.setdefault(name, f"{operation} {label}: {next(p for p in problems if category(p) == name)}")
        lines.extend(f"  NEW PROBLEM {operation} {label}: {p}" for p in unknown(problems))
    for name, count in by_category.most_common():
        known = "known product bug" if name in KNOWN_BUGS else "NOT KNOWN"
        lines.append(f"  [{name}] {count} point(s), {known}, in {', '.join(sorted(operations[name]))}; e.g. "
                     f"{example[name][:300]}")
    return lines
