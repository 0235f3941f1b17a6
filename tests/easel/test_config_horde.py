"""``[[backends]] kind = "horde"`` and ``[horde]``: the AI Horde backend's settings and the routing mode."""

from __future__ import annotations

import pytest

from easel.config import HORDE_ANONYMOUS_KEY, HORDE_URL, ConfigError, HordeMode
from tests.helpers import LOCAL_URL, make_config


def test_a_horde_backend_with_defaults_is_anonymous_and_off() -> None:
    cfg = make_config([LOCAL_URL, {"kind": "horde"}])
    local, horde = cfg.backends
    assert not local.is_horde and horde.is_horde
    assert horde.name == "horde" and horde.url == HORDE_URL
    assert horde.horde is not None and horde.horde.api_key == HORDE_ANONYMOUS_KEY
    assert horde.horde.max_in_flight == 2 and horde.horde.models == ()
    assert cfg.horde.mode is HordeMode.OFF  # off unless an admin turns it on (privacy)
    assert "api_key" not in repr(horde)


def test_every_horde_key() -> None:
    table = {
        "kind": "horde",
        "name": "aihorde",
        "api_key": "abc",
        "models": ["AlbedoBase XL (SDXL)"],
        "trusted_workers": True,
        "max_in_flight": 4,
        "allow_downgrade": True,
        "contact": "https://example.org",
    }
    cfg = make_config([table], horde={"mode": "overflow", "overflow_after": 30})
    h = cfg.backends[0].horde
    assert h is not None
    assert (h.api_key, h.models, h.trusted_workers, h.max_in_flight, h.allow_downgrade, h.contact) == (
        "abc",
        ("AlbedoBase XL (SDXL)",),
        True,
        4,
        True,
        "https://example.org",
    )
    assert cfg.horde.mode is HordeMode.OVERFLOW and cfg.horde.overflow_after == 30.0


def test_the_key_may_come_from_the_environment() -> None:
    cfg = make_config([{"kind": "horde", "api_key": "in-file"}], env={"EASEL_HORDE_API_KEY": "from-env"})
    assert cfg.backends[0].horde is not None and cfg.backends[0].horde.api_key == "from-env"


@pytest.mark.parametrize(
    ("table", "horde", "words"),
    [
        ({"kind": "horde", "password": "x"}, {}, "unknown key 'password'"),
        ({"kind": "horde", "models": "sdxl"}, {}, "models: expected a list"),
        ({"kind": "horde", "max_in_flight": 0}, {}, "max_in_flight"),
        ({"kind": "horde", "url": "aihorde.net"}, {}, "url"),
        ({"kind": "horde"}, {"mode": "sometimes"}, "horde.mode"),
        ({"kind": "horde"}, {"overflow_after": -1}, "overflow_after"),
    ],
)
def test_mistakes_are_named(table: dict, horde: dict, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config([table], horde=horde)
    assert words in str(info.value)


def test_the_example_documents_every_horde_key_commented_out() -> None:
    from pathlib import Path

    from easel.config import HordeBackend, load_config

    path = Path(__file__).resolve().parents[2] / "config.example.toml"
    text = path.read_text()
    for key in HordeBackend.__dataclass_fields__:
        assert f"\n# {key} =" in text, f"{key} is not documented in config.example.toml"
    assert not any(b.is_horde for b in load_config(path, env={}).backends)  # not on unless uncommented
