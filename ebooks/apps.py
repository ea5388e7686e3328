from __future__ import annotations

from django.apps import AppConfig

from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS


class EbooksConfig(AppConfig):
    name = "ebooks"
    verbose_name = "eBooks"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {
        PORTAL_ADMINS: ["view_ebook"],
        OPERATORS: ["view_ebook"],
        LICENSE_VIEWERS: ["view_ebook"],
    }
