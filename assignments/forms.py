"""Forms for the directory import and the assign page. They check shape; services check meaning."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError

from assignments.models import GroupAssignment, UserGroup
from assignments.services import group_assignment_validate
from config.forms import SizeLimitedFileField
from ebooks.models import EBook
from ebooks.widgets import BookPickerSelect

MAX_IMPORT_BYTES = 200 * 1024 * 1024  # a 300,000-person file is about 30 MB


def _csv_too_big(size: int) -> str:
    return (
        f"The file is {size // (1024 * 1024)} MB; the limit is "
        f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB. Use `manage.py import_directory` instead."
    )


def CsvFileField(**kwargs) -> SizeLimitedFileField:
    return SizeLimitedFileField(max_bytes=MAX_IMPORT_BYTES, too_big=_csv_too_big, **kwargs)


class DirectoryImportForm(forms.Form):
    people = CsvFileField(label="people.csv", required=False)
    groups = CsvFileField(label="groups.csv", required=False)
    devices = CsvFileField(label="devices.csv", required=False)

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in ("people", "groups", "devices")):
            raise forms.ValidationError("Choose at least one CSV file to import.")
        return data


class BookField(forms.ModelChoiceField):
    def label_from_instance(self, obj: EBook) -> str:
        return obj.picker_label


class BookChoiceForm(forms.Form):
    ebook = BookField(
        label="Book",
        queryset=EBook.objects.filter(gone_at__isnull=True).select_related("token"),
        help_text="Type part of the title: each edition shows its token and the licenses left. "
        "Only books bought through Apple's volume purchase store can be assigned.",
    )

    def __init__(self, *args, admin_site=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if admin_site is not None:
            # Autocomplete, so 2,000 books never land in one <select>.
            field = self.fields["ebook"]
            field.widget = BookPickerSelect(GroupAssignment._meta.get_field("ebook"), admin_site)
            field.widget.choices = field.choices


class AssignForm(forms.Form):
    """Groups, intent, exclusions and cap; the confirmation appears once a preview was shown."""

    groups = forms.ModelMultipleChoiceField(
        label="User groups",
        queryset=UserGroup.objects.all(),
        help_text="Every active member of these groups should get the book.",
    )
    intent = forms.ChoiceField(
        choices=GroupAssignment.Intent.choices,
        widget=forms.RadioSelect,
        initial=GroupAssignment.Intent.AVAILABLE,
        help_text="Available: people can get the book from their Books app. Required: it is "
        "pushed to their devices.",
    )
    excluded_groups = forms.ModelMultipleChoiceField(
        label="Groups to exclude",
        queryset=UserGroup.objects.all(),
        required=False,
        help_text="Members of these groups get nothing from this assignment.",
    )
    cap = forms.IntegerField(
        label="Cap",
        min_value=1,
        required=False,
        help_text="Optional: at most this many licenses for this assignment (one group only). "
        "A safety limit for licenses that can never come back.",
    )
    expected = forms.IntegerField(widget=forms.HiddenInput, required=False)
    confirm = forms.BooleanField(
        required=False, label="I understand these licenses can never be taken back"
    )

    def __init__(self, *args, ebook: EBook, admin_site=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ebook = ebook
        expected = str(self.data.get("expected", "")) if self.is_bound else ""
        if expected.isdigit():
            # The preview's own number, so the admin confirms exactly what they were shown.
            self.fields[
                "confirm"
            ].label = f"I understand these {int(expected):,} licenses can never be taken back"
        if admin_site is not None:
            # Autocomplete, so 5,000 groups never land in one <select>.
            source = GroupAssignment._meta.get_field("excluded_groups")
            for name in ("groups", "excluded_groups"):
                field = self.fields[name]
                field.widget = AutocompleteSelectMultiple(source, admin_site)
                field.widget.choices = field.choices

    def clean(self):
        data = super().clean()
        if "groups" in data and "intent" in data:
            # The confirmation is asked after the preview, by the page, not here.
            try:
                group_assignment_validate(
                    ebook=self.ebook,
                    groups=data["groups"],
                    intent=data["intent"],
                    excluded_groups=data.get("excluded_groups") or [],
                    cap=data.get("cap"),
                )
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from None
        return data


class AssignmentChangeForm(forms.ModelForm):
    """The change form of an assignment: checked by the same validator as a new one."""

    class Meta:
        model = GroupAssignment
        fields = ("excluded_groups", "intent", "cap")

    def clean(self):
        data = super().clean()
        if "intent" in data:
            try:
                group_assignment_validate(
                    ebook=self.instance.ebook,
                    groups=[self.instance.group],
                    intent=data["intent"],
                    excluded_groups=data.get("excluded_groups") or [],
                    cap=data.get("cap"),
                )
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from None
        return data
