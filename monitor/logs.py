"""Daemon logging: readable lines by default, one JSON object per line with ``--log-format json``.

Extra fields passed as ``log.info(msg, extra={"fields": {...}})`` appear as keys in
JSON and as ``key=value`` pairs in text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["setup_logging", "JsonFormatter", "TextFormatter", "LOG_FORMATS"]

LOG_FORMATS = ("text", "json")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_time(record)} {record.levelname:<7} {record.getMessage()}" + (f" {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {"time": _time(record), "level": record.levelname.lower(), "logger": record.name,
                               "message": record.getMessage(), **_fields(record)}
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj, ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", verbose: bool = False) -> None:
    """Send ``monitor`` and ``apscheduler`` logs to stderr in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    for name, level in (("monitor", logging.DEBUG if verbose else logging.INFO),
                        ("apscheduler", logging.INFO if verbose else logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
