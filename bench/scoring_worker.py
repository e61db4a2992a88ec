"""Benchmark: single-lead scoring through a real Celery worker and Redis (latency and throughput).

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m bench.scoring_worker [--rate 50 --seconds 30]

Latency: a lead change committed -> its new score stored by the worker, at a
steady rate of changes (50/s, then 300/s sustained). Throughput: N single-lead
changes announced the way lead_changed announces them (the pending set drained
by one task, scoring/pending.py), against one score_lead task per change, on
one worker of concurrency 2. Both use leads already in the database (run
`python -m bench` or seed_demo first) and the current rules.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start_worker(queue: str, concurrency: int) -> tuple[subprocess.Popen, Path]:
    log = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "leadqual", "worker", "-Q", queue, "-c", str(concurrency),
         "-P", os.environ.get("BENCH_WORKER_POOL", "prefork"),
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
         "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"],
        # Production settings for the worker (DEBUG off: no query log kept per task).
        cwd=ROOT, env={**os.environ, "CELERY_QUEUE": queue, "DEBUG": "False", "ALLOWED_HOSTS": "localhost",
                       "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + uuid.uuid4().hex * 2)},
        stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return proc, log


def _wait_ready(queue: str, timeout: float = 60) -> None:
    from leadqual.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5)
        if replies:
            return
    raise RuntimeError("worker did not answer a ping")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _drain(lead_ids: list[int], announce, log: Path) -> tuple[float, float]:
    """Bump the leads' versions, announce each one, wait until every score is current.

    Returns (seconds until all current, seconds spent announcing).
    """
    from django.db.models import F
    from django.utils import timezone

    from leads.models import Lead
    from scoring.models import LeadScore

    Lead.objects.filter(id__in=lead_ids).update(version=F("version") + 1, updated_at=timezone.now())
    started = time.monotonic()
    for lead_id in lead_ids:
        announce(lead_id)
    announced = time.monotonic() - started
    while True:
        pending = LeadScore.objects.filter(lead_id__in=lead_ids, lead_version__lt=F("lead__version")).count()
        if pending == 0:
            return time.monotonic() - started, announced
        if time.monotonic() - started > 300:
            raise RuntimeError(f"{pending} leads still pending after 300 s; see {log}")
        time.sleep(0.2)  # polling is itself a query over the ids: keep it rare


def _latencies(lead_ids: list[int], rate: int, log: Path) -> list[float]:
    """Commit one change per lead at `rate` a second; ms from each commit to its score stored."""
    from leads import services as lead_services
    from scoring.models import LeadScore

    committed: dict[int, tuple[float, int]] = {}
    interval = 1.0 / rate
    next_at = time.monotonic()
    for lead_id in lead_ids:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        lead = lead_services.update_lead(lead=lead_id, data={"job_title": f"Head of Ops {uuid.uuid4().hex[:4]}"})
        committed[lead_id] = (time.time(), lead.version)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = LeadScore.objects.filter(lead_id__in=list(committed)).values_list(
            "lead_id", "lead_version", "computed_at"
        )
        done = {lid: at for lid, version, at in rows if version >= committed[lid][1]}
        if len(done) == len(committed):
            return [(done[lid].timestamp() - committed[lid][0]) * 1000 for lid in committed]
        time.sleep(0.5)
    raise RuntimeError(f"not every change was scored within 60 s; see {log}")


def run(*, rate: int = 50, seconds: int = 30, drain: int = 5000, sustained_rate: int = 300) -> list[dict]:
    """Run the measurements; return result rows (figure, value, baseline, ratio, goal)."""
    from leadqual.celery import app
    from leads.models import Lead
    from scoring.pending import pending_leads
    from scoring.receivers import enqueue_scoring
    from scoring.services import score_leads
    from scoring.tasks import score_lead as score_lead_task

    sustained_seconds = 10
    needed = rate * seconds + sustained_rate * sustained_seconds + drain
    ids = list(Lead.objects.values_list("id", flat=True))
    if len(ids) < needed:
        raise SystemExit(f"need at least {needed} leads, found {len(ids)}")
    random.seed(7)
    random.shuffle(ids)
    latency_ids, ids = ids[: rate * seconds], ids[rate * seconds :]
    sustained_ids, ids = ids[: sustained_rate * sustained_seconds], ids[sustained_rate * sustained_seconds :]
    drain_ids = ids[:drain]
    # Every lead starts with a current score, so each task below does a real write.
    score_leads(lead_ids=latency_ids + sustained_ids + drain_ids)

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    # Scoring throughput is measured on the scoring queue; routing (its own queue in
    # production) goes to a bench queue nobody consumes, deleted at the end.
    app.conf.task_routes = {"segments.*": {"queue": f"{queue}-routing"}}
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)
    proc, log = _start_worker(queue, concurrency=2)
    try:
        _wait_ready(queue)
        # 1. latency at a steady rate, then at the throughput goal sustained.
        latencies = _latencies(latency_ids, rate, log)
        sustained = _latencies(sustained_ids, sustained_rate, log)

        # 2. throughput: bump versions, announce each lead as its own change the way
        # lead_changed does (the production path: the pending set and its drain
        # task), time until all are current; then the same with one task per change.
        half = len(drain_ids) // 2
        coalesced_ids, per_task_ids = drain_ids[:half], drain_ids[half:]
        drained, enqueued = _drain(coalesced_ids, lambda lead_id: enqueue_scoring(None, (lead_id,), "lead_change"), log)
        drained_per_task, _ = _drain(per_task_ids, score_lead_task.delay, log)
    finally:
        _stop(proc)
        pending = pending_leads()
        if pending is not None:
            pending.client.delete(pending.members, pending.lease)
        with app.connection_for_write() as conn:
            for name in (queue, f"{queue}-routing"):
                conn.default_channel.queue_delete(name)
    throughput = len(coalesced_ids) / drained
    per_task_throughput = len(per_task_ids) / drained_per_task
    p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
    return [
        report.figure("scoring", f"lead change -> score stored, p50 ({rate}/s for {seconds} s)", p50, unit="ms"),
        report.figure("scoring", f"lead change -> score stored, p95 ({rate}/s for {seconds} s)", p95, unit="ms",
                      goal=("value", "<", 25)),
        report.figure("scoring", f"lead change -> score stored, p50 ({sustained_rate}/s for {sustained_seconds} s)",
                      statistics.median(sustained), unit="ms"),
        report.figure("scoring", f"lead change -> score stored, p95 ({sustained_rate}/s for {sustained_seconds} s)",
                      _percentile(sustained, 0.95), unit="ms"),
        report.figure("scoring", "single-lead changes scored (1 worker, concurrency 2)", throughput, unit="/s",
                      baseline=per_task_throughput, goal=("value", ">=", 300),
                      note=f"{len(coalesced_ids)} changes announced as lead_changed does ({enqueued:.2f} s); "
                      "baseline: one score_lead task per change"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--drain", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL=postgres://... and REDIS_URL=redis://...")
    import django

    django.setup()
    report.emit(run(rate=args.rate, seconds=args.seconds, drain=args.drain))


if __name__ == "__main__":
    main()
