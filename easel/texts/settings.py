"""Text for /settings (server admins) and /mod (moderators). Pure functions over plain values: no Discord, no I/O.

Channels, users and roles are written as Discord mentions from their ids (``<#id>``, ``<@id>``, ``<@&id>``); the
bot-wide ``allowed_mentions`` keeps them from pinging anyone. Text an admin typed is shown in inline code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from easel.policy.keys import SETTINGS, SettingKind, SettingType
from easel.texts.markup import inline_code, shorten

__all__ = [
    "allowed_channels_text",
    "banned_words_text",
    "blocked_text",
    "channels_list_text",
    "channels_removed_text",
    "cleared_queue_text",
    "need_admin_text",
    "need_moderator_text",
    "paused_text",
    "reset_text",
    "resumed_text",
    "role_override_removed_text",
    "role_override_text",
    "server_only_text",
    "setting_choice",
    "setting_set_text",
    "setting_value",
    "settings_show_text",
    "unblocked_text",
    "words_added_text",
    "words_removed_text",
]

SOURCE_LABEL = {"global": "global", "server": "server", "channel": "this channel"}
_SECTIONS = ((SettingKind.DEFAULTS, "Defaults"), (SettingKind.LIMITS, "Limits"), (SettingKind.POLICY, "Policy"))


def _where(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id is not None else "this server"


# ---- who may ---------------------------------------------------------------------------------------


def server_only_text() -> str:
    return "This command works in a server only."


def need_admin_text() -> str:
    return "You need the Manage Server permission or an Easel admin role."


def need_moderator_text() -> str:
    return "You need the Manage Messages permission or a moderator role."


# ---- /settings show, set, reset ------------------------------------------------------------------


def setting_value(key: str, value: Any) -> str:
    """One setting's value as /settings shows it: channels and users as mentions (the first 20), word lists and
    role overrides as a count, other values in inline code."""
    spec = SETTINGS[key]
    if spec.type is SettingType.IDS:
        if not value:
            return "all channels" if key == "allowed_channels" else "none"
        mark = "#" if key in ("allowed_channels", "log_channel") else "@"
        return " ".join(f"<{mark}{i}>" for i in value[:20]) + (f" (+{len(value) - 20})" if len(value) > 20 else "")
    if spec.type is SettingType.WORDS:
        return f"{len(value)} entries" if value else "none"
    if spec.type is SettingType.ROLES:
        return f"{len(value)} roles" if value else "none"
    if value is None or value == "":
        return "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return inline_code(shorten(str(value), 80))


def setting_choice(key: str) -> str:
    """A setting as an autocomplete choice of /settings set and reset (Discord allows 100 characters)."""
    return f"{key}: {SETTINGS[key].description}"[:100]


def settings_show_text(channel_id: int | None, value: Callable[[str], Any], sources: Mapping[str, str]) -> str:
    """/settings show: every setting by section (defaults, limits, policy) with where its value comes from.
    ``value(key)``: the effective value (``EffectiveSettings.value`` fits); ``sources``: key -> ``"global"``,
    ``"server"`` or ``"channel"`` (missing: global)."""
    lines = [f"**Easel settings for <#{channel_id}>** (value, where it comes from)"]
    for kind, title in _SECTIONS:
        lines.append(f"\n__{title}__")
        for key, spec in SETTINGS.items():
            if spec.kind is not kind:
                continue
            source = SOURCE_LABEL.get(sources.get(key, "global"), "global")
            lines.append(f"`{key}` {setting_value(key, value(key))} ({source})")
    lines.append("\nChange with `/settings set`, undo with `/settings reset`.")
    return "\n".join(lines)


def setting_set_text(key: str, stored: Any, channel_id: int | None) -> str:
    """/settings set: the value now stored, for one channel or (``channel_id`` None) the whole server."""
    return f"`{key}` is now {setting_value(key, stored)} for {_where(channel_id)}."


def reset_text(key: str | None, count: int, channel_id: int | None) -> str:
    """/settings reset of one key (None: every setting); ``count``: how many stored values were dropped."""
    what = f"`{key}`" if key else "every setting"
    if count:
        return f"Reset {what} for {_where(channel_id)}; the inherited value applies again."
    return f"Nothing to reset: {what} was not set for {_where(channel_id)}."


# ---- /settings role, block, unblock --------------------------------------------------------------


def role_override_removed_text(role_id: int) -> str:
    return f"Removed the override of <@&{role_id}>."


def role_override_text(role_id: int, overrides: Mapping[str, float | int]) -> str:
    """/settings role: the role's limits now (``max_queued_per_user``, ``cooldown_seconds``, ``daily_quota``)."""
    text = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in overrides.items())
    return f"<@&{role_id}>: {text}. The most generous of a member's roles applies."


def blocked_text(user_id: int) -> str:
    return f"<@{user_id}> can no longer draw on this server."


def unblocked_text(user_id: int) -> str:
    return f"<@{user_id}> can draw again."


# ---- /settings channels ----------------------------------------------------------------------------


def allowed_channels_text(channel_ids: Sequence[int]) -> str:
    """After adding a channel, or removing one with others left: the channels Easel draws in."""
    return f"Easel draws only in: {setting_value('allowed_channels', channel_ids)}."


def channels_removed_text(channel_ids: Sequence[int]) -> str:
    """/settings channels remove: the channels left (none left: every channel again)."""
    if channel_ids:
        return allowed_channels_text(channel_ids)
    return "The list is empty: Easel draws in every channel again."


def channels_list_text(channel_ids: Sequence[int]) -> str:
    """/settings channels list."""
    if channel_ids:
        return allowed_channels_text(channel_ids)
    return "Easel draws in every channel (add one to restrict it)."


# ---- /settings ban-word ----------------------------------------------------------------------------


def words_added_text(added: int, total: int) -> str:
    """/settings ban-word add: how many entries were given, how many the server bans now."""
    return f"Added {added}; this server bans {total} words or patterns."


def words_removed_text(total: int) -> str:
    return f"Removed; this server bans {total} words or patterns."


def banned_words_text(words: Sequence[str]) -> str:
    """/settings ban-word list: the server's entries, each in inline code."""
    if not words:
        return "This server bans no words (the bot-wide list still applies)."
    listed = ", ".join(inline_code(w) for w in words)
    return f"Banned here ({len(words)}): {listed}"


# ---- /mod ------------------------------------------------------------------------------------------


def paused_text() -> str:
    return "Paused: Easel takes no new drawings on this server. `/mod clear-queue` drops waiting ones."


def resumed_text() -> str:
    return "Resumed: Easel takes drawings again."


def cleared_queue_text(count: int) -> str:
    """/mod clear-queue: how many waiting jobs of the server were cancelled."""
    return f"Cancelled {count} waiting job(s) of this server." if count else "Nothing is waiting."
