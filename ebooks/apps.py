from __future__ import annotations

from django.apps import AppConfig


class EbooksConfig(AppConfig):
    name = "ebooks"
    verbose_name = "eBooks"
    # Which of this app's permissions each role gets; see config/roles.py.
    role_permissions: dict[str, list[str]] = {}
