"""The one way the cogs answer a person privately, whatever state the interaction is in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from easel.texts.markup import CONTENT_LIMIT


async def reply(
    interaction: discord.Interaction[Any],
    text: str | None = None,
    *,
    view: discord.ui.View | None = None,
    embeds: Sequence[discord.Embed] = (),
) -> None:
    """An ephemeral answer (at most 2000 characters).

    - not answered yet: the answer;
    - deferred with "thinking" (``defer(ephemeral=True, thinking=True)``): fills in that placeholder, so it stays
      the ``@original`` message later edits (queue position, progress) go to;
    - already answered (a message, a button's silent defer, a modal): a private followup.
    """
    content = text[:CONTENT_LIMIT] if text is not None else None
    extra: dict[str, Any] = {}
    if view is not None:
        extra["view"] = view
    if embeds:
        extra["embeds"] = list(embeds)
    response = interaction.response
    if not response.is_done():
        await response.send_message(content, ephemeral=True, **extra)
    elif response.type is discord.InteractionResponseType.deferred_channel_message:
        await interaction.edit_original_response(content=content, **extra)
    else:
        await interaction.followup.send(content or discord.utils.MISSING, ephemeral=True, **extra)
    if view is not None:
        view.stop()  # its buttons are registered DynamicItems: nothing needs to keep the view alive
