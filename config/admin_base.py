"""Admin pieces every app uses (config is below all apps, so any app may import it)."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def badge(*, label: str, tone: str) -> SafeString:
    """A coloured state pill; tones are declared with each model's choices (STATE_TONES)."""
    return format_html('<span class="portal-badge portal-badge--{}">{}</span>', tone, label)


class ReadOnlyAdminMixin:
    """What only Apple or the sync writes (books, runs, Apple's view of users): people read it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class _NoUpper(str):
    def upper(self) -> str:
        return self


class KeepCase(str):
    """A name Django's `capfirst` leaves alone: Apple writes "eBooks", never "EBooks"."""

    def __getitem__(self, index):
        part = super().__getitem__(index)
        return _NoUpper(part) if isinstance(index, int) else part

    def __str__(self) -> str:
        return self  # the template filter calls str() first; keep this class through it
