"""leads.services: normalisation, validation, version bumps, the after-commit hook and the first touch."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from leads import services
from leads.models import EngagementEvent, Lead, LeadStatus, Qualification
from leads.signals import lead_changed
from tests import factories


@pytest.fixture
def hook_calls():
    calls: list[tuple[tuple[int, ...], str]] = []

    def receiver(sender, lead_ids, reason, **kwargs):
        calls.append((lead_ids, reason))

    lead_changed.connect(receiver, weak=False, dispatch_uid="test-hook-calls")
    yield calls
    lead_changed.disconnect(dispatch_uid="test-hook-calls")


def _create(email: str = "Ada@Example.COM", **extra):
    return services.create_lead(data={"first_name": "Ada", "last_name": "Lovelace", "email": email, **extra})


# --- normalisation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("bob@example.com", "bob@example.com"),
    ],
)
def test_normalize_email(raw, expected):
    assert services.normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://WWW.Acme.com/about?x=1", "acme.com"),
        ("acme.co.uk", "acme.co.uk"),
        ("http://shop.acme.de:8080", "shop.acme.de"),
        ("", ""),
        ("münchen.de", "xn--mnchen-3ya.de"),
    ],
)
def test_normalize_domain(raw, expected):
    assert services.normalize_domain(raw) == expected


@pytest.mark.parametrize("raw", ["not a domain", "http://", "acme", "-bad-.com"])
def test_normalize_domain_refuses_garbage(raw):
    with pytest.raises(ValidationError) as exc:
        services.normalize_domain(raw)
    assert "domain" in exc.value.message_dict


def test_phone_is_stored_in_e164_using_company_country(db):
    company = factories.CompanyFactory(country="PL")
    lead = _create(phone="601 234 567", company=company)
    lead.refresh_from_db()
    assert str(lead.phone) == "+48601234567"


def test_phone_with_country_code_ignores_region(db):
    lead = _create(phone="+49 (30) 901820")
    lead.refresh_from_db()
    assert str(lead.phone) == "+4930901820"


def test_bad_phone_is_a_field_error(db):
    with pytest.raises(ValidationError) as exc:
        _create(phone="12")
    assert set(exc.value.message_dict) == {"phone"}
    assert Lead.objects.count() == 0


# --- creation and validation -------------------------------------------------------


def test_create_lead_normalises_email_and_creates_qualification(db, hook_calls, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        lead = _create()
    assert lead.email == "ada@example.com"
    assert lead.version == 1
    assert Qualification.objects.filter(lead=lead, bant_met=0).exists()
    assert hook_calls == [((lead.pk,), "lead_created")]


def test_duplicate_email_is_a_field_error_case_insensitive(db):
    _create("ada@example.com")
    with pytest.raises(ValidationError) as exc:
        _create("  ADA@example.com")
    assert exc.value.message_dict == {"email": ["A lead with this email already exists."]}
    assert Lead.objects.count() == 1


def test_duplicate_email_on_update_is_a_field_error(db):
    _create("ada@example.com")
    other = _create("grace@example.com")
    with pytest.raises(ValidationError) as exc:
        services.update_lead(lead=other, data={"email": "Ada@example.com"})
    assert "email" in exc.value.message_dict
    other.refresh_from_db()
    assert other.email == "grace@example.com"
    assert other.version == 1


def test_race_on_unique_email_becomes_field_error(db, monkeypatch):
    """Two creates that both pass validation: the database refuses one, as a field error."""
    _create("ada@example.com")
    monkeypatch.setattr(services, "_validate_lead", lambda lead: None)
    with pytest.raises(ValidationError) as exc:
        _create("ADA@example.com")
    assert "email" in exc.value.message_dict


def test_invalid_email_and_unknown_fields_are_field_errors(db):
    with pytest.raises(ValidationError) as exc:
        _create("not-an-email")
    assert "email" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.create_lead(data={"email": "x@example.com", "version": 99})
    assert exc.value.message_dict == {"version": ["This field cannot be written."]}


def test_lost_needs_a_reason(db):
    lead = _create()
    with pytest.raises(ValidationError) as exc:
        services.update_lead(lead=lead, data={"status": LeadStatus.LOST})
    assert "status_reason" in exc.value.message_dict
    lead = services.update_lead(lead=lead, data={"status": LeadStatus.LOST, "status_reason": "Chose a competitor"})
    assert lead.status == LeadStatus.LOST
    # Reopening clears the stale reason.
    lead = services.update_lead(lead=lead, data={"status": LeadStatus.WORKING})
    assert lead.status_reason == ""


def test_owner_brings_team_and_inactive_owner_is_refused(db, rep, team):
    lead = _create()
    lead = services.update_lead(lead=lead, data={"owner": rep})
    assert lead.team_id == team.pk
    rep.is_active = False
    rep.save()
    other = _create("other@example.com")
    with pytest.raises(ValidationError) as exc:
        services.update_lead(lead=other, data={"owner": rep})
    assert "owner" in exc.value.message_dict


# --- versions and the hook ---------------------------------------------------------


def test_update_bumps_version_once_and_fires_hook_once(db, hook_calls, django_capture_on_commit_callbacks):
    lead = _create()
    hook_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lead = services.update_lead(lead=lead, data={"job_title": "CTO", "campaign": "spring"})
    assert lead.version == 2
    assert Lead.objects.get(pk=lead.pk).version == 2
    assert hook_calls == [((lead.pk,), "lead_updated")]


def test_update_without_change_is_a_no_op(db, hook_calls, django_capture_on_commit_callbacks):
    lead = _create()
    hook_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lead = services.update_lead(lead=lead, data={"first_name": " Ada ", "email": "ADA@example.com"})
    assert lead.version == 1
    assert hook_calls == []


def test_hook_not_fired_on_rollback(db, hook_calls, django_capture_on_commit_callbacks):
    lead = _create()
    hook_calls.clear()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.update_lead(lead=lead, data={"job_title": "CEO"})
        raise RuntimeError("boom")
    assert callbacks == []
    assert hook_calls == []
    assert Lead.objects.get(pk=lead.pk).version == 1


@pytest.mark.django_db(transaction=True)
def test_hook_fires_after_real_commit_and_not_after_real_rollback(hook_calls):
    """With real transactions (no test wrapper): once per commit, never on rollback."""
    lead = _create()
    assert hook_calls == [((lead.pk,), "lead_created")]
    with pytest.raises(ValidationError):
        services.update_lead(lead=lead, data={"status": LeadStatus.LOST})
    try:
        with transaction.atomic():
            services.update_lead(lead=lead, data={"job_title": "CEO"})
            assert len(hook_calls) == 1  # not yet: still inside the transaction
            raise RuntimeError("rollback")
    except RuntimeError:
        pass
    assert len(hook_calls) == 1
    services.update_lead(lead=lead, data={"job_title": "CFO"})
    assert hook_calls[-1] == ((lead.pk,), "lead_updated")
    assert len(hook_calls) == 2


def test_qualification_update_counts_bant_and_stamps_recorder(db, rep, hook_calls, django_capture_on_commit_callbacks):
    lead = _create()
    hook_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        qual = services.update_qualification(
            lead=lead,
            data={"budget": "approved", "budget_amount": "25000", "need": "clear", "need_pain": "Manual reports"},
            acting_user=rep,
        )
    assert qual.bant_met == 2 == qual.count_met()
    assert qual.budget_recorded_by == rep
    assert qual.need_recorded_at is not None
    assert qual.authority_recorded_at is None
    assert Lead.objects.get(pk=lead.pk).version == 2
    assert hook_calls == [((lead.pk,), "qualification_updated")]

    qual = services.update_qualification(lead=lead, data={"authority": "decision_maker", "timing": "3_6m"})
    assert qual.bant_met == 4
    qual = services.update_qualification(lead=lead, data={"timing": "over_12m", "budget": "none"})
    assert qual.bant_met == 2


@pytest.mark.parametrize(
    ("answers", "met"),
    [
        ({}, 0),
        ({"budget": "planned"}, 1),
        ({"budget": "none", "authority": "influencer", "need": "weak", "timing": "6_12m"}, 0),
        ({"budget": "approved", "authority": "decision_maker", "need": "clear", "timing": "under_3m"}, 4),
    ],
)
def test_bant_met_generated_column_matches_python(db, answers, met):
    lead = factories.LeadFactory(qualification=answers)
    qual = Qualification.objects.get(lead=lead)
    assert qual.bant_met == met == qual.count_met()


def test_bad_qualification_value_is_field_error(db):
    lead = _create()
    with pytest.raises(ValidationError) as exc:
        services.update_qualification(lead=lead, data={"budget": "lots", "budget_amount": "-5"})
    assert {"budget", "budget_amount"} <= set(exc.value.message_dict)
    assert Lead.objects.get(pk=lead.pk).version == 1


def test_company_update_bumps_its_leads(db, hook_calls, django_capture_on_commit_callbacks):
    company = services.create_company(data={"name": "Acme", "domain": "https://www.ACME.com/"})
    assert company.domain == "acme.com"
    a = factories.LeadFactory(company=company)
    b = factories.LeadFactory(company=company)
    untouched = factories.LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.update_company(company=company, data={"employee_count": 5000})
    assert hook_calls == [(tuple(sorted([a.pk, b.pk])), "company_updated")]
    assert Lead.objects.get(pk=a.pk).version == 2
    assert Lead.objects.get(pk=untouched.pk).version == 1


def test_events_bump_version_once_per_batch_and_dedupe_client_ids(db, hook_calls, django_capture_on_commit_callbacks):
    lead = factories.LeadFactory()
    now = timezone.now()
    batch = [
        services.EventInput(lead_id=lead.pk, kind="email_click", occurred_at=now, client_event_id="c-1"),
        services.EventInput(lead_id=lead.pk, kind="page_visit", occurred_at=now - timedelta(days=1)),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        created = services.record_events(events=batch)
    assert len(created) == 2
    assert Lead.objects.get(pk=lead.pk).version == 2
    assert hook_calls == [((lead.pk,), "events_recorded")]
    # Retrying the same client event stores nothing and changes nothing.
    assert services.record_event(lead=lead, kind="email_click", client_event_id="c-1") is None
    assert EngagementEvent.objects.filter(lead=lead).count() == 2
    assert Lead.objects.get(pk=lead.pk).version == 2


def test_bad_events_are_refused_whole(db):
    lead = factories.LeadFactory()
    good = services.EventInput(lead_id=lead.pk, kind="email_click", occurred_at=timezone.now())
    with pytest.raises(ValidationError) as exc:
        services.record_events(
            events=[good, services.EventInput(lead_id=lead.pk, kind="teleport", occurred_at=timezone.now())]
        )
    assert "kind" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_events(events=[services.EventInput(lead_id=999999, kind="call", occurred_at=timezone.now())])
    assert "lead" in exc.value.message_dict
    assert EngagementEvent.objects.count() == 0


def test_history_is_kept(db, rep):
    lead = _create()
    services.update_lead(lead=lead, data={"job_title": "CTO"}, acting_user=rep)
    records = list(Lead.history.filter(id=lead.pk).order_by("history_date"))
    assert [r.job_title for r in records] == ["", "CTO"]
    assert records[-1].history_user == rep


# --- first touch (Lead.first_touched_at) ---------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _at(offset: timedelta = timedelta(0)):
    return time_machine.travel(T0 + offset, tick=False)


def _touched(lead) -> datetime | None:
    return Lead.objects.values_list("first_touched_at", flat=True).get(pk=lead.pk)


def backfill() -> None:
    """The data migration's backfill, on the current tables."""
    migration = importlib.import_module("leads.migrations.0006_lead_first_touched_at")
    migration.backfill_first_touched_at(django_apps, SimpleNamespace(connection=connection))


def assert_backfill_agrees() -> None:
    """What the services kept is what the backfill computes from events and field history."""
    kept = dict(Lead.objects.values_list("pk", "first_touched_at"))
    Lead.objects.update(first_touched_at=None)
    backfill()
    assert dict(Lead.objects.values_list("pk", "first_touched_at")) == kept
    backfill()  # a second run changes nothing
    assert dict(Lead.objects.values_list("pk", "first_touched_at")) == kept


def test_a_batch_gives_each_lead_its_earliest_call_or_meeting_since_creation(db):
    with _at():
        a, b = _create("a@example.com"), _create("b@example.com")
    event = services.EventInput
    with _at(3 * H):
        services.record_events(
            events=[
                event(lead_id=a.pk, kind="email_click", occurred_at=T0 + timedelta(minutes=1)),  # not a touch
                event(lead_id=a.pk, kind="call", occurred_at=T0 + 2 * H),
                event(lead_id=a.pk, kind="meeting", occurred_at=T0 + H),
                event(lead_id=b.pk, kind="call", occurred_at=T0 - timedelta(days=1)),  # before the lead existed
                event(lead_id=b.pk, kind="page_visit", occurred_at=T0 + H),
            ]
        )
    assert (_touched(a), _touched(b)) == (T0 + H, None)
    with _at(5 * H):
        services.record_events(
            events=[
                event(lead_id=a.pk, kind="call", occurred_at=T0 + 4 * H),  # later: the first touch stays
                event(lead_id=b.pk, kind="meeting", occurred_at=T0 + timedelta(minutes=30)),
            ]
        )
    assert (_touched(a), _touched(b)) == (T0 + H, T0 + timedelta(minutes=30))
    assert Lead.objects.get(pk=a.pk).version == 3  # still one bump per batch
    assert_backfill_agrees()


def test_a_single_call_is_a_first_touch_and_an_email_open_is_not(db, django_assert_num_queries):
    with _at():
        lead = _create()
    with _at(2 * H):
        services.record_event(lead=lead, kind="email_open")
        assert _touched(lead) is None
        with django_assert_num_queries(5):  # savepoint, lead ids, insert, the version bump with the touch, release
            services.record_event(lead=lead.pk, kind="call")
    assert _touched(lead) == T0 + 2 * H
    with _at(3 * H):
        services.record_event(lead=lead, kind="meeting", occurred_at=T0 + 90 * timedelta(minutes=1))
    assert _touched(lead) == T0 + 90 * timedelta(minutes=1)
    assert_backfill_agrees()


def test_leaving_new_is_a_first_touch_that_later_status_changes_keep(db):
    with _at():
        lead = _create()
    with _at(2 * H):
        services.update_lead(lead=lead, data={"job_title": "CTO"})  # not a status change
        assert _touched(lead) is None
        lead = services.update_lead(lead=lead, data={"status": LeadStatus.WORKING})
    assert _touched(lead) == lead.first_touched_at == T0 + 2 * H
    # The change's history record carries the same time, and only that record does.
    assert Lead.history.filter(id=lead.pk).latest("history_date").history_date == T0 + 2 * H
    with _at(5 * H):
        lead = services.update_lead(lead=lead, data={"status": LeadStatus.QUALIFIED})
        services.update_lead(lead=lead, data={"job_title": "CEO"})
    assert _touched(lead) == T0 + 2 * H
    assert Lead.history.filter(id=lead.pk).latest("history_date").history_date == T0 + 5 * H
    with _at(6 * H):
        services.record_event(lead=lead, kind="call", occurred_at=T0 + H)  # logged late, happened earlier
    assert _touched(lead) == T0 + H
    assert_backfill_agrees()


def test_back_in_new_only_calls_count_and_leaving_again_counts_the_first_change(db):
    with _at():
        lead = _create()
    with _at(2 * H):
        services.update_lead(lead=lead, data={"status": LeadStatus.WORKING})
    with _at(3 * H):
        services.update_lead(lead=lead, data={"status": LeadStatus.NEW})
    assert _touched(lead) is None  # as the work queue sees it: new again, nobody called
    with _at(4 * H):
        services.record_event(lead=lead, kind="call")
    assert _touched(lead) == T0 + 4 * H
    with _at(6 * H):
        services.update_lead(lead=lead, data={"status": LeadStatus.LOST, "status_reason": "No budget"})
    assert _touched(lead) == T0 + 2 * H  # the first change away from New
    with _at(7 * H):
        services.update_lead(lead=lead, data={"status": LeadStatus.NEW})
    assert _touched(lead) == T0 + 4 * H
    assert_backfill_agrees()


def test_a_lead_created_in_another_status_is_touched_by_calls_only(db):
    with _at():
        lead = _create(status=LeadStatus.WON)
    with _at(H):
        services.update_lead(lead=lead, data={"status": LeadStatus.NEW})
    with _at(2 * H):
        services.update_lead(lead=lead, data={"status": LeadStatus.WORKING})
    assert _touched(lead) is None  # it never changed away from New: it started elsewhere
    with _at(3 * H):
        services.record_event(lead=lead, kind="meeting")
    assert _touched(lead) == T0 + 3 * H
    assert_backfill_agrees()


def test_an_imported_outcome_is_not_a_touch(db, tmp_path, settings):
    """An import records historical outcomes: a lead created won, or an existing lead marked won or
    lost, was not touched by it (no status change a rep made); its calls still count."""
    from leads.imports import service as imports

    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"
    with _at():
        _create("untouched@example.com")
        called = _create("called@example.com")
    with _at(H):
        services.record_event(lead=called, kind="call")
    path = tmp_path / "outcomes.csv"
    path.write_text("Email,Won\r\nnew@example.com,won\r\nuntouched@example.com,won\r\ncalled@example.com,lost\r\n")
    mapping = {"columns": {"Email": "lead.email", "Won": "outcome"}}
    with _at(2 * H):
        job = imports.create_import_job(source=path, file_name="outcomes.csv", mapping=mapping, dry_run=False)
        job = imports.run_import(job_id=job.pk)
    assert (job.created, job.updated, job.won, job.lost) == (1, 2, 2, 1)
    rows = Lead.objects.values_list("email", "status", "first_touched_at")
    touched = {email: (status, at) for email, status, at in rows}
    assert touched == {
        "new@example.com": (LeadStatus.WON, None),
        "untouched@example.com": (LeadStatus.WON, None),
        "called@example.com": (LeadStatus.LOST, T0 + H),
    }
    assert_backfill_agrees()
