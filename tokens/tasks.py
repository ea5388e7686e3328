"""Celery tasks for tokens: thin wrappers around tokens.services."""

from __future__ import annotations

from celery import shared_task

from tokens import services


@shared_task(name="tokens.tasks.tokens_check")
def tokens_check() -> dict[str, int]:
    """Daily: re-evaluate every token's state and send due expiry alerts."""
    return services.tokens_check_all()
