"""Store metadata look-up: both response shapes, cookie auth, batching, artwork near 600 px."""

from __future__ import annotations

import pytest
from responses import matchers

from apple import BookMetadata
from apple.lookup import pick_artwork
from tests.apple.helpers import BASE, LOOKUP, TOKEN, load

pytestmark = pytest.mark.usefixtures("token_never_logged")

LITTLE_PRINCE = "1462937447"
BIRDS = "1091234567"


def test_legacy_lookup_shape_is_parsed(rsps, api):
    rsps.get(LOOKUP, json=load("lookup_legacy.json"))

    found = api.lookup_metadata([LITTLE_PRINCE, BIRDS])

    assert found[LITTLE_PRINCE] == BookMetadata(
        adam_id=LITTLE_PRINCE,
        title="The Little Prince",
        author="Antoine de Saint-Exupéry",
        genres=("Fiction & Literature", "Books"),
        description="A pilot stranded in the desert meets a young prince.",
        artwork_url="https://is1-ssl.mzstatic.com/image/thumb/Publication/v4/aa/bb/cc/600x600bb.jpg",
        kind="ebook",
        release_date="1943-04-06",
        store_url="https://books.apple.com/us/book/the-little-prince/id1462937447",
    )
    assert found[BIRDS].description == "Every bird of the lake shore."


def test_itunes_lookup_shape_is_parsed(rsps, api):
    rsps.get(LOOKUP, json=load("lookup_itunes.json"))

    book = api.lookup_metadata([LITTLE_PRINCE])[LITTLE_PRINCE]

    assert book.title == "The Little Prince"
    assert book.author == "Antoine de Saint-Exupéry"
    assert book.kind == "ebook"
    assert book.genres == ("Fiction & Literature", "Books")
    assert book.description.startswith("A pilot stranded")
    assert book.store_url.startswith("https://books.apple.com/")


def test_itunes_artwork_is_asked_for_at_600_px(rsps, api):
    rsps.get(LOOKUP, json=load("lookup_itunes.json"))

    book = api.lookup_metadata([LITTLE_PRINCE])[LITTLE_PRINCE]

    assert book.artwork_url == (
        "https://is1-ssl.mzstatic.com/image/thumb/Publication/v4/aa/bb/cc/600x600bb.jpg"
    )


def test_artwork_template_is_filled_at_600_px_keeping_the_aspect_ratio(rsps, api):
    rsps.get(LOOKUP, json=load("lookup_legacy.json"))

    book = api.lookup_metadata([BIRDS])[BIRDS]

    assert book.artwork_url == (
        "https://is2-ssl.mzstatic.com/image/thumb/Publication/v4/dd/ee/ff/source/600x900bb.jpg"
    )


@pytest.mark.parametrize(
    ("artwork", "expected"),
    [
        ([{"url": "https://x/a/400x400bb.png", "width": 400}], "https://x/a/600x600bb.png"),
        (
            ["https://x/a/100x100bb.jpg", "https://x/a/1000x1000bb.jpg"],
            "https://x/a/1000x1000bb.jpg",
        ),
        (
            {"url": "https://x/{w}x{h}bb.{f}", "width": 300, "height": 450},
            "https://x/300x450bb.jpg",
        ),
        ({"url": "https://x/{w}x{h}{c}.{f}"}, "https://x/600x600bb.jpg"),
        ({"url": "https://x/fixed.jpg"}, "https://x/fixed.jpg"),
        ([], None),
        (None, None),
    ],
)
def test_pick_artwork_prefers_about_600_px(artwork, expected):
    assert pick_artwork(artwork) == expected


def test_lookup_sends_the_token_as_itvt_cookie_not_bearer(rsps, api):
    rsps.get(
        LOOKUP,
        json=load("lookup_legacy.json"),
        match=[
            matchers.header_matcher({"Cookie": f"itvt={TOKEN}"}),
            matchers.query_param_matcher(
                {
                    "version": "2",
                    "id": f"{LITTLE_PRINCE},{BIRDS}",
                    "p": "mdm-lockup",
                    "caller": "MDM",
                    "platform": "enterprisestore",
                    "cc": "de",
                    "country": "de",
                    "l": "de-DE",
                }
            ),
        ],
    )

    api.lookup_metadata(
        [LITTLE_PRINCE, BIRDS], country="de", platform="enterprisestore", language="de-DE"
    )

    assert "Authorization" not in rsps.calls[0].request.headers


def test_lookup_sends_100_ids_per_request(rsps, api):
    rsps.get(LOOKUP, json={"results": {}})

    api.lookup_metadata([str(n) for n in range(250)] + ["0", "1"])  # duplicates sent once

    sizes = [len(c.request.params["id"].split(",")) for c in rsps.calls]
    assert sizes == [100, 100, 50]


def test_unknown_ids_are_simply_absent(rsps, api):
    rsps.get(LOOKUP, json={"results": {}, "version": 2, "isAuthenticated": False})

    assert api.lookup_metadata(["999"]) == {}


def test_lookup_of_no_ids_sends_nothing(rsps, api):
    assert api.lookup_metadata([]) == {}
    assert api.request_count == 0


def test_lookup_url_defaults_to_service_configs_content_metadata_lookup(rsps, make_client):
    rsps.get(f"{BASE}/service/config", json=load("service_config.json"))
    store = load("service_config.json")["urls"]["contentMetadataLookup"]
    rsps.get(store, json=load("lookup_legacy.json"))

    found = make_client(lookup_url=None).lookup_metadata([LITTLE_PRINCE])

    assert found[LITTLE_PRINCE].title == "The Little Prince"
