"""What users do with a result: Reroll, Vary, Remix, Upscale, Info, Delete; Cancel while it runs; and the
"Image info" message context menu with "Draw this again".

Buttons are ``DynamicItem``s: the custom_id carries the action, the job id and the image index, and the settings
come from the store, so they keep working after a restart and weeks later (while ``keep_results_days`` keeps the
images).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.queue import is_moderator
from cogs.utils.enqueue import enqueue, reply
from easel import render
from easel.infotext import parse_infotext, png_parameters
from easel.jobs import Job, StoredImage
from easel.request import DrawRequest, RequestError, build_request, options_from_infotext, revalidate

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

ACTIONS = ("reroll", "vary", "remix", "upscale", "info", "delete", "cancel")
_LABELS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.secondary),
    "vary": ("Vary", "🔀", discord.ButtonStyle.secondary),
    "remix": ("Remix", "✏️", discord.ButtonStyle.secondary),
    "upscale": ("Upscale", "⬆️", discord.ButtonStyle.secondary),
    "info": ("Info", "ℹ️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
    "cancel": ("Cancel", "✖️", discord.ButtonStyle.danger),
}
MAX_INFO_DOWNLOAD = 25 * 1024 * 1024


class ResultAction(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:(?P<action>[a-z]+):(?P<job>[a-z0-9]{4,16}):(?P<index>\d{1,2})",
):
    def __init__(self, action: str, job_id: str, index: int = 0, *, numbered: bool = False, row: int | None = None):
        label, emoji, style = _LABELS[action]
        if numbered:
            label = f"{label} {index + 1}"
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=None if numbered else emoji,
                style=style,
                custom_id=f"easel:{action}:{job_id}:{index}",
                row=row,
            )
        )
        self.action, self.job_id, self.index = action, job_id, index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultAction:
        action = match["action"]
        if action not in ACTIONS:
            raise ValueError(action)
        return cls(action, match["job"], int(match["index"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        cog = interaction.client.get_cog("Results")  # type: ignore[union-attr]
        assert isinstance(cog, Results)
        await cog.handle(interaction, self.action, self.job_id, self.index)


class AgainButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"easel:again:(?P<channel>\d{1,20}):(?P<message>\d{1,20})",
):
    """ "Draw this again" under Image info: points at the message whose image carries the settings."""

    def __init__(self, channel_id: int, message_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Draw this again",
                emoji="🎨",
                style=discord.ButtonStyle.primary,
                custom_id=f"easel:again:{channel_id}:{message_id}",
            )
        )
        self.channel_id, self.message_id = channel_id, message_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AgainButton:
        return cls(int(match["channel"]), int(match["message"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        cog = interaction.client.get_cog("Results")  # type: ignore[union-attr]
        assert isinstance(cog, Results)
        await cog.draw_again(interaction, self.channel_id, self.message_id)


def result_view(job: Job, count: int) -> discord.ui.View:
    """Buttons under a result. One image: one row of actions. Several: Reroll/Remix/Info/Delete, then numbered
    Upscale and Vary buttons per image (up to 10 images in 5 rows)."""
    view = discord.ui.View(timeout=None)
    if job.request.upscale:
        for action in ("info", "delete"):
            view.add_item(ResultAction(action, job.id, row=0))
        return view
    if count == 1:
        for action in ("reroll", "vary", "remix", "upscale", "info"):
            view.add_item(ResultAction(action, job.id, row=0))
        view.add_item(ResultAction("delete", job.id, row=1))
        return view
    for action in ("reroll", "remix", "info", "delete"):
        view.add_item(ResultAction(action, job.id, row=0))
    for i in range(min(count, 10)):
        block = 1 + (i // 5) * 2
        view.add_item(ResultAction("upscale", job.id, i, numbered=True, row=block))
        view.add_item(ResultAction("vary", job.id, i, numbered=True, row=block + 1))
    return view


def cancel_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ResultAction("cancel", job.id))
    return view


class RemixModal(discord.ui.Modal, title="Remix"):
    def __init__(self, cog: Results, job: Job) -> None:
        super().__init__(timeout=15 * 60, custom_id=f"easel:remixmodal:{job.id}")
        self.cog, self.job = cog, job
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:4000],
            max_length=4000,
        )
        self.negative: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Negative prompt",
            custom_id="negative_prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.negative_prompt[:4000] or None,
            required=False,
            max_length=4000,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await self.cog.submit_derived(
            interaction,
            self.job,
            prompt=self.prompt.value,
            negative_prompt=self.negative.value,
        )


class Results(commands.Cog):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Image info", callback=self.image_info)
        self.menu.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
        self.menu.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        self.bot.add_dynamic_items(ResultAction, AgainButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self.bot.remove_dynamic_items(ResultAction, AgainButton)

    # ---- buttons ----------------------------------------------------------------------------

    def _may_use(self, interaction: discord.Interaction, job: Job, action: str) -> bool:
        if interaction.user.id == job.user_id:
            return True
        moderator = is_moderator(interaction, self.bot.config.discord.moderator_role_ids)
        if action in ("delete", "cancel"):
            return moderator
        return moderator or self.bot.config.results.anyone_can_use_buttons

    async def handle(self, interaction: discord.Interaction, action: str, job_id: str, index: int) -> None:
        job = self.bot.queue.find(job_id) or await self.bot.store.get_job(job_id)
        if job is None:
            await reply(interaction, "That result is no longer known to Easel.")
            return
        if not self._may_use(interaction, job, action):
            who = "the person who asked for it or a moderator" if action in ("delete", "cancel") else "its requester"
            await reply(interaction, f"Only {who} can use this button.")
            return
        log.info("button %s on job %s (image %d) by user %s", action, job.id, index, interaction.user.id)
        if action == "cancel":
            moderator = is_moderator(interaction, self.bot.config.discord.moderator_role_ids)
            result = await self.bot.queue.cancel(job.id, interaction.user.id, moderator=moderator)
            await reply(interaction, result.message if result.ok else "That job is already finished.")
        elif action == "delete":
            await interaction.response.defer()
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as exc:
                await interaction.followup.send(f"Couldn't delete the message ({exc.status}).", ephemeral=True)
        elif action == "info":
            await self.show_info(interaction, job)
        elif action == "remix":
            await interaction.response.send_modal(RemixModal(self, job))
        elif action == "reroll":
            await self.submit_derived(interaction, job, seed=-1)
        elif action == "vary":
            await self.vary(interaction, job, index)
        elif action == "upscale":
            await self.upscale(interaction, job, index)

    async def _image(self, interaction: discord.Interaction, job: Job, index: int) -> StoredImage | None:
        images = await self.bot.store.load_result(job.id)
        image = next((im for im in images if im.index == index), None)
        if image is None or not image.data:
            await reply(interaction, "The images of that result are no longer kept; draw it again instead.")
            return None
        return image

    async def submit_derived(self, interaction: discord.Interaction, job: Job, **changes: Any) -> None:
        """A new job from a stored one with some options changed, checked like a new /draw."""
        if job.request.img2img and job.request.init_image is None:
            await reply(interaction, "The starting image of that result is no longer kept.")
            return
        try:
            request = revalidate(job.request, self.bot.config, self.bot.catalog, **changes)
        except RequestError as exc:
            await reply(interaction, str(exc))
            return
        await enqueue(self.bot, interaction, replace(request, source=f"{job.id}:0"))

    async def vary(self, interaction: discord.Interaction, job: Job, index: int) -> None:
        images = await self.bot.store.load_result(job.id)
        seed = next((im.seed for im in images if im.index == index), None)
        if seed is None:
            await reply(interaction, "That image is not part of the result.")
            return
        if job.request.img2img and job.request.init_image is None:
            await reply(interaction, "The starting image of that result is no longer kept.")
            return
        try:
            request = revalidate(job.request, self.bot.config, self.bot.catalog, seed=seed)
        except RequestError as exc:
            await reply(interaction, str(exc))
            return
        request = replace(
            request,
            subseed=-1,
            subseed_strength=self.bot.config.results.vary_strength,
            source=f"{job.id}:{index}",
        )
        await enqueue(self.bot, interaction, request)

    async def upscale(self, interaction: discord.Interaction, job: Job, index: int) -> None:
        image = await self._image(interaction, job, index)
        if image is None:
            return
        results = self.bot.config.results
        request = DrawRequest(
            prompt=job.request.prompt,
            negative_prompt=job.request.negative_prompt,
            model=job.request.model,
            width=int(job.request.width * results.upscale_factor),
            height=int(job.request.height * results.upscale_factor),
            seed=image.seed,
            spoiler=job.request.spoiler,
            upscale=True,
            upscaler=results.upscaler,
            upscale_factor=results.upscale_factor,
            source=f"{job.id}:{index}",
            init_image=image.data,
        )
        await enqueue(self.bot, interaction, request)

    async def show_info(self, interaction: discord.Interaction, job: Job) -> None:
        images = await self.bot.store.load_result(job.id)
        if not images:
            await reply(interaction, "That job has no stored result.")
            return
        embeds = [
            discord.Embed(title=title, description=body, colour=discord.Colour.blurple())
            for title, body in render.info_sections(job, images)
        ]
        await interaction.response.send_message(embeds=embeds[:10], ephemeral=True)

    # ---- context menu -----------------------------------------------------------------------

    async def image_info(self, interaction: discord.Interaction, message: discord.Message) -> None:
        job = await self.bot.store.job_by_message(message.id)
        view = discord.ui.View(timeout=None)
        view.add_item(AgainButton(message.channel.id, message.id))
        if job is not None:
            images = await self.bot.store.load_result(job.id)
            if images:
                embeds = [
                    discord.Embed(title=title, description=body, colour=discord.Colour.blurple())
                    for title, body in render.info_sections(job, images)
                ]
                await interaction.response.send_message(embeds=embeds[:10], view=view, ephemeral=True)
                return
        await interaction.response.defer(ephemeral=True, thinking=True)
        infotext = await self._infotext_of(message)
        if infotext is None:
            await interaction.edit_original_response(content="No generation info found in this message's images.")
            return
        embed = discord.Embed(
            title="Image info", description=render.code_block(infotext, 4000), colour=discord.Colour.blurple()
        )
        await interaction.edit_original_response(embed=embed, view=view)

    async def _infotext_of(self, message: discord.Message) -> str | None:
        """The ``parameters`` text of the first PNG attachment that has one (downloads are size-capped)."""
        for att in message.attachments:
            is_png = (att.content_type or "").startswith("image/png") or att.filename.lower().endswith(".png")
            if not is_png or att.size > MAX_INFO_DOWNLOAD:
                continue
            try:
                data = await att.read()
            except discord.HTTPException as exc:
                log.info("image info: can't download attachment %s: %s", att.id, exc)
                continue
            text = png_parameters(data)
            if text:
                return text
        return None

    async def draw_again(self, interaction: discord.Interaction, channel_id: int, message_id: int) -> None:
        job = await self.bot.store.job_by_message(message_id)
        if job is not None:
            images = await self.bot.store.load_result(job.id)
            await self.submit_derived(interaction, job, seed=images[0].seed if images else job.request.seed)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            channel = self.bot.get_partial_messageable(channel_id)
            message = await channel.fetch_message(message_id)
        except discord.HTTPException:
            await reply(interaction, "Easel can't read that message any more.")
            return
        infotext = await self._infotext_of(message)
        if infotext is None:
            await reply(interaction, "No generation info found in that message's images.")
            return
        opts = options_from_infotext(parse_infotext(infotext))
        if opts.model and self.bot.catalog.known and self.bot.catalog.resolve_model(opts.model) is None:
            opts = replace(opts, model=None)  # not on our backends: draw with the default model
        try:
            request = build_request(opts, self.bot.config, self.bot.catalog)
        except RequestError as exc:
            await reply(interaction, f"Can't draw it again here: {exc}")
            return
        await enqueue(self.bot, interaction, request)


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Results(bot))
