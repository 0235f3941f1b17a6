"""easel/policy/checks.py: channels, NSFW, img2img and per-user limits."""

from __future__ import annotations

from typing import Any

import pytest

from easel.config import parse_config
from easel.policy import (
    PolicyError,
    SafetyConfig,
    UserLimits,
    check_channel_and_nsfw,
    effective,
    user_limits,
)
from tests.easel.policy.conftest import CHAN, OTHER, THREAD, guild_eff, with_safety

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
    eff = guild_eff(allowed_channels=[OTHER, CHAN])
    assert _chan(eff) is False
    assert _chan(eff, channel=THREAD, parent=CHAN) is False  # a thread of an allowed channel
    with pytest.raises(PolicyError, match=f"doesn't draw in this channel; try <#{OTHER}>"):
        _chan(eff, channel=999)
    assert _chan(guild_eff(), channel=999) is False  # empty list: everywhere


def test_nsfw_policies() -> None:
    assert _chan(guild_eff()) is False
    assert _chan(guild_eff(), spoiler=True) is True
    assert _chan(guild_eff(nsfw="spoiler")) is True
    assert _chan(guild_eff(nsfw="spoiler"), nsfw=True) is False
    with pytest.raises(PolicyError, match="only in age-restricted channels"):
        _chan(guild_eff(nsfw="refuse"))
    assert _chan(guild_eff(nsfw="refuse"), nsfw=True) is False


def test_img2img_policy() -> None:
    assert _chan(guild_eff(), img2img=True) is False
    with pytest.raises(PolicyError, match="init images"):
        _chan(guild_eff(img2img="nsfw_only"), img2img=True)
    assert _chan(guild_eff(img2img="nsfw_only"), img2img=True, nsfw=True) is False
    assert _chan(guild_eff(img2img="nsfw_only")) is False  # txt2img unaffected


# ---- user limits ----------------------------------------------------------------------------------------


def test_role_overrides_most_generous_wins_within_ceilings() -> None:
    eff = guild_eff(
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
    eff = guild_eff(daily_quota=10, role_overrides={"1": {"daily_quota": 0}})
    assert user_limits(eff, [1]).daily_quota == 0
    cfg = with_safety(SafetyConfig(daily_quota=20))
    eff2 = effective(cfg, {"daily_quota": 10, "role_overrides": {"1": {"daily_quota": 0}}})
    assert user_limits(eff2, [1]).daily_quota == 20


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


# ---- LoRAs: a server's allow-list, block-list and maximum --------------------------------------------------------


def test_lora_rules_apply_to_a_built_request() -> None:
    from easel.policy import check_request_limits, parse_value
    from easel.request import DrawRequest

    req = DrawRequest(prompt="x", lora="add_detail:0.5, pixel_art_v2:0.8")
    check_request_limits(req, guild_eff())  # the global max_loras is 5
    with pytest.raises(PolicyError, match=r"at most 1 LoRA\(s\) per request \(you asked for 2\)"):
        check_request_limits(req, guild_eff(max_loras=1))
    with pytest.raises(PolicyError, match="pixel_art_v2 isn't allowed on this server"):
        check_request_limits(req, guild_eff(lora_allow=("Add_Detail",)))
    with pytest.raises(PolicyError, match="add_detail isn't allowed on this server"):
        check_request_limits(req, guild_eff(lora_block=("add_detail",)))
    check_request_limits(DrawRequest(prompt="x"), guild_eff(lora_allow=("other",), max_loras=1))
    cfg = guild_eff().config
    assert parse_value("lora_allow", " add_detail ,Pixel_Art_V2, add_detail", cfg) == ("add_detail", "Pixel_Art_V2")
    assert parse_value("max_loras", "2", cfg) == 2
    with pytest.raises(PolicyError, match="can't exceed the global ceiling 5"):
        parse_value("max_loras", "6", cfg)
    with pytest.raises(PolicyError, match="is not a LoRA name"):
        parse_value("lora_block", "<lora:x:1>", cfg)
    assert guild_eff(max_loras=9).limits.max_loras == 5  # a stored value above the ceiling is capped
