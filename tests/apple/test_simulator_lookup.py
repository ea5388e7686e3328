"""Simulator store look-up and artwork."""

from __future__ import annotations

import struct
import zlib

import requests

from apple.simulator import Simulator

PRIDE = "1104589231"
MOBY = "1104589307"


def lookup(sim: Simulator, ids: str, **params: str) -> dict:
    query = {
        "version": "2",
        "id": ids,
        "p": "mdm-lockup",
        "caller": "MDM",
        "platform": "volumestore",
        "cc": "us",
    }
    response = requests.get(sim.lookup_url, params={**query, **params}, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_lookup_returns_books_in_the_legacy_shape(simulator: Simulator) -> None:
    body = lookup(simulator, f"{PRIDE},{MOBY}")

    assert set(body) == {"results", "version", "isAuthenticated", "meta"}
    assert body["isAuthenticated"] is False and body["version"] == 2
    item = body["results"][PRIDE]
    assert item["name"] == "Pride and Prejudice" and item["artistName"] == "Jane Austen"
    assert item["kind"] == "ebook" and "Romance" in item["genreNames"]
    assert len(item["description"]) > 100 and item["releaseDate"]
    assert item["artwork"]["url"].endswith(f"/artwork/{PRIDE}/{{w}}x{{h}}bb.{{f}}")
    assert body["results"][MOBY]["artistName"] == "Herman Melville"


def test_lookup_leaves_unknown_ids_out(simulator: Simulator) -> None:
    assert lookup(simulator, "123,456")["results"] == {}


def test_lookup_uses_the_requested_storefront(simulator: Simulator) -> None:
    body = lookup(simulator, PRIDE, cc="gb", l="en-gb")

    assert body["meta"]["storefront"]["cc"] == "gb" and body["meta"]["language"]["tag"] == "en-gb"
    assert "/gb/" in body["results"][PRIDE]["url"]


def test_service_config_points_to_the_simulators_own_lookup(simulator: Simulator) -> None:
    urls = requests.get(f"{simulator.api_url}/service/config", timeout=10).json()["urls"]

    assert urls["contentMetadataLookup"] == simulator.lookup_url
    assert urls["invitationEmail"].startswith(f"{simulator.url}/invite?inviteCode=%25inviteCode%25")
    assert urls["getAssets"] == f"{simulator.api_url}/assets"


def _png_size_and_pixel(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw[1 + 3 * (width - 1) : 1 + 3 * width]


def test_artwork_template_gives_a_png_of_the_requested_size(simulator: Simulator) -> None:
    template = lookup(simulator, PRIDE)["results"][PRIDE]["artwork"]["url"]

    response = requests.get(template.format(w=120, h=180, f="png"), timeout=10)

    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    width, height, _pixel = _png_size_and_pixel(response.content)
    assert (width, height) == (120, 180)


def test_covers_of_different_books_have_different_colours(simulator: Simulator) -> None:
    pixels = {
        _png_size_and_pixel(
            requests.get(f"{simulator.url}/artwork/{i}/40x60bb.png", timeout=10).content
        )[2]
        for i in (PRIDE, MOBY)
    }

    assert len(pixels) == 2


def test_bad_artwork_path_is_404(simulator: Simulator) -> None:
    assert requests.get(f"{simulator.url}/artwork/{PRIDE}/big.png", timeout=10).status_code == 404


def test_generated_titles_get_synthetic_metadata() -> None:
    sim = Simulator(generate="books=3,users=2,assignments=2").start()
    try:
        assert lookup(sim, "1800000001")["results"]["1800000001"]["kind"] == "ebook"
    finally:
        sim.stop()
