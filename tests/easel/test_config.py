from __future__ import annotations

from pathlib import Path

import pytest

from easel.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


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
        "horde": mod.HordeRouting,
    }
    for section, cls in sections.items():
        assert f"[{section}]" in text or f"[[{section}]]" in text
        for key in cls.__dataclass_fields__:
            if cls is mod.BackendConfig and key == "horde":
                continue  # kind = "horde" keys: documented commented out (tests/easel/test_config_horde.py)
            assert f"\n{key} =" in text, f"{section}.{key} is not documented in config.example.toml"


def test_env_token_wins_and_is_not_in_repr() -> None:
    cfg = parse_config(minimal(discord={"token": "from-file"}), env={"DISCORD_TOKEN": "from-env"})
    assert cfg.discord.token == "from-env"
    assert "from-env" not in repr(cfg)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"backends": []}, "[[backends]]"),
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
    with pytest.raises(ConfigError, match=r"no such file \(run ./start.sh setup"):
        load_config(tmp_path / "nope.toml")  # a file named on purpose must exist
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


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (minimal(webui={"read_timeout": float("nan")}), "webui.read_timeout: expected a finite number"),
        (minimal(webui={"connect_timeout": float("inf")}), "webui.connect_timeout: expected a finite number"),
        (minimal(limits={"cooldown_seconds": float("nan")}), "limits.cooldown_seconds"),
        (minimal(defaults={"cfg_scale": float("nan")}), "defaults.cfg_scale"),
        (minimal(defaults={"strength": float("-inf")}), "defaults.strength"),
        (minimal(hires={"scale": float("nan")}), "hires.scale"),
        (minimal(role_limits=[{"role_id": 1, "cooldown_seconds": float("nan")}]), "role_limits[0].cooldown_seconds"),
        (minimal(webui={"probe_max_interval": -1.0}), "webui.probe_max_interval"),
        (minimal(webui={"probe_max_interval": 0}), "webui.probe_max_interval"),
        (minimal(queue={"affinity_max_skips": -1}), "queue.affinity_max_skips"),
        (minimal(storage={"keep_results_days": -1}), "storage.keep_results_days"),
        (minimal(webui={"total_timeout": -1.0}), "webui.total_timeout"),
        (minimal(webui={"total_timeout": float("inf")}), "webui.total_timeout"),
        (minimal(webui={"stall_timeout": 0}), "webui.stall_timeout"),
        (minimal(webui={"lost_task_timeout": float("nan")}), "webui.lost_task_timeout"),
        (minimal(limits={"max_queue_length": 0}), "limits.max_queue_length"),
    ],
)
def test_non_finite_and_negative_numbers_are_refused(raw: dict, needle: str) -> None:
    # tomllib reads `nan`, `inf` and `-inf` as floats: a nan cooldown or timeout would compare false everywhere
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert needle in str(info.value)


def test_toml_nan_is_refused_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[backends]]\nurl = "http://127.0.0.1:7860"\n[limits]\ncooldown_seconds = nan\n')
    with pytest.raises(ConfigError, match=r"limits\.cooldown_seconds: expected a finite number"):
        load_config(path, env={})


def test_defaults_and_limits_ranges_come_from_the_option_table() -> None:
    with pytest.raises(ConfigError, match=r"defaults.steps: steps must be between 1 and 20 \(got 25\)"):
        parse_config(minimal(limits={"max_steps": 20}), env={})
    with pytest.raises(ConfigError, match=r"defaults\.width: width must be a multiple of 8"):
        parse_config(minimal(defaults={"width": 500}), env={})
    with pytest.raises(ConfigError, match=r"limits\.max_count must be at most 10"):
        parse_config(minimal(limits={"max_count": 11}), env={})
    with pytest.raises(ConfigError, match=r"limits\.max_width must be a multiple of 8"):
        parse_config(minimal(limits={"max_width": 1000 + 4}), env={})
    with pytest.raises(ConfigError, match="unknown key 'seed'"):
        parse_config(minimal(defaults={"seed": 5}), env={})


def test_credentials_in_a_backend_url_become_username_and_password() -> None:
    cfg = parse_config({"backends": [{"url": "http://alice:s%40cret@gpu.lan:7860/"}]}, env={})
    b = cfg.backends[0]
    assert b.name == "gpu.lan:7860"  # no user:password in the name shown in /status and the logs
    assert b.url == "http://gpu.lan:7860"
    assert (b.username, b.password) == ("alice", "s@cret")
    assert "s@cret" not in repr(b) and "alice" not in b.url


def test_credentials_in_the_url_and_as_keys_are_refused_without_echoing_them() -> None:
    raw = {"backends": [{"url": "http://alice:secret@gpu.lan:7860", "username": "bob", "password": "pw"}]}
    with pytest.raises(ConfigError, match="keep one") as info:
        parse_config(raw, env={})
    assert "secret" not in str(info.value)
    with pytest.raises(ConfigError, match="user:password@") as info:
        parse_config({"backends": [{"url": "http://alice@gpu.lan:7860"}]}, env={})
    with pytest.raises(ConfigError, match="http\\(s\\) URL") as info:
        parse_config({"backends": [{"url": "ftp://alice:secret@gpu.lan"}]}, env={})
    assert "secret" not in str(info.value)


def test_clip_skip_default_is_checked() -> None:
    assert parse_config(minimal(), env={}).defaults.clip_skip == 0  # the webui's own
    assert parse_config(minimal(defaults={"clip_skip": 2}), env={}).defaults.clip_skip == 2
    with pytest.raises(ConfigError, match=r"defaults\.clip_skip: clip_skip must be between 1 and 12"):
        parse_config(minimal(defaults={"clip_skip": 13}), env={})


def test_webui_total_timeout_defaults_to_read_timeout_plus_a_margin() -> None:
    assert parse_config(minimal(), env={}).webui.total_timeout == 0.0  # 0: read_timeout + 120 s
    assert parse_config(minimal(webui={"total_timeout": 900}), env={}).webui.total_timeout == 900.0


def test_aspect_default_is_one_of_the_ratios() -> None:
    assert parse_config(minimal(), env={}).defaults.aspect == "default"
    assert parse_config(minimal(defaults={"aspect": "16:9"}), env={}).defaults.aspect == "16:9"
    with pytest.raises(ConfigError, match=r"defaults\.aspect: aspect must be one of default, 1:1, .* \(got '5:4'\)"):
        parse_config(minimal(defaults={"aspect": "5:4"}), env={})


# ---- no config file: sane defaults, the environment says the rest ------------------------------------------


def test_no_file_runs_on_defaults_with_the_token_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "config.toml", env={"DISCORD_TOKEN": " tok.en \n"}, missing_ok=True)
    assert cfg.discord.token == "tok.en"
    assert [(b.name, b.url) for b in cfg.backends] == [("127.0.0.1:7860", "http://127.0.0.1:7860")]
    assert cfg.storage.path == str(tmp_path / "easel.db")  # beside where the config would be
    assert cfg.defaults.steps == 25 and cfg.limits.max_steps == 50  # the example's values
    assert load_config("config.toml", env={}, missing_ok=True).storage.path == "easel.db"


def test_no_file_and_no_token_is_a_config_without_a_token(tmp_path: Path) -> None:
    # bot.py refuses to start with it (one line); `bot.py check` still tries the webui side
    assert load_config(tmp_path / "config.toml", env={}, missing_ok=True).discord.token == ""


def test_easel_webui_url_is_the_backend_when_the_config_names_none(tmp_path: Path) -> None:
    env = {"EASEL_WEBUI_URL": "http://gpu.lan:7861/"}
    cfg = load_config(tmp_path / "config.toml", env=env, missing_ok=True)
    assert [(b.name, b.url) for b in cfg.backends] == [("gpu.lan:7861", "http://gpu.lan:7861")]
    # a file that only changes something else gets the same backend
    path = tmp_path / "config.toml"
    path.write_text("[limits]\nmax_steps = 30\n")
    cfg = load_config(path, env=env)
    assert cfg.limits.max_steps == 30 and [b.url for b in cfg.backends] == ["http://gpu.lan:7861"]
    assert [b.url for b in load_config(path, env={}).backends] == ["http://127.0.0.1:7860"]


def test_easel_webui_url_is_checked_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"backends\[0\]\.url: expected an http\(s\) URL"):
        load_config(tmp_path / "config.toml", env={"EASEL_WEBUI_URL": "gpu.lan:7860"}, missing_ok=True)


def test_easel_webui_url_and_backends_in_the_file_are_refused_not_guessed() -> None:
    with pytest.raises(ConfigError, match="EASEL_WEBUI_URL is set and the config has \\[\\[backends\\]\\]"):
        parse_config(minimal(), env={"EASEL_WEBUI_URL": "http://gpu.lan:7860"})


def test_an_unreadable_config_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path, env={}, missing_ok=True)  # a folder, not a file


def test_lora_weight_face_fix_max_loras_and_lora_triggers() -> None:
    base = {"backends": [{"url": "http://127.0.0.1:7860"}]}
    cfg = parse_config(base, env={})
    assert (cfg.defaults.lora_weight, cfg.defaults.face_fix, cfg.limits.max_loras, cfg.loras) == (0.8, "off", 5, {})
    cfg = parse_config(
        {
            **base,
            "defaults": {"lora_weight": -1, "face_fix": "on"},
            "limits": {"max_loras": 2},
            "loras": {"Add_Detail": {"trigger": "  very   detailed "}, "quiet": {"trigger": ""}, "plain": {}},
        },
        env={},
    )
    assert (cfg.defaults.lora_weight, cfg.defaults.face_fix, cfg.limits.max_loras) == (-1.0, "on", 2)
    assert {k: v.trigger for k, v in cfg.loras.items()} == {"add_detail": "very detailed", "quiet": "", "plain": None}
    bad = [
        ({"defaults": {"lora_weight": 2.5}}, "defaults.lora_weight: must be between -2 and 2"),
        ({"defaults": {"face_fix": "maybe"}}, "face_fix must be one of off, on"),
        ({"limits": {"max_loras": 0}}, "limits.max_loras"),
        ({"loras": {"x": "detailed"}}, "[loras.x]: expected a table"),
        ({"loras": {"x": {"triger": "a"}}}, "unknown key 'triger'"),
        ({"loras": {"x": {"trigger": "<lora:y:1>"}}}, "loras.x.trigger: at most 200 characters, no < or >"),
    ]
    for raw, needle in bad:
        with pytest.raises(ConfigError) as err:
            parse_config({**base, **raw}, env={})
        assert needle in str(err.value), (raw, err.value)


def test_backend_kind_and_prefetch() -> None:
    from easel.config import BackendKind

    cfg = parse_config({"backends": [{"url": "http://127.0.0.1:7860"}]}, env={})
    assert cfg.backends[0].kind is BackendKind.WEBUI  # a config from before kind existed
    assert cfg.queue.prefetch is True
    cfg = parse_config(
        {"backends": [{"url": "http://127.0.0.1:7860", "kind": "webui"}], "queue": {"prefetch": False}}, env={}
    )
    assert cfg.backends[0].kind is BackendKind.WEBUI and cfg.queue.prefetch is False
    with pytest.raises(ConfigError, match=r"backends\[0\]\.kind: expected one of 'webui', 'horde', got 'comfy'"):
        parse_config({"backends": [{"url": "http://127.0.0.1:7860", "kind": "comfy"}]}, env={})


def test_a_long_or_multiline_bad_value_is_cut_to_one_short_line() -> None:
    raw = {"backends": [{"url": "http://127.0.0.1:7860"}], "defaults": {"steps": ["x\n" * 50, "\u205f" * 200] * 4}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, env={})
    message = str(err.value)
    assert message.startswith("defaults.steps: expected int, got list [")
    assert "\n" not in message and len(message) <= 300
