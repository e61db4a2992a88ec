"""Segments, pipelines, queues, policies, placement, routing history, exports and outbound webhooks."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.jobs import LeadSweepJob
from leads.models import Lead, Team


class Pipeline(models.Model):
    """A sales pipeline: an ordered list of stages a lead moves through."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StageOutcome(models.TextChoices):
    """What entering a stage means for the lead's status (leads.LeadStatus)."""

    OPEN = "open", _("Open: the lead is still being sold to")
    WON = "won", _("Won")
    LOST = "lost", _("Lost (a reason is required)")
    DISQUALIFIED = "disqualified", _("Disqualified (a reason is required)")


#: Outcomes whose stage needs a reason from whoever moves a lead there (the lead's status_reason).
OUTCOMES_NEEDING_REASON = (StageOutcome.LOST, StageOutcome.DISQUALIFIED)


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline"))
    name = models.CharField(_("name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position"))
    is_closed = models.BooleanField(_("closed stage"), default=False, help_text=_("Won or lost: no more selling."))
    outcome = models.CharField(
        _("outcome"),
        max_length=20,
        choices=StageOutcome.choices,
        default=StageOutcome.OPEN,
        help_text=_(
            "Moving a lead here sets its status: won, lost or disqualified (with a reason); open changes none."
        ),
    )

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="stage_position_unique"),
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_unique"),
            models.CheckConstraint(
                condition=Q(outcome=StageOutcome.OPEN) | Q(is_closed=True),
                name="stage_outcome_needs_closed",
                violation_error_message=_("A won, lost or disqualified stage is a closed stage."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline.name} / {self.name}"

    @property
    def needs_reason(self) -> bool:
        return self.outcome in OUTCOMES_NEEDING_REASON


class NurtureQueue(models.Model):
    """A marketing queue for leads not ready for sales, worked on a cadence."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    purpose = models.TextField(_("purpose"), blank=True)
    cadence_days = models.PositiveSmallIntegerField(
        _("cadence (days)"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("How often the queue is worked, e.g. one email every 14 days."),
    )
    revisit_after_days = models.PositiveSmallIntegerField(
        _("revisit after (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
        help_text=_("A lead entering the queue is due for a new look this many days later."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("nurture queue")
        verbose_name_plural = _("nurture queues")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PolicyKind(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round-robin within a team")
    TERRITORY = "territory", _("By territory (country, region)")
    FIXED_USER = "fixed_user", _("A fixed user")
    LEAST_LOADED = "least_loaded", _("Least-loaded rep by open leads")


class AssignmentPolicy(models.Model):
    """Who gets a lead that enters a pipeline; never an inactive user, never a rep over capacity."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=PolicyKind.choices)
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("team"),
        help_text=_("Round-robin and least-loaded: the team whose reps take turns. Empty: every team."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
        help_text=_("Fixed user: who gets every lead."),
    )
    capacity = models.PositiveIntegerField(
        _("capacity per rep"),
        null=True,
        blank=True,
        help_text=_("Most open leads a rep may own; empty: no limit (a rep's own capacity still applies)."),
    )
    # Round-robin turn counter: the next pick starts after this many picks.
    turns = models.PositiveBigIntegerField(_("turns taken"), default=0, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("assignment policy")
        verbose_name_plural = _("assignment policies")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=PolicyKind.FIXED_USER) | Q(user__isnull=False), name="policy_fixed_needs_user"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RepCapacity(models.Model):
    """A rep's own limit of open leads (overrides a policy's capacity when lower)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lead_capacity", verbose_name=_("user")
    )
    max_open_leads = models.PositiveIntegerField(_("most open leads"))

    class Meta:
        verbose_name = _("rep capacity")
        verbose_name_plural = _("rep capacities")

    def __str__(self) -> str:
        return f"{self.user}: {self.max_open_leads}"


class Segment(models.Model):
    """Leads matching every condition go to one destination: a pipeline stage or a nurture queue.

    ``conditions`` is a JSON list of {"attribute", "operator", "value",
    "window_days"} over the registered attributes plus the score ones; they
    are AND-combined. A lead goes to the first matching segment by
    (priority, id); the fallback segment catches the rest.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("Lower numbers are tried first."))
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("pipeline stage")
    )
    policy = models.ForeignKey(
        AssignmentPolicy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="segments",
        verbose_name=_("assignment policy"),
        help_text=_("Empty: the lead waits in its team's pool."),
    )
    queue = models.ForeignKey(
        NurtureQueue,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="segments",
        verbose_name=_("nurture queue"),
    )
    is_fallback = models.BooleanField(_("fallback"), default=False, help_text=_("Catches every lead no segment takes."))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["is_fallback", "priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(stage__isnull=False) & Q(queue__isnull=True))
                | (Q(stage__isnull=True) & Q(queue__isnull=False)),
                name="segment_one_destination",
                violation_error_message=_("Choose either a pipeline stage or a nurture queue."),
            ),
            models.CheckConstraint(
                condition=Q(policy__isnull=True) | Q(stage__isnull=False),
                name="segment_policy_needs_stage",
                violation_error_message=_("Only a pipeline destination takes an assignment policy."),
            ),
            models.UniqueConstraint(
                fields=["is_fallback"],
                condition=Q(is_fallback=True),
                name="segment_one_fallback",
                violation_error_message=_("There is already a fallback segment."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


# A reference to configuration (segment, pipeline, stage, queue, user) that routing rewrites for
# every lead it moves: no database constraint, so a reroute pays no check per moved row at
# commit. Deleting the referenced row still sets it to NULL: Django's on_delete does it.
CONFIG_REFERENCE = {"on_delete": models.SET_NULL, "null": True, "blank": True, "db_constraint": False}


# A history row's lead (decisions, stage visits, queue stays), written for every lead a reroute moves:
# no database constraint, whose checks at commit were about a ninth of a 1,000,000-lead reroute.
# Deleting a lead still deletes its history (Django's CASCADE), and no row outlives its lead:
# routing writes history only for leads whose placement the same statement wrote, and Django
# deletes a lead's placement before its history (LeadPlacement is defined first; a test pins
# it), so a deletion waits for a routing write in flight on the placement's row lock and then
# deletes the history that write committed.
HISTORY_LEAD = {"on_delete": models.CASCADE, "db_constraint": False}


class LeadPlacement(models.Model):
    """Where a lead is now: its segment, pipeline stage or nurture queue, and what routing may not touch."""

    lead = models.OneToOneField(
        Lead, on_delete=models.CASCADE, primary_key=True, related_name="placement", verbose_name=_("lead")
    )
    # Where routing put the lead (CONFIG_REFERENCE: the constraints' checks at commit, with the
    # stays' and visits' ones below, were about a tenth of a 1,000,000-lead reroute).
    segment = models.ForeignKey(Segment, related_name="placements", verbose_name=_("segment"), **CONFIG_REFERENCE)
    pipeline = models.ForeignKey(Pipeline, related_name="+", verbose_name=_("pipeline"), **CONFIG_REFERENCE)
    stage = models.ForeignKey(Stage, related_name="+", verbose_name=_("stage"), **CONFIG_REFERENCE)
    stage_entered_at = models.DateTimeField(_("in stage since"), null=True, blank=True)
    queue = models.ForeignKey(NurtureQueue, related_name="+", verbose_name=_("queue"), **CONFIG_REFERENCE)
    pinned = models.BooleanField(
        _("pinned"), default=False, help_text=_("Pinned by hand: automatic routing never moves this lead.")
    )
    manual_owner = models.BooleanField(
        _("owner set by hand"), default=False, help_text=_("Automatic routing never changes this lead's owner.")
    )
    # The owner routing last gave the lead: a different owner now means someone changed it by hand.
    routed_owner = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", **CONFIG_REFERENCE)
    routed_at = models.DateTimeField(_("routed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("lead placement")
        verbose_name_plural = _("lead placements")
        # segment, stage and queue are indexed by their foreign keys already: every index here
        # is one more write per lead a reroute moves.

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.segment_id}"


class StageVisit(models.Model):
    """A lead's stay in one stage: the stage history, with the time spent."""

    # Indexed by stage_visit_lead_idx (lead, entered_at): no separate foreign-key index. HISTORY_LEAD:
    # no database constraint.
    lead = models.ForeignKey(Lead, related_name="stage_visits", verbose_name=_("lead"), db_index=False, **HISTORY_LEAD)
    # No database constraint (see LeadPlacement): deleting a stage deletes its visits through Django.
    stage = models.ForeignKey(
        Stage, on_delete=models.CASCADE, related_name="visits", verbose_name=_("stage"), db_constraint=False
    )
    entered_at = models.DateTimeField(_("entered at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stage visit")
        verbose_name_plural = _("stage history")
        ordering = ["lead", "entered_at", "id"]
        indexes = [models.Index(fields=["lead", "entered_at"], name="stage_visit_lead_idx")]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(left_at__isnull=True), name="one_open_stage_visit"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} @ {self.stage_id}"


class NurtureMembership(models.Model):
    """A lead's stay in a nurture queue: why it entered, when to look again, when it left."""

    lead = models.ForeignKey(Lead, related_name="nurture_stays", verbose_name=_("lead"), **HISTORY_LEAD)
    # Indexed by nurture_queue_open_idx (queue, left_at): no separate foreign-key index. No database
    # constraint (see LeadPlacement): deleting a queue deletes its stays through Django.
    queue = models.ForeignKey(
        NurtureQueue,
        on_delete=models.CASCADE,
        related_name="members",
        verbose_name=_("queue"),
        db_index=False,
        db_constraint=False,
    )
    entered_at = models.DateTimeField(_("entered at"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    revisit_on = models.DateField(_("revisit on"), null=True, blank=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)

    class Meta:
        verbose_name = _("nurture membership")
        verbose_name_plural = _("nurture memberships")
        ordering = ["queue", "entered_at", "id"]
        indexes = [
            models.Index(fields=["queue", "left_at"], name="nurture_queue_open_idx"),
            # A queue's current members in the queue page's orders, read a page at a time: by revisit
            # date (the default; the counts of current, due and overdue members come from it alone)
            # and by time in the queue (newest or longest first).
            models.Index(
                fields=["queue", "revisit_on", "entered_at", "id"],
                condition=Q(left_at__isnull=True),
                name="nurture_current_revisit_idx",
            ),
            models.Index(
                fields=["queue", "entered_at", "id"],
                condition=Q(left_at__isnull=True),
                name="nurture_current_entered_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(left_at__isnull=True), name="one_open_nurture_stay"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} in {self.queue_id}"


class RoutingReason(models.TextChoices):
    SCORE_CHANGE = "score_change", _("Score changed")
    SEGMENT_CHANGE = "segment_change", _("Segments or policies changed")
    RESCORE = "rescore", _("Bulk rescore finished")
    MANUAL = "manual", _("Changed by hand")


AUDIT_REFERENCE = {**CONFIG_REFERENCE, "db_index": False}


class RoutingDecision(models.Model):
    """One move of one lead: from where to where, which segment and conditions, which policy picked the owner."""

    # Indexed by routing_decision_lead_idx (lead, -created_at): no separate foreign-key index. HISTORY_LEAD:
    # no database constraint.
    lead = models.ForeignKey(
        Lead, related_name="routing_decisions", verbose_name=_("lead"), db_index=False, **HISTORY_LEAD
    )
    created_at = models.DateTimeField(_("decided at"))
    reason = models.CharField(_("reason"), max_length=20, choices=RoutingReason.choices)
    # An append-only log written a chunk of 50,000 moves at a time: its references to
    # segments, stages, queues, owners, policies and jobs carry no database constraint and
    # no index (ten index entries and up to ten constraint checks per row made a reroute
    # about 1.4x slower). Deleting one of those rows still sets these to NULL: Django's
    # on_delete does it, with a scan of this table, on a rare admin action.
    from_segment = models.ForeignKey(Segment, related_name="+", **AUDIT_REFERENCE)
    to_segment = models.ForeignKey(Segment, related_name="+", **AUDIT_REFERENCE)
    from_stage = models.ForeignKey(Stage, related_name="+", **AUDIT_REFERENCE)
    to_stage = models.ForeignKey(Stage, related_name="+", **AUDIT_REFERENCE)
    from_queue = models.ForeignKey(NurtureQueue, related_name="+", **AUDIT_REFERENCE)
    to_queue = models.ForeignKey(NurtureQueue, related_name="+", **AUDIT_REFERENCE)
    from_owner = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", **AUDIT_REFERENCE)
    to_owner = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", **AUDIT_REFERENCE)
    # The segment's conditions as they were when they matched (segments change later).
    matched_conditions = models.JSONField(_("conditions matched"), default=list)
    policy = models.ForeignKey(AssignmentPolicy, related_name="+", **AUDIT_REFERENCE)
    policy_note = models.CharField(_("how the owner was picked"), max_length=300, blank=True)
    job = models.ForeignKey("RoutingJob", related_name="+", **AUDIT_REFERENCE)

    class Meta:
        verbose_name = _("routing decision")
        verbose_name_plural = _("routing decisions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="routing_decision_lead_idx")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_segment_id} -> {self.to_segment_id}"


class RoutingJob(LeadSweepJob):
    """A set-based reroute of every lead, chunk by chunk."""

    reason = models.CharField(_("reason"), max_length=20, choices=RoutingReason.choices)
    moved = models.PositiveIntegerField(_("leads moved"), default=0)

    class Meta(LeadSweepJob.Meta):
        verbose_name = _("routing job")
        verbose_name_plural = _("routing jobs")
        indexes = [models.Index(fields=["state"], name="routing_job_state_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason} {self.state}"


class ExportRecord(models.Model):
    """Who exported which leads, with which filter, how many rows, when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("user")
    )
    queue = models.ForeignKey(
        NurtureQueue, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("queue")
    )
    filters = models.JSONField(_("filter"), default=dict, blank=True)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True, help_text=_("Empty until the download ends."))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.started_at:%Y-%m-%d %H:%M}: {self.rows}"


# --- outbound webhooks ---------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    ENTERED_BAND_A = "lead.entered_band_a", _("Lead entered band A")
    ROUTED = "lead.routed", _("Lead routed")
    QUALIFIED = "lead.qualified", _("Lead qualified")
    WON_LOST = "lead.won_lost", _("Lead won or lost")


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    """A URL a manager registered for some events; every delivery is signed with its secret."""

    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    secret = models.CharField(
        _("signing secret"),
        max_length=128,
        default=new_webhook_secret,
        help_text=_("The receiver checks X-Leadqual-Signature: sha256=HMAC-SHA256(secret, raw body), in hex."),
    )
    events = models.JSONField(
        _("events"), default=list, blank=True, help_text=_("The event names this endpoint receives.")
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its payload, state, attempts so far and the last response."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    event = models.CharField(_("event"), max_length=40, choices=WebhookEvent.choices)
    # The same for every endpoint and every retry: receivers deduplicate on it.
    event_id = models.UUIDField(_("event id"))
    lead_id = models.BigIntegerField(_("lead id"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    state = models.CharField(_("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    response_code = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # Set while an attempt is in flight, so a redelivered task message does not post twice at once.
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_endpoint_event_unique")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_state_idx"),
            models.Index(fields=["lead_id"], name="webhook_delivery_lead_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, the response code or the error, how long, when the next one is due."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    attempted_at = models.DateTimeField(_("attempted at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.response_code or self.error}"
