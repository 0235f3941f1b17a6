"""The owner's first start: no config file at all (the token from DISCORD_TOKEN, the webui from EASEL_WEBUI_URL), no
token (one line, exit 2), and a result recovered at start posted at once, without waiting for the gateway's READY."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import discord

from bot import EaselBot
from easel.jobs import Job, JobState
from tests.cogs.harness import ALICE, CHANNEL, GUILD, Easel, running_easel
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.webui_fake import FakeWebui

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_bot.py")  # bot.main with discord.http.Route.BASE at the fake
RESULT_POST = rf"^/channels/{CHANNEL}/messages$"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "EASEL_WEBUI_URL", "EASEL_LOG_LEVEL")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


async def run_cli(cwd: Path, *args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# ---- no config file ----------------------------------------------------------------------------------------


async def test_without_a_config_file_the_bot_runs_on_the_environment(tmp_path: Path) -> None:
    """In a folder with no config.toml: DISCORD_TOKEN and EASEL_WEBUI_URL are all it takes to draw; the queue's
    database is created beside where the config would be."""
    webui = FakeWebui()
    fake = FakeDiscord()
    fake.add_guild(GUILD, name="Test server")
    fake.add_channel(GUILD, CHANNEL, name="general")
    fake.add_member(GUILD, ALICE, name="alice")
    await webui.start()
    await fake.start()
    env = clean_env(EASEL_TEST_DISCORD_API=fake.api_base, DISCORD_TOKEN=fake.token, EASEL_WEBUI_URL=webui.url)
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(RUNNER), cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        try:
            await fake.wait_until(lambda: fake.ready_sent and fake.registered_commands(), 30, "logged in, commands up")
        except TimeoutError:
            raise AssertionError(log.read_text()[-3000:]) from None
        inter = await fake.invoke("draw", {"prompt": "a lighthouse"}, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await inter.wait_response(10)
        result = await fake.wait_for_message(
            lambda m: m.channel_id == CHANNEL and bool(m.attachments) and m.content.startswith(f"<@{ALICE}>"), 30
        )
        assert result.attachments and len(webui.generations) == 1
        assert (tmp_path / "easel.db").is_file()
        assert not (tmp_path / "config.toml").exists()
        assert "no config.toml: running on the defaults" in log.read_text()
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(20):
                await proc.wait()
        await fake.stop()
        await webui.stop()
    assert fake.validation_errors == []


async def test_without_a_token_the_start_says_how_to_give_one(tmp_path: Path) -> None:
    rc, _, err = await run_cli(tmp_path, env=clean_env())
    assert rc == 2
    assert err.strip().splitlines() == [
        "easel: no Discord token: run ./start.sh setup (asks for it, writes config.toml) or set DISCORD_TOKEN"
    ]
    assert os.listdir(tmp_path) == []  # nothing created: no database without a bot to run
    (tmp_path / "config.toml").write_text("[limits]\nmax_steps = 30\n")
    rc, _, err = await run_cli(tmp_path, env=clean_env())
    assert rc == 2
    assert err.strip() == (
        "easel: no Discord token: set DISCORD_TOKEN or [discord] token in config.toml, or run ./start.sh setup"
    )


async def test_a_config_named_on_purpose_must_exist(tmp_path: Path) -> None:
    rc, _, err = await run_cli(tmp_path, "--config", "typo.toml", env=clean_env(DISCORD_TOKEN="x"))
    assert rc == 2 and "typo.toml: no such file (run ./start.sh setup" in err


async def test_check_works_without_a_config_file(tmp_path: Path) -> None:
    webui = FakeWebui()
    await webui.start()
    try:
        rc, out, _ = await run_cli(tmp_path, "check", env=clean_env(EASEL_WEBUI_URL=webui.url))
    finally:
        await webui.stop()
    assert rc == 0, out
    assert "OK    config: 1 backend(s)" in out and "test image: 64x64" in out
    assert "Discord: no token set" in out and "./start.sh setup" in out


async def test_setup_from_the_command_line_keeps_an_existing_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("# mine\n")
    rc, out, _ = await run_cli(tmp_path, "setup", env=clean_env(), stdin=b"\n")
    assert rc == 1 and "config.toml exists. Replace it? [y/N]" in out and "nothing written" in out
    assert (tmp_path / "config.toml").read_text() == "# mine\n"


# ---- the first result after a start does not wait for READY ------------------------------------------------


async def drawn_not_posted(e: Easel, **options: Any) -> Job:
    """A job drawn but not posted when the bot stops: its first post meets a 503, the retry is far off."""
    assert e.bot is not None
    e.bot.queue.delivery_retry_first = 300.0  # no retry before the stop, however slow the machine
    e.discord.fail_next("POST", RESULT_POST, 503, {"message": "503: busy", "code": 0}, times=1)
    await e.draw(**options)
    await e.discord.wait_until(
        lambda: any(r.method == "POST" and re.search(RESULT_POST, r.path) for r in e.discord.requests),
        30,
        "the result tried once",
    )
    [job] = await e.bot.store.recent_jobs(ALICE, 1)
    assert job.state == JobState.GENERATED  # drawn, not posted: the next start posts it
    await e.stop_bot()
    return job


def start_holding_ready(e: Easel) -> tuple[EaselBot, asyncio.Event]:
    """Start the bot while the gateway holds READY back until the returned event is set."""
    hold = asyncio.Event()
    e.discord.hold_ready = hold
    bot = EaselBot(e.config, shutdown_grace=0.0, guild_ready_timeout=0.05, classifier=e.classifier)
    discord.http.Route.BASE = e.discord.api_base
    e.bot, e._task = bot, asyncio.create_task(bot.start(e.config.discord.token))
    return bot, hold


async def release_and_settle(e: Easel, bot: EaselBot, hold: asyncio.Event) -> None:
    hold.set()
    async with asyncio.timeout(20):
        await bot.wait_until_ready()
    await e.wait_backends_up()
    async with asyncio.timeout(20):
        await bot.queue.wait_idle()


async def test_a_result_recovered_at_start_is_posted_before_the_gateway_is_ready(tmp_path: Path) -> None:
    """A result drawn before a restart but not posted yet goes out as soon as the bot has logged in over REST,
    even while the gateway holds READY back (Discord's READY can take seconds; posting needs only REST)."""
    async with running_easel(tmp_path) as e:
        job = await drawn_not_posted(e, prompt="posted at once after the restart")
        ready_before = e.discord.ready_sent
        bot, hold = start_holding_ready(e)
        try:
            result = await e.result_for(ALICE, timeout=20)
            assert e.discord.ready_sent == ready_before and not bot.is_ready()  # READY still held back
            assert result.attachments and "posted at once after the restart" in result.content
        finally:
            await release_and_settle(e, bot, hold)
        posted = [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and m.author_id == e.discord.app_id]
        assert [m.id for m in posted] == [result.id]  # once, not again after READY
        stored = await bot.store.get_job(job.id)
        assert stored is not None and stored.state == JobState.DELIVERED and stored.result_message_id == result.id


async def test_before_ready_a_boosted_servers_upload_limit_still_applies(tmp_path: Path) -> None:
    """Four ~3 MiB images: one message in a server boosted to 50 MiB uploads, even posted before READY (the
    server's limit comes over REST then), instead of being split for the 10 MiB default."""
    async with running_easel(tmp_path) as e:
        e.webui.image_style = "noise"
        e.discord.guilds[GUILD].premium_tier = 2
        job = await drawn_not_posted(e, prompt="static", count=4, width=1024, height=1024)
        bot, hold = start_holding_ready(e)
        try:
            result = await e.result_for(ALICE, timeout=30)
            assert not bot.is_ready()
        finally:
            await release_and_settle(e, bot, hold)
        parts = [m for m in e.discord.channel_messages(CHANNEL) if m.attachments and f"`{job.id}`" in m.content]
        assert [m.id for m in parts] == [result.id] and len(result.attachments) == 4
        assert sum(len(f.data) for f in result.attachments) > 10 * 1024 * 1024  # more than the default limit takes
