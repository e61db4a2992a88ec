"""The Celery application: configured from Django settings (CELERY_* keys)."""

import os
from pathlib import Path

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")

# Every task: acknowledged only when done (a killed worker loses nothing), no results kept,
# retried only on errors that can succeed next time; the periodic sweeps heal the rest.
RETRYABLE = (OperationalError, InterfaceError, ConnectionError)
TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
}

app = Celery("leadqual")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes the DB connection around every task unless this
# is set; reusing it made single-lead rescoring 2.4x faster (see STACK.md).
app.conf["CELERY_DB_REUSE_MAX"] = int(os.environ.get("CELERY_DB_REUSE_MAX", "1000"))
app.autodiscover_tasks()


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
