"""The book picker: Django's autocomplete, asking the eBook admin's own suggestion view."""

from __future__ import annotations

from django.contrib.admin.widgets import AutocompleteSelect
from django.urls import reverse


class BookPickerSelect(AutocompleteSelect):
    """Suggestions labelled with edition, token and licenses left (ebooks_ebook_picker)."""

    def get_url(self) -> str:
        return reverse(f"{self.admin_site.name}:ebooks_ebook_picker")
