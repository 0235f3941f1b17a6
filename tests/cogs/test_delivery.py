"""Posting results: a result split over several messages is recorded, deleted and recovered part by part; DMs
carry the part's nonce; Discord's transient failures are retried, not turned into "Posting the result failed";
the log says "re-encoded" only when Easel re-encoded."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from easel.jobs import JobState, StoredImage
from tests.cogs.harness import ALICE, CHANNEL, GUILD, Easel, running_easel
from tests.fakes.discord_fake import NONCE_TTL, FakeInteraction, FakeMessage, RecordedRequest

RESULT_POST = rf"^/channels/{CHANNEL}/messages$"
DM = 555555555555555555
FOLLOWUP_POST = r"^/webhooks/\d+/[^/]+$"


class Clock:
    """The fake Discord's clock for nonce ages: moved forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def parts_of(e: Easel, job_id: str, *, channel: int = CHANNEL, include_deleted: bool = True) -> list[FakeMessage]:
    """The messages (with images) of one result in a channel, in posting order."""
    return [
        m
        for m in e.discord.channel_messages(channel, include_deleted=include_deleted)
        if m.attachments and f"`{job_id}`" in m.content and m.kind != "user" and not m.ephemeral
    ]


def posts(e: Easel, pattern: str) -> list[RecordedRequest]:
    return [r for r in e.discord.requests if r.method == "POST" and re.search(pattern, r.path)]


async def draw_big(e: Easel, **options: object) -> FakeInteraction:
    """Four incompressible 1024x1024 PNGs (~3 MiB each): more than the 10 MiB a server without boosts takes in one
    message, so the result is posted in two parts."""
    e.webui.image_style = "noise"
    options.setdefault("prompt", "static on every channel")
    return await e.draw(count=4, width=1024, height=1024, **options)


async def fail_posts_after_the_first(
    e: Easel, pattern: str, status: int, times: int, *, commit: bool = False, headers: dict[str, str] | None = None
) -> None:
    """Let the first matching POST through; answer the next ``times`` ones with ``status``."""
    await e.discord.wait_until(lambda: any(r.status == 200 for r in posts(e, pattern)), 30, "the first part posted")
    body = {"message": f"{status}: Discord is having trouble", "code": 0}
    e.discord.fail_next("POST", pattern, status, body, times=times, commit=commit, headers=headers)


def job_id_of(message: FakeMessage) -> str:
    return message.content.split("`")[1]


async def settle(e: Easel, timeout: float = 30) -> None:  # noqa: ASYNC109
    assert e.bot is not None
    async with asyncio.timeout(timeout):
        await e.bot.queue.wait_idle()


# ---- 1: Delete removes every part ------------------------------------------------------------------------------


async def test_delete_removes_every_part_of_a_split_result(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await draw_big(e)
        first = await e.result_for(ALICE, timeout=30)
        job_id = job_id_of(first)
        await settle(e)
        parts = parts_of(e, job_id)
        assert len(parts) == 2 and sum(len(m.attachments) for m in parts) == 4
        delete = next(c for c in first.all_custom_ids() if c.startswith("easel:delete:"))
        inter = await e.discord.click(first, delete, user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)
        await inter.wait_response(5)
        await e.discord.wait_until(lambda: all(m.deleted for m in parts), 10, "every part deleted")
        assert parts_of(e, job_id, include_deleted=False) == []
        assert inter.followups == []  # nothing to complain about
        assert [p.message_id for p in await e.bot.store.result_parts(job_id)] == [m.id for m in parts]


# ---- 2: recovery posts the parts not posted yet --------------------------------------------------------------


async def test_a_crash_between_parts_posts_the_rest_once_after_the_restart(tmp_path: Path) -> None:
    clock = Clock()
    async with running_easel(tmp_path) as e:
        e.discord.clock = clock
        assert e.bot is not None
        e.bot.queue.delivery_retry_first = 300.0  # the retry can't come before the stop, however slow the machine
        await draw_big(e, prompt="half posted")
        # Part 1 goes out; part 2 meets an outage, and Easel is stopped while it waits to retry.
        await fail_posts_after_the_first(e, RESULT_POST, 503, times=1)
        await e.discord.wait_until(lambda: len(posts(e, RESULT_POST)) >= 2, 30, "the second part tried")
        first = await e.result_for(ALICE)
        job_id = job_id_of(first)
        await e.stop_bot()
        assert len(parts_of(e, job_id)) == 1
        clock.now += NONCE_TTL + 60  # longer than Discord remembers the first part's nonce
        bot = await e.start_bot()
        await settle(e)
        parts = parts_of(e, job_id)
        assert len(parts) == 2 and parts[0].id == first.id  # the first not posted again, the second posted
        assert sorted(f.filename for m in parts for f in m.attachments) == [
            f"easel-{job_id}-{i}.png" for i in range(1, 5)
        ]
        job = await bot.store.get_job(job_id)
        assert job is not None and job.state == JobState.DELIVERED and job.result_message_id == first.id
        assert [p.message_id for p in await bot.store.result_parts(job_id)] == [m.id for m in parts]


async def test_a_part_posted_but_not_recorded_is_not_posted_twice(tmp_path: Path) -> None:
    """Discord posts part 2 but its answer is lost (a 503 after the work): the retry finds it (in the channel's
    history, else by its nonce) instead of posting it again, and records it."""
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await draw_big(e, prompt="answer lost")
        await fail_posts_after_the_first(e, RESULT_POST, 503, times=1, commit=True)
        first = await e.result_for(ALICE, timeout=30)
        await settle(e)
        parts = parts_of(e, job_id_of(first))
        assert len(parts) == 2
        assert [r.status for r in posts(e, RESULT_POST)][:2] == [200, 503]
        assert [p.message_id for p in await e.bot.store.result_parts(job_id_of(first))] == [m.id for m in parts]


# ---- 3: transient failures are retried for long; permanent ones fail with an error id ------------------------


async def test_an_outage_keeps_the_job_generated_until_the_retry_bound_then_says_so(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        e.bot.queue.delivery_retry_window = 5.0  # the 30 minutes, shortened: 503 at 0 s and 2 s, none fits at 6 s
        e.discord.fail_next("POST", RESULT_POST, 503, {"message": "503: Service Unavailable", "code": 0}, times=50)
        inter = await e.draw(prompt="a long outage")
        await e.discord.wait_until(lambda: len(posts(e, RESULT_POST)) >= 1, 15, "the first try")
        job_id = inter.response["data"]["content"].split("`")[1]
        job = await e.bot.store.get_job(job_id)
        assert job is not None and job.state == JobState.GENERATED  # a restart now would still post it
        text = await e.wait_reply(inter, lambda t: "failed" in t, timeout=20)
        assert "Discord is not answering" in text and "error id" in text
        await settle(e)
        assert [r.status for r in posts(e, RESULT_POST)] == [503, 503]
        job = await e.bot.store.get_job(job_id)
        assert job is not None and job.state == JobState.FAILED and job.error_id


async def test_no_way_to_post_fails_after_a_few_tries_with_an_error_id(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.dms_disabled.add(ALICE)
        e.webui.hold()
        inter = await e.draw(prompt="nowhere to go")
        await e.webui.wait_generation_started(timeout=10)
        e.discord.expire_token(inter)  # no followup either
        e.discord.fail_next("POST", RESULT_POST, 403, {"code": 50013, "message": "Missing Permissions"}, times=3)
        e.webui.release()
        notice = await e.discord.wait_for_message(
            lambda m: m.channel_id == CHANNEL and "Posting the result failed" in m.content, timeout=30
        )
        assert "error id" in notice.content and notice.content.startswith(f"<@{ALICE}>")
        await settle(e)
        assert [r.status for r in posts(e, RESULT_POST)] == [403, 403, 403, 200]  # 3 tries, then the notice


# ---- 4: DMs carry the nonce; followup parts are recorded ----------------------------------------------------


async def test_a_result_sent_by_dm_is_sent_once_when_the_answer_is_lost(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="by mail")
        await e.webui.wait_generation_started(timeout=10)
        e.discord.expire_token(inter)
        # The channel refuses (twice: the first try and the retry); the DM is posted but its answer lost.
        e.discord.fail_next("POST", RESULT_POST, 403, {"code": 50013, "message": "Missing Permissions"}, times=2)
        dm_post = rf"^/channels/(?!{CHANNEL}/)\d+/messages$"
        e.discord.fail_next("POST", dm_post, 503, {"message": "503: Service Unavailable", "code": 0}, commit=True)
        e.webui.release()
        await settle(e)
        dms = [m for m in e.discord.messages if m.kind == "channel" and m.channel_id != CHANNEL and m.attachments]
        assert len(dms) == 1, [m.describe() for m in dms]
        assert [r.status for r in posts(e, dm_post)] == [503, 200]
        assert all(r.json and r.json.get("enforce_nonce") and r.json.get("nonce") for r in posts(e, dm_post))


async def test_recovery_does_not_repost_a_recorded_followup_part(tmp_path: Path) -> None:
    async with running_easel(tmp_path, discord={"guild_ids": []}) as e:  # global commands reach DMs
        e.discord.add_channel(None, DM, recipient_id=ALICE, type=1)
        e.webui.image_style = "noise"
        inter = await e.discord.invoke(
            "draw",
            {"prompt": "a split dm", "count": 4, "width": 1024, "height": 1024},
            user_id=ALICE,
            guild_id=None,
            channel_id=DM,
        )
        await inter.wait_response(5)
        # Part 1 is a followup; part 2's meets a 429 discord.py does not wait out (no Via header: it looks like a
        # Cloudflare ban; a 5xx discord.py's webhook client retries by itself), and Easel is stopped while it waits.
        await fail_posts_after_the_first(e, FOLLOWUP_POST, 429, times=1, headers={"Via": ""})
        await e.discord.wait_until(lambda: len(posts(e, FOLLOWUP_POST)) >= 2, 30, "the second part tried")
        await e.stop_bot()
        assert len([m for m in inter.followups if m.attachments]) == 1
        await e.start_bot()
        await settle(e)
        parts = [m for m in inter.followups if m.attachments]
        assert len(parts) == 2 and sum(len(m.attachments) for m in parts) == 4  # each part once
        assert [r.status for r in posts(e, FOLLOWUP_POST)] == [200, 429, 200]


# ---- 5: the log says "re-encoded" only when Easel re-encoded -------------------------------------------------


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


async def test_a_jpeg_result_posted_as_it_is_logs_no_re_encoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_easel(tmp_path) as e:
        assert e.bot is not None
        await e.draw(prompt="a photo", count=2, seed=3)
        first = await e.result_for(ALICE)
        job = await e.bot.store.get_job(job_id_of(first))
        assert job is not None
        images = await e.bot.store.load_result(job.id)
        photos = [StoredImage(im.index, jpeg((i * 40, 90, 10)), im.infotext, im.seed) for i, im in enumerate(images)]
        job.id = "jpegjob1"
        with caplog.at_level(logging.INFO, logger="cogs.utils.publisher"):
            await e.bot.publisher.deliver(job, photos)
        (posted,) = parts_of(e, "jpegjob1")
        assert [f.data for f in posted.attachments] == [p.data for p in photos]  # as they were
        assert [f.filename for f in posted.attachments] == ["easel-jpegjob1-1.jpg", "easel-jpegjob1-2.jpg"]
        assert not [r for r in caplog.records if "re-encoded" in r.getMessage()]


async def test_a_split_result_says_so_in_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_easel(tmp_path) as e:
        with caplog.at_level(logging.INFO, logger="cogs.utils.publisher"):
            await draw_big(e)
            first = await e.result_for(ALICE, timeout=30)
            await settle(e)
        assert len(parts_of(e, job_id_of(first))) == 2
        (line,) = [r.getMessage() for r in caplog.records if "split into" in r.getMessage()]
        assert "0 of 4 image(s) re-encoded, split into 2 message(s)" in line
