"""Typed factory-boy factories for the suite's models."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from assignments.models import (
    AppleUser,
    Device,
    GroupAssignment,
    License,
    Membership,
    Person,
    UserGroup,
)
from ebooks.models import EBook
from tokens.models import VppToken


class VppTokenFactory(DjangoModelFactory[VppToken]):
    class Meta:
        model = VppToken

    name = factory.Sequence(lambda n: f"Location {n}")
    apple_id = "books@springfield.example"
    account_type = VppToken.AccountType.EDUCATION
    org_name = "Springfield Schools"
    location_name = factory.SelfAttribute("name")
    location_uid = factory.Sequence(lambda n: f"location-{n}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=300))
    secret_ciphertext = "not-a-real-token"
    fingerprint = factory.Sequence(lambda n: f"{n:064x}")


class EBookFactory(DjangoModelFactory[EBook]):
    class Meta:
        model = EBook

    class Params:
        gone = factory.Trait(gone_at=factory.LazyFunction(timezone.now))
        free = factory.Trait(unlimited=True, total_count=0, available_count=0)

    token = factory.SubFactory(VppTokenFactory)
    adam_id = factory.Sequence(lambda n: str(1_000_000_000 + n))
    pricing_param = EBook.Pricing.STDQ
    title = factory.Sequence(lambda n: f"Book {n}")
    total_count = 100
    available_count = 100


class PersonFactory(DjangoModelFactory[Person]):
    class Meta:
        model = Person

    class Params:
        managed = factory.Trait(
            managed_apple_id=factory.LazyAttribute(lambda p: p.email.replace("@", "@appleid.", 1))
        )

    email = factory.Sequence(lambda n: f"person{n}@springfield.example")
    display_name = factory.Sequence(lambda n: f"Person {n}")


class UserGroupFactory(DjangoModelFactory[UserGroup]):
    class Meta:
        model = UserGroup
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Group {n}")

    @factory.post_generation
    def members(self, create: bool, people, **kwargs) -> None:
        if create and people:
            Membership.objects.bulk_create([Membership(group=self, person=p) for p in people])


class MembershipFactory(DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    group = factory.SubFactory(UserGroupFactory)
    person = factory.SubFactory(PersonFactory)


class DeviceFactory(DjangoModelFactory[Device]):
    class Meta:
        model = Device

    serial_number = factory.Sequence(lambda n: f"SERIAL{n:06d}")
    name = factory.Sequence(lambda n: f"iPad {n}")
    model = "iPad (10th generation)"
    owner = factory.SubFactory(PersonFactory)


class AppleUserFactory(DjangoModelFactory[AppleUser]):
    class Meta:
        model = AppleUser
        # One live Apple user per person and token, as the database insists.
        django_get_or_create = ("token", "person")

    class Params:
        joined = factory.Trait(status=AppleUser.Status.ASSOCIATED)

    token = factory.SubFactory(VppTokenFactory)
    person = factory.SubFactory(PersonFactory)
    client_user_id = factory.Sequence(lambda n: f"shelfkeeper-test-{n}")
    email = factory.LazyAttribute(lambda u: u.person.email if u.person else "")
    status = AppleUser.Status.REGISTERED


class LicenseFactory(DjangoModelFactory[License]):
    class Meta:
        model = License

    ebook = factory.SubFactory(EBookFactory)
    token = factory.SelfAttribute("ebook.token")
    person = factory.SubFactory(PersonFactory)
    apple_user = factory.SubFactory(
        AppleUserFactory,
        token=factory.SelfAttribute("..token"),
        person=factory.SelfAttribute("..person"),
    )
    state = License.State.ASSIGNED


class GroupAssignmentFactory(DjangoModelFactory[GroupAssignment]):
    class Meta:
        model = GroupAssignment

    ebook = factory.SubFactory(EBookFactory)
    group = factory.SubFactory(UserGroupFactory)
    intent = GroupAssignment.Intent.AVAILABLE
