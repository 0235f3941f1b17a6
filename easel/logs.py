"""Logging: stdlib logging, level from config (or EASEL_LOG_LEVEL), plain lines or JSON lines."""

from __future__ import annotations

import json
import logging
import time

from easel.backends.webui import scrub_credentials
from easel.config import LoggingConfig


class PlainFormatter(logging.Formatter):
    """The usual one-line format, with the ``user:pass@`` part of any URL taken out (message and traceback,
    whoever logged it: Easel, aiohttp or discord.py)."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_credentials(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; URL userinfo taken out like PlainFormatter."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return scrub_credentials(json.dumps(data, ensure_ascii=False))


def setup_logging(cfg: LoggingConfig) -> None:
    handler = logging.StreamHandler()
    if cfg.json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PlainFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level.upper())
    # discord.py's gateway chatter is noisy at DEBUG; keep it at INFO unless asked otherwise.
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
