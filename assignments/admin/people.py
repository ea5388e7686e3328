"""People: list, search, the person page with their Apple users and licenses, import."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from assignments import services
from assignments.admin.common import (
    IMPORT_PERMISSION,
    KEPT_NOTE,
    BoundedCountPaginator,
    ReadOnlyInline,
    count_of,
    license_error,
    prefix_q,
)
from assignments.admin.confirm import CONFIRM_FIELD, confirmation_response, confirmed_licenses
from assignments.directory_import import FILES, SHOWN_ERRORS
from assignments.directory_import.runs import (
    directory_import_confirm,
    directory_import_progress,
    directory_import_request,
)
from assignments.forms import DirectoryImportForm
from assignments.models import (
    AppleUser,
    BookOffer,
    Device,
    DirectoryImport,
    InstallRequest,
    License,
    Membership,
    Person,
    UserGroup,
)
from assignments.selectors import ebooks_assigned_to_people
from audit.services import Action, audit_record

logger = logging.getLogger(__name__)

PERSON_DELETE_NOTE = (
    "People who have an Apple user or a license are deactivated and removed from their groups "
    "instead of deleted, so the same person imported again gets their licenses back."
)


class ManagedAppleIdFilter(admin.SimpleListFilter):
    title = "managed Apple ID"
    parameter_name = "managed"

    def lookups(self, request, model_admin):
        return (("yes", "Has a managed Apple ID"), ("no", "Needs an invitation"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(managed_apple_id="")
        if self.value() == "no":
            return queryset.filter(managed_apple_id="")
        return queryset


class GroupFilter(admin.SimpleListFilter):
    """People in one group, as the group page links to them (no sidebar list of 5,000 groups).

    A semi-join (person in the group's member ids) rather than a join through memberships: the
    join would make the admin add DISTINCT, which sorts every member and computes each one's
    license count before the first page is cut.
    """

    title = "group"
    parameter_name = "memberships__group__id__exact"

    def lookups(self, request, model_admin):
        group_id = _int_or_none(self.value())
        group = None if group_id is None else UserGroup.objects.filter(pk=group_id).first()
        return ((str(group.pk), group.name),) if group else ()

    def queryset(self, request, queryset):
        group_id = _int_or_none(self.value())
        if group_id is None:
            return queryset
        members = Membership.objects.filter(group_id=group_id).values("person_id")
        return queryset.filter(pk__in=members)


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class DeviceInline(ReadOnlyInline):
    model = Device
    fields = ("serial_number", "name", "model", "os_version", "has_books_app")


class AppleUserInline(ReadOnlyInline):
    model = AppleUser
    verbose_name_plural = "Apple users (one per token)"
    fields = (
        "token",
        "status",
        "managed",
        "invitation_mail",
        "invitation_sent_at",
        "invitation_error",
        "error",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("token")


class LicenseInline(ReadOnlyInline):
    model = License
    verbose_name_plural = "Book licenses"
    fields = ("ebook", "token", "state", "kept", "problem", "assigned_at")
    readonly_fields = ("problem",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ebook", "token", "apple_user")

    @admin.display(description="problem")
    def problem(self, licence: License) -> str:
        return license_error(licence) or "—"


class BookOfferInline(ReadOnlyInline):
    model = BookOffer
    verbose_name_plural = "Books offered"
    fields = ("ebook", "intent", "offered_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ebook")


class InstallRequestInline(ReadOnlyInline):
    model = InstallRequest
    fields = ("ebook", "device", "state", "device_state", "reason", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ebook", "device")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("email", "display_name", "external_id", "managed", "active", "license_count")
    list_filter = ("active", ManagedAppleIdFilter, GroupFilter)
    search_fields = ("email",)  # for the autocomplete; the search itself is get_search_results
    search_help_text = "Email or name (beginning), external id or managed Apple ID (exact)."
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100
    fields = (
        "email",
        "display_name",
        "external_id",
        "managed_apple_id",
        "active",
        "removed_at",
        "group_list",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("removed_at", "group_list", "created_at", "updated_at")
    inlines = (
        DeviceInline,
        AppleUserInline,
        LicenseInline,
        BookOfferInline,
        InstallRequestInline,
    )
    change_list_template = "admin/assignments/person/change_list.html"
    delete_confirmation_template = "admin/assignments/kept_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/assignments/kept_delete_selected.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.annotate(licenses_held=count_of(License, "person"))
        return queryset

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            query = Q(email=term.lower()) | Q(managed_apple_id=term.lower())
        else:
            query = (
                prefix_q("email", term.lower())
                | prefix_q("display_name", term)
                | prefix_q("display_name", term[:1].upper() + term[1:])
                | Q(external_id=term)
            )
        return queryset.filter(query), False

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # GroupFilter's parameter (the group page links to its members this way).
        return lookup == GroupFilter.parameter_name or super().lookup_allowed(
            lookup, value, request
        )

    @admin.display(description="managed Apple ID", boolean=True, ordering="managed_apple_id")
    def managed(self, person: Person) -> bool:
        return bool(person.managed_apple_id)

    @admin.display(description="licenses")
    def license_count(self, person: Person) -> int:
        return person.licenses_held

    @admin.display(description="groups")
    def group_list(self, person: Person) -> str:
        shown = 50
        groups = list(UserGroup.objects.filter(memberships__person=person)[: shown + 1])
        if not groups:
            return "none"
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:assignments_usergroup_change", args=[g.pk]), g.name)
                for g in groups[:shown]
            ),
        )
        return format_html("{}{}", links, " …" if len(groups) > shown else "")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.LicensesNeedConfirmation as needed:
            return confirmation_response(
                request,
                self,
                needed,
                what="Reactivating this person gives them the books their groups are assigned.",
            )

    def save_model(self, request, obj, form, change) -> None:
        obj.email = obj.email.lower()
        active_changed = change and "active" in form.changed_data
        with services.licenses_checked(confirmed=confirmed_licenses(request)) as meter:
            if active_changed and obj.active:
                meter.touch(ebook_ids=ebooks_assigned_to_people(person_ids=[obj.pk]))
            services.person_save(person=obj, active_changed=active_changed)

    def delete_model(self, request, obj) -> None:
        self._deleted(request, services.people_delete(people=Person.objects.filter(pk=obj.pk)))

    def delete_queryset(self, request, queryset) -> None:
        self._deleted(request, services.people_delete(people=queryset))

    def _deleted(self, request, counts: tuple[int, int]) -> None:
        _, deactivated = counts
        if deactivated:
            messages.warning(
                request,
                f"{deactivated:,} {'person was' if deactivated == 1 else 'people were'} "
                "deactivated, not deleted, and removed from their groups: Apple knows them and "
                "they keep their book licenses. Importing the same email again brings them back "
                "with those licenses, without buying the books twice.",
            )

    def get_urls(self):
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="assignments_person_import",
            ),
            path(
                "import/<int:pk>/",
                self.admin_site.admin_view(self.import_run_view),
                name="assignments_person_import_run",
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        context = {"can_import": request.user.has_perm(IMPORT_PERMISSION)}
        return super().changelist_view(request, {**(extra_context or {}), **context})

    def render_delete_form(self, request, context):
        context["kept_note"] = f"{KEPT_NOTE} {PERSON_DELETE_NOTE}"
        return super().render_delete_form(request, context)

    def import_view(self, request):
        """Upload people.csv, groups.csv and devices.csv; the import runs as a task."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = DirectoryImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            run = directory_import_request(uploads=form.cleaned_data, user=request.user)
            audit_record(
                action=Action.DIRECTORY_IMPORT,
                request=request,
                target=run,
                detail={"files": sorted(n for n, f in form.cleaned_data.items() if f)},
            )
            return HttpResponseRedirect(
                reverse("admin:assignments_person_import_run", args=[run.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import the directory",
            "form": form,
            "files": FILES,
            "recent": DirectoryImport.objects.order_by("-created_at")[:5],
        }
        return TemplateResponse(request, "admin/assignments/person/import.html", context)

    def import_run_view(self, request, pk: int):
        """An import's progress and outcome; the confirmation when it would use licenses."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        run = get_object_or_404(DirectoryImport, pk=pk)
        if request.method == "POST":
            count = confirmed_licenses(request)
            if count is not None and directory_import_confirm(
                run=run, count=count, user=request.user.pk
            ):
                audit_record(
                    action=Action.DIRECTORY_IMPORT,
                    request=request,
                    target=run,
                    detail={"confirmed_licenses": count},
                )
                return HttpResponseRedirect(request.path)
            messages.error(
                request, "Tick the box to confirm that these licenses can never be taken back."
            )
        done, total = directory_import_progress(run=run)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Directory import {run.pk}",
            "run": run,
            "done": done,
            "total": total,
            "percent": 100 if not total else done * 100 // total,
            "shown_errors": SHOWN_ERRORS,
            "confirm_field": CONFIRM_FIELD,
        }
        return TemplateResponse(request, "admin/assignments/person/import_run.html", context)
