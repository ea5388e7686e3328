"""Celery beat schedule as a table in code.

Each row: the entry's name, the environment variable that overrides its cron expression (or
turns it off with `disable`), the default cron in TIME_ZONE, the task, and `expires` in seconds —
just under the period, so a backlog after downtime never runs the same job twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery.schedules import crontab

from config.env import SettingError, read_str

DISABLE = "disable"


@dataclass(frozen=True)
class BeatEntry:
    name: str
    env_var: str
    default_cron: str
    task: str
    expires: int


BEAT_TABLE: tuple[BeatEntry, ...] = (
    # Proves beat is alive: /healthz reads the time this task last ran.
    BeatEntry(
        "beat heartbeat", "BEAT_HEARTBEAT_CRON", "* * * * *", "config.tasks.beat_heartbeat", 50
    ),
    # Rule 3: books and license counts from Apple twice a day (in TIME_ZONE).
    BeatEntry(
        "sync all tokens", "VPP_SYNC_CRON", "0 0,12 * * *", "sync.tasks.sync_all_tokens", 11 * 3600
    ),
    BeatEntry(
        "reap stalled syncs", "SYNC_REAP_CRON", "*/5 * * * *", "sync.tasks.reap_stalled_syncs", 240
    ),
    # Token states (expiry, revocation, claims) and expiry alert emails.
    BeatEntry(
        "token check", "TOKEN_CHECK_CRON", "0 6 * * *", "tokens.tasks.tokens_check", 23 * 3600
    ),
    # One history row per book per day (syncs write one too), then low-stock alerts.
    BeatEntry(
        "daily snapshots",
        "SNAPSHOTS_CRON",
        "55 23 * * *",
        "reports.tasks.snapshots_daily",
        23 * 3600,
    ),
)


def parse_cron(name: str, expression: str) -> crontab:
    """A crontab from five fields: minute hour day-of-month month day-of-week."""
    fields = expression.split()
    fix = "Use five cron fields, e.g. '0 0,12 * * *', or 'disable'."
    if len(fields) != 5:
        raise SettingError(name, f"'{expression}' does not have five fields", fix)
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except ValueError as error:
        raise SettingError(name, f"'{expression}' is not a valid cron ({error})", fix) from None


def build_beat_schedule(table: tuple[BeatEntry, ...] = BEAT_TABLE) -> dict:
    """CELERY_BEAT_SCHEDULE from the table, applying the environment overrides."""
    schedule = {}
    for entry in table:
        expression = read_str(entry.env_var, default=entry.default_cron)
        if expression.lower() == DISABLE:
            continue
        schedule[entry.name] = {
            "task": entry.task,
            "schedule": parse_cron(entry.env_var, expression),
            "options": {"expires": entry.expires},
        }
    return schedule
