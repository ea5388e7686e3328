"""The mirror tables have no row-level foreign keys: the anti-join after each run stands in."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from assignments import apple_records
from assignments.bulk_sql import (
    _CHECK_PLANNER_SETTINGS,
    LicenseRows,
    apple_users_upsert_rows,
    licenses_assigned_upsert,
    mirror_orphans_count,
)
from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.models import SyncRun
from tests.sync.test_engine import generated  # noqa: F401 - the fixture
from tokens.clients import client_user_id_prefix

pytestmark = pytest.mark.django_db
State = SyncRun.State


def test_a_full_sync_leaves_no_orphan(generated, sync_now):  # noqa: F811
    _, token, _ = generated()
    assert sync_now(token, full=True).state == State.SUCCEEDED
    assert License.objects.filter(token=token).exists()
    assert set(mirror_orphans_count(token_id=token.pk).values()) == {0}


def test_the_check_counts_each_kind_of_orphan(generated, sync_now):  # noqa: F811
    _, token, _ = generated()
    sync_now(token, full=True)
    license = License.objects.filter(token=token).order_by("pk").first()
    book = EBook.objects.filter(token=token).exclude(pk=license.ebook_id).first()
    with connection.cursor() as cursor:  # a writer that bypasses Django, as a bug would
        cursor.execute(
            f"DELETE FROM {AppleUser._meta.db_table} WHERE id = %s", [license.apple_user_id]
        )
        cursor.execute(f"DELETE FROM {EBook._meta.db_table} WHERE id = %s", [book.pk])
    orphans = mirror_orphans_count(token_id=token.pk)
    held_by_user = License.objects.filter(apple_user_id=license.apple_user_id).count()
    assert orphans["licenses without their Apple user"] == held_by_user > 0
    assert (
        orphans["licenses without their book"] == License.objects.filter(ebook_id=book.pk).count()
    )
    assert orphans["licenses without their person"] == 0


def test_a_run_that_finds_an_orphan_fails_and_says_so(generated, sync_now):  # noqa: F811
    _, token, _ = generated()
    sync_now(token, full=True)
    license = License.objects.filter(token=token).order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {AppleUser._meta.db_table} WHERE id = %s", [license.apple_user_id]
        )
    run = sync_now(token, full=True)
    assert run.state == State.FAILED
    assert "licenses without their Apple user" in run.error_message


def test_an_incremental_run_checks_the_licenses_it_wrote(generated, sync_now, monkeypatch):  # noqa: F811
    sim, token, content = generated()
    assert sync_now(token, full=True).state == State.SUCCEEDED
    sim.add_assignments(content, 5, prefix=client_user_id_prefix())
    # A bug that resolves users to ids that do not exist: the check must catch it.
    monkeypatch.setattr(
        "assignments.apple_records.apple_user_ids_resolve",
        lambda *, token_id, client_user_ids, at: {c: (10**12, None) for c in client_user_ids},
    )
    run = sync_now(token)
    assert not run.full
    assert run.state == State.FAILED
    assert "without" in run.error_message


def test_a_first_full_run_inserts_plainly_and_later_runs_upsert(generated, sync_now, monkeypatch):  # noqa: F811
    _, token, _ = generated()
    calls = []
    real = apple_records.licenses_assigned_upsert

    def spy(**kwargs):
        calls.append(kwargs["fresh"])
        return real(**kwargs)

    user_calls = []
    real_users = apple_records.apple_users_upsert_rows

    def users_spy(**kwargs):
        user_calls.append(kwargs["fresh"])
        return real_users(**kwargs)

    monkeypatch.setattr(apple_records, "licenses_assigned_upsert", spy)
    monkeypatch.setattr(apple_records, "apple_users_upsert_rows", users_spy)
    assert sync_now(token, full=True).state == State.SUCCEEDED
    assert calls and all(calls)  # the token had no licenses: no ON CONFLICT needed
    assert user_calls and all(user_calls)
    calls.clear()
    user_calls.clear()
    assert sync_now(token, full=True).state == State.SUCCEEDED
    assert calls and not any(calls)
    assert user_calls and not any(user_calls)


def test_plain_inserts_that_meet_an_existing_license_fall_back_to_the_upsert(generated, sync_now):  # noqa: F811
    _, token, _ = generated()
    sync_now(token, full=True)
    license = License.objects.filter(token=token).order_by("pk").first()
    License.objects.filter(pk=license.pk).update(state=License.State.PENDING)
    rows = LicenseRows()
    rows.add(license.ebook_id, (license.apple_user_id, license.person_id))
    written = licenses_assigned_upsert(
        token_id=token.pk,
        rows=rows,
        at=timezone.now(),
        fresh=True,
    )
    assert written.fresh_conflict
    license.refresh_from_db()
    assert license.state == License.State.ASSIGNED
    user = AppleUser.objects.filter(token=token).order_by("pk").first()
    assert apple_users_upsert_rows(
        token_id=token.pk,
        rows=[(user.client_user_id, "new@b.example", AppleUser.Status.ASSOCIATED, "", "h")],
        seen_at=timezone.now(),
        fresh=True,
    )
    user.refresh_from_db()
    assert user.email == "new@b.example"


def test_a_run_that_wrongly_believes_the_token_fresh_still_converges(
    generated,  # noqa: F811
    sync_now,
    monkeypatch,
):
    _, token, _ = generated()
    sync_now(token, full=True)
    expected = set(License.objects.filter(token=token).values_list("ebook_id", "apple_user_id"))
    # As if the reconciler had written these while a first full run was listing.
    License.objects.filter(token=token, pk__in=_every_other_pk(token)).update(
        state=License.State.PENDING
    )
    listed = AppleUser.objects.filter(token=token).exclude(status=AppleUser.Status.RETIRED)
    listed.update(email="stale@b.example")
    monkeypatch.setattr("sync.engine.licenses_exist", lambda *, token_id: False)
    monkeypatch.setattr("sync.engine.apple_users_exist", lambda *, token_id: False)
    assert sync_now(token, full=True).state == State.SUCCEEDED
    licenses = License.objects.filter(token=token)
    assert set(licenses.values_list("ebook_id", "apple_user_id")) == expected
    assert set(licenses.values_list("state", flat=True)) == {License.State.ASSIGNED}
    assert not AppleUser.objects.filter(token=token, email="stale@b.example").exists()


def _every_other_pk(token) -> list[int]:
    return list(License.objects.filter(token=token).order_by("pk").values_list("pk", flat=True))[
        ::2
    ]


@pytest.mark.django_db(transaction=True)
def test_bulk_writes_outside_a_transaction_keep_their_staged_rows(vpp_token):
    # The reconciler records Apple's users outside a transaction; on PostgreSQL the staging
    # table empties at each commit, so the staging and the insert must share one.
    apple_users_upsert_rows(
        token_id=vpp_token.pk,
        rows=[("sk-x-1", "a@b.example", AppleUser.Status.ASSOCIATED, "", "hash")],
        seen_at=timezone.now(),
    )
    assert AppleUser.objects.filter(token=vpp_token, client_user_id="sk-x-1").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_a_full_sync_refreshes_the_apple_users_statistics(generated, sync_now):  # noqa: F811
    # Without them, each batch's look-up of users Apple's active listing left out was planned
    # as a scan of the whole table (9 s of a full-size sync).
    _, token, _ = generated()
    assert sync_now(token, full=True).state == State.SUCCEEDED
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE relname = %s", [AppleUser._meta.db_table]
        )
        (estimated,) = cursor.fetchone()
    assert estimated > 0  # -1 or 0: never analyzed since the table was empty


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner settings")
def test_the_check_leaves_the_planner_settings_of_the_callers_transaction_alone():
    """Its hash-join settings are for its own query; a caller's later statements (tests run a
    whole sync in one transaction) are planned as usual."""

    def settings() -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [list(_CHECK_PLANNER_SETTINGS)],
            )
            return dict(cursor.fetchall())

    before = settings()
    mirror_orphans_count(token_id=0)
    assert settings() == before
    assert before["enable_nestloop"] == "on"
