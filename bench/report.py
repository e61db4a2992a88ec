"""One shape for every benchmark figure, one table, one results file.

A figure is a dict: area, figure, value, unit, baseline (measured in the same
run, or None), ratio (value / baseline), goal (what the issue holds it
against: on the value or on the ratio) and met (True, False, or None when the
figure has no goal). Each bench module emits its figures with `emit`; when
BENCH_RESULTS names a file (``python -m bench`` sets it), they are appended
there as JSON lines, so that the runner prints every area in one table.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.jsonl"
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def figure(
    area: str,
    name: str,
    value: float | int | None,
    *,
    unit: str = "",
    baseline: float | int | None = None,
    goal: tuple[str, str, float] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """A figure; ``goal`` is (``"value"`` or ``"ratio"``, operator, target), e.g. ("ratio", "<=", 1.5)."""
    ratio = value / baseline if value is not None and baseline else None
    met = None
    if goal is not None:
        on, op, target = goal
        subject = ratio if on == "ratio" else value
        met = None if subject is None else bool(_OPS[op](subject, target))
    return {
        "area": area,
        "figure": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "goal": _goal_text(goal, unit),
        "met": met,
        "note": note,
    }


def _goal_text(goal: tuple[str, str, float] | None, unit: str) -> str:
    if goal is None:
        return "-"
    on, op, target = goal
    return f"{op} {target:g}x" if on == "ratio" else f"{op} {target:g} {unit}".rstrip()


def emit(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print the rows as a table and append them to $BENCH_RESULTS when it is set."""
    rows = list(rows)
    print_table(rows)
    target = os.environ.get("BENCH_RESULTS")
    if target:
        with Path(target).open("a") as out:
            for row in rows:
                out.write(json.dumps(row, default=str) + "\n")
    return rows


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(rows: list[dict[str, Any]], *, title: str = "") -> None:
    header = ("area", "figure", "value", "unit", "baseline", "ratio", "goal", "met")
    lines = [header]
    for row in rows:
        met = {True: "yes", False: "NO", None: "-"}[row.get("met")]
        lines.append(
            (
                row.get("area", ""),
                row["figure"],
                _fmt(row.get("value")),
                row.get("unit", ""),
                _fmt(row.get("baseline")),
                "-" if row.get("ratio") is None else f"{row['ratio']:.2f}x",
                row.get("goal", "-"),
                met,
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    if title:
        print(f"\n{title}")
    for index, line in enumerate(lines):
        cells = []
        for i, cell in enumerate(line):
            text = str(cell)
            cells.append(text.rjust(widths[i]) if i in (2, 4, 5) else text.ljust(widths[i]))
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    for row in rows:
        if row.get("note"):
            print(f"  {row['figure']}: {row['note']}")


def write_latest(rows: list[dict[str, Any]], *, leads: int) -> Path:
    """Replace bench/results/latest.jsonl with this run's figures."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with RESULTS.open("w") as out:
        for row in rows:
            out.write(json.dumps({"at": stamp, "leads": leads, **row}, default=str) + "\n")
    return RESULTS
