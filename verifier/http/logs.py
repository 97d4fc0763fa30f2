"""Structured logs: one JSON object per line on stderr, free of numbers and codes.

Nothing here is given a path, a query string, a body or an exception message: request
lines carry the route *template* (``/v1/phone-numbers/{phone}``), never the URL, because
the API's own URLs carry phone numbers (DESIGN.md, "Privacy"). uvicorn's access log is
off; its own messages go through the same formatter.
"""

from __future__ import annotations

import json
import logging
import os
import time

LOGGER = "smsverify"
FIELDS = (
    "event",
    "method",
    "route",
    "status",
    "duration_ms",
    "code",
    "result",
    "attempt",
    "error_type",
)


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "pid", "msg", ...known extra fields}`` on one line.

    One line per request is written, so this is on every request's path: the second's
    stamp is kept between lines and the fields are read from the record's ``__dict__``.
    """

    _second: int = -1
    _stamp: str = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        attrs = record.__dict__
        line = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            if name in attrs:
                line[name] = attrs[name]
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's message may quote the input.
            line["error_type"] = record.exc_info[0].__name__
        return _ENCODE(line)


def uvicorn_config(level: str | None = None) -> dict:
    """A ``logging.config`` dict for uvicorn and this service, JSON lines on stderr.

    uvicorn's loggers never go below DEBUG: at TRACE it logs every ASGI message, paths and
    bodies included, and those carry numbers and codes.
    """
    level = (level or os.environ.get("SMSVERIFY_LOG_LEVEL") or "INFO").upper()
    if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE"):
        level = "INFO"
    ours = "DEBUG" if level == "TRACE" else level
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": ours, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": ours, "propagate": False},
            "uvicorn.asgi": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            LOGGER: {"handlers": ["stderr"], "level": ours, "propagate": False},
        },
    }


def get(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER}.{name}" if name else LOGGER)
