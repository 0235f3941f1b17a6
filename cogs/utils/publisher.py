"""The Discord side of the queue: edits the requester's queued reply and posts results.

- The first answer to /draw is ephemeral and follows the job (position, started, progress, done, failed),
  edited through the interaction webhook while its 15-minute token is valid; never after.
- The result is one channel message with every image, mentioning only the requester. It carries the job's
  nonce with ``enforce_nonce``, so posting again after a crash returns the same message: exactly once.
- Where the bot can't post in the channel (a DM or a user-installed app), the interaction followup is used.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

import discord

from cogs.utils.views import cancel_view, result_view
from easel.images import fit_for_upload
from easel.jobs import Job, StoredImage
from easel.texts import results as texts

if TYPE_CHECKING:
    from bot import EaselBot

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
# Room for the multipart envelope and payload_json beside the files.
UPLOAD_MARGIN = 64 * 1024


def mention_only(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False)


def split_for_upload(sizes: list[int], limit: int, per_message: int = 10) -> list[list[int]]:
    """Group image indexes into messages whose total size stays under ``limit``."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, size in enumerate(sizes):
        if current and (total + size > limit or len(current) >= per_message):
            groups.append(current)
            current, total = [], 0
        current.append(i)
        total += size
    if current:
        groups.append(current)
    return groups


class DiscordPublisher:
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        self._acked: dict[str, asyncio.Event] = {}
        self._last_progress: dict[str, float] = {}
        self._edit_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # The cog calls expect() before submitting and acked() once the first answer is sent, so that an
    # edit of that answer never races ahead of it.
    def expect(self, job_id: str) -> None:
        self._acked[job_id] = asyncio.Event()

    def acked(self, job_id: str) -> None:
        event = self._acked.get(job_id)
        if event is not None:
            event.set()

    async def _edit_reply(
        self,
        job: Job,
        content: str,
        *,
        running: bool = False,
        preview: bytes | None = None,
    ) -> None:
        """Edit the requester's ephemeral reply. ``running``: keep the Cancel button; ``preview``: attach it."""
        # One job's edits go out in the order they were asked for (the lock is FIFO and taken before any await),
        # so a slow "started" never lands after "done".
        lock = self._edit_locks.get(job.id)
        if lock is None:
            lock = self._edit_locks[job.id] = asyncio.Lock()
        async with lock:
            await self._edit_reply_now(job, content, running=running, preview=preview)

    async def _edit_reply_now(self, job: Job, content: str, *, running: bool, preview: bytes | None) -> None:
        reply = job.reply
        if reply is None or not reply.valid():
            return
        event = self._acked.get(job.id)
        if event is not None and not event.is_set():
            try:
                async with asyncio.timeout(5):
                    await event.wait()
            except TimeoutError:
                return
        webhook = discord.Webhook.partial(reply.application_id, reply.token, client=self.bot)
        kwargs: dict[str, Any] = {
            "content": content,
            "allowed_mentions": discord.AllowedMentions.none(),
            "view": cancel_view(job) if running else None,
        }
        if preview is not None:
            kwargs["attachments"] = [discord.File(io.BytesIO(preview), filename=f"preview-{job.id}.png")]
        elif not running:
            kwargs["attachments"] = []
        try:
            await webhook.edit_message("@original", **kwargs)  # type: ignore[arg-type]
            if kwargs["view"] is not None:
                # Its button is a registered DynamicItem: discord.py needn't keep the view (and a 15-minute
                # timeout task) alive for it.
                kwargs["view"].stop()
        except discord.HTTPException as exc:
            if exc.status == 401 or exc.code == 50027:
                # The token expired (or was revoked) early: stop using it, never retry in a loop.
                job.reply = None
            # 404: the user dismissed the ephemeral message; nothing to do.
            log.info("job %s: could not edit the queued reply (%s %s)", job.id, exc.status, exc.code)

    # ---- Publisher protocol -----------------------------------------------------------------

    async def queued(self, job: Job, position: int, eta: float | None) -> None:
        down = self.bot.queue.all_down
        await self._edit_reply(job, texts.queued_text(job, position, eta, backends_down=down), running=True)

    async def started(self, job: Job, backend: str) -> None:
        await self._edit_reply(job, texts.started_text(job, backend), running=True)

    async def progress(self, job: Job, fraction: float, eta: float | None, preview: bytes | None) -> None:
        interval = self.bot.config.queue.status_interval
        if interval <= 0:
            return
        now = time.monotonic()
        if now - self._last_progress.get(job.id, 0.0) < interval:
            return
        self._last_progress[job.id] = now
        if not self.bot.config.results.progress_previews or job.request.spoiler:
            preview = None
        text = texts.progress_text(job, job.backend or "?", fraction, eta)
        await self._edit_reply(job, text, running=True, preview=preview)

    async def failed(self, job: Job, message: str) -> None:
        self._forget(job)
        text = texts.failed_text(job, message)
        if job.reply is not None and job.reply.valid():
            await self._edit_reply(job, text)
            return
        # The interaction token has expired: tell the requester in the channel, pinging only them.
        await self._channel_notice(job, f"<@{job.user_id}> {text}")

    async def cancelled(self, job: Job) -> None:
        self._forget(job)
        await self._edit_reply(job, texts.cancelled_text(job))

    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        await self.bot.wait_until_ready()
        if recovered:
            existing = await self._find_posted(job)
            if existing is not None:
                log.info("job %s: result was already posted (message %s)", job.id, existing)
                self._forget(job)
                return existing
        limit = self._upload_limit(job) - UPLOAD_MARGIN
        fitted = await fit_for_upload([(im.data, im.infotext) for im in images], limit)
        groups = split_for_upload([len(data) for data, _ in fitted], limit)
        if len(groups) > 1 or any(ext != "png" for _, ext in fitted):
            log.info(
                "job %s: %d image(s) re-encoded/split into %d messages to fit %d bytes",
                job.id,
                len(images),
                len(groups),
                limit,
            )
        content = texts.result_summary(job, images)
        first_id: int | None = None
        for n, group in enumerate(groups):
            files = [self._file(job, images[i], *fitted[i]) for i in group]
            text = content if n == 0 else f"`{job.id}` ({n + 1}/{len(groups)})"
            view = result_view(job, len(images)) if n == 0 else None
            nonce = job.nonce if n == 0 else f"{job.nonce}-{n}"
            message = await self._post(job, text, files, nonce=nonce, view=view)
            if first_id is None and message is not None:
                first_id = message.id
        self._forget(job)
        jump = f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{first_id}" if first_id else ""
        await self._edit_reply(job, texts.done_text(job) + (f" {jump}" if jump else ""))
        return first_id

    # ---- helpers ----------------------------------------------------------------------------

    def _forget(self, job: Job) -> None:
        self._last_progress.pop(job.id, None)
        self._acked.pop(job.id, None)

    def _upload_limit(self, job: Job) -> int:
        if job.guild_id is not None:
            guild = self.bot.get_guild(job.guild_id)
            if guild is not None:
                return guild.filesize_limit
        return DEFAULT_UPLOAD_LIMIT

    @staticmethod
    def _file(job: Job, image: StoredImage, data: bytes, ext: str) -> discord.File:
        kind = "upscaled" if job.request.upscale else "easel"
        name = f"{kind}-{job.id}-{image.index + 1}.{ext}"
        return discord.File(io.BytesIO(data), filename=name, spoiler=job.request.spoiler)

    async def _post(
        self,
        job: Job,
        content: str,
        files: list[discord.File],
        *,
        nonce: str,
        view: discord.ui.View | None,
    ) -> discord.Message | None:
        """Post in the channel (idempotent by nonce); where the bot can't (DMs of a user-installed app, a server
        it isn't in), use the interaction followup while its token lives, else a DM to the requester."""
        allowed = mention_only(job.user_id)
        extra: dict[str, Any] = {} if view is None else {"view": view}
        reply_valid = job.reply is not None and job.reply.valid()
        if job.guild_id is not None or not reply_valid:
            channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
            try:
                return await channel.send(content, files=files, nonce=nonce, allowed_mentions=allowed, **extra)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("job %s: can't post in channel %s (%s)", job.id, job.channel_id, exc.status)
                for f in files:
                    f.reset()
        if job.reply is not None and job.reply.valid():
            webhook = discord.Webhook.partial(job.reply.application_id, job.reply.token, client=self.bot)
            try:
                return await webhook.send(content, files=files, allowed_mentions=allowed, wait=True, **extra)
            except discord.HTTPException as exc:
                log.info("job %s: followup failed (%s %s); trying a DM", job.id, exc.status, exc.code)
                for f in files:
                    f.reset()
        user = await self.bot.fetch_user(job.user_id)
        return await user.send(content, files=files, allowed_mentions=allowed, **extra)

    async def _find_posted(self, job: Job) -> int | None:
        """After a crash between posting and recording it: look for the result among recent messages.

        Discord's nonce dedupe covers a few minutes; this covers a longer outage (needs Read Message History).
        """
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        marker = f"`{job.id}`"
        me = self.bot.user.id if self.bot.user else None
        try:
            async for message in channel.history(limit=50):
                if message.author.id == me and marker in message.content:
                    return message.id
        except discord.HTTPException as exc:
            log.info("job %s: can't read channel history (%s); relying on the nonce", job.id, exc.status)
        return None

    async def _channel_notice(self, job: Job, content: str) -> None:
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            await channel.send(content, allowed_mentions=mention_only(job.user_id))
        except discord.HTTPException as exc:
            log.warning("job %s: could not tell user %s in channel %s: %s", job.id, job.user_id, job.channel_id, exc)
