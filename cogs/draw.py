"""/draw: parse options, answer within Discord's 3 seconds, hand the job to the queue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.attachments import DownloadTexts, check_size, read_attachment
from cogs.utils.enqueue import admit
from easel.admission import Ask, InitImageLoader
from easel.config import Limits
from easel.errors import RequestError
from easel.i18n import N_, _
from easel.images import prepare_init_image
from easel.loras import complete
from easel.options import OPTIONS, OptionType
from easel.request import DrawOptions
from easel.texts.presets import model_label, preset_choices

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")


async def _choices(
    interaction: discord.Interaction[EaselBot], kind: str, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=name, value=name) for name in interaction.client.catalog.search(kind, current)]


async def model_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    """The models this server offers (a hidden profile is left out), by display name and description too."""
    bot = interaction.client
    profiles = await bot.admission.profiles.for_models(interaction.guild_id, bot.catalog)
    low = current.strip().lower()
    labels = {}
    for name, profile in profiles.items():
        label = model_label(name, profile)
        if not profile.hidden and low in label.lower():
            labels[name] = label
    ranked = sorted(labels, key=lambda n: (not labels[n].lower().startswith(low), labels[n].lower()))
    return [app_commands.Choice(name=labels[n][:100], value=n[:100]) for n in ranked[:25]]


async def sampler_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "sampler", current)


async def scheduler_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "scheduler", current)


async def style_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "style", current)


async def preset_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    """The member's presets, then this server's."""
    found = await interaction.client.admission.presets.search(interaction.user.id, interaction.guild_id, current)
    return [app_commands.Choice(name=n, value=v) for n, v in preset_choices(found, interaction.user.id)]


async def lora_autocomplete(interaction: discord.Interaction[EaselBot], current: str) -> list[app_commands.Choice[str]]:
    """The LoRAs the backends list (name, activation text); the items before the last comma are kept, the last one
    is completed as the user types."""
    infos = interaction.client.catalog.lora_infos()
    return [app_commands.Choice(name=label, value=value) for label, value in complete(current, infos)]


class Draw(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        apply_bounds(self.draw, bot.config.limits)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="draw", description=N_("Draw an image with Stable Diffusion"))
    @app_commands.describe(**{o.name: o.description for o in OPTIONS})
    @app_commands.autocomplete(
        model=model_autocomplete,
        sampler=sampler_autocomplete,
        scheduler=scheduler_autocomplete,
        style=style_autocomplete,
        preset=preset_autocomplete,
        lora=lora_autocomplete,
    )
    @app_commands.choices(
        **{o.name: [app_commands.Choice(name=c, value=c) for c in o.choices] for o in OPTIONS if o.choices}
    )
    async def draw(
        self,
        interaction: discord.Interaction[EaselBot],
        prompt: str,
        negative_prompt: str | None = None,
        model: str | None = None,
        sampler: str | None = None,
        scheduler: str | None = None,
        steps: int | None = None,
        width: int | None = None,
        height: int | None = None,
        aspect: str | None = None,
        cfg_scale: float | None = None,
        seed: int | None = None,
        clip_skip: int | None = None,
        count: int | None = None,
        style: str | None = None,
        lora: str | None = None,
        face_fix: str | None = None,
        hires_fix: bool | None = None,
        init_image: discord.Attachment | None = None,
        strength: float | None = None,
        spoiler: bool | None = None,
        preset: str | None = None,
    ) -> None:
        opts = DrawOptions(
            prompt=prompt,
            negative_prompt=negative_prompt,
            model=model,
            sampler=sampler,
            scheduler=scheduler,
            steps=steps,
            width=width,
            height=height,
            aspect=aspect,
            cfg_scale=cfg_scale,
            seed=seed,
            clip_skip=clip_skip,
            count=count,
            style=style,
            lora=lora,
            face_fix=face_fix,
            hires_fix=hires_fix,
            strength=strength,
            spoiler=spoiler,
            preset=preset,
        )
        loader = None if init_image is None else _attachment_loader(interaction, init_image)
        await admit(self.bot, interaction, Ask(options=opts, init_image=loader, default_preset=True))


def apply_bounds(command: app_commands.Command, limits: Limits) -> None:  # type: ignore[type-arg]
    """Discord-side bounds of /draw's parameters from the option table: the absolute ones, the maximum lowered to
    the config's limit (``steps`` to ``max_steps``...), so Discord's own form refuses e.g. steps over the limit
    before the command is even sent. For string options discord.py sends min_value/max_value as
    min_length/max_length. Call before the command is registered."""
    params = command._params  # our own command's parameter definitions
    for opt in OPTIONS:
        if not opt.numeric and not (opt.type is OptionType.STR and opt.limit):
            continue
        low, high = opt.bounds
        if opt.limit:
            top = getattr(limits, opt.limit)
            high = top if opt.numeric else min(top, high or top)  # strings: Discord's own maximum still applies
        cast = float if opt.type is OptionType.FLOAT else int
        params[opt.name].min_value = None if low is None else cast(low)
        params[opt.name].max_value = None if high is None else cast(high)


INIT_IMAGE_DOWNLOAD = DownloadTexts(
    too_large=lambda size, limit: _("init_image is {size} MiB; the limit is {limit} MiB.").format(
        size=size, limit=limit
    ),
    failed=lambda error_id: _("Couldn't download the init image; try again (error id `{error_id}`).").format(
        error_id=error_id
    ),
)


def _attachment_loader(interaction: discord.Interaction[EaselBot], att: discord.Attachment) -> InitImageLoader:
    """Checks, downloads and decodes the init image within the channel's limits, once every rule has passed."""

    async def load(limits: Limits) -> tuple[bytes, tuple[int, int]]:
        _check_attachment(att, limits.max_init_image_bytes)
        data = await read_attachment(interaction, att, limits.max_init_image_bytes, INIT_IMAGE_DOWNLOAD)
        return await prepare_init_image(
            data,
            max_bytes=limits.max_init_image_bytes,
            max_pixels=limits.max_init_image_pixels,
            fit_to=(limits.max_width, limits.max_height),  # it can't be drawn larger
        )

    return load


def _check_attachment(att: discord.Attachment, max_bytes: int) -> None:
    content_type = (att.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise RequestError(
            _("init_image must be a PNG, JPEG or WebP image (got {type}).").format(
                type=content_type or _("an unknown type")
            )
        )
    check_size(att, max_bytes, INIT_IMAGE_DOWNLOAD)


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Draw(bot))
