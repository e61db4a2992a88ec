"""Entry point: ``python -m bench --leads N`` (needs DATABASE_URL pointing at PostgreSQL)."""

from __future__ import annotations

import argparse
import os
import sys

from . import ensure_database

BENCH_DB = "leadqual_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--leads", type=int, default=20000, help="how many leads to benchmark with")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print(
            "bench: DATABASE_URL must point at PostgreSQL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadqual_bench python -m bench --leads 20000",
            file=sys.stderr,
        )
        return 2
    os.environ["DATABASE_URL"] = ensure_database(url, BENCH_DB)
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadqual.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from . import scoring_rescore

    scoring_rescore.run(leads=args.leads)
    if os.environ.get("REDIS_URL"):
        from . import scoring_worker

        rows = scoring_worker.run(rate=50, seconds=30, drain=min(5000, args.leads // 4))
        scoring_worker.print_rows(rows)
        scoring_rescore.append_results(rows, leads=args.leads)
    else:
        print("REDIS_URL not set: skipping the worker benchmarks (latency, throughput)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
