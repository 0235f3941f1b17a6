"""Discord misbehaving while a job is under way: 5xx and 429 answers to the result upload, the gateway dropping
and coming back mid-job.  Every case checks what the requester would notice: the result arrives, exactly once,
and the next /draw still works."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yarl
from discord.gateway import DiscordWebSocket

from tests.cogs.harness import ALICE, BOB, CHANNEL, Easel, running_easel
from tests.fakes.discord_fake import FakeInteraction, FakeMessage

RESULT_POST = rf"^/channels/{CHANNEL}/messages$"


def results(e: Easel, user: int) -> list[FakeMessage]:
    """The result messages (images, mentioning ``user``) in the channel, deleted ones included."""
    return [
        m
        for m in e.discord.channel_messages(CHANNEL, include_deleted=True)
        if m.kind == "channel" and m.attachments and m.content.startswith(f"<@{user}>")
    ]


def result_post_statuses(e: Easel) -> list[int | None]:
    return [r.status for r in e.discord.requests if r.method == "POST" and r.path == f"/channels/{CHANNEL}/messages"]


async def settle(e: Easel, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Until the queue has nothing queued, running or being posted (delivery retries included)."""
    assert e.bot is not None
    async with asyncio.timeout(timeout):
        await e.bot.queue.wait_idle()


async def exactly_once_then_still_serving(e: Easel, inter: FakeInteraction, prompt: str) -> FakeMessage:
    """Alice's result was posted once (and only once); Bob's /draw afterwards is answered and posted."""
    # her queued reply ends in "Done" (after the post) or "failed"; then nothing may be left in flight
    await e.wait_reply(inter, lambda text: "Done" in text or "failed" in text, timeout=30)
    await settle(e)
    posted = results(e, ALICE)
    assert len(posted) == 1, [m.describe() for m in posted]
    assert e.webui.generations[-1]["prompt"] == prompt
    assert len(posted[0].attachments) == 1 and posted[0].attachments[0].data == e.webui.results[-1][-1]
    second = await e.draw(user=BOB, prompt="and then a second one")
    assert second.response is not None and second.ephemeral
    await e.wait_reply(second, lambda text: "Done" in text, timeout=15)
    await settle(e)
    assert len(results(e, BOB)) == 1 and len(results(e, ALICE)) == 1
    assert e.discord.internal_errors == []
    return posted[0]


@pytest.mark.parametrize("commit", [False, True], ids=["not-posted", "posted-anyway"])
async def test_result_upload_answered_500_once(tmp_path: Path, commit: bool) -> None:
    """discord.py retries a 500 by itself; when Discord had posted the message after all, the nonce makes the
    retry return it instead of posting a second one."""
    async with running_easel(tmp_path) as e:
        e.discord.fail_next(
            "POST", RESULT_POST, 500, {"message": "500: Internal Server Error", "code": 0}, commit=commit
        )
        inter = await e.draw(prompt="a fox under a 500")
        await exactly_once_then_still_serving(e, inter, "a fox under a 500")
        assert result_post_statuses(e)[:2] == [500, 200]


@pytest.mark.parametrize("commit", [False, True], ids=["not-posted", "posted-anyway"])
async def test_result_upload_answered_503_once(tmp_path: Path, commit: bool) -> None:
    """discord.py does not retry a 503 (it raises DiscordServerError): Easel's own delivery retry posts again,
    with the same nonce."""
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", RESULT_POST, 503, {"message": "503: Service Unavailable", "code": 0}, commit=commit)
        inter = await e.draw(prompt="a fox under a 503")
        await exactly_once_then_still_serving(e, inter, "a fox under a 503")
        assert result_post_statuses(e)[:2] == [503, 200]


async def test_result_upload_through_a_short_503_outage(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", RESULT_POST, 503, {"message": "503: Service Unavailable", "code": 0}, times=3)
        inter = await e.draw(prompt="a fox in an outage")
        await exactly_once_then_still_serving(e, inter, "a fox in an outage")


async def test_result_upload_rate_limited_429(tmp_path: Path) -> None:
    """A 429 with Discord's headers: discord.py waits retry_after and posts; one message."""
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", RESULT_POST, 429, {"retry_after": 0.3}, times=2)
        inter = await e.draw(prompt="a fox in a queue")
        await exactly_once_then_still_serving(e, inter, "a fox in a queue")
        assert result_post_statuses(e)[:3] == [429, 429, 200]


async def test_result_upload_429_without_via_header(tmp_path: Path) -> None:
    """A 429 without the Via header looks like a Cloudflare ban to discord.py, which raises instead of waiting:
    Easel's delivery retry still gets the result out, once."""
    async with running_easel(tmp_path) as e:
        e.discord.fail_next("POST", RESULT_POST, 429, {"retry_after": 0.1}, headers={"Via": ""})
        inter = await e.draw(prompt="a fox behind cloudflare")
        await exactly_once_then_still_serving(e, inter, "a fox behind cloudflare")
        assert result_post_statuses(e)[:2] == [429, 200]


async def wait_resumed(e: Easel, resumes_before: int, timeout: float = 15) -> None:  # noqa: ASYNC109
    await e.discord.wait_until(
        lambda: sum(1 for p in e.discord.gateway_received if p.get("op") == 6) > resumes_before,
        timeout,
        "RESUME",
    )
    await e.discord.wait_connected(timeout)


def resumes(e: Easel) -> int:
    return sum(1 for p in e.discord.gateway_received if p.get("op") == 6)


async def test_gateway_drops_and_resumes_mid_job(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="a fox through a reconnect")
        await e.webui.wait_generation_started(timeout=10)
        before, identifies = resumes(e), e.discord.identify_count
        await e.discord.drop_connection(4000)
        await wait_resumed(e, before)
        assert e.discord.identify_count == identifies  # resumed, not a new session
        e.webui.release()
        await e.result_for(ALICE, timeout=15)
        await e.wait_reply(inter, lambda text: "Done" in text)
        await exactly_once_then_still_serving(e, inter, "a fox through a reconnect")


async def test_gateway_drops_twice_while_the_result_is_posted(tmp_path: Path) -> None:
    """The connection goes away again right as the result is being uploaded (REST keeps working)."""
    async with running_easel(tmp_path) as e:
        e.discord.rest_delay = 0.2  # the upload takes a moment: the drop lands while it is in flight
        e.webui.hold()
        inter = await e.draw(prompt="a fox in a flaky network")
        await e.webui.wait_generation_started(timeout=10)
        before = resumes(e)
        await e.discord.drop_connection(4000)
        await wait_resumed(e, before)
        e.webui.release()
        await e.discord.wait_for_request(lambda r: r.method == "POST" and r.path == f"/channels/{CHANNEL}/messages")
        await e.discord.drop_connection(1001)
        await wait_resumed(e, before + 1)
        e.discord.rest_delay = 0.0
        await exactly_once_then_still_serving(e, inter, "a fox in a flaky network")


@contextlib.contextmanager
def identify_at(url: str) -> Iterator[None]:
    """After an INVALID_SESSION discord.py IDENTIFYs at ``DiscordWebSocket.DEFAULT_GATEWAY``, not at the resume URL
    the fake handed out: point it at the fake for the block (as ``run_client`` does for plain clients)."""
    old = DiscordWebSocket.DEFAULT_GATEWAY
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    try:
        yield
    finally:
        DiscordWebSocket.DEFAULT_GATEWAY = old


async def test_gateway_session_lost_mid_job_reidentifies(tmp_path: Path) -> None:
    async with running_easel(tmp_path) as e:
        with identify_at(e.discord.gateway_url):
            e.webui.hold()
            inter = await e.draw(prompt="a fox after a new session")
            await e.webui.wait_generation_started(timeout=10)
            identifies = e.discord.identify_count
            await e.discord.drop_connection(4000, resumable=False)
            await e.discord.wait_until(lambda: e.discord.identify_count > identifies, 20, "a new IDENTIFY")
            await e.discord.wait_connected(10)
            e.webui.release()
            await exactly_once_then_still_serving(e, inter, "a fox after a new session")
