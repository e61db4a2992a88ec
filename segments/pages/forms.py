"""Forms of the browser app: a BANT form per criterion, moving a lead on the board, bulk assignment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import Lead, Qualification
from leads.services import BANT_CRITERIA

from ..services import MAX_ASSIGN_LEADS


@dataclass(frozen=True)
class Criterion:
    key: str
    label: Any
    letter: str
    questions: tuple[Any, ...]
    answer_field: str  # the structured answer (a choice)
    detail_fields: tuple[str, ...]  # structured details next to it
    notes_field: str


#: The questions a good rep weaves into the conversation, per BANT criterion.
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "budget",
        _("Budget"),
        "B",
        (
            _("What budget do you plan for this implementation?"),
            _("Is that budget approved, or does it still need sign-off?"),
            _("How have you paid for similar tools before?"),
        ),
        "budget",
        ("budget_amount", "budget_currency"),
        "budget_notes",
    ),
    Criterion(
        "authority",
        _("Authority"),
        "A",
        (
            _("Who besides you takes part in the decision?"),
            _("Who signs the contract in the end?"),
            _("How did your team decide on the last tool it bought?"),
        ),
        "authority",
        ("decision_maker",),
        "authority_notes",
    ),
    Criterion(
        "need",
        _("Need"),
        "N",
        (
            _("What made you start looking for a new tool?"),
            _("What happens if you change nothing this year?"),
            _("How do you solve this today?"),
        ),
        "need",
        ("need_pain",),
        "need_notes",
    ),
    Criterion(
        "timing",
        _("Timing"),
        "T",
        (
            _("Is there a deadline for the project start?"),
            _("What has to happen before you can start?"),
            _("When do you want the first results?"),
        ),
        "timing",
        ("decision_date",),
        "timing_notes",
    ),
)
CRITERIA_BY_KEY = {c.key: c for c in CRITERIA}


class BantCriterionForm(forms.ModelForm):
    """The answer, details and notes of one criterion; saved by leads.services.update_qualification."""

    def __init__(self, *args: Any, criterion: Criterion, **kwargs: Any) -> None:
        self.criterion = criterion
        kwargs.setdefault("prefix", criterion.key)
        super().__init__(*args, **kwargs)
        keep = {criterion.answer_field, *criterion.detail_fields, criterion.notes_field}
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        notes = self.fields[criterion.notes_field]
        notes.widget = forms.Textarea(attrs={"rows": 3, "placeholder": _("What did they say, in their words?")})
        if "need_pain" in self.fields:
            self.fields["need_pain"].widget = forms.Textarea(attrs={"rows": 2})
        if "decision_date" in self.fields:
            self.fields["decision_date"].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        if "budget_amount" in self.fields:
            self.fields["budget_amount"].widget.attrs.update({"min": "0", "step": "any", "inputmode": "decimal"})
        if "budget_currency" in self.fields:
            self.fields["budget_currency"].widget.attrs.update({"size": "3", "maxlength": "3"})

    class Meta:
        model = Qualification
        fields = [f for fields in BANT_CRITERIA.values() for f in fields]

    def changed_values(self) -> dict[str, Any]:
        """The cleaned values of this criterion's fields (the service saves only what changed)."""
        return {name: self.cleaned_data[name] for name in self.fields}

    def _post_clean(self) -> None:
        # The service validates the whole row (full_clean) inside its transaction; skip the
        # ModelForm's own instance validation, which would touch the instance before the lock.
        pass

    @property
    def readonly_rows(self) -> list[tuple[str, Any]]:
        """(label, shown value) of the stored answers, for people who read but do not edit."""
        qual = self.instance
        rows = []
        for name in (self.criterion.answer_field, *self.criterion.detail_fields, self.criterion.notes_field):
            model_field = Qualification._meta.get_field(name)
            value = getattr(qual, f"get_{name}_display")() if model_field.choices else getattr(qual, name)
            rows.append((str(model_field.verbose_name).capitalize(), value))
        return rows

    @property
    def recorded(self) -> tuple[Any, Any]:
        """Who recorded this criterion last, and when (None, None when never)."""
        key = self.criterion.key
        return getattr(self.instance, f"{key}_recorded_by", None), getattr(self.instance, f"{key}_recorded_at", None)


class MoveLeadForm(forms.Form):
    """The stage a lead moves to on the board, and the reason a lost or disqualified stage asks for.

    The stages come from the lead's pipeline (no query); whether the reason is required
    is the service's rule (segments.services.move_lead_to_stage_with_outcome).
    """

    stage = forms.TypedChoiceField(label=_("Move to"), coerce=int)
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=Lead._meta.get_field("status_reason").max_length,
        widget=forms.TextInput(attrs={"placeholder": _("Why was it lost?")}),
    )

    def __init__(self, *args: Any, stages: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stages = {stage.pk: stage for stage in stages}
        self.fields["stage"].choices = [(stage.pk, stage.name) for stage in stages]

    def clean_stage(self) -> Any:
        return self.stages[self.cleaned_data["stage"]]


class BulkAssignForm(forms.Form):
    """Leads ticked on a lead list page (or every lead of the page) and the rep who gets them."""

    lead = forms.TypedMultipleChoiceField(
        coerce=int, required=False, error_messages={"invalid_choice": _("Lead ids are whole numbers.")}
    )
    all_on_page = forms.BooleanField(required=False)
    page_ids = forms.CharField(required=False, widget=forms.HiddenInput)
    owner = forms.ModelChoiceField(
        queryset=None,
        label=_("Assign to"),
        empty_label=_("Choose a rep…"),
        error_messages={"required": _("Choose the rep who gets the leads."),
                        "invalid_choice": _("Choose an active sales rep.")},
    )  # fmt: skip

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        # Any whole number may be ticked: whether the lead exists and may be changed is the service's check.
        self.fields["lead"].valid_value = lambda value: True  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("all_on_page"):
            raw = [part for part in (cleaned.get("page_ids") or "").split(",") if part.strip()]
            try:
                ids = [int(part) for part in raw]
            except ValueError:
                raise forms.ValidationError(_("The page's lead ids are not valid.")) from None
        else:
            ids = list(cleaned.get("lead") or [])
        if not ids and "lead" not in self.errors:
            raise forms.ValidationError(_("Tick at least one lead, or select all on this page."))
        if len(ids) > MAX_ASSIGN_LEADS:
            raise forms.ValidationError(_("Assign at most %(n)d leads at a time.") % {"n": MAX_ASSIGN_LEADS})
        cleaned["lead_ids"] = ids
        return cleaned
