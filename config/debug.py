"""Error pages and reports that hide secrets even in DEBUG."""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Honour sensitive_variables/sensitive_post_parameters in DEBUG too.

    Django's filter steps aside when DEBUG is on, and a token file then shows in the error page's
    local variables; development installs hold real tokens too.
    """

    def is_active(self, request) -> bool:
        return True
