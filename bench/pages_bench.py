"""Pages benchmark: the lead list and the work queue, 50 rows a page, against plain Django views in the same run.

``DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadqual python -m bench.pages_bench``

Reads the leads already in ``leadqual_bench`` (``python -m bench --leads N`` loads them; nothing
there is reloaded or changed, apart from migrations and the login sessions of two demo users).
gunicorn with 4 workers and production settings (``bench.pages_settings``: the app plus the plain
views of ``bench.pages_urls``) serves a logged-in session to 16 keep-alive client threads: the
lead list as the manager (every lead visible, newest first) and the work queue as the first demo
rep with a full page of open leads, or as the manager (own leads and the pool of leads without a
team) when routing has given no rep one yet. Each page is held against a plain view reading the
same 50 rows (login, one query with company, owner and score, a small template).

gunicorn inherits the environment, PG_OPTIONS included: ``PG_OPTIONS="-c jit=off -c
random_page_cost=1.1 -c max_parallel_workers_per_gather=0"`` measures web processes without
parallel query workers (the page queries stop after 50 rows; starting workers costs more).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlencode

import psycopg2

from bench import report
from bench.http_load import CLIENTS, ROOT, WORKERS, db_url, load, start_gunicorn, stop

READ_DB = "leadqual_bench"
ROWS = 50
# The demo users (leads.demo); a bench base gets them from bench.dataset.
PASSWORDS = {
    "manager": "demo-manager",
    "rep-dach": "demo-rep-dach",
    "rep-nordics": "demo-rep-nordics",
    "rep-uki": "demo-rep-uki",
    "rep-pb": "demo-rep-pb",
}
REPS = ("rep-dach", "rep-nordics", "rep-uki", "rep-pb")
GOAL_RATIO = 0.5
GOAL_P99_MS = 60.0


def _migrate(url: str) -> None:
    """Apply migrations the code has and the base lacks (the pages read every column of what they show)."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "leadqual.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def _collect_static(url: str, static_root: str) -> None:
    """Production pages link their CSS and JS through collectstatic's manifest: write one for this run."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "leadqual.settings",
        "DEBUG": "False",
        "SECRET_KEY": "bench-collectstatic-" + "x" * 40,
        "ALLOWED_HOSTS": "localhost",
        "STATIC_ROOT": static_root,
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )


def _base_facts(url: str, db: str) -> tuple[int, str, int]:
    """Leads in the base, the user whose work queue is measured, and that queue's open leads (up to 10,000)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        leads = cursor.fetchone()[0]
        cursor.execute("SELECT username FROM auth_user WHERE username = ANY(%s)", [list(PASSWORDS)])
        present = {row[0] for row in cursor.fetchall()}
        if "manager" not in present:
            raise SystemExit(f"{db} has no demo users; run python -m bench first")
        queue_sql = (
            "SELECT count(*) FROM (SELECT 1 FROM leads_lead l WHERE l.status NOT IN ('won', 'lost', 'disqualified') "
            "AND (l.owner_id = u.id OR (l.owner_id IS NULL AND l.team_id IS NOT DISTINCT FROM m.team_id)) "
            "LIMIT 10000) x"
        )
        for username in (*REPS, "manager"):
            if username not in present:
                continue
            cursor.execute(
                f"SELECT ({queue_sql}) FROM auth_user u LEFT JOIN leads_membership m ON m.user_id = u.id "
                "WHERE u.username = %s",
                [username],
            )
            in_queue = cursor.fetchone()[0]
            if in_queue >= ROWS:
                return leads, username, in_queue
    raise SystemExit(f"no demo user has {ROWS} open leads in their work queue in {db}")


def _log_in(port: int, username: str) -> str:
    """Log in through the login page (CSRF and all); return the Cookie header of the session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login/")
    response = conn.getresponse()
    page = response.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not csrf or not token:
        raise RuntimeError("the login page sent no CSRF token")
    body = urlencode({"username": username, "password": PASSWORDS[username], "csrfmiddlewaretoken": token[1]})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf[1]}"}
    conn.request("POST", "/login/", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie") or "")
    if response.status != 302 or not session:
        raise RuntimeError(f"{username} could not log in (HTTP {response.status}); is the demo password unchanged?")
    conn.close()
    return f"sessionid={session[1]}; csrftoken={csrf[1]}"


def _full_page(status: int, body: bytes) -> bool:
    """A page of at least 50 lead rows (the pages' tables have one header row more)."""
    return status == 200 and body.count(b"<tr") >= ROWS


def bench_pages(*, base_url: str, seconds: float, warmup: float = 2.0, db: str = READ_DB) -> tuple[list[dict], dict]:
    url = db_url(base_url, db)
    _migrate(url)
    leads, queue_user, in_queue = _base_facts(url, db)
    static_root = tempfile.mkdtemp(prefix="pages-bench-static-")
    try:
        _collect_static(url, static_root)
        # A page view enqueues nothing: no broker or worker is part of what this measures.
        env = {"DJANGO_SETTINGS_MODULE": "bench.pages_settings", "CELERY_BROKER_URL": "memory://",
               "STATIC_ROOT": static_root}  # fmt: skip
        proc, port = start_gunicorn(database_url=url, extra_env=env)
    except BaseException:
        shutil.rmtree(static_root, ignore_errors=True)
        raise
    rows = []
    try:
        manager = {"Cookie": _log_in(port, "manager")}
        queue_cookie = manager if queue_user == "manager" else {"Cookie": _log_in(port, queue_user)}
        scenarios = [
            ("lead list", "page", f"/leads/?per_page={ROWS}", manager),
            ("lead list", "plain", "/plain/pages/leads/", manager),
            ("work queue", "page", f"/queue/?per_page={ROWS}", queue_cookie),
            ("work queue", "plain", "/plain/pages/queue/", queue_cookie),
        ]
        for name, kind, path, headers in scenarios:

            def make(rng, path=path):
                return ("GET", path, None)

            load(port=port, seconds=warmup, make_request=make, headers=headers, check=_full_page)
            result = load(port=port, seconds=seconds, make_request=make, headers=headers, check=_full_page)
            rows.append({"scenario": name, "via": kind, **result})
    finally:
        stop(proc)
        shutil.rmtree(static_root, ignore_errors=True)
    return rows, {"leads": leads, "queue_user": queue_user, "in_queue": in_queue}


def figures(rows: list[dict], facts: dict) -> list[dict]:
    out = []
    who = {
        "lead list": f"manager, {facts['leads']:,} leads visible, newest first",
        "work queue": f"{facts['queue_user']}, {facts['in_queue']:,}{'+' if facts['in_queue'] >= 10000 else ''} "
        "open leads in the queue, hottest first",
    }
    for name in ("lead list", "work queue"):
        page, plain = (next(r for r in rows if r["scenario"] == name and r["via"] == v) for v in ("page", "plain"))
        errors = page["errors"] + plain["errors"]
        note = f"{who[name]}; {WORKERS} gunicorn workers, {CLIENTS} clients" + (
            f"; {errors} bad answers" if errors else ""
        )
        out += [
            report.figure("pages", f"{name}, {ROWS} rows: requests/s vs plain view", page["rps"], unit="req/s",
                          baseline=plain["rps"], goal=("ratio", ">=", GOAL_RATIO), note=note),
            report.figure("pages", f"{name}: p50 latency", page["p50_ms"], unit="ms", baseline=plain["p50_ms"]),
            report.figure("pages", f"{name}: p99 latency", page["p99_ms"], unit="ms", baseline=plain["p99_ms"],
                          goal=("value", "<", GOAL_P99_MS)),
        ]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each scenario")
    parser.add_argument("--db", default=READ_DB, help="database with the leads (read only)")
    args = parser.parse_args(argv)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        print("bench.pages_bench: DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return 2
    rows, facts = bench_pages(base_url=base, seconds=args.seconds, warmup=args.warmup, db=args.db)
    print(f"pages: gunicorn {WORKERS} workers, {CLIENTS} clients, {args.seconds:.0f} s each, db {args.db}")
    print(f"{'scenario':<12}{'via':<7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for row in rows:
        print(
            f"{row['scenario']:<12}{row['via']:<7}{row['rps']:>9.0f}{row['p50_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['errors']:>8}"
        )
    report.emit(figures(rows, facts))
    return 0 if all(row["errors"] == 0 for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
