"""Assign a book to a user group from the command line: the admin's preview, then --yes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assignments.models import GroupAssignment, UserGroup
from assignments.selectors import assignment_preview
from assignments.services import group_assignment_create, group_assignment_validate
from ebooks.models import EBook


class Command(BaseCommand):
    help = (
        "Assign a book to a user group as Available or Required. Prints how many licenses the "
        "assignment will use for good; book licenses can never be taken back, so nothing is "
        "saved without --yes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--adam-id", required=True, help="the book's Apple id (adamId)")
        parser.add_argument("--pricing", choices=EBook.Pricing.values, help="edition, if both")
        parser.add_argument("--token", type=int, help="token id, when several tokens own it")
        parser.add_argument("--group", required=True, help="user group name")
        parser.add_argument("--intent", required=True, choices=GroupAssignment.Intent.values)
        parser.add_argument("--cap", type=int, help="at most this many licenses")
        parser.add_argument(
            "--yes", action="store_true", help="I understand these licenses can never be taken back"
        )

    def handle(self, *args, adam_id, pricing, token, group, intent, cap, yes, **options):
        ebook = self._ebook(adam_id=adam_id, pricing=pricing, token=token)
        try:
            user_group = UserGroup.objects.get(name=group)
        except UserGroup.DoesNotExist:
            raise CommandError(f"No user group is named “{group}”.") from None
        try:
            group_assignment_validate(ebook=ebook, groups=[user_group], intent=intent, cap=cap)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        preview = assignment_preview(ebook=ebook, groups=[user_group], cap=cap)
        self.stdout.write(f"Book: {ebook} (adamId {ebook.adam_id}, token “{ebook.token}”)")
        self.stdout.write(f"Group: {user_group.name} — intent {intent}")
        for line in preview.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(
            f"Book licenses can never be reclaimed: this uses {preview.will_consume} for good."
        )
        if not yes:
            self.stdout.write("Nothing saved. Run again with --yes to assign.")
            return
        try:
            group_assignment_create(
                ebook=ebook,
                groups=[user_group],
                intent=intent,
                cap=cap,
                confirmed_irrevocable=True,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write("Assigned. Licenses are handed out by the reconciler.")

    @staticmethod
    def _ebook(*, adam_id: str, pricing: str | None, token: int | None) -> EBook:
        books = EBook.objects.select_related("token").filter(adam_id=adam_id)
        if pricing:
            books = books.filter(pricing_param=pricing)
        if token is not None:
            books = books.filter(token_id=token)
        found = list(books[:20])
        if not found:
            raise CommandError(f"No book with adamId {adam_id} matches; check --pricing/--token.")
        if len({book.token_id for book in found}) > 1:
            tokens = ", ".join(f"{b.token_id} ({b.token})" for b in found)
            raise CommandError(
                f"Book {adam_id} is in several tokens: {tokens}. Choose one with --token ID."
            )
        if len(found) > 1:
            raise CommandError(
                f"Book {adam_id} has several editions; choose one with --pricing STDQ or PLUS."
            )
        return found[0]
