"""Django's password reset by email, with a per-hour limit on the requests that send mail.

Per client address the limit is said plainly (429). Per email address the form answers as if a
mail went out, like it does for an unknown address, so the limit tells nobody which addresses
belong to staff. A cache that is down lets requests through: a reset must stay possible.
"""

from __future__ import annotations

import hashlib
import logging

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponseRedirect

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 3600


def _within_limit(key: str) -> bool:
    """Count one request in this hour's window; False once the limit is passed."""
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS)
        return cache.incr(key) <= settings.PASSWORD_RESET_LIMIT
    except Exception:  # the cache (Redis) is down or the key expired in between
        logger.warning("Password reset limit not checked: the cache is not reachable")
        return True


def _key(kind: str, value: str) -> str:
    # Hashed: keys land in Redis, and email addresses are nobody else's business.
    return f"password-reset:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


class PasswordResetView(auth_views.PasswordResetView):
    extra_context = {"site_header": "Shelfkeeper"}

    def form_valid(self, form):
        address = get_client_ip_address(self.request) or "unknown"
        if not _within_limit(_key("client", address)):
            form.add_error(
                "email",
                "Too many password reset requests from your network in the last hour. "
                "Try again later, or ask a portal admin.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        email = form.cleaned_data["email"].strip().lower()
        if not _within_limit(_key("email", email)):
            logger.info("Password reset not sent: hourly limit reached for one address")
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
