"""Fault suite load (issue 8): 12 the lead list page and the score endpoint under concurrent clients while a
real worker rescores every lead.

gunicorn (bench/api_bench.py's, 4 workers, production settings) serves the test database; its cache
(throttle counters) is a private Redis, so no other run's counters move. A manager changes the rules
when the window opens, and again whenever the bulk job has finished, so a job is running for the whole
window however fast the machine is. The test asserts no errors and the jobs' outcome, never a timing:
the latencies are figures.
"""

from __future__ import annotations

import http.client
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bench.api_bench import _start_gunicorn, _stop
from bench.dataset import load_synthetic
from leads.jobs import JobState
from leads.models import Lead
from scoring import services
from scoring.defaults import DEFAULT_RULES
from scoring.models import RescoreJob
from scoring.selectors import list_stale_lead_ids
from tests.conftest import _database_url_for_worker, wait_until
from tests.faults.conftest import size
from tests.faults.test_restarts import PrivateRedis, wrong_scores

pytestmark = [pytest.mark.integration]

CLIENTS = size(4, 16)
SECONDS = size(8, 60)
LEADS = size(3000, 300_000)
CHUNK = size(200, 5000)  # a job of 15 (small) or 60 (full) chunks, each one short transaction
RECOMPUTED = size(100, 300)  # leads whose stored score is checked against the engine after the job


@dataclass
class Endpoint:
    """What one endpoint answered: latencies of every request, and the requests that failed."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        flat = sorted(self.latencies)
        return {
            "requests": len(flat),
            "errors": len(self.errors),
            "p50_ms": 1000 * statistics.median(flat) if flat else 0.0,
            "p99_ms": 1000 * flat[int(0.99 * (len(flat) - 1))] if flat else 0.0,
        }


Request = Callable[[random.Random], tuple[str, dict[str, str]]]


def _hammer(*, port: int, seconds: float, clients: int, requests: dict[str, Request]) -> dict[str, Endpoint]:
    """``clients`` threads, each sending a random endpoint's request after the other for ``seconds``.

    A failure is anything but a 200: another status, a refused or dropped connection, a timeout.
    """
    results = {name: Endpoint() for name in requests}
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    names = sorted(requests)

    def client(index: int) -> None:
        rng = random.Random(index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            name = rng.choice(names)
            path, headers = requests[name](rng)
            started = time.perf_counter()
            error = ""
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    error = f"{path} -> {response.status} {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                error = f"{path} -> {type(exc).__name__}: {exc}"
                conn.close()
            elapsed = time.perf_counter() - started
            with lock:
                results[name].latencies.append(elapsed)
                if error:
                    results[name].errors.append(error)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class RuleChanges(threading.Thread):
    """A manager changing the rules (points +1, then back) whenever the last bulk job has finished."""

    def __init__(self, rules: list[dict]) -> None:
        super().__init__(daemon=True)
        self.rules = rules
        self.jobs: list[int] = []
        self.done = threading.Event()
        self.error: BaseException | None = None

    def change(self) -> None:
        bump = 1 if len(self.jobs) % 2 == 0 else 0
        services.replace_rule_set(rules=[{**rule, "points": rule["points"] + bump} for rule in self.rules])
        job = RescoreJob.objects.order_by("-id").first()
        assert job is not None
        self.jobs.append(job.pk)

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.done.wait(0.1):
                state = RescoreJob.objects.values_list("state", flat=True).get(pk=self.jobs[-1])
                if state == JobState.DONE:
                    self.change()
                elif state not in (JobState.PENDING, JobState.RUNNING):
                    return  # failed or superseded: the test says so
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def test_12_load_while_a_bulk_rescore_runs(start_worker, celery_queue, record_figure):
    load_synthetic(leads=LEADS)  # companies, BANT answers, events, the demo teams and users
    rules = [{**rule, "name": str(rule["name"])} for rule in DEFAULT_RULES]
    services.replace_rule_set(rules=rules, start_job=False)
    services.run_rescore_job(job_id=services.start_rescore_job(enqueue=False).pk)  # every lead scored first
    manager = get_user_model().objects.get(username="manager")  # sees every lead: the heaviest list
    token = Token.objects.get_or_create(user=manager)[0].key
    browser = Client()
    browser.force_login(manager)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    ids = list(Lead.objects.values_list("id", flat=True))
    cache = PrivateRedis()
    cache.start()
    booted: dict = {}
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.faults.load_settings",
        "SECRET_KEY": settings.SECRET_KEY,  # the session signed here is valid there
        "REDIS_URL": cache.url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": celery_queue,
        "LEADQUAL_ROUTING_QUEUE": f"{celery_queue}-routing",
    }

    def boot() -> None:
        try:
            booted["server"] = _start_gunicorn(database_url=_database_url_for_worker(), extra_env=env)
        except BaseException as exc:
            booted["error"] = exc

    booting = threading.Thread(target=boot)  # gunicorn boots while the worker does
    booting.start()
    server = None
    manager_at_work = RuleChanges(rules)
    try:
        start_worker(concurrency=2, env={"SCORING_CHUNK_SIZE": str(CHUNK)})
        booting.join()
        if "error" in booted:
            raise booted["error"]
        server, port = booted["server"]
        page = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "Accept": "text/html"}
        api = {"Authorization": f"Token {token}", "Accept": "application/json"}
        requests: dict[str, Request] = {
            "lead list page": lambda rng: (f"/leads/?ordering=-score&page={rng.randint(1, 20)}", page),
            "score endpoint": lambda rng: (f"/api/v1/leads/{rng.choice(ids)}/score/", api),
        }
        warm = _hammer(port=port, seconds=0.5, clients=1, requests=requests)  # both answer 200 before the window opens
        assert not any(r.errors for r in warm.values()), {n: r.errors[:3] for n, r in warm.items()}
        manager_at_work.change()  # the first bulk job starts as the clients do
        manager_at_work.start()
        window_start = timezone.now()
        results = _hammer(port=port, seconds=SECONDS, clients=CLIENTS, requests=requests)
        window_end = timezone.now()
    finally:
        booting.join()
        server = server or booted.get("server", (None, 0))[0]
        manager_at_work.done.set()
        if manager_at_work.is_alive():
            manager_at_work.join(timeout=60)
        if server is not None:
            _stop(server)
        cache.kill()
    assert manager_at_work.error is None, manager_at_work.error
    last = manager_at_work.jobs[-1]
    assert wait_until(lambda: RescoreJob.objects.get(pk=last).state != JobState.RUNNING, timeout=size(120, 900))
    jobs = list(RescoreJob.objects.filter(pk__in=manager_at_work.jobs).order_by("id"))
    done = [job for job in jobs if job.state == JobState.DONE]
    stale = len(list_stale_lead_ids())
    wrong = wrong_scores(random.Random(12).sample(ids, min(RECOMPUTED, len(ids))))
    busy = sum(
        max(0.0, (min(job.finished_at, window_end) - max(job.started_at, window_start)).total_seconds()) for job in done
    )
    window = (window_end - window_start).total_seconds()
    scenario = "12 load"
    for name, endpoint in results.items():
        got = endpoint.figures()
        load = f"{got['requests']} requests, {CLIENTS} clients, {SECONDS} s"
        record_figure(scenario, f"{name}: errors ({load})", got["errors"], "0")
        record_figure(scenario, f"{name}: p50 / p99 ms", f"{got['p50_ms']:.0f} / {got['p99_ms']:.0f}", "-")
    record_figure(scenario, f"bulk rescores of {LEADS} leads done / started", f"{len(done)}/{len(jobs)}", "all")
    record_figure(scenario, "s a bulk rescore took (mean)", round(statistics.mean(_took(job) for job in done), 1), "-")
    record_figure(scenario, "share of the window with a bulk rescore running", round(busy / window, 2), "1.0")
    record_figure(scenario, "stale leads after the last one", stale, "0")
    record_figure(scenario, f"scores differing from a recompute ({RECOMPUTED} sampled)", wrong, "0")
    assert {name: r.errors[:5] for name, r in results.items() if r.errors} == {}
    assert all(r.latencies for r in results.values())
    assert len(done) == len(jobs), [(job.pk, job.state, job.error) for job in jobs]
    assert all(job.done == job.total for job in done)
    assert stale == 0
    assert wrong == 0


def _took(job: RescoreJob) -> float:
    return (job.finished_at - job.started_at).total_seconds()
