"""Every URL of the portal, enumerated from the URLconf (so new apps' pages are picked up), as
anonymous, each role and a staff member with no role, by GET and POST: allowed or
forbidden as the roles declare (each app's `role_permissions`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEntry
from config.roles import LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS
from sync.models import SyncRun
from tests import factories

pytestmark = pytest.mark.django_db

# Pages anyone may open: signing in, resetting a password, the load balancer's health check.
PUBLIC = {
    "healthz",
    "admin_password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "admin:login",
    "admin:logout",
}
STANDARD = ("changelist", "add", "history", "delete", "change")
# The admin's own pages that are not about a model: any signed-in staff member may open them.
ANY_STAFF = {
    "admin:index",
    "admin:password_change",
    "admin:password_change_done",
    "admin:jsi18n",
    # The API's description (no data): for anyone signed in, never anonymous.
    "api:schema",
    "api:docs",
}
# Custom model pages: the permission each one declares (checked for every role).
CUSTOM = {
    "admin:tokens_vpptoken_renew": "tokens.change_vpptoken",
    "admin:tokens_vpptoken_take_control": "tokens.change_vpptoken",
    "admin:sync_token_sync_now": "sync.trigger_sync",
    "admin:sync_syncrun_progress": "sync.view_syncrun",
    "admin:ebooks_ebook_cover": "ebooks.view_ebook",
    "admin:assignments_assign_choose": "assignments.add_groupassignment",
    "admin:assignments_assign_book": "assignments.add_groupassignment",
    "admin:assignments_person_import": "assignments.import_directory",
}
# Apps whose role permissions are declared on their AppConfig and whose admins follow them
# exactly; other apps (auth, axes, later ones) get the rules every page must keep.
EXACT_APPS = {"tokens", "ebooks", "assignments", "sync", "audit"}


@dataclass(frozen=True)
class Page:
    name: str
    url: str
    model: type | None
    kind: str  # one of STANDARD, "custom", "other"


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern) and pattern.name:
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, prefix + str(pattern.pattern)


def _samples() -> dict[type, object]:
    """One row of every model an admin page may need, made with the project's factories."""
    token = factories.VppTokenFactory()
    ebook = factories.EBookFactory(token=token)
    licence = factories.LicenseFactory(ebook=ebook)
    membership = factories.MembershipFactory()
    rows = [
        token,
        ebook,
        licence,
        licence.person,
        licence.apple_user,
        membership,
        membership.group,
        factories.DeviceFactory(),
        factories.GroupAssignmentFactory(ebook=ebook),
        SyncRun.objects.create(token=token, trigger=SyncRun.Trigger.MANUAL),
        AuditEntry.objects.create(action=AuditEntry.Action.EXPORT, actor_name="x"),
        Group.objects.get(name=OPERATORS),
    ]
    return {type(row): row for row in rows}


def _model_for(path: str):
    match = re.match(r"admin/(\w+)/(\w+)/", path)
    if not match:
        return None
    try:
        return apps.get_model(match.group(1), match.group(2))
    except LookupError:
        return None


def _pages(samples, user) -> list[Page]:
    pages = []
    for name, path in _walk(get_resolver().url_patterns):
        model = _model_for(path)
        kind = "other"
        if model is not None:
            suffix = name.rsplit("_", 1)[-1]
            kind = suffix if name.endswith(f"_{model._meta.model_name}_{suffix}") else "custom"
            kind = kind if kind in STANDARD else "custom"
        kwargs = {}
        for arg in re.findall(r"<(?:\w+:)?(\w+)>", path):
            if arg in {"object_id", "pk", "id"} and model is not None:
                row = samples.get(model) or (user if model is type(user) else None)
                if row is None or row.pk is None:
                    kwargs = None  # no row of this model: a page about nothing proves nothing
                    break
                kwargs[arg] = row.pk
            elif arg == "token_pk":
                kwargs[arg] = samples[apps.get_model("tokens", "VppToken")].pk
            elif arg == "ebook_pk":
                kwargs[arg] = samples[apps.get_model("ebooks", "EBook")].pk
            else:
                kwargs = None  # needs values we cannot invent (reset links, view_on_site)
                break
        if kwargs is None or "(?P" in path:
            continue
        pages.append(Page(name, reverse(name, kwargs=kwargs), model, kind))
    return pages


def django_user_model_superuser():
    """An unsaved superuser: asks an admin what it allows at all."""
    from django.contrib.auth import get_user_model

    return get_user_model()(username="probe", is_superuser=True, is_staff=True, is_active=True)


def _admin_allows(model, kind: str, method: str) -> bool:
    """What the model's admin allows anyone (a superuser) at all: read-only admins refuse edits."""
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = django_user_model_superuser()
    if kind == "add":
        return model_admin.has_add_permission(request)
    if kind == "delete":
        return model_admin.has_delete_permission(request)
    if kind == "change" and method == "POST":
        return model_admin.has_change_permission(request)
    return True


def _expected(page: Page, user, method: str) -> bool | None:
    """True allowed, False forbidden, None: only the rules every page keeps."""
    if page.name in PUBLIC:
        return True
    if user is None:
        return False
    if page.name in ANY_STAFF:
        return True
    if page.name in CUSTOM:
        return user.has_perm(CUSTOM[page.name])
    if page.model is None or page.kind == "custom":
        return None if user.is_superuser or user.groups.exists() else False
    if page.model._meta.app_label not in EXACT_APPS:
        return None if user.is_superuser or user.groups.exists() else False
    opts = page.model._meta
    perm = lambda action: user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")  # noqa: E731
    allowed_by_admin = _admin_allows(page.model, page.kind, method)
    if page.kind in {"changelist", "history"} or (page.kind == "change" and method == "GET"):
        return perm("view") or perm("change")
    if page.kind == "change":
        return allowed_by_admin and perm("change")
    return allowed_by_admin and perm(page.kind)


def _outcome(response) -> bool | None:
    """Did the request get in? A redirect to the login page or a 403 means it did not."""
    if response.status_code in (404, 405):
        return None  # no such object here, or the page does not take this method at all
    if response.status_code == 403:
        return False
    if response.status_code in (301, 302) and "/login/" in response.get("Location", ""):
        return False
    return response.status_code in (200, 201, 204, 301, 302)


def _user(django_user_model, who: str):
    if who == "anonymous":
        return None
    if who == "superuser":
        return django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    user = django_user_model.objects.create_user(who, password="pw", is_staff=True)
    if who in (PORTAL_ADMINS, OPERATORS, LICENSE_VIEWERS):
        user.groups.add(Group.objects.get(name=who))
    return user


@pytest.mark.parametrize(
    "who",
    # Superusers pass every check but read-only admins' (tests/audit covers the audit log's).
    ["anonymous", "staff-without-role", LICENSE_VIEWERS, OPERATORS, PORTAL_ADMINS],
)
def test_every_url_is_allowed_or_forbidden_as_declared(django_user_model, who):
    samples = _samples()
    user = _user(django_user_model, who)
    client = Client()
    if user is not None:
        client.force_login(user)
    wrong, checked = [], 0
    for page in _pages(samples, user or django_user_model(username="nobody")):
        # POST where a page acts (forms, actions); a POST to a read page proves nothing new.
        methods = (
            ("GET", "POST")
            if page.kind in {"add", "change", "delete", "custom"}
            or (page.name in CUSTOM or page.kind == "changelist")
            else ("GET",)
        )
        for method in methods:
            if page.name in {"admin:logout", "healthz"}:
                continue  # signs the client out / has its own tests (tests/config)
            response = client.get(page.url) if method == "GET" else client.post(page.url, {})
            assert response.status_code != 500, (method, page.url)
            expected = _expected(page, user, method)
            got = _outcome(response)
            checked += 1
            if expected is None or got is None:
                continue
            if got != expected:
                wrong.append(f"{method} {page.url} ({page.name}): {response.status_code}")
    assert checked > 100
    assert wrong == [], f"{who}: " + "\n".join(wrong)
