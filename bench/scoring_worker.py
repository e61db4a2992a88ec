"""Benchmark: single-lead scoring through a real Celery worker and Redis (latency and throughput).

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m bench.scoring_worker [--rate 50 --seconds 30]

Latency: a lead change committed -> its new score stored by the worker, at a
steady rate of changes. Throughput: N pending single-lead tasks drained by one
worker of concurrency 2. Both use leads already in the database (run
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


def run(*, rate: int = 50, seconds: int = 30, drain: int = 5000) -> list[dict]:
    """Run both measurements; return result rows (figure, value, baseline, ratio, goal)."""
    from django.db.models import F
    from django.utils import timezone

    from leadqual.celery import app
    from leads import services as lead_services
    from leads.models import Lead
    from scoring.models import LeadScore
    from scoring.services import score_leads
    from scoring.tasks import score_lead as score_lead_task

    ids = list(Lead.objects.values_list("id", flat=True))
    if len(ids) < rate * seconds + drain:
        raise SystemExit(f"need at least {rate * seconds + drain} leads, found {len(ids)}")
    random.seed(7)
    random.shuffle(ids)
    latency_ids, drain_ids = ids[: rate * seconds], ids[rate * seconds : rate * seconds + drain]
    # Every lead starts with a current score, so each task below does a real write.
    score_leads(lead_ids=latency_ids + drain_ids)

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
        # 1. latency at a steady rate: commit a change, note the moment, let the worker score it.
        committed: dict[int, tuple[float, int]] = {}
        interval = 1.0 / rate
        next_at = time.monotonic()
        for lead_id in latency_ids:
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            lead = lead_services.update_lead(lead=lead_id, data={"job_title": f"Head of Ops {uuid.uuid4().hex[:4]}"})
            committed[lead_id] = (time.time(), lead.version)
        deadline = time.monotonic() + 60
        latencies: list[float] = []
        while time.monotonic() < deadline:
            rows = LeadScore.objects.filter(lead_id__in=list(committed)).values_list(
                "lead_id", "lead_version", "computed_at"
            )
            done = {lid: at for lid, version, at in rows if version >= committed[lid][1]}
            if len(done) == len(committed):
                latencies = [(done[lid].timestamp() - committed[lid][0]) * 1000 for lid in committed]
                break
            time.sleep(0.5)
        if not latencies:
            raise RuntimeError(f"not every change was scored within 60 s; see {log}")

        # 2. throughput: bump versions, enqueue one task per lead, time until all are current.
        Lead.objects.filter(id__in=drain_ids).update(version=F("version") + 1, updated_at=timezone.now())
        started = time.monotonic()
        for lead_id in drain_ids:
            score_lead_task.delay(lead_id)
        enqueued = time.monotonic() - started
        while True:
            pending = LeadScore.objects.filter(lead_id__in=drain_ids, lead_version__lt=F("lead__version")).count()
            if pending == 0:
                break
            if time.monotonic() - started > 300:
                raise RuntimeError(f"{pending} tasks still pending after 300 s; see {log}")
            time.sleep(0.5)  # polling is itself a query over the 5,000 ids: keep it rare
        drained = time.monotonic() - started
    finally:
        _stop(proc)
        with app.connection_for_write() as conn:
            for name in (queue, f"{queue}-routing"):
                conn.default_channel.queue_delete(name)
    throughput = drain / drained
    return [
        {"figure": f"lead change -> score stored, p50 ms ({rate}/s for {seconds}s)",
         "value": round(statistics.median(latencies), 1), "baseline": None, "ratio": None, "goal": "p95 < 25"},
        {"figure": f"lead change -> score stored, p95 ms ({rate}/s for {seconds}s)",
         "value": round(_percentile(latencies, 0.95), 1), "baseline": None, "ratio": None, "goal": "< 25"},
        {"figure": "single-lead rescoring, tasks/s (1 worker, concurrency 2)", "value": round(throughput),
         "baseline": None, "ratio": None, "goal": ">= 300"},
        {"figure": f"enqueue {drain} score_lead tasks, s", "value": round(enqueued, 2), "baseline": None,
         "ratio": None, "goal": "-"},
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
    print_rows(run(rate=args.rate, seconds=args.seconds, drain=args.drain))


def print_rows(rows: list[dict]) -> None:
    print("\nscoring through a real worker and Redis")
    for row in rows:
        print(f"{row['figure']:<60} {row['value']:>10}   goal {row['goal']}")


if __name__ == "__main__":
    main()
