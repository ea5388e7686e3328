"""Cursor pagination: constant cost per page however deep, so a million licenses can be walked."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    ordering = "pk"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        # DRF's request, view and response refer to each other, so a page lives until the
        # garbage collector's rare full pass; let go of the rows once the JSON is written.
        self.page = None
        response.add_post_render_callback(_drop_data)
        return response


def _drop_data(response) -> None:
    response.data = None


class IdOrderCursorPagination(IdCursorPagination):
    """The same cursor over .values() rows, which carry "id" rather than "pk"."""

    ordering = "id"


class ReleasedResponseMixin:
    """A view that does not keep its response: DRF sets view.response, and the response's
    renderer context points back at the view, a cycle only a full GC pass frees; a million
    rows walked page by page would otherwise pile up their JSON until then."""

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        self.response = None
        return response
