"""/queue and /cancel end to end, and two backends sharing the line."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from tests.cogs.harness import ALICE, BOB, CHANNEL, E2E, GUILD, MOD, Easel, running_easel
from tests.fakes.webui_fake import FakeWebui
from tests.helpers import make_config


async def command(e: Easel, name: str, user: int, **options: object) -> str:
    inter = await e.discord.invoke(name, options or None, user_id=user, guild_id=GUILD, channel_id=CHANNEL)
    response = await inter.wait_response(5)
    assert inter.ephemeral
    return response["data"]["content"]


def job_id(reply_text: str) -> str:
    return reply_text.split("`")[1]


async def test_queue_shows_positions_and_backends(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        first = await e.draw(prompt="first")
        await e.webui.wait_generation_started(1)
        await e.draw(user=BOB, prompt="bob waits")
        second = await e.draw(prompt="second")
        text = await command(e, "queue", ALICE)
        assert f"`{job_id(first.response['data']['content'])}` running on **gpu0**" in text
        assert f"`{job_id(second.response['data']['content'])}` #2 in line" in text
        assert "<t:" in text  # estimated start as a Discord relative timestamp
        assert "Line: 2 waiting, 1 drawing." in text
        assert "**gpu0**: up (busy)" in text
        assert "bob waits" not in text  # only the user's own jobs
        e.webui.release()


async def test_cancel_own_queued_and_running_and_moderator_cancels_any(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        running = job_id((await e.draw(prompt="running")).response["data"]["content"])
        await e.webui.wait_generation_started(1)
        queued = job_id((await e.draw(prompt="queued")).response["data"]["content"])
        bobs = job_id((await e.draw(user=BOB, prompt="bob's")).response["data"]["content"])

        assert "only cancel your own" in await command(e, "cancel", ALICE, job=bobs)
        assert f"Cancelled job `{queued}`" in await command(e, "cancel", ALICE, job=queued)
        assert f"Stopping job `{running}`" in await command(e, "cancel", ALICE, job=running)
        assert e.webui.interrupts == 1
        assert f"Cancelled job `{bobs}`" in await command(e, "cancel", MOD, job=bobs)  # moderator role
        assert e.bot is not None
        async with asyncio.timeout(10):
            await e.bot.queue.wait_idle()
        assert [m for m in e.discord.channel_messages(CHANNEL) if m.attachments] == []
        assert "no jobs to cancel" in await command(e, "cancel", ALICE)


async def test_two_backends_share_the_line_and_one_going_down_hands_over(tmp_path: Path) -> None:
    second = FakeWebui()
    await second.start()
    try:
        async with running_easel(tmp_path, start=False) as e:
            cfg = make_config([e.webui.url, second.url], tmp_path / "two.db", preset=E2E)
            await e.start_bot(cfg)
            e.webui.hold()
            second.hold()
            await e.draw(prompt="one")
            await e.draw(user=BOB, prompt="two")
            await e.webui.wait_generation_started(1)
            await second.wait_generation_started(1)
            await e.webui.down()  # gpu0 dies mid-job: its job goes to gpu1
            second.release()
            await e.result_for(ALICE)
            await e.result_for(BOB)
            assert second.completed_count == 2
            await e.webui.up()
    finally:
        with contextlib.suppress(Exception):
            await second.stop()


async def test_queued_reply_follows_the_position(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        await e.draw(prompt="running")
        await e.webui.wait_generation_started(1)
        bobs = await e.draw(user=BOB, prompt="bob first")
        mine = await e.draw(prompt="mine second")
        assert "**#2**" in mine.response["data"]["content"]
        await command(e, "cancel", BOB, job=job_id(bobs.response["data"]["content"]))
        text = await e.wait_reply(mine, lambda t: "**#1**" in t)
        assert "Queued" in text
        e.webui.release()
        await e.wait_reply(mine, lambda t: "Done" in t)
        assert mine.followups == []  # the same reply was edited all along
