"""Property tests: whatever a user sends as /draw options or /settings text, the answer is a checked request or
value, or a one-line refusal; never an unhandled exception."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easel.config import ConfigError, parse_config
from easel.errors import RequestError
from easel.options import MAX_SEED, NUMERIC, OptionType
from easel.policy import SETTINGS, PolicyError, check_role_override, parse_value
from easel.request import DrawOptions, build_request

CFG = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}], "limits": {"cooldown_seconds": 1.0}}, env={})


class Cat:
    known = True

    def resolve_model(self, name: str) -> str | None:
        return "sdxl_base" if name.lower() in ("sdxl", "sdxl_base") else None

    def has_sampler(self, name: str) -> bool:
        return name in ("Euler a", "DPM++ 2M")

    def has_scheduler(self, name: str) -> bool:
        return name == "Karras"

    def has_style(self, name: str) -> bool:
        return name == "Cinematic"

    def model_names(self) -> list[str]:
        return ["sdxl_base"]

    def samplers(self) -> list[str]:
        return ["Euler a", "DPM++ 2M"]

    def schedulers(self) -> list[str]:
        return ["Karras"]

    def styles(self) -> list[str]:
        return ["Cinematic"]


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and len(message) <= 300


numbers = st.one_of(
    st.none(),
    st.integers(),
    st.integers(min_value=-10, max_value=5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2, max_value=40),
)
texts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["", "  ", "\u200b", "sdxl", "Euler a", "Karras", "Cinematic", "x" * 1600]),
)


@st.composite
def draw_options(draw: Any) -> DrawOptions:
    values: dict[str, Any] = {"prompt": draw(st.one_of(st.text(max_size=60), st.just("x" * 1600)))}
    for name in ("negative_prompt", "model", "sampler", "scheduler", "style"):
        values[name] = draw(texts)
    for opt in NUMERIC:
        values[opt.name] = draw(numbers)
    values["hires_fix"] = draw(st.one_of(st.none(), st.booleans()))
    values["spoiler"] = draw(st.one_of(st.none(), st.booleans()))
    size = st.tuples(st.integers(min_value=1, max_value=100_000), st.integers(min_value=1, max_value=100_000))
    values["init_image_size"] = draw(st.one_of(st.none(), size))
    return DrawOptions(**values)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draw_options(), st.booleans())
def test_build_request_answers_a_request_or_one_line(opts: DrawOptions, with_catalog: bool) -> None:
    try:
        req = build_request(opts, CFG, Cat() if with_catalog else None)
    except RequestError as exc:
        assert one_line(str(exc)), str(exc)
        return
    lim = CFG.limits
    assert 1 <= req.steps <= lim.max_steps and 1 <= req.count <= lim.max_count
    assert 64 <= req.width <= lim.max_width and req.width % 8 == 0
    assert 64 <= req.height <= lim.max_height and req.height % 8 == 0
    assert req.width * req.height <= lim.max_pixels
    assert math.isfinite(req.cfg_scale) and 1 <= req.cfg_scale <= 30
    assert -1 <= req.seed <= MAX_SEED
    assert 0 < req.strength <= 1
    assert req.prompt.strip() and len(req.prompt) <= lim.max_prompt_length
    for opt in NUMERIC:
        value = getattr(req, opt.name)
        assert value is None or isinstance(value, int if opt.type is OptionType.INT else float)


setting_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0", "1", "8", "64", "512", "1e3", "true", "re:(a+)+"]),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(SETTINGS)), setting_text)
def test_parse_value_answers_a_value_or_one_line(key: str, text: str) -> None:
    try:
        value = parse_value(key, text, CFG, Cat())
    except PolicyError as exc:
        assert one_line(str(exc)), str(exc)
        return
    if isinstance(value, float):
        assert math.isfinite(value)
    if key == "cooldown_seconds":
        assert value >= CFG.limits.cooldown_seconds


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["max_queued_per_user", "cooldown_seconds", "daily_quota", "other"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5)),
        max_size=3,
    )
)
def test_role_override_answers_a_value_or_one_line(values: dict[str, Any]) -> None:
    try:
        out = check_role_override(values, CFG)
    except PolicyError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert all(math.isfinite(v) for v in out.values())
    assert out.get("cooldown_seconds", CFG.limits.cooldown_seconds) >= CFG.limits.cooldown_seconds


# ---- config files ------------------------------------------------------------------------------------------

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=4))
SECTION_KEYS: dict[str, list[str]] = {
    "webui": [
        "connect_timeout",
        "read_timeout",
        "catalog_refresh",
        "max_attempts",
        "probe_max_interval",
        "stall_timeout",
    ],
    "defaults": [o.name for o in NUMERIC] + ["model", "sampler", "negative_prompt"],
    "limits": ["max_steps", "max_width", "max_pixels", "max_count", "cooldown_seconds", "max_queue_length"],
    "queue": ["status_interval", "affinity_max_skips", "shutdown_grace"],
    "results": ["upscale_factor", "vary_strength", "anyone_can_use_buttons"],
    "safety": ["banned_words", "strip_words", "negative_prefix", "extra_networks", "daily_quota"],
    "storage": ["path", "keep_results_days"],
    "metrics": ["enabled", "port"],
}


@st.composite
def config_tables(draw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "backends": [{"url": draw(st.sampled_from(["http://127.0.0.1:7860", "http://u:p@h:1", "ftp://x", ""]))}]
    }
    for section in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=3, unique=True)):
        keys = draw(st.lists(st.sampled_from(SECTION_KEYS[section]), min_size=1, max_size=3, unique=True))
        raw[section] = {k: draw(toml_values) for k in keys}
    return raw


@settings(max_examples=400, deadline=None)
@given(config_tables())
def test_a_config_file_loads_or_names_the_bad_key_in_one_line(raw: dict[str, Any]) -> None:
    try:
        cfg = parse_config(raw, env={})
    except ConfigError as exc:
        assert one_line(str(exc)), str(exc)
        return
    for section in ("webui", "limits", "queue", "results", "storage"):  # what loads is finite
        for value in vars(getattr(cfg, section)).values():
            if isinstance(value, float):
                assert math.isfinite(value)
    assert "p@" not in cfg.backends[0].name and "u:p" not in cfg.backends[0].url
