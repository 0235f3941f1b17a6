"""Constants (flags, permissions, limits), snowflakes and small HTTP helpers shared by the fake."""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import mimetypes
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

SPEC_PATH = Path(__file__).resolve().parent.parent.parent / "specs" / "discord-openapi.json"
_SPEC_URI = "urn:discord-openapi"

DISCORD_EPOCH_MS = 1420070400000
MiB = 1024 * 1024

# seconds Discord remembers an enforce_nonce nonce ("a few minutes"): the fake's default
NONCE_TTL = 5 * 60.0

# message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

# permissions
P_ADMINISTRATOR = 1 << 3
P_ADD_REACTIONS = 1 << 6
P_VIEW_CHANNEL = 1 << 10
P_SEND_MESSAGES = 1 << 11
P_MANAGE_MESSAGES = 1 << 13
P_EMBED_LINKS = 1 << 14
P_ATTACH_FILES = 1 << 15
P_READ_MESSAGE_HISTORY = 1 << 16
P_MENTION_EVERYONE = 1 << 17
P_USE_EXTERNAL_EMOJIS = 1 << 18
P_CONNECT = 1 << 20
P_SPEAK = 1 << 21
P_CHANGE_NICKNAME = 1 << 26
P_USE_APPLICATION_COMMANDS = 1 << 31
P_ALL = (1 << 51) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    P_ADD_REACTIONS
    | P_VIEW_CHANNEL
    | P_SEND_MESSAGES
    | P_EMBED_LINKS
    | P_ATTACH_FILES
    | P_READ_MESSAGE_HISTORY
    | P_USE_EXTERNAL_EMOJIS
    | P_CONNECT
    | P_SPEAK
    | P_CHANGE_NICKNAME
    | P_USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | P_MANAGE_MESSAGES

# gateway intents
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12

_FILESIZE_BY_TIER = {0: 10 * MiB, 1: 10 * MiB, 2: 50 * MiB, 3: 100 * MiB}

_snowflake_counter = itertools.count()
_last_snowflake = 0


def _snowflake() -> int:
    """A Discord-shaped snowflake (creation time in the high bits), strictly increasing."""
    global _last_snowflake
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    value = (ms << 22) | (next(_snowflake_counter) & 0xFFF)
    if value <= _last_snowflake:
        value = _last_snowflake + 1
    _last_snowflake = value
    return value


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).isoformat()


def _json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # exactly "application/json": discord.py's json_or_text compares the header verbatim (no charset)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(body).encode(), status=status, headers=hdrs)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


_REC_KEY: web.RequestKey[Any] = web.RequestKey("fake_discord_record", object)


class DiscordHTTPError(Exception):
    """Raised inside handlers to produce a Discord-style JSON error response."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            self.body["errors"] = errors


def _form_error(errors: dict) -> DiscordHTTPError:
    return DiscordHTTPError(400, 50035, "Invalid Form Body", errors)


def _error_tree(path: Iterable[Any], code: str, message: str) -> dict:
    tree: dict = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(list(path)):
        tree = {str(key): tree}
    return tree


def _merge_trees(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        if k in out and isinstance(out[k], dict) and isinstance(v, dict):
            if k == "_errors":
                out[k] = out[k] + v  # pragma: no cover - _errors are lists
            else:
                out[k] = _merge_trees(out[k], v)
        elif k == "_errors" and k in out:
            out[k] = out[k] + v
        else:
            out[k] = v
    return out


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def _guess_type(filename: str, sent: str | None) -> str:
    if sent and sent not in ("application/octet-stream", ""):
        return sent
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
