"""Every /draw generation option in one table: type, bounds, description, default key, limit key, payload key.

Adding an option takes a row in :data:`OPTIONS`, a field in :class:`easel.request.DrawOptions` and
:class:`easel.request.DrawRequest`, and a parameter in the /draw signature (``cogs/draw.py``). From the table come
the range checks (``[defaults]``/``[limits]`` at config load, :func:`easel.request.build_request`, ``/settings``),
the ``[defaults]`` keys, the ``/settings`` keys of kind defaults and limits, the /help lines, the copyable /draw line
under Info, the /draw parameter descriptions and Discord-side bounds, and the plain part of the webui payload.

A ``CHOICE`` option (``aspect``) takes one of its ``choices``: its check, the ``[defaults]`` key, the /settings
default, the /help line and the Discord form's choices come from the row too.

This module imports nothing from the rest of Easel (``easel.config`` builds ``Defaults`` from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from easel.i18n import N_, _

MAX_SEED = 4294967294


def wrap_seed(seed: int) -> int:
    """A seed a webui reported (image k of a batch has seed + k, which can pass MAX_SEED) as one /draw accepts."""
    return seed if -1 <= seed <= MAX_SEED else seed % (MAX_SEED + 1)


class OptionType(StrEnum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"
    CHOICE = "choice"  # one of Option.choices (a string)
    ATTACHMENT = "attachment"


class Flavor(StrEnum):
    """The webui implementation a backend runs: payload keys, routes and error shapes differ."""

    A1111 = "a1111"
    FORGE = "forge"
    SDNEXT = "sdnext"


class Catalog(StrEnum):
    """Which backend list a value is picked from (autocomplete and checks)."""

    MODEL = "model"
    SAMPLER = "sampler"
    SCHEDULER = "scheduler"
    STYLE = "style"
    LORA = "lora"


class CatalogView(Protocol):
    """What checks and texts need from the backends' lists (:class:`easel.catalog.Catalog` fits): used by
    :mod:`easel.request`, :mod:`easel.policy` and :mod:`easel.texts.commands`. ``known``: some backend has answered."""

    @property
    def known(self) -> bool: ...
    def resolve_model(self, name: str) -> str | None: ...
    def has_sampler(self, name: str) -> bool: ...
    def has_scheduler(self, name: str) -> bool: ...
    def has_style(self, name: str) -> bool: ...
    def model_names(self) -> list[str]: ...
    def samplers(self) -> list[str]: ...
    def schedulers(self) -> list[str]: ...
    def styles(self) -> list[str]: ...
    def backends_with_model(self, model_name: str) -> list[str]: ...
    def model_hash(self, model_name: str) -> str | None: ...
    def lora_infos(self) -> list[Any]: ...  # easel.loras.LoraInfo of every backend, one per name
    def lora_trigger(self, name: str) -> str: ...  # the trigger words added with a LoRA ("" = none)
    def face_fix_ok(self, mode: str) -> bool: ...  # some backend can fix faces this way ("on", "adetailer", ...)
    def backends_with_lora(self, name: str) -> list[str]: ...
    def embedding_names(self) -> list[str]: ...  # textual inversions, written by name in a prompt
    def backends_with_embedding(self, name: str) -> list[str]: ...


ALL_FLAVORS: frozenset[Flavor] = frozenset(Flavor)


@dataclass(frozen=True)
class PayloadKey:
    """Where a value goes in the txt2img/img2img JSON for these flavours: ``("override_settings", "X")`` nests."""

    path: tuple[str, ...]
    flavors: frozenset[Flavor] = ALL_FLAVORS


class RangeError(ValueError):
    """A value outside an option's range; the message is one line (``name must be ...``)."""


@dataclass(frozen=True)
class Option:
    """One /draw option. Bounds are inclusive unless ``exclusive_minimum``; ``limit`` names the ``[limits]`` key
    (and /settings limit) that lowers ``maximum`` for a server."""

    name: str
    type: OptionType
    description: str  # /draw parameter description (<= 100 characters)
    help: str  # the /help text after the range and default
    default: Any = None  # the request's value when nothing is given and [defaults] has none
    defaults_key: bool = False  # settable in [defaults]
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    multiple_of: int | None = None
    unit: str = ""
    limit: str | None = None  # Limits field capping the maximum, e.g. "max_steps"
    limit_description: str = ""  # /settings text for the limit key
    limit_max: float | None = None  # the most the limit key itself may be
    discord_min: float | None = None  # absolute Discord-side bounds (default minimum/maximum)
    discord_max: float | None = None
    server_default: bool = False  # a server or channel may set a default (/settings)
    setting_description: str = ""  # /settings text for the default key
    catalog: Catalog | None = None
    random: int | None = None  # a value below ``minimum`` that means "random" (seed: -1)
    unset: int | None = None  # a value below ``minimum`` that means "not set: the webui's own" (sent as nothing)
    payload: tuple[PayloadKey, ...] = ()  # plain mapping into the webui JSON (None values are left out)
    command_line: bool = True  # shown in the copyable /draw line under Info
    requires: str | None = None  # only with this other option given (strength: init_image)
    noun: str = ""  # "at most 20 <noun>" in refusals of a server's limit (default: the name)
    infotext: str | None = None  # the key in a PNG's infotext ("Draw this again" reads it back)
    choices: tuple[str, ...] = ()  # CHOICE: the allowed values (the first is the "nothing asked" one)

    @property
    def numeric(self) -> bool:
        return self.type in (OptionType.INT, OptionType.FLOAT)

    def top(self, limits: Any = None) -> float | None:
        """The effective maximum: the ``limit`` field of ``limits`` when given, else ``maximum``."""
        if self.limit is not None and limits is not None:
            return getattr(limits, self.limit)
        return self.maximum

    def range_text(self, limits: Any = None) -> str:
        low, high = _fmt(self.minimum), _fmt(self.top(limits))
        if self.exclusive_minimum:
            return _("above {low} and at most {high}").format(low=low, high=high)
        return _("between {low} and {high}").format(low=low, high=high)

    def check(self, value: Any, limits: Any = None) -> Any:
        """``value`` converted to the option's type and within its range (``limits``: the effective [limits]).
        Raises :class:`RangeError` with a one-line message."""
        if self.type is OptionType.CHOICE:
            text = str(value).strip().lower()
            if text not in self.choices:
                raise RangeError(
                    _("{name} must be one of {choices} (got {value}).").format(
                        name=self.name, choices=", ".join(self.choices), value=_fmt(value)
                    )
                )
            return text
        if not self.numeric:
            return value
        value = _finite(self.name, value)
        if self.type is OptionType.INT:
            if value != int(value):
                raise RangeError(
                    _("{name} must be a whole number (got {value}).").format(name=self.name, value=f"{value:g}")
                )
            value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:
                raise RangeError(
                    # TRANSLATORS: {range} is 'between 1 and 50' or 'above 0 and at most 1' (translated on its own)
                    _("{name} must be {range} (got {value}).").format(
                        name=self.name, range=self.range_text(limits), value=_fmt(value)
                    )
                ) from None
        if value in (self.random, self.unset):
            return value
        if self.multiple_of and value % self.multiple_of:
            hint = _("; try {n}").format(n=int(value - value % self.multiple_of)) if value.bit_length() <= 64 else ""
            raise RangeError(
                _("{name} must be a multiple of {multiple} (got {value}){hint}.").format(
                    name=self.name, multiple=self.multiple_of, value=_fmt(value), hint=hint
                )
            )
        low, high = self.minimum, self.top(limits)
        below = low is not None and (value <= low if self.exclusive_minimum else value < low)
        if below or (high is not None and value > high):
            special = ""
            if self.random is not None:
                special = _(", or {n} for random").format(n=self.random)
            elif self.unset is not None:
                special = _(", or {n} for the webui's own setting").format(n=self.unset)
            raise RangeError(
                # TRANSLATORS: {range} as above; {special} is ', or -1 for random' (or empty)
                _("{name} must be {range}{special} (got {value}).").format(
                    name=self.name, range=self.range_text(limits), special=special, value=_fmt(value)
                )
            )
        return value

    def check_limit(self, value: Any, ceiling: float | None = None) -> Any:
        """A value for the ``limit`` key: at least the option's minimum (a multiple of ``multiple_of``), at most
        ``ceiling`` (the global [limits] value) when given."""
        name = self.limit or self.name
        value = _finite(name, value)
        if self.type is OptionType.INT:
            if value != int(value):
                raise RangeError(
                    _("{name} must be a whole number (got {value}).").format(name=name, value=f"{value:g}")
                )
            value = int(value)
        if self.multiple_of and value % self.multiple_of:
            raise RangeError(
                _("{name} must be a multiple of {multiple} (got {value}).").format(
                    name=name, multiple=self.multiple_of, value=_fmt(value)
                )
            )
        low = max(self.minimum or 1, 1)
        if value < low:
            raise RangeError(
                _("{name} must be at least {low} (got {value}).").format(name=name, low=_fmt(low), value=_fmt(value))
            )
        if self.limit_max is not None and value > self.limit_max:
            raise RangeError(
                _("{name} must be at most {high} (got {value}).").format(
                    name=name, high=_fmt(self.limit_max), value=_fmt(value)
                )
            )
        if ceiling is not None and value > ceiling:
            raise RangeError(
                _("{name} can't exceed the global ceiling {ceiling}.").format(name=name, ceiling=_fmt(ceiling))
            )
        return value

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """Discord-side absolute bounds of the /draw parameter."""
        low = self.discord_min if self.discord_min is not None else self.minimum
        if self.random is not None:
            low = self.random
        high = self.discord_max if self.discord_max is not None else self.maximum
        return low, high


def _finite(name: str, value: Any) -> int | float:
    """``value`` if it is a real, finite number (an int of any size is), else RangeError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RangeError(_("{name} must be a number (got {value}).").format(name=name, value=_fmt(value)))
    if isinstance(value, float) and not math.isfinite(value):
        raise RangeError(_("{name} must be a finite number (got {value}).").format(name=name, value=value))
    return value


def _fmt(value: Any) -> str:
    """A number for a message: floats short, huge integers not written out (one line, never thousands of digits)."""
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return _("a number with too many digits")
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


ASPECT_RATIOS: tuple[str, ...] = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")


# /draw lora: weights (the webui takes any number; past these the picture falls apart).
LORA_WEIGHT_MIN, LORA_WEIGHT_MAX = -2.0, 2.0
LORA_WEIGHT_DEFAULT = 0.8  # [defaults] lora_weight

# /draw face_fix: "on" uses ADetailer where a backend has it, else the webui's own face restoration; the others ask
# for one way (a restorer by name: the webui's restore_faces with that model).
FACE_FIX_CHOICES: tuple[str, ...] = ("off", "on", "adetailer", "codeformer", "gfpgan")


def ratio_of(aspect: str) -> tuple[int, int]:
    """``"16:9"`` as ``(16, 9)``."""
    a, b = aspect.split(":")
    return int(a), int(b)


_A1111_FORGE = frozenset({Flavor.A1111, Flavor.FORGE})

# Order = the order of the /draw parameters and of the /help lines.
OPTIONS: tuple[Option, ...] = (
    Option(
        "prompt",
        OptionType.STR,
        N_("What to draw"),
        N_("what to draw"),
        limit="max_prompt_length",
        minimum=1,
        maximum=6000,  # Discord allows 6000 characters in a string option
        unit=N_("characters"),
        command_line=True,
    ),
    Option(
        "negative_prompt",
        OptionType.STR,
        N_("What to keep out of the image"),
        N_("what to keep out of the image"),
        default="",
        defaults_key=True,
        limit="max_prompt_length",
        minimum=0,
        maximum=6000,
        server_default=True,
        setting_description=N_("Default negative prompt (users can replace it)"),
    ),
    Option(
        "model",
        OptionType.STR,
        N_("Checkpoint to draw with (default: the server's)"),
        N_("the checkpoint; see /models"),
        defaults_key=True,
        server_default=True,
        setting_description=N_("Default checkpoint for /draw"),
        catalog=Catalog.MODEL,
    ),
    Option(
        "sampler",
        OptionType.STR,
        N_("Sampling method, e.g. Euler a, DPM++ 2M"),
        N_("sampling method"),
        default="Euler a",
        defaults_key=True,
        server_default=True,
        setting_description=N_("Default sampling method"),
        catalog=Catalog.SAMPLER,
        payload=(PayloadKey(("sampler_name",)),),
    ),
    Option(
        "scheduler",
        OptionType.STR,
        N_("Noise schedule, e.g. Karras (default: automatic)"),
        N_("noise schedule, e.g. Karras"),
        defaults_key=True,
        server_default=True,
        setting_description=N_("Default noise schedule"),
        catalog=Catalog.SCHEDULER,
        payload=(PayloadKey(("scheduler",)),),
    ),
    Option(
        "steps",
        OptionType.INT,
        N_("Sampling steps (more is slower)"),
        N_("more is slower, rarely better past 30"),
        default=25,
        defaults_key=True,
        minimum=1,
        maximum=150,
        limit="max_steps",
        limit_description=N_("Most sampling steps a user may ask for"),
        server_default=True,
        setting_description=N_("Default sampling steps"),
        payload=(PayloadKey(("steps",)),),
        infotext="Steps",
    ),
    Option(
        "width",
        OptionType.INT,
        N_("Width in pixels, a multiple of 8"),
        N_("image width in pixels"),
        default=512,
        defaults_key=True,
        minimum=64,
        maximum=2048,
        multiple_of=8,
        unit=N_("pixels"),
        limit="max_width",
        noun=N_("pixels wide"),
        limit_description=N_("Largest width (multiple of 8)"),
        server_default=True,
        setting_description=N_("Default width in pixels (multiple of 8)"),
        payload=(PayloadKey(("width",)),),
    ),
    Option(
        "height",
        OptionType.INT,
        N_("Height in pixels, a multiple of 8"),
        N_("image height in pixels"),
        default=512,
        defaults_key=True,
        minimum=64,
        maximum=2048,
        multiple_of=8,
        unit=N_("pixels"),
        limit="max_height",
        noun=N_("pixels high"),
        limit_description=N_("Largest height (multiple of 8)"),
        server_default=True,
        setting_description=N_("Default height in pixels (multiple of 8)"),
        payload=(PayloadKey(("height",)),),
    ),
    Option(
        "aspect",
        OptionType.CHOICE,
        N_("Shape of the image; sets width and height from the default size"),
        N_("the shape at about the default size; with width or height given the other follows, with both they win"),
        default="default",
        defaults_key=True,
        server_default=True,
        setting_description=N_("Default aspect ratio (default = the default width and height)"),
        choices=("default", *ASPECT_RATIOS),
    ),
    Option(
        "cfg_scale",
        OptionType.FLOAT,
        N_("How closely to follow the prompt (1-30)"),
        N_("how strictly to follow the prompt"),
        default=7.0,
        defaults_key=True,
        minimum=1.0,
        maximum=30.0,
        server_default=True,
        setting_description=N_("Default CFG scale (1-30)"),
        payload=(PayloadKey(("cfg_scale",)),),
        infotext="CFG scale",
    ),
    Option(
        "seed",
        OptionType.INT,
        N_("Seed for reproducible results (-1: random)"),
        N_("the same seed and settings give the same image; -1 or empty: random"),
        default=-1,
        minimum=0,
        maximum=MAX_SEED,
        random=-1,
        payload=(PayloadKey(("seed",)),),
        infotext="Seed",
    ),
    Option(
        "clip_skip",
        OptionType.INT,
        N_("CLIP layers to skip (1-12; some models want 2)"),
        N_("CLIP layers to skip; some models (often anime ones) want 2"),
        default=0,
        defaults_key=True,
        minimum=1,
        maximum=12,
        unset=0,
        server_default=True,
        setting_description=N_("Default clip skip (1-12; 0 = the webui's own setting)"),
        infotext="Clip skip",
        payload=(
            PayloadKey(("override_settings", "CLIP_stop_at_last_layers"), frozenset({Flavor.A1111, Flavor.FORGE})),
            PayloadKey(("clip_skip",), frozenset({Flavor.SDNEXT})),
        ),
    ),
    Option(
        "count",
        OptionType.INT,
        N_("Number of images"),
        N_("how many images"),
        default=1,
        defaults_key=True,
        minimum=1,
        maximum=10,
        limit="max_count",
        limit_max=10,  # Discord allows 10 attachments per message
        noun=N_("images per request"),
        limit_description=N_("Most images per /draw"),
        payload=(PayloadKey(("n_iter",)),),
        command_line=False,
    ),
    Option(
        "style",
        OptionType.STR,
        N_("A prompt style saved in the webui"),
        N_("a prompt style saved in the webui, added to your prompt"),
        server_default=True,
        setting_description=N_("Default webui prompt style"),
        catalog=Catalog.STYLE,
    ),
    Option(
        "lora",
        OptionType.STR,
        "LoRAs: name or name:weight, comma-separated (weights -2 to 2)",
        "name:weight (-2 to 2), comma-separated",
        catalog=Catalog.LORA,
    ),
    Option(
        "face_fix",
        OptionType.CHOICE,
        "Fix faces (ADetailer where the image server has it, else its face restoration)",
        "fix faces",
        default="off",
        defaults_key=True,
        server_default=True,
        setting_description="Default face fix (off, on, adetailer, codeformer, gfpgan)",
        choices=FACE_FIX_CHOICES,
    ),
    Option(
        "hires_fix",
        OptionType.BOOL,
        N_("Upscale while generating for more detail (slower)"),
        N_("draw, then upscale adding detail (much slower)"),
        default=False,
    ),
    Option(
        "init_image",
        OptionType.ATTACHMENT,
        N_("An image to start from (img2img)"),
        N_("start from your picture (img2img) instead of noise"),
        command_line=False,
    ),
    Option(
        "strength",
        OptionType.FLOAT,
        N_("With init_image: how much to change it (0.05-1)"),
        N_("with `init_image`: how much to change it"),
        default=0.6,
        defaults_key=True,
        minimum=0.0,
        exclusive_minimum=True,
        maximum=1.0,
        discord_min=0.05,
        requires="init_image",
    ),
    Option(
        "spoiler",
        OptionType.BOOL,
        N_("Post the images behind a spoiler"),
        N_("post the images behind a spoiler"),
        default=False,
        command_line=False,
    ),
    Option(
        "preset",
        OptionType.STR,
        "A saved set of options (yours or the server's, see /preset); the options you give win",
        "",  # /help tells of it on the /preset line
        command_line=False,
    ),
)

BY_NAME: Mapping[str, Option] = {o.name: o for o in OPTIONS}
NUMERIC: tuple[Option, ...] = tuple(o for o in OPTIONS if o.numeric)
DEFAULTS_KEYS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.defaults_key)
SERVER_DEFAULTS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.server_default)
SERVER_LIMITS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.limit_description)
BY_LIMIT: Mapping[str, Option] = {o.limit: o for o in SERVER_LIMITS if o.limit}


def command_value(opt: Option, value: Any) -> str | None:
    """How ``value`` of ``opt`` is written in a copyable /draw line (None: left out)."""
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, float):
        return f"{value:g}"
    return " ".join(str(value).split()) if opt.type is OptionType.STR else str(value)


def option(name: str) -> Option:
    return BY_NAME[name]


def defaults_value(opt: Option) -> Any:
    """The built-in ``[defaults]`` value of an option (strings: ``""`` for "none")."""
    if opt.default is None and opt.type is OptionType.STR:
        return ""
    return opt.default


def defaults_type(opt: Option) -> type:
    return {OptionType.INT: int, OptionType.FLOAT: float, OptionType.BOOL: bool}.get(opt.type, str)


def checked(opt: Option) -> bool:
    """Whether a value of ``opt`` has a range or set to be checked in (numbers and choices)."""
    return opt.numeric or opt.type is OptionType.CHOICE


def apply_payload(payload: dict[str, Any], values: Mapping[str, Any], flavor: Flavor | str = Flavor.A1111) -> None:
    """Put every option's value in ``values`` (None and "" are left out) where the table says, for ``flavor``."""
    flavor = Flavor(flavor)
    for opt in OPTIONS:
        value = values.get(opt.name)
        if value is None or value == "":
            continue
        for key in opt.payload:
            if flavor not in key.flavors:
                continue
            target = payload
            for part in key.path[:-1]:
                target = target.setdefault(part, {})
            target[key.path[-1]] = value


def help_line(opt: Option, defaults: Any, limits: Any, show: Callable[[Any], str] = str) -> str:
    """One /help line: ``name`` range (default): text. ``show`` formats a default value (escaping)."""
    head = f"`{opt.name}`"
    if opt.type is OptionType.STR and opt.limit:
        # TRANSLATORS: a /help line: {head} the option name in code, {help} its text, {unit} 'characters'
        return _("{head} {help}, up to {n} {unit}").format(
            head=head, help=_(opt.help), n=opt.top(limits), unit=_(opt.unit or N_("characters"))
        )
    parts: list[str] = []
    if opt.type is OptionType.CHOICE:
        parts.append(", ".join(opt.choices))
    if opt.numeric and opt.random is None:
        low = opt.minimum if not opt.exclusive_minimum else opt.discord_min
        rng = f"{_fmt(low)}-{_fmt(opt.top(limits))}"
        parts.append(_("multiples of {n}, {range}").format(n=opt.multiple_of, range=rng) if opt.multiple_of else rng)
    default = getattr(defaults, opt.name, None) if opt.defaults_key else None
    nothing = opt.choices[0] if opt.choices else None  # a choice default that asks for nothing
    if default not in (None, "", opt.unset, nothing) and opt.type is not OptionType.BOOL:
        parts.append(_("(default {value})").format(value=show(_fmt(default) if opt.numeric else default)))
    if not parts:
        return f"{head} {_(opt.help)}"
    return f"{head} {' '.join(parts)}: {_(opt.help)}"
