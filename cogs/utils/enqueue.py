"""The one way a job enters the queue from Discord: /draw and every button that draws again use it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from cogs.utils.context import policy_context
from cogs.utils.replies import reply
from cogs.utils.views import cancel_view
from easel.jobs import Job, Reply, new_id
from easel.request import DrawRequest
from easel.texts.results import queued_text

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)


async def enqueue(bot: EaselBot, interaction: discord.Interaction[EaselBot], request: DrawRequest) -> Job:
    """Check the server's rules, store the job, put it in line and answer the user (ephemeral, with a Cancel
    button) with its position. A refusal (:class:`easel.errors.RequestError`: the rules, a full queue) is raised
    for the interaction error handler to answer."""
    # every way into the queue passes the server's rules (result buttons too)
    decision = await bot.policy.check_request(request, **policy_context(interaction))
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
        await reply(
            interaction,
            queued_text(job, position, bot.queue.estimate_start(job.id), backends_down=bot.queue.all_down),
            view=cancel_view(job),
        )
    finally:
        publisher.acked(job.id)
    return job
