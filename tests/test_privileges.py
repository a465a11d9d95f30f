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
    # private tables the app reaches, each under RLS and in the adversarial matrix (tests/test_adversarial.py)
    assert {line.split()[2].split("(")[0] for line in app_private if line.split()[1] != "execute"} == {
        "private.queue_vote_deltas",  # a song's unfolded vote changes, to its room
        "private.room_access",  # your own standing in rooms, read by the room policy helpers (security invoker)
        "private.reaction_senders",  # react(): writing your own row is a reaction (its triggers count and publish)
        "private.listen_time", "private.songs_played",  # the history RPCs: your own rows; the songs of sessions you were in
        "private.discovery_visibility",  # dj_id only: discovery keeps DJs not hiding from the caller
        "private.live_now_playing",  # what each live room plays (public fields of the playing song)
        "private.earnings_entries",  # a DJ's own ledger (my_earnings)
        "private.dj_daily_stats",  # a DJ's own rollups (creator_analytics)
        "private.track_listens",  # an artist's listens, listeners as pseudonyms (my_track_stats)
        "private.tips_received_daily",  # counts of succeeded tips per DJ, session and day (weekly_leaderboard)
        "private.profile_achievement_stats",  # a profile's streaks and friends invited (user_achievements)
    }
    assert {line.split()[2].split("(")[0] for line in app_private if line.split()[1] == "execute"} == {
        "private.my_blocked_ids", "private.my_session_ids",
        "private.my_moderated_session_ids", "private.my_hosted_session_ids", "private.can_receive_topic",
        "private.queue_order", "private.skip_progress", "private.skip_threshold",
        # the DJ's RPCs ask it before they insert a queue command (the answers of lock_own_session, no lock)
        "private.require_dj",
        # security invoker: the checks timeout_user / ban_user / unban_user make on what the caller reads
        "private.check_may_sanction",
        "private.listened_seconds",  # the history RPCs (invoker): time on the caller's own rows
        "private.set_paused",
        "private.require_user",  # the invoker RPCs that act for the caller: PT401 without one
        # issue 15 (social): policy helpers, then the private halves of its public RPCs
        "private.battle_state",
        # exact tallies of a large room's songs (queue.sql: sharded, deferred tallies)
        "private.pending_votes", "private.pending_votes_of",
    }


def test_the_allowlist_catches_a_function_nobody_decided_on(db):
    db.admin.execute("create function private.forgotten() returns int language sql as $$ select 1 $$")
    assert "PUBLIC execute private.forgotten()" in granted(db.admin) - allowlisted()
