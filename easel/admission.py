"""The one way into the queue: every job (/draw, Reroll, Vary, Remix, Upscale, Draw this again, the image tools of
:mod:`easel.tools`, and what comes later) is admitted here, in one order, each rule applied once:

1. the context (who, where: a frozen :class:`RequestContext`, built once from the interaction by the cogs);
2. the effective settings of that channel (global config, then the server's, then the channel's), and the
   preset named in the options (or the member's default preset, for /draw) filled in under the options given
   (:mod:`easel.presets`; someone else's, or one whose model is gone, is refused);
3. the server's rules on who and where (blocked, paused, allowed channels, NSFW and img2img policy) and on what the
   prompt says (banned and stripped words, extra networks, the enforced negative prefix), then the rule no
   setting turns off: no sexual content involving minors (:mod:`easel.safety.prompts`, on the prompt);
4. the member's limits (daily quota; jobs in line and cooldown are checked and reserved by the queue in the same
   step as the job is stored), under a per-member lock so that concurrent asks can't pass a limit together;
5. the request, built once against that channel's defaults and limits with the chosen model's profile layered
   under the server's defaults (:func:`easel.profiles.layer`; a hidden model is refused; an init image is
   downloaded only now);
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
from easel.presets import NO_PRESET, PresetBook, apply_preset, check_available
from easel.profiles import Layered, Profiles, hidden_refusal, layer, with_negative_prefix, with_trigger_words
from easel.queue import JobQueue
from easel.request import DrawOptions, DrawRequest, build_request, options_from_request
from easel.safety import Notifier
from easel.safety.images import Classifier, ClassifierError, UnreadableImage
from easel.safety.prompts import PromptGuard

__all__ = ["Admission", "Admitted", "Ask", "InitImageFitter", "InitImageLoader", "RequestContext", "RequestSizer"]

log = logging.getLogger(__name__)

# Downloads and checks the init image within the channel's limits: (PNG bytes, (width, height)). The cog's part,
# since only it can read the attachment; called after every rule has passed.
InitImageLoader = Callable[[Limits], Awaitable[tuple[bytes, tuple[int, int]]]]
# Scales the init image down to the request's size (it can't be drawn larger).
InitImageFitter = Callable[[bytes, int, int], Awaitable[bytes]]
# A tool's finished request fitted to its downloaded picture's (width, height): an upscale's output size.
RequestSizer = Callable[[DrawRequest, tuple[int, int]], DrawRequest]


@dataclass(frozen=True)
class Ask:
    """What someone asked to draw, before this channel's rules and defaults.

    ``options``: rebuilt with the channel's defaults and limits (/draw, Draw this again, Reroll, Vary, Remix).
    ``request``: a finished request that is only checked against the limits (Upscale, the image tools).
    ``keep``: request fields set after building (variation seed, the source result, a kept init image).
    ``init_image``: downloads an attachment once every rule has passed (/draw with ``init_image``; with a
    ``request``: the picture an image tool works on, which then becomes its init image).
    ``sized``: with a ``request`` and ``init_image``, fits the request to the downloaded picture's size.
    """

    options: DrawOptions | None = None
    request: DrawRequest | None = None
    keep: Mapping[str, Any] = field(default_factory=dict)
    init_image: InitImageLoader | None = None
    sized: RequestSizer | None = None
    # With no preset named in the options (``/draw preset:``), the member's default preset applies (/draw).
    default_preset: bool = False

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
        if req.outpaint:  # Reroll / Remix of a zoom out or pan extends the same picture again
            keep["outpaint"], keep["mask_blur"] = req.outpaint, req.mask_blur
        if "model" not in changes:  # the same checkpoint: the VAE and distilled CFG it was drawn with, as then
            keep.update(vae=req.vae, modules=req.modules, distilled_cfg_scale=req.distilled_cfg_scale)
        keep["preset"] = req.preset
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

    @property
    def needs_prompt(self) -> bool:
        """Whether the job draws from its prompt (an upscale or a describe doesn't)."""
        return self.request is None or not (self.request.upscale or self.request.describe)


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
        presets: PresetBook | None = None,
        profiles: Profiles | None = None,
    ) -> None:
        self.policy = policy
        self.guard = PromptGuard(notifier)  # the rule no setting turns off (easel.safety.prompts)
        self.classifier = classifier  # the image check; None: NudeNet missing, only the channel policy applies
        self.queue = queue
        self.catalog = catalog
        self._fit = fit_init_image
        cfg = policy.cfg
        store: Any = queue.store
        self.presets = presets if presets is not None else PresetBook(store, cfg.presets)
        self.profiles = profiles if profiles is not None else Profiles(cfg.models, store)
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
                ask = await self._with_preset(ctx, ask)
                spoiler, prompt, negative = await self.policy.gate(
                    settings, ctx, ask.prompt, ask.negative(settings), img2img=ask.img2img, spoiler=ask.spoiler
                )
                if not prompt.strip() and ask.needs_prompt:
                    raise PolicyError(_("Nothing is left of the prompt after this server's word filters."))
                await self.guard.check(ctx, prompt)  # the prompt only: a negative prompt says what not to draw
                limits = await self.policy.check_quota(settings, ctx)
                queue_limits = limits.queue_kwargs()
                if ask.init_image is not None:  # refuse before a download that would be for nothing
                    self.queue.check_user(ctx.user_id, guild_id=ctx.guild_id, **queue_limits)
                mode = nsfw_mode(settings, ctx)
                request = await self._build(ask, settings, prompt, negative, spoiler, mode)
                if request.prompt != prompt and not ask.upscale:  # LoRA trigger words joined it: check them too
                    _spoiler, added, _negative = await self.policy.gate(
                        settings, ctx, request.prompt, request.negative_prompt, img2img=ask.img2img, spoiler=spoiler
                    )
                    await self.guard.check(ctx, added)
                    request = replace(request, prompt=added)
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

    async def _with_preset(self, ctx: RequestContext, ask: Ask) -> Ask:
        """The ask with its preset's options (the named one, else the member's default) filled in under the options
        given, before any rule looks at it: a preset's prompt is filtered like a typed one."""
        named = ask.options.preset if ask.options is not None else None
        if ask.options is None or (named is None and not ask.default_preset):
            return ask
        if named is not None and named.strip().lower() == NO_PRESET:  # not even the member's default
            return replace(ask, options=replace(ask.options, preset=None), default_preset=False)
        if named is not None:
            preset = await self.presets.usable(ctx.user_id, ctx.guild_id, named, self.catalog)
        else:
            preset = await self.presets.default_for(ctx.user_id, ctx.guild_id)
            if preset is None:
                return ask
            check_available(preset, self.catalog)
        opts = replace(apply_preset(ask.options, preset, img2img=ask.img2img), preset=preset.label)
        return replace(ask, options=opts, default_preset=False)

    async def _layered(self, opts: DrawOptions, settings: EffectiveSettings) -> Layered:
        """The config this request is built against: the chosen model's profile layered under the server's defaults
        (:func:`easel.profiles.layer`). A hidden model is refused."""
        asked = (opts.model or settings.defaults.model or "").strip()
        model = self.catalog.resolve_model(asked) if asked and self.catalog.known else None
        if model is None:  # no model named, or one no backend has (build_request refuses it)
            return layer(settings.config, settings.sources, None)
        profile = await self.profiles.for_model(model, settings.guild_id, self.catalog)
        if profile.hidden:
            raise hidden_refusal(model, profile)
        return layer(settings.config, settings.sources, profile)

    async def _build(
        self, ask: Ask, settings: EffectiveSettings, prompt: str, negative: str, spoiler: bool, mode: NsfwCheck
    ) -> DrawRequest:
        if ask.request is not None:
            request = replace(ask.request, prompt=prompt, negative_prompt=negative, spoiler=spoiler)
            if ask.init_image is not None:  # an image tool on a picture someone pointed at: downloaded only now
                png, size = await ask.init_image(settings.limits)
                await self._check_init_image(png, mode)
                request = replace(request, init_image=png)
                if ask.sized is not None:
                    request = ask.sized(request, size)
            return request
        assert ask.options is not None
        opts = replace(settings.apply_defaults(ask.options), prompt=prompt, negative_prompt=negative, spoiler=spoiler)
        layered = await self._layered(opts, settings)
        opts = replace(
            opts,
            prompt=with_trigger_words(prompt, layered.trigger_words),
            negative_prompt=with_negative_prefix(negative, layered.negative_prefix),
        )
        config = layered.config
        init_png: bytes | None = None
        if ask.init_image is not None:
            # The options are checked before the download (a bad steps value costs no traffic) ...
            build_request(replace(opts, init_image_size=(512, 512)), config, self.catalog)
            init_png, size = await ask.init_image(settings.limits)
            await self._check_init_image(init_png, mode)
            opts = replace(opts, init_image_size=size)
        request = build_request(opts, config, self.catalog)  # ... and the request is built once
        request = replace(
            request, vae=layered.vae, modules=layered.modules, distilled_cfg_scale=layered.distilled_cfg_scale
        )
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
