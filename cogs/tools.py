"""The image tools on any picture (docs/tools.md): /upscale and /describe, the Upscale and Describe message
context menus, and the Zoom out / pan buttons under results.

Each tool is a job like any other, through the one admission path (:func:`cogs.utils.enqueue.admit`). A picture
is only ever read from a ``discord.Attachment`` of the interaction (the command's option, or the message the
context menu was used on, as Discord resolved it): never from a URL someone typed. It is downloaded once every
rule has passed, bounded by the channel's ``max_init_image_bytes`` / ``max_init_image_pixels``, and checked and
re-encoded before use (:mod:`easel.tools.images`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.attachments import DownloadTexts, read_attachment
from cogs.utils.enqueue import admit
from cogs.utils.errors import guarded
from cogs.utils.permissions import may_use_result, refusal_for
from cogs.utils.replies import reply
from cogs.utils.views import TOOLS_COG, outpaint_view
from easel.admission import Ask, InitImageLoader
from easel.config import Limits
from easel.errors import RequestError
from easel.i18n import N_, _
from easel.jobs import Job, StoredImage
from easel.queue.backend import Backend, can_describe, can_restore_faces
from easel.request import DrawOptions
from easel.texts import tools as texts
from easel.tools import (
    FaceRestorer,
    Interrogator,
    describe_request,
    outpaint_request,
    sized_upscale,
    upscale_request,
)
from easel.tools.images import image_size, load_tool_image
from easel.tools.outpaint import Pan, pan_op, zoom_op

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
_OPS = {
    "zoom15": zoom_op(1.5),
    "zoom2": zoom_op(2.0),
    **{d.value: pan_op(d) for d in Pan},
}

Start = Callable[[discord.Interaction["EaselBot"], discord.Attachment], Awaitable[None]]


def usable_images(attachments: Sequence[discord.Attachment], limit: int) -> list[discord.Attachment]:
    """The attachments that say they are pictures, at most ``limit``."""
    found = [
        att
        for att in attachments
        if (att.content_type or "").split(";")[0].strip().lower() in IMAGE_TYPES
        or att.filename.lower().endswith(IMAGE_SUFFIXES)
    ]
    return found[:limit]


PICTURE_DOWNLOAD = DownloadTexts(
    too_large=lambda size, limit: _("That picture is {size} MiB; the limit is {limit} MiB.").format(
        size=size, limit=limit
    ),
    failed=lambda error_id: _("Couldn't download that picture; try again (error id `{id}`).").format(id=error_id),
)


def attachment_loader(interaction: discord.Interaction[EaselBot], att: discord.Attachment) -> InitImageLoader:
    """Downloads and checks the picture within the channel's limits, once every rule has passed."""

    async def load(limits: Limits) -> tuple[bytes, tuple[int, int]]:
        data = await read_attachment(interaction, att, limits.max_init_image_bytes, PICTURE_DOWNLOAD)
        image = await load_tool_image(
            data, max_bytes=limits.max_init_image_bytes, max_pixels=limits.max_init_image_pixels
        )
        return image.png, image.size

    return load


class ImagePicker(discord.ui.View):
    """A select menu of a message's pictures (the context menus on a message with several). It holds the
    attachments Discord resolved in the context menu's interaction, for 10 minutes."""

    def __init__(self, owner: int, images: list[discord.Attachment], start: Start) -> None:
        super().__init__(timeout=600)
        self.owner, self.images, self.start = owner, images, start
        select: discord.ui.Select[ImagePicker] = discord.ui.Select(
            custom_id=f"easel:pickimage:{secrets.token_hex(6)}",
            placeholder=_("Pick a picture"),
            options=[
                discord.SelectOption(label=texts.image_option_label(i, att.filename), value=str(i))
                for i, att in enumerate(images)
            ],
        )
        select.callback = self._picked  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    @guarded
    async def _picked(self, interaction: discord.Interaction[EaselBot]) -> None:
        if interaction.user.id != self.owner:
            raise RequestError(_("This menu is someone else's."))
        index = int(self.select.values[0])
        await self.start(interaction, self.images[index])


class DrawThisModal(discord.ui.Modal):
    """The description as a prompt to edit, then queued like /draw."""

    def __init__(self, description: str, submit: Callable[[discord.Interaction[EaselBot], str, str], Awaitable[None]]):
        super().__init__(title=_("Draw this"), timeout=15 * 60, custom_id=f"easel:drawthismodal:{secrets.token_hex(6)}")
        self._submit = submit
        self.prompt: discord.ui.TextInput[DrawThisModal] = discord.ui.TextInput(
            label=_("Prompt"),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=description[:4000] or None,
            max_length=4000,
        )
        self.negative: discord.ui.TextInput[DrawThisModal] = discord.ui.TextInput(
            label=_("Negative prompt"),
            custom_id="negative_prompt",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=4000,
        )
        self.add_item(self.prompt)
        self.add_item(self.negative)

    @guarded
    async def on_submit(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        await self._submit(interaction, self.prompt.value, self.negative.value)


class ZoomModal(discord.ui.Modal):
    """A zoom factor and a changed prompt for one image's zoom out."""

    def __init__(self, job: Job, submit: Callable[[discord.Interaction[EaselBot], str, str], Awaitable[None]]):
        super().__init__(
            title=_("Custom zoom"), timeout=15 * 60, custom_id=f"easel:zoommodal:{job.id}:{secrets.token_hex(6)}"
        )
        self._submit = submit
        self.factor: discord.ui.TextInput[ZoomModal] = discord.ui.TextInput(
            label=_("Zoom out by (1.1 to 4)"), custom_id="factor", default="1.5", max_length=5
        )
        self.prompt: discord.ui.TextInput[ZoomModal] = discord.ui.TextInput(
            label=_("Prompt"),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:4000],
            max_length=4000,
        )
        self.add_item(self.factor)
        self.add_item(self.prompt)

    @guarded
    async def on_submit(self, interaction: discord.Interaction[EaselBot]) -> None:  # type: ignore[override]
        await self._submit(interaction, self.factor.value, self.prompt.value)


async def upscaler_autocomplete(
    interaction: discord.Interaction[EaselBot], current: str
) -> list[app_commands.Choice[str]]:
    names = interaction.client.catalog.search("upscaler", current)
    return [app_commands.Choice(name=name, value=name) for name in names if name != "None"][:25]


class Tools(commands.Cog, name=TOOLS_COG):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name="Upscale", callback=self.upscale_menu),
            app_commands.ContextMenu(name="Describe", callback=self.describe_menu),
        ]
        for menu in self.menus:
            menu.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
            menu.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
        self.upscale._params["factor"].max_value = bot.config.tools.max_upscale_factor

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    # ---- /upscale and Upscale ---------------------------------------------------------------

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="upscale", description=N_("Upscale any picture"))
    @app_commands.describe(
        image=N_("The picture to upscale (PNG, JPEG or WebP)"),
        factor=N_("How many times larger (1.5 to 4; default from the config)"),
        upscaler=N_("The upscaler (default from the config)"),
        face_fix=N_("Restore faces as well (GFPGAN or CodeFormer; not on SD.Next)"),
    )
    @app_commands.autocomplete(upscaler=upscaler_autocomplete)
    @app_commands.choices(face_fix=[app_commands.Choice(name=f.name, value=f.value) for f in FaceRestorer])
    async def upscale(
        self,
        interaction: discord.Interaction[EaselBot],
        image: discord.Attachment,
        factor: app_commands.Range[float, 1.5, 4.0] | None = None,
        upscaler: str | None = None,
        face_fix: str | None = None,
    ) -> None:
        if face_fix:
            self._need_a1111(_(texts.NO_FACE_FIX), can_restore_faces)
        await self._upscale(interaction, image, factor=factor, upscaler=upscaler, face_fix=face_fix or "")

    async def upscale_menu(self, interaction: discord.Interaction[EaselBot], message: discord.Message) -> None:
        await self._on_message(interaction, message, self._upscale)

    async def _upscale(
        self,
        interaction: discord.Interaction[EaselBot],
        image: discord.Attachment,
        *,
        factor: float | None = None,
        upscaler: str | None = None,
        face_fix: str = "",
    ) -> None:
        results, tools = self.bot.config.results, self.bot.config.tools
        factor = factor if factor is not None else min(max(results.upscale_factor, 1.5), tools.max_upscale_factor)
        name = (upscaler or results.upscaler).strip()
        known = self.bot.catalog.upscalers()
        if upscaler is not None and known and name not in known:
            raise RequestError(_("Unknown upscaler {name!r}: pick one from the list.").format(name=name))
        request = upscale_request(
            upscaler=name,
            factor=factor,
            source=f"attachment:{image.id}",
            spoiler=image.is_spoiler(),
            face_restore=face_fix,
        )
        ask = Ask(request=request, init_image=attachment_loader(interaction, image), sized=sized_upscale(tools))
        await admit(self.bot, interaction, ask)

    # ---- /describe and Describe -------------------------------------------------------------

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="describe", description=N_("Describe a picture as a prompt (private)"))
    @app_commands.describe(
        image=N_("The picture to describe (PNG, JPEG or WebP)"),
        model=N_("clip: a sentence (default); deepdanbooru: tags"),
    )
    @app_commands.choices(model=[app_commands.Choice(name=m.value, value=m.value) for m in Interrogator])
    async def describe(
        self,
        interaction: discord.Interaction[EaselBot],
        image: discord.Attachment,
        model: str | None = None,
    ) -> None:
        await self._describe(interaction, image, model=model)

    async def describe_menu(self, interaction: discord.Interaction[EaselBot], message: discord.Message) -> None:
        await self._on_message(interaction, message, self._describe)

    async def _describe(
        self, interaction: discord.Interaction[EaselBot], image: discord.Attachment, *, model: str | None = None
    ) -> None:
        self._need_a1111(_(texts.NO_DESCRIBER))
        request = describe_request(model or Interrogator.CLIP, source=f"attachment:{image.id}")
        await admit(self.bot, interaction, Ask(request=request, init_image=attachment_loader(interaction, image)))

    def _need_a1111(self, refusal: str, able: Callable[[Backend], bool] = can_describe) -> None:
        """Refuse when every backend is one that can't run the job (no interrogator; SD.Next: no Extras faces)."""
        backends = list(self.bot.queue.backends.values())
        if backends and not any(able(b) for b in backends):
            raise RequestError(refusal)

    async def _on_message(
        self, interaction: discord.Interaction[EaselBot], message: discord.Message, start: Start
    ) -> None:
        """A context menu on a message: its one picture at once, a select menu for several, a refusal for none."""
        images = usable_images(message.attachments, self.bot.config.tools.max_images)
        if not images:
            raise RequestError(_(texts.NO_IMAGE))
        if len(images) == 1:
            await start(interaction, images[0])
            return
        picker = ImagePicker(interaction.user.id, images, start)  # not persistent: it holds the attachments
        await interaction.response.send_message(texts.pick_image_text(len(images)), view=picker, ephemeral=True)

    # ---- buttons: zoom out, pan, Draw this ----------------------------------------------------

    async def tool(self, interaction: discord.Interaction[EaselBot], action: str, job_id: str, index: int) -> None:
        job = self.bot.queue.find(job_id) or await self.bot.store.get_job(job_id)
        if job is None:
            raise RequestError(_("That result is no longer known to Easel."))
        log.info("tool button %s on job %s (image %d) by user %s", action, job.id, index, interaction.user.id)
        if action == "drawthis":
            await self._draw_this(interaction, job)
            return
        cfg = self.bot.config
        if not may_use_result(
            interaction,
            job,
            "reroll",
            moderator_roles=cfg.discord.moderator_role_ids,
            anyone_can_use_buttons=cfg.results.anyone_can_use_buttons,
        ):
            raise RequestError(refusal_for("reroll"))
        if action == "pick":
            await reply(interaction, texts.choose_tool_text(index, job.id), view=outpaint_view(job, index))
        elif action == "zoomx":

            async def custom(inter: discord.Interaction[EaselBot], factor: str, prompt: str) -> None:
                try:
                    value = float(factor.replace(",", ".").strip().rstrip("x×"))
                except ValueError:
                    raise RequestError(_("The zoom factor must be a number such as 1.5.")) from None
                await self._outpaint(inter, job, index, zoom_op(value), prompt=prompt)

            await interaction.response.send_modal(ZoomModal(job, custom))
        else:
            await self._outpaint(interaction, job, index, _OPS[action])

    async def _image(self, job: Job, index: int) -> StoredImage:
        images = await self.bot.store.load_result(job.id)
        image = next((im for im in images if im.index == index), None)
        if image is None or not image.data:
            raise RequestError(_("The images of that result are no longer kept; draw it again instead."))
        return image

    async def _outpaint(
        self, interaction: discord.Interaction[EaselBot], job: Job, index: int, op: str, *, prompt: str | None = None
    ) -> None:
        if job.request.upscale or job.request.describe:
            raise RequestError(_("Only drawings can be zoomed out or panned."))
        image = await self._image(job, index)
        size = await image_size(image.data)
        request = outpaint_request(
            job.request, image.data, size, image.seed, op, self.bot.config, source=f"{job.id}:{index}"
        )
        if prompt is not None and prompt.strip():
            request = replace(request, prompt=prompt.strip())
        await admit(self.bot, interaction, Ask(request=request))

    async def _draw_this(self, interaction: discord.Interaction[EaselBot], job: Job) -> None:
        if interaction.user.id != job.user_id:
            raise RequestError(_(texts.DESCRIBE_ONLY_FOR_YOU))
        images = await self.bot.store.load_result(job.id)
        description = images[0].infotext if images else ""

        async def submit(inter: discord.Interaction[EaselBot], prompt: str, negative: str) -> None:
            opts = DrawOptions(prompt=prompt, negative_prompt=negative or None)
            await admit(self.bot, inter, Ask(options=opts))

        await interaction.response.send_modal(DrawThisModal(description, submit))


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Tools(bot))
