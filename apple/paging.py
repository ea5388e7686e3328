"""Streaming over Apple's paginated endpoints, optionally with a few pages in flight."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from apple.errors import TransientError

__all__ = ["MAX_PARALLEL_PAGES", "Paged"]

T = TypeVar("T")
Page = Mapping[str, Any]

# Apple: "no more than 5 concurrent requests" when fetching pages in parallel.
MAX_PARALLEL_PAGES = 5


def _next_index(page: Page, current: int) -> int | None:
    """nextPageIndex, refusing one that does not move forward (it would loop for ever)."""
    following = _int_field(page, "nextPageIndex")
    if following is not None and following <= current:
        raise TransientError(f"Apple's nextPageIndex {following} does not follow page {current}")
    return following


def _int_field(page: Page, key: str) -> int | None:
    """An integer pagination field, or None when absent or malformed."""
    value = page.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Paged(Generic[T]):
    """Items of a paginated endpoint, fetched page by page only while iterated."""

    def __init__(
        self,
        *,
        fetch: Callable[[int], Page],
        parse: Callable[[Page], list[T]],
        parallel: int = 1,
        label: str = "",
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self._fetch = fetch
        self._parse = parse
        self._parallel = min(parallel, MAX_PARALLEL_PAGES)
        self._label = label
        self._lock = threading.Lock()
        self._first: Page | None = None
        self._first_seen = False
        self._version_id: str | None = None
        self._total_pages: int | None = None
        self._next_index: int | None = None

    def __repr__(self) -> str:
        return (
            f"Paged({self._label!r}, parallel={self._parallel}, "
            f"version_id={self._version_id!r}, total_pages={self._total_pages!r})"
        )

    @property
    def parallel(self) -> int:
        """How many page requests may be in flight at once (capped at 5)."""
        return self._parallel

    @property
    def version_id(self) -> str | None:
        """The versionId of the first page (fetched now if not fetched yet)."""
        if not self._first_seen:
            self._first = self._fetch(0)
            self._remember_first(self._first)
        return self._version_id

    @property
    def next_index(self) -> int | None:
        """The index of the page after the one `pages()` last yielded; None after the last page.

        With the versionId of the first page it is a cursor: `pages(start=next_index)` resumes a
        listing in a later task."""
        return self._next_index

    @property
    def total_pages(self) -> int | None:
        """totalPages from the latest page seen; it can change while iterating."""
        return self._total_pages

    def __iter__(self) -> Iterator[T]:
        for items in self.pages():
            yield from items

    def pages(self, start: int = 0) -> Iterator[list[T]]:
        """Yield each page's items in page order, stopping after the page without nextPageIndex.

        `start` resumes a listing at a page a previous reader reached (its `next_index`)."""
        if start:
            first = self._fetch(start)
            self._note_total(first)
        else:
            first = self._take_first()
        next_index = self._next_index = _next_index(first, start)
        yield self._parse(first)
        if next_index is None:
            return
        if self._parallel == 1:
            yield from self._sequential(next_index)
        else:
            yield from self._overlapped(next_index)

    def _take_first(self) -> Page:
        """Page 0: the one `version_id` already fetched, else a fresh fetch."""
        first, self._first = self._first, None
        if first is None:
            first = self._fetch(0)
            self._remember_first(first)
        return first

    def _remember_first(self, page: Page) -> None:
        """Keep the first page's versionId: later pages may carry newer ones."""
        version = page.get("versionId")
        self._version_id = str(version) if version is not None else None
        self._first_seen = True
        self._note_total(page)

    def _note_total(self, page: Page) -> None:
        """Track totalPages as Apple reports it."""
        total = _int_field(page, "totalPages")
        if total is not None:
            with self._lock:
                self._total_pages = total

    def _sequential(self, index: int | None) -> Iterator[list[T]]:
        """One request at a time, following nextPageIndex."""
        while index is not None:
            page = self._fetch(index)
            self._note_total(page)
            index = self._next_index = _next_index(page, index)
            yield self._parse(page)

    def _overlapped(self, next_index: int) -> Iterator[list[T]]:
        """Up to `parallel` requests in flight; pages yielded in order, at most that many held."""
        pending: deque[tuple[int, Future[Page]]] = deque()
        to_submit = next_index
        with ThreadPoolExecutor(self._parallel, thread_name_prefix="apple-pages") as pool:
            try:
                while True:
                    # The page Apple named next is always fetched; further pages are fetched
                    # ahead only while totalPages (as last reported) says they exist.
                    total = self._total_pages or 0
                    while len(pending) < self._parallel and (not pending or to_submit < total):
                        pending.append((to_submit, pool.submit(self._fetch, to_submit)))
                        to_submit += 1
                    index, future = pending.popleft()
                    page = future.result()
                    self._note_total(page)
                    following = self._next_index = _next_index(page, index)
                    yield self._parse(page)
                    if following is None:
                        return  # pages fetched ahead past the true end are dropped unread
                    if following != index + 1:
                        _cancel(pending)
                        to_submit = following
            finally:
                _cancel(pending)


def _cancel(pending: deque[tuple[int, Future[Page]]]) -> None:
    """Drop pages fetched ahead; running ones finish, their results (or errors) are ignored."""
    while pending:
        pending.popleft()[1].cancel()
