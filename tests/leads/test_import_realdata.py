"""The importer on real files from ../shared/data (read by path, never copied): X Education and Olist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leads.imports import service
from leads.imports.selectors import top_reasons
from leads.models import CustomAttribute, ImportState, Lead, LeadStatus
from scoring import custom_attributes
from scoring import services as scoring_services
from scoring.models import LeadScore

MAPPINGS = Path(service.__file__).parent / "mappings"
pytestmark = pytest.mark.realdata


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"


def _import(path: Path, mapping_name: str, *, dry_run: bool = False):
    mapping = json.loads((MAPPINGS / mapping_name).read_text())
    job = service.create_import_job(source=path, file_name=path.name, mapping=mapping, dry_run=dry_run)
    return service.run_import(job_id=job.pk)


def test_x_education_leads_import_completely(db, shared_data):
    path = shared_data / "x-education" / "Leads.csv"
    dry = _import(path, "x_education_leads.json", dry_run=True)
    assert (dry.state, dry.created, dry.rejected) == (ImportState.DONE, 9240, 0)
    assert not Lead.objects.exists()
    job = _import(path, "x_education_leads.json")
    assert (job.encoding, job.delimiter, job.line_ending) == ("utf-8", ",", "CRLF")
    assert (job.rows_done, job.created, job.updated, job.rejected, job.skipped) == (9240, 9240, 0, 0, 0)
    assert (job.won, job.lost) == (3561, 5679)  # Converted: 38.5 %
    assert Lead.objects.filter(status=LeadStatus.WON).count() == 3561
    lost = Lead.objects.filter(status=LeadStatus.LOST).first()
    assert lost.status_reason == "Historical outcome (import)"
    assert lost.email.endswith("@import.invalid")
    # "Select" is a placeholder: it never becomes a value; "Google" and "google" are one source.
    assert not Lead.objects.filter(custom__specialization="select").exists()
    assert CustomAttribute.objects.get(key="occupation").type == "choice"
    assert "post-contact" in CustomAttribute.objects.get(key="tags").label
    assert Lead.objects.filter(source="ppc").count() > 2800
    # A rule on an imported custom attribute separates converters, on the bulk SQL path.
    custom_attributes.clear_cache()
    scoring_services.replace_rule_set(
        rules=[
            {"name": "Long visit", "attribute": "custom.time_on_site", "operator": "gte", "value": "800",
             "points": 20, "category": "engagement"},
        ],
        start_job=False,
    )  # fmt: skip
    scoring_services.score_leads(lead_ids=Lead.objects.values_list("id", flat=True))
    scored = LeadScore.objects.filter(total=20).values_list("lead__status", flat=True)
    rate_high = sum(s == LeadStatus.WON for s in scored) / len(scored)
    assert rate_high > 0.6  # long visitors convert far above the 38.5 % base rate


def test_olist_mqls_with_closed_deals_as_won(db, shared_data):
    folder = shared_data / "olist-marketing-funnel"
    mqls = _import(folder / "olist_marketing_qualified_leads_dataset.csv", "olist_mql.json")
    assert (mqls.state, mqls.created, mqls.rejected) == (ImportState.DONE, 8000, 0)
    deals = _import(folder / "olist_closed_deals_dataset.csv", "olist_closed_deals.json")
    assert deals.state == ImportState.DONE, deals.error
    assert (deals.rows_done, deals.updated, deals.created, deals.rejected, deals.won) == (842, 842, 0, 0, 842)
    assert Lead.objects.filter(status=LeadStatus.WON).count() == 842  # 10.5 % of 8,000
    won = Lead.objects.filter(status=LeadStatus.WON).first()
    assert won.custom["first_contact_date"] and won.custom["business_segment"]
    assert top_reasons(job=deals) == []
