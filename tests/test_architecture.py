"""House rules checked by the suite: import direction between apps, thin tasks, no eval or raw SQL helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# An app may import only the apps below it: segments > scoring > leads.
FORBIDDEN = {"leads": {"scoring", "segments"}, "scoring": {"segments"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_apps_import_downward_only(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[app])
        for path in (ROOT / app).rglob("*.py")
        if _imports(path) & FORBIDDEN[app]
    }
    assert offenders == {}


def test_no_eval_exec_or_raw_sql_helpers():
    banned = {"eval", "exec", "RawSQL"}
    offenders = []
    for app in ("leads", "scoring", "segments", "leadqual"):
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                name = getattr(node, "id", None) or getattr(node, "attr", None)
                if isinstance(node, ast.Name | ast.Attribute) and name in banned:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
                if isinstance(node, ast.Attribute) and node.attr == "extra" and isinstance(node.ctx, ast.Load):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .extra")
    assert offenders == []
