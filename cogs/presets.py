"""/preset (every member: their own presets, and the server's) and /profile (server admins: this server's model
profiles). Thin Discord glue over :mod:`easel.presets` and :mod:`easel.profiles`; the texts come from
:mod:`easel.texts.presets`. Every answer is private; a refusal is one line (:mod:`cogs.utils.errors`).

- ``/preset save name: [from:] [server:]``: the options of your last request (or of the job ``from``, one of
  yours: its id is in the result message and under Info); ``server:true`` (admins) saves a server preset.
- ``/preset use name: [prompt:]``: draw with it now (through the one admission path); without a prompt, the
  preset's own.
- ``/preset list``, ``show``, ``delete``, ``default [name:]`` (no name: no default).
- ``/profile show|set|reset model: ...`` (admins): override a model's profile on this server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.enqueue import admit
from cogs.utils.permissions import NotAllowed, is_admin
from cogs.utils.presets import SavePresetButton, save_from_job
from cogs.utils.replies import reply
from easel.admission import Ask
from easel.config import PROFILE_KEYS
from easel.errors import RequestError
from easel.i18n import N_, _
from easel.presets import PresetBook
from easel.profiles import Profiles, parse_text
from easel.request import DrawOptions
from easel.texts import presets as texts
from easel.texts.presets import preset_choices
from easel.texts.settings import need_admin_text, server_only_text

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)


async def preset_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    """The member's presets, then this server's."""
    found = await interaction.client.admission.presets.search(interaction.user.id, interaction.guild_id, current)
    return [app_commands.Choice(name=n, value=v) for n, v in preset_choices(found, interaction.user.id)]


async def job_autocomplete(interaction: discord.Interaction[EaselBot], current: str) -> list[app_commands.Choice[str]]:
    """The member's recent jobs (id and prompt)."""
    jobs = await interaction.client.store.recent_jobs(interaction.user.id, limit=25)
    low = current.strip().lower()
    return [
        app_commands.Choice(name=f"{j.id}: {j.request.prompt}"[:100], value=j.id)
        for j in jobs
        if low in j.id or low in j.request.prompt.lower()
    ][:25]


async def model_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=n, value=n) for n in interaction.client.catalog.search("model", current)]


async def profile_key_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    low = current.strip().lower()
    return [app_commands.Choice(name=k, value=k) for k in PROFILE_KEYS if low in k][:25]


class Presets(commands.Cog):
    preset = app_commands.Group(
        name="preset",
        description=N_("Your saved sets of /draw options, and the server's"),
        allowed_installs=app_commands.AppInstallationType(guild=True, user=True),  # like /draw: DMs too
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True),
    )
    profile = app_commands.Group(
        name="profile",
        description=N_("Model profiles on this server: defaults per checkpoint (admins)"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        for group in self.__cog_app_commands__:  # a configured admin role must see /profile (checked on use)
            if group.name == "profile" and bot.config.discord.admin_role_ids:
                group.default_permissions = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SavePresetButton)  # "Save as preset" under Info

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SavePresetButton)

    @property
    def book(self) -> PresetBook:
        return self.bot.admission.presets

    @property
    def profiles(self) -> Profiles:
        return self.bot.admission.profiles

    def _admin(self, interaction: discord.Interaction[EaselBot]) -> bool:
        return is_admin(interaction, self.bot.config.discord.admin_role_ids)

    def _require_admin(self, interaction: discord.Interaction[EaselBot]) -> int:
        if interaction.guild_id is None:
            raise NotAllowed(server_only_text())
        if not self._admin(interaction):
            log.info("profile/preset: refused non-admin user %s in guild %s", interaction.user.id, interaction.guild_id)
            raise NotAllowed(need_admin_text())
        return interaction.guild_id

    # ---- /preset -------------------------------------------------------------------------------

    @preset.command(name="save", description=N_("Save the options of your last request (or of one job) as a preset"))
    @app_commands.describe(
        name=N_("The preset's name"),
        from_=N_("A job id of yours to take the options from (default: your last request)"),
        server=N_("Save it as a server preset every member can use (admins)"),
    )
    @app_commands.rename(from_="from")
    @app_commands.autocomplete(from_=job_autocomplete)
    async def save(
        self,
        interaction: discord.Interaction[EaselBot],
        name: app_commands.Range[str, 1, 40],
        from_: app_commands.Range[str, 1, 40] | None = None,
        server: bool = False,
    ) -> None:
        if server:
            self._require_admin(interaction)
        user_id = interaction.user.id
        if from_ is not None:
            job = self.bot.queue.find(from_.strip()) or await self.bot.store.get_job(from_.strip())
            if job is None or job.user_id != user_id:
                raise RequestError(
                    _("You have no job {job}: give the id of one of your own results.").format(job=from_[:20])
                )
        else:
            recent = [j for j in await self.bot.store.recent_jobs(user_id, limit=10) if not j.request.upscale]
            if not recent:
                raise RequestError(_("You have no request to save yet: draw something first, or give from:."))
            job = recent[0]  # the latest drawing (an upscale has no options of its own)
        await save_from_job(interaction, job, name, server=server)

    @preset.command(name="use", description=N_("Draw with a preset now"))
    @app_commands.describe(name="The preset", prompt=N_("What to draw (default: the preset's prompt)"))
    @app_commands.autocomplete(name=preset_autocomplete)
    async def use(
        self,
        interaction: discord.Interaction[EaselBot],
        name: app_commands.Range[str, 1, 100],
        prompt: app_commands.Range[str, 1, 6000] | None = None,
    ) -> None:
        await admit(self.bot, interaction, Ask(options=DrawOptions(prompt=prompt or "", preset=name)))

    @preset.command(name="list", description=N_("Your presets and this server's"))
    async def list_(self, interaction: discord.Interaction[EaselBot]) -> None:
        own, server, default = await self.book.listing(interaction.user.id, interaction.guild_id)
        await reply(interaction, texts.preset_list_text(own, server, default, self.bot.config.presets.max_per_user))

    @preset.command(name="show", description=N_("The options a preset holds"))
    @app_commands.describe(name="The preset")
    @app_commands.autocomplete(name=preset_autocomplete)
    async def show(self, interaction: discord.Interaction[EaselBot], name: app_commands.Range[str, 1, 100]) -> None:
        preset = await self.book.find(interaction.user.id, interaction.guild_id, name)
        default = await self.book.default_for(interaction.user.id, interaction.guild_id)
        is_default = default is not None and default.id == preset.id
        await reply(interaction, texts.preset_show_text(preset, is_default=is_default))

    @preset.command(name="delete", description=N_("Delete one of your presets (admins: a server preset)"))
    @app_commands.describe(name="The preset")
    @app_commands.autocomplete(name=preset_autocomplete)
    async def delete(self, interaction: discord.Interaction[EaselBot], name: app_commands.Range[str, 1, 100]) -> None:
        preset = await self.book.delete(interaction.user.id, interaction.guild_id, name, admin=self._admin(interaction))
        await reply(interaction, texts.preset_deleted_text(preset))

    @preset.command(name="default", description=N_("The preset every /draw of yours starts from (none: no default)"))
    @app_commands.describe(name=N_("The preset (leave it out to have no default)"))
    @app_commands.autocomplete(name=preset_autocomplete)
    async def default(
        self, interaction: discord.Interaction[EaselBot], name: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        preset = await self.book.set_default(interaction.user.id, interaction.guild_id, name)
        await reply(interaction, texts.preset_default_text(preset))

    # ---- /profile ------------------------------------------------------------------------------

    def _model(self, model: str) -> str:
        resolved = self.bot.catalog.resolve_model(model) if self.bot.catalog.known else None
        if resolved is None:
            raise RequestError(
                _("Unknown model {model}: pick one from the list (see /models).").format(model=model[:100])
            )
        return resolved

    @profile.command(name="show", description=N_("A model's profile here (configured, inferred, this server's)"))
    @app_commands.describe(model=N_("The checkpoint"))
    @app_commands.autocomplete(model=model_autocomplete)
    async def profile_show(self, interaction: discord.Interaction[EaselBot], model: str) -> None:
        guild_id = self._require_admin(interaction)
        name = self._model(model)
        profile = await self.profiles.for_model(name, guild_id, self.bot.catalog)
        overrides = (await self.profiles.server_overrides(guild_id)).get(name, {})
        await reply(interaction, texts.profile_show_text(name, profile, overrides))

    @profile.command(name="set", description=N_("Override one key of a model's profile on this server"))
    @app_commands.describe(model=N_("The checkpoint"), key=N_("The profile key"), value="The new value")
    @app_commands.autocomplete(model=model_autocomplete, key=profile_key_autocomplete)
    async def profile_set(
        self,
        interaction: discord.Interaction[EaselBot],
        model: str,
        key: str,
        value: app_commands.Range[str, 0, 500],
    ) -> None:
        guild_id = self._require_admin(interaction)
        name = self._model(model)
        key = key.strip()
        if key not in PROFILE_KEYS:
            raise RequestError(
                _("Unknown profile key {key}: one of {keys}.").format(key=key[:40], keys=", ".join(PROFILE_KEYS))
            )
        parsed = parse_text(key, value)
        catalog = self.bot.catalog
        if key == "sampler" and parsed and not catalog.has_sampler(parsed):
            raise RequestError(_("Unknown sampler {name}: pick one from the list.").format(name=parsed[:60]))
        if key == "scheduler" and parsed and not catalog.has_scheduler(parsed):
            raise RequestError(_("Unknown scheduler {name}: pick one from the list.").format(name=parsed[:60]))
        stored = await self.profiles.set_override(guild_id, name, key, parsed, by=interaction.user.id)
        await reply(interaction, texts.profile_set_text(name, key, stored))

    @profile.command(name="reset", description=N_("Back to the configured profile (one key, or all)"))
    @app_commands.describe(model=N_("The checkpoint"), key=N_("One key (default: every override of this model)"))
    @app_commands.autocomplete(model=model_autocomplete, key=profile_key_autocomplete)
    async def profile_reset(
        self, interaction: discord.Interaction[EaselBot], model: str, key: str | None = None
    ) -> None:
        guild_id = self._require_admin(interaction)
        name = self._model(model)
        if key is None:
            await self.profiles.clear(guild_id, name, by=interaction.user.id)
        else:
            await self.profiles.set_override(guild_id, name, key.strip(), None, by=interaction.user.id)
        await reply(interaction, texts.profile_reset_text(name, key))


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Presets(bot))
