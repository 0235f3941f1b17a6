"""One error path for every interaction: slash commands and context menus (the tree's ``on_error``), buttons,
selects and modals (:func:`guarded` around their callbacks; discord.py would only log what those raise, and the
person would see "This interaction failed").

- A refusal (:class:`easel.errors.RequestError` and subclasses) is answered privately with its one-line message.
- Anything else is a bug: it gets an error id, a log line with the traceback and that id, and the person is told
  "Something went wrong (error id `…`)", so an admin can find the line.

Either answer goes out at once (inside Discord's 3 seconds), whether the interaction was answered, deferred or not.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import discord
from discord import app_commands

from cogs.utils.replies import reply
from easel.errors import RequestError
from easel.i18n import _, use_locale
from easel.jobs import new_error_id

log = logging.getLogger(__name__)

P = ParamSpec("P")
S = TypeVar("S")


def _describe(interaction: discord.Interaction[Any]) -> str:
    data = interaction.data or {}
    what = (
        f"/{interaction.command.qualified_name}"
        if interaction.command is not None
        else str(data.get("custom_id") or data.get("name") or interaction.type.name)
    )
    return f"{what} by user {interaction.user.id} in guild {interaction.guild_id} channel {interaction.channel_id}"


async def answer_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Answer ``error`` (raised while handling ``interaction``) the one way described above."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    elif isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, RequestError):
        error = error.__cause__
    if isinstance(error, RequestError):
        log.info("refused %s: %s", _describe(interaction), error)
        text = str(error)
    elif isinstance(error, app_commands.CheckFailure | app_commands.TransformerError):
        log.info("refused %s: %s", _describe(interaction), error)
        text = str(error) or _("You can't use this here.")
    else:
        error_id = new_error_id()
        log.error("error %s in %s", error_id, _describe(interaction), exc_info=error)
        text = _("Something went wrong (error id `{error_id}`).").format(error_id=error_id)
    try:
        await reply(interaction, text)
    except discord.HTTPException as exc:  # the token expired, or the answer was a modal: nothing more to do
        log.warning("could not tell user %s about an error: %s", interaction.user.id, exc)


async def on_app_command_error(interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
    """For ``CommandTree.on_error``: every slash command and context menu."""
    await answer_error(interaction, error)


def guarded(
    callback: Callable[Concatenate[S, discord.Interaction[Any], P], Awaitable[None]],
) -> Callable[Concatenate[S, discord.Interaction[Any], P], Awaitable[None]]:
    """Decorate a button/select ``callback`` or a modal's ``on_submit`` so what it raises is answered."""

    @functools.wraps(callback)
    async def wrapper(self: S, interaction: discord.Interaction[Any], *args: P.args, **kwargs: P.kwargs) -> None:
        with use_locale(str(interaction.locale)):  # the answers are in the member's language
            try:
                await callback(self, interaction, *args, **kwargs)
            except Exception as exc:
                await answer_error(interaction, exc)

    return wrapper
