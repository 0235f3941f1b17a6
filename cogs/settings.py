"""/settings (server admins) and /mod (moderators): thin Discord glue over :mod:`easel.policy`.

Who may use them:
- ``/settings``: Manage Server (Discord's default for the command; server owners can change it under Server
  Settings → Integrations), or a role in ``[discord] admin_role_ids``.
- ``/mod``: Manage Messages, or a role in ``[discord] moderator_role_ids`` (or an admin as above).

When such roles are configured the command is shown to everyone (Discord can't hide it per role) and the
permission is checked here on every use. Every answer is ephemeral; admin actions are logged by the policy
service with guild, channel and user ids. What they answer comes from :mod:`easel.texts.settings`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.permissions import NotAllowed, is_admin, is_moderator
from cogs.utils.replies import reply
from easel.i18n import N_, _, language_name
from easel.loras import complete
from easel.policy import SETTINGS, PolicyService, split_entries
from easel.texts import settings as texts

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)


class ChannelOption(app_commands.Transformer):
    """A channel a member can draw in: text, voice (text chat), announcement, forum, or a thread. Given as the
    interaction's resolved data (``.id``, ``.parent_id`` for threads), without needing the channel cache."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [
            discord.ChannelType.text,
            discord.ChannelType.voice,
            discord.ChannelType.news,
            discord.ChannelType.forum,
            discord.ChannelType.news_thread,
            discord.ChannelType.public_thread,
            discord.ChannelType.private_thread,
        ]

    async def transform(self, interaction: discord.Interaction[EaselBot], value: Any, /) -> Any:
        return value


AnyChannel = app_commands.Transform[app_commands.AppCommandChannel | app_commands.AppCommandThread, ChannelOption]


async def setting_key_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    low = current.strip().lower()
    choices = []
    for key, spec in SETTINGS.items():
        if not spec.text:
            continue
        if low in key or low in spec.description.lower() or low in _(spec.description).lower():
            choices.append(app_commands.Choice(name=texts.setting_choice(key), value=key))
    return choices[:25]


async def reset_key_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    low = current.strip().lower()
    return [
        app_commands.Choice(name=texts.setting_choice(key), value=key) for key, spec in SETTINGS.items() if low in key
    ][:25]


def language_label(value: str) -> str:
    """A choice of the ``language`` setting: "de (Deutsch)", "auto (the server's Discord language)"."""
    if value == "auto":
        return _("auto (the server's Discord language)")
    return f"{value} ({language_name(value)})"


LORA_LISTS = ("lora_allow", "lora_block")  # settings whose value is LoRA names, comma-separated


def lora_names_typed(current: str) -> str:
    """What is typed into lora_allow/lora_block, each item without a weight (those lists hold names only), so
    completing the last item never offers ``name:weight``."""
    return ",".join(item.partition(":")[0] for item in current.split(","))


async def setting_value_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    bot = interaction.client
    spec = SETTINGS.get(str(getattr(interaction.namespace, "key", "") or ""))
    if spec is None:
        return []
    if spec.key in LORA_LISTS:
        return [
            app_commands.Choice(name=label, value=value)
            for label, value in complete(lora_names_typed(current), bot.catalog.lora_infos())
        ]
    if spec.catalog is not None:
        names = bot.catalog.search(spec.catalog, current)
    elif spec.choices:
        names = [c for c in spec.choices if current.lower() in c]
    elif spec.type == "bool":
        names = ["true", "false"]
    elif spec.key == "allowed_channels":
        names = ["all"]
    else:
        return []
    if spec.key == "language":  # the catalog ids, named in their own language
        return [app_commands.Choice(name=language_label(n)[:100], value=n) for n in names[:25]]
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]


class Settings(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description=N_("Easel's settings for this server (admins)"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    channels = app_commands.Group(name="channels", description=N_("Channels Easel answers in"), parent=settings)
    ban_word = app_commands.Group(name="ban-word", description=N_("Words refused in prompts"), parent=settings)
    mod = app_commands.Group(
        name="mod",
        description=N_("Moderate Easel on this server"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )

    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        # Discord's default_member_permissions hides a command from everyone without the permission; a
        # configured role must be able to see it, so the check moves here (see _require_*).
        for group in self.__cog_app_commands__:
            if group.name == "settings" and bot.config.discord.admin_role_ids:
                group.default_permissions = None
            if group.name == "mod" and (bot.config.discord.moderator_role_ids or bot.config.discord.admin_role_ids):
                group.default_permissions = None

    @property
    def policy(self) -> PolicyService:
        return self.bot.policy

    # ---- permission checks ---------------------------------------------------------------------

    def _require_admin(self, interaction: discord.Interaction[EaselBot]) -> int:
        if interaction.guild_id is None:
            raise NotAllowed(texts.server_only_text())
        if not is_admin(interaction, self.bot.config.discord.admin_role_ids):
            log.info(
                "settings: refused non-admin user %s in guild %s channel %s",
                interaction.user.id,
                interaction.guild_id,
                interaction.channel_id,
            )
            raise NotAllowed(texts.need_admin_text())
        return interaction.guild_id

    def _require_mod(self, interaction: discord.Interaction[EaselBot]) -> int:
        if interaction.guild_id is None:
            raise NotAllowed(texts.server_only_text())
        if not (
            is_moderator(interaction, self.bot.config.discord.moderator_role_ids)
            or is_admin(interaction, self.bot.config.discord.admin_role_ids)
        ):
            log.info(
                "mod: refused non-moderator user %s in guild %s channel %s",
                interaction.user.id,
                interaction.guild_id,
                interaction.channel_id,
            )
            raise NotAllowed(texts.need_moderator_text())
        return interaction.guild_id

    # ---- /settings -----------------------------------------------------------------------------

    @settings.command(name="show", description=N_("Easel's settings here and where each comes from"))
    @app_commands.describe(channel=N_("Show the settings of another channel (default: this one)"))
    async def show(self, interaction: discord.Interaction[EaselBot], channel: AnyChannel | None = None) -> None:
        guild_id = self._require_admin(interaction)
        if channel is not None:
            channel_id, parent_id = channel.id, getattr(channel, "parent_id", None)
        else:
            channel_id = interaction.channel_id
            parent_id = getattr(interaction.channel, "parent_id", None)
        eff = await self.policy.for_draw(guild_id, channel_id, parent_id)
        await reply(interaction, texts.settings_show_text(channel_id, eff.value, eff.sources))

    @settings.command(name="set", description=N_("Change a setting for this server or one channel"))
    @app_commands.describe(
        key=N_("The setting"),
        value=N_("The new value"),
        channel=N_("Only for this channel (default: the whole server)"),
    )
    @app_commands.autocomplete(key=setting_key_autocomplete, value=setting_value_autocomplete)
    async def set_(
        self,
        interaction: discord.Interaction[EaselBot],
        key: str,
        value: app_commands.Range[str, 0, 2000],
        channel: AnyChannel | None = None,
    ) -> None:
        guild_id = self._require_admin(interaction)
        stored = await self.policy.set_text(
            guild_id,
            key.strip(),
            value,
            by=interaction.user.id,
            channel_id=channel.id if channel else None,
            catalog=self.bot.catalog,
        )
        await reply(interaction, texts.setting_set_text(key.strip(), stored, channel.id if channel else None))

    @settings.command(name="reset", description=N_("Back to the inherited value (one setting, or all)"))
    @app_commands.describe(key=N_("The setting (default: all of them)"), channel=N_("Only this channel's value"))
    @app_commands.autocomplete(key=reset_key_autocomplete)
    async def reset(
        self, interaction: discord.Interaction[EaselBot], key: str | None = None, channel: AnyChannel | None = None
    ) -> None:
        guild_id = self._require_admin(interaction)
        key = key.strip() if key else None
        count = await self.policy.reset(
            guild_id, key, by=interaction.user.id, channel_id=channel.id if channel else None
        )
        await reply(interaction, texts.reset_text(key, count, channel.id if channel else None))

    @settings.command(name="role", description=N_("Give a role its own queue, cooldown or daily quota"))
    @app_commands.describe(
        role=N_("The role"),
        max_queued_per_user=N_("Jobs a member may have waiting"),
        cooldown_seconds=N_("Seconds between two /draw"),
        daily_quota=N_("Drawings per UTC day (0 = no quota)"),
        remove=N_("Remove this role's override"),
    )
    async def role(
        self,
        interaction: discord.Interaction[EaselBot],
        role: discord.Role,
        max_queued_per_user: app_commands.Range[int, 1, 100] | None = None,
        cooldown_seconds: app_commands.Range[float, 0, 86400] | None = None,
        daily_quota: app_commands.Range[int, 0, 100000] | None = None,
        remove: bool = False,
    ) -> None:
        guild_id = self._require_admin(interaction)
        if remove:
            await self.policy.set_role_override(guild_id, role.id, None, by=interaction.user.id)
            await reply(interaction, texts.role_override_removed_text(role.id))
            return
        values = {
            "max_queued_per_user": max_queued_per_user,
            "cooldown_seconds": cooldown_seconds,
            "daily_quota": daily_quota,
        }
        overrides = await self.policy.set_role_override(
            guild_id, role.id, {k: v for k, v in values.items() if v is not None}, by=interaction.user.id
        )
        await reply(interaction, texts.role_override_text(role.id, overrides.get(role.id, {})))

    @settings.command(name="block", description=N_("Stop a user from drawing on this server"))
    @app_commands.describe(user=N_("The member to block"))
    async def block(self, interaction: discord.Interaction[EaselBot], user: discord.User) -> None:
        guild_id = self._require_admin(interaction)
        await self.policy.add_items(guild_id, "blocked_users", [user.id], by=interaction.user.id)
        await reply(interaction, texts.blocked_text(user.id))

    @settings.command(name="unblock", description=N_("Let a blocked user draw again"))
    @app_commands.describe(user=N_("The member to unblock"))
    async def unblock(self, interaction: discord.Interaction[EaselBot], user: discord.User) -> None:
        guild_id = self._require_admin(interaction)
        await self.policy.remove_items(guild_id, "blocked_users", [user.id], by=interaction.user.id)
        await reply(interaction, texts.unblocked_text(user.id))

    # ---- /settings channels --------------------------------------------------------------------

    @channels.command(name="add", description=N_("Let Easel draw in a channel (then only listed channels)"))
    @app_commands.describe(channel=N_("The channel (its threads count too)"))
    async def channels_add(self, interaction: discord.Interaction[EaselBot], channel: AnyChannel) -> None:
        guild_id = self._require_admin(interaction)
        ids = await self.policy.add_items(guild_id, "allowed_channels", [channel.id], by=interaction.user.id)
        await reply(interaction, texts.allowed_channels_text(ids))

    @channels.command(name="remove", description=N_("Stop Easel drawing in a listed channel"))
    @app_commands.describe(channel=N_("The channel"))
    async def channels_remove(self, interaction: discord.Interaction[EaselBot], channel: AnyChannel) -> None:
        guild_id = self._require_admin(interaction)
        ids = await self.policy.remove_items(guild_id, "allowed_channels", [channel.id], by=interaction.user.id)
        await reply(interaction, texts.channels_removed_text(ids))

    @channels.command(name="list", description=N_("The channels Easel draws in"))
    async def channels_list(self, interaction: discord.Interaction[EaselBot]) -> None:
        guild_id = self._require_admin(interaction)
        eff = await self.policy.for_draw(guild_id, None)
        await reply(interaction, texts.channels_list_text(eff.allowed_channels))

    # ---- /settings ban-word --------------------------------------------------------------------

    @ban_word.command(name="add", description=N_("Refuse prompts with these words (comma-separated; re: = regex)"))
    @app_commands.describe(words=N_("e.g. gore, hot dog, re:\\bnud(e|ity)\\b"))
    async def ban_word_add(
        self, interaction: discord.Interaction[EaselBot], words: app_commands.Range[str, 1, 1000]
    ) -> None:
        guild_id = self._require_admin(interaction)
        entries = split_entries(words)
        items = await self.policy.add_items(guild_id, "banned_words", entries, by=interaction.user.id)
        await reply(interaction, texts.words_added_text(len(entries), len(items)))

    @ban_word.command(name="remove", description=N_("Allow banned words again (comma-separated)"))
    @app_commands.describe(words=N_("The words or patterns, as listed"))
    async def ban_word_remove(
        self, interaction: discord.Interaction[EaselBot], words: app_commands.Range[str, 1, 1000]
    ) -> None:
        guild_id = self._require_admin(interaction)
        items = await self.policy.remove_items(guild_id, "banned_words", split_entries(words), by=interaction.user.id)
        await reply(interaction, texts.words_removed_text(len(items)))

    @ban_word.command(name="list", description=N_("This server's banned words (only you see them)"))
    async def ban_word_list(self, interaction: discord.Interaction[EaselBot]) -> None:
        guild_id = self._require_admin(interaction)
        eff = await self.policy.for_draw(guild_id, None)
        await reply(interaction, texts.banned_words_text(eff.banned_words))

    # ---- /mod ----------------------------------------------------------------------------------

    @mod.command(name="pause", description=N_("Stop new drawings on this server until /mod resume"))
    async def pause(self, interaction: discord.Interaction[EaselBot]) -> None:
        guild_id = self._require_mod(interaction)
        await self.policy.set_paused(guild_id, True, by=interaction.user.id, channel_id=interaction.channel_id)
        await reply(interaction, texts.paused_text())

    @mod.command(name="resume", description=N_("Take drawings again on this server"))
    async def resume(self, interaction: discord.Interaction[EaselBot]) -> None:
        guild_id = self._require_mod(interaction)
        await self.policy.set_paused(guild_id, False, by=interaction.user.id, channel_id=interaction.channel_id)
        await reply(interaction, texts.resumed_text())

    @mod.command(name="clear-queue", description=N_("Cancel every waiting job of this server"))
    async def clear_queue(self, interaction: discord.Interaction[EaselBot]) -> None:
        guild_id = self._require_mod(interaction)
        count = await self.bot.queue.clear_guild(guild_id, by=interaction.user.id)
        log.info(
            "moderation: guild %s channel %s user %s cleared the queue (%d jobs)",
            guild_id,
            interaction.channel_id,
            interaction.user.id,
            count,
        )
        await reply(interaction, texts.cleared_queue_text(count))


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Settings(bot))
