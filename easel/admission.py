"""The one way into the queue: every job (/draw, Reroll, Vary, Remix, Upscale, Draw this again, and what comes
later) is admitted here, in one order, each rule applied once:

1. the context (who, where: a frozen :class:`RequestContext`, built once from the interaction by the cogs);
2. the effective settings of that channel (global config, then the server's, then the channel's);
3. the server's rules on who and where (blocked, paused, allowed channels, NSFW and img2img policy) and on what the
   prompt says (banned and stripped words, extra networks, the enforced negative prefix), then the rule no
   setting turns off: no sexual content involving minors (:mod:`easel.safety.prompts`, on the prompt);
4. the member's limits (daily quota; jobs in line and cooldown are checked and reserved by the queue in the same
   step as the job is stored), under a per-member lock so that concurrent asks can't pass a limit together;
5. the request, built once against that channel's defaults and limits (an init image is downloaded only now);
6. submit.

A refusal at any step raises :class:`easel.errors.RequestError` (one line for the person who asked); nothing is
queued and nothing else is touched.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from easel.config import Limits, NsfwCheck
from easel.context import RequestContext
from easel.errors import PolicyError, RequestError
from easel.i18n import _
from easel.jobs import Job, Reply, new_id
from easel.options import CatalogView
from easel.policy import EffectiveSettings, PolicyService, check_request_limits
from easel.queue import JobQueue
from easel.request import DrawOptions, DrawRequest, build_request, options_from_request
from easel.safety import Notifier
from easel.safety.images import Classifier, ClassifierError, UnreadableImage
from easel.safety.prompts import PromptGuard

__all__ = ["Admission", "Admitted", "Ask", "InitImageFitter", "InitImageLoader", "RequestContext"]

log = logging.getLogger(__name__)

# Downloads and checks the init image within the channel's limits: (PNG bytes, (width, height)). The cog's part,
# since only it can read the attachment; called after every rule has passed.
InitImageLoader = Callable[[Limits], Awaitable[tuple[bytes, tuple[int, int]]]]
# Scales the init image down to the request's size (it can't be drawn larger).
InitImageFitter = Callable[[bytes, int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class Ask:
    """What someone asked to draw, before this channel's rules and defaults.

    ``options``: rebuilt with the channel's defaults and limits (/draw, Draw this again, Reroll, Vary, Remix).
    ``request``: a finished request that is only checked against the limits (Upscale).
    ``keep``: request fields set after building (variation seed, the source result, a kept init image).
    ``init_image``: downloads an attachment once every rule has passed (/draw with ``init_image``).
    """

    options: DrawOptions | None = None
    request: DrawRequest | None = None
    keep: Mapping[str, Any] = field(default_factory=dict)
    init_image: InitImageLoader | None = None

    def __post_init__(self) -> None:
        if (self.options is None) == (self.request is None):
            raise ValueError("an Ask has options or a finished request, not both")

    @classmethod
    def derived(cls, req: DrawRequest, source: str, **changes: Any) -> Ask:
        """A new job from a stored request with some options changed (Reroll, Vary, Remix, Draw this again on a
        result): checked like a new /draw; the variation seed and the init image are kept."""
        keep = {"subseed": req.subseed, "subseed_strength": req.subseed_strength, "source": source}
        if req.img2img:
            if req.init_image is None:
                raise RequestError(_("The starting image of that result is no longer kept."))
            keep["init_image"] = req.init_image
        for key in ("subseed", "subseed_strength"):
            if key in changes:
                keep[key] = changes.pop(key)
        return cls(options=replace(options_from_request(req), **changes), keep=keep)

    @property
    def img2img(self) -> bool:
        if self.request is not None:
            return self.request.img2img and not self.request.upscale
        assert self.options is not None
        return self.init_image is not None or self.options.init_image_size is not None

    @property
    def prompt(self) -> str:
        return self.request.prompt if self.request is not None else self.options.prompt  # type: ignore[union-attr]

    def negative(self, settings: EffectiveSettings) -> str:
        if self.request is not None:
            return self.request.negative_prompt
        assert self.options is not None
        given = self.options.negative_prompt
        return settings.defaults.negative_prompt if given is None else given

    @property
    def spoiler(self) -> bool:
        if self.request is not None:
            return self.request.spoiler
        return bool(self.options.spoiler)  # type: ignore[union-attr]

    @property
    def upscale(self) -> bool:
        return self.request is not None and self.request.upscale


@dataclass(frozen=True)
class Admitted:
    job: Job
    position: int
    eta: float | None  # unix time the job should start, when the backends' speed is known


class Admission:
    """Admits jobs: see the module docstring for the order. One per bot."""

    def __init__(
        self,
        policy: PolicyService,
        queue: JobQueue,
        catalog: CatalogView,
        *,
        fit_init_image: InitImageFitter | None = None,
        notifier: Notifier | None = None,
        classifier: Classifier | None = None,
    ) -> None:
        self.policy = policy
        self.guard = PromptGuard(notifier)  # the rule no setting turns off (easel.safety.prompts)
        self.classifier = classifier  # the image check; None: NudeNet missing, only the channel policy applies
        self.queue = queue
        self.catalog = catalog
        self._fit = fit_init_image
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def settings(self, ctx: RequestContext) -> EffectiveSettings:
        return await self.policy.for_draw(ctx.guild_id, ctx.channel_id, ctx.parent_id)

    def _lock(self, user_id: int) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    async def admit(
        self,
        ctx: RequestContext,
        ask: Ask,
        *,
        reply: Reply | None = None,
        job_id: str | None = None,
    ) -> Admitted:
        """Apply every rule once and queue the job. Raises RequestError (logged with ids) to refuse."""
        settings = await self.settings(ctx)
        lock = self._lock(ctx.user_id)  # a strong reference while this member's ask is being admitted
        async with lock:
            try:
                spoiler, prompt, negative = await self.policy.gate(
                    settings, ctx, ask.prompt, ask.negative(settings), img2img=ask.img2img, spoiler=ask.spoiler
                )
                if not prompt.strip() and not ask.upscale:
                    raise PolicyError(_("Nothing is left of the prompt after this server's word filters."))
                await self.guard.check(ctx, prompt)  # the prompt only: a negative prompt says what not to draw
                limits = await self.policy.check_quota(settings, ctx)
                queue_limits = limits.queue_kwargs()
                if ask.init_image is not None:  # refuse before a download that would be for nothing
                    self.queue.check_user(ctx.user_id, guild_id=ctx.guild_id, **queue_limits)
                mode = nsfw_mode(settings, ctx)
                request = await self._build(ask, settings, prompt, negative, spoiler, mode)
                request = replace(request, nsfw_check=mode)
                check_request_limits(request, settings)
                job = Job(
                    id=job_id or new_id(),
                    request=request,
                    user_id=ctx.user_id,
                    channel_id=ctx.channel_id or 0,
                    guild_id=ctx.guild_id,
                    reply=reply,
                    locale=ctx.locale,
                    public_locale=public_locale(settings, ctx),
                )
                position = await self.queue.submit(job, **queue_limits)
            except RequestError as exc:
                log.info(
                    "admission: refused user %s in guild %s channel %s: %s",
                    ctx.user_id,
                    ctx.guild_id,
                    ctx.channel_id,
                    exc,
                )
                raise
        return Admitted(job, position, self.queue.estimate_start(job.id))

    async def _build(
        self, ask: Ask, settings: EffectiveSettings, prompt: str, negative: str, spoiler: bool, mode: NsfwCheck
    ) -> DrawRequest:
        if ask.request is not None:
            return replace(ask.request, prompt=prompt, negative_prompt=negative, spoiler=spoiler)
        assert ask.options is not None
        opts = replace(settings.apply_defaults(ask.options), prompt=prompt, negative_prompt=negative, spoiler=spoiler)
        init_png: bytes | None = None
        if ask.init_image is not None:
            # The options are checked before the download (a bad steps value costs no traffic) ...
            build_request(replace(opts, init_image_size=(512, 512)), settings.config, self.catalog)
            init_png, size = await ask.init_image(settings.limits)
            await self._check_init_image(init_png, mode)
            opts = replace(opts, init_image_size=size)
        request = build_request(opts, settings.config, self.catalog)  # ... and the request is built once
        if init_png is not None:
            if self._fit is not None:
                init_png = await self._fit(init_png, request.width, request.height)
            request = replace(request, init_image=init_png)
        return replace(request, **ask.keep) if ask.keep else request

    async def _check_init_image(self, image: bytes, mode: NsfwCheck) -> None:
        """The image check on an uploaded init image (not in age-restricted channels, not with the check off, not
        without NudeNet): a flagged, unreadable or uncheckable upload is refused, nothing is queued."""
        if mode is NsfwCheck.OFF or self.classifier is None:
            return
        try:
            verdict = await self.classifier.classify(image)
        except UnreadableImage as exc:
            raise RequestError(_("The init image could not be checked: {exc}.").format(exc=exc)) from None
        except ClassifierError as exc:
            log.warning("admission: the image check failed on an init image: %s", exc)
            raise RequestError(_("The init image could not be checked right now; try again later.")) from None
        if verdict.flagged:
            log.info("admission: init image flagged by the image check (%s)", verdict.labels)
            raise PolicyError(_("This server doesn't accept that init image here (the image check flagged it)."))


def public_locale(settings: EffectiveSettings, ctx: RequestContext) -> str | None:
    """The language of a job's public result: the server's ``language`` setting, or with "auto" the server's
    Discord language (``guild_locale``; None in a DM: English)."""
    return ctx.guild_locale if settings.language == "auto" else settings.language


def nsfw_mode(settings: EffectiveSettings, ctx: RequestContext) -> NsfwCheck:
    """The image check's mode for a job asked for in ``ctx``: off in an age-restricted channel, else the
    channel's effective ``nsfw_check``."""
    return NsfwCheck.OFF if ctx.is_nsfw_channel else settings.nsfw_check
