"""The Discord side of :class:`easel.safety.Notifier`: one line to the server's ``log_channel``.

The line names who (a mention that pings no one), where, which job if any and which rule; never the prompt's
words, never the image. Only a channel of that same server is posted to (an id of another server's channel,
typed by mistake or on purpose, is refused here and logged). Failures are logged, never raised: the refusal or
the held-back image it is about is not affected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from easel.i18n import use_locale
from easel.safety import AdminNotice

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

SEND_TIMEOUT = 30.0  # seconds; discord.py retries rate limits inside this


class DiscordNotifier:
    """Posts :class:`AdminNotice` lines to the guild's ``log_channel`` (``/settings set log_channel``)."""

    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot

    async def notify(self, guild_id: int, notice: AdminNotice) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                settings = await self.bot.policy.for_draw(guild_id, None)
                if not settings.log_channel:
                    return
                channel_id = settings.log_channel[0]
                if not await self._in_guild(channel_id, guild_id):
                    log.warning(
                        "notices: log_channel %s is not a channel of guild %s; not posted", channel_id, guild_id
                    )
                    return
                channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
                guild = self.bot.get_guild(guild_id)  # the server's language, or the one it chose
                auto = str(guild.preferred_locale) if guild is not None else None
                with use_locale(auto if settings.language == "auto" else settings.language):
                    line = notice.line()
                await channel.send(line, allowed_mentions=discord.AllowedMentions.none())
        except Exception as exc:  # Forbidden, NotFound, a timeout, the store: logged, never the user's problem
            log.warning(
                "notices: couldn't tell guild %s of %s (rule %s): %s",
                guild_id,
                notice.kind,
                notice.rule,
                f"{type(exc).__name__}: {exc}",
            )

    async def _in_guild(self, channel_id: int, guild_id: int) -> bool:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                return False
        guild = getattr(channel, "guild", None)
        return guild is not None and guild.id == guild_id
