"""Fault suite figures: record_figure() per scenario, one table at the end, JSON lines in bench/results."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "faults.jsonl"

# FAULTS_SIZE=full (make faults) or small (the default, cheap enough for make test).
SIZE = os.environ.get("FAULTS_SIZE", "small")
FULL = SIZE == "full"

_FIGURES: list[dict[str, Any]] = []


def size(small: int, full: int) -> int:
    """Pick a scenario's size: small by default, full under FAULTS_SIZE=full."""
    return full if FULL else small


@pytest.fixture
def record_figure():
    """record_figure(scenario, name, value, goal): keep one figure for the end-of-session table."""

    def _record(scenario: str, name: str, value: Any, goal: Any) -> None:
        _FIGURES.append(
            {"scenario": scenario, "figure": name, "value": value, "goal": goal, "size": SIZE, "at": time.time()}
        )

    return _record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _FIGURES:
        return
    tr = terminalreporter
    tr.section(f"fault suite figures (FAULTS_SIZE={SIZE})")
    width = max(len(f"{f['scenario']}: {f['figure']}") for f in _FIGURES)
    tr.write_line(f"{'scenario: figure'.ljust(width)}  {'value':>12}  goal")
    for f in _FIGURES:
        value = f["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        tr.write_line(f"{(f['scenario'] + ': ' + f['figure']).ljust(width)}  {shown:>12}  {f['goal']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for f in _FIGURES:
            out.write(json.dumps(f, default=str) + "\n")
