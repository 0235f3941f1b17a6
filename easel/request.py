"""From what a user typed to a validated :class:`DrawRequest`, and from a request to a webui payload.

Validation refuses with :class:`RequestError`, whose message is one line the user can act on. Nothing here
does I/O: the catalog (models, samplers, styles known to the backends) is handed in.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from easel.config import ZERO_WIDTH, Config, NsfwCheck
from easel.errors import RequestError
from easel.faces import FaceFixer, apply_face_fix, face_fix_from_infotext
from easel.i18n import _, format_number
from easel.infotext import Infotext
from easel.loras import LoraRef, add_triggers, extract_tags, format_spec, format_tags, merge, parse_spec, resolve
from easel.options import (
    MAX_SEED,
    NUMERIC,
    CatalogView,
    Flavor,
    Option,
    OptionType,
    RangeError,
    apply_payload,
    option,
    ratio_of,
)

__all__ = [
    "MAX_SEED",
    "CatalogView",
    "DrawOptions",
    "DrawRequest",
    "RequestError",
    "aspect_size",
    "build_payload",
    "build_request",
    "options_from_infotext",
    "options_from_request",
    "revalidate",
]


@dataclass(frozen=True)
class DrawOptions:
    """Raw options as the user gave them; None means "not given, use the default"."""

    prompt: str
    negative_prompt: str | None = None
    model: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    aspect: str | None = None  # "16:9"..., or "default"
    cfg_scale: float | None = None
    seed: int | None = None
    clip_skip: int | None = None
    count: int | None = None
    style: str | None = None
    lora: str | None = None  # "name", "name:weight", several comma-separated
    face_fix: str | None = None  # "off", "on", "adetailer", "codeformer", "gfpgan"
    hires_fix: bool | None = None
    strength: float | None = None
    spoiler: bool | None = None
    preset: str | None = None  # a preset to fill what is not given (easel.presets; applied at admission)
    init_image_size: tuple[int, int] | None = None  # (w, h) of the attachment, once checked


@dataclass(frozen=True)
class DrawRequest:
    """A validated request: every value is in range and final, defaults applied."""

    prompt: str
    negative_prompt: str = ""
    model: str | None = None  # model_name as listed by /sd-models; None = whatever the backend has loaded
    sampler: str = "Euler a"
    scheduler: str | None = None
    steps: int = 25
    width: int = 512
    height: int = 512
    aspect: str | None = None  # the ratio width and height were computed from ("16:9"); None = none asked
    cfg_scale: float = 7.0
    seed: int = -1
    clip_skip: int | None = None  # None = the webui's own setting
    count: int = 1
    style: str | None = None
    # The LoRAs as the backends list them, "name:weight, ..." (the tags are put in the prompt by build_payload; their
    # trigger words are already in ``prompt``). "" = none (and in jobs stored before LoRAs).
    lora: str = ""
    face_fix: str | None = None  # None = off (and in jobs stored before face fix)
    # How the backend running the job fixes faces (easel.faces.FaceFixer.encode), set when it starts: "" = not chosen.
    face_fixer: str = ""
    hires_fix: bool = False
    hires_upscaler: str = "Latent"
    hires_scale: float = 2.0
    hires_denoising: float = 0.5
    hires_steps: int = 0
    img2img: bool = False
    strength: float = 0.6
    spoiler: bool = False
    preset: str | None = None  # the preset that filled the options ("anime", "server:photo"), for Info
    subseed: int = -1
    subseed_strength: float = 0.0
    upscale: bool = False  # an Upscale-button job: init_image is the source PNG, run through the Extras upscaler
    upscaler: str = ""
    upscale_factor: float = 2.0
    source: str = ""  # "jobid:index" the request was derived from (reroll, vary, remix, upscale)
    # The image tools (easel.tools). ``describe``: the interrogator ("clip", "deepdanbooru") of a job whose result
    # is text, run on init_image. ``outpaint``: "zoom:<factor>" or "pan:<left|right|up|down>": init_image is the
    # source picture, padded and masked when the job runs (``mask``), then inpainted at width x height.
    describe: str = ""
    outpaint: str = ""
    face_restore: str = ""  # an upscale's face restoration: "gfpgan", "codeformer" or "" (none)
    mask_blur: int = 8
    # From the model's profile (easel.profiles); a job stored before profiles has none of them.
    vae: str | None = None  # A1111 / SD.Next: the sd_vae override
    modules: tuple[str, ...] = ()  # Forge: forge_additional_modules (VAE, text encoders)
    distilled_cfg_scale: float | None = None  # Forge (Flux)
    # The image check's mode for this job's results, decided once at admission (off in age-restricted channels).
    nsfw_check: NsfwCheck = NsfwCheck.OFF
    init_image: bytes | None = field(default=None, repr=False, compare=False)  # PNG, re-encoded by Easel
    mask: bytes | None = field(default=None, repr=False, compare=False)  # inpainting mask (white: repaint); not stored

    @property
    def loras(self) -> tuple[LoraRef, ...]:
        """The LoRAs of ``lora`` (validated when the request was built)."""
        if not self.lora:
            return ()
        try:
            return parse_spec(self.lora, 1.0)
        except RequestError:  # a stored value no longer readable: drawn without (never happens for built requests)
            return ()

    @property
    def kind(self) -> str:
        if self.upscale:
            return "upscale"
        if self.describe:
            return "describe"
        if self.outpaint:
            return "outpaint"
        return "img2img" if self.img2img else "txt2img"

    def to_record(self) -> dict[str, Any]:
        """JSON-safe dict for the store (the init image is stored beside it as a blob)."""
        data = asdict(self)
        data.pop("init_image")
        data.pop("mask")
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any], init_image: bytes | None = None) -> DrawRequest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("init_image", "mask")}
        if "nsfw_check" in known:  # a job stored before the image check has none: off, as it was admitted
            try:
                known["nsfw_check"] = NsfwCheck(known["nsfw_check"])
            except ValueError:
                known["nsfw_check"] = NsfwCheck.REFUSE  # unknown (a newer Easel's value): the strictest
        if "modules" in known:  # JSON keeps a list
            known["modules"] = tuple(known["modules"] or ())
        return cls(**known, init_image=init_image)


def _number(opt: Option, given: Any, cfg: Config) -> Any:
    """A numeric option: the given value, else the config's [defaults] value, else the table's; checked."""
    if given is None:
        given = getattr(cfg.defaults, opt.name) if opt.defaults_key else opt.default
    if given is None:  # an option without a default: the webui's own
        return None
    try:
        value = opt.check(given, cfg.limits)
    except RangeError as exc:
        raise RequestError(str(exc)) from None
    return None if opt.unset is not None and value == opt.unset else value


_INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp", "Mn"}
_FILLERS = {"\u3164", "\uffa0", "\u2800"}  # Hangul fillers and the blank Braille pattern render as nothing


def _visible(text: str) -> bool:
    """Whether ``text`` has a character that shows (zero-width, format and filler characters don't)."""
    text = ZERO_WIDTH.sub("", text)
    return any(not c.isspace() and unicodedata.category(c) not in _INVISIBLE and c not in _FILLERS for c in text)


def _fit_init_size(size: tuple[int, int], cfg: Config) -> tuple[int, int]:
    """Pick a generation size for img2img from the init image: same aspect, within the limits, multiples of 8."""
    w, h = size
    lim = cfg.limits
    scale = min(1.0, lim.max_width / w, lim.max_height / h, (lim.max_pixels / (w * h)) ** 0.5)
    # Small images are scaled up to the default area so the result is not a thumbnail.
    target_area = cfg.defaults.width * cfg.defaults.height
    if w * h * scale * scale < target_area:
        scale = min((target_area / (w * h)) ** 0.5, lim.max_width / w, lim.max_height / h)
    nw = max(64, int(w * scale) // 8 * 8)
    nh = max(64, int(h * scale) // 8 * 8)
    return nw, nh


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def aspect_size(
    aspect: str,
    cfg: Config,
    *,
    width: int | None = None,
    height: int | None = None,
    multiple: int = 8,
) -> tuple[int, int]:
    """Width and height for ``aspect`` (``"16:9"``): from the pixel budget (the default width x height, at most
    ``max_pixels``), or from the one side given. Each side a multiple of ``multiple`` (8; 64 for a backend that
    needs it), none past ``max_width``/``max_height``/``max_pixels``. Raises :class:`RequestError` (one line) when
    the ratio can't fit the limits."""
    a, b = ratio_of(aspect)
    lim = cfg.limits
    low = max(int(option("width").minimum or 64), multiple)
    max_w, max_h = lim.max_width // multiple * multiple, lim.max_height // multiple * multiple
    if width is not None:
        w, h = width, _round_to(width * b / a, multiple)
    elif height is not None:
        w, h = _round_to(height * a / b, multiple), height
    else:
        budget = min(cfg.defaults.width * cfg.defaults.height, lim.max_pixels)
        scale = min((budget / (a * b)) ** 0.5, max_w / a, max_h / b)
        w, h = _round_to(a * scale, multiple), _round_to(b * scale, multiple)
        if w > max_w or h > max_h or w * h > lim.max_pixels:  # rounding up went past a limit: round down
            w, h = int(a * scale) // multiple * multiple, int(b * scale) // multiple * multiple
    if w < low or h < low or w > max_w or h > max_h or w * h > lim.max_pixels:
        given = (
            _(" with width {width}").format(width=width)
            if width is not None
            else _(" with height {height}").format(height=height)
            if height is not None
            else ""
        )
        raise RequestError(
            _(
                "aspect {aspect}{given} doesn't fit the limits here (sides {low}-{max_w} wide, {low}-{max_h} high, "
                "{max_pixels} pixels): pick another ratio or give width and height."
            ).format(
                aspect=aspect, given=given, low=low, max_w=max_w, max_h=max_h, max_pixels=format_number(lim.max_pixels)
            )
        )
    return w, h


def _matches(aspect: str, width: int, height: int, multiple: int = 8) -> bool:
    """Whether ``width`` x ``height`` has the shape ``aspect`` (up to rounding each side to ``multiple``)."""
    a, b = ratio_of(aspect)
    return abs(width - height * a / b) <= multiple or abs(height - width * b / a) <= multiple


def _aspect(opts: DrawOptions, cfg: Config, img2img: bool) -> str | None:
    """The ratio asked for (the user's, else the default unless an init image gives the shape); None: none."""
    given = opts.aspect
    if given is None and img2img:
        return None
    try:
        value = option("aspect").check(given if given is not None else cfg.defaults.aspect)
    except RangeError as exc:
        raise RequestError(str(exc)) from None
    return None if value == "default" else value


def lora_default_weight(cfg: Config, model: str | None) -> float:
    """The weight of a LoRA named without one: ``[defaults] lora_weight``. (The hook for a model profile's own
    default: it would be looked up here by ``model``.)"""
    return float(cfg.defaults.lora_weight)


def _loras(
    prompt: str, opts: DrawOptions, cfg: Config, catalog: CatalogView | None, model: str | None
) -> tuple[str, str]:
    """The prompt without its ``<lora:...>`` tags and with the LoRAs' trigger words (once), and the request's
    ``lora`` value: the tags' LoRAs and then the option's, under the names the backends list."""
    weight = lora_default_weight(cfg, model)
    rest, typed = extract_tags(prompt, weight)
    refs = merge(typed, parse_spec(opts.lora or "", weight))
    if not refs:
        return prompt, ""
    known = catalog is not None and catalog.known
    if known:
        refs = resolve(refs, catalog.lora_infos())  # type: ignore[union-attr]
    triggers = []
    for ref in refs:
        admin = cfg.loras.get(ref.name.casefold())
        if admin is not None and admin.trigger is not None:
            triggers.append(admin.trigger)
        elif known:
            triggers.append(catalog.lora_trigger(ref.name))  # type: ignore[union-attr]
    return add_triggers(rest, triggers), format_spec(refs)


def _face_fix(opts: DrawOptions, cfg: Config, catalog: CatalogView | None) -> str | None:
    """The face fix asked for (the user's, else the default); None: off. Refused when no backend can do it."""
    given = opts.face_fix if opts.face_fix is not None else cfg.defaults.face_fix
    try:
        value = option("face_fix").check(given or "off")
    except RangeError as exc:
        raise RequestError(str(exc)) from None
    if value == "off":
        return None
    if catalog is not None and catalog.known and not catalog.face_fix_ok(value):
        raise RequestError(
            _("No image server here can fix faces with {mode}; try face_fix:on, or leave it off.").format(mode=value)
        )
    return value


def build_request(opts: DrawOptions, cfg: Config, catalog: CatalogView | None = None) -> DrawRequest:
    """Validate user options against the config limits and the backends' catalog."""
    d, lim = cfg.defaults, cfg.limits
    prompt = (opts.prompt or "").strip()
    if not _visible(prompt):
        raise RequestError(_("The prompt is empty: describe what to draw."))
    if len(prompt) > lim.max_prompt_length:
        raise RequestError(
            _("The prompt is {n} characters; the limit is {max_prompt_length}.").format(
                n=len(prompt), max_prompt_length=lim.max_prompt_length
            )
        )
    negative = (opts.negative_prompt if opts.negative_prompt is not None else d.negative_prompt).strip()
    if len(negative) > lim.max_prompt_length:
        raise RequestError(
            _("The negative prompt is {n} characters; the limit is {max_prompt_length}.").format(
                n=len(negative), max_prompt_length=lim.max_prompt_length
            )
        )

    img2img = opts.init_image_size is not None
    given = {o.name: getattr(opts, o.name) for o in NUMERIC}
    aspect = _aspect(opts, cfg, img2img)
    if aspect is not None and (opts.width is None or opts.height is None):
        for side in ("width", "height"):  # a side given is checked before the other follows from it
            if given[side] is not None:
                given[side] = _number(option(side), given[side], cfg)
        given["width"], given["height"] = aspect_size(aspect, cfg, width=given["width"], height=given["height"])
    elif img2img and opts.width is None and opts.height is None:
        given["width"], given["height"] = _fit_init_size(opts.init_image_size, cfg)  # type: ignore[arg-type]
    numbers = {o.name: _number(o, given[o.name], cfg) for o in NUMERIC}
    if aspect is not None and not _matches(aspect, numbers["width"], numbers["height"]):
        aspect = None  # width and height given: they win, the ratio is not what was drawn
    width, height = numbers["width"], numbers["height"]
    if width * height > lim.max_pixels:
        raise RequestError(
            _("{width}x{height} is {pixels} pixels; the limit is {max_pixels} (e.g. {side}x{side}).").format(
                width=width,
                height=height,
                pixels=format_number(width * height),
                max_pixels=format_number(lim.max_pixels),
                side=int(lim.max_pixels**0.5) // 8 * 8,
            )
        )
    for o in NUMERIC:
        if o.requires == "init_image" and given[o.name] is not None and not img2img:
            raise RequestError(_("{name} only applies with an init_image (img2img).").format(name=o.name))

    model = (opts.model or d.model or "").strip() or None
    sampler = (opts.sampler or d.sampler).strip()
    scheduler = (opts.scheduler if opts.scheduler is not None else d.scheduler).strip() or None
    style = (opts.style or "").strip() or None
    if catalog is not None and catalog.known:
        if model is not None:
            resolved = catalog.resolve_model(model)
            if resolved is None:
                raise RequestError(
                    _("Unknown model {model!r}: pick one from the list (see /models).").format(model=model)
                )
            model = resolved
        if not catalog.has_sampler(sampler):
            raise RequestError(_("Unknown sampler {sampler!r}: pick one from the list.").format(sampler=sampler))
        if scheduler is not None and not catalog.has_scheduler(scheduler):
            raise RequestError(
                _("Unknown scheduler {scheduler!r}: pick one from the list.").format(scheduler=scheduler)
            )
        if style is not None and not catalog.has_style(style):
            raise RequestError(_("Unknown style {style!r}: pick one from the list.").format(style=style))

    prompt, lora = _loras(prompt, opts, cfg, catalog, model)
    face_fix = _face_fix(opts, cfg, catalog)

    hires = bool(opts.hires_fix) and not img2img
    if opts.hires_fix and img2img:
        raise RequestError(_("hires_fix applies to text-to-image only; leave it off with an init_image."))
    h = cfg.hires
    return DrawRequest(
        prompt=prompt,
        negative_prompt=negative,
        model=model,
        sampler=sampler,
        scheduler=scheduler,
        **numbers,
        aspect=aspect,
        style=style,
        lora=lora,
        face_fix=face_fix,
        hires_fix=hires,
        hires_upscaler=h.upscaler,
        hires_scale=h.scale,
        hires_denoising=h.denoising_strength,
        hires_steps=h.second_pass_steps,
        img2img=img2img,
        spoiler=bool(opts.spoiler),
        preset=(opts.preset or "").strip() or None,
    )


def build_payload(
    req: DrawRequest, *, model_title: str | None = None, flavor: Flavor | str = Flavor.A1111
) -> dict[str, Any]:
    """The JSON body for /sdapi/v1/txt2img or /img2img. Keys are left out rather than sent as null.

    The plain options go where the option table says for ``flavor`` (the backend's webui: a1111, forge or
    sdnext). The checkpoint is chosen per request with ``override_settings`` (``model_title`` is the backend's
    own title for ``req.model``), never with a global ``POST /options``.
    """
    payload: dict[str, Any] = {
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt,
        "batch_size": 1,
        "send_images": True,
        "save_images": False,
    }
    apply_payload(payload, _values(req), flavor)
    if req.lora:
        payload["prompt"] = f"{req.prompt} {format_tags(req.loras)}".strip()
    apply_face_fix(payload, req.face_fix, FaceFixer.decode(req.face_fixer), flavor)
    if req.style:
        payload["styles"] = [req.style]
    if req.subseed_strength > 0:
        payload["subseed"] = req.subseed
        payload["subseed_strength"] = req.subseed_strength
    model = model_title or req.model
    if model:
        payload.setdefault("override_settings", {})["sd_model_checkpoint"] = model
    _profile_payload(payload, req, Flavor(flavor))
    if req.img2img:
        if req.init_image is None:
            raise RequestError(_("img2img needs an init image."))
        payload["init_images"] = [base64.b64encode(req.init_image).decode("ascii")]
        payload["denoising_strength"] = req.strength
        if req.mask is not None:  # zoom out / pan: repaint the white area, over the whole picture
            payload["mask"] = base64.b64encode(req.mask).decode("ascii")
            payload["mask_blur"] = req.mask_blur
            payload["inpainting_fill"] = 1  # start from the canvas' own (stretched edge) pixels
            payload["inpaint_full_res"] = False
    elif req.hires_fix:
        payload["enable_hr"] = True
        payload["hr_scale"] = req.hires_scale
        payload["hr_upscaler"] = req.hires_upscaler
        payload["hr_second_pass_steps"] = req.hires_steps
        payload["denoising_strength"] = req.hires_denoising
    return payload


def _profile_payload(payload: dict[str, Any], req: DrawRequest, flavor: Flavor) -> None:
    """What a model profile adds (easel.profiles): the VAE where each webui takes it, Forge's distilled CFG."""
    if flavor is Flavor.FORGE:
        if req.modules:
            payload.setdefault("override_settings", {})["forge_additional_modules"] = list(req.modules)
        if req.distilled_cfg_scale is not None:
            payload["distilled_cfg_scale"] = req.distilled_cfg_scale
    elif req.vae:
        payload.setdefault("override_settings", {})["sd_vae"] = req.vae


def _values(req: DrawRequest) -> dict[str, Any]:
    return {f: getattr(req, f) for f in req.__dataclass_fields__}


def options_from_request(req: DrawRequest) -> DrawOptions:
    """The options that rebuild ``req`` (for buttons: the stored request is checked again against today's limits)."""
    same = {name: getattr(req, name) for name in DrawOptions.__dataclass_fields__ if name in req.__dataclass_fields__}
    return replace(
        DrawOptions(**same),
        scheduler=req.scheduler or "",
        preset=None,  # its values are in the request already
        face_fix=req.face_fix or "off",  # off stays off, whatever the default is now
        strength=req.strength if req.img2img else None,
        init_image_size=(req.width, req.height) if req.img2img else None,
    )


def revalidate(req: DrawRequest, cfg: Config, catalog: CatalogView | None = None, **changes: Any) -> DrawRequest:
    """``req`` with ``changes`` applied to its options, validated like a new /draw; keeps the init image."""
    opts = replace(options_from_request(req), **changes)
    new = build_request(opts, cfg, catalog)
    return replace(new, init_image=req.init_image, subseed=req.subseed, subseed_strength=req.subseed_strength)


def options_from_infotext(info: Infotext) -> DrawOptions:
    """/draw options that redraw an image from its infotext (the "Draw this again" action)."""

    def number(opt: Option) -> Any:
        text = info.params.get(opt.infotext or "")
        if text is None:
            return None
        try:
            return int(text) if opt.type is OptionType.INT else float(text)
        except (ValueError, OverflowError):
            return None

    try:
        size = info.size
    except (ValueError, OverflowError):  # e.g. "Size: 1e400x512": no size, the defaults apply
        size = None
    schedule = info.params.get("Schedule type")
    numbers = {o.name: number(o) for o in NUMERIC if o.infotext}
    return DrawOptions(
        prompt=info.prompt,
        negative_prompt=info.negative_prompt or None,
        model=info.params.get("Model"),
        sampler=info.params.get("Sampler"),
        scheduler=None if schedule in (None, "Automatic") else schedule,
        face_fix=face_fix_from_infotext(info.params) or "off",  # the LoRAs are in the prompt's tags
        width=size[0] if size else None,
        height=size[1] if size else None,
        **numbers,
    )
