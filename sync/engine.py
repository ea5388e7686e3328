"""One sync run: pull a token's books, counts, our users and their licenses from Apple.

Pages are gathered into batches of about 10,000 rows (or half a second's worth), each written
in one transaction together with the run's progress and counters, so a run killed at any point
loses at most the batches in hand; every write is an upsert, so the next run converges to the
same state. The client reads ahead up to Apple's limit of five pages in parallel; this thread
prepares each batch in Python (filtering, id mapping, encryption, the licenses' COPY data)
while two writer threads, each with its own connection, stream the previous ones and wait on
the database (see WRITERS). (Measured: a deeper queue did not help.)

The two big mirror tables (Apple users, licenses) carry no row-level foreign keys (see their
models): at a million rows the per-row checks cost more than the rest of the write. A run
that read the licenses in full ends with a set-based anti-join over the token
(mirror_orphans_count); an incremental run anti-joins each batch it wrote
(licenses_assigned_upsert with check). Either must find no orphan, or the run fails and says so.
"""

from __future__ import annotations

import functools
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import AppleError, AppleRequestError, ClaimedElsewhereError
from apple.paging import Paged
from apple.types import BookMetadata
from assignments.apple_records import (
    apple_users_prepare,
    apple_users_retire_unseen,
    apple_users_write,
    licenses_prepare_from_apple,
    licenses_write,
)
from assignments.bulk_sql import (
    apple_user_ids,
    apple_users_analyze,
    apple_users_exist,
    licenses_exist,
    mirror_orphans_count,
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
# Rows written per transaction: big enough that a statement's fixed cost fades, small enough
# to keep memory flat and a killed run's loss small.
BATCH_ROWS = 10_000
BATCH_SECONDS = 0.5
WRITE_AHEAD = 1  # prepared batches queued for the writers
# Two writers: while one waits for its turn on the GIL between statements, the database works
# on the other's batch (measured: a full sync's database-bound phases 20-25 % shorter). Batches
# may commit out of order; every write is an order-free upsert, whose rows are inserted in
# index order so two writers never wait on each other in a cycle.
WRITERS = 2
_DONE = object()
Prepared = TypeVar("Prepared")


class RunAbandoned(Exception):
    """The run was marked failed by the reaper while it worked; stop without writing more."""


class MirrorIntegrityError(Exception):
    """The post-run anti-join found mirror rows whose references are gone."""


@dataclass
class Batch:
    rows: list = field(default_factory=list)
    pages: int = 0
    total_pages: int = 0
    opened: float = 0.0


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
        self.licenses_read_in_full = False
        self.orphans_written: int | None = None
        self._phase_name, self._phase_started = "", None
        self._progress_lock = threading.Lock()

    # --- the run ----------------------------------------------------------------------

    def execute(self) -> None:
        """All phases in order; raises AppleError or RunAbandoned."""
        with _collector_paused():
            self._phases()

    def _phases(self) -> None:
        self._claim()
        self._books()
        self.books_done = True
        self._metadata()
        full = self.run.full or not self.cursor.full_synced_at
        self._users(full=full)
        self._assignments(full=full)
        if full:
            SyncCursor.objects.filter(pk=self.cursor.pk).update(full_synced_at=timezone.now())
        if full or self.licenses_read_in_full:
            self._check_mirror()
        elif self.orphans_written is not None:  # checked batch by batch as they were written
            self._raise_on_orphans({"licenses without what they point at": self.orphans_written})
        self._phase_timed(Phase.DONE)

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
        for batch in self._batches(paged):
            with transaction.atomic():
                counts = ebook_services.ebooks_upsert(
                    token=self.token, assets=batch.rows, seen_at=self.started_at
                )
                self._batch_done(batch, books_added=counts.added, books_updated=counts.updated)
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
        country = (self.token.country_code or "us").lower()
        platform = self.token.store_platform or "volumestore"

        def look_up(batch: list[str]) -> dict[str, BookMetadata] | AppleError:
            try:
                return self.client.lookup_metadata(batch, country=country, platform=platform)
            except AppleError as error:
                return error

        # The look-ups wait on Apple, the writes on the database: up to Apple's limit of
        # five requests in flight while this thread writes what came back (a first sync's
        # 2,000 books: 0.31 → 0.22 s).
        pool = ThreadPoolExecutor(PARALLEL_PAGES, thread_name_prefix="apple-lookup")
        try:
            for batch, metadata in zip(batches, pool.map(look_up, batches), strict=True):
                if isinstance(metadata, AppleError):
                    # Titles can wait for the next run; licenses matter more than covers.
                    logger.warning("Store look-up failed for token %s: %s", self.token.pk, metadata)
                    self._page_done()
                    continue
                now = timezone.now()
                with transaction.atomic():
                    ebook_services.ebooks_metadata_apply(
                        token=self.token, metadata=metadata, fetched_at=now
                    )
                    ebook_services.ebooks_metadata_mark_checked(
                        token=self.token,
                        adam_ids=[a for a in batch if a not in metadata],
                        at=now,
                    )
                    self._page_done()
        finally:
            pool.shutdown(cancel_futures=True)  # a failed run stops looking up

    def _users(self, *, full: bool) -> None:
        self._phase(Phase.USERS)
        since = None if full else self.cursor.users_version_id or None
        listing = functools.partial(self.client.users, as_json=True)  # see _json_items
        paged, full = self._versioned(listing, since, full_kwargs={"active_only": True})
        # A token's first full run inserts without ON CONFLICT until a row exists after all.
        fresh = full and not apple_users_exist(token_id=self.token.pk)

        def prepare(batch: Batch):
            return apple_users_prepare(batch.rows, prefix=self.prefix)

        def write(batch: Batch, prepared) -> None:
            nonlocal fresh
            with transaction.atomic():
                _fast_commit()
                counts = apple_users_write(
                    token=self.token, prepared=prepared, seen_at=self.started_at, fresh=fresh
                )
                fresh = fresh and not counts.fresh_conflict
                self._batch_done(
                    batch, users_seen=counts.ours, foreign_users_ignored=counts.foreign
                )

        self._write_batches(self._batches(paged), prepare, write)
        if full and not fresh:  # a first run inserted every row it has: none went unseen
            apple_users_retire_unseen(token=self.token, seen_since=self.started_at)
        if full:
            apple_users_analyze()  # the licenses' user look-ups are planned from these
        self._save_version("users_version_id", paged.version_id)

    def _assignments(self, *, full: bool) -> None:
        self._phase(Phase.ASSIGNMENTS)
        since = None if full else self.cursor.assignments_version_id or None
        # As JSON objects: the sync reads three fields of a million entries (see _json_items).
        listing = functools.partial(self.client.assignments, as_json=True)
        paged, full = self._versioned(listing, since, full_kwargs={})
        self.licenses_read_in_full = full
        ebook_ids = ebook_selectors.ebook_keys(token=self.token)
        user_ids: dict[str, tuple[int, int | None]] = {}
        preload = full
        # A token's first full run inserts without ON CONFLICT until a row exists after all.
        fresh = full and not licenses_exist(token_id=self.token.pk)
        copy_payload = connection.vendor == "postgresql"

        def prepare(batch: Batch):
            nonlocal preload
            if preload:
                preload = False
                # A full listing names most users: one read of all of them beats a look-up
                # per batch. Read once the first page is in, while the next ones download.
                user_ids.update(apple_user_ids(token_id=self.token.pk))
            # Only reads user_ids: the writer adds the users it resolves, and a user not in
            # the map yet is resolved by the writer (see licenses_prepare_from_apple).
            return licenses_prepare_from_apple(
                batch.rows,
                ebook_ids=ebook_ids,
                user_ids=user_ids,
                prefix=self.prefix,
                copy_payload=copy_payload,
            )

        def write(batch: Batch, prepared) -> None:
            nonlocal fresh
            with transaction.atomic():
                _fast_commit()
                counts = licenses_write(
                    token=self.token,
                    prepared=prepared,
                    user_ids=user_ids,
                    seen_at=self.started_at,
                    check=not full,  # a full run checks every license at its end
                    fresh=fresh,
                )
                fresh = fresh and not counts.fresh_conflict
                if counts.orphans is not None:
                    with self._progress_lock:  # the writers add side by side
                        self.orphans_written = (self.orphans_written or 0) + counts.orphans
                self._batch_done(
                    batch, licenses_seen=counts.ours, foreign_licenses_ignored=counts.foreign
                )

        self._write_batches(self._batches(paged), prepare, write)
        self._save_version("assignments_version_id", paged.version_id)

    def _check_mirror(self) -> None:
        """The anti-join that stands in for the mirror tables' foreign keys; raises on orphans."""
        started = time.monotonic()
        counts = mirror_orphans_count(token_id=self.token.pk)
        logger.info(
            "Token %s: integrity check in %.2f s", self.token.pk, time.monotonic() - started
        )
        self._raise_on_orphans(counts)

    def _raise_on_orphans(self, counts: dict[str, int]) -> None:
        orphans = {what: n for what, n in counts.items() if n}
        if orphans:
            found = ", ".join(f"{n} {what}" for what, n in orphans.items())
            logger.error("Token %s: integrity check found orphans: %s", self.token.pk, found)
            raise MirrorIntegrityError(found)

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

    def _write_batches(
        self,
        batches: Iterator[Batch],
        prepare: Callable[[Batch], Prepared],
        write: Callable[[Batch, Prepared], None],
    ) -> None:
        """write(batch, prepare(batch)) for every batch: prepare on this reading thread, write
        in WRITERS writer threads pipelined behind it (in any order).

        prepare is the batch's pure-Python work (filtering, mapping, encrypting, encoding the
        licenses' COPY data); the writer streams it and waits on the database, which releases
        the GIL, so the two overlap instead of queuing behind each other in the writer.
        Each writer has its own connection, so it cannot see the caller's uncommitted rows:
        inside a transaction (tests) this thread writes alone. A writer's error (RunAbandoned
        included) stops the reading and is raised here.
        """
        if connection.in_atomic_block:
            for batch in batches:
                write(batch, prepare(batch))
            return
        # Bounds the batches held in memory: one being written per writer, WRITE_AHEAD ready.
        work: queue.Queue = queue.Queue(maxsize=WRITE_AHEAD)
        failures: list[BaseException] = []
        # Where each side's time goes: the side that waits on the other is not the bottleneck.
        stats = _PipelineStats()

        def writer() -> None:
            started = time.thread_time()
            try:
                while (item := stats.timed("writer_idle", work.get)) is not _DONE:
                    if not failures:  # after a failure, drain so the reader never blocks
                        try:
                            write(*item)
                        except BaseException as error:  # re-raised by the reader
                            failures.append(error)
            finally:
                connection.close()  # this thread's own connection
                stats.add("writer_cpu", time.thread_time() - started)

        threads = [
            threading.Thread(target=writer, name=f"sync-writer-{n}", daemon=True)
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        reader_started = time.thread_time()
        try:
            for batch in batches:
                if failures:
                    break
                prepared = prepare(batch)
                batch.rows = []  # prepared stands for them: what the queue holds stays small
                stats.timed("reader_blocked", work.put, (batch, prepared))
        finally:
            _close(batches)  # stops reading ahead when leaving early
            for _ in threads:
                work.put(_DONE)
            for thread in threads:
                thread.join()
        stats.reader_cpu = time.thread_time() - reader_started
        logger.info("Token %s: %s %s", self.token.pk, self._phase_name, stats)
        if failures:
            raise failures[0]

    def _batches(self, paged: Paged) -> Iterator[Batch]:
        """Pages gathered into batches of about BATCH_ROWS rows, each written in one transaction.

        A batch also closes after BATCH_SECONDS, so a slow listing still commits as it goes: a
        killed run loses at most the batches in flight.
        """
        pages = paged.pages()
        try:
            batch = Batch()
            for page in pages:
                if not batch.pages:
                    batch.opened = time.monotonic()
                batch.rows.extend(page)
                batch.pages += 1
                if (
                    len(batch.rows) >= BATCH_ROWS
                    or time.monotonic() - batch.opened >= BATCH_SECONDS
                ):
                    batch.total_pages = paged.total_pages or 0
                    yield batch
                    batch = Batch()
            if batch.pages:
                batch.total_pages = paged.total_pages or 0
                yield batch
        finally:
            _close(pages)

    def _batch_done(self, batch: Batch, **counters: int) -> None:
        """Progress, counters and heartbeat for a batch, in the batch's transaction."""
        values = {"progress_done": F("progress_done") + batch.pages, **_increments(counters)}
        if batch.total_pages:
            values["progress_total"] = batch.total_pages
        self._update(**values)

    def _save_version(self, field: str, version_id: str | None, *, on_run: bool = True) -> None:
        """Remember where a phase's complete listing ended, for the next incremental run."""
        if not version_id:
            return
        SyncCursor.objects.filter(pk=self.cursor.pk).update(**{field: version_id})
        if on_run:
            SyncRun.objects.filter(pk=self.run.pk).update(**{field: version_id})
        setattr(self.cursor, field, version_id)

    def _phase(self, phase: str, total: int = 0) -> None:
        self._phase_timed(phase)
        self._update(phase=phase, progress_done=0, progress_total=total)

    def _phase_timed(self, phase: str) -> None:
        """Log how long the previous phase took (where a slow sync spends its time)."""
        now = time.monotonic()
        if self._phase_started is not None:
            took = now - self._phase_started
            logger.info("Token %s: phase %s took %.2f s", self.token.pk, self._phase_name, took)
        self._phase_name, self._phase_started = phase, now

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


@dataclass
class _PipelineStats:
    """Seconds of a reader/writer pipeline: CPU of each thread, and each side's wait."""

    reader_cpu: float = 0.0
    reader_blocked: float = 0.0  # on a full queue: the writers are the bottleneck
    writer_cpu: float = 0.0  # the writers' summed
    writer_idle: float = 0.0  # on an empty queue, summed: reading (Apple, preparing) is
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def timed(self, name: str, call: Callable, *args):
        started = time.monotonic()
        try:
            return call(*args)
        finally:
            self.add(name, time.monotonic() - started)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:  # writers add theirs side by side
            setattr(self, name, getattr(self, name) + seconds)

    def __str__(self) -> str:
        return (
            f"reader CPU {self.reader_cpu:.2f} s, waited {self.reader_blocked:.2f} s; "
            f"writers CPU {self.writer_cpu:.2f} s, idle {self.writer_idle:.2f} s (summed)"
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector does not run while the run does.

    A full sync allocates millions of objects (pages of JSON, batches), and every so often the
    collector walks them while all threads wait: about 2,900 collections took 0.32 s of a full
    sync's 6 CPU-seconds of Python, even with the worker's older objects left out (gc.freeze).
    What the run allocates holds no cycles (JSON pages, batches, rows), so reference counting
    frees it as before; a stray cycle waits for the first collection after the run.
    Process-wide: a second run side by side finds the collector paused and leaves it alone, so
    whichever ends first turns it back on and the other merely loses the saving.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
