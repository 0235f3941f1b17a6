"""Who may do what: moderators and admins of a server, and what they may do to a job.

A moderator's rights hold in their own server only. Anyone can hold Manage Messages somewhere (a server they just
made counts, and the app can be user-installed), so a permission is never a right over another server's jobs.
"""

from __future__ import annotations

from typing import Any

import discord

from easel.errors import RequestError
from easel.i18n import _
from easel.jobs import Job


class NotAllowed(RequestError):
    """The person lacks the permission or role a command needs: the message says which."""


def _has_role(interaction: discord.Interaction[Any], role_ids: tuple[int, ...]) -> bool:
    user = interaction.user  # a Member in a server; a User (no roles) in DMs
    return isinstance(user, discord.Member) and any(role.id in role_ids for role in user.roles)


def is_moderator(interaction: discord.Interaction[Any], moderator_roles: tuple[int, ...]) -> bool:
    """Manage Messages (or Manage Server, Administrator) or a moderator role, in the interaction's server.
    Never true outside a server."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    if perms.manage_messages or perms.manage_guild or perms.administrator:
        return True
    return _has_role(interaction, moderator_roles)


def is_admin(interaction: discord.Interaction[Any], admin_roles: tuple[int, ...]) -> bool:
    """Manage Server (or Administrator) or an admin role, in the interaction's server. Never true outside one."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    return _has_role(interaction, admin_roles)


def moderates(interaction: discord.Interaction[Any], job: Job, moderator_roles: tuple[int, ...]) -> bool:
    """A moderator of the server the job was drawn in, acting from that server."""
    return (
        job.guild_id is not None and interaction.guild_id == job.guild_id and is_moderator(interaction, moderator_roles)
    )


def may_use_result(
    interaction: discord.Interaction[Any],
    job: Job,
    action: str,
    *,
    moderator_roles: tuple[int, ...],
    anyone_can_use_buttons: bool,
) -> bool:
    """The rule for every button on a job (and "Draw this again" on its result): the requester always; Delete and
    Cancel also a moderator of the job's server; the others also a moderator of it, or anyone when the config
    says so."""
    if interaction.user.id == job.user_id:
        return True
    moderator = moderates(interaction, job, moderator_roles)
    if action in ("delete", "cancel"):
        return moderator
    return moderator or anyone_can_use_buttons


def refusal_for(action: str) -> str:
    """What someone who may not use a job's button is told."""
    if action in ("delete", "cancel"):
        return _("Only the person who asked for it or a moderator can use this button.")
    return _("Only its requester can use this button.")
