"""Exact, fast twins of the email, domain and phone checks an import runs once per distinct value.

An import validates every email, website and phone of the file, and these are
the columns whose values hardly repeat: Django's validator costs ~5 us an email,
normalize_domain ~20 us a domain and phonenumbers' parse + is_valid_number ~60 us
a phone, more than the whole budget of a row. Each function here answers the
common, simple shape itself and hands everything else to the original, so every
answer is the original's answer (tests/leads/test_import_checks.py holds them to
it over random and adversarial input).
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from django.core.validators import validate_email
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from leads import services

# --- email ----------------------------------------------------------------------------------

# A strict subset of what EmailValidator accepts: a dot-atom of common characters, one "@",
# labels of letters, digits and inner hyphens (at most 63), a letter-only TLD. Matching it
# implies the dot-atom branch of EmailValidator.user_regex and its domain_regex both match.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,63}"
)


@functools.lru_cache(maxsize=4096)
def _email_domain_ok(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


@functools.cache
def _email_user_re() -> re.Pattern[str]:
    lazy = validate_email.user_regex  # a lazy proxy: every attribute access costs a lookup
    return re.compile(lazy.pattern, lazy.flags)


def is_email(value: str) -> bool:
    """Exactly ``django.core.validators.validate_email`` (True where it passes)."""
    if len(value) <= 320 and _PLAIN_EMAIL.fullmatch(value):
        return True
    # EmailValidator.__call__, step by step, with the domain check cached per domain.
    if not value or "@" not in value or len(value) > 320:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    return bool(_email_user_re().match(user_part)) and _email_domain_ok(domain_part)


# --- website domain -------------------------------------------------------------------------

# A bare, lower-case host name of ASCII labels (what leads.services.normalize_domain returns):
# for it, urlsplit, the "www." and trailing-dot trims and the IDNA encoding change nothing.
_PLAIN_DOMAIN = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def normalize_domain(value: str) -> str:
    """Exactly ``leads.services.normalize_domain``: the bare domain, or ValidationError."""
    plain = (value or "").strip().lower()
    if not plain.startswith("www.") and _PLAIN_DOMAIN.fullmatch(plain):
        return plain
    return services.normalize_domain(value)


# --- phone ----------------------------------------------------------------------------------

# "+4930901820" or "+49 30 901820": a plus, then ASCII digits and spaces. For this shape
# phonenumbers.parse reads the country code from the first digits (the region does not matter),
# finds no extension, and keeps the national number as written unless it starts with the
# national prefix; the E.164 form is then the plus and the digits, when the number is valid.
_NON_GEO = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
_TYPE_DESCS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def normalize_phone(text: str, *, region: str | None = None) -> str:
    """Exactly ``leads.services.normalize_phone``: the E.164 form, or ValidationError."""
    plain = text.strip()
    digits = plain[1:].replace(" ", "")
    if plain[:1] == "+" and len(plain) <= 250 and digits.isascii() and digits.isdigit():
        for length in (1, 2, 3):  # phonenumbers' _extract_country_code: the first code that exists
            code = digits[:length]
            if code in _COUNTRIES:
                country = _COUNTRIES[code] or _country(code)
                if country.valid(digits[length:]):
                    return "+" + digits
                break
    # Any other shape, or a number this check cannot vouch for: phonenumbers decides (and words the error).
    return services.normalize_phone(text, region=region)


class _Types:
    """One metadata's number-type patterns, compiled per national-number length on first use.

    phonenumbers' _number_type_helper(...) != UNKNOWN: the general desc and any type's desc
    match, a desc matching when its possible lengths (if any) hold the length and its pattern
    matches the whole number. An alternation matches the whole number exactly when one of its
    branches does. Mobile counts only when its pattern differs from the fixed-line one.
    """

    def __init__(self, metadata: PhoneMetadata) -> None:
        self.metadata = metadata
        self.by_length: dict[int, tuple[re.Pattern[str], re.Pattern[str]] | None] = {}

    def match(self, national: str) -> bool:
        length = len(national)
        if length not in self.by_length:
            self.by_length[length] = self._compile(length)
        patterns = self.by_length[length]
        return patterns is not None and bool(patterns[0].fullmatch(national) and patterns[1].fullmatch(national))

    def _compile(self, length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        metadata = self.metadata
        descs = [getattr(metadata, name) for name in _TYPE_DESCS]
        descs.append(metadata.fixed_line)
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        general = _pattern(metadata.general_desc, length)
        types = [p for p in (_pattern(d, length) for d in descs) if p]
        if general is None or not types:
            return None
        return re.compile(general), re.compile("|".join(f"(?:{p})" for p in types))


def _pattern(desc: phonenumbers.PhoneNumberDesc | None, length: int) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


class _Country:
    """What parse and is_valid_number consult for one country calling code, looked up once."""

    def __init__(self, country_code: int) -> None:
        self.regions = COUNTRY_CODE_TO_REGION_CODE[country_code]
        main = PhoneMetadata.metadata_for_region_or_calling_code(country_code, self.regions[0].upper())
        self.usable = main is not None
        prefix = main.national_prefix_for_parsing if main is not None else None
        self.national_prefix = re.compile(prefix) if prefix else None
        # (region, leading digits or None, its types) in order, to find a shared code's region.
        self.candidates = []
        self.validity: dict[str, _Types | bool | None] = {}
        for region in self.regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is not None:
                leading = re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
                self.candidates.append((region, leading, _Types(metadata)))
            # is_valid_number_for_region: the metadata, and the region's own country code.
            for_region = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
            if for_region is None:
                self.validity[region] = False
            elif region != _NON_GEO and metadata is None:
                self.validity[region] = None  # phonenumbers raises here: let it
            elif region != _NON_GEO and metadata.country_code != country_code:
                self.validity[region] = False
            else:
                self.validity[region] = _Types(for_region)

    def valid(self, national: str) -> bool:
        """parse("+" + code + national) keeps ``national`` and is_valid_number is True; False when unsure."""
        if not self.usable or not 2 <= len(national) <= 17:
            return False  # parse raises: too short or too long
        if self.national_prefix is not None and self.national_prefix.match(national):
            return False  # parse may strip a national prefix ("+49 030 ..."): phonenumbers decides
        region = self._region(national)
        if region is None:
            return False
        types = self.validity[region]
        return isinstance(types, _Types) and types.match(national)

    def _region(self, national: str) -> str | None:
        """phonenumbers.region_code_for_number."""
        if len(self.regions) == 1:
            return self.regions[0]
        for region, leading, types in self.candidates:
            if leading is not None:
                if leading.match(national):
                    return region
            elif types.match(national):
                return region
        return None


# Calling code as written ("49") -> its _Country, built the first time a number uses it.
_COUNTRIES: dict[str, _Country | None] = dict.fromkeys(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


def _country(code: str) -> _Country:
    country = _COUNTRIES[code] = _Country(int(code))
    return country
