"""Effective settings: the global config overridden by the guild, then the channel (the nearer one wins).

The global ``[limits]`` are ceilings: no guild or channel value can go past them (a cooldown can't go below the
global one). Defaults and limits of the options come from the option table; the rest are policy keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from easel.config import Config, Defaults, ExtraNetworks, HordeMode, Limits, NsfwCheck
from easel.options import BY_LIMIT, DEFAULTS_KEYS
from easel.policy.keys import SETTINGS, Img2img, Nsfw, ServerSettings, SettingKind
from easel.request import DrawOptions


@dataclass(frozen=True)
class EffectiveSettings:
    """What applies to one /draw in one channel: the global config overridden by the guild, then the channel.

    ``config`` is the global Config with ``defaults`` and ``limits`` replaced, so
    ``build_request(opts, eff.config, catalog)`` applies this server's defaults and limits as they are.
    """

    config: Config
    style: str | None  # default style (Defaults has none)
    daily_quota: int  # 0 = no quota
    allowed_channels: tuple[int, ...]
    nsfw: Nsfw
    img2img: Img2img
    extra_networks: ExtraNetworks
    banned_words: tuple[str, ...]  # the guild's (the global ones are in the SafetyConfig)
    strip_words: tuple[str, ...]
    negative_prefix: str  # the guild's or channel's (the global one is in the SafetyConfig)
    blocked_users: tuple[int, ...]
    role_overrides: Mapping[int, Mapping[str, float | int]]
    paused: bool
    sources: Mapping[str, str]  # key -> "global" | "server" | "channel"
    ceilings: Limits = field(default_factory=Limits)  # the global [limits]: role overrides can't go past them
    quota_ceiling: int = 0  # the global [safety] daily_quota (0 = none)
    nsfw_check: NsfwCheck = NsfwCheck.OFF  # the image check's mode here (age-restricted channels: never applied)
    guild_id: int | None = None
    channel_id: int | None = None
    log_channel: tuple[int, ...] = ()  # the guild's channel for safety notices (none: ())
    lora_allow: tuple[str, ...] = ()  # only these LoRAs (none: every LoRA not blocked)
    lora_block: tuple[str, ...] = ()
    horde: HordeMode = HordeMode.OFF  # whether this server's jobs may go to the AI Horde ([horde] mode, /settings)
    language: str = "auto"  # the public results' language ("auto": the server's Discord language)

    @property
    def defaults(self) -> Defaults:
        return self.config.defaults

    @property
    def limits(self) -> Limits:
        return self.config.limits

    def value(self, key: str) -> Any:
        """The effective value of a settable key (for /settings show)."""
        if hasattr(self.config.defaults, key) and SETTINGS[key].kind is SettingKind.DEFAULTS:
            return getattr(self.config.defaults, key)
        if hasattr(self.config.limits, key):
            return getattr(self.config.limits, key)
        return getattr(self, key)

    def apply_defaults(self, opts: DrawOptions) -> DrawOptions:
        """Fill what Defaults can't carry (the default style)."""
        if opts.style is None and self.style:
            return replace(opts, style=self.style)
        return opts


def effective(
    cfg: Config,
    guild: Mapping[str, Any] | ServerSettings | None,
    channel: Mapping[str, Any] | ServerSettings | None = None,
    *,
    guild_id: int | None = None,
    channel_id: int | None = None,
) -> EffectiveSettings:
    """Merge: channel overrides guild overrides global. Values are re-capped at the global ceilings (a stored
    value from before the ceiling was lowered), and defaults are capped at the effective limits so a lowered
    max_steps never makes every /draw without ``steps`` fail."""
    g = guild if isinstance(guild, ServerSettings) else ServerSettings.from_dict(guild or {})
    c = channel if isinstance(channel, ServerSettings) else ServerSettings.from_dict(channel or {})
    safety = cfg.safety
    top = cfg.limits
    sources: dict[str, str] = {}

    def pick(key: str, base: Any) -> Any:
        cv, gv = getattr(c, key), getattr(g, key)
        if cv is not None and SETTINGS[key].channel:
            sources[key] = "channel"
            return cv
        if gv is not None:
            sources[key] = "server"
            return gv
        sources[key] = "global"
        return base

    lim = Limits(
        **{
            **{f.name: getattr(top, f.name) for f in fields(Limits)},
            **{key: min(pick(key, getattr(top, key)), getattr(top, key)) for key in BY_LIMIT},
            "max_queued_per_user": min(pick("max_queued_per_user", top.max_queued_per_user), top.max_queued_per_user),
            "max_loras": min(pick("max_loras", top.max_loras), top.max_loras),
            "cooldown_seconds": max(pick("cooldown_seconds", top.cooldown_seconds), top.cooldown_seconds),
        }
    )
    quota = pick("daily_quota", safety.daily_quota)
    if safety.daily_quota:
        quota = min(quota, safety.daily_quota) if quota else safety.daily_quota

    d0 = cfg.defaults
    values: dict[str, Any] = {}
    for o in DEFAULTS_KEYS:
        value = pick(o.name, getattr(d0, o.name)) if o.server_default else getattr(d0, o.name)
        if o.numeric and o.limit and value is not None:  # a lowered limit never makes the default fail
            value = max(o.minimum or 0, min(value, getattr(lim, o.limit)))
        values[o.name] = value
    width, height = values["width"], values["height"]
    if width * height > lim.max_pixels:
        scale = (lim.max_pixels / (width * height)) ** 0.5
        values["width"], values["height"] = max(64, int(width * scale) // 8 * 8), max(64, int(height * scale) // 8 * 8)
    defaults = replace(d0, **values)
    style = pick("style", None)

    extra = ExtraNetworks(pick("extra_networks", safety.extra_networks))
    if safety.extra_networks is ExtraNetworks.STRIP:
        extra = ExtraNetworks.STRIP
    prefix = pick("negative_prefix", "")
    nsfw = Nsfw(pick("nsfw", Nsfw.ALLOW))
    nsfw_check = NsfwCheck(pick("nsfw_check", safety.nsfw_check))
    if safety.nsfw_check is NsfwCheck.REFUSE:  # a global refuse can't be loosened (a stored value from before)
        nsfw_check = NsfwCheck.REFUSE
    img2img = Img2img(pick("img2img", Img2img.EVERYWHERE))
    horde = HordeMode(pick("horde", cfg.horde.mode))
    for key in (
        "allowed_channels",
        "banned_words",
        "strip_words",
        "blocked_users",
        "log_channel",
        "lora_allow",
        "lora_block",
    ):
        sources[key] = "server" if getattr(g, key) else "global"
    sources["role_overrides"] = "server" if g.role_overrides else "global"
    sources["paused"] = "server" if g.paused else "global"
    return EffectiveSettings(
        config=replace(cfg, defaults=defaults, limits=lim),
        style=style,
        daily_quota=int(quota or 0),
        allowed_channels=g.allowed_channels,
        nsfw=nsfw,
        img2img=img2img,
        extra_networks=extra,
        banned_words=g.banned_words,
        strip_words=g.strip_words,
        negative_prefix=prefix or "",
        blocked_users=g.blocked_users,
        role_overrides=g.role_overrides,
        paused=g.paused,
        sources=sources,
        ceilings=top,
        quota_ceiling=safety.daily_quota,
        nsfw_check=nsfw_check,
        guild_id=guild_id,
        channel_id=channel_id,
        log_channel=g.log_channel,
        lora_allow=g.lora_allow,
        lora_block=g.lora_block,
        horde=horde,
        language=pick("language", "auto"),
    )
