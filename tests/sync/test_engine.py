"""A sync pulls books, counts, our users and licenses from the simulator, and converges."""

from __future__ import annotations

import gc

import pytest

from apple.errors import AppleRequestError
from apple.simulator import Simulator
from assignments.models import AppleUser, License
from ebooks.models import EBook
from sync.engine import SyncEngine
from sync.models import SyncCursor, SyncRun
from tests.sync.conftest import snapshot
from tokens.clients import client_user_id_prefix
from tokens.models import VppToken
from tokens.services import token_import

pytestmark = pytest.mark.django_db
State = SyncRun.State


@pytest.fixture
def generated(settings):
    """A simulator with a synthetic location: some of its users are ours, some another product's."""
    from apple.client import clear_service_config_cache

    simulators = []

    def _make(*, books=40, users=300, assignments=1500, foreign_users=40, page_size=50) -> tuple:
        spec = (
            f"books={books},users={users},assignments={assignments},"
            f"foreign_users={foreign_users},apps=3,prefix={client_user_id_prefix()},seed=7"
        )
        sim = Simulator(generate=spec, page_size=page_size, event_delay=0.0)
        sim.start(port=0)
        simulators.append(sim)
        settings.VPP_SERVICE_URL = sim.api_url
        settings.VPP_STORE_LOOKUP_URL = sim.lookup_url
        clear_service_config_cache()
        content = sim.issue_token(org="Big District", location="Warehouse")
        token = token_import(
            file_bytes=content.encode(), apple_id="a@district.example", account_type="education"
        )
        return sim, token, content

    yield _make
    for sim in simulators:
        sim.stop()
    clear_service_config_cache()


def test_first_sync_pulls_books_metadata_users_and_licenses(apple, vpp_token, sync_now):
    run = sync_now(vpp_token)
    assert run.state == State.SUCCEEDED, run.error_message
    assert run.phase == SyncRun.Phase.DONE
    books = EBook.objects.filter(token=vpp_token)
    assert books.count() >= 25
    assert run.books_added == books.count()
    # Apps in the token never appear (rule 5).
    assert not books.filter(adam_id__in=_app_ids(apple, vpp_token)).exists()
    pride = books.get(title="Pride and Prejudice", pricing_param="STDQ")
    assert pride.author == "Jane Austen"
    assert pride.description and pride.artwork_url and pride.genres
    assert books.filter(unlimited=True).exists()
    assert books.filter(pricing_param="PLUS").exists()
    assert run.apple_requests > 0
    vpp_token.refresh_from_db()
    assert vpp_token.last_sync_ok is True
    assert vpp_token.book_count == books.count()
    assert "books added" in vpp_token.last_sync_summary


def test_foreign_users_and_their_licenses_are_counted_never_stored(apple, vpp_token, sync_now):
    run = sync_now(vpp_token)
    assert run.foreign_users_ignored > 0
    assert run.foreign_licenses_ignored > 0
    assert not AppleUser.objects.exclude(
        client_user_id__startswith=client_user_id_prefix()
    ).exists()


def test_our_users_and_licenses_are_stored(generated, sync_now):
    sim, token, content = generated()
    run = sync_now(token)
    assert run.state == State.SUCCEEDED, run.error_message
    prefix = client_user_id_prefix()
    ours_at_apple = [u for u in sim.users(content) if u["clientUserId"].startswith(prefix)]
    active = [u for u in ours_at_apple if u["status"] in ("Registered", "Associated")]
    stored = AppleUser.objects.filter(token=token).exclude(status=AppleUser.Status.RETIRED)
    assert stored.count() == len(active)
    assert run.foreign_users_ignored == 40 - _retired_foreign(sim, content)
    ours_licenses = [
        a for a in sim.assignments(content) if (a.get("clientUserId") or "").startswith(prefix)
    ]
    assert License.objects.filter(token=token).count() == len(ours_licenses)
    assert run.licenses_seen == len(ours_licenses)


def test_sync_twice_changes_nothing(generated, sync_now):
    _, token, _ = generated()
    sync_now(token)
    before = snapshot(token)
    second = sync_now(token)
    assert second.state == State.SUCCEEDED
    assert snapshot(token) == before
    assert (second.books_added, second.books_updated, second.books_gone) == (0, 0, 0)


def test_unchanged_incremental_sync_makes_one_request_per_paged_endpoint(generated, sync_now):
    _, token, _ = generated()
    sync_now(token)
    second = sync_now(token)
    # client config, then the first page of assets, users and assignments: nothing changed.
    assert second.apple_requests == 4
    assert second.licenses_seen == 0


def test_changed_counts_make_the_assets_read_in_full(generated, sync_now):
    sim, token, content = generated(page_size=10)
    sync_now(token)
    book = EBook.objects.filter(token=token, unlimited=False).first()
    sim.change_license_count(content, book.adam_id, book.pricing_param, 5)
    run = sync_now(token)
    assert run.books_updated == 1
    assert run.apple_requests > 4


def test_incremental_after_changes_equals_a_fresh_full_sync(generated, sync_now):
    sim, token, content = generated()
    sync_now(token)
    sim.add_assignments(content, 120, prefix=client_user_id_prefix())
    sim.accept_invitation(_an_invite_code(sim, content))
    incremental = sync_now(token)
    assert incremental.state == State.SUCCEEDED
    assert incremental.licenses_seen > 0
    after_incremental = snapshot(token)
    _forget_everything(token)
    sync_now(token, full=True)
    assert snapshot(token) == after_incremental


def test_books_no_longer_in_the_token_are_marked_not_deleted(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    gone = EBook.objects.filter(token=vpp_token).first()
    apple.transfer_out(_content(vpp_token), gone.adam_id, gone.pricing_param)
    run = sync_now(vpp_token)
    assert run.books_gone == 1
    gone.refresh_from_db()
    assert gone.gone_at is not None
    assert (
        EBook.objects.filter(token=vpp_token, gone_at__isnull=True).count() == run.token.book_count
    )


def test_invalid_version_id_falls_back_to_a_full_read(generated, sync_now):
    _, token, _ = generated()
    sync_now(token)
    SyncCursor.objects.filter(token=token).update(
        assignments_version_id="bogus", users_version_id="bogus"
    )
    before = snapshot(token)
    run = sync_now(token)
    assert run.state == State.SUCCEEDED
    assert snapshot(token) == before
    assert run.licenses_seen > 0  # it re-read everything


def test_counts_follow_apple(apple, vpp_token, sync_now):
    sync_now(vpp_token)
    book = EBook.objects.filter(token=vpp_token, unlimited=False, total_count__gt=10).first()
    apple.change_license_count(_content(vpp_token), book.adam_id, book.pricing_param, 7)
    run = sync_now(vpp_token)
    assert run.books_updated == 1
    book.refresh_from_db()
    assert (
        book.total_count
        == apple.asset(_content(vpp_token), book.adam_id, book.pricing_param)["totalCount"]
    )


@pytest.mark.django_db(transaction=True)
def test_pages_written_side_by_side_converge(generated, sync_now):
    """Outside a test transaction, PostgreSQL pages are written by two threads: same results."""
    sim, token, content = generated(page_size=20)
    first = sync_now(token)
    assert first.state == State.SUCCEEDED, first.error_message
    assert first.progress_done == first.progress_total
    before = snapshot(token)
    assert sync_now(token).state == State.SUCCEEDED
    assert snapshot(token) == before
    sim.add_assignments(content, 120, prefix=client_user_id_prefix())
    sim.accept_invitation(_an_invite_code(sim, content))
    assert sync_now(token).state == State.SUCCEEDED
    after_incremental = snapshot(token)
    _forget_everything(token)
    sync_now(token, full=True)
    assert snapshot(token) == after_incremental


def _content(token: VppToken) -> str:
    from tokens.crypto import decrypt

    return decrypt(token.secret_ciphertext)


def _app_ids(sim, token) -> set[str]:
    location = sim.location(_content(token))
    return {asset.adam_id for asset in location.assets if asset.product_type == "App"}


def _retired_foreign(sim, content) -> int:
    prefix = client_user_id_prefix()
    return sum(
        1
        for u in sim.users(content)
        if not u["clientUserId"].startswith(prefix)
        and u["status"] not in ("Registered", "Associated")
    )


def _an_invite_code(sim, content) -> str:
    prefix = client_user_id_prefix()
    return next(
        u["inviteCode"]
        for u in sim.users(content)
        if u["clientUserId"].startswith(prefix) and u["status"] == "Registered"
    )


def _forget_everything(token) -> None:
    License.objects.filter(token=token).delete()
    AppleUser.objects.filter(token=token).delete()
    EBook.objects.filter(token=token).delete()
    SyncCursor.objects.filter(token=token).delete()


def test_books_apple_lists_with_ids_no_column_holds_are_skipped_not_fatal(
    apple, vpp_token, sync_now
):
    """PostgreSQL refuses a NUL, and an id longer than the column: such a book failed every
    sync of its token. The other books are synced."""
    from apple.simulator.tables import Asset as SimAsset

    location = apple.location(_content(vpp_token))
    garbage = [("12\x0034", "STDQ"), ("9" * 40, "STDQ"), ("777", "ST\x00DQ")]
    for adam_id, pricing in garbage:
        location.add_asset(SimAsset(adam_id, pricing, "Book", False, False, total=3))

    run = sync_now(vpp_token)

    assert run.state == State.SUCCEEDED
    books = set(EBook.objects.filter(token=vpp_token).values_list("adam_id", "pricing_param"))
    assert books and not books & set(garbage)


def _collector_enabled_during_users(monkeypatch) -> list[bool]:
    """Whether Python's cyclic collector was on while each run read its users."""
    seen: list[bool] = []
    real_users = SyncEngine._users

    def users(engine, **kwargs):
        seen.append(gc.isenabled())
        return real_users(engine, **kwargs)

    monkeypatch.setattr(SyncEngine, "_users", users)
    return seen


def test_the_collector_is_paused_while_a_run_works_and_back_on_after_it(
    generated, sync_now, monkeypatch
):
    """Each collection stops every thread of the worker: none runs during a sync, and the
    collector is on again once the run has ended, failed runs included."""
    _, token, _ = generated()
    during = _collector_enabled_during_users(monkeypatch)
    assert gc.isenabled()

    assert sync_now(token, full=True).state == State.SUCCEEDED
    assert during == [False]
    assert gc.isenabled()

    monkeypatch.setattr(SyncEngine, "_assignments", _raise_apple_error)
    assert sync_now(token, full=True).state == State.PARTIAL
    assert during == [False, False]
    assert gc.isenabled()


def test_a_run_leaves_a_collector_someone_else_paused_as_it_found_it(
    generated, sync_now, monkeypatch
):
    """A second run side by side (or the host) paused it first: ending this run must not turn
    it back on under them."""
    _, token, _ = generated()
    during = _collector_enabled_during_users(monkeypatch)
    gc.disable()
    try:
        assert sync_now(token, full=True).state == State.SUCCEEDED
        assert during == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()


def _raise_apple_error(engine, **kwargs):
    raise AppleRequestError("Apple refused the listing", error_number=9602)
