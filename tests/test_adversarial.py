"""The adversarial matrix: what each kind of app user can do to every table and
function the API exposes, walked from the catalog so a new object is covered
(and fails here until someone declares what it should allow).

One room is built once per module: its DJ, a listener, a moderator, a banned
user, a signed-in stranger, another DJ (with a live room of their own) and
anon. Every request runs as PostgREST runs it (role + request.jwt.claims, in a
transaction) and is rolled back, so the cells do not disturb each other.

- Tables (pg_class: schema public, and private tables an app role holds a
  privilege on): per role, whether any row is visible,
  whether an UPDATE / DELETE touches any row, and whether it touches a row
  owned by *someone else* (the table's owner column); per API role, whether it
  holds an INSERT privilege at all. Each table needs an entry in TABLES.
- Functions (pg_proc, schema public): anon may execute only those declared;
  the stranger and the banned user call every one with arguments aimed at the
  room, while the room's row is locked by a busy transaction: each call has
  the declared outcome and, unless declared `locks`, answers without waiting
  on that lock (it checks who asks before it locks). Each function needs an
  entry in FUNCTIONS.
- Private security definer functions executable by anon / authenticated are
  exactly the reviewed helpers in PRIVATE_DEFINER_CALLABLE.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests import conftest
from tests.catalog import upload_track
from tests.conftest import clone_database, drop_database
from tests.pgrest import claims_for
from tests.room import go_live, join, make_dj

ROLES = ("anon", "stranger", "listener", "banned", "moderator", "other_dj", "dj")
SIGNED_IN = frozenset(ROLES) - {"anon"}
EVERYONE = frozenset(ROLES)
NOBODY: frozenset[str] = frozenset()


def only(*roles: str) -> frozenset[str]:
    return frozenset(roles)


@dataclass(frozen=True)
class Rules:
    """What each role may do to a table: `select` = sees at least one row;
    `update` / `delete` = changes at least one row; `*_others` = changes a row
    whose `owner` column is not the caller; `insert` = authenticated holds an
    INSERT privilege (anon never does)."""
    owner: str | None
    select: frozenset[str]
    insert: bool = False
    update: frozenset[str] = NOBODY
    delete: frozenset[str] = NOBODY
    update_others: frozenset[str] = NOBODY
    delete_others: frozenset[str] = NOBODY


ROOM = only("listener", "moderator", "dj")
TABLES: dict[str, Rules] = {
    "profiles": Rules("id", EVERYONE, update=SIGNED_IN),
    "plans": Rules(None, EVERYONE),
    "entitlements": Rules("user_id", only("dj")),
    "user_blocks": Rules("blocker_id", only("listener"), insert=True, delete=only("listener")),
    "follows": Rules("follower_id", EVERYONE, insert=True, delete=only("listener")),
    "sessions": Rules("dj_id", EVERYONE, insert=True, update=only("dj", "other_dj")),
    # the banned user sees their own (closed) row; present listeners stamp their own (heartbeat)
    "session_participants": Rules("user_id", ROOM | only("banned"), update=only("listener", "moderator")),
    "participation_requests": Rules("user_id", NOBODY, insert=True),  # applied and removed by its trigger
    "session_moderators": Rules("user_id", ROOM, insert=True, delete=only("dj"), delete_others=only("dj")),
    "session_sanctions": Rules("user_id", only("banned", "moderator", "dj")),
    # a timeout / ban / unban is asked for by inserting its row (the insert policy says who; tests/test_holes.py)
    "moderation_actions": Rules("actor_id", only("moderator", "dj"), insert=True),
    # soft deletion (deleted_at only): the sender their own, the DJ and moderators any in their room
    "messages": Rules("sender_id", ROOM, insert=True, update=ROOM, update_others=only("moderator", "dj")),
    "dj_blocked_terms": Rules("dj_id", only("dj"), insert=True, delete=only("dj")),
    "reports": Rules("reporter_id", only("listener"), insert=True),
    # the DJ updates the room's songs, the listener their own (status and pinned_at only, guarded by a trigger)
    "queue_items": Rules("added_by", ROOM, insert=True, update=only("dj", "listener"), update_others=only("dj")),
    "queue_commands": Rules("actor_id", only("dj"), insert=True),  # the DJ's advance, skip, reorder, report_track
    "session_recommendations": Rules(None, only("dj")),  # the room's, for its DJ; written by triggers
    "queue_votes": Rules("user_id", only("listener"), insert=True, update=only("listener"), delete=only("listener")),
    "skip_votes": Rules("user_id", only("listener"), insert=True, update=only("listener")),  # vote_skip pressed again
    "dj_fallback_tracks": Rules("dj_id", only("dj"), insert=True, update=only("dj"), delete=only("dj")),
    "payout_accounts": Rules("dj_id", only("dj")),
    "tips": Rules("tipper_id", only("listener", "dj")),
    "stripe_customers": Rules("user_id", only("listener")),
    "invoices": Rules("user_id", only("listener")),
    "payouts": Rules("dj_id", only("dj")),
    "push_tokens": Rules("user_id", only("listener"), insert=True, delete=only("listener")),
    "notification_preferences": Rules("user_id", only("listener"), insert=True, update=only("listener")),
    # the DJ is also an artist: one published track (everyone), one in review (the artist only)
    "tracks": Rules("artist_id", EVERYONE, insert=True, update=only("dj")),
    # a song played to the listener and the moderator: its DJ and they see the play; each their own listening
    "plays": Rules("dj_id", ROOM),
    "play_listeners": Rules("user_id", only("listener", "moderator")),
    "artist_statements": Rules("artist_id", only("dj")),
    "spotify_links": Rules("user_id", only("dj")),  # tokens are in private.spotify_tokens, out of every app role's reach
    # issue 15 (social)
    "saved_songs": Rules("user_id", only("listener"), insert=True, delete=only("listener")),  # insert names a queue item
    "session_likes": Rules("user_id", EVERYONE, insert=True, delete=only("listener")),
    "playlists": Rules("owner_id", only("listener"), insert=True, update=only("listener"), delete=only("listener")),
    # no owner column: the listener's rows are the items of their own playlist
    "playlist_items": Rules(None, only("listener"), insert=True, update=only("listener"), delete=only("listener"),
                            update_others=only("listener"), delete_others=only("listener")),
    # a live battle is public; a challenge is an insert, the two DJs move it (battles_guard_status)
    "battles": Rules("challenger_id", EVERYONE, insert=True, update=only("dj", "other_dj"),
                     update_others=only("other_dj")),
    "battle_rounds": Rules(None, EVERYONE),
    "battle_votes": Rules("user_id", only("listener"), insert=True),  # a vote is an insert (battle_votes_enforce_rules)
    "badges": Rules(None, EVERYONE),
    "user_badges": Rules("user_id", EVERYONE),  # shown on profiles; written only by the system
    "invite_codes": Rules("user_id", only("listener"), insert=True),
    "referrals": Rules("referrer_id", only("listener", "stranger"), insert=True),  # the stranger redeemed the listener's code
    # private tables an app role reads: a song's unfolded vote changes, to its room;
    # each user's own standing in rooms (the room policy helpers read it)
    "private.queue_vote_deltas": Rules(None, ROOM),
    "private.room_access": Rules("user_id", SIGNED_IN - {"stranger"}),
    # each listener's own reaction window (writing it is reacting); listening time; the songs a room played
    "private.reaction_senders": Rules("user_id", only("listener"), insert=True, update=only("listener")),
    "private.listen_time": Rules("user_id", only("listener", "moderator", "banned")),  # your own, even once banned
    "private.songs_played": Rules(None, ROOM),
    # counts of succeeded tips per DJ, session and day: public (the weekly leaderboard)
    "private.tips_received_daily": Rules("dj_id", EVERYONE),
    # a profile's streaks and friends invited: public like profiles
    "private.profile_achievement_stats": Rules("user_id", EVERYONE),
    # discovery: a row per profile, visible to all but the users it hides from (dj_id only)
    "private.discovery_visibility": Rules("dj_id", EVERYONE),
    # what a live room plays: public while the room is live
    "private.live_now_playing": Rules(None, EVERYONE),
    # a DJ's own ledger entries and daily rollups
    "private.earnings_entries": Rules("dj_id", only("dj")),
    "private.dj_daily_stats": Rules("dj_id", only("dj")),
    "private.track_listens": Rules("artist_id", only("dj")),  # the DJ is the artist of the played track
}

# Columns no app role reads, whoever owns the row (column grants leave them out).
HIDDEN_COLUMNS = {
    "tips": {"client_key", "stripe_account_id",  # the tipper's key, the DJ's account: each the other's secret
             "stripe_charge_id", "reconciled_at"},  # bookkeeping of the webhooks and the reconciliation
    "session_sanctions": {"created_by"},  # who sanctioned you is not revealed (moderation_actions has it)
    "private.discovery_visibility": {"hidden_from"},  # who blocked you is not revealed (the policy reads it)
    "private.earnings_entries": {"tip_id", "reference"},  # a DJ's totals, not a map to each tip
}

# Outcomes of a call by the stranger / the banned user, aimed at the room:
#   refused: an error the app sees as 4xx (PTxyz or 42501), without waiting on the room's lock
#   empty:   allowed, returns no rows (nothing of the room leaks)
#   ok:      allowed (about the caller, or public)
#   locks:   allowed and takes the room's lock (joining a live room)
FUNCTIONS: dict[str, dict] = {
    "my_plan": {"anon": False, "stranger": "ok", "banned": "ok"},
    "follow": {"anon": False, "stranger": "refused", "banned": "ok"},  # the listener blocked the stranger
    "unfollow": {"anon": False, "stranger": "ok", "banned": "ok"},
    "is_following": {"anon": False, "stranger": "ok", "banned": "ok"},
    "go_live": {"anon": False, "stranger": "refused", "banned": "refused"},
    "start_session": {"anon": False, "stranger": "refused", "banned": "refused"},
    "end_session": {"anon": False, "stranger": "refused", "banned": "refused"},
    "session_heartbeat": {"anon": False, "stranger": "refused", "banned": "refused"},
    "join_session": {"anon": False, "stranger": "locks", "banned": "refused"},
    "leave_session": {"anon": False, "stranger": "ok", "banned": "ok"},
    "timeout_user": {"anon": False, "stranger": "refused", "banned": "refused"},
    "ban_user": {"anon": False, "stranger": "refused", "banned": "refused"},
    "unban_user": {"anon": False, "stranger": "refused", "banned": "refused"},
    "delete_message": {"anon": False, "stranger": "refused", "banned": "refused"},
    "chat_history": {"anon": False, "stranger": "empty", "banned": "empty"},
    "session_queue": {"anon": False, "stranger": "empty", "banned": "empty"},
    "now_playing": {"anon": False, "stranger": "empty", "banned": "empty"},
    "vote": {"anon": False, "stranger": "refused", "banned": "refused"},
    "advance": {"anon": False, "stranger": "refused", "banned": "refused"},
    "skip": {"anon": False, "stranger": "refused", "banned": "refused"},
    "vote_skip": {"anon": False, "stranger": "refused", "banned": "refused"},
    "remove_from_queue": {"anon": False, "stranger": "refused", "banned": "refused"},
    "pin_next": {"anon": False, "stranger": "refused", "banned": "refused"},
    "reorder_queue": {"anon": False, "stranger": "refused", "banned": "refused"},
    "live_now": {"anon": True, "stranger": "ok", "banned": "ok"},
    "search_djs": {"anon": True, "stranger": "ok", "banned": "ok"},
    "suggested_djs": {"anon": False, "stranger": "ok", "banned": "ok"},
    "my_earnings": {"anon": False, "stranger": "empty", "banned": "empty"},
    "register_push_token": {"anon": False, "stranger": "ok", "banned": "ok"},
    "my_listening_history": {"anon": False, "stranger": "empty", "banned": "empty"},
    "my_track_stats": {"anon": False, "stranger": "empty", "banned": "empty"},
    "pause_session": {"anon": False, "stranger": "refused", "banned": "refused"},
    "resume_session": {"anon": False, "stranger": "refused", "banned": "refused"},
    "report_track": {"anon": False, "stranger": "refused", "banned": "refused"},
    "recommendations": {"anon": False, "stranger": "refused", "banned": "refused"},
    # issue 15 (social)
    "react": {"anon": False, "stranger": "refused", "banned": "refused"},
    "save_song": {"anon": False, "stranger": "refused", "banned": "refused"},
    "reorder_playlist": {"anon": False, "stranger": "refused", "banned": "refused"},
    "shared_playlist": {"anon": True, "stranger": "ok", "banned": "ok"},
    "my_sessions_attended": {"anon": False, "stranger": "empty", "banned": "empty"},  # a ban hides the room
    "my_songs_heard": {"anon": False, "stranger": "empty", "banned": "empty"},
    "session_songs": {"anon": False, "stranger": "empty", "banned": "empty"},
    "my_listening_stats": {"anon": False, "stranger": "ok", "banned": "ok"},
    "challenge_battle": {"anon": False, "stranger": "refused", "banned": "refused"},
    "respond_battle": {"anon": False, "stranger": "refused", "banned": "refused"},
    "cancel_battle": {"anon": False, "stranger": "refused", "banned": "refused"},
    "vote_battle": {"anon": False, "stranger": "refused", "banned": "refused"},
    "battle_state": {"anon": True, "stranger": "ok", "banned": "ok"},
    "my_invite_code": {"anon": False, "stranger": "ok", "banned": "ok"},
    "redeem_invite": {"anon": False, "stranger": "refused", "banned": "refused"},
    "user_achievements": {"anon": True, "stranger": "ok", "banned": "ok"},
    "weekly_leaderboard": {"anon": True, "stranger": "ok", "banned": "ok"},
    "creator_analytics": {"anon": False, "stranger": "refused", "banned": "refused"},
}

# Security definer functions in `private` the app roles may execute, and why.
# Supabase's linter would flag each if `private` were exposed; every other
# definer function stays out of anon's and authenticated's reach.
PRIVATE_DEFINER_CALLABLE = {
    # what remains of issue 10 (battles and achievements): security definer
    # bodies behind invoker RPCs, each checking the caller or reading only public data
    "battle_state",
}


@dataclass
class Room:
    db: conftest.TestDatabase
    users: dict[str, uuid.UUID]
    session: uuid.UUID
    message: int
    item: int
    battle: uuid.UUID


@pytest.fixture(scope="module")
def room(pg_server, template_db) -> Iterator[Room]:
    name = clone_database(pg_server, template_db)
    db = conftest.TestDatabase(pg_server, name, psycopg.connect(pg_server.url(name), autocommit=True))
    try:
        yield build_room(db)
    finally:
        db.close()
        drop_database(pg_server, name)


def build_room(db: conftest.TestDatabase) -> Room:
    dj, other_dj = make_dj(db, "the_dj"), make_dj(db, "other_dj")
    session = go_live(db, dj)["id"]
    go_live(db, other_dj, "Another room")
    listener, moderator, banned = (join(db, session, n) for n in ("listener", "moderator", "banned"))
    stranger = db.create_user("stranger")
    as_dj, as_listener = db.as_user(dj), db.as_user(listener)
    as_dj.sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)", (session, moderator))
    as_dj.rpc_rows("ban_user", p_session_id=session, p_user_id=banned)
    as_dj.sql("insert into public.dj_blocked_terms (term) values ('zzz')")
    as_dj.sql("insert into public.dj_fallback_tracks (position, title, artist, duration_ms, provider, provider_ref) "
              "values (0, 'Fallback', 'A', 1000, 'spotify', 'fb')")
    message = as_listener.value("insert into public.messages (session_id, body) values (%s, 'hello') returning id",
                                (session,))
    item = as_listener.value("insert into public.queue_items (session_id, title, artist, duration_ms, provider, "
                             "provider_ref) values (%s, 'Song', 'A', 200000, 'spotify', 'x') returning id", (session,))
    as_listener.rpc_rows("vote", p_item_id=item, p_value=1)
    as_dj.rpc_rows("advance", p_session_id=session)
    db.as_user(listener).rpc("vote_skip", p_session_id=session)
    next_item = as_dj.value("insert into public.queue_items (session_id, title, artist, duration_ms, provider, "
                            "provider_ref) values (%s, 'Next', 'A', 200000, 'spotify', 'y') returning id", (session,))
    # a vote change not yet folded into the song's tally, as a large room leaves it for the ticker
    db.admin.execute("insert into private.queue_vote_deltas (item_id, shard, up_delta) values (%s, 0, 1)", (next_item,))
    as_listener.rpc("react", p_session_id=session, p_kind="fire")
    as_listener.rpc("follow", p_user_id=dj)
    as_listener.sql("insert into public.user_blocks (blocked_id) values (%s)", (stranger,))
    as_listener.sql("insert into public.reports (reported_user_id, reason) values (%s, 'spam')", (banned,))
    as_listener.rpc_rows("register_push_token", p_token="ExponentPushToken[listener]", p_platform="ios")
    db.admin.execute("insert into public.notification_preferences (user_id) values (%s)", (listener,))
    db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, last_event_at) "
                     "values (%s, 'stripe', 'sub_1', 'dj_pro', now())", (dj,))
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, 'acct_dj', true, true)", (dj,))
    db.admin.execute("insert into public.stripe_customers (user_id, stripe_customer_id) values (%s, 'cus_l')",
                     (listener,))
    db.admin.execute("select private.create_tip(%s, %s, 500, 'usd', 'hi', 'client-key-adv', 1000)", (listener, session))
    db.admin.execute("update public.tips set status = 'succeeded', succeeded_at = now()")  # paid: it counts publicly
    db.admin.execute("insert into private.earnings_entries (dj_id, tip_id, kind, amount, currency, reference) "
                     "select %s, t.id, 'tip', 450, 'usd', 'pi_adv' from public.tips t limit 1", (dj,))
    db.admin.execute("insert into private.dj_daily_stats (dj_id, day, sessions) values (%s, current_date, 1)", (dj,))
    db.admin.execute("insert into public.invoices (id, user_id, stripe_customer_id, status, currency, total, amount_due, "
                     "amount_paid, amount_remaining, invoice_created_at, last_event_at) "
                     "values ('in_l', %s, 'cus_l', 'paid', 'usd', 499, 499, 499, 0, now(), now())", (listener,))
    db.admin.execute("insert into public.payouts (id, dj_id, stripe_account_id, amount, currency, status, last_event_at) "
                     "values ('po_dj', %s, 'acct_dj', 900, 'usd', 'paid', now())", (dj,))
    # the catalog: the DJ is an artist too; a play of their track, heard by the listener and the moderator
    as_dj.sql("update public.profiles set is_artist = true where id = %s", (dj,))
    track = upload_track(db, dj, "Own song")
    upload_track(db, dj, "In review", publish=False)
    play = db.admin.execute(
        "insert into public.plays (session_id, dj_id, provider, provider_ref, track_id, title, artist, started_at, "
        "ended_at, ms_played) values (%s, %s, 'openparty', %s, %s, 'Own song', 'A', now() - interval '3 minutes', "
        "now(), 180000) returning id", (session, dj, str(track), track)).fetchone()[0]
    for heard_by in (listener, moderator):
        db.admin.execute("insert into public.play_listeners (play_id, user_id, ms_listened) values (%s, %s, 180000)",
                         (play, heard_by))
    db.admin.execute("insert into private.artist_payout_runs (month, currency, share_bps, model, min_payout, revenue, "
                     "pool, streams, distributed) values ('2026-10-01', 'usd', 5000, 'pro_rata', 0, 100, 50, 1, 50)")
    db.admin.execute("insert into public.artist_statements (month, artist_id, currency, streams, model, earned, status) "
                     "values ('2026-10-01', %s, 'usd', 1, 'pro_rata', 50, 'pending')", (dj,))
    db.admin.execute("select private.spotify_link(%s, 'dj_spotify', 'DJ', '{}', 'access', 'refresh', 3600)", (dj,))
    # issue 15: the listener's library, a live battle with a vote, an invite the stranger redeemed
    saved = as_listener.rpc_rows("save_song", p_item_id=item)[0]["id"]
    as_listener.sql("insert into public.session_likes (session_id) values (%s)", (session,))
    playlist = as_listener.value("insert into public.playlists (name) values ('Mine') returning id")
    as_listener.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (playlist, saved))
    battle = as_dj.rpc_rows("challenge_battle", p_opponent_id=other_dj)[0]["id"]
    db.as_user(other_dj).rpc_rows("respond_battle", p_battle_id=battle, p_accept=True)
    as_listener.rpc("vote_battle", p_battle_id=battle, p_dj_id=dj)
    db.as_user(stranger).rpc("redeem_invite", p_code=as_listener.rpc("my_invite_code"))
    db.admin.execute("insert into public.session_recommendations (session_id, rank, track_key, title, artist, "
                     "duration_ms, provider, provider_ref, score) values (%s, 1, 'spotify:rec', 'Rec', 'A', 200000, "
                     "'spotify', 'rec', 3)", (session,))  # as the refresh triggers write it
    users = {"dj": dj, "other_dj": other_dj, "listener": listener, "moderator": moderator, "banned": banned,
             "stranger": stranger}
    return Room(db, users, session, message, item, battle)


def claims(room: Room, role: str) -> tuple[str, dict]:
    if role == "anon":
        return "anon", claims_for(None, "anon")
    return "authenticated", claims_for(room.users[role], "authenticated")


def attempt(conn: psycopg.Connection, room: Room, role: str, query: str, params=None) -> int | str:
    """Rows the statement returns, or the SQLSTATE it fails with; always rolled back."""
    db_role, jwt = claims(room, role)
    try:
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute(f"set local role {db_role}")
            cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(jwt),))
            cur.execute(query, params)
            return len(cur.fetchall()) if cur.description else cur.rowcount
    except psycopg.Error as exc:
        return exc.sqlstate


def catalog_tables(conn) -> list[str]:
    """Every relation of `public`, and those of `private` an app role holds any
    privilege on (named `private.<name>`)."""
    return [r[0] for r in conn.execute(
        "select case n.nspname when 'public' then c.relname else 'private.' || c.relname end "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p', 'v', 'm', 'f') and (n.nspname = 'public' or n.nspname = 'private' and exists ("
        "  select 1 from (values ('anon'), ('authenticated')) r(role) "
        "  where has_table_privilege(r.role, c.oid, 'SELECT, INSERT, UPDATE, DELETE') "
        "     or has_any_column_privilege(r.role, c.oid, 'SELECT, INSERT, UPDATE'))) "
        "order by 1").fetchall()]


def qualified(table: str) -> str:
    return table if "." in table else f"public.{table}"


def updatable_column(conn, table: str, db_role: str) -> str | None:
    row = conn.execute(
        "select a.attname from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped "
        "and a.attgenerated = '' and has_column_privilege(%s, a.attrelid, a.attnum, 'UPDATE') order by a.attnum limit 1",
        (qualified(table), db_role)).fetchone()
    return row[0] if row else None


def test_every_table_has_declared_rules(room):
    tables = catalog_tables(room.db.admin)
    assert sorted(set(tables) - set(TABLES)) == [], "declare the new table's rules in TABLES"
    assert sorted(set(TABLES) - set(tables)) == [], "TABLES names a table that no longer exists"


def test_the_table_matrix(room):
    conn, problems = room.db.connect("authenticator"), []
    try:
        for table in catalog_tables(room.db.admin):
            rules = TABLES[table]
            for privilege_role, expected in (("anon", False), ("authenticated", rules.insert)):
                has = room.db.admin.execute(
                    "select has_table_privilege(%s, %s, 'INSERT') or has_any_column_privilege(%s, %s, 'INSERT')",
                    (privilege_role, qualified(table), privilege_role, qualified(table))).fetchone()[0]
                if has != expected:
                    problems.append(f"{table}: {privilege_role} insert privilege is {has}, declared {expected}")
            for role in ROLES:
                me = "null::uuid" if role == "anon" else f"'{room.users[role]}'::uuid"
                others = f"{rules.owner} is distinct from {me}" if rules.owner else "true"
                column = updatable_column(room.db.admin, table, claims(room, role)[0])
                cells = {"select": f"select 1 from {qualified(table)}",
                         "delete": f"delete from {qualified(table)} returning 1",
                         "delete_others": f"delete from {qualified(table)} where {others} returning 1"}
                if column:
                    cells["update"] = f"update {qualified(table)} set {column} = {column} returning 1"
                    cells["update_others"] = f"update {qualified(table)} set {column} = {column} where {others} returning 1"
                for action in ("select", "update", "delete", "update_others", "delete_others"):
                    outcome = attempt(conn, room, role, cells[action]) if action in cells else "no privilege"
                    allowed = isinstance(outcome, int) and outcome > 0
                    if allowed != (role in getattr(rules, action)):
                        problems.append(f"{table}: {role} {action} -> {outcome}, declared "
                                        f"{'allowed' if role in getattr(rules, action) else 'nothing'}")
                    if isinstance(outcome, str) and outcome not in ("42501", "no privilege") and \
                            not outcome.startswith("PT"):
                        problems.append(f"{table}: {role} {action} failed unexpectedly ({outcome})")
    finally:
        conn.close()
    assert not problems, "\n".join(problems)


def test_hidden_columns_stay_hidden_from_every_role(room):
    problems = []
    with room.db.connect("authenticator") as conn:
        for table, columns in HIDDEN_COLUMNS.items():
            for column in sorted(columns):
                for role in ROLES:
                    outcome = attempt(conn, room, role, f"select {column} from {qualified(table)}")
                    if outcome != "42501":
                        problems.append(f"{table}.{column}: {role} -> {outcome}")
    assert not problems, "\n".join(problems)


def catalog_functions(conn) -> list[tuple[str, list[str], list[str], int]]:
    return conn.execute(
        "select p.proname, coalesce(p.proargnames, '{}'), "
        "       array(select format_type(t, null) from unnest(p.proargtypes) t), p.oid::int "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'public' and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e') "
        "order by 1").fetchall()


def argument(room: Room, name: str, type_: str):
    by_name = {"p_session_id": room.session, "p_user_id": room.users["listener"], "p_message_id": room.message,
               "p_item_id": room.item, "p_item_ids": [room.item], "p_seconds": 60, "p_value": 1,
               "p_token": "ExponentPushToken[adversary]", "p_platform": "ios", "p_query": "dj", "p_limit": 5,
               "p_offset": 0, "p_title": "mine now", "p_genres": [], "p_pinned": True, "p_oldest_first": False,
               "p_battle_id": room.battle, "p_dj_id": room.users["dj"], "p_kind": "fire", "p_metric": "listeners"}
    if name in by_name:
        return by_name[name]
    return {"uuid": room.session, "bigint": room.item, "integer": 1, "boolean": True}.get(type_)


def test_every_public_function_has_declared_rules(room):
    names = {row[0] for row in catalog_functions(room.db.admin)}
    assert sorted(names - set(FUNCTIONS)) == [], "declare the new function's rules in FUNCTIONS"
    assert sorted(set(FUNCTIONS) - names) == [], "FUNCTIONS names a function that no longer exists"


def test_anon_executes_only_what_is_declared(room):
    problems = []
    for name, _, _, oid in catalog_functions(room.db.admin):
        for api_role in ("anon", "authenticated"):
            has = room.db.admin.execute("select has_function_privilege(%s, %s::oid, 'EXECUTE')",
                                        (api_role, oid)).fetchone()[0]
            expected = FUNCTIONS[name]["anon"] if api_role == "anon" else True
            if has != expected:
                problems.append(f"{name}: {api_role} execute is {has}, declared {expected}")
        secdef = room.db.admin.execute("select prosecdef from pg_proc where oid = %s", (oid,)).fetchone()[0]
        if secdef:
            problems.append(f"{name}: security definer in the exposed schema")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["stranger", "banned"])
def test_every_function_called_by_an_outsider(room, role):
    """Aimed at the room, while the room's row is held by a busy transaction:
    the declared outcome, and no wait on that lock unless declared `locks`."""
    problems = []
    with room.db.connect() as busy, busy.transaction(force_rollback=True):
        busy.execute("select 1 from public.sessions where id = %s for update", (room.session,))
        with room.db.connect("authenticator") as conn:
            for name, arg_names, arg_types, _ in catalog_functions(room.db.admin):
                # proargnames lists the input arguments first, then the result columns
                args = {n: argument(room, n, t) for n, t in zip(arg_names[:len(arg_types)], arg_types, strict=True)}
                named = ", ".join(f"{n} => %({n})s" for n in args)
                query = f"select * from public.{name}({named})"
                outcome = attempt_with_timeout(conn, room, role, query, args)
                expected = FUNCTIONS[name][role]
                if outcome == "55P03":
                    verdict = "locks"
                elif isinstance(outcome, str):
                    verdict = "refused" if outcome.startswith("PT4") or outcome == "42501" else f"error {outcome}"
                else:
                    verdict = "empty" if outcome == 0 else "ok"
                if verdict != expected and not (expected == "ok" and verdict == "empty"):
                    problems.append(f"{name} by the {role}: {verdict} ({outcome}), declared {expected}")
    assert not problems, "\n".join(problems)


def attempt_with_timeout(conn, room: Room, role: str, query: str, params) -> int | str:
    db_role, jwt = claims(room, role)
    try:
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute(f"set local role {db_role}")
            cur.execute("select set_config('request.jwt.claims', %s, true), set_config('lock_timeout', '250ms', true)",
                        (json.dumps(jwt),))
            cur.execute(query, params)
            return len(cur.fetchall())
    except psycopg.Error as exc:
        return exc.sqlstate


def test_private_definer_functions_the_app_reaches_are_reviewed(room):
    rows = room.db.admin.execute(
        "select distinct p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'private' and p.prosecdef "
        "and (has_function_privilege('anon', p.oid, 'EXECUTE') or has_function_privilege('authenticated', p.oid, 'EXECUTE'))"
    ).fetchall()
    reachable = {r[0] for r in rows}
    assert sorted(reachable - PRIVATE_DEFINER_CALLABLE) == [], "a new definer function the app can call: review it"
    assert sorted(PRIVATE_DEFINER_CALLABLE - reachable) == [], "PRIVATE_DEFINER_CALLABLE lists one the app cannot call"
