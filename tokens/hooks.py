"""What apps above tokens add to the token pages, registered explicitly (tokens imports none).

The sync app registers "Sync now" (a list action) and the first sync of a new token here, in
its AppConfig.ready(); the token admin asks this registry instead of being patched from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (request, token) -> a sentence for the admin, or None when nothing was done.
UploadHook = Callable[..., str | None]


@dataclass(frozen=True)
class TokenAction:
    action: Callable  # an admin action: (modeladmin, request, queryset)
    name: str
    description: str
    permission: str  # "app_label.codename" the user needs to see and run it


_actions: dict[str, TokenAction] = {}
_upload_hooks: dict[str, UploadHook] = {}


def token_action_register(*, action: Callable, description: str, permission: str) -> None:
    """Offer a bulk action on the token list to users holding `permission`."""
    name = action.__name__
    _actions[name] = TokenAction(action, name, description, permission)


def token_actions_for(user) -> list[TokenAction]:
    """The registered actions this user may run."""
    return [entry for entry in _actions.values() if user.has_perm(entry.permission)]


def token_upload_hook_register(*, hook: UploadHook) -> None:
    """Call `hook(request=..., token=...)` after a token is uploaded; it may return a message."""
    _upload_hooks[f"{hook.__module__}.{hook.__qualname__}"] = hook


def token_upload_hooks() -> list[UploadHook]:
    """Every registered after-upload hook, in registration order."""
    return list(_upload_hooks.values())


# (token) -> one line of text shown on the token's page under `label`.
DetailRender = Callable[..., str]
_details: dict[str, DetailRender] = {}


def token_detail_register(*, label: str, render: DetailRender) -> None:
    """Show `render(token)` on each token's page (e.g. whether Apple's notifications reach us)."""
    _details[label] = render


def token_details(token) -> list[tuple[str, str]]:
    """The registered details of a token, as (label, text) pairs."""
    return [(label, render(token)) for label, render in _details.items()]
