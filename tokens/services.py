"""Writes for tokens: import, renew, take control, state changes, alerts, key rotation."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apple.client import AppleClient
from apple.errors import (
    AppleError,
    AuthError,
    ClaimedElsewhereError,
    RateLimitedError,
    TokenExpiredError,
    TransientError,
    plain_message,
)
from apple.types import ClientConfig
from config.mail import header_safe, mails_send_later
from tokens.clients import client_for_content, client_for_token, our_mdm_info
from tokens.crypto import encrypt, reencrypt
from tokens.fields import EncryptedTextField
from tokens.models import EXPIRING_SOON, TokenAlert, VppToken
from tokens.parsing import ParsedToken, TokenFileError, clean_line, parse_token_file
from tokens.selectors import alert_recipients

logger = logging.getLogger(__name__)

State = VppToken.State
Kind = TokenAlert.Kind
# Most urgent first: when several thresholds are crossed at once, one email names the nearest.
EXPIRY_THRESHOLDS = ((1, Kind.DAYS_1), (7, Kind.DAYS_7), (30, Kind.DAYS_30), (60, Kind.DAYS_60))


# --- upload and renew ---------------------------------------------------------------------


def token_import(
    *,
    file_bytes: bytes,
    apple_id: str,
    account_type: str,
    name: str = "",
    now: datetime | None = None,
) -> VppToken:
    """Validate a token file with Apple, claim its location if free, and store it encrypted."""
    now = now or timezone.now()
    parsed = _parse(file_bytes, now=now)
    _validate_apple_id(apple_id)
    if account_type not in VppToken.AccountType.values:
        raise ValidationError("Choose the account type: Business or Education.")
    duplicate = VppToken.objects.filter(fingerprint=parsed.fingerprint).first()
    if duplicate is not None:
        raise ValidationError(f"This token file has already been uploaded as “{duplicate}”.")
    client = client_for_content(parsed.content)
    config = _apple_call(client.client_config)
    existing = VppToken.objects.filter(location_uid=config.uid).first()
    if existing is not None:
        raise ValidationError(
            f"Location “{config.location_name or config.uid}” is already managed by token "
            f"“{existing}”. To replace its file, use Renew on that token."
        )
    token = VppToken(
        name=clean_line(name or config.location_name or parsed.org_name),
        apple_id=apple_id,
        account_type=account_type,
        location_uid=config.uid,
    )
    _apply_file(token, parsed, config, now=now)
    _claim_if_free(token, client, config, now=now)
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError:
        # Two uploads of the same file or location at once: the database kept one.
        raise ValidationError(
            "This token or its location was uploaded at the same moment by someone else."
        ) from None
    logger.info("Imported token %s for location %s", token.pk, token.location_uid)
    return token


def token_renew(*, token: VppToken, file_bytes: bytes, now: datetime | None = None) -> VppToken:
    """Replace a token's file with a renewed one for the same location, keeping everything else."""
    now = now or timezone.now()
    parsed = _parse(file_bytes, now=now)
    if parsed.fingerprint == token.fingerprint:
        raise ValidationError(
            "This is the file the token already uses. Download a new one from Apple to renew."
        )
    other = VppToken.objects.filter(fingerprint=parsed.fingerprint).exclude(pk=token.pk).first()
    if other is not None:
        raise ValidationError(f"This token file belongs to another token, “{other}”.")
    client = client_for_content(parsed.content)
    config = _apple_call(client.client_config)
    if config.uid != token.location_uid:
        raise ValidationError(
            f"This file is for location “{config.location_name or config.uid}”, not for "
            f"“{token.location_name or token.location_uid}”. "
            "A renewal must be for the same location."
        )
    _apply_file(token, parsed, config, now=now)
    token.state = _expiry_state(token.expires_at, now)
    token.state_reason = ""
    _claim_if_free(token, client, config, now=now)
    token.renewed_at = now
    token.save()
    logger.info("Renewed token %s", token.pk)
    return token


def token_take_control(*, token: VppToken, now: datetime | None = None) -> VppToken:
    """Write our mdmInfo over another product's claim; the admin has confirmed."""
    now = now or timezone.now()
    client = client_for_token(token, claim_check=False, interactive=True)
    _apple_call(lambda: client.set_client_config(mdm_info=our_mdm_info(), force=True))
    _mark_ours(token, now=now)
    token.state = _expiry_state(token.expires_at, now)
    token.state_reason = ""
    token.save()
    logger.info("Took control of token %s", token.pk)
    return token


def _parse(file_bytes: bytes, *, now: datetime) -> ParsedToken:
    try:
        return parse_token_file(file_bytes, now=now)
    except TokenFileError as error:
        raise ValidationError(str(error)) from None


def _validate_apple_id(apple_id: str) -> None:
    try:
        validate_email(apple_id)
    except ValidationError:
        raise ValidationError(
            "The Apple ID must be the purchasing account's email address, e.g. books@school.org."
        ) from None


def _apple_call(call):
    """Run one Apple call for an admin action; Apple's refusal becomes a form error."""
    try:
        return call()
    except (TransientError, RateLimitedError) as error:
        raise ValidationError(
            f"{plain_message(error)} Nothing was saved; try again in a few minutes."
        ) from None
    except AppleError as error:
        raise ValidationError(plain_message(error)) from None


def _apply_file(token: VppToken, parsed: ParsedToken, config: ClientConfig, *, now) -> None:
    token.secret_ciphertext = encrypt(parsed.content)
    token.fingerprint = parsed.fingerprint
    token.org_name = parsed.org_name
    token.expires_at = parsed.expires_at
    token.location_name = clean_line(config.location_name)
    token.country_code = config.country_code[:8]
    token.store_platform = config.default_platform[:40]
    token.website_url = config.website_url[:200]
    token.checked_at = now
    token.state = _expiry_state(token.expires_at, now)


def _claim_if_free(token: VppToken, client: AppleClient, config: ClientConfig, *, now) -> None:
    """Write our mdmInfo when the location is unclaimed or already ours; else record the holder."""
    ours = our_mdm_info()
    holder = config.mdm_info
    if holder is not None and holder.id != ours.id:
        _mark_foreign(token, holder)
        return
    if holder != ours:
        # We read the claim a moment ago and it was free, so this is not taking over anyone.
        _apple_call(lambda: client.set_client_config(mdm_info=ours, force=True))
    _mark_ours(token, now=now)


def _mark_ours(token: VppToken, *, now) -> None:
    token.claimed_at = now
    token.foreign_mdm_id = token.foreign_mdm_name = token.foreign_mdm_metadata = ""


def _mark_foreign(token: VppToken, holder) -> None:
    token.state = State.CLAIMED_ELSEWHERE
    token.foreign_mdm_id = holder.id[:100]
    token.foreign_mdm_name = holder.name[:100]
    token.foreign_mdm_metadata = holder.metadata[:255]
    token.state_reason = (
        f"Another product ({holder.name or holder.id}) manages this location. Shelfkeeper "
        "will not change anything at Apple until an admin uses Take control."
    )


def _expiry_state(expires_at: datetime, now: datetime) -> str:
    if expires_at <= now:
        return State.EXPIRED
    if expires_at - now <= EXPIRING_SOON:
        return State.EXPIRING_SOON
    return State.VALID


# --- what Apple says about a token (sync and the daily check) -----------------------------


def token_apple_error_record(
    *, token: VppToken, error: AppleError, now: datetime | None = None
) -> VppToken:
    """Let the token's state follow an error Apple gave for it; alert admins at once."""
    now = now or timezone.now()
    token.checked_at = now
    if isinstance(error, ClaimedElsewhereError):
        _mark_foreign(token, error.mdm_info)
        kind = Kind.CLAIMED
    elif isinstance(error, TokenExpiredError):
        token.state, token.state_reason, kind = State.EXPIRED, plain_message(error), Kind.EXPIRED
    elif isinstance(error, AuthError):
        token.state, token.state_reason, kind = State.INVALID, plain_message(error), Kind.REVOKED
    else:
        token.save(update_fields=["checked_at"])
        return token  # a passing problem says nothing about the token itself
    token.save()
    _alert_once(token, kind, now=now)
    return token


def token_apple_ok_record(
    *, token: VppToken, config: ClientConfig | None = None, now: datetime | None = None
) -> VppToken:
    """Apple accepted the token and we hold the claim: clear Apple-reported trouble."""
    now = now or timezone.now()
    token.checked_at = now
    if config is not None:
        token.location_name = clean_line(config.location_name) or token.location_name
        if config.token_expiration_date:
            token.expires_at = config.token_expiration_date
    token.state = _expiry_state(token.expires_at, now)
    token.state_reason = ""
    token.foreign_mdm_id = token.foreign_mdm_name = token.foreign_mdm_metadata = ""
    token.save()
    return token


def token_sync_result_record(
    *, token: VppToken, finished_at: datetime, ok: bool, summary: str, book_count: int | None
) -> None:
    """Remember the latest sync's outcome for the token list (written by the sync app)."""
    token.last_sync_at = finished_at
    token.last_sync_ok = ok
    token.last_sync_summary = summary[:300]
    fields = ["last_sync_at", "last_sync_ok", "last_sync_summary"]
    if book_count is not None:
        token.book_count = book_count
        fields.append("book_count")
    token.save(update_fields=fields)


def token_check(*, token: VppToken, now: datetime | None = None) -> VppToken:
    """Ask Apple about one token (claim, expiry, revocation) and update its state."""
    now = now or timezone.now()
    if token.expires_at <= now:
        # Apple would only confirm it; no request needed.
        token.state, token.state_reason = State.EXPIRED, "The token has passed its expiry date."
        token.checked_at = now
        token.save()
        _alert_once(token, Kind.EXPIRED, now=now)
        return token
    try:
        config = client_for_token(token).client_config()
    except AppleError as error:
        return token_apple_error_record(token=token, error=error, now=now)
    # A foreign claim never gets here: the client checks it and raises ClaimedElsewhereError.
    if token.state == State.CLAIMED_ELSEWHERE:
        # The other product let go, but taking the location back is still the admin's call.
        token.checked_at = now
        token.save(update_fields=["checked_at"])
        return token
    return token_apple_ok_record(token=token, config=config, now=now)


def tokens_check_all(*, now: datetime | None = None) -> dict[str, int]:
    """The daily check: every token's state, then expiry alerts. One bad token stops nothing."""
    now = now or timezone.now()
    checked = failed = 0
    for token in VppToken.objects.order_by("pk").iterator():
        try:
            token_check(token=token, now=now)
            checked += 1
        except Exception:
            failed += 1
            logger.exception("Checking token %s failed", token.pk)
    return {"checked": checked, "failed": failed, "alerts": token_alerts_send(now=now)}


# --- alerts -------------------------------------------------------------------------------


def token_alerts_send(*, now: datetime | None = None) -> int:
    """Email portal admins once per crossed expiry threshold per token; returns emails sent."""
    now = now or timezone.now()
    sent = 0
    upcoming = VppToken.objects.filter(expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON)
    for token in upcoming:
        crossed = [
            kind
            for days, kind in EXPIRY_THRESHOLDS
            if token.expires_at - now <= timedelta(days=days)
        ]
        if _alert_once(token, crossed[0], now=now, also_record=crossed[1:]):
            sent += 1
    return sent


def _alert_once(token: VppToken, kind: str, *, now: datetime, also_record=()) -> bool:
    """Send one alert email unless this kind was already sent for this expiry date."""
    if TokenAlert.objects.filter(token=token, kind=kind, expires_at=token.expires_at).exists():
        return False
    recipients = _admin_emails()
    try:
        with transaction.atomic():
            for quieter in (kind, *also_record):
                alert, _ = TokenAlert.objects.get_or_create(
                    token=token,
                    kind=quieter,
                    expires_at=token.expires_at,
                    defaults={
                        "sent_at": now,
                        "recipients": len(recipients) if quieter == kind else 0,
                        "mail": TokenAlert.Mail.QUEUED if recipients and quieter == kind else "",
                    },
                )
                if recipients and quieter == kind:
                    # Sent after commit by the mail task: a mail server that is down never
                    # holds up the sync or the check that found the problem.
                    mails_send_later(kind="token_alert", ids=[alert.pk])
    except IntegrityError:
        return False  # another process sent it at the same moment
    return True


def token_alert_mail(alert_id: int) -> EmailMessage | None:
    """The alert email of one TokenAlert row, built when the mail task sends it."""
    alert = TokenAlert.objects.select_related("token").filter(pk=alert_id).first()
    recipients = _admin_emails()
    if alert is None or not recipients:
        return None
    subject, body = _alert_text(alert.token, alert.kind, now=alert.sent_at)
    return EmailMessage(header_safe(subject), body, None, recipients)


def token_alert_mail_result(alert_id: int, error: str) -> None:
    """Record on the alert whether its email went out, or why not."""
    TokenAlert.objects.filter(pk=alert_id).update(
        mail=TokenAlert.Mail.FAILED if error else TokenAlert.Mail.SENT, mail_error=error[:300]
    )


def _admin_emails() -> list[str]:
    return alert_recipients()


def _alert_text(token: VppToken, kind: str, *, now: datetime) -> tuple[str, str]:
    where = f"“{token.name}” ({token.org_name}, {token.location_name or token.location_uid})"
    renew = (
        "Download a new token from Apple School Manager or Apple Business Manager "
        "(Settings → Apps and Books) and use Renew on this token in Shelfkeeper "
        "(VPP tokens → the token → Renew). Books, assignments and history are kept."
    )
    if kind == Kind.CLAIMED:
        return (
            f"Shelfkeeper: token {token.name} is now managed by another product",
            f"Another product ({token.foreign_mdm_name or token.foreign_mdm_id}) has claimed the "
            f"location of token {where}. Shelfkeeper has stopped changing licenses for it. If "
            "Shelfkeeper should manage it, use Take control on the token.\n",
        )
    if kind in (Kind.EXPIRED, Kind.REVOKED):
        return (
            f"Shelfkeeper: token {token.name} no longer works",
            f"Apple no longer accepts token {where}: "
            f"{token.state_reason or 'expired.'}\n\n{renew}\n",
        )
    days = max((token.expires_at - now).days, 0)
    return (
        f"Shelfkeeper: token {token.name} expires in {days} day{'s' if days != 1 else ''}",
        f"Token {where} expires on {token.expires_at:%Y-%m-%d %H:%M %Z}.\n\n{renew}\n",
    )


# --- key rotation -------------------------------------------------------------------------


def tokens_reencrypt() -> int:
    """Re-encrypt every stored token with the newest VPP_TOKEN_KEY key; returns how many.

    Other secrets kept under the same keys (every EncryptedTextField of any app) are
    re-encrypted in the same transaction, so the old key can be dropped afterwards.
    """
    count = 0
    with transaction.atomic():
        for token in VppToken.objects.select_for_update().only("pk", "secret_ciphertext"):
            token.secret_ciphertext = reencrypt(token.secret_ciphertext)
            token.save(update_fields=["secret_ciphertext"])
            count += 1
        for model, field in _encrypted_fields():
            _column_reencrypt(model, field)
    return count


def _encrypted_fields():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


def _column_reencrypt(model, field, batch: int = 2000) -> None:
    """Rewrite one encrypted column under the newest key (the field encrypts what it saves)."""
    rows = model._base_manager.exclude(**{field.name: ""}).order_by("pk")
    last = None
    while True:
        page = rows.filter(pk__gt=last) if last is not None else rows
        values = list(page.values_list("pk", field.name)[:batch])  # decrypted on read
        if not values:
            return
        model._base_manager.bulk_update(
            [model(pk=pk, **{field.name: secret}) for pk, secret in values], [field.name]
        )
        last = values[-1][0]
