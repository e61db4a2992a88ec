"""Fault scenario 3's client: a Django process on a private PostgreSQL that the test restarts twice.

``python -m tests.faults.pg_client --leads N --rate R`` with DATABASE_URL pointing at the private
cluster and CELERY_QUEUE at the test's private queue; one process (Django starts once), talking to the
test over stdin/stdout:

1. setup: rules and N leads, every lead scored; prints ``ready`` and waits for ``go`` (the test starts
   a worker meanwhile).
2. burst: one BANT change per lead through ``leads.services``, at most R a second, the way web
   requests would arrive; before each write the connections are checked as at a request start
   (``close_old_connections``). Prints ``half`` when half are done: the test crashes the server then
   and starts it again a few seconds later. A write that raises is refused: the figures say whether
   every refusal was a clear database error, whether any write half-landed, and whether any
   acknowledged write is missing afterwards.
3. heal: sends the periodic sweep to the worker until no score is stale.
4. prints ``idle`` and waits for ``go``: the test restarts the server while the worker is idle, so
   every connection the worker keeps open is dead before its next task. Then the sweep (as beat
   sends it) and a few lead changes, healed the same way.

The last line printed is the JSON of every figure, ending with the comparison of every stored score
with a recompute of the lead's state. A separate process, so that the test's own connections never
see the private server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import django

IDLE_CHANGES = 20


def setup(args: argparse.Namespace) -> dict:
    from scoring import services
    from tests.faults.test_faults import RULES, _bulk_leads

    services.replace_rule_set(rules=RULES, start_job=False)
    leads = _bulk_leads(args.leads)
    services.score_leads(lead_ids=[lead.pk for lead in leads])
    return {"leads": len(leads)}


def burst(args: argparse.Namespace) -> dict:
    from django.db import Error, InterfaceError, OperationalError, close_old_connections

    from leads import services as lead_services
    from leads.models import Lead, Qualification

    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))
    acked: list[int] = []
    refused: dict[str, int] = {}
    unclear: list[str] = []
    first_refusal = ""
    acked_after_refusal = 0
    started = next_at = time.monotonic()
    for i, lead_id in enumerate(ids):
        if i == len(ids) // 2:
            print("half", flush=True)
        # At most `rate` a second, and no catching up: refusals while the server is down come fast,
        # and must not burn through the rest of the burst before it is back.
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at, time.monotonic()) + 1 / args.rate
        try:
            close_old_connections()  # what Django does at every request start
            lead_services.update_qualification(lead=lead_id, data={"budget": "approved"})
        except (OperationalError, InterfaceError) as exc:  # the clear error: the database is unreachable
            name = type(exc).__name__
            refused[name] = refused.get(name, 0) + 1
            first_refusal = first_refusal or f"{name}: {str(exc).strip().splitlines()[0]}"
        except Error as exc:
            unclear.append(f"{type(exc).__name__}: {exc}")
        else:
            acked.append(lead_id)
            acked_after_refusal += bool(refused)
    seconds = time.monotonic() - started
    _wait_for_database(timeout=60)  # the burst may end before the server is back
    # Each lead got one change: BANT budget "approved" and version 1 -> 2 in one transaction.
    changed = dict(Qualification.objects.filter(budget="approved").values_list("lead_id", "lead__version"))
    versions = dict(Lead.objects.values_list("id", "version"))
    half_written = sum((lead_id in changed) != (versions[lead_id] == 2) for lead_id in ids)
    lost = sum(lead_id not in changed or versions[lead_id] != 2 for lead_id in acked)
    return {
        "attempted": len(ids),
        "acked": len(acked),
        "acked_after_refusal": acked_after_refusal,
        "refused": sum(refused.values()),
        "refused_by_class": refused,
        "first_refusal": first_refusal,
        "unclear_errors": unclear[:5],
        "unclear": len(unclear),
        "half_written": half_written,
        "acked_lost": lost,
        # A crash between a commit and its answer: the client saw an error, the write landed whole.
        "landed_despite_error": len(changed) - (len(acked) - lost),
        "burst_seconds": round(seconds, 2),
    }


def _wait_for_database(*, timeout: float) -> None:
    from django.db import OperationalError, close_old_connections, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            close_old_connections()
            connection.ensure_connection()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def heal(args: argparse.Namespace) -> dict:
    """Send the periodic sweep (what beat sends every minute) until no score is stale."""
    from scoring.selectors import list_stale_lead_ids
    from scoring.tasks import sweep_stale_scores
    from tests.conftest import wait_until

    started = time.monotonic()
    # Drains may still be scoring the burst's tail: the sweep rescoring those too is harmless.
    stale_before = len(list_stale_lead_ids())
    healed = stale_before == 0
    sweeps = 0
    while not healed and time.monotonic() - started < args.timeout:
        sweep_stale_scores.delay()
        sweeps += 1
        healed = wait_until(lambda: not list_stale_lead_ids(), timeout=5, interval=0.2)
    return {
        "stale_before_sweep": stale_before,
        "sweeps": sweeps,
        "healed": healed,
        "heal_seconds": round(time.monotonic() - started, 2),
        "stale": len(list_stale_lead_ids()),
    }


def after_idle_restart(args: argparse.Namespace) -> dict:
    """The worker's next tasks after the server restarted under its idle connections."""
    from django.db import close_old_connections

    from leads import services as lead_services
    from leads.models import Lead
    from scoring.tasks import sweep_stale_scores

    _wait_for_database(timeout=60)
    for _ in range(2):  # one per worker process, most likely: each had a connection that is dead now
        sweep_stale_scores.delay()
    for lead_id in Lead.objects.order_by("id").values_list("id", flat=True)[:IDLE_CHANGES]:
        close_old_connections()
        lead_services.update_lead(lead=lead_id, data={"job_title": "After the restart"})
        time.sleep(0.05)
    return {f"idle_{key}": value for key, value in heal(args).items()}


def _handshake(step: str) -> None:
    """Tell the test where we are; go on when it answers ``go``."""
    print(step, flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(f"the test did not answer {step!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.pg_client")
    parser.add_argument("--leads", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="lead changes a second, at most")
    parser.add_argument("--timeout", type=float, default=120, help="seconds the sweep may take to heal")
    args = parser.parse_args(argv)
    django.setup()
    from tests.faults.test_restarts import wrong_scores

    result = setup(args)
    _handshake("ready")
    result.update(burst(args))
    result.update(heal(args))
    _handshake("idle")
    result.update(after_idle_restart(args))
    result["wrong"] = wrong_scores()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
