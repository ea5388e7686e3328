"""Imports from the admin page run as a task, so a million-row file never ties up a web worker.

The page saves the uploaded files and queues a DirectoryImport; the task streams them through
`directory_import` and records the outcome. An import that would use book licenses stops at
"waiting for your confirmation" with the count (nothing saved); confirming that exact count
queues it again. Progress (bytes read) is kept in the cache while the import's one transaction
is open, since nothing it writes to the database is visible before the end.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from assignments.directory_import import ImportResult, directory_import
from assignments.models import DirectoryImport

logger = logging.getLogger(__name__)

State = DirectoryImport.State
KINDS = ("people", "groups", "devices")
STOPPED = "The import stopped on an unexpected error; nothing was saved. See the worker's log."
UNCONFIRMED_FOR = timedelta(days=1)
UNCONFIRMED = "Not confirmed within a day, so nothing was imported. Import the files again."
QUEUE_DOWN = "The task queue is not reachable, so the import did not start. Try again shortly."


def _progress_key(run_id: int) -> str:
    return f"directory-import:{run_id}:bytes"


def directory_import_request(*, uploads: dict, user=None) -> DirectoryImport:
    """Save the uploaded files (kind → file) and queue their import."""
    _expire_unconfirmed()
    folder = Path(settings.VAR_DIR) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True, mode=0o700)
    total = 0
    kinds = [kind for kind in KINDS if uploads.get(kind) is not None]
    for kind in kinds:
        with (folder / f"{kind}.csv").open("wb") as target:
            for chunk in uploads[kind].chunks():
                target.write(chunk)
                total += len(chunk)
    run = DirectoryImport.objects.create(
        created_by=user, folder=str(folder), files=kinds, bytes_total=total
    )
    _enqueue(run)
    logger.info("Directory import %s queued by %s", run.pk, getattr(user, "pk", None))
    return run


def _expire_unconfirmed() -> None:
    """Imports left waiting for a confirmation for a day give up, and their files go."""
    stale = DirectoryImport.objects.filter(
        state=State.NEEDS_CONFIRMATION, finished_at__lt=timezone.now() - UNCONFIRMED_FOR
    )
    for run_id in stale.values_list("pk", flat=True)[:100]:
        _finish(run_id, State.FAILED, error=UNCONFIRMED)


def directory_import_confirm(*, run: DirectoryImport, count: int, user=None) -> bool:
    """Queue the import again with the admin's confirmation of `count` licenses."""
    queued = DirectoryImport.objects.filter(
        pk=run.pk, state=State.NEEDS_CONFIRMATION, licenses=count
    ).update(state=State.QUEUED, confirmed_licenses=count, finished_at=None)
    if queued:
        run.refresh_from_db()
        _enqueue(run)
        logger.info("Directory import %s: %s licenses confirmed by %s", run.pk, count, user)
    return bool(queued)


def _enqueue(run: DirectoryImport) -> None:
    from assignments.tasks import directory_import_run

    def send() -> None:
        try:
            directory_import_run.delay(run.pk)
        except Exception:
            logger.warning("Directory import %s not queued: the task queue is down", run.pk)
            _finish(run.pk, State.FAILED, error=QUEUE_DOWN)

    transaction.on_commit(send, robust=True)


def directory_import_execute(*, run_id: int) -> DirectoryImport | None:
    """Run one queued import (the task's body).

    A run found running is started again: its worker died (the message came back because it
    is acknowledged late) and took the import's one transaction with it, so nothing was saved.
    """
    started = DirectoryImport.objects.filter(
        pk=run_id, state__in=(State.QUEUED, State.RUNNING)
    ).update(state=State.RUNNING, started_at=timezone.now(), error="")
    if not started:
        return DirectoryImport.objects.filter(pk=run_id).first()
    run = DirectoryImport.objects.get(pk=run_id)
    folder = Path(run.folder)
    try:
        with ExitStack() as stack:
            sources = {
                kind: stack.enter_context((folder / f"{kind}.csv").open("rb")) for kind in run.files
            }
            outcome = directory_import(
                **sources,
                confirmed_licenses=run.confirmed_licenses,
                progress=lambda done: cache.set(_progress_key(run.pk), done, 3600),
            )
    except Exception:
        logger.exception("Directory import %s stopped", run.pk)
        _finish(run.pk, State.FAILED, error=STOPPED)
        return DirectoryImport.objects.get(pk=run.pk)
    return _record(run, outcome)


def _record(run: DirectoryImport, outcome: ImportResult) -> DirectoryImport:
    if outcome.ok:
        state = State.SUCCEEDED
    elif outcome.needs_confirmation:
        state = State.NEEDS_CONFIRMATION
    else:
        state = State.FAILED
    _finish(
        run.pk,
        state,
        summary=[result.summary() for result in outcome.files],
        problems=[f"{r.name} {e}" for r in outcome.files for e in r.errors],
        more_problems=sum(r.more_errors for r in outcome.files),
        warnings=[w for r in outcome.files for w in r.warnings],
        licenses=outcome.licenses,
        license_lines=outcome.license_lines,
    )
    return DirectoryImport.objects.get(pk=run.pk)


def _finish(run_id: int, state: str, **values) -> None:
    run = DirectoryImport.objects.get(pk=run_id)
    if state != State.NEEDS_CONFIRMATION and run.folder:
        shutil.rmtree(run.folder, ignore_errors=True)  # the files are not needed any more
        values["folder"] = ""
    DirectoryImport.objects.filter(pk=run_id).update(
        state=state, finished_at=timezone.now(), bytes_done=run.bytes_total, **values
    )
    cache.delete(_progress_key(run_id))


def directory_import_progress(*, run: DirectoryImport) -> tuple[int, int]:
    """(bytes read, bytes in all) of a run, live while it runs."""
    if run.state == State.RUNNING:
        return min(cache.get(_progress_key(run.pk)) or 0, run.bytes_total), run.bytes_total
    done = run.bytes_total if run.finished_at else 0
    return done, run.bytes_total
