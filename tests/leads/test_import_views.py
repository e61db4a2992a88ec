"""The import pages: managers and marketers go upload -> mapping -> dry run -> run; reps are refused."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.imports import service
from leads.models import ImportJob, ImportState, Lead, SavedMapping

CSV = (
    b"Email,Name,Source,Converted\r\n"
    b"ada@acme.com,Ada,Google,1\r\n"
    b"bad-email,Bob,google,0\r\n"
    b"cy@acme.com,<script>alert(1)</script>,Select,0\r\n"
)


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"


def _post_mapping(client, job):
    return client.post(
        reverse("leads:import_mapping", args=[job.pk]),
        {
            "target_0": "lead.email",
            "target_1": "lead.first_name",
            "target_2": "custom",
            "type_2": "choice",
            "target_3": "outcome",
            "not_answered": "Select, N/A",
            "duplicates": "update",
            "save_as": "Fair leads",
        },
    )


@pytest.mark.parametrize("role", ["manager", "marketer"])
def test_full_flow(db, client, request, role, django_capture_on_commit_callbacks):
    user = request.getfixturevalue(role)
    client.force_login(user)
    response = client.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile("fair.csv", CSV)})
    job = ImportJob.objects.get()
    assert response.url == reverse("leads:import_mapping", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200 and b"Converted" in page.content
    with django_capture_on_commit_callbacks(execute=True):  # the job runs in a worker after commit
        response = _post_mapping(client, job)
    assert response.status_code == 302, response.context["form"].errors
    job.refresh_from_db()
    assert (job.state, job.dry_run, job.created, job.rejected) == (ImportState.DONE, True, 2, 1)
    assert not Lead.objects.exists()
    assert SavedMapping.objects.get(name="Fair leads").mapping["columns"]["Source"]["type"] == "choice"
    detail = client.get(reverse("leads:import_detail", args=[job.pk]))
    assert b"not an email address" in detail.content
    assert b"<script>alert" not in detail.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("leads:import_run", args=[job.pk]))
    real = ImportJob.objects.exclude(pk=job.pk).get()
    assert response.url == reverse("leads:import_detail", args=[real.pk])
    assert (real.state, real.created, real.rejected, real.won, real.lost) == (ImportState.DONE, 2, 1, 1, 1)
    assert Lead.objects.count() == 2
    assert Lead.objects.get(email="cy@acme.com").first_name == "<script>alert(1)</script>"
    report = client.get(reverse("leads:import_report", args=[real.pk]))
    body = b"".join(report.streaming_content).decode()
    assert report["Content-Type"] == "text/csv" and "bad-email" in body and body.startswith("row,kind,reason")


def test_reps_and_anonymous_users_cannot_import(db, client, rep, manager):
    job = service.create_import_job(source=SimpleUploadedFile("x.csv", CSV), file_name="x.csv", mapping={},
                                    dry_run=True, acting_user=manager)  # fmt: skip
    assert client.get(reverse("leads:import_upload")).status_code == 302  # to the login page
    client.force_login(rep)
    for url in (
        reverse("leads:import_upload"),
        reverse("leads:import_mapping", args=[job.pk]),
        reverse("leads:import_detail", args=[job.pk]),
        reverse("leads:import_report", args=[job.pk]),
    ):
        assert client.get(url).status_code == 403
    assert client.post(reverse("leads:import_run", args=[job.pk])).status_code == 403
    assert client.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile("f.csv", CSV)}).status_code == 403


def test_real_run_needs_a_finished_dry_run(db, client, manager):
    client.force_login(manager)
    job = service.create_import_job(source=SimpleUploadedFile("x.csv", CSV), file_name="x.csv", mapping={},
                                    dry_run=True, acting_user=manager)  # fmt: skip
    client.post(reverse("leads:import_run", args=[job.pk]))
    assert ImportJob.objects.count() == 1 and not Lead.objects.exists()


def test_mapping_errors_are_shown_not_run(db, client, manager):
    client.force_login(manager)
    client.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile("fair.csv", CSV)})
    job = ImportJob.objects.get()
    response = client.post(
        reverse("leads:import_mapping", args=[job.pk]),
        {"target_0": "ignore", "target_1": "lead.first_name", "target_2": "custom", "target_3": "ignore",
         "duplicates": "update"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "Choose the type" in response.content.decode()
    job.refresh_from_db()
    assert job.state == ImportState.PENDING
