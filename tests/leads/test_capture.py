"""Public capture forms: create and update by email, honeypot, rate limit, field errors, 404s, the event,
the score, framing headers and the admin that picks the questions."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from leads import capture
from leads.models import CaptureForm, EngagementEvent, EventKind, Lead, LeadSource
from scoring import services as scoring_services
from scoring.models import LeadScore

pytestmark = pytest.mark.django_db

QUESTIONS = {
    "first_name": "required",
    "last_name": "optional",
    "phone": "optional",
    "job_title": "optional",
    "company_name": "optional",
    "company_domain": "optional",
    "country": "optional",
    "budget": "optional",
    "budget_amount": "optional",
    "timing": "optional",
    "need_pain": "optional",
    "marketing_consent": "optional",
}


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo_form(db):
    return capture.save_capture_form(
        data={
            "slug": "demo",
            "title": "Book a demo",
            "intro": "Tell us <b>about</b> you.",
            "questions": QUESTIONS,
            "source": LeadSource.WEBINAR,
            "campaign": "Spring webinar",
        }
    )


def _url(slug="demo"):
    return reverse("leads:capture", args=[slug])


def _answers(**overrides):
    return {
        "email": "Ada@Acme.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "+49 30 901820",
        "company_name": "Acme",
        "company_domain": "https://www.acme.com/about",
        "country": "DE",
        "budget": "approved",
        "budget_amount": "62500",
        "timing": "under_3m",
        "need_pain": "Spreadsheets <script>",
        "marketing_consent": "on",
        **overrides,
    }


def _post(client, capture_callbacks, data, slug="demo", **extra):
    with capture_callbacks(execute=True):
        return client.post(_url(slug), data, **extra)


def test_the_page_works_without_login_and_escapes_the_intro(client, demo_form):
    page = client.get(_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Book a demo" in html and "Tell us &lt;b&gt;about&lt;/b&gt; you." in html
    assert 'name="csrfmiddlewaretoken"' in html and 'name="website"' in html
    assert 'name="authority"' not in html  # a question the manager did not pick
    assert "<script" not in html  # no JavaScript at all
    # Nobody named may embed it: the site-wide DENY and frame-ancestors 'none' stay.
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_a_submission_creates_the_lead_records_the_event_and_scores_it(client, demo_form, rep, capture_on_commit):
    scoring_services.replace_rule_set(
        rules=[
            {
                "name": "Form",
                "attribute": "events.form_submitted",
                "operator": "gte",
                "value": 1,
                "window_days": 30,
                "points": 10,
                "category": "engagement",
            }
        ],
        start_job=False,
    )
    response = _post(client, capture_on_commit, _answers())
    assert response.status_code == 303 and response["Location"] == reverse("leads:capture_thanks", args=["demo"])
    lead = Lead.objects.select_related("company", "qualification").get()
    assert (lead.email, lead.first_name, lead.source, lead.campaign) == (
        "ada@acme.com",
        "Ada",
        "webinar",
        "Spring webinar",
    )
    assert str(lead.phone) == "+4930901820" and lead.marketing_consent
    assert (lead.company.name, lead.company.domain) == ("Acme", "acme.com")
    assert (lead.qualification.budget, lead.qualification.timing) == ("approved", "under_3m")
    assert lead.qualification.budget_recorded_by is None  # self-reported
    event = EngagementEvent.objects.get(lead=lead)
    assert event.kind == EventKind.FORM_SUBMITTED
    assert event.metadata["form"] == "demo" and event.metadata["answers"]["need_pain"] == "Spreadsheets <script>"
    # Scoring ran through the lead_changed signal after commit (eager tasks here) on the current version.
    score = LeadScore.objects.get(lead=lead)
    assert score.lead_version == lead.version and score.engagement == 10
    assert client.get(response["Location"]).status_code == 200


def test_the_same_email_updates_the_lead_and_never_overwrites_what_a_rep_recorded(
    client, demo_form, rep, capture_on_commit
):
    from leads import services

    lead = services.create_lead(data={"email": "ada@acme.com", "first_name": "Ada", "job_title": ""})
    services.update_qualification(lead=lead, data={"budget": "none"}, acting_user=rep)
    response = _post(
        client,
        capture_on_commit,
        _answers(email=" ADA@acme.com ", first_name="Eve", job_title="CTO", budget="approved"),
    )
    assert response.status_code == 303
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.first_name == "Ada" and lead.job_title == "CTO"  # blanks filled, known values kept
    assert lead.company.domain == "acme.com"  # it had no company
    assert lead.qualification.budget == "none"  # the rep's answer stands
    assert lead.qualification.timing == "under_3m"  # unknown before: taken from the form
    assert EngagementEvent.objects.filter(lead=lead, kind=EventKind.FORM_SUBMITTED).count() == 1
    _post(client, capture_on_commit, _answers(email="ada@acme.com"))
    assert EngagementEvent.objects.filter(lead=lead, kind=EventKind.FORM_SUBMITTED).count() == 2
    assert Lead.objects.count() == 1


def test_the_honeypot_drops_the_submission_silently(client, demo_form, capture_on_commit):
    response = _post(client, capture_on_commit, _answers(website="http://spam.example"))
    assert response.status_code == 302 and response["Location"].endswith("/capture/demo/thanks/")
    assert Lead.objects.count() == 0 and EngagementEvent.objects.count() == 0


def test_the_rate_limit_answers_429_per_address(client, demo_form, settings, capture_on_commit):
    settings.CAPTURE_RATE_LIMIT_PER_HOUR = 2
    for n in range(2):
        assert _post(client, capture_on_commit, _answers(email=f"p{n}@acme.com")).status_code == 303
    limited = _post(client, capture_on_commit, _answers(email="p3@acme.com"))
    assert limited.status_code == 429 and limited["Retry-After"] == "3600"
    assert Lead.objects.count() == 2
    # Another address still gets through.
    other = _post(client, capture_on_commit, _answers(email="p4@acme.com"), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 303


def test_bad_input_is_a_400_with_field_messages_and_writes_nothing(client, demo_form, capture_on_commit):
    response = _post(client, capture_on_commit, _answers(email="not-an-email", first_name="", phone="12"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"email", "first_name", "phone"}
    html = response.content.decode()
    assert "Enter a valid email address." in html and "Enter a valid phone number" in html
    assert Lead.objects.count() == 0 and EngagementEvent.objects.count() == 0


def test_a_failure_after_the_lead_is_written_rolls_everything_back(client, demo_form, monkeypatch, capture_on_commit):
    from django.core.exceptions import ValidationError

    def refuse(**kwargs):
        raise ValidationError({"occurred_at": "boom"})

    monkeypatch.setattr(capture.services, "record_event", refuse)
    response = _post(client, capture_on_commit, _answers())
    assert response.status_code == 400 and "boom" in response.content.decode()
    assert Lead.objects.count() == 0


def test_inactive_and_unknown_forms_are_404(client, demo_form):
    capture.save_capture_form(capture_form=demo_form, data={"active": False})
    assert client.get(_url()).status_code == 404
    assert client.post(_url(), _answers()).status_code == 404
    assert client.get(_url("nope")).status_code == 404
    assert client.get(reverse("leads:capture_thanks", args=["demo"])).status_code == 404


def test_csrf_stays_on(demo_form):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(_url(), _answers()).status_code == 403
    assert Lead.objects.count() == 0


def test_only_the_named_sites_may_embed_it(client, demo_form):
    capture.save_capture_form(
        capture_form=demo_form, data={"embed_origins": "https://www.acme.com/\nhttp://localhost:8080"}
    )
    page = client.get(_url())
    assert "X-Frame-Options" not in page
    csp = page["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.acme.com http://localhost:8080" in csp
    assert "script-src 'self'" in csp
    # Other pages keep the site-wide refusal.
    assert client.get(reverse("healthz"))["X-Frame-Options"] == "DENY"


def test_form_settings_are_checked(db):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        capture.save_capture_form(data={"slug": "x", "title": "X", "questions": {"salary": "required"}})
    assert "questions" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        capture.save_capture_form(data={"slug": "x", "title": "X", "embed_origins": "javascript:alert(1)"})
    assert "embed_origins" in error.value.message_dict


def test_managers_pick_the_questions_in_the_admin(client, manager, rep):
    for user in (manager, rep):
        user.is_staff = True
        user.save()
    client.force_login(rep)
    assert client.get(reverse("admin:leads_captureform_changelist")).status_code == 403
    client.force_login(manager)
    assert client.get(reverse("admin:leads_captureform_add")).status_code == 200
    data = {
        "title": "Pricing",
        "slug": "pricing",
        "active": "on",
        "intro": "",
        "thank_you": "Thanks!",
        "source": "web_form",
        "campaign": "",
        "embed_origins": "",
        **{f"q_{key}": "hidden" for key in capture.QUESTIONS},
        "q_budget": "required",
        "q_company_name": "optional",
    }
    response = client.post(reverse("admin:leads_captureform_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    form = CaptureForm.objects.get(slug="pricing")
    assert form.questions == {"company_name": "optional", "budget": "required"}
    page = client.get(_url("pricing")).content.decode()
    assert 'name="budget"' in page and 'name="company_name"' in page and 'name="first_name"' not in page


@pytest.fixture
def capture_on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks
