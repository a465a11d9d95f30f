"""`scripts/psql-as USER [psql args]`: psql on the running dev stack, acting as
that user the way PostgREST runs an app request: logged in as `authenticator`,
then `role` authenticated and `request.jwt.claims` set, so RLS, `auth.uid()`
and every rule apply as they do to the app. USER is a username (kai), a user
id, or `anon` (signed out).

PostgREST sets both per transaction; here they hold for the psql session.
"""

from __future__ import annotations

import json
import os
import sys

import psycopg

from localstack.devstate import DevState
from localstack.postgres import binary


def claims_for(state: DevState, user: str) -> tuple[str, dict[str, object]]:
    if user == "anon":
        return "anon", {"role": "anon"}
    with psycopg.connect(state.database_url) as conn:
        row = conn.execute("select u.id::text, u.email from auth.users u left join public.profiles p on p.id = u.id "
                           "where p.username = lower(%(user)s) or u.id::text = %(user)s", {"user": user}).fetchone()
    if row is None:
        raise SystemExit(f"psql-as: no user {user!r} (a username, a user id, or anon)")
    return "authenticated", {"sub": row[0], "role": "authenticated", "aud": "authenticated",
                             "email": row[1] or "", "is_anonymous": False}


def command(state: DevState, user: str, psql_args: list[str]) -> tuple[list[str], dict[str, str]]:
    role, claims = claims_for(state, user)
    # libpq options: backslash escapes spaces; the claims are compact JSON (no spaces).
    options = f"-c role={role} -c request.jwt.claims={json.dumps(claims, separators=(',', ':'))}"
    env = {**os.environ, "PGOPTIONS": options, "PGAPPNAME": f"psql-as {user}"}
    return [binary("psql"), state.authenticator_url, *psql_args], env


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    argv_, env = command(DevState.load(), args[0], args[1:])
    os.execvpe(argv_[0], argv_, env)


if __name__ == "__main__":
    raise SystemExit(main())
