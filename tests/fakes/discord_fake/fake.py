"""FakeDiscord itself: state, lifecycle, world setup, observing, fault injection, HTTP plumbing, routes; run_client."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote as _urlquote

from aiohttp import web

from ._base import (
    _REC_KEY,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    NONCE_TTL,
    P_ADMINISTRATOR,
    P_ALL,
    P_ATTACH_FILES,
    P_EMBED_LINKS,
    P_READ_MESSAGE_HISTORY,
    P_SEND_MESSAGES,
    P_VIEW_CHANNEL,
    DiscordHTTPError,
    MiB,
    _error_tree,
    _form_error,
    _guess_type,
    _iso,
    _json_response,
    _snowflake,
)
from .driver import DriverMixin
from .gateway import GatewayMixin, _Conn, _Session
from .messages import MessagesMixin
from .objects import (
    FakeAttachment,
    FakeChannel,
    FakeFile,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    RecordedRequest,
)
from .rest_channels import ChannelsRestMixin
from .rest_commands import CommandsRestMixin
from .rest_guilds import GuildsRestMixin
from .rest_interactions import InteractionsRestMixin
from .rest_users import UsersRestMixin
from .spec import (
    _spec_registry,
)
from .validation import ValidationMixin


@dataclass
class _Failure:
    method: str
    regex: re.Pattern[str]
    status: int
    body: dict
    times: int
    headers: dict[str, str]
    commit: bool = False


class FakeDiscord(
    MessagesMixin,
    ValidationMixin,
    UsersRestMixin,
    GuildsRestMixin,
    ChannelsRestMixin,
    CommandsRestMixin,
    InteractionsRestMixin,
    GatewayMixin,
    DriverMixin,
):
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
        nonce_ttl: float | None = NONCE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self.bot_user_id = bot_user_id if bot_user_id is not None else app_id
        self.token = token
        self.validate = validate
        self.bot_name = bot_name
        # Client languages: a user's (interaction.locale) and a guild's (guild_locale, preferred_locale); "en-US"
        # unless a test sets one.
        self.user_locales: dict[int, str] = {}
        self.guild_locales: dict[int, str] = {}
        # a callback later than this after dispatch gets 404 10062 Unknown interaction (None: no deadline)
        self.interaction_timeout = interaction_timeout
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Discord remembers an enforce_nonce nonce only for a few minutes: a retry later than this posts a second
        # message (None: remember forever).  `clock` (seconds, monotonic) is what the age is measured with; tests
        # pass a clock they can move forward instead of sleeping.
        self.nonce_ttl = nonce_ttl
        self.clock = clock
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
        # An Event that is not set holds READY (and the GUILD_CREATEs after it) back after an IDENTIFY until the
        # test sets it, as a slow real gateway does; REST and heartbeats keep being answered meanwhile.
        self.hold_ready: asyncio.Event | None = None
        self.ready_sent = 0  # READY dispatches sent
        self.attachment_downloads: list[int] = []  # ids of attachments the bot fetched from the fake CDN
        # Cleared: the CDN answers no attachment until it is set again (a CDN that hangs); set by default.
        self.cdn_open = asyncio.Event()
        self.cdn_open.set()
        self.dms_disabled: set[int] = set()  # users whose DMs answer 403 50007

        self._global_commands: list[dict] = []
        self._guild_commands: dict[int, list[dict]] = {}
        self._messages_by_id: dict[int, FakeMessage] = {}
        self._files: dict[int, FakeFile | FakeAttachment] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._interactions_by_id: dict[int, FakeInteraction] = {}
        # (author, channel, nonce) -> (clock() when posted, message)
        self._nonces: dict[tuple[int, int, str], tuple[float, FakeMessage]] = {}
        self._failures: list[_Failure] = []
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._held_ready: set[asyncio.Task[None]] = set()  # READYs waiting for hold_ready
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
        for task in list(self._held_ready):
            task.cancel()
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
            "preferred_locale": self.guild_locales.get(guild_id, "en-US"),
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
        commit: bool = False,
    ) -> None:
        """Answer the next `times` requests matching method + path_regex (re.search on the path relative to the
        API base, e.g. r"^/channels/\\d+/messages$"; method "*" matches any) with status/body.

        ``commit=True``: Discord does the work (posts the message, ...) and only the answer is the failure, as when
        a 5xx or a lost response follows a write that went through; a retry then meets what the first try made.

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
        self._failures.append(_Failure(method.upper(), re.compile(path_regex), status, body, times, hdrs, commit))

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
            if failure is not None and failure.commit:
                await handler(request)  # the work is done; only the answer fails
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
        await self.cdn_open.wait()
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
