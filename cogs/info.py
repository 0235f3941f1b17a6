"""/help, /models and /status: read-only, ephemeral answers; the text comes from :mod:`easel.texts.commands`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.replies import reply
from easel.i18n import N_
from easel.store import StoreError
from easel.texts.commands import help_options_text, help_text, models_text, status_text
from easel.texts.presets import model_label

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)


class Info(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="help", description=N_("What Easel can do and what every /draw option means"))
    async def help_command(self, interaction: discord.Interaction[EaselBot]) -> None:
        options = discord.Embed(description=help_options_text(self.bot.config))
        await reply(interaction, help_text(self.bot.config), embeds=[options])

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="models", description=N_("The models you can draw with"))
    async def models_command(self, interaction: discord.Interaction[EaselBot]) -> None:
        q = self.bot.queue
        loaded = {name: b.loaded_model for name, b in q.backends.items()}
        profiles = await self.bot.admission.profiles.for_models(interaction.guild_id, self.bot.catalog)
        labels = {n: model_label(n, p) for n, p in profiles.items()}
        hidden = {n for n, p in profiles.items() if p.hidden}
        text = models_text(self.bot.catalog, list(q.backends), loaded=loaded, labels=labels, hidden=hidden)
        await reply(interaction, text)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="status", description=N_("The line, what is being drawn and each image server"))
    async def status_command(self, interaction: discord.Interaction[EaselBot]) -> None:
        q = self.bot.queue
        try:
            counts: dict[str, int] | None = await q.store.count_by_state()
        except StoreError as exc:
            log.warning("status: counting jobs failed: %s", exc)
            counts = None
        text = status_text(
            queued=len(q.queued_jobs()),
            running=len(q.running_jobs()),
            backends=q.backends.values(),
            counts=counts,
            generated_since_start=q.generated_count,
            viewer_id=interaction.user.id,
            store_ok=q.store_ok,
        )
        await reply(interaction, text)


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Info(bot))
