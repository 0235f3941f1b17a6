"""easel/policy/keys.py: the settings registry, parse_value, role overrides."""

from __future__ import annotations

import pytest

from easel.config import ConfigError
from easel.policy import (
    SETTINGS,
    PolicyError,
    SafetyConfig,
    check_role_override,
    effective,
    parse_safety,
    parse_value,
)
from easel.request import DrawOptions, build_request
from tests.easel.policy.conftest import CFG, Cat, EmptyCat, with_safety

# ---- the registry and parse_value -----------------------------------------------------------------------


def test_every_setting_has_a_short_description_and_a_field() -> None:
    from easel.policy import ServerSettings

    names = set(ServerSettings.__dataclass_fields__)
    for key, spec in SETTINGS.items():
        assert key in names
        assert 0 < len(spec.description) <= 100
        assert spec.key == key


@pytest.mark.parametrize(
    ("key", "text", "needle"),
    [
        ("max_steps", "80", "can't exceed the global ceiling 50"),
        ("max_width", "2048", "can't exceed the global ceiling 1024"),
        ("max_width", "1004", "multiple of 8"),
        ("max_count", "0", "at least 1"),
        ("max_queued_per_user", "9", "global ceiling 3"),
        ("cooldown_seconds", "1", "can't go below the global 2"),
        ("steps", "0", "steps must be between 1 and 50"),
        ("steps", "many", "whole number"),
        ("cfg_scale", "31", "between 1 and 30"),
        ("width", "100", "multiple of 8"),
        ("model", "nope", "Unknown model"),
        ("sampler", "Heun", "Unknown sampler"),
        ("style", "Nope", "Unknown style"),
        ("nsfw", "maybe", "one of: allow, spoiler, refuse"),
        ("paused", "perhaps", "true or false"),
        ("allowed_channels", "general", "not a channel"),
        ("banned_words", "re:(a+)+", "very slow"),
        ("banned_words", "re:.*a.*b", "very slow"),
        ("banned_words", "re:(", "Bad regular expression"),
        ("banned_words", "re:x?", "matches empty text"),
        ("banned_words", "x" * 101, "at most 100"),
        ("role_overrides", "{}", "own command"),
        ("colour", "red", "Unknown setting"),
    ],
)
def test_parse_value_refuses_with_the_reason(key: str, text: str, needle: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_value(key, text, CFG, Cat())
    assert needle in str(err.value)


def test_parse_value_accepts_and_normalises() -> None:
    assert parse_value("max_steps", "30", CFG, Cat()) == 30
    assert parse_value("cooldown_seconds", "5", CFG, Cat()) == 5.0
    assert parse_value("model", "SDXL", CFG, Cat()) == "sdxl_base"
    assert parse_value("sampler", "euler a", CFG, Cat()) == "Euler a"
    assert parse_value("nsfw", "Spoiler", CFG, Cat()) == "spoiler"
    assert parse_value("paused", "yes", CFG, Cat()) is True
    assert parse_value("allowed_channels", "<#123456789012345678>, 223456789012345678", CFG) == (
        123456789012345678,
        223456789012345678,
    )
    assert parse_value("allowed_channels", "all", CFG) == ()
    assert parse_value("blocked_users", "<@!123456789012345678>", CFG) == (123456789012345678,)
    assert parse_value("banned_words", "Foo, BAR baz ,foo", CFG) == ("foo", "bar baz")
    assert parse_value("banned_words", r"re:\bnud(e|ity)\b", CFG) == (r"re:\bnud(e|ity)\b",)
    assert parse_value("banned_words", r"re:\w*s?x", CFG) == (r"re:\w*s?x",)


def test_catalog_keys_need_the_lists() -> None:
    with pytest.raises(PolicyError, match="isn't loaded yet"):
        parse_value("model", "sdxl", CFG, EmptyCat())


def test_defaults_are_checked_against_the_scope_limits() -> None:
    lim = effective(CFG, {"max_steps": 20}).limits
    with pytest.raises(PolicyError, match="steps must be between 1 and 20"):
        parse_value("steps", "30", CFG, Cat(), lim)


def test_daily_quota_respects_the_global_one() -> None:
    cfg = with_safety(SafetyConfig(daily_quota=50))
    with pytest.raises(PolicyError, match="can't be unlimited"):
        parse_value("daily_quota", "0", cfg)
    with pytest.raises(PolicyError, match="global ceiling 50"):
        parse_value("daily_quota", "60", cfg)
    assert parse_value("daily_quota", "10", cfg) == 10
    assert parse_value("daily_quota", "0", CFG) == 0


def test_parse_safety() -> None:
    s = parse_safety({"banned_words": ["Foo", "re:bar\\d"], "extra_networks": "strip", "daily_quota": 5})
    assert s.banned_words == ("foo", "re:bar\\d") and s.extra_networks == "strip" and s.daily_quota == 5
    with pytest.raises(ConfigError, match=r"safety.banned_words: .*very slow"):
        parse_safety({"banned_words": ["re:(a*)*"]})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_safety({"banned": []})


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_cooldown_is_refused(text: str) -> None:
    # a nan cooldown compared false against the bot-wide minimum and removed it
    with pytest.raises(PolicyError, match="cooldown_seconds must be a number"):
        parse_value("cooldown_seconds", text, CFG)
    with pytest.raises(PolicyError, match="cfg_scale must be a number"):
        parse_value("cfg_scale", text, CFG)


@pytest.mark.parametrize("key", ["max_queued_per_user", "cooldown_seconds", "daily_quota"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_role_override_is_refused(key: str, value: float) -> None:
    with pytest.raises(PolicyError, match="finite"):
        check_role_override({key: value}, CFG)


def test_aspect_server_default_is_a_choice_from_the_table() -> None:
    assert SETTINGS["aspect"].choices == ("default", "1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
    assert parse_value("aspect", " 9:16 ", CFG) == "9:16"
    with pytest.raises(PolicyError, match=r"aspect must be one of default, 1:1.*\(got '5:4'\)"):
        parse_value("aspect", "5:4", CFG)
    eff = effective(CFG, {"aspect": "9:16"}, {"aspect": "21:9"})  # the channel's wins
    req = build_request(DrawOptions(prompt="x"), eff.config)
    assert req.aspect == "21:9" and req.width > req.height
    assert eff.value("aspect") == "21:9" and eff.sources["aspect"] == "channel"
    assert SETTINGS["aspect"].load("16:9") == "16:9"
    with pytest.raises(TypeError):
        SETTINGS["aspect"].load("5:4")  # a stored value no longer allowed is not used


def test_clip_skip_server_default() -> None:
    assert parse_value("clip_skip", "2", CFG) == 2
    with pytest.raises(PolicyError, match="clip_skip must be between 1 and 12"):
        parse_value("clip_skip", "20", CFG)
    eff = effective(CFG, {"clip_skip": 2})
    assert build_request(DrawOptions(prompt="x"), eff.config).clip_skip == 2
    assert eff.value("clip_skip") == 2 and eff.sources["clip_skip"] == "server"
