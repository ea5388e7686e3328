"""Book covers cannot run script or reach inside our network; bad bytes in store metadata never
stop a sync."""

from __future__ import annotations

import io
import socket

import pytest
import responses
from django.urls import reverse
from PIL import Image

from ebooks.models import EBook
from ebooks.services import artwork_url_allowed, cover_reencode, ebook_cover
from tests.factories import EBookFactory

pytestmark = pytest.mark.django_db
APPLE_ART = "https://is1-ssl.mzstatic.com/image/thumb/cover/600x600bb.png"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/admin/")</script>'
    b'<rect width="10" height="10"/></svg>'
)


def _png(**kwargs) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 18), (200, 30, 30)).save(out, format="PNG", **kwargs)
    return out.getvalue()


@pytest.fixture
def public_dns(monkeypatch):
    """Apple's artwork host resolves to a public address (no network in tests)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host.endswith("mzstatic.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("17.253.1.1", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@responses.activate
def test_an_svg_cover_with_script_is_never_stored_or_served(public_dns, portal_admin_client):
    responses.get(APPLE_ART, body=SVG, content_type="image/svg+xml")
    book = EBookFactory(artwork_url=APPLE_ART)
    response = portal_admin_client.get(reverse("admin:ebooks_ebook_cover", args=[book.pk]))
    assert response.status_code == 404
    book.refresh_from_db()
    assert book.cover is None


@responses.activate
def test_a_png_with_a_html_tail_is_re_encoded_and_served_inert(public_dns, portal_admin_client):
    polyglot = _png() + b"<html><script>alert(1)</script></html>"
    responses.get(APPLE_ART, body=polyglot, content_type="text/html")
    book = EBookFactory(artwork_url=APPLE_ART)
    response = portal_admin_client.get(reverse("admin:ebooks_ebook_cover", args=[book.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"<script>" not in response.content
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert Image.open(io.BytesIO(response.content)).size == (12, 18)


def test_a_previously_stored_svg_is_not_served(portal_admin_client):
    book = EBookFactory(artwork_url="", cover=SVG, cover_type="image/svg+xml")
    response = portal_admin_client.get(reverse("admin:ebooks_ebook_cover", args=[book.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",  # loopback, not configured
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://evil.example/cover.png",  # not an artwork host
        "https://mzstatic.com.evil.example/cover.png",  # look-alike
        "file:///etc/passwd",
        "",
    ],
)
@responses.activate
def test_artwork_is_only_fetched_from_allowed_public_hosts(url):
    book = EBookFactory(artwork_url=url)
    assert ebook_cover(ebook=book) is None
    assert len(responses.calls) == 0


def test_an_allowed_name_that_resolves_inside_our_network_is_refused(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))],
    )
    assert not artwork_url_allowed(APPLE_ART)


def test_a_configured_simulator_address_is_allowed(settings):
    settings.VPP_ARTWORK_HOSTS = ["mzstatic.com", "127.0.0.1"]
    assert artwork_url_allowed("http://127.0.0.1:9090/artwork/1/600x900bb.png")


@responses.activate
def test_redirects_are_not_followed(public_dns):
    responses.get(APPLE_ART, status=302, headers={"Location": "http://127.0.0.1/secret"})
    book = EBookFactory(artwork_url=APPLE_ART)
    assert ebook_cover(ebook=book) is None
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("data", "served"),
    [
        (_png(), "image/png"),
        (b"GIF89a" + b"\x00" * 20, None),  # a GIF header with no image
        (SVG, None),
        (b"\xff\xd8\xff\xe0garbage", None),
    ],
)
def test_only_real_raster_images_pass(data, served):
    result = cover_reencode(data)
    assert (result[1] if result else None) == served


def test_webp_gif_and_jpeg_are_accepted():
    for fmt in ("WEBP", "GIF", "JPEG"):
        out = io.BytesIO()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format=fmt)
        assert cover_reencode(out.getvalue()) is not None, fmt


def test_a_nul_in_a_store_title_does_not_stop_the_sync(apple, vpp_token, sync_now):
    assets = apple.location(vpp_token.location_uid).assets
    adam_id = next(a.adam_id for a in assets if a.product_type == "Book")
    apple.state.metadata[adam_id] = {
        "productType": "Book",
        "name": "Bad\x00Title\r\nHere",
        "artistName": "A\x00uthor",
        "genreNames": ["Fic\x00tion"],
        "description": "Line one\x00\nLine two",
    }
    run = sync_now(vpp_token)
    assert run.state == "succeeded", run.error_message
    book = EBook.objects.filter(token=vpp_token, adam_id=adam_id).first()
    assert (book.title, book.author, book.genres) == ("Bad Title Here", "A uthor", "Fic tion")
    assert book.description == "Line one \nLine two"
