"""easel/config.py: the image check's [safety] keys (nsfw_check, nsfw_labels, nsfw_threshold)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from easel.config import EXPLICIT_LABELS, ConfigError, NsfwCheck, parse_safety
from tests.helpers import make_config


def test_defaults_are_off_with_the_explicit_labels() -> None:
    safety = make_config().safety
    assert safety.nsfw_check is NsfwCheck.OFF
    assert safety.nsfw_labels == EXPLICIT_LABELS
    assert set(EXPLICIT_LABELS) == {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
    assert safety.nsfw_threshold == 0.5


@pytest.mark.parametrize("mode", ["off", "spoiler", "blur", "refuse"])
def test_every_mode_is_read(mode: str) -> None:
    assert make_config(safety={"nsfw_check": mode}).safety.nsfw_check == mode


def test_labels_and_threshold_are_read() -> None:
    safety = make_config(
        safety={"nsfw_labels": ["ANUS_EXPOSED", "BELLY_EXPOSED", "ANUS_EXPOSED"], "nsfw_threshold": 1}
    ).safety
    assert safety.nsfw_labels == ("ANUS_EXPOSED", "BELLY_EXPOSED")  # duplicates dropped
    assert safety.nsfw_threshold == 1.0 and isinstance(safety.nsfw_threshold, float)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"nsfw_check": "on"}, "safety.nsfw_check: expected one of 'off', 'spoiler', 'blur', 'refuse', got 'on'"),
        ({"nsfw_check": True}, "safety.nsfw_check"),
        ({"nsfw_labels": []}, "safety.nsfw_labels: expected a non-empty list"),
        ({"nsfw_labels": "ANUS_EXPOSED"}, "safety.nsfw_labels: expected a non-empty list"),
        ({"nsfw_labels": [1]}, "safety.nsfw_labels: expected a non-empty list"),
        ({"nsfw_labels": ["anus_exposed"]}, "safety.nsfw_labels: unknown label 'anus_exposed'"),
        ({"nsfw_threshold": 1.5}, "safety.nsfw_threshold: expected a number from 0 to 1, got 1.5"),
        ({"nsfw_threshold": -0.1}, "safety.nsfw_threshold"),
        ({"nsfw_threshold": math.nan}, "safety.nsfw_threshold"),
        ({"nsfw_threshold": math.inf}, "safety.nsfw_threshold"),
        ({"nsfw_threshold": True}, "safety.nsfw_threshold"),
        ({"nsfw_threshold": "0.5"}, "safety.nsfw_threshold"),
    ],
)
def test_bad_values_are_refused_naming_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_safety(table)
    assert message in str(err.value)
    with pytest.raises(ConfigError, match=f"^{message.split(':')[0]}"):
        make_config(safety=table)
