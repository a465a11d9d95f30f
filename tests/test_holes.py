"""Holes an adversarial app user found (issue 10), each closed and proven here:
deleted messages, banned moderators, reports, caps under concurrency, devices,
events anyone can force, storage paths, others' identifiers, locks taken
before checks, and who sanctioned you."""

import json
import threading

import psycopg
import pytest

from tests.room import broadcasts, go_live, join, make_dj, refused, session_row
from tests.test_realtime import realtime_authorizes

SEND = "insert into public.messages (session_id, body) values (%s, %s) returning *"
ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', 200000, 'spotify', %s) returning id")
STORE = ("insert into storage.objects (bucket_id, name, owner_id, metadata) "
         "values ('avatars', %s, %s, '{\"mimetype\": \"image/png\", \"size\": 1000}') returning id")


@pytest.fixture
def room(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}


def appoint(db, room, user_id):
    db.as_user(room["dj"]).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                               (room["session"], user_id))


def race(db, user_ids, action):
    """action(client, n) for each user at once, each on its own connection; the outcomes."""
    barrier = threading.Barrier(len(user_ids))
    outcomes = []

    def run(n, user_id):
        with db.connect("authenticator") as conn:
            client = db.as_user(user_id, conn)
            barrier.wait()
            try:
                action(client, n)
                outcomes.append("ok")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=run, args=(n, u)) for n, u in enumerate(user_ids)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return outcomes


# 1. Deleted messages ----------------------------------------------------------------------------

def test_delete_message_reveals_nothing_to_who_may_not_delete(db, room):
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "secret"))
    db.as_user(room["dj"]).rpc_rows("delete_message", p_message_id=message["id"])
    stranger = db.as_user(db.create_user("stranger"))
    with refused("PT404", "message not found"):  # deleted: the same answer as ...
        stranger.rpc_rows("delete_message", p_message_id=message["id"])
    with refused("PT404", "message not found"):  # ... a message that never existed
        stranger.rpc_rows("delete_message", p_message_id=message["id"] + 1000)
    db.admin.execute("update public.session_participants set last_message_at = null")
    live = db.as_user(room["listener"]).one(SEND, (room["session"], "still here"))
    with refused("PT404", "message not found"):  # and a live one of someone else
        db.as_user(join(db, room["session"], "other")).rpc_rows("delete_message", p_message_id=live["id"])
    # the people who may delete it still can, and a repeat is harmless
    assert db.as_user(room["dj"]).rpc_rows("delete_message", p_message_id=message["id"])[0]["body"] == "secret"


def test_a_sender_who_deleted_their_message_alone_still_reads_it(db, room):
    listener = db.as_user(room["listener"])
    message = listener.one(SEND, (room["session"], "oops"))
    first = listener.rpc_rows("delete_message", p_message_id=message["id"])[0]
    assert (first["deleted_by"], first["body"]) == (room["listener"], "oops")
    assert listener.rpc_rows("delete_message", p_message_id=message["id"]) == [first]  # a repeat is harmless
    assert listener.value("select deleted_by from public.messages where id = %s", (message["id"],)) == room["listener"]
    other = db.as_user(join(db, room["session"], "other"))
    assert other.sql("select 1 from public.messages where id = %s", (message["id"],)) == []
    with refused("PT404", "message not found"):
        other.rpc_rows("delete_message", p_message_id=message["id"])
    # out of the room, the sender no longer reads its chat, and deletes nothing there
    db.admin.execute("update public.session_participants set last_message_at = null")
    kept = listener.one(SEND, (room["session"], "kept"))
    listener.rpc("leave_session", p_session_id=room["session"])
    with refused("PT404", "message not found"):
        listener.rpc_rows("delete_message", p_message_id=kept["id"])


# 2. A banned moderator loses the keys -----------------------------------------------------------

def test_banning_a_moderator_removes_the_role_and_every_room_check(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    db.as_user(room["listener"]).one(SEND, (room["session"], "the room talks"))
    db.as_user(room["dj"]).one(ADD, (room["session"], "song", "ref"))
    assert db.as_user(moderator).sql("select 1 from public.messages where session_id = %s", (room["session"],))
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=moderator)
    assert db.admin.execute("select count(*) from public.session_moderators").fetchone()[0] == 0
    assert db.admin.execute("select count(*) from public.moderation_actions where action = 'remove_moderator' "
                            "and target_user_id = %s", (moderator,)).fetchone()[0] == 1
    mod = db.as_user(moderator)
    with refused("PT403"):
        mod.rpc("unban_user", p_session_id=room["session"], p_user_id=moderator)
    with refused("PT403"):
        mod.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    with refused("PT403", "banned"):
        mod.rpc_rows("join_session", p_session_id=room["session"])
    for table in ("messages", "queue_items", "session_participants", "moderation_actions", "session_moderators"):
        others = "user_id <> %s" if table == "session_participants" else "%s::uuid is not null"  # their own row is theirs
        assert mod.sql(f"select 1 from public.{table} where session_id = %s and {others}",
                       (room["session"], moderator)) == [], table
    assert not realtime_authorizes(db, moderator, f"session:{room['session']}")


def test_a_ban_holds_even_if_a_moderator_row_remains(db, room):
    """Defence in depth: a ban inserted by the platform (service_role) while the
    moderator row stays still shuts every room check."""
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    db.service().sql("insert into public.session_sanctions (session_id, user_id, kind) values (%s, %s, 'ban')",
                     (room["session"], moderator))
    mod = db.as_user(moderator)
    assert mod.sql("select 1 from public.messages where session_id = %s", (room["session"],)) == []
    assert not realtime_authorizes(db, moderator, f"session:{room['session']}")
    with refused("PT403"):
        mod.rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"], p_seconds=60)
    item = db.as_user(room["dj"]).one(ADD, (room["session"], "song", "ref"))
    with refused("PT403"):
        mod.sql(ADD, (room["session"], "mine", "mine"))
    with refused("PT403"):
        mod.rpc_rows("vote", p_item_id=item["id"], p_value=1)
    with refused("PT403"):
        mod.sql(SEND, (room["session"], "still talking"))


def test_nobody_lifts_their_own_sanction(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    db.as_user(room["dj"]).rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=moderator, p_seconds=60)
    with refused("PT403", "own"):
        db.as_user(moderator).rpc("unban_user", p_session_id=room["session"], p_user_id=moderator)
    assert db.admin.execute("select count(*) from public.session_sanctions").fetchone()[0] == 1


# 3. Reports -------------------------------------------------------------------------------------

def test_a_message_in_a_room_you_are_not_in_cannot_be_reported(db, room):
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "hello"))
    stranger = db.as_user(db.create_user("stranger"))
    with refused("PT404", "message not found") as caught:
        stranger.sql("insert into public.reports (message_id, reason) values (%s, 'spam') returning *",
                     (message["id"],))
    assert str(room["listener"]) not in str(caught.value) and str(room["session"]) not in str(caught.value)
    assert db.admin.execute("select count(*) from public.reports").fetchone()[0] == 0


def test_one_open_report_per_reporter_and_message_or_user(db, room):
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "spam"))
    reporter = db.as_user(join(db, room["session"], "reporter"))
    reporter.sql("insert into public.reports (message_id, reason) values (%s, 'spam')", (message["id"],))
    with refused("PT409", "already reported"):
        reporter.sql("insert into public.reports (message_id, reason) values (%s, 'hate')", (message["id"],))
    reporter.sql("insert into public.reports (reported_user_id, reason) values (%s, 'other')", (room["listener"],))
    with refused("PT409", "already reported"):
        reporter.sql("insert into public.reports (reported_user_id, reason) values (%s, 'spam')", (room["listener"],))
    db.admin.execute("update public.reports set status = 'dismissed'")
    reporter.sql("insert into public.reports (message_id, reason) values (%s, 'spam')", (message["id"],))
    assert db.admin.execute("select count(*) from public.reports").fetchone()[0] == 3


# 4. Caps hold under concurrency -----------------------------------------------------------------

def test_the_per_listener_song_cap_holds_under_concurrency(db, room):
    outcomes = race(db, [room["listener"]] * 8, lambda c, n: c.sql(ADD, (room["session"], f"s{n}", f"ref{n}")))
    assert outcomes.count("ok") == 3, outcomes  # the free plan: 3 queued songs per listener
    assert set(outcomes) == {"ok", "PT403"}


def test_max_queue_length_holds_under_concurrency(db, room):
    db.admin.execute("update public.plans set max_queue_length = 4 where id = 'free'")
    listeners = [join(db, room["session"], f"l{n}") for n in range(8)]
    outcomes = race(db, listeners, lambda c, n: c.sql(ADD, (room["session"], f"s{n}", f"ref{n}")))
    assert outcomes.count("ok") == 4, outcomes
    assert set(outcomes) == {"ok", "PT409"}


def test_the_scheduled_session_cap_holds_under_concurrency(db):
    dj_id = make_dj(db)
    insert = "insert into public.sessions (title, scheduled_for) values (%s, now() + interval '1 day')"
    outcomes = race(db, [dj_id] * 8, lambda c, n: c.sql(insert, (f"set {n}",)))
    assert outcomes.count("ok") == 3, outcomes  # the free plan: 3 scheduled sessions
    assert set(outcomes) == {"ok", "PT403"}


# 5. Devices -------------------------------------------------------------------------------------

def test_push_tokens_per_user_are_capped(db):
    user = db.as_user(db.create_user("phones"))
    for n in range(12):
        user.rpc_rows("register_push_token", p_token=f"ExponentPushToken[t{n:03}]", p_platform="ios")
    enabled = [r["token"] for r in user.sql("select token from public.push_tokens where enabled order by token")]
    assert len(enabled) == 10
    assert "ExponentPushToken[t000]" not in enabled and "ExponentPushToken[t011]" in enabled
    # concurrent registrations hold the cap too
    other = db.create_user("racer")
    race(db, [other] * 8 + [other] * 8,
         lambda c, n: c.rpc_rows("register_push_token", p_token=f"ExpoPushToken[r{n:03}]", p_platform="android"))
    assert db.admin.execute("select count(*) from public.push_tokens where user_id = %s and enabled",
                            (other,)).fetchone()[0] == 10


# 6. Events anyone can force ---------------------------------------------------------------------

def test_leave_and_rejoin_flips_are_throttled_and_carry_no_chosen_text(db, room):
    topic = f"session:{room['session']}"
    flipper = join(db, room["session"], "flipper")
    client = db.as_user(flipper)
    for _ in range(10):
        client.rpc("leave_session", p_session_id=room["session"])
        client.rpc_rows("join_session", p_session_id=room["session"])
    flips = [e for e in broadcasts(db, topic) if e["event"] in ("listener_joined", "listener_left")
             and e["user_id"] == str(flipper)]
    assert len(flips) <= 2, flips
    counts = [e for e in broadcasts(db, topic, "listener_count")]
    assert len(counts) <= 4, counts  # the listener's and the flipper's first joins, at most a flip or two
    assert session_row(db, room["session"])["listener_count"] == 2  # the count itself stays exact


def test_a_renamed_timed_out_user_cannot_reach_a_chat_off_room(db, room):
    topic = f"session:{room['session']}"
    dj = db.as_user(room["dj"])
    dj.sql("insert into public.dj_blocked_terms (term) values ('badword')")
    dj.sql("update public.sessions set chat_enabled = false where id = %s", (room["session"],))
    dj.rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"], p_seconds=600)
    client = db.as_user(room["listener"])
    db.admin.execute("delete from realtime.messages")
    for n in range(5):
        client.sql("update public.profiles set username = %s where id = %s", (f"badword_{n}", room["listener"]))
        client.rpc("leave_session", p_session_id=room["session"])
        client.rpc_rows("join_session", p_session_id=room["session"])
    events = broadcasts(db, topic)
    assert "badword" not in str(events)
    assert len([e for e in events if e["event"] in ("listener_joined", "listener_left")]) <= 2


def test_vote_flips_are_throttled_but_tallies_stay_exact(db, room):
    item = db.as_user(room["dj"]).one(ADD, (room["session"], "song", "ref"))
    voter = db.as_user(room["listener"])
    for n in range(40):
        voter.rpc_rows("vote", p_item_id=item["id"], p_value=1 if n % 2 == 0 else -1)
    events = broadcasts(db, f"session:{room['session']}", "queue_item_votes")
    assert 1 <= len(events) <= 5, len(events)
    tally = db.admin.execute("select up_votes, down_votes from public.queue_items where id = %s",
                             (item["id"],)).fetchone()
    assert tally == (0, 1)


def test_new_follower_is_sent_once_per_follower_per_day(db):
    dj_id = make_dj(db)
    fan = db.as_user(db.create_user("fan"))
    for _ in range(30):
        fan.rpc("follow", p_user_id=dj_id)
        fan.rpc("unfollow", p_user_id=dj_id)
    fan.rpc("follow", p_user_id=dj_id)
    assert len(broadcasts(db, f"user:{dj_id}", "new_follower")) == 1
    assert db.admin.execute("select follower_count from public.profiles where id = %s", (dj_id,)).fetchone()[0] == 1


# 7. Storage paths -------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["../{other}/avatar.png", "./../../{other}/avatar.png", "..", "./a.png",
                                    "x//a.png", "x/../a.png", "a.png/", "../{other}"])
def test_own_folder_refuses_dot_and_empty_segments(db, suffix):
    me, other = db.create_user("me"), db.create_user("other")
    name = f"{me}/" + suffix.format(other=other)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(me).sql(STORE, (name, str(me)))
    db.as_user(me).sql(STORE, (f"{me}/fine...name.png", str(me)))


# 8. Others' identifiers -------------------------------------------------------------------------

def test_tippers_and_djs_do_not_read_each_others_identifiers(db, room):
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, 'acct_secret', true, true)", (room["dj"],))
    tip = db.admin.execute("select id from private.create_tip(%s, %s, 1000, 'usd', 'hi', 'client-key-001', 1000)",
                           (room["listener"], room["session"])).fetchone()[0]
    for user_id, column in ((room["listener"], "stripe_account_id"), (room["dj"], "client_key"),
                            (room["listener"], "client_key"), (room["dj"], "stripe_account_id")):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.as_user(user_id).sql(f"select {column} from public.tips")
    for user_id in (room["listener"], room["dj"]):
        row = db.as_user(user_id).one("select id, amount, currency, status, message from public.tips")
        assert (row["id"], row["amount"], row["status"]) == (tip, 1000, "pending")


# 10. Locks before checks ------------------------------------------------------------------------

def assert_does_not_lock_the_session(db, session_id, client, function, **args):
    """While the room's row is locked (a busy room), a stranger's call answers
    at once: it checks before it locks, so it never waits on that lock (lock
    timeout 55P03 would mean it tried to take it)."""
    with db.connect() as busy, busy.transaction(force_rollback=True):
        busy.execute("select 1 from public.sessions where id = %s for update", (session_id,))
        with db.connect("authenticator") as conn, conn.transaction(force_rollback=True):
            conn.execute("set local role authenticated")
            conn.execute("select set_config('request.jwt.claims', %s, true), set_config('lock_timeout', '300ms', true)",
                         (json.dumps(client.claims),))
            named = ", ".join(f"{k} => %({k})s" for k in args)
            try:
                conn.execute(f"select public.{function}({named})", args)
            except psycopg.errors.LockNotAvailable:
                pytest.fail(f"{function} by a stranger waited for the session row lock")
            except psycopg.Error:
                pass  # a refusal: what we expect


@pytest.mark.parametrize("function", ["leave_session", "vote_skip", "unban_user", "join_session", "timeout_user"])
def test_a_strangers_call_does_not_lock_the_room(db, room, function):
    stranger = db.create_user("stranger")
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=stranger)
    args = {"p_session_id": room["session"]}
    if function == "unban_user":
        args["p_user_id"] = room["listener"]
    if function == "timeout_user":
        args |= {"p_user_id": room["listener"], "p_seconds": 60}
    assert_does_not_lock_the_session(db, room["session"], db.as_user(stranger), function, **args)


def test_a_strangers_remove_from_queue_does_not_lock_the_song(db, room):
    item = db.as_user(room["listener"]).one(ADD, (room["session"], "song", "ref"))
    stranger = db.as_user(db.create_user("stranger"))
    with db.connect() as busy, busy.transaction(force_rollback=True):
        busy.execute("select 1 from public.queue_items where id = %s for update", (item["id"],))
        with db.connect("authenticator") as conn, conn.transaction(force_rollback=True):
            conn.execute("set local role authenticated")
            conn.execute("select set_config('request.jwt.claims', %s, true), set_config('lock_timeout', '300ms', true)",
                         (json.dumps(stranger.claims),))
            with refused("PT403", "only the DJ or whoever added it"):
                conn.execute("select public.remove_from_queue(%s)", (item["id"],))


def test_a_strangers_leave_does_not_block_the_rooms_chat(db, room):
    stranger = db.as_user(db.create_user("stranger"))
    with db.connect("authenticator") as conn, conn.transaction(force_rollback=True):
        conn.execute("set local role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps(stranger.claims),))
        conn.execute("select public.leave_session(%s)", (room["session"],))
        with db.connect("authenticator") as chat:
            chat.execute("set lock_timeout = '500ms'")
            db.as_user(room["listener"], chat).sql(SEND, (room["session"], "not blocked"))
            db.as_user(room["dj"], chat).sql(ADD, (room["session"], "song", "ref"))


# 11. Who sanctioned you -------------------------------------------------------------------------

def test_a_sanctioned_user_does_not_learn_who_sanctioned_them(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    db.as_user(moderator).rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"],
                                   p_seconds=60)
    listener = db.as_user(room["listener"])
    assert listener.sql("select kind, reason from public.session_sanctions") == [{"kind": "timeout", "reason": ""}]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        listener.sql("select created_by from public.session_sanctions")
    # the DJ and moderators find the actor in the moderation log
    assert db.as_user(room["dj"]).value("select actor_id from public.moderation_actions where action = 'timeout'") \
        == moderator


# Sanctions and deletions are direct writes under RLS (no security definer RPC) ---------------
# The RPCs check the caller, then insert a moderation_actions row (or set messages.deleted_at);
# the same write made directly through PostgREST holds every rule they checked.

LOG = ("insert into public.moderation_actions (session_id, target_user_id, action, detail) "
       "values (%s, %s, %s, %s::jsonb)")


def sanction_of(db, room, user_id):
    return db.admin.execute("select kind from public.session_sanctions where session_id = %s and user_id = %s",
                            (room["session"], user_id)).fetchone()


def refused_by_the_policy(db, room, user_id, target, action, detail="{}"):
    """The insert policy refuses the logged action (42501) while the room's row is
    locked by a busy transaction: the refusal comes before any lock is waited on."""
    with db.connect() as busy, busy.transaction(force_rollback=True):
        busy.execute("select 1 from public.sessions where id = %s for update", (room["session"],))
        with db.connect("authenticator") as conn, conn.transaction(force_rollback=True):
            conn.execute("set local role authenticated")
            conn.execute("select set_config('request.jwt.claims', %s, true), set_config('lock_timeout', '300ms', true)",
                         (json.dumps(db.as_user(user_id).claims),))
            with refused("42501", "row-level security"):
                conn.execute(LOG, (room["session"], target, action, detail))


def test_a_direct_sanction_applies_like_the_rpc(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    dj = db.as_user(room["dj"])
    dj.sql(LOG, (room["session"], moderator, "ban", '{"reason": "spam", "extra": "dropped"}'))
    assert sanction_of(db, room, moderator) == ("ban",)
    assert db.admin.execute("select count(*) from public.session_moderators").fetchone()[0] == 0
    assert db.admin.execute("select left_at is not null from public.session_participants where user_id = %s",
                            (moderator,)).fetchone()[0] is True
    assert dj.sql("select action, actor_id, detail from public.moderation_actions where action = 'ban'") == \
        [{"action": "ban", "actor_id": room["dj"], "detail": {"reason": "spam"}}]
    assert broadcasts(db, f"user:{moderator}", "sanctioned")[0]["kind"] == "ban"


def test_a_listener_cannot_log_a_sanction(db, room):
    other = join(db, room["session"], "other")
    for action in ("timeout", "ban", "unban"):
        refused_by_the_policy(db, room, room["listener"], other, action, '{"seconds": 60}')
    stranger = db.create_user("stranger")
    refused_by_the_policy(db, room, stranger, other, "ban")
    assert sanction_of(db, room, other) is None


def test_a_moderator_cannot_sanction_the_dj_another_moderator_or_themselves(db, room):
    moderator, second = join(db, room["session"], "moderator"), join(db, room["session"], "second")
    appoint(db, room, moderator)
    appoint(db, room, second)
    for target in (room["dj"], second, moderator):
        for action in ("timeout", "ban"):
            refused_by_the_policy(db, room, moderator, target, action, '{"seconds": 60}')
    refused_by_the_policy(db, room, room["dj"], room["dj"], "ban")  # nor the DJ themselves
    assert db.admin.execute("select count(*) from public.session_sanctions").fetchone()[0] == 0


def test_nobody_lifts_their_own_sanction_directly(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    db.as_user(room["dj"]).rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=moderator, p_seconds=60)
    refused_by_the_policy(db, room, moderator, moderator, "unban")
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    refused_by_the_policy(db, room, room["listener"], room["listener"], "unban")
    assert sanction_of(db, room, moderator) == ("timeout",)
    assert sanction_of(db, room, room["listener"]) == ("ban",)


def test_a_banned_moderator_cannot_log_a_sanction_even_with_a_moderator_row(db, room):
    moderator, other = join(db, room["session"], "moderator"), join(db, room["session"], "other")
    appoint(db, room, moderator)
    db.service().sql("insert into public.session_sanctions (session_id, user_id, kind) values (%s, %s, 'ban')",
                     (room["session"], moderator))
    refused_by_the_policy(db, room, moderator, other, "ban")
    refused_by_the_policy(db, room, moderator, moderator, "unban")


def test_the_log_is_not_forgeable(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    for action in ("delete_message", "appoint_moderator", "remove_moderator", "end_session"):
        refused_by_the_policy(db, room, moderator, room["listener"], action)
    mod = db.as_user(moderator)
    for column, value in (("actor_id", room["dj"]), ("message_id", 1), ("created_at", "2020-01-01")):
        with refused("42501", "permission denied"):
            mod.sql(f"insert into public.moderation_actions (session_id, target_user_id, action, {column}) "
                    "values (%s, %s, 'unban', %s)", (room["session"], room["listener"], value))
    with refused("42501", "permission denied"):
        mod.sql("update public.moderation_actions set detail = '{}'")
    with refused("42501", "permission denied"):
        mod.sql("delete from public.moderation_actions")


def test_a_direct_timeout_is_bounded_and_never_lightens_a_ban(db, room):
    dj = db.as_user(room["dj"])
    for detail in ('{"seconds": 5}', '{"seconds": 86401}', '{"seconds": "60"}', "{}"):
        with refused("PT422", "10 s to 24 h"):
            dj.sql(LOG, (room["session"], room["listener"], "timeout", detail))
    dj.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    with refused("PT409", "already banned"):
        dj.sql(LOG, (room["session"], room["listener"], "timeout", '{"seconds": 60}'))
    assert sanction_of(db, room, room["listener"]) == ("ban",)
    assert db.admin.execute("select count(*) from public.moderation_actions where action = 'timeout'").fetchone()[0] == 0


def test_messages_take_only_a_soft_deletion_directly(db, room):
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    other = join(db, room["session"], "other")
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "hello"))
    # another listener's update touches nothing (the policy: the sender, the DJ and moderators)
    assert db.as_user(other).sql("update public.messages set deleted_at = now() where id = %s returning id",
                                 (message["id"],)) == []
    # no other column, not even for the sender or the DJ
    for client in (db.as_user(room["listener"]), db.as_user(room["dj"])):
        for column, value in (("body", "edited"), ("deleted_by", other), ("sender_id", other), ("kind", "system")):
            with refused("42501", "permission denied"):
                client.sql(f"update public.messages set {column} = %s where id = %s", (value, message["id"]))
    # a moderator's deletion is stamped with the time and who did it, whatever was sent, and logged
    db.as_user(moderator).sql("update public.messages set deleted_at = '2020-01-01' where id = %s", (message["id"],))
    row = db.admin.execute("select deleted_at > now() - interval '1 minute', deleted_by from public.messages "
                           "where id = %s", (message["id"],)).fetchone()
    assert row == (True, moderator)
    assert db.as_user(room["dj"]).value("select actor_id from public.moderation_actions where action = 'delete_message'") \
        == moderator
    # once deleted, it stays deleted
    for value in (None, "2030-01-01"):
        with refused("PT409", "stays deleted"):
            db.as_user(room["dj"]).sql("update public.messages set deleted_at = %s where id = %s", (value, message["id"]))
    # a banned moderator deletes nothing (a moderator row left behind does not help)
    live = db.as_user(other).one(SEND, (room["session"], "still here"))
    db.service().sql("insert into public.session_sanctions (session_id, user_id, kind) values (%s, %s, 'ban')",
                     (room["session"], moderator))
    assert db.as_user(moderator).sql("update public.messages set deleted_at = now() where id = %s returning id",
                                     (live["id"],)) == []


def wait_until_a_request_waits_on_a_lock(db):
    """Synchronisation, not timing: returns once another connection waits on a lock."""
    with db.connect() as watcher:
        for _ in range(1000):
            if watcher.execute("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                               "and datname = current_database()").fetchone()[0]:
                return
            threading.Event().wait(0.01)
    pytest.fail("no request ever waited on the lock")


def test_a_moderator_banned_meanwhile_applies_nothing(db, room):
    """The policy admits the moderator on a snapshot taken while the DJ's ban of
    them is not yet committed; the apply trigger waits for the room's lock, checks
    again, and refuses: the listener stays unsanctioned and nothing is logged."""
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    outcome: list[str] = []
    with db.connect("authenticator") as dj_conn:
        with dj_conn.transaction():
            db.as_user(room["dj"], dj_conn).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=moderator)

            def moderator_bans():
                with db.connect("authenticator") as conn:
                    try:
                        db.as_user(moderator, conn).rpc_rows("ban_user", p_session_id=room["session"],
                                                             p_user_id=room["listener"])
                        outcome.append("ok")
                    except psycopg.Error as exc:
                        outcome.append(f"{exc.sqlstate} {exc}")

            thread = threading.Thread(target=moderator_bans)
            thread.start()
            wait_until_a_request_waits_on_a_lock(db)
        thread.join()
    assert outcome and outcome[0].startswith("PT403 only the DJ and moderators"), outcome
    assert sanction_of(db, room, room["listener"]) is None
    assert db.admin.execute("select count(*) from public.moderation_actions where actor_id = %s",
                            (moderator,)).fetchone()[0] == 0


def test_a_sender_deleting_what_a_moderator_just_removed_learns_nothing_more(db, room):
    """Both delete at once: the moderator's deletion commits first; the sender's
    finds the row gone from their view (404), and one deletion is logged."""
    moderator = join(db, room["session"], "moderator")
    appoint(db, room, moderator)
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "rude"))
    outcome: list[str] = []
    with db.connect("authenticator") as mod_conn:
        with mod_conn.transaction():
            db.as_user(moderator, mod_conn).rpc_rows("delete_message", p_message_id=message["id"])

            def sender_deletes():
                with db.connect("authenticator") as conn:
                    try:
                        outcome.append(str(db.as_user(room["listener"], conn).rpc_rows(
                            "delete_message", p_message_id=message["id"])))
                    except psycopg.Error as exc:
                        outcome.append(f"{exc.sqlstate} {exc}")

            thread = threading.Thread(target=sender_deletes)
            thread.start()
            wait_until_a_request_waits_on_a_lock(db)
        thread.join()
    assert outcome and outcome[0].startswith("PT404 message not found"), outcome
    assert db.admin.execute("select deleted_by from public.messages where id = %s", (message["id"],)).fetchone()[0] \
        == moderator
    assert db.admin.execute("select count(*) from public.moderation_actions where action = 'delete_message'"
                            ).fetchone()[0] == 1
