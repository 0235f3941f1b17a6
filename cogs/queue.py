"""/queue and /cancel: see your jobs and the line, drop a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from easel import render

if TYPE_CHECKING:
    from bot import EaselBot


def is_moderator(interaction: discord.Interaction, moderator_roles: tuple[int, ...]) -> bool:
    perms = interaction.permissions
    if perms.manage_messages or perms.manage_guild or perms.administrator:
        return True
    roles = getattr(interaction.user, "roles", [])
    return any(role.id in moderator_roles for role in roles)


class Queue(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="queue", description="Your jobs, the length of the line and the backends' state")
    async def queue(self, interaction: discord.Interaction) -> None:
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
            state = "up" if b.up else f"down ({render.escape(render.shorten(b.last_error or 'not reached yet', 80))})"
            busy = " (busy)" if b.current is not None else ""
            lines.append(f"• **{render.escape(b.name)}**: {state}{busy}")
        await interaction.response.send_message("\n".join(lines)[:2000], ephemeral=True)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="cancel", description="Cancel one of your jobs (moderators: anyone's)")
    @app_commands.describe(job="The job id (from /queue); default: your latest job")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        q = self.bot.queue
        if job is None:
            mine = q.user_jobs(interaction.user.id)
            if not mine:
                await interaction.response.send_message("You have no jobs to cancel.", ephemeral=True)
                return
            job = max(mine, key=lambda pair: pair[0].seq)[0].id
        moderator = is_moderator(interaction, self.bot.config.discord.moderator_role_ids)
        result = await q.cancel(job.strip(), interaction.user.id, moderator=moderator)
        await interaction.response.send_message(result.message, ephemeral=True)

    @cancel.autocomplete("job")
    async def cancel_autocomplete(
        self, interaction: discord.Interaction, current: str
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
