"""Scoring admin (rule form, lead page "why" list, job progress) and the seed_rules / rescore commands."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command

from leads import services as lead_services
from leads.jobs import JobState
from scoring import services
from scoring.defaults import DEFAULT_RULES
from scoring.models import LeadScore, PointRule, RescoreJob, RulesVersion
from tests import factories


@pytest.fixture
def staff_manager(manager):
    manager.is_staff = True
    manager.save()
    return manager


def test_rule_form_offers_registered_attributes_and_their_operators(client, staff_manager):
    client.force_login(staff_manager)
    page = client.get("/admin/scoring/pointrule/add/").content.decode()
    assert 'value="company.industry"' in page
    assert "scoring/rule_form.js" in page
    start = page.index("data-operators=")
    raw = page[start + len("data-operators=") + 1 : page.index('"', start + len("data-operators=") + 1)]
    operators = json.loads(raw.replace("&quot;", '"'))
    assert operators["company.employees"][:3] == ["eq", "ne", "gt"]
    assert "contains" not in operators["company.employees"]
    assert "contains" in operators["lead.job_title"]


def test_rule_form_bad_value_is_a_clear_error_and_writes_nothing(client, staff_manager):
    client.force_login(staff_manager)
    response = client.post(
        "/admin/scoring/pointrule/add/",
        {"name": "Big", "category": "fit", "attribute": "company.employees", "operator": "gt", "value": "lots",
         "points": "10", "active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "is not a number" in response.content.decode()
    assert not PointRule.objects.exists()
    assert not RulesVersion.objects.exists()


def test_rule_form_save_goes_through_the_service(client, staff_manager, django_capture_on_commit_callbacks):
    factories.LeadFactory(company=factories.CompanyFactory(employee_count=900))
    client.force_login(staff_manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/scoring/pointrule/add/",
            {"name": "Mid-size", "category": "fit", "attribute": "company.employees", "operator": "between",
             "value": "100, 1000", "points": "12", "active": "on"},
        )  # fmt: skip
    assert response.status_code == 302
    rule = PointRule.objects.get()
    assert rule.value == ["100", "1000"]
    assert RulesVersion.objects.count() == 1
    assert RescoreJob.objects.get().state == JobState.DONE
    assert LeadScore.objects.get().total == 12
    listing = client.get("/admin/scoring/pointrule/").content.decode()
    assert "Mid-size" in listing
    assert re.search(r'class="field-leads_matching[^"]*">1<', listing)


def test_admin_lead_page_shows_score_and_why(client, staff_manager):
    services.replace_rule_set(
        rules=[{"name": "Industry is Manufacturing", "attribute": "company.industry", "operator": "eq",
                "value": "manufacturing", "points": 20, "category": "fit"},
               {"name": "Budget: none", "attribute": "bant.budget", "operator": "eq", "value": "none",
                "points": -15, "category": "qualification"}],
        start_job=False,
    )  # fmt: skip
    lead = factories.LeadFactory(company=factories.CompanyFactory(industry="manufacturing"))
    lead_services.update_qualification(lead=lead, data={"budget": "none"})
    services.score_lead(lead_id=lead.pk)
    client.force_login(staff_manager)
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "+20 Industry is Manufacturing" in page
    assert "-15 Budget: none" in page
    jobs = client.get("/admin/scoring/rescorejob/")
    assert jobs.status_code == 200


def test_seed_rules_and_rescore_all(db, capsys):
    factories.LeadFactory.create_batch(7, company=factories.CompanyFactory(industry="software", employee_count=300))
    call_command("seed_rules", "--no-job")
    assert PointRule.objects.count() == len(DEFAULT_RULES)
    call_command("seed_rules", "--if-empty")
    assert RulesVersion.objects.count() == 1
    call_command("rescore", "--all", "--chunk-size", "3")
    out = capsys.readouterr().out
    assert "100%" in out
    assert "7 leads" in out
    job = RescoreJob.objects.get()
    assert job.state == JobState.DONE
    assert job.chunks_done >= 3
    # software (+10), 50-5,000 employees (+10) and a "Head of" title (+15) fire for every lead
    assert set(LeadScore.objects.values_list("fit", flat=True)) == {35}
