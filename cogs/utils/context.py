"""Who asks and where: the frozen context every way into the queue is judged in, read once from the interaction."""

from __future__ import annotations

from typing import Any

import discord

from easel.context import RequestContext


def request_context(interaction: discord.Interaction[Any]) -> RequestContext:
    """Guild, channel (a thread's parent too), the member's roles, whether the channel is age-restricted, and the
    member's and the server's language."""
    channel = interaction.channel
    is_nsfw = getattr(channel, "is_nsfw", None)
    user = interaction.user
    return RequestContext(
        user_id=user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        parent_id=getattr(channel, "parent_id", None),
        role_ids=tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else (),
        is_nsfw_channel=bool(is_nsfw()) if callable(is_nsfw) else False,
        locale=str(interaction.locale),
        guild_locale=str(interaction.guild_locale) if interaction.guild_locale is not None else None,
    )
