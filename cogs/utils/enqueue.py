"""The one way a job enters the queue from Discord: /draw and every button that draws again use it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from easel.jobs import Job, Reply, new_id
from easel.queue import QueueFull
from easel.render import queued_text
from easel.request import DrawRequest, RequestError

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction, text: str, *, view: discord.ui.View | None = None) -> None:
    """An ephemeral answer, whether or not the interaction was deferred."""
    if interaction.response.is_done():
        if view is None:
            await interaction.edit_original_response(content=text)
        else:
            await interaction.edit_original_response(content=text, view=view)
    elif view is None:
        await interaction.response.send_message(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True, view=view)
    if view is not None:
        view.stop()  # its buttons are registered DynamicItems: nothing needs to keep the view alive


async def enqueue(bot: EaselBot, interaction: discord.Interaction, request: DrawRequest) -> Job | None:
    """Store the job, put it in line and answer the user (ephemeral, with a Cancel button) with its position."""
    from cogs.results import cancel_view  # the views live with their handlers
    from cogs.settings import policy_context

    try:  # every way into the queue passes the server's rules (result buttons too)
        decision = await bot.policy.check_request(request, **policy_context(interaction))
    except RequestError as exc:
        await reply(interaction, str(exc))
        return None
    request = decision.request

    job = Job(
        id=new_id(),
        request=request,
        user_id=interaction.user.id,
        channel_id=interaction.channel_id or 0,
        guild_id=interaction.guild_id,
        reply=Reply(interaction.application_id, interaction.token, interaction.created_at.timestamp()),
    )
    publisher = bot.publisher
    publisher.expect(job.id)
    try:
        position = await bot.queue.submit(job, **decision.limits.queue_kwargs())
    except QueueFull as exc:
        publisher.acked(job.id)
        await reply(interaction, str(exc))
        return None
    try:
        await reply(
            interaction,
            queued_text(job, position, bot.queue.estimate_start(job.id), backends_down=bot.queue.all_down),
            view=cancel_view(job),
        )
    finally:
        publisher.acked(job.id)
    return job
