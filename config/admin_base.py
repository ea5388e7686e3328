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


# --- only declared filters from the query string (defect 11) --------------------------------

# Lookup terms the admin's own filters produce; never regex, contains or other costly ones.
FILTER_TERMS = {
    *("exact", "iexact", "isnull", "isempty", "in", "gt", "gte", "lt", "lte"),
    *("year", "month", "day"),
}
RELATED_KEYS = {"id", "pk"}


def _declared_filters(model_admin, request) -> tuple[set[str], set[str]]:
    """(field paths, plain parameter names) the admin declares in list_filter/date_hierarchy."""
    from django.contrib.admin.filters import SimpleListFilter

    fields: set[str] = {model_admin.date_hierarchy} if model_admin.date_hierarchy else set()
    names: set[str] = set()
    declared = model_admin.get_list_filter(request) if request is not None else ()
    for item in declared or model_admin.list_filter:
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            names.add(item.parameter_name)
        elif isinstance(item, list | tuple):
            fields.add(item[0])
        else:
            fields.add(item)
    return fields, names


def lookup_allowed_strict(original):
    """Wrap ModelAdmin.lookup_allowed: a URL may only use the filters the admin declares.

    Django allows any lookup on a local field (`?email__regex=(a+)+$` ran a regex over every
    row); here a parameter must be a declared filter's own (field path plus the terms the
    filter widgets use), a SimpleListFilter's parameter, or a raw-id popup's limit_choices_to.
    """

    def lookup_allowed(self, lookup, value, request=None):
        from django.contrib.admin import widgets

        for fk_lookup in self.model._meta.related_fkey_lookups:
            fk_lookup = fk_lookup() if callable(fk_lookup) else fk_lookup
            if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
                return True
        fields, names = _declared_filters(self, request)
        if lookup in names:
            return True
        for path in fields:
            rest = lookup.removeprefix(path)
            if rest == lookup:
                continue
            terms = rest.split("__")[1:] if rest.startswith("__") else None
            if rest == "" or (terms and all(t in FILTER_TERMS | RELATED_KEYS for t in terms)):
                return original(self, lookup, value, request)
        return False

    lookup_allowed.strict = True
    return lookup_allowed


def admin_lookups_restrict() -> None:
    """Install the strict lookup check on every ModelAdmin (subclasses calling super() too)."""
    from django.contrib.admin import ModelAdmin

    if not getattr(ModelAdmin.lookup_allowed, "strict", False):
        ModelAdmin.lookup_allowed = lookup_allowed_strict(ModelAdmin.lookup_allowed)
