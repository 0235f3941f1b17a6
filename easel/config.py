"""Configuration: a TOML file read with tomllib and validated at start into typed, frozen objects.

A bad config raises :class:`ConfigError` naming the key and the problem; ``bot.py`` prints it and exits.
Every key is documented in ``config.example.toml``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")


class ConfigError(Exception):
    """The config file is missing, unreadable or has a bad value. The message names the key."""


@dataclass(frozen=True)
class DiscordConfig:
    token: str = field(default="", repr=False)
    guild_ids: tuple[int, ...] = ()
    moderator_role_ids: tuple[int, ...] = ()
    admin_role_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class BackendConfig:
    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exclusive: bool = False  # Easel is the only user of this webui: the global /progress is this job's


@dataclass(frozen=True)
class WebuiConfig:
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    catalog_refresh: float = 300.0
    max_attempts: int = 3
    probe_max_interval: float = 60.0
    stall_timeout: float = 120.0  # a running generation whose progress does not move this long is abandoned
    lost_task_timeout: float = 30.0  # a generation the webui does not know this long after sending is abandoned


@dataclass(frozen=True)
class Defaults:
    model: str = ""
    sampler: str = "Euler a"
    scheduler: str = ""
    steps: int = 25
    width: int = 512
    height: int = 512
    cfg_scale: float = 7.0
    negative_prompt: str = ""
    count: int = 1
    strength: float = 0.6


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
class QueueConfig:
    status_interval: float = 5.0
    affinity_max_skips: int = 3
    shutdown_grace: float = 30.0


@dataclass(frozen=True)
class StorageConfig:
    path: str = "easel.db"
    keep_results_days: float = 30.0


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class SafetyConfig:
    """Bot-wide content rules, on top of which every guild adds its own (``[safety]`` in the config)."""

    banned_words: tuple[str, ...] = ()  # whole words, case-insensitive; "re:" prefix = regular expression
    strip_words: tuple[str, ...] = ()  # removed silently from prompts
    negative_prefix: str = ""  # always at the start of the negative prompt
    extra_networks: str = "allow"  # "allow" or "strip" <lora:…>, <hypernet:…> tags; a guild may only tighten
    daily_quota: int = 0  # drawings per user per UTC day; 0 = no quota. A ceiling for guild quotas.
    blocked_users: tuple[int, ...] = ()  # user ids refused everywhere


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9108


@dataclass(frozen=True)
class Config:
    discord: DiscordConfig
    backends: tuple[BackendConfig, ...]
    webui: WebuiConfig = WebuiConfig()
    defaults: Defaults = Defaults()
    limits: Limits = Limits()
    hires: HiresConfig = HiresConfig()
    queue: QueueConfig = QueueConfig()
    storage: StorageConfig = StorageConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    results: ResultsConfig = ResultsConfig()
    safety: SafetyConfig = SafetyConfig()
    role_limits: tuple[RoleLimit, ...] = ()


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
        raise ConfigError(f"{name}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
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


def _ids(table: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{where}.{key}: expected a list of numeric ids, like [123456789012345678]")
    return tuple(value)


def _backends(raw: Mapping[str, Any]) -> tuple[BackendConfig, ...]:
    items = raw.get("backends")
    if not items:
        raise ConfigError('[[backends]]: at least one backend is needed, e.g. url = "http://127.0.0.1:7860"')
    if not isinstance(items, list) or not all(isinstance(b, dict) for b in items):
        raise ConfigError("[[backends]]: expected an array of tables ([[backends]])")
    result: list[BackendConfig] = []
    for i, item in enumerate(items):
        where = f"backends[{i}]"
        _check_unknown(item, {"name", "url", "username", "password", "exclusive"}, where)
        url = _take(item, "url", str, "", where).rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{where}.url: expected an http(s) URL like http://127.0.0.1:7860, got {url!r}")
        name = _take(item, "name", str, parsed.netloc, where)
        username = _take(item, "username", str, "", where) or None
        password = _take(item, "password", str, "", where) or None
        if (username is None) != (password is None):
            raise ConfigError(f"{where}: username and password go together (the webui's --api-auth user:pass)")
        exclusive = _take(item, "exclusive", bool, False, where)
        result.append(BackendConfig(name, url, username, password, exclusive))
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
    if webui.max_attempts < 1:
        raise ConfigError("webui.max_attempts: must be >= 1")

    limits = _simple(Limits, _table(raw, "limits"), "limits")
    for key in Limits.__dataclass_fields__:
        _positive(f"limits.{key}", getattr(limits, key), zero_ok=key == "cooldown_seconds")
    if limits.max_count > 10:
        raise ConfigError("limits.max_count: at most 10 (Discord allows 10 attachments per message)")
    for key in ("max_width", "max_height"):
        if getattr(limits, key) % 8:
            raise ConfigError(f"limits.{key}: must be a multiple of 8")

    defaults = _simple(Defaults, _table(raw, "defaults"), "defaults")
    if not 1 <= defaults.steps <= limits.max_steps:
        raise ConfigError(f"defaults.steps: must be between 1 and limits.max_steps ({limits.max_steps})")
    for key, top in (("width", limits.max_width), ("height", limits.max_height)):
        value = getattr(defaults, key)
        if value % 8 or not 64 <= value <= top:
            raise ConfigError(f"defaults.{key}: must be a multiple of 8 between 64 and limits.max_{key} ({top})")
    if not 1 <= defaults.count <= limits.max_count:
        raise ConfigError(f"defaults.count: must be between 1 and limits.max_count ({limits.max_count})")
    if not 0 < defaults.strength <= 1:
        raise ConfigError("defaults.strength: must be in (0, 1]")
    if not 1 <= defaults.cfg_scale <= 30:
        raise ConfigError("defaults.cfg_scale: must be between 1 and 30")

    hires = _simple(HiresConfig, _table(raw, "hires"), "hires")
    if not 1 < hires.scale <= 4:
        raise ConfigError("hires.scale: must be in (1, 4]")
    if not 0 < hires.denoising_strength <= 1:
        raise ConfigError("hires.denoising_strength: must be in (0, 1]")

    queue = _simple(QueueConfig, _table(raw, "queue"), "queue")
    _positive("queue.status_interval", queue.status_interval, zero_ok=True)
    _positive("queue.shutdown_grace", queue.shutdown_grace, zero_ok=True)

    storage = _simple(StorageConfig, _table(raw, "storage"), "storage")
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

    from easel.policy import parse_safety  # the content rules' checks live with the rules

    safety = parse_safety(_table(raw, "safety"))

    return Config(
        discord=discord,
        backends=_backends(raw),
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
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (copy config.example.toml to {path} and edit it)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, env)
