"""Staff members: portal admins invite people, choose their role, deactivate them.

Django's own User and Group pages stay for superusers only: through them one could grant
superuser rights or change what a role may do.
"""

from __future__ import annotations

import logging
from functools import partial

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import Group, User
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.services import Action, audit_record
from config.roles import ROLES
from staff import services
from staff.forms import StaffInviteForm, StaffMemberForm
from staff.models import StaffMember
from staff.selectors import staff_members_with_roles, staff_role

logger = logging.getLogger(__name__)


class SuperusersOnly:
    """Django's stock user and group pages: superusers only."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


for model, base in ((User, UserAdmin), (Group, GroupAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, type(base.__name__, (SuperusersOnly, base), {}))


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(role, role) for role in ROLES] + [("none", "No role")]

    def queryset(self, request, queryset):
        if self.value() in ROLES:
            return queryset.filter(groups__name=self.value())
        if self.value() == "none":
            return queryset.exclude(groups__name__in=ROLES)
        return queryset


class InvitedFilter(admin.SimpleListFilter):
    title = "password"
    parameter_name = "invited"

    def lookups(self, request, model_admin):
        return (("waiting", "Invitation not accepted yet"),)

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(password__startswith=UNUSABLE_PASSWORD_PREFIX)
        return queryset


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = ("username", "full_name", "role_display", "is_active", "signed_in")
    list_filter = (RoleFilter, "is_active", InvitedFilter)
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    show_full_result_count = False
    actions = ["deactivate", "resend_invitation", "sign_in_unpause"]
    form = StaffMemberForm
    fields = ("username", "first_name", "last_name", "email", "role", "is_active", "last_login")
    readonly_fields = ("username", "last_login")

    def get_queryset(self, request):
        return staff_members_with_roles()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_superuser:
            return ("username", "first_name", "last_name", "email", "role_display", "last_login")
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is not None and obj.is_superuser:
            return ("username", "first_name", "last_name", "email", "role_display", "last_login")
        return self.fields

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False  # view only: superusers are managed outside the portal
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: what a person did stays attributed to them

    # --- columns ----------------------------------------------------------------------

    @admin.display(description="name")
    def full_name(self, member: StaffMember) -> str:
        return format_html("{}<br><small>{}</small>", member.get_full_name(), member.email)

    @admin.display(description="role")
    def role_display(self, member: StaffMember) -> str:
        if member.is_superuser:
            return "Superuser (managed outside the portal)"
        return staff_role(user=member) or "No role: cannot sign in"

    @admin.display(description="last sign-in", ordering="last_login")
    def signed_in(self, member: StaffMember) -> str:
        if getattr(member, "sign_in_paused", False):
            return "paused after wrong passwords: select and choose “Unpause sign-in”"
        if not member.has_usable_password():
            return "invited, no password chosen yet"
        return f"{member.last_login:%Y-%m-%d %H:%M}" if member.last_login else "never"

    # --- pages ------------------------------------------------------------------------

    def get_urls(self):
        own = [
            # The link in the invitation email: the person has no password yet, so no login.
            path(
                "invitation/<uidb64>/<token>/",
                InvitationAcceptView.as_view(admin_site=self.admin_site),
                name="staff_invitation_accept",
            ),
        ]
        return own + super().get_urls()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        role = staff_role(user=obj) if obj is not None else ""
        return partial(form, acting_user=request.user, role=role)

    def save_model(self, request, obj, form, change) -> None:
        obj.save()
        services.staff_role_set(member=obj, role=form.cleaned_data["role"], by=request.user)

    def add_view(self, request, form_url="", extra_context=None):
        """Invite a person by email with a role; they choose their own password."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = StaffInviteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                member = services.staff_invite(
                    **form.cleaned_data, accept_url=partial(_accept_url, request)
                )
            except ValidationError as error:
                form.add_error(None, error)
            except OSError as error:  # the mail server: the account exists, resend later
                logger.warning("Invitation email failed: %s", type(error).__name__)
                messages.warning(
                    request,
                    "The account was created but the invitation email could not be sent. "
                    "Check the mail settings, then use “Resend invitation”.",
                )
                return HttpResponseRedirect(reverse("admin:staff_staffmember_changelist"))
            else:
                self.log_addition(request, member, "Invited as " + form.cleaned_data["role"])
                messages.success(
                    request,
                    f"Invitation sent to {member.email} as {form.cleaned_data['role']}: "
                    "they choose their password from the link in the email.",
                )
                return HttpResponseRedirect(reverse("admin:staff_staffmember_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Invite a staff member",
            "form": form,
        }
        return TemplateResponse(request, "admin/staff/staffmember/invite.html", context)

    # --- actions ----------------------------------------------------------------------

    @admin.action(description="Deactivate selected staff members", permissions=["change"])
    def deactivate(self, request, queryset):
        done = 0
        for member in queryset:
            try:
                services.staff_active_set(member=member, active=False, by=request.user)
            except ValidationError as error:
                messages.error(request, f"{member}: {' '.join(error.messages)}")
            else:
                self.log_change(request, member, "Deactivated")
                done += 1
        if done:
            messages.success(request, f"{done} staff member{'s' if done != 1 else ''} deactivated.")

    @admin.action(description="Resend invitation", permissions=["change"])
    def resend_invitation(self, request, queryset):
        waiting = [m for m in queryset if not m.has_usable_password() and m.is_active]
        for member in waiting:
            services.staff_invitation_send(member=member, accept_url=partial(_accept_url, request))
        messages.success(
            request,
            f"Invitation sent again to {len(waiting)} "
            f"{'person' if len(waiting) == 1 else 'people'} who have not chosen a password.",
        )

    @admin.action(description="Unpause sign-in", permissions=["change"])
    def sign_in_unpause(self, request, queryset):
        """After too many wrong passwords a person waits out the cool-off, or a portal admin
        vouches for them here (django-axes' records for their user name are cleared)."""
        for member in queryset:
            try:
                cleared = services.staff_sign_in_unpause(member=member, by=request.user)
            except ValidationError as error:
                messages.error(request, f"{member}: {' '.join(error.messages)}")
                continue
            if cleared:
                audit_record(action=Action.SIGN_IN_UNLOCK, request=request, target=member)
                messages.success(request, f"{member} can sign in again.")
            else:
                messages.info(request, f"{member}: sign-in was not paused.")


def _accept_url(request, uidb64: str, token: str) -> str:
    return request.build_absolute_uri(
        reverse("admin:staff_invitation_accept", args=[uidb64, token])
    )


class InvitationAcceptView(PasswordResetConfirmView):
    """Choose a password from the invitation link: Django's password-reset confirmation."""

    template_name = "admin/staff/staffmember/invitation_accept.html"
    admin_site = None

    def get_success_url(self) -> str:
        return reverse("admin:login")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set. Sign in with your email address.")
        return response

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            **self.admin_site.each_context(self.request),
            "title": "Choose your password",
        }
