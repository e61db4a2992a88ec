"""Routing and export figures: reroute after a segment change vs a plain SQL UPDATE, CSV export vs COPY.

Run on its own: ``DATABASE_URL=postgres://... python -m bench.segments_bench --leads N``;
the ``python -m bench`` runner can call ``run(leads=N)``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench import report


class _NullSink:
    def write(self, data: Any) -> int:
        return len(data)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _prepare(leads: int) -> None:
    from django.db import connection

    from leads.demo import ensure_demo_teams_and_users, seed_demo_data
    from leads.models import Lead
    from scoring import services as scoring_services
    from scoring.defaults import DEFAULT_RULES
    from scoring.models import LeadScore, PointRule
    from segments.defaults import seed_default_segments
    from segments.models import LeadPlacement, Segment

    # Territory segments need teams (a synthetic base has none: every lead would land in
    # "outside our territory"); the demo teams and users cover the usual countries.
    ensure_demo_teams_and_users()
    have = Lead.objects.count()
    if have < leads:
        print(f"seeding {leads - have} demo leads (about 1,300 leads/s)")
        seed_demo_data(leads=leads - have, seed=2)
    if not PointRule.objects.exists():
        scoring_services.replace_rule_set(rules=[{**r, "name": str(r["name"])} for r in DEFAULT_RULES], start_job=False)
    if LeadScore.objects.count() < Lead.objects.count():
        seconds, _job = _timed(
            lambda: scoring_services.run_rescore_job(job_id=scoring_services.start_rescore_job(enqueue=False).pk)
        )
        print(f"scored every lead first: {seconds:.1f} s")
    if not Segment.objects.exists():
        seed_default_segments()
    if LeadPlacement.objects.count() < Lead.objects.count():
        seconds, _job = _timed(_reroute)
        print(f"first routing of every lead: {seconds:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _reroute(lanes: int | None = None) -> Any:
    from segments import services

    job = services.start_routing_job(enqueue=False)
    return services.run_routing_job(job_id=job.pk, lanes=lanes)


def _plain_update() -> tuple[float, int]:
    """The baseline: the same compiled segment CASE written with one committed UPDATE, no history or guards.

    Returns (seconds, rows). The placements' segments are saved first and put back
    after (untimed), so the reroute that follows starts from the same state.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from leads.models import CLOSED_STATUSES, Lead
    from segments.selectors import list_segment_specs
    from segments.services import segment_case

    targets = (
        Lead.objects.exclude(status__in=CLOSED_STATUSES)
        .order_by()
        .annotate(target=segment_case(list_segment_specs(), timezone.now()))
        .values_list("id", "target")
    )
    sql, params = targets.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_saved_segments")
        cursor.execute(
            "CREATE TEMP TABLE bench_saved_segments AS SELECT lead_id, segment_id FROM segments_leadplacement"
        )
        start = time.perf_counter()
        with transaction.atomic():  # committed, so its foreign-key checks and WAL flush count too
            cursor.execute(
                "UPDATE segments_leadplacement p SET segment_id = t.target "
                f"FROM ({sql}) t WHERE p.lead_id = t.id AND p.segment_id IS DISTINCT FROM t.target",
                params,
            )
            rows = cursor.rowcount
        seconds = time.perf_counter() - start
        cursor.execute(
            "UPDATE segments_leadplacement p SET segment_id = s.segment_id FROM bench_saved_segments s "
            "WHERE p.lead_id = s.lead_id AND p.segment_id IS DISTINCT FROM s.segment_id"
        )
        cursor.execute("DROP TABLE bench_saved_segments")
    return seconds, rows


def _toggle_segment(widen: bool) -> None:
    """The segment change: the no-budget segment also takes leads whose budget is unknown (or stops)."""
    from segments.models import Segment

    segment = Segment.objects.get(queue__isnull=False, conditions__0__attribute="bant.budget")
    values = ["none", "unknown"] if widen else ["none"]
    # Saved without the service's after-commit job: the bench runs the job itself, timed.
    Segment.objects.filter(pk=segment.pk).update(
        conditions=[{"attribute": "bant.budget", "operator": "in", "value": values, "window_days": None}]
    )


def _bench_reroute() -> list[dict[str, Any]]:
    from django.conf import settings

    from leads.signals import lead_changed
    from segments.models import RoutingDecision

    # Owner changes go through update_lead, whose after-commit signal enqueues a rescore
    # per lead; that scoring work is not routing, so the bench counts it instead of running it.
    enqueued: list[int] = []

    def count(sender: Any, lead_ids: tuple[int, ...], **kwargs: Any) -> None:
        enqueued.extend(lead_ids)

    from scoring.receivers import enqueue_scoring

    lead_changed.disconnect(dispatch_uid="scoring.enqueue_scoring")
    lead_changed.connect(count, dispatch_uid="bench.count")
    try:
        figures = []
        # The job as it runs (ROUTING_LANES connections: a chunk's reading overlaps the chunk
        # before it's writing), then on one connection, to show what the overlap is worth.
        for lanes in (None, 1):
            for widen in (True, False):
                _toggle_segment(widen)
                before = RoutingDecision.objects.count()
                baseline, updated = _plain_update()
                seconds, job = _timed(lambda lanes=lanes: _reroute(lanes))
                decisions = RoutingDecision.objects.count() - before
                figures.append((lanes, widen, seconds, baseline, job.moved, updated, decisions))
    finally:
        lead_changed.disconnect(dispatch_uid="bench.count")
        lead_changed.connect(enqueue_scoring, dispatch_uid="scoring.enqueue_scoring")
    rows = []
    for lanes, widen, seconds, baseline, moved, updated, decisions in figures:
        change = "widen the no-budget segment" if widen else "narrow it back"
        how = "" if lanes is None else ", one lane"
        rows.append(
            report.figure(
                "segments", f"reroute after a segment change ({change}{how})", seconds, unit="s", baseline=baseline,
                goal=("ratio", "<=", 2) if lanes is None else None,
                note=f"{moved} leads moved, {decisions} decisions; baseline: one committed plain UPDATE "
                f"of the placements' segment ({updated} rows)"
                + (f"; {settings.ROUTING_LANES} lanes" if lanes is None else "; the job on one connection"),
            )
        )  # fmt: skip
    print(f"owner changes through update_lead (each enqueues one rescore in production): {len(enqueued)}")
    return rows


def _bench_export() -> list[dict[str, Any]]:
    from django.db import connection

    from leads.models import Lead
    from segments.exports import iter_csv

    leads = Lead.objects.filter(do_not_contact=False)
    plain = leads.order_by("id").values_list(
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "company__name",
        "company__country",
        "company__employee_count",
        "score__total",
        "score__band",
        "status",
        "marketing_consent",
        "created_at",
    )
    sql, params = plain.query.sql_with_params()
    with connection.cursor() as cursor:
        copy_sql = "COPY (" + cursor.cursor.mogrify(sql, params).decode() + ") TO STDOUT WITH (FORMAT csv)"

        def copy() -> int:
            cursor.cursor.copy_expert(copy_sql, _NullSink(), size=64 * 1024)
            return cursor.cursor.rowcount

        copy_seconds, copy_rows = _timed(copy)
    rows = 0

    def export() -> int:
        nonlocal rows
        for chunk in iter_csv(leads=leads, on_done=lambda n: None):
            rows += chunk.count("\n")
        return rows

    tracemalloc.start()
    seconds, _rows = _timed(export)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows -= 1  # the header
    ours, theirs = rows / seconds, copy_rows / copy_seconds
    return [
        report.figure("segments", f"export {rows} leads to CSV", ours, unit="rows/s", baseline=theirs,
                      goal=("ratio", ">=", 0.5), note=f"{seconds:.2f} s; baseline: PostgreSQL COPY of the same rows "
                      f"({copy_seconds:.2f} s); peak Python allocations {peak / 2**20:.1f} MB"),
        report.figure("segments", "export process peak RSS", maxrss_mb, unit="MB", goal=("value", "<", 150)),
    ]  # fmt: skip


def run(*, leads: int) -> list[dict[str, Any]]:
    """Prepare ``leads`` leads (scored and routed) and print the routing and export figures."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("segments bench: DATABASE_URL must point at PostgreSQL")
    _prepare(leads)
    from leads.models import Lead

    print(f"segments bench on {Lead.objects.count()} leads")
    rows = _bench_export()  # first: the process peak RSS then belongs to the export
    return rows + _bench_reroute()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.segments_bench", description=__doc__)
    parser.add_argument("--leads", type=int, default=20000)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("segments bench: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    report.emit(run(leads=args.leads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
