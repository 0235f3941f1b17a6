"""The Discord side of the one way into the queue (:mod:`easel.admission`): /draw and every button that draws
again hand an :class:`~easel.admission.Ask` to :func:`admit`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from cogs.utils.context import request_context
from cogs.utils.replies import reply
from cogs.utils.views import cancel_view
from easel.admission import Ask
from easel.jobs import Job, Reply, new_id
from easel.texts.results import queued_text

if TYPE_CHECKING:
    from bot import EaselBot


async def admit(bot: EaselBot, interaction: discord.Interaction[EaselBot], ask: Ask) -> Job:
    """Admit the ask in this interaction's context and answer the member (ephemeral, with a Cancel button) with
    its position. A refusal (:class:`easel.errors.RequestError`) is raised for the interaction error handler."""
    job_id = new_id()
    publisher = bot.publisher
    publisher.expect(job_id)  # the queue's first edit of the answer waits until it is sent
    try:
        admitted = await bot.admission.admit(
            request_context(interaction),
            ask,
            reply=Reply(interaction.application_id, interaction.token, interaction.created_at.timestamp()),
            job_id=job_id,
        )
        job = admitted.job
        text = queued_text(job, admitted.position, admitted.eta, backends_down=bot.queue.all_down)
        await reply(interaction, text, view=cancel_view(job))
    finally:
        publisher.acked(job_id)
    return job
