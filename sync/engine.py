"""One sync run: pull a token's books, counts, our users and their licenses from Apple.

Pages are written as they arrive, each in its own transaction together with the run's progress
and counters, so a run killed at any point loses at most the pages in hand; every write is an
upsert, so the next run converges to the same state. The client reads ahead up to Apple's limit
of five pages in parallel while, on PostgreSQL, two writer threads (each with its own
connection) write pages side by side: the database's work per page, not reading, is what bounds
a full sync.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleError, AppleRequestError, ClaimedElsewhereError
from apple.paging import Paged
from assignments.apple_records import (
    apple_users_retire_unseen,
    apple_users_upsert,
    licenses_upsert_from_apple,
)
from ebooks import selectors as ebook_selectors
from ebooks import services as ebook_services
from sync.models import SyncCursor, SyncRun
from tokens.clients import client_for_token, client_user_id_prefix, our_mdm_info
from tokens.models import VppToken
from tokens.services import token_apple_ok_record

logger = logging.getLogger(__name__)

Phase = SyncRun.Phase
PARALLEL_PAGES = 5  # Apple's limit on concurrent page requests
METADATA_BATCH = 100
METADATA_MAX_AGE = timedelta(days=7)
INVALID_VERSION_ID = 9721
# Pages written at once on PostgreSQL. The pages of a phase commute (upserts of disjoint or
# rank-ordered rows), so their order does not matter; SQLite has a single writer anyway.
PARALLEL_WRITERS = 2
_DONE = object()


class RunAbandoned(Exception):
    """The run was marked failed by the reaper while it worked; stop without writing more."""


ProgressCallback = Callable[[SyncRun], None]


class SyncEngine:
    def __init__(
        self, run: SyncRun, *, client: AppleClient | None = None, on_progress=None
    ) -> None:
        self.run = run
        self.token: VppToken = run.token
        self.client = client or client_for_token(self.token)
        self.on_progress: ProgressCallback | None = on_progress
        self.started_at: datetime = run.started_at or timezone.now()
        self.prefix = client_user_id_prefix()
        self.cursor, _ = SyncCursor.objects.get_or_create(token=self.token)
        self.books_done = False
        self._progress_lock = threading.Lock()

    # --- the run ----------------------------------------------------------------------

    def execute(self) -> None:
        """All phases in order; raises AppleError or RunAbandoned."""
        self._claim()
        self._books()
        self.books_done = True
        self._metadata()
        full = self.run.full or not self.cursor.full_synced_at
        self._users(full=full)
        self._assignments(full=full)
        if full:
            SyncCursor.objects.filter(pk=self.cursor.pk).update(full_synced_at=timezone.now())

    def _claim(self) -> None:
        self._phase(Phase.CLAIM, total=1)
        if self.token.is_claimed_elsewhere:
            # Apple may show the other product gone, but taking over is an admin's decision.
            raise ClaimedElsewhereError(_known_holder(self.token))
        config = self.client.client_config()  # raises ClaimedElsewhereError for a foreign claim
        if config.mdm_info is None:
            config = self.client.set_client_config(mdm_info=our_mdm_info())
        token_apple_ok_record(token=self.token, config=config)
        self._page_done()

    def _books(self) -> None:
        self._phase(Phase.BOOKS)
        paged = self.client.assets(product_type="Book", parallel=PARALLEL_PAGES)
        if (
            not self.run.full
            and paged.version_id
            and paged.version_id == self.cursor.assets_version_id
        ):
            # Apple's advice for assets: compare versionIds; the same one means nothing changed.
            self._page_done()
            return
        for page in self._pages(paged):
            with transaction.atomic():
                counts = ebook_services.ebooks_upsert(
                    token=self.token, assets=page, seen_at=self.started_at
                )
                self._page_done(books_added=counts.added, books_updated=counts.updated)
        # Only a complete listing says what is gone.
        gone = ebook_services.ebooks_mark_gone(
            token=self.token, not_seen_since=self.started_at, now=timezone.now()
        )
        if gone:
            self._count(books_gone=gone)
        self._save_version("assets_version_id", paged.version_id, on_run=False)

    def _metadata(self) -> None:
        books = ebook_selectors.ebooks_needing_metadata(
            token=self.token, stale_before=timezone.now() - METADATA_MAX_AGE
        )
        adam_ids = sorted(set(books.values_list("adam_id", flat=True)))
        batches = [
            adam_ids[i : i + METADATA_BATCH] for i in range(0, len(adam_ids), METADATA_BATCH)
        ]
        self._phase(Phase.METADATA, total=len(batches))
        for batch in batches:
            try:
                metadata = self.client.lookup_metadata(
                    batch,
                    country=(self.token.country_code or "us").lower(),
                    platform=self.token.store_platform or "volumestore",
                )
            except AppleError as error:
                # Titles can wait for the next run; licenses matter more than covers.
                logger.warning("Store look-up failed for token %s: %s", self.token.pk, error)
                self._page_done()
                continue
            now = timezone.now()
            with transaction.atomic():
                ebook_services.ebooks_metadata_apply(
                    token=self.token, metadata=metadata, fetched_at=now
                )
                ebook_services.ebooks_metadata_mark_checked(
                    token=self.token, adam_ids=[a for a in batch if a not in metadata], at=now
                )
                self._page_done()

    def _users(self, *, full: bool) -> None:
        self._phase(Phase.USERS)
        since = None if full else self.cursor.users_version_id or None
        paged, full = self._versioned(self.client.users, since, full_kwargs={"active_only": True})

        def write(page: list) -> None:
            with transaction.atomic():
                _fast_commit()
                counts = apple_users_upsert(
                    token=self.token, users=page, prefix=self.prefix, seen_at=self.started_at
                )
                self._page_done(users_seen=counts.ours, foreign_users_ignored=counts.foreign)

        self._write_pages(self._pages(paged), write)
        if full:
            apple_users_retire_unseen(token=self.token, seen_since=self.started_at)
        self._save_version("users_version_id", paged.version_id)

    def _assignments(self, *, full: bool) -> None:
        self._phase(Phase.ASSIGNMENTS)
        since = None if full else self.cursor.assignments_version_id or None
        paged, _ = self._versioned(self.client.assignments, since, full_kwargs={})
        ebook_ids = ebook_selectors.ebook_keys(token=self.token)

        def write(page: list) -> None:
            with transaction.atomic():
                _fast_commit()
                counts = licenses_upsert_from_apple(
                    token=self.token,
                    assignments=page,
                    ebook_ids=ebook_ids,
                    prefix=self.prefix,
                    seen_at=self.started_at,
                )
                self._page_done(licenses_seen=counts.ours, foreign_licenses_ignored=counts.foreign)

        self._write_pages(self._pages(paged), write)
        self._save_version("assignments_version_id", paged.version_id)

    # --- helpers ----------------------------------------------------------------------

    def _versioned(self, endpoint, since: str | None, *, full_kwargs: dict):
        """An incremental listing, or a full one when there is no usable versionId."""
        if since:
            paged = endpoint(since_version_id=since, parallel=PARALLEL_PAGES)
            try:
                paged.version_id  # noqa: B018 - fetches the first page to validate the versionId
                return paged, False
            except AppleRequestError as error:
                if error.error_number != INVALID_VERSION_ID:
                    raise
                logger.info(
                    "Token %s: Apple rejected the saved versionId; full read", self.token.pk
                )
        return endpoint(parallel=PARALLEL_PAGES, **full_kwargs), True

    def _write_pages(self, pages: Iterator[list], write: Callable[[list], None]) -> None:
        """write(page) for every page: here on SQLite, else in writer threads while this one reads.

        A writer's error (RunAbandoned included) stops the reading and is raised here. Writer
        threads cannot see the caller's uncommitted rows, so inside a transaction (tests) this
        thread writes alone.
        """
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            for page in pages:
                write(page)
            return
        work: queue.Queue = queue.Queue(maxsize=PARALLEL_WRITERS)  # bounds pages held in memory
        failures: list[BaseException] = []

        def writer() -> None:
            try:
                while (page := work.get()) is not _DONE:
                    if not failures:  # after a failure, drain so the reader never blocks
                        try:
                            write(page)
                        except BaseException as error:  # re-raised by the reader
                            failures.append(error)
            finally:
                connection.close()  # this thread's own connection

        threads = [
            threading.Thread(target=writer, name=f"sync-writer-{n}", daemon=True)
            for n in range(PARALLEL_WRITERS)
        ]
        for thread in threads:
            thread.start()
        try:
            for page in pages:
                if failures:
                    break
                work.put(page)
        finally:
            _close(pages)  # stops reading ahead when leaving early
            for _ in threads:
                work.put(_DONE)
            for thread in threads:
                thread.join()
        if failures:
            raise failures[0]

    def _pages(self, paged: Paged) -> Iterator[list]:
        for page in paged.pages():
            total = paged.total_pages or 0
            if total and total != self.run.progress_total:
                SyncRun.objects.filter(pk=self.run.pk).update(progress_total=total)
                self.run.progress_total = total
            yield page

    def _save_version(self, field: str, version_id: str | None, *, on_run: bool = True) -> None:
        """Remember where a phase's complete listing ended, for the next incremental run."""
        if not version_id:
            return
        SyncCursor.objects.filter(pk=self.cursor.pk).update(**{field: version_id})
        if on_run:
            SyncRun.objects.filter(pk=self.run.pk).update(**{field: version_id})
        setattr(self.cursor, field, version_id)

    def _phase(self, phase: str, total: int = 0) -> None:
        self._update(phase=phase, progress_done=0, progress_total=total)

    def _page_done(self, **counters: int) -> None:
        self._update(progress_done=F("progress_done") + 1, **_increments(counters))

    def _count(self, **counters: int) -> None:
        self._update(**_increments(counters))

    def _update(self, **values) -> None:
        """Progress, counters and heartbeat in one conditional UPDATE, in the page's transaction."""
        now = timezone.now()
        changed = SyncRun.objects.filter(pk=self.run.pk, state=SyncRun.State.RUNNING).update(
            heartbeat_at=now, apple_requests=self.client.request_count, **values
        )
        if not changed:
            raise RunAbandoned
        if self.on_progress is not None:
            with self._progress_lock:  # writer threads report one at a time
                self.run.refresh_from_db()
                self.on_progress(self.run)


def _fast_commit() -> None:
    """Don't wait for this page's commit to reach the disk (PostgreSQL).

    Safe because every write is an idempotent upsert: a crash can lose only the last pages and
    their progress row together, and the next run simply writes them again.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _close(pages: Iterable) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()


def _increments(counters: dict[str, int]) -> dict:
    return {name: F(name) + value for name, value in counters.items() if value}


def _known_holder(token: VppToken):
    from apple.types import MdmInfo

    return MdmInfo(
        id=token.foreign_mdm_id or "unknown",
        name=token.foreign_mdm_name,
        metadata=token.foreign_mdm_metadata,
    )
