"""Bulk rescore and single-lead scoring figures, compared with plain SQL on the same compiled select."""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from leads.demo import seed_demo_data
from leads.models import Lead
from scoring import services
from scoring.compiler import score_select
from scoring.defaults import DEFAULT_RULES
from scoring.models import PointRule

from . import report

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
EVERYONE_RULE = {
    "name": "Bench: +1 fit for everyone",
    "attribute": "bant.met",
    "operator": "gte",
    "value": 0,
    "points": 1,
    "category": "fit",
}
# Fires for about one lead in eight: the "about 8% of scores change" case of the issue.
ONE_RULE = "Already served by a competitor"


def _default_rules() -> list[dict[str, Any]]:
    return [{**r, "name": str(r["name"])} for r in DEFAULT_RULES]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _execute(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def _current_select() -> tuple[str, list[Any]]:
    return score_select(services.load_rule_set(), timezone.now(), Lead.objects.all())


def _plain_update(select: tuple[str, list[Any]], *, guarded: bool) -> int:
    """The baseline: one plain UPDATE of the real score table computing the same rules.

    Same table, same indexes, same compiled rules; no chunks, no version guard,
    no history. Rolled back, so the job measured next finds the same old scores.
    """
    sql, params = select
    sets = (
        "total = n.total, fit = n.fit, engagement = n.engagement, qualification = n.qualification, "
        "band = n.band, fired = n.fired, lead_version = n.version"
    )
    guard = " AND s.total IS DISTINCT FROM n.total" if guarded else ""
    with transaction.atomic():
        rows = _execute(f"UPDATE scoring_leadscore s SET {sets} FROM ({sql}) n WHERE s.lead_id = n.id{guard}", params)
        transaction.set_rollback(True)
    return rows


def _run_job() -> Any:
    job = services.start_rescore_job(enqueue=False)
    return services.run_rescore_job(job_id=job.pk)


def load_leads(n: int) -> None:
    have = Lead.objects.count()
    if have == n:
        print(f"leads: {n} already loaded")
        return
    if n > 50_000:
        from .dataset import load_synthetic

        report = load_synthetic(leads=n)
        print(
            f"loaded {n} synthetic leads, {report['companies']} companies, {report['events']} events "
            f"in {report['seconds']:.1f} s"
        )
    else:
        _execute("TRUNCATE leads_lead, leads_company RESTART IDENTITY CASCADE")
        seconds, demo = _timed(lambda: seed_demo_data(leads=n, seed=1))
        print(
            f"loaded {demo.leads} leads, {demo.companies} companies, {demo.events} events "
            f"in {seconds:.1f} s ({demo.leads / seconds:,.0f} leads/s)"
        )
    _execute("ANALYZE")


def _set_one_rule_points(points: int) -> None:
    with transaction.atomic():
        PointRule.objects.filter(name=ONE_RULE).update(points=points)
        services.bump_rules_version(reason=f"bench: {ONE_RULE} {points} points", start_job=False)


def run(*, leads: int) -> list[dict[str, Any]]:
    load_leads(leads)
    services.replace_rule_set(rules=_default_rules(), start_job=False)
    seconds, job = _timed(_run_job)
    print(f"initial rescore of {job.total} leads: {seconds:.1f} s")
    total = Lead.objects.count()
    figures: list[dict[str, Any]] = []

    # 1. Full rescore where every score changes (toggle a +1 fit rule for everyone).
    ours, plain, changed = [], [], []
    for rep in range(REPEATS):
        rules = _default_rules() + ([EVERYONE_RULE] if rep % 2 == 0 else [])
        services.replace_rule_set(rules=rules, start_job=False)
        select = _current_select()
        plain.append(_timed(lambda select=select: _plain_update(select, guarded=False))[0])
        seconds, job = _timed(_run_job)
        ours.append(seconds)
        changed.append(job.changed)
    figures.append(
        _figure(
            "full rescore, every score changes (s)",
            ours,
            plain,
            "<= 1.5",
            note=f"rows written per run {changed} of {total}",
        )
    )

    # 2. One rule's points change; few scores change.
    services.replace_rule_set(rules=_default_rules(), start_job=False)
    _run_job()
    ours, plain, changed = [], [], []
    for rep in range(REPEATS):
        _set_one_rule_points(-8 if rep % 2 == 0 else -10)
        select = _current_select()
        plain.append(_timed(lambda select=select: _plain_update(select, guarded=True))[0])
        seconds, job = _timed(_run_job)
        ours.append(seconds)
        changed.append(job.changed)
    share = statistics.median(changed) / total if total else 0.0
    figures.append(
        _figure(
            "one rule's points change (s)",
            ours,
            plain,
            "<= 2",
            note=f"changed {statistics.median(changed):.0f} of {total} ({share:.1%})",
        )
    )
    figures.append({"figure": "share of scores changed by one rule", "value": share, "unit": "share"})

    # 3. Single-lead scoring in-process.
    ids = list(Lead.objects.values_list("id", flat=True))
    rates, p50s, p95s = [], [], []
    rng = random.Random(1)
    for _ in range(REPEATS):
        sample = rng.sample(ids, min(2000, len(ids)))
        _execute("UPDATE leads_lead SET version = version + 1 WHERE id = ANY(%s)", [sample])
        latencies = []
        start = time.perf_counter()
        for lead_id in sample:
            t0 = time.perf_counter()
            services.score_lead(lead_id=lead_id)
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        latencies.sort()
        rates.append(len(sample) / elapsed)
        p50s.append(latencies[len(latencies) // 2] * 1000)
        p95s.append(latencies[int(len(latencies) * 0.95) - 1] * 1000)
    figures.append({"figure": "score_lead (leads/s)", "value": statistics.median(rates), "runs": rates})
    figures.append({"figure": "score_lead p50 (ms)", "value": statistics.median(p50s), "runs": p50s})
    figures.append({"figure": "score_lead p95 (ms)", "value": statistics.median(p95s), "runs": p95s})

    return _report_rows(figures)


def _report_rows(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {f["figure"]: f for f in figures}
    full, one = by_name["full rescore, every score changes (s)"], by_name["one rule's points change (s)"]
    return [
        report.figure("scoring", "full rescore after a rule change (every score changes)", full["value"],
                      unit="s", baseline=full["baseline"], goal=("ratio", "<=", 1.5),
                      note=f"median of {REPEATS}; baseline: one plain UPDATE of the score table; {full['note']}"),
        report.figure("scoring", "rescore after one rule's points change", one["value"], unit="s",
                      baseline=one["baseline"], goal=("ratio", "<=", 2),
                      note=f"median of {REPEATS}; baseline: the guarded plain UPDATE; {one['note']}"),
        report.figure("scoring", "score_lead in-process", by_name["score_lead (leads/s)"]["value"], unit="leads/s"),
        report.figure("scoring", "score_lead in-process p50", by_name["score_lead p50 (ms)"]["value"], unit="ms"),
        report.figure("scoring", "score_lead in-process p95", by_name["score_lead p95 (ms)"]["value"], unit="ms"),
    ]  # fmt: skip


def _figure(name: str, ours: list[float], plain: list[float], goal: str, *, note: str) -> dict[str, Any]:
    value, baseline = statistics.median(ours), statistics.median(plain)
    return {"figure": name, "value": value, "baseline": baseline, "goal": goal, "note": note}
