"""Scoring's Celery surface: task names, delivery options, the beat schedule, the lead-changed receiver."""

from __future__ import annotations

from django.conf import settings

from leadqual.celery import app
from leads import services as lead_services
from scoring.models import LeadScore
from tests import factories

SCORING_TASKS = {
    "scoring.score_lead",
    "scoring.score_pending",
    "scoring.score_leads",
    "scoring.run_rescore_job",
    "scoring.sweep_stale_scores",
    "scoring.apply_decay",
}


def test_scoring_task_names_and_delivery_options_are_pinned():
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if name.startswith("scoring.")}
    assert registered == SCORING_TASKS
    for name in SCORING_TASKS:
        task = app.tasks[name]
        assert task.acks_late is True, name
        assert task.reject_on_worker_lost is True, name
        assert task.ignore_result is True, name
        assert Exception not in getattr(task, "autoretry_for", ()), name


def test_beat_runs_the_sweep_and_the_daily_decay():
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks["scoring.sweep_stale_scores"] <= 300
    assert tasks["scoring.apply_decay"] == 24 * 3600


def test_lead_change_enqueues_scoring_after_commit(db, django_capture_on_commit_callbacks):
    """Eager tasks here: the receiver's task runs once the change commits, not before."""
    lead = factories.LeadFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lead_services.update_lead(lead=lead, data={"job_title": "CTO"})
    assert not LeadScore.objects.filter(lead=lead).exists()
    for callback in callbacks:
        callback()
    assert LeadScore.objects.get(lead=lead).lead_version == 2
