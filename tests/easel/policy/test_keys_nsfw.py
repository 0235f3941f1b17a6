"""The per-server ``nsfw_check`` key: any mode under a global default, nothing looser than a global "refuse"."""

from __future__ import annotations

import pytest

from easel.config import NsfwCheck
from easel.errors import PolicyError
from easel.policy import SETTINGS, effective, parse_value
from tests.helpers import make_config


def test_a_server_picks_any_mode_under_a_global_default() -> None:
    cfg = make_config(safety={"nsfw_check": "spoiler"})
    assert effective(cfg, {}).nsfw_check is NsfwCheck.SPOILER
    assert effective(cfg, {}).sources["nsfw_check"] == "global"
    for mode in ("off", "spoiler", "blur", "refuse"):
        value = parse_value("nsfw_check", f" {mode.upper()} ", cfg)
        assert value == mode
        eff = effective(cfg, {"nsfw_check": value})
        assert eff.nsfw_check == mode and eff.value("nsfw_check") == mode and eff.sources["nsfw_check"] == "server"


def test_unknown_mode_is_refused_with_the_choices() -> None:
    with pytest.raises(PolicyError, match="nsfw_check must be one of: off, spoiler, blur, refuse"):
        parse_value("nsfw_check", "maybe", make_config())


def test_a_global_refuse_cannot_be_loosened() -> None:
    cfg = make_config(safety={"nsfw_check": "refuse"})
    for mode in ("off", "spoiler", "blur"):
        with pytest.raises(PolicyError, match="refuse for the whole bot"):
            parse_value("nsfw_check", mode, cfg)
    assert parse_value("nsfw_check", "refuse", cfg) == "refuse"
    # A value stored before the operator set "refuse" does not loosen it either.
    assert effective(cfg, {"nsfw_check": "off"}).nsfw_check is NsfwCheck.REFUSE


def test_it_is_a_server_key_and_a_stored_bad_value_is_ignored() -> None:
    assert SETTINGS["nsfw_check"].channel is False
    cfg = make_config(safety={"nsfw_check": "blur"})
    assert effective(cfg, {}, {"nsfw_check": "off"}).nsfw_check is NsfwCheck.BLUR  # a channel value is ignored
    assert effective(cfg, {"nsfw_check": "sometimes"}).nsfw_check is NsfwCheck.BLUR
    assert effective(make_config(), {}).nsfw_check is NsfwCheck.OFF
