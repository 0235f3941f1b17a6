"""A loopback fake of the Discord API (REST + gateway) for end-to-end tests.

The real discord.py client logs into it: tests point ``discord.http.Route.BASE`` (and, because a plain
``discord.Client`` dials ``DiscordWebSocket.DEFAULT_GATEWAY`` directly instead of asking ``GET /gateway/bot``,
also ``DiscordWebSocket.DEFAULT_GATEWAY``) at the fake.  :func:`run_client` does both and restores them.

Everything listens on 127.0.0.1 only.  Every wait has a timeout.  The fake records every request and every
message, validates request bodies against Discord's OpenAPI document (``tests/specs/discord-openapi.json``) and
enforces Discord's message limits, so tests catch the bot breaking them.

Typical use::

    fake = FakeDiscord()
    fake.add_guild(1)
    fake.add_channel(1, 10)
    fake.add_member(1, 100, name="alice")
    await fake.start()
    async with run_client(fake, bot):
        await bot.tree.sync(guild=discord.Object(1))
        inter = await fake.invoke("ping", {"n": 3}, user_id=100, guild_id=1, channel_id=10)
        await inter.wait_response()
    await fake.stop()

Behaviour worth knowing:

* Callbacks later than ``interaction_timeout`` (3 s, Discord's rule; None disables) after dispatch get
  404 10062 "Unknown interaction"; a second callback gets 400 40060.
* After a type 5 ("thinking") defer, the first followup completes the loading @original message (same id,
  keeps the defer's ephemerality) as Discord does; later followups are new messages.
* For component interactions, type 6/7 make ``original`` the component's message (PATCH @original edits it).
* ``validation_errors`` collects both spec (OpenAPI) violations and Discord-limit violations (content > 2000,
  > 5 action rows, duplicate custom_ids, Components V2 with content, ...); both are answered 400 code 50035.
* ``mentions_resolved`` / ``pings_everyone`` / ``pings_roles`` apply allowed_mentions only (not permissions).
* ``internal_errors`` holds tracebacks of bugs in the fake (answered 400 so discord.py does not retry 500s);
  ``unhandled`` holds requests to routes the fake does not implement (answered 404).
* discord.py waits ``guild_ready_timeout`` (2 s default) after the last GUILD_CREATE before ``on_ready``:
  construct test clients with ``guild_ready_timeout=0.05``.
"""

# The public API mandated for this fake takes `timeout=` arguments (wait_for_message(..., timeout=10) etc.).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as _dt
import functools
import itertools
import json
import mimetypes
import re
import secrets
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote as _urlquote

from aiohttp import WSMsgType, web

__all__ = [
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeFile",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "RecordedRequest",
    "run_client",
]

SPEC_PATH = Path(__file__).resolve().parent.parent / "specs" / "discord-openapi.json"
_SPEC_URI = "urn:discord-openapi"

DISCORD_EPOCH_MS = 1420070400000
MiB = 1024 * 1024

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


# --------------------------------------------------------------------------------------------------------------
# public data objects
# --------------------------------------------------------------------------------------------------------------


@dataclass
class FakeAttachment:
    """A file a (fake) user attaches to a slash command option."""

    filename: str
    data: bytes
    content_type: str = "image/png"
    description: str | None = None
    width: int | None = None
    height: int | None = None
    id: int = field(default_factory=_snowflake)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class FakeFile:
    """A file the bot uploaded (an attachment of a :class:`FakeMessage`)."""

    filename: str
    data: bytes
    content_type: str
    id: int = field(default_factory=_snowflake)
    description: str | None = None
    sent_content_type: str | None = None  # the multipart part's content type (discord.py: application/octet-stream)
    index: int | None = None  # N of the files[N] multipart part it came from

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def spoiler(self) -> bool:
        return self.filename.startswith("SPOILER_")


@dataclass
class RecordedRequest:
    method: str
    path: str  # relative to the API base for /api/v10 routes (e.g. "/channels/1/messages"), else the raw path
    query: dict[str, str]
    json: Any  # JSON body, or the parsed payload_json of a multipart body
    files: list[FakeFile]
    headers: dict[str, str]
    time: float  # loop.time() when received
    raw_path: str = ""
    status: int | None = None  # the status the fake answered
    response: Any = None  # the JSON the fake answered (if any)

    @property
    def is_api(self) -> bool:
        return self.raw_path.startswith("/api/")


@dataclass
class FakeChannel:
    id: int
    guild_id: int | None
    name: str = "general"
    nsfw: bool = False
    type: int = 0
    recipient_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    bot_permissions: int | None = None  # overrides the bot's guild permissions in this channel
    last_message_id: int | None = None


@dataclass
class FakeGuild:
    id: int
    name: str = "Guild"
    premium_tier: int = 0
    owner_id: int = 0
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    roles: dict[int, dict] = field(default_factory=dict)
    members: dict[int, dict] = field(default_factory=dict)  # user_id -> {"roles": [...], "permissions": int|None}
    created: float = field(default_factory=time.time)

    @property
    def filesize_limit(self) -> int:
        return _FILESIZE_BY_TIER.get(self.premium_tier, 10 * MiB)


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    flags: int = 0
    attachments: list[FakeFile] = field(default_factory=list)
    allowed_mentions: dict | None = None
    nonce: str | int | None = None
    guild_id: int | None = None
    interaction_id: int | None = None
    interaction_token: str | None = None
    webhook_id: int | None = None
    kind: str = "channel"  # "channel" | "original" | "followup" | "user"
    type: int = 0
    message_reference: dict | None = None
    edits: int = 0
    deleted: bool = False
    tts: bool = False
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    mentions_resolved: set[int] = field(default_factory=set)
    pings_everyone: bool = False
    pings_roles: set[int] = field(default_factory=set)
    reactions: dict[str, set[int]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)  # snapshots (content/embeds/components/flags) before edits

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def components_v2(self) -> bool:
        return bool(self.flags & FLAG_COMPONENTS_V2)

    def walk_components(self) -> Iterator[dict]:
        yield from _walk_components(self.components)

    def all_custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.walk_components() if c.get("custom_id")]

    def find_component(self, custom_id: str) -> dict | None:
        for c in self.walk_components():
            if c.get("custom_id") == custom_id:
                return c
        return None

    def text(self) -> str:
        """Content plus embed texts plus Components V2 text displays: handy for assertions."""
        parts = [self.content or ""]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            parts += [f"{f.get('name', '')} {f.get('value', '')}" for f in e.get("fields") or []]
            parts.append((e.get("footer") or {}).get("text") or "")
        parts += [c.get("content") or "" for c in self.walk_components() if c.get("type") == 10]
        return "\n".join(p for p in parts if p)

    def describe(self) -> str:
        bits = [f"id={self.id}", f"ch={self.channel_id}", self.kind]
        if self.deleted:
            bits.append("DELETED")
        if self.flags:
            bits.append(f"flags={self.flags}")
        if self.attachments:
            bits.append("files=" + ",".join(f"{f.filename}({f.size}B)" for f in self.attachments))
        if self.all_custom_ids():
            bits.append("custom_ids=" + ",".join(self.all_custom_ids()))
        text = self.text().replace("\n", " | ")
        return f"<{' '.join(bits)} text={text[:160]!r}>"


class FakeInteraction:
    """One interaction the fake sent to the bot."""

    def __init__(
        self,
        *,
        id: int,
        token: str,
        type: int,
        data: dict,
        payload: dict,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        message: FakeMessage | None = None,
    ) -> None:
        self.id = id
        self.token = token
        self.type = type
        self.data = data
        self.payload = payload  # the full INTERACTION_CREATE `d`
        self.user_id = user_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.message = message  # the message a component / modal-from-component came from
        self.response: dict | None = None
        self.response_type: int | None = None
        self.responded = asyncio.Event()
        self.dispatched_at: float | None = None
        self.response_latency: float | None = None
        self.original: FakeMessage | None = None
        self.followups: list[FakeMessage] = []
        self.expired = False
        self._deferred_pending = False  # type 5 answered, first followup not yet sent

    @property
    def ephemeral(self) -> bool:
        if self.original is not None and self.response_type in (4, 5):
            return self.original.ephemeral
        data = (self.response or {}).get("data") or {}
        return bool((data.get("flags") or 0) & FLAG_EPHEMERAL)

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    async def wait_response(self, timeout: float = 5) -> dict:
        try:
            async with asyncio.timeout(timeout):
                await self.responded.wait()
        except TimeoutError:
            raise TimeoutError(
                f"interaction {self.id} ({self.data.get('name') or self.data.get('custom_id')!r}) "
                f"got no callback within {timeout}s"
            ) from None
        assert self.response is not None
        return self.response

    def __repr__(self) -> str:
        name = self.data.get("name") or self.data.get("custom_id")
        return f"<FakeInteraction id={self.id} type={self.type} {name!r} response_type={self.response_type}>"


# --------------------------------------------------------------------------------------------------------------
# helpers: components, mentions, spec validation
# --------------------------------------------------------------------------------------------------------------


def _walk_components(components: Iterable[dict] | None) -> Iterator[dict]:
    for c in components or []:
        if not isinstance(c, dict):
            continue
        yield c
        yield from _walk_components(c.get("components"))
        for key in ("accessory", "component"):
            if isinstance(c.get(key), dict):
                yield from _walk_components([c[key]])


_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")


def resolve_mentions(
    content: str, allowed_mentions: dict | None, *, replied_user_id: int | None = None
) -> tuple[set[int], set[int], bool]:
    """Which users / roles / @everyone the message would ping, per Discord's allowed_mentions rules.

    Permissions (MENTION_EVERYONE, role mentionable) are deliberately ignored: the question answered is what
    the bot's *allowed_mentions* lets through.
    """
    content = content or ""
    users = {int(x) for x in _USER_MENTION.findall(content)}
    roles = {int(x) for x in _ROLE_MENTION.findall(content)}
    everyone = "@everyone" in content or "@here" in content
    if allowed_mentions is None:
        if replied_user_id is not None:
            users.add(replied_user_id)
        return users, roles, everyone
    parse = set(allowed_mentions.get("parse") or [])
    allowed_users = {int(x) for x in allowed_mentions.get("users") or [] if x is not None}
    allowed_roles = {int(x) for x in allowed_mentions.get("roles") or [] if x is not None}
    pinged_users = users if "users" in parse else users & allowed_users
    pinged_roles = roles if "roles" in parse else roles & allowed_roles
    pinged_everyone = everyone and "everyone" in parse
    if replied_user_id is not None and allowed_mentions.get("replied_user"):
        pinged_users = pinged_users | {replied_user_id}
    return set(pinged_users), set(pinged_roles), pinged_everyone


@functools.lru_cache(maxsize=1)
def _spec_registry() -> tuple[Any, dict]:
    import referencing
    from referencing.jsonschema import DRAFT202012

    spec = json.loads(SPEC_PATH.read_text())
    # discord.py sends some snowflakes as ints (attachment ids in payload_json, allowed_mentions users/roles),
    # which Discord accepts: let the snowflake schema take a non-negative integer as well.
    snow = spec["components"]["schemas"]["SnowflakeType"]
    spec["components"]["schemas"]["SnowflakeType"] = {
        "anyOf": [snow, {"type": "integer", "minimum": 0}],
    }
    resource = referencing.Resource(contents=spec, specification=DRAFT202012)
    registry = referencing.Registry().with_resource(_SPEC_URI, resource)
    return registry, spec


@functools.lru_cache(maxsize=64)
def _validator_for(pointer: str) -> Any:
    import jsonschema

    registry, _ = _spec_registry()
    schema = {"$ref": f"{_SPEC_URI}#{_urlquote(pointer, safe='/~')}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _schema_pointer(name: str) -> str:
    return f"/components/schemas/{name}"


def _path_body_pointer(path: str, method: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/requestBody/content/application~1json/schema"


_CALLBACK_SCHEMAS = {
    1: "PongInteractionCallbackRequest",
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    6: "UpdateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
    9: "ModalInteractionCallbackRequest",
    12: "LaunchActivityInteractionCallbackRequest",
}


def _spec_errors(pointer: str, body: Any) -> list[Any]:
    validator = _validator_for(pointer)
    return sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))


def _short_message(error: Any) -> str:
    """jsonschema's message embeds the whole offending value (a 5000-char content...): keep it short."""
    instance = repr(error.instance)
    if len(instance) > 60:
        instance = instance[:57] + "..."
    if error.validator in ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum"):
        return f"{error.validator} {error.validator_value} violated by {instance}"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def _best_leaf(error: Any) -> Any:
    """For oneOf/anyOf failures pick the branch whose `type` discriminator matches (e.g. the button schema for a
    {"type": 2} component) instead of jsonschema's generic guess, then descend into it."""
    import jsonschema.exceptions

    if not error.context:
        return error
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    matching = [errs for errs in branches.values() if not any(list(e.path) == ["type"] for e in errs)]
    if len(matching) == 1:
        return _best_leaf(jsonschema.exceptions.best_match(matching[0]))
    return _best_leaf(jsonschema.exceptions.best_match(error.context))


# --------------------------------------------------------------------------------------------------------------
# the fake
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Failure:
    method: str
    regex: re.Pattern[str]
    status: int
    body: dict
    times: int
    headers: dict[str, str]


class _Session:
    def __init__(self, session_id: str, intents: int, shard: list[int] | None) -> None:
        self.id = session_id
        self.seq = 0
        self.intents = intents
        self.shard = shard
        self.buffer: list[dict] = []  # sent dispatches (for RESUME replay)
        self.conn: _Conn | None = None


class _Conn:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()
        self.session: _Session | None = None


class FakeDiscord:
    def __init__(
        self,
        *,
        app_id: int = 1_100_000_000_000_000_001,
        bot_user_id: int | None = None,
        token: str = "test-token",
        validate: bool = True,
        bot_name: str = "Easel",
        interaction_timeout: float | None = 3.0,
        heartbeat_interval_ms: int = 41250,
    ) -> None:
        self.app_id = app_id
        self.bot_user_id = bot_user_id if bot_user_id is not None else app_id
        self.token = token
        self.validate = validate
        self.bot_name = bot_name
        # a callback later than this after dispatch gets 404 10062 Unknown interaction (None: no deadline)
        self.interaction_timeout = interaction_timeout
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # seconds every REST answer is held back, like the round trip to the real API (benchmarks; 0: none)
        self.rest_delay = 0.0

        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.users: dict[int, dict] = {}
        self.messages: list[FakeMessage] = []
        self.requests: list[RecordedRequest] = []
        self.interactions: list[FakeInteraction] = []
        self.validation_errors: list[dict] = []
        self.internal_errors: list[str] = []  # tracebacks of bugs in the fake itself (answered with 400)
        self.unhandled: list[RecordedRequest] = []  # requests to routes the fake does not implement
        self.gateway_received: list[dict] = []  # every payload the bot sent over the gateway
        self.identify_count = 0
        self.attachment_downloads: list[int] = []  # ids of attachments the bot fetched from the fake CDN
        self.dms_disabled: set[int] = set()  # users whose DMs answer 403 50007

        self._global_commands: list[dict] = []
        self._guild_commands: dict[int, list[dict]] = {}
        self._messages_by_id: dict[int, FakeMessage] = {}
        self._files: dict[int, FakeFile | FakeAttachment] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._interactions_by_id: dict[int, FakeInteraction] = {}
        self._nonces: dict[tuple[int, int, str], FakeMessage] = {}
        self._failures: list[_Failure] = []
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._active: _Conn | None = None
        self._runner: web.AppRunner | None = None
        self._cond: asyncio.Condition | None = None
        self.ready = asyncio.Event()
        self.port: int | None = None

        self.add_user(self.bot_user_id, name=bot_name, bot=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeDiscord not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        if self._runner is not None:
            return
        if self.validate:
            await asyncio.to_thread(_spec_registry)  # load the 1 MB spec off the event loop
        self._cond = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * MiB)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_get("/attachments/{id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/{tail:.*}", self._dispatch_rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.ws.close(code=1001, message=b"fake stopping")
        self._conns.clear()
        self._active = None
        self.ready.clear()
        if self._runner is not None:
            async with asyncio.timeout(5):
                await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ world setup

    def add_user(self, user_id: int, *, name: str = "user", bot: bool = False) -> dict:
        user = {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }
        self.users[user_id] = user
        return user

    def _user(self, user_id: int) -> dict:
        return self.users.get(user_id) or self.add_user(user_id, name=f"user{user_id}")

    def add_guild(
        self,
        guild_id: int,
        *,
        name: str = "Guild",
        premium_tier: int = 0,
        owner_id: int = 1_000_000_000_000_000_099,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    ) -> FakeGuild:
        guild = FakeGuild(
            id=guild_id, name=name, premium_tier=premium_tier, owner_id=owner_id, bot_permissions=bot_permissions
        )
        self.guilds[guild_id] = guild
        self.add_role(guild_id, guild_id, name="@everyone", permissions=everyone_permissions)
        bot_role = guild_id + 1 if guild_id + 1 not in self.guilds else _snowflake()
        self.add_role(guild_id, bot_role, name=self.bot_name, permissions=bot_permissions, managed=True)
        guild.members[self.bot_user_id] = {"roles": [bot_role], "permissions": None, "joined": time.time()}
        if owner_id not in self.users:
            self.add_user(owner_id, name="owner")
        guild.members.setdefault(owner_id, {"roles": [], "permissions": None, "joined": time.time()})
        return guild

    def add_channel(
        self,
        guild_id: int | None,
        channel_id: int,
        *,
        name: str = "general",
        nsfw: bool = False,
        type: int = 0,
        recipient_id: int | None = None,
        bot_permissions: int | None = None,
    ) -> FakeChannel:
        if guild_id is None:
            type = 1 if type == 0 else type
        elif guild_id not in self.guilds:
            raise KeyError(f"add_guild({guild_id}) first")
        position = len(self.guilds[guild_id].channels) if guild_id is not None else 0
        channel = FakeChannel(
            id=channel_id,
            guild_id=guild_id,
            name=name,
            nsfw=nsfw,
            type=type,
            recipient_id=recipient_id,
            position=position,
            bot_permissions=bot_permissions,
        )
        self.channels[channel_id] = channel
        if guild_id is not None:
            self.guilds[guild_id].channels[channel_id] = channel
        elif recipient_id is not None:
            self._user(recipient_id)
        return channel

    def add_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        name: str,
        permissions: int = 0,
        mentionable: bool = False,
        managed: bool = False,
    ) -> None:
        guild = self.guilds[guild_id]
        guild.roles[role_id] = {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0 if role_id == guild_id else len(guild.roles),
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": mentionable,
            "flags": 0,
            **({"tags": {"bot_id": str(self.bot_user_id)}} if managed else {}),
        }

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        *,
        name: str = "user",
        roles: Iterable[int] = (),
        permissions: int | None = None,
    ) -> None:
        guild = self.guilds[guild_id]
        if user_id not in self.users or self.users[user_id]["username"].startswith("user"):
            self.add_user(user_id, name=name)
        guild.members[user_id] = {"roles": list(roles), "permissions": permissions, "joined": time.time()}

    # ------------------------------------------------------------------ permissions

    def member_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guilds[guild_id]
        if user_id == self.bot_user_id:
            base = guild.bot_permissions | int(guild.roles[guild_id]["permissions"])
        else:
            member = guild.members.get(user_id, {"roles": [], "permissions": None})
            if member.get("permissions") is not None:
                return int(member["permissions"])
            base = int(guild.roles[guild_id]["permissions"])
            for rid in member["roles"]:
                base |= int(guild.roles.get(rid, {}).get("permissions", 0))
        if user_id == guild.owner_id or base & P_ADMINISTRATOR:
            return P_ALL
        return base

    def bot_channel_permissions(self, channel_id: int) -> int:
        channel = self.channels.get(channel_id)
        if channel is None or channel.guild_id is None:
            return P_VIEW_CHANNEL | P_SEND_MESSAGES | P_EMBED_LINKS | P_ATTACH_FILES | P_READ_MESSAGE_HISTORY
        if channel.bot_permissions is not None:
            return channel.bot_permissions
        return self.member_permissions(channel.guild_id, self.bot_user_id)

    def upload_limit(self, channel_id: int | None) -> int:
        channel = self.channels.get(channel_id) if channel_id is not None else None
        if channel is None or channel.guild_id is None:
            return 10 * MiB
        return self.guilds[channel.guild_id].filesize_limit

    # ------------------------------------------------------------------ payload builders

    def _member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict:
        guild = self.guilds[guild_id]
        member = guild.members.get(user_id, {"roles": [], "permissions": None, "joined": time.time()})
        data = {
            "roles": [str(r) for r in member["roles"]],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(member.get("joined", time.time())),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self._user(user_id)
        return data

    def _channel_payload(self, channel: FakeChannel) -> dict:
        if channel.guild_id is None:
            recipients = [self._user(channel.recipient_id)] if channel.recipient_id else []
            return {
                "id": str(channel.id),
                "type": channel.type,
                "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
                "recipients": recipients,
                "flags": 0,
            }
        return {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "nsfw": channel.nsfw,
            "topic": channel.topic,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "rate_limit_per_user": 0,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "flags": 0,
            **({"bitrate": 64000, "user_limit": 0, "rtc_region": None} if channel.type in (2, 13) else {}),
        }

    def guild_payload(self, guild_id: int) -> dict:
        guild = self.guilds[guild_id]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(guild.premium_tier, 0),
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "features": [],
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "premium_progress_bar_enabled": False,
            "joined_at": _iso(guild.created),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": [self._member_payload(guild.id, uid) for uid in guild.members],
            "channels": [self._channel_payload(c) for c in guild.channels.values()],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "application_command_counts": {},
        }

    def _file_payload(self, f: FakeFile | FakeAttachment) -> dict:
        url = f"{self.base_url}/attachments/{f.id}/{_urlquote(f.filename)}"
        data: dict[str, Any] = {
            "id": str(f.id),
            "filename": f.filename,
            "size": f.size,
            "url": url,
            "proxy_url": url,
            "content_type": f.content_type,
            "flags": 0,
        }
        if f.description is not None:
            data["description"] = f.description
        width = getattr(f, "width", None)
        height = getattr(f, "height", None)
        if width is not None:
            data["width"] = width
            data["height"] = height
        if isinstance(f, FakeAttachment):
            data["ephemeral"] = True
        return data

    def message_payload(self, m: FakeMessage, *, gateway: bool = False) -> dict:
        author = self._user(m.author_id)
        data: dict[str, Any] = {
            "id": str(m.id),
            "type": m.type,
            "channel_id": str(m.channel_id),
            "author": author,
            "content": m.content,
            "embeds": copy.deepcopy(m.embeds),
            "components": copy.deepcopy(m.components),
            "attachments": [self._file_payload(f) for f in m.attachments],
            "mentions": [self._user(u) for u in sorted(m.mentions_resolved)],
            "mention_roles": [str(r) for r in sorted(m.pings_roles)],
            "mention_everyone": m.pings_everyone,
            "pinned": False,
            "tts": m.tts,
            "timestamp": _iso(m.created_at),
            "edited_timestamp": _iso(m.edited_at),
            "flags": m.flags,
            "reactions": [
                {
                    "emoji": {"id": None, "name": name},
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for name, users in m.reactions.items()
                if users
            ],
        }
        if m.nonce is not None:
            data["nonce"] = m.nonce
        if m.webhook_id is not None:
            data["webhook_id"] = str(m.webhook_id)
            data["application_id"] = str(self.app_id)
        if m.message_reference is not None:
            data["message_reference"] = m.message_reference
        if m.interaction_id is not None:
            inter = self._interactions_by_id.get(m.interaction_id)
            if inter is not None:
                meta: dict[str, Any] = {
                    "id": str(inter.id),
                    "type": inter.type,
                    "user": self._user(inter.user_id),
                    "authorizing_integration_owners": inter.payload.get("authorizing_integration_owners", {}),
                }
                if inter.original is not None:
                    meta["original_response_message_id"] = str(inter.original.id)
                if inter.message is not None:
                    meta["interacted_message_id"] = str(inter.message.id)
                if inter.type == 2:
                    meta["name"] = inter.data.get("name")
                data["interaction_metadata"] = meta
        if gateway and m.guild_id is not None:
            data["guild_id"] = str(m.guild_id)
            if m.author_id in self.guilds[m.guild_id].members:
                data["member"] = self._member_payload(m.guild_id, m.author_id, with_user=False)
        return data

    # ------------------------------------------------------------------ observing

    def _notify(self) -> None:
        cond = self._cond
        if cond is None:
            return

        async def _wake() -> None:
            async with cond:
                cond.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(_wake())

    def _dump(self) -> str:
        lines = [f"  {m.describe()}" for m in self.messages[-30:]]
        reqs = [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-15:]]
        errs = [f"  {e}" for e in self.validation_errors[-5:]]
        return (
            "messages:\n"
            + ("\n".join(lines) or "  (none)")
            + "\nlast requests:\n"
            + ("\n".join(reqs) or "  (none)")
            + ("\nvalidation errors:\n" + "\n".join(errs) if errs else "")
        )

    async def _wait_for(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        if self._cond is None:
            raise RuntimeError("FakeDiscord not started")
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    while True:
                        found = find()
                        if found is not None:
                            return found
                        await self._cond.wait()
        except TimeoutError:
            raise TimeoutError(f"no {what} matched within {timeout}s\n{self._dump()}") from None

    async def wait_until(self, check: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
        """Wait (event based) until check() returns something other than None/False; re-checked whenever the fake
        records a request, a message change or a gateway session change."""
        return await self._wait_for(lambda: check() or None, timeout, what)

    async def wait_for_message(self, predicate: Callable[[FakeMessage], bool], timeout: float = 10) -> FakeMessage:
        """First message (in creation order; edits re-trigger the check) for which predicate is true."""
        return await self._wait_for(lambda: next((m for m in self.messages if predicate(m)), None), timeout, "message")

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10
    ) -> RecordedRequest:
        return await self._wait_for(lambda: next((r for r in self.requests if predicate(r)), None), timeout, "request")

    def channel_messages(self, channel_id: int, *, include_deleted: bool = False) -> list[FakeMessage]:
        return [m for m in self.messages if m.channel_id == channel_id and (include_deleted or not m.deleted)]

    def get_message(self, message_id: int) -> FakeMessage | None:
        return self._messages_by_id.get(message_id)

    @property
    def error_responses(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.status is not None and r.status >= 400]

    def registered_commands(self, guild_id: int | None = None) -> list[dict]:
        if guild_id is None:
            return copy.deepcopy(self._global_commands)
        return copy.deepcopy(self._guild_commands.get(guild_id, []))

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict | None = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests matching method + path_regex (re.search on the path relative to the
        API base, e.g. r"^/channels/\\d+/messages$"; method "*" matches any) with status/body.

        A 429 gets Discord's rate-limit headers (Via: 1.1 google, X-RateLimit-*, Retry-After) and a
        retry_after in the body unless given, so discord.py waits and retries.
        """
        body = dict(body or {})
        hdrs = dict(headers or {})
        if status == 429:
            retry_after = float(body.setdefault("retry_after", 0.05))
            body.setdefault("message", "You are being rate limited.")
            body.setdefault("global", False)
            hdrs.setdefault("Via", "1.1 google")
            hdrs.setdefault("Retry-After", str(max(1, int(retry_after + 0.999))))
            hdrs.setdefault("X-RateLimit-Limit", "5")
            hdrs.setdefault("X-RateLimit-Remaining", "0")
            hdrs.setdefault("X-RateLimit-Reset-After", str(retry_after))
            hdrs.setdefault("X-RateLimit-Reset", str(time.time() + retry_after))
            hdrs.setdefault("X-RateLimit-Bucket", "fakebucket")
            hdrs.setdefault("X-RateLimit-Scope", "user")
        self._failures.append(_Failure(method.upper(), re.compile(path_regex), status, body, times, hdrs))

    def expire_token(self, interaction: FakeInteraction) -> None:
        interaction.expired = True

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path in ("/gateway", "/gateway/"):
            return await handler(request)
        raw_path = request.path
        path = raw_path[len("/api/v10") :] if raw_path.startswith("/api/v10") else raw_path
        body: Any = None
        files: list[FakeFile] = []
        error: DiscordHTTPError | None = None
        try:
            body, files = await self._read_body(request)
        except DiscordHTTPError as exc:
            error = exc
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=asyncio.get_running_loop().time(),
            raw_path=raw_path,
        )
        self.requests.append(rec)
        request[_REC_KEY] = rec
        self._notify()
        resp: web.StreamResponse
        try:
            if error is not None:
                raise error
            if self.rest_delay > 0:
                await asyncio.sleep(self.rest_delay)
            failure = self._take_failure(request.method, path) if raw_path.startswith("/api/") else None
            if failure is not None:
                rec.response = failure.body
                resp = _json_response(failure.body, status=failure.status, headers=failure.headers)
            else:
                resp = await handler(request)
        except DiscordHTTPError as exc:
            resp = _json_response(exc.body, status=exc.status)
            rec.response = exc.body
        except Exception as exc:  # a bug in the fake: fail fast (a 500 would make discord.py retry for ~25 s)
            self.internal_errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            body = {"code": 0, "message": f"FakeDiscord internal error: {exc!r}"}
            resp = _json_response(body, status=400)
            rec.response = body
        rec.status = resp.status
        self._notify()
        return resp

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (method, "*") and failure.regex.search(path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[FakeFile]]:
        if request.method in ("GET", "HEAD") or not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            payload: Any = None
            files: list[FakeFile] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                name = getattr(part, "name", None)
                data = await part.read(decode=False)  # type: ignore[union-attr]
                if name == "payload_json":
                    try:
                        payload = json.loads(data)
                    except ValueError as exc:
                        raise _form_error(_error_tree(["payload_json"], "JSON_INVALID", str(exc))) from None
                elif name and (m := re.fullmatch(r"files\[(\d+)\]|file(\d*)", name)):
                    sent_type = part.headers.get("Content-Type")  # type: ignore[union-attr]
                    filename = getattr(part, "filename", None) or f"file{m.group(1) or m.group(2)}"
                    files.append(
                        FakeFile(
                            filename=filename,
                            data=bytes(data),
                            content_type=_guess_type(filename, sent_type),
                            sent_content_type=sent_type,
                            index=int(m.group(1) or m.group(2) or 0),
                        )
                    )
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        f = self._files.get(int(request.match_info["id"]))
        if f is None:
            return web.Response(status=404, text="Not Found")
        self.attachment_downloads.append(f.id)
        return web.Response(body=f.data, content_type=f.content_type)

    def _check_auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordHTTPError(401, 0, "401: Unauthorized")

    # filled below the class: (method, path regex, handler name, needs bot auth)
    _ROUTES: ClassVar[list[tuple[str, str, str, bool]]] = []
    _COMPILED_ROUTES: ClassVar[list[tuple[str, re.Pattern[str], str, bool]]] = []

    async def _dispatch_rest(self, request: web.Request) -> web.StreamResponse:
        raw = request.path
        if not raw.startswith("/api/v10/"):
            return self._unhandled(request)
        path = raw[len("/api/v10") :]
        for method, regex, name, auth in self._COMPILED_ROUTES:
            if method != request.method:
                continue
            m = regex.fullmatch(path)
            if m is None:
                continue
            if auth:
                self._check_auth(request)
            rec: RecordedRequest = request[_REC_KEY]
            result = await getattr(self, name)(request, rec, **m.groupdict())
            if isinstance(result, web.StreamResponse):
                return result
            if result is None:
                return web.Response(status=204)
            rec.response = result
            return _json_response(result)
        return self._unhandled(request)

    def _unhandled(self, request: web.Request) -> web.StreamResponse:
        self.unhandled.append(request[_REC_KEY])
        return _json_response({"message": "404: Not Found", "code": 0}, status=404)

    # ------------------------------------------------------------------ validation

    def _spec_check(self, pointer: str, body: Any, rec: RecordedRequest, label: str) -> None:
        if not self.validate:
            return
        errors = _spec_errors(pointer, body)
        if not errors:
            return
        tree: dict = {}
        for err in errors:
            leaf = _best_leaf(err)
            message = _short_message(leaf)
            tree = _merge_trees(tree, _error_tree(leaf.absolute_path, "SPEC_VALIDATION", message))
            self.validation_errors.append(
                {
                    "source": "spec",
                    "route": label,
                    "method": rec.method,
                    "path": rec.path,
                    "location": "/".join(str(p) for p in leaf.absolute_path),
                    "message": message,
                    "schema_path": "/".join(str(p) for p in leaf.absolute_schema_path),
                }
            )
        raise _form_error(tree)

    def _limits_error(self, rec: RecordedRequest, label: str, problems: list[tuple[list[Any], str, str]]) -> None:
        if not problems:
            return
        tree: dict = {}
        for path, code, message in problems:
            tree = _merge_trees(tree, _error_tree(path, code, message))
            self.validation_errors.append(
                {
                    "source": "limits",
                    "route": label,
                    "method": rec.method,
                    "path": rec.path,
                    "location": "/".join(str(p) for p in path),
                    "message": message,
                    "code": code,
                }
            )
        raise _form_error(tree)

    def _check_upload_size(self, files: list[FakeFile], channel_id: int | None) -> None:
        total = sum(f.size for f in files)
        if files and total > self.upload_limit(channel_id):
            raise DiscordHTTPError(413, 40005, "Request entity too large")

    def _message_problems(
        self,
        body: dict,
        *,
        final_attachments: list[FakeFile],
        existing: FakeMessage | None = None,
    ) -> list[tuple[list[Any], str, str]]:
        problems: list[tuple[list[Any], str, str]] = []
        content = body.get("content")
        if content is None and existing is not None:
            content = existing.content
        if isinstance(content, str) and len(content) > 2000:
            problems.append((["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."))
        embeds = body.get("embeds")
        if embeds is None and existing is not None:
            embeds = existing.embeds
        embeds = embeds or []
        if len(embeds) > 10:
            problems.append((["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
        total = 0
        for i, e in enumerate(embeds):
            if not isinstance(e, dict):
                continue
            for key, limit in (("title", 256), ("description", 4096)):
                value = e.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    problems.append(
                        (["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    )
            fields = e.get("fields") or []
            if len(fields) > 25:
                problems.append((["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
            for j, f in enumerate(fields):
                name, value = f.get("name") or "", f.get("value") or ""
                total += len(name) + len(value)
                if not name or not value:
                    problems.append((["embeds", i, "fields", j], "BASE_TYPE_REQUIRED", "This field is required"))
                if len(name) > 256:
                    problems.append(
                        (["embeds", i, "fields", j, "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
                    )
                if len(value) > 1024:
                    problems.append(
                        (
                            ["embeds", i, "fields", j, "value"],
                            "BASE_TYPE_MAX_LENGTH",
                            "Must be 1024 or fewer in length.",
                        )
                    )
            footer = (e.get("footer") or {}).get("text") or ""
            author = (e.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048:
                problems.append(
                    (["embeds", i, "footer", "text"], "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")
                )
            if len(author) > 256:
                problems.append(
                    (["embeds", i, "author", "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
                )
        if total > 6000:
            problems.append((["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
        if len(final_attachments) > 10:
            problems.append((["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))

        flags = body.get("flags")
        if flags is None:
            flags = existing.flags if existing is not None else 0
        v2 = bool((flags or 0) & FLAG_COMPONENTS_V2) or (existing is not None and existing.components_v2)
        components = body.get("components")
        if components is None and existing is not None:
            components = existing.components
        components = components or []
        if v2:
            if content or embeds:
                problems.append(
                    (
                        ["content" if content else "embeds"],
                        "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                        "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
                    )
                )
            count = sum(1 for _ in _walk_components(components))
            if count > 40:
                problems.append((["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in total."))
        else:
            if len(components) > 5:
                problems.append((["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
            for i, row in enumerate(components):
                if isinstance(row, dict) and row.get("type") != 1:
                    problems.append(
                        (
                            ["components", i, "type"],
                            "COMPONENT_LAYOUT_INVALID",
                            "Top-level components must be action rows unless the message has IS_COMPONENTS_V2",
                        )
                    )
        problems += _component_problems(components, ["components"])
        filenames = {f.filename for f in final_attachments}
        for path, url in _media_refs(components, ["components"]):
            if url.startswith("attachment://") and url[len("attachment://") :] not in filenames:
                problems.append((path, "UNFURLED_MEDIA_ITEM_ATTACHMENT_NOT_FOUND", f"No attachment named {url!r}"))
        am = body.get("allowed_mentions")
        if isinstance(am, dict):
            parse = am.get("parse") or []
            if "users" in parse and am.get("users"):
                problems.append(
                    (
                        ["allowed_mentions"],
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        'parse:["users"] and users: [ids] are mutually exclusive.',
                    )
                )
            if "roles" in parse and am.get("roles"):
                problems.append(
                    (
                        ["allowed_mentions"],
                        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                        'parse:["roles"] and roles: [ids] are mutually exclusive.',
                    )
                )
        if existing is None and not (
            content or embeds or components or final_attachments or body.get("sticker_ids") or body.get("poll")
        ):
            problems.append(([], "MESSAGE_EMPTY", "Cannot send an empty message"))
        return problems

    # ------------------------------------------------------------------ messages

    def _build_attachments(
        self, body: dict, files: list[FakeFile], existing: FakeMessage | None
    ) -> tuple[list[FakeFile], list[tuple[list[Any], str, str]]]:
        problems: list[tuple[list[Any], str, str]] = []
        by_index = {f.index if f.index is not None else i: f for i, f in enumerate(files)}
        specs = body.get("attachments")
        if specs is None:
            kept = list(existing.attachments) if existing is not None else []
            return kept + list(files), problems
        result: list[FakeFile] = []
        existing_by_id = {f.id: f for f in existing.attachments} if existing is not None else {}
        used: set[int] = set()
        for i, spec in enumerate(specs):
            try:
                aid = int(spec.get("id"))
            except (TypeError, ValueError):
                problems.append((["attachments", i, "id"], "BASE_TYPE_REQUIRED", "This field is required"))
                continue
            if aid in by_index and aid not in existing_by_id:
                f = by_index[aid]
                used.add(aid)
                if spec.get("filename"):
                    f.filename = spec["filename"]
                    f.content_type = _guess_type(f.filename, f.sent_content_type)
                if spec.get("description") is not None:
                    f.description = spec["description"]
                result.append(f)
            elif aid in existing_by_id:
                result.append(existing_by_id[aid])
            else:
                problems.append((["attachments", i, "id"], "ATTACHMENT_NOT_FOUND", f"Unknown attachment id {aid}"))
        for idx, f in by_index.items():
            if idx not in used:
                result.append(f)
        return result, problems

    def _apply_mentions(self, m: FakeMessage) -> None:
        replied = None
        if m.message_reference and m.message_reference.get("message_id"):
            ref = self._messages_by_id.get(int(m.message_reference["message_id"]))
            if ref is not None and ref.author_id != m.author_id:
                replied = ref.author_id
        users, roles, everyone = resolve_mentions(m.content, m.allowed_mentions, replied_user_id=replied)
        m.mentions_resolved, m.pings_roles, m.pings_everyone = users, roles, everyone

    def _new_message(
        self,
        *,
        channel_id: int,
        author_id: int,
        body: dict,
        attachments: list[FakeFile],
        kind: str,
        interaction: FakeInteraction | None = None,
        extra_flags: int = 0,
    ) -> FakeMessage:
        channel = self.channels.get(channel_id)
        flags = int(body.get("flags") or 0) | extra_flags
        m = FakeMessage(
            id=_snowflake(),
            channel_id=channel_id,
            author_id=author_id,
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            components=_with_component_ids(body.get("components") or []),
            flags=flags,
            attachments=attachments,
            allowed_mentions=body.get("allowed_mentions"),
            nonce=body.get("nonce"),
            guild_id=channel.guild_id if channel is not None else (interaction.guild_id if interaction else None),
            interaction_id=interaction.id if interaction else None,
            interaction_token=interaction.token if interaction else None,
            webhook_id=self.app_id if interaction else None,
            kind=kind,
            tts=bool(body.get("tts")),
            message_reference=body.get("message_reference"),
        )
        if interaction is not None and interaction.type == 2 and kind in ("original", "followup"):
            m.type = 20 if interaction.data.get("type", 1) == 1 else 23
        elif m.message_reference:
            m.type = 19
        for f in attachments:
            self._files[f.id] = f
        _resolve_media_urls(m, self)
        self._apply_mentions(m)
        self.messages.append(m)
        self._messages_by_id[m.id] = m
        if channel is not None and not m.ephemeral:
            channel.last_message_id = m.id
        self._gateway_message_event("MESSAGE_CREATE", m)
        return m

    def _edit_message(self, m: FakeMessage, body: dict, attachments: list[FakeFile], *, clear_loading: bool) -> None:
        m.history.append(
            {
                "content": m.content,
                "embeds": m.embeds,
                "components": m.components,
                "flags": m.flags,
                "attachments": [f.filename for f in m.attachments],
            }
        )
        if "content" in body:
            m.content = body["content"] or ""
        if "embeds" in body:
            m.embeds = list(body["embeds"] or [])
        if "components" in body:
            m.components = _with_component_ids(body["components"] or [])
        if body.get("flags") is not None:
            # only SUPPRESS_EMBEDS and IS_COMPONENTS_V2 can be changed by an edit; ephemeral stays
            keep = m.flags & ~(FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2)
            m.flags = keep | (int(body["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
        if "allowed_mentions" in body:
            m.allowed_mentions = body["allowed_mentions"]
        if clear_loading:
            m.flags &= ~FLAG_LOADING
        m.attachments = attachments
        for f in attachments:
            self._files[f.id] = f
        _resolve_media_urls(m, self)
        m.edits += 1
        m.edited_at = time.time()
        self._apply_mentions(m)
        self._gateway_message_event("MESSAGE_UPDATE", m)

    def _delete_message(self, m: FakeMessage) -> None:
        m.deleted = True
        if self._active is not None and not m.ephemeral and self._wants_message_events(m):
            d: dict[str, Any] = {"id": str(m.id), "channel_id": str(m.channel_id)}
            if m.guild_id is not None:
                d["guild_id"] = str(m.guild_id)
            self._spawn_dispatch("MESSAGE_DELETE", d)

    def _wants_message_events(self, m: FakeMessage) -> bool:
        conn = self._active
        if conn is None or conn.session is None:
            return False
        intent = INTENT_GUILD_MESSAGES if m.guild_id is not None else INTENT_DIRECT_MESSAGES
        return bool(conn.session.intents & intent)

    def _gateway_message_event(self, event: str, m: FakeMessage) -> None:
        if m.ephemeral or not self._wants_message_events(m):
            return
        self._spawn_dispatch(event, self.message_payload(m, gateway=True))

    def _spawn_dispatch(self, event: str, data: dict) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._safe_dispatch(event, data))

    async def _safe_dispatch(self, event: str, data: dict) -> None:
        with contextlib.suppress(Exception):
            await self.dispatch(event, data)

    def _find_message(self, channel_id: int, message_id: int) -> FakeMessage:
        m = self._messages_by_id.get(message_id)
        if m is None or m.channel_id != channel_id or m.deleted or m.ephemeral:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return m

    def _channel(self, channel_id: int) -> FakeChannel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        return channel

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        attachments: list[FakeAttachment] | None = None,
    ) -> FakeMessage:
        """A (fake) user posts a message; MESSAGE_CREATE is dispatched to the bot if its intents want it."""
        files = [
            FakeFile(filename=a.filename, data=a.data, content_type=a.content_type, id=a.id) for a in attachments or []
        ]
        m = self._new_message(
            channel_id=channel_id, author_id=user_id, body={"content": content}, attachments=files, kind="user"
        )
        self._notify()
        return m

    # ------------------------------------------------------------------ REST handlers: identity & gateway

    async def _h_me(self, request: web.Request, rec: RecordedRequest) -> dict:
        return {**self._user(self.bot_user_id), "mfa_enabled": False, "verified": True, "locale": "en-US"}

    async def _h_get_user(self, request: web.Request, rec: RecordedRequest, user_id: str) -> dict:
        uid = int(user_id)
        if uid not in self.users:
            raise DiscordHTTPError(404, 10013, "Unknown User")
        return self.users[uid]

    async def _h_app(self, request: web.Request, rec: RecordedRequest) -> dict:
        return {
            "id": str(self.app_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self._user(next(iter(g.owner_id for g in self.guilds.values()), self.bot_user_id)),
            "team": None,
            "bot": self._user(self.bot_user_id),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    async def _h_gateway_bot(self, request: web.Request, rec: RecordedRequest) -> dict:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    async def _h_gateway(self, request: web.Request, rec: RecordedRequest) -> dict:
        return {"url": self.gateway_url}

    # ------------------------------------------------------------------ REST handlers: guilds

    async def _h_get_guild(self, request: web.Request, rec: RecordedRequest, guild_id: str) -> dict:
        gid = int(guild_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        payload = self.guild_payload(gid)
        for key in ("members", "channels", "threads", "voice_states", "presences", "joined_at", "large"):
            payload.pop(key, None)
        return payload

    async def _h_guild_channels(self, request: web.Request, rec: RecordedRequest, guild_id: str) -> list:
        gid = int(guild_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        return [self._channel_payload(c) for c in self.guilds[gid].channels.values()]

    async def _h_guild_roles(self, request: web.Request, rec: RecordedRequest, guild_id: str) -> list:
        gid = int(guild_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        return list(self.guilds[gid].roles.values())

    async def _h_guild_member(self, request: web.Request, rec: RecordedRequest, guild_id: str, user_id: str) -> dict:
        gid, uid = int(guild_id), int(user_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        if uid not in self.guilds[gid].members:
            raise DiscordHTTPError(404, 10007, "Unknown Member")
        return self._member_payload(gid, uid)

    # ------------------------------------------------------------------ REST handlers: channels & messages

    async def _h_get_channel(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> dict:
        return self._channel_payload(self._channel(int(channel_id)))

    async def _h_create_dm(self, request: web.Request, rec: RecordedRequest) -> dict:
        body = rec.json or {}
        self._spec_check(_schema_pointer("CreatePrivateChannelRequest"), body, rec, "create_dm")
        try:
            uid = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise _form_error(_error_tree(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")) from None
        for ch in self.channels.values():
            if ch.guild_id is None and ch.recipient_id == uid:
                return self._channel_payload(ch)
        return self._channel_payload(self.add_channel(None, _snowflake(), recipient_id=uid))

    async def _h_typing(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> None:
        self._channel(int(channel_id))
        return None

    async def _h_create_message(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> dict:
        cid = int(channel_id)
        channel = self._channel(cid)
        body = rec.json if isinstance(rec.json, dict) else {}
        perms = self.bot_channel_permissions(cid)
        if channel.guild_id is None and channel.recipient_id in self.dms_disabled:
            raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
        if not (perms & P_VIEW_CHANNEL and perms & P_SEND_MESSAGES) or (rec.files and not perms & P_ATTACH_FILES):
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        self._check_upload_size(rec.files, cid)
        self._spec_check(_schema_pointer("MessageCreateRequest"), body, rec, "create_message")
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            previous = self._nonces.get((self.bot_user_id, cid, str(body["nonce"])))
            if previous is not None:
                return self.message_payload(previous)
        attachments, problems = self._build_attachments(body, rec.files, None)
        problems += self._message_problems(body, final_attachments=attachments)
        ref = body.get("message_reference")
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self._messages_by_id.get(int(ref["message_id"]))
            if target is None or target.deleted:
                if ref.get("fail_if_not_exists", True):
                    problems.append((["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"))
            else:
                body = {
                    **body,
                    "message_reference": {
                        "type": 0,
                        "message_id": str(target.id),
                        "channel_id": str(target.channel_id),
                        **({"guild_id": str(target.guild_id)} if target.guild_id else {}),
                    },
                }
        self._limits_error(rec, "create_message", problems)
        if body.get("flags"):
            body = {**body, "flags": int(body["flags"]) & ~FLAG_EPHEMERAL}  # ephemeral only via interactions
        m = self._new_message(
            channel_id=cid, author_id=self.bot_user_id, body=body, attachments=attachments, kind="channel"
        )
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            self._nonces[(self.bot_user_id, cid, str(body["nonce"]))] = m
        return self.message_payload(m)

    async def _h_list_messages(self, request: web.Request, rec: RecordedRequest, channel_id: str) -> list:
        cid = int(channel_id)
        self._channel(cid)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", 50))))
        msgs = [m for m in self.messages if m.channel_id == cid and not m.deleted and not m.ephemeral]
        msgs.sort(key=lambda m: m.id)
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])]
            msgs = msgs[-limit:]
        elif "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
        elif "around" in q:
            around = int(q["around"])
            before = [m for m in msgs if m.id < around][-(limit // 2) :]
            after = [m for m in msgs if m.id >= around][: limit - len(before)]
            msgs = before + after
        else:
            msgs = msgs[-limit:]
        return [self.message_payload(m) for m in reversed(msgs)]

    async def _h_get_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> dict:
        return self.message_payload(self._find_message(int(channel_id), int(message_id)))

    async def _h_edit_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> dict:
        m = self._find_message(int(channel_id), int(message_id))
        if m.author_id != self.bot_user_id:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, m.channel_id)
        self._spec_check(_schema_pointer("MessageEditRequestPartial"), body, rec, "update_message")
        attachments, problems = self._build_attachments(body, rec.files, m)
        problems += self._message_problems(body, final_attachments=attachments, existing=m)
        self._limits_error(rec, "update_message", problems)
        self._edit_message(m, body, attachments, clear_loading=False)
        return self.message_payload(m)

    async def _h_delete_message(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        if m.author_id != self.bot_user_id and not self.bot_channel_permissions(m.channel_id) & P_MANAGE_MESSAGES:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        self._delete_message(m)
        return None

    async def _h_add_reaction(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        m.reactions.setdefault(_unquote(emoji), set()).add(self.bot_user_id)
        return None

    async def _h_remove_reaction(
        self, request: web.Request, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str
    ) -> None:
        m = self._find_message(int(channel_id), int(message_id))
        m.reactions.get(_unquote(emoji), set()).discard(self.bot_user_id)
        return None

    # ------------------------------------------------------------------ REST handlers: application commands

    def _command_list(self, guild_id: str | None) -> list[dict]:
        if guild_id is None:
            return self._global_commands
        gid = int(guild_id)
        if gid not in self.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return self._guild_commands.setdefault(gid, [])

    def _store_command(self, data: dict, guild_id: str | None, existing: dict | None) -> dict:
        cmd = copy.deepcopy(data)
        cmd["id"] = existing["id"] if existing else str(_snowflake())
        cmd["application_id"] = str(self.app_id)
        cmd["version"] = str(_snowflake())
        cmd.setdefault("type", 1)
        cmd.setdefault("description", "" if cmd["type"] != 1 else cmd.get("description"))
        cmd.setdefault("options", [])
        cmd.setdefault("default_member_permissions", None)
        cmd.setdefault("nsfw", False)
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        else:
            cmd.setdefault("contexts", None)
            cmd.setdefault("integration_types", [0])
        return cmd

    def _command_problems(self, commands: list[dict]) -> list[tuple[list[Any], str, str]]:
        problems: list[tuple[list[Any], str, str]] = []
        seen: set[tuple[int, str]] = set()
        for i, cmd in enumerate(commands):
            if not isinstance(cmd, dict):
                continue
            ctype = cmd.get("type") or 1
            name = cmd.get("name") or ""
            if (ctype, name) in seen:
                problems.append(
                    ([i, "name"], "APPLICATION_COMMAND_ALREADY_EXISTS", "Application command names must be unique")
                )
            seen.add((ctype, name))
            if ctype == 1:
                if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
                    problems.append(([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
                if not cmd.get("description"):
                    problems.append(([i, "description"], "BASE_TYPE_REQUIRED", "This field is required"))
                problems += _option_problems(cmd.get("options") or [], [i, "options"])
        if sum(1 for c in commands if isinstance(c, dict) and (c.get("type") or 1) == 1) > 100:
            problems.append(
                ([], "APPLICATION_COMMANDS_TOO_MANY", "Maximum number of application commands reached (100)")
            )
        return problems

    async def _h_put_commands(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list:
        self._check_app(app_id)
        target = self._command_list(guild_id)
        body = rec.json if rec.json is not None else []
        pointer_path = (
            "/applications/{application_id}/guilds/{guild_id}/commands"
            if guild_id is not None
            else "/applications/{application_id}/commands"
        )
        self._spec_check(_path_body_pointer(pointer_path, "put"), body, rec, "bulk_set_commands")
        self._limits_error(rec, "bulk_set_commands", self._command_problems(body))
        by_key = {((c.get("type") or 1), c["name"]): c for c in target}
        new = [self._store_command(c, guild_id, by_key.get(((c.get("type") or 1), c["name"]))) for c in body]
        target[:] = new
        return copy.deepcopy(new)

    async def _h_get_commands(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> list:
        self._check_app(app_id)
        return copy.deepcopy(self._command_list(guild_id))

    async def _h_post_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        target = self._command_list(guild_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._spec_check(_schema_pointer("ApplicationCommandCreateRequest"), body, rec, "create_command")
        self._limits_error(rec, "create_command", self._command_problems([body]))
        key = (body.get("type") or 1, body.get("name"))
        existing = next((c for c in target if (c.get("type") or 1, c["name"]) == key), None)
        cmd = self._store_command(body, guild_id, existing)
        if existing is not None:
            target[target.index(existing)] = cmd
        else:
            target.append(cmd)
        return copy.deepcopy(cmd)

    def _find_command_by_id(self, command_id: str, guild_id: str | None) -> tuple[list[dict], dict]:
        target = self._command_list(guild_id)
        for c in target:
            if c["id"] == command_id:
                return target, c
        raise DiscordHTTPError(404, 10063, "Unknown application command")

    async def _h_get_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        return copy.deepcopy(self._find_command_by_id(command_id, guild_id)[1])

    async def _h_patch_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> dict:
        self._check_app(app_id)
        _, cmd = self._find_command_by_id(command_id, guild_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._spec_check(_schema_pointer("ApplicationCommandPatchRequestPartial"), body, rec, "update_command")
        cmd.update(copy.deepcopy(body))
        cmd["version"] = str(_snowflake())
        return copy.deepcopy(cmd)

    async def _h_delete_command(
        self, request: web.Request, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> None:
        self._check_app(app_id)
        target, cmd = self._find_command_by_id(command_id, guild_id)
        target.remove(cmd)
        return None

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")

    # ------------------------------------------------------------------ REST handlers: interactions

    async def _h_callback(
        self, request: web.Request, rec: RecordedRequest, interaction_id: str, token: str
    ) -> dict | web.StreamResponse | None:
        now = asyncio.get_running_loop().time()
        inter = self._interactions_by_id.get(int(interaction_id))
        if inter is None or inter.token != token:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if inter.response is not None:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.interaction_timeout is not None
            and inter.dispatched_at is not None
            and now - inter.dispatched_at > self.interaction_timeout
        ):
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        body = rec.json if isinstance(rec.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        self._check_upload_size(rec.files, inter.channel_id)
        if self.validate:
            schema = _CALLBACK_SCHEMAS.get(rtype) if isinstance(rtype, int) else None
            if schema is None:
                self._spec_check(
                    _path_body_pointer("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
                    body,
                    rec,
                    "create_interaction_response",
                )
            else:
                self._spec_check(_schema_pointer(schema), body, rec, "create_interaction_response")
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
        if inter.type == 5 and inter.message is None:
            allowed = {4, 5}
        if rtype not in allowed:
            self._limits_error(
                rec,
                "create_interaction_response",
                [
                    (
                        ["type"],
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Callback type {rtype} is not valid for interaction type {inter.type}",
                    )
                ],
            )
        problems: list[tuple[list[Any], str, str]] = []
        attachments: list[FakeFile] = []
        if rtype in (4, 7):
            existing = inter.message if rtype == 7 else None
            attachments, problems = self._build_attachments(data, rec.files, existing)
            problems += [
                (["data", *p], c, msg)
                for p, c, msg in self._message_problems(data, final_attachments=attachments, existing=existing)
            ]
        elif rtype == 8:
            problems += _autocomplete_problems(data)
        elif rtype == 9:
            problems += _modal_problems(data)
        self._limits_error(rec, "create_interaction_response", problems)

        resource: dict | None = None
        if rtype == 4:
            inter.original = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body=data,
                attachments=attachments,
                kind="original",
                interaction=inter,
            )
            resource = {"type": 4, "message": self.message_payload(inter.original)}
        elif rtype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            inter.original = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body={"flags": flags},
                attachments=[],
                kind="original",
                interaction=inter,
            )
            inter._deferred_pending = True
            resource = {"type": 5, "message": self.message_payload(inter.original)}
        elif rtype == 6:
            inter.original = inter.message
        elif rtype == 7:
            assert inter.message is not None
            self._edit_message(inter.message, data, attachments, clear_loading=False)
            inter.original = inter.message
            resource = {"type": 7, "message": self.message_payload(inter.message)}

        inter.response = copy.deepcopy(body)
        inter.response_type = rtype
        if inter.dispatched_at is not None:
            inter.response_latency = now - inter.dispatched_at
        inter.responded.set()

        if not _truthy(request.query.get("with_response")):
            return None
        interaction_obj: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        if inter.original is not None and rtype in (4, 5, 7):
            interaction_obj["response_message_id"] = str(inter.original.id)
            interaction_obj["response_message_loading"] = rtype == 5
            interaction_obj["response_message_ephemeral"] = inter.original.ephemeral
        if inter.channel_id:
            interaction_obj["channel_id"] = str(inter.channel_id)
        if inter.guild_id:
            interaction_obj["guild_id"] = str(inter.guild_id)
        result: dict[str, Any] = {"interaction": interaction_obj}
        if resource is not None:
            result["resource"] = resource
        return result

    def _webhook_interaction(self, app_id: str, token: str) -> FakeInteraction:
        inter = self._interactions_by_token.get(token)
        if inter is None or inter.expired:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        return inter

    def _webhook_message(self, inter: FakeInteraction, message_id: str) -> FakeMessage:
        if message_id == "@original":
            m = inter.original
            if m is None and inter.response_type in (6, 7) and inter.message is not None:
                m = inter.message
        else:
            m = next((f for f in inter.followups if str(f.id) == message_id), None)
            if m is None and inter.original is not None and str(inter.original.id) == message_id:
                m = inter.original
        if m is None or m.deleted:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return m

    async def _h_execute_webhook(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str
    ) -> dict | None:
        inter = self._webhook_interaction(app_id, token)
        if inter.response is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, inter.channel_id)
        self._spec_check(_schema_pointer("IncomingWebhookRequestPartial"), body, rec, "execute_webhook")
        if inter._deferred_pending and inter.original is not None and not inter.original.deleted:
            # the first followup after a "thinking" defer completes the loading message (keeping its ephemerality)
            m = inter.original
            attachments, problems = self._build_attachments(body, rec.files, m)
            problems += self._message_problems(body, final_attachments=attachments, existing=m)
            self._limits_error(rec, "execute_webhook", problems)
            self._edit_message(m, body, attachments, clear_loading=True)
            m.edits -= 1  # completing a deferral is not a user-visible edit
            m.edited_at = None
            inter._deferred_pending = False
            if m not in inter.followups:
                inter.followups.append(m)
        else:
            attachments, problems = self._build_attachments(body, rec.files, None)
            problems += self._message_problems(body, final_attachments=attachments)
            self._limits_error(rec, "execute_webhook", problems)
            m = self._new_message(
                channel_id=inter.channel_id,
                author_id=self.bot_user_id,
                body=body,
                attachments=attachments,
                kind="followup",
                interaction=inter,
            )
            inter.followups.append(m)
        if _truthy(request.query.get("wait")):
            return self.message_payload(m)
        return None

    async def _h_webhook_get(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict:
        inter = self._webhook_interaction(app_id, token)
        return self.message_payload(self._webhook_message(inter, message_id))

    async def _h_webhook_edit(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> dict:
        inter = self._webhook_interaction(app_id, token)
        m = self._webhook_message(inter, message_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_upload_size(rec.files, m.channel_id)
        pointer = (
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
            if message_id == "@original"
            else "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        )
        self._spec_check(_path_body_pointer(pointer, "patch"), body, rec, "update_webhook_message")
        attachments, problems = self._build_attachments(body, rec.files, m)
        problems += self._message_problems(body, final_attachments=attachments, existing=m)
        self._limits_error(rec, "update_webhook_message", problems)
        was_loading = m.loading
        self._edit_message(m, body, attachments, clear_loading=True)
        if was_loading and m is inter.original:
            inter._deferred_pending = False
        return self.message_payload(m)

    async def _h_webhook_delete(
        self, request: web.Request, rec: RecordedRequest, app_id: str, token: str, message_id: str
    ) -> None:
        inter = self._webhook_interaction(app_id, token)
        self._delete_message(self._webhook_message(inter, message_id))
        return None

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        try:
            await self._send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                await self._on_gateway_payload(conn, payload)
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            if self._active is conn:
                self._active = None
                self.ready.clear()
            self._notify()
        return ws

    async def _send(self, conn: _Conn, payload: dict) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(payload))

    async def _on_gateway_payload(self, conn: _Conn, payload: dict) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            if not isinstance(d, dict) or d.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identify_count += 1
            session = _Session(secrets.token_hex(16), int(d.get("intents") or 0), d.get("shard"))
            self._sessions[session.id] = session
            session.conn = conn
            conn.session = session
            self._active = conn
            ready = {
                "v": 10,
                "user": {**self._user(self.bot_user_id), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "shard": session.shard or [0, 1],
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
                "user_settings": {},
                "auth": {},
            }
            await self._dispatch_on(conn, "READY", ready)
            for gid in list(self.guilds):
                await self._dispatch_on(conn, "GUILD_CREATE", self.guild_payload(gid))
            self.ready.set()
            self._notify()
        elif op == 6:
            session = self._sessions.get((d or {}).get("session_id", ""))
            if session is None or (d or {}).get("token") != self.token:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            session.conn = conn
            conn.session = session
            self._active = conn
            last = int((d or {}).get("seq") or 0)
            for event in [e for e in session.buffer if e["s"] > last]:
                await self._send(conn, event)
            await self._dispatch_on(conn, "RESUMED", {})
            self.ready.set()
            self._notify()
        elif op == 8:
            gid = int((d or {}).get("guild_id") or 0)
            if gid in self.guilds:
                members = [self._member_payload(gid, uid) for uid in self.guilds[gid].members]
                wanted = (d or {}).get("user_ids")
                if wanted:
                    wanted_ids = {int(x) for x in (wanted if isinstance(wanted, list) else [wanted])}
                    members = [m for m in members if int(m["user"]["id"]) in wanted_ids]
                chunk = {
                    "guild_id": str(gid),
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                    "nonce": (d or {}).get("nonce"),
                }
                await self._dispatch_on(conn, "GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_on(self, conn: _Conn, event: str, data: dict) -> None:
        session = conn.session
        assert session is not None
        async with conn.lock:
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.buffer.append(payload)
            del session.buffer[:-200]
            await conn.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: dict) -> None:
        """Send an op 0 event to the bot's current gateway session."""
        conn = self._active
        if conn is None or conn.ws.closed:
            raise RuntimeError("the bot is not connected to the fake gateway")
        await self._dispatch_on(conn, event, data)

    async def push_guild(self, guild_id: int) -> None:
        """(Re)send GUILD_CREATE for a guild, e.g. after changing it while the bot is connected."""
        await self.dispatch("GUILD_CREATE", self.guild_payload(guild_id))

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the bot's websocket (discord.py reconnects and RESUMEs for codes like 4000)."""
        conn = self._active
        if conn is not None:
            await conn.ws.close(code=code, message=b"fake dropped the connection")

    async def wait_connected(self, timeout: float = 10) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except TimeoutError:
            raise TimeoutError(f"the bot did not IDENTIFY/RESUME with the fake within {timeout}s") from None

    # ------------------------------------------------------------------ driving the bot

    def _find_command(self, name: str, guild_id: int | None, ctype: int) -> dict:
        candidates = []
        if guild_id is not None:
            candidates += self._guild_commands.get(guild_id, [])
        candidates += self._global_commands
        for cmd in candidates:
            if cmd["name"] == name and (cmd.get("type") or 1) == ctype:
                if guild_id is None and "guild_id" in cmd:
                    continue
                return cmd
        known = [c["name"] for c in candidates]
        raise LookupError(f"no registered command {name!r} (type {ctype}) visible in guild {guild_id}; known: {known}")

    def _check_command_visible(self, cmd: dict, user_id: int, guild_id: int | None) -> None:
        contexts = cmd.get("contexts")
        context = 0 if guild_id is not None else 1
        if contexts is not None and context not in contexts:
            raise PermissionError(f"command {cmd['name']!r} is not available in context {context} ({contexts})")
        if guild_id is None and cmd.get("dm_permission") is False:
            raise PermissionError(f"command {cmd['name']!r} has dm_permission=False")
        required = cmd.get("default_member_permissions")
        if guild_id is not None and required not in (None, ""):
            required = int(required)
            perms = self.member_permissions(guild_id, user_id)
            if perms & required != required:
                raise PermissionError(f"user {user_id} lacks default_member_permissions {required} for {cmd['name']!r}")

    def _base_interaction(self, itype: int, *, user_id: int, guild_id: int | None, channel_id: int) -> dict:
        if guild_id is not None:
            if guild_id not in self.guilds:
                raise KeyError(f"unknown guild {guild_id}")
            if channel_id not in self.guilds[guild_id].channels:
                raise KeyError(f"unknown channel {channel_id} in guild {guild_id}")
            if user_id not in self.guilds[guild_id].members:
                self.add_member(guild_id, user_id)
        channel = self.channels.get(channel_id)
        if channel is None:
            if guild_id is not None:
                raise KeyError(f"unknown channel {channel_id}")
            channel = self.add_channel(None, channel_id, recipient_id=user_id)
        iid = _snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel),
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "app_permissions": str(self.bot_channel_permissions(channel_id)),
            "attachment_size_limit": self.upload_limit(channel_id),
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            member = self._member_payload(guild_id, user_id)
            member["permissions"] = str(self.member_permissions(guild_id, user_id))
            payload["member"] = member
            payload["authorizing_integration_owners"] = {"0": str(guild_id)}
            payload["context"] = 0
        else:
            payload["user"] = self._user(user_id)
            payload["authorizing_integration_owners"] = {"0": str(user_id)}
            payload["context"] = 1
        return payload

    async def _send_interaction(
        self,
        itype: int,
        data: dict,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        message: FakeMessage | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        await self.wait_connected(timeout)
        payload = self._base_interaction(itype, user_id=user_id, guild_id=guild_id, channel_id=channel_id)
        payload["data"] = data
        if message is not None:
            payload["message"] = self.message_payload(message)
        inter = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=itype,
            data=data,
            payload=payload,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            message=message,
        )
        self.interactions.append(inter)
        self._interactions_by_id[inter.id] = inter
        self._interactions_by_token[inter.token] = inter
        inter.dispatched_at = asyncio.get_running_loop().time()
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    def _build_options(
        self,
        defs: list[dict],
        values: dict[str, Any],
        resolved: dict[str, dict],
        *,
        guild_id: int | None,
        focused: str | None = None,
    ) -> list[dict]:
        by_name = {o["name"]: o for o in defs}
        out: list[dict] = []
        for name, value in values.items():
            if name not in by_name:
                raise ValueError(f"unknown option {name!r}; command options: {list(by_name)}")
            odef = by_name[name]
            otype = odef["type"]
            opt: dict[str, Any] = {"name": name, "type": otype}
            if name == focused:
                opt["value"] = str(value)
                opt["focused"] = True
                out.append(opt)
                continue
            opt["value"] = self._option_value(odef, value, resolved, guild_id=guild_id)
            out.append(opt)
        if focused is None:
            missing = [o["name"] for o in defs if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        elif focused not in values:
            raise ValueError(f"focused option {focused!r} must be in options")
        return out

    def _option_value(self, odef: dict, value: Any, resolved: dict[str, dict], *, guild_id: int | None) -> Any:
        otype, name = odef["type"], odef["name"]
        choices = odef.get("choices")
        if otype == 3:
            if not isinstance(value, str):
                raise TypeError(f"option {name!r} is a string option, got {value!r}")
            if odef.get("min_length") is not None and len(value) < odef["min_length"]:
                raise ValueError(f"option {name!r} shorter than min_length {odef['min_length']}")
            if odef.get("max_length") is not None and len(value) > odef["max_length"]:
                raise ValueError(f"option {name!r} longer than max_length {odef['max_length']}")
        elif otype == 4:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"option {name!r} is an integer option, got {value!r}")
        elif otype == 10:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"option {name!r} is a number option, got {value!r}")
        elif otype == 5:
            if not isinstance(value, bool):
                raise TypeError(f"option {name!r} is a boolean option, got {value!r}")
        if otype in (4, 10):
            if odef.get("min_value") is not None and value < odef["min_value"]:
                raise ValueError(f"option {name!r}={value} below min_value {odef['min_value']}")
            if odef.get("max_value") is not None and value > odef["max_value"]:
                raise ValueError(f"option {name!r}={value} above max_value {odef['max_value']}")
        if choices and otype in (3, 4, 10) and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}={value!r} is not one of the choices {[c['value'] for c in choices]}")
        if otype == 11:
            if not isinstance(value, FakeAttachment):
                raise TypeError(f"option {name!r} is an attachment option: pass a FakeAttachment")
            self._files[value.id] = value
            resolved.setdefault("attachments", {})[str(value.id)] = self._file_payload(value)
            return str(value.id)
        if (
            otype in (6, 9)
            and (isinstance(value, int) and not isinstance(value, bool))
            and (otype == 6 or value in self.users)
        ):
            uid = int(value)
            resolved.setdefault("users", {})[str(uid)] = self._user(uid)
            if guild_id is not None and uid in self.guilds[guild_id].members:
                member = self._member_payload(guild_id, uid, with_user=False)
                member["permissions"] = str(self.member_permissions(guild_id, uid))
                resolved.setdefault("members", {})[str(uid)] = member
            return str(uid)
        if otype in (8, 9):
            rid = int(value)
            if guild_id is None or rid not in self.guilds[guild_id].roles:
                raise ValueError(f"unknown role {rid}")
            resolved.setdefault("roles", {})[str(rid)] = self.guilds[guild_id].roles[rid]
            return str(rid)
        if otype == 7:
            cid = int(value)
            ch = self.channels[cid]
            payload = self._channel_payload(ch)
            payload["permissions"] = str(self.bot_channel_permissions(cid))
            resolved.setdefault("channels", {})[str(cid)] = payload
            return str(cid)
        return value

    def _command_data(
        self,
        name: str,
        options: dict | list | None,
        *,
        guild_id: int | None,
        user_id: int,
        attachments: dict[str, FakeAttachment] | None,
        subcommand: str | None,
        focused: str | None = None,
    ) -> dict:
        cmd = self._find_command(name, guild_id, 1)
        self._check_command_visible(cmd, user_id, guild_id)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        resolved: dict[str, dict] = {}
        if isinstance(options, list):
            built = options  # raw option dicts, sent verbatim
        else:
            values = dict(options or {})
            values.update(attachments or {})
            defs = cmd.get("options") or []
            chain: list[tuple[int, str]] = []
            if subcommand:
                parts = subcommand.split()
                for part in parts:
                    sub = next((o for o in defs if o["name"] == part and o["type"] in (1, 2)), None)
                    if sub is None:
                        raise LookupError(f"no subcommand {part!r} in {name!r}")
                    chain.append((sub["type"], part))
                    defs = sub.get("options") or []
            elif any(o["type"] in (1, 2) for o in defs):
                raise ValueError(f"{name!r} has subcommands: pass subcommand=")
            built = self._build_options(defs, values, resolved, guild_id=guild_id, focused=focused)
            for stype, sname in reversed(chain):
                built = [{"name": sname, "type": stype, "options": built}]
        data["options"] = built
        if resolved:
            data["resolved"] = resolved
        return data

    async def invoke(
        self,
        name: str,
        options: dict | list | None = None,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        attachments: dict[str, FakeAttachment] | None = None,
        subcommand: str | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user runs slash command `name`. options: {option_name: value}; attachment options take a
        FakeAttachment (in `options` or in `attachments`); user options a user id; role/channel options ids.
        A list is sent verbatim as data.options.  subcommand: "sub" or "group sub"."""
        data = self._command_data(
            name, options, guild_id=guild_id, user_id=user_id, attachments=attachments, subcommand=subcommand
        )
        return await self._send_interaction(
            2, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )

    async def autocomplete(
        self,
        name: str,
        options: dict | None,
        focused: str,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        subcommand: str | None = None,
        timeout: float = 5,
    ) -> list[dict]:
        data = self._command_data(
            name, options, guild_id=guild_id, user_id=user_id, attachments=None, subcommand=subcommand, focused=focused
        )
        inter = await self._send_interaction(
            4, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )
        response = await inter.wait_response(timeout)
        if response.get("type") != 8:
            raise AssertionError(f"autocomplete answered with callback type {response.get('type')}")
        return list((response.get("data") or {}).get("choices") or [])

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None = None,
        values: list[str] | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user clicks a button / picks select values on `message` (the component must exist and be enabled)."""
        current = self._messages_by_id.get(message.id, message)
        if current.deleted:
            raise LookupError(f"message {current.id} was deleted")
        comp = current.find_component(custom_id)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {current.id}; has {current.all_custom_ids()}")
        if comp.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        ctype = comp["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if ctype == 2:
            if values is not None:
                raise ValueError("buttons take no values")
        else:
            values = list(values or [])
            lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
            if not lo <= len(values) <= hi:
                raise ValueError(f"select {custom_id!r} needs {lo}..{hi} values, got {values}")
            if ctype == 3:
                allowed = [o["value"] for o in comp.get("options") or []]
                bad = [v for v in values if v not in allowed]
                if bad:
                    raise ValueError(f"values {bad} not among select options {allowed}")
            data["values"] = [str(v) for v in values]
            if ctype in (5, 6, 7, 8):
                resolved: dict[str, dict] = {}
                for v in values:
                    kind = {5: 6, 6: 8, 7: 7, 8: 9}[ctype]
                    self._option_value({"type": kind, "name": custom_id}, int(v), resolved, guild_id=guild_id)
                data["resolved"] = resolved
        return await self._send_interaction(
            3,
            data,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id or current.channel_id,
            message=current,
            timeout=timeout,
        )

    async def submit_modal(
        self,
        interaction_or_message: FakeInteraction | FakeMessage | None,
        custom_id: str,
        fields: dict[str, str],
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user submits a modal.  Pass the interaction the bot answered with the modal (callback type 9): the
        submission mirrors that modal's layout and checks required/length rules.  A FakeMessage (or None) sends
        plain action rows of text inputs (the message is the one a modal-from-component came from)."""
        message: FakeMessage | None = None
        components: list[dict]
        if isinstance(interaction_or_message, FakeInteraction):
            inter = interaction_or_message
            message = inter.message
            if inter.response_type != 9:
                raise ValueError(f"{inter!r} was not answered with a modal (callback type 9)")
            modal = (inter.response or {}).get("data") or {}
            if modal.get("custom_id") != custom_id:
                raise ValueError(f"modal custom_id is {modal.get('custom_id')!r}, not {custom_id!r}")
            components = _modal_submission(modal.get("components") or [], dict(fields))
        else:
            message = interaction_or_message
            components = [
                {"type": 1, "id": i * 2 + 1, "components": [{"type": 4, "id": i * 2 + 2, "custom_id": k, "value": v}]}
                for i, (k, v) in enumerate(fields.items())
            ]
        data = {"custom_id": custom_id, "components": components}
        return await self._send_interaction(
            5, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, message=message, timeout=timeout
        )

    async def context_menu(
        self,
        name: str,
        message: FakeMessage | int,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None = None,
        timeout: float = 10,
    ) -> FakeInteraction:
        """A user runs message context-menu command `name` on `message`; pass a user id instead of a FakeMessage to
        run a user context-menu command on that user (channel_id is then required)."""
        target = message
        if isinstance(target, FakeMessage):
            cmd = self._find_command(name, guild_id, 3)
            self._check_command_visible(cmd, user_id, guild_id)
            resolved = {"messages": {str(target.id): self.message_payload(target)}}
            data: dict[str, Any] = {
                "id": cmd["id"],
                "name": name,
                "type": 3,
                "target_id": str(target.id),
                "resolved": resolved,
            }
            channel_id = channel_id or target.channel_id
        else:
            cmd = self._find_command(name, guild_id, 2)
            self._check_command_visible(cmd, user_id, guild_id)
            res: dict[str, dict] = {}
            self._option_value({"type": 6, "name": "target"}, int(target), res, guild_id=guild_id)
            data = {"id": cmd["id"], "name": name, "type": 2, "target_id": str(target), "resolved": res}
            if channel_id is None:
                raise ValueError("channel_id is required for user commands")
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return await self._send_interaction(
            2, data, user_id=user_id, guild_id=guild_id, channel_id=channel_id, timeout=timeout
        )


# --------------------------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------------------------

FakeDiscord._ROUTES = [
    ("GET", r"/users/@me", "_h_me", True),
    ("GET", r"/users/(?P<user_id>\d+)", "_h_get_user", True),
    ("GET", r"/oauth2/applications/@me", "_h_app", True),
    ("GET", r"/applications/@me", "_h_app", True),
    ("GET", r"/gateway/bot", "_h_gateway_bot", True),
    ("GET", r"/gateway", "_h_gateway", False),
    ("GET", r"/guilds/(?P<guild_id>\d+)", "_h_get_guild", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/channels", "_h_guild_channels", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/roles", "_h_guild_roles", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "_h_guild_member", True),
    ("POST", r"/users/@me/channels", "_h_create_dm", True),
    ("GET", r"/channels/(?P<channel_id>\d+)", "_h_get_channel", True),
    ("POST", r"/channels/(?P<channel_id>\d+)/typing", "_h_typing", True),
    ("POST", r"/channels/(?P<channel_id>\d+)/messages", "_h_create_message", True),
    ("GET", r"/channels/(?P<channel_id>\d+)/messages", "_h_list_messages", True),
    ("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_h_get_message", True),
    ("PATCH", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_h_edit_message", True),
    ("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_h_delete_message", True),
    (
        "PUT",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_h_add_reaction",
        True,
    ),
    (
        "DELETE",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_h_remove_reaction",
        True,
    ),
    ("PUT", r"/applications/(?P<app_id>\d+)/commands", "_h_put_commands", True),
    ("GET", r"/applications/(?P<app_id>\d+)/commands", "_h_get_commands", True),
    ("POST", r"/applications/(?P<app_id>\d+)/commands", "_h_post_command", True),
    ("GET", r"/applications/(?P<app_id>\d+)/commands/(?P<command_id>\d+)", "_h_get_command", True),
    ("PATCH", r"/applications/(?P<app_id>\d+)/commands/(?P<command_id>\d+)", "_h_patch_command", True),
    ("DELETE", r"/applications/(?P<app_id>\d+)/commands/(?P<command_id>\d+)", "_h_delete_command", True),
    ("PUT", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_put_commands", True),
    ("GET", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_get_commands", True),
    ("POST", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_post_command", True),
    (
        "GET",
        r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands/(?P<command_id>\d+)",
        "_h_get_command",
        True,
    ),
    (
        "PATCH",
        r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands/(?P<command_id>\d+)",
        "_h_patch_command",
        True,
    ),
    (
        "DELETE",
        r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands/(?P<command_id>\d+)",
        "_h_delete_command",
        True,
    ),
    ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", "_h_callback", False),
    ("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", "_h_execute_webhook", False),
    (
        "GET",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_h_webhook_get",
        False,
    ),
    (
        "PATCH",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_h_webhook_edit",
        False,
    ),
    (
        "DELETE",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_h_webhook_delete",
        False,
    ),
]
FakeDiscord._COMPILED_ROUTES = [(m, re.compile(r), n, a) for m, r, n, a in FakeDiscord._ROUTES]


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def _guess_type(filename: str, sent: str | None) -> str:
    if sent and sent not in ("application/octet-stream", ""):
        return sent
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _with_component_ids(components: list[dict]) -> list[dict]:
    """Copy components, numbering those without an `id` depth-first like Discord does."""
    components = copy.deepcopy(components)
    used = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
    counter = itertools.count(1)
    for c in _walk_components(components):
        if not isinstance(c.get("id"), int):
            n = next(counter)
            while n in used:
                n = next(counter)
            c["id"] = n
            used.add(n)
    return components


def _media_refs(components: list[dict], path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    for i, c in enumerate(components or []):
        if not isinstance(c, dict):
            continue
        here = [*path, i]
        if c.get("type") == 12:
            for j, item in enumerate(c.get("items") or []):
                url = (item.get("media") or {}).get("url")
                if isinstance(url, str):
                    yield [*here, "items", j, "media", "url"], url
        elif c.get("type") == 13:
            url = (c.get("file") or {}).get("url")
            if isinstance(url, str):
                yield [*here, "file", "url"], url
        elif c.get("type") == 11:
            url = (c.get("media") or {}).get("url")
            if isinstance(url, str):
                yield [*here, "media", "url"], url
        if isinstance(c.get("accessory"), dict):
            yield from _media_refs([c["accessory"]], [*here, "accessory"])
        yield from _media_refs(c.get("components") or [], [*here, "components"])


def _resolve_media_urls(m: FakeMessage, fake: FakeDiscord) -> None:
    """attachment://name references in components resolve to the uploaded file, as Discord does."""
    by_name = {f.filename: f for f in m.attachments}
    for embed in m.embeds:
        if not isinstance(embed, dict):
            continue
        for key, url_key in (("image", "url"), ("thumbnail", "url"), ("author", "icon_url"), ("footer", "icon_url")):
            part = embed.get(key)
            if isinstance(part, dict) and str(part.get(url_key, "")).startswith("attachment://"):
                f = by_name.get(part[url_key][len("attachment://") :])
                if f is not None:
                    url = fake._file_payload(f)["url"]
                    part[url_key] = url
                    part["proxy_" + url_key] = url
    for c in m.walk_components():
        for media in (c.get("media"), c.get("file")):
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                f = by_name.get(media["url"][len("attachment://") :])
                if f is not None:
                    payload = fake._file_payload(f)
                    media.update(
                        {
                            "proxy_url": payload["url"],
                            "content_type": f.content_type,
                            "attachment_id": str(f.id),
                            "loading_state": 2,
                            "flags": 0,
                        }
                    )
        for item in c.get("items") or []:
            media = item.get("media") if isinstance(item, dict) else None
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                f = by_name.get(media["url"][len("attachment://") :])
                if f is not None:
                    payload = fake._file_payload(f)
                    media.update(
                        {
                            "proxy_url": payload["url"],
                            "content_type": f.content_type,
                            "attachment_id": str(f.id),
                            "loading_state": 2,
                            "flags": 0,
                        }
                    )


def _component_problems(components: list[dict], path: list[Any]) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    seen: dict[str, list[Any]] = {}

    def visit(items: list[dict], where: list[Any]) -> None:
        for i, c in enumerate(items or []):
            if not isinstance(c, dict):
                continue
            here = [*where, i]
            ctype = c.get("type")
            cid = c.get("custom_id")
            if isinstance(cid, str):
                if len(cid) > 100:
                    problems.append(([*here, "custom_id"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
                if not cid:
                    problems.append(([*here, "custom_id"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."))
                if cid in seen:
                    problems.append(
                        (
                            [*here, "custom_id"],
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    )
                seen[cid] = here
            if ctype == 1:
                children = c.get("components") or []
                buttons = [x for x in children if isinstance(x, dict) and x.get("type") == 2]
                selects = [x for x in children if isinstance(x, dict) and x.get("type") in (3, 5, 6, 7, 8)]
                if not children:
                    problems.append(([*here, "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."))
                if len(buttons) > 5:
                    problems.append(([*here, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
                if selects and len(children) > 1:
                    problems.append(
                        (
                            [*here, "components"],
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "A select menu must be alone in its action row",
                        )
                    )
            elif ctype == 2:
                style = c.get("style")
                label = c.get("label") or ""
                if len(label) > 80:
                    problems.append(([*here, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."))
                if style == 5:
                    if not c.get("url") or cid:
                        problems.append((here, "BUTTON_COMPONENT_URL_REQUIRED", "Link buttons need url, no custom_id"))
                elif style != 6 and not cid:
                    problems.append(
                        ([*here, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")
                    )
                if style != 6 and not label and not c.get("emoji"):
                    problems.append((here, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "Label or emoji required"))
            elif ctype in (3, 5, 6, 7, 8):
                if ctype == 3:
                    opts = c.get("options") or []
                    if not 1 <= len(opts) <= 25:
                        problems.append(
                            ([*here, "options"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
                        )
                    values = [o.get("value") for o in opts if isinstance(o, dict)]
                    if len(set(values)) != len(values):
                        problems.append(
                            (
                                [*here, "options"],
                                "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                                "Select option values must be unique",
                            )
                        )
                    for j, o in enumerate(opts):
                        if isinstance(o, dict) and len(o.get("label") or "") > 100:
                            problems.append(
                                (
                                    [*here, "options", j, "label"],
                                    "BASE_TYPE_MAX_LENGTH",
                                    "Must be 100 or fewer in length.",
                                )
                            )
                lo, hi = c.get("min_values", 1), c.get("max_values", 1)
                if lo is not None and hi is not None and lo > hi:
                    problems.append(
                        ([*here, "min_values"], "SELECT_COMPONENT_MIN_MAX_INVALID", "min_values > max_values")
                    )
                if len(c.get("placeholder") or "") > 150:
                    problems.append(([*here, "placeholder"], "BASE_TYPE_MAX_LENGTH", "Must be 150 or fewer in length."))
            elif ctype == 12:
                if not 1 <= len(c.get("items") or []) <= 10:
                    problems.append(([*here, "items"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 10 in length."))
            elif ctype == 10:
                if len(c.get("content") or "") > 4000:
                    problems.append(([*here, "content"], "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."))
            if isinstance(c.get("components"), list):
                visit(c["components"], [*here, "components"])
            if isinstance(c.get("accessory"), dict):
                visit([c["accessory"]], [*here, "accessory"])

    visit(components, path)
    return problems


def _option_problems(options: list[dict], path: list[Any]) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    if len(options) > 25:
        problems.append((path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    seen_optional = False
    names: set[str] = set()
    for i, o in enumerate(options):
        if not isinstance(o, dict):
            continue
        name = o.get("name") or ""
        if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
            problems.append(([*path, i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid"))
        if name in names:
            problems.append(([*path, i, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate name"))
        names.add(name)
        if o.get("type") in (1, 2):
            problems += _option_problems(o.get("options") or [], [*path, i, "options"])
            continue
        if o.get("required"):
            if seen_optional:
                problems.append(
                    (
                        [*path, i, "required"],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        if o.get("choices") and o.get("autocomplete"):
            problems.append(
                (
                    [*path, i],
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be set with choices",
                )
            )
    return problems


def _autocomplete_problems(data: dict) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    choices = data.get("choices") or []
    if len(choices) > 25:
        problems.append((["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    for i, c in enumerate(choices):
        if not isinstance(c, dict):
            continue
        if not 1 <= len(str(c.get("name") or "")) <= 100:
            problems.append(
                (["data", "choices", i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            )
        if isinstance(c.get("value"), str) and len(c["value"]) > 100:
            problems.append(
                (["data", "choices", i, "value"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
            )
    return problems


def _modal_problems(data: dict) -> list[tuple[list[Any], str, str]]:
    problems: list[tuple[list[Any], str, str]] = []
    if len(data.get("title") or "") > 45:
        problems.append((["data", "title"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
    comps = data.get("components") or []
    if not 1 <= len(comps) <= 5:
        problems.append((["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
    for path, c in _walk_with_path(comps, ["data", "components"]):
        if c.get("type") == 4:
            if len(c.get("label") or "") > 45:
                problems.append(([*path, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
            if len(c.get("value") or "") > 4000:
                problems.append(([*path, "value"], "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."))
            if (c.get("max_length") or 0) > 4000:
                problems.append(([*path, "max_length"], "NUMBER_TYPE_MAX", "Must be 4000 or less."))
        if c.get("type") == 18 and len(c.get("label") or "") > 45:
            problems.append(([*path, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."))
        cid = c.get("custom_id")
        if isinstance(cid, str) and len(cid) > 100:
            problems.append(([*path, "custom_id"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    return problems


def _walk_with_path(components: list[dict], path: list[Any]) -> Iterator[tuple[list[Any], dict]]:
    for i, c in enumerate(components or []):
        if not isinstance(c, dict):
            continue
        here = [*path, i]
        yield here, c
        yield from _walk_with_path(c.get("components") or [], [*here, "components"])
        if isinstance(c.get("component"), dict):
            yield from _walk_with_path([c["component"]], [*here, "component"])


def _modal_submission(components: list[dict], fields: dict[str, Any]) -> list[dict]:
    """Build the MODAL_SUBMIT data.components mirroring the modal the bot sent."""
    counter = itertools.count(1)

    def submit_input(c: dict) -> dict:
        cid = c.get("custom_id")
        out: dict[str, Any] = {"type": c["type"], "id": c.get("id") or next(counter), "custom_id": cid}
        if c["type"] == 4:
            value = fields.pop(cid, None)
            if value is None:
                value = c.get("value") or ""
            if c.get("required", True) and not value:
                raise ValueError(f"modal text input {cid!r} is required")
            if c.get("min_length") is not None and value and len(value) < c["min_length"]:
                raise ValueError(f"modal text input {cid!r} shorter than min_length {c['min_length']}")
            if len(value) > (c.get("max_length") or 4000):
                raise ValueError(f"modal text input {cid!r} longer than max_length")
            out["value"] = value
        elif c["type"] in (3, 5, 6, 7, 8):
            value = fields.pop(cid, [])
            out["values"] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out

    result: list[dict] = []
    for c in components:
        if c.get("type") == 1:
            result.append(
                {
                    "type": 1,
                    "id": c.get("id") or next(counter),
                    "components": [submit_input(x) for x in c.get("components") or []],
                }
            )
        elif c.get("type") == 18:
            result.append({"type": 18, "id": c.get("id") or next(counter), "component": submit_input(c["component"])})
        elif c.get("type") == 10:
            result.append({"type": 10, "id": c.get("id") or next(counter)})
    if fields:
        raise ValueError(f"modal has no inputs named {list(fields)}")
    return result


@contextlib.asynccontextmanager
async def run_client(
    fake: FakeDiscord, client: Any, token: str | None = None, *, timeout: float = 15
) -> AsyncIterator[Any]:
    """Run a real discord.py client against `fake` for the duration of the block.

    Sets ``discord.http.Route.BASE`` to ``fake.api_base`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to
    ``fake.gateway_url`` (a non-sharded discord.py client never asks /gateway/bot, it dials DEFAULT_GATEWAY),
    starts ``client.start(token)`` as a task, waits (bounded) until the client is ready, and on exit closes the
    client and restores both attributes.  Tip: ``discord.Client(guild_ready_timeout=0.05)`` avoids discord.py's
    2 s wait after the last GUILD_CREATE.
    """
    import discord
    import yarl
    from discord.gateway import DiscordWebSocket

    if fake.port is None:
        await fake.start()
    old_base = discord.http.Route.BASE
    old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    identifies = fake.identify_count
    task = asyncio.create_task(client.start(token or fake.token), name="fake-discord-client")
    try:
        async with asyncio.timeout(timeout):
            waiter = asyncio.create_task(_wait_client_ready(fake, client, identifies))
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                waiter.cancel()
                task.result()  # re-raise the login/connect failure
                raise RuntimeError("discord client stopped before becoming ready")
            waiter.result()
        yield client
    finally:
        try:
            async with asyncio.timeout(10):
                await client.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            if not task.done():
                task.cancel()
            discord.http.Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


async def _wait_client_ready(fake: FakeDiscord, client: Any, identifies_before: int) -> None:
    await fake._wait_for(
        lambda: True if fake.identify_count > identifies_before and fake.ready.is_set() else None, 3600, "IDENTIFY"
    )
    await client.wait_until_ready()
