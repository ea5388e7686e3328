"""Paging: streaming, the true last page, versionId of the first page, and parallel fetches."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from apple import AppleError, AppleRequestError, Paged, TransientError
from tests.apple.helpers import BASE, apple_error

# Generous: only reached when the code under test is wrong (then the test fails, not hangs).
WAIT = 5.0

pytestmark = pytest.mark.usefixtures("token_never_logged")


def page(index: int, *, total: int, last: bool | None = None, version: str = "v0") -> dict:
    """An assignments page whose single row names its page, shaped like GetAssignmentsResponse."""
    last = index >= total - 1 if last is None else last
    body: dict[str, Any] = {
        "assignments": [
            {"adamId": f"{index}", "pricingParam": "STDQ", "clientUserId": f"user-{index}"}
        ],
        "currentPageIndex": index,
        "size": 1,
        "totalPages": total,
        "versionId": f"{version}-page{index}",
        "tokenExpirationDate": "2030-11-08T22:33:22+0000",
        "uId": "2049025000431439",
    }
    if not last:
        body["nextPageIndex"] = index + 1
    return body


class PageServer:
    """A responses callback serving /assignments pages from a function of the page index."""

    def __init__(self, respond: Callable[[int], tuple[int, dict]]) -> None:
        self.respond = respond
        self.requested: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.hooks: dict[int, Callable[[], None]] = {}

    def __call__(self, request: Any) -> tuple[int, dict, str]:
        index = int(request.params["pageIndex"])
        with self.lock:
            self.requested.append(index)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if index in self.hooks:
                self.hooks[index]()
            status, body = self.respond(index)
        finally:
            with self.lock:
                self.in_flight -= 1
        return status, {}, json.dumps(body)


@pytest.fixture
def serve(rsps):
    def install(respond: Callable[[int], tuple[int, dict]]) -> PageServer:
        server = PageServer(respond)
        rsps.add_callback("GET", f"{BASE}/assignments", callback=server)
        return server

    return install


def pages_of(paged: Paged) -> list[list[str]]:
    """Each page's adam ids (each test row names the page it came from)."""
    return [[row.adam_id for row in rows] for rows in paged.pages()]


def test_pages_are_followed_until_next_page_index_is_absent(serve, api):
    server = serve(lambda i: (200, page(i, total=3)))

    rows = list(api.assignments())

    assert [r.client_user_id for r in rows] == ["user-0", "user-1", "user-2"]
    assert server.requested == [0, 1, 2]


def test_iteration_streams_one_page_at_a_time(serve, api):
    server = serve(lambda i: (200, page(i, total=3)))

    rows = iter(api.assignments())
    next(rows)

    assert server.requested == [0]
    next(rows)
    assert server.requested == [0, 1]


def test_version_id_is_the_first_pages(serve, api):
    serve(lambda i: (200, page(i, total=3)))

    paged = api.assignments()
    list(paged)

    assert paged.version_id == "v0-page0"


def test_version_id_fetches_the_first_page_once(serve, api):
    server = serve(lambda i: (200, page(i, total=2)))

    paged = api.assignments(since_version_id="old")
    version = paged.version_id
    rows = list(paged)

    assert version == "v0-page0"
    assert len(rows) == 2
    assert server.requested == [0, 1]


def test_growing_total_pages_is_followed_to_the_true_last_page(serve, api):
    # Page 0 says 2 pages; by page 1 the data grew to 4.
    serve(lambda i: (200, page(i, total=2 if i == 0 else 4)))

    paged = api.assignments()

    assert pages_of(paged) == [["0"], ["1"], ["2"], ["3"]]
    assert paged.total_pages == 4


def test_shrinking_total_pages_stops_at_the_true_last_page(serve, api):
    def respond(i: int) -> tuple[int, dict]:
        if i >= 2:
            return 400, apple_error(9650)
        return 200, page(i, total=4 if i == 0 else 2)

    server = serve(respond)

    assert pages_of(api.assignments()) == [["0"], ["1"]]
    assert server.requested == [0, 1]


def test_a_page_error_is_raised_to_the_caller(serve, api):
    serve(lambda i: (200, page(i, total=3)) if i < 2 else (400, apple_error(9650)))

    with pytest.raises(AppleRequestError) as caught:
        list(api.assignments())

    assert caught.value.error_number == 9650


def test_parallel_pages_are_yielded_in_page_order(serve, api):
    page_3_served = threading.Event()

    def respond(i: int) -> tuple[int, dict]:
        if i == 1:  # hold page 1 back until page 3 has been answered
            assert page_3_served.wait(WAIT), "pages were not fetched in parallel"
        body = page(i, total=4)
        if i == 3:
            page_3_served.set()
        return 200, body

    serve(respond)

    assert pages_of(api.assignments(parallel=3)) == [["0"], ["1"], ["2"], ["3"]]


def test_parallel_keeps_exactly_n_requests_in_flight_and_never_more(serve, api):
    # Pages 1-9 only answer once three requests are waiting together; a api with fewer
    # in flight breaks the barrier, one with more is caught by max_in_flight.
    barrier = threading.Barrier(3, timeout=WAIT)
    server = serve(lambda i: (200, page(i, total=10)))
    for index in range(1, 10):
        server.hooks[index] = barrier.wait

    rows = list(api.assignments(parallel=3))

    assert [r.adam_id for r in rows] == [str(i) for i in range(10)]
    assert server.max_in_flight == 3


def test_parallel_is_capped_at_apples_five_concurrent_requests(serve, api):
    barrier = threading.Barrier(5, timeout=WAIT)
    server = serve(lambda i: (200, page(i, total=11)))
    for index in range(1, 11):
        server.hooks[index] = barrier.wait

    paged = api.assignments(parallel=20)
    rows = list(paged)

    assert paged.parallel == 5
    assert len(rows) == 11
    assert server.max_in_flight == 5


def test_parallel_holds_a_bounded_number_of_pages_ahead(serve, api):
    server = serve(lambda i: (200, page(i, total=12)))

    for number, _rows in enumerate(api.assignments(parallel=2).pages()):
        # Page `number` is being consumed: at most 2 further pages may have been requested.
        assert len(server.requested) <= number + 1 + 2


def test_parallel_follows_growing_total_pages(serve, api):
    server = serve(lambda i: (200, page(i, total=3 if i < 2 else 6)))

    assert pages_of(api.assignments(parallel=4)) == [[str(i)] for i in range(6)]
    assert sorted(server.requested) == list(range(6))


def test_parallel_stops_at_true_last_page_when_total_pages_shrinks(serve, api):
    # Page 0 promises 8 pages, so pages past the new end are fetched ahead and fail with 9650;
    # those errors belong to pages that no longer exist and must not surface.
    def respond(i: int) -> tuple[int, dict]:
        if i >= 3:
            return 400, apple_error(9650)
        return 200, page(i, total=8 if i == 0 else 3)

    serve(respond)

    assert pages_of(api.assignments(parallel=5)) == [["0"], ["1"], ["2"]]


def test_parallel_raises_the_error_of_a_page_that_exists(serve, api):
    serve(lambda i: (200, page(i, total=5)) if i != 2 else (400, apple_error(9602)))

    with pytest.raises(AppleError) as caught:
        list(api.assignments(parallel=3))

    assert caught.value.error_number == 9602


def test_parallel_request_count_is_exact_across_threads(serve, api):
    serve(lambda i: (200, page(i, total=20)))

    list(api.assignments(parallel=5))

    assert api.request_count == 20


def test_parallel_below_one_is_refused(api):
    with pytest.raises(ValueError, match="at least 1"):
        api.users(parallel=0)


def test_paged_repr_names_the_endpoint_only(api):
    assert repr(api.users(parallel=2)) == (
        "Paged('/users', parallel=2, version_id=None, total_pages=None)"
    )


def test_a_next_page_index_that_does_not_move_forward_is_an_error(serve, api):
    serve(lambda i: (200, {**page(i, total=3), "nextPageIndex": 1}))

    with pytest.raises(TransientError, match="does not follow"):
        list(api.assignments(parallel=2))
