"""Where and who an interaction comes from, in the terms easel.policy asks for."""

from __future__ import annotations

from typing import Any

import discord


def policy_context(interaction: discord.Interaction[Any]) -> dict[str, Any]:
    """Where and who, for ``PolicyService.check_draw`` / ``check_request``: guild, channel (a thread's parent
    too), the member's roles, and whether the channel is age-restricted."""
    channel = interaction.channel
    is_nsfw = getattr(channel, "is_nsfw", None)
    return {
        "guild_id": interaction.guild_id,
        "channel_id": interaction.channel_id,
        "parent_id": getattr(channel, "parent_id", None),
        "user_id": interaction.user.id,
        "role_ids": [role.id for role in interaction.user.roles]
        if isinstance(interaction.user, discord.Member)
        else [],
        "is_nsfw_channel": bool(is_nsfw()) if callable(is_nsfw) else False,
    }
