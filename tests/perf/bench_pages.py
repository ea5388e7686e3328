"""Time every admin page on a seeded district: `make bench-pages` (BENCH_SCALE=0.05 for 5 %).

Builds its own throwaway database (`<DATABASE_URL name>_pages`, or a SQLite file), seeds it with
`seed_scale`, then, as a license viewer and as a portal admin, requests each registered admin
model's list (first page, each list filter's first choice, a search) and a detail page, the
admin's own custom pages (found from each ModelAdmin's get_urls), the index pages, other
parameter-free pages of the URLconf (dashboards, API lists), and the assign preview for the
biggest group. Pages of apps added later join automatically. Prints the median and worst
server time and the query count per page; the last line is machine-readable.
"""

from __future__ import annotations

import html
import logging
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import SCALE, bench_database, django_setup, drop_database

REPEAT = 3
TARGET_MS, TARGET_QUERIES = 300, 30
STANDARD_VIEWS = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")
SKIPPED_PATHS = ("logout", "password", "healthz", "schema", "docs", "jsi18n", "login")


@dataclass
class Page:
    label: str
    url: str
    method: str = "GET"
    data: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)  # role -> [ms]
    db_times: dict = field(default_factory=dict)  # role -> [ms in the database]
    # role -> [ms of this process's CPU]: the page's Python cost, whatever else loads the machine
    cpu_times: dict = field(default_factory=dict)
    queries: dict = field(default_factory=dict)  # role -> max queries
    status: dict = field(default_factory=dict)  # role -> last status


def main() -> None:
    # BENCH_REUSE_DB=1 times the pages of the database a BENCH_KEEP_DB=1 run left, unseeded.
    reuse = bool(os.environ.get("BENCH_REUSE_DB"))
    database_url, pg_name = bench_database("pages", reuse=reuse)
    os.environ.update({"ALLOWED_HOSTS": "testserver", "SECURE_COOKIES": "false"})  # test client
    django_setup(database_url)
    from django.db import connection

    from assignments.models import Person
    from sync.seed_scale import district_seed

    print(f"bench_pages on {connection.vendor}, scale {SCALE}", flush=True)
    if not (reuse and Person.objects.exists()):
        started = time.perf_counter()
        district_seed(scale=SCALE, progress=lambda done: print(f"  seeded {done}", flush=True))
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
    from django.conf import settings
    from django.test.utils import override_settings

    logging.disable(logging.WARNING)  # the forbidden pages a viewer meets are expected

    # Served without collectstatic: the manifest storage would refuse every page.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        with override_settings(STORAGES=storages):
            clients = _clients()
            pages = _selected(_pages(clients["portal admin"]))
            for page in pages:
                for role, client in clients.items():
                    _measure(page, role, client)
        _report(pages)
    finally:
        drop_database(pg_name)


def _clients() -> dict:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from config.roles import LICENSE_VIEWERS, PORTAL_ADMINS

    clients = {}
    for role in (LICENSE_VIEWERS, PORTAL_ADMINS):
        user, _ = User.objects.get_or_create(
            username=f"bench-{role.lower().replace(' ', '-')}", defaults={"is_staff": True}
        )
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        clients["viewer" if role == LICENSE_VIEWERS else "portal admin"] = client
    return clients


def _pages(admin_client) -> list[Page]:
    """Every admin list/filter/search/detail page and custom page, and the other plain pages."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    pages = [Page("admin index", reverse("admin:index"))]
    seen_apps = set()
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0].__name__):
        opts = model._meta
        name = f"{opts.app_label}.{opts.model_name}"
        if opts.app_label not in seen_apps:
            seen_apps.add(opts.app_label)
            pages.append(
                Page(f"{opts.app_label} index", reverse("admin:app_list", args=[opts.app_label]))
            )
        try:
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except NoReverseMatch:
            continue
        pages.append(Page(f"{name} list", changelist))
        response = admin_client.get(changelist)
        body = response.content.decode() if response.status_code == 200 else ""
        for label, query in _filter_choices(body):
            pages.append(Page(f"{name} filter {label}", f"{changelist}?{query}"))
        term = _search_term(model, model_admin)
        if term:
            pages.append(Page(f"{name} search", f"{changelist}?q={term}"))
        sample = _sample(model)
        if sample is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[sample])
            pages.append(Page(f"{name} detail", change))
            response = admin_client.get(change)
            body = response.content.decode() if response.status_code == 200 else ""
            for url in _linked_lists(body):
                pages.append(Page(f"{name} detail → {url.split('/')[3]} list", url))
        pages.extend(_custom_pages(model, model_admin, sample))
    pages.extend(_other_pages())
    pages.extend(_assign_preview())
    pages.extend(_autocomplete_pages())
    pages.extend(_report_pages())
    return pages


def _selected(pages: list[Page]) -> list[Page]:
    """BENCH_PAGES_MATCH / BENCH_PAGES_SKIP: regexes on label or URL that narrow the walk."""
    match, skip = os.environ.get("BENCH_PAGES_MATCH"), os.environ.get("BENCH_PAGES_SKIP")

    def hits(pattern: str, page: Page) -> bool:
        return bool(re.search(pattern, page.label) or re.search(pattern, page.url))

    return [
        page
        for page in pages
        if (not match or hits(match, page)) and not (skip and hits(skip, page))
    ]


def _filter_choices(body: str) -> list[tuple[str, str]]:
    """The first choice of each list filter in the sidebar (other than "All")."""
    start = body.find('id="changelist-filter"')
    if start < 0:
        return []
    sidebar = body[start : body.find("</nav>", start)]
    choices, keys_seen = [], set()
    for section in re.split(r"<details", sidebar)[1:]:
        title = re.search(r'data-filter-title="([^"]*)"', section)
        for href in re.findall(r'href="\?([^"]+)"', section):
            query = html.unescape(href)
            keys = frozenset(part.split("=")[0] for part in query.split("&"))
            if keys & {"o", "p", "q"} or keys in keys_seen:
                continue
            keys_seen.add(keys)
            choices.append((title.group(1) if title else "?", query))
            break
    return choices


def _linked_lists(body: str) -> list[str]:
    """Filtered lists a detail page links to (a group's members, a book's licenses...)."""
    found = []
    for href in re.findall(r'href="(/admin/[^"?]+/\?[^"]+)"', body):
        url = html.unescape(href)
        if "_changelist_filters" not in url and url not in found:
            found.append(url)
    return found


def _search_term(model, model_admin) -> str:
    """The start of a value the first search field holds, so the search finds something."""
    from django.db.models import F

    if not model_admin.search_fields:
        return ""
    lookup = model_admin.search_fields[0].lstrip("^=@")
    try:
        value = model.objects.order_by("pk").values_list(F(lookup), flat=True)[:1]
        value = next(iter(value), "")
    except Exception:
        return ""
    exact = model_admin.search_fields[0].startswith("=")
    text = str(value or "")
    return text if exact else text[:6]


def _sample(model):
    """The first row: seed_scale writes the biggest group, its book and its people first."""
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


def _custom_pages(model, model_admin, sample) -> list[Page]:
    """The admin's own GET pages (assign, import, progress, cover...), with ids filled in."""
    from django.contrib import admin

    models_by_name = {m._meta.model_name: m for m in admin.site._registry}
    pages = []
    for pattern in model_admin.get_urls():
        name = getattr(pattern, "name", None)
        if not name or name.endswith(STANDARD_VIEWS):
            continue
        args = list(pattern.pattern.converters)
        values = []
        for arg in args:
            if arg == "pk" or arg == "object_id":
                values.append(sample)
                continue
            wanted = arg.removesuffix("_pk").removesuffix("_id")
            related = next((m for n, m in models_by_name.items() if n.endswith(wanted)), None)
            values.append(related and _sample(related))
        if any(v is None for v in values):
            continue
        from django.urls import reverse

        pages.append(Page(f"custom {name}", reverse(f"admin:{name}", args=values)))
    return pages


def _other_pages() -> list[Page]:
    """Parameter-free pages outside the admin (dashboards, API lists) the URLconf declares."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                path = prefix + route
                if (
                    pattern.pattern.converters
                    or "(?P" in path
                    or "<" in path
                    or any(s in path for s in SKIPPED_PATHS)
                    or path.startswith("^")
                ):
                    continue
                path = path.replace("^", "").replace("$", "").replace("\\", "")
                found.append(Page(f"page /{path}", f"/{path}"))

    walk(get_resolver().url_patterns, "")
    return [p for p in found if p.url != "/"]


def _assign_preview() -> list[Page]:
    """The irrevocability preview of assigning a book to the biggest group (a POST)."""
    from django.urls import NoReverseMatch, reverse

    from assignments.models import GroupAssignment, UserGroup

    group = UserGroup.objects.order_by("pk").first()
    assignment = GroupAssignment.objects.filter(group=group).order_by("pk").first()
    if group is None or assignment is None:
        return []
    try:
        url = reverse("admin:assignments_assign_book", args=[assignment.ebook_id])
    except NoReverseMatch:
        return []
    data = {"groups": [group.pk], "intent": "available", "cap": ""}
    return [Page("assign preview, biggest group", url, method="POST", data=data)]


def _autocomplete_pages() -> list[Page]:
    """The suggestions the assign and group pages ask for as the admin types (JSON)."""
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    from assignments.models import Person, UserGroup
    from ebooks.models import EBook

    book = EBook.objects.exclude(title="").order_by("pk").first()
    group = UserGroup.objects.order_by("pk").first()
    person = Person.objects.order_by("pk").first()
    if book is None or group is None or person is None:
        return []
    asks = [
        ("book picker", "admin:ebooks_ebook_picker", "groupassignment", "ebook", ""),
        (
            "book picker, a title",
            "admin:ebooks_ebook_picker",
            "groupassignment",
            "ebook",
            book.title[:4],
        ),
        (
            "group autocomplete",
            "admin:autocomplete",
            "groupassignment",
            "excluded_groups",
            group.name[:4],
        ),
        ("person autocomplete", "admin:autocomplete", "membership", "person", person.email[:4]),
    ]
    pages = []
    for label, name, model_name, field_name, term in asks:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        query = urlencode(
            {
                "app_label": "assignments",
                "model_name": model_name,
                "field_name": field_name,
                "term": term,
            }
        )
        pages.append(Page(label, f"{url}?{query}"))
    return pages


def _report_pages() -> list[Page]:
    """The read side's pages under /admin/reports/ (the walk above skips admin/ routes)."""
    from django.urls import NoReverseMatch, reverse

    from assignments.models import Person, UserGroup
    from ebooks.models import EBook

    book = EBook.objects.order_by("pk").first()
    group = UserGroup.objects.order_by("pk").first()
    person = Person.objects.order_by("pk").first()
    if book is None or group is None or person is None:
        return []
    try:
        funnel = reverse("reports:funnel")
        export = reverse("reports:changelist_export", args=["assignments", "license"])
        pages = [
            Page("reports leavers", reverse("reports:leavers")),
            Page("reports leavers CSV", reverse("reports:leavers") + "?format=csv"),
            Page("reports funnel, book", f"{funnel}?ebook={book.pk}"),
            Page("reports funnel, book and group", f"{funnel}?ebook={book.pk}&group={group.pk}"),
            Page("reports funnel, stuck invited", f"{funnel}?ebook={book.pk}&step=registered"),
            Page("reports funnel, group", f"{funnel}?group={group.pk}"),
            Page(
                "reports dashboard CSV tokens", reverse("reports:dashboard_export", args=["tokens"])
            ),
            Page(
                "reports dashboard CSV forecast",
                reverse("reports:dashboard_export", args=["forecasts"]),
            ),
            Page("reports ledger CSV", reverse("reports:ledger_export", args=[person.pk])),
            Page(
                "reports holders CSV",
                f"{export}?ebook__id__exact={book.pk}&state__in=assigned,pending",
            ),
        ]
    except NoReverseMatch:
        return []
    return pages


def _measure(page: Page, role: str, client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, db_times, cpu_times = [], [], []
    for _ in range(REPEAT):
        with CaptureQueriesContext(connection) as queries:
            t0, c0 = time.perf_counter(), time.process_time()
            if page.method == "POST":
                response = client.post(page.url, page.data)
            else:
                response = client.get(page.url)
            if response.streaming:  # a CSV export: timed to its last byte
                b"".join(response.streaming_content)
            times.append((time.perf_counter() - t0) * 1000)
            cpu_times.append((time.process_time() - c0) * 1000)
        db_times.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        page.queries[role] = max(page.queries.get(role, 0), len(queries))
        page.status[role] = response.status_code
    page.times[role] = times
    page.db_times[role] = db_times
    page.cpu_times[role] = cpu_times


def _report(pages: list[Page]) -> None:
    worst_median, worst_queries, worst_cpu, slowest = 0.0, 0, 0.0, ""
    print(
        f"{'page':<58} {'role':<12} {'st':>3} {'median':>8} {'worst':>8} {'db':>7} {'cpu':>7} "
        f"{'q':>4}"
    )
    over = 0
    for page in pages:
        for role, times in page.times.items():
            median, worst = statistics.median(times), max(times)
            db = statistics.median(page.db_times[role])
            cpu = statistics.median(page.cpu_times[role])
            queries = page.queries[role]
            flag = ""
            if page.status[role] == 200 and (median > TARGET_MS or queries > TARGET_QUERIES):
                flag, over = "  <-- over target", over + 1
            print(
                f"{page.label[:58]:<58} {role:<12} {page.status[role]:>3} {median:>6.0f}ms "
                f"{worst:>6.0f}ms {db:>5.0f}ms {cpu:>5.0f}ms {queries:>4}{flag}"
            )
            print(f"    {page.url}", flush=True) if flag else None
            if page.status[role] != 200:
                continue
            if median > worst_median:
                worst_median, slowest = median, page.url
            worst_queries = max(worst_queries, queries)
            worst_cpu = max(worst_cpu, cpu)
    print(f"{over} page/role pairs over {TARGET_MS} ms or {TARGET_QUERIES} queries")
    # Wall times follow the machine's load; cpu (this process) and db do much less.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"bench_pages pages={len(pages)} worst_median_ms={worst_median:.0f} "
        f"worst_queries={worst_queries} worst_cpu_ms={worst_cpu:.0f} slowest={slowest}"
    )


if __name__ == "__main__":
    main()
