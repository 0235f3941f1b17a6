"""The fake's public data objects: attachments, files, recorded requests, channels, guilds, messages, interactions."""

# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._base import (
    _FILESIZE_BY_TIER,
    DEFAULT_BOT_PERMISSIONS,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MiB,
    _snowflake,
)

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


def _walk_components(components: Iterable[dict] | None) -> Iterator[dict]:
    for c in components or []:
        if not isinstance(c, dict):
            continue
        yield c
        yield from _walk_components(c.get("components"))
        for key in ("accessory", "component"):
            if isinstance(c.get(key), dict):
                yield from _walk_components([c[key]])
