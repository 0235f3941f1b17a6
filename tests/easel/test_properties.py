"""Property tests: whatever a user sends as /draw options or /settings text, the answer is a checked request or
value, or a one-line refusal; never an unhandled exception."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easel.config import parse_config
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
