from __future__ import annotations

from pathlib import Path

import pytest

from easel.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def minimal(**extra: object) -> dict:
    raw: dict = {"backends": [{"url": "http://127.0.0.1:7860"}]}
    raw.update(extra)
    return raw


def test_example_config_is_valid_and_documents_every_key() -> None:
    cfg = load_config(ROOT / "config.example.toml", env={})
    assert cfg.backends[0].url == "http://127.0.0.1:7860"
    text = (ROOT / "config.example.toml").read_text()
    from easel import config as mod

    sections = {
        "discord": mod.DiscordConfig,
        "webui": mod.WebuiConfig,
        "defaults": mod.Defaults,
        "limits": mod.Limits,
        "hires": mod.HiresConfig,
        "queue": mod.QueueConfig,
        "storage": mod.StorageConfig,
        "logging": mod.LoggingConfig,
        "backends": mod.BackendConfig,
        "metrics": mod.MetricsConfig,
        "results": mod.ResultsConfig,
        "safety": mod.SafetyConfig,
    }
    for section, cls in sections.items():
        assert f"[{section}]" in text or f"[[{section}]]" in text
        for key in cls.__dataclass_fields__:
            assert f"\n{key} =" in text, f"{section}.{key} is not documented in config.example.toml"


def test_env_token_wins_and_is_not_in_repr() -> None:
    cfg = parse_config(minimal(discord={"token": "from-file"}), env={"DISCORD_TOKEN": "from-env"})
    assert cfg.discord.token == "from-env"
    assert "from-env" not in repr(cfg)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({}, "[[backends]]"),
        ({"backends": [{"url": "localhost:7860"}]}, "backends[0].url"),
        (minimal(limits={"max_steps": "lots"}), "limits.max_steps"),
        (minimal(limits={"max_width": 1001}), "limits.max_width"),
        (minimal(limits={"max_count": 11}), "limits.max_count"),
        (minimal(defaults={"steps": 500}), "defaults.steps"),
        (minimal(defaults={"stepz": 5}), "stepz"),
        (minimal(bogus={}), "bogus"),
        ({"backends": [{"url": "http://a:1", "username": "u"}]}, "username and password"),
        ({"backends": [{"url": "http://a:1"}, {"url": "http://a:1"}]}, "unique"),
        (minimal(logging={"level": "LOUD"}), "logging.level"),
        (minimal(discord={"guild_ids": ["x"]}), "discord.guild_ids"),
    ],
)
def test_bad_config_names_the_key(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert needle in str(info.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[discord\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_int_accepted_for_float_keys() -> None:
    cfg = parse_config(minimal(webui={"read_timeout": 30}), env={})
    assert cfg.webui.read_timeout == 30.0


def test_role_limits_parsed_and_checked() -> None:
    cfg = parse_config(
        minimal(role_limits=[{"role_id": 7, "max_queued_per_user": 10}, {"role_id": 8, "cooldown_seconds": 0}]),
        env={},
    )
    assert [(r.role_id, r.max_queued_per_user, r.cooldown_seconds) for r in cfg.role_limits] == [
        (7, 10, None),
        (8, None, 0.0),
    ]
    with pytest.raises(ConfigError, match=r"role_limits\[0\].role_id"):
        parse_config(minimal(role_limits=[{"max_queued_per_user": 3}]), env={})
    with pytest.raises(ConfigError, match=r"role_limits\[0\].max_queued_per_user"):
        parse_config(minimal(role_limits=[{"role_id": 1, "max_queued_per_user": 0}]), env={})
