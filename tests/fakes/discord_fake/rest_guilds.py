"""REST handlers: guilds, their channels, roles and members (mixin of FakeDiscord)."""

from __future__ import annotations

from aiohttp import web

from ._base import (
    DiscordHTTPError,
)
from .objects import (
    RecordedRequest,
)


class GuildsRestMixin:
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
