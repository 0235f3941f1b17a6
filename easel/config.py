"""Configuration: a TOML file read with tomllib and validated at start into typed, frozen objects.

A bad config raises :class:`ConfigError` naming the key and the problem; ``bot.py`` prints it and exits.
Every key is documented in ``config.example.toml``.

Every key has a default, so no file at all is a valid config (``load_config(..., missing_ok=True)``): the token
from ``DISCORD_TOKEN``, one backend at ``EASEL_WEBUI_URL`` (default ``http://127.0.0.1:7860``) and the SQLite file
beside where the config would be. A file is only needed to change something.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from easel.options import (
    BY_LIMIT,
    BY_NAME,
    DEFAULTS_KEYS,
    LORA_WEIGHT_DEFAULT,
    LORA_WEIGHT_MAX,
    LORA_WEIGHT_MIN,
    RangeError,
    checked,
    defaults_type,
    defaults_value,
)

T = TypeVar("T")


class ConfigError(Exception):
    """The config file is missing, unreadable or has a bad value. The message names the key, on one line of at most
    ``MAX_LENGTH`` characters (a long or multi-line value from the file is cut, never printed whole)."""

    MAX_LENGTH = 300

    def __init__(self, message: str) -> None:
        line = " ".join(str(message).split())
        if len(line) > self.MAX_LENGTH:
            line = line[: self.MAX_LENGTH - 1] + "…"
        super().__init__(line)


def _shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class DiscordConfig:
    token: str = field(default="", repr=False)
    guild_ids: tuple[int, ...] = ()
    moderator_role_ids: tuple[int, ...] = ()
    admin_role_ids: tuple[int, ...] = ()


class BackendKind(StrEnum):
    """``[[backends]] kind``: which client serves the backend (``easel.backends``)."""

    WEBUI = "webui"  # AUTOMATIC1111, Forge or SD.Next (the flavour is detected)
    HORDE = "horde"


@dataclass(frozen=True)
class BackendConfig:
    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exclusive: bool = False  # Easel is the only user of this webui: the global /progress is this job's
    kind: BackendKind = BackendKind.WEBUI
    horde: HordeBackend | None = None  # kind = "horde": the AI Horde's settings (None: a webui)

    @property
    def is_horde(self) -> bool:
        return self.kind is BackendKind.HORDE


# ---- the AI Horde (kind = "horde"; docs/horde.md) ----
HORDE_URL = "https://aihorde.net/api"
HORDE_ANONYMOUS_KEY = "0000000000"


@dataclass(frozen=True)
class HordeBackend:
    """``[[backends]] kind = "horde"``: the key (or env ``EASEL_HORDE_API_KEY``; the anonymous key works with the
    lowest priority), the Horde models Easel may ask for (empty: any), trusted workers only, how many requests
    Easel keeps on the Horde at once, and the contact sent in ``Client-Agent``."""

    api_key: str = field(default=HORDE_ANONYMOUS_KEY, repr=False)
    models: tuple[str, ...] = ()
    trusted_workers: bool = False
    max_in_flight: int = 2
    allow_downgrade: bool = False
    contact: str = "unknown"
    poll_interval: float = 2.0


class HordeMode(StrEnum):
    """``[horde] mode`` and the per-server ``/settings horde``: whether jobs may go to the AI Horde."""

    OFF = "off"  # never (the default: the Horde's volunteers see prompts and images)
    OVERFLOW = "overflow"  # when the local line is long, every local backend is down, or only the Horde has the model
    ONLY = "only"  # everything the Horde can draw goes there


@dataclass(frozen=True)
class HordeRouting:
    mode: HordeMode = HordeMode.OFF
    overflow_after: float = 120.0  # seconds: a job whose local start is later than this goes to the Horde


@dataclass(frozen=True)
class WebuiConfig:
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    catalog_refresh: float = 300.0
    max_attempts: int = 3
    probe_max_interval: float = 60.0
    stall_timeout: float = 120.0  # a running generation whose progress does not move this long is abandoned
    lost_task_timeout: float = 30.0  # a generation the webui does not know this long after sending is abandoned
    total_timeout: float = 0.0  # bound on one whole generation call, answer included; 0 = read_timeout + 120 s


Defaults = make_dataclass(
    "Defaults",
    [
        (o.name, defaults_type(o) if defaults_value(o) is not None else defaults_type(o) | None, defaults_value(o))
        for o in DEFAULTS_KEYS
    ]
    + [("lora_weight", float, LORA_WEIGHT_DEFAULT)],  # the weight of a LoRA named without one (easel.loras)
    frozen=True,
)
Defaults.__module__ = __name__
Defaults.__doc__ = "[defaults]: one field per option of easel.options.OPTIONS with ``defaults_key``."


@dataclass(frozen=True)
class Limits:
    max_steps: int = 50
    max_width: int = 1024
    max_height: int = 1024
    max_pixels: int = 1024 * 1024
    max_count: int = 4
    max_prompt_length: int = 1500
    max_queued_per_user: int = 3
    cooldown_seconds: float = 0.0
    max_init_image_bytes: int = 8 * 1024 * 1024
    max_init_image_pixels: int = 16 * 1024 * 1024
    max_queue_length: int = 1000  # jobs waiting in all (every server)
    max_queued_per_guild: int = 200  # jobs waiting from one server
    max_loras: int = 5  # LoRAs in one request (the lora option and <lora:...> tags together)


@dataclass(frozen=True)
class RoleLimit:
    """A role whose members get other queue limits than ``[limits]`` (e.g. supporters): may exceed them."""

    role_id: int
    max_queued_per_user: int | None = None
    cooldown_seconds: float | None = None


@dataclass(frozen=True)
class HiresConfig:
    upscaler: str = "Latent"
    scale: float = 2.0
    denoising_strength: float = 0.5
    second_pass_steps: int = 0


@dataclass(frozen=True)
class ResultsConfig:
    anyone_can_use_buttons: bool = False
    upscaler: str = "R-ESRGAN 4x+"
    upscale_factor: float = 2.0
    vary_strength: float = 0.3
    progress_previews: bool = True


@dataclass(frozen=True)
class ToolsConfig:
    """``[tools]``: /upscale, /describe, Zoom out and pan on any picture."""

    max_upscale_factor: float = 4.0  # /upscale's factor: 1.5 up to this (at most 4)
    max_upscale_pixels: int = 4096 * 4096  # an upscale's output: at most this many pixels
    outpaint_denoise: float = 0.85  # denoising strength that fills the new area of a zoom out or a pan
    outpaint_mask_blur: int = 8  # pixels the mask's edge is blurred over, so the seam blends
    max_images: int = 10  # images of one message a tool looks at (the select menu lists at most this many)


@dataclass(frozen=True)
class QueueConfig:
    status_interval: float = 5.0
    affinity_max_skips: int = 3
    shutdown_grace: float = 30.0
    # Send a backend's next job while its current one runs (it waits in the webui's own line), so the GPU does
    # not idle between two pictures. Off by itself on webuis that cannot follow one task or are shared.
    prefetch: bool = True


@dataclass(frozen=True)
class StorageConfig:
    path: str = "easel.db"
    keep_results_days: float = 30.0


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    json: bool = False


class ExtraNetworks(StrEnum):
    """<lora:…>, <hypernet:…> tags in prompts."""

    ALLOW = "allow"
    STRIP = "strip"


class NsfwCheck(StrEnum):
    """What the image check does with a flagged picture outside age-restricted channels (weakest first)."""

    OFF = "off"  # no image check
    SPOILER = "spoiler"  # post it behind a spoiler
    BLUR = "blur"  # post a blurred copy
    REFUSE = "refuse"  # post nothing (an accepted upload is refused)


# The labels of NudeNet's detector (easel/safety/images.py); the default set means "explicit".
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
EXPLICIT_LABELS = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)


@dataclass(frozen=True)
class SafetyConfig:
    """Bot-wide content rules, on top of which every guild adds its own (``[safety]`` in the config)."""

    banned_words: tuple[str, ...] = ()  # whole words, case-insensitive; "re:" prefix = regular expression
    strip_words: tuple[str, ...] = ()  # removed silently from prompts
    negative_prefix: str = ""  # always at the start of the negative prompt
    extra_networks: ExtraNetworks = ExtraNetworks.ALLOW  # strip <lora:…>, <hypernet:…> tags? a guild may only tighten
    daily_quota: int = 0  # drawings per user per UTC day; 0 = no quota. A ceiling for guild quotas.
    blocked_users: tuple[int, ...] = ()  # user ids refused everywhere
    nsfw_check: NsfwCheck = NsfwCheck.OFF  # the image check's default; a global "refuse" can't be loosened
    nsfw_labels: tuple[str, ...] = EXPLICIT_LABELS  # NudeNet labels that flag a picture
    nsfw_threshold: float = 0.5  # a detection of one of those labels at this score or above flags it


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9108


# ---- [[models]] (model profiles) and [presets] -----------------------------------------------------------

MAX_PROFILE_TEXT = 500  # description, negative_prefix, trigger_words
MAX_PROFILE_NAME = 100  # model, hash, display_name, vae, one module
MAX_PROFILE_MODULES = 8


@dataclass(frozen=True)
class ModelProfile:
    """Per-checkpoint settings (``[[models]]``, and a server's overrides): see :mod:`easel.profiles`. ``None`` or
    empty: not set (the next layer's value applies)."""

    model: str = ""  # the checkpoint it applies to: its name, title or file name (as /sdapi/v1/sd-models lists it)
    hash: str = ""  # or its short hash (the 10 hex characters in the title)
    display_name: str = ""
    description: str = ""
    hidden: bool = False  # not offered and refused
    base_size: int | None = None  # the side of the default square: 512 (SD 1.5), 768, 1024 (SDXL, Flux)
    width: int | None = None  # default width and height (else base_size x base_size)
    height: int | None = None
    max_width: int | None = None  # the largest size for this model (never past [limits])
    max_height: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    clip_skip: int | None = None
    vae: str | None = None  # A1111 / SD.Next: the sd_vae override ("None", "Automatic" or a VAE file name)
    modules: tuple[str, ...] = ()  # Forge: forge_additional_modules (VAE / text encoder files)
    distilled_cfg_scale: float | None = None  # Forge (Flux): the distilled CFG scale
    negative_prefix: str = ""  # put before every negative prompt drawn with this model
    trigger_words: str = ""  # added to the prompt once


PROFILE_KEYS: tuple[str, ...] = tuple(f for f in ModelProfile.__dataclass_fields__ if f not in ("model", "hash"))
"""The keys a server may override (``/profile set``)."""

_PROFILE_SIZES = ("base_size", "width", "height", "max_width", "max_height")  # pixels: 64-2048, multiples of 8


def profile_value(key: str, value: Any) -> Any:
    """One checked value of a model profile key. Raises ValueError with a one-line message naming the key."""
    if key not in ModelProfile.__dataclass_fields__:
        raise ValueError(f"unknown profile key {key!r} (known: {', '.join(('model', 'hash', *PROFILE_KEYS))})")
    if key == "hidden":
        if not isinstance(value, bool):
            raise ValueError("hidden must be true or false")
        return value
    if key in _PROFILE_SIZES:
        low, high = 64, 2048
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high or value % 8:
            raise ValueError(f"{key} must be a whole number of pixels from {low} to {high}, a multiple of 8")
        return value
    if key in ("steps", "cfg_scale", "clip_skip"):
        opt = BY_NAME[key]
        try:
            return opt.check(value)
        except RangeError as exc:
            raise ValueError(str(exc)) from None
    if key == "distilled_cfg_scale":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 30:
            raise ValueError("distilled_cfg_scale must be a number from 0 to 30 (Flux wants about 3.5)")
        return float(value)
    if key == "modules":
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError('modules must be a list of file names, like ["ae.safetensors", "clip_l.safetensors"]')
        if len(value) > MAX_PROFILE_MODULES or any(len(v) > MAX_PROFILE_NAME for v in value):
            raise ValueError(f"modules: at most {MAX_PROFILE_MODULES} names of {MAX_PROFILE_NAME} characters")
        return tuple(v.strip() for v in value if v.strip())
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text")
    value = " ".join(value.split())
    top = MAX_PROFILE_TEXT if key in ("description", "negative_prefix", "trigger_words") else MAX_PROFILE_NAME
    if len(value) > top:
        raise ValueError(f"{key} can be at most {top} characters")
    if key in ("sampler", "scheduler", "vae"):
        return value or None
    return value


def parse_profile(table: Mapping[str, Any], where: str, *, need_model: bool = True) -> ModelProfile:
    """One ``[[models]]`` table. Raises ConfigError naming the key."""
    _check_unknown(table, set(ModelProfile.__dataclass_fields__), where)
    values: dict[str, Any] = {}
    for key, value in table.items():
        try:
            values[key] = profile_value(key, value)
        except ValueError as exc:
            raise ConfigError(f"{where}.{key}: {exc}") from None
    profile = ModelProfile(**values)
    if need_model and not profile.model and not profile.hash:
        raise ConfigError(f'{where}: name the checkpoint with model = "..." (or hash = "...")')
    return profile


def _profiles(raw: Mapping[str, Any]) -> tuple[ModelProfile, ...]:
    items = raw.get("models", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError('[[models]]: expected an array of tables ([[models]] with model = "...")')
    result = tuple(parse_profile(item, f"models[{i}]") for i, item in enumerate(items))
    seen: set[str] = set()
    for i, p in enumerate(result):
        for key in (p.model.lower(), p.hash.lower()):
            if key and key in seen:
                raise ConfigError(f"models[{i}]: {key!r} has a profile already; keep one per checkpoint")
            seen.add(key)
    return result


@dataclass(frozen=True)
class PresetsConfig:
    max_per_user: int = 25  # presets one member may keep
    max_per_server: int = 50  # server presets (admins) per server


@dataclass(frozen=True)
class LoraConfig:
    """``[loras.<name>]``: what the admin says about one LoRA. ``trigger``: the words added to the prompt with it
    (None: the activation text the webui lists; "" = none)."""

    trigger: str | None = None


@dataclass(frozen=True)
class Config:
    discord: DiscordConfig
    backends: tuple[BackendConfig, ...]
    webui: WebuiConfig = WebuiConfig()
    defaults: Defaults = field(default_factory=Defaults)
    limits: Limits = Limits()
    hires: HiresConfig = HiresConfig()
    queue: QueueConfig = QueueConfig()
    storage: StorageConfig = StorageConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    results: ResultsConfig = ResultsConfig()
    safety: SafetyConfig = SafetyConfig()
    role_limits: tuple[RoleLimit, ...] = ()
    tools: ToolsConfig = ToolsConfig()
    models: tuple[ModelProfile, ...] = ()  # [[models]]: per-checkpoint profiles (easel.profiles)
    presets: PresetsConfig = PresetsConfig()
    loras: Mapping[str, LoraConfig] = field(default_factory=dict)  # [loras.<name>], keys casefolded
    horde: HordeRouting = HordeRouting()


def _take(table: Mapping[str, Any], key: str, kind: type[T], default: T, where: str) -> T:
    if key not in table:
        return default
    value = table[key]
    name = f"{where}.{key}"
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {type(value).__name__} {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    return value  # type: ignore[return-value]


def _positive(name: str, value: float, *, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{name}: must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")


def _check_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}]: expected a table")
    return value


def _simple(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """Build a flat dataclass from a TOML table, type-checking each key against the field's default."""
    defaults = cls()  # type: ignore[call-arg]
    known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    _check_unknown(table, known, f"[{where}]")
    values = {}
    for key in known:
        default = getattr(defaults, key)
        values[key] = _take(table, key, type(default), default, where)
    return cls(**values)


def _defaults(table: Mapping[str, Any], limits: Limits) -> Any:
    """``[defaults]``: every key of the option table with ``defaults_key``, checked against ``limits``."""
    _check_unknown(table, {o.name for o in DEFAULTS_KEYS} | {"lora_weight"}, "[defaults]")
    values: dict[str, Any] = {}
    weight = _take(table, "lora_weight", float, LORA_WEIGHT_DEFAULT, "defaults")
    if not LORA_WEIGHT_MIN <= weight <= LORA_WEIGHT_MAX:
        raise ConfigError(f"defaults.lora_weight: must be between {LORA_WEIGHT_MIN:g} and {LORA_WEIGHT_MAX:g}")
    values["lora_weight"] = weight
    for o in DEFAULTS_KEYS:
        value = _take(table, o.name, defaults_type(o), defaults_value(o), "defaults")
        if checked(o) and value is not None:
            try:
                value = o.check(value, limits)
            except RangeError as exc:
                raise ConfigError(f"defaults.{o.name}: {exc}") from None
        values[o.name] = value
    return Defaults(**values)


def _ids(table: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{where}.{key}: expected a list of numeric ids, like [123456789012345678]")
    return tuple(value)


def _no_auth(url: str) -> str:
    """``url`` without a ``user:password@`` part (for messages)."""
    head, sep, tail = url.partition("://")
    return head + sep + tail.rpartition("@")[2] if sep else url.rpartition("@")[2]


_HORDE_KEYS = {"kind", "name", "url", "api_key", "models", "trusted_workers", "max_in_flight", "allow_downgrade"}
_HORDE_KEYS |= {"contact", "poll_interval"}


def _horde_backend(item: Mapping[str, Any], where: str, env: Mapping[str, str]) -> BackendConfig:
    """One ``[[backends]]`` table with ``kind = "horde"``."""
    _check_unknown(item, _HORDE_KEYS, where)
    url = _take(item, "url", str, HORDE_URL, where).rstrip("/")
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        raise ConfigError(f"{where}.url: expected the Horde's API URL like {HORDE_URL}, got {_no_auth(url)!r}")
    key = (env.get("EASEL_HORDE_API_KEY") or _take(item, "api_key", str, "", where)).strip() or HORDE_ANONYMOUS_KEY
    models = item.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
        raise ConfigError(f'{where}.models: expected a list of Horde model names, like ["AlbedoBase XL (SDXL)"]')
    horde = HordeBackend(
        api_key=key,
        models=tuple(m.strip() for m in models),
        trusted_workers=_take(item, "trusted_workers", bool, False, where),
        max_in_flight=_take(item, "max_in_flight", int, 2, where),
        allow_downgrade=_take(item, "allow_downgrade", bool, False, where),
        contact=_take(item, "contact", str, "unknown", where).strip() or "unknown",
        poll_interval=_take(item, "poll_interval", float, 2.0, where),
    )
    if not 1 <= horde.max_in_flight <= 20:
        raise ConfigError(f"{where}.max_in_flight: expected 1-20 requests, got {horde.max_in_flight}")
    if not 0.05 <= horde.poll_interval <= 60:
        raise ConfigError(f"{where}.poll_interval: expected 0.05-60 seconds, got {horde.poll_interval}")
    return BackendConfig(_take(item, "name", str, "horde", where), url, kind=BackendKind.HORDE, horde=horde)


def _horde_routing(table: Mapping[str, Any]) -> HordeRouting:
    _check_unknown(table, {"mode", "overflow_after"}, "[horde]")
    mode = _take(table, "mode", str, HordeMode.OFF.value, "horde")
    try:
        routing = HordeRouting(HordeMode(mode), _take(table, "overflow_after", float, 120.0, "horde"))
    except ValueError:
        raise ConfigError(f"horde.mode: expected off, overflow or only, got {mode!r}") from None
    _positive("horde.overflow_after", routing.overflow_after, zero_ok=True)
    return routing


DEFAULT_WEBUI_URL = "http://127.0.0.1:7860"
DEFAULT_CONFIG_PATH = "config.toml"  # bot.py's --config when none is given (relative to the working directory)
WEBUI_URL_ENV = "EASEL_WEBUI_URL"  # the one backend's url when the config names none


def _backends(raw: Mapping[str, Any], env: Mapping[str, str]) -> tuple[BackendConfig, ...]:
    env_url = env.get(WEBUI_URL_ENV, "").strip()
    if "backends" not in raw:  # no [[backends]]: one webui, on this machine unless the environment says where
        raw = {"backends": [{"url": env_url or DEFAULT_WEBUI_URL}]}
    elif env_url:
        raise ConfigError(
            f"{WEBUI_URL_ENV} is set and the config has [[backends]]: keep one (unset {WEBUI_URL_ENV}, or remove "
            "the [[backends]] tables)"
        )
    items = raw.get("backends")
    if not items:
        raise ConfigError('[[backends]]: at least one backend is needed, e.g. url = "http://127.0.0.1:7860"')
    if not isinstance(items, list) or not all(isinstance(b, dict) for b in items):
        raise ConfigError("[[backends]]: expected an array of tables ([[backends]])")
    result: list[BackendConfig] = []
    for i, item in enumerate(items):
        where = f"backends[{i}]"
        if item.get("kind") == "horde":
            result.append(_horde_backend(item, where, os.environ if env is None else env))
            continue
        _check_unknown(item, {"name", "url", "username", "password", "exclusive", "kind"}, where)
        kind_text = _take(item, "kind", str, str(BackendKind.WEBUI), where)
        try:
            kind = BackendKind(kind_text)
        except ValueError:
            choices = ", ".join(repr(str(k)) for k in BackendKind)
            raise ConfigError(f"{where}.kind: expected one of {choices}, got {kind_text!r}") from None
        url = _take(item, "url", str, "", where).rstrip("/")
        parsed = urlparse(url)
        netloc = parsed.netloc.rpartition("@")[2]  # host[:port], without user:password@
        if parsed.scheme not in ("http", "https") or not netloc:
            raise ConfigError(f"{where}.url: expected an http(s) URL like http://127.0.0.1:7860, got {_no_auth(url)!r}")
        username = _take(item, "username", str, "", where) or None
        password = _take(item, "password", str, "", where) or None
        if parsed.username is not None or parsed.password is not None:  # http://user:pass@host
            if username is not None or password is not None:
                raise ConfigError(
                    f"{where}: the url has a user:password@ part and username/password are set too; keep one"
                )
            username, password = unquote(parsed.username or ""), unquote(parsed.password or "")
            if not username or not password:
                raise ConfigError(f"{where}.url: expected user:password@ in the url, or username and password keys")
            url = parsed._replace(netloc=netloc).geturl()
        name = _take(item, "name", str, netloc, where)
        if (username is None) != (password is None):
            raise ConfigError(f"{where}: username and password go together (the webui's --api-auth user:pass)")
        exclusive = _take(item, "exclusive", bool, False, where)
        result.append(BackendConfig(name, url, username, password, exclusive, kind))
    names = [b.name for b in result]
    if len(set(names)) != len(names):
        raise ConfigError("[[backends]]: backend names must be unique")
    return tuple(result)


def _role_limits(raw: Mapping[str, Any]) -> tuple[RoleLimit, ...]:
    items = raw.get("role_limits", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError("[[role_limits]]: expected an array of tables ([[role_limits]] with role_id = ...)")
    result = []
    for i, item in enumerate(items):
        where = f"role_limits[{i}]"
        _check_unknown(item, {"role_id", "max_queued_per_user", "cooldown_seconds"}, where)
        role_id = item.get("role_id")
        if not isinstance(role_id, int) or isinstance(role_id, bool):
            raise ConfigError(f"{where}.role_id: expected a numeric role id")
        max_queued = _take(item, "max_queued_per_user", int, -1, where)
        cooldown = _take(item, "cooldown_seconds", float, -1.0, where)
        if "max_queued_per_user" in item and max_queued < 1:
            raise ConfigError(f"{where}.max_queued_per_user: must be >= 1")
        if "cooldown_seconds" in item and cooldown < 0:
            raise ConfigError(f"{where}.cooldown_seconds: must be >= 0")
        result.append(
            RoleLimit(
                role_id,
                max_queued if "max_queued_per_user" in item else None,
                cooldown if "cooldown_seconds" in item else None,
            )
        )
    return tuple(result)


MAX_ENTRY_LENGTH = 100  # one banned/strip word or pattern
MAX_PREFIX_LENGTH = 500  # negative_prefix
MAX_REGEX_REPEAT = 1000  # {m,n} bounds above this are refused
MAX_REGEX_COST = 5000.0  # see _regex_cost: one unbounded repeat and a little more
_UNBOUNDED = 1000  # what an unbounded repeat (*, +) counts as in _regex_cost
MAX_DAILY_QUOTA = 100_000


class EntryError(ValueError):
    """A banned/strip word or pattern that can't be used; the message says why (one line)."""


# ---- [safety]: the bot-wide content rules ----------------------------------------------------------------


def parse_safety(table: Mapping[str, Any], where: str = "safety") -> SafetyConfig:
    """Validate a ``[safety]`` TOML table. Raises ConfigError naming the key."""
    known = {f.name for f in fields(SafetyConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"[{where}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key in ("banned_words", "strip_words"):
        items = table.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f'{where}.{key}: expected a list of strings, like ["word", "re:pattern"]')
        try:
            values[key] = tuple(check_entry(i) for i in items if i.strip())
        except EntryError as exc:
            raise ConfigError(f"{where}.{key}: {exc}") from None
    prefix = table.get("negative_prefix", "")
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ConfigError(f"{where}.negative_prefix: expected a string of at most {MAX_PREFIX_LENGTH} characters")
    values["negative_prefix"] = prefix.strip()
    extra = table.get("extra_networks", "allow")
    if extra not in tuple(ExtraNetworks):
        raise ConfigError(f'{where}.extra_networks: expected "allow" or "strip", got {extra!r}')
    values["extra_networks"] = ExtraNetworks(extra)
    quota = table.get("daily_quota", 0)
    if not isinstance(quota, int) or isinstance(quota, bool) or not 0 <= quota <= MAX_DAILY_QUOTA:
        raise ConfigError(f"{where}.daily_quota: expected a whole number >= 0 (0 = no quota)")
    values["daily_quota"] = quota
    blocked = table.get("blocked_users", [])
    if not isinstance(blocked, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in blocked):
        raise ConfigError(f"{where}.blocked_users: expected a list of numeric user ids")
    values["blocked_users"] = tuple(blocked)
    check = table.get("nsfw_check", "off")
    if check not in tuple(NsfwCheck):
        raise ConfigError(
            f"{where}.nsfw_check: expected one of {', '.join(repr(str(m)) for m in NsfwCheck)}, got {check!r}"
        )
    values["nsfw_check"] = NsfwCheck(check)
    labels = table.get("nsfw_labels", list(EXPLICIT_LABELS))
    if not isinstance(labels, list) or not labels or not all(isinstance(i, str) for i in labels):
        raise ConfigError(f'{where}.nsfw_labels: expected a non-empty list of labels, like ["ANUS_EXPOSED"]')
    bad = [i for i in labels if i not in NUDENET_LABELS]
    if bad:
        raise ConfigError(f"{where}.nsfw_labels: unknown label {bad[0]!r} (known: {', '.join(NUDENET_LABELS)})")
    values["nsfw_labels"] = tuple(dict.fromkeys(labels))
    threshold = table.get("nsfw_threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ConfigError(f"{where}.nsfw_threshold: expected a number from 0 to 1, got {threshold!r}")
    values["nsfw_threshold"] = float(threshold)
    return SafetyConfig(**values)


_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_FORBIDDEN_OPS = ("GROUPREF", "GROUPREF_EXISTS")
ZERO_WIDTH = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)


def _regex_cost(pattern: str) -> float | None:
    """A rough upper bound of the backtracking work per start position, or None for a pattern that is never
    safe (a repeat inside a repeat, alternation inside a repeat, back-references). Unbounded repeats count as
    :data:`_UNBOUNDED` tries, so two of them in one pattern are over :data:`MAX_REGEX_COST`."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - Python < 3.11 has sre_parse
        import sre_parse  # type: ignore[no-redef]

    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None

    def cost(items: Iterable[Any], in_repeat: bool) -> float | None:
        total = 1.0
        for op, av in items:
            name = str(op)
            part: float | None = 1.0
            if name in _FORBIDDEN_OPS:
                return None
            if name in _REPEATS:
                _low, high, sub = av
                unbounded = high == sre_parse.MAXREPEAT
                if (not unbounded and high > MAX_REGEX_REPEAT) or (in_repeat and (unbounded or high > 1)):
                    return None
                inner = cost(sub, in_repeat or unbounded or high > 1)
                part = None if inner is None else inner * ((_UNBOUNDED if unbounded else high) + 1)
            elif name == "BRANCH":
                if in_repeat:
                    return None
                alts = [cost(b, in_repeat) for b in av[1]]
                part = None if any(a is None for a in alts) else sum(a for a in alts if a is not None)
            elif name == "SUBPATTERN":
                part = cost(av[-1], in_repeat)
            elif name in ("ASSERT", "ASSERT_NOT"):
                part = cost(av[1], in_repeat)
            elif name == "ATOMIC_GROUP":
                part = cost(av, in_repeat)
            if part is None:
                return None
            total *= part
        return total

    return cost(tree, False)


def _regex_is_safe(pattern: str) -> bool:
    c = _regex_cost(pattern)
    return c is not None and c <= MAX_REGEX_COST


def check_entry(entry: str) -> str:
    """One banned/strip entry: a word or phrase, or ``re:`` + a safe regular expression."""
    entry = entry.strip()
    if not entry:
        raise EntryError("An empty word can't be banned.")
    if len(entry) > MAX_ENTRY_LENGTH:
        raise EntryError(f"Each word or pattern can be at most {MAX_ENTRY_LENGTH} characters.")
    if entry.lower().startswith("re:"):
        pattern = entry[3:]
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise EntryError(f"Bad regular expression: {exc.msg}.") from None
        if not _regex_is_safe(pattern):
            raise EntryError(
                "That regular expression could be very slow (nested repeats, alternation inside a repeat or "
                "back-references); simplify it."
            )
        if compiled.search(""):
            raise EntryError("That regular expression matches empty text; it would refuse every prompt.")
        return "re:" + pattern
    return normalise(entry)


def normalise(text: str) -> str:
    """For matching: compatibility forms folded (fullwidth letters, ligatures), zero-width characters dropped,
    case folded."""
    return unicodedata.normalize("NFKC", ZERO_WIDTH.sub("", text)).casefold()


def parse_config(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    sections = {
        "discord",
        "backends",
        "webui",
        "defaults",
        "limits",
        "hires",
        "queue",
        "storage",
        "logging",
        "metrics",
        "results",
        "safety",
        "role_limits",
        "tools",
        "models",
        "presets",
        "loras",
        "horde",
    }
    _check_unknown(raw, sections, "config")

    d = _table(raw, "discord")
    _check_unknown(d, {"token", "guild_ids", "moderator_role_ids", "admin_role_ids"}, "[discord]")
    token = env.get("DISCORD_TOKEN") or _take(d, "token", str, "", "discord")
    discord = DiscordConfig(
        token=token.strip(),
        guild_ids=_ids(d, "guild_ids", "discord"),
        moderator_role_ids=_ids(d, "moderator_role_ids", "discord"),
        admin_role_ids=_ids(d, "admin_role_ids", "discord"),
    )

    webui = _simple(WebuiConfig, _table(raw, "webui"), "webui")
    _positive("webui.connect_timeout", webui.connect_timeout)
    _positive("webui.read_timeout", webui.read_timeout)
    _positive("webui.catalog_refresh", webui.catalog_refresh)
    _positive("webui.probe_max_interval", webui.probe_max_interval)
    _positive("webui.stall_timeout", webui.stall_timeout)
    _positive("webui.lost_task_timeout", webui.lost_task_timeout)
    _positive("webui.total_timeout", webui.total_timeout, zero_ok=True)
    if webui.max_attempts < 1:
        raise ConfigError("webui.max_attempts: must be >= 1")

    limits = _simple(Limits, _table(raw, "limits"), "limits")
    for key in Limits.__dataclass_fields__:
        _positive(f"limits.{key}", getattr(limits, key), zero_ok=key == "cooldown_seconds")
    for key, opt in BY_LIMIT.items():
        try:
            opt.check_limit(getattr(limits, key))
        except RangeError as exc:
            raise ConfigError(f"limits.{exc}") from None

    defaults = _defaults(_table(raw, "defaults"), limits)

    hires = _simple(HiresConfig, _table(raw, "hires"), "hires")
    if not 1 < hires.scale <= 4:
        raise ConfigError("hires.scale: must be in (1, 4]")
    if not 0 < hires.denoising_strength <= 1:
        raise ConfigError("hires.denoising_strength: must be in (0, 1]")

    queue = _simple(QueueConfig, _table(raw, "queue"), "queue")
    _positive("queue.status_interval", queue.status_interval, zero_ok=True)
    _positive("queue.shutdown_grace", queue.shutdown_grace, zero_ok=True)
    _positive("queue.affinity_max_skips", queue.affinity_max_skips, zero_ok=True)

    storage = _simple(StorageConfig, _table(raw, "storage"), "storage")
    _positive("storage.keep_results_days", storage.keep_results_days, zero_ok=True)
    if not storage.path:
        raise ConfigError('storage.path: must name a file, e.g. "easel.db"')

    logging_cfg = _simple(LoggingConfig, _table(raw, "logging"), "logging")
    env_level = env.get("EASEL_LOG_LEVEL")
    if env_level:
        logging_cfg = LoggingConfig(level=env_level, json=logging_cfg.json)
    if logging_cfg.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"logging.level: expected DEBUG, INFO, WARNING or ERROR, got {logging_cfg.level!r}")

    metrics = _simple(MetricsConfig, _table(raw, "metrics"), "metrics")
    if not 0 < metrics.port < 65536:
        raise ConfigError(f"metrics.port: expected a TCP port (1-65535), got {metrics.port}")

    results = _simple(ResultsConfig, _table(raw, "results"), "results")
    if not 1 < results.upscale_factor <= 4:
        raise ConfigError("results.upscale_factor: must be in (1, 4]")
    if not 0 < results.vary_strength <= 1:
        raise ConfigError("results.vary_strength: must be in (0, 1]")

    safety = parse_safety(_table(raw, "safety"))
    tools = _tools(_table(raw, "tools"))

    presets = _simple(PresetsConfig, _table(raw, "presets"), "presets")
    _positive("presets.max_per_user", presets.max_per_user)
    _positive("presets.max_per_server", presets.max_per_server)

    return Config(
        discord=discord,
        backends=_backends(raw, env),
        webui=webui,
        defaults=defaults,
        limits=limits,
        hires=hires,
        queue=queue,
        storage=storage,
        logging=logging_cfg,
        metrics=metrics,
        results=results,
        safety=safety,
        role_limits=_role_limits(raw),
        tools=tools,
        models=_profiles(raw),
        presets=presets,
        loras=_loras(_table(raw, "loras")),
        horde=_horde_routing(_table(raw, "horde")),
    )


def _tools(table: Mapping[str, Any]) -> ToolsConfig:
    tools = _simple(ToolsConfig, table, "tools")
    if not 1.5 <= tools.max_upscale_factor <= 4:
        raise ConfigError("tools.max_upscale_factor: must be in [1.5, 4]")
    if tools.max_upscale_pixels < 512 * 512:
        raise ConfigError("tools.max_upscale_pixels: must be at least 262144 (512x512)")
    if not 0 < tools.outpaint_denoise <= 1:
        raise ConfigError("tools.outpaint_denoise: must be in (0, 1]")
    if not 0 <= tools.outpaint_mask_blur <= 64:
        raise ConfigError("tools.outpaint_mask_blur: must be in [0, 64]")
    if not 1 <= tools.max_images <= 25:
        raise ConfigError("tools.max_images: must be in [1, 25]")
    return tools


def _loras(table: Mapping[str, Any]) -> dict[str, LoraConfig]:
    """``[loras.<name>] trigger = "..."`` per LoRA (the name as the webui lists it, matched case-insensitively)."""
    out: dict[str, LoraConfig] = {}
    for name, value in table.items():
        where = f"loras.{name}"
        if not isinstance(value, dict):
            raise ConfigError(f'[{where}]: expected a table, e.g. [loras.add_detail] trigger = "..."')
        _check_unknown(value, {"trigger"}, f"[{where}]")
        trigger = value.get("trigger")
        if trigger is not None:
            trigger = " ".join(_take(value, "trigger", str, "", where).split())
            if len(trigger) > 200 or any(c in trigger for c in "<>"):
                raise ConfigError(f"{where}.trigger: at most 200 characters, no < or >")
        out[name.strip().casefold()] = LoraConfig(trigger=trigger)
    return out


def load_config(path: str | Path, env: Mapping[str, str] | None = None, *, missing_ok: bool = False) -> Config:
    """Read and validate the config file at ``path``. ``missing_ok``: no file there is the defaults (the SQLite
    file then sits in the folder the config would be in); otherwise a missing file is a ConfigError."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        if missing_ok:
            return parse_config({"storage": {"path": str(path.parent / StorageConfig.path)}}, env)
        raise ConfigError(
            f"{path}: no such file (run ./start.sh setup to write one, or copy config.example.toml to {path})"
        ) from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, env)
