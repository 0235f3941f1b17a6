"""Saving a preset from a result: the "Save as preset" button under Info (a ``DynamicItem``, so it works after a
restart), its name form, and the one save path ``/preset save`` uses too."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

import discord

from cogs.utils.errors import guarded
from cogs.utils.replies import reply
from easel.errors import RequestError
from easel.i18n import N_, _
from easel.jobs import Job
from easel.presets import MAX_NAME, options_of_request
from easel.texts.presets import preset_saved_text

if TYPE_CHECKING:
    from bot import EaselBot


async def save_from_job(
    interaction: discord.Interaction[EaselBot], job: Job, name: str, *, server: bool = False
) -> None:
    """Save the options of ``job`` (one of the member's own) as the preset ``name`` and say so privately."""
    if job.user_id != interaction.user.id:
        raise RequestError(_("You can save a preset from your own results only."))
    if job.request.upscale:
        raise RequestError(_("An upscale has no drawing options to save: pick the job it was made from."))
    book = interaction.client.admission.presets
    preset = await book.save(
        interaction.user.id, interaction.guild_id, name, options_of_request(job.request), server=server
    )
    await reply(interaction, preset_saved_text(preset, source=job.id))


class SavePresetModal(discord.ui.Modal, title=N_("Save as preset")):
    """The preset's name. Each opening has its own custom_id (discord.py finds an open modal by it alone)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            title=_("Save as preset"), timeout=15 * 60, custom_id=f"easel:presetmodal:{job_id}:{secrets.token_hex(6)}"
        )
        self.job_id = job_id
        self.name: discord.ui.TextInput[SavePresetModal] = discord.ui.TextInput(
            label=_("Name"), custom_id="name", max_length=MAX_NAME, placeholder=_("e.g. anime")
        )
        self.add_item(self.name)

    @guarded
    async def on_submit(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        bot = interaction.client
        job = bot.queue.find(self.job_id) or await bot.store.get_job(self.job_id)
        if job is None:
            raise RequestError(_("That result is no longer known to Easel."))
        await save_from_job(interaction, job, self.name.value)


class SavePresetButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:savepreset:(?P<job>[a-z0-9]{4,16})",
):
    """ "Save as preset" under a result's Info: the options of that job, under a name the member types."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=_("Save as preset"),
                emoji="💾",
                style=discord.ButtonStyle.secondary,
                custom_id=f"easel:savepreset:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[EaselBot], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SavePresetButton:
        return cls(match["job"])

    @guarded
    async def callback(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        bot = interaction.client
        job = bot.queue.find(self.job_id) or await bot.store.get_job(self.job_id)
        if job is None:
            raise RequestError(_("That result is no longer known to Easel."))
        if job.user_id != interaction.user.id:  # refused before the form, not after typing a name
            raise RequestError(_("You can save a preset from your own results only."))
        await interaction.response.send_modal(SavePresetModal(job.id))


def save_preset_view(job: Job) -> discord.ui.View | None:
    """The view under a result's Info: "Save as preset" (none for an upscale: it has no drawing options)."""
    if job.request.upscale:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(SavePresetButton(job.id))
    return view
