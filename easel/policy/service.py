"""The service the cogs use: per-guild settings with a cache, writes through the store, and the draw gates."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from easel.config import Config, SafetyConfig
from easel.context import RequestContext
from easel.errors import PolicyError
from easel.i18n import _
from easel.policy.checks import (
    UserLimits,
    check_channel_and_nsfw,
    check_prompt,
    check_user_gate,
    start_of_utc_day,
    user_limits,
)
from easel.policy.effective import EffectiveSettings, effective
from easel.policy.keys import (
    Scope,
    ServerSettings,
    SettingType,
    check_role_override,
    parse_value,
    spec_of,
    validate_value,
)
from easel.policy.words import normalise

log = logging.getLogger(__name__)


class SettingsStore(Protocol):
    async def get_settings(self, scope: str, scope_id: int) -> dict[str, Any]: ...
    async def set_setting(self, scope: str, scope_id: int, key: str, value: Any, *, by: int | None = None) -> None: ...
    async def reset_settings(self, scope: str, scope_id: int, key: str | None = None) -> int: ...
    async def count_user_jobs_since(self, user_id: int, since: float, guild_id: int | None = None) -> int: ...


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
        self.safety = safety or cfg.safety
        self._clock = clock
        self._guilds: dict[int, dict[str, Any]] = {}
        self._channels: dict[int, dict[int, dict[str, Any]]] = {}  # guild -> channel -> settings

    # ---- reading -------------------------------------------------------------------------------

    async def _guild(self, guild_id: int) -> dict[str, Any]:
        cached = self._guilds.get(guild_id)
        if cached is None:
            if len(self._guilds) >= self.MAX_CACHED_GUILDS:
                self._guilds.clear()
                self._channels.clear()
            cached = await self.store.get_settings(Scope.GUILD, guild_id)
            self._guilds[guild_id] = cached
        return cached

    async def _channel(self, guild_id: int, channel_id: int) -> dict[str, Any]:
        per_guild = self._channels.setdefault(guild_id, {})
        cached = per_guild.get(channel_id)
        if cached is None:
            cached = await self.store.get_settings(Scope.CHANNEL, channel_id)
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
        spec = spec_of(key)
        if channel_id is None:
            return Scope.GUILD, guild_id
        if not spec.channel:
            raise PolicyError(_("{key} applies to the whole server; leave out the channel.").format(key=key))
        return Scope.CHANNEL, channel_id

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
            scope, scope_id = (Scope.GUILD, guild_id) if channel_id is None else (Scope.CHANNEL, channel_id)
        count = await self.store.reset_settings(scope, scope_id, key)
        self.invalidate(guild_id)
        log.info("settings: guild %s channel %s user %s reset %s (%d)", guild_id, channel_id, by, key or "all", count)
        return count

    async def add_items(self, guild_id: int, key: str, items: Iterable[Any], *, by: int) -> tuple[Any, ...]:
        """Add to a list setting (allowed_channels, blocked_users, banned_words, strip_words)."""
        spec = spec_of(key)
        if spec.type not in (SettingType.IDS, SettingType.WORDS):
            raise PolicyError(_("{key} is not a list.").format(key=key))
        current = ServerSettings.from_dict(await self._guild(guild_id))
        merged = (*getattr(current, key), *items)
        return await self.set(guild_id, key, merged, by=by)

    async def remove_items(self, guild_id: int, key: str, items: Iterable[Any], *, by: int) -> tuple[Any, ...]:
        """Remove from a list setting; words match case-insensitively. Raises PolicyError if none was there."""
        spec = spec_of(key)
        if spec.type not in (SettingType.IDS, SettingType.WORDS):
            raise PolicyError(_("{key} is not a list.").format(key=key))
        current: tuple[Any, ...] = getattr(ServerSettings.from_dict(await self._guild(guild_id)), key)
        if spec.type is SettingType.WORDS:
            drop = {normalise(str(i)).strip() if not str(i).lower().startswith("re:") else str(i) for i in items}
            kept = tuple(w for w in current if w not in drop and w.casefold() not in drop)
        else:
            drop_ids = {int(i) for i in items}
            kept = tuple(i for i in current if i not in drop_ids)
        if len(kept) == len(current):
            raise PolicyError(_("Not in {key}.").format(key=key))
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
                raise PolicyError(_("That role has no override."))
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
            await self.store.reset_settings(Scope.GUILD, guild_id, "paused")
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
            used = await self.store.count_user_jobs_since(user_id, start, guild_id=settings.guild_id)
            if used >= limits.daily_quota:
                raise PolicyError(
                    _("You have used your {daily_quota} drawings for today; more <t:{time}:R>.").format(
                        daily_quota=limits.daily_quota, time=int(start + 86400)
                    )
                )
        return limits

    async def check_quota(self, settings: EffectiveSettings, ctx: RequestContext) -> UserLimits:
        """The member's limits here (queue, cooldown, daily quota), refusing when the daily quota is used up."""
        return await self.check_user(settings, ctx.user_id, ctx.role_ids)

    async def gate(
        self,
        settings: EffectiveSettings,
        ctx: RequestContext,
        prompt: str,
        negative: str,
        *,
        img2img: bool,
        spoiler: bool,
    ) -> tuple[bool, str, str]:
        """Who, where, and what the prompt says: blocked, paused, allowed channels, the NSFW and img2img policy,
        then the word rules. Returns (spoiler forced or asked, prompt, negative prompt) after the word rules.
        Raises PolicyError."""
        check_user_gate(settings, ctx.user_id, self.safety)
        spoiler = check_channel_and_nsfw(
            settings,
            channel_id=ctx.channel_id,
            parent_id=ctx.parent_id,
            is_nsfw_channel=ctx.is_nsfw_channel,
            img2img=img2img,
            spoiler=spoiler,
        )
        # In a thread: admin-written patterns are bounded (see config.check_entry) but still not free.
        prompt, negative = await asyncio.to_thread(check_prompt, prompt, negative, settings, self.safety)
        return spoiler, prompt, negative


def _log_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) > 10:
        return f"<{len(value)} entries>"
    return value
