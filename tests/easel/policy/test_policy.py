from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from easel.config import Config, ConfigError, parse_config
from easel.policy import (
    REFUSED_WORD,
    SETTINGS,
    PolicyError,
    PolicyService,
    SafetyConfig,
    UserLimits,
    check_channel_and_nsfw,
    check_prompt,
    check_role_override,
    effective,
    parse_safety,
    parse_value,
    strip_extra_networks,
    user_limits,
)
from easel.request import DrawOptions, RequestError, build_request
from easel.store import Store

CFG = parse_config(
    {"backends": [{"url": "http://127.0.0.1:7860"}], "limits": {"max_steps": 50, "cooldown_seconds": 2.0}},
    env={},
)


def with_safety(safety: SafetyConfig) -> Config:
    """CFG with a [safety] section (until easel/config.py has one, set as an attribute)."""
    cfg = replace(CFG)
    object.__setattr__(cfg, "safety", safety)
    return cfg


GUILD, CHAN, THREAD, OTHER = 100, 200, 201, 300
ADMIN, USER = 7, 8


class Cat:
    known = True

    def model_names(self) -> list[str]:
        return ["sdxl_base", "v1-5-pruned-emaonly"]

    def samplers(self) -> list[str]:
        return ["Euler a", "DPM++ 2M"]

    def schedulers(self) -> list[str]:
        return ["Automatic", "Karras"]

    def styles(self) -> list[str]:
        return ["Cinematic"]

    def resolve_model(self, name: str) -> str | None:
        return {"sdxl": "sdxl_base", "sdxl_base": "sdxl_base"}.get(name.lower())

    def has_sampler(self, name: str) -> bool:
        return name in self.samplers()

    def has_scheduler(self, name: str) -> bool:
        return name in self.schedulers()

    def has_style(self, name: str) -> bool:
        return name in self.styles()


class EmptyCat(Cat):
    known = False


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "db")
    yield s
    await s.close()


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


# ---- effective settings ---------------------------------------------------------------------------------


def test_effective_merge_channel_over_guild_over_global() -> None:
    eff = effective(
        CFG,
        {"steps": 30, "sampler": "DPM++ 2M", "max_count": 2, "nsfw": "spoiler", "style": "Cinematic"},
        {"steps": 12, "nsfw": "refuse"},  # nsfw is guild-only: a channel value is ignored
    )
    assert eff.defaults.steps == 12 and eff.sources["steps"] == "channel"
    assert eff.defaults.sampler == "DPM++ 2M" and eff.sources["sampler"] == "server"
    assert eff.defaults.width == 512 and eff.sources["width"] == "global"
    assert eff.limits.max_count == 2 and eff.limits.max_steps == 50
    assert eff.nsfw == "spoiler"
    assert eff.apply_defaults(DrawOptions(prompt="x")).style == "Cinematic"
    assert eff.apply_defaults(DrawOptions(prompt="x", style="Other")).style == "Other"
    assert eff.value("steps") == 12 and eff.value("max_count") == 2 and eff.value("style") == "Cinematic"


def test_effective_config_works_with_build_request() -> None:
    eff = effective(CFG, {"steps": 40, "max_steps": 45, "max_width": 768, "negative_prompt": "blurry"})
    req = build_request(DrawOptions(prompt="a cat"), eff.config, Cat())
    assert (req.steps, req.negative_prompt) == (40, "blurry")
    with pytest.raises(RequestError, match="between 1 and 45"):
        build_request(DrawOptions(prompt="a cat", steps=46), eff.config, Cat())
    with pytest.raises(RequestError, match="between 64 and 768"):
        build_request(DrawOptions(prompt="a cat", width=1024), eff.config, Cat())


def test_stored_values_over_the_ceiling_are_capped_and_defaults_follow_limits() -> None:
    # e.g. stored before the operator lowered [limits]
    eff = effective(CFG, {"max_steps": 500, "max_queued_per_user": 99, "cooldown_seconds": 0.0, "steps": 40})
    assert eff.limits.max_steps == 50 and eff.limits.max_queued_per_user == 3 and eff.limits.cooldown_seconds == 2.0
    low = effective(CFG, {"max_steps": 10, "max_width": 256})  # global default steps 25, width 512
    assert low.defaults.steps == 10 and low.defaults.width == 256
    build_request(DrawOptions(prompt="x"), low.config, Cat())  # the defaults still pass


def test_unknown_or_malformed_stored_values_are_ignored() -> None:
    eff = effective(CFG, {"steps": "lots", "gone_key": 1, "max_steps": 20})
    assert eff.defaults.steps == 20 and eff.limits.max_steps == 20


# ---- content rules --------------------------------------------------------------------------------------


def _eff(**guild: Any) -> Any:
    return effective(CFG, guild)


@pytest.mark.parametrize(
    "prompt",
    ["a Cat on a mat", "CAT", "(cat:1.2)", "black_cat", "fluffy cat.", "ｃａｔ", "c\u200bat", "a dog, cat"],
)
def test_banned_words_whole_word_case_insensitive(prompt: str) -> None:
    with pytest.raises(PolicyError) as err:
        check_prompt(prompt, "", _eff(banned_words=["cat"]))
    assert str(err.value) == REFUSED_WORD
    assert "cat" not in str(err.value).lower()


@pytest.mark.parametrize("prompt", ["concatenate", "cats2", "catalog", "a scat"])
def test_banned_words_do_not_match_inside_words(prompt: str) -> None:
    assert check_prompt(prompt, "", _eff(banned_words=["cat"]))[0] == prompt


def test_banned_phrases_and_regexes_and_negative_prompt() -> None:
    eff = _eff(banned_words=["hot dog", r"re:\bnud(e|ity)\b"])
    for text in ("a hot  dog", "hot_dog", "NUDITY please"):
        with pytest.raises(PolicyError, match="word this server doesn't allow"):
            check_prompt(text, "", eff)
    with pytest.raises(PolicyError, match="negative prompt contains"):
        check_prompt("fine", "nude", eff)
    assert check_prompt("a hotdog", "", eff)[0] == "a hotdog"


def test_global_and_guild_lists_both_apply() -> None:
    safety = SafetyConfig(banned_words=("gore",), strip_words=("masterpiece",))
    eff = _eff(banned_words=["cat"])
    for text in ("gore", "cat"):
        with pytest.raises(PolicyError):
            check_prompt(text, "", eff, safety)
    assert check_prompt("masterpiece, a dog", "", eff, safety) == ("a dog", "")


def test_strip_words_silently() -> None:
    eff = _eff(strip_words=["trending on artstation", "8k"])
    prompt, negative = check_prompt("a castle, Trending on ArtStation, 8K, moody", "8k blurry", eff)
    assert prompt == "a castle, moody"
    assert negative == "blurry"


def test_extra_networks_stripped_or_allowed() -> None:
    text = "a cat <lora:catstyle:0.8>, <hypernet:x:1> <LyCo:y> best"
    assert strip_extra_networks(text) == "a cat, best"
    assert check_prompt(text, "", _eff(extra_networks="strip"))[0] == "a cat, best"
    assert check_prompt(text, "", _eff())[0] == text
    # the bot-wide setting wins over a server's "allow"
    assert check_prompt(text, "", _eff(extra_networks="allow"), SafetyConfig(extra_networks="strip"))[0] == (
        "a cat, best"
    )
    assert effective(with_safety(SafetyConfig(extra_networks="strip")), {}).extra_networks == "strip"


def test_banned_word_inside_an_extra_network_tag_is_refused() -> None:
    with pytest.raises(PolicyError):
        check_prompt("a <lora:cat:1>", "", _eff(banned_words=["cat"], extra_networks="strip"))


def test_negative_prefix_prepended_once() -> None:
    eff = _eff(negative_prefix="nsfw, gore")
    assert check_prompt("x", "", eff) == ("x", "nsfw, gore")
    assert check_prompt("x", "blurry", eff) == ("x", "nsfw, gore, blurry")
    assert check_prompt("x", "NSFW, gore, blurry", eff) == ("x", "NSFW, gore, blurry")
    both = check_prompt("x", "blurry", eff, SafetyConfig(negative_prefix="lowres"))
    assert both == ("x", "lowres, nsfw, gore, blurry")


def test_long_prompt_against_patterns_is_fast() -> None:
    eff = _eff(banned_words=[r"re:\w*s?x", r"re:a[a-z]{0,3}q", *[f"w{i}" for i in range(400)]])
    started = time.perf_counter()
    check_prompt("a" * 1500, "a" * 1500, eff)
    assert time.perf_counter() - started < 1.0


# ---- channel, NSFW and img2img --------------------------------------------------------------------------


def _chan(eff: Any, *, channel: int = CHAN, parent: int | None = None, nsfw: bool = False, **kw: Any) -> bool:
    return check_channel_and_nsfw(
        eff,
        channel_id=channel,
        parent_id=parent,
        is_nsfw_channel=nsfw,
        img2img=kw.get("img2img", False),
        spoiler=kw.get("spoiler", False),
    )


def test_allowed_channels() -> None:
    eff = _eff(allowed_channels=[OTHER, CHAN])
    assert _chan(eff) is False
    assert _chan(eff, channel=THREAD, parent=CHAN) is False  # a thread of an allowed channel
    with pytest.raises(PolicyError, match=f"doesn't draw in this channel; try <#{OTHER}>"):
        _chan(eff, channel=999)
    assert _chan(_eff(), channel=999) is False  # empty list: everywhere


def test_nsfw_policies() -> None:
    assert _chan(_eff()) is False
    assert _chan(_eff(), spoiler=True) is True
    assert _chan(_eff(nsfw="spoiler")) is True
    assert _chan(_eff(nsfw="spoiler"), nsfw=True) is False
    with pytest.raises(PolicyError, match="only in age-restricted channels"):
        _chan(_eff(nsfw="refuse"))
    assert _chan(_eff(nsfw="refuse"), nsfw=True) is False


def test_img2img_policy() -> None:
    assert _chan(_eff(), img2img=True) is False
    with pytest.raises(PolicyError, match="init images"):
        _chan(_eff(img2img="nsfw_only"), img2img=True)
    assert _chan(_eff(img2img="nsfw_only"), img2img=True, nsfw=True) is False
    assert _chan(_eff(img2img="nsfw_only")) is False  # txt2img unaffected


# ---- user limits ----------------------------------------------------------------------------------------


def test_role_overrides_most_generous_wins_within_ceilings() -> None:
    eff = _eff(
        max_queued_per_user=1,
        cooldown_seconds=30.0,
        daily_quota=10,
        role_overrides={
            "1": {"max_queued_per_user": 2, "cooldown_seconds": 10.0},
            "2": {"max_queued_per_user": 3, "daily_quota": 50},
            "3": {"max_queued_per_user": 99, "cooldown_seconds": 0.0},  # stored before a lower ceiling
        },
    )
    base = user_limits(eff, [])
    assert (base.max_queued, base.cooldown, base.daily_quota) == (1, 30.0, 10)
    both = user_limits(eff, [1, 2, 555])
    assert (both.max_queued, both.cooldown, both.daily_quota) == (3, 10.0, 50)
    capped = user_limits(eff, [3])
    assert (capped.max_queued, capped.cooldown) == (3, 2.0)  # global max_queued 3, cooldown 2
    assert capped.queue_kwargs() == {"max_queued": 3, "cooldown": 2.0}


def test_role_override_unlimited_quota_only_without_global_quota() -> None:
    eff = _eff(daily_quota=10, role_overrides={"1": {"daily_quota": 0}})
    assert user_limits(eff, [1]).daily_quota == 0
    cfg = with_safety(SafetyConfig(daily_quota=20))
    eff2 = effective(cfg, {"daily_quota": 10, "role_overrides": {"1": {"daily_quota": 0}}})
    assert user_limits(eff2, [1]).daily_quota == 20


# ---- the service, on a real store -----------------------------------------------------------------------


async def test_service_set_show_reset_and_cache(store: Store) -> None:
    svc = PolicyService(store, CFG)
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 25
    await svc.set_text(GUILD, "steps", "30", by=ADMIN)
    await svc.set_text(GUILD, "steps", "12", by=ADMIN, channel_id=CHAN)
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 12
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 30
    assert (await svc.for_draw(GUILD, THREAD, CHAN)).defaults.steps == 12  # thread inherits its parent
    assert (await svc.for_draw(None, CHAN)).defaults.steps == 25  # DMs: global
    assert await store.get_settings("guild", GUILD) == {"steps": 30}

    # cached: a write behind the service's back is not seen until invalidated
    await store.set_setting("guild", GUILD, "steps", 40)
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 30
    svc.invalidate(GUILD)
    assert (await svc.for_draw(GUILD, OTHER)).defaults.steps == 40

    assert await svc.reset(GUILD, "steps", by=ADMIN, channel_id=CHAN) == 1
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 40
    await svc.set_text(GUILD, "max_count", "2", by=ADMIN)
    assert await svc.reset(GUILD, by=ADMIN) == 2
    assert (await svc.for_draw(GUILD, CHAN)).defaults.steps == 25

    # survives a new service (the store is the truth)
    await svc.set_text(GUILD, "nsfw", "refuse", by=ADMIN)
    assert (await PolicyService(store, CFG).for_draw(GUILD, CHAN)).nsfw == "refuse"


async def test_service_refuses_and_logs(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    svc = PolicyService(store, CFG)
    caplog.set_level("INFO", logger="easel.policy")
    with pytest.raises(PolicyError, match="global ceiling"):
        await svc.set_text(GUILD, "max_steps", "99", by=ADMIN)
    with pytest.raises(PolicyError, match="whole server"):
        await svc.set_text(GUILD, "nsfw", "refuse", by=ADMIN, channel_id=CHAN)
    await svc.set_text(GUILD, "max_steps", "20", by=ADMIN)
    with pytest.raises(PolicyError, match="steps must be between 1 and 20"):
        await svc.set_text(GUILD, "steps", "30", by=ADMIN)
    assert f"guild {GUILD} channel None user {ADMIN} refused max_steps" in caplog.text
    assert f"guild {GUILD} channel None user {ADMIN} set max_steps = 20" in caplog.text
    assert await store.get_settings("guild", GUILD) == {"max_steps": 20}


async def test_service_lists(store: Store) -> None:
    svc = PolicyService(store, CFG)
    assert await svc.add_items(GUILD, "banned_words", ["Cat", "dog"], by=ADMIN) == ("cat", "dog")
    assert await svc.add_items(GUILD, "banned_words", ["CAT", "re:x\\d"], by=ADMIN) == ("cat", "dog", "re:x\\d")
    assert await svc.remove_items(GUILD, "banned_words", ["DOG"], by=ADMIN) == ("cat", "re:x\\d")
    with pytest.raises(PolicyError, match="Not in"):
        await svc.remove_items(GUILD, "banned_words", ["emu"], by=ADMIN)
    await svc.add_items(GUILD, "allowed_channels", [CHAN, OTHER], by=ADMIN)
    assert await svc.remove_items(GUILD, "allowed_channels", [CHAN, OTHER], by=ADMIN) == ()
    assert "allowed_channels" not in await store.get_settings("guild", GUILD)
    eff = await svc.for_draw(GUILD, CHAN)
    with pytest.raises(PolicyError):
        check_prompt("a cat", "", eff)


def test_config_role_limits_go_past_the_global_limits() -> None:
    cfg = parse_config(
        {
            "backends": [{"url": "http://127.0.0.1:7860"}],
            "limits": {"max_queued_per_user": 2, "cooldown_seconds": 30},
            "role_limits": [{"role_id": 99, "max_queued_per_user": 8, "cooldown_seconds": 0}],
        },
        env={},
    )
    settings = effective(cfg, {}, {}, guild_id=1, channel_id=2)
    assert user_limits(settings, []) == UserLimits(2, 30.0, 0)
    assert user_limits(settings, [5, 99]) == UserLimits(8, 0.0, 0)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_cooldown_is_refused(text: str) -> None:
    # a nan cooldown compared false against the bot-wide minimum and removed it
    with pytest.raises(PolicyError, match="cooldown_seconds must be a number"):
        parse_value("cooldown_seconds", text, CFG)
    with pytest.raises(PolicyError, match="cfg_scale must be a number"):
        parse_value("cfg_scale", text, CFG)


def test_a_stored_non_finite_value_is_ignored() -> None:
    eff = effective(CFG, {"cooldown_seconds": float("nan"), "role_overrides": {"5": {"cooldown_seconds": "x"}}})
    assert eff.limits.cooldown_seconds == 2.0
    eff = effective(CFG, {"role_overrides": {"5": {"cooldown_seconds": float("nan"), "max_queued_per_user": 2}}})
    assert user_limits(eff, [5]).cooldown == 2.0


@pytest.mark.parametrize("key", ["max_queued_per_user", "cooldown_seconds", "daily_quota"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_role_override_is_refused(key: str, value: float) -> None:
    with pytest.raises(PolicyError, match="finite"):
        check_role_override({key: value}, CFG)


async def test_set_role_override_nan_keeps_the_cooldown(store: Store) -> None:
    svc = PolicyService(store, CFG)
    with pytest.raises(PolicyError, match="finite"):
        await svc.set_role_override(GUILD, 55, {"cooldown_seconds": float("nan")}, by=ADMIN)
    eff = await svc.for_draw(GUILD, CHAN)
    assert user_limits(eff, [55]).cooldown == 2.0


def test_clip_skip_server_default() -> None:
    assert parse_value("clip_skip", "2", CFG) == 2
    with pytest.raises(PolicyError, match="clip_skip must be between 1 and 12"):
        parse_value("clip_skip", "20", CFG)
    eff = effective(CFG, {"clip_skip": 2})
    assert build_request(DrawOptions(prompt="x"), eff.config).clip_skip == 2
    assert eff.value("clip_skip") == 2 and eff.sources["clip_skip"] == "server"
