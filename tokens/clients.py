"""Apple clients for tokens, configured from settings; the one place tokens meet apple/."""

from __future__ import annotations

import json
import socket

from django.conf import settings

from apple.client import AppleClient
from apple.types import MdmInfo
from tokens.crypto import decrypt
from tokens.models import Installation, VppToken

PRODUCT_NAME = "Shelfkeeper"


def installation_id() -> str:
    """This installation's stable id, created on first use."""
    installation = Installation.objects.order_by("pk").first()
    if installation is None:
        installation = Installation.objects.create()
    return str(installation.installation_id)


def our_mdm_info() -> MdmInfo:
    """What we write to Apple to say this installation manages a location."""
    host = next((h for h in settings.ALLOWED_HOSTS if h not in {"*", ""}), socket.gethostname())
    metadata = json.dumps({"product": PRODUCT_NAME, "host": host}, separators=(",", ":"))
    return MdmInfo(
        id=f"shelfkeeper-{installation_id()}", name=PRODUCT_NAME, metadata=metadata[:255]
    )


# An admin waiting on a page gets a short retry budget; background work gets Apple's patience.
INTERACTIVE_RETRY = {"max_attempts": 2, "max_total_wait": 5.0, "timeout": (5.0, 20.0)}
BACKGROUND_RETRY = {"max_attempts": 6, "max_total_wait": 300.0, "timeout": (10.0, 60.0)}


def client_for_content(
    content: str, *, claim_check: bool = False, interactive: bool = True
) -> AppleClient:
    """A client for a token file's content (upload and renew, before anything is stored)."""
    return AppleClient(
        content,
        base_url=settings.VPP_SERVICE_URL,
        lookup_url=settings.VPP_STORE_LOOKUP_URL,
        our_mdm_id=our_mdm_info().id if claim_check else None,
        **(INTERACTIVE_RETRY if interactive else BACKGROUND_RETRY),
    )


def client_for_token(
    token: VppToken, *, claim_check: bool = True, interactive: bool = False
) -> AppleClient:
    """A client for a stored token; by default it refuses to write over another product."""
    return client_for_content(
        decrypt(token.secret_ciphertext), claim_check=claim_check, interactive=interactive
    )


def client_user_id_prefix() -> str:
    """Every clientUserId this installation creates starts with this; others are not ours."""
    return f"sk-{installation_id().replace('-', '')[:12]}-"
