"""``python -m bench --leads N``: every benchmark under bench/, then one table of all figures.

Needs DATABASE_URL pointing at a PostgreSQL server (and REDIS_URL for the worker
figures). Each area runs in its own process, so that memory figures and Django
settings belong to that area alone; each appends its figures to one file, and
this runner prints them as one table (figure, value, the baseline measured in
the same run, the ratio, the goal and whether it is met) and writes them to
bench/results/latest.jsonl.

Databases: leadqual_bench holds the N synthetic leads that scoring, segments,
the API reads and the pages use; the import and the API ingest use scratch
databases of their own.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ensure_database, report

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "leadqual_bench"


def _areas(leads: int, rows: int) -> dict[str, list[str]]:
    areas = {
        "scoring": ["bench.scoring_bench", "--leads", str(leads)],
        "segments": ["bench.segments_bench", "--leads", str(leads)],
        "import": ["bench.import_bench", "--rows", str(rows)],
        "api": ["bench.api_bench"],
        "pages": ["bench.pages_bench"],
    }
    return {name: argv for name, argv in areas.items() if importlib.util.find_spec(argv[0]) is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000, help="leads in leadqual_bench (1,000,000: full run)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the generated import file")
    parser.add_argument("--only", default="", help="comma-separated areas: scoring,segments,import,api,pages")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print(
            "bench: DATABASE_URL must point at PostgreSQL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadqual_bench python -m bench --leads 100000",
            file=sys.stderr,
        )
        return 2
    bench_url = ensure_database(url, BENCH_DB)
    areas = _areas(args.leads, args.rows)
    wanted = [name for name in args.only.split(",") if name] or list(areas)
    unknown = sorted(set(wanted) - set(areas))
    if unknown:
        print(f"bench: unknown areas {unknown}; known: {sorted(areas)}", file=sys.stderr)
        return 2
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "figures.jsonl"
        env = {**os.environ, "DATABASE_URL": bench_url, "BENCH_RESULTS": str(results)}
        for name in wanted:
            print(f"\n=== {name} ===", flush=True)
            started = time.monotonic()
            code = subprocess.call([sys.executable, "-m", *areas[name]], cwd=ROOT, env=env)
            outcome = "done" if code == 0 else f"FAILED (exit {code})"
            print(f"=== {name}: {outcome} in {time.monotonic() - started:.0f} s")
            if code != 0:
                failed.append(name)
        rows = report.read(results)
    report.print_table(rows, title=f"all figures, {args.leads:,} leads")
    written = report.write_latest(rows, leads=args.leads)
    print(f"\nwrote {written}")
    if failed:
        print(f"areas that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
