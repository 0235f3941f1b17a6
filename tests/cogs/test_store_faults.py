"""Faults end to end: the real bot keeps serving through a locked database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, running_easel


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
