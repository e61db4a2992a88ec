"""Forms of the import pages: upload, column mapping (one row per column of the file), saving a mapping."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import CustomAttributeType, DuplicatePolicy, SavedMapping

from .mapping import BANT_TARGETS, COMPANY_TARGETS, LEAD_TARGETS, choice_key

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
CUSTOM = "custom"


def target_choices() -> list[tuple[str, Any]]:
    return [
        ("ignore", _("Do not import")),
        (_("Lead"), [(f"lead.{n}", n.replace("_", " ")) for n in sorted(LEAD_TARGETS)]),
        (_("Company"), [(f"company.{n}", n.replace("_", " ")) for n in sorted(COMPANY_TARGETS)]),
        (_("Qualification (BANT)"), [(f"bant.{n}", n.replace("_", " ")) for n in sorted(BANT_TARGETS)]),
        ("outcome", _("Historical outcome (won / lost)")),
        (CUSTOM, _("Custom attribute")),
    ]


class UploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))
    saved_mapping = forms.ModelChoiceField(
        label=_("Start from a saved mapping"), queryset=SavedMapping.objects.none(), required=False
    )

    def __init__(self, *args: Any, mappings: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mappings is not None:
            self.fields["saved_mapping"].queryset = mappings

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 200 MB."))
        return upload


class MappingForm(forms.Form):
    """Options, then a target (and a type for custom attributes) per column of the file."""

    email_template = forms.CharField(
        label=_("Email template"),
        required=False,
        help_text=_("When the file has no email: e.g. {Prospect ID}@import.invalid (a stable, undeliverable address)."),
    )
    not_answered = forms.CharField(
        label=_("Values meaning “not answered”"),
        required=False,
        initial="Select, N/A, -",
        help_text=_("Separated by commas; compared without case."),
    )
    duplicates = forms.ChoiceField(label=_("When a lead already exists"), choices=DuplicatePolicy.choices)
    save_as = forms.CharField(label=_("Save this mapping as"), required=False, max_length=120)

    def __init__(self, *args: Any, header: list[str], mapping: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        self.base = mapping
        columns = mapping.get("columns") or {}
        self.initial.setdefault("email_template", mapping.get("email_template", ""))
        self.initial.setdefault("duplicates", mapping.get("duplicates", DuplicatePolicy.UPDATE))
        if mapping.get("not_answered") is not None:
            self.initial["not_answered"] = ", ".join(mapping["not_answered"])
        for index, column in enumerate(header):
            spec = columns.get(column) or {}
            spec = {"to": spec} if isinstance(spec, str) else spec
            target = str(spec.get("to") or "ignore")
            self.fields[f"target_{index}"] = forms.ChoiceField(
                label=column, choices=target_choices(), initial=CUSTOM if target.startswith("custom.") else target
            )
            self.fields[f"type_{index}"] = forms.ChoiceField(
                label=_("type"),
                choices=[("", "---"), *CustomAttributeType.choices],
                required=False,
                initial=spec.get("type", ""),
            )

    def rows(self) -> list[tuple[str, Any, Any]]:
        return [(c, self[f"target_{i}"], self[f"type_{i}"]) for i, c in enumerate(self.header)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for index, column in enumerate(self.header):
            if cleaned.get(f"target_{index}") == CUSTOM and not cleaned.get(f"type_{index}"):
                self.add_error(f"type_{index}", _("Choose the type of the custom attribute “%s”.") % column)
        return cleaned

    def to_mapping(self) -> dict[str, Any]:
        """The mapping JSON; value tables and labels of the starting mapping are kept for columns still mapped."""
        data = self.cleaned_data
        old_columns = self.base.get("columns") or {}
        columns: dict[str, Any] = {}
        for index, column in enumerate(self.header):
            target = data[f"target_{index}"]
            if target == "ignore":
                continue
            old = old_columns.get(column) or {}
            old = {"to": old} if isinstance(old, str) else dict(old)
            if target == CUSTOM:
                key = old["to"][7:] if str(old.get("to", "")).startswith("custom.") else choice_key(column)[:50]
                if not key or not key[0].isalpha():
                    key = f"c_{key}"[:50]
                spec = {**old, "to": f"custom.{key}", "type": data[f"type_{index}"], "label": old.get("label", column)}
            else:
                spec = {**{k: v for k, v in old.items() if k in ("values", "other")}, "to": target}
            columns[column] = spec
        not_answered = [v.strip() for v in (data.get("not_answered") or "").split(",") if v.strip()]
        mapping = {
            **{k: v for k, v in self.base.items() if k in ("constants", "lost_reason", "phone_region", "encoding")},
            "columns": columns,
            "not_answered": not_answered,
            "duplicates": data["duplicates"],
        }
        if data.get("email_template"):
            mapping["email_template"] = data["email_template"].strip()
        return mapping
