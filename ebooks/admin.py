"""The eBook catalogue, read-only: books come only from Apple (rule 5)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.cache import cache_control

from config.admin_base import ReadOnlyAdminMixin
from ebooks.models import EBook
from ebooks.selectors import ebook_stock_q
from ebooks.services import ebook_cover

# Owned by the assignments app; linked by name so this app imports nothing above it.
ASSIGN_URL_NAME = "admin:assignments_assign_book"
ASSIGN_PERMISSION = "assignments.add_groupassignment"


class BookPickerView(AutocompleteJsonView):
    """The book picker's suggestions: books still in a token, labelled so copies differ."""

    def get_queryset(self):
        return super().get_queryset().filter(gone_at__isnull=True).select_related("token")

    def serialize_result(self, obj, to_field_name):
        return {**super().serialize_result(obj, to_field_name), "text": obj.picker_label}


class GoneFilter(admin.SimpleListFilter):
    title = "in the token"
    parameter_name = "present"

    def lookups(self, request, model_admin):
        return (("yes", "In the token"), ("no", "No longer in the token"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(gone_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(gone_at__isnull=False)
        return queryset


def _reverse_exists(name: str, **lookups) -> Exists:
    """EXISTS over a model that points at the book, reached by its reverse name.

    The assignments app sits above this one, so its models are found through the relation
    rather than imported; EXISTS rather than a join, so no DISTINCT over the catalogue.
    """
    related = EBook._meta.get_field(name).related_model
    return Exists(related.objects.filter(ebook=OuterRef("pk"), **lookups))


class StockFilter(admin.SimpleListFilter):
    title = "licenses left"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return (
            ("none", "None left"),
            ("low", "Running low"),
            ("plenty", "Plenty"),
        )

    def queryset(self, request, queryset):
        if self.value() in {"none", "low", "plenty"}:
            return queryset.filter(ebook_stock_q(level=self.value()))
        return queryset


class AssignedFilter(admin.SimpleListFilter):
    title = "assigned to a group"
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return (("yes", "Assigned"), ("no", "Not assigned"))

    def queryset(self, request, queryset):
        if self.value() in {"yes", "no"}:
            assigned = _reverse_exists("group_assignments")
            return queryset.filter(assigned if self.value() == "yes" else ~assigned)
        return queryset


class WaitingFilter(admin.SimpleListFilter):
    title = "people short of a license"
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return (("yes", "People waiting (shortfall)"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(_reverse_exists("licenses", state="not_enough"))
        return queryset


@admin.register(EBook)
class EBookAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The counts people come for sit next to the title; where the book comes from follows.
    list_display = (
        "cover_thumbnail",
        "title_display",
        "author",
        "total_display",
        "assigned_display",
        "available_display",
        "holders_link",
        "pricing_param",
        "token",
        "last_synced_at",
    )
    list_display_links = ("cover_thumbnail", "title_display")
    list_filter = ("token", "pricing_param", GoneFilter, StockFilter, AssignedFilter, WaitingFilter)
    list_select_related = ("token",)
    search_fields = ("title", "author", "=adam_id")
    show_full_result_count = False
    list_per_page = 50
    change_form_template = "admin/ebooks/ebook/change_form.html"
    fields = (
        "cover_large",
        "title",
        "author",
        "genres",
        "description",
        "adam_id",
        "pricing_param",
        "token",
        "total_display",
        "assigned_display",
        "available_display",
        "retired_count",
        "last_synced_at",
        "gone_at",
        "metadata_fetched_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The cover bytes stay in the database; list pages fetch them through the cover view.
        return super().get_queryset(request).defer("cover", "description")

    @admin.display(description="")
    def cover_thumbnail(self, book: EBook) -> str:
        return format_html(
            '<img class="ebook-cover" src="{}" alt="" loading="lazy">', self._cover_url(book)
        )

    @admin.display(description="cover")
    def cover_large(self, book: EBook) -> str:
        return format_html(
            '<img class="ebook-cover ebook-cover--large" src="{}" alt="Cover of {}">',
            self._cover_url(book),
            book.title or book.adam_id,
        )

    @admin.display(description="title", ordering="title")
    def title_display(self, book: EBook) -> str:
        title = book.title or f"Book {book.adam_id} (title not loaded yet)"
        if book.gone_at:
            return format_html("{} <small>(no longer in the token)</small>", title)
        return title

    @admin.display(description="total", ordering="total_count")
    def total_display(self, book: EBook) -> str:
        return "unlimited" if book.unlimited else str(book.total_count)

    @admin.display(description="assigned", ordering="assigned_count")
    def assigned_display(self, book: EBook) -> int:
        return book.assigned_count

    @admin.display(description="holders")
    def holders_link(self, book: EBook) -> str:
        # The license list is the assignments app's; linked by name, filtered to this book.
        return format_html(
            '<a href="{}?ebook__id__exact={}&amp;state__in=assigned,pending">holders</a>',
            reverse("admin:assignments_license_changelist"),
            book.pk,
        )

    @admin.display(description="available", ordering="available_count")
    def available_display(self, book: EBook) -> str:
        return "unlimited" if book.unlimited else str(book.available_count)

    def get_urls(self):
        cover = path(
            "<int:pk>/cover/",
            self.admin_site.admin_view(self.cover_view),
            name="ebooks_ebook_cover",
        )
        picker = path(
            "picker/",
            self.admin_site.admin_view(BookPickerView.as_view(admin_site=self.admin_site)),
            name="ebooks_ebook_picker",
        )
        return [cover, picker, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        assign_url = None
        # Only people who may assign see the button (the assign page refuses the others).
        if request.user.has_perm(ASSIGN_PERMISSION):
            try:
                assign_url = reverse(ASSIGN_URL_NAME, args=[object_id])
            except NoReverseMatch:
                assign_url = None
        context = {"assign_url": assign_url}
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )

    @staticmethod
    def _cover_url(book: EBook) -> str:
        return reverse("admin:ebooks_ebook_cover", args=[book.pk])

    @method_decorator(cache_control(private=True, max_age=86400))
    def cover_view(self, request, pk: int):
        """The cover image, served by the portal (fetched from the store once, then kept)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        book = get_object_or_404(
            EBook.objects.only("pk", "cover", "cover_type", "artwork_url"), pk=pk
        )
        cover = ebook_cover(ebook=book)
        if cover is None:
            raise Http404("No cover for this book yet.")
        data, content_type = cover
        response = HttpResponse(data, content_type=content_type)
        # Pixels only, whatever the bytes claim: never rendered as a page of our origin.
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Last-Modified"] = timezone.now().strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response
