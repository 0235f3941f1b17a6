"""``[tools]``: defaults and the ranges refused at load."""

from __future__ import annotations

import pytest

from easel.config import ConfigError, ToolsConfig
from tests.helpers import make_config


def test_defaults_and_a_valid_table() -> None:
    assert make_config().tools == ToolsConfig()
    cfg = make_config(tools={"max_upscale_factor": 3, "outpaint_denoise": 0.9, "max_images": 4})
    assert (cfg.tools.max_upscale_factor, cfg.tools.outpaint_denoise, cfg.tools.max_images) == (3.0, 0.9, 4)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_upscale_factor", 1.2),
        ("max_upscale_factor", 5),
        ("max_upscale_pixels", 1000),
        ("outpaint_denoise", 0),
        ("outpaint_mask_blur", 100),
        ("max_images", 0),
        ("max_images", 26),
        ("outpaint_denoise", "high"),
    ],
)
def test_bad_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"tools.{key}"):
        make_config(tools={key: value})


def test_unknown_key() -> None:
    with pytest.raises(ConfigError, match="tools"):
        make_config(tools={"zoom": 2})
