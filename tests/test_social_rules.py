"""Issue 10, social group: the rules that moved from security definer bodies
into policies, column grants and triggers (blocks in discovery, what live
rooms play, plans, push devices, earnings, creator analytics), each refused
when a direct request breaks it."""

from tests.catalog import make_artist, upload_track
from tests.room import go_live, join, make_dj, refused

ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', 200000, 'spotify', %s) returning id")


# Blocks ------------------------------------------------------------------------------------------

def test_who_blocked_you_stays_hidden_while_discovery_hides_them(db):
    dj_id = make_dj(db, "grumpy")
    go_live(db, dj_id)
    fan_id, other_id = db.create_user("fan"), db.create_user("other")
    fan = db.as_user(fan_id)
    db.as_user(dj_id).sql("insert into public.user_blocks (blocked_id) values (%s)", (fan_id,))

    # nothing the fan can read names the blocker
    assert fan.sql("select * from public.user_blocks") == []
    with refused("42501"):
        fan.sql("select hidden_from from private.discovery_visibility")
    with refused("42883"):  # the readable list of blockers is gone
        fan.sql("select private.blocked_me_ids()")
    # the rule is the select policy of the DJ's discovery row: hidden from the fan, visible to others
    visible = "select dj_id from private.discovery_visibility where dj_id = %s"
    assert fan.sql(visible, (dj_id,)) == []
    assert db.as_user(other_id).sql(visible, (dj_id,)) == [{"dj_id": dj_id}]
    assert db.anon().sql(visible, (dj_id,)) == [{"dj_id": dj_id}]
    assert fan.rpc_rows("live_now") == [] and fan.rpc_rows("search_djs", p_query="grumpy") == []
    assert [r["dj_username"] for r in db.as_user(other_id).rpc_rows("live_now")] == ["grumpy"]

    # unblocking makes the DJ discoverable by the fan again
    db.as_user(dj_id).sql("delete from public.user_blocks where blocked_id = %s", (fan_id,))
    assert [r["dj_username"] for r in fan.rpc_rows("live_now")] == ["grumpy"]
    assert [r["username"] for r in fan.rpc_rows("search_djs", p_query="grumpy")] == ["grumpy"]


def test_a_user_who_blocked_before_becoming_a_dj_is_hidden_too(db):
    early = db.create_user("early_bird")
    fan_id = db.create_user("fan")
    db.as_user(early).sql("insert into public.user_blocks (blocked_id) values (%s)", (fan_id,))
    db.as_user(early).sql("update public.profiles set is_dj = true where id = %s", (early,))
    go_live(db, early)
    assert db.as_user(fan_id).rpc_rows("live_now") == []
    assert [r["dj_username"] for r in db.anon().rpc_rows("live_now")] == ["early_bird"]


def test_my_blocked_ids_runs_as_the_caller(db):
    me, them = db.create_user("me"), db.create_user("them")
    db.as_user(me).sql("insert into public.user_blocks (blocked_id) values (%s)", (them,))
    assert db.admin.execute("select p.prosecdef from pg_proc p where p.oid = 'private.my_blocked_ids'::regproc"
                            ).fetchone()[0] is False
    assert db.as_user(me).sql("select private.my_blocked_ids() as id") == [{"id": them}]
    assert db.as_user(them).sql("select private.my_blocked_ids() as id") == []
    assert db.anon().sql("select private.my_blocked_ids() as id") == []


# What live rooms play ----------------------------------------------------------------------------

def test_what_a_live_room_plays_is_public_and_nothing_else(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)["id"]
    listener = db.as_user(join(db, session, "listener"))
    listener.value(ADD, (session, "First", "a"))
    db.as_user(dj_id).value(ADD, (session, "Second", "b"))
    db.as_user(dj_id).rpc_rows("advance", p_session_id=session)
    read = "select session_id, title, artist from private.live_now_playing"
    assert db.anon().sql(read) == [{"session_id": session, "title": "First", "artist": "Artist"}]
    with refused("42501"):  # which queue row it is (and so who added it) stays the room's
        db.anon().sql("select item_id from private.live_now_playing")
    db.as_user(dj_id).rpc_rows("advance", p_session_id=session)
    assert [r["title"] for r in db.anon().sql(read)] == ["Second"]
    assert db.anon().rpc_rows("live_now")[0]["now_playing_title"] == "Second"

    # the rule is the policy: a session that is not live answers nothing, whatever the projection holds
    later = db.as_user(dj_id).value("insert into public.sessions (title) values ('later') returning id")
    db.admin.execute("insert into private.live_now_playing (session_id, item_id, title, artist) "
                     "values (%s, 0, 'Secret', 'X')", (later,))
    assert [r["title"] for r in db.anon().sql(read)] == ["Second"]
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=session)
    assert db.anon().sql(read) == []
    with refused("42501"):
        listener.sql("insert into private.live_now_playing (session_id, item_id, title, artist) "
                     "values (%s, 1, 'Fake', 'X')", (session,))


# Plans -------------------------------------------------------------------------------------------

def test_no_one_reads_another_users_plan_through_plan_of(db):
    dj_id = make_dj(db)
    db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, last_event_at) "
                     "values (%s, 'stripe', 'sub_pro', 'dj_pro', now())", (dj_id,))
    stranger = db.as_user(db.create_user("stranger"))
    with refused("42501"):
        stranger.sql("select (private.plan_of(%s)).id", (dj_id,))
    assert stranger.sql("select * from public.entitlements") == []
    assert db.as_user(dj_id).rpc_rows("my_plan")[0]["plan_id"] == "dj_pro"
    assert stranger.rpc_rows("my_plan")[0]["plan_id"] == "free"


# Push devices ------------------------------------------------------------------------------------

def test_a_direct_insert_registers_a_device_under_the_same_rules(db):
    me_id, other_id = db.create_user("me"), db.create_user("other")
    me = db.as_user(me_id)
    insert = "insert into public.push_tokens (token, platform) values (%s, 'ios')"
    for n in range(12):
        me.sql(insert, (f"ExponentPushToken[d{n:03}]",))
    enabled = [r["token"] for r in me.sql("select token from public.push_tokens where enabled order by token")]
    assert len(enabled) == 10 and "ExponentPushToken[d000]" not in enabled  # the cap holds for direct writes
    with refused("42501"):  # the owner is not the caller's to choose
        me.sql("insert into public.push_tokens (user_id, token, platform) values (%s, 'ExponentPushToken[x]', 'ios')",
               (other_id,))
    with refused("42501"):  # nor are enabled / disabled_reason
        me.sql("insert into public.push_tokens (token, platform, enabled) values ('ExponentPushToken[y]', 'ios', true)")
    with refused("42501"):
        me.sql("update public.push_tokens set enabled = true")
    # a device that signs in to another account moves to it (re-enabled), as through the RPC
    db.as_user(other_id).sql(insert, ("ExponentPushToken[d000]",))
    assert db.admin.execute("select user_id, enabled from public.push_tokens where token = 'ExponentPushToken[d000]'"
                            ).fetchone() == (other_id, True)
    assert db.as_user(other_id).rpc_rows("register_push_token", p_token=" ExponentPushToken[d001] ",
                                         p_platform="android")[0]["user_id"] == other_id


# Earnings and creator analytics ------------------------------------------------------------------

def test_a_dj_reads_only_their_own_earnings_entries(db):
    dj_id, other_dj = make_dj(db, "dj"), make_dj(db, "other_dj")
    session = go_live(db, dj_id)["id"]
    tipper = join(db, session, "tipper")
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, 'acct_dj', true, true)", (dj_id,))
    tip = db.admin.execute("select (private.create_tip(%s, %s, 500, 'usd', 'hi', 'client-key-rules', 1000)).id",
                           (tipper, session)).fetchone()[0]
    db.admin.execute("insert into private.earnings_entries (dj_id, tip_id, kind, amount, currency, reference) "
                     "values (%s, %s, 'tip', 450, 'usd', 'pi_1')", (dj_id, tip))
    read = "select dj_id, amount from private.earnings_entries"
    assert db.as_user(dj_id).sql(read) == [{"dj_id": dj_id, "amount": 450}]
    assert db.as_user(other_dj).sql(read) == [] and db.as_user(tipper).sql(read) == []
    with refused("42501"):  # the ledger's link to each tip is not the app's
        db.as_user(dj_id).sql("select tip_id from private.earnings_entries")
    with refused("42501"):
        db.anon().sql(read)
    assert db.as_user(dj_id).rpc_rows("my_earnings")[0]["net"] == 450
    assert db.as_user(other_dj).rpc_rows("my_earnings") == []


def test_a_dj_reads_only_their_own_daily_rollups(db):
    dj_id, other_dj = make_dj(db, "dj"), make_dj(db, "other_dj")
    for who, sessions in ((dj_id, 2), (other_dj, 5)):
        db.admin.execute("insert into private.dj_daily_stats (dj_id, day, sessions) values (%s, '2026-11-01', %s)",
                         (who, sessions))
    assert db.as_user(dj_id).sql("select sessions from private.dj_daily_stats") == [{"sessions": 2}]
    assert db.as_user(db.create_user("fan")).sql("select * from private.dj_daily_stats") == []
    with refused("42501"):
        db.as_user(dj_id).sql("update private.dj_daily_stats set sessions = 99")
    rows = db.as_user(dj_id).rpc_rows("creator_analytics", p_from="2026-11-01", p_to="2026-11-01")
    assert [r["sessions"] for r in rows] == [2]


# Track stats -------------------------------------------------------------------------------------

def test_an_artist_counts_listeners_without_learning_who_they_are(db):
    artist, rival = make_artist(db, "artist"), make_artist(db, "rival")
    track, rival_track = upload_track(db, artist, "Hit"), upload_track(db, rival, "Other")
    dj_id = make_dj(db)
    session = go_live(db, dj_id)["id"]
    fans = [join(db, session, f"fan{n}") for n in range(2)]
    for played in (track, track, rival_track):
        play = db.admin.execute(
            "insert into public.plays (session_id, dj_id, provider, provider_ref, track_id, title, artist, started_at, "
            "ended_at, ms_played) values (%s, %s, 'openparty', %s, %s, 'T', 'A', now() - interval '3 minutes', now(), "
            "180000) returning id", (session, dj_id, str(played), played)).fetchone()[0]
        db.admin.execute("insert into public.play_listeners (play_id, user_id, ms_listened) "
                         "select %s, u, 60000 from unnest(%s::uuid[]) u", (play, fans))
    (stats,) = db.as_user(artist).rpc_rows("my_track_stats")
    assert (stats["plays"], stats["streams"], stats["unique_listeners"], stats["minutes"]) == (2, 4, 2, 4)
    me = db.as_user(artist)
    assert len(me.sql("select listener_key from private.track_listens")) == 4  # pseudonyms, their own tracks only
    with refused("42703"):  # no column names a listener
        me.sql("select user_id from private.track_listens")
    keys = {r["listener_key"] for r in me.sql("select listener_key from private.track_listens")}
    rival_keys = {r["listener_key"] for r in db.as_user(rival).sql("select listener_key from private.track_listens")}
    assert len(keys) == 2 and not keys & rival_keys  # one pseudonym per artist: artists cannot match them up
    assert db.as_user(fans[0]).sql("select 1 from private.track_listens") == []
    with refused("42501"):
        me.sql("insert into private.track_listens (play_listener_id, play_id, artist_id, track_id, ms_listened, "
               "is_stream) select id, play_id, %s, %s, 1, false from public.play_listeners limit 1", (artist, track))
    # a listener who deletes their account stops counting as a unique listener (their listens stay)
    db.admin.execute("delete from auth.users where id = %s", (fans[0],))
    (stats,) = db.as_user(artist).rpc_rows("my_track_stats")
    assert (stats["streams"], stats["unique_listeners"]) == (4, 1)
