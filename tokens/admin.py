"""Token pages: list with state badges, upload, renew, take control. Logic lives in services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from audit.services import Action, Outcome, audit_record
from config.admin_base import badge
from tokens import services
from tokens.forms import TakeControlForm, TokenRenewForm, TokenUploadForm
from tokens.hooks import token_actions_for, token_details, token_upload_hooks
from tokens.models import VppToken
from tokens.parsing import MAX_FILE_BYTES
from tokens.selectors import alert_emails

# The token must not show in DEBUG pages or error reports: with no names, every local of the
# view and of everything it calls (parsing, the Apple client) is hidden.
hide_locals = method_decorator(sensitive_variables())
hide_post = method_decorator(sensitive_post_parameters())
# Owned by the sync app; linked by name so this app imports nothing from it.
SYNC_NOW_URL_NAME = "admin:sync_token_sync_now"
SYNC_PERMISSION = "sync.trigger_sync"


def _totals(token: VppToken) -> str:
    books = f"{token.book_count} book{'s' if token.book_count != 1 else ''}"
    total = getattr(token, "licenses_total", None)
    if total is None:
        return books
    assigned = getattr(token, "licenses_assigned", None) or 0
    return f"{books} · {total} licenses, {assigned} assigned"


def _read_upload(upload) -> bytes:
    return upload.read(MAX_FILE_BYTES + 1)


def _audit_refused(request, action: str, token: VppToken | None, error: ValidationError) -> None:
    reason = " ".join(error.messages)[:500]  # our own sentences: never the file's content
    audit_record(
        action=action,
        request=request,
        target=token,
        outcome=Outcome.REFUSED,
        detail={"reason": reason},
    )


@admin.register(VppToken)
class VppTokenAdmin(admin.ModelAdmin):
    # What needs attention first (state, expiry, last sync), then who the token belongs to.
    # Fits 1,280 px beside the filter; the Apple ID and account type are on the token's page.
    list_display = ("name", "state_badge", "expires", "last_sync", "where")
    list_filter = ("state", "account_type")
    search_fields = ("name", "org_name", "location_name", "apple_id", "location_uid")
    fields = (
        "name",
        "apple_id",
        "account_type",
        "org_name",
        "location_name",
        "location_uid",
        "country_code",
        "store_platform",
        "state_badge",
        "state_reason",
        "foreign_holder",
        "expires",
        "claimed_at",
        "checked_at",
        "last_sync",
        "created_at",
        "renewed_at",
        "alerts_sent",
    )
    readonly_fields = tuple(f for f in fields if f != "name")
    change_form_template = "admin/tokens/vpptoken/change_form.html"

    # --- columns ----------------------------------------------------------------------

    def get_queryset(self, request):
        # Totals of the books in the token, for "last sync": one grouped read, not one per row.
        # Free books have no limit (Apple reports a huge total): counted apart, never summed.
        present = Q(ebooks__gone_at__isnull=True, ebooks__unlimited=False)
        return (
            super()
            .get_queryset(request)
            .annotate(
                licenses_total=Sum("ebooks__total_count", filter=present),
                licenses_assigned=Sum("ebooks__assigned_count", filter=present),
            )
        )

    def get_actions(self, request):
        # Actions apps above this one offer through tokens.hooks (Sync now), if the user may.
        actions = super().get_actions(request)
        for extra in token_actions_for(request.user):
            actions[extra.name] = (extra.action, extra.name, extra.description)
        return actions

    @admin.display(description="state", ordering="state")
    def state_badge(self, token: VppToken) -> str:
        return badge(label=token.get_state_display(), tone=VppToken.STATE_TONES[token.state])

    @admin.display(description="organisation / location", ordering="org_name")
    def where(self, token: VppToken) -> str:
        return format_html("{}<br><small>{}</small>", token.org_name, token.location_name)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, token: VppToken) -> str:
        days = (token.expires_at - timezone.now()).days
        left = "expired" if token.expires_at <= timezone.now() else f"{days} days left"
        return format_html("{}<br><small>{}</small>", f"{token.expires_at:%Y-%m-%d}", left)

    @admin.display(description="last sync", ordering="last_sync_at")
    def last_sync(self, token: VppToken) -> str:
        """The result first, then what the token holds now (not just the run's changes)."""
        if token.last_sync_at is None:
            return "never"
        when = f"{timezone.localtime(token.last_sync_at):%Y-%m-%d %H:%M}"
        if not token.last_sync_ok:
            return format_html(
                '{} {}<br><small class="portal-failed">{}</small><br><small>{}</small>',
                badge(label="Failed", tone="error"),
                when,
                token.last_sync_summary or "no reason recorded",
                _totals(token),
            )
        return format_html(
            "{} {}<br><small>{}</small>", badge(label="OK", tone="ok"), when, _totals(token)
        )

    @admin.display(description="held by")
    def foreign_holder(self, token: VppToken) -> str:
        if not token.is_claimed_elsewhere:
            return "Shelfkeeper (this installation)" if token.claimed_at else "—"
        holder = token.foreign_mdm_name or "?"
        return f"{holder} (id {token.foreign_mdm_id}) {token.foreign_mdm_metadata}"

    @admin.display(description="alert emails sent")
    def alerts_sent(self, token: VppToken) -> str:
        emails = alert_emails(token=token)
        if not emails:
            return "none"
        lines = []
        for email in emails:
            when = f"{timezone.localtime(email.sent_at):%Y-%m-%d %H:%M} — {email.kind_label}"
            if email.recipients:
                people = f"{email.recipients} recipient{'s' if email.recipients != 1 else ''}"
                mail = f" — email {email.mail_label.lower()}" if email.mail_label else ""
                error = f": {email.mail_error}" if email.mail_error else ""
                lines.append(format_html("{} — {}{}{}", when, people, mail, error))
            else:
                lines.append(
                    format_html(
                        '{} — <strong class="portal-failed">reached nobody: no portal admin '
                        "had an email address</strong>",
                        when,
                    )
                )
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    # --- pages ------------------------------------------------------------------------

    def get_urls(self):
        own = [
            path(
                "<int:pk>/renew/",
                self.admin_site.admin_view(self.renew_view),
                name="tokens_vpptoken_renew",
            ),
            path(
                "<int:pk>/take-control/",
                self.admin_site.admin_view(self.take_control_view),
                name="tokens_vpptoken_take_control",
            ),
        ]
        return own + super().get_urls()

    @hide_locals
    @hide_post
    def add_view(self, request, form_url="", extra_context=None):
        """Upload a token file: the only way a token comes into the portal."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TokenUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                token = services.token_import(
                    file_bytes=_read_upload(data["token_file"]),
                    apple_id=data["apple_id"],
                    account_type=data["account_type"],
                    name=data["name"],
                )
            except ValidationError as error:
                form.add_error(None, error)
                _audit_refused(request, Action.TOKEN_UPLOAD, None, error)
            else:
                self.log_addition(request, token, "Uploaded token file")
                audit_record(action=Action.TOKEN_UPLOAD, request=request, target=token)
                self._report_claim(request, token, "uploaded")
                for hook in token_upload_hooks():
                    if note := hook(request=request, token=token):
                        messages.info(request, note)
                return HttpResponseRedirect(
                    reverse("admin:tokens_vpptoken_change", args=[token.pk])
                )
        return self._render(request, "admin/tokens/vpptoken/upload.html", form, "Upload a token")

    @hide_locals
    @hide_post
    def renew_view(self, request, pk: int):
        token = get_object_or_404(VppToken, pk=pk)
        if not self.has_change_permission(request, token):
            raise PermissionDenied
        form = TokenRenewForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.token_renew(
                    token=token, file_bytes=_read_upload(form.cleaned_data["token_file"])
                )
            except ValidationError as error:
                form.add_error(None, error)
                _audit_refused(request, Action.TOKEN_RENEW, token, error)
            else:
                self.log_change(request, token, "Renewed token file")
                audit_record(action=Action.TOKEN_RENEW, request=request, target=token)
                self._report_claim(request, token, "renewed")
                return HttpResponseRedirect(
                    reverse("admin:tokens_vpptoken_change", args=[token.pk])
                )
        return self._render(
            request, "admin/tokens/vpptoken/renew.html", form, f"Renew {token}", token
        )

    @hide_locals
    def take_control_view(self, request, pk: int):
        token = get_object_or_404(VppToken, pk=pk)
        if not self.has_change_permission(request, token):
            raise PermissionDenied
        form = TakeControlForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.token_take_control(token=token)
            except ValidationError as error:
                form.add_error(None, error)
                _audit_refused(request, Action.TOKEN_TAKE_CONTROL, token, error)
            else:
                self.log_change(request, token, "Took control of the location")
                audit_record(action=Action.TOKEN_TAKE_CONTROL, request=request, target=token)
                messages.success(request, f"Shelfkeeper now manages “{token}” at Apple.")
                return HttpResponseRedirect(
                    reverse("admin:tokens_vpptoken_change", args=[token.pk])
                )
        title = f"Take control of {token}"
        return self._render(request, "admin/tokens/vpptoken/take_control.html", form, title, token)

    def delete_model(self, request, obj) -> None:
        audit_record(action=Action.TOKEN_DELETE, request=request, target=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for token in queryset:
            audit_record(action=Action.TOKEN_DELETE, request=request, target=token)
        super().delete_queryset(request, queryset)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        may_sync = request.user.has_perm(SYNC_PERMISSION)
        context = {"sync_now_url": self._sync_now_url(object_id) if may_sync else None}
        token = VppToken.objects.filter(pk=object_id).first()
        # Lines apps above this one add through tokens.hooks (Apple notifications).
        context["token_details"] = token_details(token) if token else []
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )

    def _render(self, request, template, form, title, token=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "original": token,
            "max_kb": MAX_FILE_BYTES // 1024,
        }
        return TemplateResponse(request, template, context)

    def _report_claim(self, request, token: VppToken, verb: str) -> None:
        if token.is_claimed_elsewhere:
            messages.warning(
                request,
                f"Token “{token}” {verb}, but its location is assigned to another product "
                f"({token.foreign_mdm_name or token.foreign_mdm_id}). Nothing was changed at "
                "Apple. "
                "Use Take control if Shelfkeeper should manage it.",
            )
        else:
            messages.success(request, f"Token “{token}” {verb}; Shelfkeeper manages its location.")

    @staticmethod
    def _sync_now_url(object_id) -> str | None:
        try:
            return reverse(SYNC_NOW_URL_NAME, args=[object_id])
        except NoReverseMatch:
            return None
