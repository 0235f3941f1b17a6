"""Faults end to end: the real bot keeps serving through a locked database and a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, MOD, make_discord, running_easel, write_config_file
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.webui_fake import FakeWebui

RUNNER = Path(__file__).with_name("run_bot.py")


async def test_locked_database_refuses_politely_and_drawing_resumes(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        e.webui.hold()
        await e.draw(user=ALICE, prompt="drawn before the lock, stored after it")
        await e.webui.wait_generation_started(1)
        admin = sqlite3.connect(tmp_path / "easel.db", isolation_level=None)  # an admin's shell, mid-transaction
        admin.execute("BEGIN IMMEDIATE")
        try:
            e.webui.release()
            refused = await e.draw(user=BOB, prompt="while locked")
            assert refused.ephemeral
            assert "database is busy" in refused.response["data"]["content"]
            assert refused.response_latency is not None and refused.response_latency < 3.0
            assert not e.bot.queue.store_ok
            status = await e.discord.invoke("status", {}, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
            await status.wait_response(5)
            assert "Store unavailable" in status.response["data"]["content"]
        finally:
            admin.execute("ROLLBACK")
            admin.close()
        await e.result_for(ALICE, timeout=30)  # the result waited for the store, it was not lost
        later = await e.draw(user=BOB, prompt="after the lock")
        assert "#1" in later.response["data"]["content"]
        await e.result_for(BOB, timeout=15)
        assert e.bot.queue.store_ok
        status = await e.discord.invoke("status", {}, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
        await status.wait_response(5)
        assert "Store unavailable" not in status.response["data"]["content"]


async def test_hung_webui_does_not_hold_the_line(tmp_path: Path) -> None:
    # read_timeout alone would keep the backend 30 s x 3 attempts on the hung request
    async with running_easel(tmp_path, webui={"read_timeout": 30.0, "lost_task_timeout": 0.5}) as e:
        e.webui.hang_next("txt2img")
        hung = await e.draw(user=ALICE, prompt="never answered")
        await e.draw(user=BOB, prompt="next in line")
        await e.result_for(BOB, timeout=10)
        text = await e.wait_reply(hung, lambda t: "stopped responding" in t, timeout=10)
        assert "error id" in text
        assert e.webui.interrupts == 0  # nothing the webui was running was stopped
        e.webui.release_hung()


# ---- a full disk: the real bot in a child process whose files may not grow past a limit (RLIMIT_FSIZE) ----------

DISK_ROOM = 1_500_000  # bytes any one file of the bot may have: the database and its WAL with room for small jobs
BIG = {"width": 1024, "height": 1024}  # the noise PNG of this drawing is about 3 MB: it cannot be stored


class LimitedBot:
    """``tests/cogs/run_bot.py`` with EASEL_TEST_MAX_FILE_BYTES; its log goes to a pipe (not a file that would
    hit the limit), read into ``log`` as it comes."""

    def __init__(self, fake: FakeDiscord, config: Path, max_file_bytes: int) -> None:
        self.fake, self.config, self.max_file_bytes = fake, config, max_file_bytes
        self.proc: asyncio.subprocess.Process | None = None
        self.log = ""
        self._log_changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = dict(
            os.environ,
            EASEL_TEST_DISCORD_API=self.fake.api_base,
            EASEL_TEST_MAX_FILE_BYTES=str(self.max_file_bytes),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.pop("DISCORD_TOKEN", None)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RUNNER),
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await self.fake._wait_for(lambda: True if self.fake.identify_count else None, 20, "IDENTIFY")
        except TimeoutError:
            raise AssertionError("bot did not connect:\n" + self.log[-3000:]) from None

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            async with self._log_changed:
                self.log += line.decode(errors="replace")
                self._log_changed.notify_all()

    async def wait_log(self, text: str, times: int = 1, timeout: float = 20) -> None:  # noqa: ASYNC109
        """Until ``text`` was logged ``times`` times."""
        try:
            async with asyncio.timeout(timeout), self._log_changed:
                await self._log_changed.wait_for(lambda: self.log.count(text) >= times)
        except TimeoutError:
            raise AssertionError(f"{text!r} not logged {times} times:\n" + self.log[-3000:]) from None

    def free_space(self) -> None:
        """What an admin deleting files does for the bot: its writes succeed again."""
        assert self.proc is not None
        _, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))  # the soft limit up to the hard one

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(5):
                    await self._reader


@contextlib.asynccontextmanager
async def limited_bot(tmp_path: Path, max_file_bytes: int) -> AsyncIterator[tuple[FakeDiscord, FakeWebui, LimitedBot]]:
    webui = FakeWebui(image_style="noise")
    fake = make_discord()
    await webui.start()
    await fake.start()
    config = tmp_path / "config.toml"
    write_config_file(config, webui.url, tmp_path / "easel.db")
    bot = LimitedBot(fake, config, max_file_bytes)
    try:
        yield fake, webui, bot
    finally:
        await bot.stop()
        await fake.stop()
        await webui.stop()


async def _draw(fake: FakeDiscord, user: int, prompt: str, **options: object) -> object:
    inter = await fake.invoke("draw", {"prompt": prompt, **options}, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter


async def _status(fake: FakeDiscord) -> str:
    inter = await fake.invoke("status", {}, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
    await inter.wait_response(5)
    return inter.response["data"]["content"]


def _results(fake: FakeDiscord, user: int) -> list[object]:
    return [
        m
        for m in fake.channel_messages(CHANNEL)
        if m.kind == "channel" and m.attachments and m.content.startswith(f"<@{user}>")
    ]


async def test_disk_full_while_storing_a_result_it_waits_and_is_posted_once_space_is_back(tmp_path: Path) -> None:
    async with limited_bot(tmp_path, DISK_ROOM) as (fake, webui, bot):
        await bot.start()
        queued = await _draw(fake, ALICE, "a storm over the sea, in detail", **BIG)
        assert "Queued" in queued.response["data"]["content"]  # the job row fits: it is stored
        await bot.wait_log("store: unavailable")  # the result images do not
        assert "disk I/O error" in bot.log or "database or disk is full" in bot.log  # the real SQLite error
        assert "Store unavailable" in await _status(fake)  # the bot still answers, and says why Alice waits

        # small jobs still fit: the bot keeps serving the others meanwhile
        small = await _draw(fake, BOB, "a small one meanwhile", width=64, height=64)
        assert "Queued" in small.response["data"]["content"]
        await fake.wait_for_message(
            lambda m: m.kind == "channel" and bool(m.attachments) and m.content.startswith(f"<@{BOB}>"), timeout=20
        )
        await bot.wait_log("storing job", times=3)  # Alice's result, kept in memory, failed again and again
        assert _results(fake, ALICE) == []

        bot.free_space()
        posted = await fake.wait_for_message(
            lambda m: m.kind == "channel" and bool(m.attachments) and m.content.startswith(f"<@{ALICE}>"), timeout=30
        )
        assert posted.attachments[0].data.startswith(b"\x89PNG")
        await fake.wait_for_message(
            lambda m: queued.original is not None and m.id == queued.original.id and "Done" in m.content, timeout=10
        )
        async with asyncio.timeout(10):
            while "Store unavailable" in await _status(fake):  # the next write after the retry marks it healthy
                await bot.wait_log("store: available again", times=bot.log.count("store: available again") + 1)
        later = await _draw(fake, MOD, "and one after")
        assert "Queued" in later.response["data"]["content"]
        await fake.wait_for_message(
            lambda m: m.kind == "channel" and bool(m.attachments) and m.content.startswith(f"<@{MOD}>"), timeout=20
        )
        assert len(_results(fake, ALICE)) == 1 and queued.followups == []  # nothing twice
        assert len(_results(fake, BOB)) == 1
        assert len(webui.generations) == 3  # her picture was not drawn again either
        await bot.wait_log(": delivered (message", times=3)  # posted, then recorded
        with sqlite3.connect(tmp_path / "easel.db") as db:
            assert sorted(db.execute("SELECT state FROM jobs")) == [("delivered",)] * 3
        assert "Traceback" not in bot.log
