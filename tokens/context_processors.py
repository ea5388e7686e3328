"""Template context for every admin page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from tokens.selectors import token_banners


def token_banner_context(request) -> dict:
    """`token_banners`, computed only when a template shows them."""
    return {"token_banners": SimpleLazyObject(lambda: token_banners(request.user))}
