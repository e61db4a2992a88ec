"""An import whose worker died resumes after its last committed chunk, with the same figures as an unbroken run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.imports import service
from leads.imports.dedup import SeenKeys
from leads.models import ImportJob, ImportState, Lead, Qualification
from tests.leads.test_import import _csv, _row

FIGURES = ("rows_done", "created", "updated", "skipped", "rejected", "duplicates_in_file", "won", "lost")


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so the run cannot mark itself failed."""


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"


def _rows():
    """14 rows, chunks of 3: duplicates of earlier chunks in later ones, one of them in the chunk that dies."""
    rows = [_row(email=f"p{i}@acme.com", phone="", first=f"P{i}") for i in range(10)]
    rows.insert(7, _row(email="P1@acme.com", first="Again", phone=""))  # row 9: chunk 3 (the one killed)
    rows.insert(9, _row(email="p4@acme.com", first="Later", phone=""))  # row 11: chunk 4, duplicate of chunk 2
    rows.insert(11, _row(email="broken", phone=""))
    rows.append(_row(email="p8@acme.com", first="Last", phone=""))  # duplicate of a row in the killed chunk
    return rows


def _job(tmp_path, *, dry_run: bool, mapping=None) -> ImportJob:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv(_rows()))
    return service.create_import_job(source=path, file_name="in.csv", mapping=mapping or _mapping(), dry_run=dry_run)


def _mapping():
    from tests.leads.test_import import MAPPING

    return {**MAPPING, "duplicates": "update"}


def _kill_in_third_chunk(monkeypatch, job: ImportJob) -> ImportJob:
    """Run until the third chunk has saved its duplicate keys but not committed, then die there."""
    real_add = SeenKeys.add
    calls = []

    def add(self, entries):
        real_add(self, entries)
        calls.append(1)
        if len(calls) == 3:
            raise Killed

    monkeypatch.setattr(SeenKeys, "add", add)
    with pytest.raises(Killed):
        service.run_import(job_id=job.pk, chunk_size=3)
    monkeypatch.setattr(SeenKeys, "add", real_add)
    job.refresh_from_db()
    return job


def _stall(job: ImportJob) -> None:
    """No progress since RESUME_AFTER: what a dead worker leaves behind."""
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - service.RESUME_AFTER - timedelta(seconds=1))


def _figures(job: ImportJob) -> dict:
    return {name: getattr(job, name) for name in FIGURES}


def _issues(job: ImportJob) -> list:
    return list(job.issues.order_by("row_number").values_list("row_number", "kind", "reason"))


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_killed_run_resumes_after_its_last_committed_chunk(db, tmp_path, monkeypatch, dry_run):
    unbroken = service.run_import(job_id=_job(tmp_path, dry_run=True).pk, chunk_size=3)
    assert unbroken.duplicates_in_file == 3 and unbroken.rejected == 1

    job = _kill_in_third_chunk(monkeypatch, _job(tmp_path, dry_run=dry_run))
    assert (job.state, job.rows_done) == (ImportState.RUNNING, 6)  # two chunks committed, the third rolled back
    if not dry_run:
        assert Lead.objects.count() == 6

    # A fresh heartbeat means another worker may still hold the job: it is left alone.
    assert service.run_import(job_id=job.pk, chunk_size=3).rows_done == 6
    _stall(job)
    resumed = service.run_import(job_id=job.pk, chunk_size=3)

    assert resumed.state == ImportState.DONE
    assert _figures(resumed) == _figures(unbroken)
    assert _issues(resumed) == _issues(unbroken)
    if not dry_run:
        assert Lead.objects.count() == Qualification.objects.count() == unbroken.created
        assert Lead.objects.get(email="p1@acme.com").first_name == "Again"
        assert Lead.objects.get(email="p8@acme.com").first_name == "Last"
    assert not list((tmp_path / "stored").glob("*.keys.sqlite3*"))  # the keys go when the job ends


def test_a_dry_run_whose_keys_are_lost_starts_over(db, tmp_path, monkeypatch):
    unbroken = service.run_import(job_id=_job(tmp_path, dry_run=True).pk, chunk_size=3)
    job = _kill_in_third_chunk(monkeypatch, _job(tmp_path, dry_run=True))
    for path in (tmp_path / "stored").glob("*.keys.sqlite3*"):
        path.unlink()
    _stall(job)
    resumed = service.run_import(job_id=job.pk, chunk_size=3)
    assert _figures(resumed) == _figures(unbroken)
    assert _issues(resumed) == _issues(unbroken)


def test_a_second_run_of_the_same_job_cannot_write_a_chunk_twice(db, tmp_path, monkeypatch):
    """A stalled worker that comes back finds its chunk taken (rows_done moved) and stops, writing nothing."""
    job = _job(tmp_path, dry_run=False)
    real_process = service._Run.process

    def process(self, rows, **kwargs):
        if self.rows_done == 3:  # meanwhile another run committed this chunk
            ImportJob.objects.filter(pk=self.job.pk).update(rows_done=6)
        return real_process(self, rows, **kwargs)

    monkeypatch.setattr(service._Run, "process", process)
    stopped = service.run_import(job_id=job.pk, chunk_size=3)
    assert (stopped.state, stopped.rows_done) == (ImportState.RUNNING, 6)
    assert Lead.objects.count() == stopped.created == 3
