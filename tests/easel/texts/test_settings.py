"""Text of /settings and /mod (easel.texts.settings), without Discord: what an admin reads."""

from __future__ import annotations

from easel.config import parse_config
from easel.policy import SETTINGS, effective
from easel.texts.settings import (
    banned_words_text,
    channels_list_text,
    channels_removed_text,
    cleared_queue_text,
    reset_text,
    role_override_text,
    setting_choice,
    setting_set_text,
    setting_value,
    settings_show_text,
)

CFG = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}]}, env={})


def test_settings_show_lists_every_setting_by_section_with_its_source() -> None:
    eff = effective(
        CFG,
        {"steps": 40, "banned_words": ["gore", "re:nud"], "allowed_channels": [11, 12]},
        {"cfg_scale": 5.5},
        guild_id=1,
        channel_id=12,
    )
    text = settings_show_text(12, eff.value, eff.sources)
    lines = text.splitlines()
    assert lines[0] == "**Easel settings for <#12>** (value, where it comes from)"
    assert [line for line in lines if line.startswith("__")] == ["__Defaults__", "__Limits__", "__Policy__"]
    assert lines.index("__Defaults__") < lines.index("`steps` `40` (server)") < lines.index("__Limits__")
    assert "`cfg_scale` 5.5 (this channel)" in lines
    assert f"`max_steps` `{CFG.limits.max_steps}` (global)" in lines
    assert "`allowed_channels` <#11> <#12> (server)" in lines
    assert "`banned_words` 2 entries (server)" in lines
    assert "`role_overrides` none (global)" in lines
    assert lines[-1] == "Change with `/settings set`, undo with `/settings reset`."
    assert sum(1 for line in lines if line.startswith("`")) == len(SETTINGS)


def test_setting_values() -> None:
    assert setting_value("allowed_channels", ()) == "all channels"
    assert setting_value("blocked_users", ()) == "none"
    assert setting_value("blocked_users", tuple(range(25))).endswith("<@19> (+5)")
    assert setting_value("negative_prompt", "") == "(none)"
    assert setting_value("cooldown_seconds", 2.50) == "2.5"
    assert setting_value("negative_prompt", "a `tick`" + "x" * 200) == "`a 'tick'" + "x" * 71 + "…`"


def test_set_and_reset_answers_say_where() -> None:
    assert setting_set_text("steps", 30, None) == "`steps` is now `30` for this server."
    assert setting_set_text("steps", 30, 5) == "`steps` is now `30` for <#5>."
    assert reset_text("steps", 1, None) == "Reset `steps` for this server; the inherited value applies again."
    assert reset_text(None, 0, 5) == "Nothing to reset: every setting was not set for <#5>."


def test_role_channels_words_and_mod_answers() -> None:
    assert role_override_text(7, {"max_queued_per_user": 3, "cooldown_seconds": 1.5}) == (
        "<@&7>: max_queued_per_user 3, cooldown_seconds 1.5. The most generous of a member's roles applies."
    )
    assert channels_list_text(()) == "Easel draws in every channel (add one to restrict it)."
    assert channels_removed_text(()) == "The list is empty: Easel draws in every channel again."
    assert channels_removed_text((3,)) == channels_list_text((3,)) == "Easel draws only in: <#3>."
    assert banned_words_text(()) == "This server bans no words (the bot-wide list still applies)."
    assert banned_words_text(("hot dog", "re:a`b")) == "Banned here (2): `hot dog`, `re:a'b`"
    assert cleared_queue_text(0) == "Nothing is waiting."
    assert cleared_queue_text(2) == "Cancelled 2 waiting job(s) of this server."


def test_setting_choices_fit_discord() -> None:
    assert setting_choice("steps").startswith("steps: ")
    assert all(len(setting_choice(key)) <= 100 for key in SETTINGS)
