from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _refuse_broken_configuration() -> None:
    """Run the system checks (tokens.E001 among them) so gunicorn stops instead of serving 500s."""
    from django.core import checks

    errors = [message for message in checks.run_checks() if message.is_serious()]
    if errors:
        lines = "\n".join(f"  {message}" for message in errors)
        raise SystemExit(f"Shelfkeeper cannot start: the system checks found errors:\n{lines}")


_refuse_broken_configuration()
