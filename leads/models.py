"""Leads, companies, teams, BANT qualification and engagement events: data and invariants."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Concat, Lower, Replace
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords


class Team(models.Model):
    """A sales team and the territory (countries and regions) it covers."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    countries = CountryField(_("countries"), multiple=True, blank=True)
    regions = models.JSONField(
        _("regions"), default=list, blank=True, help_text=_("Region names within the countries, e.g. Bavaria.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in one sales team (a rep belongs to exactly one team)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership", verbose_name=_("user")
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("team"))

    class Meta:
        verbose_name = _("team membership")
        verbose_name_plural = _("team memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.team}"


class Industry(models.TextChoices):
    SOFTWARE = "software", _("Software and IT")
    MANUFACTURING = "manufacturing", _("Manufacturing")
    FINANCE = "finance", _("Finance and insurance")
    HEALTHCARE = "healthcare", _("Healthcare")
    RETAIL = "retail", _("Retail and e-commerce")
    EDUCATION = "education", _("Education")
    LOGISTICS = "logistics", _("Transport and logistics")
    ENERGY = "energy", _("Energy and utilities")
    TELECOM = "telecom", _("Telecommunications")
    MEDIA = "media", _("Media and marketing")
    PROFESSIONAL_SERVICES = "professional_services", _("Professional services")
    PUBLIC_SECTOR = "public_sector", _("Public sector")
    REAL_ESTATE = "real_estate", _("Real estate and construction")
    HOSPITALITY = "hospitality", _("Hospitality and travel")
    OTHER = "other", _("Other")


class Company(models.Model):
    name = models.CharField(_("name"), max_length=200)
    domain = models.CharField(
        _("website domain"),
        max_length=253,
        blank=True,
        db_index=True,
        help_text=_("Normalised: lower case, without scheme, www. or path."),
    )
    industry = models.CharField(_("industry"), max_length=32, choices=Industry.choices, blank=True)
    industry_other = models.CharField(_("other industry"), max_length=120, blank=True)
    employee_count = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    annual_revenue = models.DecimalField(
        _("annual revenue"), max_digits=18, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    revenue_currency = models.CharField(_("revenue currency"), max_length=3, default="EUR", blank=True)
    country = CountryField(_("country"), blank=True)
    region = models.CharField(_("region"), max_length=120, blank=True)
    served_by_competitor = models.BooleanField(_("already served by a competitor"), default=False)
    competitor_name = models.CharField(_("competitor"), max_length=120, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        indexes = [models.Index(Lower("name"), name="company_name_lower_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(annual_revenue__isnull=True) | Q(annual_revenue__gte=0),
                name="company_revenue_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LeadSource(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    WEBINAR = "webinar", _("Webinar")
    PPC = "ppc", _("PPC")
    LINKEDIN = "linkedin", _("LinkedIn")
    COLD_EMAIL = "cold_email", _("Cold email")
    REFERRAL = "referral", _("Referral")
    EVENT = "event", _("Event")
    IMPORT = "import", _("Import")
    PARTNER = "partner", _("Partner")
    OTHER = "other", _("Other")


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    WORKING = "working", _("Working")
    QUALIFIED = "qualified", _("Qualified")
    NURTURING = "nurturing", _("Nurturing")
    DISQUALIFIED = "disqualified", _("Disqualified")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


#: Statuses that need a reason (why the lead was lost or disqualified).
STATUSES_NEEDING_REASON = (LeadStatus.LOST, LeadStatus.DISQUALIFIED)
#: Statuses in which a lead is closed: no more selling to it.
CLOSED_STATUSES = (LeadStatus.WON, LeadStatus.LOST, LeadStatus.DISQUALIFIED)


# Punctuation that separates words in a job title ("VP, Sales/Marketing").
TITLE_PUNCTUATION = (",", ".", "/", "-", "(", ")", "&", ":", ";", "|", "+", "_")


def title_words(title: str) -> str:
    """ " vp  sales marketing ": lower case, punctuation as spaces, padded, for whole-word matching."""
    text = (title or "").lower()
    for mark in TITLE_PUNCTUATION:
        text = text.replace(mark, " ")
    return f" {text} "


def title_words_expression() -> models.Expression:
    """The SQL twin of ``title_words`` (stored as a generated column, computed once per write)."""
    text: models.Expression = Lower("job_title")
    for mark in TITLE_PUNCTUATION:
        text = Replace(text, models.Value(mark), models.Value(" "))
    return Concat(models.Value(" "), text, models.Value(" "), output_field=models.CharField())


class Lead(models.Model):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254)
    phone = PhoneNumberField(_("phone"), blank=True)
    job_title = models.CharField(_("job title"), max_length=200, blank=True)
    job_title_words = models.GeneratedField(
        expression=title_words_expression(), output_field=models.CharField(max_length=202), db_persist=True
    )
    company = models.ForeignKey(
        Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads", verbose_name=_("company")
    )
    source = models.CharField(_("source"), max_length=20, choices=LeadSource.choices, default=LeadSource.OTHER)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    utm_source = models.CharField(_("UTM source"), max_length=200, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=200, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=200, blank=True)
    utm_term = models.CharField(_("UTM term"), max_length=200, blank=True)
    utm_content = models.CharField(_("UTM content"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_leads",
        verbose_name=_("owner"),
        help_text=_("Empty: the lead is in its team's pool."),
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads", verbose_name=_("team")
    )
    status = models.CharField(_("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    status_reason = models.CharField(
        _("reason"), max_length=300, blank=True, help_text=_("Why the lead was lost or disqualified.")
    )
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    consent_recorded_at = models.DateTimeField(_("consent recorded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Kept by leads.services (see FIRST_TOUCH_KINDS): when a rep first reached the lead. Derived from
    # events and status history, so not in the field history itself.
    first_touched_at = models.DateTimeField(
        _("first touched at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The first call or meeting since the lead was created, or its first change away from New."),
    )
    # Increases on every change of the lead, its qualification or its events;
    # a score remembers the version it was computed from.
    version = models.PositiveBigIntegerField(_("version"), default=1, editable=False)
    # Values of custom attributes (leads.CustomAttribute), keyed by the attribute's key.
    custom = models.JSONField(_("custom attributes"), default=dict, blank=True)
    import_job = models.ForeignKey(
        "ImportJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("last import"),
        help_text=_("The last CSV import that created or updated this lead."),
    )

    history = HistoricalRecords(excluded_fields=["updated_at", "job_title_words", "first_touched_at"])

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="lead_email_unique_ci",
                violation_error_message=_("A lead with this email already exists."),
            ),
            models.CheckConstraint(
                condition=~Q(status__in=STATUSES_NEEDING_REASON) | ~Q(status_reason=""),
                name="lead_reason_for_lost_or_disqualified",
                violation_error_message=_("Give a reason when a lead is lost or disqualified."),
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="lead_owner_status_idx"),
            models.Index(fields=["team", "owner"], name="lead_team_owner_idx"),
            # A rep's scope is two parts, each read in the lead list's order from its own index:
            # the leads they own and their team's unassigned pool (leads.selectors.visible_lead_parts).
            models.Index(fields=["owner", "created_at", "id"], name="lead_owner_created_idx"),
            models.Index(
                fields=["team", "created_at", "id"], condition=Q(owner__isnull=True), name="lead_pool_created_idx"
            ),
            models.Index(fields=["source"], name="lead_source_idx"),
            models.Index(fields=["status"], name="lead_status_idx"),
            # Imports match duplicates on the phone (E.164).
            models.Index(fields=["phone"], name="lead_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class BudgetStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    NONE = "none", _("No budget")
    PLANNED = "planned", _("Planned")
    APPROVED = "approved", _("Approved")


class AuthorityLevel(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    INTERMEDIARY = "intermediary", _("Intermediary")
    INFLUENCER = "influencer", _("Influencer")
    DECISION_MAKER = "decision_maker", _("Decision maker")


class NeedLevel(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    NONE = "none", _("No need")
    WEAK = "weak", _("Weak")
    CLEAR = "clear", _("Clear")


class TimingWindow(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    OVER_12_MONTHS = "over_12m", _("Over 12 months")
    MONTHS_6_12 = "6_12m", _("6-12 months")
    MONTHS_3_6 = "3_6m", _("3-6 months")
    UNDER_3_MONTHS = "under_3m", _("Under 3 months")


# What counts as "met" for each BANT criterion. The count is stored as a
# generated column so SQL (bulk scoring, filters) and Python read the same value.
BANT_MET_VALUES = {
    "budget": (BudgetStatus.PLANNED, BudgetStatus.APPROVED),
    "authority": (AuthorityLevel.DECISION_MAKER,),
    "need": (NeedLevel.CLEAR,),
    "timing": (TimingWindow.UNDER_3_MONTHS, TimingWindow.MONTHS_3_6),
}


def bant_met_expression() -> models.Expression:
    """SQL expression counting the BANT criteria met (0-4)."""
    terms = [
        models.Case(
            models.When(**{f"{field}__in": list(values)}, then=models.Value(1)),
            default=models.Value(0),
            output_field=models.SmallIntegerField(),
        )
        for field, values in BANT_MET_VALUES.items()
    ]
    expression = terms[0]
    for term in terms[1:]:
        expression = expression + term
    return expression


class Qualification(models.Model):
    """The BANT answers for one lead; each answer keeps notes, who recorded it and when."""

    lead = models.OneToOneField(
        Lead, on_delete=models.CASCADE, primary_key=True, related_name="qualification", verbose_name=_("lead")
    )

    budget = models.CharField(_("budget"), max_length=20, choices=BudgetStatus.choices, default=BudgetStatus.UNKNOWN)
    budget_amount = models.DecimalField(
        _("budget amount"), max_digits=18, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    budget_currency = models.CharField(_("budget currency"), max_length=3, default="EUR", blank=True)
    budget_notes = models.TextField(_("budget notes"), blank=True)
    budget_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    budget_recorded_at = models.DateTimeField(null=True, blank=True)

    authority = models.CharField(
        _("authority"), max_length=20, choices=AuthorityLevel.choices, default=AuthorityLevel.UNKNOWN
    )
    decision_maker = models.CharField(
        _("real decision maker"),
        max_length=200,
        blank=True,
        help_text=_("Who decides, when the contact does not."),
    )
    authority_notes = models.TextField(_("authority notes"), blank=True)
    authority_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    authority_recorded_at = models.DateTimeField(null=True, blank=True)

    need = models.CharField(_("need"), max_length=20, choices=NeedLevel.choices, default=NeedLevel.UNKNOWN)
    need_pain = models.TextField(_("pain, in the lead's words"), blank=True)
    need_notes = models.TextField(_("need notes"), blank=True)
    need_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    need_recorded_at = models.DateTimeField(null=True, blank=True)

    timing = models.CharField(_("timing"), max_length=20, choices=TimingWindow.choices, default=TimingWindow.UNKNOWN)
    decision_date = models.DateField(_("decision date"), null=True, blank=True)
    timing_notes = models.TextField(_("timing notes"), blank=True)
    timing_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    timing_recorded_at = models.DateTimeField(null=True, blank=True)

    bant_met = models.GeneratedField(
        expression=bant_met_expression(),
        output_field=models.SmallIntegerField(),
        db_persist=True,
        verbose_name=_("BANT criteria met"),
    )

    history = HistoricalRecords(excluded_fields=["bant_met"])

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        indexes = [models.Index(fields=["bant_met"], name="qualification_bant_met_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_amount__isnull=True) | Q(budget_amount__gte=0),
                name="qualification_budget_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Qualification of %(lead)s") % {"lead": self.lead_id})

    def count_met(self) -> int:
        """The BANT met count from the in-memory answers (equals the generated column once saved)."""
        return sum(getattr(self, field) in values for field, values in BANT_MET_VALUES.items())


class EventKind(models.TextChoices):
    EMAIL_OPEN = "email_open", _("Email opened")
    EMAIL_CLICK = "email_click", _("Email link clicked")
    WEBINAR_REGISTERED = "webinar_registered", _("Webinar registered")
    WEBINAR_ATTENDED = "webinar_attended", _("Webinar attended")
    FORM_SUBMITTED = "form_submitted", _("Form submitted")
    PAGE_VISIT = "page_visit", _("Page visit")
    CONTENT_DOWNLOAD = "content_download", _("Content downloaded")
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    DEMO_REQUESTED = "demo_requested", _("Demo requested")


#: What counts as a first touch (``Lead.first_touched_at``, kept by leads.services): a call or a
#: meeting logged on the lead at or after its creation (imported history from before it does not
#: count), or the lead's first status change away from "new" while it is not back in "new" (a lead
#: created in another status, such as an imported outcome, never changed away from new). Email opens
#: and clicks are the lead reacting to marketing mail, not a rep reaching out, so they do not count
#: (there is no "email sent by a rep" event kind yet; when one exists it belongs here, with a backfill).
FIRST_TOUCH_KINDS: tuple[str, ...] = (EventKind.CALL, EventKind.MEETING)


class EngagementEvent(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", verbose_name=_("lead"))
    kind = models.CharField(_("kind"), max_length=32, choices=EventKind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    client_event_id = models.CharField(  # noqa: DJ001 -- NULL, not "", so the partial unique index ignores it
        _("client event id"),
        max_length=100,
        null=True,
        blank=True,
        help_text=_("Set by the sender; a retried delivery with the same id is stored once."),
    )
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("engagement event")
        verbose_name_plural = _("engagement events")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "kind", "occurred_at"], name="event_lead_kind_time_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["client_event_id"],
                condition=Q(client_event_id__isnull=False),
                name="event_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.occurred_at:%Y-%m-%d %H:%M}"


# --- public capture forms ----------------------------------------------------------------


class QuestionUse(models.TextChoices):
    HIDDEN = "hidden", _("Not asked")
    OPTIONAL = "optional", _("Asked, optional")
    REQUIRED = "required", _("Asked, required")


class CaptureForm(models.Model):
    """A public questionnaire (no login) at /capture/<slug>/: which questions it asks and how leads are tagged.

    ``questions`` maps a question key of ``leads.capture.QUESTIONS`` to
    "optional" or "required"; a key not in it is not asked. The email is always
    asked and required (it identifies the lead).
    """

    slug = models.SlugField(_("address"), max_length=80, unique=True, help_text=_("The page is /capture/<address>/."))
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    thank_you = models.TextField(_("thank-you message"), blank=True)
    active = models.BooleanField(_("active"), default=True, help_text=_("An inactive form's page is not found."))
    questions = models.JSONField(_("questions"), default=dict, blank=True)
    source = models.CharField(_("lead source"), max_length=20, choices=LeadSource.choices, default=LeadSource.WEB_FORM)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    embed_origins = models.TextField(
        _("sites that may embed it"),
        blank=True,
        help_text=_(
            "One origin per line, e.g. https://www.example.com: only these pages may show the form in an "
            "iframe. Empty: the form can be linked to, not embedded."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("capture form")
        verbose_name_plural = _("capture forms")
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def origins(self) -> list[str]:
        return [line.strip() for line in self.embed_origins.splitlines() if line.strip()]


# --- imports ---------------------------------------------------------------------------


class CustomAttributeType(models.TextChoices):
    CHOICE = "choice", _("Choice")
    NUMBER = "number", _("Number")
    BOOLEAN = "boolean", _("Yes/no")
    TEXT = "text", _("Text")


custom_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,49}$",
    _("Use lower-case letters, digits and underscores, starting with a letter (up to 50)."),
)


class CustomAttribute(models.Model):
    """A typed lead attribute with no built-in field; values live in ``Lead.custom[key]``.

    Scoring offers it as the attribute ``custom.<key>`` in point rules and segments.
    """

    key = models.CharField(_("key"), max_length=50, unique=True, validators=[custom_key_validator])
    label = models.CharField(_("label"), max_length=200)
    type = models.CharField(_("type"), max_length=10, choices=CustomAttributeType.choices)
    # [[key, label], ...] for choice attributes; an import adds the values it meets.
    choices = models.JSONField(_("choices"), default=list, blank=True)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("custom attribute")
        verbose_name_plural = _("custom attributes")
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class DuplicatePolicy(models.TextChoices):
    UPDATE = "update", _("Update the existing lead")
    SKIP = "skip", _("Skip the row")
    CREATE = "create", _("Create a new lead anyway")


class SavedMapping(models.Model):
    """A named, reusable column mapping for CSV imports (the same JSON the command's --mapping takes)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    mapping = models.JSONField(_("mapping"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("saved import mapping")
        verbose_name_plural = _("saved import mappings")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """One run (dry or real) of a CSV import: the file, its mapping, progress and counters."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="lead_imports",
        verbose_name=_("started by"),
    )
    file_path = models.CharField(_("stored file"), max_length=500)
    file_name = models.CharField(_("file name"), max_length=255)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    mapping = models.JSONField(_("mapping"), default=dict)
    dry_run = models.BooleanField(_("dry run"), default=True)
    state = models.CharField(_("state"), max_length=10, choices=ImportState.choices, default=ImportState.PENDING)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    line_ending = models.CharField(_("line ending"), max_length=8, blank=True)
    bytes_done = models.PositiveBigIntegerField(_("bytes read"), default=0)
    rows_done = models.PositiveIntegerField(_("rows read"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    duplicates_in_file = models.PositiveIntegerField(_("duplicates inside the file"), default=0)
    won = models.PositiveIntegerField(_("marked won"), default=0)
    lost = models.PositiveIntegerField(_("marked lost"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("lead import")
        verbose_name_plural = _("lead imports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state"], name="import_job_state_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name} ({self.state})"

    @property
    def percent(self) -> int:
        if self.state == ImportState.DONE:
            return 100
        return min(99, int(100 * self.bytes_done / self.size_bytes)) if self.size_bytes else 0


class RowIssueKind(models.TextChoices):
    REJECTED = "rejected", _("Rejected")
    SKIPPED = "skipped", _("Skipped")


class ImportRowIssue(models.Model):
    """A row an import rejected or skipped, with the reason and the row as read."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="issues", verbose_name=_("import"))
    row_number = models.PositiveIntegerField(_("row"))
    kind = models.CharField(_("kind"), max_length=10, choices=RowIssueKind.choices)
    reason = models.TextField(_("reason"))
    values = models.JSONField(_("values"), default=list)

    class Meta:
        verbose_name = _("import row issue")
        verbose_name_plural = _("import row issues")
        ordering = ["job", "row_number"]
        indexes = [models.Index(fields=["job", "row_number"], name="import_issue_job_row_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.reason}"
