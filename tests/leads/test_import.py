"""CSV import: detection, mapping, not-answered values, case folding, dry run, bad rows, dedup, outcomes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from leads.imports import service
from leads.imports.detect import detect_delimiter, detect_encoding, sniff
from leads.imports.selectors import escape_cell, iter_issue_report, top_reasons
from leads.models import (
    Company,
    CustomAttribute,
    ImportJob,
    ImportState,
    Lead,
    LeadSource,
    LeadStatus,
    Qualification,
)
from leads.signals import lead_changed
from tests import factories

HEADER = ["Email", "First", "Last", "Phone", "Company", "Website", "Country", "Source", "Budget", "Visits", "Won"]
MAPPING = {
    "columns": {
        "Email": "lead.email",
        "First": "lead.first_name",
        "Last": "lead.last_name",
        "Phone": "lead.phone",
        "Company": "company.name",
        "Website": "company.domain",
        "Country": "company.country",
        "Source": {"to": "lead.source", "values": {"google": "ppc", "google ads": "ppc"}, "other": "other"},
        "Budget": "bant.budget",
        "Visits": {"to": "custom.visits", "type": "number", "label": "Visits"},
        "Won": "outcome",
    },
    "not_answered": ["Select", "N/A", "-"],
}


def _csv(rows, header=HEADER, delimiter=",", line_ending="\r\n", encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _row(email="ada@acme.com", first=None, last="Lovelace", phone="+49 30 901820", company="Acme", web="acme.com",
         country="DE", source="Google", budget="approved", visits="3", won="1"):  # fmt: skip
    first = email.split("@")[0].title() if first is None else first
    return [email, first, last, phone, company, web, country, source, budget, visits, won]


def _run(tmp_path: Path, data: bytes, mapping=None, *, dry_run=False, user=None, chunk_size=500) -> ImportJob:
    path = tmp_path / "leads.csv"
    path.write_bytes(data)
    job = service.create_import_job(
        source=path, file_name="leads.csv", mapping=mapping or MAPPING, dry_run=dry_run, acting_user=user
    )
    return service.run_import(job_id=job.pk, chunk_size=chunk_size)


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.LEADQUAL_IMPORT_DIR = tmp_path / "stored"


@pytest.fixture
def lead_signals():
    calls: list[tuple[tuple[int, ...], str]] = []

    def receiver(sender, lead_ids, reason, **kwargs):
        calls.append((lead_ids, reason))

    lead_changed.connect(receiver, weak=False, dispatch_uid="test-import-signals")
    yield calls
    lead_changed.disconnect(dispatch_uid="test-import-signals")


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("name\nZażółć gęślą jaźń\nŁódź, Śląsk\n", "cp1250", "cp1250"),
        ("name\nBrno, Plzeň, Říčany, Žďár\n", "cp1250", "cp1250"),
        ("name\nПривет мир\nСанкт-Петербург\n", "cp1251", "cp1251"),  # noqa: RUF001
        ("name\nCafé crème, São Paulo\nMüller, Señor\n", "latin-1", "latin-1"),
        ("name\nZażółć\n", "utf-8", "utf-8"),
        ("name\nZażółć\n", "utf-8-sig", "utf-8-sig"),
        ("name\nplain ascii\n", "utf-8", "utf-8"),
    ],
)
def test_detect_encoding(text, encoding, expected):
    assert detect_encoding(text.encode(encoding)) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_detect_delimiter(delimiter):
    data = _csv([_row(), _row(email="b@acme.com")], delimiter=delimiter).decode()
    assert detect_delimiter(data) == delimiter


@pytest.mark.parametrize(("ending", "name"), [("\r\n", "CRLF"), ("\n", "LF"), ("\r", "CR")])
def test_line_endings_are_detected_and_read(db, tmp_path, ending, name):
    data = _csv([_row(), _row(email="b@acme.com", phone="")], line_ending=ending)
    assert sniff(io.BytesIO(data)).line_ending == name
    job = _run(tmp_path, data)
    assert (job.state, job.line_ending, job.created) == (ImportState.DONE, name, 2)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1250"])
def test_semicolon_file_in_a_legacy_encoding_imports_names_intact(db, tmp_path, encoding):
    data = _csv([_row(first="Łucja", last="Żółtowska", company="Spółka Łąka")], delimiter=";", encoding=encoding)
    job = _run(tmp_path, data)
    assert (job.encoding, job.delimiter, job.created) == (encoding, ";", 1)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.company.name) == ("Łucja", "Żółtowska", "Spółka Łąka")


def test_cp1251_file_imports_cyrillic(db, tmp_path):
    row = _row(first="Ирина", last="Смирнова", company="Ромашка", web="romashka.ru", country="RU", phone="")
    data = _csv([row], encoding="cp1251")
    job = _run(tmp_path, data)
    assert job.encoding == "cp1251"
    assert Lead.objects.get().last_name == "Смирнова"


# --- mapping, values, outcomes --------------------------------------------------------------


def test_row_maps_to_lead_company_bant_custom_and_outcome(db, tmp_path, manager, lead_signals,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(tmp_path, _csv([_row()]), user=manager)
    lead = Lead.objects.select_related("company", "qualification").get()
    assert (lead.email, lead.first_name, str(lead.phone), lead.source) == (
        "ada@acme.com",
        "Ada",
        "+4930901820",
        LeadSource.PPC,
    )
    assert (lead.company.name, lead.company.domain, lead.company.country.code) == ("Acme", "acme.com", "DE")
    assert lead.qualification.budget == "approved"
    assert lead.qualification.budget_recorded_by == manager
    assert lead.custom == {"visits": 3}
    assert (lead.status, lead.import_job_id) == (LeadStatus.WON, job.pk)
    assert CustomAttribute.objects.get(key="visits").type == "number"
    assert (job.created, job.won) == (1, 1)
    # Scored once, in bulk: one lead_changed for the whole import, none per row.
    assert lead_signals == [((lead.pk,), "lead_imported")]


def test_not_answered_values_and_case_folding(db, tmp_path):
    rows = [
        _row(email="a@x.com", source="google", budget="Select", visits="N/A", won="-", phone="", country="de"),
        _row(email="b@x.com", source="GOOGLE ADS", budget="APPROVED", visits="-", won="0", phone="", country="Germany"),
        _row(email="c@x.com", source="Carrier pigeon", budget="", visits="", won="", phone="", country="DE"),
    ]
    job = _run(tmp_path, _csv(rows))
    assert (job.created, job.rejected) == (3, 0)
    leads = {lead.email: lead for lead in Lead.objects.select_related("qualification")}
    assert [leads[e].source for e in ("a@x.com", "b@x.com", "c@x.com")] == ["ppc", "ppc", "other"]
    assert leads["a@x.com"].qualification.budget == "unknown"  # "Select" means not answered
    assert leads["b@x.com"].qualification.budget == "approved"
    assert leads["a@x.com"].custom == {} and leads["a@x.com"].status == LeadStatus.NEW
    assert (leads["b@x.com"].status, leads["b@x.com"].status_reason) == (
        LeadStatus.LOST,
        "Historical outcome (import)",
    )
    assert Company.objects.count() == 1  # one company, found by its domain


def test_custom_choice_values_are_folded_and_learned(db, tmp_path):
    mapping = {"columns": {"Email": "lead.email", "Occupation": {"to": "custom.occupation", "type": "choice"}}}
    data = _csv([["a@x.com", "Student"], ["b@x.com", "student "], ["c@x.com", "Working Professional"]],
                header=["Email", "Occupation"])  # fmt: skip
    _run(tmp_path, data, mapping)
    assert sorted(Lead.objects.values_list("custom__occupation", flat=True)) == [
        "student",
        "student",
        "working_professional",
    ]
    assert CustomAttribute.objects.get(key="occupation").choices == [
        ["student", "Student"],
        ["working_professional", "Working Professional"],
    ]


def test_synthetic_email_from_a_template(db, tmp_path):
    mapping = {"email_template": "{Prospect ID}@import.invalid", "columns": {"Name": "lead.first_name"}}
    job = _run(tmp_path, _csv([["7927B2DF-8bba", "Ann"], ["", "Bob"]], header=["Prospect ID", "Name"]), mapping)
    assert Lead.objects.get().email == "7927b2df-8bba@import.invalid"
    assert job.rejected == 1
    assert "Prospect ID" in job.issues.get().reason


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"columns": {"Nope": "lead.email"}}, "no column “Nope”"),
        ({"columns": {"Email": "lead.version"}}, "not a field an import can write"),
        ({"columns": {"Email": "lead.email", "First": {"to": "custom.x"}}}, "Give a type"),
        ({"columns": {"First": "lead.first_name"}}, "email template"),
        ({"columns": {"Email": "lead.email", "Won": {"to": "outcome", "values": {"1": "yes"}}}}, "won or lost"),
    ],
)
def test_bad_mappings_fail_the_job_and_write_nothing(db, tmp_path, mapping, message):
    job = _run(tmp_path, _csv([_row()]), mapping)
    assert job.state == ImportState.FAILED
    assert message in job.error
    assert not Lead.objects.exists()


# --- dry run, bad rows, nothing half-written --------------------------------------------------


def _malformed_rows():
    return [
        _row(email="good@acme.com"),
        _row(email="not-an-email", phone=""),
        _row(email="badphone@acme.com", phone="12"),
        _row(email="GOOD@acme.com", first="Dup", phone=""),  # duplicate of row 2 inside the file
        _row(email='=HYPERLINK("http://evil")@x.com', phone=""),
        _row(email="budget@acme.com", phone="", budget="lots"),
        _row(email="visits@acme.com", phone="", visits="many"),
        ["short@acme.com", "only", "three"],
        _row(email="formula@acme.com", first="=cmd|' /C calc'!A0", phone="", web="-evil"),
        _row(email="second@acme.com", phone="+49 30 901821", company="Beta", web="beta.de"),
    ]


def test_dry_run_reports_everything_and_writes_nothing(db, tmp_path):
    job = _run(tmp_path, _csv(_malformed_rows()), dry_run=True)
    assert job.state == ImportState.DONE
    assert (job.created, job.updated, job.skipped, job.rejected, job.duplicates_in_file) == (2, 1, 0, 7, 1)
    assert not Lead.objects.exists() and not Company.objects.exists() and not Qualification.objects.exists()
    assert not CustomAttribute.objects.exists()
    reasons = {i.row_number: i.reason for i in job.issues.all()}
    assert sorted(reasons) == [3, 4, 6, 7, 8, 9, 10]
    assert "not an email address" in reasons[3]
    assert "not a valid phone number" in reasons[4]
    assert "is not one of" in reasons[7]
    assert "not a number" in reasons[8]
    assert "fields" in reasons[9]
    assert "not a website domain" in reasons[10]


def test_real_run_writes_good_rows_only_and_matches_the_dry_run(db, tmp_path):
    dry = _run(tmp_path, _csv(_malformed_rows()), dry_run=True)
    real = _run(tmp_path, _csv(_malformed_rows()))
    fields = ("created", "updated", "skipped", "rejected", "duplicates_in_file", "won", "lost")
    assert [getattr(real, f) for f in fields] == [getattr(dry, f) for f in fields]
    assert sorted(Lead.objects.values_list("email", flat=True)) == ["good@acme.com", "second@acme.com"]
    good = Lead.objects.get(email="good@acme.com")
    assert good.first_name == "Dup"  # the in-file duplicate updated the lead its first row created
    # Every lead has its qualification: no row is half-written.
    assert Qualification.objects.count() == Lead.objects.count() == 2
    assert set(Company.objects.values_list("domain", flat=True)) == {"acme.com", "beta.de"}


def test_report_csv_is_formula_escaped(db, tmp_path):
    job = _run(tmp_path, _csv(_malformed_rows()))
    report = "".join(iter_issue_report(job=job, header=HEADER))
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0][:3] == ["row", "kind", "reason"]
    by_row = {r[0]: r for r in rows[1:]}
    assert by_row["6"][3].startswith("'=HYPERLINK")
    assert by_row["10"][4] == "'=cmd|' /C calc'!A0"
    assert by_row["10"][8] == "'-evil"
    assert escape_cell("-12.5") == "-12.5" and escape_cell("@x") == "'@x" and escape_cell("\tx") == "'\tx"
    assert top_reasons(job=job)


def test_bad_encoding_fails_with_a_reason(db, tmp_path):
    data = _csv([_row(first="Zoë")], encoding="utf-8") + "\nbroken,\xff\xfe\n".encode("latin-1")
    job = _run(tmp_path, data, {**MAPPING, "encoding": "utf-8"})
    assert job.state == ImportState.FAILED
    assert "not valid utf-8" in job.error


def test_a_chunk_the_database_refuses_is_written_row_by_row(db, tmp_path, monkeypatch):
    from leads.imports import dedup

    real_find = dedup.find_existing
    factories.LeadFactory(email="taken@acme.com")
    # Simulate a race: the lookup misses the stored lead, the insert then hits the unique index.
    monkeypatch.setattr(service, "find_existing", lambda keys: {})
    rows = [_row(email="new1@acme.com", phone=""), _row(email="taken@acme.com", phone=""),
            _row(email="new2@acme.com", phone="")]  # fmt: skip
    job = _run(tmp_path, _csv(rows))
    monkeypatch.setattr(service, "find_existing", real_find)
    assert (job.created, job.rejected) == (2, 1)
    assert "refused" in job.issues.get().reason
    assert Lead.objects.filter(email__in=["new1@acme.com", "new2@acme.com"]).count() == 2
    assert Qualification.objects.filter(lead__email__startswith="new").count() == 2


# --- duplicates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("update", {"created": 1, "updated": 2, "skipped": 0, "rejected": 0}),
        ("skip", {"created": 1, "updated": 0, "skipped": 2, "rejected": 0}),
        ("create", {"created": 2, "updated": 0, "skipped": 0, "rejected": 1}),
    ],
)
def test_duplicate_policies(db, tmp_path, policy, expected):
    existing = factories.LeadFactory(email="ada@acme.com", first_name="Old", phone="+4930901820")
    stored_version = existing.version
    rows = [
        _row(email="ADA@acme.com", first="New", phone=""),  # same email
        _row(email="other@acme.com", first="Phone", phone="+49 30 901820"),  # same phone
        _row(email="fresh@acme.com", phone=""),
    ]
    job = _run(tmp_path, _csv(rows), {**MAPPING, "duplicates": policy})
    assert {k: getattr(job, k) for k in expected} == expected
    existing.refresh_from_db()
    if policy == "update":
        assert existing.first_name == "Phone" and existing.email == "other@acme.com"
        assert existing.version == stored_version + 1
    else:
        assert existing.first_name == "Old"


def test_person_at_the_same_company_is_a_duplicate(db, tmp_path):
    company = factories.CompanyFactory(name="Acme", domain="acme.com")
    existing = factories.LeadFactory(email="a.lovelace@acme.com", first_name="Ada", last_name="Lovelace",
                                     company=company)  # fmt: skip
    job = _run(tmp_path, _csv([_row(email="ada@acme.com", phone="", first="ada", last="LOVELACE")]))
    assert (job.created, job.updated) == (0, 1)
    existing.refresh_from_db()
    assert existing.email == "ada@acme.com"


def test_duplicates_across_chunks_inside_the_file(db, tmp_path):
    rows = [_row(email=f"p{i}@acme.com", phone="") for i in range(5)] + [_row(email="p1@acme.com", first="Late",
                                                                               phone="")]  # fmt: skip
    job = _run(tmp_path, _csv(rows), {**MAPPING, "duplicates": "skip"}, chunk_size=2)
    assert (job.created, job.skipped, job.duplicates_in_file) == (5, 1, 1)
    assert "row 3" in job.issues.get().reason


def test_rerunning_an_import_updates_instead_of_duplicating(db, tmp_path):
    _run(tmp_path, _csv([_row(), _row(email="b@acme.com", phone="")]))
    job = _run(tmp_path, _csv([_row(), _row(email="b@acme.com", phone="")]))
    assert (job.created, job.updated) == (0, 2)
    assert Lead.objects.count() == 2


# --- saved mappings, the command --------------------------------------------------------------


def test_saved_mapping_and_command(db, tmp_path, capsys):
    service.save_mapping(name="Fairs", mapping=MAPPING)
    path = tmp_path / "in.csv"
    path.write_bytes(_csv([_row(), _row(email="bad", phone="")]))
    report = tmp_path / "report.csv"
    call_command("import_leads", str(path), "--saved-mapping", "Fairs", "--dry-run", "--report", str(report))
    assert "1 created" in capsys.readouterr().out and not Lead.objects.exists()
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(json.dumps(MAPPING))
    call_command("import_leads", str(path), "--mapping", str(mapping_file))
    assert Lead.objects.count() == 1
    assert "not an email address" in report.read_text()


# --- caches, COPY text ---------------------------------------------------------


def test_a_cache_of_one_value_changes_nothing(db, tmp_path, monkeypatch):
    """Each column cleans a distinct value once; a full cache starts over: the outcome cannot depend on it."""
    from leads.imports import mapping

    rows = [*_malformed_rows(), *(_row(email=f"c{i}@acme.com", source=s, phone="") for i, s in enumerate("GgGL"))]
    dry = _run(tmp_path, _csv(rows), dry_run=True)
    monkeypatch.setattr(mapping, "CACHE_SIZE", 1)
    small = _run(tmp_path, _csv(rows), dry_run=True)
    fields = ("created", "updated", "skipped", "rejected", "duplicates_in_file", "won", "lost")
    assert [getattr(small, f) for f in fields] == [getattr(dry, f) for f in fields]
    issues = lambda job: list(job.issues.order_by("row_number").values_list("row_number", "reason"))  # noqa: E731
    assert issues(small) == issues(dry)


def test_the_same_phone_text_is_read_in_each_rows_country(db, tmp_path):
    """A phone without a country code is read in its company's country: cached per text and country."""
    from leads.services import normalize_phone

    countries = ["DE", "PL", "DE", "GB"]
    rows = [_row(email=f"p{i}@x.com", phone="030 901820", country=c, web=f"x{i}.com", company=f"X{i}")
            for i, c in enumerate(countries)]  # fmt: skip
    _run(tmp_path, _csv(rows), {**MAPPING, "duplicates": "create"})
    stored = {email: str(phone) for email, phone in Lead.objects.values_list("email", "phone")}
    for i, country in enumerate(countries):
        try:
            expected = normalize_phone("030 901820", region=country)
        except ValidationError:
            expected = None
        assert stored.get(f"p{i}@x.com") == expected, country


def test_tabs_newlines_and_backslashes_survive_the_copy(db, tmp_path, monkeypatch):
    """COPY's text format escapes them; the fast path skips the escape only for values without them."""
    from leads.imports import bulk

    monkeypatch.setattr(bulk, "COPY_BLOCK", 64)  # many blocks: rows stream into the COPY in pieces
    names = ["Ada\tLovelace", "Back\\slash", "Two\nLines", "Carriage\rReturn", "\\N", "Plain"]
    rows = [_row(email=f"n{i}@acme.com", first=name, phone="") for i, name in enumerate(names)]
    job = _run(tmp_path, _csv(rows))
    assert job.created == len(names)
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == sorted(names)
