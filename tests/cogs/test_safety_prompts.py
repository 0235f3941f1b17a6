"""The prompt rule no setting turns off, through Discord: a /draw or a Remix asking for sexual content involving
minors is refused in one private line, nothing is queued, and the server's log channel gets one line without the
prompt's words; the refusals are counted in /metrics. A negative prompt never triggers it."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from easel.metrics import METRICS, MetricsServer
from easel.safety.prompts import MINORS_SEXUAL, REFUSED_MINORS_SEXUAL
from tests.cogs.harness import ALICE, CHANNEL, GUILD, NSFW_CHANNEL, Easel, running_easel
from tests.cogs.test_results import button, click
from tests.fakes.discord_fake import FakeInteraction

ADMIN = 333333333333333338
MANAGE_GUILD = 1 << 5
LOGS = 222222222222222229
OTHER_GUILD = 111111111111111112
OTHER_CHANNEL = 222222222222222230
WORDS = ("naked", "toddler", "kid", "nude")


async def settings_set(e: Easel, key: str, value: str) -> str:
    inter = await e.discord.invoke(
        "settings", {"key": key, "value": value}, user_id=ADMIN, guild_id=GUILD, channel_id=CHANNEL, subcommand="set"
    )
    response = await inter.wait_response(5)
    return str(response["data"]["content"])


async def refusal_text(e: Easel, inter: FakeInteraction) -> str:
    """The private answer the person gets (a direct response, or the reply after a defer)."""
    response = await inter.wait_response(5)
    assert inter.ephemeral
    if inter.deferred:
        return await e.wait_reply(inter, bool)
    return str(response["data"]["content"])


async def scrape(server: MetricsServer) -> float:
    async with aiohttp.ClientSession() as session, session.get(server.url) as resp:
        text = await resp.text()
    m = re.search(rf'^easel_refusals_total\{{rule="{MINORS_SEXUAL}"\}} (\d+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_refused_draw_and_remix_are_told_to_the_log_channel_without_the_words(tmp_path: Path) -> None:
    async with running_easel(tmp_path, start=False) as e:
        e.discord.add_channel(GUILD, LOGS, name="mod-log")
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        bot = await e.start_bot()
        metrics = MetricsServer(bot.queue, port=0)
        await metrics.start()
        try:
            before = await scrape(metrics)
            assert "is now <#" in await settings_set(e, "log_channel", f"<#{LOGS}>")

            # /draw, even in an age-restricted channel: one private line that names no word, nothing queued
            inter = await e.draw(prompt="a n@ked t0ddler", channel=NSFW_CHANNEL)
            assert await refusal_text(e, inter) == REFUSED_MINORS_SEXUAL
            assert bot.queue.queued_jobs() == [] and e.webui.generations == []
            logged = await e.discord.wait_for_message(lambda m: m.channel_id == LOGS, timeout=10)
            assert f"<@{ALICE}>" in logged.content and f"<#{NSFW_CHANNEL}>" in logged.content
            assert MINORS_SEXUAL in logged.content and "\n" not in logged.content
            assert not any(w in logged.content.lower() for w in WORDS)
            assert logged.mentions_resolved == set() and not logged.pings_everyone  # tells, pings no one

            # A negative prompt says what not to draw: it never triggers the rule
            await e.draw(prompt="a lighthouse", negative_prompt="kid, nude")
            first = await e.result_for(ALICE)
            assert len(e.webui.generations) == 1

            # Remix text arrives as the prompt: refused the same way
            form = await click(e, first, button(first, "remix"))
            sub = await e.discord.submit_modal(
                form,
                form.response["data"]["custom_id"],
                {"prompt": "a kid, nude", "negative_prompt": ""},
                user_id=ALICE,
                guild_id=GUILD,
                channel_id=CHANNEL,
            )
            assert await refusal_text(e, sub) == REFUSED_MINORS_SEXUAL
            await e.discord.wait_until(lambda: len(e.discord.channel_messages(LOGS)) == 2, timeout=10)
            second = e.discord.channel_messages(LOGS)[1]
            assert f"<#{CHANNEL}>" in second.content and not any(w in second.content.lower() for w in WORDS)
            assert len(e.webui.generations) == 1 and bot.queue.queued_jobs() == []

            assert await scrape(metrics) == before + 2
            assert METRICS.refusals[MINORS_SEXUAL] >= 2
        finally:
            await metrics.stop()


async def test_without_a_log_channel_or_with_another_servers_nothing_is_posted(tmp_path: Path) -> None:
    async with running_easel(tmp_path, start=False) as e:
        e.discord.add_member(GUILD, ADMIN, name="admin", permissions=MANAGE_GUILD)
        e.discord.add_guild(OTHER_GUILD, name="Other server")
        e.discord.add_channel(OTHER_GUILD, OTHER_CHANNEL, name="their-log")
        bot = await e.start_bot()
        inter = await e.draw(prompt="sexy kid")
        assert await refusal_text(e, inter) == REFUSED_MINORS_SEXUAL
        await bot.admission.guard.drain()

        assert "is now" in await settings_set(e, "log_channel", str(OTHER_CHANNEL))
        inter = await e.draw(prompt="sexy kid")
        assert await refusal_text(e, inter) == REFUSED_MINORS_SEXUAL
        await bot.admission.guard.drain()
        assert e.discord.channel_messages(OTHER_CHANNEL) == []  # another server's channel is never told
        assert [m for m in e.discord.messages if m.kind == "channel"] == []
        assert "one channel" in await settings_set(e, "log_channel", f"<#{LOGS}> <#{CHANNEL}>")
