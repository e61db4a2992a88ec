"""The import's fast email, domain and phone checks give exactly the answers of Django, services and phonenumbers.

Each check answers a common shape itself and hands the rest to the original; these
tests hold every answer to the original's over random strings, adversarial shapes
and every example number phonenumbers knows, and show that the fast shapes really
are answered without the original.
"""

from __future__ import annotations

import string

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from leads import services
from leads.imports import checks

PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(function, *args, **kwargs):
    """The result, or the error's kind and words (normalize_domain raises ValueError on some input too)."""
    try:
        return function(*args, **kwargs)
    except (ValidationError, ValueError) as exc:
        return type(exc), str(exc)


def _django_accepts(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


# --- email ------------------------------------------------------------------------------------

LOCAL_CHARS = string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-\"\\ @(),:;<>[]üé\u0131\x00\x7f"
DOMAIN_CHARS = string.ascii_lowercase + "ABZ" + string.digits + "-._[]:üж\u0130\u212a"


def _label(chars: str = DOMAIN_CHARS) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(alphabet=chars, min_size=0, max_size=12),
        st.builds(lambda c, n: c * n, st.sampled_from("ax0-"), st.integers(60, 66)),  # around 63
        st.sampled_from(["xn--bcher-kva", "xn--", "localhost", "com", "c0m", "123", "a-", "-a", "[127.0.0.1]"]),
    )


EMAILS = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=LOCAL_CHARS + DOMAIN_CHARS, max_size=40),
    st.builds(
        lambda local, labels, at: local + at + ".".join(labels),
        st.one_of(st.text(alphabet=LOCAL_CHARS, max_size=20), st.builds(lambda n: "a" * n, st.integers(60, 330))),
        st.lists(_label(), min_size=0, max_size=5),
        st.sampled_from(["@", "@@", ""]),
    ),
)


@PROPERTY
@given(EMAILS)
@example("ada@acme.com")
@example("a..b@acme.com")
@example(".a@acme.com")
@example("a.@acme.com")
@example("a@-acme.com")
@example("a@acme-.com")
@example("a@acme.c")
@example("a@acme.c0m")
@example("a@acme.com.")
@example("a@localhost")
@example("a@[127.0.0.1]")
@example("a@[::1]")
@example('"a b"@acme.com')
@example('"a@b"@acme.com')
@example("a@b@acme.com")
@example("a@" + "x" * 63 + ".com")
@example("a@" + "x" * 64 + ".com")
@example("a" * 300 + "@" + "x" * 15 + ".com")
@example("a@acme.xn--p1ai")
@example("a@müller.de")
@example("ADA@ACME.COM")
def test_email_check_is_djangos(value):
    assert checks.is_email(value) == _django_accepts(value)


@PROPERTY
@given(EMAILS)
def test_every_email_the_fast_shape_takes_is_valid_for_django(value):
    """The fast path decides alone: whatever its pattern matches, Django must accept."""
    if len(value) <= 320 and checks._PLAIN_EMAIL.fullmatch(value):
        assert _django_accepts(value)


def test_common_emails_take_the_fast_shape():
    for value in ["ada@acme.com", "person12@company3.example.com", "first.last+tag@sub-domain.co.uk"]:
        assert checks._PLAIN_EMAIL.fullmatch(value)


# --- website domain -------------------------------------------------------------------------------

DOMAINS = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda prefix, labels, suffix: prefix + ".".join(labels) + suffix,
        st.sampled_from(["", "www.", "WWW.", "https://", "http://www.", " ", "//", "user@", "www"]),
        st.lists(_label(), min_size=0, max_size=5),
        st.sampled_from(["", "/", "/about?x=1", ":8080", ".", " ", "#top", "\n"]),
    ),
)


@PROPERTY
@given(DOMAINS)
@example("acme.com")
@example("www.acme.com")
@example("https://WWW.Acme.com/about")
@example("acme.com.")
@example("www")
@example("a.b")
@example("x" * 63 + ".com")
@example("x" * 64 + ".com")
@example(".".join(["x" * 60] * 5) + ".com")
@example("müller.de")
@example("\u212aelvin.com")
@example("")
def test_domain_check_is_normalize_domain(value):
    assert _outcome(checks.normalize_domain, value) == _outcome(services.normalize_domain, value)


# --- phone --------------------------------------------------------------------------------------

TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int) and t != PhoneNumberType.UNKNOWN]
REGIONS = [None, "DE", "US", "PL", "GB", "IT", "XX"]


def _example_numbers() -> list[str]:
    """Every example number phonenumbers has, written as E.164 and international, and near misses of each."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        numbers += [phonenumbers.example_number_for_type(region, kind) for kind in TYPES]
    numbers += [
        phonenumbers.example_number_for_non_geo_entity(c) for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    texts = []
    for number in filter(None, numbers):
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        code = str(number.country_code)
        national = e164[1 + len(code) :]
        texts += [
            e164,
            phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
            f"+{code} {national}",
            f"+{code} 0{national}",  # a national prefix written after the country code
            e164[:-1],
            e164 + "1",
            e164[:-1] + str((int(e164[-1]) + 1) % 10),
        ]
    return sorted(set(texts))


EXAMPLES = _example_numbers()


def test_every_example_number_and_its_near_misses():
    assert len(EXAMPLES) > 3000
    for text in EXAMPLES:
        for region in ("DE", None):
            assert _outcome(checks.normalize_phone, text, region=region) == _outcome(
                services.normalize_phone, text, region=region
            ), text


PHONES = st.one_of(
    st.builds(
        lambda code, digits, spaced: "+" + str(code) + (" ".join(digits) if spaced else "".join(digits)),
        st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
        st.lists(st.text(alphabet=string.digits, min_size=1, max_size=5), max_size=5),
        st.booleans(),
    ),
    st.text(alphabet="+0123456789 ", max_size=24),
    st.text(alphabet="+\uff0b0123456789\u0663 -().x#;,/*~", max_size=24),  # fullwidth plus, Arabic-Indic 3
    st.text(max_size=16),
)


@PROPERTY
@given(PHONES, st.sampled_from(REGIONS))
@example("+49 30 901820", "DE")
@example("+4930901820", None)
@example("+49 030 901820", "DE")
@example("+1 212 555 0123", "US")
@example("+44 20 7946 0958", "PL")
@example("+39 06 1234 5678", "IT")
@example("+800 1234 5678", None)
@example("+49", "DE")
@example("+4", "DE")
@example("+0 123", "DE")
@example(" +49 30 901820 ", "DE")
@example("+49  30 901820", "DE")
@example("+" + "1" * 30, "DE")
def test_phone_check_is_normalize_phone(text, region):
    assert _outcome(checks.normalize_phone, text, region=region) == _outcome(
        services.normalize_phone, text, region=region
    )


def test_valid_international_numbers_take_the_fast_shape(monkeypatch):
    """Valid numbers written +<digits> are answered without phonenumbers (its parse is what costs)."""

    def no_slow_path(*args, **kwargs):
        raise AssertionError("phonenumbers was asked")

    samples = ["+49 30 901820", "+4930901820", "+1 212 555 0123", "+44 20 7946 0958", "+48 601 234 567",
               "+7 495 123 4567", "+39 06 1234 5678", "+800 1234 5678"]  # fmt: skip
    expected = {text: services.normalize_phone(text, region="DE") for text in samples}
    monkeypatch.setattr(services, "normalize_phone", no_slow_path)
    assert {text: checks.normalize_phone(text, region="DE") for text in samples} == expected


@pytest.mark.parametrize("text", ["+49 30 12", "+49 030 901820", "030 901820", "+49-30-901820", "tel:+4930901820"])
def test_other_shapes_and_invalid_numbers_go_to_phonenumbers(text):
    assert _outcome(checks.normalize_phone, text, region="DE") == _outcome(services.normalize_phone, text, region="DE")
