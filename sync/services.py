"""Writes for sync runs: request one, run it, reap runs whose worker died."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apple.errors import AppleError, AuthError, ClaimedElsewhereError, plain_message
from ebooks.selectors import ebook_count
from sync.engine import MirrorIntegrityError, ProgressCallback, RunAbandoned, SyncEngine
from sync.models import SyncRun
from sync.signals import reconcile_later
from tokens.models import VppToken
from tokens.services import token_apple_error_record, token_sync_result_record

logger = logging.getLogger(__name__)

State = SyncRun.State
# A running sync writes a heartbeat with every page; Apple's slowest retry budget is 5 minutes.
HEARTBEAT_STALE = timedelta(minutes=10)
# A queued run no worker picked up (broker lost the message, workers down) stops blocking.
QUEUED_STALE = timedelta(minutes=15)
# A worker takes a message within seconds; a run queued longer may have no live message, so the
# foreground command runs it itself (taking a run is a conditional UPDATE: a late message finds
# it taken and does nothing).
QUEUED_TAKEOVER_AFTER = timedelta(minutes=2)
BROKER_DOWN_MESSAGE = (
    "The task queue is not reachable, so this sync could not start. Check that the broker "
    "(Redis) and the worker are running, then press Sync now again."
)
# Scheduled syncs skip tokens Apple already refused; "Sync now" still tries them.
SCHEDULE_SKIPS = {VppToken.State.EXPIRED, VppToken.State.INVALID, VppToken.State.CLAIMED_ELSEWHERE}


@dataclass(frozen=True)
class SyncRequest:
    run: SyncRun
    created: bool  # False: a run for this token was already queued or running


def sync_request(
    *,
    token: VppToken,
    trigger: str,
    user=None,
    full: bool = False,
    enqueue: bool = True,
) -> SyncRequest:
    """Queue a sync of a token unless one is already queued or running (the database decides)."""
    sync_runs_reap(token=token)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                token=token,
                trigger=trigger,
                requested_by=user if getattr(user, "is_authenticated", False) else None,
                full=full,
            )
            if enqueue:
                transaction.on_commit(lambda: _sync_run_enqueue(run=run))
    except IntegrityError:
        active = SyncRun.objects.filter(
            token=token, state__in=[State.QUEUED, State.RUNNING]
        ).first()
        if active is None:  # it finished between our insert and this read
            return sync_request(token=token, trigger=trigger, user=user, full=full, enqueue=enqueue)
        stale = active.queued_at < timezone.now() - QUEUED_TAKEOVER_AFTER
        if not enqueue and stale and active.state == State.QUEUED:
            return SyncRequest(run=active, created=True)  # the foreground caller runs it now
        return SyncRequest(run=active, created=False)
    return SyncRequest(run=run, created=True)


def _sync_run_enqueue(*, run: SyncRun) -> None:
    """Send the run's task; when the broker refuses, fail the run with a plain message."""
    from sync.tasks import sync_token

    try:
        sync_token.delay(run.pk)
    except Exception as error:  # kombu's OperationalError, socket errors, a broker timeout
        logger.warning("Could not queue sync run %s: %s", run.pk, type(error).__name__)
        now = timezone.now()
        SyncRun.objects.filter(pk=run.pk, state=State.QUEUED).update(
            state=State.FAILED, finished_at=now, error_message=BROKER_DOWN_MESSAGE
        )
        run.state, run.finished_at, run.error_message = State.FAILED, now, BROKER_DOWN_MESSAGE


def sync_all_request(*, trigger: str = SyncRun.Trigger.SCHEDULED) -> dict[str, int]:
    """Queue a sync for every usable token; one bad token never stops the others."""
    queued = skipped = failed = 0
    for token in VppToken.objects.order_by("pk"):
        if trigger == SyncRun.Trigger.SCHEDULED and token.state in SCHEDULE_SKIPS:
            skipped += 1
            continue
        try:
            queued += sync_request(token=token, trigger=trigger).created
        except Exception:
            failed += 1
            logger.exception("Could not queue a sync of token %s", token.pk)
    return {"queued": queued, "skipped": skipped, "failed": failed}


def sync_run_execute(
    *, run_id: int, on_progress: ProgressCallback | None = None, client=None
) -> SyncRun:
    """Run a queued sync to its end and record the outcome on the run and the token."""
    now = timezone.now()
    taken = SyncRun.objects.filter(pk=run_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=now, heartbeat_at=now
    )
    run = SyncRun.objects.select_related("token").get(pk=run_id)
    if not taken:
        return run  # another worker has it, or the reaper gave up on it
    engine = None
    try:
        engine = SyncEngine(run, client=client, on_progress=on_progress)
        engine.execute()
    except RunAbandoned:
        logger.warning("Sync run %s was reaped while working; stopped", run_id)
        return SyncRun.objects.get(pk=run_id)
    except AppleError as error:
        token_apple_error_record(token=run.token, error=error)
        finished = (
            State.PARTIAL
            if engine and engine.books_done and not _is_token_problem(error)
            else State.FAILED
        )
        return _finish(
            run, engine, finished, error_number=error.error_number, message=plain_message(error)
        )
    except MirrorIntegrityError as error:
        message = (
            f"The check after the sync found rows pointing at nothing ({error}). "
            "Nothing was spent; tell the administrator of this installation."
        )
        return _finish(run, engine, State.FAILED, error_number=None, message=message)
    except Exception:
        logger.exception("Sync run %s failed", run_id)
        message = "An internal error stopped the sync; the worker log has the details."
        return _finish(run, engine, State.FAILED, error_number=None, message=message)
    run = _finish(run, engine, State.SUCCEEDED, error_number=None, message="")
    # Fresh counts and user states may let the reconciler give out licenses it could not before.
    reconcile_later(token_ids=[run.token_id])
    return run


def _is_token_problem(error: AppleError) -> bool:
    return isinstance(error, AuthError | ClaimedElsewhereError)


def _finish(run, engine, state: str, *, error_number: int | None, message: str) -> SyncRun:
    now = timezone.now()
    values = {
        "state": state,
        "finished_at": now,
        "heartbeat_at": now,
        "error_number": error_number,
        "error_message": message[:1000],
    }
    if state == State.SUCCEEDED:
        values["phase"] = SyncRun.Phase.DONE
    if engine is not None:
        values["apple_requests"] = engine.client.request_count
    SyncRun.objects.filter(pk=run.pk, state=State.RUNNING).update(**values)
    run = SyncRun.objects.select_related("token").get(pk=run.pk)
    token_sync_result_record(
        token=run.token,
        finished_at=now,
        ok=state == State.SUCCEEDED,
        summary=_summary(run),
        book_count=ebook_count(token=run.token),
    )
    return run


def _summary(run: SyncRun) -> str:
    if run.state != State.SUCCEEDED:
        return run.error_message
    return (
        f"{run.books_added} books added, {run.books_updated} updated, {run.books_gone} gone; "
        f"{run.licenses_seen} licenses, {run.users_seen} users"
    )


def sync_runs_reap(*, token: VppToken | None = None, now: datetime | None = None) -> int:
    """Fail runs whose worker stopped heart-beating, or that no worker ever picked up."""
    now = now or timezone.now()
    runs = SyncRun.objects.all() if token is None else SyncRun.objects.filter(token=token)
    stalled = runs.filter(state=State.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE).update(
        state=State.FAILED,
        finished_at=now,
        error_message="The worker running this sync stopped responding (killed or restarted). "
        "The next sync finishes the job.",
    )
    never_started = runs.filter(state=State.QUEUED, queued_at__lt=now - QUEUED_STALE).update(
        state=State.FAILED,
        finished_at=now,
        error_message="No worker picked this sync up within 15 minutes. Check that the Celery "
        "worker and the broker are running, then sync again.",
    )
    return stalled + never_started
