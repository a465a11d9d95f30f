"""`python -m workers` / `openparty-workers`: run every worker job until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from openparty.logs import configure_logging, init_error_reporting
from openparty.settings import get_settings
from workers.runner import run_forever


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_forever(get_settings(), stop=stop)


def main() -> None:
    configure_logging(get_settings())
    init_error_reporting(get_settings(), "workers")
    asyncio.run(_main())


if __name__ == "__main__":
    main()
