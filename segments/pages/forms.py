"""Forms of the rep's pages: one BANT form per criterion (the fields leads.services accepts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import Qualification
from leads.services import BANT_CRITERIA


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
