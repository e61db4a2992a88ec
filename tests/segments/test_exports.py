"""CSV exports: formula cells neutralised, numbers numeric, do-not-contact left out, flat memory, exports recorded."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
from django.utils import timezone

from leads.models import Company, Lead, Qualification
from scoring.models import LeadScore
from segments.exports import iter_csv
from segments.models import ExportRecord
from tests import factories

pytestmark = pytest.mark.django_db

# Cells a spreadsheet would run as formulas (OWASP CSV injection payloads).
PAYLOADS = [
    "=1+1",
    '=HYPERLINK("http://evil.example","x")',
    "+41 22 000",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "=cmd|' /C calc'!A0",
]


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _export(leads) -> str:
    return "".join(iter_csv(leads=leads))


def test_formula_cells_are_neutralised_and_numbers_stay_numbers():
    leads = []
    for i, payload in enumerate(PAYLOADS):
        company = factories.CompanyFactory(name=payload, employee_count=-0 if i else 7)
        lead = factories.LeadFactory(first_name=payload, job_title=payload, company=company)
        LeadScore.objects.create(
            lead=lead,
            total=-15 + i,
            fit=0,
            engagement=0,
            qualification=0,
            band="=B" if i == 0 else "A",
            rules_version=1,
            lead_version=1,
            computed_at=timezone.now(),
        )
        leads.append(lead)
    text = _export(Lead.objects.filter(id__in=[lead.pk for lead in leads]))
    header, *rows = _read(text)
    first, title, company, score, band = (
        header.index("first name"),
        header.index("job title"),
        header.index("company"),
        header.index("score"),
        header.index("band"),
    )
    assert len(rows) == len(PAYLOADS)
    for row, payload in zip(rows, PAYLOADS, strict=True):
        for column in (first, title, company):
            assert row[column] == "'" + payload, (column, row[column])
    assert rows[0][band] == "'=B" and rows[1][band] == "A"
    # Negative scores are numbers: not prefixed, not quoted in the file.
    assert [row[score] for row in rows] == [str(-15 + i) for i in range(len(PAYLOADS))]
    assert ",-15," in text and "'-15" not in text and '"-15"' not in text


def test_plain_cells_untouched():
    lead = factories.LeadFactory(first_name="Ada", last_name="O'Neil", job_title="CEO")
    header, row = _read(_export(Lead.objects.filter(pk=lead.pk)))
    assert row[header.index("first name")] == "Ada" and row[header.index("last name")] == "O'Neil"
    assert row[header.index("employees")] == "120"


def _bulk(n: int) -> None:
    company = Company.objects.create(name="Acme", employee_count=10)
    made = Lead.objects.bulk_create(
        Lead(email=f"m{i}@acme.com", first_name="=x" if i % 3 == 0 else "Ann", company=company) for i in range(n)
    )
    Qualification.objects.bulk_create(Qualification(lead=lead) for lead in made)


def _peak_while_exporting() -> tuple[int, int, int]:
    rows = size = 0
    tracemalloc.start()
    try:
        for chunk in iter_csv(leads=Lead.objects.all()):
            rows += chunk.count("\n")
            size += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows, size, peak


def test_export_memory_stays_flat_as_rows_grow():
    _bulk(2000)
    rows_small, _size_small, peak_small = _peak_while_exporting()
    company = Company.objects.get(name="Acme")
    made = Lead.objects.bulk_create(Lead(email=f"n{i}@acme.com", company=company) for i in range(18000))
    Qualification.objects.bulk_create(Qualification(lead=lead) for lead in made)
    rows_big, size_big, peak_big = _peak_while_exporting()
    assert (rows_small, rows_big) == (2001, 20001)
    # Ten times the rows, about the same peak: the chunk buffers bound it, not the rows
    # (keeping the rows or the whole text would cost several times the CSV size).
    assert peak_big < peak_small * 1.5 + 512 * 1024, (peak_small, peak_big, size_big)
    assert peak_big < size_big * 3, (peak_big, size_big)


def test_do_not_contact_leads_are_never_exported(marketer, client):
    queue_lead = factories.LeadFactory(email="ok@acme.com")
    blocked = factories.LeadFactory(email="blocked@acme.com", do_not_contact=True)
    client.force_login(marketer)
    response = client.get("/api/v1/leads/export.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert queue_lead.email in text and blocked.email not in text
    record = ExportRecord.objects.get()
    assert (record.user, record.rows, record.queue) == (marketer, 1, None)
    assert record.finished_at is not None
