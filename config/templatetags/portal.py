"""Template tags of the portal's own pages."""

from __future__ import annotations

from django import template

register = template.Library()

# The menu row: what people come for first, then the directory, then history and settings.
MENU_ORDER = (
    "tokens.vpptoken",
    "ebooks.ebook",
    "assignments.groupassignment",
    "assignments.person",
    "assignments.usergroup",
    "assignments.license",
    "sync.syncrun",
    "sync.reconcilerun",
    "assignments.appleuser",
    "assignments.device",
    "assignments.installrequest",
    "assignments.membership",
)


@register.simple_tag
def portal_menu(available_apps) -> list[dict]:
    """The models of the admin's app list, in the order people use them (the rest after)."""
    models = [
        (f"{app['app_label']}.{model['object_name'].lower()}", model)
        for app in available_apps or ()
        for model in app["models"]
        if model.get("admin_url")
    ]
    rank = {key: index for index, key in enumerate(MENU_ORDER)}
    models.sort(key=lambda pair: (rank.get(pair[0], len(rank)), str(pair[1]["name"]).lower()))
    return [model for _, model in models]
