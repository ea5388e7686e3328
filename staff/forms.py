"""Forms of the Staff members page and the portal's sign-in."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS
from staff.models import StaffMember
from staff.services import staff_change_check

ROLE_CHOICES = [
    (PORTAL_ADMINS, "Portal admin — tokens, assignments, directory and staff members"),
    (OPERATORS, "Operator — Sync now and sync runs; reads everything"),
    (LICENSE_VIEWERS, "License viewer — dashboards and CSV exports; reads everything"),
]


class PortalLoginForm(AdminAuthenticationForm):
    """The admin's sign-in, with a message that says what is wrong for a person with no role."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "The username or password is not right. Both are case-sensitive.",
    }

    def confirm_login_allowed(self, user) -> None:
        if user.is_active and not user.is_staff:
            raise ValidationError(
                "Your password is right, but your account has no role in Shelfkeeper yet. "
                "Ask a portal admin to give you one on the Staff members page.",
                code="no_role",
            )
        super().confirm_login_allowed(user)


class StaffInviteForm(forms.Form):
    email = forms.EmailField(help_text="They get an email with a link to choose a password.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)


class StaffMemberForm(forms.ModelForm):
    """Name, email, role and active: never superuser rights, permissions or groups directly."""

    role = forms.ChoiceField(choices=ROLE_CHOICES, widget=forms.RadioSelect)

    class Meta:
        model = StaffMember
        fields = ("first_name", "last_name", "email", "is_active")

    def __init__(self, *args, acting_user=None, role: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.acting_user = acting_user
        if "email" not in self.fields:
            return  # a superuser's page: read-only, no fields to set up
        self.fields["role"].initial = role
        self.fields["email"].required = True
        active = self.fields["is_active"]
        active.help_text = "Untick to stop this person signing in. Nothing they did is deleted."

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        others = StaffMember.objects.exclude(pk=self.instance.pk).filter(email__iexact=email)
        if others.exists():
            raise ValidationError("Another account already has this email address.")
        return email

    def clean(self):
        data = super().clean()
        if "role" in data and self.acting_user is not None:
            staff_change_check(
                member=self.instance,
                role=data["role"],
                active=data.get("is_active", self.instance.is_active),
                by=self.acting_user,
            )
        return data
