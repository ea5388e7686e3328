"""Celery tasks of the directory; thin: they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from assignments.directory_import.runs import directory_import_execute


@shared_task(name="assignments.tasks.directory_import_run", acks_late=True)
def directory_import_run(run_id: int) -> str:
    """Run one queued directory import."""
    run = directory_import_execute(run_id=run_id)
    return run.state if run is not None else "gone"
