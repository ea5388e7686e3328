"""Group assignments: the assign page with its irrevocability preview, removal that keeps."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from assignments import services
from assignments.admin.common import (
    KEPT_NOTE,
    NO_DEVICES_NOTE,
    prefix_q,
)
from assignments.admin.confirm import confirmation_response, confirmed_licenses
from assignments.forms import AssignForm, AssignmentChangeForm, BookChoiceForm
from assignments.models import (
    GroupAssignment,
)
from assignments.selectors import assignment_preview
from audit.services import Action, audit_record
from ebooks.models import EBook


class GroupNameFilter(admin.SimpleListFilter):
    """Groups by the beginning of their name: a box, not a sidebar link per assigned group."""

    title = "group"
    parameter_name = "group_name"
    template = "admin/assignments/name_prefix_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        term = (self.value() or "").strip()
        return queryset.filter(prefix_q("group__name", term)) if term else queryset

    def choices(self, changelist):
        kept = [
            (name, value)
            for name, values in changelist.get_filters_params().items()
            if name != self.parameter_name
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "kept": kept,
            "parameter": self.parameter_name,
            "value": self.value() or "",
            "placeholder": "name begins with…",
        }


@admin.register(GroupAssignment)
class GroupAssignmentAdmin(admin.ModelAdmin):
    list_display = ("ebook", "token", "group", "intent", "cap", "created_by", "created_at")
    list_select_related = ("ebook__token", "group", "created_by")
    list_filter = ("intent", GroupNameFilter, "ebook__token")
    search_fields = ("ebook__title", "group__name", "=ebook__adam_id")
    show_full_result_count = False
    list_per_page = 100
    fields = ("ebook", "group", "excluded_groups", "intent", "cap", "created_by", "created_at")
    readonly_fields = ("ebook", "group", "created_by", "created_at")
    autocomplete_fields = ("excluded_groups",)
    form = AssignmentChangeForm
    delete_confirmation_template = "admin/assignments/kept_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/assignments/kept_delete_selected.html"

    @admin.display(description="token", ordering="ebook__token__name")
    def token(self, assignment: GroupAssignment) -> str:
        return assignment.ebook.token.name

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # Pages of a book and of a group link to their assignments this way.
        return lookup in {"ebook__id__exact", "group__id__exact"} or super().lookup_allowed(
            lookup, value, request
        )

    def get_urls(self):
        own = [
            path(
                "assign/",
                self.admin_site.admin_view(self.choose_book_view),
                name="assignments_assign_choose",
            ),
            path(
                "assign/<int:ebook_pk>/",
                self.admin_site.admin_view(self.assign_view),
                name="assignments_assign_book",
            ),
        ]
        return own + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        # Assigning always starts from a book and goes through the preview.
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:assignments_assign_choose"))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.LicensesNeedConfirmation as needed:
            return confirmation_response(
                request,
                self,
                needed,
                what="You changed who gets this book or how: here is what the assignment does "
                "once saved.",
            )

    def save_model(self, request, obj, form, change) -> None:
        pass  # saved with its exclusions in save_related, through the service

    def save_related(self, request, form, formsets, change) -> None:
        assignment, data = form.instance, form.cleaned_data
        excluded = list(data["excluded_groups"])
        if {"intent", "cap", "excluded_groups"} & set(form.changed_data):
            # The same preview and confirmation as a new assignment: nothing is saved before.
            preview = assignment_preview(
                ebook=assignment.ebook,
                groups=[assignment.group],
                excluded_groups=excluded,
                cap=data["cap"],
            )
            if confirmed_licenses(request) != preview.will_consume:
                raise services.LicensesNeedConfirmation(
                    count=preview.will_consume, lines=preview.lines()
                )
        services.group_assignment_update(
            assignment=assignment,
            intent=data["intent"],
            cap=data["cap"],
            excluded_groups=excluded,
            confirmed_irrevocable=True,
            user=request.user,
        )
        audit_record(action=Action.ASSIGNMENT_EDIT, request=request, target=assignment)

    def delete_model(self, request, obj) -> None:
        audit_record(action=Action.ASSIGNMENT_DELETE, request=request, target=obj)
        services.group_assignment_remove(assignment=obj, user=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for assignment in queryset.select_related("ebook"):
            audit_record(action=Action.ASSIGNMENT_DELETE, request=request, target=assignment)
            services.group_assignment_remove(assignment=assignment, user=request.user)

    def render_delete_form(self, request, context):
        context["kept_note"] = KEPT_NOTE
        return super().render_delete_form(request, context)

    def choose_book_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BookChoiceForm(request.GET or None, admin_site=self.admin_site)
        if form.is_valid():
            return HttpResponseRedirect(
                reverse("admin:assignments_assign_book", args=[form.cleaned_data["ebook"].pk])
            )
        return self._render(request, "admin/assignments/groupassignment/choose_book.html", form)

    def assign_view(self, request, ebook_pk: int):
        """Choose groups and intent, see the preview, confirm irrevocability, assign."""
        ebook = get_object_or_404(EBook.objects.select_related("token"), pk=ebook_pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AssignForm(request.POST or None, ebook=ebook, admin_site=self.admin_site)
        preview = None
        gone = ebook.gone_at is not None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            preview = assignment_preview(
                ebook=ebook,
                groups=data["groups"],
                excluded_groups=data["excluded_groups"],
                cap=data["cap"],
            )
            wants_assign = "_assign" in request.POST
            if wants_assign and data["confirm"] and data["expected"] == preview.will_consume:
                try:
                    assignments = services.group_assignment_create(
                        ebook=ebook,
                        groups=data["groups"],
                        intent=data["intent"],
                        excluded_groups=data["excluded_groups"],
                        cap=data["cap"],
                        confirmed_irrevocable=True,
                        user=request.user,
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    for assignment in assignments:
                        self.log_addition(request, assignment, "Assigned after the preview")
                        audit_record(action=Action.ASSIGNMENT_CREATE, target=assignment)
                    messages.success(
                        request,
                        f"“{ebook}” assigned to {', '.join(g.name for g in data['groups'])} "
                        f"({dict(GroupAssignment.Intent.choices)[data['intent']]}). Licenses are "
                        "handed out in the background.",
                    )
                    changelist = reverse("admin:assignments_groupassignment_changelist")
                    return HttpResponseRedirect(f"{changelist}?ebook__id__exact={ebook.pk}")
            else:
                # Show (again) the preview with a fresh, unticked confirmation for its numbers.
                fresh = request.POST.copy()
                fresh["expected"] = str(preview.will_consume)
                fresh.pop("confirm", None)
                form = AssignForm(fresh, ebook=ebook, admin_site=self.admin_site)
                form.is_valid()
                if wants_assign:
                    form.add_error(
                        "confirm",
                        "The numbers changed since the preview; check them and confirm again."
                        if data["confirm"]
                        else "Tick the box to confirm that these licenses can never be taken back.",
                    )
        return self._render(
            request,
            "admin/assignments/groupassignment/assign.html",
            form,
            ebook=ebook,
            preview=preview,
            gone_message=(
                f"“{ebook}” is no longer in its token (moved or refunded); it cannot be assigned."
                if gone
                else ""
            ),
            no_devices_note=NO_DEVICES_NOTE,
            title=f"Assign “{ebook}” to groups",
        )

    def _render(self, request, template, form, title="Assign a book", **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "media": self.media + form.media,
            **extra,
        }
        return TemplateResponse(request, template, context)
