"""Request cleaning every view gets."""

from __future__ import annotations

from django.http import QueryDict

NUL = "\x00"


class NulCleaningMiddleware:
    """Drop NUL characters from the query string before any view sees it.

    PostgreSQL refuses NUL in text, so `?term=%00` in the admin's autocomplete or search turned
    into a 500. Form fields already refuse NUL (Django's ProhibitNullCharactersValidator).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or NUL in query:
            cleaned = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                cleaned.setlist(key.replace(NUL, ""), [v.replace(NUL, "") for v in values])
            cleaned._mutable = False
            request.GET = cleaned
        return self.get_response(request)
