"""User groups, memberships and devices. Member changes go through services (kept licenses)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from assignments import services
from assignments.admin.common import (
    INLINE_MEMBER_LIMIT,
    KEPT_NOTE,
    BoundedCountPaginator,
    ReadOnlyInline,
    count_of,
    prefix_q,
)
from assignments.admin.confirm import confirmation_response, confirmed_licenses
from assignments.models import (
    Device,
    GroupAssignment,
    Membership,
    Person,
    UserGroup,
)
from assignments.selectors import device_models, ebooks_assigned_to_groups

# --- groups and memberships ---------------------------------------------------------------

MEMBERS_ADDED = (
    "The people you are adding join a group that has books assigned, so each of them is given "
    "a license of those books — for good."
)


def _members_change(request, *, group: UserGroup, added: set[int], removed: set[int]) -> None:
    """Change a group's members; stop for the confirmation when that would use licenses."""
    with services.licenses_checked(confirmed=confirmed_licenses(request)) as meter:
        if added:
            meter.touch(ebook_ids=ebooks_assigned_to_groups(group_ids=[group.pk]))
        services.group_members_change(group=group, add_person_ids=added, remove_person_ids=removed)


class MembershipInline(admin.TabularInline):
    model = Membership
    autocomplete_fields = ("person",)
    fields = ("person", "added_at")
    readonly_fields = ("added_at",)
    extra = 1
    verbose_name_plural = "Members"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person")


class AssignedBooksInline(ReadOnlyInline):
    model = GroupAssignment
    fk_name = "group"
    verbose_name_plural = "Books assigned to this group"
    fields = ("ebook", "intent", "cap", "created_at")

    def get_queryset(self, request):
        # Each row's form reads its group (the inline's foreign key): fetch it with the row.
        return super().get_queryset(request).select_related("ebook", "group")


@admin.register(UserGroup)
class UserGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "external_id", "member_count", "assignment_count")
    search_fields = ("name", "=external_id")
    show_full_result_count = False
    list_per_page = 100
    fields = ("name", "description", "external_id", "members_summary", "created_at")
    readonly_fields = ("members_summary", "created_at")
    inlines = (MembershipInline, AssignedBooksInline)
    delete_confirmation_template = "admin/assignments/kept_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/assignments/kept_delete_selected.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.annotate(
                members_n=count_of(Membership, "group"),
                assignments_n=count_of(GroupAssignment, "group"),
            )
        return queryset

    @admin.display(description="members")
    def member_count(self, group: UserGroup) -> int:
        return group.members_n

    @admin.display(description="books assigned")
    def assignment_count(self, group: UserGroup) -> int:
        return group.assignments_n

    @admin.display(description="members")
    def members_summary(self, group: UserGroup) -> str:
        if not group.pk:
            return "—"
        count = group.memberships.count()
        people = reverse("admin:assignments_person_changelist")
        memberships = reverse("admin:assignments_membership_changelist")
        text = format_html(
            '{} member{} — <a href="{}?memberships__group__id__exact={}">see them</a>',
            f"{count:,}",
            "" if count == 1 else "s",
            people,
            group.pk,
            group.pk,
        )
        books = group.assignments.count()
        if books:
            text += format_html(
                '<p class="portal-banner portal-banner--warning" id="members-use-licenses">'
                "{} assigned to this group. A member you add here is given a license of "
                "{} for good; you will see how many licenses before anything is saved.</p>",
                f"{books:,} book{' is' if books == 1 else 's are'}",
                "it" if books == 1 else "each",
            )
        if count > INLINE_MEMBER_LIMIT:
            text += format_html(
                '. Too many to list here: add members below, remove them from <a href="{}'
                '?group__id__exact={}">the memberships list</a>.',
                memberships,
                group.pk,
            )
        return text

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if (
            isinstance(inline, MembershipInline)
            and obj is not None
            and obj.pk
            and obj.memberships.all()[: INLINE_MEMBER_LIMIT + 1].count() > INLINE_MEMBER_LIMIT
        ):
            kwargs["queryset"] = Membership.objects.none()
        return kwargs

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Fills new/changed/deleted_objects for the history message without writing anything;
        # the service does the writes so removed members keep their licenses.
        formset.save(commit=False)
        added = {m.person_id for m in formset.new_objects}
        removed = {m.person_id for m in formset.deleted_objects}
        for membership, _ in formset.changed_objects:
            added.add(membership.person_id)
            removed.add(
                Membership.objects.values_list("person_id", flat=True).get(pk=membership.pk)
            )
        _members_change(request, group=form.instance, added=added, removed=removed)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.LicensesNeedConfirmation as needed:
            return confirmation_response(request, self, needed, what=MEMBERS_ADDED)

    def delete_model(self, request, obj) -> None:
        services.user_groups_delete(groups=UserGroup.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        services.user_groups_delete(groups=queryset)

    def render_delete_form(self, request, context):
        context["kept_note"] = KEPT_NOTE
        return super().render_delete_form(request, context)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("person", "group", "added_at")
    list_select_related = ("person", "group")
    # The order of the unique (group, person) index: a group's members (the group page links
    # here) are read straight from it, where newest-first would walk past every other group.
    ordering = ("group_id", "person_id")
    autocomplete_fields = ("person", "group")
    search_fields = ("person__email",)
    search_help_text = "Member's email (exact or beginning)."
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100
    delete_confirmation_template = "admin/assignments/kept_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/assignments/kept_delete_selected.html"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        people = Person.objects.filter(Q(email=term) | prefix_q("email", term)).values("pk")
        return queryset.filter(person__in=people), False

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        return lookup in {"group__id__exact", "person__id__exact"} or super().lookup_allowed(
            lookup, value, request
        )

    def has_change_permission(self, request, obj=None) -> bool:
        # A membership is a pair: add a new one or delete it; editing one makes no sense.
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.LicensesNeedConfirmation as needed:
            return confirmation_response(request, self, needed, what=MEMBERS_ADDED)

    def save_model(self, request, obj, form, change) -> None:
        _members_change(request, group=obj.group, added={obj.person_id}, removed=set())
        obj.pk = Membership.objects.get(group=obj.group, person=obj.person).pk

    def delete_model(self, request, obj) -> None:
        services.memberships_delete(memberships=Membership.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        services.memberships_delete(memberships=queryset)

    def render_delete_form(self, request, context):
        context["kept_note"] = KEPT_NOTE
        return super().render_delete_form(request, context)


# --- devices ------------------------------------------------------------------------------


class DeviceModelFilter(admin.SimpleListFilter):
    """The model filter, its choices read along the index rather than by a full DISTINCT."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(model, model) for model in device_models()]

    def queryset(self, request, queryset):
        return queryset.filter(model=self.value()) if self.value() else queryset


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("serial_number", "name", "model", "os_version", "owner", "has_books_app")
    list_select_related = ("owner",)
    list_filter = ("has_books_app", ("owner", admin.EmptyFieldListFilter), DeviceModelFilter)
    autocomplete_fields = ("owner",)
    search_fields = ("serial_number",)
    search_help_text = "Serial number (exact), name (beginning) or owner's email (exact)."
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(serial_number=term.upper()) | prefix_q("name", term)
        if "@" in term:
            query |= Q(owner__email=term.lower())
        return queryset.filter(query), False
