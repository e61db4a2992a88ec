"""Column mappings: validate a mapping against a file's header and turn each CSV row into clean field values."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django_countries import countries

from leads import services
from leads.models import (
    Company,
    CustomAttribute,
    CustomAttributeType,
    DuplicatePolicy,
    Lead,
    LeadStatus,
    Qualification,
    custom_key_validator,
)

from .checks import is_email, normalize_domain, normalize_phone

DEFAULT_NOT_ANSWERED = ("", "n/a", "na", "-", "--", "none", "null", "select")
DEFAULT_LOST_REASON = "Historical outcome (import)"
OUTCOMES = ("won", "lost")
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "x", "on", "tak", "ja", "да"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "f", "off", "nie", "nein", "нет"})

# Fields an import may write (ids, versions, owners and timestamps are not among them).
# Lead fields a column can fill: what the lead services accept, less the relations an
# import sets itself (company from the company columns; owner and team by routing).
LEAD_TARGETS = services.LEAD_FIELDS - {"company", "owner", "team"}
COMPANY_TARGETS = services.COMPANY_FIELDS - {"notes"}
BANT_TARGETS = services.QUALIFICATION_FIELDS


class MappingError(ValidationError):
    """The mapping itself is wrong (unknown target, missing column): nothing can be imported."""


def fold(value: str) -> str:
    """Case- and space-insensitive form of a choice value: " Google  Ads" -> "google ads"."""
    return " ".join(value.casefold().split())


def choice_key(value: str) -> str:
    """The stored key of a learned custom choice: "Better Career Prospects" -> "better_career_prospects"."""
    return re.sub(r"\W+", "_", value.casefold()).strip("_")[:100]


@dataclass
class ColumnSpec:
    """One mapped column: where its values go and how they are cleaned."""

    column: str
    index: int
    target: str  # "lead.email", "company.name", "bant.budget", "custom.visits", "outcome"
    values: dict[str, str] = field(default_factory=dict)  # folded file value -> stored value
    other: str | None = None  # stored value for anything the table does not know
    custom: CustomAttribute | None = None  # the definition (unsaved when the import creates it)


@dataclass(slots=True)
class RowPlan:
    """A row that passed validation: clean values per table, ready to be matched and written."""

    number: int
    raw: list[str]
    lead: dict[str, Any] = field(default_factory=dict)
    company: dict[str, Any] = field(default_factory=dict)
    qualification: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    new_choices: dict[str, dict[str, str]] = field(default_factory=dict)  # custom key -> {choice key: label}
    _keys: list[str] | None = field(default=None, repr=False, compare=False)

    def dedup_keys(self) -> list[str]:
        """Duplicate keys in matching order: email, then phone, then person at company (domain and name).

        A key is its kind and value in one string ("email:ada@acme.com"), as SeenKeys stores it.
        Computed once: a plan's values do not change after parsing (merges build new plans).
        """
        if self._keys is not None:
            return self._keys
        lead, company = self.lead, self.company
        keys = ["email:" + lead["email"]]
        if lead.get("phone"):
            keys.append("phone:" + lead["phone"])
        if company.get("domain") and company.get("name"):
            person = " ".join(filter(None, (lead.get("first_name", ""), lead.get("last_name", ""))))
            if person:
                keys.append(f"person:{fold(person)}|{company['domain']}|{fold(company['name'])}")
        self._keys = keys
        return keys


@dataclass
class RowError:
    number: int
    raw: list[str]
    reason: str


@dataclass
class CompiledMapping:
    """A mapping checked against a header: the column specs and the import options."""

    columns: list[ColumnSpec]
    constants: dict[str, Any]
    not_answered: frozenset[str]
    duplicates: str
    lost_reason: str
    email_template: str | None
    template_columns: dict[str, int]
    phone_region: str | None
    width: int
    custom_definitions: dict[str, CustomAttribute]

    def summary(self) -> list[tuple[str, str]]:
        """(column, target) pairs for the preview page."""
        pairs = [(c.column, c.target) for c in self.columns]
        if self.email_template:
            pairs.append((self.email_template, "lead.email"))
        return pairs


def _model_field(target: str) -> models.Field | None:
    table, _sep, name = target.partition(".")
    model = {"lead": Lead, "company": Company, "bant": Qualification}.get(table)
    return model._meta.get_field(name) if model else None  # type: ignore[return-value]


def _check_target(target: str) -> None:
    table, _sep, name = target.partition(".")
    allowed = {"lead": LEAD_TARGETS, "company": COMPANY_TARGETS, "bant": BANT_TARGETS}
    if target == "outcome":
        return
    if table == "custom":
        try:
            custom_key_validator(name)
        except ValidationError:
            raise MappingError(
                _("“%(key)s” is not a valid custom attribute key: use a-z, 0-9 and _.") % {"key": name}
            ) from None
        return
    if name not in allowed.get(table, ()):
        raise MappingError(_("“%(target)s” is not a field an import can write.") % {"target": target})


def compile_mapping(mapping: Mapping[str, Any], header: Sequence[str]) -> CompiledMapping:
    """Check ``mapping`` against the file's ``header``; raise MappingError with every problem found."""
    problems: list[str] = []
    positions = {name.strip(): i for i, name in enumerate(header)}
    definitions = {c.key: c for c in CustomAttribute.objects.all()}
    specs: list[ColumnSpec] = []
    raw_columns = mapping.get("columns") or {}
    if not isinstance(raw_columns, Mapping):
        raise MappingError(_("“columns” must map column names to targets."))
    for column, raw_spec in raw_columns.items():
        if column.startswith("_"):
            continue  # a comment
        spec = {"to": raw_spec} if isinstance(raw_spec, str) else dict(raw_spec or {})
        target = str(spec.get("to") or "ignore")
        if target == "ignore":
            continue
        if column.strip() not in positions:
            problems.append(_("The file has no column “%(column)s”.") % {"column": column})
            continue
        try:
            _check_target(target)
        except MappingError as exc:
            problems.extend(exc.messages)
            continue
        values = {fold(str(k)): str(v) for k, v in (spec.get("values") or {}).items()}
        column_spec = ColumnSpec(
            column=column,
            index=positions[column.strip()],
            target=target,
            values=values,
            other=spec.get("other"),
        )
        if target.startswith("custom."):
            key = target.split(".", 1)[1]
            definition = definitions.get(key)
            wanted_type = spec.get("type")
            if definition is None:
                if wanted_type not in CustomAttributeType.values:
                    problems.append(
                        _("Give a type (choice, number, boolean or text) for the new custom attribute “%(key)s”.")
                        % {"key": key}
                    )
                    continue
                definition = CustomAttribute(
                    key=key,
                    label=str(spec.get("label") or column)[:200],
                    type=wanted_type,
                    choices=[[choice_key(str(c)), str(c)] for c in spec.get("choices") or []],
                )
                definitions[key] = definition
            elif wanted_type and wanted_type != definition.type:
                problems.append(
                    _("The custom attribute “%(key)s” is a %(type)s attribute.") % {"key": key, "type": definition.type}
                )
                continue
            column_spec.custom = definition
        if target == "outcome":
            bad = sorted({v for v in values.values() if v not in OUTCOMES})
            if bad:
                problems.append(_("Outcome values must be won or lost, not %(values)s.") % {"values": ", ".join(bad)})
        specs.append(column_spec)
    targets = [s.target for s in specs]
    for target in sorted({t for t in targets if targets.count(t) > 1}):
        problems.append(_("Two columns are mapped to %(target)s.") % {"target": target})
    template = mapping.get("email_template") or None
    template_columns: dict[str, int] = {}
    if template:
        for name in re.findall(r"\{([^{}]+)\}", template):
            if name.strip() not in positions:
                problems.append(_("The email template uses a column the file lacks: “%(column)s”.") % {"column": name})
            else:
                template_columns[name] = positions[name.strip()]
        if "lead.email" in targets:
            problems.append(_("Map an email column or give an email template, not both."))
    elif "lead.email" not in targets:
        problems.append(_("Map a column to the lead's email, or give an email template (e.g. {ID}@import.invalid)."))
    duplicates = mapping.get("duplicates") or DuplicatePolicy.UPDATE
    if duplicates not in DuplicatePolicy.values:
        problems.append(_("Duplicates must be update, skip or create."))
    constants = dict(mapping.get("constants") or {})
    for target in constants:
        try:
            _check_target(target)
        except MappingError as exc:
            problems.extend(exc.messages)
        if target.startswith("custom."):
            problems.append(_("Constants cannot fill custom attributes."))
    if problems:
        raise MappingError(problems)
    not_answered = mapping.get("not_answered")
    return CompiledMapping(
        columns=specs,
        constants=constants,
        not_answered=frozenset(
            fold(str(v)) for v in (DEFAULT_NOT_ANSWERED if not_answered is None else [*not_answered, ""])
        ),
        duplicates=duplicates,
        lost_reason=str(mapping.get("lost_reason") or DEFAULT_LOST_REASON)[:300],
        email_template=template,
        template_columns=template_columns,
        phone_region=mapping.get("phone_region") or None,
        width=len(header),
        custom_definitions={s.custom.key: s.custom for s in specs if s.custom is not None},
    )


# --- cleaning one value -----------------------------------------------------------------


def _number(text: str) -> Decimal:
    cleaned = text.replace("\u00a0", "").replace(" ", "").replace("_", "")
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(_("“%(value)s” is not a number.") % {"value": text}) from None
    if not number.is_finite() or abs(number) > Decimal("1e15"):
        raise ValueError(_("“%(value)s” is not a usable number.") % {"value": text})
    return number


def _boolean(text: str) -> bool:
    folded = fold(text)
    if folded in TRUE_WORDS:
        return True
    if folded in FALSE_WORDS:
        return False
    raise ValueError(_("“%(value)s” is not yes or no.") % {"value": text})


def _choice(spec: ColumnSpec, text: str, choices: Sequence[tuple[Any, Any]]) -> str:
    folded = fold(text)
    if folded in spec.values:
        return spec.values[folded]
    for key, label in choices:
        if folded in (fold(str(key)), fold(str(label))):
            return str(key)
    if spec.other is not None:
        return str(spec.other)
    raise ValueError(
        _("“%(value)s” is not one of: %(choices)s.")
        % {"value": text, "choices": ", ".join(str(k) for k, _label in choices)}
    )


@functools.cache
def _country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in countries)


def _country(text: str) -> str:
    upper = text.strip().upper()
    if len(upper) == 2 and upper in _country_codes():
        return upper
    code = countries.by_name(text.strip(), insensitive=True)
    if not code:
        raise ValueError(_("“%(value)s” is not a country.") % {"value": text})
    return code


def _cleaner_for(target: str, spec: ColumnSpec | None) -> Callable[[str], Any]:
    """The function that turns a non-empty cell into the value stored for ``target``."""
    spec = spec or ColumnSpec(column="", index=-1, target=target)
    if target == "outcome":

        def outcome(text: str) -> str:
            folded = fold(text)
            if folded in spec.values:
                return spec.values[folded]
            if spec.other is not None:
                return str(spec.other)
            if folded in TRUE_WORDS or folded in ("won", "converted", "closed won"):
                return "won"
            if folded in FALSE_WORDS or folded in ("lost", "closed lost"):
                return "lost"
            raise ValueError(_("“%(value)s” is not an outcome (won or lost).") % {"value": text})

        return outcome
    model_field = _model_field(target)
    name = target.split(".", 1)[1]
    if target == "lead.email":

        def email(text: str) -> str:
            value = services.normalize_email(text)
            if not is_email(value):
                raise ValueError(_("“%(value)s” is not an email address.") % {"value": text})
            return value

        return email
    if target == "lead.phone":
        return str.strip  # normalised per row, once the company's country is known
    if target == "company.domain":

        def domain(text: str) -> str:
            try:
                return normalize_domain(text)
            except ValidationError:
                raise ValueError(_("“%(value)s” is not a website domain.") % {"value": text}) from None

        return domain
    if target == "company.country":
        return _country
    if model_field is not None and model_field.choices:
        choices = list(model_field.choices)
        return lambda text: _choice(spec, text, choices)
    if isinstance(model_field, models.BooleanField):
        return lambda text: (
            spec.values[fold(text)] in ("1", "true", "True") if fold(text) in spec.values else _boolean(text)
        )
    if isinstance(model_field, models.IntegerField):

        def integer(text: str) -> int:
            number = _number(text)
            if number != number.to_integral_value() or number < 0 or number > 2_147_483_647:
                raise ValueError(_("“%(value)s” is not a whole number.") % {"value": text})
            return int(number)

        return integer
    if isinstance(model_field, models.DecimalField):

        def decimal(text: str) -> Decimal:
            number = _number(text)
            if number < 0:
                raise ValueError(_("“%(value)s” cannot be negative.") % {"value": text})
            return number.quantize(Decimal("0.01"))

        return decimal
    if isinstance(model_field, models.DateField):

        def iso_date(text: str) -> date:
            try:
                return date.fromisoformat(text.strip()[:10])
            except ValueError:
                raise ValueError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": text}) from None

        return iso_date
    if model_field is not None:
        max_length = getattr(model_field, "max_length", None)

        def text_value(text: str) -> str:
            value = text.strip()
            if max_length and len(value) > max_length:
                raise ValueError(_("%(field)s is longer than %(max)s characters.") % {"field": name, "max": max_length})
            return value

        return text_value
    raise MappingError(_("“%(target)s” is not a field an import can write.") % {"target": target})


def _custom_cleaner(spec: ColumnSpec) -> Callable[[str], Any]:
    definition = spec.custom
    assert definition is not None
    if definition.type == CustomAttributeType.NUMBER:

        def number(text: str) -> int | float:
            value = _number(spec.values.get(fold(text), text))
            # JSON numbers: integers stay integers, so SQL and Python read the same value.
            return int(value) if value == value.to_integral_value() else float(value)

        return number
    if definition.type == CustomAttributeType.BOOLEAN:
        return lambda text: _boolean(spec.values.get(fold(text), text))
    if definition.type == CustomAttributeType.CHOICE:
        return lambda text: spec.values.get(fold(text)) or choice_key(text)
    return lambda text: text.strip()[:500]


# --- one row ----------------------------------------------------------------------------


class CellError(str):
    """A cell that gives no value: why it was refused, or "" when it is not answered.

    Cached like a cleaned value and told apart by its type, so a row pays one check per cell.
    """

    __slots__ = ()


NOT_ANSWERED = CellError("")  # what a column's cleaner returns for a "not answered" cell
_UNSEEN = object()
# Cleaned values kept per column. Cleaning is pure and most columns repeat their values
# (sources, countries, a company's domain on its people's rows), so each distinct value is
# cleaned once; a full cache starts over, which keeps memory flat whatever the file.
CACHE_SIZE = 4096
# Where a column's value goes: the row's lead, company, qualification, custom values, or outcome.
_TABLES = {"lead": 0, "company": 1, "bant": 2, "custom": 3, "outcome": 4}


def _cell_cleaner(cleaner: Callable[[str], Any], not_answered: frozenset[str]) -> Callable[[str], Any]:
    """``cleaner`` with the not-answered check first and its ValueError as a CellError."""

    def clean(text: str) -> Any:
        if fold(text) in not_answered:
            return NOT_ANSWERED
        try:
            return cleaner(text)
        except ValueError as exc:
            return CellError(exc)

    return clean


def _slot(target: str) -> tuple[int, str]:
    table, _sep, name = target.partition(".")
    return _TABLES[table], name


class RowParser:
    """Turns raw CSV rows into RowPlan (clean values) or RowError (the first reasons found).

    Per row it does little more than look each cell up in its column's cache and place the
    value: the tables a value goes to are resolved here, once, not per cell.
    """

    def __init__(self, compiled: CompiledMapping) -> None:
        self.compiled = compiled
        self.width = compiled.width
        # (index, slot, name, column label, cache, cleaner, custom choice key or None) per column.
        self.columns = []
        for spec in compiled.columns:
            cleaner = _custom_cleaner(spec) if spec.custom is not None else _cleaner_for(spec.target, spec)
            learns = spec.custom is not None and spec.custom.type == CustomAttributeType.CHOICE
            self.columns.append(
                (
                    spec.index,
                    *_slot(spec.target),
                    spec.column,
                    {},
                    _cell_cleaner(cleaner, compiled.not_answered),
                    spec.custom.key if learns else None,
                )
            )
        # Constants fill the row first; the columns may overwrite them.
        self.constants: list[dict[str, Any]] = [{}, {}, {}, {}, {}]
        for target, value in compiled.constants.items():
            slot, name = _slot(target)
            self.constants[slot][name] = (
                _cleaner_for(target, None)(str(value)) if not isinstance(value, bool) else value
            )
        self.has_constants = bool(compiled.constants)
        # Choice values of custom attributes known so far (an import may learn new ones).
        self.known_choices = {
            key: {str(c[0]) for c in definition.choices}
            for key, definition in compiled.custom_definitions.items()
            if definition.type == CustomAttributeType.CHOICE
        }
        self.phones: dict[tuple[str, str | None], str | None] = {}  # (cell, region) -> E.164, None when invalid

    def _email_from_template(self, raw: Sequence[str]) -> str:
        template = self.compiled.email_template or ""
        for name, index in self.compiled.template_columns.items():
            part = re.sub(r"[^a-z0-9._-]+", "-", raw[index].strip().lower()).strip("-.")
            if not part:
                raise ValueError(_("The column “%(column)s” of the email template is empty.") % {"column": name})
            template = template.replace("{" + name + "}", part)
        value = services.normalize_email(template)
        if not is_email(value):
            raise ValueError(_("The email template gives “%(value)s”, not an email address.") % {"value": value})
        return value

    def _phone(self, text: str, region: str | None) -> str | None:
        key = (text, region)
        phone = self.phones.get(key, _UNSEEN)
        if phone is _UNSEEN:
            try:
                phone = normalize_phone(text, region=region)
            except ValidationError:
                phone = None
            if len(self.phones) >= CACHE_SIZE:
                self.phones.clear()
            self.phones[key] = phone
        return phone  # type: ignore[return-value]

    def parse(self, number: int, raw: list[str]) -> RowPlan | RowError:
        if len(raw) != self.width:
            return RowError(
                number,
                raw,
                _("The row has %(got)s fields, the header %(want)s.") % {"got": len(raw), "want": self.width},
            )
        tables = tuple(map(dict, self.constants)) if self.has_constants else ({}, {}, {}, {}, {})
        lead, company, qualification, custom, outcome = tables
        reasons: list[str] = []
        new_choices: dict[str, dict[str, str]] = {}
        for index, slot, name, column, cache, clean, choice_key in self.columns:
            text = raw[index]
            value = cache.get(text, _UNSEEN)
            if value is _UNSEEN:
                if len(cache) >= CACHE_SIZE:
                    cache.clear()
                value = cache[text] = clean(text)
            if type(value) is CellError:
                if value:
                    reasons.append(f"{column}: {value}")
                continue
            if choice_key is not None:
                if not value:
                    continue
                known = self.known_choices.setdefault(choice_key, set())
                if value not in known:  # a value the definition lacks: the import adds it
                    known.add(value)
                    new_choices.setdefault(choice_key, {})[value] = text.strip()[:200]
            tables[slot][name] = value
        if self.compiled.email_template:
            try:
                lead["email"] = self._email_from_template(raw)
            except ValueError as exc:
                reasons.append(str(exc))
        if not reasons and not lead.get("email"):
            reasons.append(_("The email is empty."))
        if company.get("domain") and not company.get("name"):
            company["name"] = company["domain"]
        if company and not company.get("name"):
            reasons.append(_("Company fields are given without a company name or domain."))
        if lead.get("phone"):
            phone = self._phone(lead["phone"], company.get("country") or self.compiled.phone_region)
            if phone is None:
                reasons.append(_("“%(value)s” is not a valid phone number.") % {"value": lead["phone"]})
            else:
                lead["phone"] = phone
        if reasons:
            return RowError(number, raw, "; ".join(reasons))
        row_outcome = outcome.get("", "")
        if row_outcome or "status" in lead:
            self._apply_outcome(lead, row_outcome)
        plan = RowPlan(number, raw, lead, company, qualification, custom, row_outcome, new_choices)
        plan.dedup_keys()  # once, while the row's values are at hand
        return plan

    def _apply_outcome(self, lead: dict[str, Any], outcome: str) -> None:
        if outcome == "won":
            lead["status"] = LeadStatus.WON
        elif outcome == "lost":
            lead["status"] = LeadStatus.LOST
            lead.setdefault("status_reason", self.compiled.lost_reason)
        if lead.get("status") in (LeadStatus.LOST, LeadStatus.DISQUALIFIED) and not lead.get("status_reason"):
            lead["status_reason"] = self.compiled.lost_reason
