"""Forms for the token admin pages. They check shape; tokens.services checks meaning."""

from __future__ import annotations

from django import forms

from config.forms import SizeLimitedFileField
from tokens.models import VppToken
from tokens.parsing import MAX_FILE_BYTES


def _token_too_big(size: int) -> str:
    return (
        f"The file is {size // 1024} KB; a content token is under 64 KB. Check that you chose "
        "the .vpptoken file downloaded from Apple."
    )


def TokenFileField(**kwargs) -> SizeLimitedFileField:
    return SizeLimitedFileField(max_bytes=MAX_FILE_BYTES, too_big=_token_too_big, **kwargs)


class TokenUploadForm(forms.Form):
    token_file = TokenFileField(
        label="Token file",
        help_text="The .vpptoken file from Apple School Manager or Apple Business Manager "
        "(Settings → Apps and Books → Download).",
    )
    apple_id = forms.EmailField(
        label="Apple ID", help_text="The Apple ID of the account that buys the books."
    )
    account_type = forms.ChoiceField(choices=VppToken.AccountType.choices, widget=forms.RadioSelect)
    name = forms.CharField(
        required=False,
        max_length=200,
        help_text="Optional display name; the location's name is used when blank.",
    )


class TokenRenewForm(forms.Form):
    token_file = TokenFileField(
        label="Renewed token file",
        help_text="A new .vpptoken file for the same location. Books, assignments and history "
        "are kept.",
    )


class TakeControlForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that the other product will stop managing this location's licenses.",
        required=True,
    )
