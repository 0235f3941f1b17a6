"""Durability end to end: the real bot process is killed (SIGKILL) or stopped (SIGTERM) with jobs queued and
running; after a restart every job is delivered exactly once and each queued reply is edited, not duplicated."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, MOD, make_discord, running_easel, write_config_file
from tests.fakes.discord_fake import FakeDiscord, FakeInteraction
from tests.fakes.webui_fake import FakeWebui

RUNNER = Path(__file__).with_name("run_bot.py")


def write_config(path: Path, webui: FakeWebui, db: Path) -> None:
    write_config_file(path, webui.url, db)


class BotProcess:
    def __init__(self, fake: FakeDiscord, config: Path, log: Path) -> None:
        self.fake, self.config, self.log = fake, config, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        before = self.fake.identify_count
        env = dict(os.environ, EASEL_TEST_DISCORD_API=self.fake.api_base, PYTHONUNBUFFERED="1")
        env.pop("DISCORD_TOKEN", None)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, str(RUNNER), "--config", str(self.config), stdout=out, stderr=out, env=env
            )
        try:
            await self.fake._wait_for(lambda: True if self.fake.identify_count > before else None, 20, "IDENTIFY")
        except TimeoutError:
            raise AssertionError("bot did not connect:\n" + self.log.read_text()[-3000:]) from None

    async def signal(self, sig: int, timeout: float = 20) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        self.proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.proc.wait()


@contextlib.asynccontextmanager
async def fakes(tmp_path: Path) -> AsyncIterator[tuple[FakeDiscord, FakeWebui, BotProcess]]:
    webui = FakeWebui()
    fake = make_discord()
    await webui.start()
    await fake.start()
    config = tmp_path / "config.toml"
    write_config(config, webui, tmp_path / "easel.db")
    proc = BotProcess(fake, config, tmp_path / "bot.log")
    try:
        yield fake, webui, proc
    finally:
        await proc.ensure_dead()
        await fake.stop()
        await webui.stop()


async def draw(fake: FakeDiscord, user: int, prompt: str) -> FakeInteraction:
    inter = await fake.invoke("draw", {"prompt": prompt}, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    assert "Queued" in inter.response["data"]["content"]  # type: ignore[index]
    return inter


def results(fake: FakeDiscord) -> list:
    return [m for m in fake.channel_messages(CHANNEL) if m.kind == "channel" and m.attachments]


async def wait_results(fake: FakeDiscord, n: int, timeout: float = 30) -> None:  # noqa: ASYNC109
    await fake._wait_for(lambda: True if len(results(fake)) >= n else None, timeout, f"{n} results")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_kill_with_jobs_queued_and_running_delivers_each_once(tmp_path: Path, sig: int) -> None:
    async with fakes(tmp_path) as (fake, webui, proc):
        await proc.start()
        webui.hold()
        replies = [await draw(fake, ALICE, "running one")]
        await webui.wait_generation_started(1, timeout=10)
        replies.append(await draw(fake, BOB, "queued one"))
        replies.append(await draw(fake, MOD, "queued two"))

        code = await proc.signal(sig)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert results(fake) == []
        webui.release()

        await proc.start()
        await wait_results(fake, 3)
        await webui.wait_idle(timeout=10)
        posted = results(fake)
        assert sorted(m.content.split(">")[0] for m in posted) == sorted(f"<@{u}" for u in (ALICE, BOB, MOD))
        assert all(len(m.mentions_resolved) == 1 for m in posted)
        # each user's first reply was edited to "Done", never re-sent
        for inter in replies:
            assert inter.followups == []
            await fake.wait_for_message(
                lambda m, i=inter: i.original is not None and m.id == i.original.id and "Done" in m.content,
                timeout=10,
            )
        assert len([m for m in fake.messages if m.kind in ("original", "followup")]) == 3
        if sig == signal.SIGTERM:
            assert "shutting down" in proc.log.read_text()
        await proc.signal(signal.SIGTERM)
        await asyncio.sleep(0)  # let the fake see the closed gateway
        assert len(results(fake)) == 3


async def test_crash_after_posting_before_recording_posts_nothing_twice(tmp_path: Path) -> None:
    # The window between Discord creating the result message and the store marking it delivered: simulate the
    # crash by putting the delivered job back to "generated" in the store, then restart.
    async with running_easel(tmp_path) as e:
        await e.draw(prompt="posted once")
        await e.result_for(ALICE)
        assert e.bot is not None
        await e.bot.queue.wait_idle()
        await e.stop_bot()
        with sqlite3.connect(e.config.storage.path) as db:
            assert db.execute("UPDATE jobs SET state = 'generated'").rowcount == 1
        await e.start_bot()
        assert e.bot is not None
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()
        with sqlite3.connect(e.config.storage.path) as db:
            assert db.execute("SELECT state FROM jobs").fetchall() == [("delivered",)]
        assert len([m for m in e.discord.channel_messages(CHANNEL) if m.attachments]) == 1


async def _start_and_wait_exit(proc: BotProcess, timeout: float = 30) -> int:  # noqa: ASYNC109
    env = dict(os.environ, EASEL_TEST_DISCORD_API=proc.fake.api_base, PYTHONUNBUFFERED="1")
    env.pop("DISCORD_TOKEN", None)
    with proc.log.open("ab") as out:
        proc.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(RUNNER), "--config", str(proc.config), stdout=out, stderr=out, env=env
        )
    async with asyncio.timeout(timeout):
        return await proc.proc.wait()


async def test_a_file_that_is_not_a_database_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "easel.db").write_bytes(b"these are someone's holiday notes, not a database\n" * 100)
    async with fakes(tmp_path) as (_fake, _webui, proc):
        assert await _start_and_wait_exit(proc) == 2
        log = proc.log.read_text()
        assert "easel: " in log and "easel.db" in log
        assert "Traceback" not in log


async def test_a_second_easel_on_the_same_database_stops_with_one_line(tmp_path: Path) -> None:
    async with fakes(tmp_path) as (fake, _webui, first):
        await first.start()
        await draw(fake, ALICE, "the first Easel works")
        second = BotProcess(fake, first.config, tmp_path / "second.log")
        try:
            assert await _start_and_wait_exit(second) == 2
        finally:
            await second.ensure_dead()
        log = second.log.read_text()
        assert "another Easel" in log and "Traceback" not in log
        await draw(fake, BOB, "the first one still serves")


async def test_discord_out_of_reach_stops_the_start_with_one_line(tmp_path: Path) -> None:
    async with fakes(tmp_path) as (fake, _webui, proc):
        await fake.stop()  # nothing listens where Discord should be
        assert await _start_and_wait_exit(proc) == 2
        log = proc.log.read_text()
        assert "easel: cannot reach Discord" in log and "Traceback" not in log
