"""Point rules, caps, bands, the rules version, stored scores, score history and rescore jobs."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from leads.jobs import LeadSweepJob
from leads.models import Lead

from .attributes import MAX_WINDOW_DAYS, Op
from .engine import Category


class PointRule(models.Model):
    """One rule: when <attribute> <operator> <value>, add <points> to <category>."""

    name = models.CharField(_("name"), max_length=200, help_text=_("Shown to reps in the “why” list."))
    attribute = models.CharField(_("attribute"), max_length=64)
    operator = models.CharField(_("operator"), max_length=16, choices=Op.choices)
    value = models.JSONField(_("value"), null=True, blank=True)
    window_days = models.PositiveIntegerField(
        _("window (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text=_("For engagement counts: count events of the last N days."),
    )
    points = models.IntegerField(_("points"), validators=[MinValueValidator(-1000), MaxValueValidator(1000)])
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    active = models.BooleanField(_("active"), default=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("point rule")
        verbose_name_plural = _("point rules")
        ordering = ["category", "-points", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=-1000, points__lte=1000), name="rule_points_range"),
        ]

    def __str__(self) -> str:
        return self.name


class CategoryCapSetting(models.Model):
    """The lowest and highest points one category may contribute."""

    category = models.CharField(_("category"), max_length=20, choices=Category.choices, unique=True)
    minimum = models.IntegerField(_("minimum points"), default=-50)
    maximum = models.IntegerField(_("maximum points"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("category cap")
        verbose_name_plural = _("category caps")
        ordering = ["category"]
        constraints = [
            models.CheckConstraint(condition=Q(minimum__lte=models.F("maximum")), name="cap_min_le_max"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.minimum}..{self.maximum}"


class ScoreBand(models.Model):
    """A band (A, B, C, D): a lead is in the highest band whose minimum its total reaches."""

    name = models.CharField(_("name"), max_length=8, unique=True)
    min_score = models.IntegerField(_("minimum score"), unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("score band")
        verbose_name_plural = _("score bands")
        ordering = ["-min_score"]

    def __str__(self) -> str:
        return self.name


class RulesVersion(models.Model):
    """One row per change of rules, caps or bands, with the rule set as it was (for explanations)."""

    number = models.PositiveIntegerField(_("version"), unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    snapshot = models.JSONField(_("rule set"), default=dict)

    class Meta:
        verbose_name = _("rules version")
        verbose_name_plural = _("rules versions")
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"v{self.number}"


class LeadScore(models.Model):
    """The current score of a lead: written only by scoring.services, only when newer."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="score")
    total = models.IntegerField(_("score"))
    fit = models.IntegerField(_("fit"))
    engagement = models.IntegerField(_("engagement"))
    qualification = models.IntegerField(_("qualification"))
    band = models.CharField(_("band"), max_length=8, blank=True)
    # Ids of the rules that fired, as ",3,17," (the same text in the Python and SQL paths).
    fired = models.TextField(_("fired rules"), default=",")
    rules_version = models.PositiveIntegerField(_("rules version"))
    lead_version = models.PositiveBigIntegerField(_("lead version"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("lead score")
        verbose_name_plural = _("lead scores")
        indexes = [
            # Hottest first, ties by newest id: the work queue, the lead list and the API walk these.
            models.Index(fields=["-total", "-lead"], name="score_total_lead_idx"),
            models.Index(fields=["band", "-total", "-lead"], name="score_band_total_lead_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.total} ({self.band})"

    @property
    def fired_ids(self) -> list[int]:
        return [int(x) for x in self.fired.split(",") if x]


class ScoreChangeReason(models.TextChoices):
    LEAD_CHANGE = "lead_change", _("Lead change")
    RULE_CHANGE = "rule_change", _("Rule change")
    DECAY = "decay", _("Time decay")
    SWEEP = "sweep", _("Stale score repaired")


class ScoreHistory(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_history")
    old_total = models.IntegerField(_("old score"), null=True, blank=True)
    total = models.IntegerField(_("score"))
    band = models.CharField(_("band"), max_length=8, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=ScoreChangeReason.choices)
    rules_version = models.PositiveIntegerField(_("rules version"))
    lead_version = models.PositiveBigIntegerField(_("lead version"))
    created_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("score change")
        verbose_name_plural = _("score history")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="score_history_lead_idx")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.old_total} -> {self.total}"


class RescoreJob(LeadSweepJob):
    """A set-based rescore of every lead against one rules version, chunk by chunk."""

    rules_version = models.PositiveIntegerField(_("rules version"))
    reason = models.CharField(_("reason"), max_length=20, choices=ScoreChangeReason.choices)
    changed = models.PositiveIntegerField(_("scores changed"), default=0)

    class Meta(LeadSweepJob.Meta):
        verbose_name = _("rescore job")
        verbose_name_plural = _("rescore jobs")
        indexes = [models.Index(fields=["state"], name="rescore_job_state_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} v{self.rules_version} {self.state}"
