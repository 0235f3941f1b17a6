"""The settable keys (/settings): what each one is, and from what an admin typed to a checked value.

The keys of kind defaults and limits come from the option table (:mod:`easel.options`); the policy keys are
listed here. :func:`parse_value` turns text into a checked value, or refuses with :class:`PolicyError` whose
message (one line) says why.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass
from enum import StrEnum
from typing import Any

from easel.config import (
    MAX_DAILY_QUOTA,
    MAX_PREFIX_LENGTH,
    Config,
    ExtraNetworks,
    HordeMode,
    Limits,
    NsfwCheck,
)
from easel.errors import PolicyError
from easel.i18n import LANGUAGES, N_, _
from easel.options import (
    BY_LIMIT,
    BY_NAME,
    SERVER_DEFAULTS,
    SERVER_LIMITS,
    CatalogView,
    OptionType,
    RangeError,
    checked,
)
from easel.policy.words import check_entry

log = logging.getLogger(__name__)

MAX_LIST_ENTRIES = 500  # per list and guild
MAX_ID_ENTRIES = 500  # allowed channels, blocked users
MAX_ROLE_OVERRIDES = 50
MAX_PATTERNS = 50  # re: entries per list and guild (each is searched on its own)
MAX_COOLDOWN = 86400.0


class Scope(StrEnum):
    """Where a setting is stored (``Store.get_settings(scope, id)``)."""

    GUILD = "guild"
    CHANNEL = "channel"


GUILD, CHANNEL = Scope.GUILD, Scope.CHANNEL


class SettingKind(StrEnum):
    """Where a key shows up in /settings show."""

    DEFAULTS = "defaults"
    LIMITS = "limits"
    POLICY = "policy"


class SettingType(StrEnum):
    INT = "int"
    FLOAT = "float"
    STR = "str"
    CHOICE = "choice"
    BOOL = "bool"
    IDS = "ids"
    WORDS = "words"
    ROLES = "roles"


class Nsfw(StrEnum):
    """Outside age-restricted channels: change nothing, spoiler every result, or draw nothing."""

    ALLOW = "allow"
    SPOILER = "spoiler"
    REFUSE = "refuse"


class Img2img(StrEnum):
    EVERYWHERE = "everywhere"
    NSFW_ONLY = "nsfw_only"


NSFW_CHOICES = tuple(Nsfw)
IMG2IMG_CHOICES = tuple(Img2img)
EXTRA_NETWORK_CHOICES = tuple(ExtraNetworks)
NSFW_CHECK_CHOICES = tuple(NsfwCheck)
HORDE_CHOICES = tuple(HordeMode)
ROLE_OVERRIDE_KEYS = ("max_queued_per_user", "cooldown_seconds", "daily_quota")
LANGUAGE_CHOICES = ("auto", *LANGUAGES)  # the public results' language: "auto" = the server's Discord language


@dataclass(frozen=True)
class SettingSpec:
    key: str
    kind: SettingKind  # where it shows up in /settings show
    type: SettingType
    description: str  # one line, <= 100 characters (Discord choice names)
    channel: bool  # may be set per channel, not only per guild
    choices: tuple[str, ...] = ()
    catalog: str | None = None  # "model" | "sampler" | "scheduler" | "style": value autocomplete from the catalog
    text: bool = True  # settable with /settings set (role_overrides has its own command)

    def load(self, raw: Any) -> Any:
        """A stored JSON value back to its Python type."""
        if self.type in (SettingType.INT, SettingType.FLOAT):
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise TypeError(raw)
            return int(raw) if self.type is SettingType.INT else float(raw)
        if self.type in (SettingType.STR, SettingType.CHOICE):
            if not isinstance(raw, str) or (self.choices and raw not in self.choices):
                raise TypeError(raw)
            return raw
        if self.type is SettingType.BOOL:
            if not isinstance(raw, bool):
                raise TypeError(raw)
            return raw
        if self.type is SettingType.IDS:
            return tuple(int(i) for i in raw)
        if self.type is SettingType.WORDS:
            return tuple(str(i) for i in raw)
        if self.type is SettingType.ROLES:
            return {
                int(k): {str(a): b for a, b in v.items() if a in ROLE_OVERRIDE_KEYS and _is_finite(b)}
                for k, v in raw.items()
            }
        raise TypeError(self.type)


def _is_finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _spec(
    key: str, kind: SettingKind, type_: SettingType, description: str, *, channel: bool = True, **kw: Any
) -> SettingSpec:
    return SettingSpec(key, kind, type_, description, channel, **kw)


_SETTING_TYPES = {
    OptionType.INT: SettingType.INT,
    OptionType.FLOAT: SettingType.FLOAT,
    OptionType.STR: SettingType.STR,
    OptionType.CHOICE: SettingType.CHOICE,
}
P, T = SettingKind.POLICY, SettingType

SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        *(
            _spec(
                o.name,
                SettingKind.DEFAULTS,
                _SETTING_TYPES[o.type],
                o.setting_description,
                catalog=str(o.catalog) if o.catalog else None,
                choices=o.choices,
            )
            for o in SERVER_DEFAULTS
        ),
        *(_spec(o.limit, SettingKind.LIMITS, T.INT, o.limit_description) for o in SERVER_LIMITS if o.limit),
        _spec("max_queued_per_user", SettingKind.LIMITS, T.INT, N_("Jobs one user may have waiting or running")),
        _spec("cooldown_seconds", SettingKind.LIMITS, T.FLOAT, N_("Seconds between two /draw of one user")),
        _spec("daily_quota", SettingKind.LIMITS, T.INT, N_("Drawings per user per UTC day (0 = no quota)")),
        _spec("max_loras", SettingKind.LIMITS, T.INT, N_("Most LoRAs in one request (lora option and <lora:…> tags)")),
        _spec(
            "allowed_channels",
            P,
            T.IDS,
            N_("Channels Easel answers in (ids or #mentions; 'all' = every channel)"),
            channel=False,
        ),
        _spec(
            "nsfw",
            P,
            T.CHOICE,
            N_("Outside age-restricted channels: allow, spoiler every result, or refuse"),
            channel=False,
            choices=NSFW_CHOICES,
        ),
        _spec(
            "nsfw_check",
            P,
            T.CHOICE,
            N_("Image check outside age-restricted channels: off, or spoiler, blur or refuse flagged pictures"),
            channel=False,
            choices=NSFW_CHECK_CHOICES,
        ),
        _spec(
            "img2img",
            P,
            T.CHOICE,
            N_("Where init images are allowed: everywhere or nsfw_only (age-restricted channels)"),
            channel=False,
            choices=IMG2IMG_CHOICES,
        ),
        _spec(
            "extra_networks",
            P,
            T.CHOICE,
            N_("<lora:…>/<hypernet:…> tags in prompts: allow or strip"),
            choices=EXTRA_NETWORK_CHOICES,
        ),
        _spec(
            "lora_allow",
            P,
            T.WORDS,
            N_("Only these LoRAs may be used (comma-separated names; empty = all but lora_block)"),
            channel=False,
        ),
        _spec("lora_block", P, T.WORDS, N_("LoRAs that may not be used (comma-separated names)"), channel=False),
        _spec("banned_words", P, T.WORDS, N_("Words refused in prompts (comma-separated; re: = regex)"), channel=False),
        _spec("strip_words", P, T.WORDS, N_("Words removed silently from prompts (comma-separated)"), channel=False),
        _spec("negative_prefix", P, T.STR, N_("Always put at the start of the negative prompt")),
        _spec("blocked_users", P, T.IDS, N_("Users who can't draw here (ids or @mentions)"), channel=False),
        _spec(
            "role_overrides",
            P,
            T.ROLES,
            N_("Per-role queue, cooldown and quota (set with /settings role)"),
            channel=False,
            text=False,
        ),
        _spec("paused", P, T.BOOL, N_("Generation paused by a moderator (true/false)"), channel=False),
        _spec(
            "horde",
            P,
            T.CHOICE,
            N_("AI Horde (volunteers see prompts and images): off, overflow when the line is long, or only"),
            channel=False,
            choices=HORDE_CHOICES,
        ),
        _spec(
            "log_channel",
            P,
            T.IDS,
            N_("Channel told of refused prompts and held-back images (id or #mention; 'none' = off)"),
            channel=False,
        ),
        _spec(
            "language",
            P,
            T.CHOICE,
            N_("Language of the public results: auto (the server's Discord language) or a catalog"),
            channel=False,
            choices=LANGUAGE_CHOICES,
        ),
    )
}


def _unset(spec: SettingSpec) -> Any:
    if spec.type in (SettingType.IDS, SettingType.WORDS):
        return ()
    if spec.type is SettingType.ROLES:
        return field(default_factory=dict)
    if spec.type is SettingType.BOOL:
        return False
    return None


def _from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """From the store's JSON values. Unknown keys and values of the wrong shape are ignored (logged)."""
    values: dict[str, Any] = {}
    for key, raw in data.items():
        spec = SETTINGS.get(key)
        if spec is None:
            log.warning("settings: ignoring unknown stored key %r", key)
            continue
        try:
            values[key] = spec.load(raw)
        except (TypeError, ValueError):
            log.warning("settings: ignoring stored %s=%r (wrong type)", key, raw)
    return cls(**values)


# What one guild or channel has set: a field per key of SETTINGS; None (or the empty default) = "inherit".
ServerSettings = make_dataclass(
    "ServerSettings",
    [(spec.key, Any, _unset(spec)) for spec in SETTINGS.values()],
    frozen=True,
    namespace={"from_dict": classmethod(_from_dict)},
)
ServerSettings.__module__ = __name__
ServerSettings.__doc__ = "What one guild or channel has set. None (or the field default) means: inherit."


def check_word(entry: str) -> str:
    """One banned/strip entry checked (see :func:`easel.config.check_entry`), refused with PolicyError."""
    try:
        return check_entry(entry)
    except ValueError as exc:
        raise PolicyError(str(exc)) from None


def spec_of(key: str) -> SettingSpec:
    spec = SETTINGS.get(key)
    if spec is None:
        raise PolicyError(_("Unknown setting {key}: pick one from the list.").format(key=_quote(key)))
    return spec


def _quote(text: str, limit: int = 40) -> str:
    """Echo an admin's input safely (short, in code markup without backticks)."""
    text = " ".join(str(text).split()).replace("`", "'")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text}`"


_ID = re.compile(r"^(?:<[#@][!&]?)?(\d{15,22})>?$")
_TRUE = {"true", "yes", "on", "1", "paused"}
_FALSE = {"false", "no", "off", "0", "resumed"}
_CLEAR = {"", "all", "none", "-", "everywhere"}


def parse_ids(text: str, what: str = "id") -> tuple[int, ...]:
    """``"123 <#456>, <@!789>"`` → ``(123, 456, 789)``; ``"all"``/``"none"`` → ``()``."""
    if text.strip().lower() in _CLEAR:
        return ()
    ids: list[int] = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        m = _ID.match(part)
        if not m:
            raise PolicyError(
                # TRANSLATORS: {what} is 'id', 'channel' or 'user' (English); {part} what the admin typed
                _("{part} is not a {what}: use the numeric id or a mention.").format(part=_quote(part), what=what)
            )
        value = int(m.group(1))
        if value not in ids:
            ids.append(value)
    if len(ids) > MAX_ID_ENTRIES:
        raise PolicyError(_("At most {n} ids.").format(n=MAX_ID_ENTRIES))
    return tuple(ids)


def split_entries(text: str) -> list[str]:
    """Comma- or newline-separated words; ``re:`` patterns may contain commas if given one per line."""
    text = text.strip()
    if not text:
        return []
    parts = text.splitlines() if "\n" in text or text.startswith("re:") else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def _catalog_pick(kind: str, name: str, catalog: CatalogView | None) -> str:
    if catalog is None or not catalog.known:
        raise PolicyError(
            _("The backends' {kind} list isn't loaded yet (is the webui up?); try again in a minute.").format(kind=kind)
        )
    if kind == "model":
        resolved = catalog.resolve_model(name)
        if resolved is None:
            raise PolicyError(_("Unknown model {name}: pick one from the list.").format(name=_quote(name)))
        return resolved
    items = {"sampler": catalog.samplers, "scheduler": catalog.schedulers, "style": catalog.styles}[kind]()
    if not items:
        # TRANSLATORS: {kind} is 'sampler', 'scheduler' or 'style' (English)
        raise PolicyError(_("The backends list no {kind}s, so none can be set.").format(kind=kind))
    low = name.lower()
    hit = next((i for i in items if i.lower() == low), None)
    if hit is None:
        # TRANSLATORS: {kind} is 'sampler', 'scheduler' or 'style' (English); {name} what the admin typed
        raise PolicyError(_("Unknown {kind} {name}: pick one from the list.").format(kind=kind, name=_quote(name)))
    return hit


def _parse_number(key: str, text: str, kind: type[int] | type[float]) -> float | int:
    try:
        value = kind(text.strip())
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    except ValueError:
        what = _("a whole number") if kind is int else _("a number")
        raise PolicyError(
            _("{key} must be {what} (got {text}).").format(key=key, what=what, text=_quote(text))
        ) from None


def _ceiling(key: str, value: float, top: float) -> None:
    if value > top:
        raise PolicyError(_("{key} can't exceed the global ceiling {top:g}.").format(key=key, top=top))


def _finite(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(_("{key} must be a finite number (got {value}).").format(key=key, value=_quote(str(value))))
    return value


def validate_value(
    key: str,
    value: Any,
    cfg: Config,
    catalog: CatalogView | None = None,
    limits: Limits | None = None,
) -> Any:
    """Check a typed value for ``key`` against the global ceilings (and, for defaults, against ``limits``, the
    effective limits where it will apply, default the global ones). Returns the normalised value."""
    spec = spec_of(key)
    top = cfg.limits
    lim = limits or top
    safety = cfg.safety
    if spec.catalog is not None:
        value = str(value).strip()
        if not value:
            raise PolicyError(
                _("Give a {catalog} name, or use /settings reset {key}.").format(catalog=spec.catalog, key=key)
            )
        return _catalog_pick(spec.catalog, value, catalog)
    try:
        if spec.kind is SettingKind.DEFAULTS and checked(BY_NAME[key]):
            return BY_NAME[key].check(value, lim)
        if key in BY_LIMIT:
            return BY_LIMIT[key].check_limit(value, getattr(top, key))
    except RangeError as exc:
        raise PolicyError(str(exc)) from None
    if spec.kind is SettingKind.DEFAULTS:  # a text default, e.g. negative_prompt
        value = str(value).strip()
        if len(value) > top.max_prompt_length:
            raise PolicyError(
                _("{key} is {n} characters; the limit is {max_prompt_length}.").format(
                    key=key, n=len(value), max_prompt_length=top.max_prompt_length
                )
            )
    elif key in ("max_queued_per_user", "max_loras"):
        value = _finite(key, value)
        if value < 1 or value != int(value):
            raise PolicyError(
                _("{key} must be a whole number, at least 1 (got {value:g}).").format(key=key, value=value)
            )
        value = int(value)
        _ceiling(key, value, getattr(top, key))
    elif key == "cooldown_seconds":
        value = float(_finite(key, value))
        if value < top.cooldown_seconds:
            raise PolicyError(
                _("cooldown_seconds can't go below the global {cooldown_seconds:g} s.").format(
                    cooldown_seconds=top.cooldown_seconds
                )
            )
        if value > MAX_COOLDOWN:
            raise PolicyError(_("cooldown_seconds can be at most {n:g} (a day).").format(n=MAX_COOLDOWN))
    elif key == "daily_quota":
        value = _check_quota(value, safety.daily_quota)
    elif key in ("allowed_channels", "blocked_users"):
        if isinstance(value, str):
            value = parse_ids(value)
        value = tuple(dict.fromkeys(int(i) for i in value))
        if len(value) > MAX_ID_ENTRIES:
            raise PolicyError(_("{key} can hold at most {n} ids.").format(key=key, n=MAX_ID_ENTRIES))
    elif key == "log_channel":
        value = parse_ids(value, "channel") if isinstance(value, str) else tuple(dict.fromkeys(int(i) for i in value))
        if len(value) > 1:
            raise PolicyError(_("log_channel is one channel."))
    elif spec.type is SettingType.CHOICE:
        value = str(value).strip().lower()
        if value not in spec.choices:
            raise PolicyError(_("{key} must be one of: {choices}.").format(key=key, choices=", ".join(spec.choices)))
        if key == "extra_networks" and value == "allow" and safety.extra_networks == "strip":
            raise PolicyError(_("extra_networks is set to strip for the whole bot; a server can't allow them."))
        if key == "nsfw_check" and value != "refuse" and safety.nsfw_check == "refuse":
            raise PolicyError(_("nsfw_check is set to refuse for the whole bot; a server can't loosen it."))
    elif key in ("lora_allow", "lora_block"):
        value = _lora_names(key, value)
    elif spec.type is SettingType.WORDS:
        if isinstance(value, str):
            value = split_entries(value)
        value = tuple(dict.fromkeys(check_word(str(v)) for v in value if str(v).strip()))
        if len(value) > MAX_LIST_ENTRIES:
            raise PolicyError(_("{key} can hold at most {n} entries.").format(key=key, n=MAX_LIST_ENTRIES))
        if sum(1 for v in value if v.startswith("re:")) > MAX_PATTERNS:
            raise PolicyError(_("{key} can hold at most {n} re: patterns.").format(key=key, n=MAX_PATTERNS))
    elif key == "negative_prefix":
        value = str(value).strip()
        if len(value) > MAX_PREFIX_LENGTH:
            raise PolicyError(_("negative_prefix can be at most {n} characters.").format(n=MAX_PREFIX_LENGTH))
    elif key == "paused":
        value = bool(value)
    elif key == "role_overrides":
        value = {int(r): check_role_override(v, cfg) for r, v in dict(value).items()}
        if len(value) > MAX_ROLE_OVERRIDES:
            raise PolicyError(_("At most {n} role overrides.").format(n=MAX_ROLE_OVERRIDES))
    return value


def _lora_names(key: str, value: Any) -> tuple[str, ...]:
    """LoRA names for lora_allow/lora_block: comma-separated, as the webui lists them (matched case-insensitively)."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names: dict[str, str] = {}
    for item in items:
        name = " ".join(item.split())
        if not name:
            continue
        if len(name) > 200 or any(c in name for c in "<>:"):
            raise PolicyError(
                _("{name} is not a LoRA name: write names as /draw's lora option lists them.").format(name=_quote(name))
            )
        names.setdefault(name.casefold(), name)
    if len(names) > MAX_LIST_ENTRIES:
        raise PolicyError(_("{key} can hold at most {n} entries.").format(key=key, n=MAX_LIST_ENTRIES))
    return tuple(names.values())


def _check_quota(value: int, global_quota: int) -> int:
    _finite("daily_quota", value)
    if value != int(value) or value < 0 or value > MAX_DAILY_QUOTA:
        raise PolicyError(_("daily_quota must be 0–{n} (0 = no quota).").format(n=MAX_DAILY_QUOTA))
    if global_quota:
        if value == 0:
            raise PolicyError(
                _("daily_quota can't be unlimited: the global ceiling is {global_quota}.").format(
                    global_quota=global_quota
                )
            )
        _ceiling("daily_quota", value, global_quota)
    return int(value)


def check_role_override(values: Mapping[str, Any], cfg: Config) -> dict[str, float | int]:
    """A role override ``{max_queued_per_user, cooldown_seconds, daily_quota}`` (any subset) within the ceilings."""
    unknown = sorted(set(values) - set(ROLE_OVERRIDE_KEYS))
    if unknown:
        raise PolicyError(_("A role override can set only {n}.").format(n=", ".join(ROLE_OVERRIDE_KEYS)))
    out: dict[str, float | int] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PolicyError(_("{key} must be a finite number.").format(key=key))
        if key == "max_queued_per_user":
            out[key] = validate_value(key, int(value), cfg)
        elif key == "cooldown_seconds":
            out[key] = validate_value(key, float(value), cfg)
        else:
            out[key] = _check_quota(int(value), cfg.safety.daily_quota)
    if not out:
        raise PolicyError(_("Give at least one of max_queued_per_user, cooldown_seconds, daily_quota."))
    return out


def parse_value(
    key: str,
    text: str,
    cfg: Config,
    catalog: CatalogView | None = None,
    limits: Limits | None = None,
) -> Any:
    """What an admin typed for ``key`` → a checked value. Raises PolicyError with the reason."""
    spec = spec_of(key)
    if not spec.text:
        raise PolicyError(_("{key} has its own command (/settings role).").format(key=key))
    text = text.strip()
    value: Any
    if spec.type is SettingType.INT:
        value = _parse_number(key, text, int)
    elif spec.type is SettingType.FLOAT:
        value = _parse_number(key, text, float)
    elif spec.type is SettingType.BOOL:
        low = text.lower()
        if low not in _TRUE | _FALSE:
            raise PolicyError(_("{key} must be true or false.").format(key=key))
        value = low in _TRUE
    elif spec.type is SettingType.IDS:
        value = parse_ids(text, "channel" if key in ("allowed_channels", "log_channel") else "user")
    elif spec.type is SettingType.WORDS:
        value = split_entries(text)
    else:
        value = text
    return validate_value(key, value, cfg, catalog, limits)
