"""``./start.sh setup`` driven through a pipe (not a terminal: no hidden prompt) against the webui and Discord fakes."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import os
import socket
import stat
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from easel import setup
from easel.check import invite_url
from easel.config import load_config
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.webui_fake import FakeWebui

TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.Gq1x2y.secret-part-of-the-token"
GUILD = 123456789012345678
TIMEOUT = 60.0  # each try is bounded by check's own timeouts; this is a safety net


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webui() -> AsyncIterator[FakeWebui]:
    fake = FakeWebui()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=TOKEN, validate=False)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def run_setup(
    path: Path, answers: list[str], discord: FakeDiscord, *, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Setup with ``answers`` written into a pipe, one per line, then the pipe closed (the end of the input)."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as w:
        w.write("".join(f"{a}\n" for a in answers))
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        async with asyncio.timeout(TIMEOUT):
            rc = await asyncio.to_thread(
                setup.main, path, stdin=stdin, out=out, env=dict(env or {}), discord_base=discord.api_base
            )
    return rc, out.getvalue()


async def test_setup_writes_a_commented_config_the_bot_loads(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, [TOKEN, str(GUILD), webui.url], discord)
    assert rc == 0, out
    cfg = load_config(path, env={})
    assert cfg.discord.token == TOKEN
    assert cfg.discord.guild_ids == (GUILD,)
    assert [b.url for b in cfg.backends] == [webui.url]
    # tried as check does: the token against Discord, a 1-step test image on the webui
    assert "OK    Discord: token accepted" in out
    assert "test image: 64x64" in out and len(webui.generations) == 1
    assert f"Invite the bot to your server: {invite_url(discord.app_id)}" in out
    assert "FAIL" not in out
    # the token: never in the output; in the file on the token line alone, which only its owner can read
    assert TOKEN not in out and "secret-part" not in out
    text = path.read_text()
    assert [line for line in text.splitlines() if TOKEN in line] == [f'token = "{TOKEN}"']
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the example's comments came along
    assert "Never commit a token." in text and "# max_steps = 50" in text


async def test_what_setup_comments_out_is_the_default(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every section but [discord] and [[backends]] is commented out: loading it gives what the example says."""
    monkeypatch.chdir(tmp_path)  # ./start.sh setup: config.toml in the working directory
    path = Path("config.toml")
    rc, out = await run_setup(path, [TOKEN, "", webui.url], discord)
    assert rc == 0, out
    written = load_config(path, env={})
    example = load_config(setup.EXAMPLE, env={})
    keep = {"discord", "backends"}
    for f in dataclasses.fields(written):
        if f.name not in keep:
            assert getattr(written, f.name) == getattr(example, f.name), f.name
    assert written.discord.guild_ids == () and written.storage.path == "easel.db"


async def test_a_config_elsewhere_gets_its_database_beside_it(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    """bot.py setup --config /data/config.toml (Docker): the queue goes to /data/easel.db, as without a file."""
    folder = tmp_path / "data"
    folder.mkdir()
    rc, out = await run_setup(folder / "config.toml", [TOKEN, "", webui.url], discord)
    assert rc == 0, out
    written = load_config(folder / "config.toml", env={})
    assert written.storage.path == str(folder.resolve() / "easel.db")
    assert written.storage.keep_results_days == load_config(setup.EXAMPLE, env={}).storage.keep_results_days
    assert f"OK    storage: SQLite file {folder.resolve() / 'easel.db'} (will be created)" in out


async def test_an_existing_config_is_kept_without_a_yes(tmp_path: Path, webui: FakeWebui, discord: FakeDiscord) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n")
    for first in ("", "n", "no way"):
        rc, out = await run_setup(path, [first, TOKEN, "", webui.url], discord)
        assert rc == 1 and "nothing written" in out
        assert path.read_text() == "# mine\n"
    assert discord.requests == [] and webui.generations == []  # not even asked for the token
    rc, out = await run_setup(path, ["y", TOKEN, "", webui.url], discord)
    assert rc == 0, out
    assert load_config(path, env={}).discord.token == TOKEN
    assert os.listdir(tmp_path) == ["config.toml"]  # no temporary file left


async def test_a_refused_token_is_asked_again_and_never_printed(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, ["Bot wrong-token-123", "", f'"{TOKEN}"', webui.url], discord)
    assert rc == 0, out
    assert "FAIL  Discord refused the token" in out
    assert "wrong-token-123" not in out and TOKEN not in out
    assert load_config(path, env={}).discord.token == TOKEN  # the pasted quotes and "Bot " prefix taken off


async def test_a_token_kept_anyway_is_written_and_the_failure_said(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, ["wrong-token-123", "", "", webui.url], discord)
    assert rc == 0, out
    assert load_config(path, env={}).discord.token == "wrong-token-123"
    assert "1 check(s) failed" in out and "wrong-token-123" not in out


async def test_the_token_from_the_environment_stays_there(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, ["", "", webui.url], discord, env={"DISCORD_TOKEN": TOKEN})
    assert rc == 0, out
    assert "OK    Discord: token accepted" in out and "stays in DISCORD_TOKEN" in out
    assert TOKEN not in path.read_text() and TOKEN not in out
    assert load_config(path, env={}).discord.token == ""
    assert load_config(path, env={"DISCORD_TOKEN": TOKEN}).discord.token == TOKEN


async def test_no_token_before_the_input_ends_writes_nothing(tmp_path: Path, discord: FakeDiscord) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, ["", ""], discord)
    assert rc == 1
    assert "needs a token" in out and "nothing written" in out
    assert not path.exists()


async def test_a_webui_that_does_not_answer_is_asked_again(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    dead = f"http://127.0.0.1:{free_port()}"
    rc, out = await run_setup(path, [TOKEN, "", "localhost:7860", dead, webui.url], discord)
    assert rc == 0, out
    assert "expected an http(s) URL" in out  # the malformed one, asked again at once
    assert f"FAIL  backend local: nothing listens at {dead}" in out
    assert [b.url for b in load_config(path, env={}).backends] == [webui.url]
    assert "check(s) failed" not in out  # the last try worked


async def test_the_default_webui_address_comes_from_the_environment(
    tmp_path: Path, webui: FakeWebui, discord: FakeDiscord
) -> None:
    path = tmp_path / "config.toml"
    rc, out = await run_setup(path, [TOKEN, ""], discord, env={"EASEL_WEBUI_URL": webui.url})
    assert rc == 0, out  # the end of the input took the default address
    assert f"Webui address [{webui.url}]" in out and len(webui.generations) == 1
    assert [b.url for b in load_config(path, env={}).backends] == [webui.url]
    assert "EASEL_WEBUI_URL is set here: unset it" in out  # with [[backends]] in the file both would clash


def test_the_invite_client_id_falls_back_to_the_token() -> None:
    head = base64.urlsafe_b64encode(b"1100000000000000001").decode().rstrip("=")
    assert setup.client_id_from_token(f"{head}.x.y") == "1100000000000000001"
    assert setup.client_id_from_token("not a token") is None
    assert setup.client_id_from_token("") is None


def test_render_fails_loudly_when_the_example_lost_a_line_setup_fills() -> None:
    answers = setup.Answers("t", False, None, "http://127.0.0.1:7860")
    example = setup.EXAMPLE.read_text().replace('token = ""', "")
    with pytest.raises(setup.SetupError, match="token"):
        setup.render_config(answers, example)


async def test_a_webui_password_in_the_address_is_never_printed(tmp_path: Path, discord: FakeDiscord) -> None:
    webui = FakeWebui(auth=("easel", "pw-S3cret"))
    await webui.start()
    try:
        path = tmp_path / "config.toml"
        with_auth = webui.url.replace("http://", "http://easel:pw-S3cret@")
        rc, out = await run_setup(path, [TOKEN, ""], discord, env={"EASEL_WEBUI_URL": with_auth})
    finally:
        await webui.stop()
    assert rc == 0, out
    assert "pw-S3cret" not in out and "test image: 64x64" in out
    assert f"Webui address [{webui.url}]" in out
    backend = load_config(path, env={}).backends[0]
    assert (backend.url, backend.username, backend.password) == (webui.url, "easel", "pw-S3cret")
