"""Believable, deterministic demo data: teams, users per role, companies, leads, BANT answers and events."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, TypeVar

import phonenumbers
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from faker import Faker

from . import services
from .models import (
    FIRST_TOUCH_KINDS,
    AuthorityLevel,
    BudgetStatus,
    Company,
    EngagementEvent,
    EventKind,
    Industry,
    Lead,
    LeadSource,
    LeadStatus,
    NeedLevel,
    Qualification,
    Team,
    TimingWindow,
)
from .roles import Role

T = TypeVar("T")

# --- who logs in to the demo ---------------------------------------------------------------

#: The demo sales teams and their territories (ISO country codes). A team covers its countries whole.
DEMO_TEAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DACH", ("DE", "AT", "CH")),
    ("Nordics", ("SE", "NO", "DK", "FI")),
    ("UK & Ireland", ("GB", "IE")),
    ("Poland & Baltics", ("PL", "LT", "LV", "EE")),
)

# For the embedded demo only (printed by `runembedded`); never used outside a demo database.
# The role is a leads.roles.Role (its value is the group name, its label is translated).
DEMO_USERS: list[dict[str, Any]] = [
    {"username": "rep-dach", "password": "demo-rep-dach", "role": Role.SALES_REP, "team": "DACH"},
    {"username": "rep-nordics", "password": "demo-rep-nordics", "role": Role.SALES_REP, "team": "Nordics"},
    {"username": "rep-uki", "password": "demo-rep-uki", "role": Role.SALES_REP, "team": "UK & Ireland"},
    {"username": "rep-pb", "password": "demo-rep-pb", "role": Role.SALES_REP, "team": "Poland & Baltics"},
    {"username": "manager", "password": "demo-manager", "role": Role.SALES_MANAGER, "team": None},
    {"username": "marketer", "password": "demo-marketer", "role": Role.MARKETER, "team": None},
]
_DEMO_USER_NAMES = {
    "rep-dach": ("Anna", "Keller"),
    "rep-nordics": ("Erik", "Lindqvist"),
    "rep-uki": ("Siobhan", "Murphy"),
    "rep-pb": ("Tomasz", "Nowak"),
    "manager": ("Maria", "Fischer"),
    "marketer": ("Jonas", "Berg"),
}


@dataclass(frozen=True)
class SeedReport:
    """What a seeding run left in place: demo teams and users (created or found), rows created."""

    teams: int
    users: int
    companies: int
    leads: int
    events: int


# --- reference data --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Country:
    weight: float
    locale: str
    currency: str
    tld: str
    legal_forms: tuple[str, ...]
    regions: tuple[str, ...]


_COUNTRIES: dict[str, _Country] = {
    # Inside the demo territories (about 90 % of companies).
    "DE": _Country(
        20,
        "de_DE",
        "EUR",
        "de",
        ("GmbH", "GmbH", "AG", "GmbH & Co. KG", "SE"),
        ("Bavaria", "Berlin", "Hamburg", "Hesse", "North Rhine-Westphalia", "Baden-Württemberg", "Saxony"),
    ),
    "AT": _Country(5, "de_AT", "EUR", "at", ("GmbH", "AG"), ("Vienna", "Upper Austria", "Styria", "Tyrol", "Salzburg")),
    "CH": _Country(6, "de_CH", "CHF", "ch", ("AG", "GmbH", "SA"), ("Zurich", "Geneva", "Basel-Stadt", "Bern", "Zug")),
    "SE": _Country(7, "sv_SE", "SEK", "se", ("AB",), ("Stockholm County", "Västra Götaland", "Skåne", "Uppsala")),
    "NO": _Country(5, "no_NO", "NOK", "no", ("AS", "ASA"), ("Oslo", "Viken", "Vestland", "Trøndelag", "Rogaland")),
    "DK": _Country(5, "da_DK", "DKK", "dk", ("A/S", "ApS"), ("Capital Region", "Central Denmark", "Southern Denmark")),
    "FI": _Country(4, "fi_FI", "EUR", "fi", ("Oy", "Oyj"), ("Uusimaa", "Pirkanmaa", "Southwest Finland")),
    "GB": _Country(
        18,
        "en_GB",
        "GBP",
        "co.uk",
        ("Ltd", "Ltd", "plc", "LLP"),
        ("Greater London", "South East", "North West", "West Midlands", "Scotland", "Wales"),
    ),
    "IE": _Country(4, "en_IE", "EUR", "ie", ("Ltd", "DAC"), ("Dublin", "Cork", "Galway", "Limerick")),
    "PL": _Country(
        9,
        "pl_PL",
        "PLN",
        "pl",
        ("Sp. z o.o.", "Sp. z o.o.", "S.A."),
        ("Masovian", "Lesser Poland", "Lower Silesian", "Greater Poland", "Pomeranian", "Silesian"),
    ),
    "LT": _Country(2, "lt_LT", "EUR", "lt", ("UAB", "AB"), ("Vilnius County", "Kaunas County", "Klaipėda County")),
    "LV": _Country(1.5, "lv_LV", "EUR", "lv", ("SIA", "AS"), ("Riga", "Kurzeme", "Vidzeme")),
    "EE": _Country(1.5, "et_EE", "EUR", "ee", ("OÜ", "AS"), ("Harju County", "Tartu County")),
    # Outside every territory (about 10 %).
    "US": _Country(
        3.5,
        "en_US",
        "USD",
        "com",
        ("Inc.", "LLC", "Corp."),
        ("California", "New York", "Texas", "Massachusetts", "Illinois"),
    ),
    "BR": _Country(1, "pt_BR", "BRL", "com.br", ("Ltda.", "S.A."), ("São Paulo", "Rio de Janeiro", "Minas Gerais")),
    "JP": _Country(1, "ja_JP", "JPY", "co.jp", ("K.K.", "Co., Ltd."), ("Tokyo", "Osaka", "Kanagawa", "Aichi")),
    "CA": _Country(0.8, "en_CA", "CAD", "ca", ("Inc.", "Ltd."), ("Ontario", "Quebec", "British Columbia")),
    "AU": _Country(0.7, "en_AU", "AUD", "com.au", ("Pty Ltd",), ("New South Wales", "Victoria", "Queensland")),
    "FR": _Country(1, "fr_FR", "EUR", "fr", ("SAS", "SA", "SARL"), ("Île-de-France", "Auvergne-Rhône-Alpes")),
    "NL": _Country(1, "nl_NL", "EUR", "nl", ("B.V.", "N.V."), ("North Holland", "South Holland", "Utrecht")),
    "ES": _Country(0.6, "es_ES", "EUR", "es", ("S.L.", "S.A."), ("Madrid", "Catalonia", "Andalusia")),
    "IN": _Country(0.5, "en_IN", "INR", "in", ("Pvt Ltd", "Ltd"), ("Karnataka", "Maharashtra", "Delhi")),
    "SG": _Country(0.3, "en_US", "SGD", "sg", ("Pte Ltd",), ()),
}
# A few companies have no country on record (about 1 %): out of every territory.
_NO_COUNTRY_WEIGHT = 1.0
_NO_COUNTRY = _Country(0, "en_GB", "EUR", "com", ("Ltd",), ())

# Rough units of each currency per euro, so revenue and budgets look plausible.
_PER_EUR = {
    "EUR": 1.0,
    "CHF": 0.95,
    "SEK": 11.5,
    "NOK": 11.7,
    "DKK": 7.46,
    "GBP": 0.85,
    "PLN": 4.3,
    "USD": 1.08,
    "BRL": 5.9,
    "JPY": 165.0,
    "CAD": 1.47,
    "AUD": 1.65,
    "INR": 90.0,
    "SGD": 1.45,
}

_INDUSTRY_WEIGHTS = {
    Industry.SOFTWARE: 16,
    Industry.MANUFACTURING: 14,
    Industry.FINANCE: 8,
    Industry.HEALTHCARE: 7,
    Industry.RETAIL: 8,
    Industry.EDUCATION: 4,
    Industry.LOGISTICS: 7,
    Industry.ENERGY: 4,
    Industry.TELECOM: 3,
    Industry.MEDIA: 5,
    Industry.PROFESSIONAL_SERVICES: 10,
    Industry.PUBLIC_SECTOR: 3,
    Industry.REAL_ESTATE: 4,
    Industry.HOSPITALITY: 3,
    Industry.OTHER: 3,
}
# Revenue per employee in thousands of euros, and words that go into company names.
_INDUSTRY_PROFILE: dict[str, tuple[int, tuple[str, ...]]] = {
    Industry.SOFTWARE: (180, ("Software", "Systems", "Digital", "Labs", "Cloud", "Data")),
    Industry.MANUFACTURING: (220, ("Manufacturing", "Industries", "Precision", "Components", "Machines")),
    Industry.FINANCE: (350, ("Capital", "Finance", "Insurance", "Bank", "Invest")),
    Industry.HEALTHCARE: (120, ("Health", "Medical", "Care", "Pharma", "Clinics")),
    Industry.RETAIL: (200, ("Retail", "Commerce", "Stores", "Brands", "Outlet")),
    Industry.EDUCATION: (60, ("Academy", "Learning", "Education", "Institute")),
    Industry.LOGISTICS: (170, ("Logistics", "Freight", "Transport", "Cargo", "Shipping")),
    Industry.ENERGY: (450, ("Energy", "Power", "Solar", "Utilities", "Wind")),
    Industry.TELECOM: (400, ("Telecom", "Networks", "Connect", "Mobile", "Fiber")),
    Industry.MEDIA: (150, ("Media", "Studios", "Marketing", "Creative", "Agency")),
    Industry.PROFESSIONAL_SERVICES: (130, ("Consulting", "Advisory", "Legal", "Group", "Associates")),
    Industry.PUBLIC_SECTOR: (90, ("Municipal Services", "Transport Authority", "Water Board", "Digital Agency")),
    Industry.REAL_ESTATE: (250, ("Properties", "Real Estate", "Construction", "Homes", "Development")),
    Industry.HOSPITALITY: (70, ("Hotels", "Travel", "Resorts", "Hospitality", "Tours")),
    Industry.OTHER: (140, ("Group", "Holding", "Ventures", "Works")),
}
_OTHER_INDUSTRIES = ("Agriculture", "Non-profit", "Mining", "Aerospace", "Chemicals", "Sports and fitness")
_BRAND_HEADS = (
    "Nor", "Vel", "Alp", "Bal", "Kra", "Sol", "Lum", "Tri", "Ver", "Zen", "Aur", "Nex", "Hel", "Ost", "Fjor",
    "Tam", "Rhe", "Sil", "Dan", "Mar", "Bor", "Kel", "Fin", "Vik", "Arc", "Ori", "Qua", "Sky", "Ter", "Ion",
)  # fmt: skip
_BRAND_TAILS = ("ia", "ex", "on", "ara", "ico", "tek", "va", "lo", "gen", "um", "is", "ent", "ora", "ix", "eon", "ant")
_COMPETITORS = (
    "Salesforce",
    "HubSpot",
    "Pipedrive",
    "Zoho CRM",
    "Microsoft Dynamics 365",
    "Freshsales",
    "SugarCRM",
    "Close",
)
_COMPANY_NOTES = (
    "Met their team at a trade fair last year.",
    "Part of a larger group; procurement is central.",
    "Uses a spreadsheet for lead routing today.",
    "Existing customer of one of our partners.",
    "Signed an NDA during an earlier evaluation.",
    "Opening offices in two more countries this year.",
)

_FREE_MAIL = ("gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com")
_LOCAL_FREE_MAIL = {"DE": ("gmx.de", "web.de"), "AT": ("gmx.at",), "PL": ("wp.pl", "o2.pl")}

_DEPARTMENTS = (
    "Sales",
    "Marketing",
    "Operations",
    "IT",
    "Finance",
    "Procurement",
    "Revenue Operations",
    "Customer Success",
    "Business Development",
    "Product",
    "Engineering",
    "HR",
    "Supply Chain",
    "Data",
)
# Seniority tiers: (tier, weight for a small company, weight for a large one).
_TIERS = (
    ("c_level", 20, 3),
    ("vp", 2, 8),
    ("director", 6, 9),
    ("head", 10, 14),
    ("manager", 22, 26),
    ("specialist", 30, 32),
    ("intern", 4, 4),
    ("blank", 4, 4),
)
_C_TITLES = ("CEO", "CTO", "CFO", "COO", "CMO", "CIO", "CRO", "Chief Digital Officer", "Chief Revenue Officer")
_SMALL_C_TITLES = ("Founder & CEO", "Co-Founder", "Managing Director", "Owner", "CEO")
_LOCAL_TITLES = {
    "DE": {"c_level": ("Geschäftsführer",), "head": ("Leiter Vertrieb", "Leiter Marketing"), "intern": ("Praktikant",)},
    "AT": {"c_level": ("Geschäftsführer",), "head": ("Leiter Vertrieb",)},
    "CH": {"head": ("Leiter Verkauf",)},
    "PL": {"c_level": ("Prezes Zarządu",), "head": ("Dyrektor Sprzedaży",), "manager": ("Kierownik ds. Sprzedaży",)},
}

_STATUS_WEIGHTS = {
    LeadStatus.NEW: 32,
    LeadStatus.WORKING: 22,
    LeadStatus.NURTURING: 14,
    LeadStatus.QUALIFIED: 10,
    LeadStatus.DISQUALIFIED: 8,
    LeadStatus.WON: 6,
    LeadStatus.LOST: 8,
}
_LOST_REASONS = (
    "Chose a competitor",
    "No budget this year",
    "Project postponed",
    "Went silent after the demo",
    "Price too high",
    "Built it in-house",
    "Champion left the company",
)
_DISQUALIFIED_REASONS = (
    "Company too small",
    "Student, no buying role",
    "Competitor doing research",
    "Duplicate contact",
    "No longer at the company",
    "Invalid contact details",
    "Outside our sales territory",
    "Asked not to be contacted",
)
# How likely an owned lead is, per status, when its company is inside a territory.
_OWNED_SHARE = {
    LeadStatus.NEW: 0.2,
    LeadStatus.WORKING: 0.9,
    LeadStatus.NURTURING: 0.3,
    LeadStatus.QUALIFIED: 0.95,
    LeadStatus.WON: 1.0,
    LeadStatus.LOST: 1.0,
    LeadStatus.DISQUALIFIED: 0.6,
}
# BANT: how many criteria are answered (weights for 0..4) and how likely an answer is "met".
_BANT_ANSWERED = {
    LeadStatus.NEW: (75, 18, 7, 0, 0),
    LeadStatus.WORKING: (30, 25, 25, 13, 7),
    LeadStatus.NURTURING: (35, 30, 25, 10, 0),
    LeadStatus.QUALIFIED: (0, 0, 10, 35, 55),
    LeadStatus.WON: (0, 0, 0, 15, 85),
    LeadStatus.LOST: (0, 10, 25, 35, 30),
    LeadStatus.DISQUALIFIED: (25, 40, 25, 10, 0),
}
_BANT_MET = {
    LeadStatus.NEW: 0.45,
    LeadStatus.WORKING: 0.5,
    LeadStatus.NURTURING: 0.25,
    LeadStatus.QUALIFIED: 0.85,
    LeadStatus.WON: 0.92,
    LeadStatus.LOST: 0.45,
    LeadStatus.DISQUALIFIED: 0.1,
}
_AUTHORITY_BOOST = {"c_level": 0.35, "vp": 0.3, "director": 0.15, "head": 0.1, "specialist": -0.25, "intern": -0.45}
_PAINS_CLEAR = (
    "We lose track of inbound leads after every trade fair.",
    "Our reps spend half the day on leads that never buy.",
    "Marketing and sales argue every month about what a qualified lead is.",
    "Routing is done by hand in a spreadsheet and leads sit for days.",
    "We can't see which campaigns actually produce pipeline.",
    "Demo requests wait more than two days for an answer.",
    "The CRM is full of duplicates and nobody trusts the data.",
    "The board wants a forecast we can defend.",
    "We are expanding into new countries and need territory routing.",
    "Too many leads and not enough reps to call them all.",
)
_PAINS_WEAK = (
    "Might be interesting next year.",
    "Happy with the current setup, just looking around.",
    "Curious how others score their leads.",
    "Our volume is small, but it could grow.",
)
_BUDGET_NOTES = (
    "Budget approved in the annual planning.",
    "CFO signed off after the business case.",
    "Planned for the next fiscal year.",
    "Would come out of the marketing budget.",
    "Needs a second quote before purchasing releases it.",
)
_NO_BUDGET_NOTES = ("No budget until the reorganisation is done.", "Budget frozen this year.")
_AUTHORITY_NOTES = (
    "Contact is our champion; the decision sits higher up.",
    "Decides together with the board.",
    "Runs the evaluation, not the decision.",
    "Signs off on anything below the procurement threshold.",
)
_NEED_NOTES = ("Confirmed in the discovery call.", "Came up in the webinar Q&A.", "Repeated it twice on the call.")
_TIMING_NOTES = (
    "Wants to go live before the next trade fair season.",
    "Contract with the current vendor ends soon.",
    "No rush, revisit in the new year.",
    "Tied to the CRM migration project.",
)
_DECISION_MAKER_TITLES = ("CFO", "CEO", "COO", "VP Sales", "Head of IT", "Managing Director", "CRO")

_SITE = "https://www.leadqual.example"
_PAGES = (
    ("/pricing", 6),
    ("/product/scoring", 5),
    ("/product/routing", 4),
    ("/customers", 3),
    ("/integrations", 3),
    ("/blog/lead-scoring-101", 4),
    ("/blog/bant-is-not-dead", 3),
    ("/security", 2),
    ("/about", 1),
    ("/careers", 1),
)
_WEBINARS = (
    "Lead scoring that sales actually trusts",
    "BANT in practice: questions that work",
    "From MQL to SQL in 14 days",
    "Territory routing without spreadsheets",
    "Nurture programmes that convert",
    "RevOps metrics that matter",
)
_ASSETS = (
    "Whitepaper: The lead qualification playbook",
    "Checklist: BANT discovery questions",
    "Report: B2B buying committees in Europe",
    "Template: Lead scoring model",
    "Case study: Routing 10,000 leads a month",
)
_EMAIL_CAMPAIGNS = (
    ("Monthly newsletter", "What we learned from 1,000 discovery calls"),
    ("Product update", "New: scores that explain themselves"),
    ("Webinar invite", "Join us live: lead scoring that sales trusts"),
    ("Nurture track", "How top teams qualify leads"),
    ("Event follow-up", "Great to meet you at the booth"),
)
_FORMS = ("Contact us", "Pricing request", "Newsletter signup", "Ebook download")
_MEETINGS = (("Discovery call", 30), ("Product demo", 60), ("Pricing discussion", 45), ("Security review", 60))
_EVENTS = (
    "SaaStr Europa",
    "DMEXCO",
    "Slush",
    "Web Summit",
    "B2B Marketing Expo London",
    "Hannover Messe",
    "Nordic Sales Summit",
    "Infoshare Gdańsk",
)
_PARTNERS = (
    "Nordic RevOps Partners",
    "DACH Digital Consulting",
    "CloudBridge Integrators",
    "Baltic Sales Advisors",
    "Albion CRM Partners",
)
_PPC_TERMS = (
    "lead scoring software",
    "b2b crm",
    "lead qualification tool",
    "bant template",
    "lead routing software",
    "sales pipeline software",
)
_LINKEDIN_AUDIENCES = (("revops", "RevOps"), ("sales-leaders", "Sales leaders"), ("smb-founders", "SMB founders"))
_SOURCE_WEIGHTS = {
    LeadSource.WEB_FORM: 20,
    LeadSource.WEBINAR: 10,
    LeadSource.PPC: 12,
    LeadSource.LINKEDIN: 12,
    LeadSource.COLD_EMAIL: 10,
    LeadSource.REFERRAL: 6,
    LeadSource.EVENT: 8,
    LeadSource.IMPORT: 10,
    LeadSource.PARTNER: 6,
    LeadSource.OTHER: 6,
}
_HOT = (LeadStatus.WORKING, LeadStatus.QUALIFIED, LeadStatus.WON)
_SALES_STATUSES = (LeadStatus.WORKING, LeadStatus.QUALIFIED, LeadStatus.WON, LeadStatus.LOST)
# Mean number of engagement events per lead, by status (capped at 25).
_EVENTS_MEAN = {
    LeadStatus.NEW: 3,
    LeadStatus.WORKING: 6,
    LeadStatus.NURTURING: 4,
    LeadStatus.QUALIFIED: 10,
    LeadStatus.WON: 11,
    LeadStatus.LOST: 7,
    LeadStatus.DISQUALIFIED: 1.5,
}
_EVENT_WINDOW = timedelta(days=120)
_LEAD_AGE_DAYS = 240
_CHUNK = 2000

# --- small helpers -----------------------------------------------------------------------------

_TRANSLIT = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ł": "l", "Ł": "l", "đ": "d"})


def _ascii_words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text`` (diacritics dropped): for emails and domains."""
    plain = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode("ascii")
    return re.findall(r"[a-z0-9]+", plain.lower())


def _slug(text: str, sep: str = "-") -> str:
    return sep.join(_ascii_words(text))


class _Weighted:
    """A weighted choice with its cumulative weights computed once."""

    def __init__(self, weights: dict[Any, float] | Sequence[tuple[Any, float]]) -> None:
        pairs = list(weights.items()) if isinstance(weights, dict) else list(weights)
        self.values = [value for value, _w in pairs]
        self.cum = list(accumulate(w for _v, w in pairs))

    def pick(self, rng: random.Random) -> Any:
        return rng.choices(self.values, cum_weights=self.cum)[0]

    def picks_covering_all(self, rng: random.Random, n: int) -> list[Any]:
        """``n`` picks in random order; every value appears at least once when ``n`` allows."""
        picks = list(self.values) if n >= len(self.values) else []
        picks += rng.choices(self.values, cum_weights=self.cum, k=n - len(picks))
        rng.shuffle(picks)
        return picks


@contextmanager
def _explicit_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Let bulk_create keep the created_at / updated_at we set: demo history lies in the past.

    Flips auto_now / auto_now_add off on the model fields for the duration. This
    is process-wide, which is fine for a seeding command; do not seed inside a
    process that serves requests at the same time.
    """
    fields = [
        f
        for model in model_classes
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]  # type: ignore[attr-defined]
    for f in fields:
        f.auto_now = f.auto_now_add = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add  # type: ignore[attr-defined]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- teams and users ---------------------------------------------------------------------------


def ensure_demo_teams_and_users() -> tuple[dict[str, Team], dict[str, Any]]:
    """Create the demo teams and users that are missing; give every demo user its role and team.

    An existing team or user is kept as it is (its password is not reset).
    """
    teams = {}
    for name, countries in DEMO_TEAMS:
        team = Team.objects.filter(name=name).first()
        teams[name] = team or services.create_team(name=name, countries=countries)
    user_model = get_user_model()
    users = {}
    for spec in DEMO_USERS:
        user = user_model.objects.filter(username=spec["username"]).first()
        if user is None:
            first, last = _DEMO_USER_NAMES[spec["username"]]
            user = user_model.objects.create_user(
                username=spec["username"],
                email=f"{spec['username']}@leadqual.example",
                password=spec["password"],
                first_name=first,
                last_name=last,
                # Managers tune rules and segments in the admin.
                is_staff=spec["role"] == Role.SALES_MANAGER,
            )
        services.assign_role(user=user, role=spec["role"])
        if spec["team"]:
            services.set_team_membership(user=user, team=teams[spec["team"]])
        users[spec["username"]] = user
    return teams, users


# --- the generator -----------------------------------------------------------------------------


@dataclass
class _CompanyPlan:
    obj: Company
    country: str
    info: _Country
    size: int  # employees, even when employee_count is left unknown
    team: Team | None


class _DemoGenerator:
    """Draws every value from one seeded random.Random (and Faker seeded from it)."""

    def __init__(self, *, seed: int, now: datetime, teams: dict[str, Team], users: dict[str, Any]) -> None:
        # Demo data, not secrets: a seeded, reproducible generator is the point.
        self.rng = random.Random(seed)  # noqa: S311
        locales = sorted({c.locale for c in _COUNTRIES.values()} | {_NO_COUNTRY.locale})
        self.fake = Faker(locales)
        self.fake.seed_instance(self.rng.getrandbits(64))
        self.now = now
        self.window_start = now - _EVENT_WINDOW
        self.team_of_country = {code: teams[name] for name, codes in DEMO_TEAMS for code in codes}
        self.rep_of_team = {
            teams[spec["team"]].pk: users[spec["username"]] for spec in DEMO_USERS if spec["role"] == Role.SALES_REP
        }
        self.manager = users["manager"]
        self.countries = _Weighted([*((c, i.weight) for c, i in _COUNTRIES.items()), ("", _NO_COUNTRY_WEIGHT)])
        self.industries = _Weighted(_INDUSTRY_WEIGHTS)
        self.statuses = _Weighted(_STATUS_WEIGHTS)
        self.sources = _Weighted(_SOURCE_WEIGHTS)
        self.pages = _Weighted(_PAGES)
        self.used_emails: set[str] = set()
        self.used_domains: set[str] = set()
        self.used_company_names: set[str] = set()
        self._phone_templates: dict[str, list[phonenumbers.PhoneNumber]] = {}

    # -- names -------------------------------------------------------------------------------

    def person(self, locale: str) -> tuple[str, str]:
        fake = self.fake[locale]
        female = self.rng.random() < 0.45
        if locale == "ja_JP":
            first = fake.first_romanized_name_female() if female else fake.first_romanized_name_male()
            return first, fake.last_romanized_name()
        first = fake.first_name_female() if female else fake.first_name_male()
        last = fake.last_name_female() if female else fake.last_name_male()
        return first, last

    def _surname(self, locale: str) -> str:
        if locale == "ja_JP":
            return self.fake[locale].last_romanized_name()
        return self.fake[locale].last_name()

    def company_name(self, country: str, info: _Country, industry: str, region: str) -> tuple[str, str]:
        """A company name and its website domain (unique within this run)."""
        rng = self.rng
        words = _INDUSTRY_PROFILE[industry or Industry.OTHER][1]
        for _attempt in range(8):
            word = rng.choice(words)
            if industry == Industry.PUBLIC_SECTOR:
                brand = region or self.fake[info.locale].city()
                if not _ascii_words(brand):
                    brand = rng.choice(_BRAND_HEADS) + rng.choice(_BRAND_TAILS)
                name, domain_words = f"{brand} {word}", [brand, word]
            else:
                if rng.random() < 0.45:
                    brand = self._surname(info.locale)
                else:
                    brand = rng.choice(_BRAND_HEADS) + rng.choice(_BRAND_TAILS)
                legal = rng.choice(info.legal_forms)
                with_word = rng.random() < 0.65
                name = f"{brand} {word} {legal}" if with_word else f"{brand} {legal}"
                domain_words = [brand, word] if with_word and rng.random() < 0.5 else [brand]
            if name not in self.used_company_names:
                break
        self.used_company_names.add(name)
        tld = info.tld
        roll = rng.random()
        if industry == Industry.SOFTWARE and roll < 0.15:
            tld = "io"
        elif roll < 0.3:
            tld = "com"
        label = _slug(" ".join(domain_words), sep="") or "company"
        domain = f"{label}.{tld}"
        suffix = 2
        while domain in self.used_domains:
            domain = f"{label}{suffix}.{tld}"
            suffix += 1
        self.used_domains.add(domain)
        return name, services.normalize_domain(domain)

    def email(self, first: str, last: str, domain: str, *, free: bool, country: str) -> str:
        rng = self.rng
        f, last_part = _slug(first, sep="") or "info", _slug(last, sep="") or "contact"
        if free:
            domain = rng.choice(_LOCAL_FREE_MAIL.get(country, ()) + _FREE_MAIL)
            local = rng.choice((f"{f}.{last_part}", f"{f}{last_part}{rng.randint(1, 99)}", f"{f[0]}{last_part}"))
        else:
            local = rng.choices(
                (
                    f"{f}.{last_part}",
                    f"{f[0]}.{last_part}",
                    f"{f}{last_part}",
                    f"{f[0]}{last_part}",
                    f,
                    f"{f}_{last_part}",
                ),
                weights=(45, 15, 10, 15, 5, 10),
            )[0]
        email = services.normalize_email(f"{local}@{domain}")
        suffix = 2
        while email in self.used_emails:
            email = services.normalize_email(f"{local}{suffix}@{domain}")
            suffix += 1
        self.used_emails.add(email)
        return email

    def job_title(self, size: int, country: str) -> tuple[str, str]:
        """A job title and its seniority tier."""
        rng = self.rng
        small = size < 50
        tier = rng.choices([t[0] for t in _TIERS], weights=[t[1] if small else t[2] for t in _TIERS])[0]
        local = _LOCAL_TITLES.get(country, {}).get(tier)
        if local and rng.random() < 0.25:
            return rng.choice(local), tier
        dept = rng.choice(_DEPARTMENTS)
        if tier == "c_level":
            return rng.choice(_SMALL_C_TITLES if small else _C_TITLES), tier
        if tier == "vp":
            return rng.choice((f"VP {dept}", f"Vice President, {dept}", f"SVP {dept}")), tier
        if tier == "director":
            return rng.choice((f"Director of {dept}", f"{dept} Director")), tier
        if tier == "head":
            return f"Head of {dept}", tier
        if tier == "manager":
            return rng.choice((f"{dept} Manager", f"Senior {dept} Manager", f"{dept} Team Lead")), tier
        if tier == "specialist":
            return rng.choice(
                (f"{dept} Specialist", f"{dept} Analyst", f"{dept} Coordinator", f"Senior {dept} Specialist")
            ), tier
        if tier == "intern":
            return rng.choice((f"{dept} Intern", f"Working Student {dept}", "Trainee")), tier
        return "", tier

    def phone(self, country: str) -> str:
        """A valid E.164 number in ``country`` (mostly mobile), built on phonenumbers' example numbers."""
        rng = self.rng
        templates = self._phone_templates.get(country)
        if templates is None:
            templates = [
                n
                for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
                if (n := phonenumbers.example_number_for_type(country, kind)) is not None
            ]
            self._phone_templates[country] = templates
        if not templates:
            return ""
        template = templates[0] if rng.random() < 0.7 or len(templates) == 1 else templates[1]
        national = str(template.national_number)
        keep = 3 if len(national) > 8 else 2
        for _attempt in range(20):
            digits = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
            number = phonenumbers.PhoneNumber(country_code=template.country_code, national_number=int(digits))
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return phonenumbers.format_number(template, phonenumbers.PhoneNumberFormat.E164)

    # -- companies -------------------------------------------------------------------------------

    def companies(self, n: int) -> list[_CompanyPlan]:
        rng = self.rng
        industries = self.industries.picks_covering_all(rng, n)
        plans = []
        for industry in industries:
            country = self.countries.pick(rng)
            info = _COUNTRIES.get(country, _NO_COUNTRY)
            if rng.random() < 0.03:
                industry = ""  # not recorded
            region = rng.choice(info.regions) if info.regions and rng.random() < 0.85 else ""
            # Log-uniform-ish from 3 to 50,000 employees, leaning towards small firms.
            size = max(3, min(50_000, round(math.exp(rng.triangular(1.1, 10.82, 3.5)))))
            name, domain = self.company_name(country, info, industry, region)
            if rng.random() < 0.03:
                domain = ""  # no website on record
            currency = info.currency if rng.random() < 0.85 else ("EUR" if info.currency != "EUR" else "USD")
            revenue = None
            if rng.random() > 0.08:
                per_employee = _INDUSTRY_PROFILE[industry or Industry.OTHER][0] * 1000
                euros = size * per_employee * rng.lognormvariate(0, 0.45)
                revenue = Decimal(round(euros * _PER_EUR[currency], -3)).quantize(Decimal("1.00"))
            competitor = rng.random() < 0.12
            obj = Company(
                name=name,
                domain=domain,
                industry=industry,
                industry_other=rng.choice(_OTHER_INDUSTRIES) if industry == Industry.OTHER else "",
                employee_count=size if rng.random() > 0.03 else None,
                annual_revenue=revenue,
                revenue_currency=currency,
                country=country,
                region=region,
                served_by_competitor=competitor,
                competitor_name=rng.choice(_COMPETITORS) if competitor else "",
                notes=rng.choice(_COMPANY_NOTES) if rng.random() < 0.1 else "",
            )
            plans.append(_CompanyPlan(obj, country, info, size, self.team_of_country.get(country)))
        return plans

    # -- leads -------------------------------------------------------------------------------------

    def created_at(self) -> datetime:
        # More recent leads than old ones, none younger than an hour.
        age = _LEAD_AGE_DAYS * 86400 * self.rng.random() ** 1.6
        return self.now - timedelta(seconds=3600 + int(age))

    def campaign_fields(self, source: str, created: datetime, plan: _CompanyPlan | None) -> dict[str, str]:
        rng = self.rng
        month = created.strftime("%Y-%m")
        quarter = f"Q{(created.month - 1) // 3 + 1} {created.year}"
        q_slug = f"q{(created.month - 1) // 3 + 1}-{created.year}"
        area = plan.team.name if plan and plan.team else "International"
        f: dict[str, str] = {}
        if source == LeadSource.WEB_FORM:
            form = rng.choice(_FORMS)
            f["campaign"] = f"Website - {form.lower()}"
            if rng.random() < 0.35:
                f |= {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": f"newsletter-{month}"}
        elif source == LeadSource.WEBINAR:
            title = rng.choice(_WEBINARS)
            f["campaign"] = f"Webinar: {title} ({created:%b %Y})"
            medium = rng.choice((("newsletter", "email"), ("linkedin", "social"), ("partner", "referral")))
            f |= {"utm_source": medium[0], "utm_medium": medium[1], "utm_campaign": f"webinar-{_slug(title)}-{month}"}
        elif source == LeadSource.PPC:
            engine = "google" if rng.random() < 0.75 else "bing"
            term = rng.choice(_PPC_TERMS)
            f["campaign"] = f"{'Google' if engine == 'google' else 'Bing'} Ads - {term} ({area})"
            f |= {
                "utm_source": engine,
                "utm_medium": "cpc",
                "utm_campaign": f"search-{_slug(term)}-{_slug(area)}",
                "utm_term": term,
                "utm_content": rng.choice(("ad-a", "ad-b", "rsa-1", "rsa-2")),
            }
        elif source == LeadSource.LINKEDIN:
            audience, audience_label = rng.choice(_LINKEDIN_AUDIENCES)
            f["campaign"] = f"LinkedIn Lead Gen - {audience_label} {quarter}"
            f |= {
                "utm_source": "linkedin",
                "utm_medium": "paid_social" if rng.random() < 0.7 else "social",
                "utm_campaign": f"li-{audience}-{q_slug}",
                "utm_content": rng.choice(("carousel-1", "video-30s", "lead-gen-form", "single-image")),
            }
        elif source == LeadSource.COLD_EMAIL:
            industry = plan.obj.get_industry_display() if plan and plan.obj.industry else "Mixed"
            f["campaign"] = f"Outbound {quarter} - {industry}"
            f |= {
                "utm_source": rng.choice(("lemlist", "outreach", "apollo")),
                "utm_medium": "email",
                "utm_campaign": f"outbound-{_slug(industry)}-{q_slug}",
                "utm_content": f"step-{rng.randint(1, 4)}",
            }
        elif source == LeadSource.REFERRAL:
            f["campaign"] = "Customer referral programme"
            if rng.random() < 0.5:
                f |= {"utm_source": "referral", "utm_medium": "referral", "utm_campaign": "customer-referral"}
        elif source == LeadSource.EVENT:
            event = rng.choice(_EVENTS)
            f["campaign"] = f"{event} {created.year}"
            f |= {"utm_source": "event", "utm_medium": "booth-scan", "utm_campaign": _slug(f"{event} {created.year}")}
        elif source == LeadSource.IMPORT:
            f["campaign"] = rng.choice(("Trade-fair list import", "Legacy CRM migration", "Purchased list"))
        elif source == LeadSource.PARTNER:
            partner = rng.choice(_PARTNERS)
            f["campaign"] = f"Partner: {partner}"
            f |= {"utm_source": _slug(partner), "utm_medium": "partner", "utm_campaign": "partner-referral"}
        elif rng.random() < 0.3:  # other
            channel = rng.choice(("podcast", "chat", "g2"))
            f |= {"campaign": f"Other - {channel}", "utm_source": channel, "utm_medium": "referral"}
        return f

    def owner_and_team(self, status: str, plan: _CompanyPlan | None) -> tuple[Any, Team | None]:
        if plan is None or plan.team is None:
            # Outside every territory: no team; the manager handles the ones being sold to.
            return (self.manager if status in _SALES_STATUSES else None), None
        owned = self.rng.random() < _OWNED_SHARE[status]
        return (self.rep_of_team[plan.team.pk] if owned else None), plan.team

    def qualification(
        self, *, status: str, tier: str, owner: Any, created: datetime, plan: _CompanyPlan | None
    ) -> tuple[dict[str, Any], datetime]:
        """BANT answers for one lead, and the time of the last answer (created when none)."""
        rng = self.rng
        answered_count = rng.choices(range(5), weights=_BANT_ANSWERED[status])[0]
        answered = rng.sample(("budget", "authority", "need", "timing"), answered_count)
        met_p = _BANT_MET[status]
        closed = status in (LeadStatus.WON, LeadStatus.LOST, LeadStatus.DISQUALIFIED)
        currency = plan.obj.revenue_currency if plan else "EUR"
        locale = plan.info.locale if plan else "en_GB"
        size = plan.size if plan else 10
        data: dict[str, Any] = {"budget_currency": currency or "EUR"}
        last = created
        for criterion in answered:
            met = rng.random() < met_p
            if criterion == "budget":
                data["budget"] = rng.choice((BudgetStatus.PLANNED, BudgetStatus.APPROVED)) if met else BudgetStatus.NONE
                if met and rng.random() < 0.8:
                    euros = min(max(size * 120, 4000), 400_000) * rng.lognormvariate(0, 0.5)
                    amount = round(euros * _PER_EUR.get(currency, 1.0), -2)
                    data["budget_amount"] = Decimal(amount).quantize(Decimal("1.00"))
                if rng.random() < 0.5:
                    data["budget_notes"] = rng.choice(_BUDGET_NOTES if met else _NO_BUDGET_NOTES)
            elif criterion == "authority":
                p = min(0.98, max(0.02, met_p + _AUTHORITY_BOOST.get(tier, 0.0)))
                if rng.random() < p:
                    data["authority"] = AuthorityLevel.DECISION_MAKER
                else:
                    data["authority"] = rng.choice((AuthorityLevel.INFLUENCER, AuthorityLevel.INTERMEDIARY))
                    if rng.random() < 0.7:
                        first, last_name = self.person(locale)
                        data["decision_maker"] = f"{first} {last_name} ({rng.choice(_DECISION_MAKER_TITLES)})"
                if rng.random() < 0.4:
                    data["authority_notes"] = rng.choice(_AUTHORITY_NOTES)
            elif criterion == "need":
                if met:
                    data["need"], data["need_pain"] = NeedLevel.CLEAR, rng.choice(_PAINS_CLEAR)
                elif rng.random() < 0.6:
                    data["need"], data["need_pain"] = NeedLevel.WEAK, rng.choice(_PAINS_WEAK)
                else:
                    data["need"] = NeedLevel.NONE
                if rng.random() < 0.4:
                    data["need_notes"] = rng.choice(_NEED_NOTES)
            else:
                if met:
                    window = rng.choice((TimingWindow.UNDER_3_MONTHS, TimingWindow.MONTHS_3_6))
                else:
                    window = rng.choice((TimingWindow.MONTHS_6_12, TimingWindow.OVER_12_MONTHS))
                data["timing"] = window
                if rng.random() < 0.6:
                    if closed:  # decided already, after the lead came in
                        days = -rng.randint(0, max(0, (self.now - created).days))
                    else:
                        low, high = {
                            TimingWindow.UNDER_3_MONTHS: (10, 89),
                            TimingWindow.MONTHS_3_6: (90, 180),
                            TimingWindow.MONTHS_6_12: (181, 365),
                            TimingWindow.OVER_12_MONTHS: (366, 540),
                        }[window]
                        days = rng.randint(low, high)
                    data["decision_date"] = (self.now + timedelta(days=days)).date()
                if rng.random() < 0.4:
                    data["timing_notes"] = rng.choice(_TIMING_NOTES)
            at = created + timedelta(seconds=int((self.now - created).total_seconds() * rng.random()))
            data[f"{criterion}_recorded_at"] = at
            # Answers on a pool lead came in with the form; an owner recorded the rest.
            data[f"{criterion}_recorded_by"] = owner
            last = max(last, at)
        return data, last

    def events(
        self, *, status: str, source: str, owner: Any, created: datetime, campaign: str
    ) -> list[tuple[str, datetime, dict[str, Any]]]:
        rng = self.rng
        start = max(created, self.window_start)
        span = (self.now - start).total_seconds()
        result: list[tuple[str, datetime, dict[str, Any]]] = []
        # The event that brought the lead in, when it happened inside the window.
        if created >= self.window_start:
            if source == LeadSource.WEB_FORM:
                form = campaign.removeprefix("Website - ").capitalize() or "Contact us"
                result.append((EventKind.FORM_SUBMITTED, created, {"form": form, "url": f"{_SITE}/contact"}))
            elif source == LeadSource.WEBINAR:
                title = campaign.removeprefix("Webinar: ").rsplit(" (", 1)[0]
                result.append((EventKind.WEBINAR_REGISTERED, created, {"webinar": title}))
                attended = created + timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 3))
                if attended < self.now and rng.random() < 0.55:
                    minutes = rng.randint(10, 60)
                    result.append((EventKind.WEBINAR_ATTENDED, attended, {"webinar": title, "minutes": minutes}))
        n = min(25, int(rng.expovariate(1 / _EVENTS_MEAN[status])))
        selling = owner is not None and status in _SALES_STATUSES
        weights = (
            (EventKind.PAGE_VISIT, 30),
            (EventKind.EMAIL_OPEN, 24),
            (EventKind.EMAIL_CLICK, 12),
            (EventKind.CONTENT_DOWNLOAD, 7),
            (EventKind.WEBINAR_REGISTERED, 4),
            (EventKind.WEBINAR_ATTENDED, 3),
            (EventKind.FORM_SUBMITTED, 3),
            (EventKind.CALL, 10 if selling else 1),
            (EventKind.MEETING, 4 if selling else 0.2),
            (EventKind.DEMO_REQUESTED, 3 if status in _HOT else 0.5),
        )
        kinds = rng.choices([k for k, _w in weights], weights=[w for _k, w in weights], k=n)
        # Hot leads were active lately; cold ones mostly a while ago.
        power = 1.8 if status in _HOT else 0.8
        for kind in kinds:
            at = self.now - timedelta(seconds=1 + int((span - 1) * rng.random() ** power))
            # Most activity happens in office hours.
            office = at.replace(hour=rng.randint(7, 18), minute=rng.randrange(60), second=rng.randrange(60))
            if start <= office < self.now:
                at = office
            result.append((kind, at, self.event_metadata(kind)))
        return result

    def event_metadata(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        if kind == EventKind.PAGE_VISIT:
            return {"url": _SITE + self.pages.pick(rng), "seconds_on_page": rng.randint(5, 600)}
        if kind == EventKind.EMAIL_OPEN:
            campaign, subject = rng.choice(_EMAIL_CAMPAIGNS)
            return {"campaign": campaign, "subject": subject}
        if kind == EventKind.EMAIL_CLICK:
            campaign, _subject = rng.choice(_EMAIL_CAMPAIGNS)
            return {"campaign": campaign, "url": _SITE + self.pages.pick(rng)}
        if kind == EventKind.CONTENT_DOWNLOAD:
            asset = rng.choice(_ASSETS)
            return {"asset": asset, "url": f"{_SITE}/resources/{_slug(asset)}"}
        if kind == EventKind.WEBINAR_REGISTERED:
            return {"webinar": rng.choice(_WEBINARS)}
        if kind == EventKind.WEBINAR_ATTENDED:
            return {"webinar": rng.choice(_WEBINARS), "minutes": rng.randint(5, 60)}
        if kind == EventKind.FORM_SUBMITTED:
            return {"form": rng.choice(_FORMS), "url": f"{_SITE}/contact"}
        if kind == EventKind.CALL:
            outcome = rng.choices(("connected", "voicemail", "no answer"), weights=(55, 25, 20))[0]
            return {
                "direction": "outbound" if rng.random() < 0.85 else "inbound",
                "outcome": outcome,
                "minutes": rng.randint(3, 45) if outcome == "connected" else 0,
            }
        if kind == EventKind.MEETING:
            title, minutes = rng.choice(_MEETINGS)
            return {"title": title, "minutes": minutes}
        return {"url": f"{_SITE}/demo", "team_size": rng.choice(("1-5", "6-20", "21-100", "100+"))}


# --- the entry point -------------------------------------------------------------------------


def seed_demo_data(*, leads: int = 2000, seed: int = 1, now: datetime | None = None) -> SeedReport:
    """Create the demo teams and users (when missing) and ``leads`` leads with companies, BANT and events.

    Deterministic: the same ``seed`` and ``now`` give the same rows (ids aside)
    on an empty base. ``now`` defaults to the start of today (UTC), so two runs
    on one day agree. Leads are written in bulk with version 1 and no
    ``lead_changed`` signal: rescore everything in one bulk job afterwards.
    """
    if leads < 0:
        raise ValueError("leads must be zero or more")
    if now is None:
        now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic(), _explicit_timestamps(Company, Lead, EngagementEvent):
        teams, users = ensure_demo_teams_and_users()
        gen = _DemoGenerator(seed=seed, now=now, teams=teams, users=users)
        # Emails already stored stay taken (the database enforces case-insensitive uniqueness).
        gen.used_emails.update(e.lower() for e in Lead.objects.values_list("email", flat=True).iterator())
        n_companies, n_leads, n_events = _seed_companies_and_leads(gen, leads)
    return SeedReport(teams=len(teams), users=len(users), companies=n_companies, leads=n_leads, events=n_events)


def _seed_companies_and_leads(gen: _DemoGenerator, n_leads: int) -> tuple[int, int, int]:
    """Plan and insert companies, then leads with their qualification and events, chunk by chunk."""
    rng = gen.rng
    if n_leads == 0:
        return 0, 0, 0
    n_companies = max(1, round(n_leads / 3))
    plans = gen.companies(n_companies)
    # Every company gets a lead; bigger companies get more contacts. About 2 % of
    # leads come without a company (a private address, nothing else known).
    extra = n_leads - n_companies
    size_weights = list(accumulate(p.size**0.35 for p in plans))
    company_of_lead: list[int | None] = list(range(n_companies))
    company_of_lead += [
        None if rng.random() < 0.02 else rng.choices(range(n_companies), cum_weights=size_weights)[0]
        for _ in range(extra)
    ]
    rng.shuffle(company_of_lead)
    created = [gen.created_at() for _ in range(n_leads)]
    statuses = gen.statuses.picks_covering_all(rng, n_leads)
    sources = gen.sources.picks_covering_all(rng, n_leads)

    # A company appears in the CRM shortly before its first lead.
    first_seen: dict[int, datetime] = {}
    last_seen: dict[int, datetime] = {}
    for index, at in zip(company_of_lead, created, strict=True):
        if index is not None:
            first_seen[index] = min(first_seen.get(index, at), at)
            last_seen[index] = max(last_seen.get(index, at), at)
    for index, plan in enumerate(plans):
        plan.obj.created_at = first_seen[index] - timedelta(seconds=rng.randint(60, 7200))
        plan.obj.updated_at = last_seen[index]
    for chunk in _chunks([p.obj for p in plans], _CHUNK):
        Company.objects.bulk_create(chunk)

    n_events = 0
    for start in range(0, n_leads, _CHUNK):
        stop = min(start + _CHUNK, n_leads)
        lead_objs: list[Lead] = []
        pending: list[tuple[Lead, dict[str, Any], list[tuple[str, datetime, dict[str, Any]]]]] = []
        for i in range(start, stop):
            lead, qual, events = _plan_lead(
                gen,
                plan=plans[index] if (index := company_of_lead[i]) is not None else None,
                status=statuses[i],
                source=sources[i],
                created=created[i],
            )
            lead_objs.append(lead)
            pending.append((lead, qual, events))
        Lead.objects.bulk_create(lead_objs)
        Qualification.objects.bulk_create([Qualification(lead=lead, **qual) for lead, qual, _e in pending])
        event_objs = [
            EngagementEvent(lead=lead, kind=kind, occurred_at=at, metadata=meta, created_at=at)
            for lead, _q, events in pending
            for kind, at, meta in events
        ]
        EngagementEvent.objects.bulk_create(event_objs)
        n_events += len(event_objs)
    return n_companies, n_leads, n_events


def _plan_lead(
    gen: _DemoGenerator, *, plan: _CompanyPlan | None, status: str, source: str, created: datetime
) -> tuple[Lead, dict[str, Any], list[tuple[str, datetime, dict[str, Any]]]]:
    """One unsaved lead, its BANT answers and its engagement events."""
    rng = gen.rng
    locale = plan.info.locale if plan else gen.rng.choice(("en_GB", "de_DE", "sv_SE", "pl_PL"))
    country = plan.country if plan else ""
    first, last = gen.person(locale)
    free = plan is None or not plan.obj.domain or rng.random() < 0.09
    email = gen.email(first, last, plan.obj.domain if plan else "", free=free, country=country)
    title, tier = gen.job_title(plan.size if plan else 10, country)
    phone = gen.phone(country) if country and rng.random() < 0.6 else ""
    owner, team = gen.owner_and_team(status, plan)
    reason = ""
    if status == LeadStatus.LOST:
        reason = rng.choice(_LOST_REASONS)
    elif status == LeadStatus.DISQUALIFIED:
        reason = "Student, no buying role" if tier == "intern" else rng.choice(_DISQUALIFIED_REASONS)
    consent_p = 0.2 if source in (LeadSource.COLD_EMAIL, LeadSource.IMPORT) else 0.6
    consent = rng.random() < consent_p
    campaign = gen.campaign_fields(source, created, plan)
    qual, last_answer = gen.qualification(status=status, tier=tier, owner=owner, created=created, plan=plan)
    events = gen.events(
        status=status, source=source, owner=owner, created=created, campaign=campaign.get("campaign", "")
    )
    # A demo lead is created in its status (no change away from New): its first touch is its first
    # call or meeting, as leads.services would have recorded it.
    touches = [at for kind, at, _m in events if kind in FIRST_TOUCH_KINDS and at >= created]
    lead = Lead(
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        job_title=title,
        company=plan.obj if plan else None,
        source=source,
        owner=owner,
        team=team,
        status=status,
        status_reason=reason,
        do_not_contact=reason == "Asked not to be contacted" or rng.random() < 0.02,
        marketing_consent=consent,
        consent_recorded_at=created if consent else None,
        created_at=created,
        first_touched_at=min(touches, default=None),
        updated_at=max([last_answer, *(at for _k, at, _m in events)]),
        version=1,
        **{"campaign": "", **campaign},
    )
    return lead, qual, events
