"""One sync run: pull a token's books, counts, our users and their licenses from Apple.

Pages are written as they arrive, each in its own transaction together with the run's progress
and counters, so a run killed at any point loses at most the page in hand; every write is an
upsert, so the next run converges to the same state. The client reads ahead up to Apple's limit
of five pages in parallel while this thread writes, which is what keeps a full sync close to the
speed of reading alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import transaction
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
        for page in self._pages(paged):
            with transaction.atomic():
                counts = apple_users_upsert(
                    token=self.token, users=page, prefix=self.prefix, seen_at=self.started_at
                )
                self._page_done(users_seen=counts.ours, foreign_users_ignored=counts.foreign)
        if full:
            apple_users_retire_unseen(token=self.token, seen_since=self.started_at)
        self._save_version("users_version_id", paged.version_id)

    def _assignments(self, *, full: bool) -> None:
        self._phase(Phase.ASSIGNMENTS)
        since = None if full else self.cursor.assignments_version_id or None
        paged, _ = self._versioned(self.client.assignments, since, full_kwargs={})
        ebook_ids = ebook_selectors.ebook_keys(token=self.token)
        for page in self._pages(paged):
            with transaction.atomic():
                counts = licenses_upsert_from_apple(
                    token=self.token,
                    assignments=page,
                    ebook_ids=ebook_ids,
                    prefix=self.prefix,
                    seen_at=self.started_at,
                )
                self._page_done(licenses_seen=counts.ours, foreign_licenses_ignored=counts.foreign)
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
            self.run.refresh_from_db()
            self.on_progress(self.run)


def _increments(counters: dict[str, int]) -> dict:
    return {name: F(name) + value for name, value in counters.items() if value}


def _known_holder(token: VppToken):
    from apple.types import MdmInfo

    return MdmInfo(
        id=token.foreign_mdm_id or "unknown",
        name=token.foreign_mdm_name,
        metadata=token.foreign_mdm_metadata,
    )
