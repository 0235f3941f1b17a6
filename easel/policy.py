"""What a server allows: per-guild and per-channel settings, limits, permissions and content rules.

Pure core (no Discord import). Three layers, the nearer one wins: the global config, the guild's settings,
the channel's settings. The global ``[limits]`` are ceilings: no guild or channel value, and no role override,
can go past them (a cooldown can't go below the global one).

Settings are stored by :class:`easel.store.Store` as JSON under scope ``"guild"`` or ``"channel"``. Every
settable key is described in :data:`SETTINGS`; :func:`parse_value` turns what an admin typed into a checked
value, or refuses with :class:`PolicyError` whose message says why.

NSFW: Easel can't tell whether a prompt or a picture is NSFW, so the ``nsfw`` policy applies to everything
drawn outside age-restricted channels: ``"allow"`` changes nothing, ``"spoiler"`` posts every result there
behind a spoiler, ``"refuse"`` means Easel draws only in age-restricted channels.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, Protocol

from easel.config import Config, ConfigError, Defaults, Limits, SafetyConfig
from easel.errors import PolicyError
from easel.request import DrawOptions, DrawRequest

log = logging.getLogger(__name__)

GUILD = "guild"
CHANNEL = "channel"

MAX_ENTRY_LENGTH = 100  # one banned/strip word or pattern
MAX_LIST_ENTRIES = 500  # per list and guild
MAX_ID_ENTRIES = 500  # allowed channels, blocked users
MAX_PREFIX_LENGTH = 500  # negative_prefix
MAX_ROLE_OVERRIDES = 50
MAX_REGEX_REPEAT = 1000  # {m,n} bounds above this are refused
MAX_REGEX_COST = 5000.0  # see _regex_cost: one unbounded repeat and a little more
_UNBOUNDED = 1000  # what an unbounded repeat (*, +) counts as in _regex_cost
MAX_PATTERNS = 50  # re: entries per list and guild (each is searched on its own)
MAX_COOLDOWN = 86400.0
MAX_DAILY_QUOTA = 100_000

NSFW_CHOICES = ("allow", "spoiler", "refuse")
IMG2IMG_CHOICES = ("everywhere", "nsfw_only")
EXTRA_NETWORK_CHOICES = ("allow", "strip")
ROLE_OVERRIDE_KEYS = ("max_queued_per_user", "cooldown_seconds", "daily_quota")

REFUSED_WORD = "Your prompt contains a word this server doesn't allow."
REFUSED_NEGATIVE_WORD = "Your negative prompt contains a word this server doesn't allow."
REFUSED_BLOCKED = "You can't use Easel on this server."
REFUSED_PAUSED = "Generation is paused on this server by a moderator."


# ---- global safety config ([safety] in the config) -------------------------------------


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
            values[key] = tuple(_check_entry(i) for i in items if i.strip())
        except PolicyError as exc:
            raise ConfigError(f"{where}.{key}: {exc}") from None
    prefix = table.get("negative_prefix", "")
    if not isinstance(prefix, str) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ConfigError(f"{where}.negative_prefix: expected a string of at most {MAX_PREFIX_LENGTH} characters")
    values["negative_prefix"] = prefix.strip()
    extra = table.get("extra_networks", "allow")
    if extra not in EXTRA_NETWORK_CHOICES:
        raise ConfigError(f'{where}.extra_networks: expected "allow" or "strip", got {extra!r}')
    values["extra_networks"] = extra
    quota = table.get("daily_quota", 0)
    if not isinstance(quota, int) or isinstance(quota, bool) or not 0 <= quota <= MAX_DAILY_QUOTA:
        raise ConfigError(f"{where}.daily_quota: expected a whole number >= 0 (0 = no quota)")
    values["daily_quota"] = quota
    blocked = table.get("blocked_users", [])
    if not isinstance(blocked, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in blocked):
        raise ConfigError(f"{where}.blocked_users: expected a list of numeric user ids")
    values["blocked_users"] = tuple(blocked)
    return SafetyConfig(**values)


def safety_of(cfg: Config) -> SafetyConfig:
    """The config's ``[safety]`` section."""
    return cfg.safety


# ---- the settings of one scope --------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    """What one guild or channel has set. ``None`` (or the field default) means "not set here: inherit"."""

    # /draw defaults
    model: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    cfg_scale: float | None = None
    negative_prompt: str | None = None
    style: str | None = None
    # limits (never past the global [limits])
    max_steps: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_count: int | None = None
    max_queued_per_user: int | None = None
    cooldown_seconds: float | None = None
    daily_quota: int | None = None  # 0 = no quota (only when the global config has none)
    # policy
    allowed_channels: tuple[int, ...] = ()  # empty = every channel
    nsfw: str | None = None  # "allow" | "spoiler" | "refuse"; None = "allow"
    img2img: str | None = None  # "everywhere" | "nsfw_only"; None = "everywhere"
    extra_networks: str | None = None  # "allow" | "strip"; None = the global [safety] value
    banned_words: tuple[str, ...] = ()
    strip_words: tuple[str, ...] = ()
    negative_prefix: str | None = None
    blocked_users: tuple[int, ...] = ()
    role_overrides: Mapping[int, Mapping[str, float | int]] = field(default_factory=dict)
    paused: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerSettings:
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


# ---- the registry of settable keys ----------------------------------------------------------------------


class CatalogLists(Protocol):
    """What value checks need from :class:`easel.catalog.Catalog`."""

    @property
    def known(self) -> bool: ...
    def model_names(self) -> list[str]: ...
    def samplers(self) -> list[str]: ...
    def schedulers(self) -> list[str]: ...
    def styles(self) -> list[str]: ...
    def resolve_model(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class SettingSpec:
    key: str
    kind: str  # "defaults" | "limits" | "policy": where it shows up in /settings show
    type: str  # "int" | "float" | "str" | "choice" | "bool" | "ids" | "words" | "roles"
    description: str  # one line, <= 100 characters (Discord choice names)
    channel: bool  # may be set per channel, not only per guild
    choices: tuple[str, ...] = ()
    catalog: str | None = None  # "model" | "sampler" | "scheduler" | "style": value autocomplete from the catalog
    text: bool = True  # settable with /settings set (role_overrides has its own command)

    def load(self, raw: Any) -> Any:
        """A stored JSON value back to its Python type."""
        if self.type == "int":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise TypeError(raw)
            return int(raw)
        if self.type == "float":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise TypeError(raw)
            return float(raw)
        if self.type in ("str", "choice"):
            if not isinstance(raw, str):
                raise TypeError(raw)
            return raw
        if self.type == "bool":
            if not isinstance(raw, bool):
                raise TypeError(raw)
            return raw
        if self.type == "ids":
            return tuple(int(i) for i in raw)
        if self.type == "words":
            return tuple(str(i) for i in raw)
        if self.type == "roles":
            return {int(k): {str(a): b for a, b in v.items() if a in ROLE_OVERRIDE_KEYS} for k, v in raw.items()}
        raise TypeError(self.type)


def _spec(key: str, kind: str, type_: str, description: str, *, channel: bool = True, **kw: Any) -> SettingSpec:
    return SettingSpec(key, kind, type_, description, channel, **kw)


SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        _spec("model", "defaults", "str", "Default checkpoint for /draw", catalog="model"),
        _spec("sampler", "defaults", "str", "Default sampling method", catalog="sampler"),
        _spec("scheduler", "defaults", "str", "Default noise schedule", catalog="scheduler"),
        _spec("steps", "defaults", "int", "Default sampling steps"),
        _spec("width", "defaults", "int", "Default width in pixels (multiple of 8)"),
        _spec("height", "defaults", "int", "Default height in pixels (multiple of 8)"),
        _spec("cfg_scale", "defaults", "float", "Default CFG scale (1-30)"),
        _spec("negative_prompt", "defaults", "str", "Default negative prompt (users can replace it)"),
        _spec("style", "defaults", "str", "Default webui prompt style", catalog="style"),
        _spec("max_steps", "limits", "int", "Most sampling steps a user may ask for"),
        _spec("max_width", "limits", "int", "Largest width (multiple of 8)"),
        _spec("max_height", "limits", "int", "Largest height (multiple of 8)"),
        _spec("max_count", "limits", "int", "Most images per /draw"),
        _spec("max_queued_per_user", "limits", "int", "Jobs one user may have waiting or running"),
        _spec("cooldown_seconds", "limits", "float", "Seconds between two /draw of one user"),
        _spec("daily_quota", "limits", "int", "Drawings per user per UTC day (0 = no quota)"),
        _spec(
            "allowed_channels",
            "policy",
            "ids",
            "Channels Easel answers in (ids or #mentions; 'all' = every channel)",
            channel=False,
        ),
        _spec(
            "nsfw",
            "policy",
            "choice",
            "Outside age-restricted channels: allow, spoiler every result, or refuse",
            channel=False,
            choices=NSFW_CHOICES,
        ),
        _spec(
            "img2img",
            "policy",
            "choice",
            "Where init images are allowed: everywhere or nsfw_only (age-restricted channels)",
            channel=False,
            choices=IMG2IMG_CHOICES,
        ),
        _spec(
            "extra_networks",
            "policy",
            "choice",
            "<lora:…>/<hypernet:…> tags in prompts: allow or strip",
            choices=EXTRA_NETWORK_CHOICES,
        ),
        _spec(
            "banned_words", "policy", "words", "Words refused in prompts (comma-separated; re: = regex)", channel=False
        ),
        _spec("strip_words", "policy", "words", "Words removed silently from prompts (comma-separated)", channel=False),
        _spec("negative_prefix", "policy", "str", "Always put at the start of the negative prompt"),
        _spec("blocked_users", "policy", "ids", "Users who can't draw here (ids or @mentions)", channel=False),
        _spec(
            "role_overrides",
            "policy",
            "roles",
            "Per-role queue, cooldown and quota (set with /settings role)",
            channel=False,
            text=False,
        ),
        _spec("paused", "policy", "bool", "Generation paused by a moderator (true/false)", channel=False),
    )
}


def _setting(key: str) -> SettingSpec:
    spec = SETTINGS.get(key)
    if spec is None:
        raise PolicyError(f"Unknown setting {_quote(key)}: pick one from the list.")
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
            raise PolicyError(f"{_quote(part)} is not a {what}: use the numeric id or a mention.")
        value = int(m.group(1))
        if value not in ids:
            ids.append(value)
    if len(ids) > MAX_ID_ENTRIES:
        raise PolicyError(f"At most {MAX_ID_ENTRIES} ids.")
    return tuple(ids)


def split_entries(text: str) -> list[str]:
    """Comma- or newline-separated words; ``re:`` patterns may contain commas if given one per line."""
    text = text.strip()
    if not text:
        return []
    parts = text.splitlines() if "\n" in text or text.startswith("re:") else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def _catalog_pick(kind: str, name: str, catalog: CatalogLists | None) -> str:
    if catalog is None or not catalog.known:
        raise PolicyError(f"The backends' {kind} list isn't loaded yet (is the webui up?); try again in a minute.")
    if kind == "model":
        resolved = catalog.resolve_model(name)
        if resolved is None:
            raise PolicyError(f"Unknown model {_quote(name)}: pick one from the list.")
        return resolved
    items = {"sampler": catalog.samplers, "scheduler": catalog.schedulers, "style": catalog.styles}[kind]()
    if not items:
        raise PolicyError(f"The backends list no {kind}s, so none can be set.")
    low = name.lower()
    hit = next((i for i in items if i.lower() == low), None)
    if hit is None:
        raise PolicyError(f"Unknown {kind} {_quote(name)}: pick one from the list.")
    return hit


def _parse_number(key: str, text: str, kind: type[int] | type[float]) -> float | int:
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise PolicyError(f"{key} must be {what} (got {_quote(text)}).") from None


def _ceiling(key: str, value: float, top: float) -> None:
    if value > top:
        raise PolicyError(f"{key} can't exceed the global ceiling {top:g}.")


def validate_value(
    key: str,
    value: Any,
    cfg: Config,
    catalog: CatalogLists | None = None,
    limits: Limits | None = None,
) -> Any:
    """Check a typed value for ``key`` against the global ceilings (and, for defaults, against ``limits``, the
    effective limits where it will apply, default the global ones). Returns the normalised value."""
    spec = _setting(key)
    top = cfg.limits
    lim = limits or top
    safety = safety_of(cfg)
    if spec.catalog is not None:
        value = str(value).strip()
        if not value:
            raise PolicyError(f"Give a {spec.catalog} name, or use /settings reset {key}.")
        return _catalog_pick(spec.catalog, value, catalog)
    if key == "steps":
        if not 1 <= value <= lim.max_steps:
            raise PolicyError(f"steps must be 1–{lim.max_steps} (got {value}).")
    elif key in ("width", "height"):
        most = getattr(lim, f"max_{key}")
        if value % 8:
            raise PolicyError(f"{key} must be a multiple of 8 (got {value}).")
        if not 64 <= value <= most:
            raise PolicyError(f"{key} must be 64–{most} (got {value}).")
    elif key == "cfg_scale":
        value = float(value)
        if not 1.0 <= value <= 30.0:
            raise PolicyError(f"cfg_scale must be 1–30 (got {value:g}).")
    elif key == "negative_prompt":
        value = str(value).strip()
        if len(value) > top.max_prompt_length:
            raise PolicyError(f"negative_prompt is {len(value)} characters; the limit is {top.max_prompt_length}.")
    elif key in ("max_steps", "max_count", "max_queued_per_user"):
        if value < 1:
            raise PolicyError(f"{key} must be at least 1 (got {value}).")
        _ceiling(key, value, getattr(top, key))
    elif key in ("max_width", "max_height"):
        if value % 8:
            raise PolicyError(f"{key} must be a multiple of 8 (got {value}).")
        if value < 64:
            raise PolicyError(f"{key} must be at least 64 (got {value}).")
        _ceiling(key, value, getattr(top, key))
    elif key == "cooldown_seconds":
        value = float(value)
        if value < top.cooldown_seconds:
            raise PolicyError(f"cooldown_seconds can't go below the global {top.cooldown_seconds:g} s.")
        if value > MAX_COOLDOWN:
            raise PolicyError(f"cooldown_seconds can be at most {MAX_COOLDOWN:g} (a day).")
    elif key == "daily_quota":
        value = _check_quota(value, safety.daily_quota)
    elif key in ("allowed_channels", "blocked_users"):
        if isinstance(value, str):
            value = parse_ids(value)
        value = tuple(dict.fromkeys(int(i) for i in value))
        if len(value) > MAX_ID_ENTRIES:
            raise PolicyError(f"{key} can hold at most {MAX_ID_ENTRIES} ids.")
    elif spec.type == "choice":
        value = str(value).strip().lower()
        if value not in spec.choices:
            raise PolicyError(f"{key} must be one of: {', '.join(spec.choices)}.")
        if key == "extra_networks" and value == "allow" and safety.extra_networks == "strip":
            raise PolicyError("extra_networks is set to strip for the whole bot; a server can't allow them.")
    elif spec.type == "words":
        if isinstance(value, str):
            value = split_entries(value)
        value = tuple(dict.fromkeys(_check_entry(str(v)) for v in value if str(v).strip()))
        if len(value) > MAX_LIST_ENTRIES:
            raise PolicyError(f"{key} can hold at most {MAX_LIST_ENTRIES} entries.")
        if sum(1 for v in value if v.startswith("re:")) > MAX_PATTERNS:
            raise PolicyError(f"{key} can hold at most {MAX_PATTERNS} re: patterns.")
    elif key == "negative_prefix":
        value = str(value).strip()
        if len(value) > MAX_PREFIX_LENGTH:
            raise PolicyError(f"negative_prefix can be at most {MAX_PREFIX_LENGTH} characters.")
    elif key == "paused":
        value = bool(value)
    elif key == "role_overrides":
        value = {int(r): check_role_override(v, cfg) for r, v in dict(value).items()}
        if len(value) > MAX_ROLE_OVERRIDES:
            raise PolicyError(f"At most {MAX_ROLE_OVERRIDES} role overrides.")
    return value


def _check_quota(value: int, global_quota: int) -> int:
    if value < 0 or value > MAX_DAILY_QUOTA:
        raise PolicyError(f"daily_quota must be 0–{MAX_DAILY_QUOTA} (0 = no quota).")
    if global_quota:
        if value == 0:
            raise PolicyError(f"daily_quota can't be unlimited: the global ceiling is {global_quota}.")
        _ceiling("daily_quota", value, global_quota)
    return int(value)


def check_role_override(values: Mapping[str, Any], cfg: Config) -> dict[str, float | int]:
    """A role override ``{max_queued_per_user, cooldown_seconds, daily_quota}`` (any subset) within the ceilings."""
    unknown = sorted(set(values) - set(ROLE_OVERRIDE_KEYS))
    if unknown:
        raise PolicyError(f"A role override can set only {', '.join(ROLE_OVERRIDE_KEYS)}.")
    out: dict[str, float | int] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{key} must be a number.")
        if key == "max_queued_per_user":
            out[key] = validate_value(key, int(value), cfg)
        elif key == "cooldown_seconds":
            out[key] = validate_value(key, float(value), cfg)
        else:
            out[key] = _check_quota(int(value), safety_of(cfg).daily_quota)
    if not out:
        raise PolicyError("Give at least one of max_queued_per_user, cooldown_seconds, daily_quota.")
    return out


def parse_value(
    key: str,
    text: str,
    cfg: Config,
    catalog: CatalogLists | None = None,
    limits: Limits | None = None,
) -> Any:
    """What an admin typed for ``key`` → a checked value. Raises PolicyError with the reason."""
    spec = _setting(key)
    if not spec.text:
        raise PolicyError(f"{key} has its own command (/settings role).")
    text = text.strip()
    value: Any
    if spec.type == "int":
        value = _parse_number(key, text, int)
    elif spec.type == "float":
        value = _parse_number(key, text, float)
    elif spec.type == "bool":
        low = text.lower()
        if low not in _TRUE | _FALSE:
            raise PolicyError(f"{key} must be true or false.")
        value = low in _TRUE
    elif spec.type == "ids":
        value = parse_ids(text, "channel" if key == "allowed_channels" else "user")
    elif spec.type == "words":
        value = split_entries(text)
    else:
        value = text
    return validate_value(key, value, cfg, catalog, limits)


# ---- banned words, strip words, extra networks ----------------------------------------------------------

_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_FORBIDDEN_OPS = ("GROUPREF", "GROUPREF_EXISTS")
_NOT_ALNUM = r"[^\W_]"  # a letter or digit; "_" and punctuation separate words ("bad_word" has "bad")
_ZERO_WIDTH = re.compile(
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


def _check_entry(entry: str) -> str:
    """One banned/strip entry: a word or phrase, or ``re:`` + a safe regular expression."""
    entry = entry.strip()
    if not entry:
        raise PolicyError("An empty word can't be banned.")
    if len(entry) > MAX_ENTRY_LENGTH:
        raise PolicyError(f"Each word or pattern can be at most {MAX_ENTRY_LENGTH} characters.")
    if entry.lower().startswith("re:"):
        pattern = entry[3:]
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise PolicyError(f"Bad regular expression: {exc.msg}.") from None
        if not _regex_is_safe(pattern):
            raise PolicyError(
                "That regular expression could be very slow (nested repeats, alternation inside a repeat or "
                "back-references); simplify it."
            )
        if compiled.search(""):
            raise PolicyError("That regular expression matches empty text; it would refuse every prompt.")
        return "re:" + pattern
    return _normalise(entry)


def _normalise(text: str) -> str:
    """For matching: compatibility forms folded (fullwidth letters, ligatures), zero-width characters dropped,
    case folded."""
    return unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text)).casefold()


@dataclass(frozen=True)
class _Matcher:
    words: re.Pattern[str] | None
    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    def find(self, text: str) -> str | None:
        """The entry that matches ``text`` (normalised), or None."""
        if self.words is not None:
            m = self.words.search(text)
            if m:
                return m.group(0)
        for entry, pattern in self.patterns:
            if pattern.search(text):
                return entry
        return None


def _word_regex(word: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[\s_]+", word) if p]
    return r"[\s_]+".join(parts)


@lru_cache(maxsize=1024)
def _matcher(entries: tuple[str, ...]) -> _Matcher:
    words = [e for e in entries if not e.lower().startswith("re:")]
    words_re = None
    if words:
        alternation = "|".join(_word_regex(w) for w in sorted(set(words), key=len, reverse=True))
        words_re = re.compile(rf"(?<!{_NOT_ALNUM})(?:{alternation})(?!{_NOT_ALNUM})", re.IGNORECASE)
    patterns = []
    for e in entries:
        if e.lower().startswith("re:"):
            try:
                patterns.append((e, re.compile(e[3:], re.IGNORECASE)))
            except re.error:  # validated on the way in; a stored bad one is skipped
                log.warning("policy: skipping bad pattern %r", e)
    return _Matcher(words_re, tuple(patterns))


def _strip_regex(entries: tuple[str, ...]) -> list[re.Pattern[str]]:
    out = []
    m = _matcher(entries)
    if m.words is not None:
        out.append(m.words)
    out.extend(p for _, p in m.patterns)
    return out


_EXTRA_NETWORK = re.compile(r"<\s*[A-Za-z][\w-]*\s*:[^<>\n]*>")


def strip_extra_networks(text: str) -> str:
    """Remove ``<lora:name:0.8>``, ``<lyco:…>``, ``<hypernet:…>`` and any other ``<kind:…>`` extra-network tag."""
    return _tidy(_EXTRA_NETWORK.sub(" ", text))


def _tidy(text: str) -> str:
    """Collapse the gaps left by removed words: double spaces, empty comma-separated items."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+,", ",", text)
    text = re.sub(r",(\s*,)+", ",", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return text.strip(" \t,")


def _combine_prefix(prefixes: Sequence[str], negative: str) -> str:
    """Put each prefix at the start of ``negative`` unless it is already there."""
    low = negative.casefold()
    add = [p for p in dict.fromkeys(p.strip() for p in prefixes) if p and p.casefold() not in low]
    if not add:
        return negative
    return ", ".join([*add, negative] if negative else add)


# ---- effective settings ---------------------------------------------------------------------------------


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
    nsfw: str
    img2img: str
    extra_networks: str
    banned_words: tuple[str, ...]  # the guild's (the global ones are in the SafetyConfig)
    strip_words: tuple[str, ...]
    negative_prefix: str  # the guild's or channel's (the global one is in the SafetyConfig)
    blocked_users: tuple[int, ...]
    role_overrides: Mapping[int, Mapping[str, float | int]]
    paused: bool
    sources: Mapping[str, str]  # key -> "global" | "server" | "channel"
    ceilings: Limits = field(default_factory=Limits)  # the global [limits]: role overrides can't go past them
    quota_ceiling: int = 0  # the global [safety] daily_quota (0 = none)
    guild_id: int | None = None
    channel_id: int | None = None

    @property
    def defaults(self) -> Defaults:
        return self.config.defaults

    @property
    def limits(self) -> Limits:
        return self.config.limits

    def value(self, key: str) -> Any:
        """The effective value of a settable key (for /settings show)."""
        if hasattr(self.config.defaults, key) and SETTINGS[key].kind == "defaults":
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
    safety = safety_of(cfg)
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
            "max_steps": min(pick("max_steps", top.max_steps), top.max_steps),
            "max_width": min(pick("max_width", top.max_width), top.max_width),
            "max_height": min(pick("max_height", top.max_height), top.max_height),
            "max_count": min(pick("max_count", top.max_count), top.max_count),
            "max_queued_per_user": min(pick("max_queued_per_user", top.max_queued_per_user), top.max_queued_per_user),
            "cooldown_seconds": max(pick("cooldown_seconds", top.cooldown_seconds), top.cooldown_seconds),
        }
    )
    quota = pick("daily_quota", safety.daily_quota)
    if safety.daily_quota:
        quota = min(quota, safety.daily_quota) if quota else safety.daily_quota

    d0 = cfg.defaults
    width = min(pick("width", d0.width), lim.max_width)
    height = min(pick("height", d0.height), lim.max_height)
    if width * height > lim.max_pixels:
        scale = (lim.max_pixels / (width * height)) ** 0.5
        width, height = max(64, int(width * scale) // 8 * 8), max(64, int(height * scale) // 8 * 8)
    defaults = replace(
        d0,
        model=pick("model", d0.model),
        sampler=pick("sampler", d0.sampler),
        scheduler=pick("scheduler", d0.scheduler),
        steps=max(1, min(pick("steps", d0.steps), lim.max_steps)),
        width=width,
        height=height,
        cfg_scale=pick("cfg_scale", d0.cfg_scale),
        negative_prompt=pick("negative_prompt", d0.negative_prompt),
        count=max(1, min(d0.count, lim.max_count)),
    )
    style = pick("style", None)

    extra = pick("extra_networks", safety.extra_networks)
    if safety.extra_networks == "strip":
        extra = "strip"
    prefix = pick("negative_prefix", "")
    nsfw = pick("nsfw", "allow")
    img2img = pick("img2img", "everywhere")
    for key in ("allowed_channels", "banned_words", "strip_words", "blocked_users"):
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
        guild_id=guild_id,
        channel_id=channel_id,
    )


# ---- checks on a draw -----------------------------------------------------------------------------------


def check_prompt(
    prompt: str,
    negative: str,
    settings: EffectiveSettings,
    global_lists: SafetyConfig | None = None,
) -> tuple[str, str]:
    """Apply the content rules to a prompt and negative prompt; returns the pair to draw with.

    Banned words (global + server; whole words, case-insensitive; ``re:`` entries are regexes searched as
    written) refuse the draw without naming the word. Strip words are removed silently, extra-network tags
    when the setting says strip, and the enforced negative prefix is put in front of the negative prompt.
    """
    safety = global_lists or SafetyConfig()
    prompt = _ZERO_WIDTH.sub("", prompt)
    negative = _ZERO_WIDTH.sub("", negative)
    banned = _matcher(tuple(safety.banned_words) + tuple(settings.banned_words))
    if banned.find(_normalise(prompt)) is not None:
        raise PolicyError(REFUSED_WORD)
    if banned.find(_normalise(negative)) is not None:
        raise PolicyError(REFUSED_NEGATIVE_WORD)

    strip = tuple(safety.strip_words) + tuple(settings.strip_words)
    if strip:
        for pattern in _strip_regex(strip):
            prompt = _tidy(pattern.sub(" ", prompt))
            negative = _tidy(pattern.sub(" ", negative))
    if settings.extra_networks == "strip" or safety.extra_networks == "strip":
        prompt = strip_extra_networks(prompt)
        negative = strip_extra_networks(negative)
    negative = _combine_prefix([safety.negative_prefix, settings.negative_prefix], negative.strip())
    return prompt.strip(), negative


def check_channel_and_nsfw(
    settings: EffectiveSettings,
    *,
    channel_id: int | None,
    parent_id: int | None = None,
    is_nsfw_channel: bool,
    img2img: bool,
    spoiler: bool = False,
) -> bool:
    """Refuse a draw in a channel the server doesn't allow; returns True when the result must be spoilered
    (the user asked for it, or the server's nsfw policy is "spoiler" and the channel isn't age-restricted).

    ``parent_id`` is the parent channel of a thread: a thread of an allowed channel is allowed."""
    allowed = settings.allowed_channels
    if allowed and channel_id not in allowed and (parent_id is None or parent_id not in allowed):
        raise PolicyError(f"Easel doesn't draw in this channel; try <#{allowed[0]}>.")
    if not is_nsfw_channel:
        if settings.nsfw == "refuse":
            raise PolicyError("On this server Easel draws only in age-restricted channels.")
        if img2img and settings.img2img == "nsfw_only":
            raise PolicyError("On this server init images (img2img) are allowed only in age-restricted channels.")
        if settings.nsfw == "spoiler":
            return True
    return bool(spoiler)


@dataclass(frozen=True)
class UserLimits:
    """What one member may do: pass ``max_queued``/``cooldown`` to ``JobQueue.check_user``/``submit``."""

    max_queued: int
    cooldown: float
    daily_quota: int  # 0 = no quota

    def queue_kwargs(self) -> dict[str, float | int]:
        return {"max_queued": self.max_queued, "cooldown": self.cooldown}


def user_limits(settings: EffectiveSettings, role_ids: Iterable[int] = ()) -> UserLimits:
    """The member's limits: the channel/server ones, or the most generous of their roles' overrides (more
    jobs, shorter cooldown, bigger quota, 0 = none), always within the global ceilings."""
    lim = settings.limits
    max_queued, cooldown, quota = lim.max_queued_per_user, lim.cooldown_seconds, settings.daily_quota
    for role in role_ids:
        o = settings.role_overrides.get(int(role))
        if not o:
            continue
        if "max_queued_per_user" in o:
            max_queued = max(max_queued, int(o["max_queued_per_user"]))
        if "cooldown_seconds" in o:
            cooldown = min(cooldown, float(o["cooldown_seconds"]))
        if "daily_quota" in o:
            q = int(o["daily_quota"])
            quota = 0 if (q == 0 or quota == 0) else max(quota, q)
    top_queued, floor_cooldown = settings.ceilings.max_queued_per_user, settings.ceilings.cooldown_seconds
    roles = {int(r) for r in role_ids}
    for rl in settings.config.role_limits:  # [[role_limits]] in the config: may go past [limits]
        if rl.role_id not in roles:
            continue
        if rl.max_queued_per_user is not None:
            top_queued = max(top_queued, rl.max_queued_per_user)
            max_queued = max(max_queued, rl.max_queued_per_user)
        if rl.cooldown_seconds is not None:
            floor_cooldown = min(floor_cooldown, rl.cooldown_seconds)
            cooldown = min(cooldown, rl.cooldown_seconds)
    if settings.quota_ceiling:
        quota = min(quota, settings.quota_ceiling) if quota else settings.quota_ceiling
    return UserLimits(min(max_queued, top_queued), max(cooldown, floor_cooldown), quota)


def start_of_utc_day(now: float) -> float:
    return now - now % 86400


def check_user_gate(settings: EffectiveSettings, user_id: int, global_lists: SafetyConfig | None = None) -> None:
    """Blocked users and a paused server (no I/O)."""
    safety = global_lists or SafetyConfig()
    if user_id in settings.blocked_users or user_id in safety.blocked_users:
        raise PolicyError(REFUSED_BLOCKED)
    if settings.paused:
        raise PolicyError(REFUSED_PAUSED)


# ---- the service the cogs use ---------------------------------------------------------------------------


class SettingsStore(Protocol):
    async def get_settings(self, scope: str, scope_id: int) -> dict[str, Any]: ...
    async def set_setting(self, scope: str, scope_id: int, key: str, value: Any, *, by: int | None = None) -> None: ...
    async def reset_settings(self, scope: str, scope_id: int, key: str | None = None) -> int: ...
    async def count_user_jobs_since(self, user_id: int, since: float) -> int: ...


@dataclass(frozen=True)
class DrawDecision:
    """The outcome of :meth:`PolicyService.check_draw`: what to build the request from and how to queue it."""

    options: DrawOptions  # prompt/negative after the content rules, default style filled in
    config: Config  # pass to build_request: this channel's defaults and limits
    spoiler: bool  # post behind a spoiler (forced or asked for)
    limits: UserLimits  # pass limits.queue_kwargs() to queue.check_user / queue.submit
    settings: EffectiveSettings


@dataclass(frozen=True)
class RequestDecision:
    """The outcome of :meth:`PolicyService.check_request`."""

    request: DrawRequest  # content rules applied, spoiler forced if the server says so
    limits: UserLimits  # pass limits.queue_kwargs() to queue.submit
    settings: EffectiveSettings


class PolicyService:
    """Per-guild settings with a cache (invalidated on every write through this service) and the draw checks.
    Admin actions and refusals are logged with guild, channel and user ids."""

    MAX_CACHED_GUILDS = 10_000

    def __init__(
        self,
        store: SettingsStore,
        cfg: Config,
        safety: SafetyConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.safety = safety or safety_of(cfg)
        self._clock = clock
        # The quota counts the member's jobs in this guild once Store.count_user_jobs_since takes ``guild_id``;
        # until then, the member's jobs everywhere.
        try:
            params = inspect.signature(store.count_user_jobs_since).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._count_per_guild = "guild_id" in params
        self._guilds: dict[int, dict[str, Any]] = {}
        self._channels: dict[int, dict[int, dict[str, Any]]] = {}  # guild -> channel -> settings

    # ---- reading -------------------------------------------------------------------------------

    async def _guild(self, guild_id: int) -> dict[str, Any]:
        cached = self._guilds.get(guild_id)
        if cached is None:
            if len(self._guilds) >= self.MAX_CACHED_GUILDS:
                self._guilds.clear()
                self._channels.clear()
            cached = await self.store.get_settings(GUILD, guild_id)
            self._guilds[guild_id] = cached
        return cached

    async def _channel(self, guild_id: int, channel_id: int) -> dict[str, Any]:
        per_guild = self._channels.setdefault(guild_id, {})
        cached = per_guild.get(channel_id)
        if cached is None:
            cached = await self.store.get_settings(CHANNEL, channel_id)
            per_guild[channel_id] = cached
        return cached

    def invalidate(self, guild_id: int) -> None:
        self._guilds.pop(guild_id, None)
        self._channels.pop(guild_id, None)

    async def stored(self, guild_id: int, channel_id: int | None = None) -> dict[str, Any]:
        """The raw values set for a guild (or one of its channels)."""
        if channel_id is None:
            return dict(await self._guild(guild_id))
        return dict(await self._channel(guild_id, channel_id))

    async def for_draw(
        self, guild_id: int | None, channel_id: int | None, parent_id: int | None = None
    ) -> EffectiveSettings:
        """Effective settings in a channel (a thread: its parent's settings, then its own)."""
        if guild_id is None:  # DMs / user installs: the global config only
            return effective(self.cfg, None, None, channel_id=channel_id)
        guild = await self._guild(guild_id)
        channel: dict[str, Any] = {}
        if parent_id is not None:
            channel.update(await self._channel(guild_id, parent_id))
        if channel_id is not None:
            channel.update(await self._channel(guild_id, channel_id))
        return effective(self.cfg, guild, channel, guild_id=guild_id, channel_id=channel_id)

    # ---- writing -------------------------------------------------------------------------------

    def _scope(self, key: str, guild_id: int, channel_id: int | None) -> tuple[str, int]:
        spec = _setting(key)
        if channel_id is None:
            return GUILD, guild_id
        if not spec.channel:
            raise PolicyError(f"{key} applies to the whole server; leave out the channel.")
        return CHANNEL, channel_id

    async def _write(self, key: str, value: Any, guild_id: int, channel_id: int | None, by: int) -> None:
        scope, scope_id = self._scope(key, guild_id, channel_id)
        stored = [*value] if isinstance(value, tuple) else value
        if isinstance(value, Mapping):
            stored = {str(k): dict(v) for k, v in value.items()}
        await self.store.set_setting(scope, scope_id, key, stored, by=by)
        self.invalidate(guild_id)

    async def set(
        self, guild_id: int, key: str, value: Any, *, by: int, channel_id: int | None = None, catalog: Any = None
    ) -> Any:
        """Check a typed value and store it for the guild (or one of its channels). Returns the stored value."""
        self._scope(key, guild_id, channel_id)
        limits = (await self.for_draw(guild_id, channel_id)).limits
        value = validate_value(key, value, self.cfg, catalog, limits)
        await self._write(key, value, guild_id, channel_id, by)
        log.info("settings: guild %s channel %s user %s set %s = %r", guild_id, channel_id, by, key, _log_value(value))
        return value

    async def set_text(
        self, guild_id: int, key: str, text: str, *, by: int, channel_id: int | None = None, catalog: Any = None
    ) -> Any:
        """Parse what an admin typed (``/settings set``) and store it. Raises PolicyError with the reason."""
        try:
            self._scope(key, guild_id, channel_id)
            limits = (await self.for_draw(guild_id, channel_id)).limits
            value = parse_value(key, text, self.cfg, catalog, limits)
        except PolicyError as exc:
            log.info("settings: guild %s channel %s user %s refused %s: %s", guild_id, channel_id, by, key, exc)
            raise
        await self._write(key, value, guild_id, channel_id, by)
        log.info("settings: guild %s channel %s user %s set %s = %r", guild_id, channel_id, by, key, _log_value(value))
        return value

    async def reset(self, guild_id: int, key: str | None = None, *, by: int, channel_id: int | None = None) -> int:
        """Back to the inherited value: one key, or every key of the guild (or channel). Returns how many."""
        if key is not None:
            scope, scope_id = self._scope(key, guild_id, channel_id)
        else:
            scope, scope_id = (GUILD, guild_id) if channel_id is None else (CHANNEL, channel_id)
        count = await self.store.reset_settings(scope, scope_id, key)
        self.invalidate(guild_id)
        log.info("settings: guild %s channel %s user %s reset %s (%d)", guild_id, channel_id, by, key or "all", count)
        return count

    async def add_items(self, guild_id: int, key: str, items: Iterable[Any], *, by: int) -> tuple[Any, ...]:
        """Add to a list setting (allowed_channels, blocked_users, banned_words, strip_words)."""
        spec = _setting(key)
        if spec.type not in ("ids", "words"):
            raise PolicyError(f"{key} is not a list.")
        current = ServerSettings.from_dict(await self._guild(guild_id))
        merged = (*getattr(current, key), *items)
        return await self.set(guild_id, key, merged, by=by)

    async def remove_items(self, guild_id: int, key: str, items: Iterable[Any], *, by: int) -> tuple[Any, ...]:
        """Remove from a list setting; words match case-insensitively. Raises PolicyError if none was there."""
        spec = _setting(key)
        if spec.type not in ("ids", "words"):
            raise PolicyError(f"{key} is not a list.")
        current: tuple[Any, ...] = getattr(ServerSettings.from_dict(await self._guild(guild_id)), key)
        if spec.type == "words":
            drop = {_normalise(str(i)).strip() if not str(i).lower().startswith("re:") else str(i) for i in items}
            kept = tuple(w for w in current if w not in drop and w.casefold() not in drop)
        else:
            drop_ids = {int(i) for i in items}
            kept = tuple(i for i in current if i not in drop_ids)
        if len(kept) == len(current):
            raise PolicyError(f"Not in {key}.")
        if not kept:
            await self.reset(guild_id, key, by=by)
            return ()
        return await self.set(guild_id, key, kept, by=by)

    async def set_role_override(
        self, guild_id: int, role_id: int, values: Mapping[str, Any] | None, *, by: int
    ) -> dict[int, dict[str, float | int]]:
        """Set (or with ``values=None`` remove) one role's override."""
        current = ServerSettings.from_dict(await self._guild(guild_id)).role_overrides
        overrides = {int(k): dict(v) for k, v in current.items()}
        if values is None:
            if overrides.pop(int(role_id), None) is None:
                raise PolicyError("That role has no override.")
        else:
            overrides[int(role_id)] = check_role_override(values, self.cfg)
        if not overrides:
            await self.reset(guild_id, "role_overrides", by=by)
            return {}
        return await self.set(guild_id, "role_overrides", overrides, by=by)

    async def set_paused(self, guild_id: int, paused: bool, *, by: int, channel_id: int | None = None) -> None:
        if paused:
            await self._write("paused", True, guild_id, None, by)
        else:
            await self.store.reset_settings(GUILD, guild_id, "paused")
            self.invalidate(guild_id)
        log.info(
            "moderation: guild %s channel %s user %s %s generation",
            guild_id,
            channel_id,
            by,
            "paused" if paused else "resumed",
        )

    # ---- checking a draw -----------------------------------------------------------------------

    async def check_user(self, settings: EffectiveSettings, user_id: int, role_ids: Iterable[int] = ()) -> UserLimits:
        """Blocked, paused, daily quota. Returns the member's queue limits (cooldown is enforced by the queue)."""
        check_user_gate(settings, user_id, self.safety)
        limits = user_limits(settings, role_ids)
        if limits.daily_quota:
            now = self._clock()
            start = start_of_utc_day(now)
            if self._count_per_guild and settings.guild_id is not None:
                used = await self.store.count_user_jobs_since(user_id, start, guild_id=settings.guild_id)  # type: ignore[call-arg]
            else:
                used = await self.store.count_user_jobs_since(user_id, start)
            if used >= limits.daily_quota:
                raise PolicyError(
                    f"You have used your {limits.daily_quota} drawings for today; more <t:{int(start + 86400)}:R>."
                )
        return limits

    async def _gate(
        self,
        settings: EffectiveSettings,
        user_id: int,
        prompt: str,
        negative: str,
        *,
        channel_id: int | None,
        parent_id: int | None,
        is_nsfw_channel: bool,
        img2img: bool,
        spoiler: bool,
    ) -> tuple[bool, str, str]:
        """The rules /draw and every other way into the queue share: who, where, and what the prompt says.
        Returns (spoiler forced or asked, prompt, negative prompt) after the word rules."""
        check_user_gate(settings, user_id, self.safety)
        spoiler = check_channel_and_nsfw(
            settings,
            channel_id=channel_id,
            parent_id=parent_id,
            is_nsfw_channel=is_nsfw_channel,
            img2img=img2img,
            spoiler=spoiler,
        )
        # In a thread: admin-written patterns are bounded (see _regex_cost) but still not free.
        prompt, negative = await asyncio.to_thread(check_prompt, prompt, negative, settings, self.safety)
        return spoiler, prompt, negative

    async def check_draw(
        self,
        opts: DrawOptions,
        *,
        guild_id: int | None,
        channel_id: int | None,
        parent_id: int | None = None,
        user_id: int,
        role_ids: Iterable[int] = (),
        is_nsfw_channel: bool = False,
        img2img: bool = False,
    ) -> DrawDecision:
        """Every server rule for one /draw, cheapest first. Raises PolicyError (logged with ids) to refuse."""
        settings = await self.for_draw(guild_id, channel_id, parent_id)
        negative = opts.negative_prompt if opts.negative_prompt is not None else settings.defaults.negative_prompt
        try:
            spoiler, prompt, negative = await self._gate(
                settings,
                user_id,
                opts.prompt,
                negative,
                channel_id=channel_id,
                parent_id=parent_id,
                is_nsfw_channel=is_nsfw_channel,
                img2img=img2img,
                spoiler=bool(opts.spoiler),
            )
            limits = await self.check_user(settings, user_id, role_ids)
        except PolicyError as exc:
            log.info("policy: refused user %s in guild %s channel %s: %s", user_id, guild_id, channel_id, exc)
            raise
        options = replace(settings.apply_defaults(opts), prompt=prompt, negative_prompt=negative, spoiler=spoiler)
        return DrawDecision(options, settings.config, spoiler, limits, settings)

    async def check_request(
        self,
        req: DrawRequest,
        *,
        guild_id: int | None,
        channel_id: int | None,
        parent_id: int | None = None,
        user_id: int,
        role_ids: Iterable[int] = (),
        is_nsfw_channel: bool = False,
    ) -> RequestDecision:
        """Every server rule for a finished request, just before it is queued: the one gate all ways into the
        queue pass (/draw and the result buttons). Idempotent: a request that passed :meth:`check_draw`
        passes again unchanged. Raises PolicyError (logged with ids) to refuse."""
        settings = await self.for_draw(guild_id, channel_id, parent_id)
        try:
            spoiler, prompt, negative = await self._gate(
                settings,
                user_id,
                req.prompt,
                req.negative_prompt,
                channel_id=channel_id,
                parent_id=parent_id,
                is_nsfw_channel=is_nsfw_channel,
                img2img=req.img2img and not req.upscale,
                spoiler=req.spoiler,
            )
            if not prompt.strip() and not req.upscale:
                raise PolicyError("Nothing is left of the prompt after this server's word filters.")
            check_request_limits(req, settings)
            limits = await self.check_user(settings, user_id, role_ids)
        except PolicyError as exc:
            log.info("policy: refused user %s in guild %s channel %s: %s", user_id, guild_id, channel_id, exc)
            raise
        request = replace(req, prompt=prompt, negative_prompt=negative, spoiler=spoiler)
        return RequestDecision(request, limits, settings)


def check_request_limits(req: DrawRequest, settings: EffectiveSettings) -> None:
    """A request built elsewhere (a result button: reroll, vary, remix, upscale) against this channel's limits."""
    lim = settings.limits
    if req.steps > lim.max_steps:
        raise PolicyError(f"This server allows at most {lim.max_steps} steps.")
    if req.count > lim.max_count:
        raise PolicyError(f"This server allows at most {lim.max_count} images per request.")
    if not req.upscale and (req.width > lim.max_width or req.height > lim.max_height):
        raise PolicyError(f"This server allows at most {lim.max_width}x{lim.max_height}.")


def _log_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) > 10:
        return f"<{len(value)} entries>"
    return value
