"""The option table: everything that lists /draw options agrees with it."""

from __future__ import annotations

import types

import pytest

from cogs.draw import Draw
from easel.config import Defaults, parse_config
from easel.options import BY_LIMIT, OPTIONS, Option, OptionType, RangeError, apply_payload, help_line, option
from easel.policy import SETTINGS, SettingKind
from easel.request import DrawOptions, DrawRequest

CFG = parse_config(
    {"backends": [{"url": "http://127.0.0.1:7860"}], "limits": {"max_steps": 40, "max_prompt_length": 900}}, env={}
)


def _draw_params() -> dict:
    cog = Draw.__new__(Draw)
    Draw.__init__(cog, types.SimpleNamespace(config=CFG))  # type: ignore[arg-type]
    return {p.name: p for p in cog.draw.parameters}


def test_every_option_is_a_draw_parameter_with_its_description_and_bounds() -> None:
    params = _draw_params()
    assert list(params) == [o.name for o in OPTIONS]
    for o in OPTIONS:
        assert params[o.name].description == o.description
        assert len(o.description) <= 100
    assert (params["steps"].min_value, params["steps"].max_value) == (1, 40)  # the config's limit
    assert (params["seed"].min_value, params["seed"].max_value) == (-1, 4294967294)
    assert (params["strength"].min_value, params["strength"].max_value) == (0.05, 1.0)
    assert (params["prompt"].min_value, params["prompt"].max_value) == (1, 900)
    assert params["count"].max_value == CFG.limits.max_count


def test_request_options_defaults_and_settings_follow_the_table() -> None:
    for o in OPTIONS:
        if o.type is OptionType.ATTACHMENT:
            continue
        assert o.name in DrawOptions.__dataclass_fields__
        assert o.name in DrawRequest.__dataclass_fields__
    # [defaults] has a key per option with defaults_key, and lora_weight (the weight of a LoRA named without one)
    assert set(Defaults.__dataclass_fields__) == {o.name for o in OPTIONS if o.defaults_key} | {"lora_weight"}
    defaults = {k for k, s in SETTINGS.items() if s.kind is SettingKind.DEFAULTS}
    assert defaults == {o.name for o in OPTIONS if o.server_default}
    limits = {k for k, s in SETTINGS.items() if s.kind is SettingKind.LIMITS}
    assert set(BY_LIMIT) <= limits
    assert {"max_steps", "max_width", "max_height", "max_count"} <= set(BY_LIMIT)


def test_check_and_messages() -> None:
    steps, width, strength = option("steps"), option("width"), option("strength")
    assert steps.check(30, CFG.limits) == 30
    with pytest.raises(RangeError, match=r"^steps must be between 1 and 40 \(got 41\)\.$"):
        steps.check(41, CFG.limits)
    with pytest.raises(RangeError, match="try 512"):
        width.check(515)
    with pytest.raises(RangeError, match="above 0 and at most 1"):
        strength.check(0.0)
    for bad in (float("nan"), float("inf"), True, "3"):
        with pytest.raises(RangeError):
            steps.check(bad)
    assert option("seed").check(-1) == -1


def test_payload_keys_per_flavor() -> None:
    payload: dict = {}
    apply_payload(payload, {"steps": 20, "scheduler": "", "sampler": "Euler", "seed": None}, "sdnext")
    assert payload == {"steps": 20, "sampler_name": "Euler"}
    with pytest.raises(ValueError):
        apply_payload({}, {}, "comfy")


def test_an_unset_value_means_the_webuis_own() -> None:
    opt = Option("layers", OptionType.INT, "d", "h", default=0, defaults_key=True, minimum=1, maximum=12, unset=0)
    assert opt.check(0) == 0 and opt.check(12) == 12
    with pytest.raises(RangeError, match=r"between 1 and 12, or 0 for the webui's own setting \(got 13\)"):
        opt.check(13)
    assert help_line(opt, types.SimpleNamespace(layers=0), None) == "`layers` 1-12: h"


def test_wrap_seed_keeps_what_draw_takes_and_wraps_the_rest() -> None:
    from easel.options import MAX_SEED, wrap_seed

    assert [wrap_seed(s) for s in (-1, 0, 7, MAX_SEED)] == [-1, 0, 7, MAX_SEED]
    assert wrap_seed(MAX_SEED + 1) == 0 and wrap_seed(MAX_SEED + 6) == 5
