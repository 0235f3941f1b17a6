"""What users do with a result: Reroll, Vary, Remix, Upscale, Info, Delete; Cancel while it runs; Show original
under a result the image check blurred; and the "Image info" message context menu with "Draw this again".

The buttons and the Remix modal are in :mod:`cogs.utils.views`; they call :meth:`Results.handle` and
:meth:`Results.draw_again`. What those raise is answered by :mod:`cogs.utils.errors` (a refusal as its message,
anything else with an error id).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.enqueue import admit
from cogs.utils.permissions import may_use_result, moderates, refusal_for
from cogs.utils.presets import save_preset_view
from cogs.utils.publisher import DEFAULT_UPLOAD_LIMIT, UPLOAD_MARGIN, flagged_images, split_for_upload
from cogs.utils.replies import reply
from cogs.utils.views import DYNAMIC_ITEMS, RESULTS_COG, RemixModal, again_view
from easel.admission import Ask
from easel.errors import RequestError
from easel.i18n import N_, _
from easel.images import fit_for_upload
from easel.infotext import parse_infotext_async, read_parameters
from easel.jobs import Job, StoredImage
from easel.options import wrap_seed
from easel.request import DrawRequest, options_from_infotext
from easel.texts.results import controls_line, image_info_section, info_sections

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

# What one "Image info" (or "Draw this again") may download from a message that isn't Easel's: the first few PNGs,
# and not more bytes in all than this. The PNG text is read in a worker thread.
MAX_INFO_ATTACHMENTS = 4
MAX_INFO_BYTES = 20 * 1024 * 1024

# Discord's embed limits: 6000 characters over all embeds of one message (titles included), 10 embeds.
EMBED_TOTAL_LIMIT = 6000
INFO_IMAGES_PER_MESSAGE = 4

_JOB_MARKER = re.compile(r"`([a-z0-9]{4,16})`")  # the job id in a result message's text


def info_messages(job: Job, images: Sequence[StoredImage]) -> list[list[discord.Embed]]:
    """The Info embeds, a few images per message so each message stays within Discord's 6000 characters; the last
    of each message says the LoRAs, the face fix and the preset in its footer."""
    messages: list[list[discord.Embed]] = []
    controls = controls_line(job.request)
    for start in range(0, len(images), INFO_IMAGES_PER_MESSAGE):
        group = list(images[start : start + INFO_IMAGES_PER_MESSAGE])
        budget = EMBED_TOTAL_LIMIT - 400
        while True:
            embeds = [
                discord.Embed(title=title, description=body, colour=discord.Colour.blurple())
                for title, body in info_sections(job, group, budget)
            ]
            if controls and embeds:  # the LoRAs, face fix and preset, which the infotext doesn't name plainly
                embeds[-1].set_footer(text=controls)
            if sum(len(e) for e in embeds) <= EMBED_TOTAL_LIMIT or budget <= 400:
                break
            budget -= 400
        messages.append(embeds)
    return messages


class Results(commands.Cog, name=RESULTS_COG):
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=N_("Image info"), callback=self.image_info)
        self.menu.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
        self.menu.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    # ---- buttons ----------------------------------------------------------------------------

    def _may_use(self, interaction: discord.Interaction[EaselBot], job: Job, action: str) -> bool:
        return may_use_result(
            interaction,
            job,
            action,
            moderator_roles=self.bot.config.discord.moderator_role_ids,
            anyone_can_use_buttons=self.bot.config.results.anyone_can_use_buttons,
        )

    async def handle(self, interaction: discord.Interaction[EaselBot], action: str, job_id: str, index: int) -> None:
        job = self.bot.queue.find(job_id) or await self.bot.store.get_job(job_id)
        if job is None:
            raise RequestError(_("That result is no longer known to Easel."))
        if action == "original":  # the requester alone, whatever anyone_can_use_buttons says
            if interaction.user.id != job.user_id:
                raise RequestError(refusal_for(action))
            log.info("button original on job %s by user %s", job.id, interaction.user.id)
            await self.send_originals(interaction, job)
            return
        if not self._may_use(interaction, job, action):
            raise RequestError(refusal_for(action))
        log.info("button %s on job %s (image %d) by user %s", action, job.id, index, interaction.user.id)
        if action == "cancel":
            moderator = moderates(interaction, job, self.bot.config.discord.moderator_role_ids)
            result = await self.bot.queue.cancel(job.id, interaction.user.id, moderator=moderator)
            await reply(interaction, result.message if result.ok else _("That job is already finished."))
        elif action == "delete":
            # The button sits on the first message; a result split over several messages goes as a whole.
            await interaction.response.defer()
            clicked = interaction.message.id if interaction.message is not None else None
            failed: list[int] = []
            for part in await self.bot.store.result_parts(job.id):
                if part.message_id == clicked:
                    continue
                status = await self._delete_part(job, part.message_id, part.channel_id, part.via)
                if status is not None:
                    failed.append(status)
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as exc:
                failed.insert(0, exc.status)
            if failed:
                await reply(
                    interaction,
                    _("Couldn't delete {n} of the result's messages ({status}).").format(
                        n=len(failed), status=failed[0]
                    ),
                )
        elif action == "info":
            await self.show_info(interaction, job, view=save_preset_view(job))
        elif action == "remix":
            await interaction.response.send_modal(RemixModal(job, self._remix))
        elif action == "reroll":
            await self.submit_derived(interaction, job, seed=-1)
        elif action == "vary":
            await self.vary(interaction, job, index)
        elif action == "upscale":
            await self.upscale(interaction, job, index)

    async def _delete_part(self, job: Job, message_id: int, channel_id: int | None, via: str) -> int | None:
        """Delete one more message of a result (through the interaction webhook for a followup, as long as its
        token lives; else in the channel). None when it is gone (404 too); else the status Discord answered."""
        status = 0
        if via == "followup" and job.reply is not None and job.reply.valid():
            webhook = discord.Webhook.partial(job.reply.application_id, job.reply.token, client=self.bot)
            try:
                await webhook.delete_message(message_id)
                return None
            except discord.NotFound:
                return None
            except discord.HTTPException as exc:
                status = exc.status
        if channel_id is None:
            return status or 404
        try:
            await self.bot.get_partial_messageable(channel_id).get_partial_message(message_id).delete()
        except discord.NotFound:
            return None
        except discord.HTTPException as exc:
            log.info("job %s: couldn't delete message %s (%s %s)", job.id, message_id, exc.status, exc.code)
            return exc.status
        return None

    async def send_originals(self, interaction: discord.Interaction[EaselBot], job: Job) -> None:
        """The originals of a result's blurred images, privately (from the store, so after a restart too): the
        images the image check flags now (every image when the check is unavailable)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        images = [im for im in await self.bot.store.load_result(job.id) if im.data]
        if not images:
            raise RequestError(_("The images of that result are no longer kept; draw it again instead."))
        clf = self.bot.classifier
        if clf is not None:
            flagged = await flagged_images(clf, images)
            images = [im for im in images if im.index in flagged] or images
        limit = DEFAULT_UPLOAD_LIMIT - UPLOAD_MARGIN  # an ephemeral followup: the default limit, not the server's
        fitted = await fit_for_upload([(im.data, im.infotext) for im in images], limit)
        groups = split_for_upload([len(data) for data, _ in fitted], limit)
        for n, group in enumerate(groups):
            files = [
                discord.File(io.BytesIO(fitted[i][0]), filename=f"easel-{job.id}-{images[i].index + 1}.{fitted[i][1]}")
                for i in group
            ]
            text = _("The original of `{job}`, for you only.").format(job=job.id) if n == 0 else None
            if n == 0:
                await interaction.edit_original_response(content=text, attachments=files)
            else:
                await interaction.followup.send(files=files, ephemeral=True)

    async def _remix(self, interaction: discord.Interaction[EaselBot], job: Job, prompt: str, negative: str) -> None:
        await self.submit_derived(interaction, job, prompt=prompt, negative_prompt=negative)

    async def _image(self, job: Job, index: int) -> StoredImage:
        images = await self.bot.store.load_result(job.id)
        image = next((im for im in images if im.index == index), None)
        if image is None or not image.data:
            raise RequestError(_("The images of that result are no longer kept; draw it again instead."))
        return image

    async def submit_derived(self, interaction: discord.Interaction[EaselBot], job: Job, **changes: Any) -> None:
        """A new job from a stored one with some options changed, checked like a new /draw."""
        await admit(self.bot, interaction, Ask.derived(job.request, f"{job.id}:0", **changes))

    async def vary(self, interaction: discord.Interaction[EaselBot], job: Job, index: int) -> None:
        images = await self.bot.store.load_result(job.id)
        seed = next((im.seed for im in images if im.index == index), None)
        if seed is None:
            raise RequestError(_("That image is not part of the result."))
        strength = self.bot.config.results.vary_strength
        ask = Ask.derived(job.request, f"{job.id}:{index}", seed=wrap_seed(seed), subseed=-1, subseed_strength=strength)
        await admit(self.bot, interaction, ask)

    async def upscale(self, interaction: discord.Interaction[EaselBot], job: Job, index: int) -> None:
        image = await self._image(job, index)
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
        await admit(self.bot, interaction, Ask(request=request))

    async def show_info(
        self, interaction: discord.Interaction[EaselBot], job: Job, *, view: discord.ui.View | None = None
    ) -> bool:
        """The Info embeds of a job's stored result, privately (several messages for many images). False: none."""
        images = await self.bot.store.load_result(job.id)
        if not images:
            return False
        messages = info_messages(job, images)
        await reply(interaction, embeds=messages[0], view=view)
        for embeds in messages[1:]:
            await interaction.followup.send(embeds=embeds, ephemeral=True)
        return True

    # ---- context menu -----------------------------------------------------------------------

    async def _job_of(self, message: discord.Message) -> Job | None:
        """The job a message of Easel's shows: by its recorded message id, else (a result split over several
        messages, or not yet recorded) by the job id in its text."""
        job = await self.bot.store.job_by_message(message.id)
        if job is not None or not self._is_mine(message):
            return job
        found = _JOB_MARKER.search(message.content)
        if found is None:
            return None
        return self.bot.queue.find(found[1]) or await self.bot.store.get_job(found[1])

    def _is_mine(self, message: discord.Message) -> bool:
        return self.bot.user is not None and message.author.id == self.bot.user.id

    async def image_info(self, interaction: discord.Interaction[EaselBot], message: discord.Message) -> None:
        job = await self._job_of(message)
        view = again_view(message.channel.id, message.id)
        if job is not None and await self.show_info(interaction, job, view=view):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        infotext = await self._infotext_of(message)
        if infotext is None:
            raise RequestError(_("No generation info found in this message's images."))
        title, body = image_info_section(infotext)
        embed = discord.Embed(title=title, description=body, colour=discord.Colour.blurple())
        await interaction.edit_original_response(embed=embed, view=view)
        view.stop()

    async def _infotext_of(self, message: discord.Message) -> str | None:
        """The ``parameters`` text of the first PNG attachment that has one. Downloads at most
        ``MAX_INFO_ATTACHMENTS`` files and ``MAX_INFO_BYTES`` in all."""
        pngs = [
            att
            for att in message.attachments
            if (att.content_type or "").startswith("image/png") or att.filename.lower().endswith(".png")
        ]
        budget = MAX_INFO_BYTES
        for att in pngs[:MAX_INFO_ATTACHMENTS]:
            if att.size > budget:
                log.info("image info: skipped attachment %s (%d bytes, %d left to read)", att.id, att.size, budget)
                continue
            budget -= att.size
            try:
                data = await att.read()
            except discord.HTTPException as exc:
                log.info("image info: can't download attachment %s: %s", att.id, exc)
                continue
            text = await read_parameters(data)
            if text:
                return text
        return None

    async def draw_again(self, interaction: discord.Interaction[EaselBot], channel_id: int, message_id: int) -> None:
        job = await self.bot.store.job_by_message(message_id)
        message: discord.Message | None = None
        if job is None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                channel = self.bot.get_partial_messageable(channel_id)
                message = await channel.fetch_message(message_id)
            except discord.HTTPException as exc:
                raise RequestError(_("Easel can't read that message any more.")) from exc
            job = await self._job_of(message)
            if job is None and self._is_mine(message):
                # An Easel result whose job is no longer kept: still its requester's (the one it mentions).
                anyone = self.bot.config.results.anyone_can_use_buttons
                if interaction.user.id not in message.raw_mentions and not anyone:
                    raise RequestError(refusal_for("reroll"))
        if job is not None:
            # An Easel result: the same rule as its Reroll button.
            if not self._may_use(interaction, job, "reroll"):
                raise RequestError(refusal_for("reroll"))
            images = await self.bot.store.load_result(job.id)
            await self.submit_derived(interaction, job, seed=images[0].seed if images else job.request.seed)
            return
        assert message is not None
        infotext = await self._infotext_of(message)
        if infotext is None:
            raise RequestError(_("No generation info found in that message's images."))
        opts = options_from_infotext(await parse_infotext_async(infotext))
        if opts.model and self.bot.catalog.known and self.bot.catalog.resolve_model(opts.model) is None:
            opts = replace(opts, model=None)  # not on our backends: draw with the default model
        await admit(self.bot, interaction, Ask(options=opts))


async def setup(bot: EaselBot) -> None:
    await bot.add_cog(Results(bot))
