"""Forms of the leads app's pages: the public capture questionnaire, built from a capture form's settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from . import services
from .capture import QUESTIONS
from .models import AuthorityLevel, BudgetStatus, CaptureForm, Industry, NeedLevel, QuestionUse, TimingWindow

# The honeypot: a field people never see (hidden by the stylesheet, skipped by keyboard and
# screen readers) and bots fill in. A submission with it filled is dropped without a word.
HONEYPOT = "website"


def _choices(choices: Any, *, skip_unknown: bool = True) -> list[tuple[str, Any]]:
    return [("", "—")] + [(value, label) for value, label in choices if not (skip_unknown and value == "unknown")]


def _field(key: str) -> forms.Field:
    label = QUESTIONS[key].label
    fields: dict[str, forms.Field] = {
        "first_name": forms.CharField(max_length=100),
        "last_name": forms.CharField(max_length=100),
        "phone": forms.CharField(max_length=40, widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"})),
        "job_title": forms.CharField(max_length=200),
        "company_name": forms.CharField(max_length=200),
        "company_domain": forms.CharField(max_length=253, help_text=_("e.g. example.com")),
        "industry": forms.ChoiceField(choices=_choices(Industry.choices, skip_unknown=False)),
        "employee_count": forms.IntegerField(min_value=1, max_value=10_000_000),
        "country": forms.ChoiceField(choices=_choices(list(countries), skip_unknown=False)),
        "budget": forms.ChoiceField(choices=_choices(BudgetStatus.choices)),
        "budget_amount": forms.DecimalField(min_value=0, max_digits=18, decimal_places=2),
        "authority": forms.ChoiceField(choices=_choices(AuthorityLevel.choices)),
        "need": forms.ChoiceField(choices=_choices(NeedLevel.choices)),
        "need_pain": forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 4})),
        "timing": forms.ChoiceField(choices=_choices(TimingWindow.choices)),
        "marketing_consent": forms.BooleanField(),
    }
    field = fields[key]
    field.label = label
    return field


class CaptureSubmissionForm(forms.Form):
    """The questions a capture form asks: email always, the rest as the manager chose."""

    email = forms.EmailField(
        label=_("Work email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def __init__(self, *args: Any, capture_form: CaptureForm, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture_form = capture_form
        for key in QUESTIONS:  # catalogue order, whatever order the settings hold
            use = capture_form.questions.get(key, QuestionUse.HIDDEN)
            if use == QuestionUse.HIDDEN:
                continue
            field = _field(key)
            field.required = use == QuestionUse.REQUIRED
            self.fields[key] = field
        self.fields[HONEYPOT] = forms.CharField(
            label=_("Leave this field empty"),
            required=False,
            widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
        )

    @property
    def is_spam(self) -> bool:
        return bool(self.data.get(HONEYPOT))

    def question_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name != HONEYPOT]

    def honeypot_field(self) -> forms.BoundField:
        return self[HONEYPOT]

    def clean_phone(self) -> str:
        value = self.cleaned_data.get("phone", "")
        country = self.data.get("country") or None
        try:
            return services.normalize_phone(value, region=country)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["phone"]) from None

    def clean_company_domain(self) -> str:
        try:
            return services.normalize_domain(self.cleaned_data.get("company_domain", ""))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["domain"]) from None

    def answers(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != HONEYPOT}
