"""No other server's jobs: a moderator's rights hold in their own server only, and nobody sees another user's job
ids or prompts, or the backends' addresses and error texts. Two guilds in the Discord fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.cogs.harness import ALICE, BOB, CHANNEL, GUILD, MOD, Easel, running_easel
from tests.cogs.test_results import button
from tests.fakes.discord_fake import P_MANAGE_MESSAGES, FakeInteraction

GUILD2 = 555555555555555551
CHANNEL2 = 555555555555555552
EVE = 555555555555555559  # owns GUILD2 (every permission there), an ordinary member of GUILD


@asynccontextmanager
async def two_guilds(tmp_path: Path) -> AsyncIterator[Easel]:
    async with running_easel(tmp_path, start=False, discord={"guild_ids": [GUILD, GUILD2]}) as e:
        e.discord.add_user(EVE, name="eve")
        e.discord.add_guild(GUILD2, name="Eve's server", owner_id=EVE)
        e.discord.add_channel(GUILD2, CHANNEL2, name="eves-channel")
        e.discord.add_member(GUILD2, ALICE, name="alice")
        e.discord.add_member(GUILD, EVE, name="eve")
        await e.start_bot()
        yield e


async def command(e: Easel, name: str, user: int, guild: int, channel: int, **options: object) -> str:
    inter = await e.discord.invoke(name, options or None, user_id=user, guild_id=guild, channel_id=channel)
    response = await inter.wait_response(5)
    assert inter.ephemeral
    return response["data"]["content"]


def job_id(inter: FakeInteraction) -> str:
    return inter.response["data"]["content"].split("`")[1]


async def test_a_moderator_of_another_server_can_neither_see_nor_cancel_a_job(tmp_path: Path) -> None:
    async with two_guilds(tmp_path) as e:
        e.webui.hold()
        running = job_id(await e.draw(prompt="alice's secret prompt"))
        await e.webui.wait_generation_started(1)
        queued = job_id(await e.draw(prompt="alice's second secret"))

        # Eve, with every permission in her own server, looks for ids from there ...
        for name in ("status", "queue"):
            text = await command(e, name, EVE, GUILD2, CHANNEL2)
            assert running not in text and queued not in text and "secret" not in text, text
        status = await command(e, "status", EVE, GUILD2, CHANNEL2)
        assert "busy" in status  # the backend's state is still shown
        # ... and, knowing them anyway, can't cancel them from there: answered like an unknown job.
        for jid in (running, queued):
            text = await command(e, "cancel", EVE, GUILD2, CHANNEL2, job=jid)
            assert text == f"No waiting or running job `{jid}`."
        assert e.webui.interrupts == 0
        assert e.bot is not None and e.bot.queue.find(running) is not None and e.bot.queue.find(queued) is not None
        # In Alice's server Eve is no moderator either.
        assert "only cancel your own" in await command(e, "cancel", EVE, GUILD, CHANNEL, job=queued)

        # Alice sees her own running job's id in /status; a moderator of this server may cancel it.
        assert f"busy with your job `{running}`" in await command(e, "status", ALICE, GUILD, CHANNEL)
        assert f"Stopping job `{running}`" in await command(e, "cancel", MOD, GUILD, CHANNEL, job=running)
        assert e.webui.interrupts == 1
        e.webui.release()


async def test_buttons_of_a_job_take_moderators_of_its_own_server_only(tmp_path: Path) -> None:
    async with two_guilds(tmp_path) as e:
        e.webui.hold()
        inter = await e.draw(prompt="hold on")
        await e.webui.wait_generation_started(1)
        assert inter.original is not None
        # A Manage Messages member of GUILD2 pressing the job's Cancel from GUILD2 (e.g. a copy of the message).
        e.discord.add_member(GUILD2, BOB, name="bob", permissions=P_MANAGE_MESSAGES)
        cancel = button(inter.original, "cancel")
        press = await e.discord.click(inter.original, cancel, user_id=BOB, guild_id=GUILD2, channel_id=CHANNEL2)
        await press.wait_response(5)
        assert "moderator" in press.response["data"]["content"]
        assert e.webui.interrupts == 0
        # The same permission in the job's own server does.
        e.discord.add_member(GUILD, BOB, name="bob", permissions=P_MANAGE_MESSAGES)
        press = await e.discord.click(inter.original, cancel, user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)
        await press.wait_response(5)
        assert "Stopping job" in press.response["data"]["content"]
        assert e.webui.interrupts == 1
        e.webui.release()


class LogLine(logging.Handler):
    def __init__(self, prefix: str) -> None:
        super().__init__(logging.DEBUG)
        self.prefix, self.message, self.seen = prefix, "", asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.message = record.getMessage()
            self.seen.set()


async def test_members_see_down_not_addresses_or_errors(tmp_path: Path) -> None:
    async with running_easel(tmp_path, start=False) as e:
        await e.webui.down()  # nothing listens at the backend's address
        logged = LogLine("backend gpu0: down")
        logging.getLogger("easel.queue").addHandler(logged)
        try:
            bot = await e.start_bot(wait_backends=False)
            async with asyncio.timeout(10):
                await logged.seen.wait()  # the details are in the log ...
        finally:
            logging.getLogger("easel.queue").removeHandler(logged)
        error = bot.queue.backends["gpu0"].last_error
        assert error and error in logged.message
        port = e.webui.url.rstrip("/").rsplit(":", 1)[1]
        for name in ("status", "queue"):
            text = await command(e, name, ALICE, GUILD, CHANNEL)
            assert "**gpu0**: down" in text, text  # ... not in what members see
            assert error not in text and "127.0.0.1" not in text and port not in text, text
        await e.webui.up()
