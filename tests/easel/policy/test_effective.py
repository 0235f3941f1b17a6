"""easel/policy/effective.py: merging global, guild and channel settings."""

from __future__ import annotations

import pytest

from easel.policy import (
    effective,
    user_limits,
)
from easel.request import DrawOptions, RequestError, build_request
from tests.easel.policy.conftest import CFG, Cat

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


def test_a_stored_non_finite_value_is_ignored() -> None:
    eff = effective(CFG, {"cooldown_seconds": float("nan"), "role_overrides": {"5": {"cooldown_seconds": "x"}}})
    assert eff.limits.cooldown_seconds == 2.0
    eff = effective(CFG, {"role_overrides": {"5": {"cooldown_seconds": float("nan"), "max_queued_per_user": 2}}})
    assert user_limits(eff, [5]).cooldown == 2.0
