"""API keys page (portal admins): create, name, scope and revoke. The key is shown once."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from api import services
from api.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scope", "status", "created_by", "created_at", "last_used_at")
    list_filter = ("scope",)
    list_select_related = ("created_by",)
    search_fields = ("name", "=prefix")
    fields = ("name", "scope", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        # The scope of an existing key never changes: make a new key instead.
        return (*self.readonly_fields, "scope") if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked keys stay, so their history can be read

    @admin.display(description="status")
    def status(self, api_key: ApiKey) -> str:
        colour, label = ("#ba2121", "revoked") if api_key.revoked_at else ("#1e7e34", "active")
        return format_html('<span style="color:{}">{}</span>', colour, label)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        issued = services.api_key_create(name=obj.name, scope=obj.scope, user=request.user)
        obj.pk, obj._state = issued.api_key.pk, issued.api_key._state
        request._issued_api_key = issued.raw  # for response_add only; never stored or logged

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_issued_api_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API key created",
            "api_key": obj,
            "raw_key": raw,
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = services.api_keys_revoke(keys=queryset, user=request.user)
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)
