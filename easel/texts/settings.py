"""Text for /settings (server admins) and /mod (moderators). Pure functions over plain values: no Discord, no I/O.

Channels, users and roles are written as Discord mentions from their ids (``<#id>``, ``<@id>``, ``<@&id>``); the
bot-wide ``allowed_mentions`` keeps them from pinging anyone. Text an admin typed is shown in inline code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from easel.i18n import N_, _
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

SOURCE_LABEL = {"global": N_("global"), "server": N_("server"), "channel": N_("this channel")}
_SECTIONS = (
    (SettingKind.DEFAULTS, N_("Defaults")),
    (SettingKind.LIMITS, N_("Limits")),
    (SettingKind.POLICY, N_("Policy")),
)


def _where(channel_id: int | None) -> str:
    return f"<#{channel_id}>" if channel_id is not None else _("this server")


# ---- who may ---------------------------------------------------------------------------------------


def server_only_text() -> str:
    return _("This command works in a server only.")


def need_admin_text() -> str:
    return _("You need the Manage Server permission or an Easel admin role.")


def need_moderator_text() -> str:
    return _("You need the Manage Messages permission or a moderator role.")


# ---- /settings show, set, reset ------------------------------------------------------------------


def setting_value(key: str, value: Any) -> str:
    """One setting's value as /settings shows it: channels and users as mentions (the first 20), word lists and
    role overrides as a count, other values in inline code."""
    spec = SETTINGS[key]
    if spec.type is SettingType.IDS:
        if not value:
            return _("all channels") if key == "allowed_channels" else _("none")
        mark = "#" if key in ("allowed_channels", "log_channel") else "@"
        return " ".join(f"<{mark}{i}>" for i in value[:20]) + (f" (+{len(value) - 20})" if len(value) > 20 else "")
    if spec.type is SettingType.WORDS:
        return _("{n} entries").format(n=len(value)) if value else _("none")
    if spec.type is SettingType.ROLES:
        return _("{n} roles").format(n=len(value)) if value else _("none")
    if value is None or value == "":
        return _("(none)")
    if isinstance(value, float):
        return f"{value:g}"
    return inline_code(shorten(str(value), 80))


def setting_choice(key: str) -> str:
    """A setting as an autocomplete choice of /settings set and reset (Discord allows 100 characters)."""
    return f"{key}: {_(SETTINGS[key].description)}"[:100]


def settings_show_text(channel_id: int | None, value: Callable[[str], Any], sources: Mapping[str, str]) -> str:
    """/settings show: every setting by section (defaults, limits, policy) with where its value comes from.
    ``value(key)``: the effective value (``EffectiveSettings.value`` fits); ``sources``: key -> ``"global"``,
    ``"server"`` or ``"channel"`` (missing: global)."""
    lines = [_("**Easel settings for <#{channel}>** (value, where it comes from)").format(channel=channel_id)]
    for kind, title in _SECTIONS:
        lines.append(f"\n__{_(title)}__")
        for key, spec in SETTINGS.items():
            if spec.kind is not kind:
                continue
            source = _(SOURCE_LABEL.get(sources.get(key, "global"), SOURCE_LABEL["global"]))
            lines.append(f"`{key}` {setting_value(key, value(key))} ({source})")
    lines.append("\n" + _("Change with `/settings set`, undo with `/settings reset`."))
    return "\n".join(lines)


def setting_set_text(key: str, stored: Any, channel_id: int | None) -> str:
    """/settings set: the value now stored, for one channel or (``channel_id`` None) the whole server."""
    return _("`{key}` is now {value} for {where}.").format(
        key=key, value=setting_value(key, stored), where=_where(channel_id)
    )


def reset_text(key: str | None, count: int, channel_id: int | None) -> str:
    """/settings reset of one key (None: every setting); ``count``: how many stored values were dropped."""
    what = f"`{key}`" if key else _("every setting")
    if count:
        return _("Reset {what} for {where}; the inherited value applies again.").format(
            what=what, where=_where(channel_id)
        )
    return _("Nothing to reset: {what} was not set for {where}.").format(what=what, where=_where(channel_id))


# ---- /settings role, block, unblock --------------------------------------------------------------


def role_override_removed_text(role_id: int) -> str:
    return _("Removed the override of <@&{role}>.").format(role=role_id)


def role_override_text(role_id: int, overrides: Mapping[str, float | int]) -> str:
    """/settings role: the role's limits now (``max_queued_per_user``, ``cooldown_seconds``, ``daily_quota``)."""
    text = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in overrides.items())
    return _("<@&{role}>: {limits}. The most generous of a member's roles applies.").format(role=role_id, limits=text)


def blocked_text(user_id: int) -> str:
    return _("<@{user}> can no longer draw on this server.").format(user=user_id)


def unblocked_text(user_id: int) -> str:
    return _("<@{user}> can draw again.").format(user=user_id)


# ---- /settings channels ----------------------------------------------------------------------------


def allowed_channels_text(channel_ids: Sequence[int]) -> str:
    """After adding a channel, or removing one with others left: the channels Easel draws in."""
    return _("Easel draws only in: {channels}.").format(channels=setting_value("allowed_channels", channel_ids))


def channels_removed_text(channel_ids: Sequence[int]) -> str:
    """/settings channels remove: the channels left (none left: every channel again)."""
    if channel_ids:
        return allowed_channels_text(channel_ids)
    return _("The list is empty: Easel draws in every channel again.")


def channels_list_text(channel_ids: Sequence[int]) -> str:
    """/settings channels list."""
    if channel_ids:
        return allowed_channels_text(channel_ids)
    return _("Easel draws in every channel (add one to restrict it).")


# ---- /settings ban-word ----------------------------------------------------------------------------


def words_added_text(added: int, total: int) -> str:
    """/settings ban-word add: how many entries were given, how many the server bans now."""
    return _("Added {added}; this server bans {total} words or patterns.").format(added=added, total=total)


def words_removed_text(total: int) -> str:
    return _("Removed; this server bans {total} words or patterns.").format(total=total)


def banned_words_text(words: Sequence[str]) -> str:
    """/settings ban-word list: the server's entries, each in inline code."""
    if not words:
        return _("This server bans no words (the bot-wide list still applies).")
    listed = ", ".join(inline_code(w) for w in words)
    return _("Banned here ({n}): {words}").format(n=len(words), words=listed)


# ---- /mod ------------------------------------------------------------------------------------------


def paused_text() -> str:
    return _("Paused: Easel takes no new drawings on this server. `/mod clear-queue` drops waiting ones.")


def resumed_text() -> str:
    return _("Resumed: Easel takes drawings again.")


def cleared_queue_text(count: int) -> str:
    """/mod clear-queue: how many waiting jobs of the server were cancelled."""
    return _("Cancelled {n} waiting job(s) of this server.").format(n=count) if count else _("Nothing is waiting.")
