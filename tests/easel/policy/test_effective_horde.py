"""``/settings horde``: a server's choice over the global ``[horde] mode``."""

from __future__ import annotations

import pytest

from easel.config import HordeMode
from easel.errors import PolicyError
from easel.policy.effective import effective
from easel.policy.keys import SETTINGS, parse_value
from tests.helpers import make_config


def test_off_unless_someone_turns_it_on() -> None:
    eff = effective(make_config(), {})
    assert eff.horde is HordeMode.OFF and eff.sources["horde"] == "global"


def test_the_global_mode_is_the_default_and_a_server_chooses() -> None:
    cfg = make_config(horde={"mode": "overflow"})
    assert effective(cfg, {}).horde is HordeMode.OVERFLOW
    server = effective(cfg, {"horde": "off"})
    assert server.horde is HordeMode.OFF and server.sources["horde"] == "server"
    assert effective(make_config(), {"horde": "only"}).horde is HordeMode.ONLY


def test_the_setting_is_a_server_wide_choice() -> None:
    spec = SETTINGS["horde"]
    assert spec.choices == ("off", "overflow", "only") and not spec.channel
    assert len(spec.description) <= 100 and "volunteers see prompts and images" in spec.description
    with pytest.raises(PolicyError):
        parse_value("horde", "sometimes", make_config())
