"""Apple's notifications endpoint: authenticated by the token's bearer secret, not a login."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sync.reconcile.notifications import NotificationRefused, notification_receive


@csrf_exempt  # Apple posts from outside; the bearer secret is the authentication
@require_POST
def apple_notification(request: HttpRequest, token_id: int) -> JsonResponse:
    """Store Apple's notification and answer 200 at once; a task applies it."""
    try:
        notification_receive(
            token_id=token_id,
            authorization=request.headers.get("Authorization", ""),
            body=request.body,
        )
    except NotificationRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    return JsonResponse({})
