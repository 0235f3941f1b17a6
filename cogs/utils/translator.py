"""Easel in the member's language on Discord's side.

- :class:`EaselTranslator`: command and option descriptions and choice labels from the message catalogs
  (:mod:`easel.i18n`), sent with the commands when they are synced; command, group and option names stay English
  (people share them in chat); a context menu's name ("Image info") is translated, since it is only read. Discord
  allows 100 characters for a description or a label, 32 for a name: a longer translation is left out and Discord
  shows the English text.
- :class:`EaselTree`: every slash command, context menu and autocomplete answers in the member's language (their
  ``interaction.locale``): the tree's ``interaction_check`` sets it for the task that handles the interaction.
  Buttons and modals get theirs from :func:`cogs.utils.errors.guarded`.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from easel.i18n import set_locale, translate

DISCORD_TEXT_LIMIT = 100  # characters of a description or a choice label
CONTEXT_MENU_LIMIT = 32  # characters of a context menu's name
_NAMES = frozenset({Where.command_name, Where.group_name, Where.parameter_name})


class EaselTranslator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if context.location in _NAMES and not isinstance(context.data, app_commands.ContextMenu):
            return None  # names people type stay English; a context menu's name is only read in the Apps menu
        text = translate(string.message, locale.value)
        limit = CONTEXT_MENU_LIMIT if context.location is Where.command_name else DISCORD_TEXT_LIMIT
        if text is None or len(text) > limit:
            return None
        return text


class EaselTree(app_commands.CommandTree[Any]):
    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        set_locale(str(interaction.locale))  # this interaction's task only (each runs in its own task)
        return True
