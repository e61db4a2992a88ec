"""factory_boy factories for test data (services are used where side effects matter)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads import services
from leads.models import Company, EngagementEvent, EventKind, Industry, Lead, LeadSource, Qualification, Team


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    countries = factory.LazyFunction(lambda: ["DE"])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw-Secret-123")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            services.assign_role(user=self, role=extracted)

    @factory.post_generation
    def team(self, create, extracted, **kwargs):
        if create and extracted:
            services.set_team_membership(user=self, team=extracted)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example.com")
    industry = Industry.SOFTWARE
    employee_count = 120
    annual_revenue = 5_000_000
    country = "DE"


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    job_title = "Head of Operations"
    company = factory.SubFactory(CompanyFactory)
    source = LeadSource.WEB_FORM

    @factory.post_generation
    def qualification(self, create, extracted, **kwargs):
        """Every lead has its BANT row; pass qualification={"budget": "approved", ...} to fill it."""
        if create:
            Qualification.objects.create(lead=self, **(extracted or {}), **kwargs)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    lead = factory.SubFactory(LeadFactory)
    kind = EventKind.EMAIL_CLICK
    occurred_at = factory.LazyFunction(timezone.now)
