"""/queue and /cancel: see your jobs and the line, drop a job. The text comes from :mod:`easel.texts.commands`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.permissions import moderates
from cogs.utils.replies import reply
from easel.i18n import N_
from easel.texts.commands import (
    BackendState,
    QueueEntry,
    cancel_choice,
    no_jobs_to_cancel_text,
    queue_text,
    unknown_job_text,
)

if TYPE_CHECKING:
    from bot import EaselBot


class Queue(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="queue", description=N_("Your jobs, the length of the line and the backends' state"))
    async def queue(self, interaction: discord.Interaction[EaselBot]) -> None:
        q = self.bot.queue
        entries = [
            QueueEntry(
                job_id=job.id,
                prompt=job.request.prompt,
                position=position,
                backend=job.backend,
                starts=q.estimate_start(job.id) if position is not None else None,
                remote=q.horde_progress.get(job.id) if position is None else None,  # the AI Horde's own line
            )
            for job, position in q.user_jobs(interaction.user.id)
        ]
        # up or down only: why a backend is down (an address, an error text) is in the log, not for members
        backends = [BackendState(b.name, b.up, b.current is not None) for b in q.backends.values()]
        text = queue_text(entries, queued=len(q.queued_jobs()), running=len(q.running_jobs()), backends=backends)
        await reply(interaction, text)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="cancel", description=N_("Cancel one of your jobs (moderators: any of this server's)"))
    @app_commands.describe(job=N_("The job id (from /queue); default: your latest job"))
    async def cancel(self, interaction: discord.Interaction[EaselBot], job: str | None = None) -> None:
        q = self.bot.queue
        if job is None:
            mine = q.user_jobs(interaction.user.id)
            if not mine:
                await reply(interaction, no_jobs_to_cancel_text())
                return
            job = max(mine, key=lambda pair: pair[0].seq)[0].id
        job_id = job.strip()
        target = q.find(job_id)
        # A moderator's rights hold for their own server's jobs only; someone else's job from another server (or
        # from DMs) is answered like an unknown one, so ids can't be probed from elsewhere either.
        foreign = (
            target is not None
            and target.user_id != interaction.user.id
            and (target.guild_id is None or target.guild_id != interaction.guild_id)
        )
        if target is None or foreign:
            await reply(interaction, unknown_job_text(job_id))
            return
        moderator = moderates(interaction, target, self.bot.config.discord.moderator_role_ids)
        result = await q.cancel(target.id, interaction.user.id, moderator=moderator)
        await reply(interaction, result.message)

    @cancel.autocomplete("job")
    async def cancel_autocomplete(
        self, interaction: discord.Interaction[EaselBot], current: str
    ) -> list[app_commands.Choice[str]]:
        choices = []
        for job, position in self.bot.queue.user_jobs(interaction.user.id):
            label = cancel_choice(job.id, position, job.request.prompt)
            if current.lower() in label.lower():
                choices.append(app_commands.Choice(name=label, value=job.id))
        return choices[:25]


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Queue(bot))
