"""`scripts/migrate`: `openparty-migrate`, falling back to the embedded database
(stand-ins included) when no DATABASE_URL is given.

Usage: `python -m localstack.migrate [--stand-ins] [--database-url URL]`.
"""

from __future__ import annotations

from localstack.database import ensure_local_database
from openparty.migrate import arg_parser, run
from openparty.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = arg_parser(__doc__)
    args = parser.parse_args(argv)
    url = args.database_url or get_settings().database_url
    if url is None:
        # The embedded database is a plain Postgres: it always needs the stand-ins.
        return run(ensure_local_database().admin_url, stand_ins=True)
    return run(url, stand_ins=args.stand_ins)


if __name__ == "__main__":
    raise SystemExit(main())
