"""/queue and /cancel: see your jobs and the line, drop a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.permissions import moderates
from cogs.utils.replies import reply
from easel import render

if TYPE_CHECKING:
    from bot import EaselBot


class Queue(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="queue", description="Your jobs, the length of the line and the backends' state")
    async def queue(self, interaction: discord.Interaction[EaselBot]) -> None:
        q = self.bot.queue
        lines: list[str] = []
        for job, position in q.user_jobs(interaction.user.id):
            prompt = render.escape(render.shorten(job.request.prompt, 60))
            if position is None:
                lines.append(f"`{job.id}` running on **{render.escape(job.backend or '?')}**: {prompt}")
            else:
                eta = q.estimate_start(job.id)
                when = f", starts {render.relative_time(eta)}" if eta else ""
                lines.append(f"`{job.id}` #{position} in line{when}: {prompt}")
        if not lines:
            lines.append("You have no jobs waiting.")
        queued, running = len(q.queued_jobs()), len(q.running_jobs())
        lines.append(f"\nLine: {queued} waiting, {running} drawing.")
        for b in q.backends.values():
            state = "up" if b.up else "down"  # why is in the log: an address or an error text is not for members
            busy = " (busy)" if b.current is not None else ""
            lines.append(f"• **{render.escape(b.name)}**: {state}{busy}")
        await reply(interaction, "\n".join(lines))

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="cancel", description="Cancel one of your jobs (moderators: any of this server's)")
    @app_commands.describe(job="The job id (from /queue); default: your latest job")
    async def cancel(self, interaction: discord.Interaction[EaselBot], job: str | None = None) -> None:
        q = self.bot.queue
        if job is None:
            mine = q.user_jobs(interaction.user.id)
            if not mine:
                await reply(interaction, "You have no jobs to cancel.")
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
            shown = "".join(c for c in job_id if c.isalnum())[:16]
            await reply(interaction, f"No waiting or running job `{shown}`.")
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
            where = "running" if position is None else f"#{position}"
            label = f"{job.id} ({where}): {render.shorten(job.request.prompt, 60)}"
            if current.lower() in label.lower():
                choices.append(app_commands.Choice(name=label[:100], value=job.id))
        return choices[:25]


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Queue(bot))
