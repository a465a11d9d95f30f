"""`python -m workers` / `openparty-workers`: run every worker job until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from openparty.settings import get_settings
from workers.runner import run_forever


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_forever(get_settings(), stop=stop)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_main())


if __name__ == "__main__":
    main()
