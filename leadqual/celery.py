"""The Celery application: configured from Django settings (CELERY_* keys)."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun
from django.db import InterfaceError, OperationalError, connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")

# Every task: acknowledged only when done (a killed worker loses nothing), no results kept,
# retried only on errors that can succeed next time; the periodic sweeps heal the rest.
# Backoff 1, 2, 4 ... 60 s, each drawn at random below that (full jitter, so retries spread out).
# 10 retries: a task gives up after 15 s at the very least, 2.5 min typically, 5 min at most. With 5
# it gave up within 6.5 s one time in 16 and within 10 s one time in 6, so a PostgreSQL restart
# failed tasks outright (fault suite, scenario 3: one drain used all 5 in a 6.5 s outage).
# Keep the total far below the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT).
RETRYABLE = (OperationalError, InterfaceError, ConnectionError)
TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 10,
}

app = Celery("leadqual")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes the DB connection around every task unless this
# is set; reusing it made single-lead rescoring 2.4x faster (see STACK.md).
app.conf["CELERY_DB_REUSE_MAX"] = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
app.autodiscover_tasks()


@task_postrun.connect
def _drop_dead_database_connections(**kwargs) -> None:
    """After a task that hit a database error, drop the connection if it is dead.

    Django does this at every request start and end; Celery does it only when it recycles
    connections (every CELERY_DB_REUSE_MAX tasks). Without it a worker process whose connection died
    in autocommit mode (PostgreSQL restarted while it was idle) failed every later task with
    "connection already closed", retries included, long after the server was back (fault suite,
    scenario 3). Only after an error, so the happy path costs no health-check round trip.
    """
    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred:
            conn.close_if_unusable_or_obsolete()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, source, **kwargs) -> None:
    """kombu's filesystem transport creates none of its folders: make them before anyone connects."""
    if not str(source.broker_url or "").startswith("filesystem:"):
        return
    options = source.broker_transport_options
    # kombu's default control folder is "control" relative to the working directory.
    options.setdefault("control_folder", str(Path(options["data_folder_in"]).parent / "control"))
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
