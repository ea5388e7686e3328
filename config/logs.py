"""Logging pieces named in settings.LOGGING."""

from __future__ import annotations

import logging


class NoTracebackForForbidden(logging.Filter):
    """A refused page (403) is a line in the log, not a traceback: nothing went wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
