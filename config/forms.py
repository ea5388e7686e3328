"""Form pieces every app uses."""

from __future__ import annotations

from collections.abc import Callable

from django import forms


class SizeLimitedFileField(forms.FileField):
    """A file field that refuses uploads over max_bytes with a message that says what to do."""

    def __init__(self, *, max_bytes: int, too_big: Callable[[int], str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_bytes = max_bytes
        self.too_big = too_big

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload and upload.size > self.max_bytes:
            raise forms.ValidationError(self.too_big(upload.size))
        return upload
