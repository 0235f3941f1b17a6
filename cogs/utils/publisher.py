"""The Discord side of the queue: edits the requester's queued reply and posts results.

- The first answer to /draw is ephemeral and follows the job (position, started, progress, done, failed),
  edited through the interaction webhook while its 15-minute token is valid; never after.
- The result is one channel message per group of images that fits the upload limit, mentioning only the
  requester; a result too large for one message is split into parts (the buttons sit on the first). Each part
  carries its own nonce (the job's, then ``<nonce>-<n>``) with ``enforce_nonce``, so posting it again returns the
  same message while Discord remembers the nonce (a few minutes).
- Each part is recorded in the store (``Store.add_result_part``) as soon as Discord accepts it. A retry or the
  recovery after a crash posts only the parts not recorded; a part posted but not recorded is found by its nonce,
  or in the channel's recent history (longer outages; needs Read Message History). Delete removes every part.
- Where the bot can't post in the channel (a DM or a user-installed app), the interaction followup is used while
  its token lives, else a DM to the requester (a channel message: it carries the part's nonce too).
- Followups can't carry a nonce (Discord's execute-webhook body has no such field), so a followup part is
  exactly-once only once recorded. The window left: a crash after Discord accepted a followup and before Easel
  recorded it (one store write) posts that part again at the next start.
- The image check (``job.request.nsfw_check``, decided at admission; skipped without a classifier): every image is
  classified before posting (in worker threads); one that can't be checked counts as flagged. ``spoiler``: flagged
  images go behind a spoiler, with a note; ``blur``: a blurred copy is posted (no PNG text) with a "Show original"
  button for the requester; ``refuse``: flagged images are left out (nothing is posted when all are) and the
  requester is told privately.
- Transient failures (5xx, a 429 discord.py does not wait out, the network, timeouts, the store busy) are raised
  as ``easel.queue.TransientDeliveryError``: the queue retries them for a long while; anything else is permanent.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from PIL import Image, ImageFilter

from cogs.utils.views import cancel_view, describe_view, result_view
from easel.config import NsfwCheck
from easel.i18n import _, use_locale
from easel.images import fit_for_upload
from easel.jobs import Job, StoredImage
from easel.metrics import METRICS
from easel.queue import TransientDeliveryError
from easel.safety import AdminNotice, NoticeKind, Notices
from easel.safety.images import Classifier
from easel.store import StoreError
from easel.texts import results as texts
from easel.texts import tools as tool_texts

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


async def flagged_images(clf: Classifier, images: list[StoredImage]) -> set[int]:
    """The indexes of the images the image check flags. One it can't check (unreadable, the model failing, any
    error) counts as flagged: a result is never posted unchecked as if it had passed."""
    flagged: set[int] = set()
    for im in images:  # one at a time: the classifier already bounds its worker threads
        try:
            verdict = await clf.classify(im.data)
        except Exception as exc:
            log.warning(
                "image check: image %d could not be checked (%s: %s): treated as flagged",
                im.index,
                type(exc).__name__,
                exc,
            )
            flagged.add(im.index)
            continue
        if verdict.flagged:
            log.info("image check: image %d flagged (%s)", im.index, verdict.labels)
            flagged.add(im.index)
    return flagged


def _blur_sync(data: bytes) -> bytes:
    """A heavily blurred PNG of ``data``, same size, without any PNG text (no infotext). An image that can't be
    decoded becomes a plain grey square."""
    try:
        with Image.open(io.BytesIO(data)) as src:
            im = src.convert("RGB")
    except Exception:
        im = Image.new("RGB", (256, 256), (128, 128, 128))
    w, h = im.size
    small = im.resize((max(1, w // 32), max(1, h // 32)), Image.Resampling.BOX)
    out = small.resize((w, h), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(max(4, max(w, h) // 64)))
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


async def blurred_preview(data: bytes) -> bytes:
    """:func:`_blur_sync` in a worker thread."""
    return await asyncio.to_thread(_blur_sync, data)


class DiscordPublisher:
    def __init__(self, bot: EaselBot) -> None:
        self.bot = bot
        self._acked: dict[str, asyncio.Event] = {}
        self._last_progress: dict[str, float] = {}
        self._edit_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._flags_reported: dict[str, None] = {}  # jobs whose flagged images were counted and told (bounded)
        self.notices = Notices(bot.notifier)

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
        with use_locale(job.locale):  # the requester's private answer: their language
            text = texts.queued_text(job, position, eta, backends_down=down)
        await self._edit_reply(job, text, running=True)

    async def started(self, job: Job, backend: str) -> None:
        with use_locale(job.locale):
            text = texts.started_text(job, backend)
        await self._edit_reply(job, text, running=True)

    async def progress(
        self, job: Job, fraction: float, eta: float | None, preview: bytes | None, *, waiting: int | None = None
    ) -> None:
        interval = self.bot.config.queue.status_interval
        if interval <= 0:
            return
        now = time.monotonic()
        if now - self._last_progress.get(job.id, 0.0) < interval:
            return
        self._last_progress[job.id] = now
        if not self.bot.config.results.progress_previews or job.request.spoiler:
            preview = None
        with use_locale(job.locale):
            text = texts.progress_text(job, job.backend or "?", fraction, eta, waiting=waiting)
        await self._edit_reply(job, text, running=True, preview=preview)

    async def failed(self, job: Job, message: str) -> None:
        self._forget(job)
        with use_locale(job.locale):
            text = texts.failed_text(job, _(message))  # a message stored in English is looked up here
        if job.reply is not None and job.reply.valid():
            await self._edit_reply(job, text)
            if job.reply is not None:
                return
            # The token turned out dead (401): tell them in the channel instead.
        # The interaction token has expired: tell the requester in the channel, pinging only them.
        await self._channel_notice(job, f"<@{job.user_id}> {text}")

    async def cancelled(self, job: Job) -> None:
        self._forget(job)
        with use_locale(job.locale):
            text = texts.cancelled_text(job)
        await self._edit_reply(job, text)

    async def deliver(self, job: Job, images: list[StoredImage], *, recovered: bool = False) -> int | None:
        """Post the result, part by part, recording each part in the store as soon as Discord accepts it; a part
        already recorded (an earlier attempt, or the run before a crash) is not posted again. Returns the first
        part's message id. A transient Discord failure (5xx, a 429 discord.py does not wait out, a connection
        error or timeout, the store busy) is raised as ``TransientDeliveryError``: the queue keeps retrying."""
        try:
            with use_locale(job.public_locale):  # the public result: the server's language
                return await self._deliver(job, images, recovered=recovered)
        except TransientDeliveryError:
            raise
        except Exception as exc:
            if _transient(exc):
                raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
            raise

    async def _deliver(self, job: Job, images: list[StoredImage], *, recovered: bool) -> int | None:
        # No wait for the gateway's READY: posting needs only REST and the channel id (the bot's user is known from
        # the REST login; before READY the server's upload limit is fetched, see _upload_limit).
        posted = {p.part: p.message_id for p in await self.bot.store.result_parts(job.id)}
        if job.request.describe:
            return await self._deliver_text(job, images, posted)
        mode = job.request.nsfw_check
        clf = self.bot.classifier
        flagged = await flagged_images(clf, images) if mode is not NsfwCheck.OFF and clf is not None else set()
        shown = images
        payloads = [(im.data, im.infotext) for im in images]
        spoilers = [job.request.spoiler] * len(images)
        note = ""
        if flagged and mode is NsfwCheck.REFUSE:
            shown = [im for im in images if im.index not in flagged]
            payloads = [(im.data, im.infotext) for im in shown]
            spoilers = [job.request.spoiler] * len(shown)
        elif flagged and mode is NsfwCheck.SPOILER:
            spoilers = [job.request.spoiler or im.index in flagged for im in images]
            note = texts.flagged_spoiler_note(len(flagged))
        elif flagged and mode is NsfwCheck.BLUR:
            payloads = [
                ((await blurred_preview(im.data)), "") if im.index in flagged else (im.data, im.infotext)
                for im in images
            ]
            note = texts.flagged_blur_note(len(flagged))
        if flagged:
            self._report_flagged(job, mode, len(flagged))
        if not shown:  # refuse, all flagged: nothing is posted, the requester is told privately
            self._forget(job)
            log.info("job %s: all %d image(s) withheld by the image check", job.id, len(images))
            with use_locale(job.locale):
                await self._tell_privately(job, texts.all_withheld_text(job))
            return None
        limit = await self._upload_limit(job) - UPLOAD_MARGIN
        fitted = await fit_for_upload(payloads, limit)
        groups = split_for_upload([len(data) for data, _ in fitted], limit)
        reencoded = sum(1 for (data, _), (raw, _) in zip(fitted, payloads, strict=True) if data != raw)
        if len(groups) > 1 or reencoded:
            log.info(
                "job %s: %d of %d image(s) re-encoded, split into %d message(s) to fit %d bytes",
                job.id,
                reencoded,
                len(shown),
                len(groups),
                limit,
            )
        if recovered and len(posted) < len(groups):
            # Posted but not recorded (a crash in between, or a result posted by an Easel before parts were
            # recorded): the nonce covers a few minutes, the channel's history a longer outage.
            for part, message_id in (await self._find_posted(job)).items():
                if part not in posted and part < len(groups):
                    log.info("job %s: part %d was already posted (message %s)", job.id, part + 1, message_id)
                    await self._record(job, part, message_id, job.channel_id, "channel")
                    posted[part] = message_id
        content = texts.result_summary(job, shown)
        if note:
            content = f"{content}\n{note}"
        blurred = mode is NsfwCheck.BLUR and bool(flagged)
        for n, group in enumerate(groups):
            if n in posted:
                continue
            files = [
                self._file(
                    job, shown[i], *fitted[i], spoiler=spoilers[i], blurred=blurred and shown[i].index in flagged
                )
                for i in group
            ]
            text = content if n == 0 else f"`{job.id}` ({n + 1}/{len(groups)})"
            view = result_view(job, [im.index for im in shown], original=blurred) if n == 0 else None
            nonce = job.nonce if n == 0 else f"{job.nonce}-{n}"
            message, via = await self._post(job, text, files, nonce=nonce, view=view)
            await self._record(job, n, message.id, message.channel.id, via)
            posted[n] = message.id
        first_id = posted.get(0)
        self._forget(job)
        jump = f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{first_id}" if first_id else ""
        with use_locale(job.locale):  # back to the requester's language for their private answer
            done = texts.done_with_link(job, jump)
            if flagged and mode is NsfwCheck.REFUSE:
                await self._tell_privately(job, f"{done}\n{texts.withheld_text(len(flagged), len(images))}")
            else:
                await self._edit_reply(job, done)
        return first_id

    async def _deliver_text(self, job: Job, images: list[StoredImage], posted: dict[int, int]) -> int | None:
        """A text result (/describe): to the requester alone, as an ephemeral followup while the interaction token
        lives, else a DM; with Draw this, and the picture's own parameters beside when it had some. Recorded as
        part 0 once sent, so it is sent once."""
        if 0 in posted:
            return posted[0]
        description = images[0].infotext if images else ""
        original = images[1].infotext if len(images) > 1 else ""
        content = tool_texts.describe_result(job, description)
        embeds = []
        if original:
            title, body = tool_texts.original_section(original)
            embeds.append(discord.Embed(title=title, description=body, colour=discord.Colour.blurple()))
        view = describe_view(job)
        message: discord.Message | None = None
        via = "followup"
        if job.reply is not None and job.reply.valid():
            webhook = discord.Webhook.partial(job.reply.application_id, job.reply.token, client=self.bot)
            webhook.type = discord.WebhookType.application  # the interaction's own webhook: ephemeral followups
            try:
                message = await webhook.send(
                    content,
                    embeds=embeds,
                    view=view,
                    ephemeral=True,
                    wait=True,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except discord.HTTPException as exc:
                if _transient(exc):
                    raise
                if exc.status == 401 or exc.code == 50027:
                    job.reply = None
                log.info("job %s: private followup failed (%s %s); trying a DM", job.id, exc.status, exc.code)
        if message is None:
            via = "dm"
            user = await self.bot.fetch_user(job.user_id)
            message = await user.send(
                content, embeds=embeds, view=view, nonce=job.nonce, allowed_mentions=discord.AllowedMentions.none()
            )
        view.stop()
        await self._record(job, 0, message.id, message.channel.id if via == "dm" else None, via)
        self._forget(job)
        await self._edit_reply(job, tool_texts.describe_done_text(job))
        return message.id

    async def _tell_privately(self, job: Job, text: str) -> None:
        """Tell the requester alone: an edit of their queued reply while its token lives, else a DM."""
        if job.reply is not None and job.reply.valid():
            await self._edit_reply(job, text)
            if job.reply is not None:
                return
        try:
            user = await self.bot.fetch_user(job.user_id)
            await user.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("job %s: could not tell user %s privately (%s %s)", job.id, job.user_id, exc.status, exc.code)

    async def _record(self, job: Job, part: int, message_id: int, channel_id: int | None, via: str) -> None:
        """Record a posted part at once. If the store stays busy the post stands all the same (a channel part is
        then found again by its nonce or in the history; a followup part may be posted twice after a crash)."""
        for delay in (0.25, 0.5, None):
            try:
                await self.bot.store.add_result_part(job.id, part, message_id, channel_id=channel_id, via=via)
                return
            except StoreError as exc:
                if delay is None:
                    log.warning("job %s: could not record part %d (message %s): %s", job.id, part, message_id, exc)
                    return
                await asyncio.sleep(delay)

    # ---- helpers ----------------------------------------------------------------------------

    def _report_flagged(self, job: Job, mode: NsfwCheck, count: int) -> None:
        """Count flagged images in /metrics and tell the server's log channel, once per job (a retried delivery
        doesn't report again); the notice goes out in the background, the post doesn't wait for it."""
        if job.id in self._flags_reported:
            return
        self._flags_reported[job.id] = None
        if len(self._flags_reported) > 10_000:
            del self._flags_reported[next(iter(self._flags_reported))]
        rule = f"nsfw_{mode.value}"
        for _n in range(count):
            METRICS.count_refusal(rule)
        self.notices.send(
            job.guild_id, AdminNotice(NoticeKind.IMAGE_FLAGGED, rule, job.user_id, job.channel_id, job_id=job.id)
        )

    def _forget(self, job: Job) -> None:
        self._last_progress.pop(job.id, None)
        self._acked.pop(job.id, None)

    async def _upload_limit(self, job: Job) -> int:
        if job.guild_id is not None:
            guild: discord.Guild | None = self.bot.get_guild(job.guild_id)
            if guild is None and not self.bot.is_ready():
                # Before READY nothing is cached yet: the server's upload limit (its boost tier) comes over REST.
                try:
                    guild = await self.bot.fetch_guild(job.guild_id, with_counts=False)
                except discord.HTTPException as exc:
                    log.info("job %s: server %s not fetched (%s): default upload limit", job.id, job.guild_id, exc)
            if guild is not None:
                return guild.filesize_limit
        return DEFAULT_UPLOAD_LIMIT

    @staticmethod
    def _file(
        job: Job, image: StoredImage, data: bytes, ext: str, *, spoiler: bool | None = None, blurred: bool = False
    ) -> discord.File:
        kind = "upscaled" if job.request.upscale else "easel"
        name = f"{kind}-{job.id}-{image.index + 1}{'-blurred' if blurred else ''}.{ext}"
        return discord.File(
            io.BytesIO(data), filename=name, spoiler=job.request.spoiler if spoiler is None else spoiler
        )

    async def _post(
        self,
        job: Job,
        content: str,
        files: list[discord.File],
        *,
        nonce: str,
        view: discord.ui.View | None,
    ) -> tuple[discord.Message, str]:
        """Post in the channel (idempotent by nonce); where the bot can't (DMs of a user-installed app, a server
        it isn't in), use the interaction followup while its token lives, else a DM to the requester (a channel
        message too: idempotent by nonce). Returns the message and how it was posted ("channel", "followup",
        "dm")."""
        allowed = mention_only(job.user_id)
        extra: dict[str, Any] = {} if view is None else {"view": view}
        reply_valid = job.reply is not None and job.reply.valid()
        if job.guild_id is not None or not reply_valid:
            channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
            try:
                sent = await channel.send(content, files=files, nonce=nonce, allowed_mentions=allowed, **extra)
                return sent, "channel"
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("job %s: can't post in channel %s (%s)", job.id, job.channel_id, exc.status)
                for f in files:
                    f.reset()
        if job.reply is not None and job.reply.valid():
            webhook = discord.Webhook.partial(job.reply.application_id, job.reply.token, client=self.bot)
            try:
                sent = await webhook.send(content, files=files, allowed_mentions=allowed, wait=True, **extra)
                return sent, "followup"
            except discord.HTTPException as exc:
                if _transient(exc):
                    raise  # retried later through the followup again, not sent to the DMs meanwhile
                if exc.status == 401 or exc.code == 50027:
                    job.reply = None  # the token expired (or was revoked) early: don't try it again
                log.info("job %s: followup failed (%s %s); trying a DM", job.id, exc.status, exc.code)
                for f in files:
                    f.reset()
        user = await self.bot.fetch_user(job.user_id)
        return await user.send(content, files=files, nonce=nonce, allowed_mentions=allowed, **extra), "dm"

    async def _find_posted(self, job: Job) -> dict[int, int]:
        """After a crash between posting and recording it: look for the result's parts among recent messages
        (part number -> message id).

        Discord's nonce dedupe covers a few minutes; this covers a longer outage (needs Read Message History).
        """
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        marker = f"`{job.id}`"
        me = self.bot.user.id if self.bot.user else None
        found: dict[int, int] = {}
        try:
            async for message in channel.history(limit=50):
                if message.author.id != me or marker not in message.content or not message.attachments:
                    continue
                part = 0
                if message.content.startswith(f"{marker} ("):
                    number = message.content[len(marker) + 2 :].split("/", 1)[0]
                    part = int(number) - 1 if number.isdigit() else 0
                found.setdefault(part, message.id)  # newest first: keep the newest of each
        except discord.HTTPException as exc:
            log.info("job %s: can't read channel history (%s); relying on the nonce", job.id, exc.status)
        return found

    async def _channel_notice(self, job: Job, content: str) -> None:
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            await channel.send(content, allowed_mentions=mention_only(job.user_id))
        except discord.HTTPException as exc:
            log.warning("job %s: could not tell user %s in channel %s: %s", job.id, job.user_id, job.channel_id, exc)


def _transient(exc: BaseException) -> bool:
    """A failure worth retrying for a long while: Discord down or overloaded (5xx), a 429 discord.py did not wait
    out (no rate-limit headers), the network, a timeout, the store busy. 4xx answers and bugs are not."""
    if isinstance(exc, discord.HTTPException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, aiohttp.ClientError | OSError | TimeoutError | StoreError)
