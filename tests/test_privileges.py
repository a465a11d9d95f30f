"""Every privilege the API and service roles hold is a reviewed decision.

The catalog is read after migrations and policies, and each grant to PUBLIC,
anon, authenticated, service_role, openparty_edge or openparty_worker, on every
function and table of our schemas, is compared with tests/privileges_allowlist.txt.
A new function or table without a decision (or a grant nobody reviewed) fails
here with the lines to add or remove.
"""

from __future__ import annotations

from pathlib import Path

ALLOWLIST = Path(__file__).with_name("privileges_allowlist.txt")
ROLES = ("PUBLIC", "anon", "authenticated", "service_role", "openparty_edge", "openparty_worker")

# One row per (grantee, privilege, object). Functions are named by their
# identity signature with schema-qualified types; a column privilege names the
# column; proacl null means Postgres's default (PUBLIC may execute).
GRANTED = """
with objects as (
  select 'function' as kind,
         format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) as name,
         coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) as acl
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  where n.nspname in ('public', 'private')
    and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
  union all
  select 'table', format('%s.%s', n.nspname, c.relname),
         coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('public', 'private', 'supabase_migrations') and c.relkind in ('r', 'p', 'v', 'm')
    and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
  union all
  select 'column', format('%s.%s(%s)', n.nspname, c.relname, a.attname), a.attacl
  from pg_catalog.pg_attribute a
  join pg_catalog.pg_class c on c.oid = a.attrelid
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname in ('public', 'private') and a.attacl is not null and not a.attisdropped
)
select case when g.grantee = 0 then 'PUBLIC' else g.grantee::regrole::text end as grantee,
       lower(g.privilege_type) as privilege, o.name
from objects o cross join lateral pg_catalog.aclexplode(o.acl) g
order by 3, 1, 2
"""


def granted(conn) -> set[str]:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set local search_path = ''")  # types in signatures come schema-qualified
        rows = cur.execute(GRANTED).fetchall()
    return {f"{grantee} {privilege} {name}" for grantee, privilege, name in rows if grantee in ROLES}


def allowlisted() -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in ALLOWLIST.read_text().splitlines())
    return {" ".join(line.split()) for line in lines if line}


def test_every_privilege_is_allowlisted(db):
    actual, allowed = granted(db.admin), allowlisted()
    unreviewed, missing = sorted(actual - allowed), sorted(allowed - actual)
    assert not unreviewed and not missing, (
        "privileges differ from tests/privileges_allowlist.txt\n"
        + "".join(f"  granted, not allowlisted: {line}\n" for line in unreviewed)
        + "".join(f"  allowlisted, not granted: {line}\n" for line in missing))


def test_nothing_is_executable_by_public(db):
    assert not [line for line in granted(db.admin) if line.startswith("PUBLIC ")]


def test_private_functions_the_app_may_call_are_few_and_named(db):
    """anon and authenticated reach into `private` only where a policy or a
    public security-invoker function needs it (each grant says why in SQL)."""
    app_private = sorted(line for line in granted(db.admin)
                         if line.split()[0] in ("anon", "authenticated") and " private." in line)
    assert all(line.split()[1] == "execute" for line in app_private), "the app reads no private table"
    assert {line.split()[2].split("(")[0] for line in app_private} == {
        "private.plan_of", "private.my_blocked_ids", "private.blocked_me_ids", "private.my_session_ids",
        "private.my_moderated_session_ids", "private.my_hosted_session_ids", "private.can_receive_topic",
        "private.queue_order", "private.skip_progress", "private.skip_threshold",
        # the DJ's RPCs ask it before they insert a queue command (the answers of lock_own_session, no lock)
        "private.require_dj",
        # the private halves of public RPC wrappers (each checks the caller itself)
        "private.go_live", "private.start_session", "private.end_own_session", "private.session_heartbeat",
        "private.join_session", "private.leave_session", "private.timeout_user", "private.ban_user",
        "private.unban_user", "private.delete_message", "private.my_earnings", "private.register_push_token",
        "private.my_track_stats",
        "private.set_paused",
        # live_now shows what each live room plays (one row of queue_items, live rooms only)
        "private.live_now_playing",
        # issue 15 (social): policy helpers, then the private halves of its public RPCs
        "private.my_playlist_ids", "private.my_saved_song_ids",
        "private.react", "private.save_song", "private.reorder_playlist", "private.shared_playlist",
        "private.my_sessions_attended", "private.my_songs_heard", "private.session_songs",
        "private.my_listening_stats", "private.challenge_battle", "private.respond_battle", "private.cancel_battle",
        "private.vote_battle", "private.battle_state", "private.my_invite_code", "private.redeem_invite",
        "private.user_achievements", "private.weekly_leaderboard", "private.creator_analytics",
        # exact tallies of a large room's songs (queue.sql: sharded, deferred tallies)
        "private.pending_votes", "private.pending_votes_of",
    }


def test_the_allowlist_catches_a_function_nobody_decided_on(db):
    db.admin.execute("create function private.forgotten() returns int language sql as $$ select 1 $$")
    assert "PUBLIC execute private.forgotten()" in granted(db.admin) - allowlisted()
