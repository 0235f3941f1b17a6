"""REST handlers: identity (users, application) and gateway discovery (mixin of FakeDiscord)."""

from __future__ import annotations

from aiohttp import web

from ._base import (
    DiscordHTTPError,
)
from .objects import (
    RecordedRequest,
)


class UsersRestMixin:
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
