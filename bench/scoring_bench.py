"""Scoring figures: bulk rescore against plain SQL, then single-lead scoring through a real worker.

``DATABASE_URL=postgres://... REDIS_URL=redis://... python -m bench.scoring_bench --leads N``
(database leadqual_bench, loaded with N synthetic leads when it holds another number).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import ensure_database, report

BENCH_DB = "leadqual_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scoring_bench", description=__doc__)
    parser.add_argument("--leads", type=int, default=20000, help="how many leads to benchmark with")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench.scoring_bench: DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return 2
    os.environ["DATABASE_URL"] = ensure_database(url, BENCH_DB)
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadqual.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from . import scoring_rescore

    rows = scoring_rescore.run(leads=args.leads)
    if os.environ.get("REDIS_URL"):
        from . import scoring_worker

        rows += scoring_worker.run(rate=50, seconds=30, drain=min(5000, args.leads // 4))
    else:
        print("REDIS_URL not set: skipping the worker benchmarks (latency, throughput)")
    report.emit(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
