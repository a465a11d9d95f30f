"""Account deletion (DELETE /account and the worker's resumable steps) and the
data export (GET /account/export), end to end against the real schema, with
Supabase's Storage and Auth admin APIs faked at their HTTP boundary."""

import psycopg
import pytest
import respx

from tests.apphelpers import client_for, user_token
from tests.catalog import OBJECT, make_artist, upload_track
from tests.providers import MONEY_SETTINGS, payment_intent
from tests.room import broadcasts
from tests.supabase_fakes import FakeSupabase
from tests.workerhelpers import worker_context
from workers import accounts

SERVICE_KEY = {"supabase_service_role_key": "service-role-key-for-tests"}
CONFIRM = {"confirm": "DELETE"}
AVATAR = ("insert into storage.objects (bucket_id, name, owner_id, metadata) "
          "values ('avatars', %s, %s, '{\"mimetype\": \"image/png\", \"size\": 1000}')")


def auth(user_id) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user_id)}"}


def paid_tip(db, tip_room, tipper, message="great set") -> dict:
    tip = db.admin.execute("select * from private.create_tip(%s, %s, 700, 'usd', %s, 'key-' || md5(random()::text), "
                           "1000)", (tipper, tip_room["session"], message)).fetchone()
    db.admin.execute("update public.tips set stripe_payment_intent_id = 'pi_' || replace(id::text, '-', '') "
                     "where id = %s", (tip[0],))
    row = db.service().one("select * from public.tips t join (select id, client_key, stripe_account_id "
                           "from public.tips) s using (id) where t.id = %s", (tip[0],))
    db.admin.execute("select private.apply_payment_intent(%s::jsonb)",
                     (psycopg.types.json.Jsonb(payment_intent(row, "succeeded")),))
    return row


@pytest.fixture
def member(db, tip_room):
    """A listener with a bit of everything: a follow, a chat line, a tip, an avatar, a track."""
    user = tip_room["listener"]
    client = db.as_user(user)
    client.rpc("follow", p_user_id=tip_room["dj"])
    client.sql("insert into public.messages (session_id, body) values (%s, 'hi all')", (tip_room["session"],))
    client.sql(AVATAR, (f"{user}/me.png", str(user)))
    client.sql("update public.profiles set is_artist = true where id = %s", (user,))
    upload_track(db, user, "My demo")
    paid_tip(db, tip_room, user)
    dj = db.as_user(tip_room["dj"])
    item = dj.value("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
                    "values (%s, 'Heard here', 'Artist', 200000, 'spotify', 'heard') returning id", (tip_room["session"],))
    dj.rpc_rows("advance", p_session_id=tip_room["session"])
    saved = client.rpc_rows("save_song", p_item_id=item)[0]["id"]
    playlist = client.value("insert into public.playlists (name) values ('Keepers') returning id")
    client.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (playlist, saved))
    return user


async def test_export_holds_the_users_data(db, tip_room, member):
    async with client_for(db) as client:
        response = await client.get("/account/export", headers=auth(member))
        anonymous = await client.get("/account/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment")
    export = response.json()
    assert export["profile"]["id"] == str(member) and export["profile"]["username"] == "listener"
    assert [f["user_id"] for f in export["following"]] == [str(tip_room["dj"])]
    assert [(m["kind"], m["body"]) for m in export["messages"]] == [("text", "hi all"), ("tip", "listener tipped 7.00 USD")]
    assert [(t["amount"], t["status"], t["message"]) for t in export["tips_sent"]] == [(700, "succeeded", "great set")]
    assert "stripe_account_id" not in export["tips_sent"][0]
    assert [t["title"] for t in export["tracks"]] == ["My demo"]
    assert {f["bucket"] for f in export["files"]} == {"avatars", "tracks"}
    assert export["sessions_joined"][0]["session_id"] == str(tip_room["session"])
    dj_name = db.admin.execute("select username from public.profiles where id = %s", (tip_room["dj"],)).fetchone()[0]
    assert [(s["title"], s["played_by"]) for s in export["saved_songs"]] == [("Heard here", dj_name)]
    assert [(p["name"], [s["title"] for s in p["songs"]]) for p in export["playlists"]] == [("Keepers", ["Heard here"])]
    assert export["subscriptions"] == []
    assert anonymous.status_code == 401


async def test_deletion_needs_confirming(db, member):
    async with client_for(db) as client:
        for body in (None, {}, {"confirm": "yes"}):
            response = await client.request("DELETE", "/account", json=body, headers=auth(member))
            assert response.status_code == 422, response.text
        assert (await client.request("DELETE", "/account", json=CONFIRM)).status_code == 401
    assert db.service().value("select count(*) from public.profiles where id = %s", (member,)) == 1


async def test_deletion_end_to_end_with_a_failing_step_resumed(db, tip_room, member):
    tip_before = db.service().one("select amount, status::text, platform_fee from public.tips")
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await client.request("DELETE", "/account", json=CONFIRM, headers=auth(member))
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "deleting"
        again = await client.request("DELETE", "/account", json=CONFIRM, headers=auth(member))
        assert again.json()["requested_at"] == response.json()["requested_at"]
        # the still-valid token can do nothing any more (and nothing reaches Stripe)
        assert (await client.get("/account/export", headers=auth(member))).status_code == 401
        assert (await client.post("/checkout", json={"plan_id": "premium"}, headers=auth(member))).status_code == 401
        tip = await client.post("/tips", headers=auth(member), json={
            "session_id": str(tip_room["session"]), "amount": 500, "currency": "usd", "idempotency_key": "after-gone"})
        assert tip.status_code == 403

    # at once: the app data is gone, the money kept and anonymised
    assert db.service().value("select count(*) from public.profiles where id = %s", (member,)) == 0
    for table, column in (("follows", "follower_id"), ("messages", "sender_id"), ("session_participants", "user_id"),
                          ("tracks", "artist_id")):
        assert db.service().value(f"select count(*) from public.{table} where {column} = %s", (member,)) == 0
    tip = db.service().one("select amount, status::text, platform_fee, tipper_id, message, dj_id from public.tips")
    assert tip == {**tip_before, "tipper_id": None, "message": "", "dj_id": tip_room["dj"]}
    me = db.as_user(member)
    assert me.sql("select 1 from public.tips") == [] and me.rpc_rows("my_plan")[0]["plan_id"] == "free"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        me.sql(AVATAR, (f"{member}/again.png", str(member)))
    # writes need the profile: refused by a rule, or by its foreign key (PostgREST: 409), and nothing is written
    for write in (lambda: me.sql("insert into public.follows (followee_id) values (%s)", (tip_room["dj"],)),
                  lambda: me.rpc_rows("join_session", p_session_id=tip_room["session"]),
                  lambda: me.rpc_rows("register_push_token", p_token="ExponentPushToken[gone]", p_platform="ios")):
        with pytest.raises(psycopg.Error) as caught:
            write()
        assert caught.value.sqlstate in ("23503", "PT401", "PT403"), caught.value

    fake = FakeSupabase(db, storage_failures=1)
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        async with worker_context(db, **SERVICE_KEY) as ctx:
            assert await accounts.delete_accounts(ctx) == 0  # storage answered 500
            job = db.admin.execute("select * from private.account_deletions").fetchone()
            state = db.admin.execute("select storage_removed_at, completed_at, attempts, last_error, "
                                     "next_attempt_at > now() from private.account_deletions").fetchone()
            assert state[:3] == (None, None, 1) and state[3].startswith("storage: ") and state[4]
            assert fake.auth_calls == []  # auth waits for storage
            assert await accounts.delete_accounts(ctx) == 0  # not due yet: nothing tried
            assert len(fake.storage_calls) == 1
            db.admin.execute("update private.account_deletions set next_attempt_at = now()")
            assert await accounts.delete_accounts(ctx) == 1
    assert job is not None
    assert db.admin.execute("select count(*) from storage.objects").fetchone()[0] == 0
    assert db.admin.execute("select count(*) from auth.users where id = %s", (member,)).fetchone()[0] == 0
    done = db.admin.execute("select files_removed, completed_at is not null, last_error from private.account_deletions"
                            ).fetchone()
    assert done == (2, True, None)
    assert fake.auth_calls == [str(member)]
    async with client_for(db) as client:  # a later request: still done, nothing else
        late = await client.request("DELETE", "/account", json=CONFIRM, headers=auth(member))
    assert late.json()["status"] == "deleted"


async def test_an_auth_step_that_failed_resumes_without_redoing_storage(db, tip_room, member):
    db.admin.execute("select private.request_account_deletion(%s)", (member,))
    fake = FakeSupabase(db, auth_failures=1)
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        async with worker_context(db, **SERVICE_KEY) as ctx:
            assert await accounts.delete_accounts(ctx) == 0
            row = db.admin.execute("select storage_removed_at is not null, completed_at, last_error "
                                   "from private.account_deletions").fetchone()
            assert row[0] and row[1] is None and row[2].startswith("auth: ")
            db.admin.execute("update private.account_deletions set next_attempt_at = now()")
            storage_calls = len(fake.storage_calls)
            assert await accounts.delete_accounts(ctx) == 1
    assert len(fake.storage_calls) == storage_calls  # resumed at the auth step
    assert fake.auth_calls == [str(member)] * 2


async def test_an_auth_user_already_gone_completes_the_job(db, member):
    db.admin.execute("select private.request_account_deletion(%s)", (member,))
    fake = FakeSupabase(db)
    with db.admin.transaction():
        db.admin.execute("set local role supabase_auth_admin")
        db.admin.execute("delete from auth.users where id = %s", (member,))
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        async with worker_context(db, **SERVICE_KEY) as ctx:
            assert await accounts.delete_accounts(ctx) == 1
    assert db.admin.execute("select completed_at is not null from private.account_deletions").fetchone()[0]


def test_a_dj_with_tips_and_sessions_can_be_deleted_directly(db, tip_room):
    """What the Auth admin API does: delete from auth.users. It used to fail on
    tips_tipper_id_fkey / tips_dj_id_fkey (RESTRICT); money now outlives people."""
    paid_tip(db, tip_room, tip_room["listener"])
    db.admin.execute("insert into public.payouts (id, dj_id, stripe_account_id, amount, currency, status, last_event_at) "
                     "values ('po_1', %s, 'acct_1', 630, 'usd', 'paid', now())", (tip_room["dj"],))
    db.admin.execute("insert into public.invoices (id, user_id, stripe_customer_id, status, currency, total, amount_due, "
                     "amount_paid, amount_remaining, invoice_created_at, last_event_at) "
                     "values ('in_1', %s, 'cus_1', 'paid', 'usd', 999, 999, 999, 0, now(), now())", (tip_room["listener"],))
    for user in (tip_room["dj"], tip_room["listener"]):
        with db.admin.transaction():
            db.admin.execute("set local role supabase_auth_admin")
            db.admin.execute("delete from auth.users where id = %s", (user,))
    tip = db.service().one("select amount, status::text, tipper_id, dj_id, session_id from public.tips")
    assert tip == {"amount": 700, "status": "succeeded", "tipper_id": None, "dj_id": None, "session_id": None}
    assert db.admin.execute("select sum(amount) from private.earnings_entries where dj_id is null").fetchone()[0] == 630
    assert db.admin.execute("select dj_id, amount from public.payouts").fetchall() == [(None, 630)]
    assert db.admin.execute("select user_id, amount_paid from public.invoices").fetchall() == [(None, 999)]


def test_tracks_objects_are_found_for_deletion(db):
    artist = make_artist(db)
    db.as_user(artist).sql(OBJECT, (f"{artist}/a.mp3", str(artist)))
    rows = db.admin.execute("select * from private.account_storage_objects(%s, 10)", (artist,)).fetchall()
    assert rows == [("tracks", f"{artist}/a.mp3")]


def test_a_live_djs_room_hears_the_session_end_when_the_dj_deletes_the_account(db, tip_room):
    db.admin.execute("select private.request_account_deletion(%s)", (tip_room["dj"],))
    assert [b["status"] for b in broadcasts(db, f"session:{tip_room['session']}", "session_ended")] == ["ended"]
    assert db.service().value("select count(*) from public.sessions") == 0


def test_a_moderator_and_their_dj_can_delete_their_accounts(db, tip_room):
    """Removing a moderator is logged in moderation_actions, except when the
    moderator's account or the room itself is being deleted: such a log row
    could reference neither, and the deletion used to fail on its foreign key."""
    session = tip_room["session"]
    db.as_user(tip_room["dj"]).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                                   (session, tip_room["listener"]))
    for user in (tip_room["listener"], tip_room["dj"]):
        with db.admin.transaction():
            db.admin.execute("set local role supabase_auth_admin")
            db.admin.execute("delete from auth.users where id = %s", (user,))
    assert db.admin.execute("select count(*) from public.session_moderators").fetchone()[0] == 0
    assert db.admin.execute("select count(*) from public.sessions where id = %s", (session,)).fetchone()[0] == 0
