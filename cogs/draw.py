"""/draw: parse options, answer within Discord's 3 seconds, hand the job to the queue."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.settings import policy_context
from cogs.utils.enqueue import enqueue, reply
from easel.images import prepare_init_image
from easel.jobs import new_error_id
from easel.request import DrawOptions, RequestError, build_request

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")


async def _choices(interaction: discord.Interaction, kind: str, current: str) -> list[app_commands.Choice[str]]:
    bot: EaselBot = interaction.client  # type: ignore[assignment]
    return [app_commands.Choice(name=name, value=name) for name in bot.catalog.search(kind, current)]


async def model_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "model", current)


async def sampler_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "sampler", current)


async def scheduler_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "scheduler", current)


async def style_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return await _choices(interaction, "style", current)


class Draw(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        # Discord-side ranges follow the config's ceilings (the decorators below hold only absolute bounds), so
        # Discord's own form refuses e.g. steps over the limit before the command is even sent.
        lim = bot.config.limits
        bounds = {
            "steps": lim.max_steps,
            "width": lim.max_width,
            "height": lim.max_height,
            "count": lim.max_count,
        }
        params = self.draw._params  # our own command's parameter definitions, before registration
        for name, top in bounds.items():
            params[name].max_value = top
        # (for string options discord.py sends min_value/max_value as min_length/max_length)
        params["prompt"].max_value = min(lim.max_prompt_length, 6000)  # Discord allows up to 6000
        params["negative_prompt"].max_value = min(lim.max_prompt_length, 6000)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="draw", description="Draw an image with Stable Diffusion")
    @app_commands.describe(
        prompt="What to draw",
        negative_prompt="What to keep out of the image",
        model="Checkpoint to draw with (default: the server's)",
        sampler="Sampling method, e.g. Euler a, DPM++ 2M",
        scheduler="Noise schedule, e.g. Karras (default: automatic)",
        steps="Sampling steps (more is slower)",
        width="Width in pixels, a multiple of 8",
        height="Height in pixels, a multiple of 8",
        cfg_scale="How closely to follow the prompt (1-30)",
        seed="Seed for reproducible results (-1: random)",
        count="Number of images",
        style="A prompt style saved in the webui",
        hires_fix="Upscale while generating for more detail (slower)",
        init_image="An image to start from (img2img)",
        strength="With init_image: how much to change it (0.05-1)",
        spoiler="Post the images behind a spoiler",
    )
    @app_commands.autocomplete(
        model=model_autocomplete,
        sampler=sampler_autocomplete,
        scheduler=scheduler_autocomplete,
        style=style_autocomplete,
    )
    async def draw(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 2000],
        negative_prompt: app_commands.Range[str, 0, 2000] | None = None,
        model: str | None = None,
        sampler: str | None = None,
        scheduler: str | None = None,
        steps: app_commands.Range[int, 1, 150] | None = None,
        width: app_commands.Range[int, 64, 2048] | None = None,
        height: app_commands.Range[int, 64, 2048] | None = None,
        cfg_scale: app_commands.Range[float, 1.0, 30.0] | None = None,
        seed: app_commands.Range[int, -1, 4294967294] | None = None,
        count: app_commands.Range[int, 1, 10] | None = None,
        style: str | None = None,
        hires_fix: bool | None = None,
        init_image: discord.Attachment | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        spoiler: bool | None = None,
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
            cfg_scale=cfg_scale,
            seed=seed,
            count=count,
            style=style,
            hires_fix=hires_fix,
            strength=strength,
            spoiler=spoiler,
        )
        try:
            # The server's rules first (blocked, paused, channel, NSFW, words, quota), then the options against
            # the server's defaults and limits, all before any download.
            decision = await self.bot.policy.check_draw(
                opts, **policy_context(interaction), img2img=init_image is not None
            )
            opts, cfg = decision.options, decision.config
            build_request(opts if init_image is None else _with_size(opts, (512, 512)), cfg, self.bot.catalog)
            self.bot.queue.check_user(interaction.user.id, **decision.limits.queue_kwargs())
            init_png: bytes | None = None
            if init_image is not None:
                _check_attachment(init_image, cfg.limits.max_init_image_bytes)
                await interaction.response.defer(ephemeral=True, thinking=True)
                data = await init_image.read()
                init_png, size = await prepare_init_image(
                    data,
                    max_bytes=cfg.limits.max_init_image_bytes,
                    max_pixels=cfg.limits.max_init_image_pixels,
                )
                opts = _with_size(opts, size)
            request = build_request(opts, cfg, self.bot.catalog)
            if init_png is not None:
                request = replace(request, init_image=init_png)
        except RequestError as exc:
            log.info("draw refused for user %s in guild %s: %s", interaction.user.id, interaction.guild_id, exc)
            await reply(interaction, str(exc))
            return
        except discord.HTTPException as exc:
            error_id = new_error_id()
            log.warning("draw: downloading the init image failed: %s [error %s]", exc, error_id)
            await reply(interaction, f"Couldn't download the init image; try again (error id `{error_id}`).")
            return

        await enqueue(self.bot, interaction, request)


def _with_size(opts: DrawOptions, size: tuple[int, int]) -> DrawOptions:
    return replace(opts, init_image_size=size)


def _check_attachment(att: discord.Attachment, max_bytes: int) -> None:
    content_type = (att.content_type or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        raise RequestError(f"init_image must be a PNG, JPEG or WebP image (got {content_type or 'an unknown type'}).")
    if att.size > max_bytes:
        raise RequestError(f"init_image is {att.size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB.")


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Draw(bot))
